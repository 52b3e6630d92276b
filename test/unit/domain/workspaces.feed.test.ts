import type { ChangeFeed } from '../../../src/ports/changes';
import { createInProcessChangeFeed } from '../../../adapters/redis/change.feed';
import { FakeHarbor } from '../../support/fake-harbor';
import { alice, count, names, replica, teamA } from './workspaces.kit';

/**
 * The workspace catalogue with a change feed (issue 15): a write through any replica is re-read by every replica as
 * that one workspace (one Harbor call, plus the owner records), never as a full re-read of every project.
 */

afterEach(() => jest.restoreAllMocks());

describe('workspace catalogue kept current by the change feed', () => {
  it("another replica's create, access change and delete show at once, each re-read alone (no full re-read)", async () => {
    const harbor = new FakeHarbor();
    const feed = createInProcessChangeFeed();
    const a = replica(harbor, { feed });
    const b = replica(harbor, { feed });
    await a.create(alice, { name: 'first', projectId: teamA.id, access: 'private' });
    expect(await names(b)).toEqual(['first:private']);
    const full = count(harbor, 'listAllProjects');

    await a.create(alice, { name: 'second', projectId: teamA.id, access: 'private' });
    const finds = count(harbor, 'findProject');
    expect(await names(b)).toEqual(['first:private', 'second:private']);
    expect(count(harbor, 'findProject') - finds).toBe(1);
    // owned by Team A on replica B too (owner records re-read with it)
    expect(await names(b, alice)).toEqual(['first:private', 'second:private']);

    await a.setAccess(alice, 'first', 'public');
    expect(await names(b)).toEqual(['first:public', 'second:private']);
    await a.delete(alice, 'second');
    expect(await names(b)).toEqual(['first:public']);
    expect(count(harbor, 'listAllProjects')).toBe(full);
  });

  it('a change made directly in Harbor shows after the TTL (background re-read past half of it)', async () => {
    const harbor = new FakeHarbor();
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    const b = replica(harbor, { feed: createInProcessChangeFeed(), ttlSeconds: 300 });
    expect(await names(b)).toEqual([]);
    await harbor.createProject({ name: 'outside', public: false });
    now += 149_000;
    expect(await names(b)).toEqual([]);
    now += 1_000;
    expect(await names(b)).toEqual([]); // served as is; read again in the background
    await new Promise((r) => setImmediate(r));
    expect(await names(b)).toEqual(['outside:private']);
  });

  it('a full re-read that started before a change is patched with it (the change is not lost)', async () => {
    const harbor = new FakeHarbor();
    const feed = createInProcessChangeFeed();
    const a = replica(harbor, { feed });
    const b = replica(harbor, { feed, ttlSeconds: 10 });
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    expect(await names(b)).toEqual([]);
    // B's background re-read reads the projects before A's create lands, and finishes after B saw the feed entry.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const original = harbor.listAllProjects.bind(harbor);
    jest.spyOn(harbor, 'listAllProjects').mockImplementationOnce(async () => {
      const rows = await original();
      await gate;
      return rows;
    });
    now += 6_000;
    expect(await names(b)).toEqual([]); // starts the background re-read
    await new Promise((r) => setImmediate(r));
    await a.create(alice, { name: 'late', projectId: teamA.id, access: 'public' });
    expect(await names(b)).toEqual(['late:public']); // from the feed
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(await names(b)).toEqual(['late:public']); // the older full read did not take it away
  });

  it('lists arriving while the catalogue is read from Harbor share that one read', async () => {
    const harbor = new FakeHarbor();
    const b = replica(harbor, { feed: createInProcessChangeFeed() });
    const [x, y, z] = await Promise.all([names(b), names(b), b.all()]);
    expect(x).toEqual(y);
    expect(z.map((w) => w.name)).toEqual(['library']);
    expect(count(harbor, 'listAllProjects')).toBe(1);
  });

  it('a feed that cannot account for what was missed (Redis flushed) means a full re-read', async () => {
    const harbor = new FakeHarbor();
    const feed = createInProcessChangeFeed();
    let reset = false;
    const flaky: ChangeFeed = {
      publish: (n) => feed.publish(n),
      read: async (c) => ({ ...(await feed.read(c)), ...(reset ? { reset: true, names: [] } : {}) }),
      close: async () => undefined,
    };
    const b = replica(harbor, { feed: flaky });
    expect(await names(b)).toEqual([]);
    await harbor.createProject({ name: 'missed', public: true });
    reset = true;
    expect(await names(b)).toEqual(['missed:public']);
  });
});
