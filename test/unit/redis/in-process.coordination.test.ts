import { createCoordination, createInProcessCoordination, escapeGlob } from '../../../adapters/redis/redis.coordination';
import { LocalLocks, LOCK_BUSY_MESSAGE } from '../../../adapters/redis/local.locks';
import { MemoryCache } from '../../../adapters/redis/memory.cache';
import { AppError } from '../../../src/domain/errors';

const tick = () => new Promise<void>((r) => setImmediate(r));

/** A promise plus its resolve, to hold a lock for exactly as long as a test wants. */
function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

describe('createInProcessCoordination', () => {
  it('is never shared and reports no Redis', async () => {
    const c = createInProcessCoordination();
    expect(c.shared()).toBe(false);
    expect(c.redisUp()).toBeUndefined();
    expect(await c.ping()).toBe(false);
    await c.close();
  });

  it('is what createCoordination returns without a Redis URL', () => {
    const c = createCoordination({});
    expect(c.redisUp()).toBeUndefined();
    expect(c.shared()).toBe(false);
  });

  it('a holder is always told it still holds the lock (one replica: the process lock is the whole lock)', async () => {
    const c = createInProcessCoordination();
    expect(await c.withLock('n', async (held) => [held(), held()])).toEqual([true, true]);
    expect(await c.withLock('n', async (held) => held(), { required: true })).toBe(true);
  });

  it('runs one holder at a time per name and returns fn results', async () => {
    const c = createInProcessCoordination();
    let inside = 0;
    let maxInside = 0;
    let counter = 0;
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        c.withLock('n', async () => {
          inside += 1;
          maxInside = Math.max(maxInside, inside);
          const v = counter;
          await tick();
          counter = v + 1;
          inside -= 1;
          return i;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect(counter).toBe(25);
    expect(results).toEqual(Array.from({ length: 25 }, (_, i) => i));
  });

  it('serves waiters first come, first served', async () => {
    const c = createInProcessCoordination();
    const g = gate();
    const order: number[] = [];
    const first = c.withLock('n', () => g.p);
    const waiters = [1, 2, 3, 4].map((i) => c.withLock('n', async () => void order.push(i)));
    await tick();
    expect(order).toEqual([]);
    g.open();
    await Promise.all([first, ...waiters]);
    expect(order).toEqual([1, 2, 3, 4]);
  });

  it('lets different names run concurrently', async () => {
    const c = createInProcessCoordination();
    const g = gate();
    const a = c.withLock('a', () => g.p);
    await expect(c.withLock('b', async () => 'b ran')).resolves.toBe('b ran');
    g.open();
    await a;
  });

  it('releases the lock when fn throws, and passes the error through', async () => {
    const c = createInProcessCoordination();
    await expect(c.withLock('n', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(c.withLock('n', async () => 'next', { waitMs: 0 })).resolves.toBe('next');
  });

  it('gives up after waitMs with AppError conflict, and later waiters are still served', async () => {
    jest.useFakeTimers();
    try {
      const c = createInProcessCoordination();
      const g = gate();
      const holder = c.withLock('n', () => g.p);
      const impatient = c.withLock('n', async () => 'never', { waitMs: 1000 });
      const patient = c.withLock('n', async () => 'patient ran', { waitMs: 60_000 });
      const rejected = expect(impatient).rejects.toMatchObject({ kind: 'conflict', message: LOCK_BUSY_MESSAGE });
      jest.advanceTimersByTime(1001);
      await rejected;
      g.open();
      await holder;
      await expect(patient).resolves.toBe('patient ran');
    } finally {
      jest.useRealTimers();
    }
  });

  it('refuses at once with waitMs 0 when the lock is held', async () => {
    const c = createInProcessCoordination();
    const g = gate();
    const holder = c.withLock('n', () => g.p);
    const err = await c.withLock('n', async () => 1, { waitMs: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).kind).toBe('conflict');
    g.open();
    await holder;
  });

  it('caches JSON copies with TTL and deletes by key and prefix', async () => {
    const c = createInProcessCoordination();
    const value = { list: [1, 2], nested: { a: 'b' } };
    await c.set('catalog', value, 60);
    const got = await c.get<typeof value>('catalog');
    expect(got).toEqual(value);
    got!.list.push(3);
    expect(await c.get('catalog')).toEqual(value); // no shared references
    await c.set('ws:a', 1, 60);
    await c.set('ws:b', 2, 60);
    await c.set('wsX', 3, 60);
    await c.del('ws:*', 'catalog');
    expect(await c.get('catalog')).toBeUndefined();
    expect(await c.get('ws:a')).toBeUndefined();
    expect(await c.get('ws:b')).toBeUndefined();
    expect(await c.get('wsX')).toBe(3);
    expect(await c.get('missing')).toBeUndefined();
  });
});

describe('LocalLocks', () => {
  it('holds no memory for idle names', async () => {
    const locks = new LocalLocks();
    const release = await locks.acquire('a', 100);
    expect(locks.held()).toBe(1);
    release();
    release(); // idempotent: does not hand the lock to nobody twice
    expect(locks.held()).toBe(0);
  });

  it('a double release does not admit two waiters at once', async () => {
    const locks = new LocalLocks();
    const release = await locks.acquire('a', 100);
    const second = locks.acquire('a', 1000);
    const third = locks.acquire('a', 1000);
    let thirdIn = false;
    void third.then(() => (thirdIn = true));
    release();
    release();
    const releaseSecond = await second;
    await tick();
    expect(thirdIn).toBe(false);
    releaseSecond();
    (await third)();
    expect(locks.held()).toBe(0);
  });
});

describe('MemoryCache', () => {
  it('expires entries by TTL', async () => {
    let now = 1_000_000;
    const cache = new MemoryCache(100, () => now);
    await cache.set('k', 'v', 10);
    now += 9_999;
    expect(await cache.get('k')).toBe('v');
    now += 2;
    expect(await cache.get('k')).toBeUndefined();
    expect(cache.size()).toBe(0);
  });

  it('does not store undefined or non-positive TTLs (and drops the previous value)', async () => {
    const cache = new MemoryCache();
    await cache.set('k', 'v', 10);
    await cache.set('k', undefined, 10);
    expect(await cache.get('k')).toBeUndefined();
    await cache.set('k', 'v', 0);
    expect(await cache.get('k')).toBeUndefined();
  });

  it('a TTL of 0, below 0 or NaN stores nothing: it takes no slot, so no live entry is evicted for it', async () => {
    const cache = new MemoryCache(1);
    await cache.set('live', 'v', 60);
    for (const ttl of [0, -5, Number.NaN]) await cache.set(`k${ttl}`, 'x', ttl);
    expect(cache.size()).toBe(1);
    expect(await cache.get('live')).toBe('v');
  });

  it('evicts the oldest entries beyond maxEntries', async () => {
    const cache = new MemoryCache(3);
    for (const k of ['a', 'b', 'c', 'd']) await cache.set(k, k, 60);
    expect(await cache.get('a')).toBeUndefined();
    expect(await cache.get('d')).toBe('d');
    expect(cache.size()).toBe(3);
  });
});

describe('escapeGlob', () => {
  it('escapes Redis glob metacharacters', () => {
    expect(escapeGlob('a*b?c[d]e\\f')).toBe('a\\*b\\?c\\[d\\]e\\\\f');
    expect(escapeGlob('plain:key')).toBe('plain:key');
  });
});
