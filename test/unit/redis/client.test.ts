/**
 * The one ioredis client every Redis adapter uses (adapters/redis/client.ts): its fail-fast settings, the reconnect
 * backoff with jitter, and the URL's password masked in logs. Nothing connects (lazyConnect).
 */
import { redisClient } from '../../../adapters/redis/client';
import { createLogger } from '../../../src/observability/logger';

describe('redisClient', () => {
  it('is lazy, fails fast (no offline queue, one retry) and uses the given timeout to connect and per command', () => {
    const c = redisClient('redis://127.0.0.1:1/0', 750);
    expect(c.status).toBe('wait');
    expect(c.options).toMatchObject({ lazyConnect: true, enableOfflineQueue: false, connectTimeout: 750, commandTimeout: 750, maxRetriesPerRequest: 1 });
    expect(redisClient('redis://127.0.0.1:1/0').options).toMatchObject({ connectTimeout: 500, commandTimeout: 500 });
    c.disconnect();
  });

  it('reconnects after 200 ms, 400 ms … capped at 2 s, each plus 0–99 ms of jitter', () => {
    const retry = redisClient('redis://127.0.0.1:1/0').options.retryStrategy!;
    const random = jest.spyOn(Math, 'random');
    try {
      random.mockReturnValue(0);
      expect([1, 2, 3, 4, 5, 6, 50].map((n) => retry(n))).toEqual([200, 400, 800, 1600, 2000, 2000, 2000]);
      random.mockReturnValue(0.999);
      expect([1, 6].map((n) => retry(n))).toEqual([299, 2099]);
    } finally {
      random.mockRestore();
    }
  });

  it("masks the URL's password (percent-decoded) in every log line from then on", () => {
    const lines: string[] = [];
    const log = createLogger('info', (l) => lines.push(l));
    redisClient('redis://:p%40ss-w0rd-for-redis@127.0.0.1:1/0').disconnect();
    log.info('connecting with p@ss-w0rd-for-redis failed');
    expect(lines[0]).toContain('connecting with [redacted] failed');
  });

  it('a URL that does not parse is refused at once, naming no part of it', () => {
    expect(() => redisClient('redis//:hunter2-secret@host')).toThrow(new TypeError('Invalid URL'));
  });
});
