/**
 * The server's front handler (app.ts `createFront`): registry requests skip Express's router walk, and must be
 * answered exactly as through the Express app — request id echo, error envelope, access-log line by operation
 * id, metrics — while every other path still goes to the app.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { createRegistryRouter } from '../../../src/http/registry';
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

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      seen.push({ url: req.url!, headers: req.headers });
      req.resume();
      req.on('end', () => {
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
        verify: async () => null,
        usernamePrefix: 'hg-',
        robotPrefix: 'robot$',
        allowAnonymousPull: false,
        throttle: { maxFailuresPerUser: 3, maxFailuresPerAddress: 100, windowSeconds: 60, blockSeconds: 30 },
        loginCacheSeconds: 30,
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

  it.each([
    ['HEAD', '/v2/alpha/app/manifests/v1', undefined],
    ['GET', '/v2/', undefined],
    ['GET', '/v2/alpha/app/manifests/v1', 'Bearer t0ken-from-harbor'],
    ['HEAD', '/v2/alpha/app/manifests/v1?x=1', 'Bearer t0ken-from-harbor'],
    ['GET', '/v2', 'Bearer t0ken-from-harbor'],
    ['GET', '/v2x', undefined],
    ['GET', '/healthz', undefined],
    ['GET', '/service/tokenx', undefined],
    ['GET', '/v2/a%20b/manifests/v1#frag', 'Bearer t0ken-from-harbor'],
  ])('%s %s answers, logs and counts the same as through Express', async (method, path, authorization) => {
    const { viaApp, viaFront } = stacks();
    const send = async (handler: http.RequestListener) => {
      const server = http.createServer(handler);
      let req = request(server)[method.toLowerCase() as 'get' | 'head'](path).set('X-Request-Id', 'rid-1');
      if (authorization) req = req.set('Authorization', authorization);
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

  it('passes registry requests on with the request id and without the client cookie', async () => {
    const { viaFront } = stacks();
    const r = await request(http.createServer(viaFront.front))
      .get('/v2/alpha/app/manifests/v1')
      .set('Authorization', 'Bearer t0ken-from-harbor')
      .set('Cookie', 'sid=harbor-session');
    expect(r.status).toBe(200);
    expect(r.headers['docker-content-digest']).toBe('sha256:abc');
    expect(r.headers['set-cookie']).toBeUndefined();
    expect(seen.at(-1)?.headers['x-request-id']).toBe(r.headers['x-request-id']);
    expect(seen.at(-1)?.headers.cookie).toBeUndefined();
    expect(viaFront.logs.some((l) => (JSON.parse(l) as { operation?: string }).operation === 'v2_manifest')).toBe(true);
  });
});
