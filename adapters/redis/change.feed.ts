import { randomUUID } from 'node:crypto';
import { redisClient } from './client';
import type { ChangeFeed, FeedRead } from '../../src/ports/changes';
import { silentLogger, type Logger } from '../../src/observability/logger';

/**
 * Change feeds (src/ports/changes.ts) over Redis, or in-process without REDIS_URL.
 *
 * Redis layout, per feed `<prefix>feed:<name>:`: `seq` (a counter, one per entry), `log` (a sorted set of
 * `<seq>:<name>` scored by seq, trimmed to the newest `retain`), `epoch` (a random id created with the feed).
 * Publishing and reading are Lua scripts, so an entry and its sequence number appear together and a reader
 * either gets every entry after its cursor or `reset`. A cursor is `<epoch>:<seq>`: a Redis that restarted empty
 * (or was flushed) has a new epoch, which readers see as `reset`.
 *
 * Redis unreachable: publish keeps the names (at most `retain`; beyond that one `*` entry meaning "everything")
 * and sends them with the next publish or read that reaches Redis; read answers nothing new (not reset), so
 * readers carry on with what they have. Connection settings as for the coordination client: no offline queue,
 * 500 ms timeouts, backoff reconnects capped at 2 s.
 */
const PUBLISH_LUA = `
if not redis.call('GET', KEYS[3]) then redis.call('SET', KEYS[3], ARGV[1]) end
local n = 0
for i = 3, #ARGV do
  n = redis.call('INCR', KEYS[1])
  redis.call('ZADD', KEYS[2], n, n .. ':' .. ARGV[i])
end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
return n`;

const READ_LUA = `
local epoch = redis.call('GET', KEYS[3])
if not epoch then epoch = ARGV[3]; redis.call('SET', KEYS[3], epoch) end
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local from = tonumber(ARGV[2])
if ARGV[1] == '' then return {epoch, seq, 0, {}} end
if epoch ~= ARGV[1] or from > seq then return {epoch, seq, 1, {}} end
if from == seq then return {epoch, seq, 0, {}} end
local entries = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. from, '+inf', 'LIMIT', 0, tonumber(ARGV[4]))
if #entries < seq - from then return {epoch, seq, 1, {}} end
return {epoch, seq, 0, entries}`;

export interface ChangeFeedOptions {
  /** Feed name (part of the Redis keys). */
  name: string;
  redisUrl?: string;
  logger?: Logger;
  /** Default `hubgate:`. */
  keyPrefix?: string;
  /** Newest entries kept (default 5,000); a reader further behind gets `reset`. */
  retain?: number;
  commandTimeoutMs?: number;
}

const parseCursor = (c: string | undefined): { epoch: string; seq: number } | undefined => {
  if (!c) return undefined;
  const i = c.lastIndexOf(':');
  const seq = Number(c.slice(i + 1));
  return i > 0 &&
    Number.isInteger(seq) &&
    // Stryker disable next-line ConditionalExpression: equivalent, a negative seq is further behind than every entry kept, so both feeds answer reset, as for a cursor that does not parse
    seq >= 0
    ? { epoch: c.slice(0, i), seq }
    : undefined;
};

/** Redis-backed when redisUrl is set, otherwise in-process. */
export function createChangeFeed(opts: ChangeFeedOptions): ChangeFeed {
  return opts.redisUrl ? createRedisChangeFeed({ ...opts, redisUrl: opts.redisUrl }) : createInProcessChangeFeed(opts.retain);
}

/** A feed of this process only (one replica). */
export function createInProcessChangeFeed(retain = 5_000): ChangeFeed {
  const epoch = randomUUID();
  let seq = 0;
  const log: { seq: number; name: string }[] = [];
  return {
    async publish(names) {
      for (const name of names) log.push({ seq: ++seq, name });
      // Stryker disable next-line ConditionalExpression,EqualityOperator: 'true' and '>=' are equivalent (splice with a count of 0 or less removes nothing); 'false' and '<=' (never trimmed) are killed by 3 tests, applied by hand
      if (log.length > retain) log.splice(0, log.length - retain);
      return true;
    },
    async read(cursor): Promise<FeedRead> {
      const c = parseCursor(cursor);
      const now = `${epoch}:${seq}`;
      if (!cursor) return { cursor: now, names: [], reset: false };
      if (!c || c.epoch !== epoch || c.seq > seq) return { cursor: now, names: [], reset: true };
      const names = log.filter((e) => e.seq > c.seq).map((e) => e.name);
      if (names.length < seq - c.seq) return { cursor: now, names: [], reset: true };
      return { cursor: now, names, reset: false };
    },
    async close() {},
  };
}

export function createRedisChangeFeed(opts: ChangeFeedOptions & { redisUrl: string }): ChangeFeed {
  const log = opts.logger ?? silentLogger;
  const retain = opts.retain ?? 5_000;
  const base = `${opts.keyPrefix ?? 'hubgate:'}feed:${opts.name}:`;
  const keys = [`${base}seq`, `${base}log`, `${base}epoch`];
  const client = redisClient(opts.redisUrl, opts.commandTimeoutMs);
  client.on('error', () => undefined); // failures are the commands' to report; ioredis would print them otherwise
  const connected = client.connect().catch(() => undefined);
  const pending = new Set<string>();
  let down = false;

  const failed = (e: unknown) => {
    if (!down) log.warn(`redis unavailable: ${opts.name} list invalidations stay on this replica until it is back`, { error: (e as Error).message });
    down = true;
  };
  const recovered = () => {
    if (down) log.info(`redis reachable again: ${opts.name} list invalidations are shared`);
    down = false;
  };

  async function flush(names: string[]): Promise<boolean> {
    for (const n of names) pending.add(n);
    if (pending.size === 0) return true;
    if (pending.size > retain) {
      pending.clear();
      pending.add('*');
    }
    const batch = [...pending];
    try {
      await connected;
      await client.eval(PUBLISH_LUA, 3, ...keys, randomUUID(), String(retain), ...batch);
      for (const n of batch) pending.delete(n);
      recovered();
      return true;
    } catch (e) {
      failed(e);
      return false;
    }
  }

  return {
    publish: (names) => flush(names),
    async read(cursor): Promise<FeedRead> {
      await flush([]); // names kept while Redis was away go first (nothing is sent when none are)
      const c = parseCursor(cursor);
      try {
        await connected;
        const r = (await client.eval(READ_LUA, 3, ...keys, cursor ? (c?.epoch ?? '?') : '', String(c?.seq ?? 0), randomUUID(), String(retain))) as [
          string,
          number,
          number,
          string[],
        ];
        recovered();
        const [epoch, seq, reset, entries] = r;
        return { cursor: `${epoch}:${seq}`, names: entries.map((e) => e.slice(e.indexOf(':') + 1)), reset: reset === 1 };
      } catch (e) {
        failed(e);
        return { cursor: cursor ?? '', names: [], reset: false };
      }
    },
    async close() {
      await connected;
      // Refused at once without a connection (no offline queue), bounded by the command timeout with one.
      await client.quit().catch(() => undefined);
      client.disconnect();
    },
  };
}
