/**
 * The composition root (src/server.ts `startServer`), started in-process on a random loopback port against the
 * in-process Harbor double and a local JWKS: no docker-registry, redis-server or skopeo. What it promises: the
 * routes answer (health, readiness, metrics with the version, the /v2 front, the console), the configured
 * secrets are masked in every log line (retired secrets too, their key fingerprints not), audit events reach the
 * logger's sink and the webhook, the per-address connection cap and the malformed-request envelope are
 * installed, the timeouts are set, and close() is graceful: in-flight requests finish, new connections are
 * refused, and what outlives the shutdown timeout is cut.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../src/config';
import { startServer, VERSION, type RunningServer } from '../../src/server';
import { createLogger } from '../../src/observability/logger';
import { startHarborDouble, type HarborDouble } from '../harbor-double';
import { startJwks, type TestIdp } from '../support/tokens';
import { ADMIN_PASSWORD, CREDENTIAL_SECRET, startHubgate, testConfig } from '../support/stack';
import { closedWith, connectRaw, exchange } from '../support/raw-http';

const PUBLIC_URL = 'https://hub.example.test';
const RETIRED_SECRET = 'retired-credential-secret-0123456789abcdef';
const RETIRED_FINGERPRINT = '0123456789abcdef';
const WEBHOOK_TOKEN = 'audit-webhook-token-5f1e2d3c';

let harbor: HarborDouble;
let idp: TestIdp;
/** The audit webhook: every batch hubgate posts (headers and events). */
let webhook: http.Server;
let webhookUrl: string;
const batches: { authorization?: string; events: { action: string; outcome: string; status: number }[] }[] = [];
const running: RunningServer[] = [];

beforeAll(async () => {
  harbor = await startHarborDouble();
  idp = await startJwks();
  webhook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      batches.push({ authorization: req.headers.authorization, events: (JSON.parse(body) as { events: (typeof batches)[number]['events'] }).events });
      res.end();
    });
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
  webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/audit`;
});

afterAll(async () => {
  for (const s of running) await s.close();
  await harbor.close();
  await idp.close();
  await new Promise<void>((r) => webhook.close(() => r()));
});

/** hubgate on a random loopback port against the double, with `env` on top of the test configuration. */
async function hubgate(env: Record<string, string> = {}): Promise<RunningServer & { logs: string[]; config: Readonly<Config> }> {
  const config = testConfig({ harborUrl: harbor.url, idp, env });
  const hub = await startHubgate(config);
  running.push(hub);
  return { ...hub, config };
}

const portOf = (hub: RunningServer) => (hub.server.address() as AddressInfo).port;
const json = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

/** A GET on its own connection; the answer, or the error code the client saw. */
function get(url: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
}

describe('startServer: what the composition root wires', () => {
  let hub: Awaited<ReturnType<typeof hubgate>>;

  beforeAll(async () => {
    hub = await hubgate({
      HUBGATE_PUBLIC_URL: PUBLIC_URL,
      HUBGATE_CREDENTIAL_SECRET_PREVIOUS: `${RETIRED_SECRET},${RETIRED_FINGERPRINT}`,
      HUBGATE_AUDIT_WEBHOOK_URL: webhookUrl,
      HUBGATE_AUDIT_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      HUBGATE_CLIENT_IDLE_TIMEOUT_MS: '90000',
      HUBGATE_HEADERS_TIMEOUT_MS: '7000',
    });
  });

  it('listens on the configured loopback host and logs where, which Harbor, no Redis, and the version', () => {
    expect(hub.url).toBe(`http://127.0.0.1:${portOf(hub)}`);
    expect(portOf(hub)).not.toBe(0);
    const listening = json(hub.logs).filter((l) => l.msg === 'hubgate listening');
    expect(listening.map(({ time: _t, ...rest }) => rest)).toEqual([
      { level: 'info', msg: 'hubgate listening', url: hub.url, harbor: harbor.url, redis: 'not configured', version: VERSION },
    ]);
  });

  it('reports the version of package.json', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect(VERSION).toBe((require('../../package.json') as { version: string }).version);
  });

  it('answers /healthz, /readyz (Harbor checks and the credential key), /metrics with the version, /openapi.json', async () => {
    expect(await get(`${hub.url}/healthz`)).toEqual({ status: 200, body: '{"status":"alive"}' });
    const ready = await get(`${hub.url}/readyz`);
    expect(ready).toMatchObject({ status: 200 });
    const report = JSON.parse((ready as { body: string }).body) as { status: string; checks: Record<string, { ok: boolean; detail?: string }> };
    expect(report.status).toBe('ready');
    expect(Object.keys(report.checks).sort()).toEqual(['credential_key', 'harbor_admin', 'harbor_health']);
    expect(report.checks.credential_key.ok).toBe(true);
    expect(report.checks.credential_key.detail).toMatch(/^credential key [0-9a-f]{16}$/);
    const metrics = await get(`${hub.url}/metrics`);
    expect((metrics as { body: string }).body).toContain(`hubgate_build_info{version="${VERSION}",node_version="${process.version}"} 1`);
    const openapi = await get(`${hub.url}/openapi.json`);
    expect((JSON.parse((openapi as { body: string }).body) as { info: { version: string } }).info.version).toBe(VERSION);
  });

  it('serves the registry front at /v2/: 401 with the token realm at the public URL', async () => {
    const r = await fetch(`${hub.url}/v2/`);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe(`Bearer realm="${PUBLIC_URL}/service/token",service="harbor-registry"`);
    expect(r.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(await r.json()).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized: authentication required' }] });
  });

  it('mounts the console (on by default) with its sign-in settings and the version', async () => {
    const r = await get(`${hub.url}/console/config.json`);
    expect(r).toMatchObject({ status: 200 });
    expect(JSON.parse((r as { body: string }).body)).toEqual({
      issuer: hub.config.console.oidcIssuer,
      clientId: hub.config.console.clientId,
      scope: 'openid profile',
      apiBase: 'api/v1',
      version: VERSION,
    });
  });

  it('masks the admin password, the credential secret, a retired secret and the webhook token in every log line; a retired key fingerprint is no secret', () => {
    const lines: string[] = [];
    const log = createLogger('info', (l) => lines.push(l));
    for (const value of [ADMIN_PASSWORD, CREDENTIAL_SECRET, RETIRED_SECRET, WEBHOOK_TOKEN, RETIRED_FINGERPRINT]) log.info(`value ${value} end`, { note: `<${value}>` });
    expect(json(lines).map((l) => [l.msg, l.note])).toEqual([
      ['value [redacted] end', '<[redacted]>'],
      ['value [redacted] end', '<[redacted]>'],
      ['value [redacted] end', '<[redacted]>'],
      ['value [redacted] end', '<[redacted]>'],
      [`value ${RETIRED_FINGERPRINT} end`, `<${RETIRED_FINGERPRINT}>`],
    ]);
  });

  it('sets the connection timeouts: no total request time, headers and idle timeouts from the configuration, keep-alive capped at 65 s', () => {
    expect(hub.server.requestTimeout).toBe(0);
    expect(hub.server.headersTimeout).toBe(7000);
    expect(hub.server.timeout).toBe(90000);
    expect(hub.server.keepAliveTimeout).toBe(65000);
  });

  it('writes audit events to the logger\'s sink and posts them to the webhook with its bearer token', async () => {
    const token = await idp.memberToken({ sub: 'u-srv', username: 'srv-user', projects: [{ id: 'srv-p', name: 'Srv', department: 'd' }] });
    const r = await fetch(`${hub.url}/api/v1/workspaces`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'srv-ws', projectId: 'srv-p' }),
    });
    expect(r.status).toBe(201);
    const audit = json(hub.logs).filter((l) => l.type === 'audit');
    expect(audit.map((a) => [a.action, a.outcome, a.status])).toEqual([['workspaces_create', 'success', 201]]);
    for (let i = 0; i < 100 && batches.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
    expect(batches).toEqual([{ authorization: `Bearer ${WEBHOOK_TOKEN}`, events: [expect.objectContaining({ action: 'workspaces_create', outcome: 'success', status: 201 })] }]);
  });

  it('answers a request Node cannot parse with the error envelope and closes the connection', async () => {
    const r = await exchange(portOf(hub), 'POST /api/v1/workspaces HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{}{}\r\n0\r\n\r\n');
    expect(r.answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(r.answer.split('\r\n\r\n')[1]).toBe('{"errors":[{"code":"BAD_REQUEST","message":"malformed HTTP request"}]}\n');
    expect(r.closed).toBe(true);
  });

  it('Expect: 100-continue: 100 Continue at once for any request but an upload, which answers for itself', async () => {
    const ask = (path: string) =>
      new Promise<{ continued: boolean; status: number }>((resolve, reject) => {
        let continued = false;
        const req = http.request(`${hub.url}${path}`, { method: 'POST', agent: false, headers: { Expect: '100-continue', 'Content-Type': 'application/x-tar', 'Content-Length': '3' } });
        req.on('continue', () => {
          continued = true;
          req.end('abc');
        });
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve({ continued, status: res.statusCode ?? 0 }));
          if (!continued) req.destroy();
        });
        req.on('error', reject);
        req.flushHeaders();
      });
    // Not an upload: the 100 comes first, then the route's own answer (no route: 404).
    expect(await ask('/api/v1/nothing-here')).toEqual({ continued: true, status: 401 });
    // An upload without a token: refused before the client sends a byte of its archive.
    expect(await ask('/api/v1/workspaces/srv-ws/uploads')).toEqual({ continued: false, status: 401 });
  });

  it('close() is idempotent: every call returns the same shutdown', async () => {
    const extra = await hubgate();
    const first = extra.close();
    expect(extra.close()).toBe(first);
    await first;
  });
});

describe('startServer: host, console and keep-alive variants', () => {
  it('on a wildcard host, its URL names the loopback address; console disabled: nothing at /console; keep-alive follows a short idle timeout', async () => {
    const hub = await hubgate({ HUBGATE_HOST: '0.0.0.0', HUBGATE_CONSOLE_ENABLED: 'false', HUBGATE_CLIENT_IDLE_TIMEOUT_MS: '1500' });
    expect(hub.url).toBe(`http://127.0.0.1:${portOf(hub)}`);
    expect((hub.server.address() as AddressInfo).address).toBe('0.0.0.0');
    expect(await get(`${hub.url}/console/config.json`)).toEqual({
      status: 404,
      body: '{"errors":[{"code":"NOT_FOUND","message":"path /console/config.json was not found"}]}\n',
    });
    expect(hub.server.timeout).toBe(1500);
    expect(hub.server.keepAliveTimeout).toBe(1500);
  });

  it('HUBGATE_IMAGES_WARM_ON_START: the image catalogue is built at start, and its sync counted in /metrics', async () => {
    const hub = await hubgate({ HUBGATE_IMAGES_WARM_ON_START: 'true' });
    const synced = async () => ((await get(`${hub.url}/metrics`)) as { body: string }).body.split('\n').filter((l) => l.startsWith('hubgate_image_catalog_syncs_total{'));
    let lines = await synced();
    for (let i = 0; i < 100 && lines.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      lines = await synced();
    }
    expect(lines).toEqual(['hubgate_image_catalog_syncs_total{kind="full"} 1']);
  });

  it('audit events go to the auditSink given, not to the logger', async () => {
    const logs: string[] = [];
    const audit: string[] = [];
    const config = testConfig({ harborUrl: harbor.url, idp });
    const hub = await startServer(config, { logger: createLogger('info', (l) => logs.push(l)), auditSink: (l) => audit.push(l) });
    running.push(hub);
    const r = await fetch(`${hub.url}/api/v1/workspaces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(r.status).toBe(401);
    expect(json(audit).map((a) => [a.type, a.action, a.outcome, a.status])).toEqual([['audit', 'unmatched', 'denied', 401]]);
    expect(json(logs).filter((l) => l.type === 'audit')).toEqual([]);
  });
});

describe('startServer: connections per address', () => {
  it('closes a connection over HUBGATE_MAX_CONNECTIONS_PER_ADDRESS on arrival and counts it', async () => {
    const hub = await hubgate({ HUBGATE_MAX_CONNECTIONS_PER_ADDRESS: '2' });
    const port = portOf(hub);
    const a = await connectRaw(port);
    const b = await connectRaw(port);
    const c = await connectRaw(port);
    expect(await closedWith(c)).toBe('');
    b.destroy();
    const m = await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n', a);
    expect(m.answer).toContain('\nhubgate_connections_refused_total{reason="per_address"} 1\n');
  });

  it('exempts trusted proxies (HUBGATE_TRUSTED_PROXIES): every client behind them shares their address', async () => {
    const hub = await hubgate({ HUBGATE_MAX_CONNECTIONS_PER_ADDRESS: '1', HUBGATE_TRUSTED_PROXIES: 'loopback' });
    const port = portOf(hub);
    const a = await connectRaw(port);
    const b = await exchange(port, 'GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(b.answer.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    a.destroy();
  });
});

describe('startServer: graceful close', () => {
  afterEach(() => harbor.setLatency(null));

  /**
   * Starts a workspace creation whose Harbor calls each wait `ms` (its own connection); resolves once hubgate has the
   * request. (Not /readyz: its Harbor round is cached for a second after start.)
   */
  async function slowCreation(hub: RunningServer, ms: number, name: string) {
    const token = await idp.memberToken({ sub: 'u-close', username: 'closer', projects: [{ id: 'close-p', name: 'Close', department: 'd' }] });
    harbor.setLatency({ rest: { baseMs: ms } });
    const arrived = new Promise<void>((r) => hub.server.once('request', () => r()));
    const answer = new Promise<{ status: number; body: string } | { error: string }>((resolve) => {
      const req = http.request(`${hub.url}/api/v1/workspaces`, { method: 'POST', agent: false, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
      req.end(JSON.stringify({ name, projectId: 'close-p' }));
    });
    await arrived;
    return { answer };
  }

  it('lets an in-flight request finish while refusing new connections', async () => {
    const hub = await hubgate({ HUBGATE_SHUTDOWN_TIMEOUT_MS: '60000' });
    const { answer: inFlight } = await slowCreation(hub, 100, 'close-ws-1');
    const closed = hub.close();
    expect(await get(`${hub.url}/healthz`)).toEqual({ error: 'ECONNREFUSED' });
    const r = await inFlight;
    expect(r).toMatchObject({ status: 201 });
    expect((JSON.parse((r as { body: string }).body) as { name: string }).name).toBe('close-ws-1');
    await closed;
    expect(hub.server.listening).toBe(false);
  });

  it('cuts a request still running when HUBGATE_SHUTDOWN_TIMEOUT_MS is over', async () => {
    const hub = await hubgate({ HUBGATE_SHUTDOWN_TIMEOUT_MS: '100' });
    const { answer: inFlight } = await slowCreation(hub, 3000, 'close-ws-2');
    await hub.close();
    expect(await inFlight).toEqual({ error: 'ECONNRESET' });
  });
});
