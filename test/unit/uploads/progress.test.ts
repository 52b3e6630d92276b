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
});
