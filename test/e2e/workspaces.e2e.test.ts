/**
 * Workspaces and credentials end to end: hubgate (real HTTP server, real adapters) → Harbor double, with a
 * real redis-server. The concurrency invariant: 20 concurrent creations in one project all end usable with
 * the project's credentials — one instance, two instances sharing Redis; with Redis down they are refused (503).
 * (Several replicas, Redis flapping, several projects: ownership.faults.e2e.test.ts.)
 */
import type { HarborDouble } from '../harbor-double';
import { doubleOnly, realAdmin, startTestHarbor } from '../support/real-harbor';
import { startJwks, type TestIdp } from '../support/tokens';
import { startRedis, type TestRedis } from '../support/redis';
import { requireTools } from '../support/tools';
import { ADMIN_PASSWORD, CREDENTIAL_SECRET, startHubgate, testConfig } from '../support/stack';

const team = { id: 'proj-a', name: 'Team A', department: 'dept-1' };
let harbor: HarborDouble;
let idp: TestIdp;
let redis: TestRedis;
let token: string;
let adminToken: string;

beforeAll(async () => {
  [harbor, idp, redis] = await Promise.all([startTestHarbor(), startJwks(), startRedis()]);
  token = await idp.memberToken({ sub: 'u-alice', username: 'alice', projects: [team] });
  adminToken = await idp.adminToken({ sub: 'u-root' });
});
afterAll(async () => {
  await Promise.all([harbor?.close(), idp?.close(), redis?.close()]);
});
beforeEach(async () => {
  await harbor.reset();
});

/** The Harbor project of that name (the double's state, or the real Harbor's REST API), or undefined. */
async function harborProject(name: string): Promise<{ metadata: { public?: string } } | undefined> {
  if (realAdmin) return realAdmin.project(name);
  return [...harbor.state.projects.values()].find((p) => p.name === name);
}

async function api(base: string, method: string, path: string, body?: unknown, bearer = token) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${bearer}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** What Harbor's token service grants the project's credentials on a repository of the workspace. */
async function grantedActions(username: string, password: string, workspace: string): Promise<string[]> {
  const url = `${harbor.url}/service/token?service=harbor-registry&scope=repository:${workspace}/probe:pull,push`;
  const res = await fetch(url, { headers: { Authorization: 'Basic ' + Buffer.from(`robot$${username}:${password}`).toString('base64') } });
  expect(res.status).toBe(200);
  const { token: jwt } = (await res.json()) as { token: string };
  const claims = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as { access: { actions: string[] }[] | null };
  return (claims.access?.[0]?.actions ?? []).sort();
}

async function burst(instances: string[], prefix: string) {
  const names = Array.from({ length: 20 }, (_, i) => `${prefix}-${i}`);
  const results = await Promise.all(names.map((name, i) => api(instances[i % instances.length], 'POST', '/workspaces', { name, projectId: team.id })));
  expect(results.map((r) => r.status)).toEqual(names.map(() => 201));
  const creds = await api(instances[0], 'GET', `/projects/${team.id}/credentials`);
  expect(creds.status).toBe(200);
  expect([...creds.body.workspaces].sort()).toEqual([...names].sort());
  for (const name of names) expect(await grantedActions(creds.body.username, creds.body.password, name)).toEqual(['*', 'delete', 'pull', 'push']);
  return creds.body as { username: string; password: string };
}

const ready = requireTools('workspaces e2e', ['redis-server']).available;

(ready ? describe : describe.skip)('workspaces end to end', () => {
  it('create, list, get, switch access, delete through the real stack; secrets never logged', async () => {
    const hub = await startHubgate(testConfig({ harborUrl: harbor.url, idp }));
    try {
      const created = await api(hub.url, 'POST', '/workspaces', { name: 'e2e-ws', projectId: team.id, access: 'private' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name: 'e2e-ws', access: 'private', imageCount: 0, project: team });
      const listed = await api(hub.url, 'GET', '/workspaces');
      expect(listed.headers.get('x-total-count')).toBe('1');
      expect((await api(hub.url, 'PATCH', '/workspaces/e2e-ws', { access: 'public' })).body.access).toBe('public');
      const project = await harborProject('e2e-ws');
      expect(project?.metadata.public).toBe('true');
      const creds = await api(hub.url, 'GET', `/projects/${team.id}/credentials`);
      const rotated = await api(hub.url, 'POST', `/projects/${team.id}/credentials/rotate`);
      expect(rotated.body.password).not.toBe(creds.body.password);
      expect(await grantedActions(rotated.body.username, rotated.body.password, 'e2e-ws')).toEqual(['*', 'delete', 'pull', 'push']);
      // the rotated-away password no longer authenticates: Harbor falls back to an anonymous grant, which on this
      // (now public) workspace is pull only — exactly that, not merely "no push"
      const old = await fetch(`${harbor.url}/service/token?service=harbor-registry&scope=repository:e2e-ws/probe:push`, {
        headers: { Authorization: 'Basic ' + Buffer.from(`robot$${creds.body.username}:${creds.body.password}`).toString('base64') },
      });
      const oldClaims = JSON.parse(Buffer.from(((await old.json()) as { token: string }).token.split('.')[1], 'base64url').toString());
      expect(oldClaims.access).toEqual([{ type: 'repository', name: 'e2e-ws/probe', actions: ['pull'] }]);
      expect((await api(hub.url, 'DELETE', '/workspaces/e2e-ws')).status).toBe(200);
      const deleted = await api(hub.url, 'GET', '/workspaces/e2e-ws');
      expect({ status: deleted.status, body: deleted.body }).toEqual({ status: 404, body: { errors: [{ code: 'NOT_FOUND', message: 'workspace "e2e-ws" not found' }] } });
      expect(await harborProject('e2e-ws')).toBeUndefined();

      const logs = hub.logs.join('\n');
      for (const secret of [creds.body.password, rotated.body.password, ADMIN_PASSWORD, CREDENTIAL_SECRET, token]) expect(logs).not.toContain(secret);
    } finally {
      await hub.close();
    }
  });

  it('Harbor rejecting the admin password is a 502 "upstream misconfigured", never a 401 or an empty list', async () => {
    const config = testConfig({ harborUrl: harbor.url, idp, env: { HARBOR_ADMIN_PASSWORD: 'wrong-password' } });
    const hub = await startHubgate(config);
    try {
      const res = await api(hub.url, 'GET', '/workspaces', undefined, adminToken);
      expect(res.status).toBe(502);
      expect(res.body.errors[0].code).toBe('UPSTREAM_MISCONFIGURED');
      const ready = await fetch(`${hub.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(hub.logs.join('\n')).not.toContain('wrong-password');
    } finally {
      await hub.close();
    }
  });

  doubleOnly('needs fault injection (harbor.failNext)')('a failure in the middle of a creation leaves no orphaned workspace', async () => {
    const hub = await startHubgate(testConfig({ harborUrl: harbor.url, idp }));
    try {
      harbor.failNext('POST', /^\/api\/v2\.0\/robots$/, 500);
      const res = await api(hub.url, 'POST', '/workspaces', { name: 'midway', projectId: team.id });
      expect(res.status).toBe(502);
      expect([...harbor.state.projects.values()].some((p) => p.name === 'midway')).toBe(false);
      expect((await api(hub.url, 'POST', '/workspaces', { name: 'midway', projectId: team.id })).status).toBe(201);
    } finally {
      await hub.close();
    }
  });

  it('20 concurrent creations in one project: one instance', async () => {
    const hub = await startHubgate(testConfig({ harborUrl: harbor.url, idp }));
    try {
      await burst([hub.url], 'solo');
    } finally {
      await hub.close();
    }
  });

  it('20 concurrent creations in one project: two instances sharing Redis', async () => {
    const [a, b] = await Promise.all([0, 1].map(() => startHubgate(testConfig({ harborUrl: harbor.url, idp, redisUrl: redis.url }))));
    try {
      await burst([a.url, b.url], 'duo');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('Redis configured but down: creations are refused with 503 + Retry-After and leave nothing in Harbor (ownership needs the shared lock)', async () => {
    const hub = await startHubgate(testConfig({ harborUrl: harbor.url, idp, redisUrl: redis.url }));
    await redis.stop();
    try {
      const names = Array.from({ length: 10 }, (_, i) => `noredis-${i}`);
      const results = await Promise.all(names.map((name) => api(hub.url, 'POST', '/workspaces', { name, projectId: team.id })));
      expect(results.map((r) => [r.status, r.headers.get('retry-after'), r.body.errors?.[0]?.code])).toEqual(names.map(() => [503, '5', 'SERVICE_UNAVAILABLE']));
      for (const name of names) expect(await harborProject(name)).toBeUndefined();
      const ready = (await (await fetch(`${hub.url}/readyz`)).json()) as { status: string };
      expect(ready.status).toBe('degraded');
    } finally {
      await hub.close();
      await redis.restart();
    }
  });
});
