import { MemoryCache } from '../../../adapters/redis/memory.cache';
import { ProgressStore, type UploadRecord } from '../../../src/domain/uploads/progress';

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
    let t = 0;
    beforeEach(() => {
      t = 5_000_000;
      jest.useFakeTimers({ doNotFake: ['Date', 'setImmediate', 'nextTick'] });
    });
    afterEach(() => jest.useRealTimers());
    /** Moves the store's clock and its timers together. */
    const advance = async (ms: number) => {
      for (let left = ms; left > 0; left -= 1000) {
        t += Math.min(1000, left);
        await jest.advanceTimersByTimeAsync(Math.min(1000, left));
      }
    };
    /** A cache that can be "down" (writes lost), counting the writes that landed. */
    const flaky = () => {
      const cache = new MemoryCache(10_000, () => t);
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

    it('keeps a running upload of a live replica fresh for the others, however long it takes', async () => {
      const { cache } = flaky();
      const a = new ProgressStore(cache, { ttlSeconds: 3600, replica: 'A', sharedConfigured: true, shared: () => true, staleAfterMs: 8_000, now: () => t });
      const b = new ProgressStore(cache, { ttlSeconds: 3600, replica: 'B', sharedConfigured: true, shared: () => true, staleAfterMs: 8_000, now: () => t });
      try {
        await a.save(record('u-h', 'A', t), true);
        await advance(40_000); // five times staleAfterMs without a save: only the heartbeat writes
        expect(await b.get('u-h')).toMatchObject({ state: 'receiving' });
        expect(Date.parse((await b.get('u-h'))!.updatedAt)).toBeGreaterThanOrEqual(t - 8_000 / 4 - 1000);
      } finally {
        a.close();
        b.close();
      }
    });

    it("beats only for its own replica's uploads, and not for finished ones", async () => {
      const { cache, state } = flaky();
      const a = new ProgressStore(cache, { ttlSeconds: 3600, replica: 'A', sharedConfigured: true, shared: () => true, staleAfterMs: 8_000, now: () => t });
      try {
        await a.save(record('u-z', 'Z', t), true);
        await a.save({ ...record('u-done', 'A', t), state: 'succeeded' }, true);
        const before = state.landed;
        await advance(20_000);
        expect(state.landed).toBe(before);
      } finally {
        a.close();
      }
    });

    it('sends again what the shared cache missed while it was down (only when one is configured)', async () => {
      for (const sharedConfigured of [true, false]) {
        const { cache, state } = flaky();
        let up = false;
        const a = new ProgressStore(cache, { ttlSeconds: 3600, replica: 'A', sharedConfigured, shared: () => up, staleAfterMs: 8_000, now: () => t });
        const b = new ProgressStore(cache, { ttlSeconds: 3600, replica: 'B', sharedConfigured, shared: () => up, staleAfterMs: 8_000, now: () => t });
        try {
          state.up = false;
          await a.save({ ...record('u-out', 'A', t), state: 'succeeded' }, true); // lost
          state.up = true;
          up = true;
          await advance(2_000);
          expect((await b.get('u-out'))?.state).toBe(sharedConfigured ? 'succeeded' : undefined);
          const landed = state.landed;
          await advance(10_000);
          expect(state.landed).toBe(landed); // once synced, not again
        } finally {
          a.close();
          b.close();
        }
      }
    });
  });
});
