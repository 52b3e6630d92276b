/**
 * The audit trail's webhook sender (src/observability/audit.ts), rule by rule: the metrics a fresh trail exports,
 * one sender turn for a burst of events, one request at a time, a new send once the queue has drained, and idle()
 * only when nothing is left. Jest's fake timers drive the sender's turns; the collector answers when the test says.
 * Every trail is created inside its own `it()`: Stryker's perTest coverage credits only what a test body runs.
 */
import * as client from 'prom-client';
import { AuditTrail, type AuditEvent, type AuditWebhookOptions } from '../../../src/observability/audit';
import { event } from './audit.kit';

const webhook = (o: Partial<AuditWebhookOptions> = {}): AuditWebhookOptions => ({
  url: 'http://collector.test/in',
  batchSize: 10,
  queueMax: 100,
  maxAttempts: 1,
  timeoutMs: 60_000,
  ...o,
});

/** A collector that accepts each batch only when the test calls `accept()`; `batches` has the request ids posted. */
function heldCollector() {
  const batches: string[][] = [];
  const waiting: (() => void)[] = [];
  const fetchImpl = (async (_url: string, init: RequestInit) => {
    batches.push((JSON.parse(String(init.body)) as { events: AuditEvent[] }).events.map((e) => e.requestId));
    await new Promise<void>((r) => waiting.push(r));
    return { ok: true, status: 200, arrayBuffer: async () => new ArrayBuffer(0) } as Response;
  }) as unknown as typeof fetch;
  return {
    batches,
    fetchImpl,
    /** Answers the oldest request in flight with 200. */
    accept: () => waiting.shift()!(),
  };
}

/** Lets due sender turns run and the promises they start settle. */
const settle = () => jest.advanceTimersByTimeAsync(0);

describe('audit trail rules: the webhook metrics', () => {
  it('a new trail exports its webhook series at 0, both drop reasons included, so increase() sees the first drop', async () => {
    const registry = new client.Registry();
    new AuditTrail({ sink: () => undefined, registry });
    expect(await registry.metrics()).toBe(`# HELP hubgate_audit_webhook_dropped_total Audit events not delivered to the webhook: queue_full (bounded queue) or retries_exhausted.
# TYPE hubgate_audit_webhook_dropped_total counter
hubgate_audit_webhook_dropped_total{reason="queue_full"} 0
hubgate_audit_webhook_dropped_total{reason="retries_exhausted"} 0

# HELP hubgate_audit_webhook_sent_total Audit events delivered to the webhook.
# TYPE hubgate_audit_webhook_sent_total counter
hubgate_audit_webhook_sent_total 0

# HELP hubgate_audit_webhook_queue_length Audit events waiting for the webhook.
# TYPE hubgate_audit_webhook_queue_length gauge
hubgate_audit_webhook_queue_length 0
`);
  });
});

describe('audit trail rules: the webhook sender', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('a burst of events schedules one sender turn, not one per event; that turn posts them as one batch', async () => {
    const collector = heldCollector();
    const trail = new AuditTrail({ sink: () => undefined, fetchImpl: collector.fetchImpl, webhook: webhook() });
    trail.record(event(1));
    trail.record(event(2));
    trail.record(event(3));
    expect(jest.getTimerCount()).toBe(1);
    await settle();
    expect(collector.batches).toEqual([['req-1', 'req-2', 'req-3']]);
  });

  it('one request at a time: events recorded while a batch is out schedule nothing and go in the next batch', async () => {
    const collector = heldCollector();
    const trail = new AuditTrail({ sink: () => undefined, fetchImpl: collector.fetchImpl, webhook: webhook() });
    trail.record(event(1));
    await settle();
    trail.record(event(2));
    trail.record(event(3));
    expect(jest.getTimerCount()).toBe(0);
    await settle();
    expect(collector.batches).toEqual([['req-1']]);
    collector.accept();
    await settle();
    expect(collector.batches).toEqual([['req-1'], ['req-2', 'req-3']]);
    collector.accept();
    await settle();
    expect(trail.queueLength()).toBe(0);
  });

  it('once everything is delivered and the trail is idle, the next event starts a new send', async () => {
    const collector = heldCollector();
    const trail = new AuditTrail({ sink: () => undefined, fetchImpl: collector.fetchImpl, webhook: webhook() });
    trail.record(event(1));
    await settle();
    collector.accept();
    let idle = false;
    void trail.idle().then(() => (idle = true));
    await settle();
    expect(idle).toBe(true);
    trail.record(event(2));
    expect(jest.getTimerCount()).toBe(1);
    await settle();
    expect(collector.batches).toEqual([['req-1'], ['req-2']]);
  });

  it('idle() does not resolve when close stops the sender with events still queued', async () => {
    const collector = heldCollector();
    const trail = new AuditTrail({ sink: () => undefined, fetchImpl: collector.fetchImpl, webhook: webhook({ batchSize: 1 }) });
    trail.record(event(1));
    trail.record(event(2));
    await settle();
    let idle = false;
    void trail.idle().then(() => (idle = true));
    const closing = trail.close(0);
    await settle();
    await closing;
    collector.accept();
    await settle();
    expect({ idle, batches: collector.batches, queued: trail.queueLength() }).toEqual({ idle: false, batches: [['req-1']], queued: 1 });
  });
});
