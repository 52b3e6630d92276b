/**
 * `npm run sandbox` (and `npm run up` when no Harbor is configured): a complete local stack on loopback for
 * trying hubgate without Harbor or Keycloak — a real Debian docker-registry, the in-process Harbor double in front
 * of it, a real redis-server, a local OIDC realm with a sign-in page for ready users (code flow + PKCE), and
 * hubgate itself serving the console. Prints the console URL, the ready users, bearer tokens and registry
 * credentials. Ctrl-C stops everything and removes the temporary data.
 */
import { existsSync } from 'node:fs';
import { startConsoleStack } from './support/console-stack';

async function main() {
  const missing = ['/usr/bin/docker-registry', '/usr/bin/redis-server'].filter((b) => !existsSync(b));
  if (missing.length) {
    console.error(`sandbox: missing ${missing.join(', ')} — run: bash scripts/setup.sh (as root) or apt-get install docker-registry redis-server skopeo`);
    process.exit(2);
  }
  const preferred = Number(process.env.SANDBOX_PORT ?? process.env.HUBGATE_PORT ?? 8080);
  const stack = await startConsoleStack({ port: preferred, logLevel: process.env.LOG_LEVEL ?? 'info' });
  const stopAll = () => void stack.stop().then(() => process.exit(0));
  process.once('SIGINT', stopAll);
  process.once('SIGTERM', stopAll);
  const logs = stack.logs;
  const debug = (process.env.LOG_LEVEL ?? 'info') === 'debug';
  setInterval(() => {
    while (logs.length) {
      const line = logs.shift()!;
      if (debug || !line.includes('"level":"debug"')) process.stdout.write(line + '\n');
    }
  }, 500).unref();

  const [alice, , admin] = stack.flow.users;
  const token = await stack.idp.memberToken({ sub: alice.sub, username: alice.username, projects: alice.projects }, { expiresIn: 12 * 3600 });
  const adminToken = await stack.idp.adminToken({ sub: admin.sub, username: admin.username, projects: admin.projects }, { expiresIn: 12 * 3600 });
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${stack.hubUrl}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return (await res.json()) as Record<string, unknown>;
  };
  const project = alice.projects[0];
  await api('POST', '/workspaces', { name: 'demo-apps', projectId: project.id, access: 'private' });
  const creds = (await api('GET', `/projects/${project.id}/credentials`)) as { registry: string; username: string; password: string };
  const registryHost = new URL(stack.hubUrl).host;
  const consoleOn = process.env.HUBGATE_CONSOLE_ENABLED === undefined || /^(1|true|yes|on)$/i.test(process.env.HUBGATE_CONSOLE_ENABLED);
  const users = stack.flow.users.map((u) => `  ${u.username.padEnd(8)} ${u.description}`).join('\n');
  const hub = stack.hubUrl;

  console.log(`
hubgate sandbox is up (Ctrl-C stops it): no Harbor configured, so this is the embedded sandbox stack —
the Harbor double in front of a real docker-registry, redis-server and a local OIDC issuer.

  Console            ${consoleOn ? `${stack.consoleUrl}` : '(disabled: HUBGATE_CONSOLE_ENABLED=false)'}
  hubgate API        ${hub}/api/v1        OpenAPI: ${hub}/openapi.json
  metrics / health   ${hub}/metrics   ${hub}/readyz
  Harbor double      ${stack.harborUrl}  (admin / Harbor12345)
  docker-registry    ${stack.registryUrl}
  redis              ${stack.redisUrl}
  OIDC issuer        ${stack.idp.issuer}

Ready users (open the console, press "Sign in", pick one — no passwords):
${users}

Push with the printed command (project "demo", workspace "demo-apps" was created for alice):
  echo '${creds.password}' | docker login ${registryHost} --username ${creds.username} --password-stdin
  docker tag IMAGE:VERSION ${registryHost}/demo-apps/IMAGE:VERSION && docker push ${registryHost}/demo-apps/IMAGE:VERSION
  skopeo copy --dest-tls-verify=false --dest-creds '${creds.username}:${creds.password}' \\
       docker-archive:/path/to/image.tar docker://${registryHost}/demo-apps/hello:1.0
  (docker needs ${registryHost} in "insecure-registries" of /etc/docker/daemon.json: the sandbox speaks plain HTTP)

Bearer tokens for the API (12 h):
  export TOKEN='${token}'        # alice
  export ADMIN_TOKEN='${adminToken}'  # admin
  curl -s -H "Authorization: Bearer $TOKEN" ${hub}/api/v1/workspaces
  curl -s -H "Authorization: Bearer $TOKEN" ${hub}/api/v1/projects/demo/credentials
`);
}

main().catch((e) => {
  console.error('sandbox failed:', e);
  process.exit(1);
});
