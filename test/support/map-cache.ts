import type { Cache } from '../../src/ports/coordination';

/**
 * A Cache over a Map, standing in for Redis shared by replicas: TTLs are not kept (tests clear or delete entries
 * to play expiry). While `up()` is false it behaves like the Redis adapter with Redis away: reads answer nothing and
 * writes are dropped.
 */
export function mapCache(entries = new Map<string, unknown>(), up: () => boolean = () => true): Cache {
  return {
    get: async <T,>(key: string) => (up() ? (entries.get(key) as T | undefined) : undefined),
    set: async <T,>(key: string, value: T) => {
      if (up()) entries.set(key, value);
    },
    del: async (...keys: string[]) => keys.forEach((k) => entries.delete(k)),
  };
}
