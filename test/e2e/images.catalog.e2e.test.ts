/* eslint-disable @typescript-eslint/no-explicit-any -- assertions over loosely typed JSON answers */
/**
 * The image catalogue against the Harbor double (real HTTP, the real Harbor adapter, a real redis-server for the
 * shared change feed): what each kind of change costs in Harbor calls — counted through the double's call log —
 * and when it shows (clock injected; no timed assertions). Plus the double's GET /repositories as Harbor 2.5.5
 * answers it (paging cap, q filters, sort by update time), which the catalogue's delta sync relies on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startHarborDouble, type HarborDouble } from '../harbor-double';
import type { State } from '../harbor-double/state';
import { createHarborAdapter } from '../../adapters/harbor/harbor.adapter';
import { createInProcessChangeFeed, createRedisChangeFeed } from '../../adapters/redis/change.feed';
import { ImageCatalog, harborQueryTime, type CatalogRepo } from '../../src/domain/images.catalog';
import type { ChangeFeed } from '../../src/ports/changes';
import { silentLogger } from '../../src/observability/logger';
import { startRedis, type TestRedis } from '../support/redis';
import { requireTools } from '../support/tools';
import { ADMIN_PASSWORD, ADMIN_USERNAME, startHubgate, testConfig } from '../support/stack';
import { startJwks, type TestIdp } from '../support/tokens';

jest.setTimeout(120_000);
const tools = requireTools('image catalogue e2e', ['redis-server']);
if (!tools.available) console.warn(tools.reason);
const d = tools.available ? describe : describe.skip;

const T0 = Date.parse('2026-06-01T12:00:00.000Z');

/** Adds a repository with one artifact per entry of `artifacts` (its tags) straight into the double's state. */
function addRepo(s: State, project: string, image: string, artifacts: string[][], at = T0): number {
  const p = s.projectByName(project) ?? s.newProject(project, { public: 'false' }, -1, at);
  const id = s.next('repository');
  s.repositories.set(id, { id, projectId: p.id, name: `${project}/${image}`, description: '', pullCount: 0, creationTime: at, updateTime: at });
  for (const tags of artifacts) addArtifact(s, id, tags, at);
  return id;
}

/** An artifact pushed into an existing repository, as Harbor 2.5.5 records it: the repository's update_time stays. */
function addArtifact(s: State, repoId: number, tags: string[], at = T0): void {
  const r = s.repositories.get(repoId)!;
  const aid = s.next('artifact');
  s.artifacts.set(aid, {
    id: aid,
    repositoryId: repoId,
    projectId: r.projectId,
    digest: `sha256:${aid.toString(16).padStart(64, '0')}`,
    manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
    mediaType: 'application/vnd.oci.image.config.v1+json',
    size: 1000,
    pushTime: at,
    pullTime: 0,
    extraAttrs: { architecture: 'amd64', os: 'linux' },
    history: null,
    blobs: [],
    manifestSize: 500,
    type: 'IMAGE',
  });
  for (const name of tags) {
    const tid = s.next('tag');
    s.tags.set(tid, { id: tid, name, artifactId: aid, repositoryId: repoId, pushTime: at, pullTime: 0 });
  }
}

/** Calls to the double since `from`, by kind. */
function callsSince(h: HarborDouble, from: number) {
  const calls = h.calls.slice(from).map((c) => `${c.method} ${c.url}`);
  return {
    all: calls,
    walkPages: calls.filter((c) => /^GET \/api\/v2\.0\/repositories\?/.test(c) && !/q=|page_size=1(&|$)/.test(decodeURIComponent(c))),
    walkRanges: calls.filter((c) => /^GET \/api\/v2\.0\/repositories\?/.test(c) && /q=repository_id=\[/.test(decodeURIComponent(c))),
    walkHeads: calls.filter((c) => /^GET \/api\/v2\.0\/repositories\?/.test(c) && /sort=-repository_id/.test(c)),
    deltas: calls.filter((c) => /^GET \/api\/v2\.0\/repositories\?.*q=update_time/.test(decodeURIComponent(c))),
    counts: calls.filter((c) => /^GET \/api\/v2\.0\/repositories\?/.test(c) && /page_size=1(&|$)/.test(c)),
    getRepository: calls.filter((c) => /^GET \/api\/v2\.0\/projects\/[^/]+\/repositories\/[^/?]+(\?|$)/.test(c)),
    projectRepositories: calls.filter((c) => /^GET \/api\/v2\.0\/projects\/[^/]+\/repositories\?/.test(c)),
    listProjects: calls.filter((c) => /^GET \/api\/v2\.0\/projects\?/.test(c)),
    artifacts: calls.filter((c) => /\/artifacts\?/.test(c)),
  };
}

d('image catalogue: cost grows with what changed (Harbor double, calls counted)', () => {
  let harbor: HarborDouble;
  let clock: number;
  let catalogs: ImageCatalog[] = [];
  const adapter = () => createHarborAdapter({ baseUrl: harbor.url, username: ADMIN_USERNAME, password: ADMIN_PASSWORD, timeoutMs: 10000, retries: 0, logger: silentLogger });
  const catalog = (feed: ChangeFeed = createInProcessChangeFeed(), opts: Partial<ConstructorParameters<typeof ImageCatalog>[0]> = {}) => {
    const c = new ImageCatalog({
      harbor: adapter(),
      feed,
      logger: silentLogger,
      syncSeconds: 15,
      fullSyncSeconds: 3600,
      statsMaxAgeSeconds: 86400,
      concurrency: 8,
      fillConcurrency: 2,
      now: () => clock,
      ...opts,
    });
    catalogs.push(c);
    return c;
  };
  const byName = (a: CatalogRepo, b: CatalogRepo) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const everything = (h: HarborDouble) => new Set([...h.state.projects.values()].map((p) => p.id));
  const list = async (c: ImageCatalog) => {
    const rows = await c.repositories(everything(harbor), byName, 'name');
    const stats = await c.statsFor(rows);
    return new Map(rows.map((r) => [r.name, { ...r, ...stats.get(r.id)! }]));
  };

  beforeEach(async () => {
    harbor = await startHarborDouble();
    clock = T0;
  });
  afterEach(async () => {
    for (const c of catalogs) c.stop();
    catalogs = [];
    await harbor.close();
  });

  it('a cold build walks GET /repositories once (newest id, then id ranges answered whole); lists after it need no repository call', async () => {
    for (let i = 0; i < 250; i++) addRepo(harbor.state, `ws-${i % 3}`, `img-${String(i).padStart(3, '0')}`, [['1']]);
    const c = catalog(undefined, { walkRangeRows: 100 });
    let mark = harbor.calls.length;
    const rows = await c.repositories(everything(harbor), byName, 'name');
    expect(rows).toHaveLength(250);
    expect(new Set(rows.map((r) => r.id)).size).toBe(250);
    let calls = callsSince(harbor, mark);
    expect(calls.walkHeads.map(decodeURIComponent)).toEqual(['GET /api/v2.0/repositories?sort=-repository_id&page=1&page_size=1']);
    const ids = [...harbor.state.repositories.keys()].sort((a, b) => a - b);
    const width = Math.ceil(ids[ids.length - 1] / 3);
    expect(calls.walkRanges.map(decodeURIComponent).sort()).toEqual(
      [`[~${width}]`, `[${width + 1}~${2 * width}]`, `[${2 * width + 1}~]`].map((r) => `GET /api/v2.0/repositories?q=repository_id=${r}&page_size=0`).sort(),
    );
    expect(calls.walkPages).toEqual([]);
    // (plus the adapter's one-off check of its credentials)
    expect(calls.all.filter((x) => !/\/repositories\?/.test(x))).toEqual(['GET /api/v2.0/users/current']);
    mark = harbor.calls.length;
    expect(await c.repositories(everything(harbor), byName, 'name')).toHaveLength(250);
    calls = callsSince(harbor, mark);
    expect(calls.all).toEqual([]);
  });

  it('the walk: a repository created while it runs is in the open last range; a range answered short is read again in pages', async () => {
    for (let i = 0; i < 250; i++) addRepo(harbor.state, `ws-${i % 3}`, `img-${String(i).padStart(3, '0')}`, [['1']]);
    const base = adapter();
    let added = false;
    const harborPort = Object.assign(Object.create(base) as typeof base, {
      // a repository pushed right after the newest id was read
      listRepositoriesAll: async (q: Parameters<typeof base.listRepositoriesAll>[0]) => {
        const page = await base.listRepositoriesAll(q);
        if (q?.sort === '-repository_id' && !added) {
          added = true;
          addRepo(harbor.state, 'ws-0', 'late', [['1']]);
        }
        return page;
      },
      // a Harbor (or proxy) that caps unpaged answers at 60 rows
      listRepositoriesInIdRange: async (from?: number, to?: number) => {
        const page = await base.listRepositoriesInIdRange(from, to);
        return { items: page.items.slice(0, 60), total: page.total };
      },
    });
    const c = catalog(undefined, { harbor: harborPort, walkRangeRows: 100 });
    const mark = harbor.calls.length;
    const rows = await c.repositories(everything(harbor), byName, 'name');
    expect(rows).toHaveLength(251);
    expect(rows.map((r) => r.name)).toContain('ws-0/late');
    const paged = callsSince(harbor, mark).all.filter((x) => /sort=repository_id&page=\d+&page_size=100/.test(decodeURIComponent(x)));
    expect(paged.length).toBeGreaterThanOrEqual(3);
  });

  it('a change seen by hubgate costs one GET of that repository (no walk), and shows in the very next list', async () => {
    const id = addRepo(harbor.state, 'ws-a', 'app', [['v1']]);
    addRepo(harbor.state, 'ws-a', 'other', [['v1']]);
    const c = catalog();
    expect((await list(c)).get('ws-a/app')!.versionCount).toBe(1);
    // a tag added to the artifact that is there (same digest): Harbor changes neither update_time nor artifact_count
    const aid = [...harbor.state.artifacts.values()].find((a) => a.repositoryId === id)!.id;
    harbor.state.tags.set(999, { id: 999, name: 'v1-again', artifactId: aid, repositoryId: id, pushTime: T0, pullTime: 0 });
    expect((await list(c)).get('ws-a/app')!.versionCount).toBe(1);
    const mark = harbor.calls.length;
    await c.invalidate(['ws-a/app']);
    const after = await list(c);
    expect(after.get('ws-a/app')!.versionCount).toBe(2);
    const calls = callsSince(harbor, mark);
    expect(calls.getRepository).toEqual(['GET /api/v2.0/projects/ws-a/repositories/app']);
    expect(calls.artifacts).toHaveLength(1);
    expect(calls.walkPages).toEqual([]);
    expect(calls.deltas).toEqual([]);
    expect(calls.all).toHaveLength(2);
  });

  it('a repository created or pulled directly in Harbor shows after syncSeconds, not before, for 2 calls (count + delta)', async () => {
    addRepo(harbor.state, 'ws-a', 'app', [['v1']]);
    const c = catalog();
    await list(c);
    const later = T0 + 5_000;
    addRepo(harbor.state, 'ws-a', 'newcomer', [['1']], later);
    const app = harbor.state.repoByName('ws-a/app')!;
    app.pullCount = 7;
    app.updateTime = later;
    clock = T0 + 7_000; // before half the interval: no sync at all (from half on, one runs ahead in the background)
    let rows = await list(c);
    expect(rows.has('ws-a/newcomer')).toBe(false);
    expect(rows.get('ws-a/app')!.pullCount).toBe(0);
    clock = T0 + 15_000;
    const mark = harbor.calls.length;
    rows = await list(c);
    expect(rows.has('ws-a/newcomer')).toBe(true);
    expect(rows.get('ws-a/app')!.pullCount).toBe(7);
    const calls = callsSince(harbor, mark);
    expect(calls.counts).toHaveLength(1);
    expect(calls.deltas).toHaveLength(1);
    expect(decodeURIComponent(calls.deltas[0])).toContain(`q=update_time=[${harborQueryTime(T0 - 10_000)}~]`); // newest seen before, minus the overlap
    expect(calls.walkPages).toEqual([]);
    // the pull changed no artifact: app's stats are not read again; the newcomer's are read once
    expect(calls.artifacts).toEqual(['GET /api/v2.0/projects/ws-a/repositories/newcomer/artifacts?with_tag=true&with_label=false&with_scan_overview=false&page=1&page_size=100']);
  });

  it('a repository deleted directly in Harbor: the count differs, and only the project whose repo_count differs is listed again', async () => {
    for (const ws of ['ws-a', 'ws-b', 'ws-c']) for (const img of ['one', 'two']) addRepo(harbor.state, ws, img, [['1']]);
    const c = catalog();
    await list(c);
    harbor.state.deleteRepository(harbor.state.repoByName('ws-b/two')!);
    clock = T0 + 15_000;
    const mark = harbor.calls.length;
    const rows = await list(c);
    expect([...rows.keys()].sort()).toEqual(['ws-a/one', 'ws-a/two', 'ws-b/one', 'ws-c/one', 'ws-c/two']);
    const calls = callsSince(harbor, mark);
    expect(calls.listProjects.length).toBeGreaterThanOrEqual(1);
    expect(calls.projectRepositories.map((x) => x.split('?')[0])).toEqual(['GET /api/v2.0/projects/ws-b/repositories']);
    expect(calls.walkPages).toEqual([]);
  });

  it('a tag added directly in Harbor shows after statsMaxAgeSeconds; an artifact pushed straight into Harbor after the full re-walk', async () => {
    const id = addRepo(harbor.state, 'ws-a', 'app', [['v1']]);
    const c = catalog(undefined, { statsMaxAgeSeconds: 600, fullSyncSeconds: 3600, syncSeconds: 15 });
    expect((await list(c)).get('ws-a/app')!.versionCount).toBe(1);
    const aid = [...harbor.state.artifacts.values()].find((a) => a.repositoryId === id)!.id;
    harbor.state.tags.set(500, { id: 500, name: 'extra', artifactId: aid, repositoryId: id, pushTime: T0, pullTime: 0 });
    clock = T0 + 479_000; // below 80 % of the age: never re-read yet
    expect((await list(c)).get('ws-a/app')!.versionCount).toBe(1);
    clock = T0 + 600_001;
    expect((await list(c)).get('ws-a/app')!.versionCount).toBe(2);
    // a new artifact: artifact_count changes, update_time does not (Harbor 2.5.5) — the delta sync cannot see it
    // (once newer updates moved its window past app's update time)
    addRepo(harbor.state, 'ws-a', 'busy', [['1']], T0 + 600_500);
    clock = T0 + 650_000;
    expect((await list(c)).has('ws-a/busy')).toBe(true);
    addArtifact(harbor.state, id, ['v2'], T0 + 651_000);
    clock = T0 + 700_000;
    expect((await list(c)).get('ws-a/app')!.artifactCount).toBe(1);
    clock = T0 + 3_600_000;
    await list(c); // starts the background re-walk
    await waitFor(async () => (await list(c)).get('ws-a/app')!.artifactCount === 2);
    expect((await list(c)).get('ws-a/app')!.versionCount).toBe(3);
  });

  describe('two replicas sharing Redis', () => {
    let redis: TestRedis;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.close();
    });

    it('an invalidation published by one replica reaches the other: one GET of that repository there, no walk', async () => {
      addRepo(harbor.state, 'ws-a', 'app', [['v1'], ['v0']]);
      addRepo(harbor.state, 'ws-a', 'other', [['v1']]);
      const shared = `images-${Date.now()}`;
      const [fa, fb] = [0, 1].map(() => createRedisChangeFeed({ name: shared, redisUrl: redis.url }));
      try {
        const a = catalog(fa);
        const b = catalog(fb);
        await list(a);
        expect((await list(b)).get('ws-a/app')!.versionCount).toBe(2);
        // a version deleted through replica A (the artifact goes; Harbor's update_time does not change)
        const r = harbor.state.repoByName('ws-a/app')!;
        const gone = [...harbor.state.artifacts.values()].find((x) => x.repositoryId === r.id)!;
        harbor.state.artifacts.delete(gone.id);
        for (const t of [...harbor.state.tags.values()]) if (t.artifactId === gone.id) harbor.state.tags.delete(t.id);
        await a.invalidate(['ws-a/app']);
        const mark = harbor.calls.length;
        expect((await list(b)).get('ws-a/app')!.versionCount).toBe(1);
        const calls = callsSince(harbor, mark);
        expect(calls.getRepository).toEqual(['GET /api/v2.0/projects/ws-a/repositories/app']);
        expect(calls.walkPages).toEqual([]);
        expect(calls.all).toHaveLength(2);
      } finally {
        await Promise.all([fa.close(), fb.close()]);
      }
    });

    it('the feed: entries after a cursor, in order; a flushed Redis or a reader too far behind gets reset', async () => {
      const name = `feed-${Date.now()}`;
      const f = createRedisChangeFeed({ name, redisUrl: redis.url, retain: 3 });
      try {
        const start = await f.read(undefined);
        expect(start).toMatchObject({ names: [], reset: false });
        await f.publish(['ws/a', 'ws/b']);
        const r1 = await f.read(start.cursor);
        expect(r1).toMatchObject({ names: ['ws/a', 'ws/b'], reset: false });
        expect(await f.read(r1.cursor)).toMatchObject({ names: [], reset: false });
        await f.publish(['1/x', '2/x']);
        await f.publish(['3/x', '4/x']);
        expect(await f.read(r1.cursor)).toMatchObject({ names: [], reset: true });
        // a batch larger than what the feed keeps is published as "everything"
        const r3 = await f.read(undefined);
        await f.publish(['1/y', '2/y', '3/y', '4/y']);
        expect(await f.read(r3.cursor)).toMatchObject({ names: ['*'], reset: false });
        const r2 = await f.read(undefined);
        expect(await redis.command('FLUSHALL')).toBe('+OK');
        expect(await f.read(r2.cursor)).toMatchObject({ names: [], reset: true });
      } finally {
        await f.close();
      }
    });
  });
});

d('two hubgate instances sharing Redis: a write on one shows in the other\'s next list', () => {
  let harbor: HarborDouble;
  let redis: TestRedis;
  let idp: TestIdp;
  beforeAll(async () => {
    [harbor, redis, idp] = await Promise.all([startHarborDouble(), startRedis(), startJwks()]);
  });
  afterAll(async () => {
    await Promise.all([harbor?.close(), redis?.close(), idp?.close()]);
  });

  it('HUBGATE_IMAGES_WARM_ON_START: the catalogues are built when the replica starts; the first list reads no repository list', async () => {
    const token = await idp.adminToken({ sub: 'u-warm', username: 'warm' });
    harbor.state.newProject('warm-ws', { public: 'true' }, -1, Date.now());
    addRepo(harbor.state, 'warm-ws', 'app', [['v1']]);
    const mark = harbor.calls.length;
    const hub = await startHubgate(testConfig({ harborUrl: harbor.url, idp, redisUrl: redis.url, env: { HUBGATE_IMAGES_WARM_ON_START: 'true' } }));
    try {
      // no request yet: the walk and the project list run on their own
      const started = () => callsSince(harbor, mark).walkRanges.length > 0 && callsSince(harbor, mark).listProjects.length > 0;
      for (let i = 0; i < 250 && !started(); i++) await new Promise((r) => setTimeout(r, 20));
      expect(started()).toBe(true);
      await new Promise((r) => setTimeout(r, 200));
      const before = harbor.calls.length;
      const res = await fetch(`${hub.url}/api/v1/images?view=all&workspace=warm-ws`, { headers: { Authorization: `Bearer ${token}` } });
      const body = (await res.json()) as any;
      expect(res.status).toBe(200);
      expect(body.items.map((i: any) => `${i.workspace}/${i.image}`)).toContain('warm-ws/app');
      const calls = callsSince(harbor, before);
      expect([...calls.walkHeads, ...calls.walkRanges, ...calls.walkPages, ...calls.listProjects]).toEqual([]);
    } finally {
      await hub.close();
    }
  });

  it('deleting a version through instance A: B re-reads that one image (no walk of /repositories)', async () => {
    const team = { id: 'cat-team', name: 'Cat Team', department: 'd' };
    const token = await idp.memberToken({ sub: 'u-cat', username: 'cat', projects: [team] });
    const env = { HUBGATE_IMAGES_CACHE_TTL_SECONDS: '3600', HUBGATE_LOCK_QUARANTINE_MS: '0' };
    const [a, b] = await Promise.all([0, 1].map(() => startHubgate(testConfig({ harborUrl: harbor.url, idp, redisUrl: redis.url, env }))));
    const call = async (base: string, method: string, p: string, body?: unknown) => {
      const res = await fetch(`${base}/api/v1${p}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    try {
      expect((await call(a.url, 'POST', '/workspaces', { name: 'cat-ws', projectId: team.id })).status).toBe(201);
      addRepo(harbor.state, 'cat-ws', 'app', [['v1'], ['v2']]);
      addRepo(harbor.state, 'cat-ws', 'tool', [['1']]);
      const before = await call(b.url, 'GET', '/images?view=own');
      expect(before.body.items.map((i: any) => [i.image, i.versionCount])).toEqual([['app', 2], ['tool', 1]]);
      expect((await call(a.url, 'DELETE', '/workspaces/cat-ws/images/app/versions', { tags: ['v2'] })).status).toBe(200);
      const mark = harbor.calls.length;
      const after = await call(b.url, 'GET', '/images?view=own');
      expect(after.body.items.map((i: any) => [i.image, i.versionCount])).toEqual([['app', 1], ['tool', 1]]);
      const calls = callsSince(harbor, mark);
      expect(calls.getRepository).toEqual(['GET /api/v2.0/projects/cat-ws/repositories/app']);
      expect(calls.artifacts).toHaveLength(1);
      expect(calls.walkPages).toEqual([]);
      expect(calls.deltas).toEqual([]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('Harbor double: GET /repositories as the real Harbor 2.5.5 answered it (test/fixtures/harbor/live/R01–R10)', () => {
  const dir = path.join(__dirname, '..', 'fixtures', 'harbor', 'live');
  const recordings = fs
    .readdirSync(dir)
    .filter((f) => /^R\d\d-repositories-/.test(f))
    .sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { title: string; request: { url: string }; response: { status: number; headers: Record<string, string>; body: any } });
  let harbor: HarborDouble;
  beforeAll(async () => {
    harbor = await startHarborDouble();
    // the double holds what the real Harbor held when the recordings were made (R01: every repository)
    for (const r of recordings[0].response.body as any[]) {
      const project = r.name.split('/')[0];
      const p = harbor.state.projectByName(project) ?? harbor.state.newProject(project, { public: 'false' }, -1, Date.parse(r.creation_time));
      harbor.state.repositories.set(r.id, {
        id: r.id,
        projectId: p.id,
        name: r.name,
        description: '',
        pullCount: r.pull_count,
        creationTime: Date.parse(r.creation_time),
        updateTime: Date.parse(r.update_time),
      });
      for (let i = 0; i < r.artifact_count; i++) addArtifact(harbor.state, r.id, [], Date.parse(r.creation_time));
    }
  });
  afterAll(async () => {
    await harbor?.close();
  });

  it('answers every recorded query with the same status, total and rows in the same order', async () => {
    expect(recordings).toHaveLength(10);
    for (const rec of recordings) {
      const u = new URL(rec.request.url);
      const res = await fetch(`${harbor.url}${u.pathname}${u.search}`, { headers: { Authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` } });
      const body = (await res.json()) as any;
      const want = rec.response;
      const shape = (b: any) => (Array.isArray(b) ? b.map((r: any) => [r.id, r.name, r.update_time, r.artifact_count]) : b);
      expect({ title: rec.title, status: res.status, total: res.headers.get('x-total-count'), body: shape(body) }).toEqual({
        title: rec.title,
        status: want.status,
        total: want.headers['x-total-count'] ?? null,
        body: shape(want.body),
      });
    }
  });
});

async function waitFor(ok: () => Promise<boolean>, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not reached');
}
