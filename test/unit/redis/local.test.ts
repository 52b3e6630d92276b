/**
 * The single-process stand-ins for Redis: LocalLocks (per-name mutexes, first come first served, a wait bound) and
 * MemoryCache (JSON copies, TTL, a size bound, `prefix*` deletes).
 */
import { LocalLocks, LOCK_BUSY_MESSAGE } from '../../../adapters/redis/local.locks';
import { MemoryCache } from '../../../adapters/redis/memory.cache';

describe('LocalLocks', () => {
  it('a lock held: waitMs 0 is refused at once, even when the holder releases right after asking', async () => {
    const locks = new LocalLocks();
    const release = await locks.acquire('a', 0);
    const second = locks.acquire('a', 0);
    release();
    await expect(second).rejects.toMatchObject({ kind: 'conflict', message: LOCK_BUSY_MESSAGE });
    expect(locks.held()).toBe(0);
  });

  it('waiters are served in arrival order; one that times out leaves the queue without disturbing the others', async () => {
    jest.useFakeTimers();
    try {
      const locks = new LocalLocks();
      const order: string[] = [];
      const release = await locks.acquire('a', 0);
      const first = locks.acquire('a', 1000).then((r) => (order.push('first'), r));
      const short = locks.acquire('a', 10);
      const last = locks.acquire('a', 1000).then((r) => (order.push('last'), r));
      jest.advanceTimersByTime(10);
      await expect(short).rejects.toMatchObject({ kind: 'conflict' });
      release();
      const r1 = await first;
      expect(order).toEqual(['first']);
      r1();
      (await last)();
      expect(order).toEqual(['first', 'last']);
      expect(locks.held()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('MemoryCache', () => {
  it('an entry expires at exactly its TTL', async () => {
    let now = 1_000;
    const cache = new MemoryCache(10, () => now);
    await cache.set('k', { v: 1 }, 1);
    now = 1_999;
    expect(await cache.get('k')).toEqual({ v: 1 });
    now = 2_000;
    expect(await cache.get('k')).toBeUndefined();
    expect(cache.size()).toBe(0);
  });

  it('a TTL of zero or less stores nothing: the cache does not grow, and no older entry is evicted to make room for it', async () => {
    const cache = new MemoryCache(2);
    await cache.set('a', 1, 60);
    await cache.set('b', 2, 60);
    await cache.set('zero', 3, 0);
    await cache.set('negative', 4, -1);
    expect(cache.size()).toBe(2);
    expect([await cache.get('a'), await cache.get('b'), await cache.get('zero'), await cache.get('negative')]).toEqual([1, 2, undefined, undefined]);
  });

  it('del: a key is that key only; "prefix*" is every key that starts with the prefix', async () => {
    const cache = new MemoryCache();
    for (const k of ['ab', 'abc', 'ac', 'b']) await cache.set(k, k, 60);
    await cache.del('ab');
    expect([await cache.get('ab'), await cache.get('abc'), await cache.get('ac')]).toEqual([undefined, 'abc', 'ac']);
    await cache.del('a*');
    expect([await cache.get('abc'), await cache.get('ac'), await cache.get('b')]).toEqual([undefined, undefined, 'b']);
  });
});
