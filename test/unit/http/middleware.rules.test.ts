/**
 * The rules of the HTTP middleware that the route suites only pass through: the Authorization header's grammar
 * and the challenges of src/http/middleware/authn.ts, principalOf; the request id, access-log line and request
 * metrics of src/http/middleware/observe.ts (durations read from a fake monotonic clock); and the refusals of
 * src/http/validate.ts that no route can show (a body no JSON parser read, a body parsed from another type) and
 * its five-error cap.
 *
 * Every request is sent inside its test (StrykerJS, coverageAnalysis perTest, credits only code that runs there).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request, type Response } from 'express';
import request from 'supertest';
import { AppError } from '../../../src/domain/errors';
import type { GcService } from '../../../src/domain/gc.service';
import type { Principal } from '../../../src/domain/principal';
import type { WorkspacePoliciesService } from '../../../src/domain/workspace-policies.service';
import { errorHandler } from '../../../src/http/errors';
import { authenticate, principalOf } from '../../../src/http/middleware/authn';
import { OPERATION_IDS } from '../../../src/http/registry/operations';
import type { PlainHandler } from '../../../src/http/registry/router';
import { validate } from '../../../src/http/validate';
import { currentContext } from '../../../src/observability/context';
import { silentLogger } from '../../../src/observability/logger';
import { createMetrics, type Metrics } from '../../../src/observability/metrics';
import { captureLogger } from '../../support/capture-logger';
import { answer, apiKit, envelope, recorder, USER_ID } from './app.kit';

const PRINCIPAL: Principal = { userId: 'u-carol', username: 'carol', isCloudAdmin: false, projects: [] };
const TOKEN_REQUIRED = 'a bearer token is required';

/**
 * `authenticate` run on its own (no observe in front, so no request context) over a request whose Authorization
 * header is `header`: `seen`, the tokens its verifier was asked about, the challenge it set, what it passed to
 * `next` (an error as its kind and message: Jest's equality compares errors by message only) and the principal
 * it left on the request; `passed`, what it passed to `next` as it is.
 */
async function authenticateWith(header: string | undefined, verify: (token: string) => Promise<Principal> = async () => PRINCIPAL) {
  const tokens: string[] = [];
  const set: Record<string, string> = {};
  const req = { header: (name: string) => (name.toLowerCase() === 'authorization' ? header : undefined) } as unknown as Request;
  const res = { setHeader: (name: string, value: string) => void (set[name] = value) } as unknown as Response;
  let passed: unknown = 'next not called';
  await authenticate({ verify: (t) => (tokens.push(t), verify(t)) })(req, res, (e?: unknown) => void (passed = e));
  const next = passed instanceof Error ? { kind: (passed as Partial<AppError>).kind, message: passed.message } : passed;
  return { seen: { tokens, challenge: set['WWW-Authenticate'], next, principal: req.principal }, passed };
}

const refused = { tokens: [], challenge: 'Bearer', next: { kind: 'unauthorized', message: TOKEN_REQUIRED }, principal: undefined };

describe('authenticate: the Authorization header', () => {
  it.each([
    ['Bearer tok-1', 'tok-1'],
    ['bearer tok-1', 'tok-1'],
    ['BEARER tok-1', 'tok-1'],
    ['Bearer   tok-1', 'tok-1'],
    ['Bearer\ttok-1', 'tok-1'],
    ['Bearer tok-1   ', 'tok-1'],
    ['Bearer  tok-1  ', 'tok-1'],
    ['Bearer eyJ.a-b_c.d~e+f/g=', 'eyJ.a-b_c.d~e+f/g='],
  ])('%j: `Bearer`, one or more spaces, one token, optional trailing spaces → the token %j is verified', async (header, token) => {
    expect((await authenticateWith(header)).seen).toEqual({ tokens: [token], challenge: undefined, next: undefined, principal: PRINCIPAL });
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['`Bearer` alone', 'Bearer'],
    ['`Bearer` and a space', 'Bearer '],
    ['no space after Bearer', 'Bearertok-1'],
    ['something before Bearer', 'xBearer tok-1'],
    ['a space before Bearer', ' Bearer tok-1'],
    ['two tokens', 'Bearer tok-1 tok-2'],
    ['another scheme', 'Basic dXNlcjpwdw=='],
  ])('%s: 401 with the plain `Bearer` challenge, the verifier never asked', async (_what, header) => {
    expect((await authenticateWith(header)).seen).toEqual(refused);
  });

  it('without a request context (nothing observes the request), a valid token still authenticates', async () => {
    const app = express().use(authenticate({ verify: async () => PRINCIPAL }));
    app.get('/who', (req, res) => void res.json(req.principal));
    const res = await request(app).get('/who').set('Authorization', 'Bearer tok-1');
    expect({ status: res.status, body: res.body as unknown }).toEqual({ status: 200, body: PRINCIPAL });
  });
});

describe('authenticate: what the verifier refuses', () => {
  it('a token the verifier calls unauthorized: its error, with the `invalid_token` challenge', async () => {
    const expired = new AppError('unauthorized', 'token expired');
    const r = await authenticateWith('Bearer tok-1', async () => {
      throw expired;
    });
    expect(r.seen).toEqual({ tokens: ['tok-1'], challenge: 'Bearer error="invalid_token"', next: { kind: 'unauthorized', message: 'token expired' }, principal: undefined });
    expect(r.passed).toBe(expired);
  });

  it.each([
    ['the identity provider unavailable', new AppError('upstream_unavailable', 'identity provider unavailable')],
    ['hubgate shutting down', new AppError('unavailable', 'shutting down')],
    ['an error that is not an AppError, even with kind "unauthorized"', Object.assign(new Error('boom'), { kind: 'unauthorized' })],
  ])('%s: that error, no challenge (the token was not judged)', async (_what, error) => {
    const r = await authenticateWith('Bearer tok-1', async () => {
      throw error;
    });
    expect(r.seen).toEqual({ tokens: ['tok-1'], challenge: undefined, next: { kind: error.kind, message: error.message }, principal: undefined });
    expect(r.passed).toBe(error);
  });

  it('over HTTP, with the identity provider down: 502 UPSTREAM_UNAVAILABLE and no WWW-Authenticate', async () => {
    const k = await apiKit({});
    await k.idp.close(); // the verifier has fetched no keys yet: it finds nobody to fetch them from
    const res = await k.as('alice').get('/api/v1/me');
    expect(answer(res)).toEqual(envelope(502, 'UPSTREAM_UNAVAILABLE', 'identity provider unavailable'));
    expect(res.headers['www-authenticate']).toBeUndefined();
  });
});

describe('principalOf', () => {
  it('the principal authenticate left on the request', () => {
    expect(principalOf({ principal: PRINCIPAL } as Request)).toBe(PRINCIPAL);
  });

  it('none (a route mounted without authenticate): 401, "a bearer token is required"', () => {
    let thrown: unknown;
    try {
      principalOf({} as Request);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect([(thrown as AppError).kind, (thrown as AppError).message]).toEqual(['unauthorized', TOKEN_REQUIRED]);
  });
});

/** The lines of the metrics text that start with `name` (e.g. `hubgate_http_requests_total{`). */
const series = async (metrics: Metrics, name: string): Promise<string[]> => (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(name));

/**
 * A monotonic clock for observe (process.hrtime.bigint) that moves only when the test says: `advance(ms)`.
 * Starts far from zero, so a duration computed as `now + started` cannot pass for `now - started`.
 */
function fakeClock() {
  let now = 7_000_000_000n;
  const spy = jest.spyOn(process.hrtime, 'bigint').mockImplementation(() => now);
  return {
    advance: (ms: number) => void (now += BigInt(ms) * 1_000_000n),
    restore: () => spy.mockRestore(),
  };
}

describe('observe: the access-log line and the request metrics', () => {
  it('one `request` line per request with its id, operation, method, status, duration in ms and the caller; the duration histogram in seconds by operation and method', async () => {
    const clock = fakeClock();
    try {
      const logger = captureLogger();
      const metrics = createMetrics({ defaultMetrics: false });
      const policies = recorder<WorkspacePoliciesService>({
        quota: async () => {
          clock.advance(250);
          return { limit: null };
        },
      });
      const k = await apiKit({ logger, metrics, policies: policies.service });
      try {
        const res = await k.as('alice').get('/api/v1/workspaces/ws/quota').set('X-Request-Id', 'req-quota-1');
        expect([res.status, res.headers['x-request-id']]).toEqual([200, 'req-quota-1']);
        expect(logger.lines.filter((l) => l.fields?.request_id === 'req-quota-1')).toEqual([
          {
            level: 'info',
            msg: 'request',
            fields: { request_id: 'req-quota-1', operation: 'workspace_quota_get', method: 'GET', status: 200, duration_ms: 250, user: USER_ID.alice },
          },
        ]);
        const labels = 'operation="workspace_quota_get",method="GET"';
        expect(await series(metrics, 'hubgate_http_request_duration_seconds')).toEqual([
          ...['0.005', '0.01', '0.025', '0.05', '0.1'].map((le) => `hubgate_http_request_duration_seconds_bucket{le="${le}",${labels}} 0`),
          ...['0.25', '0.5', '1', '2.5', '5', '10', '30', '+Inf'].map((le) => `hubgate_http_request_duration_seconds_bucket{le="${le}",${labels}} 1`),
          `hubgate_http_request_duration_seconds_sum{${labels}} 0.25`,
          `hubgate_http_request_duration_seconds_count{${labels}} 1`,
        ]);
      } finally {
        await k.close();
      }
    } finally {
      clock.restore();
    }
  });

  it('health, readiness, metrics and registry exchanges are logged but not counted as API requests; a path no route serves counts as `unmatched`', async () => {
    const logger = captureLogger();
    const metrics = createMetrics({ defaultMetrics: false });
    // a registry front stand-in that names each exchange as the registry router does (/v2/op/<operation id>)
    const registryRouter: PlainHandler = (req, res, next) => {
      const id = /^\/v2\/op\/(\w+)$/.exec(req.url ?? '')?.[1];
      if (!id) return next();
      currentContext()!.operation = id;
      res.end();
    };
    const k = await apiKit({ logger, metrics, registryRouter });
    try {
      const paths = ['/healthz', '/readyz', '/metrics', ...OPERATION_IDS.map((id) => `/v2/op/${id}`), '/nothing-here'];
      for (const path of paths) await request(k.app).get(path);
      expect((await k.as('bob').get('/api/v1/me')).status).toBe(200);

      expect(await series(metrics, 'hubgate_http_requests_total{')).toEqual([
        'hubgate_http_requests_total{operation="unmatched",method="GET",status_class="4xx"} 1',
        'hubgate_http_requests_total{operation="me_get",method="GET",status_class="2xx"} 1',
      ]);
      expect(await series(metrics, 'hubgate_http_request_duration_seconds_count{')).toEqual([
        'hubgate_http_request_duration_seconds_count{operation="unmatched",method="GET"} 1',
        'hubgate_http_request_duration_seconds_count{operation="me_get",method="GET"} 1',
      ]);
      const logged = logger.lines.filter((l) => l.msg === 'request').map((l) => [l.fields?.operation, l.fields?.status, l.fields?.user]);
      expect(logged).toEqual([
        ['healthz', 200, undefined],
        ['readyz', 200, undefined],
        ['metrics', 200, undefined],
        ...OPERATION_IDS.map((id) => [id, 200, undefined]),
        ['unmatched', 404, undefined],
        ['me_get', 200, USER_ID.bob],
      ]);
    } finally {
      await k.close();
    }
  });
});

/** Sends GET `path` to `app` over a real connection and destroys it once `cut()` resolves; settles when the server saw the close. */
async function abandon(app: http.RequestListener, path: string, headers: Record<string, string>, cut: () => Promise<void>): Promise<void> {
  const server = http.createServer(app).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const closed = new Promise<void>((r) => server.once('connection', (socket) => socket.once('close', () => r())));
    const req = http.get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path, headers });
    req.on('error', () => undefined);
    await cut();
    req.destroy();
    await closed;
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

describe('observe: a request the client abandons', () => {
  it('before any answer: one access-log line, status 499 and `aborted`, counted as 4xx; the late answer adds nothing', async () => {
    const logger = captureLogger();
    const metrics = createMetrics({ defaultMetrics: false });
    let reached!: () => void;
    const inHandler = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const policies = recorder<WorkspacePoliciesService>({
      quota: async () => {
        reached();
        await new Promise<void>((r) => (release = r));
        return { limit: null };
      },
    });
    const k = await apiKit({ logger, metrics, policies: policies.service });
    try {
      await abandon(k.app, '/api/v1/workspaces/ws/quota', { Authorization: `Bearer ${k.token('alice')}`, 'X-Request-Id': 'gone-1' }, () => inHandler);
      await new Promise((r) => setImmediate(r));
      release();
      await new Promise((r) => setTimeout(r, 20));
      expect(logger.lines.filter((l) => l.msg === 'request').map((l) => l.fields)).toEqual([
        { request_id: 'gone-1', operation: 'workspace_quota_get', method: 'GET', status: 499, duration_ms: expect.any(Number), user: USER_ID.alice, aborted: true },
      ]);
      expect(await series(metrics, 'hubgate_http_requests_total{')).toEqual([
        'hubgate_http_requests_total{operation="workspace_quota_get",method="GET",status_class="4xx"} 1',
      ]);
    } finally {
      await k.close();
    }
  });

  it('after the status line went out (a pull cut in its body): logged with the status the client saw, and `aborted`', async () => {
    const logger = captureLogger();
    const metrics = createMetrics({ defaultMetrics: false });
    let headSent!: () => void;
    const sent = new Promise<void>((r) => (headSent = r));
    const registryRouter: PlainHandler = (req, res, next) => {
      if (req.url !== '/v2/big/blobs/x') return next();
      currentContext()!.operation = 'v2_blob';
      res.writeHead(200, { 'Content-Length': '1000000' });
      res.write(Buffer.alloc(1000), () => headSent());
    };
    const k = await apiKit({ logger, metrics, registryRouter });
    try {
      await abandon(k.app, '/v2/big/blobs/x', { 'X-Request-Id': 'gone-2' }, () => sent);
      expect(logger.lines.filter((l) => l.msg === 'request').map((l) => l.fields)).toEqual([
        { request_id: 'gone-2', operation: 'v2_blob', method: 'GET', status: 200, duration_ms: expect.any(Number), user: undefined, aborted: true },
      ]);
    } finally {
      await k.close();
    }
  });
});

describe('validate', () => {
  /** POST / through `validate({ body: 'GcStart' })` (an object of two optional booleans), after `parsers`. */
  const gcStartApp = (...parsers: express.RequestHandler[]) =>
    express()
      .post('/', ...parsers, validate({ body: 'GcStart' }), (req, res) => void res.json(req.body))
      .use(errorHandler(silentLogger));
  const NOT_JSON = envelope(400, 'BAD_REQUEST', 'request body must be JSON (Content-Type: application/json)');

  it('a JSON-typed body that no parser read: "request body must be JSON", never checked as an absent object', async () => {
    const res = await request(gcStartApp()).post('/').set('Content-Type', 'application/json').send('{"dryRun":true}');
    expect(answer(res)).toEqual(NOT_JSON);
  });

  it('a body of another type, even one a parser made an object of: "request body must be JSON"', async () => {
    const app = gcStartApp(express.json({ type: () => true }));
    const res = await request(app).post('/').set('Content-Type', 'text/plain').send('{"dryRun":true}');
    expect(answer(res)).toEqual(NOT_JSON);
    // the same object sent as JSON passes
    const json = await request(app).post('/').send({ dryRun: true });
    expect({ status: json.status, body: json.body as unknown }).toEqual({ status: 200, body: { dryRun: true, deleteUntagged: true } });
  });

  it('lists at most five errors: six unknown fields name the first five', async () => {
    const gc = recorder<GcService>({ start: async () => ({ id: 1 }) });
    const k = await apiKit({ gc: gc.service });
    try {
      const res = await k.as('admin').post('/api/v1/gc').send({ f1: 1, f2: 2, f3: 3, f4: 4, f5: 5, f6: 6 });
      const five = ['f1', 'f2', 'f3', 'f4', 'f5'].map((f) => `body: unknown field "${f}"`).join('; ');
      expect(answer(res)).toEqual(envelope(400, 'BAD_REQUEST', five));
      expect(gc.calls).toEqual([]);
    } finally {
      await k.close();
    }
  });
});
