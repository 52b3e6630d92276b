import { createHash } from 'node:crypto';
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
    expect(await th.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
  });

  it('a successful login clears its (username, address) pair (not the address)', async () => {
    const th = new LoginThrottle({ settings, now });
    await th.failure('hg-a', '10.0.0.1');
    await th.failure('hg-a', '10.0.0.1');
    await th.success('hg-a', '10.0.0.1');
    expect(await th.failure('hg-a', '10.0.0.1')).toBeUndefined();
    expect(await th.failure('hg-a', '10.0.0.1')).toBeUndefined();
    // Address: 5 failures in total now.
    expect(await th.failure('hg-x', '10.0.0.1')).toEqual({ scope: 'client', retryAfterSeconds: 120 });
    expect((await th.check('hg-new', '10.0.0.1'))?.scope).toBe('client');
    expect(await th.check('hg-new', '10.0.0.2')).toBeUndefined();
  });

  it("an attacker's failures block the attacker's pair and address, never the owner's login from elsewhere", async () => {
    const th = new LoginThrottle({ settings, now });
    let blocked;
    for (let i = 0; i < 3; i++) blocked = await th.failure('hg-victim', '203.0.113.66');
    expect(blocked).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    expect(await th.check('hg-victim', '203.0.113.66')).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    // The project's CI, from its own address: not blocked; its success does not unblock the attacker.
    expect(await th.check('hg-victim', '10.20.30.40')).toBeUndefined();
    await th.success('hg-victim', '10.20.30.40');
    expect((await th.check('hg-victim', '203.0.113.66'))?.scope).toBe('username');
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
    expect(await r1.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    expect(await r2.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    // Nothing in clear in the shared store.
    for (const k of cache.data.keys()) expect(k).not.toContain('hg-a');
  });

  it('keeps working in-process when Redis is down (the cache is not consulted)', async () => {
    const cache = new FakeCache(now);
    const get = jest.spyOn(cache, 'get');
    const th = new LoginThrottle({ settings, now, cache, coordination: { shared: () => false } });
    for (let i = 0; i < 2; i++) await th.failure('hg-a', undefined);
    expect(await th.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    expect(await th.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    expect(get).not.toHaveBeenCalled();
    expect(cache.data.size).toBe(0);
  });

  it('survives a failing cache', async () => {
    const broken: Cache = { get: () => Promise.reject(new Error('down')), set: () => Promise.reject(new Error('down')), del: () => Promise.reject(new Error('down')) };
    const th = new LoginThrottle({ settings, now, cache: broken, coordination: { shared: () => true } });
    for (let i = 0; i < 2; i++) await th.failure('hg-a', undefined);
    expect(await th.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    await th.success('hg-a');
    expect(await th.check('hg-a', undefined)).toBeUndefined();
  });
});

/**
 * Two replicas sharing one Redis (FakeCache) — Redis is the source of truth while it answers; the in-process copy
 * is the fallback for an outage.
 */
describe('failed-login throttle: replicas sharing Redis', () => {
  let t: number;
  const now = () => t;
  let cache: FakeCache;
  /** Whether Redis is reachable (coordination.shared()). */
  let up: boolean;
  const coordination = { shared: () => up };
  const replica = () => new LoginThrottle({ settings, now, cache, coordination });
  /** The key of a (username, address) pair; these tests count without an address. */
  const userKey = (u: string, address = '') => `registry-login:p:${createHash('sha256').update(`${u}\0${address}`).digest('hex').slice(0, 32)}`;

  /** One login as the registry front does it (login.ts): blocked → 429; right → success, 200; wrong → failure, 401. */
  const login = async (th: LoginThrottle, username: string, right: boolean): Promise<200 | 401 | 429> => {
    if (await th.check(username, undefined)) return 429;
    if (right) {
      await th.success(username);
      return 200;
    }
    await th.failure(username, undefined);
    return 401;
  };

  beforeEach(() => {
    t = 1_000_000;
    cache = new FakeCache(now);
    up = true;
  });

  it('a success on B clears the failures A counted (A wrong, A wrong, B right, A wrong, A right, B right)', async () => {
    const a = replica();
    const b = replica();
    const seq: [LoginThrottle, boolean][] = [
      [a, false],
      [a, false],
      [b, true],
      [a, false],
      [a, true],
      [b, true],
    ];
    const got: number[] = [];
    for (const [th, right] of seq) {
      got.push(await login(th, 'hg-a', right));
      t += 100;
    }
    expect(got).toEqual([401, 401, 200, 401, 200, 200]);
  });

  it('after a success on B, A needs the full number of failures again to block', async () => {
    const a = replica();
    const b = replica();
    await a.failure('hg-a', undefined);
    await a.failure('hg-a', undefined);
    await b.success('hg-a');
    expect(await a.failure('hg-a', undefined)).toBeUndefined();
    expect(await a.failure('hg-a', undefined)).toBeUndefined();
    expect(await a.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    expect(await b.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
  });

  it('Redis answering "no entry" wins over the local copy (e.g. Redis restarted empty)', async () => {
    const a = replica();
    await a.failure('hg-a', undefined);
    await a.failure('hg-a', undefined);
    cache.data.clear();
    expect(await a.failure('hg-a', undefined)).toBeUndefined();
    expect(JSON.parse(JSON.stringify(await cache.get(userKey('hg-a'))))).toMatchObject({ n: 1, b: 0 });
  });

  it('a success leaves a "cleared at" entry in Redis, with a bounded TTL', async () => {
    const a = replica();
    await a.failure('hg-a', undefined);
    t += 5_000;
    await a.success('hg-a', undefined);
    const stored = cache.data.get(userKey('hg-a'));
    expect(stored?.v).toEqual({ n: 0, w: 0, b: 0, c: t });
    // max(window 60 s, block 120 s) + 1 s.
    expect(stored!.until - t).toBe(121_000);
    t += 121_000;
    expect(await cache.get(userKey('hg-a'))).toBeUndefined();
  });

  it('a block is kept in the local copy while Redis is down, and Redis is trusted again once it answers', async () => {
    const a = replica();
    const b = replica();
    for (let i = 0; i < 3; i++) await a.failure('hg-a', undefined);
    // B saw the block in Redis; Redis goes down: B still refuses (its copy is the last state it saw).
    expect(await b.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    up = false;
    expect(await b.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    up = true;
    // Meanwhile the key was removed in Redis (an operator, a flush): Redis is the truth.
    cache.data.clear();
    expect(await b.check('hg-a', undefined)).toBeUndefined();
    up = false;
    expect(await b.check('hg-a', undefined)).toBeUndefined();
  });

  it('a Redis GET that fails quietly (the adapter answers undefined and shared() turns false) falls back to the local copy', async () => {
    const a = replica();
    for (let i = 0; i < 3; i++) await a.failure('hg-a', undefined);
    const get = jest.spyOn(cache, 'get').mockImplementation(() => {
      up = false;
      return Promise.resolve(undefined);
    });
    expect(await a.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    expect(get).toHaveBeenCalledTimes(1);
  });

  it('failures counted while Redis was down are carried into Redis when it is back', async () => {
    const a = replica();
    const b = replica();
    up = false;
    await a.failure('hg-a', undefined);
    await a.failure('hg-a', undefined);
    expect(cache.data.size).toBe(0);
    up = true;
    t += 1_000;
    // The next failure, on B, is the third: A's two are in Redis as soon as A touches the key again.
    expect(await a.check('hg-a', undefined)).toBeUndefined();
    expect(await cache.get(userKey('hg-a'))).toMatchObject({ n: 2, b: 0 });
    expect(await b.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    expect(await a.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
  });

  it('a block imposed while Redis was down reaches the other replicas when Redis is back', async () => {
    const a = replica();
    const b = replica();
    up = false;
    for (let i = 0; i < 3; i++) await a.failure('hg-a', undefined);
    up = true;
    t += 10_000;
    expect(await a.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 110 });
    expect(await b.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 110 });
  });

  it('a success recorded in Redis after the outage overrules the failures a replica counted during it', async () => {
    const a = replica();
    const b = replica();
    up = false;
    await a.failure('hg-a', undefined);
    await a.failure('hg-a', undefined);
    t += 1_000;
    up = true;
    expect(await login(b, 'hg-a', true)).toBe(200);
    t += 1_000;
    // A's two failures are older than the success: one more is one, not three.
    expect(await login(a, 'hg-a', false)).toBe(401);
    expect(await login(a, 'hg-a', true)).toBe(200);
    expect(await login(b, 'hg-a', true)).toBe(200);
  });

  it('failures counted during an outage after the last success still count', async () => {
    const a = replica();
    const b = replica();
    await b.success('hg-a');
    t += 1_000;
    up = false;
    await a.failure('hg-a', undefined);
    await a.failure('hg-a', undefined);
    t += 1_000;
    up = true;
    expect(await a.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    expect(await b.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
  });

  it('a success while Redis is down clears the local copy and issues a delete (the adapter replays it)', async () => {
    const a = replica();
    await a.failure('hg-a', undefined);
    await a.failure('hg-a', undefined);
    up = false;
    const set = jest.spyOn(cache, 'set');
    const del = jest.spyOn(cache, 'del');
    await a.success('hg-a');
    expect(set).not.toHaveBeenCalled();
    expect(del).toHaveBeenCalledWith(userKey('hg-a'));
    expect(await a.failure('hg-a', undefined)).toBeUndefined();
    expect(await a.failure('hg-a', undefined)).toBeUndefined();
  });
});

/** Edges of the counting rules and of the Redis/local hand-over (Stryker survivors and their neighbours). */

/** Two replicas sharing one Redis (a FakeCache) on clock `now`: A has lost Redis (counting on its own) until `reconnect()`, B has it. */
function outageOfA(now: () => number) {
  const cache = new FakeCache(now);
  let aUp = false;
  const a = new LoginThrottle({ settings, now, cache, coordination: { shared: () => aUp } });
  const b = new LoginThrottle({ settings, now, cache, coordination: { shared: () => true } });
  return { cache, a, b, reconnect: () => void (aUp = true) };
}

describe('failed-login throttle: edges', () => {
  let t: number;
  const now = () => t;
  const userKey = (u: string, address = '') => `registry-login:p:${createHash('sha256').update(`${u}\0${address}`).digest('hex').slice(0, 32)}`;
  beforeEach(() => {
    t = 1_000_000;
  });

  it('a failure exactly one window after the first starts a new window', async () => {
    const th = new LoginThrottle({ settings, now });
    await th.failure('hg-a', undefined);
    await th.failure('hg-a', undefined);
    t += 59_999;
    expect(await th.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    const th2 = new LoginThrottle({ settings, now });
    await th2.failure('hg-b', undefined);
    await th2.failure('hg-b', undefined);
    t += 60_000;
    expect(await th2.failure('hg-b', undefined)).toBeUndefined();
  });

  it('a block ends to the millisecond; its last second is still answered with Retry-After 1', async () => {
    const th = new LoginThrottle({ settings, now });
    for (let i = 0; i < 3; i++) await th.failure('hg-a', undefined);
    t += 120_000 - 1;
    expect(await th.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 1 });
    t += 1;
    expect(await th.check('hg-a', undefined)).toBeUndefined();
  });

  it('a failure during a block does not extend it', async () => {
    const th = new LoginThrottle({ settings, now });
    for (let i = 0; i < 3; i++) await th.failure('hg-a', undefined);
    t += 30_000;
    // As many failures as the limit (racing logins that passed the check before the block): still 90 s left.
    for (let i = 0; i < 3; i++) expect(await th.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 90 });
    expect(await th.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 90 });
  });

  it('when both the pair and the address are blocked, the longer wait is reported', async () => {
    const th = new LoginThrottle({ settings, now });
    for (let i = 0; i < 3; i++) await th.failure('hg-a', '192.0.2.1');
    t += 30_000;
    await th.failure('hg-b', '192.0.2.1');
    // The address reaches 5 failures: blocked for 120 s; the pair has 90 s left.
    expect(await th.failure('hg-c', '192.0.2.1')).toEqual({ scope: 'client', retryAfterSeconds: 120 });
    expect(await th.check('hg-a', '192.0.2.1')).toEqual({ scope: 'client', retryAfterSeconds: 120 });
    t += 60_000;
    expect(await th.check('hg-a', '192.0.2.1')).toEqual({ scope: 'client', retryAfterSeconds: 60 });
  });

  it('the pair blocked longer than the address: the pair is reported', async () => {
    const th = new LoginThrottle({ settings: { ...settings, maxFailuresPerAddress: 3, maxFailuresPerUser: 5 }, now });
    for (let i = 0; i < 3; i++) await th.failure(`hg-${i}`, '192.0.2.1');
    t += 30_000;
    for (let i = 0; i < 4; i++) await th.failure('hg-a', '192.0.2.1');
    expect(await th.failure('hg-a', '192.0.2.1')).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    expect(await th.check('hg-a', '192.0.2.1')).toEqual({ scope: 'username', retryAfterSeconds: 120 });
  });

  it('failures without a username count toward the address only', async () => {
    const th = new LoginThrottle({ settings, now });
    for (let i = 0; i < 4; i++) expect(await th.failure(undefined, '192.0.2.9')).toBeUndefined();
    expect(await th.failure(undefined, '192.0.2.9')).toEqual({ scope: 'client', retryAfterSeconds: 120 });
    expect(await th.check(undefined, undefined)).toBeUndefined();
  });

  it('the in-process table is bounded: past the bound, the oldest key is forgotten first (a rewritten key is the newest)', async () => {
    const th = new LoginThrottle({ settings, now, maxLocalEntries: 2 });
    await th.failure('hg-a', undefined);
    await th.failure('hg-a', undefined);
    await th.failure('hg-b', undefined);
    await th.failure('hg-b', undefined);
    // hg-a written again (its third failure blocks it): hg-b is now the oldest and goes when hg-c comes.
    expect(await th.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    await th.failure('hg-c', undefined);
    expect(await th.failure('hg-b', undefined)).toBeUndefined();
    // hg-b's return dropped hg-a (the oldest now): its block is forgotten by this process.
    expect(await th.check('hg-a', undefined)).toBeUndefined();
    expect(await th.failure('hg-c', undefined)).toBeUndefined();
  });

  it('the bound holds exactly: with room for two keys, two are kept', async () => {
    const th = new LoginThrottle({ settings, now, maxLocalEntries: 2 });
    await th.failure('hg-a', undefined);
    await th.failure('hg-a', undefined);
    await th.failure('hg-b', undefined);
    expect(await th.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
  });

  it('a Redis SET that fails quietly (shared() turns false) leaves the entry unsynced: carried into Redis when it is back', async () => {
    const cache = new FakeCache(now);
    let up = true;
    const th = new LoginThrottle({ settings, now, cache, coordination: { shared: () => up } });
    const set = jest.spyOn(cache, 'set').mockImplementationOnce(() => {
      up = false;
      return Promise.resolve();
    });
    await th.failure('hg-a', undefined);
    expect(cache.data.size).toBe(0);
    set.mockRestore();
    up = true;
    t += 1_000;
    await th.check('hg-a', undefined);
    expect(await cache.get(userKey('hg-a'))).toMatchObject({ n: 1, w: 1_000_000, b: 0 });
  });

  it('failures counted during an outage whose window has passed are not carried into Redis', async () => {
    const cache = new FakeCache(now);
    let up = false;
    const th = new LoginThrottle({ settings, now, cache, coordination: { shared: () => up } });
    await th.failure('hg-a', undefined);
    await th.failure('hg-a', undefined);
    up = true;
    t += 60_000;
    expect(await th.check('hg-a', undefined)).toBeUndefined();
    expect(cache.data.size).toBe(0);
  });

  it('a success recorded at the same millisecond as failures counted during the outage overrules them', async () => {
    const { cache, a, b, reconnect } = outageOfA(now);
    await a.failure('hg-a', undefined);
    await a.failure('hg-a', undefined);
    await b.success('hg-a');
    reconnect();
    expect(await a.failure('hg-a', undefined)).toBeUndefined();
    expect(await cache.get(userKey('hg-a'))).toMatchObject({ n: 1, c: 1_000_000 });
  });

  it('merging an outage count into Redis, same window: the higher count wins, and the block follows', async () => {
    const { cache, a, b, reconnect } = outageOfA(now);
    await a.failure('hg-a', undefined);
    await a.failure('hg-a', undefined);
    await b.failure('hg-a', undefined);
    reconnect();
    await a.check('hg-a', undefined);
    expect(await cache.get(userKey('hg-a'))).toEqual({ n: 2, w: 1_000_000, b: 0 });
    expect(await b.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
  });

  it('merging, same window, Redis counted more: Redis stays', async () => {
    const { cache, a, b, reconnect } = outageOfA(now);
    await a.failure('hg-a', undefined);
    await b.failure('hg-a', undefined);
    await b.failure('hg-a', undefined);
    reconnect();
    await a.check('hg-a', undefined);
    expect(await cache.get(userKey('hg-a'))).toEqual({ n: 2, w: 1_000_000, b: 0 });
  });

  it('merging, different windows: the later window wins whichever side holds it; the later block and clear are kept', async () => {
    const { cache, a, b, reconnect } = outageOfA(now);
    // Redis: an older window with a success before it; A (offline): a later window with two failures.
    await b.success('hg-a');
    t += 1_000;
    await b.failure('hg-a', undefined);
    t += 1_000;
    await a.failure('hg-a', undefined);
    await a.failure('hg-a', undefined);
    reconnect();
    await a.check('hg-a', undefined);
    expect(await cache.get(userKey('hg-a'))).toEqual({ n: 2, w: 1_002_000, b: 0, c: 1_000_000 });

    // The other way round: A's offline window is the older one, Redis's the later.
    const second = outageOfA(now);
    await second.a.failure('hg-a', undefined);
    await second.a.failure('hg-a', undefined);
    t += 1_000;
    await second.b.failure('hg-a', undefined);
    second.reconnect();
    await second.a.check('hg-a', undefined);
    expect(await second.cache.get(userKey('hg-a'))).toEqual({ n: 1, w: 1_003_000, b: 0 });
  });

  it('merging keeps the later block of the two', async () => {
    const { a, b, reconnect } = outageOfA(now);
    for (let i = 0; i < 3; i++) await a.failure('hg-a', undefined);
    t += 1_000;
    await b.failure('hg-a', undefined);
    reconnect();
    expect(await a.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 119 });
    expect(await b.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 119 });
  });

  it('a Redis entry carrying a longer block than this replica blocks for lives in Redis until the block is over', async () => {
    const cache = new FakeCache(now);
    const shared = { shared: () => true };
    const long = new LoginThrottle({ settings: { ...settings, blockSeconds: 600 }, now, cache, coordination: shared });
    const short = new LoginThrottle({ settings, now, cache, coordination: shared });
    for (let i = 0; i < 3; i++) await long.failure('hg-a', undefined);
    await short.failure('hg-a', undefined);
    // Written by the 120 s replica: kept max(60, 120, 600) + 1 s.
    expect(cache.data.get(userKey('hg-a'))!.until - t).toBe(601_000);
    t += 500_000;
    expect(await short.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 100 });
  });

  it('keeps the "cleared at" time through later failures, so an older outage count cannot come back', async () => {
    const cache = new FakeCache(now);
    const b = new LoginThrottle({ settings, now, cache, coordination: { shared: () => true } });
    await b.success('hg-a');
    t += 1_000;
    await b.failure('hg-a', undefined);
    expect(await cache.get(userKey('hg-a'))).toEqual({ n: 1, w: 1_001_000, b: 0, c: 1_000_000 });
  });

  it('an entry in Redis that is not a throttle entry counts as none', async () => {
    const cache = new FakeCache(now);
    const th = new LoginThrottle({ settings, now, cache, coordination: { shared: () => true } });
    for (const junk of [null, 'x', 7, { n: 1, w: 1 }, { n: '1', w: 1, b: 0 }, { n: 1, w: '1', b: 0 }, { n: 1, w: 1, b: '0' }, { n: 5, w: t, b: t + 9_000, c: 'x' }]) {
      await cache.set(userKey('hg-a'), junk, 60);
      expect([junk, await th.check('hg-a', undefined)]).toEqual([junk, undefined]);
    }
    await cache.set(userKey('hg-a'), { n: 0, w: t, b: t + 9_000, c: t }, 60);
    expect(await th.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 9 });
  });
});

/** Stryker survivors of the run on throttle.ts lines 153–206. */
describe('failed-login throttle: which block is reported, and the block end', () => {
  let t: number;
  const now = () => t;
  beforeEach(() => {
    t = 1_000_000;
  });

  it('pair and address blocked at the same moment for the same time: the pair (username scope) is reported', async () => {
    const th = new LoginThrottle({ settings: { ...settings, maxFailuresPerAddress: 3 }, now });
    await th.failure('hg-a', '192.0.2.1');
    await th.failure('hg-a', '192.0.2.1');
    expect(await th.failure('hg-a', '192.0.2.1')).toEqual({ scope: 'username', retryAfterSeconds: 120 });
    expect(await th.check('hg-a', '192.0.2.1')).toEqual({ scope: 'username', retryAfterSeconds: 120 });
  });

  it('a failure of a blocked pair that blocks its address too reports the longer (address) block', async () => {
    const th = new LoginThrottle({ settings, now });
    for (let i = 0; i < 3; i++) await th.failure('hg-a', '192.0.2.1');
    t += 30_000;
    await th.failure('hg-b', '192.0.2.1');
    // hg-a's pair has 90 s left; this failure is the address's fifth: 120 s.
    expect(await th.failure('hg-a', '192.0.2.1')).toEqual({ scope: 'client', retryAfterSeconds: 120 });
  });

  it('at the very millisecond a block ends: no longer blocked, and failures then count toward a new block at once', async () => {
    const th = new LoginThrottle({ settings, now });
    for (let i = 0; i < 3; i++) await th.failure('hg-a', undefined);
    t += 120_000;
    expect(await th.failure('hg-a', undefined)).toBeUndefined();
    expect(await th.failure('hg-a', undefined)).toBeUndefined();
    expect(await th.failure('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 120 });
  });
});

/** Stryker survivors of the whole-file run on throttle.ts (e54c632). */
describe('failed-login throttle: what reaches Redis after an outage, and Redis errors', () => {
  let t: number;
  const now = () => t;
  const userKey = (u: string, address = '') => `registry-login:p:${createHash('sha256').update(`${u}\0${address}`).digest('hex').slice(0, 32)}`;
  beforeEach(() => {
    t = 1_000_000;
  });

  it('a block imposed during an outage that is over when Redis is back is not written into Redis (at its last millisecond and after)', async () => {
    for (const after of [120_000, 121_000]) {
      t = 1_000_000;
      const cache = new FakeCache(now);
      let up = false;
      const th = new LoginThrottle({ settings, now, cache, coordination: { shared: () => up } });
      for (let i = 0; i < 3; i++) await th.failure('hg-a', undefined);
      t += after;
      up = true;
      expect([after, await th.check('hg-a', undefined), cache.data.size]).toEqual([after, undefined, 0]);
    }
  });

  it('a Redis GET that throws (shared() still true) falls back to the local copy: the block holds', async () => {
    const cache = new FakeCache(now);
    const th = new LoginThrottle({ settings, now, cache, coordination: { shared: () => true } });
    for (let i = 0; i < 3; i++) await th.failure('hg-a', undefined);
    jest.spyOn(cache, 'get').mockRejectedValue(new Error('connection reset'));
    t += 30_000;
    expect(await th.check('hg-a', undefined)).toEqual({ scope: 'username', retryAfterSeconds: 90 });
  });

  it('a success whose Redis SET fails quietly (shared() turns false) also issues the delete the adapter replays', async () => {
    const cache = new FakeCache(now);
    let up = true;
    const th = new LoginThrottle({ settings, now, cache, coordination: { shared: () => up } });
    await th.failure('hg-a', undefined);
    jest.spyOn(cache, 'set').mockImplementationOnce(() => {
      up = false;
      return Promise.resolve();
    });
    const del = jest.spyOn(cache, 'del');
    await th.success('hg-a');
    expect(del.mock.calls).toEqual([[userKey('hg-a')]]);
  });

  it('merging: a later window counted during the outage wins over an older Redis window with more failures', async () => {
    const { cache, a, b, reconnect } = outageOfA(now);
    await b.failure('hg-a', undefined);
    await b.failure('hg-a', undefined);
    t += 1_000;
    await a.failure('hg-a', undefined);
    reconnect();
    await a.check('hg-a', undefined);
    expect(await cache.get(userKey('hg-a'))).toEqual({ n: 1, w: 1_001_000, b: 0 });
  });

  it('junk in Redis never weakens the failures counted during an outage: the third one still blocks', async () => {
    const junks: unknown[] = [null, 'x', 7, { n: 0, w: 'x', b: 0 }, { n: 0, w: 1_000_000, b: 'x' }, { n: 'x', w: 1_000_000, b: 0 }, { n: 0, w: 1_000_000 }, { w: 1_000_000, b: 0 }];
    for (const junk of junks) {
      const cache = new FakeCache(now);
      let up = false;
      const th = new LoginThrottle({ settings, now, cache, coordination: { shared: () => up } });
      await th.failure('hg-a', undefined);
      await th.failure('hg-a', undefined);
      await cache.set(userKey('hg-a'), junk, 60);
      up = true;
      expect([junk, await th.failure('hg-a', undefined)]).toEqual([junk, { scope: 'username', retryAfterSeconds: 120 }]);
    }
  });

  it('junk in Redis does not count as failures: one failure over it is the first', async () => {
    for (const junk of [{ n: '9', w: 1_000_000, b: 0 }, { n: 9, w: '1000000', b: 0 }, { n: 9, w: 1_000_000, b: '0' }]) {
      const cache = new FakeCache(now);
      const th = new LoginThrottle({ settings, now, cache, coordination: { shared: () => true } });
      await cache.set(userKey('hg-a'), junk, 60);
      expect([junk, await th.failure('hg-a', undefined)]).toEqual([junk, undefined]);
      expect(await cache.get(userKey('hg-a'))).toEqual({ n: 1, w: 1_000_000, b: 0 });
    }
  });
});
