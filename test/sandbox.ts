/**
 * `npm run sandbox`: a complete local stack on loopback for trying hubgate without Harbor or Keycloak —
 * a real Debian docker-registry, the in-process Harbor double in front of it, a real redis-server, a local
 * OIDC key set standing in for Keycloak, and hubgate itself. Prints URLs, a ready bearer token and registry
 * credentials. Ctrl-C stops everything and removes the temporary data.
 */
import { existsSync } from 'node:fs';
import { startRegistry } from './support/registry';
import { startRedis } from './support/redis';
import { startJwks } from './support/tokens';
import { startHarborDouble } from './harbor-double';
import { startHubgate, testConfig } from './support/stack';

async function main() {
  const missing = ['/usr/bin/docker-registry', '/usr/bin/redis-server'].filter((b) => !existsSync(b));
  if (missing.length) {
    console.error(`sandbox: missing ${missing.join(', ')} — run: bash scripts/setup.sh (as root) or apt-get install docker-registry redis-server skopeo`);
    process.exit(2);
  }
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stopAll().then(() => process.exit(0)));

  const registry = await startRegistry();
  stops.push(() => registry.stop());
  const harbor = await startHarborDouble({ registryUrl: registry.url });
  stops.push(() => harbor.close());
  const redis = await startRedis();
  stops.push(() => redis.close());
  const idp = await startJwks();
  stops.push(() => idp.close());

  const port = process.env.SANDBOX_PORT ?? '8080';
  const env = { HUBGATE_PORT: port, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', HUBGATE_PUBLIC_URL: `http://127.0.0.1:${port}` };
  let hub;
  try {
    hub = await startHubgate(testConfig({ harborUrl: harbor.url, idp, redisUrl: redis.url, env }));
  } catch {
    // port taken: take any free one
    hub = await startHubgate(testConfig({ harborUrl: harbor.url, idp, redisUrl: redis.url, env: { ...env, HUBGATE_PORT: '0', HUBGATE_PUBLIC_URL: '' } }));
  }
  stops.push(() => hub.close());
  const logs = hub.logs;
  setInterval(() => {
    while (logs.length) process.stdout.write(logs.shift() + '\n');
  }, 500).unref();

  const project = { id: 'demo', name: 'Demo project', department: 'default' };
  const token = await idp.memberToken({ sub: 'u-demo', username: 'demo', projects: [project] }, { expiresIn: 12 * 3600 });
  const adminToken = await idp.adminToken({ sub: 'u-admin', username: 'cloud-admin', projects: [] }, { expiresIn: 12 * 3600 });
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${hub.url}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return (await res.json()) as Record<string, unknown>;
  };
  await api('POST', '/workspaces', { name: 'demo-apps', projectId: project.id, access: 'private' });
  const creds = (await api('GET', `/projects/${project.id}/credentials`)) as { registry: string; username: string; password: string };
  const registryHost = new URL(hub.url).host;

  console.log(`
hubgate sandbox is up (Ctrl-C stops it)

  hubgate API        ${hub.url}/api/v1        OpenAPI: ${hub.url}/openapi.json
  metrics / health   ${hub.url}/metrics   ${hub.url}/readyz
  Harbor double      ${harbor.url}  (admin / Harbor12345)
  docker-registry    ${registry.url}
  redis              ${redis.url}
  OIDC issuer        ${idp.issuer}

A member of project "demo" (workspace "demo-apps" was created for you):
  export TOKEN='${token}'
A cloud admin:
  export ADMIN_TOKEN='${adminToken}'

Try the API:
  curl -s -H "Authorization: Bearer $TOKEN" ${hub.url}/api/v1/workspaces
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{"name":"demo-public","projectId":"demo","access":"public"}' ${hub.url}/api/v1/workspaces
  curl -s -H "Authorization: Bearer $TOKEN" ${hub.url}/api/v1/projects/demo/credentials

Registry credentials of project "demo":
  username: ${creds.username}
  password: ${creds.password}
Push and pull through hubgate with skopeo:
  skopeo copy --dest-tls-verify=false --dest-creds '${creds.username}:${creds.password}' \\
       oci:/path/to/layout:latest docker://${registryHost}/demo-apps/hello:1.0
  skopeo inspect --tls-verify=false --creds '${creds.username}:${creds.password}' docker://${registryHost}/demo-apps/hello:1.0
`);
}

main().catch((e) => {
  console.error('sandbox failed:', e);
  process.exit(1);
});
