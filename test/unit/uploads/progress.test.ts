import { MemoryCache } from '../../../adapters/redis/memory.cache';
import { isFinal, ProgressStore, type ProgressOptions, type UploadRecord } from '../../../src/domain/uploads/progress';
import type { Cache } from '../../../src/ports/coordination';
import { mapCache } from '../../support/map-cache';

const record = (id: string, replica: string, at: number): UploadRecord => ({
  id,
  workspace: 'ws',
  projectId: 'p1',
  userId: 'u1',
  state: 'receiving',
  bytesReceived: 10,
  bytesDeclared: null,
  layers: [],
  images: [],
  createdAt: new Date(at).toISOString(),
  updatedAt: new Date(at).toISOString(),
  replica,
});

/** Stores opened by open(), closed after each test. */
const opened: ProgressStore[] = [];
/** What jump() added to the fake timers' time. */
let skew = 0;
/** The stores' clock on fake timers (see onFakeClock): the fake timers' time plus the jumps. */
const fakeNow = () => jest.now() + skew;

/** Fake timers for the tests of the describe block it is called in; fakeNow() starts at 5_000_000. */
const onFakeClock = () => {
  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['Date', 'setImmediate', 'nextTick'] });
    skew = 5_000_000 - jest.now();
  });
  afterEach(() => {
    for (const s of opened.splice(0)) s.close();
    jest.useRealTimers();
  });
};

/** Moves the stores' clock and runs every timer due on the way, each seeing the clock at its own time. */
const advance = (ms: number) => jest.advanceTimersByTimeAsync(ms);
/** Moves the stores' clock without running any timer (a replica that stopped, a write left pending). */
const jump = (ms: number) => {
  skew += ms;
};

/** A cache that can be "down" (writes lost), counting the writes that landed. */
const flaky = () => {
  const cache = new MemoryCache(10_000, fakeNow);
  const state = { up: true, landed: 0 };
  return {
    state,
    cache: {
      get: cache.get.bind(cache),
      del: cache.del.bind(cache),
      set: async <T>(k: string, v: T, ttl: number) => {
        if (!state.up) return;
        state.landed += 1;
        await cache.set(k, v, ttl);
      },
    },
  };
};

/** A store of replica A on the fake clock (ttl one hour, shared cache configured and up), closed after the test. */
const open = (cache: Cache, options: Partial<ProgressOptions> = {}) => {
  const s = new ProgressStore(cache, { ttlSeconds: 3600, replica: 'A', sharedConfigured: true, shared: () => true, now: fakeNow, ...options });
  opened.push(s);
  return s;
};

/**
 * A store of replica A that wrote an upload at once (bytesReceived 10, forced) and then twice more, throttled
 * (11 at t0 + 100, 12 at t0 + 200): the trailing write is due at t0 + 500 (flushMs 500).
 */
const throttled = async (id: string, options: Partial<ProgressOptions> = {}) => {
  const { cache, state } = flaky();
  const t0 = fakeNow();
  const a = open(cache, options);
  await a.save(record(id, 'A', t0), true);
  for (const bytesReceived of [11, 12]) {
    await advance(100);
    await a.save({ ...record(id, 'A', fakeNow()), bytesReceived });
  }
  return { a, cache, state, t0 };
};

/** What the shared cache holds for an upload. */
const held = (cache: Cache, id: string) => cache.get<UploadRecord>(`upload:${id}`);
const iso = (ms: number) => new Date(ms).toISOString();

describe('upload progress across replicas', () => {
  let now = 1_000_000;
  const clock = () => now;

  it('another replica sees the record through the shared cache, and reports it failed once its heartbeat stopped', async () => {
    const shared = new MemoryCache(10_000, clock);
    const a = new ProgressStore(shared, { ttlSeconds: 3600, replica: 'A', sharedConfigured: true, shared: () => true, staleAfterMs: 30_000, now: clock });
    const b = new ProgressStore(shared, { ttlSeconds: 3600, replica: 'B', sharedConfigured: true, shared: () => true, staleAfterMs: 30_000, now: clock });
    try {
      await a.save(record('u-1', 'A', now), true);
      expect(await b.get('u-1')).toMatchObject({ state: 'receiving', bytesReceived: 10 });
      now += 31_000; // replica A died: no more writes
      expect(await b.get('u-1')).toMatchObject({ state: 'failed', error: { reason: 'replica_lost' } });
      // A itself still answers from memory with what it knows
      expect(await a.get('u-1')).toMatchObject({ state: 'receiving' });
    } finally {
      a.close();
      b.close();
    }
  });

  it('throttles streaming writes but the last state still reaches the shared cache', async () => {
    const writes: number[] = [];
    const cache = new MemoryCache();
    const spy = { get: cache.get.bind(cache), del: cache.del.bind(cache), set: async <T>(k: string, v: T, t: number) => {
        writes.push((v as unknown as UploadRecord).bytesReceived);
        await cache.set(k, v, t);
      },
    };
    const s = new ProgressStore(spy, { ttlSeconds: 3600, replica: 'A', sharedConfigured: false, shared: () => false, flushMs: 20 });
    try {
      const r = record('u-2', 'A', Date.now());
      await s.save(r, true);
      for (let i = 0; i < 50; i++) {
        r.bytesReceived += 1;
        await s.save(r);
      }
      expect(writes.length).toBeLessThan(10);
      // the trailing write comes by itself (waits for the outcome, asserts no duration)
      for (let i = 0; i < 500 && writes[writes.length - 1] !== 60; i++) await new Promise((res) => setTimeout(res, 10));
      expect(writes[writes.length - 1]).toBe(60);
    } finally {
      s.close();
    }
  });

  describe('the heartbeat (every staleAfterMs / 4, on a fake clock)', () => {
    onFakeClock();

    it('keeps a running upload of a live replica fresh for the others, however long it takes', async () => {
      const { cache } = flaky();
      const a = open(cache, { staleAfterMs: 8_000 });
      const b = open(cache, { replica: 'B', staleAfterMs: 8_000 });
      await a.save(record('u-h', 'A', fakeNow()), true);
      await advance(40_000); // five times staleAfterMs without a save: only the heartbeat writes (the last one now)
      expect(await b.get('u-h')).toMatchObject({ state: 'receiving', updatedAt: iso(fakeNow()) });
    });

    it("beats only for its own replica's uploads, and not for finished ones", async () => {
      const { cache, state } = flaky();
      const a = open(cache, { staleAfterMs: 8_000 });
      await a.save(record('u-z', 'Z', fakeNow()), true);
      await a.save({ ...record('u-done', 'A', fakeNow()), state: 'succeeded' }, true);
      await advance(20_000);
      expect(state.landed).toBe(2);
    });

    it('sends again what the shared cache missed while it was down (only when one is configured)', async () => {
      for (const sharedConfigured of [true, false]) {
        const { cache, state } = flaky();
        let up = false;
        const a = open(cache, { sharedConfigured, shared: () => up, staleAfterMs: 8_000 });
        const b = open(cache, { replica: 'B', sharedConfigured, shared: () => up, staleAfterMs: 8_000 });
        state.up = false;
        await a.save({ ...record('u-out', 'A', fakeNow()), state: 'succeeded' }, true); // lost
        state.up = true;
        up = true;
        await advance(2_000);
        expect((await b.get('u-out'))?.state).toBe(sharedConfigured ? 'succeeded' : undefined);
        const landed = state.landed;
        await advance(10_000);
        expect(state.landed).toBe(landed); // once synced, not again
      }
    });

    it('beats every max(1000, staleAfterMs / 4) ms', async () => {
      // staleAfterMs 8000: every 2000 ms, refreshing what was written 2000 ms ago or more;
      // staleAfterMs 2000: every 1000 ms (not 500), refreshing what was written 500 ms ago or more
      for (const { staleAfterMs, savedAt, refreshedAt } of [
        { staleAfterMs: 8_000, savedAt: 500, refreshedAt: 4_000 },
        { staleAfterMs: 2_000, savedAt: 600, refreshedAt: 2_000 },
      ]) {
        const { cache } = flaky();
        const t0 = fakeNow();
        const a = open(cache, { staleAfterMs });
        await advance(savedAt);
        await a.save(record(`u-beat-${staleAfterMs}`, 'A', fakeNow()), true);
        await advance(refreshedAt - savedAt - 1);
        expect((await held(cache, `u-beat-${staleAfterMs}`))?.updatedAt).toBe(iso(t0 + savedAt));
        await advance(1);
        expect((await held(cache, `u-beat-${staleAfterMs}`))?.updatedAt).toBe(iso(t0 + refreshedAt));
      }
    });

    it('refreshes a running record written exactly staleAfterMs / 4 ago, not one written a millisecond later', async () => {
      const { cache, state } = flaky();
      const t0 = fakeNow();
      const a = open(cache, { staleAfterMs: 8_000 });
      await a.save(record('u-at', 'A', fakeNow()), true);
      await advance(1);
      await a.save(record('u-later', 'A', fakeNow()), true);
      await advance(1_999); // the first beat: u-at written 2000 ms ago, u-later 1999 ms ago
      expect((await held(cache, 'u-at'))?.updatedAt).toBe(iso(t0 + 2_000));
      expect((await held(cache, 'u-later'))?.updatedAt).toBe(iso(t0 + 1));
      expect(state.landed).toBe(3);
      await advance(2_000);
      expect((await held(cache, 'u-at'))?.updatedAt).toBe(iso(t0 + 4_000));
      expect((await held(cache, 'u-later'))?.updatedAt).toBe(iso(t0 + 4_000));
      expect(state.landed).toBe(5);
    });

    it('close() stops the heartbeat and the pending trailing write', async () => {
      const { a, cache, state, t0 } = await throttled('u-closed', { staleAfterMs: 8_000 });
      a.close();
      await advance(20_000);
      expect(state.landed).toBe(1);
      expect(await held(cache, 'u-closed')).toMatchObject({ bytesReceived: 10, updatedAt: iso(t0) });
    });
  });

  describe('writes to the shared cache (throttled by flushMs, on a fake clock)', () => {
    onFakeClock();

    it('writes a new record at once, even when not forced', async () => {
      const { cache, state } = flaky();
      const a = open(cache);
      await a.save(record('u-new', 'A', fakeNow()));
      expect(await held(cache, 'u-new')).toMatchObject({ bytesReceived: 10, updatedAt: iso(fakeNow()) });
      expect(state.landed).toBe(1);
    });

    it('writes again once flushMs has passed since the last write, not a millisecond earlier (500 ms unless configured)', async () => {
      for (const [flushMs, due] of [
        [undefined, 500],
        [2_000, 2_000],
      ] as const) {
        const { cache, state } = flaky();
        const a = open(cache, flushMs === undefined ? {} : { flushMs });
        const id = `u-due-${due}`;
        const t0 = fakeNow();
        await a.save(record(id, 'A', fakeNow()), true);
        jump(due - 1); // timers not advanced: the trailing write stays pending
        await a.save({ ...record(id, 'A', fakeNow()), bytesReceived: 11 });
        expect(await held(cache, id)).toMatchObject({ bytesReceived: 10, updatedAt: iso(t0) });
        expect(state.landed).toBe(1);
        jump(1);
        await a.save({ ...record(id, 'A', fakeNow()), bytesReceived: 12 });
        expect(await held(cache, id)).toMatchObject({ bytesReceived: 12, updatedAt: iso(t0 + due) });
        expect(state.landed).toBe(2);
      }
    });

    it('sends the latest throttled state by itself, flushMs after the last write', async () => {
      const { cache, state, t0 } = await throttled('u-trail');
      await advance(299);
      expect(await held(cache, 'u-trail')).toMatchObject({ bytesReceived: 10, updatedAt: iso(t0) });
      expect(state.landed).toBe(1);
      await advance(1);
      expect(await held(cache, 'u-trail')).toMatchObject({ bytesReceived: 12, updatedAt: iso(t0 + 200) });
      expect(state.landed).toBe(2);
      await advance(1_000);
      expect(state.landed).toBe(2);
    });

    it('a forced write cancels the pending trailing write', async () => {
      const { a, cache, state, t0 } = await throttled('u-forced');
      await advance(100);
      await a.save({ ...record('u-forced', 'A', fakeNow()), bytesReceived: 13 }, true);
      expect(state.landed).toBe(2);
      await advance(1_000);
      expect(state.landed).toBe(2);
      expect(await held(cache, 'u-forced')).toMatchObject({ bytesReceived: 13, updatedAt: iso(t0 + 300) });
    });
  });

  describe('the local map (on a fake clock)', () => {
    onFakeClock();
    /** MAX_LOCAL in progress.ts. */
    const MAX_LOCAL = 1000;

    it('a save drops an expired record: at exactly ttlSeconds, not a millisecond earlier', async () => {
      const { cache } = flaky();
      const a = open(cache, { ttlSeconds: 1 });
      await a.save(record('u-old', 'A', fakeNow()), true);
      await cache.del('upload:u-old'); // only the local map answers for it now
      jump(999);
      await a.save(record('u-next', 'A', fakeNow()), true);
      expect(a.holds('u-old')).toBe(true);
      jump(1);
      await a.save(record('u-next2', 'A', fakeNow()), true);
      expect(a.holds('u-old')).toBe(false);
    });

    it('holds MAX_LOCAL records, final ones too; beyond, a save drops the oldest final record and keeps running ones', async () => {
      const { cache } = flaky();
      const a = open(cache);
      await a.save({ ...record('u-f1', 'A', fakeNow()), state: 'succeeded' }, true);
      await a.save(record('u-run', 'A', fakeNow()), true);
      await a.save({ ...record('u-f2', 'A', fakeNow()), state: 'failed' }, true);
      for (let i = 3; i < MAX_LOCAL; i++) await a.save(record(`u-${i}`, 'A', fakeNow()), true);
      await cache.del('upload:u-f1', 'upload:u-run', 'upload:u-f2'); // only the local map answers for them now
      expect([a.holds('u-f1'), a.holds('u-run'), a.holds('u-f2')]).toEqual([true, true, true]);
      await a.save(record('u-over-1', 'A', fakeNow()), true);
      expect([a.holds('u-f1'), a.holds('u-run'), a.holds('u-f2')]).toEqual([false, true, true]);
      await a.save(record('u-over-2', 'A', fakeNow()), true);
      expect([a.holds('u-f1'), a.holds('u-run'), a.holds('u-f2')]).toEqual([false, true, false]);
    });

    it('beyond MAX_LOCAL, a save drops one expired record, the oldest, and stops there', async () => {
      const { cache } = flaky();
      const a = open(cache, { ttlSeconds: 1 });
      await a.save(record('u-x1', 'A', fakeNow()), true);
      await a.save(record('u-x2', 'A', fakeNow()), true);
      jump(500);
      for (let i = 2; i < MAX_LOCAL; i++) await a.save(record(`u-${i}`, 'A', fakeNow()), true);
      jump(500); // u-x1 and u-x2 expire now, the others 500 ms later
      await cache.del('upload:u-x1', 'upload:u-x2');
      await a.save(record('u-over-1', 'A', fakeNow()), true);
      expect([a.holds('u-x1'), a.holds('u-x2')]).toEqual([false, true]);
      await a.save(record('u-over-2', 'A', fakeNow()), true);
      expect([a.holds('u-x1'), a.holds('u-x2')]).toEqual([false, false]);
    });

    it("exists(): its own records from the local map, other replicas' from the shared cache", async () => {
      const { cache } = flaky();
      const a = open(cache);
      const b = open(cache, { replica: 'B' });
      await a.save(record('u-local', 'A', fakeNow()), true);
      await cache.del('upload:u-local');
      await a.save(record('u-shared', 'A', fakeNow()), true);
      expect(await a.exists('u-local')).toBe(true);
      expect(await b.exists('u-local')).toBe(false);
      expect(await b.exists('u-shared')).toBe(true);
      expect(await a.exists('u-none')).toBe(false);
    });

    it('exists(): an id whose record expired is free again, as GET answers 404 for it (a record still held in memory does not count)', async () => {
      const { cache } = flaky();
      const a = open(cache, { ttlSeconds: 1 });
      await a.save(record('u-reuse', 'A', fakeNow()), true);
      await cache.del('upload:u-reuse'); // the shared copy expired on its own TTL
      jump(999);
      expect(await a.exists('u-reuse')).toBe(true);
      jump(1);
      expect(a.holds('u-reuse')).toBe(true);
      expect([await a.exists('u-reuse'), await a.get('u-reuse')]).toEqual([false, undefined]);
    });
  });

  describe('reading a record (on a fake clock)', () => {
    onFakeClock();
    const lost = {
      kind: 'upstream_unavailable',
      reason: 'replica_lost',
      message: 'the hubgate replica receiving this upload stopped before the upload finished; send the archive again',
    };

    it('answers from the local map until ttlSeconds have passed, then from the shared cache', async () => {
      const { cache } = flaky();
      const a = open(cache, { ttlSeconds: 1 });
      await a.save(record('u-ttl', 'A', fakeNow()), true);
      await cache.set('upload:u-ttl', { ...record('u-ttl', 'A', fakeNow()), bytesReceived: 99 }, 3600); // the shared copy differs
      jump(999);
      expect((await a.get('u-ttl'))?.bytesReceived).toBe(10);
      jump(1);
      expect((await a.get('u-ttl'))?.bytesReceived).toBe(99);
    });

    it("reports another replica's running record failed once not updated for more than staleAfterMs (at exactly staleAfterMs: as it is)", async () => {
      const { cache } = flaky();
      const a = open(cache, { staleAfterMs: 30_000 });
      const b = open(cache, { replica: 'B', staleAfterMs: 30_000 });
      const rec = record('u-lost', 'A', fakeNow());
      await a.save(rec, true);
      jump(30_000); // timers not advanced: no heartbeat from A
      expect(await b.get('u-lost')).toEqual(rec);
      jump(1);
      expect(await b.get('u-lost')).toEqual({ ...rec, state: 'failed', error: lost });
    });

    it('keeps the final records of a stopped replica as they are', async () => {
      const { cache } = flaky();
      const a = open(cache);
      const b = open(cache, { replica: 'B' });
      const done: UploadRecord = { ...record('u-done', 'A', fakeNow()), state: 'succeeded' };
      const failed: UploadRecord = { ...record('u-failed', 'A', fakeNow()), state: 'failed', error: { kind: 'invalid', reason: 'bad_archive', message: 'not a tar archive' } };
      await a.save(done, true);
      await a.save(failed, true);
      jump(60_000);
      expect(await b.get('u-done')).toEqual(done);
      expect(await b.get('u-failed')).toEqual(failed);
    });

    it('does not report its own running record lost when it reads it from the shared cache (local copy expired)', async () => {
      const a = open(mapCache(), { ttlSeconds: 1 });
      const rec = record('u-own', 'A', fakeNow());
      await a.save(rec, true);
      jump(60_000);
      expect(await a.get('u-own')).toEqual({ ...rec, state: 'receiving' });
    });
  });

  it('isFinal: succeeded and failed only', () => {
    expect((['receiving', 'verifying', 'pushing', 'succeeded', 'failed'] as const).map(isFinal)).toEqual([false, false, false, true, true]);
  });
});
