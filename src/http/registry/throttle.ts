import { createHash } from 'node:crypto';
import type { Cache, Coordination } from '../../ports/coordination';

/**
 * Failed-login throttling for the registry front, per (username, client address) pair and per client address.
 *
 * A fixed window per key: failures inside `windowSeconds` are counted; reaching the key's maximum blocks the key
 * for `blockSeconds` (every login for it — right or wrong — gets 429 with Retry-After until then). A successful
 * login clears its pair's counter (not the address's: many users may share one NAT address).
 *
 * Why pairs and not usernames: usernames are predictable (`hg-<project>`), so a per-username block is a weapon —
 * ten wrong guesses from anywhere would lock a project's CI out. A pair block only stops the address that guessed
 * wrong; the higher per-address limit stops one address guessing across many usernames. Guessing one username
 * from many addresses is left to the passwords themselves: they are generated (HMAC-derived, 32+ characters), not
 * chosen by people. RegistryLogin serialises the checks of one pair (a shared lock while Redis is up), so
 * parallel guesses are counted one after another and never get more password checks than the pair's limit.
 *
 * While Redis is reachable (`shared()`), Redis is the source of truth: whenever it answers — "no entry" included —
 * its entry is the state, and this process's copy of that key is replaced by it (or dropped). A successful login
 * writes a "cleared at" entry (`c`) rather than only deleting, so that no replica can bring older failures back.
 * The in-process table is the fallback while Redis is down (or not configured: then it is the only state):
 * - entries written while Redis could not be reached are marked unsynced; when Redis answers again they are merged
 *   into its entry (the stronger of the two) and written back — unless Redis has recorded a successful login
 *   after them (`c` later than the local change), then they are dropped;
 * - a success while Redis is down clears the local entry and issues a delete, which the Redis adapter replays
 *   when Redis is back.
 * Redis keys live max(window, block) + 1 s after their last write, so a "cleared at" entry outlives every local
 * change it has to overrule. Redis updates are a read-modify-write: concurrent failures on different replicas can
 * lose an increment (the block then comes a few attempts later) — acceptable for a brute-force brake, and it never
 * fails a request when Redis is down.
 */
export interface ThrottleSettings {
  /** Failed logins per (username, client address) pair within the window before the pair is blocked. */
  maxFailuresPerUser: number;
  /** Failed logins per client address within the window before it is blocked. */
  maxFailuresPerAddress: number;
  windowSeconds: number;
  blockSeconds: number;
}

export type ThrottleScope = 'username' | 'client';

export interface ThrottleVerdict {
  scope: ThrottleScope;
  retryAfterSeconds: number;
}

interface Entry {
  /** Failures in the current window. */
  n: number;
  /** Window start (ms since epoch). */
  w: number;
  /** Blocked until (ms since epoch), 0 when not blocked. */
  b: number;
  /** Last successful login (ms since epoch), when one was recorded in Redis: older local changes are void. */
  c?: number;
}

/** This process's copy of a key. */
interface LocalEntry {
  e: Entry;
  /** Written while Redis could not be reached: not in Redis yet. */
  unsynced: boolean;
  /** Time of the last local change (ms since epoch). */
  at: number;
}

export interface ThrottleDeps {
  settings: ThrottleSettings;
  /** Shared store (Redis-backed cache); used while `coordination.shared()` is true. */
  cache?: Cache;
  coordination?: Pick<Coordination, 'shared'>;
  now?: () => number;
  /** Bound on the in-process table (oldest entries are dropped first). */
  maxLocalEntries?: number;
}

const KEY_PREFIX = 'registry-login:';
const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 32);

export class LoginThrottle {
  private readonly local = new Map<string, LocalEntry>();
  private readonly now: () => number;
  private readonly maxLocal: number;

  constructor(private readonly deps: ThrottleDeps) {
    this.now = deps.now ?? Date.now;
    this.maxLocal = deps.maxLocalEntries ?? 100_000;
  }

  /** Keys are hashed: usernames and addresses never appear in Redis in clear. */
  private keys(username: string | undefined, address: string | undefined): { key: string; scope: ThrottleScope; max: number }[] {
    const out: { key: string; scope: ThrottleScope; max: number }[] = [];
    if (username !== undefined) out.push({ key: `${KEY_PREFIX}p:${hash(`${username}\0${address ?? ''}`)}`, scope: 'username', max: this.deps.settings.maxFailuresPerUser });
    if (address) out.push({ key: `${KEY_PREFIX}a:${hash(address)}`, scope: 'client', max: this.deps.settings.maxFailuresPerAddress });
    return out;
  }

  private shared(): boolean {
    return !!this.deps.cache && !!this.deps.coordination?.shared();
  }

  /** Whether an entry still counts: failures inside their window, or a block not over. */
  private live(e: Entry, now: number): boolean {
    return (e.n > 0 && now - e.w < this.deps.settings.windowSeconds * 1000) || e.b > now;
  }

  /** Seconds a Redis entry is kept after its last write. */
  private ttl(e: Entry, now: number): number {
    const { windowSeconds, blockSeconds } = this.deps.settings;
    return Math.max(windowSeconds, blockSeconds, Math.ceil((e.b - now) / 1000)) + 1;
  }

  private setLocal(key: string, e: Entry, unsynced: boolean, now: number): void {
    this.local.delete(key);
    this.local.set(key, { e, unsynced, at: now });
    if (this.local.size > this.maxLocal) {
      const oldest = this.local.keys().next().value;
      if (oldest !== undefined) this.local.delete(oldest);
    }
  }

  /** Writes to Redis (while shared) and keeps the local copy, unsynced when Redis did not take it. */
  private async write(key: string, e: Entry, now: number): Promise<void> {
    let synced = false;
    if (this.shared()) {
      try {
        await this.deps.cache!.set(key, e, this.ttl(e, now));
        // The Redis adapter swallows errors and turns shared() false instead of throwing.
        synced = this.shared();
      } catch {
        /* degraded: the local copy holds, unsynced */
      }
    }
    this.setLocal(key, e, !synced, now);
  }

  /** Redis's entry for the key: undefined for none, `failed` when Redis could not be asked or did not answer. */
  private async fetch(key: string): Promise<Entry | undefined | 'failed'> {
    if (!this.shared()) return 'failed';
    let got: unknown;
    try {
      got = await this.deps.cache!.get<unknown>(key);
    } catch {
      return 'failed';
    }
    // The Redis adapter answers a failed GET with undefined and turns shared() false.
    if (!this.shared()) return 'failed';
    return isEntry(got) ? got : undefined;
  }

  /** The current state of a key: Redis's while it answers, else this process's. */
  private async read(key: string, now: number): Promise<Entry | undefined> {
    const theirs = await this.fetch(key);
    const mine = this.local.get(key);
    if (theirs === 'failed') return mine?.e;
    if (!mine?.unsynced || !this.live(mine.e, now) || mine.at <= (theirs?.c ?? 0)) {
      // Redis is the truth. The local copy is only the fallback for an outage: the last state seen in Redis.
      if (theirs && this.live(theirs, now)) this.setLocal(key, theirs, false, now);
      else this.local.delete(key);
      return theirs;
    }
    // Changes made here while Redis was unreachable, and no success recorded since: carry them into Redis.
    const merged = theirs ? stronger(theirs, mine.e) : mine.e;
    await this.write(key, merged, now);
    return merged;
  }

  /** Whether a login for this username / from this address is blocked now. */
  async check(username: string | undefined, address: string | undefined): Promise<ThrottleVerdict | undefined> {
    const now = this.now();
    let verdict: ThrottleVerdict | undefined;
    for (const { key, scope } of this.keys(username, address)) {
      const e = await this.read(key, now);
      if (e && e.b > now) {
        const retryAfterSeconds = Math.max(1, Math.ceil((e.b - now) / 1000));
        if (!verdict || retryAfterSeconds > verdict.retryAfterSeconds) verdict = { scope, retryAfterSeconds };
      }
    }
    return verdict;
  }

  /** Counts a failed login; returns the block it caused, if any. */
  async failure(username: string | undefined, address: string | undefined): Promise<ThrottleVerdict | undefined> {
    const now = this.now();
    const { windowSeconds, blockSeconds } = this.deps.settings;
    let verdict: ThrottleVerdict | undefined;
    for (const { key, scope, max } of this.keys(username, address)) {
      const prev = await this.read(key, now);
      const inWindow = prev && now - prev.w < windowSeconds * 1000;
      // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, a block starts the window at its end, so outside the window no block runs (a past b counts as 0)
      const e: Entry = inWindow ? { n: prev.n + 1, w: prev.w, b: prev.b } : { n: 1, w: now, b: prev && prev.b > now ? prev.b : 0 };
      if (prev?.c !== undefined) e.c = prev.c;
      if (e.n >= max && e.b <= now) {
        e.b = now + blockSeconds * 1000;
        // A new window starts with the block, so the next failure after it does not block again at once.
        e.n = 0;
        e.w = e.b;
      }
      await this.write(key, e, now);
      if (e.b > now) {
        const retryAfterSeconds = Math.max(1, Math.ceil((e.b - now) / 1000));
        if (!verdict || retryAfterSeconds > verdict.retryAfterSeconds) verdict = { scope, retryAfterSeconds };
      }
    }
    return verdict;
  }

  /**
   * A successful login clears its username's failures: here, and in Redis as a "cleared at now" entry that makes
   * every replica drop its own copy (including changes it could not write to Redis during an outage).
   */
  async success(username: string, address?: string): Promise<void> {
    const now = this.now();
    const [{ key }] = this.keys(username, address);
    this.local.delete(key);
    // Stryker disable next-line ConditionalExpression: equivalent, without a cache the delete below throws and is caught
    if (!this.deps.cache) return;
    if (this.shared()) {
      // w: 0 — no window open; the next failure starts one.
      const cleared: Entry = { n: 0, w: 0, b: 0, c: now };
      try {
        await this.deps.cache.set(key, cleared, this.ttl(cleared, now));
        if (this.shared()) return;
      } catch {
        /* Redis unreachable: fall through */
      }
    }
    // Redis unreachable (or not configured): a delete, which the Redis adapter replays once Redis is back, so the
    // failures Redis held before this success do not outlive it.
    try {
      await this.deps.cache.del(key);
    } catch {
      /* degraded */
    }
  }
}

/** The stronger of two states: the later window (same window: the higher count), the later block, the later clear. */
function stronger(x: Entry, y: Entry): Entry {
  const n = x.w > y.w ? x.n : y.w > x.w ? y.n : Math.max(x.n, y.n);
  const e: Entry = { n, w: Math.max(x.w, y.w), b: Math.max(x.b, y.b) };
  const c = Math.max(x.c ?? 0, y.c ?? 0);
  if (c > 0) e.c = c;
  return e;
}

function isEntry(v: unknown): v is Entry {
  if (typeof v !== 'object' || v === null) return false;
  const { n, w, b, c } = v as Record<string, unknown>;
  return typeof n === 'number' && typeof w === 'number' && typeof b === 'number' && (c === undefined || typeof c === 'number');
}
