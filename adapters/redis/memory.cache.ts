import type { Cache } from '../../src/ports/coordination';

/**
 * The cache of a single process (no REDIS_URL). Values are stored as JSON, like in Redis, so callers never
 * share object references with the cache. Expired entries are dropped when read; beyond maxEntries the
 * oldest entries go first.
 */
export class MemoryCache implements Cache {
  private readonly entries = new Map<string, { json: string; expiresAt: number }>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  async get<T>(key: string): Promise<T | undefined> {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return JSON.parse(e.json) as T;
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    const json = JSON.stringify(value);
    this.entries.delete(key);
    if (json === undefined || !(ttlSeconds > 0)) return;
    this.entries.set(key, { json, expiresAt: this.now() + ttlSeconds * 1000 });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  async del(...keys: string[]): Promise<void> {
    for (const key of keys) {
      if (key.endsWith('*')) {
        const prefix = key.slice(0, -1);
        for (const k of [...this.entries.keys()]) if (k.startsWith(prefix)) this.entries.delete(k);
      } else {
        this.entries.delete(key);
      }
    }
  }

  size(): number {
    return this.entries.size;
  }
}
