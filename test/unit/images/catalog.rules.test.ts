import { statsOf, type CatalogRepo, type RepoStats } from '../../../src/domain/images.catalog';
import type { HarborArtifact, ListQuery } from '../../../src/ports/harbor';
import type { FakeHarbor } from '../../support/fake-harbor';
import { T0, iso, byName, put, drop, repo, idle, hold, rig, deltaQuery } from './catalog.kit';

/**
 * Rules of the image catalogue (src/domain/images.catalog.ts) a user sees in the image lists: what a stat counts,
 * which Harbor changes reach a list and when, which stats are kept or read again, and how remembered orders follow
 * many changes at once. Clock injected (rig()); background work is awaited with idle(), never with real time.
 */

/** Makes the delta sync's `update_time=[t~]` filter what Harbor answers (the fake answers every row). */
function honourUpdateTime(h: FakeHarbor): void {
  const all = h.listRepositoriesAll.bind(h);
  h.listRepositoriesAll = async (q: ListQuery = {}) => {
    if (!deltaQuery(q)) return all(q);
    const since = Date.parse(`${/\[(.*)~\]/.exec(q.q!)![1]}Z`);
    const rows = (await all({ ...q, page: 1, pageSize: 10_000 })).items.filter((r) => Date.parse(r.update_time) >= since);
    return { items: rows.slice((q.page! - 1) * q.pageSize!, q.page! * q.pageSize!), total: rows.length };
  };
}

const artifact = (digest: string, size: number, pushTime: string, tags: string[] | null): HarborArtifact => ({
  id: 1,
  digest,
  size,
  type: 'IMAGE',
  project_id: 1,
  repository_id: 1,
  push_time: pushTime,
  tags: tags && tags.map((t, i) => ({ id: i, name: t.split('@')[0], push_time: t.split('@')[1] ?? '' })),
});

describe('image stats from an artifact listing', () => {
  it('count the size of a digest listed twice once, every tag as a version, and the newest push of an artifact or its tags', () => {
    const stats = statsOf([
      artifact('sha256:d1', 100, '2026-01-01T00:00:00.000Z', ['v1@2026-01-05T00:00:00.000Z']),
      artifact('sha256:d1', 100, '2026-01-02T00:00:00.000Z', null),
      artifact('sha256:d2', 5, '2026-01-03T00:00:00.000Z', ['v2@not a time', 'v3@2026-01-04T00:00:00.000Z']),
    ]);
    expect(stats).toEqual({ versionCount: 3, sizeBytes: 105, latestPushAt: '2026-01-05T00:00:00.000Z' });
    // an artifact pushed after its tags were
    expect(statsOf([artifact('sha256:d3', 1, '2026-02-01T00:00:00.000Z', ['old@2026-01-01T00:00:00.000Z'])]).latestPushAt).toBe('2026-02-01T00:00:00.000Z');
  });

  it('have no latest push when no push time can be read', () => {
    expect(statsOf([artifact('sha256:d1', 7, 'not a time', ['v1@']), artifact('sha256:d2', 3, '', null)])).toEqual({ versionCount: 1, sizeBytes: 10, latestPushAt: null });
  });
});

describe('image catalogue: what reaches a list', () => {
  it('a Harbor without repositories gives an empty catalogue', async () => {
    const t = await rig({}, {});
    expect(await t.names()).toEqual([]);
    expect(t.catalog.size()).toBe(0);
    expect(t.syncs).toEqual([['full', 0]]);
  });

  it('a page of no rows still counts every match', async () => {
    const t = await rig();
    expect(await t.catalog.page(t.everything(), byName, 'name', 0, 0)).toEqual({ rows: [], total: 4 });
  });

  it('a published name without a workspace part costs no Harbor call', async () => {
    const t = await rig();
    await t.names();
    t.harbor.calls = [];
    await t.catalog.invalidate(['loose', '/lead']);
    expect(await t.names()).toEqual(['ws-a/app', 'ws-a/tool', 'ws-b/one', 'ws-b/two']);
    expect(t.harbor.calls).toEqual([]);
    expect(t.syncs).toEqual([['full', 4], ['image', 2]]);
  });

  it('a feed that lost entries (reset) makes the next list ask Harbor what changed, before its interval', async () => {
    const t = await rig();
    await t.names();
    repo(t.harbor, 'ws-a/app').pull_count = 7;
    t.at(1000);
    expect((await t.view())['ws-a/app'][0]).toBe(0);
    const read = t.feed.read.bind(t.feed);
    jest.spyOn(t.feed, 'read').mockImplementationOnce(async (c) => ({ ...(await read(c)), reset: true }));
    expect((await t.view())['ws-a/app'][0]).toBe(7);
    expect(t.syncs).toEqual([['full', 4], ['delta', 1]]);
  });

  it('a repository the delta sync misses (an old update time) is added when the counts disagree', async () => {
    const t = await rig();
    honourUpdateTime(t.harbor);
    await t.names();
    put(t.harbor, 'ws-a', 'late', T0 - 3_600_000);
    t.at(60_000);
    expect(await t.names()).toEqual(['ws-a/app', 'ws-a/late', 'ws-a/tool', 'ws-b/one', 'ws-b/two']);
    expect(t.syncs).toEqual([['full', 4], ['delta', 0], ['reconcile', 1]]);
  });

  it('without a sync counter, a reconcile and a re-walk still work (nothing logged)', async () => {
    const t = await rig({ onSync: undefined, fullSyncSeconds: 120 });
    await t.names();
    drop(t.harbor, 'ws-b', 'two');
    t.at(60_000);
    expect(await t.names()).toEqual(['ws-a/app', 'ws-a/tool', 'ws-b/one']);
    repo(t.harbor, 'ws-a/tool').artifact_count = 3;
    t.at(120_000);
    await t.names();
    await idle();
    expect((await t.view())['ws-a/tool'][1]).toBe(3);
    expect(t.logger.lines).toEqual([]);
  });
});

describe('image catalogue: stats kept across changes', () => {
  async function filled() {
    const t = await rig();
    const rows = await t.catalog.repositories(t.everything(), byName, 'name');
    await t.catalog.statsFor(rows);
    await idle();
    expect(t.catalog.filled()).toBe(true);
    const artifacts = jest.spyOn(t.harbor, 'listArtifacts');
    const stats = async () => {
      const now = await t.catalog.repositories(t.everything(), byName, 'name');
      return Object.fromEntries([...(await t.catalog.statsFor(now))].map(([id, s]) => [now.find((r) => r.id === id)!.image, s.versionCount]));
    };
    return { ...t, artifacts, stats };
  }

  it('a new pull count keeps the stats (no Harbor call)', async () => {
    const t = await filled();
    const app = repo(t.harbor, 'ws-a/app');
    app.pull_count = 4;
    app.update_time = iso(T0 + 1000);
    t.at(60_000);
    expect((await t.view())['ws-a/app']).toEqual([4, 1, iso(T0 + 1000)]);
    expect(await t.stats()).toEqual({ app: 1, tool: 1, one: 1, two: 1 });
    expect(t.artifacts).not.toHaveBeenCalled();
  });

  it('a new artifact count reads the stats of that image again', async () => {
    const t = await filled();
    put(t.harbor, 'ws-a', 'app', T0 + 1000, [['2'], ['3']]);
    t.at(60_000);
    expect(await t.stats()).toEqual({ app: 3, tool: 1, one: 1, two: 1 });
    expect(t.artifacts.mock.calls.map(([p, r]) => `${p}/${r}`)).toEqual(['ws-a/app']);
  });
  it('an image whose artifact count changed is read again by the background fill, shown or not', async () => {
    const t = await filled();
    put(t.harbor, 'ws-a', 'app', T0 + 1000, [['2'], ['3']]);
    t.at(60_000);
    await t.names();
    await t.catalog.statsFor([]);
    await idle();
    expect(t.artifacts.mock.calls.map(([p, r]) => `${p}/${r}`)).toEqual(['ws-a/app']);
    expect(t.catalog.filled()).toBe(true);
  });
});

describe('image catalogue: many rows changed at once', () => {
  it('are merged into a remembered order at their places, and later single changes still land right', async () => {
    const images = Array.from({ length: 40 }, (_, i) => `img-${String(i).padStart(2, '0')}`);
    const t = await rig({}, { 'ws-a': images });
    const byPulls = (a: CatalogRepo, b: CatalogRepo) => b.pullCount - a.pullCount || byName(a, b);
    const order = async () => (await t.catalog.repositories(t.everything(), byPulls, '-pulls')).map((r) => `${r.image}:${r.pullCount}`);
    expect((await order()).slice(0, 2)).toEqual(['img-00:0', 'img-01:0']);
    t.harbor.repos.get('ws-a')!.forEach((r, i) => {
      r.pull_count = (i * 7) % 40;
      r.update_time = iso(T0 + 1000);
    });
    t.at(60_000);
    const expected = images.map((image, i) => ({ image, pulls: (i * 7) % 40 })).sort((a, b) => b.pulls - a.pulls);
    expect(await order()).toEqual(expected.map((e) => `${e.image}:${e.pulls}`));
    repo(t.harbor, 'ws-a/img-05').pull_count = 100;
    await t.catalog.invalidate(['ws-a/img-05']);
    const after = expected.map((e) => (e.image === 'img-05' ? { ...e, pulls: 100 } : e)).sort((a, b) => b.pulls - a.pulls);
    expect(await order()).toEqual(after.map((e) => `${e.image}:${e.pulls}`));
    expect(t.syncs).toEqual([['full', 40], ['delta', 40], ['image', 1]]);
  });
});

describe('image catalogue: stats read while the image changes', () => {
  afterEach(() => jest.restoreAllMocks());

  /** A catalogue without stats yet whose next artifact listings answer and then wait for release(). */
  async function inFlight() {
    const t = await rig();
    const rows = await t.catalog.repositories(t.everything(), byName, 'name');
    t.harbor.calls = [];
    const release = hold(t.harbor, 'listArtifacts');
    const app = rows.find((r) => r.image === 'app')!;
    const reads = () => t.harbor.calls.filter((c) => c === 'listArtifacts').length;
    /** Starts reading the stats of `r` and lets Harbor answer (held). */
    const reading = async (r: CatalogRepo) => {
      const pending = t.catalog.statsFor([r]);
      await idle();
      return { pending };
    };
    /** Lets the held read end: its caller gets what was read, the fill reads the image again and keeps `now`. */
    const settle = async (pending: Promise<Map<number, RepoStats>>, now: RepoStats) => {
      release();
      expect((await pending).get(app.id)).toEqual({ versionCount: 1, sizeBytes: 1000, latestPushAt: iso(T0) });
      await idle();
      expect(reads()).toBe(5);
      expect((await t.catalog.statsFor([app])).get(app.id)).toEqual(now);
      expect(reads()).toBe(5);
    };
    return { ...t, rows, app, release, reads, reading, settle };
  }

  it('an image deleted while its stats are read still gets the stats that were read', async () => {
    const t = await inFlight();
    const two = t.rows.find((r) => r.image === 'two')!;
    const { pending } = await t.reading(two);
    drop(t.harbor, 'ws-b', 'two');
    await t.catalog.invalidate(['ws-b/two']);
    expect(await t.names()).toEqual(['ws-a/app', 'ws-a/tool', 'ws-b/one']);
    t.release();
    expect((await pending).get(two.id)).toEqual({ versionCount: 1, sizeBytes: 1000, latestPushAt: iso(T0) });
  });

  it('stats read before everything was invalidated are read again by the fill', async () => {
    const t = await inFlight();
    const { pending } = await t.reading(t.app);
    t.harbor.artifacts.get('ws-a/app')![0].tags!.push({ id: 99, name: 'extra', push_time: iso(T0 + 5000) });
    await t.catalog.invalidate();
    await t.names();
    await t.settle(pending, { versionCount: 2, sizeBytes: 1000, latestPushAt: iso(T0 + 5000) });
  });

  it('stats read before the image changed are not kept, even when its artifact count is back to what it was', async () => {
    const t = await inFlight();
    const { pending } = await t.reading(t.app);
    put(t.harbor, 'ws-a', 'app', T0 + 1000, [['2']]);
    await t.catalog.invalidate(['ws-a/app']);
    expect((await t.view())['ws-a/app'][1]).toBe(2);
    const first = t.harbor.artifacts.get('ws-a/app')!.find((a) => a.tags![0].name === '1')!;
    t.harbor.artifacts.set('ws-a/app', t.harbor.artifacts.get('ws-a/app')!.filter((a) => a !== first));
    repo(t.harbor, 'ws-a/app').artifact_count = 1;
    await t.catalog.invalidate(['ws-a/app']);
    expect((await t.view())['ws-a/app'][1]).toBe(1);
    await t.settle(pending, { versionCount: 1, sizeBytes: 1000, latestPushAt: iso(T0 + 1000) });
  });
});

describe('image catalogue: the background fill', () => {
  afterEach(() => jest.restoreAllMocks());

  it('runs once at a time: lists during a fill start no second one', async () => {
    const t = await rig();
    await t.names();
    t.harbor.calls = [];
    const release = hold(t.harbor, 'listArtifacts');
    await t.catalog.statsFor([]);
    await idle();
    await t.catalog.statsFor([]);
    await t.catalog.statsFor([]);
    await idle();
    expect(t.harbor.calls).toEqual(['listArtifacts', 'listArtifacts']);
    release();
    await idle();
    expect(t.harbor.calls).toEqual(['listArtifacts', 'listArtifacts', 'listArtifacts', 'listArtifacts']);
    expect(t.catalog.filled()).toBe(true);
  });

  it('takes at most 200 images at a time', async () => {
    const batches: number[] = [];
    const t = await rig({ compactMinRows: 1, compact: () => void batches.push(t.harbor.calls.length) }, { 'ws-a': ['app'] });
    await t.names();
    t.harbor.calls = [];
    await t.catalog.statsFor([]);
    await idle();
    expect(batches).toEqual([1]);
    await t.harbor.createProject({ name: 'ws-c', public: false });
    for (let i = 0; i < 250; i++) put(t.harbor, 'ws-c', `img-${i}`, T0 + 1000);
    t.at(60_000);
    expect((await t.names()).length).toBe(251);
    batches.length = 0;
    t.harbor.calls = [];
    await t.catalog.statsFor([]);
    for (let i = 0; i < 10 && !t.catalog.filled(); i++) await idle();
    expect(batches).toEqual([200, 250]);
  });

  it('re-reads expired stats when they are listed, and in the background at its scans (every twentieth of the maximum age)', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0); // every stat expires after 80 % of statsMaxAgeSeconds
    const t = await rig({ statsMaxAgeSeconds: 100 });
    const rows = await t.catalog.repositories(t.everything(), byName, 'name');
    t.harbor.calls = [];
    const reads = async (at: number, listed: CatalogRepo[] = []) => {
      t.at(at);
      await t.catalog.statsFor(listed);
      await idle();
      return t.harbor.calls.length;
    };
    expect(await reads(0, rows)).toBe(4); // expire at 80 s; next scan at 5 s
    expect(await reads(78_000)).toBe(4); // scan: nothing expired; next one at 83 s
    expect(await reads(80_000)).toBe(4); // expired, but no scan due
    expect(await reads(83_000)).toBe(8); // scan: all read again, expire at 163 s; next scan at 88 s
    expect(await reads(158_000)).toBe(8); // scan; next at 163 s
    expect(await reads(163_000)).toBe(12); // expiring right now
    expect(await reads(243_000, rows)).toBe(16); // listed the moment they expire
  });
});
