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
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../src/config';
import { startServer, VERSION, type RunningServer } from '../../src/server';
import { createLogger } from '../../src/observability/logger';
import { startHarborDouble, type HarborDouble } from '../harbor-double';
import { startJwks, type TestIdp } from '../support/tokens';
import { ADMIN_PASSWORD, ADMIN_USERNAME, CREDENTIAL_SECRET, startHubgate, testConfig } from '../support/stack';
import { closedWith, connectRaw, exchange } from '../support/raw-http';
import { startRedis, type TestRedis } from '../support/redis';
import { requireTools } from '../support/tools';
import * as coordinationModule from '../../adapters/redis/redis.coordination';
import * as changeFeedModule from '../../adapters/redis/change.feed';
import * as consoleActionsModule from '../../adapters/redis/console-actions.store';
import * as registryClientModule from '../../adapters/registry/registry.client';
import * as metricsModule from '../../src/observability/metrics';
import * as appModule from '../../src/http/app';
import * as runtimeModule from '../../src/runtime';
import * as registryRouterModule from '../../src/http/registry/router';
import * as credentialsModule from '../../src/domain/credentials.service';
import * as workspacesModule from '../../src/domain/workspaces.service';
import * as imagesModule from '../../src/domain/images.service';
import * as gcModule from '../../src/domain/gc.service';
import * as uploadsModule from '../../src/domain/uploads.service';
import * as activityModule from '../../src/domain/activity.service';
import * as retentionModule from '../../src/domain/retention.service';
import * as monitorModule from '../../src/observability/harbor-monitor';
import { WorkspacePoliciesService } from '../../src/domain/workspace-policies.service';
import type { Principal } from '../../src/domain/principal';
import type { ConsoleActionStore } from '../../src/ports/console-actions';

const PUBLIC_URL = 'https://hub.example.test';
const RETIRED_SECRET = 'retired-credential-secret-0123456789abcdef';
const RETIRED_FINGERPRINT = '0123456789abcdef';
/** A retired secret that merely starts like a fingerprint: still a secret. */
const RETIRED_HEX_LED = 'fedcba9876543210-retired-secret-material';
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

/** A member of project `projectId` (only) creates workspace `name` in it through the API; the status. */
async function createWorkspace(url: string, who: { sub: string; username: string; projectId: string }, name: string): Promise<number> {
  const token = await idp.memberToken({ sub: who.sub, username: who.username, projects: [{ id: who.projectId, name: who.projectId, department: 'd' }] });
  const r = await fetch(`${url}/api/v1/workspaces`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, projectId: who.projectId }),
  });
  return r.status;
}

describe('startServer: what the composition root wires', () => {
  let hub: Awaited<ReturnType<typeof hubgate>>;

  // Built for every test (not once): StrykerJS counts what startServer runs only for the test that runs it.
  beforeEach(async () => {
    batches.length = 0;
    hub = await hubgate({
      HUBGATE_PUBLIC_URL: PUBLIC_URL,
      HUBGATE_CREDENTIAL_SECRET_PREVIOUS: `${RETIRED_SECRET},${RETIRED_FINGERPRINT},${RETIRED_HEX_LED}`,
      HUBGATE_AUDIT_WEBHOOK_URL: webhookUrl,
      HUBGATE_AUDIT_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      HUBGATE_CLIENT_IDLE_TIMEOUT_MS: '90000',
      HUBGATE_HEADERS_TIMEOUT_MS: '7000',
    });
  });
  afterEach(() => hub.close());

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

  it('masks the admin password, the credential secret, retired secrets (one led by 16 hex digits) and the webhook token in every log line; a retired key fingerprint is no secret', () => {
    const lines: string[] = [];
    const log = createLogger('info', (l) => lines.push(l));
    for (const value of [ADMIN_PASSWORD, CREDENTIAL_SECRET, RETIRED_SECRET, RETIRED_HEX_LED, WEBHOOK_TOKEN, RETIRED_FINGERPRINT]) log.info(`value ${value} end`, { note: `<${value}>` });
    expect(json(lines).map((l) => [l.msg, l.note])).toEqual([
      ['value [redacted] end', '<[redacted]>'],
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
    // checked every second, not every 30 s (Node's default)
    expect((hub.server as http.Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval).toBe(1000);
  });

  it('writes audit events to the logger\'s sink and posts them to the webhook with its bearer token', async () => {
    expect(await createWorkspace(hub.url, { sub: 'u-srv', username: 'srv-user', projectId: 'srv-p' }, 'srv-ws')).toBe(201);
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

/**
 * Spies on the class `name` exported by `mod`: each construction still happens for real; returns the deps every one
 * was given (the composition root's wiring, as the service receives it).
 */
function constructions<C extends abstract new (deps: never) => object>(mod: object, name: string): ConstructorParameters<C>[0][] {
  type Deps = ConstructorParameters<C>[0];
  const classes = mod as Record<string, new (deps: Deps) => object>;
  const Real = classes[name];
  const seen: Deps[] = [];
  jest.spyOn(mod as Record<string, (deps: Deps) => object>, name).mockImplementation((deps: Deps) => {
    seen.push(deps);
    return new Real(deps);
  });
  return seen;
}

describe('startServer: what each part is built with', () => {
  // the prototypes of the real classes (constructions() replaces the exports by spies)
  const imagesProto = imagesModule.ImagesService.prototype;
  const workspacesProto = workspacesModule.WorkspacesService.prototype;
  const credentialsProto = credentialsModule.CredentialsService.prototype;
  afterEach(() => jest.restoreAllMocks());

  it('the adapters: coordination, change feeds, console-action store, registry client and metrics get their settings and the logger', async () => {
    const coordination = jest.spyOn(coordinationModule, 'createCoordination');
    const feeds = jest.spyOn(changeFeedModule, 'createChangeFeed');
    const store = jest.spyOn(consoleActionsModule, 'createConsoleActionStore');
    const registry = jest.spyOn(registryClientModule, 'createRegistryClient');
    const metrics = jest.spyOn(metricsModule, 'createMetrics');
    const logger = createLogger('info', () => undefined);
    const config = testConfig({ harborUrl: harbor.url, idp, env: { HUBGATE_LOCK_QUARANTINE_MS: '1234', HUBGATE_ACTIVITY_ATTRIBUTION_DAYS: '7' } });
    running.push(await startServer(config, { logger }));
    expect(coordination.mock.calls).toStrictEqual([[{ redisUrl: undefined, logger, lockQuarantineMs: 1234 }]]);
    expect(feeds.mock.calls).toStrictEqual([[{ name: 'workspaces', redisUrl: undefined, logger }], [{ name: 'images', redisUrl: undefined, logger }]]);
    expect(store.mock.calls).toStrictEqual([[{ redisUrl: undefined, keepDays: 7, logger }]]);
    // Harbor's REST timeout is 5 s here; blob transfers get at least a minute
    expect(registry.mock.calls).toStrictEqual([
      [{ baseUrl: harbor.url, username: ADMIN_USERNAME, password: ADMIN_PASSWORD, timeoutMs: 60000, retries: config.harbor.retries, chunkBytes: config.uploads.chunkBytes, logger }],
    ]);
    expect(metrics.mock.calls).toStrictEqual([[{ version: VERSION }]]);
  });

  it('the services: key grace and announcement, monitors, login throttle, attribution store; each callback hands its arguments to the service that answers', async () => {
    const credentials = constructions<typeof credentialsModule.CredentialsService>(credentialsModule, 'CredentialsService');
    const workspaces = constructions<typeof workspacesModule.WorkspacesService>(workspacesModule, 'WorkspacesService');
    const images = constructions<typeof imagesModule.ImagesService>(imagesModule, 'ImagesService');
    const gc = constructions<typeof gcModule.GcService>(gcModule, 'GcService');
    const uploads = constructions<typeof uploadsModule.UploadsService>(uploadsModule, 'UploadsService');
    const activity = constructions<typeof activityModule.ActivityService>(activityModule, 'ActivityService');
    const retention = constructions<typeof retentionModule.RetentionService>(retentionModule, 'RetentionService');
    const monitor = constructions<typeof monitorModule.HarborMonitor>(monitorModule, 'HarborMonitor');
    const routers = jest.spyOn(registryRouterModule, 'createRegistryRouter');
    const store = jest.spyOn(consoleActionsModule, 'createConsoleActionStore');
    const quotaMonitor = jest.spyOn(WorkspacePoliciesService.prototype, 'startMonitor');
    const warm = jest.spyOn(imagesProto, 'warm');
    const metricsMade = jest.spyOn(metricsModule, 'createMetrics');
    const front = jest.spyOn(appModule, 'createFront');
    const logger = createLogger('info', () => undefined);
    const config = testConfig({
      harborUrl: harbor.url,
      idp,
      env: {
        HUBGATE_CREDENTIAL_KEY_GRACE_SECONDS: '30',
        HUBGATE_QUOTA_POLL_SECONDS: '45',
        HUBGATE_LOGIN_MAX_FAILURES: '3',
        HUBGATE_LOGIN_MAX_FAILURES_PER_ADDRESS: '9',
        HUBGATE_LOGIN_FAILURE_WINDOW_SECONDS: '60',
        HUBGATE_LOGIN_BLOCK_SECONDS: '120',
      },
    });
    const hub = await startServer(config, { logger });
    running.push(hub);

    // a key grace of 30 s: announced every 10 s (a third of it, and never less often than every 20 s)
    expect(credentials.map((d) => [d.keyGraceMs, d.announceMs])).toEqual([[30000, 10000]]);
    expect(monitor.map((d) => [d.intervalMs, d.logger])).toStrictEqual([[60000, logger]]);
    expect(retention.map((d) => d.logger)).toStrictEqual([logger]);
    expect(activity.map((d) => [d.adminUsername, d.robotPrefix, d.consoleActions])).toStrictEqual([[ADMIN_USERNAME, config.harbor.robotPrefix, store.mock.results[0].value]]);
    expect(routers.mock.calls.map(([d]) => d.throttle)).toStrictEqual([{ maxFailuresPerUser: 3, maxFailuresPerAddress: 9, windowSeconds: 60, blockSeconds: 120 }]);
    // registry requests skip Express (the same answers, less work per request): the front gets the router
    expect(front.mock.calls.map(([, d]) => [d.logger, d.metrics, d.registryRouter])).toStrictEqual([[logger, metricsMade.mock.results[0].value, routers.mock.results[0].value]]);
    expect(quotaMonitor.mock.calls).toEqual([[45000]]);
    // HUBGATE_IMAGES_WARM_ON_START is false in the test configuration
    expect(warm.mock.calls).toEqual([]);
    // no Redis: this process is alone
    expect(uploads[0].shared()).toBe(false);

    // A successful console call is remembered for the activity view, under its workspace.
    const remember = jest.spyOn(store.mock.results[0].value as ConsoleActionStore, 'remember');
    expect(await createWorkspace(hub.url, { sub: 'u-wire', username: 'wirer', projectId: 'wire-p' }, 'wire-ws')).toBe(201);
    expect(remember.mock.calls).toEqual([['wire-ws', expect.objectContaining({ userId: 'u-wire', username: 'wirer', action: 'workspaces_create' })]]);

    const protectedVersion = jest.spyOn(WorkspacePoliciesService.prototype, 'protectedVersion').mockResolvedValue('immutable rule 3');
    expect(await workspaces[0].protectedVersion?.('ws-a')).toBe('immutable rule 3');
    expect(protectedVersion.mock.calls).toEqual([['ws-a']]);
    const ruleFor = jest.spyOn(WorkspacePoliciesService.prototype, 'ruleFor').mockResolvedValue('rule 4');
    expect(await images[0].immutableRule?.('ws-a', 'app', 'v1')).toBe('rule 4');
    expect(ruleFor.mock.calls).toEqual([['ws-a', 'app', 'v1']]);
    // the image statistics fill compacts the heap once it grew by 48 MB
    const collect = jest.spyOn(runtimeModule, 'collectGarbageIfGrown').mockReturnValue(false);
    images[0].compact?.();
    expect(collect.mock.calls).toEqual([[50331648]]);
    const invalidate = jest.spyOn(imagesProto, 'invalidate').mockResolvedValue();
    await uploads[0].invalidate('ws-a', ['ws-a/app']);
    await routers.mock.calls[0][0].onManifestChange?.('ws-a/tool');
    expect(invalidate.mock.calls).toEqual([[['ws-a/app']], [['ws-a/tool']]]);
    const list = jest.spyOn(workspacesProto, 'list').mockResolvedValue({ items: [{ name: 'ws-a' }, { name: 'ws-b' }] } as never);
    const member: Principal = { userId: 'u1', username: 'm', isCloudAdmin: false, projects: [] };
    expect(await gc[0].visibleWorkspaces?.(member)).toEqual(new Set(['ws-a', 'ws-b']));
    expect(list.mock.calls).toEqual([[member, { page: 1, pageSize: Number.MAX_SAFE_INTEGER }]]);
    const verify = jest.spyOn(credentialsProto, 'verify').mockResolvedValue(null);
    expect(await routers.mock.calls[0][0].verify('robot-x', 'pw')).toBeNull();
    expect(verify.mock.calls).toEqual([['robot-x', 'pw']]);

    // catalogue updates are counted by kind, with the repositories they re-read
    images[0].onSync?.('delta', 4);
    const metrics = ((await get(`${hub.url}/metrics`)) as { body: string }).body.split('\n').filter((l) => l.startsWith('hubgate_image_catalog_'));
    expect(metrics).toEqual(['hubgate_image_catalog_syncs_total{kind="delta"} 1', 'hubgate_image_catalog_repositories_total{kind="delta"} 4']);
  });
});

// a missing redis-server fails the run under CI, and is a printed skip locally (test/support/tools.ts)
const redisReady = requireTools('startServer with Redis', ['redis-server']).available;

(redisReady ? describe : describe.skip)('startServer: with Redis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.close());
  afterEach(() => jest.restoreAllMocks());

  it('logs that Redis is configured, probes it for /readyz and shares state through it', async () => {
    const monitor = constructions<typeof monitorModule.HarborMonitor>(monitorModule, 'HarborMonitor');
    const uploads = constructions<typeof uploadsModule.UploadsService>(uploadsModule, 'UploadsService');
    const hub = await hubgate({ REDIS_URL: redis.url });
    try {
      expect(json(hub.logs).filter((l) => l.msg === 'hubgate listening').map((l) => l.redis)).toEqual(['configured']);
      // no offline queue: the probe answers 1 once the connection is up
      let up = await monitor[0].redisUp();
      for (let i = 0; i < 100 && up !== 1; i++) {
        await new Promise((r) => setTimeout(r, 20));
        up = await monitor[0].redisUp();
      }
      expect(up).toBe(1);
      expect(uploads[0].sharedConfigured).toBe(true);
      expect(uploads[0].shared()).toBe(true);
    } finally {
      await hub.close();
    }
  });
});

describe('startServer: listening address and start-up errors', () => {
  it('on a named host, its URL names that host; on the IPv6 wildcard, the IPv4 loopback address', async () => {
    const named = await hubgate({ HUBGATE_HOST: 'localhost' });
    expect(named.url).toBe(`http://localhost:${portOf(named)}`);
    const v6 = await hubgate({ HUBGATE_HOST: '::' });
    expect((v6.server.address() as AddressInfo).address).toBe('::');
    expect(v6.url).toBe(`http://127.0.0.1:${portOf(v6)}`);
    expect(await get(`${v6.url}/healthz`)).toEqual({ status: 200, body: '{"status":"alive"}' });
  });

  it('a port already in use: startServer rejects with EADDRINUSE', async () => {
    const first = await hubgate();
    await expect(hubgate({ HUBGATE_PORT: String(portOf(first)) })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('only a POST to /api/v1/workspaces/<name>/uploads is an upload: its connection loses the client idle timeout', async () => {
    const hub = await hubgate({ HUBGATE_CLIENT_IDLE_TIMEOUT_MS: '90000' });
    const seen: [string, number | undefined][] = [];
    // (Express has cut its mount path off req.url by now: originalUrl is the one sent)
    hub.server.on('request', (req: http.IncomingMessage & { originalUrl?: string }) => seen.push([`${req.method} ${req.originalUrl}`, req.socket.timeout]));
    const send = (method: string, p: string) =>
      new Promise<void>((resolve, reject) => {
        const req = http.request(`${hub.url}${p}`, { method, agent: false, headers: { 'Content-Length': '0' } }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end();
      });
    const calls: [string, string][] = [
      ['POST', '/api/v1/workspaces/ws/uploads'],
      ['POST', '/api/v1/workspaces/ws/uploads/?chunked=1'],
      ['PUT', '/api/v1/workspaces/ws/uploads'],
      ['POST', '/api/v1/workspaces'],
      ['POST', '/x/api/v1/workspaces/ws/uploads'],
    ];
    for (const [method, p] of calls) await send(method, p);
    expect(seen).toEqual([
      ['POST /api/v1/workspaces/ws/uploads', 0],
      ['POST /api/v1/workspaces/ws/uploads/?chunked=1', 0],
      ['PUT /api/v1/workspaces/ws/uploads', 90000],
      ['POST /api/v1/workspaces', 90000],
      ['POST /x/api/v1/workspaces/ws/uploads', 90000],
    ]);
  });
});

describe('VERSION', () => {
  // src/server.ts reads ../package.json; built, as dist/src/server.js, ../../package.json
  const beside = path.resolve(__dirname, '../../package.json');
  const above = path.resolve(__dirname, '../../../package.json');
  const missing = () => {
    throw new Error('no such file');
  };
  const loaded = (): string => {
    let version = '';
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      version = (require('../../src/server') as { VERSION: string }).VERSION;
    });
    return version;
  };
  afterEach(() => {
    jest.dontMock(beside);
    jest.dontMock(above);
  });

  it('without a package.json beside src/, the one above it', () => {
    jest.doMock(beside, missing);
    jest.doMock(above, () => ({ version: '9.8.7' }), { virtual: true });
    expect(loaded()).toBe('9.8.7');
  });

  it('without either: 0.0.0', () => {
    jest.doMock(beside, missing);
    jest.doMock(above, missing, { virtual: true });
    expect(loaded()).toBe('0.0.0');
  });
});
