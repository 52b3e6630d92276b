/**
 * Shared state across replicas. Implemented over Redis (adapters/redis) with an in-process fallback: when
 * Redis is down every method still works, scoped to this process, and `shared()` says so.
 */
export interface Coordination {
  /**
   * Runs fn while holding the named lock. Always serialises callers in this process; across replicas while
   * Redis is reachable. Waits at most waitMs for the lock (then throws AppError conflict).
   */
  withLock<T>(name: string, fn: (held: () => boolean) => Promise<T>, opts?: LockOptions): Promise<T>;
  /** True when the last Redis operation succeeded (locks and caches span replicas). */
  shared(): boolean;
}

export interface LockOptions {
  ttlMs?: number;
  waitMs?: number;
  /**
   * The lock must span replicas: with Redis configured but unreachable (or restarted less than the quarantine
   * ago, when locks held before the restart may still be in use), withLock throws AppError unavailable (503 with
   * Retry-After) instead of degrading to this process. Without Redis configured (one replica) it runs as usual.
   * fn gets `held()`: false once the lock can no longer be trusted (Redis lost, an extension failed, close to its
   * TTL) — check it right before every write that the lock guards.
   */
  required?: boolean;
}

/** The 503 a required lock ends with while coordination is unavailable. */
export const COORDINATION_RETRY_AFTER_SECONDS = 5;

export interface Cache {
  get<T>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T, ttlSeconds: number): Promise<void>;
  /** Deletes keys; a key ending in `*` deletes by prefix. */
  del(...keys: string[]): Promise<void>;
}
