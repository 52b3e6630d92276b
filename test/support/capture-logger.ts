import type { Logger } from '../../src/observability/logger';

export interface LogLine {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

/** Records exactly what the code under test hands to its logger (no redaction in between, unlike createLogger). */
export function captureLogger(): Logger & { lines: LogLine[]; text(): string } {
  const lines: LogLine[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields });
  return { lines, text: () => JSON.stringify(lines), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
