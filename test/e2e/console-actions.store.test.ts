/**
 * The console-action store behind activity attribution (adapters/redis/console-actions.store.ts) against a real
 * redis-server: shared by replicas, bounded per workspace, and kept in the process when Redis is not there.
 */
import Redis from 'ioredis';
import { createConsoleActionStore } from '../../adapters/redis/console-actions.store';
import { createLogger } from '../../src/observability/logger';
import type { ConsoleAction, ConsoleActionStore } from '../../src/ports/console-actions';
import { startFailingServer, startRedis, type TestRedis } from '../support/redis';
import { requireTools } from '../support/tools';

const ready = requireTools('console-action store', ['redis-server']).available;
const action = (n: number, user = 'alice'): ConsoleAction => ({ start: 1_000 * n, end: 1_000 * n + 500, userId: `u-${user}`, username: user, action: 'image_versions_delete', requestId: `r${n}`, image: 'app' });
const NOW = 1_000_000;

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await fn();
  for (let i = 0; i < 100 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 50));
    v = await fn();
  }
  return v;
}

(ready ? describe : describe.skip)('console-action store', () => {
  let redis: TestRedis;
  const stores: ConsoleActionStore[] = [];
  const store = (o: Partial<Parameters<typeof createConsoleActionStore>[0]> = {}) => {
    const s = createConsoleActionStore({ redisUrl: redis.url, keepDays: 30, now: () => NOW, ...o });
    stores.push(s);
    return s;
  };
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
    await redis?.close();
  });

  it('one replica sees what another remembered, newest first, bounded per workspace, filtered by time', async () => {
    const a = store({ maxPerWorkspace: 3 });
    const b = store({ maxPerWorkspace: 3 });
    // wait until a's connection is up: an action remembered before that stays in a's memory only
    await eventually(async () => {
      await a.remember('probe', action(0));
      return b.recent('probe', 0);
    }, (v) => v.length > 0);
    for (let n = 1; n <= 5; n++) await a.remember('ws1', action(n));
    const seen = await b.recent('ws1', 0);
    expect(seen.map((x) => x.requestId)).toEqual(['r5', 'r4', 'r3']);
    expect((await b.recent('ws1', 4_400)).map((x) => x.requestId)).toEqual(['r5', 'r4']);
    expect(await b.recent('other-ws', 0)).toEqual([]);
    expect(Number((await redis.command('LLEN', 'hubgate:console-actions:ws1')).replace(/^:/, ''))).toBe(3);
    const ttl = Number((await redis.command('PTTL', 'hubgate:console-actions:ws1')).replace(/^:/, ''));
    expect(ttl).toBeGreaterThan(29 * 86_400_000);
  });

  it('without Redis: this process only, bounded in workspaces too', async () => {
    const local = createConsoleActionStore({ keepDays: 30, maxWorkspaces: 2, maxPerWorkspace: 2, now: () => NOW });
    for (const ws of ['w1', 'w2', 'w3']) for (let n = 1; n <= 3; n++) await local.remember(ws, action(n));
    expect(await local.recent('w1', 0)).toEqual([]); // the oldest workspace went first
    expect((await local.recent('w3', 0)).map((x) => x.requestId)).toEqual(['r3', 'r2']);
    await local.close();
  });

  it('older than HUBGATE_ACTIVITY_ATTRIBUTION_DAYS: forgotten', async () => {
    const local = createConsoleActionStore({ keepDays: 1, now: () => 3 * 86_400_000 });
    await local.remember('w', action(1));
    await local.remember('w', { ...action(2), end: 3 * 86_400_000 - 1000 });
    expect((await local.recent('w', 0)).map((x) => x.requestId)).toEqual(['r2']);
  });

  /** A store whose connection is up: what it remembers now goes to Redis. */
  const connected = async (o: Partial<Parameters<typeof createConsoleActionStore>[0]> = {}) => {
    const s = store(o);
    const probe = `probe-${Math.random()}`;
    const shared = await eventually(async () => {
      await s.remember(probe, action(0));
      return redis.command('EXISTS', `hubgate:console-actions:${probe}`);
    }, (v) => v === ':1');
    expect(shared).toBe(':1');
    return s;
  };
  const clients = async () => {
    const raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      return (String(await raw.call('CLIENT', 'LIST'))).split('\n').filter((l: string) => l.trim() !== '').length - 1;
    } finally {
      raw.disconnect();
    }
  };

  it('reads at most its own bound, even from a list another replica (with a larger one) wrote', async () => {
    const big = await connected({ maxPerWorkspace: 5 });
    const small = store({ maxPerWorkspace: 3 });
    for (let n = 1; n <= 5; n++) await big.remember('wsb', action(n));
    const seen = await eventually(() => small.recent('wsb', 0), (v) => v.length > 0);
    expect(seen.map((x) => x.requestId)).toEqual(['r5', 'r4', 'r3']);
  });

  it('keeps an action that ends exactly at `since`, or exactly keepDays ago', async () => {
    const keepMs = 86_400_000;
    const local = createConsoleActionStore({ keepDays: 1, now: () => NOW + keepMs });
    await local.remember('w', { ...action(1), end: NOW });
    await local.remember('w', { ...action(2), end: NOW - 1 });
    expect((await local.recent('w', 0)).map((x) => x.requestId)).toEqual(['r1']);
    expect((await local.recent('w', NOW)).map((x) => x.requestId)).toEqual(['r1']);
    expect(await local.recent('w', NOW + 1)).toEqual([]);
  });

  it('without Redis: as many workspaces as the bound are all kept', async () => {
    const local = createConsoleActionStore({ keepDays: 30, maxWorkspaces: 2, now: () => NOW });
    await local.remember('w1', action(1));
    await local.remember('w2', action(2));
    expect((await local.recent('w1', 0)).map((x) => x.requestId)).toEqual(['r1']);
    expect((await local.recent('w2', 0)).map((x) => x.requestId)).toEqual(['r2']);
  });

  it('Redis frozen: the action is kept here and a warning names why it was not shared', async () => {
    const lines: string[] = [];
    const s = await connected({ logger: createLogger('info', (l) => lines.push(l)) });
    await redis.pause();
    try {
      await s.remember('wsf', action(3));
    } finally {
      await redis.resume();
    }
    expect(lines.map((l) => JSON.parse(l))).toEqual([expect.objectContaining({ level: 'warn', msg: 'console action not shared (redis)', error: 'Command timed out' })]);
  });

  it("a server that fails every connection: the client's errors are the store's to handle, none is printed to stderr", async () => {
    const printed = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const server = await startFailingServer();
    try {
      const s = createConsoleActionStore({ redisUrl: server.url, keepDays: 1 });
      await server.firstClosed; // the client emitted its error (ready check failed), then dropped the connection
      expect(printed).not.toHaveBeenCalled();
      await s.close();
    } finally {
      printed.mockRestore();
      await server.close();
    }
  });

  it('close() while not connected (QUIT refused) still stops the client: no reconnection afterwards', async () => {
    const server = await startFailingServer();
    try {
      const s = createConsoleActionStore({ redisUrl: server.url, keepDays: 1 });
      await server.firstClosed; // the client now waits to reconnect (after 200–299 ms)
      await s.close();
      const opened = server.opened();
      await new Promise((r) => setTimeout(r, 500)); // past the reconnection a live client would make next
      expect(server.opened()).toBe(opened);
    } finally {
      await server.close();
    }
  });

  it('close() ends its connection', async () => {
    const s = await connected();
    const before = await clients();
    await s.close();
    expect(await eventually(clients, (c) => c < before)).toBe(before - 1);
  });

  it('Redis gone: remembered and answered from memory, no error', async () => {
    const a = await connected();
    const lines: string[] = [];
    const quiet = await connected({ logger: createLogger('info', (l) => lines.push(l)) });
    await redis.stop();
    await a.remember('ws2', action(7));
    const got = await eventually(() => a.recent('ws2', 0), (v) => v.length > 0);
    expect(got.map((x) => x.requestId)).toEqual(['r7']);
    // Known to be away: not tried, so no warning per action.
    await new Promise((r) => setTimeout(r, 200));
    await quiet.remember('ws3', action(8));
    expect(lines).toEqual([]);
    await quiet.close(); // with Redis away: returns
  });
});
