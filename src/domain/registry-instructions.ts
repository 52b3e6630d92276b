/**
 * Copy-ready commands for the push dialog (manual §3.3): docker and containerd, and the fixes for
 * "x509: certificate signed by unknown authority". Values are shell-quoted where users paste them.
 */
export interface Instructions {
  docker: Record<string, string>;
  containerd: Record<string, string>;
  troubleshooting: Record<string, string>;
}

const q = (s: string): string => (/^[A-Za-z0-9@%+=:,./_-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export function registryInstructions(opts: {
  registry: string;
  username: string;
  password: string;
  workspace: string;
  /** The registry's certificate is not one the nodes trust (self-signed, private CA), or there is no TLS at all. */
  insecure: boolean;
  /** The registry is served over plain HTTP (hubgate's public URL is http://), not HTTPS. */
  plainHttp: boolean;
}): Instructions {
  const { registry, username, password, insecure, plainHttp } = opts;
  const ws = opts.workspace;
  const image = `${registry}/${ws}/IMAGE:VERSION`;
  // ctr: --plain-http speaks HTTP; -k only matters over HTTPS (skip verifying a certificate the node does not trust)
  const flags = plainHttp ? ' --plain-http' : insecure ? ' -k' : '';
  return {
    docker: {
      login: `echo ${q(password)} | docker login ${registry} --username ${q(username)} --password-stdin`,
      tag: `docker tag LOCAL_IMAGE:VERSION ${image}`,
      push: `docker push ${image}`,
      pull: `docker pull ${image}`,
    },
    containerd: {
      tag: `ctr -n k8s.io image tag LOCAL_IMAGE:VERSION ${image}`,
      push: `ctr -n k8s.io image push${flags} -u ${q(`${username}:${password}`)} ${image}`,
      pull: `ctr -n k8s.io image pull${flags} -u ${q(`${username}:${password}`)} ${image}`,
    },
    troubleshooting: {
      summary:
        'x509: certificate signed by unknown authority means the registry certificate is self-signed or from a private CA. ' +
        'Either install the CA certificate on the node, or mark the registry as insecure as shown here.',
      docker_ca: `sudo mkdir -p /etc/docker/certs.d/${registry} && sudo cp ca.crt /etc/docker/certs.d/${registry}/ca.crt`,
      docker_daemon_json: JSON.stringify({ 'insecure-registries': [registry] }, null, 2),
      docker_apply: 'Merge the above into /etc/docker/daemon.json, then: sudo systemctl restart docker',
      containerd_config_toml: [
        `[plugins."io.containerd.grpc.v1.cri".registry.mirrors."${registry}"]`,
        `  endpoint = ["${plainHttp ? 'http' : 'https'}://${registry}"]`,
        `[plugins."io.containerd.grpc.v1.cri".registry.configs."${registry}".tls]`,
        '  insecure_skip_verify = true',
      ].join('\n'),
      containerd_apply: 'Add the above to /etc/containerd/config.toml, then: sudo systemctl restart containerd. For ctr itself, pass -k (and --plain-http for plain HTTP).',
    },
  };
}
