import { LoginThrottle, type ThrottleSettings } from '../../../src/http/registry/throttle';
import type { Cache } from '../../../src/ports/coordination';

const settings: ThrottleSettings = { maxFailuresPerUser: 3, maxFailuresPerAddress: 5, windowSeconds: 60, blockSeconds: 120 };

class FakeCache implements Cache {
  data = new Map<string, { v: unknown; until: number }>();
  constructor(private readonly now: () => number) {}
  async get<T>(key: string): Promise<T | undefined> {
    const e = this.data.get(key);
    return e && e.until > this.now() ? (structuredClone(e.v) as T) : undefined;
  }
  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    this.data.set(key, { v: structuredClone(value), until: this.now() + ttlSeconds * 1000 });
  }
  async del(...keys: string[]): Promise<void> {
    for (const k of keys) this.data.delete(k);
  }
}

describe('failed-login throttle (fake clock)', () => {
  let t: number;
  const now = () => t;
  beforeEach(() => {
    t = 1_000_000;
  });

  it('blocks a username after the maximum failures within the window, with Retry-After, then lets it go', async () => {
    const th = new LoginThrottle({ settings, now });
    expect(await th.failure('hg-a', undefined)).toBeUndefined();
    expect(await th.failure('hg-a', undefined)).toBeUndefined();
    expect(await th.check('hg-a', undefined)).toBeUndefined();
    expect(await th.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    t += 30_000;
    expect(await th.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 90 });
    expect(await th.check('hg-b', undefined)).toBeUndefined();
    t += 90_001;
    expect(await th.check('hg-a', undefined)).toBeUndefined();
    // A new window after the block: one failure does not block again.
    expect(await th.failure('hg-a', undefined)).toBeUndefined();
  });

  it('forgets failures older than the window', async () => {
    const th = new LoginThrottle({ settings, now });
    await th.failure('hg-a', undefined);
    await th.failure('hg-a', undefined);
    t += 61_000;
    expect(await th.failure('hg-a', undefined)).toBeUndefined();
    expect(await th.failure('hg-a', undefined)).toBeUndefined();
    expect(await th.failure('hg-a', undefined)).toBeDefined();
  });

  it('a successful login clears its username (not the address)', async () => {
    const th = new LoginThrottle({ settings, now });
    await th.failure('hg-a', '10.0.0.1');
    await th.failure('hg-a', '10.0.0.1');
    await th.success('hg-a');
    expect(await th.failure('hg-a', '10.0.0.1')).toBeUndefined();
    expect(await th.failure('hg-a', '10.0.0.1')).toBeUndefined();
    // Address: 5 failures in total now.
    expect(await th.failure('hg-x', '10.0.0.1')).toEqual({ scope: 'client', retryAfterSeconds: 120 });
    expect((await th.check('hg-new', '10.0.0.1'))?.scope).toBe('client');
    expect(await th.check('hg-new', '10.0.0.2')).toBeUndefined();
  });

  it('blocks an address that sprays many usernames', async () => {
    const th = new LoginThrottle({ settings, now });
    for (let i = 0; i < 4; i++) expect(await th.failure(`hg-${i}`, '192.0.2.7')).toBeUndefined();
    expect(await th.failure('hg-9', '192.0.2.7')).toEqual({ scope: 'client', retryAfterSeconds: 120 });
  });

  it('shares counters through the cache while Redis is up: a second replica sees the block', async () => {
    const cache = new FakeCache(now);
    const up = { shared: () => true };
    const r1 = new LoginThrottle({ settings, now, cache, coordination: up });
    const r2 = new LoginThrottle({ settings, now, cache, coordination: up });
    await r1.failure('hg-a', undefined);
    await r2.failure('hg-a', undefined);
    expect(await r1.failure('hg-a', undefined)).toBeDefined();
    expect(await r2.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    // Nothing in clear in the shared store.
    for (const k of cache.data.keys()) expect(k).not.toContain('hg-a');
  });

  it('keeps working in-process when Redis is down (the cache is not consulted)', async () => {
    const cache = new FakeCache(now);
    const get = jest.spyOn(cache, 'get');
    const th = new LoginThrottle({ settings, now, cache, coordination: { shared: () => false } });
    for (let i = 0; i < 2; i++) await th.failure('hg-a', undefined);
    expect(await th.failure('hg-a', undefined)).toBeDefined();
    expect(await th.check('hg-a', undefined)).toBeDefined();
    expect(get).not.toHaveBeenCalled();
    expect(cache.data.size).toBe(0);
  });

  it('survives a failing cache', async () => {
    const broken: Cache = { get: () => Promise.reject(new Error('down')), set: () => Promise.reject(new Error('down')), del: () => Promise.reject(new Error('down')) };
    const th = new LoginThrottle({ settings, now, cache: broken, coordination: { shared: () => true } });
    for (let i = 0; i < 2; i++) await th.failure('hg-a', undefined);
    expect(await th.failure('hg-a', undefined)).toBeDefined();
    await th.success('hg-a');
    expect(await th.check('hg-a', undefined)).toBeUndefined();
  });
});
