import { createHash } from 'node:crypto';
import type { Cache, Coordination } from '../../ports/coordination';

/**
 * Failed-login throttling for the registry front, per username and per client address.
 *
 * A fixed window per key: failures inside `windowSeconds` are counted; reaching the key's maximum blocks the key
 * for `blockSeconds` (every login for it — right or wrong — gets 429 with Retry-After until then). A successful
 * login clears its username's counter (not the address's: many users may share one NAT address).
 *
 * State is kept in this process always and, while Redis is reachable (`shared()`), also in the shared cache, so
 * the replicas see each other's failures. The effective state is the stronger of the two. Redis updates are a
 * read-modify-write: concurrent failures on different replicas can lose an increment (the block then comes a
 * few attempts later) — acceptable for a brute-force brake, and it never fails a request when Redis is down.
 */
export interface ThrottleSettings {
  /** Failed logins per username within the window before it is blocked. */
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
  private readonly local = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly maxLocal: number;

  constructor(private readonly deps: ThrottleDeps) {
    this.now = deps.now ?? Date.now;
    this.maxLocal = deps.maxLocalEntries ?? 100_000;
  }

  /** Keys are hashed: usernames and addresses never appear in Redis in clear. */
  private keys(username: string | undefined, address: string | undefined): { key: string; scope: ThrottleScope; max: number }[] {
    const out: { key: string; scope: ThrottleScope; max: number }[] = [];
    if (username !== undefined) out.push({ key: `${KEY_PREFIX}u:${hash(username)}`, scope: 'username', max: this.deps.settings.maxFailuresPerUser });
    if (address) out.push({ key: `${KEY_PREFIX}a:${hash(address)}`, scope: 'client', max: this.deps.settings.maxFailuresPerAddress });
    return out;
  }

  private shared(): boolean {
    return !!this.deps.cache && !!this.deps.coordination?.shared();
  }

  private async read(key: string): Promise<Entry | undefined> {
    const mine = this.local.get(key);
    if (!this.shared()) return mine;
    let theirs: Entry | undefined;
    try {
      theirs = await this.deps.cache!.get<Entry>(key);
    } catch {
      theirs = undefined;
    }
    if (!theirs || typeof theirs.n !== 'number') return mine;
    if (!mine) return theirs;
    // The stronger of the two: later window wins; same window, the higher count; the later block.
    const base = theirs.w > mine.w ? theirs : mine.w > theirs.w ? mine : theirs.n >= mine.n ? theirs : mine;
    return { ...base, b: Math.max(mine.b, theirs.b) };
  }

  private async write(key: string, e: Entry): Promise<void> {
    this.local.delete(key);
    this.local.set(key, e);
    if (this.local.size > this.maxLocal) {
      const oldest = this.local.keys().next().value;
      if (oldest !== undefined) this.local.delete(oldest);
    }
    if (this.shared()) {
      const { windowSeconds, blockSeconds } = this.deps.settings;
      const ttl = Math.max(windowSeconds, blockSeconds, Math.ceil((e.b - this.now()) / 1000)) + 1;
      try {
        await this.deps.cache!.set(key, e, ttl);
      } catch {
        /* degraded: local state still holds */
      }
    }
  }

  /** Whether a login for this username / from this address is blocked now. */
  async check(username: string | undefined, address: string | undefined): Promise<ThrottleVerdict | undefined> {
    const now = this.now();
    let verdict: ThrottleVerdict | undefined;
    for (const { key, scope } of this.keys(username, address)) {
      const e = await this.read(key);
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
      const prev = await this.read(key);
      const inWindow = prev && now - prev.w < windowSeconds * 1000;
      const e: Entry = inWindow ? { n: prev.n + 1, w: prev.w, b: prev.b } : { n: 1, w: now, b: prev && prev.b > now ? prev.b : 0 };
      if (e.n >= max && e.b <= now) {
        e.b = now + blockSeconds * 1000;
        // A new window starts with the block, so the next failure after it does not block again at once.
        e.n = 0;
        e.w = e.b;
      }
      await this.write(key, e);
      if (e.b > now) {
        const retryAfterSeconds = Math.max(1, Math.ceil((e.b - now) / 1000));
        if (!verdict || retryAfterSeconds > verdict.retryAfterSeconds) verdict = { scope, retryAfterSeconds };
      }
    }
    return verdict;
  }

  /** A successful login clears its username's failures. */
  async success(username: string): Promise<void> {
    const [{ key }] = this.keys(username, undefined);
    this.local.delete(key);
    if (this.shared()) {
      try {
        await this.deps.cache!.del(key);
      } catch {
        /* degraded */
      }
    }
  }
}
