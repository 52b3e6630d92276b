/**
 * What src/http/app.ts decides itself, each rule where it can be seen: createApp sends no X-Powered-By, believes
 * X-Forwarded-For only from the proxies it is given (the client address audit events carry), answers /readyz by
 * the readiness report, serves the OpenAPI document of its version and public URL, mounts the console's root and
 * favicon redirects only with the console, reads JSON bodies up to 256 kB, tells the credentials routes the
 * registry is plain HTTP when its public URL is http://, mounts the optional routers only when their service is
 * given (else 404 naming the path), and lets only cloud admins start GC unless told otherwise. createFront: with a
 * registry router, registry paths reach it on the plain node objects (not through Express), everything else and an
 * app that sends X-Powered-By go through the app; what the router does not take ends in 404 or the error handler.
 *
 * Every app is built inside its test (StrykerJS, coverageAnalysis perTest, credits only code that runs there).
 */
import http from 'node:http';
import express from 'express';
import request from 'supertest';
import { AppError } from '../../../src/domain/errors';
import type { ActivityService } from '../../../src/domain/activity.service';
import type { RetentionService } from '../../../src/domain/retention.service';
import type { CredentialsService } from '../../../src/domain/credentials.service';
import { createFront } from '../../../src/http/app';
import { compileTrust } from '../../../src/http/registry/auth';
import type { PlainHandler } from '../../../src/http/registry/router';
import { AuditTrail, type AuditEvent } from '../../../src/observability/audit';
import { createLogger } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';
import type { ReadinessReport } from '../../../src/observability/harbor-monitor';
import { answer, apiKit, envelope, recorder, type ApiKit } from './app.kit';

/** An API kit whose app is closed after `run`. */
async function withKit(deps: Parameters<typeof apiKit>[0], run: (k: ApiKit) => Promise<void>): Promise<void> {
  const k = await apiKit(deps);
  try {
    await run(k);
  } finally {
    await k.close();
  }
}

describe('createApp', () => {
  it('sends no X-Powered-By header', async () => {
    await withKit({}, async (k) => {
      const res = await request(k.app).get('/healthz');
      expect([res.status, res.body]).toEqual([200, { status: 'alive' }]);
      expect(res.headers['x-powered-by']).toBeUndefined();
    });
  });

  describe('X-Forwarded-For: believed from the configured proxies only (the client address of audit events)', () => {
    /** The client address the audit event of one unauthenticated POST (refused with 401, audited all the same) names. */
    async function auditedAddress(deps: Parameters<typeof apiKit>[0], xff: string): Promise<string | null> {
      const events: AuditEvent[] = [];
      const audit = new AuditTrail({ sink: (l) => events.push(JSON.parse(l) as AuditEvent) });
      let address: string | null = 'none recorded';
      await withKit({ ...deps, audit }, async (k) => {
        const res = await request(k.app).post('/api/v1/gc').set('X-Forwarded-For', xff);
        expect(res.status).toBe(401);
        for (let i = 0; i < 50 && events.length === 0; i++) await new Promise((r) => setImmediate(r));
        expect(events).toHaveLength(1);
        address = events[0].clientAddress;
      });
      return address;
    }

    it('no proxy configured (the default): the header is ignored, the peer counts', async () => {
      expect(await auditedAddress({}, '6.6.6.6')).toBe('127.0.0.1');
    });

    it('behind a proxy on loopback: the address it appended, not the one the client wrote', async () => {
      expect(await auditedAddress({ trustProxy: compileTrust(['loopback']) }, '6.6.6.6, 10.9.9.9')).toBe('10.9.9.9');
      expect(await auditedAddress({ trustProxy: compileTrust(['loopback', '10.0.0.0/8']) }, '6.6.6.6, 10.9.9.9')).toBe('6.6.6.6');
    });
  });

  it.each([
    [{ ready: true, degraded: false }, 200, 'ready'],
    [{ ready: true, degraded: true }, 200, 'degraded'],
    [{ ready: false, degraded: false }, 503, 'not ready'],
    [{ ready: false, degraded: true }, 503, 'not ready'],
  ] as const)('/readyz with %p: %i, status %p and the report', async (state, status, word) => {
    const report: ReadinessReport = { ...state, checks: { harbor: { ok: state.ready, detail: 'checked' } } };
    await withKit({ readiness: async () => report }, async (k) => {
      const res = await request(k.app).get('/readyz');
      expect([res.status, res.body]).toEqual([status, { status: word, ...report }]);
    });
  });

  it('/openapi.json: the document of the version given, served at the public URL, counted as operation openapi', async () => {
    await withKit({ version: '9.8.7', publicUrl: 'https://hub.example.test' }, async (k) => {
      const res = await request(k.app).get('/openapi.json');
      expect(res.status).toBe(200);
      expect([res.body.info.version, res.body.servers]).toEqual(['9.8.7', [{ url: 'https://hub.example.test/api/v1' }]]);
      // counted under its operation id
      const metrics = await request(k.app).get('/metrics');
      expect(metrics.text.split('\n').filter((l) => l.startsWith('hubgate_http_requests_total{'))).toEqual(['hubgate_http_requests_total{operation="openapi",method="GET",status_class="2xx"} 1']);
    });
  });

  it('with the console: /console is its router, / redirects to it (302), /favicon.ico to its icon (301)', async () => {
    const consoleUi = express.Router();
    consoleUi.use((req, res) => {
      res.type('text/plain').send(`console ${req.path}`);
    });
    await withKit({ consoleUi }, async (k) => {
      const page = await request(k.app).get('/console/assets/app.js');
      expect([page.status, page.text]).toEqual([200, 'console /assets/app.js']);
      const root = await request(k.app).get('/');
      expect([root.status, root.headers.location]).toEqual([302, '/console/']);
      // like every route, with a trailing slash too
      const slashed = await request(k.app).get('//');
      expect([slashed.status, slashed.headers.location]).toEqual([302, '/console/']);
      const icon = await request(k.app).get('/favicon.ico');
      expect([icon.status, icon.headers.location]).toEqual([301, '/console/assets/favicon.svg']);
    });
  });

  it('without the console: /, /favicon.ico and /console are unknown paths (404 naming the path)', async () => {
    await withKit({}, async (k) => {
      for (const path of ['/', '/favicon.ico', '/console/']) {
        expect(answer(await request(k.app).get(path))).toEqual(envelope(404, 'NOT_FOUND', `path ${path} was not found`));
      }
    });
  });

  it('reads JSON bodies of up to 256 kB (262144 bytes); one byte more is 413', async () => {
    await withKit({}, async (k) => {
      // {"limit":"…"}: 12 bytes around the string
      const body = (n: number) => `{"limit":"${'x'.repeat(n - 12)}"}`;
      const send = (n: number) => k.as('alice').post('/api/v1/nowhere').type('application/json').send(body(n));
      expect(answer(await send(256 * 1024))).toEqual(envelope(404, 'NOT_FOUND', 'path /api/v1/nowhere was not found'));
      expect(answer(await send(256 * 1024 + 1))).toEqual(envelope(413, 'PAYLOAD_TOO_LARGE', 'request body too large'));
    });
  });

  it('a public URL http://: the credentials commands speak plain HTTP to the registry', async () => {
    const creds = async () => ({ username: 'hg-proj-a', password: 'pw-1', workspaces: ['team-a'] });
    const credentials = recorder<CredentialsService>({ get: creds, rotate: creds });
    await withKit({ credentials: credentials.service, publicUrl: 'http://hub.example.test', registryInsecure: false }, async (k) => {
      const res = await k.as('alice').get('/api/v1/projects/proj-a/credentials');
      expect(res.status).toBe(200);
      expect(res.body.containerd.pull).toBe('ctr -n k8s.io image pull --plain-http -u hg-proj-a:pw-1 hub.example.test/team-a/IMAGE:VERSION');
      expect(res.body.troubleshooting.containerd_config_toml.split('\n')[1]).toBe('  endpoint = ["http://hub.example.test"]');
    });
  });

  it.each([
    ['images', 'GET', '/api/v1/images'],
    ['gc', 'GET', '/api/v1/gc'],
    ['uploads', 'POST', '/api/v1/workspaces/ws/uploads'],
    ['policies', 'GET', '/api/v1/workspaces/ws/quota'],
    ['activity', 'GET', '/api/v1/workspaces/ws/activity'],
    ['retention', 'GET', '/api/v1/workspaces/ws/retention'],
  ])('without %s: %s %s is an unknown path (404 naming it)', async (_what, method, path) => {
    await withKit({}, async (k) => {
      const res = method === 'GET' ? await k.as('admin').get(path) : await k.as('admin').post(path).send({});
      expect(answer(res)).toEqual(envelope(404, 'NOT_FOUND', `path ${path} was not found`));
    });
  });

  it.each([
    ['activity', '/api/v1/workspaces/ws/activity', '/api/v1/workspaces/ws/retention'],
    ['retention', '/api/v1/workspaces/ws/retention', '/api/v1/workspaces/ws/activity'],
  ] as const)('with the %s service only: its route answers, the other is an unknown path', async (given, served, missing) => {
    const page = { items: [], total: 0, page: 1, pageSize: 20 };
    const svc = recorder<ActivityService & RetentionService>({ list: async () => page, get: async () => ({ enabled: false }) });
    await withKit({ [given]: svc.service }, async (k) => {
      const res = await k.as('admin').get(served);
      expect([res.status, res.body]).toEqual([200, given === 'activity' ? page : { enabled: false }]);
      expect(svc.calls.map((c) => c.slice(0, 3))).toEqual([[given === 'activity' ? 'list' : 'get', 'u-admin', 'ws']]);
      expect(answer(await k.as('admin').get(missing))).toEqual(envelope(404, 'NOT_FOUND', `path ${missing} was not found`));
    });
  });

  it('GC members setting not given: members may not start GC (GET /me), cloud admins may', async () => {
    await withKit({}, async (k) => {
      expect((await k.as('alice').get('/api/v1/me')).body.mayRunGc).toBe(false);
      expect((await k.as('admin').get('/api/v1/me')).body.mayRunGc).toBe(true);
    });
  });
});

describe('createFront over createApp', () => {
  /**
   * A stand-in registry router: answers /v2… and /service/token… with the URL and whether the request came
   * through Express (`app` on its prototype) or as node's plain object; passes anything else on.
   */
  /** Every request the router was asked about, as `plain <url>` (the bare node request) or `express <url>`. */
  const asked: string[] = [];
  const registryRouter: PlainHandler = (req, res, next) => {
    asked.push(`${'app' in req ? 'express' : 'plain'} ${req.url}`);
    if (!/^\/(?:v2|service\/token)/.test(req.url ?? '')) return next();
    res.setHeader('Content-Type', 'text/plain');
    res.end(`registry ${'app' in req ? 'express' : 'plain'} ${req.url}`);
  };
  const frontOf = (app: express.Express) => http.createServer(createFront(app, { logger: createLogger('error', () => undefined), metrics: createMetrics({ defaultMetrics: false }), registryRouter }));

  it('registry paths reach the router on the plain node request, without X-Powered-By; other paths go through the app', async () => {
    await withKit({ registryRouter }, async (k) => {
      const front = frontOf(k.app);
      for (const path of ['/v2/', '/v2', '/v2?x=1', '/v2/team/app/manifests/v1?x=1', '/service/token', '/service/token?service=harbor-registry']) {
        const res = await request(front).get(path);
        expect([res.status, res.text, res.headers['x-powered-by']]).toEqual([200, `registry plain ${path}`, undefined]);
      }
      // not a registry path: through the app, where the router (mounted before the API) still sees it
      expect((await request(front).get('/v2x')).text).toBe('registry express /v2x');
      // a registry path only from the start: this one goes to the app (whose router declines it), its 404
      asked.length = 0;
      expect(answer(await request(front).get('/x/v2/'))).toEqual(envelope(404, 'NOT_FOUND', 'path /x/v2/ was not found'));
      expect(asked).toEqual(['express /x/v2/']);
      expect((await request(front).get('/healthz')).body).toEqual({ status: 'alive' });
      expect(answer(await request(front).get('/nowhere'))).toEqual(envelope(404, 'NOT_FOUND', 'path /nowhere was not found'));
      // the app alone hands the router Express's request
      expect((await request(k.app).get('/v2/')).text).toBe('registry express /v2/');
    });
  });
});

describe('front handler: a registry request the router does not take, or that throws', () => {
  const logger = createLogger('error', () => undefined);
  /** An app that answers 299 for anything it gets, and a front with `router` in front of it. */
  function frontWith(router: (req: http.IncomingMessage, res: http.ServerResponse, next: (err?: unknown) => void) => void, poweredBy = false) {
    const app = express();
    if (!poweredBy) app.disable('x-powered-by');
    app.use((_req, res) => {
      res.status(299).end('app');
    });
    return http.createServer(createFront(app, { logger, metrics: createMetrics({ defaultMetrics: false }), registryRouter: router }));
  }
  const bodyOf = (r: request.Response) => r.body as unknown;

  it('no registry router: the app itself is the listener', () => {
    const app = express();
    expect(createFront(app, { logger, metrics: createMetrics({ defaultMetrics: false }) })).toBe(app);
  });

  it.each([[undefined], ['route'], ['router']])('next(%p): 404 naming the path', async (err) => {
    const r = await request(frontWith((_req, _res, next) => next(err))).get('/v2/alpha/app/tags/list?n=1');
    expect(r.status).toBe(404);
    expect(bodyOf(r)).toEqual({ errors: [{ code: 'NOT_FOUND', message: 'path /v2/alpha/app/tags/list was not found' }] });
  });

  it('next(error) and a router that throws: the error handler answers', async () => {
    const passed = await request(frontWith((_req, _res, next) => next(new AppError('forbidden', 'no pushing here')))).get('/v2/x/manifests/1');
    expect(passed.status).toBe(403);
    expect(bodyOf(passed)).toEqual({ errors: [{ code: 'FORBIDDEN', message: 'no pushing here' }] });
    const thrown = await request(
      frontWith(() => {
        throw new AppError('conflict', 'thrown by the router');
      }),
    ).get('/v2/x/manifests/1');
    expect(thrown.status).toBe(409);
    expect(bodyOf(thrown)).toEqual({ errors: [{ code: 'CONFLICT', message: 'thrown by the router' }] });
  });

  it('an app that sends X-Powered-By takes registry paths too (the fast path would drop the header)', async () => {
    const r = await request(frontWith((_req, res) => res.end('router'), true)).get('/v2/');
    expect([r.status, r.text]).toEqual([299, 'app']);
    const fast = await request(frontWith((_req, res) => res.end('router'))).get('/v2/');
    expect([fast.status, fast.text]).toEqual([200, 'router']);
  });
});
