import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../../src/http/app';
import { CredentialsService } from '../../../src/domain/credentials.service';
import { WorkspacesService } from '../../../src/domain/workspaces.service';
import { ImagesService } from '../../../src/domain/images.service';
import { createLogger } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';
import { createOidcVerifier } from '../../../adapters/identity/oidc.verifier';
import { createInProcessChangeFeed, createRedisChangeFeed } from '../../../adapters/redis/change.feed';
import type { ChangeFeed } from '../../../src/ports/changes';
import { createInProcessCoordination, type CoordinationService } from '../../../adapters/redis/redis.coordination';
import { FakeHarbor } from '../../support/fake-harbor';
import { startJwks, type TestIdp } from '../../support/tokens';
import { seed, teamA, teamB } from './setup';

let idp: TestIdp;
let tokens: Record<'alice' | 'bob' | 'admin', string>;
const logLines: string[] = [];

interface Stack {
  app: Express;
  harbor: FakeHarbor;
  coordination: CoordinationService;
  images: ImagesService;
}

async function stack(coordination: CoordinationService = createInProcessCoordination(), feed: ChangeFeed = createInProcessChangeFeed()): Promise<Stack> {
  const harbor = new FakeHarbor();
  const logger = createLogger('debug', (l) => logLines.push(l));
  const metrics = createMetrics({ defaultMetrics: false });
  const local = createInProcessCoordination();
  const credentials = new CredentialsService({ harbor, coordination: local, logger, metrics, secret: 'k'.repeat(40), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
  const workspaces = new WorkspacesService({ harbor, credentials, coordination: local, cache: local, logger, registryHost: 'hub.example.test', reserved: ['library'], catalogTtlSeconds: 5 });
  const images = new ImagesService({ harbor, workspaces, cache: coordination, feed, logger, registryHost: 'hub.example.test', cacheTtlSeconds: 60, harborConcurrency: 8 });
  const app = createApp({
    logger,
    metrics,
    verifier: createOidcVerifier({ ...idp.oidcConfig(), logger }),
    workspaces,
    credentials,
    images,
    readiness: async () => ({ ready: true, degraded: false, checks: {} }),
    registryHost: 'hub.example.test',
    registryInsecure: true,
    publicUrl: 'http://hub.example.test',
    version: 'test',
  });
  for (const [who, name, access] of [
    ['alice', 'a-private', 'private'],
    ['alice', 'a-public', 'public'],
    ['bob', 'b-public', 'public'],
    ['bob', 'b-private', 'private'],
  ] as const) {
    const res = await as(app, tokens[who]).post('/api/v1/workspaces').send({ name, projectId: who === 'alice' ? teamA.id : teamB.id, access });
    expect(res.status).toBe(201);
  }
  seed(harbor);
  return { app, harbor, coordination, images };
}

const as = (app: Express, token: string) => ({
  get: (p: string) => request(app).get(p).set('Authorization', `Bearer ${token}`),
  post: (p: string) => request(app).post(p).set('Authorization', `Bearer ${token}`),
  patch: (p: string) => request(app).patch(p).set('Authorization', `Bearer ${token}`),
  delete: (p: string) => request(app).delete(p).set('Authorization', `Bearer ${token}`),
});

let s: Stack;
beforeAll(async () => {
  idp = await startJwks();
  tokens = {
    alice: await idp.memberToken({ sub: 'u-alice', username: 'alice', projects: [teamA] }),
    bob: await idp.memberToken({ sub: 'u-bob', username: 'bob', projects: [teamB] }),
    admin: await idp.adminToken({ sub: 'u-root', username: 'root' }),
  };
  s = await stack();
});
afterAll(async () => {
  await idp.close();
});

const expectEnvelope = (res: request.Response, status: number, code: string) => {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(res.body.errors[0].code).toBe(code);
};

describe('every image endpoint needs a bearer token', () => {
  it.each([
    ['GET', '/api/v1/images'],
    ['DELETE', '/api/v1/images'],
    ['GET', '/api/v1/workspaces/a-private/images/app'],
    ['PATCH', '/api/v1/workspaces/a-private/images/app'],
    ['DELETE', '/api/v1/workspaces/a-private/images/app/versions'],
  ])('%s %s → 401', async (method, path) => {
    const res = await request(s.app)[method.toLowerCase() as 'get'](path);
    expectEnvelope(res, 401, 'UNAUTHORIZED');
  });
});

describe('permission matrix over HTTP', () => {
  // [caller, method, workspace/image, expected]
  const cells: ['alice' | 'bob' | 'admin', 'GET' | 'PATCH' | 'DELETE-VERSIONS' | 'DELETE-IMAGE', string, string, number][] = [
    ['alice', 'GET', 'a-private', 'app', 200],
    ['alice', 'GET', 'b-public', 'base', 200],
    ['alice', 'GET', 'b-private', 'secret', 404],
    ['alice', 'PATCH', 'a-private', 'app', 200],
    ['alice', 'PATCH', 'b-public', 'base', 403],
    ['alice', 'PATCH', 'b-private', 'secret', 404],
    ['alice', 'DELETE-VERSIONS', 'b-public', 'base', 403],
    ['alice', 'DELETE-VERSIONS', 'b-private', 'secret', 404],
    ['bob', 'GET', 'a-private', 'app', 404],
    ['bob', 'GET', 'a-public', 'web', 200],
    ['bob', 'PATCH', 'a-public', 'web', 403],
    ['admin', 'GET', 'b-private', 'secret', 200],
    ['admin', 'PATCH', 'b-private', 'secret', 200],
    ['admin', 'GET', 'library', 'hello', 200],
    ['bob', 'GET', 'library', 'hello', 404],
  ];
  it.each(cells)('%s %s %s/%s → %i', async (who, method, ws, image, status) => {
    const c = as(s.app, tokens[who]);
    const path = `/api/v1/workspaces/${ws}/images/${image}`;
    const res =
      method === 'GET'
        ? await c.get(path)
        : method === 'PATCH'
          ? await c.patch(path).send({ description: 'hello' })
          : await c.delete(`${path}/versions`).send({ tags: ['nope'] });
    expect(res.status).toBe(status);
    if (status >= 400) expectEnvelope(res, status, status === 404 ? 'NOT_FOUND' : 'FORBIDDEN');
  });

  it('batch image delete: shared → FORBIDDEN item, others\' private → NOT_FOUND item (never a leak of existence)', async () => {
    const res = await as(s.app, tokens.alice)
      .delete('/api/v1/images')
      .send({ items: [{ workspace: 'b-public', image: 'base' }, { workspace: 'b-private', image: 'secret' }, { workspace: 'b-private', image: 'no-such' }] });
    expect(res.status).toBe(200);
    expect(res.body.deleted).toEqual([]);
    expect(res.body.failed.map((f: { code: string }) => f.code)).toEqual(['FORBIDDEN', 'NOT_FOUND', 'NOT_FOUND']);
    expect(res.body.failed[1].reason).toBe(res.body.failed[2].reason.replace('no-such', 'secret').replace('no-such', 'secret'));
    expect(res.body.failed[1].reason).not.toMatch(/forbid/i);
  });

  it('lists: a member never sees other projects\' private images; admin sees them', async () => {
    const alice = await as(s.app, tokens.alice).get('/api/v1/images?page_size=100');
    expect(alice.body.items.map((i: { workspace: string }) => i.workspace)).not.toContain('b-private');
    const admin = await as(s.app, tokens.admin).get('/api/v1/images?page_size=100&workspace=b-private');
    expect(admin.body.items.map((i: { image: string }) => i.image)).toEqual(['secret']);
  });
});

describe('lists over HTTP: paging edges and validation', () => {
  it('X-Total-Count, last page, past the end = empty page', async () => {
    const c = as(s.app, tokens.alice);
    const p1 = await c.get('/api/v1/images?view=own&page=1&page_size=2');
    expect(p1.status).toBe(200);
    expect(p1.headers['x-total-count']).toBe('3');
    expect(p1.body).toMatchObject({ total: 3, page: 1, pageSize: 2 });
    expect(p1.body.items).toHaveLength(2);
    const last = await c.get('/api/v1/images?view=own&page=2&page_size=2');
    expect(last.body.items).toHaveLength(1);
    const beyond = await c.get('/api/v1/images?view=own&page=9&page_size=2');
    expect(beyond.body).toMatchObject({ items: [], total: 3 });
  });

  it('an empty result is a 200 with total 0', async () => {
    const res = await as(s.app, tokens.alice).get('/api/v1/images?q=zzz-nothing');
    expect(res.status).toBe(200);
    expect(res.headers['x-total-count']).toBe('0');
    expect(res.body.items).toEqual([]);
  });

  it.each([['page_size=101'], ['page_size=0'], ['page=0'], ['sort=size'], ['view=mine'], ['bogus=1']])('?%s → 400', async (qs) => {
    const res = await as(s.app, tokens.alice).get(`/api/v1/images?${qs}`);
    expectEnvelope(res, 400, 'BAD_REQUEST');
  });

  it('page_size=100 is accepted (Harbor\'s own cap), with rows carrying every field', async () => {
    const res = await as(s.app, tokens.alice).get('/api/v1/images?page_size=100&sort=-pulls');
    expect(res.status).toBe(200);
    expect(res.body.items[0]).toEqual({
      workspace: 'a-public',
      image: 'web',
      pullAddress: 'hub.example.test/a-public/web',
      versionCount: 1,
      latestPushAt: expect.any(String),
      pullCount: 9,
      sizeBytes: 70,
      updatedAt: expect.any(String),
      access: 'public',
      project: teamA,
      relation: 'manage',
      shared: false,
    });
  });
});

describe('image names with a slash', () => {
  it('work raw and encoded once', async () => {
    const c = as(s.app, tokens.alice);
    const raw = await c.get('/api/v1/workspaces/a-private/images/team/tool');
    const enc = await c.get('/api/v1/workspaces/a-private/images/team%2Ftool');
    expect(raw.status).toBe(200);
    expect(raw.body.image).toBe('team/tool');
    expect(enc.body).toEqual(raw.body);
    expect(raw.body.versions[0].pullAddress).toBe('hub.example.test/a-private/team/tool:1.0');
  });
});

describe('description and deletes over HTTP', () => {
  it('PATCH sets raw Markdown; an over-long description or unknown field is 400', async () => {
    const c = as(s.app, tokens.alice);
    const ok = await c.patch('/api/v1/workspaces/a-public/images/web').send({ description: '## Web\n\n- one' });
    expect(ok.status).toBe(200);
    expect(ok.body.description).toBe('## Web\n\n- one');
    expectEnvelope(await c.patch('/api/v1/workspaces/a-public/images/web').send({ description: 'x'.repeat(10_001) }), 400, 'BAD_REQUEST');
    expectEnvelope(await c.patch('/api/v1/workspaces/a-public/images/web').send({ description: 'x', extra: 1 }), 400, 'BAD_REQUEST');
  });

  it('batch body validation: empty, too many, bad names → 400', async () => {
    const c = as(s.app, tokens.alice);
    expectEnvelope(await c.delete('/api/v1/images').send({ items: [] }), 400, 'BAD_REQUEST');
    expectEnvelope(await c.delete('/api/v1/images').send({ items: Array.from({ length: 101 }, (_, i) => ({ workspace: 'a-private', image: `i${i}` })) }), 400, 'BAD_REQUEST');
    expectEnvelope(await c.delete('/api/v1/images').send({ items: [{ workspace: 'a-private', image: '../x' }] }), 400, 'BAD_REQUEST');
    expectEnvelope(await c.delete('/api/v1/workspaces/a-private/images/app/versions').send({ tags: [] }), 400, 'BAD_REQUEST');
  });

  it('batch partial failure: one Harbor error, the rest deleted; each item says why', async () => {
    const t = await stack();
    t.harbor.failNext('deleteRepository');
    const res = await as(t.app, tokens.alice)
      .delete('/api/v1/images')
      .send({ items: [{ workspace: 'a-private', image: 'app' }, { workspace: 'a-private', image: 'team/tool' }, { workspace: 'a-public', image: 'web' }] });
    expect(res.status).toBe(200);
    expect(res.body.deleted).toHaveLength(2);
    expect(res.body.failed).toEqual([{ workspace: expect.any(String), image: expect.any(String), code: 'UPSTREAM_UNAVAILABLE', reason: expect.any(String) }]);
    expect(res.body.note).toMatch(/garbage collection/);
    const left = await as(t.app, tokens.alice).get('/api/v1/images?view=own');
    expect(left.body.total).toBe(1);
  });

  it('versions: deletes tags, then the artifact when none is left; per-tag results', async () => {
    const t = await stack();
    const res = await as(t.app, tokens.alice).delete('/api/v1/workspaces/a-private/images/app/versions').send({ tags: ['v2', 'v1', 'ghost'] });
    expect(res.status).toBe(200);
    expect(res.body.deleted.map((d: { tag: string; artifactDeleted: boolean }) => [d.tag, d.artifactDeleted])).toEqual([
      ['v2', true],
      ['v1', false],
    ]);
    expect(res.body.failed).toEqual([{ tag: 'ghost', code: 'NOT_FOUND', reason: expect.any(String) }]);
    const detail = await as(t.app, tokens.alice).get('/api/v1/workspaces/a-private/images/app');
    expect(detail.body.versions.map((v: { tag: string }) => v.tag)).toEqual(['stable']);
  });
});

describe('Redis outage', () => {
  it('lists keep working from memory with Redis unreachable, and this replica\'s own writes show at once', async () => {
    const feed = createRedisChangeFeed({ name: 'images', redisUrl: 'redis://127.0.0.1:1', commandTimeoutMs: 100 });
    try {
      const t = await stack(createInProcessCoordination(), feed);
      const c = as(t.app, tokens.alice);
      const before = await c.get('/api/v1/images?view=own');
      expect(before.status).toBe(200);
      expect(before.body.total).toBe(3);
      const app = () => c.get('/api/v1/images?view=own').then((r) => r.body.items.find((i: { image: string }) => i.image === 'app').versionCount);
      expect(await app()).toBe(3);
      expect((await c.delete('/api/v1/workspaces/a-private/images/app/versions').send({ tags: ['v2'] })).status).toBe(200);
      expect(await app()).toBe(2);
    } finally {
      await feed.close();
    }
  });

  it('an out-of-band change is not seen until that image is invalidated (the catalogue is real)', async () => {
    const t = await stack();
    const c = as(t.app, tokens.alice);
    expect((await c.get('/api/v1/images?view=own')).body.total).toBe(3);
    t.harbor.addImage('a-private', 'pushed-elsewhere', [{ tags: ['1'] }]);
    expect((await c.get('/api/v1/images?view=own')).body.total).toBe(3);
    // a write through hubgate invalidates just its own image
    await c.patch('/api/v1/workspaces/a-private/images/app').send({ description: 'x' });
    expect((await c.get('/api/v1/images?view=own')).body.total).toBe(3);
    await t.images.invalidate(['a-private/pushed-elsewhere']);
    expect((await c.get('/api/v1/images?view=own')).body.total).toBe(4);
  });
});

describe('no secrets in logs', () => {
  it('bearer tokens never appear in log lines', () => {
    for (const t of Object.values(tokens)) expect(logLines.join('\n')).not.toContain(t);
  });
});
