/**
 * The copy-ready push and pull commands (src/domain/registry-instructions.ts): values shell-quoted where users
 * paste them, and the flags and endpoints for a registry with a trusted certificate, one over plain HTTP, and
 * one over HTTPS with a certificate the nodes do not trust. The credentials routes show them (api.test.ts, routes.edges.test.ts).
 */
import { registryInstructions } from '../../../src/domain/registry-instructions';

const IMAGE = 'hub.example.test/team-a/IMAGE:VERSION';

describe('registry instructions', () => {
  it('a registry with a trusted certificate: no -k, no --plain-http, an https endpoint; a password with a quote and a space quoted for the shell', () => {
    const out = registryInstructions({ registry: 'hub.example.test', username: 'hg-proj-a', password: "it's a secret", workspace: 'team-a', insecure: false, plainHttp: false });
    expect(out).toEqual({
      docker: {
        login: "echo 'it'\\''s a secret' | docker login hub.example.test --username hg-proj-a --password-stdin",
        tag: `docker tag LOCAL_IMAGE:VERSION ${IMAGE}`,
        push: `docker push ${IMAGE}`,
        pull: `docker pull ${IMAGE}`,
      },
      containerd: {
        tag: `ctr -n k8s.io image tag LOCAL_IMAGE:VERSION ${IMAGE}`,
        push: `ctr -n k8s.io image push -u 'hg-proj-a:it'\\''s a secret' ${IMAGE}`,
        pull: `ctr -n k8s.io image pull -u 'hg-proj-a:it'\\''s a secret' ${IMAGE}`,
      },
      troubleshooting: {
        summary:
          'x509: certificate signed by unknown authority means the registry certificate is self-signed or from a private CA. ' +
          'Either install the CA certificate on the node, or mark the registry as insecure as shown here.',
        docker_ca: 'sudo mkdir -p /etc/docker/certs.d/hub.example.test && sudo cp ca.crt /etc/docker/certs.d/hub.example.test/ca.crt',
        docker_daemon_json: '{\n  "insecure-registries": [\n    "hub.example.test"\n  ]\n}',
        docker_apply: 'Merge the above into /etc/docker/daemon.json, then: sudo systemctl restart docker',
        containerd_config_toml: [
          '[plugins."io.containerd.grpc.v1.cri".registry.mirrors."hub.example.test"]',
          '  endpoint = ["https://hub.example.test"]',
          '[plugins."io.containerd.grpc.v1.cri".registry.configs."hub.example.test".tls]',
          '  insecure_skip_verify = true',
        ].join('\n'),
        containerd_apply: 'Add the above to /etc/containerd/config.toml, then: sudo systemctl restart containerd. For ctr itself, pass -k (and --plain-http for plain HTTP).',
      },
    });
  });

  it('values of safe characters only are not quoted', () => {
    const out = registryInstructions({ registry: 'hub.example.test', username: 'hg-proj-a', password: 'Az09@%+=:,./_-', workspace: 'team-a', insecure: false, plainHttp: false });
    expect(out.docker.login).toBe('echo Az09@%+=:,./_- | docker login hub.example.test --username hg-proj-a --password-stdin');
    expect(out.containerd.push).toBe(`ctr -n k8s.io image push -u hg-proj-a:Az09@%+=:,./_- ${IMAGE}`);
  });

  it('a registry over plain HTTP: ctr with --plain-http (no -k, there is no certificate), an http endpoint for containerd', () => {
    const out = registryInstructions({ registry: 'hub.example.test', username: 'hg-proj-a', password: 'pw', workspace: 'team-a', insecure: true, plainHttp: true });
    expect(out.containerd).toEqual({
      tag: `ctr -n k8s.io image tag LOCAL_IMAGE:VERSION ${IMAGE}`,
      push: `ctr -n k8s.io image push --plain-http -u hg-proj-a:pw ${IMAGE}`,
      pull: `ctr -n k8s.io image pull --plain-http -u hg-proj-a:pw ${IMAGE}`,
    });
    expect(out.troubleshooting.containerd_config_toml.split('\n')[1]).toBe('  endpoint = ["http://hub.example.test"]');
  });

  it.each(['hub.example.test', 'http-hub.example.test', 'https-hub.example.test'])(
    'an HTTPS registry %s with a certificate the nodes do not trust: -k without --plain-http, an https endpoint (the host name decides nothing)',
    (registry) => {
      const out = registryInstructions({ registry, username: 'u', password: 'pw', workspace: 'ws', insecure: true, plainHttp: false });
      expect([out.containerd.push, out.containerd.pull]).toEqual([
        `ctr -n k8s.io image push -k -u u:pw ${registry}/ws/IMAGE:VERSION`,
        `ctr -n k8s.io image pull -k -u u:pw ${registry}/ws/IMAGE:VERSION`,
      ]);
      expect(out.troubleshooting.containerd_config_toml.split('\n')[1]).toBe(`  endpoint = ["https://${registry}"]`);
    },
  );
});
