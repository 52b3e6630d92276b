import fs from 'node:fs';
import { currentContext } from './context';

/**
 * JSON logs, one object per line, on stdout. Secrets never reach a log line: keys that look like secrets are
 * replaced by "[redacted]", and values registered with `registerSecret` are masked wherever they appear.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const SECRET_KEY = /(pass(word)?|secret|token|authorization|cookie|credential|api[-_]?key)/i;
/** Configured secrets (admin password, credential key, Redis password): kept for the process's life. */
const pinnedSecrets = new Set<string>();
/**
 * Per-project secrets (derived registry passwords, one per project and generation): the most recent ones only, so
 * the table — walked for every log line — stays small however many projects and rotations a replica sees. These
 * values are never logged by design; masking them in free text is a second line of defence.
 */
const recentSecrets = new Set<string>();
export const MAX_RECENT_SECRETS = 256;
/**
 * The shortest value in each set: a text shorter than every secret of a set cannot hold one, so the scan of that
 * set is skipped (most log fields — ids, methods, numbers as text — are shorter than any generated password).
 * Only ever lowered while values join, never raised when one leaves: a stale minimum only scans more.
 */
let minPinned = Infinity;
let minRecent = Infinity;

/**
 * Remember a secret value so it is masked even inside free text. `pinned` (the default) keeps it for good — for
 * the few configured secrets; per-project values pass `pinned: false` and join a bounded most-recent set.
 */
export function registerSecret(value: string | undefined, opts: { pinned?: boolean } = {}): void {
  if (!value || value.length < 6) return;
  if (opts.pinned ?? true) {
    pinnedSecrets.add(value);
    minPinned = Math.min(minPinned, value.length);
    return;
  }
  minRecent = Math.min(minRecent, value.length);
  if (pinnedSecrets.has(value)) return;
  recentSecrets.delete(value);
  recentSecrets.add(value);
  if (recentSecrets.size > MAX_RECENT_SECRETS) {
    const oldest = recentSecrets.values().next().value;
    if (oldest !== undefined) recentSecrets.delete(oldest);
  }
}

/** How many secret values the logger masks in free text (pinned + recent). */
export function registeredSecretCount(): number {
  return pinnedSecrets.size + recentSecrets.size;
}

const EMBEDDED_CREDENTIALS = /\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/g;

export function redactText(text: string): string {
  let out = text;
  // A text shorter than the shortest secret cannot hold one: the two length checks only save the scans.
  // Stryker disable next-line ConditionalExpression: 'true' is equivalent (scanning a text too short finds nothing); 'false' (never scanning) is killed by 10 logger tests, applied by hand
  if (out.length >= minPinned) {
    // Stryker disable next-line ConditionalExpression: equivalent, split/join of an absent value returns the text unchanged
    for (const s of pinnedSecrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
  }
  // Stryker disable next-line ConditionalExpression: 'true' is equivalent (as above); 'false' is killed by 3 logger tests (recent secrets), applied by hand
  if (out.length >= minRecent) {
    // Stryker disable next-line ConditionalExpression: equivalent, split/join of an absent value returns the text unchanged
    for (const s of recentSecrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
  }
  // Basic/Bearer credentials embedded in text (e.g. an error message quoting a header). The pattern is case
  // sensitive, so text with neither word cannot match (the common case: skip the regex).
  // Stryker disable next-line ConditionalExpression,StringLiteral: equivalent, only skips a regex that cannot match
  if (!out.includes('Basic') && !out.includes('Bearer')) return out;
  return out.replace(EMBEDDED_CREDENTIALS, '$1 [redacted]');
}

/** SECRET_KEY per field name, remembered (field names come from code: a small, fixed set). */
const secretKeys = new Map<string, boolean>();
function isSecretKey(k: string): boolean {
  let v = secretKeys.get(k);
  // Stryker disable next-line ConditionalExpression: equivalent, recomputing the memoized answer gives the same answer
  if (v === undefined) {
    v = SECRET_KEY.test(k);
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, the bound only limits the memo's size
    if (secretKeys.size < 4096) secretKeys.set(k, v);
  }
  return v;
}

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[deep]';
  if (typeof value === 'string') return redactText(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) return { name: value.name, message: redactText(value.message) };
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k) ? '[redacted]' : redact(v, depth + 1);
    return out;
  }
  return value;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export type LogSink = (line: string) => void;

/** Where each logger writes (audit lines go to the same place: stdout in production, the capture in tests). */
const sinks = new WeakMap<Logger, LogSink>();
export const sinkOf = (logger: Logger): LogSink | undefined => sinks.get(logger);

/**
 * Standard output, written in batches instead of a line at a time: stdout is a pipe in a container and pipe writes
 * are synchronous in Node on Linux, so a line per request cost a system call per request on the registry front's
 * hot path. Lines are kept in order and written when `maxBytes` are pending (at once), when the oldest pending line
 * is `delayMs` old (a timer that does not keep the process alive), and synchronously when the process exits
 * (`process.exit` and uncaught exceptions included), so a crash does not lose the lines before it; only a process
 * killed outright (SIGKILL, out of memory) can lose the last `delayMs` of lines.
 *
 * A timer, not the next event-loop turn: under load a turn handles only a few requests, so a write per turn was
 * still ~1 write per 2 manifest HEADs (strace of the bench), and `setImmediate` itself forces an extra event-loop
 * iteration (another `epoll_pwait`) per turn. docs/registry.md, Performance, has the counts.
 */
export function bufferedWriter(fd = 1, maxBytes = 16 * 1024, delayMs = 50): LogSink & { flush(): void } {
  let pending: string[] = [];
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (!pending.length) return;
    const text = pending.join('');
    pending = [];
    bytes = 0;
    try {
      fs.writeSync(fd, text);
    } catch {
      /* stdout gone (EPIPE): nothing left to tell */
    }
  };
  const write = (line: string): void => {
    pending.push(line + '\n');
    bytes += line.length + 1;
    if (bytes >= maxBytes) flush();
    else if (!timer) timer = setTimeout(flush, delayMs).unref();
  };
  process.on('exit', flush);
  return Object.assign(write, { flush });
}

let stdoutWriter: (LogSink & { flush(): void }) | undefined;
/** The process-wide buffered stdout sink (one per process, so lines of several loggers stay in order). */
export const stdoutSink = (): LogSink => (stdoutWriter ??= bufferedWriter(1));

export function createLogger(level: Level = 'info', sink: LogSink = stdoutSink()): Logger {
  const emit = (lvl: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order[lvl] < order[level]) return;
    const ctx = currentContext();
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg: redactText(msg) };
    if (ctx) entry.request_id = ctx.requestId;
    if (fields) {
      // The same as spreading redact(fields): own enumerable fields, secret-looking names masked, values redacted.
      for (const k in fields) {
        if (Object.prototype.hasOwnProperty.call(fields, k)) entry[k] = isSecretKey(k) ? '[redacted]' : redact(fields[k], 1);
      }
    }
    sink(JSON.stringify(entry));
  };
  const logger: Logger = {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
  sinks.set(logger, sink);
  return logger;
}

/** A logger that writes nothing (tests that do not look at logs). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
