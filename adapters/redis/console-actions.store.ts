import type Redis from 'ioredis';
import type { ConsoleAction, ConsoleActionStore } from '../../src/ports/console-actions';
import { silentLogger, type Logger } from '../../src/observability/logger';
import { redisClient } from './client';

export interface ConsoleActionStoreOptions {
  redisUrl?: string;
  /** How long actions are kept (HUBGATE_ACTIVITY_ATTRIBUTION_DAYS). */
  keepDays: number;
  /** Bound per workspace (newest kept), in Redis and in memory. */
  maxPerWorkspace?: number;
  /** Bound on workspaces remembered in memory (oldest dropped first). */
  maxWorkspaces?: number;
  keyPrefix?: string;
  logger?: Logger;
  now?: () => number;
}

/**
 * Console actions per workspace: a Redis list `hubgate:console-actions:<workspace>` (newest first, trimmed to
 * maxPerWorkspace, expiring keepDays after the last write), plus a bounded in-process copy that answers when Redis
 * is not configured or not reachable (then only this replica's actions are known: rows of other replicas show
 * Harbor's admin identity).
 */
export function createConsoleActionStore(opts: ConsoleActionStoreOptions): ConsoleActionStore {
  const log = opts.logger ?? silentLogger;
  const maxPer = opts.maxPerWorkspace ?? 5000;
  const maxWs = opts.maxWorkspaces ?? 10_000;
  const keepMs = opts.keepDays * 86_400_000;
  const now = opts.now ?? Date.now;
  const prefix = `${opts.keyPrefix ?? 'hubgate:'}console-actions:`;
  const memory = new Map<string, ConsoleAction[]>();

  let client: Redis | undefined;
  if (opts.redisUrl) {
    client = redisClient(opts.redisUrl);
    client.on('error', () => undefined);
    client.connect().catch(() => undefined);
  }

  const rememberLocally = (ws: string, a: ConsoleAction) => {
    const list = memory.get(ws) ?? [];
    memory.delete(ws);
    list.unshift(a);
    // Stryker disable next-line ConditionalExpression,EqualityOperator: 'true' and '>=' are equivalent (cutting a list no longer than the bound to it only appends holes, which recent()'s filter skips); 'false' and '<=' (never cut) are killed by 1 test, applied by hand
    if (list.length > maxPer) list.length = maxPer;
    memory.set(ws, list);
    if (memory.size > maxWs) {
      const oldest = memory.keys().next().value;
      if (oldest !== undefined) memory.delete(oldest);
    }
  };
  const fresh = (since: number) => (a: ConsoleAction) => a.end >= since && a.end >= now() - keepMs;

  return {
    async remember(ws, a) {
      rememberLocally(ws, a);
      if (!client || client.status !== 'ready') return;
      try {
        await client.multi().lpush(prefix + ws, JSON.stringify(a)).ltrim(prefix + ws, 0, maxPer - 1).pexpire(prefix + ws, keepMs).exec();
      } catch (e) {
        log.warn('console action not shared (redis)', { error: e instanceof Error ? e.message : String(e) });
      }
    },
    async recent(ws, since) {
      if (
        client &&
        // Stryker disable next-line ConditionalExpression: equivalent, without the offline queue a client that is not ready refuses LRANGE at once, and the catch below falls back to memory as this check does
        client.status === 'ready'
      ) {
        try {
          const rows = await client.lrange(prefix + ws, 0, maxPer - 1);
          const out: ConsoleAction[] = [];
          for (const r of rows) {
            try {
              out.push(JSON.parse(r) as ConsoleAction);
            } catch {
              /* skip a damaged entry */
            }
          }
          return out.filter(fresh(since));
        } catch {
          /* fall back to this replica's memory */
        }
      }
      return (memory.get(ws) ?? []).filter(fresh(since));
    },
    async close() {
      if (!client) return;
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    },
  };
}
