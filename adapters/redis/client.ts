import Redis from 'ioredis';
import { registerSecret } from '../../src/observability/logger';

/**
 * The ioredis client of every Redis adapter: connected by the caller (`lazyConnect`), commands fail fast instead
 * of queueing while Redis is away (`enableOfflineQueue: false`, one retry, `timeoutMs` to connect and per
 * command; one cut off by a dropped connection is not sent again), reconnects with a backoff capped at 2 s plus up to 100 ms of jitter (replicas do not reconnect in
 * step). The URL's password joins the secrets the logger masks.
 */
export function redisClient(url: string, timeoutMs = 500): Redis {
  // The configuration validated the URL; one that does not parse throws here, as ioredis would.
  registerSecret(decodeURIComponent(new URL(url).password));
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    // A command cut off by a dropped connection has failed for its caller: sending it again after the reconnect
    // could land a stale cache write after an invalidation, or a lock nobody holds.
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000) + Math.floor(Math.random() * 100),
  });
}
