import { createLogger, type Logger } from '../../src/observability/logger';
import type { Metrics } from '../../src/observability/metrics';

export interface LogEntry {
  time: string;
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A debug-level logger whose JSON lines a test reads back as objects. */
export function capturedLogger(): { logger: Logger; entries(): LogEntry[] } {
  const lines: string[] = [];
  return { logger: createLogger('debug', (l) => lines.push(l)), entries: () => lines.map((l) => JSON.parse(l) as LogEntry) };
}

/** The value of the metric `name` whose labels include `labels`; undefined when no such series was set. */
export async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = await metrics.registry.getSingleMetric(name)!.get();
  return m.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}
