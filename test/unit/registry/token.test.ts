/**
 * hubgate's token endpoint on its own (src/http/registry/token.ts): a scripted local HTTP server stands in for
 * Harbor's token service, a scripted login for RegistryLogin. What is asked of Harbor (path, query, headers), what
 * is answered (Harbor's answer relayed, OAuth2 form, refusals with status, code and message), and when.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { createTokenHandler, pullOnlyScopes, type TokenDeps } from '../../../src/http/registry/token';
import type { LoginResult, RegistryLogin } from '../../../src/http/registry/login';
import type { BasicCredentials } from '../../../src/http/registry/auth';
import { createMetrics } from '../../../src/observability/metrics';
import { createLogger } from '../../../src/observability/logger';
import { runWithContext } from '../../../src/observability/context';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const basic = (u: string, p: string) => `Basic ${b64(`${u}:${p}`)}`;
const jwt = (claims: Record<string, unknown>) => `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
const ROBOT_TOKEN = jwt({ sub: 'robot$hg-p1', exp: 4_000_000_000 });
const ANON_TOKEN = jwt({ exp: 4_000_000_000 });
/** Polls until `cond` holds (fails the test by its timeout otherwise). */
const until = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setImmediate(r));
};
const expectRefusal = (r: { status: number; body: unknown }, status: number, code: string, message: string) =>
  expect({ status: r.status, body: r.body }).toEqual({ status, body: { errors: [{ code, message }] } });

describe('token endpoint (createTokenHandler)', () => {
  let upstream: http.Server;
  let upstreamUrl: string;
  let seen: Seen[];
  let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  let logs: string[];

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers });
        answer(req, res);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

  /** Harbor's answer for the robot: the token, an empty access_token, lifetime and issue time. */
  const harborAnswer = { token: ROBOT_TOKEN, access_token: '', expires_in: 1800, issued_at: '2026-11-26T13:52:54Z' };
  const json = (status: number, body: unknown, headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/json; charset=utf-8' }) =>
    (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(status, headers);
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };

  function setup(overrides: Partial<TokenDeps> = {}, loginResult: (c: BasicCredentials) => LoginResult | Promise<LoginResult> = (c) =>
    c.username === 'hg-p1' && c.password === 'pw' ? { ok: true, robotName: 'robot$hg-p1', cached: false } : { ok: false, status: 401, code: 'UNAUTHORIZED', message: 'unauthorized: incorrect username or password' }) {
    seen = [];
    logs = [];
    answer = json(200, harborAnswer);
    const metrics = createMetrics({ defaultMetrics: false });
    const logins: { creds: BasicCredentials; address: string | undefined }[] = [];
    const forgotten: BasicCredentials[] = [];
    const login = {
      login: async (creds: BasicCredentials, address: string | undefined) => {
        logins.push({ creds, address });
        return loginResult(creds);
      },
      forget: (creds: BasicCredentials) => void forgotten.push(creds),
    } as unknown as RegistryLogin;
    const issued: (string | undefined)[] = [];
    const handler = createTokenHandler({
      harborUrl: upstreamUrl,
      agent: new http.Agent(),
      login,
      tokens: { issued: async (t) => void issued.push(t) },
      allowAnonymousPull: false,
      logger: createLogger('debug', (l) => logs.push(l)),
      metrics,
      ...overrides,
    });
    return { handler, metrics, logins, forgotten, issued };
  }
  const query = (i = 0) => new URL(seen[i].url, 'http://x').searchParams;

  describe('GET with Basic credentials', () => {
    it('asks Harbor at /service/token as the robot, JSON accepted, the client User-Agent passed on; relays the answer with no-store', async () => {
      const { handler, issued } = setup();
      const r = await request(handler).get('/service/token?service=harbor-registry&scope=repository:alpha/app:pull').set('Authorization', basic('hg-p1', 'pw')).set('User-Agent', 'docker/27.0');
      expect(r.status).toBe(200);
      expect(r.body).toEqual(harborAnswer);
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(r.headers['cache-control']).toBe('no-store');
      expect(seen).toHaveLength(1);
      expect(seen[0].method).toBe('GET');
      expect(seen[0].url).toBe('/service/token?service=harbor-registry&scope=repository%3Aalpha%2Fapp%3Apull');
      expect(seen[0].headers.authorization).toBe(basic('robot$hg-p1', 'pw'));
      expect(seen[0].headers.accept).toBe('application/json');
      expect(seen[0].headers['user-agent']).toBe('docker/27.0');
      expect(seen[0].headers['x-request-id']).toBeUndefined();
      // The token handed out is recorded for the bearer check (record mode).
      expect(issued).toEqual([ROBOT_TOKEN]);
    });

    it('no account in the query: none is added; no query at all: no "?"', async () => {
      const { handler } = setup();
      await request(handler).get('/service/token?service=harbor-registry').set('Authorization', basic('hg-p1', 'pw'));
      expect(query().has('account')).toBe(false);
      await request(handler).get('/service/token').set('Authorization', basic('hg-p1', 'pw'));
      expect(seen[1].url).toBe('/service/token');
    });

    it('without a User-Agent none is sent; the request id of the current request goes to Harbor as X-Request-Id', async () => {
      const { handler } = setup();
      const app = express();
      app.use((req, res) => runWithContext({ requestId: 'rid-42' }, () => void handler(req, res)));
      await request(app).get('/service/token?service=harbor-registry').set('Authorization', basic('hg-p1', 'pw')).set('User-Agent', '');
      expect(seen[0].headers['user-agent']).toBeUndefined();
      expect(seen[0].headers['x-request-id']).toBe('rid-42');
    });

    it('reads the query from Express’s originalUrl when mounted below a path', async () => {
      const { handler } = setup();
      const app = express();
      app.use('/service/token', (req, res) => void handler(req, res));
      const r = await request(app).get('/service/token?service=harbor-registry&account=hg-p1').set('Authorization', basic('hg-p1', 'pw'));
      expect(r.status).toBe(200);
      expect(query().get('service')).toBe('harbor-registry');
      expect(query().get('account')).toBe('robot$hg-p1');
    });

    it('a Harbor URL with a path (and trailing slashes): the token service under it', async () => {
      const { handler } = setup({ harborUrl: `${upstreamUrl}/harbor//` });
      await request(handler).get('/service/token?service=harbor-registry').set('Authorization', basic('hg-p1', 'pw'));
      expect(seen[0].url).toBe('/harbor/service/token?service=harbor-registry');
    });

    it('a login refused by hubgate is answered with its status, code and message, Harbor never asked', async () => {
      const { handler } = setup();
      const r = await request(handler).get('/service/token?service=harbor-registry').set('Authorization', basic('hg-p1', 'wrong'));
      expectRefusal(r, 401, 'UNAUTHORIZED', 'unauthorized: incorrect username or password');
      expect(r.headers['retry-after']).toBeUndefined();
      expect(seen).toHaveLength(0);
    });

    it('a throttled login: 429 with Retry-After', async () => {
      const { handler } = setup({}, () => ({ ok: false, status: 429, code: 'TOO_MANY_REQUESTS', message: 'too many failed logins', retryAfterSeconds: 7 }));
      const r = await request(handler).get('/service/token').set('Authorization', basic('hg-p1', 'pw'));
      expectRefusal(r, 429, 'TOO_MANY_REQUESTS', 'too many failed logins');
      expect(r.headers['retry-after']).toBe('7');
    });

    it('passes the client address to the login (the socket peer; proxies only when trusted)', async () => {
      const { handler, logins } = setup();
      await request(handler).get('/service/token').set('Authorization', basic('hg-p1', 'pw')).set('X-Forwarded-For', '203.0.113.9');
      expect(logins).toHaveLength(1);
      expect(logins[0].creds).toEqual({ username: 'hg-p1', password: 'pw' });
      expect(logins[0].address).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    });

    it('another scheme, or a Basic header that does not decode, is refused as bad credentials, Harbor never asked', async () => {
      const { handler, metrics } = setup();
      for (const h of [`Bearer ${ROBOT_TOKEN}`, 'Basic !!!', 'Digest x']) {
        const r = await request(handler).get('/service/token').set('Authorization', h);
        expectRefusal(r, 401, 'UNAUTHORIZED', 'unauthorized: the token service takes a user name and password (HTTP Basic)');
      }
      expect(seen).toHaveLength(0);
      expect(await metrics.registry.getSingleMetricAsString('hubgate_login_failures_total')).toContain('reason="bad_credentials"} 3');
    });

    it('Harbor refusing the robot (401), or answering 200 without a token or with a token for someone else: 401, the cached login forgotten', async () => {
      const cases: [string, (req: http.IncomingMessage, res: http.ServerResponse) => void][] = [
        ['401', json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'x' }] })],
        ['no token', json(200, { expires_in: 1800 })],
        ['a token that is not a string', json(200, { token: 42 })],
        ['not JSON', json(200, 'not json')],
        ['an anonymous token', json(200, { token: ANON_TOKEN })],
        ["another robot's token", json(200, { token: jwt({ sub: 'robot$hg-p2' }) })],
      ];
      for (const [what, a] of cases) {
        const { handler, forgotten, issued } = setup();
        answer = a;
        const r = await request(handler).get('/service/token?scope=repository:alpha/app:pull').set('Authorization', basic('hg-p1', 'pw'));
        expect([what, r.status, r.body]).toEqual([what, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized: incorrect username or password' }] }]);
        expect(forgotten).toEqual([{ username: 'hg-p1', password: 'pw' }]);
        expect(issued).toStrictEqual([]);
        expect(logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.msg).startsWith('harbor refused registry credentials hubgate accepted'))).toMatchObject({ level: 'warn', operation: 'token' });
      }
    });

    it("a token in Harbor's access_token field counts when token is absent", async () => {
      const { handler, issued } = setup();
      answer = json(200, { access_token: ROBOT_TOKEN });
      const r = await request(handler).get('/service/token').set('Authorization', basic('hg-p1', 'pw'));
      expect(r.status).toBe(200);
      expect(issued).toEqual([ROBOT_TOKEN]);
    });

    it('another Harbor failure (500) is relayed as it is, nothing recorded, the login kept', async () => {
      const { handler, forgotten, issued } = setup();
      // Even a failure body that carries a token (a proxy's, say) records nothing: only a 200 hands a token out.
      answer = json(500, { errors: [{ code: 'UNKNOWN', message: 'boom' }], token: ROBOT_TOKEN }, {});
      const r = await request(handler).get('/service/token').set('Authorization', basic('hg-p1', 'pw'));
      expect(r.status).toBe(500);
      expect(JSON.parse(r.text)).toEqual({ errors: [{ code: 'UNKNOWN', message: 'boom' }], token: ROBOT_TOKEN });
      expect(r.headers['content-type']).toBeUndefined();
      expect(r.headers['cache-control']).toBe('no-store');
      expect(forgotten).toEqual([]);
      expect(issued).toStrictEqual([]);
    });

    it('Harbor unreachable: 502 UPSTREAM_UNAVAILABLE, logged', async () => {
      const closed = http.createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((r) => closed.close(() => r()));
      const { handler } = setup({ harborUrl: `http://127.0.0.1:${port}` });
      const r = await request(handler).get('/service/token').set('Authorization', basic('hg-p1', 'pw'));
      expectRefusal(r, 502, 'UPSTREAM_UNAVAILABLE', 'the registry token service is unavailable');
      const line = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'token service unreachable');
      expect(line).toMatchObject({ level: 'warn', operation: 'token', error: expect.objectContaining({ code: 'ECONNREFUSED' }) });
    });

    it('an answer larger than the limit is not read to the end: 502; one exactly at the limit is relayed', async () => {
      const body = JSON.stringify(harborAnswer);
      const big = setup({ maxResponseBytes: body.length - 1 });
      answer = json(200, body);
      expectRefusal(await request(big.handler).get('/service/token').set('Authorization', basic('hg-p1', 'pw')), 502, 'UPSTREAM_UNAVAILABLE', 'the registry token service is unavailable');
      const fits = setup({ maxResponseBytes: body.length });
      answer = json(200, body);
      const r = await request(fits.handler).get('/service/token').set('Authorization', basic('hg-p1', 'pw'));
      expect(r.status).toBe(200);
      expect(r.text).toBe(body);
    });

    it('Harbor dropping the connection in the middle of its answer: 502 UPSTREAM_UNAVAILABLE (no crash, no hang)', async () => {
      const { handler } = setup();
      answer = (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '500' });
        res.write('{"token":"');
        setTimeout(() => res.socket?.destroy(), 20);
      };
      expectRefusal(await request(handler).get('/service/token').set('Authorization', basic('hg-p1', 'pw')), 502, 'UPSTREAM_UNAVAILABLE', 'the registry token service is unavailable');
    });

    it('a token service that never answers: 502 after the upstream timeout', async () => {
      const { handler } = setup({ upstreamTimeoutMs: 50 });
      answer = () => undefined;
      expectRefusal(await request(handler).get('/service/token').set('Authorization', basic('hg-p1', 'pw')), 502, 'UPSTREAM_UNAVAILABLE', 'the registry token service is unavailable');
    });

    it('HEAD is answered like GET', async () => {
      const { handler } = setup();
      const r = await request(handler).head('/service/token').set('Authorization', basic('hg-p1', 'pw'));
      expect(r.status).toBe(200);
      expect(seen).toHaveLength(1);
    });

    it('the warning for an answer too large or too late names the cause', async () => {
      const warned = () =>
        logs.map((l) => JSON.parse(l) as { msg: string; operation?: string; error?: { message?: string } }).filter((l) => l.msg === 'token service unreachable').map((l) => [l.operation, l.error?.message]);
      const big = setup({ maxResponseBytes: 10 });
      await request(big.handler).get('/service/token').set('Authorization', basic('hg-p1', 'pw'));
      expect(warned()).toEqual([['token', 'token service answer too large']]);
      const late = setup({ upstreamTimeoutMs: 50 });
      answer = () => undefined;
      await request(late.handler).get('/service/token').set('Authorization', basic('hg-p1', 'pw'));
      expect(warned()).toEqual([['token', 'token service timed out']]);
    });

    it('a login that throws: 500 UNKNOWN in the envelope, logged', async () => {
      const { handler } = setup({}, () => {
        throw new Error('surprise');
      });
      const r = await request(handler).get('/service/token').set('Authorization', basic('hg-p1', 'pw'));
      expectRefusal(r, 500, 'UNKNOWN', 'internal server error');
      expect(logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'token request failed')).toEqual([
        expect.objectContaining({ level: 'error', operation: 'token', error: { name: 'Error', message: 'surprise' } }),
      ]);
    });
  });

  describe('GET without credentials', () => {
    it('refused (401) while anonymous pulls are off, counted as "anonymous"', async () => {
      const { handler, metrics } = setup();
      const r = await request(handler).get('/service/token?scope=repository:beta/base:pull');
      expectRefusal(r, 401, 'UNAUTHORIZED', "unauthorized: authentication required; log in with your project's registry credentials (user name and password from the console)");
      expect(seen).toHaveLength(0);
      expect(await metrics.registry.getSingleMetricAsString('hubgate_login_failures_total')).toContain('reason="anonymous"} 1');
    });

    it('with anonymous pulls: Harbor asked without credentials for the pull scopes only; its token recorded, no login', async () => {
      const { handler, issued, logins } = setup({ allowAnonymousPull: true });
      answer = json(200, { token: ANON_TOKEN });
      const r = await request(handler).get('/service/token?service=harbor-registry&scope=repository:beta/base:pull,push&account=x&scope=registry:catalog:*');
      expect(r.status).toBe(200);
      expect(query().getAll('scope')).toEqual(['repository:beta/base:pull']);
      expect(query().has('account')).toBe(false);
      expect(query().get('service')).toBe('harbor-registry');
      expect(seen[0].headers.authorization).toBeUndefined();
      expect(issued).toEqual([ANON_TOKEN]);
      expect(logins).toStrictEqual([]);
    });
  });

  describe('pullOnlyScopes', () => {
    it('keeps the pull of each repository scope, space-separated ones too, plugin forms and "*" included', () => {
      expect(pullOnlyScopes(['repository:a/b:pull,push', 'repository:c:push', 'repository:d:*', 'repository(plugin):e/f:pull'])).toEqual([
        'repository:a/b:pull',
        'repository:d:pull',
        'repository:e/f:pull',
      ]);
      expect(pullOnlyScopes(['repository:a:pull  repository:b:delete,pull', ''])).toEqual(['repository:a:pull', 'repository:b:pull']);
    });

    it('drops everything else: registry scopes, junk around a scope, no name, upper-case actions, a pull not in the action list', () => {
      expect(pullOnlyScopes(['registry:catalog:*', 'xrepository:a:pull', 'repository:a:pull!', 'repository::pull', 'repository:a:PULL', 'repository:a:pullx', 'repository:a', 'repository(Plug):a:pull'])).toEqual([]);
    });
  });

  describe('POST (OAuth2 password grant)', () => {
    const post = (handler: ReturnType<typeof setup>['handler'], form: Record<string, string>) => request(handler).post('/service/token').type('form').send(form);

    it('answers in OAuth2 form: access_token and token, Bearer, lifetime, issue time and the scope asked; Harbor asked with service and scopes', async () => {
      const { handler } = setup();
      const r = await post(handler, { grant_type: 'password', username: 'hg-p1', password: 'pw', service: 'harbor-registry', scope: 'repository:a:pull  repository:b:pull', client_id: 'containerd' });
      expect(r.status).toBe(200);
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.body).toEqual({ access_token: ROBOT_TOKEN, token: ROBOT_TOKEN, token_type: 'Bearer', expires_in: 1800, issued_at: '2026-11-26T13:52:54Z', scope: 'repository:a:pull  repository:b:pull' });
      expect(query().getAll('scope')).toEqual(['repository:a:pull', 'repository:b:pull']);
      expect(query().get('service')).toBe('harbor-registry');
      expect(query().has('client_id')).toBe(false);
      expect(seen[0].headers.authorization).toBe(basic('robot$hg-p1', 'pw'));
    });

    it('without service, scope, lifetime or issue time, none of them appears; a token only in access_token is used', async () => {
      const { handler } = setup();
      answer = json(200, { access_token: ROBOT_TOKEN });
      const r = await post(handler, { grant_type: 'password', username: 'hg-p1', password: 'pw' });
      expect(r.body).toEqual({ access_token: ROBOT_TOKEN, token: ROBOT_TOKEN, token_type: 'Bearer' });
      expect(seen[0].url).toBe('/service/token');
    });

    it('a form content type with parameters, in any case, is accepted', async () => {
      const { handler } = setup();
      const r = await request(handler).post('/service/token').set('Content-Type', 'Application/X-WWW-Form-Urlencoded; charset=utf-8').send('grant_type=password&username=hg-p1&password=pw');
      expect(r.status).toBe(200);
    });

    it('another content type, or a type that only contains the form type: 400 invalid_request', async () => {
      const { handler } = setup();
      for (const type of ['application/json', 'text/application/x-www-form-urlencoded', 'application/x-www-form-urlencodedx']) {
        const r = await request(handler).post('/service/token').set('Content-Type', type).send('grant_type=password&username=hg-p1&password=pw');
        expect([type, r.status, r.body]).toEqual([type, 400, { error: 'invalid_request', error_description: 'expected an application/x-www-form-urlencoded body' }]);
        expect(r.headers['cache-control']).toBe('no-store');
      }
      const none = await request(handler).post('/service/token');
      expect(none.status).toBe(400);
      expect(seen).toHaveLength(0);
    });

    it('other grants: 400 unsupported_grant_type; no username or no password: 400 invalid_request', async () => {
      const { handler } = setup();
      expect((await post(handler, { grant_type: 'refresh_token', refresh_token: 'x' })).body).toEqual({ error: 'unsupported_grant_type', error_description: 'only grant_type=password is supported; or use GET with Basic credentials' });
      expect((await post(handler, { username: 'hg-p1', password: 'pw' })).body.error).toBe('unsupported_grant_type');
      for (const form of [{ password: 'pw' }, { username: 'hg-p1' }, { username: '', password: 'pw' }, { username: 'hg-p1', password: '' }] as Record<string, string>[]) {
        const r = await post(handler, { grant_type: 'password', ...form });
        expect({ status: r.status, body: r.body }).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'username and password are required' } });
      }
      expect(seen).toHaveLength(0);
    });

    it('a wrong password: 400 invalid_grant with the login message; a throttled login: 429 in the Harbor envelope with Retry-After', async () => {
      const { handler } = setup();
      const r = await post(handler, { grant_type: 'password', username: 'hg-p1', password: 'nope' });
      expect({ status: r.status, body: r.body }).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'unauthorized: incorrect username or password' } });
      const throttled = setup({}, () => ({ ok: false, status: 429, code: 'TOO_MANY_REQUESTS', message: 'slow down', retryAfterSeconds: 3 }));
      const t = await post(throttled.handler, { grant_type: 'password', username: 'hg-p1', password: 'pw' });
      expectRefusal(t, 429, 'TOO_MANY_REQUESTS', 'slow down');
      expect(t.headers['retry-after']).toBe('3');
    });

    it("Harbor's other answers are relayed; an unreadable 200 is refused like a token not issued to the robot", async () => {
      const { handler } = setup();
      answer = json(503, { errors: [{ code: 'UNAVAILABLE', message: 'down' }] });
      const r = await post(handler, { grant_type: 'password', username: 'hg-p1', password: 'pw' });
      expect({ status: r.status, body: r.body }).toEqual({ status: 503, body: { errors: [{ code: 'UNAVAILABLE', message: 'down' }] } });
      answer = (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(`{"token":"${ROBOT_TOKEN}"`);
      };
      const bad = await post(handler, { grant_type: 'password', username: 'hg-p1', password: 'pw' });
      expect({ status: bad.status, body: bad.body }).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'unauthorized: incorrect username or password' } });
    });

    it('a form larger than 64 KiB: the connection is dropped, Harbor never asked', async () => {
      const { handler } = setup();
      const handled: Promise<void>[] = [];
      const server = http.createServer((req, res) => void handled.push(handler(req, res)));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const port = (server.address() as AddressInfo).port;
        const outcome = await new Promise<string>((resolve) => {
          const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/service/token', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }, (res) => resolve(`status ${res.statusCode}`));
          req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
          req.write(`grant_type=password&username=hg-p1&password=${'x'.repeat(64 * 1024)}`);
          req.end();
        });
        expect(['ECONNRESET', 'EPIPE', 'socket hang up']).toContain(outcome);
        // The refused form ends there: no internal error afterwards.
        await Promise.all(handled);
        expect(logs.filter((l) => l.includes('token request failed'))).toEqual([]);
        expect(seen).toHaveLength(0);
      } finally {
        await new Promise<void>((r) => server.close(() => r()));
      }
    });

    it('a form exactly 64 KiB long is read', async () => {
      const { handler } = setup();
      const head = 'grant_type=password&username=hg-p1&password=pw&pad=';
      const r = await request(handler).post('/service/token').type('form').send(head + 'x'.repeat(64 * 1024 - head.length));
      expect(r.status).toBe(200);
    });

    it('a client that goes away halfway through its form is let go at once: the form timer is cleared, Harbor never asked', async () => {
      // A form timeout no test waits for: the handler must settle on the client's going away, not on the timer.
      const formTimeoutMs = 987_654;
      const { handler } = setup({ formTimeoutMs });
      const setSpy = jest.spyOn(global, 'setTimeout');
      const clearSpy = jest.spyOn(global, 'clearTimeout');
      const handled: Promise<void>[] = [];
      const server = http.createServer((req, res) => void handled.push(handler(req, res)));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const port = (server.address() as AddressInfo).port;
        const socket = net.connect(port, '127.0.0.1');
        await new Promise<void>((r) => socket.once('connect', () => r()));
        socket.write('POST /service/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=pass');
        // The handler is reading the form (its timer is set), then the client closes its socket.
        await until(() => setSpy.mock.calls.some((c) => c[1] === formTimeoutMs));
        const formTimer = setSpy.mock.results[setSpy.mock.calls.findIndex((c) => c[1] === formTimeoutMs)].value as NodeJS.Timeout;
        socket.destroy();
        await Promise.all(handled);
        expect(clearSpy.mock.calls.map((c) => c[0])).toContain(formTimer);
        expect(logs.filter((l) => l.includes('token request failed'))).toEqual([]);
        expect(seen).toHaveLength(0);
      } finally {
        setSpy.mockRestore();
        clearSpy.mockRestore();
        await new Promise<void>((r) => server.close(() => r()));
      }
    });

    it('a form not sent in time: the connection is dropped, Harbor never asked', async () => {
      const { handler } = setup({ formTimeoutMs: 50 });
      const handled: Promise<void>[] = [];
      const server = http.createServer((req, res) => void handled.push(handler(req, res)));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const port = (server.address() as AddressInfo).port;
        const outcome = await new Promise<string>((resolve) => {
          const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/service/token', headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': '100' } }, (res) => resolve(`status ${res.statusCode}`));
          req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
          req.write('grant_type=password');
        });
        expect(['ECONNRESET', 'socket hang up']).toContain(outcome);
        // The refused form ends there: no internal error afterwards.
        await Promise.all(handled);
        expect(logs.filter((l) => l.includes('token request failed'))).toEqual([]);
        expect(seen).toHaveLength(0);
      } finally {
        await new Promise<void>((r) => server.close(() => r()));
      }
    });
  });

  it('an error once the answer has started cuts the connection (logged), and the handler never rejects', async () => {
    const { handler } = setup();
    const handled: Promise<void>[] = [];
    // Something before the handler already sent a head: its own answer then fails (ERR_HTTP_HEADERS_SENT).
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('started', () => handled.push(handler(req, res)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const outcome = await new Promise<string>((resolve) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'DELETE', path: '/service/token' }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('error', (e: NodeJS.ErrnoException) => resolve(`${res.statusCode} ${body} ${e.code ?? e.message}`));
          res.on('end', () => resolve(`${res.statusCode} ${body} complete`));
        });
        req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        req.end();
      });
      expect(outcome).toBe('200 started ECONNRESET');
      await until(() => handled.length === 1);
      await expect(Promise.all(handled)).resolves.toEqual([undefined]);
      expect(logs.filter((l) => l.includes('token request failed'))).toHaveLength(1);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('other methods: 405 with Allow, naming the method', async () => {
    const { handler } = setup();
    const r = await request(handler).delete('/service/token');
    expectRefusal(r, 405, 'METHOD_NOT_ALLOWED', 'method DELETE is not allowed on the token service');
    expect(r.headers.allow).toBe('GET, POST');
    expect(seen).toHaveLength(0);
  });
});
