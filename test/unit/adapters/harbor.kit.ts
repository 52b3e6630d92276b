import nock, { type NockOptions, type Scope } from './nock';
import { createHarborAdapter, type HarborAdapter, type HarborAdapterOptions } from '../../../adapters/harbor/harbor.adapter';
import type { Logger } from '../../../src/observability/logger';
import { createMetrics, type Metrics } from '../../../src/observability/metrics';
import { recordedReply } from '../../support/recorded';

/** Shared set-up of the Harbor adapter tests: one adapter per test against a nock'ed Harbor. */
export const BASE = 'http://harbor.test:8880';
export const API = '/api/v2.0';
export const ADMIN = 'admin';
export const PASSWORD = 'Adm1n-S3cret-Pa55word';

export interface LogLine {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

/** Records exactly what the adapter hands to its logger (no redaction in between, unlike createLogger). */
export function captureLogger(): Logger & { lines: LogLine[]; text(): string } {
  const lines: LogLine[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields });
  return { lines, text: () => JSON.stringify(lines), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function makeAdapter(over: Partial<HarborAdapterOptions> = {}): {
  harbor: HarborAdapter;
  metrics: Metrics;
  logger: ReturnType<typeof captureLogger>;
} {
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = captureLogger();
  const harbor = createHarborAdapter({
    baseUrl: BASE,
    username: ADMIN,
    password: PASSWORD,
    timeoutMs: 1000,
    retries: 2,
    retryDelayMs: 1,
    metrics,
    logger,
    ...over,
  });
  return { harbor, metrics, logger };
}

/** A nock scope that insists on hubgate's admin Basic credentials. */
export const harborScope = (opts: NockOptions = {}) => nock(BASE, opts).matchHeader('authorization', basic(ADMIN, PASSWORD));

export const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** `GET /users/current` answered as recorded for the admin (009). */
export const adminAccepted = (scope: Scope, times = 1) => scope.get(`${API}/users/current`).times(times).reply(...recordedReply(9));

export async function counter(metrics: Metrics, operation: string, outcome: string): Promise<number> {
  const m = await metrics.harborRequests.get();
  return m.values.find((v) => v.labels.operation === operation && v.labels.outcome === outcome)?.value ?? 0;
}

export async function rejection(p: Promise<unknown>): Promise<Error & { kind?: string; upstreamStatus?: number }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { kind?: string; upstreamStatus?: number };
  }
  throw new Error('expected the call to fail');
}
