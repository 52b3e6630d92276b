import * as client from 'prom-client';
import { AuditTrail, type AuditEvent, type AuditWebhookOptions } from '../../../src/observability/audit';
import { auditTarget } from '../../../src/http/middleware/audit';
import { registerSecret } from '../../../src/observability/logger';
import { capturedLogger } from '../../support/observed';
import { consoleActionsOf } from '../../../src/domain/activity.service';
import { event } from './audit.kit';

const metric = async (registry: client.Registry, name: string, labels = ''): Promise<number> => {
  const text = await registry.metrics();
  const m = new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
};

const okResponse = () => new Response('', { status: 200 });

/** Runs `run` with every retry wait the sender asks for passing at once; returns the waits asked for (ms). */
async function withInstantWaits(run: () => Promise<void>): Promise<number[]> {
  const delays: number[] = [];
  const realSetTimeout = global.setTimeout;
  const spy = jest.spyOn(global, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
    if (ms && ms > 0) delays.push(ms);
    return realSetTimeout(fn, 0);
  }) as typeof setTimeout);
  try {
    await run();
  } finally {
    spy.mockRestore();
  }
  return delays;
}

describe('audit trail: stdout lines', () => {
  it('writes one JSON line per event and tells observers', () => {
    const lines: string[] = [];
    const seen: AuditEvent[] = [];
    const trail = new AuditTrail({ sink: (l) => lines.push(l), observers: [(e) => seen.push(e)] });
    trail.record(event(1));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ type: 'audit', requestId: 'req-1', target: { tags: ['v1'] } });
    expect(seen.map((e) => e.requestId)).toEqual(['req-1']);
  });

  it('never a secret: registered values and secret-named fields are masked in the line', () => {
    registerSecret('Sup3rSecretRobotPassw0rd');
    const lines: string[] = [];
    const trail = new AuditTrail({ sink: (l) => lines.push(l) });
    trail.record(event(2, { target: { workspace: 'ws', note: 'Sup3rSecretRobotPassw0rd', password: 'hunter2-hunter2' } as never }));
    expect(lines[0]).not.toContain('Sup3rSecretRobotPassw0rd');
    expect(lines[0]).not.toContain('hunter2-hunter2');
    expect(JSON.parse(lines[0]).target).toEqual({ workspace: 'ws', note: '[redacted]', password: '[redacted]' });
  });

  it('a throwing sink or observer never fails the call', () => {
    const trail = new AuditTrail({
      sink: () => {
        throw new Error('EPIPE');
      },
      observers: [
        () => {
          throw new Error('boom');
        },
      ],
    });
    expect(() => trail.record(event(3))).not.toThrow();
  });
});

describe('audit trail: the webhook', () => {
  it('sends batches of at most batchSize as {"events":[…]}, in order', async () => {
    const bodies: AuditEvent[][] = [];
    const fetchImpl = (async (_url: string, init: RequestInit) => {
      bodies.push(JSON.parse(String(init.body)).events);
      return okResponse();
    }) as unknown as typeof fetch;
    const registry = new client.Registry();
    const trail = new AuditTrail({ sink: () => undefined, registry, fetchImpl, webhook: { url: 'http://collector.test/a', batchSize: 3, queueMax: 100, maxAttempts: 1, timeoutMs: 1000 } });
    for (let i = 0; i < 7; i++) trail.record(event(i));
    await trail.idle();
    expect(bodies.map((b) => b.length)).toEqual([3, 3, 1]);
    expect(bodies.flat().map((e) => e.requestId)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `req-${i}`));
    expect(await metric(registry, 'hubgate_audit_webhook_sent_total')).toBe(7);
    expect(trail.queueLength()).toBe(0);
  });

  it('retries a failed batch with growing delays, then delivers it', async () => {
    let calls = 0;
    const fetchImpl = (async () => {
      calls += 1;
      if (calls === 1) throw new TypeError('fetch failed');
      if (calls === 2) return new Response('', { status: 503 });
      return okResponse();
    }) as unknown as typeof fetch;
    const registry = new client.Registry();
    const delays = await withInstantWaits(async () => {
      const trail = new AuditTrail({ sink: () => undefined, registry, fetchImpl, webhook: { url: 'http://collector.test/a', batchSize: 10, queueMax: 100, maxAttempts: 5, timeoutMs: 1000, backoffMs: 100 } });
      trail.record(event(1));
      await trail.idle();
    });
    expect(calls).toBe(3);
    expect(delays).toEqual([100, 200]);
    expect(await metric(registry, 'hubgate_audit_webhook_sent_total')).toBe(1);
    expect(await metric(registry, 'hubgate_audit_webhook_dropped_total', '{reason="retries_exhausted"}')).toBe(0);
  });

  it('drops a batch after maxAttempts and counts it', async () => {
    let calls = 0;
    const fetchImpl = (async () => {
      calls += 1;
      return new Response('', { status: 500 });
    }) as unknown as typeof fetch;
    const registry = new client.Registry();
    const trail = new AuditTrail({ sink: () => undefined, registry, fetchImpl, webhook: { url: 'http://collector.test/a', batchSize: 10, queueMax: 100, maxAttempts: 2, timeoutMs: 1000, backoffMs: 1 } });
    trail.record(event(1));
    trail.record(event(2));
    await trail.idle();
    expect(calls).toBe(2);
    expect(await metric(registry, 'hubgate_audit_webhook_dropped_total', '{reason="retries_exhausted"}')).toBe(2);
    expect(await metric(registry, 'hubgate_audit_webhook_sent_total')).toBe(0);
  });

  it('never blocks: with the collector hanging, record() returns at once, the queue stays bounded and drops are counted', async () => {
    const fetchImpl = (() => new Promise<Response>(() => undefined)) as unknown as typeof fetch;
    const registry = new client.Registry();
    const lines: string[] = [];
    const trail = new AuditTrail({ sink: (l) => lines.push(l), registry, fetchImpl, webhook: { url: 'http://collector.test/a', batchSize: 5, queueMax: 10, maxAttempts: 3, timeoutMs: 60_000 } });
    for (let i = 0; i < 100; i++) trail.record(event(i));
    // let the sender start its (hanging) first batch
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    for (let i = 100; i < 110; i++) trail.record(event(i));
    expect(lines).toHaveLength(110); // stdout always gets every event
    expect(trail.queueLength()).toBe(10);
    expect(await metric(registry, 'hubgate_audit_webhook_dropped_total', '{reason="queue_full"}')).toBe(100);
    expect(await metric(registry, 'hubgate_audit_webhook_queue_length')).toBe(10);
    await trail.close(0);
  });
});

describe('audit targets', () => {
  it('take names, ids, tags and flags only — never other body fields', () => {
    expect(auditTarget('/workspaces/ws/images/team/app/versions', { tags: ['v1'], description: 'x', password: 'p' })).toEqual({ workspace: 'ws', image: 'team/app', tags: ['v1'] });
    expect(auditTarget('/workspaces', { name: 'new-ws', projectId: 'p1', access: 'private' })).toEqual({ workspace: 'new-ws', projectId: 'p1', access: 'private' });
    expect(auditTarget('/projects/p%201/credentials/rotate', undefined)).toEqual({ projectId: 'p 1' });
    expect(auditTarget('/images', { items: [{ workspace: 'a', image: 'b', secret: 's' }] })).toEqual({ items: [{ workspace: 'a', image: 'b' }] });
    // `items` that is not a list is left out, never recorded as text the activity feed would map over; `tags` and
    // `images` may be text (an immutable rule's patterns)
    expect(auditTarget('/images', { items: 'ws/app' })).toStrictEqual({});
    expect(auditTarget('/workspaces/ws/immutable-rules', { tags: 'v*', images: '**' })).toStrictEqual({ workspace: 'ws', tags: 'v*', images: '**' });
    expect(auditTarget('/workspaces/ws/retention/runs', { dryRun: true })).toEqual({ workspace: 'ws', dryRun: true });
    expect(auditTarget('/gc', { dryRun: false, deleteUntagged: true })).toEqual({ dryRun: false, deleteUntagged: true });
    expect(auditTarget('/workspaces/ws/quota', { limit: '10GiB' })).toEqual({ workspace: 'ws', limit: '10GiB' });
    expect(auditTarget('/workspaces/ws/quota', { limit: 1024 })).toEqual({ workspace: 'ws', limit: 1024 });
    expect(auditTarget('/workspaces/ws/immutable-rules', { tags: 'v*', images: 'team/**' })).toEqual({ workspace: 'ws', tags: 'v*', images: 'team/**' });
    expect(auditTarget('/workspaces/ws/immutable-rules/3', undefined)).toEqual({ workspace: 'ws' });
  });

  it('a path that does not decode is kept as sent; body values that are not text are dropped, long ones cut', () => {
    expect(auditTarget('/workspaces/ws%E0%A4%A/images/app%ZZ/versions', undefined)).toEqual({ workspace: 'ws%E0%A4%A', image: 'app%ZZ' });
    expect(auditTarget('/projects/p%E0/credentials', undefined)).toEqual({ projectId: 'p%E0' });
    expect(auditTarget('/images', { items: [{ workspace: 7, image: null }, null, 'x', { workspace: 'w'.repeat(300), image: 'i' }] })).toEqual({
      items: [
        { workspace: '', image: '' },
        { workspace: 'w'.repeat(256), image: 'i' },
      ],
    });
    expect(auditTarget('/workspaces/ws/images/app/versions', { tags: [1, 'v1', null, 't'.repeat(300)] })).toEqual({ workspace: 'ws', image: 'app', tags: ['v1', 't'.repeat(256)] });
    expect(auditTarget('/workspaces/ws/images/app/versions', { tags: Array.from({ length: 150 }, (_, i) => `v${i}`) }).tags).toHaveLength(100);
    expect(auditTarget('/workspaces/ws', { name: 'renamed', access: { nested: true }, enabled: false, schedule: 's'.repeat(300) })).toEqual({ workspace: 'ws', name: 'renamed', enabled: false, schedule: 's'.repeat(256) });
  });

  it('only paths that start with /workspaces/ or /projects/ name a target; "/versions" is cut only at the end; a null body, absent or non-text fields add no key', () => {
    expect(auditTarget('/gc/workspaces/ws', undefined)).toStrictEqual({});
    expect(auditTarget('/gc/projects/p1/credentials', undefined)).toStrictEqual({});
    expect(auditTarget('/workspaces/ws/images/team/versions/app/versions', undefined)).toStrictEqual({ workspace: 'ws', image: 'team/versions/app' });
    expect(auditTarget('/workspaces', null)).toStrictEqual({});
    expect(auditTarget('/workspaces', { projectId: 'p1' })).toStrictEqual({ projectId: 'p1' });
    expect(auditTarget('/workspaces/ws', { department: { x: 1 }, images: ['team/app'] })).toStrictEqual({ workspace: 'ws' });
    const items = Array.from({ length: 150 }, (_, i) => ({ workspace: 'ws', image: `i${i}` }));
    expect(auditTarget('/images', { items }).items).toStrictEqual(items.slice(0, 100));
  });

  it('console actions for attribution: successful calls with a workspace only, one per batch item', () => {
    expect(consoleActionsOf(event(1))).toEqual([
      { workspace: 'ws', action: { start: 1_700_000_000_001, end: 1_700_000_000_006, userId: 'u1', username: 'alice', action: 'image_versions_delete', requestId: 'req-1', image: 'app' } },
    ]);
    expect(consoleActionsOf(event(1, { outcome: 'denied' }))).toEqual([]);
    expect(consoleActionsOf(event(1, { actor: null }))).toEqual([]);
    // quota and immutable-rule calls leave no row in Harbor's project log: never attributed
    for (const action of ['workspace_quota_set', 'workspace_quota_clear', 'immutable_rules_create', 'immutable_rules_delete'])
      expect(consoleActionsOf(event(1, { action, path: '/api/v1/workspaces/ws/quota', target: { workspace: 'ws' } }))).toEqual([]);
    expect(consoleActionsOf(event(1, { target: { items: [{ workspace: 'a', image: 'x' }, { workspace: 'b', image: 'y' }] } })).map((x) => [x.workspace, x.action.image])).toEqual([
      ['a', 'x'],
      ['b', 'y'],
    ]);
    expect(consoleActionsOf(event(1, { target: { workspace: 'ws' } }))[0].action.image).toBeUndefined();
    expect(consoleActionsOf(event(1, { target: {} }))).toEqual([]);
  });
});

describe('audit settings', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadConfig } = require('../../../src/config') as typeof import('../../../src/config');
  const base = {
    HARBOR_URL: 'http://harbor.test',
    HARBOR_ADMIN_PASSWORD: 'x'.repeat(12),
    OIDC_ISSUER: 'http://idp.test/realms/r',
    OIDC_AUDIENCE: 'hubgate',
    HUBGATE_CREDENTIAL_SECRET: 'c'.repeat(40),
  };
  it('no webhook by default; defaults when a URL is given; a URL with credentials is refused', () => {
    expect(loadConfig(base).audit).toEqual({ webhook: undefined, attributionDays: 30 });
    expect(loadConfig({ ...base, HUBGATE_AUDIT_WEBHOOK_URL: 'https://siem.test/in', HUBGATE_AUDIT_WEBHOOK_TOKEN: 't0ken-t0ken' }).audit.webhook).toEqual({
      url: 'https://siem.test/in',
      token: 't0ken-t0ken',
      batchSize: 50,
      queueMax: 10000,
      maxAttempts: 5,
      timeoutMs: 5000,
    });
    expect(() => loadConfig({ ...base, HUBGATE_AUDIT_WEBHOOK_URL: 'https://u:p@siem.test/in' })).toThrow(
      'configuration: HUBGATE_AUDIT_WEBHOOK_URL must not contain credentials: put a bearer token in HUBGATE_AUDIT_WEBHOOK_TOKEN',
    );
    expect(() => loadConfig({ ...base, HUBGATE_AUDIT_WEBHOOK_URL: 'https://siem.test/in', HUBGATE_AUDIT_WEBHOOK_QUEUE_MAX: '0' })).toThrow(/HUBGATE_AUDIT_WEBHOOK_QUEUE_MAX must be between 1/);
  });
});

describe('audit trail: defaults, observers added later, what the webhook is sent, and warnings', () => {
  const logged = capturedLogger;
  const failing = (status: number) => (async () => new Response('', { status })) as unknown as typeof fetch;

  it('without options: one line per event on stdout, no webhook', async () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const trail = new AuditTrail();
      trail.record(event(1));
      expect(write.mock.calls).toEqual([[`${JSON.stringify(event(1))}\n`]]);
      expect(trail.queueLength()).toBe(0);
      await trail.idle();
      await trail.close();
    } finally {
      write.mockRestore();
    }
  });

  it('an observer added later sees the next events; a failing one is logged with its message and the others still run', () => {
    const { logger, entries } = logged();
    const seen: string[] = [];
    const trail = new AuditTrail({ sink: () => undefined, logger });
    trail.record(event(1));
    trail.addObserver(() => {
      throw new Error('store down');
    });
    trail.addObserver(() => {
      throw 'plain text';
    });
    trail.addObserver((e) => seen.push(e.requestId));
    trail.record(event(2));
    expect(seen).toEqual(['req-2']);
    expect(entries().map(({ level, msg, error }) => ({ level, msg, error }))).toEqual([
      { level: 'warn', msg: 'audit observer failed', error: 'store down' },
      { level: 'warn', msg: 'audit observer failed', error: 'plain text' },
    ]);
  });

  it('the webhook gets a JSON POST with the configured headers; the global fetch when none is injected', async () => {
    const fetchSpy = jest.spyOn(global, 'fetch').mockImplementation(async () => okResponse());
    try {
      const trail = new AuditTrail({
        sink: () => undefined,
        webhook: { url: 'http://collector.test/in', batchSize: 10, queueMax: 10, maxAttempts: 1, timeoutMs: 1000, headers: { Authorization: 'Bearer t0ken-t0ken' } },
      });
      trail.record(event(1));
      await trail.idle();
      expect(fetchSpy.mock.calls).toHaveLength(1);
      const [url, init] = fetchSpy.mock.calls[0] as [string, RequestInit];
      expect({ url, method: init.method, headers: init.headers, body: JSON.parse(String(init.body)), aborts: init.signal instanceof AbortSignal }).toEqual({
        url: 'http://collector.test/in',
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer t0ken-t0ken' },
        body: { events: [event(1)] },
        aborts: true,
      });
    } finally {
      fetchSpy.mockRestore();
    }
  });

  it('a refused or unreachable collector is logged per attempt with the status or the error name, never its text', async () => {
    const { logger, entries } = logged();
    let calls = 0;
    const fetchImpl = (async () => {
      calls += 1;
      if (calls === 1) return new Response('', { status: 503 });
      if (calls === 2) throw new TypeError('fetch failed: secret-host');
      throw 'not an Error';
    }) as unknown as typeof fetch;
    const trail = new AuditTrail({ sink: () => undefined, logger, fetchImpl, webhook: { url: 'http://collector.test/a', batchSize: 10, queueMax: 10, maxAttempts: 3, timeoutMs: 1000, backoffMs: 1 } });
    trail.record(event(1));
    trail.record(event(2));
    await trail.idle();
    expect(entries().map(({ time: _t, ...rest }) => rest)).toEqual([
      { level: 'warn', msg: 'audit webhook refused a batch', status: 503, attempt: 1, events: 2 },
      { level: 'warn', msg: 'audit webhook unreachable', attempt: 2, events: 2, error: 'TypeError' },
      { level: 'warn', msg: 'audit webhook unreachable', attempt: 3, events: 2, error: 'error' },
    ]);
  });

  it('an answer whose body breaks off still counts by its status', async () => {
    const registry = new client.Registry();
    const fetchImpl = (async () =>
      new Response(
        new ReadableStream({
          start(c) {
            c.error(new Error('connection reset'));
          },
        }),
        { status: 200 },
      )) as unknown as typeof fetch;
    const trail = new AuditTrail({ sink: () => undefined, registry, fetchImpl, webhook: { url: 'http://collector.test/a', batchSize: 10, queueMax: 10, maxAttempts: 1, timeoutMs: 1000 } });
    trail.record(event(1));
    await trail.idle();
    expect(await metric(registry, 'hubgate_audit_webhook_sent_total')).toBe(1);
    expect(await metric(registry, 'hubgate_audit_webhook_dropped_total', '{reason="retries_exhausted"}')).toBe(0);
  });

  it('retry waits: 0.5 s doubling by default, capped at maxBackoffMs, or at 30 s when none is set', async () => {
    const wait = async (webhook: Partial<AuditWebhookOptions>) =>
      withInstantWaits(async () => {
        const trail = new AuditTrail({ sink: () => undefined, fetchImpl: failing(500), webhook: { url: 'http://collector.test/a', batchSize: 10, queueMax: 10, maxAttempts: 4, timeoutMs: 1000, ...webhook } });
        trail.record(event(1));
        await trail.idle();
      });
    expect(await wait({})).toEqual([500, 1000, 2000]);
    expect(await wait({ backoffMs: 100, maxBackoffMs: 150 })).toEqual([100, 150, 150]);
    expect(await wait({ backoffMs: 20_000 })).toEqual([20_000, 30_000, 30_000]);
  });

  it('closed: no new event is queued, a batch being retried is not waited for, nothing more is sent', async () => {
    const registry = new client.Registry();
    let calls = 0;
    let release: () => void = () => undefined;
    const fetchImpl = (async () => {
      calls += 1;
      if (calls === 1) await new Promise<void>((r) => (release = r));
      return new Response('', { status: 500 });
    }) as unknown as typeof fetch;
    const trail = new AuditTrail({ sink: () => undefined, registry, fetchImpl, webhook: { url: 'http://collector.test/a', batchSize: 1, queueMax: 10, maxAttempts: 3, timeoutMs: 1000, backoffMs: 60_000 } });
    trail.record(event(1));
    trail.record(event(2));
    for (let i = 0; i < 100 && calls < 1; i++) await new Promise((r) => setTimeout(r, 1));
    expect(calls).toBe(1);
    await trail.close(0);
    trail.record(event(3));
    expect(trail.queueLength()).toBe(2);
    release();
    // the batch in flight uses its remaining attempts at once (no 60 s waits), then the sender stops
    for (let i = 0; i < 100 && calls < 3; i++) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, 5));
    expect(calls).toBe(3);
    expect(await metric(registry, 'hubgate_audit_webhook_dropped_total', '{reason="retries_exhausted"}')).toBe(1);
    expect(trail.queueLength()).toBe(1);
  });

  it('close waits for a batch in flight at most graceMs (2 s by default), not at all when idle', async () => {
    jest.useFakeTimers();
    try {
      const fetchImpl = (() => new Promise<Response>(() => undefined)) as unknown as typeof fetch;
      const closes = async (graceMs?: number, busy = true): Promise<number> => {
        const trail = new AuditTrail({ sink: () => undefined, fetchImpl, webhook: { url: 'http://collector.test/a', batchSize: 10, queueMax: 10, maxAttempts: 1, timeoutMs: 60_000 } });
        if (busy) trail.record(event(1));
        await jest.advanceTimersByTimeAsync(0); // the sender starts its (hanging) batch
        let closedAt: number | undefined;
        const t0 = Date.now();
        void (graceMs === undefined ? trail.close() : trail.close(graceMs)).then(() => (closedAt = Date.now() - t0));
        for (let step = 0; step < 40 && closedAt === undefined; step++) await jest.advanceTimersByTimeAsync(100);
        return closedAt ?? -1;
      };
      expect(await closes()).toBe(2000);
      expect(await closes(300)).toBe(300);
      // nothing queued or in flight: at once
      expect(await closes(5000, false)).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('closed before the sender started: what is queued stays queued, nothing is sent', async () => {
    let calls = 0;
    const fetchImpl = (async () => {
      calls += 1;
      return okResponse();
    }) as unknown as typeof fetch;
    const trail = new AuditTrail({ sink: () => undefined, fetchImpl, webhook: { url: 'http://collector.test/a', batchSize: 10, queueMax: 10, maxAttempts: 1, timeoutMs: 1000 } });
    const closing = trail.close(0);
    trail.record(event(1));
    await closing;
    await new Promise((r) => setTimeout(r, 5));
    expect(calls).toBe(0);
    expect(trail.queueLength()).toBe(1);
  });
});
