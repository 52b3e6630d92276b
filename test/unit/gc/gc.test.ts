import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../../src/http/app';
import { CredentialsService } from '../../../src/domain/credentials.service';
import { WorkspacesService } from '../../../src/domain/workspaces.service';
import { GcService, parseGcLog } from '../../../src/domain/gc.service';
import { createLogger } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';
import { createOidcVerifier } from '../../../adapters/identity/oidc.verifier';
import { createInProcessCoordination } from '../../../adapters/redis/redis.coordination';
import { FakeHarbor } from '../../support/fake-harbor';
import { startJwks, type TestIdp } from '../../support/tokens';

const teamA = { id: 'proj-a', name: 'Team A', department: 'dept-1' };
const teamB = { id: 'proj-b', name: 'Team B', department: 'dept-2' };

/** Harbor 2.5.5's log of a real GC run, shaped as recording 193 (9 deletions, 0 MB) but with 3 MB freed. */
const REAL_LOG = [
  '2026-11-26T13:53:33Z [INFO] [/jobservice/job/impl/gc/garbage_collection.go:145]: Garbage Collection parameters: [delete_untagged: true, dry_run: false, time_window: 2]',
  '2026-11-26T13:53:33Z [INFO] [/jobservice/job/impl/gc/garbage_collection.go:458]: ID-1 MediaType-application/vnd.docker.container.image.v1+json ManifestMediaType-application/vnd.docker.distribution.manifest.v2+json RepositoryName-a-private/app Digest-sha256:58fd CreationTime-2026-11-26 13:53:30',
  '2026-11-26T13:53:33Z [INFO] [/jobservice/job/impl/gc/garbage_collection.go:458]: ID-2 MediaType-application/vnd.oci.image.config.v1+json ManifestMediaType-application/vnd.oci.image.manifest.v1+json RepositoryName-b-private/secret Digest-sha256:5a3e CreationTime-2026-11-26 13:53:30',
  '2026-11-26T13:53:33Z [INFO] [/jobservice/job/impl/gc/garbage_collection.go:236]: 6 blobs and 3 manifests eligible for deletion',
  '2026-11-26T13:53:33Z [INFO] [/jobservice/job/impl/gc/garbage_collection.go:237]: The GC could free up 3 MB space, the size is a rough estimation.',
  '2026-11-26T13:53:33Z [INFO] [/jobservice/job/impl/gc/garbage_collection.go:266]: [2/9] delete the manifest with registry v2 API: b-private/secret, application/vnd.docker.distribution.manifest.v2+json, sha256:8bfc',
  '2026-11-26T13:53:33Z [INFO] [/jobservice/job/impl/gc/garbage_collection.go:299]: [2/9] delete artifact trash record from database: 3, b-private/secret, sha256:8bfc',
  '2026-11-26T13:53:34Z [INFO] [/jobservice/job/impl/gc/garbage_collection.go:356]: 6 blobs and 3 manifests are actually deleted',
  '2026-11-26T13:53:34Z [INFO] [/jobservice/job/impl/gc/garbage_collection.go:357]: The GC job actual frees up 3 MB space.',
  '2026-11-26T13:53:34Z [INFO] [/jobservice/job/impl/gc/garbage_collection.go:174]: success to run gc in job.',
].join('\n');

describe('parseGcLog', () => {
  it('reads freed space and counts of a real run', () => {
    expect(parseGcLog(REAL_LOG)).toEqual({ kind: 'freed', freedBytes: 3 * 1024 * 1024, blobs: 6, manifests: 3 });
  });
  it('reads what a dry run could free (recorded log 190)', () => {
    const rec = JSON.parse(fs.readFileSync(path.join(__dirname, '../../fixtures/harbor/190-gc-log-dry-run.json'), 'utf8')) as { response: { body: string } };
    // "6 blobs and 3 manifests eligible for deletion", "The GC could free up 0 MB space".
    expect(parseGcLog(rec.response.body)).toEqual({ kind: 'would_free', freedBytes: 0, blobs: 6, manifests: 3 });
  });
  it('says nothing for a log without a summary (running, failed)', () => {
    expect(parseGcLog('2026-11-26T13:53:33Z [INFO] start to run gc in job.')).toEqual({ kind: null, freedBytes: null, blobs: null, manifests: null });
  });
});

let idp: TestIdp;
let tokens: Record<'alice' | 'bob' | 'admin', string>;
const logLines: string[] = [];

async function stack(opts: { allowMembers?: boolean } = {}) {
  const harbor = new FakeHarbor();
  const logger = createLogger('debug', (l) => logLines.push(l));
  const metrics = createMetrics({ defaultMetrics: false });
  const coordination = createInProcessCoordination();
  const credentials = new CredentialsService({ harbor, coordination, logger, metrics, secret: 'k'.repeat(40), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
  const workspaces = new WorkspacesService({ harbor, credentials, coordination, cache: coordination, logger, registryHost: 'hub.example.test', reserved: ['library'], catalogTtlSeconds: 5 });
  const gc = new GcService({
    harbor,
    coordination,
    logger,
    metrics,
    allowMembers: opts.allowMembers ?? false,
    defaultWindowHours: 2,
    visibleWorkspaces: async (p) => new Set((await workspaces.list(p, { page: 1, pageSize: 10_000 })).items.map((w) => w.name)),
  });
  const app: Express = createApp({
    logger,
    metrics,
    verifier: createOidcVerifier({ ...idp.oidcConfig(), logger }),
    workspaces,
    credentials,
    gc,
    readiness: async () => ({ ready: true, degraded: false, checks: {} }),
    registryHost: 'hub.example.test',
    registryInsecure: true,
    publicUrl: 'http://hub.example.test',
    version: 'test',
  });
  await workspaces.create({ userId: 'a', username: 'a', isCloudAdmin: false, projects: [teamA] }, { name: 'a-private', projectId: teamA.id, access: 'private' });
  await workspaces.create({ userId: 'b', username: 'b', isCloudAdmin: false, projects: [teamB] }, { name: 'b-private', projectId: teamB.id, access: 'private' });
  const as = (who: keyof typeof tokens) => ({
    get: (p: string) => request(app).get(p).set('Authorization', `Bearer ${tokens[who]}`),
    post: (p: string) => request(app).post(p).set('Authorization', `Bearer ${tokens[who]}`),
  });
  return { harbor, app, metrics, gc, as };
}

beforeAll(async () => {
  idp = await startJwks();
  tokens = {
    alice: await idp.memberToken({ sub: 'u-alice', username: 'alice', projects: [teamA] }),
    bob: await idp.memberToken({ sub: 'u-bob', username: 'bob', projects: [teamB] }),
    admin: await idp.adminToken({ sub: 'u-root', username: 'root' }),
  };
});
afterAll(async () => {
  await idp.close();
});

describe('GC over HTTP', () => {
  it('a cloud admin starts a run: 202, Location, the safety window explained', async () => {
    const { as, harbor } = await stack();
    const res = await as('admin').post('/api/v1/gc').send({ dryRun: true });
    expect(res.status).toBe(202);
    expect(res.headers.location).toBe(`/api/v1/gc/${res.body.id}`);
    expect(res.body).toMatchObject({ status: 'Running', dryRun: true, deleteUntagged: true, trigger: 'manual', safetyWindowHours: 2, finishedAt: null });
    expect(res.body.note).toMatch(/more than 2 hours before/);
    expect(JSON.stringify(res.body)).not.toContain('s3cret');
    expect(harbor.calls.filter((c) => c === 'startGc')).toHaveLength(1);
  });

  it('POST /gc without a body starts a normal run', async () => {
    const { as } = await stack();
    const res = await as('admin').post('/api/v1/gc');
    expect(res.status).toBe(202);
    expect(res.body.dryRun).toBe(false);
  });

  it('a second start while one runs is 409 from hubgate (Harbor would accept it); after it ends, a new one starts', async () => {
    const { as, harbor } = await stack();
    const first = await as('admin').post('/api/v1/gc').send({});
    const second = await as('admin').post('/api/v1/gc').send({});
    expect(second.status).toBe(409);
    expect(second.body.errors[0]).toEqual({ code: 'CONFLICT', message: expect.stringContaining(`garbage collection ${first.body.id}`) });
    expect(harbor.calls.filter((c) => c === 'startGc')).toHaveLength(1);
    // concurrent starts: still only one reaches Harbor
    harbor.finishGc(first.body.id, 'Success', REAL_LOG);
    const burst = await Promise.all([1, 2, 3].map(() => as('admin').post('/api/v1/gc').send({})));
    expect(burst.map((r) => r.status).sort()).toEqual([202, 409, 409]);
    expect(harbor.calls.filter((c) => c === 'startGc')).toHaveLength(2);
  });

  it('status, freed bytes from the log, history with paging, and the log', async () => {
    const { as, harbor } = await stack();
    const started = await as('admin').post('/api/v1/gc').send({});
    const running = await as('admin').get(`/api/v1/gc/${started.body.id}`);
    expect(running.body).toMatchObject({ status: 'Running', result: null });
    harbor.finishGc(started.body.id, 'Success', REAL_LOG);
    const done = await as('admin').get(`/api/v1/gc/${started.body.id}`);
    expect(done.body).toMatchObject({ status: 'Success', result: { kind: 'freed', freedBytes: 3145728, blobs: 6, manifests: 3 }, finishedAt: expect.any(String) });
    await as('admin').post('/api/v1/gc').send({ dryRun: true });
    const hist = await as('admin').get('/api/v1/gc?page=1&page_size=1');
    expect(hist.status).toBe(200);
    expect(hist.headers['x-total-count']).toBe('2');
    expect(hist.body).toMatchObject({ total: 2, running: true });
    expect(hist.body.items).toHaveLength(1);
    expect(hist.body.items[0].dryRun).toBe(true);
    expect(JSON.stringify(hist.body)).not.toContain('redis');
    expect((await as('admin').get('/api/v1/gc?page_size=101')).status).toBe(400);
    const log = await as('admin').get(`/api/v1/gc/${started.body.id}/log`);
    expect(log.status).toBe(200);
    expect(log.headers['content-type']).toMatch(/^text\/plain/);
    expect(log.text).toContain('RepositoryName-b-private/secret');
  });

  it('unknown or malformed ids are 404', async () => {
    const { as } = await stack();
    for (const p of ['/api/v1/gc/999', '/api/v1/gc/999/log', '/api/v1/gc/abc']) {
      const res = await as('admin').get(p);
      expect(res.status).toBe(404);
      expect(res.body.errors[0].code).toBe('NOT_FOUND');
    }
  });

  it.each([
    ['POST', '/api/v1/gc'],
    ['GET', '/api/v1/gc'],
    ['GET', '/api/v1/gc/1'],
    ['GET', '/api/v1/gc/1/log'],
  ])('members get 403 on %s %s by default; no token is 401', async (method, p) => {
    const { as, app } = await stack();
    await as('admin').post('/api/v1/gc').send({});
    const res = method === 'POST' ? await as('alice').post(p).send({}) : await as('alice').get(p);
    expect({ status: res.status, body: res.body }).toEqual({ status: 403, body: { errors: [{ code: 'FORBIDDEN', message: 'garbage collection is platform-wide: cloud administrators only' }] } });
    const anonymous = await request(app)[method === 'POST' ? 'post' : 'get'](p);
    expect({ status: anonymous.status, body: anonymous.body }).toEqual({ status: 401, body: { errors: [{ code: 'UNAUTHORIZED', message: 'a bearer token is required' }] } });
  });

  it('with HUBGATE_GC_ALLOW_MEMBERS members may start and watch; the log masks other projects\' repositories', async () => {
    const { as, harbor } = await stack({ allowMembers: true });
    const started = await as('alice').post('/api/v1/gc').send({});
    expect(started.status).toBe(202);
    harbor.finishGc(started.body.id, 'Success', REAL_LOG);
    const log = await as('alice').get(`/api/v1/gc/${started.body.id}/log`);
    expect(log.status).toBe(200);
    expect(log.text).toContain('RepositoryName-a-private/app');
    expect(log.text).not.toContain('b-private');
    expect(log.text).toContain('RepositoryName-<hidden>');
    expect(log.text).toContain('registry v2 API: <hidden>,');
  });
});

describe('GC log masking covers every line Harbor 2.5.5 writes a repository into', () => {
  const D = `sha256:${'c'.repeat(64)}`;
  const lines = (repo: string) => [
    `ID-1 MediaType-application/vnd.oci.image.manifest.v1+json ManifestMediaType-x RepositoryName-${repo} Digest-${D} CreationTime-2026-12-04`,
    `delete the untagged artifact: ProjectID:(3)-RepositoryName(${repo})-MediaType:(application/vnd.oci.image.manifest.v1+json)-Digest:(${D})`,
    `[1/3] delete the manifest with registry v2 API: ${repo}, application/vnd.oci.image.manifest.v1+json, ${D}`,
    `[1/3] failed to delete manifest with v2 API, ${repo}, ${D}, http status code: 500, body: GET http://core:8080/v2/${repo}/manifests/${D} failed`,
    `[1/3] failed to remove manifest from storage: ${repo}, ${D}, errMsg=timeout`,
    `[1/3] failed to call gc.markDeleteFailed() after gc.registryCtlClient.DeleteManifest() error out: ${repo}, ${D}, boom`,
    `[2/3] delete artifact trash record from database: 7, ${repo}, ${D}`,
    `failed to exec v2DeleteManifest, error: Delete "http://core:8080/v2/${repo}/manifests/${D}": EOF, will retry again after: 1s`,
  ];
  it.each(lines('b-private/team/app').map((l, i) => [i, l]))('line %i: another project\'s repository is hidden, the own one shown', async (i) => {
    const { as, harbor } = await stack({ allowMembers: true });
    const started = await as('alice').post('/api/v1/gc').send({});
    harbor.finishGc(started.body.id, 'Success', `${lines('b-private/team/app')[i as number]}\n${lines('a-private/app')[i as number]}\n`);
    const log = await as('alice').get(`/api/v1/gc/${started.body.id}/log`);
    expect(log.status).toBe(200);
    expect(log.text).not.toContain('b-private');
    expect(log.text).toContain('<hidden>');
    expect(log.text).toContain('a-private/app');
  });
});

describe('GC metrics', () => {
  it('sets the hubgate_gc_last_* gauges from the newest run and its log', async () => {
    const { gc, harbor, metrics } = await stack();
    const id = await harbor.startGc({ dryRun: false, deleteUntagged: true });
    await gc.refreshMetrics();
    let text = await metrics.registry.metrics();
    expect(text).toMatch(/hubgate_gc_last_status\{status="Running"\} 1/);
    expect(text).toMatch(/hubgate_gc_last_run_timestamp_seconds \d+/);
    harbor.finishGc(id, 'Success', REAL_LOG);
    await gc.refreshMetrics();
    text = await metrics.registry.metrics();
    expect(text).toMatch(/hubgate_gc_last_status\{status="Success"\} 1/);
    expect(text).toMatch(/hubgate_gc_last_status\{status="Running"\} 0/);
    expect(text).toContain('hubgate_gc_last_freed_bytes 3145728');
    expect(text).toMatch(/hubgate_gc_last_success_timestamp_seconds \d+/);
    expect(text).not.toContain('s3cret');
  });
});
