import * as client from 'prom-client';
import type { Logger } from './logger';
import { redact } from './logger';

/**
 * Structured audit events: one for every state-changing console call (POST, PUT, PATCH, DELETE under /api/v1),
 * whatever its outcome. Each event is written to stdout as one JSON line (`"type":"audit"`, separate from the
 * access log so a collector can route it) and, when HUBGATE_AUDIT_WEBHOOK_URL is set, queued for a webhook.
 *
 * The webhook never slows a request down: `record` only appends to an in-memory queue bounded by
 * HUBGATE_AUDIT_WEBHOOK_QUEUE_MAX events (beyond it new events are dropped and counted in
 * `hubgate_audit_webhook_dropped_total{reason="queue_full"}`); a background sender posts batches of at most
 * HUBGATE_AUDIT_WEBHOOK_BATCH_SIZE events as `{"events":[…]}`, one request at a time, retrying a failed batch
 * with exponential backoff (0.5 s doubling up to 30 s) up to HUBGATE_AUDIT_WEBHOOK_MAX_ATTEMPTS attempts, then
 * dropping it (`reason="retries_exhausted"`). Stdout stays the record of truth.
 *
 * Never a secret: events are built from a fixed list of fields (no headers, no raw bodies — only names, ids,
 * tags and flags taken from the request), and pass through the logger's redaction as a second line of defence.
 */
export interface AuditActor {
  userId: string;
  username: string;
  cloudAdmin: boolean;
  /** Platform project ids the user has joined (from the token). */
  projects: string[];
}

export interface AuditTarget {
  workspace?: string;
  image?: string;
  tags?: string[];
  projectId?: string;
  /** Batch image deletes. */
  items?: { workspace: string; image: string }[];
  /** Other small, non-secret request fields (access, dryRun, …). */
  [k: string]: unknown;
}

export interface AuditEvent {
  type: 'audit';
  time: string;
  requestId: string;
  clientAddress: string | null;
  /** null when the call carried no valid token (it then failed with 401). */
  actor: AuditActor | null;
  /** The API operation id (as in the OpenAPI document and the metrics), e.g. `workspace_delete`. */
  action: string;
  method: string;
  path: string;
  target: AuditTarget;
  outcome: 'success' | 'denied' | 'failure';
  status: number;
  /** The error code of a refused or failed call (Harbor's envelope code). */
  errorCode?: string;
  durationMs: number;
}

export interface AuditWebhookOptions {
  url: string;
  batchSize: number;
  queueMax: number;
  maxAttempts: number;
  timeoutMs: number;
  /** First retry delay (doubles per attempt, capped at maxBackoffMs). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Extra headers (e.g. an Authorization for the collector); never logged. */
  headers?: Record<string, string>;
}

export interface AuditTrailOptions {
  /** Where the JSON lines go (stdout by default). */
  sink?: (line: string) => void;
  webhook?: AuditWebhookOptions;
  registry?: client.Registry;
  logger?: Logger;
  /** Called with every event (after the sink); used to remember console actors for the activity view. */
  observers?: ((e: AuditEvent) => void)[];
  /** Injected for tests. */
  fetchImpl?: typeof fetch;
}

export class AuditTrail {
  private readonly sink: (line: string) => void;
  private readonly queue: AuditEvent[] = [];
  private sending = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly dropped: client.Counter<'reason'>;
  private readonly sent: client.Counter<string>;
  private readonly queued: client.Gauge<string>;
  private readonly observers: ((e: AuditEvent) => void)[];
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: AuditTrailOptions = {}) {
    this.sink = opts.sink ?? ((l) => process.stdout.write(l + '\n'));
    this.observers = opts.observers ?? [];
    const registers = opts.registry ? [opts.registry] : [];
    this.dropped = new client.Counter({
      name: 'hubgate_audit_webhook_dropped_total',
      help: 'Audit events not delivered to the webhook: queue_full (bounded queue) or retries_exhausted.',
      labelNames: ['reason'],
      registers,
    });
    this.dropped.inc({ reason: 'queue_full' }, 0);
    this.dropped.inc({ reason: 'retries_exhausted' }, 0);
    this.sent = new client.Counter({ name: 'hubgate_audit_webhook_sent_total', help: 'Audit events delivered to the webhook.', registers });
    this.queued = new client.Gauge({ name: 'hubgate_audit_webhook_queue_length', help: 'Audit events waiting for the webhook.', registers });
  }

  addObserver(fn: (e: AuditEvent) => void): void {
    this.observers.push(fn);
  }

  /** Writes the event and queues it for the webhook; never throws, never waits. */
  record(event: AuditEvent): void {
    const safe = redact(event) as AuditEvent;
    try {
      this.sink(JSON.stringify(safe));
    } catch {
      /* a broken stdout must not fail the request */
    }
    for (const o of this.observers) {
      try {
        o(safe);
      } catch (e) {
        this.opts.logger?.warn('audit observer failed', { error: e instanceof Error ? e.message : String(e) });
      }
    }
    const hook = this.opts.webhook;
    if (!hook || this.closed) return;
    if (this.queue.length >= hook.queueMax) {
      this.dropped.inc({ reason: 'queue_full' });
      return;
    }
    this.queue.push(safe);
    this.queued.set(this.queue.length);
    this.kick(hook);
  }

  /** Events waiting for the webhook. */
  queueLength(): number {
    return this.queue.length;
  }

  /** Resolves once the queue is empty and nothing is in flight (tests, shutdown). */
  idle(): Promise<void> {
    if (!this.sending && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Stops the sender; tries to deliver what is queued for at most `graceMs`. */
  async close(graceMs = 2000): Promise<void> {
    const grace = new Promise<void>((r) => setTimeout(r, graceMs).unref());
    await Promise.race([this.idle(), grace]);
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** Schedules the sender's next turn, unless one is scheduled or running: one turn, one request at a time. */
  private kick(hook: AuditWebhookOptions): void {
    if (this.sending || this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain(hook);
    }, 0);
    this.timer.unref();
  }

  /** Only ever started by kick's timer, which is never set while a drain runs. */
  private async drain(hook: AuditWebhookOptions): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const batch = this.queue.slice(0, hook.batchSize);
        const ok = await this.deliver(hook, batch);
        this.queue.splice(0, batch.length);
        this.queued.set(this.queue.length);
        if (ok) this.sent.inc(batch.length);
        else this.dropped.inc({ reason: 'retries_exhausted' }, batch.length);
      }
    } finally {
      this.sending = false;
      if (this.queue.length === 0) {
        const w = this.idleWaiters;
        this.idleWaiters = [];
        for (const r of w) r();
      }
    }
  }

  private async deliver(hook: AuditWebhookOptions, batch: AuditEvent[]): Promise<boolean> {
    const doFetch = this.opts.fetchImpl ?? fetch;
    const body = JSON.stringify({ events: batch });
    let delay = hook.backoffMs ?? 500;
    for (let attempt = 1; attempt <= hook.maxAttempts; attempt++) {
      try {
        const res = await doFetch(hook.url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...(hook.headers ?? {}) },
          body,
          signal: AbortSignal.timeout(hook.timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return true;
        // Stryker disable next-line OptionalChaining: without a logger the TypeError is caught just below and the next attempt runs as it would anyway
        this.opts.logger?.warn('audit webhook refused a batch', { status: res.status, attempt, events: batch.length });
      } catch (e) {
        this.opts.logger?.warn('audit webhook unreachable', { attempt, events: batch.length, error: e instanceof Error ? e.name : 'error' });
      }
      if (attempt < hook.maxAttempts && !this.closed) {
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, hook.maxBackoffMs ?? 30_000);
      }
    }
    return false;
  }
}
