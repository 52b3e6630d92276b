import Redis from 'ioredis';
import { createCoordination, type CoordinationOptions, type CoordinationService } from '../../adapters/redis/redis.coordination';
import { LOCK_BUSY_MESSAGE } from '../../adapters/redis/local.locks';
import { AppError } from '../../src/domain/errors';
import { createLogger } from '../../src/observability/logger';
import { startRedis, startTcpProxy, type TestRedis } from '../support/redis';
import { requireTools } from '../support/tools';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Generous "does not hang" bound for one operation while Redis is down or frozen (command timeout is 500 ms). */
const NO_HANG_MS = 1500;

async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await p;
  return { value, ms: Date.now() - started };
}

/** Polls until cond() holds (or fails after timeoutMs) — for reconnects, whose timing is the client's. */
async function eventually(cond: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(100);
  }
}

/**
 * Read-modify-write of a counter stored in Redis with a pause between read and write: without mutual
 * exclusion, concurrent increments overwrite each other.
 */
async function increment(raw: Redis, key: string): Promise<void> {
  const v = Number((await raw.get(key)) ?? '0');
  await sleep(5);
  await raw.set(key, String(v + 1));
}

const ready = requireTools('Redis coordination', ['redis-server']).available;

(ready ? describe : describe.skip)('Redis coordination (real redis-server)', () => {
  let redis: TestRedis;
  let raw: Redis;
  const opened: CoordinationService[] = [];
  /** A coordination on this test's Redis (or `redisUrl`), closed after the test, once it answers. */
  const open = async (extra: Partial<CoordinationOptions> = {}): Promise<CoordinationService> => {
    const c = createCoordination({ redisUrl: redis.url, ...extra });
    opened.push(c);
    await eventually(() => c.ping(), 5000);
    return c;
  };

  /** A logger whose lines the test reads. */
  const logged = () => {
    const lines: string[] = [];
    return { lines, logger: createLogger('info', (l) => lines.push(l)), entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
  };

  /** Calls Redis has served per command since the last CONFIG RESETSTAT (INFO commandstats), for the names asked. */
  const served = async (...commands: string[]): Promise<Record<string, number>> => {
    const stats = await raw.info('commandstats');
    return Object.fromEntries(commands.map((c) => [c, Number(new RegExp(`cmdstat_${c}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)]));
  };

  /**
   * Makes the server a read-only replica (of a master that is not there: port 1) for the duration of fn: it keeps
   * its data and answers reads, PING and INFO, while every write — a delete included — fails with READONLY.
   */
  const readOnly = async <T>(fn: () => Promise<T>): Promise<T> => {
    await raw.call('REPLICAOF', '127.0.0.1', '1');
    try {
      return await fn();
    } finally {
      await raw.call('REPLICAOF', 'NO', 'ONE');
    }
  };

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.close();
  });
  beforeEach(async () => {
    if (!redis.running) await redis.restart();
    raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    await raw.flushall();
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await Promise.all(opened.splice(0).map((c) => c.close()));
    raw.disconnect();
  });

  it('is shared once connected and keeps keys under the hubgate: prefix', async () => {
    const c = await open();
    expect(c.shared()).toBe(true);
    expect(c.redisUp()).toBe(1);
    await c.set('catalog', { a: [1, 2] }, 60);
    expect(await raw.get('hubgate:cache:catalog')).toBe('{"a":[1,2]}');
    const ttl = await raw.pttl('hubgate:cache:catalog');
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await c.withLock('workspace:x', async () => {
      expect(await raw.exists('hubgate:lock:workspace:x')).toBe(1);
    });
    expect(await raw.exists('hubgate:lock:workspace:x')).toBe(0);
  });

  it('control: the counter loses updates without a lock (so the lock tests below can fail)', async () => {
    await Promise.all(Array.from({ length: 20 }, () => increment(raw, 'counter')));
    expect(Number(await raw.get('counter'))).toBeLessThan(20);
  });

  it('serialises callers within one process', async () => {
    const c = await open();
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        c.withLock('counter', async () => {
          inside += 1;
          maxInside = Math.max(maxInside, inside);
          await increment(raw, 'counter');
          inside -= 1;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect(Number(await raw.get('counter'))).toBe(20);
  });

  it('serialises callers across two instances sharing Redis (two replicas): no lost update', async () => {
    const a = await open();
    const b = await open();
    const runs = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).withLock('counter', () => increment(raw, 'counter'), { waitMs: 30_000 }));
    await Promise.all(runs);
    expect(Number(await raw.get('counter'))).toBe(30);
    expect(await raw.exists('hubgate:lock:counter')).toBe(0);
  });

  it('does not let another replica take a lock a slow holder keeps alive past its TTL (watchdog)', async () => {
    const a = await open();
    const b = await open();
    let bRan = false;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const holder = a.withLock('slow', () => held, { ttlMs: 300 });
    await eventually(async () => (await raw.exists('hubgate:lock:slow')) === 1, 5000);
    // Well past the TTL, the lock is still held ...
    const attempt = b.withLock('slow', async () => void (bRan = true), { waitMs: 1200 });
    await expect(attempt).rejects.toMatchObject({ kind: 'conflict' });
    expect(bRan).toBe(false);
    release();
    await holder;
    // ... and free once released.
    await b.withLock('slow', async () => void (bRan = true), { waitMs: 2000 });
    expect(bRan).toBe(true);
  });

  it('frees the lock of a crashed holder when its TTL expires', async () => {
    const c = await open();
    // A replica that died while holding the lock: its key stays until the TTL.
    await raw.set('hubgate:lock:robot:x', 'token-of-a-dead-replica', 'PX', 800);
    await expect(c.withLock('robot:x', async () => 'early', { waitMs: 100 })).rejects.toBeInstanceOf(AppError);
    await expect(c.withLock('robot:x', async () => 'after-ttl', { waitMs: 10_000 })).resolves.toBe('after-ttl');
  });

  it('only releases its own lock (compare-and-delete)', async () => {
    const c = await open();
    await c.withLock('mine', async () => {
      // The lock expired and someone else took it meanwhile.
      await raw.set('hubgate:lock:mine', 'someone-else', 'PX', 10_000);
    });
    expect(await raw.get('hubgate:lock:mine')).toBe('someone-else');
  });

  it('caches JSON with TTL and deletes exact keys and prefixes (glob characters taken literally)', async () => {
    const c = await open();
    await c.set('catalog', { n: 1 }, 60);
    await c.set('ws:a', 1, 60);
    await c.set('ws:b', 2, 60);
    await c.set('ws[x]', 3, 60);
    await c.set('wsX', 4, 60);
    await c.set('short', 'x', 0.2);
    expect(await c.get('catalog')).toEqual({ n: 1 });
    await c.del('ws:*', 'catalog');
    expect(await c.get('catalog')).toBeUndefined();
    expect(await c.get('ws:a')).toBeUndefined();
    expect(await c.get('ws:b')).toBeUndefined();
    expect(await c.get('ws[x]')).toBe(3);
    expect(await c.get('wsX')).toBe(4);
    await c.del('ws[*');
    expect(await c.get('ws[x]')).toBeUndefined();
    expect(await c.get('wsX')).toBe(4);
    await eventually(async () => (await c.get('short')) === undefined, 3000);
    // Another instance sees the same cache.
    const other = await open();
    expect(await other.get('wsX')).toBe(4);
  });

  it('degrades to in-process when Redis stops, without hanging, and is shared again after a restart', async () => {
    const lines: string[] = [];
    const c = await open({ logger: createLogger('info', (l) => lines.push(l)) });
    await c.set('k', 'v', 60);
    expect(await c.get('k')).toBe('v');

    await redis.stop();

    const lock = await timed(c.withLock('w', async () => 'ran'));
    expect(lock.value).toBe('ran');
    expect(lock.ms).toBeLessThan(NO_HANG_MS);
    expect(c.shared()).toBe(false);
    expect(c.redisUp()).toBe(0);

    const get = await timed(c.get('k'));
    expect(get.value).toBeUndefined();
    expect(get.ms).toBeLessThan(NO_HANG_MS);
    expect((await timed(c.set('k', 'v2', 60))).ms).toBeLessThan(NO_HANG_MS);
    expect((await timed(c.del('k', 'p*'))).ms).toBeLessThan(NO_HANG_MS);

    // Still mutual exclusion inside the process.
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        c.withLock('w', async () => {
          inside += 1;
          maxInside = Math.max(maxInside, inside);
          await sleep(5);
          inside -= 1;
        }),
      ),
    );
    expect(maxInside).toBe(1);

    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].msg).toMatch(/redis unavailable/);

    await redis.restart();
    await eventually(async () => (await c.ping()) && c.shared());
    expect(c.redisUp()).toBe(1);
    await c.set('k2', 'back', 60);
    expect(await c.get('k2')).toBe('back');
    expect(lines.some((l) => JSON.parse(l).msg.startsWith('redis reachable again'))).toBe(true);
  });

  it('does not hang while Redis is frozen (SIGSTOP), and recovers when it continues', async () => {
    const c = await open();
    await c.set('k', 'before', 60);
    await redis.pause();
    try {
      const lock = await timed(c.withLock('frozen', async () => 'ran'));
      expect(lock.value).toBe('ran');
      expect(lock.ms).toBeLessThan(NO_HANG_MS);
      const get = await timed(c.get('k'));
      expect(get.value).toBeUndefined();
      expect(get.ms).toBeLessThan(NO_HANG_MS);
      expect(c.shared()).toBe(false);
    } finally {
      await redis.resume();
    }
    await eventually(async () => (await c.get('k')) === 'before');
    expect(c.shared()).toBe(true);
  });

  it('replays cache deletes that failed during an outage once Redis is back', async () => {
    const proxy = await startTcpProxy(redis.port);
    try {
      const lines: string[] = [];
      const c = await open({ redisUrl: proxy.url, logger: createLogger('info', (l) => lines.push(l)) });
      await c.set('catalog', { stale: true }, 600);
      await c.set('ws:a', 1, 600);
      await c.set('ws:b', 2, 600);
      await c.set('other', 3, 600);
      await c.set('catalog2', 4, 600);

      proxy.cut(); // the server keeps its data, this replica cannot reach it
      // Once the outage is noticed, a delete fails at once (no offline queue): nothing of it reaches Redis later.
      await eventually(() => !c.shared(), 5000);
      await c.del('catalog', 'ws:*');
      expect(c.shared()).toBe(false);
      expect(await raw.exists('hubgate:cache:catalog', 'hubgate:cache:ws:a', 'hubgate:cache:ws:b')).toBe(3);

      proxy.restore();
      // Other replicas would read the stale values; the replay removes them — `catalog` as a key, not a prefix.
      await eventually(async () => (await raw.exists('hubgate:cache:catalog', 'hubgate:cache:ws:a', 'hubgate:cache:ws:b')) === 0);
      expect(await raw.exists('hubgate:cache:other', 'hubgate:cache:catalog2')).toBe(2);
      const replayed = lines.map((l) => JSON.parse(l)).find((l) => l.msg.startsWith('replayed cache invalidations'));
      expect(replayed).toMatchObject({ level: 'info', keys: 2, all: false });
    } finally {
      await proxy.close();
    }
  });

  it('starts degraded when Redis is down at start, and becomes shared when it comes up', async () => {
    await redis.stop();
    const lines: string[] = [];
    const c = createCoordination({ redisUrl: `redis://:s3cret-pass@127.0.0.1:${redis.port}`, logger: createLogger('info', (l) => lines.push(l)) });
    opened.push(c);
    const lock = await timed(c.withLock('x', async () => 1));
    expect(lock.value).toBe(1);
    expect(lock.ms).toBeLessThan(NO_HANG_MS);
    expect(c.shared()).toBe(false);
    expect(c.redisUp()).toBe(0);
    const levels = () => lines.map((l) => JSON.parse(l).level as string);
    await eventually(() => levels().includes('warn'), 5000);
    await redis.restart();
    // The server has no password; Redis answers AUTH with an error ioredis tolerates for the default user.
    await eventually(async () => (await c.ping()) && c.shared());
    expect(levels()).toEqual(['warn', 'info']); // one warning for the whole outage, one notice when it ends
    expect(lines.join('\n')).not.toContain('s3cret-pass');
  });

  describe('outages, seen from one replica', () => {

    it('logs nothing at start with Redis up, even for a command sent before the first connection is ready', async () => {
      const log = logged();
      const c = createCoordination({ redisUrl: redis.url, logger: log.logger });
      opened.push(c);
      await c.ping(); // may fail: the connection is still being made — not an outage
      await eventually(() => c.ping(), 5000);
      expect(log.lines).toEqual([]);
    });

    it('names the cause of an outage in its one warning (the error code, never the URL)', async () => {
      await redis.stop();
      const log = logged();
      const c = createCoordination({ redisUrl: redis.url, logger: log.logger });
      opened.push(c);
      await eventually(() => log.lines.length > 0, 5000);
      expect(log.entries()).toEqual([expect.objectContaining({ level: 'warn', error: 'ECONNREFUSED' })]);
    });

    it('treats a connection the server drops as an outage of its own, and is shared again without being asked', async () => {
      const log = logged();
      const c = await open({ logger: log.logger });
      await raw.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'); // drops every client connection but this one
      await eventually(() => log.lines.length === 2, 5000); // no command is sent meanwhile: the client's events tell
      expect(log.entries()).toEqual([
        expect.objectContaining({ level: 'warn', error: 'connection closed' }),
        expect.objectContaining({ level: 'info', msg: 'redis reachable again: locks and caches are shared' }),
      ]);
      expect(c.shared()).toBe(true);
    });

    it('a del() of nothing sends nothing, so it does not claim Redis is back', async () => {
      const c = await open();
      await redis.stop();
      await eventually(() => !c.shared(), 5000);
      await c.del();
      expect(c.shared()).toBe(false);
    });

    it('does not send a command again that a dropped connection cut off (no stale write after an invalidation)', async () => {
      const proxy = await startTcpProxy(redis.port);
      try {
        const c = await open({ redisUrl: proxy.url });
        proxy.hold(); // the write reaches nobody and gets no answer ...
        await c.set('catalog', 'stale', 600); // ... times out (500 ms) ...
        expect(c.shared()).toBe(false);
        proxy.cut(); // ... and its connection drops.
        await raw.set('hubgate:cache:other', 'meanwhile');
        proxy.restore();
        await eventually(() => c.ping(), 8000);
        await sleep(200);
        expect(await raw.exists('hubgate:cache:catalog')).toBe(0);
      } finally {
        await proxy.close();
      }
    });

    it('past 1,000 missed deletes it clears the whole cache namespace on recovery, once; at 1,000 it replays them', async () => {
      const proxy = await startTcpProxy(redis.port);
      try {
        const c = await open({ redisUrl: proxy.url });
        const missed = (n: number) => Array.from({ length: n }, (_, i) => `gone:${i}`);
        const outage = async (keys: string[]) => {
          await raw.set('hubgate:cache:other', 'kept?');
          proxy.cut();
          await eventually(() => !c.shared(), 5000);
          await c.del(...keys);
          proxy.restore();
          await eventually(() => c.ping(), 8000);
          await sleep(200); // the replay runs in the background
        };
        await outage(missed(1000));
        expect(await raw.get('hubgate:cache:other')).toBe('kept?');
        await outage(missed(1001));
        expect(await raw.exists('hubgate:cache:other')).toBe(0);
        expect(await raw.exists('hubgate:lock:unrelated')).toBe(0);
        // Cleared once: what is cached afterwards stays.
        await c.set('after', 1, 60);
        await c.ping();
        await sleep(200);
        expect(await c.get('after')).toBe(1);
      } finally {
        await proxy.close();
      }
    });

    it('a replay of missed deletes that fails is kept and sent at the next answer, still as those keys only', async () => {
      const log = logged();
      const c = await open({ logger: log.logger });
      await c.set('stale', 1, 600);
      await c.set('other', 2, 600);
      await readOnly(async () => {
        await c.del('stale'); // refused: remembered
        expect(await c.ping()).toBe(true); // an answer: the replay goes out, and is refused too
        await eventually(() => !c.shared(), 5000);
      });
      expect(await raw.exists('hubgate:cache:stale')).toBe(1);
      expect(await c.ping()).toBe(true); // writable again: the replay lands
      await eventually(async () => (await raw.exists('hubgate:cache:stale')) === 0, 5000);
      expect(await raw.get('hubgate:cache:other')).toBe('2');
      expect(log.entries().filter((l) => String(l.msg).startsWith('replayed'))).toEqual([expect.objectContaining({ level: 'info', keys: 1, all: false })]);
    });

    it('a clearing of the whole cache namespace (past 1,000 missed deletes) that fails is kept and done at the next answer', async () => {
      const c = await open();
      await c.set('other', 2, 600);
      await raw.set('hubgate:lock:unrelated', 'x');
      await readOnly(async () => {
        await c.del(...Array.from({ length: 1001 }, (_, i) => `gone:${i}`));
        expect(await c.ping()).toBe(true);
        await eventually(() => !c.shared(), 5000);
      });
      expect(await raw.exists('hubgate:cache:other')).toBe(1);
      expect(await c.ping()).toBe(true);
      await eventually(async () => (await raw.exists('hubgate:cache:other')) === 0, 5000);
      expect(await raw.get('hubgate:lock:unrelated')).toBe('x');
    });

    it('a replay of missed deletes unlinks only what its SCAN finds: prefixes, or the whole namespace, that match nothing send no UNLINK', async () => {
      const proxy = await startTcpProxy(redis.port);
      try {
        const c = await open({ redisUrl: proxy.url });
        /** Commands Redis served for the replay of what `del(...keys)` missed while the link was cut. */
        const replayOf = async (keys: string[]) => {
          proxy.cut();
          await eventually(() => !c.shared(), 5000);
          await c.del(...keys);
          await raw.config('RESETSTAT');
          proxy.restore();
          await eventually(async () => (await served('scan')).scan === 1, 8000); // the reconnect replays at once
          return served('scan', 'unlink');
        };
        expect(await replayOf(['none:*'])).toEqual({ scan: 1, unlink: 0 });
        expect(await replayOf(Array.from({ length: 1001 }, (_, i) => `none:${i}`))).toEqual({ scan: 1, unlink: 0 });
      } finally {
        await proxy.close();
      }
    });

    /**
     * Caches 1,500 keys `many:<i>` (several SCAN pages), then deletes them by prefix on a clock that reads the delete's
     * start the first time and `ms` later every time after.
     */
    const deleteManyTaking = async (c: CoordinationService, ms: number) => {
      await raw.mset(...Array.from({ length: 1500 }, (_, i) => [`hubgate:cache:many:${i}`, '1']).flat());
      const start = Date.now();
      let readings = 0;
      const clock = jest.spyOn(Date, 'now').mockImplementation(() => (readings++ === 0 ? start : start + ms));
      try {
        await c.del('many:*');
      } finally {
        clock.mockRestore();
      }
    };

    it('a prefix delete still running 5 s after it started is abandoned as failed (warned, not shared) and replayed at the next answer', async () => {
      const log = logged();
      const c = await open({ logger: log.logger });
      await deleteManyTaking(c, 5001);
      expect(c.shared()).toBe(false);
      expect(log.entries()).toEqual([expect.objectContaining({ level: 'warn', error: 'cache prefix delete took too long' })]);
      expect(await c.ping()).toBe(true);
      await eventually(async () => (await raw.keys('hubgate:cache:many:*')).length === 0, 5000);
    });

    it('a prefix delete that ends exactly 5 s after it started is within its budget', async () => {
      const c = await open();
      await deleteManyTaking(c, 5000);
      expect(c.shared()).toBe(true);
      expect(await raw.keys('hubgate:cache:many:*')).toEqual([]);
    });

    it("the outage warning names the error's message cut to 200 characters when it has no code, else 'unknown error'", async () => {
      const log = logged();
      const c = await open({ logger: log.logger });
      const ping = jest.spyOn(Redis.prototype, 'ping');
      ping.mockRejectedValueOnce(new Error('x'.repeat(300)));
      expect(await c.ping()).toBe(false);
      expect(await c.ping()).toBe(true); // back: the next outage is warned again
      ping.mockRejectedValueOnce('not an error');
      expect(await c.ping()).toBe(false);
      expect(log.entries().filter((l) => l.level === 'warn').map((l) => l.error)).toEqual(['x'.repeat(200), 'unknown error']);
    });

    it('a delete that reached Redis is not replayed later over a newer value', async () => {
      const c = await open();
      await c.set('k', 1, 60);
      await c.del('k', 'p*');
      await c.set('k', 2, 60);
      await c.ping();
      await sleep(200);
      expect(await c.get('k')).toBe(2);
    });

    it('close() ends its connection', async () => {
      const c = await open();
      const clients = async () => String(await raw.call('CLIENT', 'LIST')).split('\n').filter((l) => l.trim() !== '').length;
      const before = await clients();
      await c.close();
      await eventually(async () => (await clients()) === before - 1, 3000);
    });

    it('close() logs no outage, and returns while Redis is frozen', async () => {
      const log = logged();
      const c = await open({ logger: log.logger });
      await redis.pause();
      try {
        const closing = await timed(c.close());
        expect(closing.ms).toBeLessThan(NO_HANG_MS);
      } finally {
        await redis.resume();
      }
      await sleep(300);
      expect(log.lines).toEqual([]);
    });
  });

  describe('the cache, exactly', () => {
    it('deletes an exact key as a key (not a prefix), a leading * literally, and a prefix over several SCAN pages', async () => {
      const c = await open();
      await c.set('ws:a', 1, 60);
      await c.set('ws:ab', 2, 60);
      await c.set('*odd', 3, 60);
      await c.del('ws:a', '*odd');
      expect(await c.get('ws:a')).toBeUndefined();
      expect(await c.get('ws:ab')).toBe(2);
      expect(await c.get('*odd')).toBeUndefined();

      const many = Array.from({ length: 1500 }, (_, i) => [`hubgate:cache:many:${i}`, '1']).flat();
      await raw.mset(...many);
      await c.del('many:*');
      expect(await raw.keys('hubgate:cache:many:*')).toEqual([]);
      await c.del('nothing-matches:*'); // an empty SCAN page is still an answer
      expect(c.shared()).toBe(true);
    });

    it('a prefix delete unlinks only the keys its SCAN finds, never the pattern as a key of its own', async () => {
      const c = await open();
      await c.set('found:1', 1, 60);
      await raw.config('RESETSTAT');
      await c.del('none:*');
      expect(await served('scan', 'unlink')).toEqual({ scan: 1, unlink: 0 });
      await c.del('found:*');
      expect(await served('scan', 'unlink')).toEqual({ scan: 2, unlink: 1 });
      expect(await raw.exists('hubgate:cache:found:1')).toBe(0);
    });

    it('set() of undefined, or with a TTL of zero, removes the key', async () => {
      const c = await open();
      await c.set('a', 1, 60);
      await c.set('a', undefined, 60);
      expect(await raw.exists('hubgate:cache:a')).toBe(0);
      await c.set('b', 1, 60);
      await c.set('b', 2, 0);
      expect(await raw.exists('hubgate:cache:b')).toBe(0);
      await c.set('c', 1, 0.5);
      expect(await raw.pttl('hubgate:cache:c')).toBeGreaterThan(0);
    });
  });

  describe('the lock watchdog', () => {

    it('takes the lock for its default TTL (30 s)', async () => {
      const c = await open();
      await c.withLock('ttl', async () => {
        const ttl = await raw.pttl('hubgate:lock:ttl');
        expect(ttl).toBeGreaterThan(25_000);
        expect(ttl).toBeLessThanOrEqual(30_000);
      });
    });

    it('keeps held() true while its extensions land, for several TTLs', async () => {
      const c = await open({ lockQuarantineMs: 0 });
      const seen = await c.withLock(
        'long',
        async (held) => {
          const views: boolean[] = [];
          // 3.5 TTLs; extensions every third of a TTL leave ~650 ms of slack for a loaded machine (at 300 ms it flaked)
          for (let i = 0; i < 10; i++) {
            views.push(held());
            await sleep(350);
          }
          return views;
        },
        { ttlMs: 1000, required: true },
      );
      expect(seen).toEqual(Array(10).fill(true));
    });

    it('turns held() false and warns once when another holder has the key (the TTL ran out meanwhile)', async () => {
      const log = logged();
      const c = await open({ lockQuarantineMs: 0, logger: log.logger });
      const seen = await c.withLock(
        'stolen',
        async (held) => {
          const before = held();
          await raw.set('hubgate:lock:stolen', 'another-replica', 'PX', 10_000);
          await eventually(() => !held(), 3000);
          await sleep(300); // more extensions fail: still one warning
          return before;
        },
        { ttlMs: 300, required: true },
      );
      expect(seen).toBe(true);
      const warnings = log.lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'warn');
      expect(warnings).toEqual([expect.objectContaining({ msg: 'redis lock expired while held; another replica may have taken it', ttlMs: 300 })]);
      expect(await raw.get('hubgate:lock:stolen')).toBe('another-replica');
    });

    it('held() is true until a third of the TTL before the lock would lapse without an extension, false from then on', async () => {
      const c = await open({ lockQuarantineMs: 0 });
      const start = Date.now();
      let now = start;
      jest.spyOn(Date, 'now').mockImplementation(() => now);
      const seen = await c.withLock(
        'edge',
        async (held) => {
          const views = [held()];
          now = start + 19_999;
          views.push(held());
          now = start + 20_000; // taken at start for 30 s: 10 s left, and no extension has landed (the first is due at 10 s)
          views.push(held());
          return views;
        },
        { ttlMs: 30_000, required: true },
      );
      expect(seen).toEqual([true, true, false]);
    });

    it('sends no extension before a third of the TTL has passed: a short hold is one SET and one release', async () => {
      const c = await open();
      await raw.config('RESETSTAT');
      await c.withLock('brief', async () => sleep(150), { ttlMs: 30_000 });
      expect(await served('set', 'eval')).toEqual({ set: 1, eval: 1 }); // take, release
    });

    it('polls a lock another replica holds with backoff: 10 ms doubling up to 250 ms, each plus up to as much again', async () => {
      const c = await open({ commandTimeoutMs: 4000 });
      await raw.set('hubgate:lock:busy', 'another-replica', 'PX', 60_000);
      jest.spyOn(Math, 'random').mockReturnValue(0.5);
      const timers = jest.spyOn(global, 'setTimeout');
      // every timer but the commands' timeouts (4 s) and this test's own polling (eventually: 100 ms)
      const pauses = () => timers.mock.calls.map(([, ms]) => ms).filter((ms) => ms !== 4000 && ms !== 100);
      const taking = c.withLock('busy', async () => 'taken', { waitMs: 20_000 });
      await eventually(() => pauses().length >= 6, 10_000);
      await raw.del('hubgate:lock:busy');
      await expect(taking).resolves.toBe('taken');
      expect(pauses().slice(0, 6)).toEqual([15, 30, 60, 120, 240, 375]);
    });

    it('waitMs 0: a lock another replica holds is asked for once, then refused', async () => {
      const c = await open();
      await raw.set('hubgate:lock:once', 'another-replica', 'PX', 60_000);
      await raw.config('RESETSTAT');
      const start = Date.now();
      let readings = 0;
      // the deadline and the first look at it read the same instant; any later reading is 1 ms on
      jest.spyOn(Date, 'now').mockImplementation(() => (readings++ < 2 ? start : start + 1));
      await expect(c.withLock('once', async () => 'ran', { waitMs: 0 })).rejects.toMatchObject({ kind: 'conflict', message: LOCK_BUSY_MESSAGE });
      expect(await served('set')).toEqual({ set: 1 });
    });

    it('stops extending once released (no warning afterwards)', async () => {
      const log = logged();
      const c = await open({ logger: log.logger });
      await c.withLock('short', async () => sleep(150), { ttlMs: 300 });
      await sleep(400);
      expect(log.lines).toEqual([]);
    });

    it('turns held() false close to the TTL when extensions go unanswered, before any command times out', async () => {
      const c = await open({ lockQuarantineMs: 0, commandTimeoutMs: 5000 });
      const seen = await c.withLock(
        'late',
        async (held) => {
          const before = held();
          await redis.pause();
          try {
            await eventually(() => !held(), 3000);
            return { before, sharedWhenLost: c.shared() };
          } finally {
            await redis.resume();
          }
        },
        { ttlMs: 300, required: true },
      );
      expect(seen).toEqual({ before: true, sharedWhenLost: true });
    });

    it('turns held() false when a command times out while the lock is held', async () => {
      const c = await open({ lockQuarantineMs: 0 });
      const seen = await c.withLock(
        'frozen',
        async (held) => {
          const before = held();
          await redis.pause();
          try {
            await c.get('anything'); // times out: Redis marked down, its connection kept
          } finally {
            await redis.resume();
          }
          return [before, held()];
        },
        { required: true },
      );
      expect(seen).toEqual([true, false]);
    });

    it('an ordinary lock taken while Redis is down is this process only, and says so with held() true', async () => {
      const c = await open();
      await redis.stop();
      await eventually(() => !c.shared(), 5000);
      await expect(c.withLock('local', async (held) => held())).resolves.toBe(true);
    });
  });

  describe('required locks (ownership changes): never degraded', () => {

    it('Redis down: a required lock is refused with 503 + Retry-After and fn never runs; an ordinary one still degrades', async () => {
      const c = await open({ lockQuarantineMs: 0 });
      await redis.stop();
      await c.ping();
      let ran = false;
      const err = await c.withLock('robot:x', async () => void (ran = true), { required: true }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ kind: 'unavailable', retryAfterSeconds: 5 });
      expect(ran).toBe(false);
      await expect(c.withLock('robot:x', async () => 'degraded')).resolves.toBe('degraded');
    });

    it('a Redis that restarted less than the quarantine ago: refused (its old holders may still write); then held', async () => {
      const c = await open({ lockQuarantineMs: 2000 });
      await redis.restart();
      await eventually(() => c.ping(), 8000);
      const err = await c.withLock('robot:x', async () => 'too early', { required: true }).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'unavailable' });
      expect((err as AppError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
      await sleep(2100);
      await expect(c.withLock('robot:x', async (held) => held(), { required: true })).resolves.toBe(true);
    });

    it("the quarantine's Retry-After counts from the server's start (its uptime), not from this replica's reconnect", async () => {
      const c = await open({ lockQuarantineMs: 5000 });
      await redis.restart();
      await sleep(1100); // the server has been up 1 s (INFO counts whole seconds)
      await eventually(() => c.ping(), 8000);
      const err = await c.withLock('robot:q', async () => 'too early', { required: true }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ kind: 'unavailable', message: expect.stringContaining('restarted moments ago') });
      // 5 s of quarantine, of which 1 s (or 2, on a slow machine) have passed.
      expect([3, 4]).toContain((err as AppError).retryAfterSeconds);
    });

    it('one timed-out command (a busy moment) does not refuse the next required lock: Redis is asked again', async () => {
      const c = await open({ lockQuarantineMs: 0 });
      await c.withLock('robot:z', async () => undefined, { required: true });
      await redis.pause();
      await c.get('anything'); // times out: marked down
      await redis.resume();
      expect(c.shared()).toBe(false);
      await expect(c.withLock('robot:z', async (held) => held(), { required: true })).resolves.toBe(true);
      expect(c.shared()).toBe(true);
    });

    it('a lock held across a Redis restart stays untrusted while the new server is younger than the quarantine', async () => {
      // 3 s: longer than a reconnection after the restart below can take (backoff up to 2 s)
      const c = await open({ lockQuarantineMs: 3000 });
      /** A required lock, retried while the server is in quarantine. */
      const required = async <T>(name: string, fn: (held: () => boolean) => Promise<T>): Promise<T> => {
        for (;;) {
          try {
            return await c.withLock(name, fn, { required: true });
          } catch (e) {
            if (!(e instanceof AppError && e.kind === 'unavailable')) throw e;
            await sleep(200);
          }
        }
      };
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const views: boolean[] = [];
      const holder = required('robot:r', async (held) => {
        views.push(held());
        await gate;
        views.push(held());
      });
      await eventually(() => views.length === 1, 10_000);
      await redis.restart(); // the lock is gone with the old server
      await eventually(() => c.ping(), 8000);
      // another required lock learns the new server's age (and is refused: it is younger than the quarantine)
      await expect(c.withLock('robot:other', async () => 'too early', { required: true })).rejects.toMatchObject({ kind: 'unavailable' });
      release();
      await holder;
      expect(views).toEqual([true, false]);
    });

    it('Redis not answering the SET (its age already known): refused as unreachable, and fn never runs', async () => {
      const proxy = await startTcpProxy(redis.port);
      try {
        const c = await open({ redisUrl: proxy.url, lockQuarantineMs: 0, commandTimeoutMs: 200 });
        await c.withLock('robot:f', async () => undefined, { required: true }); // reads the server's age
        proxy.hold();
        let ran = false;
        const err = await c.withLock('robot:f', async () => void (ran = true), { required: true }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AppError);
        expect(err).toMatchObject({
          kind: 'unavailable',
          message: 'coordination between the hubgate replicas is unavailable (redis unreachable); ownership changes are refused until it is back, try again',
          retryAfterSeconds: 5,
        });
        expect(ran).toBe(false);
      } finally {
        await proxy.close();
      }
    });

    it('a required lock refused for the quarantine sends no lock command (no SET, no release)', async () => {
      const c = await open({ lockQuarantineMs: 864_000_000 }); // ten days: this server is younger
      await raw.config('RESETSTAT');
      await expect(c.withLock('robot:young', async () => 'ran', { required: true })).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining('restarted moments ago') });
      expect(await served('info', 'set', 'eval')).toEqual({ info: 1, set: 0, eval: 0 });
    });

    it("reads the server's uptime once per connection, not once per lock", async () => {
      const c = await open({ lockQuarantineMs: 0 });
      await raw.config('RESETSTAT');
      for (let i = 0; i < 3; i++) await c.withLock('robot:u', async () => undefined, { required: true });
      expect(await served('info', 'set')).toEqual({ info: 1, set: 3 });
    });

    it('a server up exactly as long as the quarantine (INFO uptime_in_seconds:15, stubbed: a test server is younger) is trusted', async () => {
      const c = await open(); // the default quarantine: 15 s
      const info = Redis.prototype.info;
      jest.spyOn(Redis.prototype, 'info').mockImplementation(function (this: Redis, ...args: unknown[]) {
        if (args[0] === 'server') return Promise.resolve('# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:15\r\nuptime_in_days:0\r\n');
        return (info as (...a: unknown[]) => Promise<string>).apply(this, args);
      } as typeof info);
      const now = Date.now();
      jest.spyOn(Date, 'now').mockReturnValue(now);
      await expect(c.withLock('robot:aged', async (held) => held(), { required: true })).resolves.toBe(true);
    });

    it('held() turns false as soon as Redis is lost while the lock is held', async () => {
      const c = await open({ lockQuarantineMs: 0 });
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const seen: boolean[] = [];
      const holder = c.withLock(
        'robot:y',
        async (held) => {
          seen.push(held());
          await gate;
          seen.push(held());
        },
        { required: true },
      );
      await eventually(async () => seen.length === 1, 5000);
      await redis.stop();
      await eventually(() => !c.shared(), 5000);
      release();
      await holder;
      expect(seen).toEqual([true, false]);
    });
  });
});
