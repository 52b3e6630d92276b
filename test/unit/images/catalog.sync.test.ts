import type { CatalogRepo } from '../../../src/domain/images.catalog';
import { AppError } from '../../../src/domain/errors';
import type { ListQuery } from '../../../src/ports/harbor';
import { T0, iso, byName, put, drop, repo, idle, waitFor, hold, rig, deltaQuery, WALK_HEAD, COUNT, delta } from './catalog.kit';

/**
 * How the image catalogue follows Harbor (src/domain/images.catalog.ts): refreshes shared by concurrent callers,
 * the delta sync (ahead of its deadline in the background), the hourly re-walk, the reconcile of project counts,
 * the walk in id ranges, and the stats fill — each with the Harbor calls it makes and what the lists show after.
 * Clock injected; a call held open (hold()) stands for a slow Harbor where an order of events matters.
 */

describe('image catalogue: refreshes', () => {
  it('concurrent callers share one refresh; callers arriving during it share the one queued after it', async () => {
    const t = await rig();
    expect(t.catalog.size()).toBe(0);
    const reads = jest.spyOn(t.feed, 'read');
    const a = t.catalog.refresh();
    const b = t.catalog.refresh();
    const c = t.catalog.refresh();
    expect(c).toBe(b);
    expect(b).not.toBe(a);
    await Promise.all([a, b, c]);
    expect(reads).toHaveBeenCalledTimes(2);
    expect(t.harbor.calls).toEqual(['listRepositoriesAll', 'listRepositoriesRange']);
    expect(t.catalog.size()).toBe(4);
    expect(t.syncs).toEqual([['full', 4]]);
    // once both are over, the next caller starts a refresh of its own, and one arriving during it waits for a new one
    await t.catalog.refresh();
    expect(reads).toHaveBeenCalledTimes(3);
    const d = t.catalog.refresh();
    const e = t.catalog.refresh();
    expect(e).not.toBe(b);
    await Promise.all([d, e]);
    expect(reads).toHaveBeenCalledTimes(5);
  });

  it('a caller queued behind a refresh that fails gets a refresh of its own', async () => {
    const t = await rig();
    t.harbor.failNext('listRepositoriesAll');
    const a = t.catalog.refresh();
    const b = t.catalog.refresh();
    await expect(a).rejects.toMatchObject({ kind: 'upstream_unavailable', message: 'boom' });
    await expect(b).resolves.toBeUndefined();
    expect(t.catalog.size()).toBe(4);
  });

  it('a Harbor failure while re-reading a changed image fails that list; the image is re-read by the next one', async () => {
    const t = await rig();
    await t.names();
    repo(t.harbor, 'ws-a/app').pull_count = 7;
    await t.catalog.invalidate(['ws-a/app', 'no-slash']);
    t.harbor.calls = [];
    t.harbor.failNext('getRepository');
    await expect(t.names()).rejects.toMatchObject({ kind: 'upstream_unavailable' });
    expect((await t.view())['ws-a/app']).toEqual([7, 1, iso(T0)]);
    // a name without a workspace part is no repository: no call for it
    expect(t.harbor.calls).toEqual(['getRepository', 'getRepository']);
    expect(t.syncs).toEqual([['full', 4], ['image', 2]]);
  });
});

describe('image catalogue: the delta sync', () => {
  it('asks for the repositories updated since the newest update time seen (minus overlap and build time) and the count', async () => {
    const t = await rig();
    // the walk takes 3 s on the catalogue's clock: the first window reaches back 10 s + 3 s
    const range = t.harbor.listRepositoriesInIdRange.bind(t.harbor);
    t.harbor.listRepositoriesInIdRange = async (from, to) => ((t.clock.ms += 3000), range(from, to));
    await t.names();
    const lists = jest.spyOn(t.harbor, 'listRepositoriesAll');
    repo(t.harbor, 'ws-b/one').pull_count = 7; // pulled: pull count only
    put(t.harbor, 'ws-a', 'tool', T0, [['2']]); // an artifact pushed: artifact count only (Harbor keeps update_time)
    repo(t.harbor, 'ws-a/app').update_time = iso(T0 + 6000); // description edited: update time only
    put(t.harbor, 'ws-b', 'three', T0 + 8000); // created
    t.at(29_999);
    await t.names();
    expect(lists).not.toHaveBeenCalled();
    t.at(60_000);
    expect(await t.view()).toEqual({
      'ws-a/app': [0, 1, iso(T0 + 6000)],
      'ws-b/one': [7, 1, iso(T0)],
      'ws-b/three': [0, 1, iso(T0 + 8000)],
      'ws-a/tool': [0, 2, iso(T0)],
      'ws-b/two': [0, 1, iso(T0)],
    });
    expect(lists.mock.calls.map(([q]) => q)).toEqual([COUNT, delta('2026-06-01T11:59:47')]);
    expect(t.syncs).toEqual([['full', 4], ['delta', 4]]);
    // the next window starts 10 s before the newest update time now seen; its deadline from this sync's start
    lists.mockClear();
    t.at(89_999);
    await t.names();
    expect(lists).not.toHaveBeenCalled();
    t.at(120_000);
    await t.names();
    expect(lists.mock.calls.map(([q]) => q)).toEqual([COUNT, delta('2026-06-01T11:59:55')]);
    expect(t.syncs.slice(2)).toEqual([['delta', 0]]);
  });

  it('reads every page of a long answer', async () => {
    const t = await rig({}, { 'ws-a': Array.from({ length: 230 }, (_, i) => `img-${String(i).padStart(3, '0')}`) });
    await t.names();
    for (const r of t.harbor.repos.get('ws-a')!) r.pull_count = 1;
    const lists = jest.spyOn(t.harbor, 'listRepositoriesAll');
    t.at(60_000);
    const rows = await t.catalog.repositories(t.everything(), byName, 'name');
    expect(rows.map((r) => r.pullCount)).toEqual(new Array(230).fill(1));
    expect(lists.mock.calls.map(([q]) => q)).toEqual([COUNT, delta('2026-06-01T11:59:50'), delta('2026-06-01T11:59:50', 2), delta('2026-06-01T11:59:50', 3)]);
    expect(t.syncs).toEqual([['full', 230], ['delta', 230]]);
  });

  it('from half the interval on it runs in the background, once at a time; its failure is logged and retried by the next list', async () => {
    const t = await rig();
    await t.names();
    const lists = jest.spyOn(t.harbor, 'listRepositoriesAll');
    repo(t.harbor, 'ws-b/one').pull_count = 7;
    const release = hold(t.harbor, 'listRepositoriesAll', deltaQuery);
    t.at(30_000);
    expect((await t.view())['ws-b/one']).toEqual([0, 1, iso(T0)]); // answered without waiting for it
    t.at(31_000);
    await t.names();
    expect(lists.mock.calls.map(([q]) => q)).toEqual([COUNT, delta('2026-06-01T11:59:50')]);
    // meanwhile a write seen by hubgate: newer than what the held sync read
    repo(t.harbor, 'ws-b/one').pull_count = 8;
    await t.catalog.invalidate(['ws-b/one']);
    expect((await t.view())['ws-b/one']).toEqual([8, 1, iso(T0)]);
    release();
    await waitFor(() => t.syncs.some(([k]) => k === 'delta'));
    expect((await t.view())['ws-b/one']).toEqual([8, 1, iso(T0)]);
    expect(t.syncs).toEqual([['full', 4], ['image', 1], ['delta', 0]]);
    expect(t.logger.lines).toEqual([]);

    // its deadline now counts from 30 s: at 60 s it is half over again
    lists.mockClear();
    t.harbor.failNext('listRepositoriesAll');
    t.at(60_000);
    await expect(t.names()).resolves.toHaveLength(4);
    await waitFor(() => t.logger.lines.length > 0);
    expect(t.logger.lines).toEqual([
      { level: 'warn', msg: 'image catalogue delta sync failed; retried by the next list', fields: { error: expect.objectContaining({ kind: 'upstream_unavailable' }) } },
    ]);
    t.at(61_000);
    await t.names();
    await waitFor(() => t.syncs.length === 4);
    expect(t.syncs[3]).toEqual(['delta', 0]);
    expect(lists.mock.calls.filter(([q]) => deltaQuery(q))).toHaveLength(2);

    // stopped: no more background syncs
    lists.mockClear();
    t.catalog.stop();
    t.at(91_000);
    await t.names();
    await idle();
    expect(lists).not.toHaveBeenCalled();
  });

  it('a repository deleted and created again under the same name replaces the old row', async () => {
    const t = await rig();
    await t.names();
    const oldId = repo(t.harbor, 'ws-a/app').id;
    drop(t.harbor, 'ws-a', 'app');
    const again = put(t.harbor, 'ws-a', 'app', T0 + 5000);
    t.at(60_000);
    const rows = await t.catalog.repositories(t.everything(), byName, 'name');
    expect(rows.map((r) => [r.name, r.id === again.id, r.id === oldId])).toEqual([
      ['ws-a/app', true, false],
      ['ws-a/tool', false, false],
      ['ws-b/one', false, false],
      ['ws-b/two', false, false],
    ]);
    expect(t.catalog.size()).toBe(4);
    expect(t.syncs).toEqual([['full', 4], ['delta', 2]]);
  });
});

describe('image catalogue: reconcile (the count differs from Harbor\'s)', () => {
  it('lists again only the projects whose repo_count differs; a project gone from Harbor loses its rows', async () => {
    const t = await rig({}, { 'ws-a': ['app', 'tool'], 'ws-b': ['one', 'two'], 'ws-c': ['solo'] });
    await t.names();
    drop(t.harbor, 'ws-b', 'two');
    t.harbor.repos.delete('ws-c');
    t.harbor.projects.delete('ws-c');
    const lists = jest.spyOn(t.harbor, 'listAllRepositories');
    t.at(60_000);
    expect(await t.names()).toEqual(['ws-a/app', 'ws-a/tool', 'ws-b/one']);
    expect(lists.mock.calls).toEqual([['ws-b']]);
    expect(t.syncs).toEqual([['full', 5], ['delta', 0], ['reconcile', 1]]);
    expect(t.catalog.size()).toBe(3);
  });

  it('a project that is gone by the time it is listed loses its rows; another failure fails the list and is tried again', async () => {
    const t = await rig();
    await t.names();
    drop(t.harbor, 'ws-b', 'two');
    t.harbor.failNext('listAllRepositories', () => new AppError('upstream_unavailable', 'boom'));
    t.at(60_000);
    await expect(t.names()).rejects.toMatchObject({ kind: 'upstream_unavailable' });
    expect(await t.names()).toEqual(['ws-a/app', 'ws-a/tool', 'ws-b/one']);
    expect(t.syncs.map(([k]) => k)).toEqual(['full', 'delta', 'delta', 'reconcile']);
    drop(t.harbor, 'ws-a', 'tool');
    t.harbor.failNext('listAllRepositories', () => new AppError('not_found', 'project ws-a not found'));
    t.at(120_000);
    expect(await t.names()).toEqual(['ws-b/one']);
  });

  it('rows written while it runs (changes seen by hubgate) are neither removed nor overwritten by what it read', async () => {
    const t = await rig();
    await t.names();
    drop(t.harbor, 'ws-b', 'two');
    const release = hold(t.harbor, 'listAllRepositories');
    t.at(30_000); // a background delta sync, and its reconcile
    await t.names();
    await waitFor(() => t.harbor.calls.includes('listAllRepositories'));
    repo(t.harbor, 'ws-b/one').pull_count = 5;
    put(t.harbor, 'ws-b', 'late', T0 + 31_000);
    await t.catalog.invalidate(['ws-b/one', 'ws-b/late']);
    expect(await t.view()).toEqual({
      'ws-a/app': [0, 1, iso(T0)],
      'ws-b/late': [0, 1, iso(T0 + 31_000)],
      'ws-b/one': [5, 1, iso(T0)],
      'ws-a/tool': [0, 1, iso(T0)],
      'ws-b/two': [0, 1, iso(T0)],
    });
    release();
    await waitFor(() => t.syncs.some(([k]) => k === 'reconcile'));
    expect(await t.view()).toEqual({
      'ws-a/app': [0, 1, iso(T0)],
      'ws-b/late': [0, 1, iso(T0 + 31_000)],
      'ws-b/one': [5, 1, iso(T0)],
      'ws-a/tool': [0, 1, iso(T0)],
    });
  });
});

describe('image catalogue: the full re-walk every fullSyncSeconds', () => {
  it('merges in the background: changed rows replaced, missing ones removed, rows written meanwhile kept; once at a time', async () => {
    const t = await rig({ fullSyncSeconds: 3600, syncSeconds: 100_000 }, { 'ws-a': ['app', 'tool'], 'ws-b': ['one', 'two', 'three'] });
    await t.names();
    const heads = () => t.harbor.calls.filter((c) => c === 'listRepositoriesRange').length;
    drop(t.harbor, 'ws-b', 'two');
    repo(t.harbor, 'ws-b/one').pull_count = 4;
    put(t.harbor, 'ws-a', 'tool', T0, [['2']]);
    repo(t.harbor, 'ws-a/app').update_time = iso(T0 + 1000);
    t.at(3_599_999);
    await t.names();
    expect(heads()).toBe(1);
    const release = hold(t.harbor, 'listRepositoriesInIdRange');
    t.at(3_600_000);
    await t.names();
    await waitFor(() => heads() === 2);
    // while it runs: writes seen by hubgate (a new image, a pull) and another list, which starts no second walk
    put(t.harbor, 'ws-b', 'late', T0 + 3_600_000);
    repo(t.harbor, 'ws-b/three').pull_count = 9;
    await t.catalog.invalidate(['ws-b/late', 'ws-b/three']);
    t.at(7_200_000);
    await t.names();
    expect(heads()).toBe(2);
    release();
    await waitFor(() => t.syncs.some(([k]) => k === 'resync'));
    expect(await t.view()).toEqual({
      'ws-a/app': [0, 1, iso(T0 + 1000)],
      'ws-b/late': [0, 1, iso(T0 + 3_600_000)],
      'ws-b/one': [4, 1, iso(T0)],
      'ws-b/three': [9, 1, iso(T0)],
      'ws-a/tool': [0, 2, iso(T0)],
    });
    expect(t.syncs).toEqual([['full', 5], ['image', 2], ['resync', 4]]);
    expect(t.logger.lines).toEqual([]);
  });

  it('a failed re-walk is logged and tried again an interval after it started; none after stop()', async () => {
    const t = await rig({ fullSyncSeconds: 3600, syncSeconds: 100_000 });
    await t.names();
    const heads = () => t.harbor.calls.filter((c) => c === 'listRepositoriesAll').length;
    t.harbor.failNext('listRepositoriesAll');
    t.at(3_600_000);
    await t.names();
    await waitFor(() => t.logger.lines.length > 0);
    expect(t.logger.lines).toEqual([
      { level: 'warn', msg: 'image catalogue re-walk failed; tried again at the next interval', fields: { error: expect.objectContaining({ kind: 'upstream_unavailable' }) } },
    ]);
    expect(heads()).toBe(2);
    t.at(7_199_999);
    await t.names();
    await idle();
    expect(heads()).toBe(2);
    t.at(7_200_000);
    await t.names();
    await waitFor(() => t.syncs.some(([k]) => k === 'resync'));
    expect(heads()).toBe(3);
    expect(t.syncs).toEqual([['full', 4], ['resync', 0]]);
    t.catalog.stop();
    t.at(10_800_000);
    await t.names();
    await idle();
    expect(heads()).toBe(3);
  });
});

describe('image catalogue: the walk', () => {
  it('reads a range answered with fewer rows than its count again in pages of 100', async () => {
    const t = await rig({ walkRangeRows: 150 }, { 'ws-a': Array.from({ length: 250 }, (_, i) => `img-${String(i).padStart(3, '0')}`) });
    t.harbor.repos.get('ws-a')!.forEach((r, i) => (r.id = i + 1));
    const all = t.harbor.listRepositoriesAll.bind(t.harbor);
    const range = t.harbor.listRepositoriesInIdRange.bind(t.harbor);
    // a Harbor (or proxy) that caps unpaged answers at 60 rows, and answers `repository_id=[a~b]` as Harbor does
    t.harbor.listRepositoriesInIdRange = async (from, to) => {
      const page = await range(from, to);
      return { items: page.items.slice(0, 60), total: page.total };
    };
    const lists = jest.fn(async (q: ListQuery = {}) => {
      const m = /^repository_id=\[(\d*)~(\d*)\]$/.exec(q.q ?? '');
      if (!m) return all(q);
      const rows = (await all({ sort: 'repository_id', pageSize: 1000 })).items.filter((r) => (!m[1] || r.id >= +m[1]) && (!m[2] || r.id <= +m[2]));
      return { items: rows.slice((q.page! - 1) * q.pageSize!, q.page! * q.pageSize!), total: rows.length };
    });
    t.harbor.listRepositoriesAll = lists;
    const rows = await t.catalog.repositories(t.everything(), (a, b) => a.id - b.id, 'id');
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    const page = (q: string, n: number) => ({ q: `repository_id=[${q}]`, sort: 'repository_id', page: n, pageSize: 100 });
    expect(lists.mock.calls.map(([q]) => q)).toEqual([WALK_HEAD, page('~125', 1), page('~125', 2), page('126~', 1), page('126~', 2)]);
  });
});

describe('image catalogue: remembered orders', () => {
  it('a changed row is found in an order with ties even where binary search does not land on it', async () => {
    const t = await rig({}, { 'ws-a': ['a', 'b', 'c', 'd'] });
    const pulls = (a: CatalogRepo, b: CatalogRepo) => a.pullCount - b.pullCount;
    const ordered = async () => (await t.catalog.repositories(t.everything(), pulls, 'pulls-only')).map((r) => `${r.image}:${r.pullCount}:${r.updateTime.slice(17, 19)}`);
    expect(await ordered()).toEqual(['a:0:00', 'b:0:00', 'c:0:00', 'd:0:00']);
    repo(t.harbor, 'ws-a/c').update_time = iso(T0 + 5000);
    await t.catalog.invalidate(['ws-a/c']);
    expect(await ordered()).toEqual(['c:0:05', 'a:0:00', 'b:0:00', 'd:0:00']); // placed first of its equals
    repo(t.harbor, 'ws-a/b').pull_count = 3;
    await t.catalog.invalidate(['ws-a/b']);
    expect(await ordered()).toEqual(['c:0:05', 'a:0:00', 'd:0:00', 'b:3:00']);
  });

  it('more than 5,000 rows changed at once: every order is sorted again', async () => {
    const t = await rig({}, { 'ws-a': Array.from({ length: 5001 }, (_, i) => `img-${String(i).padStart(4, '0')}`) });
    const desc = (a: CatalogRepo, b: CatalogRepo) => b.pullCount - a.pullCount || byName(a, b);
    const top = async () => (await t.catalog.repositories(t.everything(), desc, '-pulls')).slice(0, 3).map((r) => `${r.image}:${r.pullCount}`);
    t.harbor.repos.get('ws-a')!.forEach((r, i) => (r.pull_count = i % 7));
    expect(await top()).toEqual(['img-0006:6', 'img-0013:6', 'img-0020:6']);
    t.harbor.repos.get('ws-a')!.forEach((r, i) => (r.pull_count = i === 4321 ? 100 : 10 + (i % 3)));
    t.at(60_000);
    expect(await top()).toEqual(['img-4321:100', 'img-0002:12', 'img-0005:12']);
    expect(t.syncs).toEqual([['full', 5001], ['delta', 5001]]);
  });
});

describe('image catalogue: stats', () => {
  it('an image of more than 100 artifacts is read in pages', async () => {
    const t = await rig({}, { 'ws-a': [] });
    put(t.harbor, 'ws-a', 'big', T0, Array.from({ length: 150 }, (_, i) => [`v${i}`]));
    const rows = await t.catalog.repositories(t.everything(), byName, 'name');
    const artifacts = jest.spyOn(t.harbor, 'listArtifacts');
    const stats = await t.catalog.statsFor(rows);
    expect(stats.get(rows[0].id)).toEqual({ versionCount: 150, sizeBytes: 150_000, latestPushAt: iso(T0) });
    expect(artifacts.mock.calls).toEqual([
      ['ws-a', 'big', { page: 1, pageSize: 100 }],
      ['ws-a', 'big', { page: 2, pageSize: 100 }],
    ]);
  });

  it('a Harbor error pauses the background fill for 5 s (logged); it then resumes', async () => {
    const t = await rig();
    await t.names();
    const artifacts = jest.spyOn(t.harbor, 'listArtifacts');
    t.harbor.failNext('listArtifacts');
    await t.catalog.statsFor([]);
    await waitFor(() => t.logger.lines.length > 0);
    expect(t.logger.lines).toEqual([
      { level: 'warn', msg: 'image stats fill paused after a Harbor error', fields: { error: expect.objectContaining({ kind: 'upstream_unavailable' }) } },
    ]);
    await idle();
    const calls = artifacts.mock.calls.length;
    t.at(4999);
    await t.catalog.statsFor([]);
    await idle();
    expect(artifacts.mock.calls.length).toBe(calls);
    expect(t.catalog.filled()).toBe(false);
    t.at(5000);
    await t.catalog.statsFor([]);
    await waitFor(() => t.catalog.filled());
    expect(new Set(artifacts.mock.calls.map(([p, r]) => `${p}/${r}`))).toEqual(new Set(['ws-a/app', 'ws-a/tool', 'ws-b/one', 'ws-b/two']));
  });
});

describe('image catalogue: invalidations', () => {
  it('names published once each; no names means everything: the next list walks Harbor again, and again after a failed walk', async () => {
    const t = await rig();
    await t.names();
    // a feed that cannot be reached (Redis down): this replica applies its own invalidations all the same
    const published = jest.spyOn(t.feed, 'publish').mockResolvedValue(false);
    t.harbor.calls = [];
    await t.catalog.invalidate(['ws-a/app', 'ws-a/app']);
    await t.names();
    expect(published.mock.calls).toEqual([[['ws-a/app']]]);
    expect(t.harbor.calls).toEqual(['getRepository']);
    put(t.harbor, 'ws-a', 'fresh', T0);
    t.harbor.calls = [];
    await t.catalog.invalidate([]);
    expect(published.mock.calls[1]).toEqual([['*']]);
    t.harbor.failNext('listRepositoriesAll');
    await expect(t.names()).rejects.toMatchObject({ kind: 'upstream_unavailable' });
    expect(await t.names()).toEqual(['ws-a/app', 'ws-a/fresh', 'ws-a/tool', 'ws-b/one', 'ws-b/two']);
    expect(t.harbor.calls).toEqual(['listRepositoriesAll', 'listRepositoriesAll', 'listRepositoriesRange']);
    expect(t.syncs).toEqual([['full', 4], ['image', 1], ['full', 5]]);
  });
});

describe('image catalogue: pages of a remembered order', () => {
  it('filter by project and by `keep`, count all matches and return the rows of the page only', async () => {
    const t = await rig({}, { 'ws-a': Array.from({ length: 30 }, (_, i) => `img-${String(i).padStart(2, '0')}`), 'ws-b': ['img-x', 'other'] });
    const wsA = t.harbor.projects.get('ws-a')!.project_id;
    const keep = (r: CatalogRepo) => r.image.endsWith('5') || r.image === 'img-x';
    // deeper than 1,000 rows: the order is sorted and remembered, then read
    const deep = await t.catalog.page(new Set([wsA]), byName, 'name', 1, 1000, keep);
    expect(deep.rows.map((r) => r.name)).toEqual(['ws-a/img-15', 'ws-a/img-25']);
    expect(deep.total).toBe(3);
    const again = await t.catalog.page(t.everything(), byName, 'name', 2, 1000, keep);
    expect(again.rows.map((r) => r.name)).toEqual(['ws-a/img-25', 'ws-b/img-x']);
    expect(again.total).toBe(4);
    const one = await t.catalog.page(t.everything(), byName, 'name', 2, 1, keep);
    expect(one).toEqual({ rows: [again.rows[0]], total: 4 });
  });
});

describe('image catalogue: update times Harbor leaves unreadable', () => {
  it('do not move the delta window', async () => {
    const t = await rig();
    repo(t.harbor, 'ws-a/app').update_time = '';
    await t.names();
    const lists = jest.spyOn(t.harbor, 'listRepositoriesAll');
    t.at(60_000);
    await t.names();
    t.at(120_000);
    await t.names();
    expect(lists.mock.calls.map(([q]) => q)).toEqual([COUNT, delta('2026-06-01T11:59:50'), COUNT, delta('2026-06-01T11:59:50')]);
  });
});

describe('image catalogue: stats kept', () => {
  it('an image without artifacts needs no Harbor call; its stats are kept (no latest push)', async () => {
    const t = await rig({}, { 'ws-a': ['app'] });
    repo(t.harbor, 'ws-a/app').artifact_count = 0;
    const rows = await t.catalog.repositories(t.everything(), byName, 'name');
    t.harbor.calls = [];
    const empty = { versionCount: 0, sizeBytes: 0, latestPushAt: null };
    expect((await t.catalog.statsFor(rows)).get(rows[0].id)).toEqual(empty);
    await waitFor(() => t.catalog.filled());
    expect((await t.catalog.statsFor(rows)).get(rows[0].id)).toEqual(empty);
    expect(t.harbor.calls).toEqual([]);
  });

  it('are answered from memory until statsMaxAgeSeconds, then re-read in the background', async () => {
    const t = await rig({ statsMaxAgeSeconds: 100 });
    const rows = await t.catalog.repositories(t.everything(), byName, 'name');
    const artifacts = jest.spyOn(t.harbor, 'listArtifacts');
    const first = await t.catalog.statsFor(rows);
    expect(first.get(rows[0].id)).toEqual({ versionCount: 1, sizeBytes: 1000, latestPushAt: iso(T0) });
    await waitFor(() => t.catalog.filled());
    expect(artifacts).toHaveBeenCalledTimes(4);
    put(t.harbor, 'ws-a', 'app', T0 + 1000, [['2']]); // pushed straight into Harbor: only a re-read shows it
    t.at(79_999);
    expect(await t.catalog.statsFor(rows)).toEqual(first);
    await idle();
    expect(artifacts).toHaveBeenCalledTimes(4);
    t.at(100_000);
    await t.catalog.statsFor([]);
    await waitFor(() => t.catalog.filled() && artifacts.mock.calls.length === 8);
    expect(new Set(artifacts.mock.calls.slice(4).map(([p, r]) => `${p}/${r}`))).toEqual(new Set(['ws-a/app', 'ws-a/tool', 'ws-b/one', 'ws-b/two']));
    expect((await t.catalog.statsFor(rows)).get(rows[0].id)).toEqual({ versionCount: 2, sizeBytes: 2000, latestPushAt: iso(T0 + 1000) });
    expect(artifacts).toHaveBeenCalledTimes(8);
  });
});
