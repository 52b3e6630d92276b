import { randomUUID } from 'node:crypto';
import { COORDINATION_RETRY_AFTER_SECONDS, type Cache, type Coordination } from '../../src/ports/coordination';
import { AppError } from '../../src/domain/errors';
import { silentLogger, type Logger } from '../../src/observability/logger';
import { redisClient } from './client';
import { LocalLocks, lockBusy } from './local.locks';
import { MemoryCache } from './memory.cache';

/**
 * Locks and cache shared by all hubgate replicas through Redis, degrading to this process when Redis is
 * unreachable — never failing a request because of Redis, never hanging on it.
 *
 * - Client: lazyConnect (connection started explicitly, errors handled), no offline queue (a command while
 *   disconnected fails at once), connect and command timeouts of 500 ms, one retry per request, reconnect
 *   with exponential backoff capped at 2 s. So a Redis outage costs a request at most ~0.5 s per command.
 * - withLock: first an in-process FIFO mutex per name (always), then — if Redis answers — `SET lock token NX PX
 *   ttl`, polled with backoff until waitMs (one budget for both stages; then AppError conflict). While fn runs,
 *   a watchdog extends the TTL every ttl/3 so a long fn keeps its lock; a crashed holder's lock expires after
 *   ttl. Release is a Lua compare-and-delete (only our token). If Redis fails, fn runs under the in-process
 *   lock only, and shared() turns false.
 * - withLock({ required: true }) (ownership changes): never degrades. Redis unreachable → AppError unavailable
 *   (503, Retry-After). A Redis that restarted less than `lockQuarantineMs` ago (its uptime, read on every
 *   (re)connection) has lost the locks it held while their holders may still be writing: required locks are
 *   refused until it is older (a restart-delay quarantine, as the Redlock analysis recommends). fn's `held()`
 *   turns false when Redis is lost, an extension fails, or the lock is within a third of its TTL of expiring.
 * - Cache: JSON values with TTL; errors are swallowed (get → undefined, set/del → no-op) and turn shared()
 *   false. Deletes that failed during an outage are replayed when Redis is back (bounded: past 1,000 pending
 *   deletes, the whole cache namespace is cleared instead), so an invalidation is not lost, only delayed.
 *   While Redis is down the cache is simply a miss — no per-replica copy that others could not invalidate.
 * - Keys: `<prefix>lock:<name>` and `<prefix>cache:<key>`, prefix `hubgate:`.
 * - One warning per outage ("redis unavailable ..."), one info when it is back; never the URL or password.
 */
export interface CoordinationService extends Coordination, Cache {
  /** For the hubgate_redis_up gauge: undefined when Redis is not configured, else 1 (reachable) or 0. */
  redisUp(): 0 | 1 | undefined;
  /** Sends PING (a cheap way to refresh redisUp()/shared(), e.g. from readiness). True when Redis answered. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface CoordinationOptions {
  /** redis:// or rediss:// URL; without it everything is in-process. */
  redisUrl?: string;
  logger?: Logger;
  /** Default `hubgate:`. */
  keyPrefix?: string;
  /** Connect and command timeout, default 500 ms. */
  commandTimeoutMs?: number;
  /** Default lock TTL, 30 s. */
  defaultTtlMs?: number;
  /** Default time to wait for a lock, 10 s. */
  defaultWaitMs?: number;
  /** Required locks are refused while Redis has been up for less than this (default 15 s; see withLock). */
  lockQuarantineMs?: number;
}

const DEFAULT_TTL_MS = 30_000;
const DEFAULT_WAIT_MS = 10_000;
/** Longer than a Harbor call in flight (HARBOR_TIMEOUT_MS, default 10 s) can take to land. */
export const DEFAULT_LOCK_QUARANTINE_MS = 15_000;
const MAX_PENDING_INVALIDATIONS = 1_000;
const SCAN_BUDGET_MS = 5_000;

const RELEASE_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Redis-backed when redisUrl is set, otherwise in-process. */
export function createCoordination(opts: CoordinationOptions = {}): CoordinationService {
  return opts.redisUrl ? createRedisCoordination({ ...opts, redisUrl: opts.redisUrl }) : createInProcessCoordination(opts);
}

/** Locks and cache of this process only (no REDIS_URL). shared() is always false; redisUp() undefined. */
export function createInProcessCoordination(opts: Pick<CoordinationOptions, 'defaultTtlMs' | 'defaultWaitMs'> = {}): CoordinationService {
  const locks = new LocalLocks();
  const cache = new MemoryCache();
  return {
    async withLock(name, fn, lockOpts) {
      // Without Redis there is one replica by configuration: the process lock is the whole lock, required or not.
      const release = await locks.acquire(name, lockOpts?.waitMs ?? opts.defaultWaitMs ?? DEFAULT_WAIT_MS);
      try {
        return await fn(() => true);
      } finally {
        release();
      }
    },
    shared: () => false,
    get: (key) => cache.get(key),
    set: (key, value, ttlSeconds) => cache.set(key, value, ttlSeconds),
    del: (...keys) => cache.del(...keys),
    redisUp: () => undefined,
    ping: async () => false,
    close: async () => {},
  };
}

export function createRedisCoordination(opts: CoordinationOptions & { redisUrl: string }): CoordinationService {
  const log = opts.logger ?? silentLogger;
  const prefix = opts.keyPrefix ?? 'hubgate:';
  const defaultTtlMs = opts.defaultTtlMs ?? DEFAULT_TTL_MS;
  const defaultWaitMs = opts.defaultWaitMs ?? DEFAULT_WAIT_MS;
  const quarantineMs = opts.lockQuarantineMs ?? DEFAULT_LOCK_QUARANTINE_MS;
  const lockKey = (name: string) => `${prefix}lock:${name}`;
  const cacheKey = (key: string) => `${prefix}cache:${key}`;
  const client = redisClient(opts.redisUrl, opts.commandTimeoutMs);

  const locks = new LocalLocks();
  let up: boolean | undefined; // undefined until the first outcome
  let warned = false; // the current outage has been logged
  let connecting = true; // the first connection attempt is in flight: a command failing now is no outage yet
  let connectCause: unknown; // the first error of that attempt: its cause, when it fails (e.g. ECONNREFUSED)
  let closed = false;
  const pendingDeletes = new Set<string>(); // exact keys, or `prefix*` patterns (full Redis keys)
  let clearAllOnRecovery = false;
  /** When the Redis server of the current connection started (from INFO uptime); undefined until read. */
  let redisBornAt: number | undefined;

  const markDown = (e: unknown) => {
    if (closed) return;
    up = false;
    if (connecting) {
      connectCause ??= e;
      return;
    }
    if (!warned) {
      warned = true;
      log.warn('redis unavailable: locks and caches are local to this replica until it is back', { error: describeError(e) });
    }
  };
  // Every answer from Redis (a command, a new connection) ends an outage and replays what it missed, if anything.
  // Nothing answers once close() has disconnected the client (its pending commands are rejected), so no guard.
  const markUp = () => {
    up = true;
    if (warned) log.info('redis reachable again: locks and caches are shared');
    warned = false;
    void replayDeletes();
  };

  client.on('error', markDown); // also keeps ioredis from printing "Unhandled error event" to stderr
  client.on('close', () => {
    redisBornAt = undefined; // the next connection may reach a restarted server
    markDown(new Error('connection closed'));
  });
  client.on('ready', markUp);
  client.connect().then(
    () => (connecting = false),
    (e: unknown) => {
      connecting = false;
      markDown(connectCause ?? e);
    },
  );

  /** Runs a Redis command; failures mark the outage and come back as `failed`. */
  async function attempt<T>(op: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
    try {
      const value = await op();
      markUp();
      return { ok: true, value };
    } catch (e) {
      markDown(e);
      return { ok: false };
    }
  }

  async function deleteByPattern(fullPrefix: string): Promise<void> {
    const pattern = `${escapeGlob(fullPrefix)}*`;
    const deadline = Date.now() + SCAN_BUDGET_MS;
    let cursor: string | number = 0;
    do {
      const [next, found]: [string, string[]] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      if (found.length > 0) await client.unlink(...found);
      cursor = next;
      if (Date.now() > deadline) throw new Error('cache prefix delete took too long');
    } while (cursor !== '0');
  }

  async function deleteKeys(exact: string[], patterns: string[]): Promise<void> {
    if (exact.length > 0) await client.unlink(...exact);
    for (const p of patterns) await deleteByPattern(p);
  }

  function rememberDeletes(keys: string[]) {
    for (const k of keys) pendingDeletes.add(k);
    if (pendingDeletes.size > MAX_PENDING_INVALIDATIONS) {
      pendingDeletes.clear();
      clearAllOnRecovery = true;
    }
  }

  async function replayDeletes(): Promise<void> {
    if (!clearAllOnRecovery && pendingDeletes.size === 0) return;
    const all = clearAllOnRecovery;
    const keys = [...pendingDeletes];
    clearAllOnRecovery = false;
    pendingDeletes.clear();
    const patterns = all ? [cacheKey('')] : keys.filter((k) => k.endsWith('*')).map((k) => k.slice(0, -1));
    const exact = all ? [] : keys.filter((k) => !k.endsWith('*'));
    const r = await attempt(() => deleteKeys(exact, patterns));
    if (r.ok) log.info('replayed cache invalidations missed during the redis outage', { keys: keys.length, all });
    else if (all) clearAllOnRecovery = true;
    else rememberDeletes(keys);
  }

  /** Takes the Redis lock: true when held, false when Redis failed (degraded). Throws conflict past the deadline. */
  async function acquireShared(key: string, token: string, ttlMs: number, deadline: number): Promise<boolean> {
    let delay = 10;
    for (;;) {
      const r = await attempt(() => client.set(key, token, 'PX', ttlMs, 'NX'));
      if (!r.ok) return false;
      if (r.value === 'OK') return true;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw lockBusy();
      await sleep(Math.min(delay + Math.floor(Math.random() * delay), remaining));
      delay = Math.min(delay * 2, 250);
    }
  }

  /** Milliseconds the Redis server has been up (read once per connection), or undefined when it does not answer. */
  async function redisAgeMs(): Promise<number | undefined> {
    if (redisBornAt === undefined) {
      const r = await attempt(() => client.info('server'));
      if (!r.ok) return undefined;
      const m = /uptime_in_seconds:(\d+)/.exec(r.value);
      if (!m) return undefined;
      redisBornAt = Date.now() - Number(m[1]) * 1000;
    }
    return Date.now() - redisBornAt;
  }

  const unavailable = (why: string) =>
    new AppError('unavailable', `coordination between the hubgate replicas is unavailable (${why}); ownership changes are refused until it is back, try again`, {
      retryAfterSeconds: COORDINATION_RETRY_AFTER_SECONDS,
    });

  function startWatchdog(key: string, token: string, ttlMs: number): { stop: () => void; held: () => boolean } {
    let lost = false;
    let validUntil = Date.now() + ttlMs;
    const timer = setInterval(
      () => {
        const sent = Date.now();
        void attempt(() => client.eval(EXTEND_LUA, 1, key, token, String(ttlMs))).then((r) => {
          if (r.ok && Number(r.value) === 1) validUntil = sent + ttlMs;
          else if (r.ok && !lost) {
            lost = true;
            log.warn('redis lock expired while held; another replica may have taken it', { ttlMs });
          }
        });
      },
      Math.max(Math.floor(ttlMs / 3), 10),
    );
    timer.unref();
    return {
      stop: () => clearInterval(timer),
      held: () =>
        !lost && up === true && redisBornAt !== undefined && Date.now() - redisBornAt >= quarantineMs && Date.now() < validUntil - ttlMs / 3,
    };
  }

  return {
    async withLock(name, fn, lockOpts) {
      const ttlMs = Math.max(lockOpts?.ttlMs ?? defaultTtlMs, 100);
      const waitMs = lockOpts?.waitMs ?? defaultWaitMs;
      const deadline = Date.now() + waitMs;
      const required = lockOpts?.required === true;
      const releaseLocal = await locks.acquire(name, waitMs);
      const key = lockKey(name);
      const token = randomUUID();
      let holdsShared: boolean | undefined;
      let watchdog: ReturnType<typeof startWatchdog> | undefined;
      try {
        if (required) {
          // Quarantine first (a restarted Redis may be handing out locks others still believe they hold).
          const age = await redisAgeMs();
          if (age === undefined) throw unavailable('redis unreachable');
          if (age < quarantineMs) {
            throw new AppError('unavailable', 'coordination between the hubgate replicas restarted moments ago; ownership changes are refused for a few seconds, try again', {
              retryAfterSeconds: Math.max(1, Math.ceil((quarantineMs - age) / 1000)),
            });
          }
        }
        holdsShared = await acquireShared(key, token, ttlMs, deadline);
        if (!holdsShared && required) throw unavailable('redis unreachable');
        if (holdsShared) watchdog = startWatchdog(key, token, ttlMs);
        return await fn(watchdog ? watchdog.held : () => !required);
      } finally {
        watchdog?.stop();
        if (holdsShared) await attempt(() => client.eval(RELEASE_LUA, 1, key, token));
        releaseLocal();
      }
    },
    shared: () => up === true,
    async get<T>(key: string): Promise<T | undefined> {
      const r = await attempt(() => client.get(cacheKey(key)));
      if (!r.ok || r.value === null) return undefined;
      try {
        return JSON.parse(r.value) as T;
      }
      // Stryker disable next-line BlockStatement: equivalent, an empty catch falls off the end of get(), which returns undefined as well
      catch {
        return undefined;
      }
    },
    async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
      const json = JSON.stringify(value);
      const ttl = Math.round(ttlSeconds * 1000);
      if (json === undefined || !(ttl > 0)) {
        await attempt(() => client.unlink(cacheKey(key)));
        return;
      }
      await attempt(() => client.set(cacheKey(key), json, 'PX', ttl));
    },
    async del(...keys: string[]): Promise<void> {
      if (keys.length === 0) return; // no command: nothing to learn about Redis either
      const exact = keys.filter((k) => !k.endsWith('*')).map(cacheKey);
      const patterns = keys.filter((k) => k.endsWith('*')).map((k) => cacheKey(k.slice(0, -1)));
      const r = await attempt(() => deleteKeys(exact, patterns));
      if (!r.ok) rememberDeletes([...exact, ...patterns.map((p) => `${p}*`)]);
    },
    redisUp: () => (up === true ? 1 : 0),
    async ping() {
      return (await attempt(() => client.ping())).ok;
    },
    async close() {
      closed = true;
      // QUIT lets Redis answer what is in flight; it is bounded by the command timeout, and refused at once when
      // there is no connection (no offline queue). Then the socket and any reconnection timer go.
      await client.quit().catch(() => undefined);
      client.disconnect();
    },
  };
}

/** Escapes Redis glob metacharacters so a key prefix matches literally. */
export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

function describeError(e: unknown): string {
  const { code, message } = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') return code;
  return typeof message === 'string' ? message.slice(0, 200) : 'unknown error';
}
