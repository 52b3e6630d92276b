/**
 * Shared state across replicas. Implemented over Redis (adapters/redis) with an in-process fallback: when
 * Redis is down every method still works, scoped to this process, and `shared()` says so.
 */
export interface Coordination {
  /**
   * Runs fn while holding the named lock. Always serialises callers in this process; across replicas while
   * Redis is reachable. Waits at most waitMs for the lock (then throws AppError conflict).
   */
  withLock<T>(name: string, fn: () => Promise<T>, opts?: { ttlMs?: number; waitMs?: number }): Promise<T>;
  /** True when the last Redis operation succeeded (locks and caches span replicas). */
  shared(): boolean;
}

export interface Cache {
  get<T>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T, ttlSeconds: number): Promise<void>;
  /** Deletes keys; a key ending in `*` deletes by prefix. */
  del(...keys: string[]): Promise<void>;
}
