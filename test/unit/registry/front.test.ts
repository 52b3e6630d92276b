/**
 * The server's front handler (app.ts `createFront`): registry requests skip Express's router walk, and must be
 * answered exactly as through the Express app — request id echo, error envelope, access-log line by operation
 * id, metrics — while every other path still goes to the app. What a registry request the router does not take
 * (or that throws) ends in, and createFront over createApp: test/unit/http/app.rules.test.ts (the HTTP suites).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { createRegistryRouter } from '../../../src/http/registry';
import { clientAddress, compileTrust } from '../../../src/http/registry/auth';
import { signingMaterial } from '../../harbor-double/keys';
import { signToken } from '../../harbor-double/jwt';
import { createFront } from '../../../src/http/app';
import { observe } from '../../../src/http/middleware/observe';
import { errorHandler } from '../../../src/http/errors';
import { AppError } from '../../../src/domain/errors';
import { createMetrics } from '../../../src/observability/metrics';
import { createLogger } from '../../../src/observability/logger';

describe('front handler (registry fast path)', () => {
  let upstream: http.Server;
  let upstreamUrl: string;
  let seen: { url: string; headers: http.IncomingHttpHeaders }[];
  const PASSWORD = 'Correct-Horse-Battery-9';
  /** A token Harbor's token service (the double's signing key) issued for the project's robot. */
  const HARBOR_TOKEN = `Bearer ${signToken(signingMaterial(), 'robot$hg-p1', [{ type: 'repository', name: 'alpha/app', actions: ['pull'] }], 3600).token}`;
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const jwt = (claims: Record<string, unknown>) => `${b64('{"alg":"RS256"}')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      seen.push({ url: req.url!, headers: req.headers });
      req.resume();
      req.on('end', () => {
        if (req.url!.startsWith('/service/token')) {
          res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify({ token: jwt({ sub: 'robot$hg-p1' }), expires_in: 1800, issued_at: '2026-11-26T13:52:54Z' }));
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Docker-Content-Digest': 'sha256:abc', 'Set-Cookie': 'sid=1' });
        res.end(req.method === 'HEAD' ? undefined : '{"schemaVersion":2}');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

  /** The same stack twice: through the Express app only, and through createFront. */
  function stacks() {
    seen = [];
    const build = () => {
      const logs: string[] = [];
      const logger = createLogger('info', (l) => logs.push(l));
      const metrics = createMetrics({ defaultMetrics: false });
      const registryRouter = createRegistryRouter({
        harborUrl: upstreamUrl,
        publicUrl: 'https://hub.example',
        verify: async (u: string, p: string) => (u === 'hg-p1' && p === PASSWORD ? { id: 1 } : null),
        usernamePrefix: 'hg-',
        robotPrefix: 'robot$',
        allowAnonymousPull: false,
        throttle: { maxFailuresPerUser: 3, maxFailuresPerAddress: 100, windowSeconds: 60, blockSeconds: 30 },
        loginCacheSeconds: 30,
        tokenCertificatePem: signingMaterial().certPem,
        logger,
        metrics,
      });
      const app = express();
      app.disable('x-powered-by');
      app.set('trust proxy', true);
      app.use(observe(logger, metrics));
      app.get('/healthz', (_req, res) => {
        res.json({ status: 'alive' });
      });
      app.use(registryRouter);
      app.use((req, _res, next) => next(new AppError('not_found', `path ${req.path} was not found`)));
      app.use(errorHandler(logger));
      return { app, logs, metrics, front: createFront(app, { logger, metrics, registryRouter }) };
    };
    return { viaApp: build(), viaFront: build() };
  }

  const strip = (line: string) => {
    const o = JSON.parse(line) as Record<string, unknown>;
    delete o.time;
    delete o.duration_ms;
    delete o.request_id;
    return o;
  };

  const basic = (user: string, password: string) => `Basic ${b64(`${user}:${password}`)}`;
  const form = 'application/x-www-form-urlencoded';

  // Every row has all five columns (jest takes a test function with more parameters than a row as a done-callback test).
  const rows: [string, string, string | undefined, Record<string, string>?, string?][] = [
    ['HEAD', '/v2/alpha/app/manifests/v1', undefined],
    ['GET', '/v2/', undefined],
    ['GET', '/v2/alpha/app/manifests/v1', HARBOR_TOKEN],
    ['HEAD', '/v2/alpha/app/manifests/v1?x=1', HARBOR_TOKEN],
    ['GET', '/v2', HARBOR_TOKEN],
    ['GET', '/v2x', undefined],
    ['GET', '/healthz', undefined],
    ['GET', '/service/tokenx', undefined],
    ['GET', '/v2/a%20b/manifests/v1#frag', HARBOR_TOKEN],
    // Answers hubgate writes itself (error envelope, ETag, no body for HEAD), Basic logins, the token endpoint.
    ['HEAD', '/v2/', undefined],
    ['PUT', '/v2/alpha/app/manifests/v1', 'Negotiate abc'],
    ['GET', '/v2/alpha/app/tags/list', 'Basic !!!'],
    ['GET', '/v2/alpha/app/tags/list', basic('admin', 'x')],
    ['HEAD', '/v2/alpha/app/manifests/v1', basic('hg-p1', 'wrong-password')],
    ['GET', '/v2/alpha/app/manifests/v1', basic('hg-p1', PASSWORD), { 'X-Forwarded-For': ' 10.1.2.3 , 10.0.0.1' }],
    ['GET', '/service/token?service=harbor-registry&scope=repository:alpha/app:pull', undefined],
    ['HEAD', '/service/token?service=harbor-registry', 'Bearer x'],
    ['GET', '/service/token?service=harbor-registry&scope=repository:alpha/app:pull&account=hg-p1', basic('hg-p1', PASSWORD)],
    ['GET', '/service/token?service=harbor-registry', basic('hg-p1', 'wrong-password')],
    ['DELETE', '/service/token', undefined],
    ['POST', '/service/token', undefined, { 'Content-Type': 'text/plain' }, 'x'],
    ['POST', '/service/token', undefined, { 'Content-Type': form }, 'grant_type=refresh_token&refresh_token=x'],
    ['POST', '/service/token', undefined, { 'Content-Type': form }, `grant_type=password&username=hg-p1&password=wrong&service=harbor-registry`],
    ['POST', '/service/token', undefined, { 'Content-Type': form }, `grant_type=password&username=hg-p1&password=${PASSWORD}&service=harbor-registry&scope=repository:alpha/app:pull`],
  ];
  it.each(rows.map(([m, p, a, h, b]) => [m, p, a, h, b] as const))('%s %s (%s) answers, logs and counts the same as through Express', async (method, path, authorization, headers, body) => {
    const { viaApp, viaFront } = stacks();
    const send = async (handler: http.RequestListener) => {
      const server = http.createServer(handler);
      let req = request(server)[method.toLowerCase() as 'get' | 'head' | 'put' | 'post' | 'delete'](path).set('X-Request-Id', 'rid-1');
      if (authorization) req = req.set('Authorization', authorization);
      for (const [k, v] of Object.entries(headers ?? {})) req = req.set(k, v);
      if (body !== undefined) req = req.send(body);
      return req;
    };
    const a = await send(viaApp.app);
    const b = await send(viaFront.front);
    expect(b.status).toBe(a.status);
    expect(b.text).toBe(a.text);
    const h = (r: request.Response) => {
      const out = { ...r.headers };
      delete out.date;
      return out;
    };
    expect(h(b)).toEqual(h(a));
    expect(b.headers['x-request-id']).toBe('rid-1');
    expect(viaFront.logs.map(strip)).toEqual(viaApp.logs.map(strip));
    expect(viaFront.logs.every((l) => (JSON.parse(l) as { request_id?: string }).request_id === 'rid-1')).toBe(true);
    const counters = async (m: ReturnType<typeof createMetrics>) =>
      (await m.registry.metrics())
        .split('\n')
        .filter((l) => /^hubgate_(http|registry)_requests_total\{/.test(l))
        .sort();
    expect(await counters(viaFront.metrics)).toEqual(await counters(viaApp.metrics));
  });

  it('registry exchanges are counted in hubgate_registry_* only, API requests in hubgate_http_* only', async () => {
    const { viaFront } = stacks();
    const server = http.createServer(viaFront.front);
    // A token Harbor signed: passed through (200); an anonymous token request: refused by hubgate (401).
    expect((await request(server).head('/v2/alpha/app/manifests/v1').set('Authorization', HARBOR_TOKEN)).status).toBe(200);
    expect((await request(server).get('/service/token?service=harbor-registry&scope=repository:alpha/app:pull')).status).toBe(401);
    expect((await request(server).get('/nowhere')).status).toBe(404);
    const text = await viaFront.metrics.registry.metrics();
    expect(text).toContain('hubgate_registry_requests_total{operation="v2_manifest",method="HEAD",status_class="2xx"} 1');
    expect(text).toContain('hubgate_registry_requests_total{operation="token",method="GET",status_class="4xx"} 1');
    expect(text).toContain('hubgate_registry_request_duration_seconds_count{operation="v2_manifest"} 1');
    const http_ = text.split('\n').filter((l) => /^hubgate_http_request/.test(l));
    expect(http_.filter((l) => /operation="(v2_|token)/.test(l))).toStrictEqual([]);
    expect(http_).toContain('hubgate_http_requests_total{operation="unmatched",method="GET",status_class="4xx"} 1');
  });

  const XFF = [undefined, '', '10.1.2.3', ' 10.1.2.3 , 10.0.0.1', '10.1.2.3,10.0.0.1', ', ,10.9.9.9, 10.0.0.1', ' , ', 'a b, c', '\t10.1.2.3 ,x', '2001:db8::1, 10.0.0.1', ',,,', '10.1.2.3, 127.0.0.1'];
  const TRUST: [string, string[]][] = [['no proxy', []], ['loopback', ['loopback']], ['loopback + 10.0.0.0/8', ['loopback', '10.0.0.0/8']]];
  it.each(TRUST.flatMap(([name, list]) => XFF.map((xff) => [name, list, xff] as const)))(
    'the client address of a plain request is req.ip under the same trust (%s, X-Forwarded-For %p)',
    async (_name, list, xff) => {
      const trust = compileTrust(list);
      const app = express();
      app.set('trust proxy', trust);
      let plain: string | undefined;
      app.get('/ip', (req, res) => {
        res.json({ ip: req.ip, viaExpress: clientAddress(req, trust) });
      });
      const server = http.createServer((req, res) => {
        plain = clientAddress(req, trust);
        app(req, res);
      });
      let req = request(server).get('/ip');
      if (xff !== undefined) req = req.set('X-Forwarded-For', xff);
      const r = await req;
      const body = r.body as { ip?: string; viaExpress?: string };
      expect(plain).toBe(body.ip);
      expect(body.viaExpress).toBe(body.ip);
    },
  );

  it('takes the address a trusted proxy appended, never one the client wrote itself', async () => {
    const seenBy = async (list: string[], xff: string) => {
      let got: string | undefined;
      const trust = compileTrust(list);
      await request(
        http.createServer((req, res) => {
          got = clientAddress(req, trust);
          res.end();
        }),
      )
        .get('/')
        .set('X-Forwarded-For', xff);
      return got;
    };
    // No proxy configured: the header is ignored, the socket's peer counts.
    expect(await seenBy([], '6.6.6.6')).toBe('127.0.0.1');
    // Behind an appending load balancer on loopback: the client's own entry (6.6.6.6) is not believed.
    expect(await seenBy(['loopback'], '6.6.6.6, 10.9.9.9')).toBe('10.9.9.9');
    expect(await seenBy(['loopback', '10.0.0.0/8'], '6.6.6.6, 10.9.9.9')).toBe('6.6.6.6');
  });

  it('passes registry requests on with the request id and without the client cookie', async () => {
    const { viaFront } = stacks();
    const r = await request(http.createServer(viaFront.front))
      .get('/v2/alpha/app/manifests/v1')
      .set('Authorization', HARBOR_TOKEN)
      .set('Cookie', 'sid=harbor-session');
    expect(r.status).toBe(200);
    expect(r.headers['docker-content-digest']).toBe('sha256:abc');
    expect(r.headers['set-cookie']).toBeUndefined();
    expect(seen.at(-1)?.headers['x-request-id']).toBe(r.headers['x-request-id']);
    expect(seen.at(-1)?.headers.cookie).toBeUndefined();
    expect(viaFront.logs.some((l) => (JSON.parse(l) as { operation?: string }).operation === 'v2_manifest')).toBe(true);
  });
});
