import { createLogger } from '../../../src/observability/logger';
import type { HarborProject } from '../../../src/ports/harbor';
import { createInProcessChangeFeed } from '../../../adapters/redis/change.feed';
import { MemoryCache } from '../../../adapters/redis/memory.cache';
import { FakeHarbor } from '../../support/fake-harbor';
import { alice, count, names, replica, teamA } from './workspaces.kit';

/**
 * The workspace catalogue when reads and writes overlap: the shared copy another replica wrote, background and
 * full re-reads that a write overtakes, and the feed's per-name re-reads racing a full one. Every race is made
 * deterministic by holding one Harbor call on a promise the test releases.
 */

/** Lets every promise already settled run its callbacks (a background re-read that was released finishes). */
const settle = () => new Promise((r) => setImmediate(r));

/**
 * Holds the next call of a Harbor read after Harbor answered it: `answered` resolves once the answer is taken
 * (what changes after that is not in it), the call returns when `release()` is called.
 */
function holdNext<K extends 'listAllProjects' | 'findProject'>(harbor: FakeHarbor, op: K): { answered: Promise<void>; release: () => void } {
  let answer!: () => void;
  let release!: () => void;
  const answered = new Promise<void>((r) => (answer = r));
  const gate = new Promise<void>((r) => (release = r));
  const original = (harbor[op] as (...a: unknown[]) => Promise<unknown>).bind(harbor);
  const spy = jest.spyOn(harbor, op as 'findProject') as unknown as jest.SpyInstance<Promise<unknown>, unknown[]>;
  spy.mockImplementationOnce(async (...args: unknown[]) => {
    const rows = await original(...args);
    answer();
    await gate;
    return rows;
  });
  return { answered, release };
}

afterEach(() => jest.restoreAllMocks());

describe('invalidate() naming no workspace', () => {
  it.each([
    ['without names', undefined],
    ['with an empty list', []],
  ])("%s publishes '*' and every replica reads the whole catalogue again at its next use", async (_, none) => {
    const harbor = new FakeHarbor();
    const feed = createInProcessChangeFeed();
    const a = replica(harbor, { feed });
    const b = replica(harbor, { feed });
    expect(await names(b)).toEqual([]);
    const { cursor } = await feed.read(undefined);
    await harbor.createProject({ name: 'outside', public: false }); // not through hubgate: no name in the feed
    await a.invalidate(none);
    expect(await feed.read(cursor)).toMatchObject({ names: ['*'], reset: false });
    const full = count(harbor, 'listAllProjects');
    expect(await names(b)).toEqual(['outside:private']);
    expect(count(harbor, 'listAllProjects')).toBe(full + 1);
  });
});

describe('the shared copy of the catalogue (a second replica starting from what another one read)', () => {
  it('is used with the feed entries published after it was read: only the changed workspace is read from Harbor', async () => {
    const harbor = new FakeHarbor();
    const feed = createInProcessChangeFeed();
    const cache = new MemoryCache();
    const a = replica(harbor, { feed, cache });
    const c = replica(harbor, { feed, cache });
    // C's full read takes Harbor's projects before A's creation and writes its copy after it.
    const held = holdNext(harbor, 'listAllProjects');
    const cList = names(c);
    await held.answered;
    await a.create(alice, { name: 'late', projectId: teamA.id, access: 'private' });
    held.release();
    expect(await cList).toEqual([]);
    const b = replica(harbor, { feed, cache });
    const before = harbor.calls.length;
    expect(await names(b)).toEqual(['late:private']);
    // the one workspace and the owner records, no full read
    expect(harbor.calls.slice(before)).toEqual(['findProject', 'listRobots']);
  });

  it('with nothing published since it was read, a starting replica asks Harbor nothing', async () => {
    const harbor = new FakeHarbor();
    const feed = createInProcessChangeFeed();
    const cache = new MemoryCache();
    const a = replica(harbor, { feed, cache });
    await a.create(alice, { name: 'one', projectId: teamA.id, access: 'public' });
    expect(await names(a)).toEqual(['one:public']);
    const b = replica(harbor, { feed, cache });
    const before = harbor.calls.length;
    expect(await names(b)).toEqual(['one:public']);
    expect(harbor.calls.slice(before)).toEqual([]);
  });

  it('a copy without a feed position (written by a replica without a feed) is not used: Harbor is read', async () => {
    const harbor = new FakeHarbor();
    const cache = new MemoryCache();
    const old = replica(harbor, { cache });
    expect(await names(old)).toEqual([]);
    await harbor.createProject({ name: 'outside', public: true });
    const b = replica(harbor, { feed: createInProcessChangeFeed(), cache });
    expect(await names(b)).toEqual(['outside:public']);
  });

  it('a copy older than what the feed still holds (it cannot account for the changes since) is not used: Harbor is read', async () => {
    const harbor = new FakeHarbor();
    const feed = createInProcessChangeFeed(1); // keeps the newest entry only
    const cache = new MemoryCache();
    const a = replica(harbor, { feed, cache });
    const c = replica(harbor, { feed, cache });
    const held = holdNext(harbor, 'listAllProjects');
    const cList = names(c);
    await held.answered;
    await a.create(alice, { name: 'one', projectId: teamA.id, access: 'private' });
    await a.create(alice, { name: 'two', projectId: teamA.id, access: 'private' });
    held.release();
    expect(await cList).toEqual([]);
    const b = replica(harbor, { feed, cache });
    const full = count(harbor, 'listAllProjects');
    expect(await names(b)).toEqual(['one:private', 'two:private']);
    expect(count(harbor, 'listAllProjects')).toBe(full + 1);
  });
});

describe('re-reads overtaken by a write', () => {
  it('a full read that began before a write is answered to its caller but neither kept nor shared', async () => {
    const harbor = new FakeHarbor();
    const cache = new MemoryCache();
    const w = replica(harbor, { cache });
    const held = holdNext(harbor, 'listAllProjects');
    const first = names(w);
    await held.answered;
    await w.create(alice, { name: 'late', projectId: teamA.id, access: 'private' });
    held.release();
    expect(await first).toEqual([]);
    // another replica sharing the cache finds no copy of the outdated read: it reads Harbor
    expect(await names(replica(harbor, { cache }))).toEqual(['late:private']);
    expect(await names(w)).toEqual(['late:private']);
  });

  it('a background re-read that began before a write is dropped (the full read after the write stands)', async () => {
    const harbor = new FakeHarbor();
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    const w = replica(harbor, { ttlSeconds: 10 });
    expect(await names(w)).toEqual([]);
    const held = holdNext(harbor, 'listAllProjects');
    now += 6_000;
    expect(await names(w)).toEqual([]); // past half the TTL: served, and read again in the background
    await held.answered;
    await w.create(alice, { name: 'late', projectId: teamA.id, access: 'private' });
    expect(await names(w)).toEqual(['late:private']);
    held.release();
    await settle();
    expect(await names(w)).toEqual(['late:private']);
  });

  it('a feed re-read of one workspace overtaken by a full re-read does not overwrite the newer full read', async () => {
    const harbor = new FakeHarbor();
    const feed = createInProcessChangeFeed();
    const a = replica(harbor, { feed });
    const b = replica(harbor, { feed });
    expect(await names(b)).toEqual([]);
    await a.create(alice, { name: 'flip', projectId: teamA.id, access: 'private' });
    // B re-reads 'flip' (private) from the feed; before that answer is applied, the project is made public in
    // Harbor, everything is invalidated, and another list of B reads the whole catalogue.
    const held = holdNext(harbor, 'findProject');
    const stale = names(b);
    await held.answered;
    const hp = harbor.projects.get('flip') as HarborProject;
    await harbor.setProjectPublic(hp.project_id, true);
    await a.invalidate();
    expect(await names(b)).toEqual(['flip:public']);
    held.release();
    expect(await stale).toEqual(['flip:public']);
    expect(await names(b)).toEqual(['flip:public']);
  });
});

describe('background re-reads', () => {
  it('a failed one is logged as a warning, the current copy is served, and the next list past half the TTL tries again', async () => {
    const harbor = new FakeHarbor();
    const logs: string[] = [];
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    const w = replica(harbor, { ttlSeconds: 10, logger: createLogger('debug', (l) => logs.push(l)) });
    expect(await names(w)).toEqual([]);
    await harbor.createProject({ name: 'outside', public: false });
    harbor.failNext('listAllProjects');
    now += 6_000;
    expect(await names(w)).toEqual([]);
    await settle();
    expect(logs.map((l) => JSON.parse(l) as unknown)).toEqual([
      {
        time: expect.any(String),
        level: 'warn',
        msg: 'workspace catalogue refresh failed; the current copy stays until it expires',
        error: { name: 'AppError', message: 'boom' },
      },
    ]);
    const reads = count(harbor, 'listAllProjects');
    expect(await names(w)).toEqual([]); // still the current copy; read again in the background
    await settle();
    expect(count(harbor, 'listAllProjects')).toBe(reads + 1);
    expect(await names(w)).toEqual(['outside:private']);
  });

  it('names re-read from the feed before a full re-read began are not re-read again after it', async () => {
    const harbor = new FakeHarbor();
    const feed = createInProcessChangeFeed();
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    const a = replica(harbor, { feed });
    const b = replica(harbor, { feed, ttlSeconds: 10 });
    expect(await names(b)).toEqual([]);
    await a.create(alice, { name: 'one', projectId: teamA.id, access: 'private' });
    expect(await names(b)).toEqual(['one:private']); // from the feed
    now += 6_000;
    expect(await names(b)).toEqual(['one:private']); // starts the background re-read
    await settle();
    const before = harbor.calls.length;
    expect(await names(b)).toEqual(['one:private']);
    expect(harbor.calls.slice(before)).toEqual([]);
  });
});
