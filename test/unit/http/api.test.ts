import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../../src/http/app';
import { CredentialsService } from '../../../src/domain/credentials.service';
import { WorkspacesService } from '../../../src/domain/workspaces.service';
import { createLogger, registerSecret } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';
import { createOidcVerifier } from '../../../adapters/identity/oidc.verifier';
import { createInProcessCoordination } from '../../../adapters/redis/redis.coordination';
import { FakeHarbor } from '../../support/fake-harbor';
import { startJwks, type TestIdp } from '../../support/tokens';

const teamA = { id: 'proj-a', name: 'Team A', department: 'dept-1' };
const teamB = { id: 'proj-b', name: 'Team B', department: 'dept-2' };
const CREDENTIAL_SECRET = 'k'.repeat(40);

let idp: TestIdp;
let app: Express;
let harbor: FakeHarbor;
const logLines: string[] = [];
let alice: string;
let bob: string;
let admin: string;

beforeAll(async () => {
  idp = await startJwks();
  harbor = new FakeHarbor();
  const logger = createLogger('debug', (l) => logLines.push(l));
  registerSecret(CREDENTIAL_SECRET);
  const metrics = createMetrics({ defaultMetrics: false });
  const coordination = createInProcessCoordination();
  const credentials = new CredentialsService({ harbor, coordination, logger, metrics, secret: CREDENTIAL_SECRET, usernamePrefix: 'hg-', robotPrefix: 'robot$' });
  const workspaces = new WorkspacesService({ harbor, credentials, coordination, cache: coordination, logger, registryHost: 'hub.example.test', reserved: ['library'], catalogTtlSeconds: 5 });
  app = createApp({
    logger,
    metrics,
    verifier: createOidcVerifier({ ...idp.oidcConfig(), logger }),
    workspaces,
    credentials,
    readiness: async () => ({ ready: true, degraded: false, checks: {} }),
    registryHost: 'hub.example.test',
    registryInsecure: true,
    publicUrl: 'http://hub.example.test',
    version: 'test',
  });
  alice = await idp.memberToken({ sub: 'u-alice', username: 'alice', projects: [teamA] });
  bob = await idp.memberToken({ sub: 'u-bob', username: 'bob', projects: [teamB] });
  admin = await idp.adminToken({ sub: 'u-admin', username: 'root' });
  for (const [token, body] of [
    [alice, { name: 'a-private', projectId: teamA.id }],
    [bob, { name: 'b-public', projectId: teamB.id, access: 'public' }],
    [bob, { name: 'b-private', projectId: teamB.id, access: 'private' }],
  ] as const) {
    const res = await request(app).post('/api/v1/workspaces').set('Authorization', `Bearer ${token}`).send(body);
    expect(res.status).toBe(201);
  }
});

afterAll(async () => {
  await idp.close();
});

const as = (token: string) => ({
  get: (p: string) => request(app).get(p).set('Authorization', `Bearer ${token}`),
  post: (p: string, body?: object) => request(app).post(p).set('Authorization', `Bearer ${token}`).send(body),
  patch: (p: string, body: object) => request(app).patch(p).set('Authorization', `Bearer ${token}`).send(body),
  del: (p: string) => request(app).delete(p).set('Authorization', `Bearer ${token}`),
});

const expectEnvelope = (res: request.Response, status: number, code: string) => {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(res.body.errors[0].code).toBe(code);
  expect(typeof res.body.errors[0].message).toBe('string');
};

describe('authentication at the edge', () => {
  it('401 without a token, with a Bearer challenge and the error envelope', async () => {
    const res = await request(app).get('/api/v1/workspaces');
    expectEnvelope(res, 401, 'UNAUTHORIZED');
    expect(res.headers['www-authenticate']).toBe('Bearer');
  });
  it.each([
    ['expired', () => idp.memberToken({ projects: [teamA] }, { expiresIn: -600 })],
    ['wrong issuer', () => idp.memberToken({ projects: [teamA] }, { iss: 'http://elsewhere/realms/x' })],
    ['wrong audience', () => idp.memberToken({ projects: [teamA] }, { aud: 'someone-else' })],
    ['foreign key', () => idp.memberToken({ projects: [teamA] }, { foreignKey: true })],
  ])('401 for a token that is %s', async (_why, mint) => {
    const res = await as(await mint()).get('/api/v1/workspaces');
    expectEnvelope(res, 401, 'UNAUTHORIZED');
    expect(res.headers['www-authenticate']).toContain('invalid_token');
  });
});

describe('workspace permission matrix over HTTP', () => {
  // [caller, method, workspace, expected status]
  const cells: [string, string, string, number][] = [
    ['alice', 'GET', 'a-private', 200],
    ['alice', 'GET', 'b-public', 200],
    ['alice', 'GET', 'b-private', 404],
    ['alice', 'PATCH', 'b-public', 403],
    ['alice', 'PATCH', 'b-private', 404],
    ['alice', 'DELETE', 'b-public', 403],
    ['alice', 'DELETE', 'b-private', 404],
    ['admin', 'GET', 'b-private', 200],
    ['bob', 'GET', 'a-private', 404],
    ['bob', 'PATCH', 'a-private', 404],
    ['bob', 'DELETE', 'a-private', 404],
  ];
  it.each(cells)('%s %s %s → %i', async (who, method, ws, status) => {
    const token = { alice, bob, admin }[who]!;
    const path = `/api/v1/workspaces/${ws}`;
    const res = method === 'GET' ? await as(token).get(path) : method === 'PATCH' ? await as(token).patch(path, { access: 'private' }) : await as(token).del(path);
    expect(res.status).toBe(status);
    if (status >= 400) expect(res.body.errors[0].code).toBe(status === 404 ? 'NOT_FOUND' : 'FORBIDDEN');
  });

  it('lists own and shared workspaces with X-Total-Count; admin sees all', async () => {
    const res = await as(alice).get('/api/v1/workspaces?page=1&page_size=10');
    expect(res.status).toBe(200);
    expect(res.headers['x-total-count']).toBe('2');
    expect(res.body.items.map((w: { name: string; relation: string }) => [w.name, w.relation])).toEqual([
      ['a-private', 'manage'],
      ['b-public', 'view'],
    ]);
    const all = await as(admin).get('/api/v1/workspaces');
    expect(all.body.items.map((w: { name: string }) => w.name)).toEqual(['a-private', 'b-private', 'b-public', 'library']);
  });

  it('creates only in joined projects; owner can change access and delete', async () => {
    const notMine = await as(alice).post('/api/v1/workspaces', { name: 'not-mine', projectId: teamB.id });
    expect({ status: notMine.status, body: notMine.body }).toEqual({ status: 403, body: { errors: [{ code: 'FORBIDDEN', message: `you are not a member of project "${teamB.id}"` }] } });
    const created = await as(alice).post('/api/v1/workspaces', { name: 'a-temp', projectId: teamA.id, access: 'private' });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe('/api/v1/workspaces/a-temp');
    expect(created.body).toMatchObject({ name: 'a-temp', access: 'private', project: teamA, relation: 'manage', imageCount: 0, pullAddressPrefix: 'hub.example.test/a-temp' });
    const patched = await as(alice).patch('/api/v1/workspaces/a-temp', { access: 'public' });
    expect(patched.status).toBe(200);
    expect(patched.body.access).toBe('public');
    expect((await as(bob).get('/api/v1/workspaces/a-temp')).body.relation).toBe('view');
    const deleted = await as(alice).del('/api/v1/workspaces/a-temp');
    expect(deleted.status).toBe(200);
    expect(deleted.body.note).toMatch(/garbage collection/);
    const gone = await as(alice).get('/api/v1/workspaces/a-temp');
    expect({ status: gone.status, body: gone.body }).toEqual({ status: 404, body: { errors: [{ code: 'NOT_FOUND', message: 'workspace "a-temp" not found' }] } });
  });

  it('admin creates in a project it has not joined when it names the department', async () => {
    expect((await as(admin).post('/api/v1/workspaces', { name: 'adm-ws', projectId: 'proj-c' })).status).toBe(400);
    const res = await as(admin).post('/api/v1/workspaces', { name: 'adm-ws', projectId: 'proj-c', department: 'dept-3' });
    expect(res.status).toBe(201);
    expect(res.body.project).toEqual({ id: 'proj-c', name: 'proj-c', department: 'dept-3' });
  });
});

describe('validation at the edge', () => {
  it.each([
    [{ name: 'Bad_Name', projectId: 'proj-a' }, /name/],
    [{ projectId: 'proj-a' }, /name/],
    [{ name: 'ok', projectId: 'proj-a', access: 'world' }, /access/],
    [{ name: 'ok', projectId: 'proj-a', extra: 1 }, /unknown field "extra"/],
  ])('400 for body %j', async (body, message) => {
    const res = await as(alice).post('/api/v1/workspaces', body);
    expectEnvelope(res, 400, 'BAD_REQUEST');
    expect(res.body.errors[0].message).toMatch(message);
  });
  it('400 for malformed JSON and for bad paging', async () => {
    const res = await request(app).post('/api/v1/workspaces').set('Authorization', `Bearer ${alice}`).set('Content-Type', 'application/json').send('{"name":');
    expectEnvelope(res, 400, 'BAD_REQUEST');
    expectEnvelope(await as(alice).get('/api/v1/workspaces?page_size=101'), 400, 'BAD_REQUEST');
    expectEnvelope(await as(alice).get('/api/v1/workspaces?page=0'), 400, 'BAD_REQUEST');
  });
  it('409 for a taken name, 404 envelope for unknown paths', async () => {
    expectEnvelope(await as(alice).post('/api/v1/workspaces', { name: 'b-private', projectId: teamA.id }), 409, 'CONFLICT');
    expectEnvelope(await as(alice).get('/api/v1/nope'), 404, 'NOT_FOUND');
  });
  it('Harbor failures map to 502/504 without details', async () => {
    harbor.failNext('listAllProjects');
    const res = await as(admin).get('/api/v1/workspaces?q=zzz-unique-502');
    expectEnvelope(res, 502, 'UPSTREAM_UNAVAILABLE');
  });
});

describe('credentials', () => {
  it('member gets username, password and ready commands; others get 404; admin may see them', async () => {
    const res = await as(alice).get(`/api/v1/projects/${teamA.id}/credentials`);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ registry: 'hub.example.test', username: 'hg-proj-a' });
    expect(res.body.username).toMatch(/^[a-z0-9-]+$/);
    expect(res.body.docker.login).toBe(`echo ${res.body.password} | docker login hub.example.test --username hg-proj-a --password-stdin`);
    expect(res.body.docker.push).toMatch(/^docker push hub\.example\.test\/a-private\//);
    expect(res.body.containerd.push).toContain(`ctr -n k8s.io image push --plain-http -u hg-proj-a:${res.body.password} hub.example.test/`);
    expect(res.body.containerd.tag).toMatch(/^ctr -n k8s.io image tag /);
    expect(res.body.troubleshooting.docker_daemon_json).toContain('insecure-registries');
    expect(res.body.troubleshooting.containerd_config_toml).toContain('insecure_skip_verify = true');
    expect(res.body.troubleshooting.containerd_config_toml).toContain('endpoint');
    const notBobs = await as(bob).get(`/api/v1/projects/${teamA.id}/credentials`);
    expect({ status: notBobs.status, body: notBobs.body }).toEqual({ status: 404, body: { errors: [{ code: 'NOT_FOUND', message: `project "${teamA.id}" not found` }] } });
    expect((await as(admin).get(`/api/v1/projects/${teamA.id}/credentials`)).body.password).toBe(res.body.password);
  });

  it('rotation gives a new password at once; non-members cannot rotate', async () => {
    const before = (await as(alice).get(`/api/v1/projects/${teamA.id}/credentials`)).body.password;
    const notBobsToRotate = await as(bob).post(`/api/v1/projects/${teamA.id}/credentials/rotate`);
    expect({ status: notBobsToRotate.status, body: notBobsToRotate.body }).toEqual({ status: 404, body: { errors: [{ code: 'NOT_FOUND', message: `project "${teamA.id}" not found` }] } });
    const rotated = await as(alice).post(`/api/v1/projects/${teamA.id}/credentials/rotate`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.password).not.toBe(before);
    const robot = [...harbor.robots.values()].find((r) => r.name === 'robot$hg-proj-a')!;
    expect(harbor.secrets.get(robot.id)).toBe(rotated.body.password);
    expect((await as(alice).get(`/api/v1/projects/${teamA.id}/credentials`)).body.password).toBe(rotated.body.password);
  });

  it('no secret ever reaches the logs', async () => {
    const shown = (await as(alice).get(`/api/v1/projects/${teamA.id}/credentials`)).body.password as string;
    const joined = logLines.join('\n');
    expect(logLines.length).toBeGreaterThan(10);
    for (const secret of [shown, CREDENTIAL_SECRET, alice, bob, admin, ...harbor.secrets.values()]) expect(joined).not.toContain(secret);
  });
});

describe('operational endpoints', () => {
  it('serves the OpenAPI document, health and metrics without a token', async () => {
    const doc = await request(app).get('/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.0.3');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/workspaces', '/workspaces/{name}', '/projects/{projectId}/credentials']));
    expect((await request(app).get('/healthz')).body).toEqual({ status: 'alive' });
    expect((await request(app).get('/readyz')).status).toBe(200);
    const metrics = await request(app).get('/metrics');
    expect(metrics.text).toContain('hubgate_http_requests_total{operation="workspaces_list",method="GET",status_class="2xx"}');
    expect(metrics.text).not.toMatch(/a-private|proj-a|u-alice/);
  });
});
