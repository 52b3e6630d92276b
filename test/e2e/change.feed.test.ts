/**
 * The change feed behind the image catalogue's shared invalidations (adapters/redis/change.feed.ts) against a real
 * redis-server: what one replica publishes another reads, in order and exactly once; a reader too far behind, or
 * after Redis lost its data, is told to start over (`reset`); with Redis away, publishing keeps the names (folded to
 * `*` past the retention) and sends them once it is back, and reading answers "nothing new" rather than failing.
 */
import Redis from 'ioredis';
import { createChangeFeed, createRedisChangeFeed } from '../../adapters/redis/change.feed';
import { createLogger } from '../../src/observability/logger';
import type { ChangeFeed } from '../../src/ports/changes';
import { startFailingServer, startRedis, type TestRedis } from '../support/redis';
import { requireTools } from '../support/tools';

const ready = requireTools('change feed', ['redis-server']).available;

(ready ? describe : describe.skip)('change feed (real redis-server)', () => {
  let redis: TestRedis;
  let raw: Redis;
  const feeds: ChangeFeed[] = [];
  let n = 0;
  /** A replica's feed; each test gets feeds of its own name unless it gives one. */
  const feed = (o: { name?: string; retain?: number; keyPrefix?: string; logger?: ReturnType<typeof createLogger> } = {}) => {
    const f = createChangeFeed({ name: o.name ?? `t${n}`, redisUrl: redis.url, retain: o.retain, keyPrefix: o.keyPrefix, logger: o.logger });
    feeds.push(f);
    return f;
  };

  beforeAll(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await raw.connect();
  });
  beforeEach(() => {
    n += 1;
  });
  afterAll(async () => {
    for (const f of feeds) await f.close();
    raw?.disconnect();
    await redis?.close();
  });

  it('a first read (no cursor) answers the current position only; then each reader gets every name published after it, in order, once', async () => {
    const a = feed();
    const b = feed();
    const start = await b.read(undefined);
    expect(start).toEqual({ cursor: expect.stringMatching(/^[0-9a-f-]{36}:0$/), names: [], reset: false });
    expect(await a.publish(['ws1/app', 'ws2/tool'])).toBe(true);
    expect(await a.publish(['ws1/app'])).toBe(true);
    const next = await b.read(start.cursor);
    expect(next).toEqual({ cursor: start.cursor.replace(/:0$/, ':3'), names: ['ws1/app', 'ws2/tool', 'ws1/app'], reset: false });
    // read again from there: nothing new, same cursor
    expect(await b.read(next.cursor)).toEqual({ cursor: next.cursor, names: [], reset: false });
    // a name with a colon in it comes back whole
    await a.publish(['ws:odd']);
    expect((await b.read(next.cursor)).names).toEqual(['ws:odd']);
  });

  it('keys: <prefix>feed:<name>:seq, :log (trimmed to the retention), :epoch', async () => {
    const f = feed({ name: 'images', keyPrefix: `p${n}:`, retain: 2 });
    await f.publish(['a', 'b']);
    await f.publish(['c']);
    expect(await raw.get(`p${n}:feed:images:seq`)).toBe('3');
    expect(await raw.zrange(`p${n}:feed:images:log`, '0', '-1')).toEqual(['2:b', '3:c']);
    expect(await raw.get(`p${n}:feed:images:epoch`)).toMatch(/^[0-9a-f-]{36}$/);
    const other = createRedisChangeFeed({ name: 'images', redisUrl: redis.url });
    feeds.push(other);
    await other.publish(['x']);
    expect(await raw.get('hubgate:feed:images:seq')).toBe('1');
  });

  it('one publish of more names than the retention is one "*" (everything): a reader re-reads all rather than being reset', async () => {
    const a = feed({ retain: 2 });
    const start = (await a.read(undefined)).cursor;
    await a.publish(['x', 'y', 'z']);
    expect(await a.read(start)).toEqual({ cursor: start.replace(/:0$/, ':1'), names: ['*'], reset: false });
  });

  it('a reader further behind than the retention is told to reset; one just within gets every name', async () => {
    const a = feed({ retain: 3 });
    const b = feed({ retain: 3 });
    const start = (await b.read(undefined)).cursor;
    await a.publish(['n1', 'n2']);
    const mid = (await b.read(start)).cursor;
    await a.publish(['n3', 'n4', 'n5']);
    // mid is 3 behind: n3..n5 are all kept
    expect(await b.read(mid)).toEqual({ cursor: mid.replace(/:2$/, ':5'), names: ['n3', 'n4', 'n5'], reset: false });
    // start is 5 behind: n1, n2 are gone
    expect(await b.read(start)).toEqual({ cursor: mid.replace(/:2$/, ':5'), names: [], reset: true });
  });

  it('a cursor of another epoch (Redis flushed or restarted empty), from the future, or malformed: reset, with the current position', async () => {
    const a = feed();
    const b = feed();
    await a.publish(['x']);
    const at = (await b.read(undefined)).cursor;
    const epoch = at.slice(0, at.lastIndexOf(':'));
    expect(await b.read(`${epoch}:9`)).toEqual({ cursor: at, names: [], reset: true });
    expect(await b.read('not-a-cursor')).toEqual({ cursor: at, names: [], reset: true });
    expect(await b.read(`${epoch}:-1`)).toEqual({ cursor: at, names: [], reset: true });
    // no epoch at all: not taken for a first read (which is never a reset)
    expect(await b.read(':1')).toEqual({ cursor: at, names: [], reset: true });
    await raw.flushall();
    const after = await b.read(at);
    expect(after.reset).toBe(true);
    expect(after.cursor).toMatch(/:0$/);
    expect(after.cursor).not.toBe(`${epoch}:0`);
    // the new epoch stays: a reader at it is not reset again
    await a.publish(['y']);
    expect(await b.read(after.cursor)).toEqual({ cursor: after.cursor.replace(/:0$/, ':1'), names: ['y'], reset: false });
  });

  it('Redis away: publish answers false and keeps the names, read answers nothing new; once back, the kept names are sent (past the retention as one "*"), warned once and logged back', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', (l) => lines.push(l));
    const a = feed({ retain: 3, logger });
    const b = feed({ retain: 3 });
    const start = (await b.read(undefined)).cursor;
    await redis.stop();
    expect(await a.publish(['k1'])).toBe(false);
    expect(await a.publish(['k2'])).toBe(false);
    expect(await a.read(start)).toEqual({ cursor: start, names: [], reset: false });
    expect(await a.read(undefined)).toEqual({ cursor: '', names: [], reset: false });
    const warned = lines.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.level === 'warn');
    expect(warned.map((l) => l.msg)).toEqual([`redis unavailable: t${n} list invalidations stay on this replica until it is back`]);

    // back (empty: a new epoch): the kept names go out with the next read that reaches it
    await redis.restart();
    const fresh = await waitForRedis(() => b.read(undefined));
    const got = await until(() => a.read(fresh.cursor), (r) => r.cursor !== fresh.cursor);
    expect(got).toEqual({ cursor: fresh.cursor.replace(/:0$/, ':2'), names: ['k1', 'k2'], reset: false });
    expect(lines.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.level === 'info').map((l) => l.msg)).toEqual([
      `redis reachable again: t${n} list invalidations are shared`,
    ]);

    // away again with more names than the retention: they fold into one "*"
    await redis.stop();
    for (const name of ['m1', 'm2', 'm3', 'm4']) expect(await a.publish([name])).toBe(false);
    await redis.restart();
    const again = await waitForRedis(() => b.read(undefined));
    await until(() => a.publish([]), (ok) => ok);
    expect(await b.read(again.cursor)).toEqual({ cursor: again.cursor.replace(/:0$/, ':1'), names: ['*'], reset: false });
  }, 30_000);

  it('without a Redis URL the feed is this process only, with the same answers', async () => {
    const local = createChangeFeed({ name: 'local', retain: 2 });
    const start = (await local.read(undefined)).cursor;
    await local.publish(['a']);
    expect(await local.read(start)).toEqual({ cursor: start.replace(/:0$/, ':1'), names: ['a'], reset: false });
    await local.publish(['b', 'c']);
    expect((await local.read(start)).reset).toBe(true);
    expect(await local.read('junk')).toMatchObject({ names: [], reset: true });
    await local.close();
  });

  it('close() twice is fine, and closing a feed whose Redis is away does not hang', async () => {
    const f = createChangeFeed({ name: 'close', redisUrl: redis.url });
    await f.publish(['x']);
    await f.close();
    await f.close();
    const port = await unusedPort();
    const away = createChangeFeed({ name: 'away', redisUrl: `redis://127.0.0.1:${port}` });
    expect(await away.publish(['x'])).toBe(false);
    await away.close();
  });

  it("a server that fails every connection: the client's errors are the feed's to handle, none is printed to stderr", async () => {
    const printed = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const server = await startFailingServer();
    try {
      const f = createChangeFeed({ name: 'failing', redisUrl: server.url });
      expect(await f.publish(['x'])).toBe(false); // answered once the first connection has failed (its error emitted)
      await f.close();
      expect(printed).not.toHaveBeenCalled();
    } finally {
      printed.mockRestore();
      await server.close();
    }
  });

  it('close() ends its connection to Redis', async () => {
    const f = feed();
    await f.publish(['x']);
    const before = await clients();
    await f.close();
    expect(await until(clients, (c) => c < before)).toBe(before - 1);
  });

  it('Redis away: the warning names the error; a publish of nothing (none kept) is true', async () => {
    const lines: string[] = [];
    try {
      const f = feed({ logger: createLogger('info', (l) => lines.push(l)) });
      await until(() => f.read(undefined), (r) => r.cursor !== '');
      await redis.stop();
      expect(await f.publish([])).toBe(true);
      expect(await f.publish(['k'])).toBe(false);
      expect(lines.map((l) => JSON.parse(l))).toEqual([expect.objectContaining({ level: 'warn', error: expect.stringMatching(/\S/) })]);
    } finally {
      await redis.restart();
    }
  });

  /** Client connections Redis has open, this test's own (raw) included. */
  const clients = async () => (String(await raw.call('CLIENT', 'LIST'))).split('\n').filter((l: string) => l.trim() !== '').length;

  /** Retries `fn` until `done` (a feed's client reconnects with a backoff of up to 2 s). */
  async function until<T>(fn: () => Promise<T>, done: (r: T) => boolean): Promise<T> {
    for (let i = 0; i < 100; i++) {
      const r = await fn();
      if (done(r)) return r;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error('Redis did not come back');
  }
  /** A first read once Redis answers this feed (a cursor, not the empty one of "Redis away"). */
  const waitForRedis = (fn: () => Promise<{ cursor: string }>) => until(fn, (r) => r.cursor !== '');
});

async function unusedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
