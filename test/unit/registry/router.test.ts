/**
 * The registry router against a scripted upstream (a local HTTP server standing in for Harbor): authentication
 * decisions, token form handling, anonymous refusal, throttling, header rewrites, invalidation, upstream failure.
 */
import { PROXY_ENGINES } from '../../../src/http/registry/proxy';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { createRegistryRouter, type RegistryRouterDeps } from '../../../src/http/registry';
import { observe } from '../../../src/http/middleware/observe';
import { createMetrics } from '../../../src/observability/metrics';
import { createLogger } from '../../../src/observability/logger';
import { signingMaterial } from '../../harbor-double/keys';
import { compileTrust } from '../../../src/http/registry/auth';
import { signToken } from '../../harbor-double/jwt';
import { mapCache } from '../../support/map-cache';
import type { Coordination } from '../../../src/ports/coordination';
import { exchange } from '../../support/raw-http';
import { requestPath } from '../../../src/http/registry/router';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
/** A refusal in Harbor's error envelope: status, error code and message together, so another 401 cannot pass. */
const expectRefusal = (r: { status: number; body: unknown }, status: number, code: string, message: string) =>
  expect({ status: r.status, body: r.body }).toEqual({ status, body: { errors: [{ code, message }] } });
const jwt = (claims: Record<string, unknown>) => `${b64('{"alg":"RS256"}')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
const PASSWORD = 'Correct-Horse-Battery-9';
/** A server on a free loopback port for `handler` (requests supertest cannot make: chunked bodies, cut exchanges). */
async function listening(handler: http.RequestListener) {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}
/** The samples of one metric (no HELP/TYPE lines). */
const samples = async (metrics: ReturnType<typeof createMetrics>, name: string) =>
  (await metrics.registry.getSingleMetricAsString(name)).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
/** A token Harbor's token service (the double's signing key) issued for the project's robot. */
const HARBOR_TOKEN = signToken(signingMaterial(), 'robot$hg-p1', [{ type: 'repository', name: 'alpha/app', actions: ['pull', 'push'] }], 3600).token;

// Every case runs on both pass-through engines (proxy.ts): the default and the http-proxy-middleware fallback.
describe.each(PROXY_ENGINES)('registry router (%s engine)', (engine) => {
  let upstream: http.Server;
  let upstreamUrl: string;
  let seen: Seen[];
  let answer: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;
  let t: number;
  let verifyCalls: number;
  let logs: string[];

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        answer(req, res, body);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

  /** `observed: false` mounts the router without the observe middleware (no request context, as a bare server would). */
  function app(overrides: Partial<RegistryRouterDeps> = {}, { observed = true } = {}) {
    seen = [];
    verifyCalls = 0;
    t = Date.now();
    logs = [];
    answer = (req, res) => {
      if (req.url!.startsWith('/service/token')) {
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Set-Cookie': 'sid=1' });
        res.end(JSON.stringify({ token: jwt({ sub: 'robot$hg-p1', exp: Math.floor(Date.now() / 1000) + 1800 }), access_token: '', expires_in: 1800, issued_at: '2026-11-26T13:52:54Z' }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json', 'Docker-Distribution-Api-Version': 'registry/2.0' });
      res.end('{}');
    };
    const metrics = createMetrics({ defaultMetrics: false });
    const onManifestChange = jest.fn();
    const deps: RegistryRouterDeps = {
      proxyEngine: engine,
      harborUrl: upstreamUrl,
      publicUrl: 'https://hub.example',
      verify: async (u, p) => {
        verifyCalls++;
        return u === 'hg-p1' && p === PASSWORD ? { id: 1 } : null;
      },
      usernamePrefix: 'hg-',
      robotPrefix: 'robot$',
      allowAnonymousPull: false,
      throttle: { maxFailuresPerUser: 3, maxFailuresPerAddress: 100, windowSeconds: 60, blockSeconds: 30 },
      loginCacheSeconds: 30,
      tokenCertificatePem: signingMaterial().certPem,
      onManifestChange,
      logger: createLogger('debug', (l) => logs.push(l)),
      metrics,
      now: () => t,
      ...overrides,
    };
    const a = express();
    a.set('trust proxy', true);
    if (observed) a.use(observe(deps.logger, metrics));
    a.use(createRegistryRouter(deps));
    a.use((_req, res) => res.status(404).send('api'));
    return { app: a, metrics, onManifestChange, deps };
  }

  const basic = (u: string, p: string) => `Basic ${b64(`${u}:${p}`)}`;

  describe('/v2 without credentials', () => {
    it('answers 401 with a Bearer challenge at hubgate (and the scope), without asking Harbor', async () => {
      const { app: a } = app();
      const r = await request(a).head('/v2/alpha/app/manifests/v1');
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="https://hub.example/service/token",service="harbor-registry",scope="repository:alpha/app:pull"');
      expect(r.headers['docker-distribution-api-version']).toBe('registry/2.0');
      const g = await request(a).get('/v2/');
      expect(g.status).toBe(401);
      expect(g.body).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized: authentication required' }] });
      expect(seen).toHaveLength(0);
    });

    it('leaves other paths to the API', async () => {
      const { app: a } = app();
      expect((await request(a).get('/api/v1/workspaces')).text).toBe('api');
    });
  });

  describe('/v2 with a bearer token', () => {
    const key = () => signingMaterial();
    const other = (() => {
      // A second key pair: a token signed by anyone but Harbor's token service.
      const { generateKeyPairSync } = jest.requireActual<typeof import('node:crypto')>('node:crypto');
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      return { ...signingMaterial(), privateKey, publicKey };
    })();
    const unsigned = (claims: Record<string, unknown>) =>
      `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    const now = () => Math.floor(Date.now() / 1000);
    const robotClaims = () => ({ iss: 'harbor-token-issuer', aud: 'harbor-registry', sub: 'robot$hg-p1', exp: now() + 600, nbf: now() - 1, iat: now() - 1, access: [] });
    const refused: [string, () => string][] = [
      ['junk', () => 'x'],
      ['a JWT-shaped junk', () => 'a.b.c'],
      ['an unsigned (alg none) token for the robot', () => unsigned(robotClaims())],
      ['a token for the robot with a forged signature', () => `${HARBOR_TOKEN.split('.').slice(0, 2).join('.')}.${Buffer.from('forged').toString('base64url')}`],
      ['a robot token with edited claims', () => `${HARBOR_TOKEN.split('.')[0]}.${Buffer.from(JSON.stringify({ ...robotClaims(), sub: 'robot$hg-p2' })).toString('base64url')}.${HARBOR_TOKEN.split('.')[2]}`],
      ['a token signed by another key', () => signToken(other, 'robot$hg-p1', [], 600).token],
      ['an anonymous token from Harbor (anonymous pulls disabled)', () => signToken(key(), undefined, [{ type: 'repository', name: 'alpha/app', actions: ['pull'] }], 600).token],
      ["a token for Harbor's admin", () => signToken(key(), 'admin', [], 600).token],
      ['a token for a robot hubgate does not manage', () => signToken(key(), 'robot$ci', [], 600).token],
      ['a token for a system-level robot with the hubgate prefix', () => signToken(key(), 'robot$hg-p1$x', [], 600).token],
      ['an expired token', () => signToken(key(), 'robot$hg-p1', [], 600, now() - 3600).token],
    ];
    it.each(refused)('refuses %s with the 401 challenge, without asking Harbor', async (_what, token) => {
      const { app: a, metrics } = app();
      const r = await request(a).get('/v2/alpha/app/tags/list').set('Authorization', `Bearer ${token()}`);
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized: invalid or expired registry token; authenticate again' }] });
      expect(r.headers['www-authenticate']).toBe('Bearer realm="https://hub.example/service/token",service="harbor-registry",scope="repository:alpha/app:pull"');
      expect(seen).toHaveLength(0);
      expect(await metrics.registry.getSingleMetricAsString('hubgate_login_failures_total')).toContain('reason="bad_token"} 1');
    });

    it("passes Harbor's token for a hubgate robot on unchanged", async () => {
      const { app: a } = app();
      const r = await request(a).get('/v2/alpha/app/tags/list').set('Authorization', `Bearer ${HARBOR_TOKEN}`);
      expect(r.status).toBe(200);
      expect(seen[0].headers.authorization).toBe(`Bearer ${HARBOR_TOKEN}`);
    });

    it("passes Harbor's anonymous token on only while anonymous pulls are enabled", async () => {
      const anon = signToken(key(), undefined, [{ type: 'repository', name: 'alpha/app', actions: ['pull'] }], 600).token;
      const { app: a } = app({ allowAnonymousPull: true });
      expect((await request(a).get('/v2/alpha/app/tags/list').set('Authorization', `Bearer ${anon}`)).status).toBe(200);
      expect(seen).toHaveLength(1);
    });

    describe('without a certificate (record of issued tokens)', () => {
      it('passes on exactly the tokens its own token endpoint handed out', async () => {
        const { app: a } = app({ tokenCertificatePem: undefined });
        // Harbor's own, validly signed token that did not come through hubgate: refused.
        expectRefusal(await request(a).get('/v2/alpha/app/tags/list').set('Authorization', `Bearer ${HARBOR_TOKEN}`), 401, 'UNAUTHORIZED', 'unauthorized: invalid or expired registry token; authenticate again');
        expect(seen).toHaveLength(0);
        const issued = await request(a).get('/service/token?service=harbor-registry&scope=repository:alpha/app:pull').set('Authorization', basic('hg-p1', PASSWORD));
        expect(issued.status).toBe(200);
        const token = (issued.body as { token: string }).token;
        const r = await request(a).get('/v2/alpha/app/tags/list').set('Authorization', `Bearer ${token}`);
        expect(r.status).toBe(200);
        expect(seen.at(-1)?.headers.authorization).toBe(`Bearer ${token}`);
      });

      it('shares the record through the cache, so another replica accepts the token', async () => {
        const store = new Map<string, unknown>();
        const cache = mapCache(store);
        const shared = { cache, coordination: { shared: () => true }, tokenCertificatePem: undefined };
        const { app: one } = app(shared);
        const issued = await request(one).get('/service/token?service=harbor-registry&scope=repository:alpha/app:pull').set('Authorization', basic('hg-p1', PASSWORD));
        const token = (issued.body as { token: string }).token;
        expect([...store.keys()].some((k) => k.startsWith('registry-token:'))).toBe(true);
        // Nothing secret in the shared store: only hashes of the tokens.
        expect(JSON.stringify([...store.entries()])).not.toContain(token);
        const { app: two } = app(shared);
        expect((await request(two).get('/v2/alpha/app/tags/list').set('Authorization', `Bearer ${token}`)).status).toBe(200);
        const { app: isolated } = app({ tokenCertificatePem: undefined });
        expectRefusal(await request(isolated).get('/v2/alpha/app/tags/list').set('Authorization', `Bearer ${token}`), 401, 'UNAUTHORIZED', 'unauthorized: invalid or expired registry token; authenticate again');
      });
    });
  });

  describe('/v2 paths', () => {
    it.each([
      ['/v2/..%2fapi/v2.0/projects', 400],
      ['/v2/../api/v2.0/projects', 400],
      ['/v2/alpha/app/../../../api/v2.0/users', 400],
      ['/v2/alpha//app/tags/list', 400],
      ['/v2/alpha/app/blobs/uploads/..', 400],
      ['/v2/alpha%2Fapp/tags/list', 400],
      ['/v2/alpha/app/manifests/v1;x=1', 400],
      ['/v2/api/v2.0/projects', 404],
      ['/v2/alpha/app/referrers/sha256:abc', 404],
      ['/v2/alpha/app', 404],
    ])('refuses %s (%d) without asking Harbor', async (p, status) => {
      const { app: a } = app();
      const r = await request(a).get(p).set('Authorization', `Bearer ${HARBOR_TOKEN}`);
      expect(r.status).toBe(status);
      expect((r.body as { errors: { code: string }[] }).errors[0].code).toBe(status === 400 ? 'BAD_REQUEST' : 'NOT_FOUND');
      expect(seen).toHaveLength(0);
    });

    it('decodes a percent-encoded ":" of a digest before Harbor sees it (core would make it a tag)', async () => {
      const { app: a } = app();
      const hex = 'a'.repeat(64);
      const r = await request(a).put(`/v2/alpha/app/manifests/sha256%3A${hex}?x=%3A`).set('Authorization', `Bearer ${HARBOR_TOKEN}`).send('{}');
      expect(r.status).toBe(200);
      expect(seen[0].url).toBe(`/v2/alpha/app/manifests/sha256:${hex}?x=%3A`);
    });
  });

  describe('/v2 with Basic credentials', () => {
    it('verifies a hubgate login, forwards it as the Harbor robot, and caches the verification', async () => {
      const { app: a } = app();
      const r = await request(a).get('/v2/alpha/app/tags/list').set('Authorization', basic('hg-p1', PASSWORD)).set('Cookie', 'sid=harbor-session');
      expect(r.status).toBe(200);
      expect(seen[0].headers.authorization).toBe(basic('robot$hg-p1', PASSWORD));
      expect(seen[0].headers.cookie).toBeUndefined();
      expect(seen[0].headers['x-request-id']).toBe(r.headers['x-request-id']);
      await request(a).get('/v2/alpha/app/tags/list').set('Authorization', basic('hg-p1', PASSWORD));
      expect(verifyCalls).toBe(1);
    });

    it('forgets a cached login as soon as Harbor refuses it (password rotated elsewhere)', async () => {
      const { app: a } = app();
      await request(a).get('/v2/').set('Authorization', basic('hg-p1', PASSWORD));
      answer = (_req, res) => {
        res.writeHead(401, { 'Www-Authenticate': 'Basic realm="harbor"' });
        res.end();
      };
      // Harbor's own refusal, passed on as it came (its challenge, no body).
      const refused = await request(a).get('/v2/').set('Authorization', basic('hg-p1', PASSWORD));
      expect({ status: refused.status, challenge: refused.headers['www-authenticate'], body: refused.text }).toEqual({ status: 401, challenge: 'Basic realm="harbor"', body: '' });
      await request(a).get('/v2/').set('Authorization', basic('hg-p1', PASSWORD));
      expect(verifyCalls).toBe(2);
    });

    it('a Basic header that does not decode: the 401 challenge, its message readable (not mistaken for a credential by redaction), counted as bad credentials', async () => {
      const { app: a, metrics } = app();
      const r = await request(a).get('/v2/alpha/app/tags/list').set('Authorization', 'Basic !!!');
      expectRefusal(r, 401, 'UNAUTHORIZED', 'unauthorized: malformed user name and password (HTTP Basic)');
      expect(seen).toHaveLength(0);
      expect(await samples(metrics, 'hubgate_login_failures_total')).toEqual(['hubgate_login_failures_total{reason="bad_credentials"} 1']);
    });

    it("refuses Harbor's admin and robots without asking anyone", async () => {
      const { app: a, metrics } = app();
      for (const u of ['admin', 'robot$hg-p1', 'hg-p1$x']) {
        const r = await request(a).get('/v2/').set('Authorization', basic(u, PASSWORD));
        expectRefusal(r, 401, 'UNAUTHORIZED', "unauthorized: log in with your project's registry credentials (user name and password from the console)");
        expect(r.headers['www-authenticate']).toBe('Basic realm="harbor"');
      }
      expect(verifyCalls).toBe(0);
      expect(seen).toHaveLength(0);
      expect(await metrics.registry.getSingleMetricAsString('hubgate_login_failures_total')).toMatch(/reason="unknown_user"} 3/);
    });

    it('wrong logins from one address never lock the right password out from another address', async () => {
      const { app: a } = app({ trustProxy: compileTrust(['loopback']) });
      const from = (addr: string, password: string) => request(a).get('/v2/').set('X-Forwarded-For', addr).set('Authorization', basic('hg-p1', password));
      for (let i = 0; i < 3; i++) expectRefusal(await from('203.0.113.66', `wrong-${i}`), 401, 'UNAUTHORIZED', 'unauthorized: incorrect username or password');
      expectRefusal(await from('203.0.113.66', PASSWORD), 429, 'TOO_MANY_REQUESTS', 'too many failed logins; try again in 30 seconds');
      const owner = await from('10.20.30.40', PASSWORD);
      expect(owner.status).toBe(200);
      // The attacker stays blocked after the owner's success.
      expectRefusal(await from('203.0.113.66', 'wrong-again'), 429, 'TOO_MANY_REQUESTS', 'too many failed logins; try again in 30 seconds');
    });

    it('40 parallel wrong logins for one user get no more password checks than the limit (3)', async () => {
      const slowVerify = async (u: string, p: string) => {
        verifyCalls++;
        await new Promise((r) => setTimeout(r, 5));
        return u === 'hg-p1' && p === PASSWORD ? { id: 1 } : null;
      };
      const { app: a } = app({ verify: slowVerify });
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => request(a).get('/v2/').set('Authorization', basic('hg-p1', `wrong-${i}`))));
      expect(verifyCalls).toBe(3);
      expect(answers.filter((r) => r.status === 401)).toHaveLength(3);
      expect(answers.filter((r) => r.status === 429)).toHaveLength(37);
    });

    it('40 parallel right logins cost one password check', async () => {
      const { app: a } = app();
      const answers = await Promise.all(Array.from({ length: 40 }, () => request(a).get('/v2/').set('Authorization', basic('hg-p1', PASSWORD))));
      expect(answers.every((r) => r.status === 200)).toBe(true);
      expect(verifyCalls).toBe(1);
    });

    it('throttles failed logins per (username, address): 429 with Retry-After in the Harbor envelope, even for the right password from that address', async () => {
      const { app: a, metrics } = app();
      for (let i = 0; i < 3; i++) expectRefusal(await request(a).get('/v2/').set('Authorization', basic('hg-p1', `wrong-${i}`)), 401, 'UNAUTHORIZED', 'unauthorized: incorrect username or password');
      const blocked = await request(a).get('/v2/').set('Authorization', basic('hg-p1', PASSWORD));
      expectRefusal(blocked, 429, 'TOO_MANY_REQUESTS', 'too many failed logins; try again in 30 seconds');
      expect(blocked.headers['retry-after']).toBe('30');
      const viaToken = await request(a).get('/service/token?service=harbor-registry').set('Authorization', basic('hg-p1', PASSWORD));
      expectRefusal(viaToken, 429, 'TOO_MANY_REQUESTS', 'too many failed logins; try again in 30 seconds');
      t += 31_000;
      expect((await request(a).get('/v2/').set('Authorization', basic('hg-p1', PASSWORD))).status).toBe(200);
      expect(await metrics.registry.getSingleMetricAsString('hubgate_login_throttled_total')).toMatch(/scope="username"} 2/);
      expect(logs.join('\n')).not.toContain(PASSWORD);
    });
  });

  describe('pass-through', () => {
    it("rewrites Harbor's realm and absolute Locations, drops its cookie, keeps registry headers", async () => {
      const { app: a } = app();
      answer = (_req, res) => {
        res.writeHead(202, {
          Location: `${upstreamUrl}/v2/alpha/app/blobs/uploads/u1?_state=abc%3D%3D`,
          'Docker-Upload-Uuid': 'u1',
          Range: '0-0',
          'Set-Cookie': 'sid=x',
          'Content-Length': '0',
        });
        res.end();
      };
      const r = await request(a).post('/v2/alpha/app/blobs/uploads/?mount=sha256:abc&from=alpha/other').set('Authorization', `Bearer ${HARBOR_TOKEN}`);
      expect(r.status).toBe(202);
      expect(r.headers.location).toBe('https://hub.example/v2/alpha/app/blobs/uploads/u1?_state=abc%3D%3D');
      expect(r.headers['docker-upload-uuid']).toBe('u1');
      expect(r.headers.range).toBe('0-0');
      expect(r.headers['set-cookie']).toBeUndefined();
      expect(seen[0].url).toBe('/v2/alpha/app/blobs/uploads/?mount=sha256:abc&from=alpha/other');
      expect(seen[0].headers.authorization).toBe(`Bearer ${HARBOR_TOKEN}`);

      answer = (_req, res) => {
        res.writeHead(401, { 'Www-Authenticate': `Bearer realm="${upstreamUrl}/service/token",service="harbor-registry",scope="repository:alpha/app:pull"` });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"unauthorized"}]}');
      };
      const c = await request(a).get('/v2/alpha/app/manifests/v1').set('Authorization', 'Bearer expired');
      expect(c.headers['www-authenticate']).toBe('Bearer realm="https://hub.example/service/token",service="harbor-registry",scope="repository:alpha/app:pull"');
    });

    it('streams request bodies through unchanged (chunked PATCH) and counts bytes by operation', async () => {
      const { app: a, metrics } = app();
      const payload = Buffer.alloc(300_000, 7);
      const r = await request(a).patch('/v2/alpha/app/blobs/uploads/u1?_state=s').set('Authorization', `Bearer ${HARBOR_TOKEN}`).set('Content-Type', 'application/octet-stream').send(payload);
      expect(r.status).toBe(200);
      expect(seen[0].body.length).toBe(payload.length);
      expect(seen[0].method).toBe('PATCH');
      const m = await metrics.registry.getSingleMetricAsString('hubgate_registry_bytes_total');
      expect(m).toContain(`operation="v2_upload",direction="in"} ${payload.length}`);
      const req = await metrics.registry.getSingleMetricAsString('hubgate_registry_requests_total');
      expect(req).toContain('operation="v2_upload",method="PATCH",status_class="2xx"} 1');
    });

    it('invalidates cached image lists after a manifest PUT or DELETE that succeeded, not after reads or failures', async () => {
      const { app: a, onManifestChange } = app();
      answer = (_req, res) => {
        res.writeHead(201, { 'Docker-Content-Digest': 'sha256:1' });
        res.end();
      };
      await request(a).put('/v2/alpha/app/manifests/v1').set('Authorization', `Bearer ${HARBOR_TOKEN}`).set('Content-Type', 'application/vnd.oci.image.manifest.v1+json').send('{}');
      await request(a).get('/v2/alpha/app/manifests/v1').set('Authorization', `Bearer ${HARBOR_TOKEN}`);
      answer = (_req, res) => {
        res.writeHead(400);
        res.end();
      };
      await request(a).put('/v2/alpha/app/manifests/v2').set('Authorization', `Bearer ${HARBOR_TOKEN}`).send('{}');
      await new Promise((r) => setImmediate(r));
      expect(onManifestChange).toHaveBeenCalledTimes(1);
      // with the repository, so that only that image is invalidated
      expect(onManifestChange).toHaveBeenCalledWith('alpha/app');
    });

    it('answers 502 in the Harbor envelope when Harbor is unreachable', async () => {
      const { app: a } = app({ harborUrl: 'http://127.0.0.1:1' });
      const r = await request(a).get('/v2/').set('Authorization', `Bearer ${HARBOR_TOKEN}`);
      expect(r.status).toBe(502);
      expect(r.body.errors[0].code).toBe('UPSTREAM_UNAVAILABLE');
    });
  });

  describe('which requests are the registry front', () => {
    it('an absolute-form request target through Express is a registry request (the challenge, not the API)', async () => {
      const { app: a } = app();
      const { port, close } = await listening(a);
      const { answer: raw } = await exchange(port, 'GET http://hub.example/v2/alpha/app/tags/list HTTP/1.1\r\nHost: hub.example\r\nConnection: close\r\n\r\n');
      await close();
      expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 401 Unauthorized');
      expect(raw).toContain('{"errors":[{"code":"UNAUTHORIZED","message":"unauthorized: authentication required"}]}');
      expect(seen).toHaveLength(0);
    });

    it('an absolute-form request target reaches Harbor in origin-form: never a host the client chose', async () => {
      const { app: a } = app();
      const { port, close } = await listening(a);
      const { answer: raw } = await exchange(
        port,
        `GET http://attacker.example/v2/alpha/app/tags/list?n=1 HTTP/1.1\r\nHost: hub.example\r\nAuthorization: Bearer ${HARBOR_TOKEN}\r\nConnection: close\r\n\r\n`,
      );
      const { answer: bare } = await exchange(port, `GET http://attacker.example/v2/ HTTP/1.1\r\nHost: hub.example\r\nAuthorization: Bearer ${HARBOR_TOKEN}\r\nConnection: close\r\n\r\n`);
      await close();
      expect([raw, bare].map((r) => r.split('\r\n')[0])).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
      expect(seen.map((s) => s.url)).toEqual(['/v2/alpha/app/tags/list?n=1', '/v2/']);
    });

    it('a path the registry API does not have: 404 in the envelope with the API version header, even for a token already accepted', async () => {
      const { app: a } = app();
      expect((await request(a).get('/v2/alpha/app/tags/list').set('Authorization', `Bearer ${HARBOR_TOKEN}`)).status).toBe(200);
      const r = await request(a).get('/v2/api/v2.0/projects').set('Authorization', `Bearer ${HARBOR_TOKEN}`);
      expectRefusal(r, 404, 'NOT_FOUND', 'not found: the path is not part of the registry API');
      expect(r.headers['docker-distribution-api-version']).toBe('registry/2.0');
      expect(seen).toHaveLength(1);
    });

    it('an invalid path: 400 naming the problem, the API version header, counted as v2_other 4xx (not the raw path)', async () => {
      const { app: a, metrics } = app();
      const r = await request(a).get('/v2/alpha/app/../../../api/v2.0/users').set('Authorization', `Bearer ${HARBOR_TOKEN}`);
      expectRefusal(r, 400, 'BAD_REQUEST', 'invalid registry path: dot segments are not allowed in registry paths');
      expect(r.headers['docker-distribution-api-version']).toBe('registry/2.0');
      expect(await samples(metrics, 'hubgate_registry_requests_total')).toEqual(['hubgate_registry_requests_total{operation="v2_other",method="GET",status_class="4xx"} 1']);
    });

    it('without a request context (a bare server): passes on without a request id; an accepted token goes on before the handler returns', async () => {
      const { deps } = app();
      const handler = createRegistryRouter(deps);
      const cookieAfterReturn: (string | null)[] = [];
      const server = http.createServer((req, res) => {
        handler(req, res, () => res.writeHead(404).end('api'));
        cookieAfterReturn.push(req.headers.cookie ?? null);
      });
      for (let i = 0; i < 2; i++) {
        const r = await request(server).get('/v2/alpha/app/tags/list').set('Authorization', `Bearer ${HARBOR_TOKEN}`).set('Cookie', 'sid=harbor-session');
        expect(r.status).toBe(200);
      }
      // The first sighting is checked (a promise): the cookie is still there when the handler returns; the second
      // time the token is known and the request is cleaned and sent on synchronously.
      expect(cookieAfterReturn).toEqual(['sid=harbor-session', null]);
      expect(seen.map((s) => [s.headers.authorization, s.headers.cookie, s.headers['x-request-id']])).toEqual([
        [`Bearer ${HARBOR_TOKEN}`, undefined, undefined],
        [`Bearer ${HARBOR_TOKEN}`, undefined, undefined],
      ]);
    });
  });

  describe('refusals of /v2 logins', () => {
    it('an authorization scheme hubgate does not know: the challenge asking to authenticate, not counted as a bad token', async () => {
      const { app: a, metrics } = app();
      const r = await request(a).put('/v2/alpha/app/manifests/v1').set('Authorization', 'Negotiate abc');
      expectRefusal(r, 401, 'UNAUTHORIZED', 'unauthorized: authentication required');
      expect(r.headers['www-authenticate']).toBe('Bearer realm="https://hub.example/service/token",service="harbor-registry",scope="repository:alpha/app:pull,push"');
      expect(await samples(metrics, 'hubgate_login_failures_total')).toEqual([]);
      expect(seen).toHaveLength(0);
    });

    it('a wrong password: 401 with the Basic challenge and no Retry-After; blocked: 429 with Retry-After and no challenge', async () => {
      const { app: a } = app();
      const headers = (r: request.Response) => [r.headers['www-authenticate'], r.headers['retry-after'], r.headers['docker-distribution-api-version']];
      for (let i = 0; i < 3; i++) {
        const wrong = await request(a).get('/v2/').set('Authorization', basic('hg-p1', `wrong-${i}`));
        expect([wrong.status, ...headers(wrong)]).toEqual([401, 'Basic realm="harbor"', undefined, 'registry/2.0']);
      }
      const blocked = await request(a).get('/v2/').set('Authorization', basic('hg-p1', PASSWORD));
      expect([blocked.status, ...headers(blocked)]).toEqual([429, undefined, '30', 'registry/2.0']);
    });

    it('trusts a verified login for loginCacheSeconds (30 s), then asks Harbor again', async () => {
      const { app: a } = app();
      const get = async () => expect((await request(a).get('/v2/').set('Authorization', basic('hg-p1', PASSWORD))).status).toBe(200);
      await get();
      t += 29_000;
      await get();
      expect(verifyCalls).toBe(1);
      t += 2_000;
      await get();
      expect(verifyCalls).toBe(2);
    });

    it("serialises a user's password checks under the coordination lock when there is one", async () => {
      const held: Coordination['withLock'] = (_name, fn) => fn(() => true);
      const coordination = { shared: () => false, withLock: jest.fn(held) as jest.MockedFunction<Coordination['withLock']> };
      const { app: a } = app({ coordination });
      expect((await request(a).get('/v2/').set('Authorization', basic('hg-p1', PASSWORD))).status).toBe(200);
      expect(coordination.withLock.mock.calls).toEqual([[expect.stringMatching(/^registry-login:[0-9a-f]{32}$/), expect.any(Function), { ttlMs: 30_000, waitMs: 15_000 }]]);
      expect(coordination.withLock.mock.contexts).toEqual([coordination]);
    });

    it('a login that fails inside hubgate (the lock store is down): 500 in the envelope, logged by operation id', async () => {
      const coordination = { shared: () => false, withLock: async () => Promise.reject(new Error('lock store unreachable')) };
      const { app: a, metrics } = app({ coordination });
      const r = await request(a).get('/v2/alpha/app/tags/list').set('Authorization', basic('hg-p1', PASSWORD));
      expectRefusal(r, 500, 'UNKNOWN', 'internal server error');
      const failed = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'registry request failed');
      expect(failed.map((l) => [l.level, l.operation])).toEqual([['error', 'v2_tags']]);
      expect(JSON.stringify(failed)).toContain('lock store unreachable');
      expect(await samples(metrics, 'hubgate_registry_requests_total')).toEqual(['hubgate_registry_requests_total{operation="v2_tags",method="GET",status_class="5xx"} 1']);
      expect(seen).toHaveLength(0);
    });
  });

  describe('metrics of an exchange', () => {
    it('counts bytes by direction only when there were any: a chunked upload in, a blob out', async () => {
      const { app: a, metrics } = app();
      answer = (req, res) => {
        res.writeHead(req.method === 'GET' ? 200 : 202, { 'Content-Length': req.method === 'GET' ? '5' : '0' });
        res.end(req.method === 'GET' ? 'abcde' : undefined);
      };
      const { port, close } = await listening(a);
      const status = await new Promise<number>((resolve, reject) => {
        const up = http.request({ host: '127.0.0.1', port, method: 'PATCH', path: '/v2/alpha/app/blobs/uploads/u1', agent: false, headers: { authorization: `Bearer ${HARBOR_TOKEN}` } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        up.on('error', reject);
        up.write('0123456789');
        up.end('abc');
      });
      await close();
      expect(status).toBe(202);
      expect(seen[0].headers['transfer-encoding']).toBe('chunked');
      expect(await samples(metrics, 'hubgate_registry_bytes_total')).toEqual(['hubgate_registry_bytes_total{operation="v2_upload",direction="in"} 13']);
      const blob = await request(a).get(`/v2/alpha/app/blobs/sha256:${'b'.repeat(64)}`).set('Authorization', `Bearer ${HARBOR_TOKEN}`);
      expect(blob.status).toBe(200);
      expect(await samples(metrics, 'hubgate_registry_bytes_total')).toEqual([
        'hubgate_registry_bytes_total{operation="v2_upload",direction="in"} 13',
        'hubgate_registry_bytes_total{operation="v2_blob",direction="out"} 5',
      ]);
    });

    it('observes the duration in seconds from the start of the exchange to its end', async () => {
      const { app: a, metrics } = app();
      const clock = jest.spyOn(process.hrtime, 'bigint').mockReturnValue(5_000_000_000n);
      try {
        answer = (_req, res) => {
          clock.mockReturnValue(7_250_000_000n);
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end('{}');
        };
        expect((await request(a).get('/v2/alpha/app/tags/list').set('Authorization', `Bearer ${HARBOR_TOKEN}`)).status).toBe(200);
      } finally {
        clock.mockRestore();
      }
      const lines = await samples(metrics, 'hubgate_registry_request_duration_seconds');
      expect(lines.filter((l) => /_(sum|count)\{/.test(l))).toEqual([
        'hubgate_registry_request_duration_seconds_sum{operation="v2_tags"} 2.25',
        'hubgate_registry_request_duration_seconds_count{operation="v2_tags"} 1',
      ]);
    });

    it('an exchange the client cuts before the answer is counted as aborted', async () => {
      const { app: a, metrics } = app();
      let held: http.ServerResponse | undefined;
      let arrived!: () => void;
      const atHarbor = new Promise<void>((r) => (arrived = r));
      answer = (_req, res) => {
        held = res;
        arrived();
      };
      const { port, close } = await listening(a);
      const cut = http.request({ host: '127.0.0.1', port, path: '/v2/alpha/app/manifests/v1', agent: false, headers: { authorization: `Bearer ${HARBOR_TOKEN}` } });
      cut.on('error', () => undefined);
      cut.end();
      await atHarbor;
      cut.destroy();
      // The count is made when the exchange closes on hubgate's side.
      while ((await samples(metrics, 'hubgate_registry_requests_total')).length === 0) await new Promise((r) => setImmediate(r));
      expect(await samples(metrics, 'hubgate_registry_requests_total')).toEqual(['hubgate_registry_requests_total{operation="v2_manifest",method="GET",status_class="aborted"} 1']);
      held?.end();
      await close();
    });
  });

  describe('image list invalidation', () => {
    const hex = 'c'.repeat(64);
    it.each([
      ['PUT', '/v2/alpha/app/manifests/v1', 201, ['alpha/app']],
      ['PUT', '/v2/alpha/app/manifests/v1', 200, ['alpha/app']],
      ['DELETE', `/v2/alpha/app/manifests/sha256:${hex}`, 202, ['alpha/app']],
      ['GET', '/v2/alpha/app/manifests/v1', 200, []],
      ['PUT', '/v2/alpha/app/manifests/v1', 300, []],
      ['PUT', '/v2/alpha/app/manifests/v1', 400, []],
      ['PUT', `/v2/alpha/app/blobs/uploads/u1?digest=sha256:${hex}`, 201, []],
    ])('%s %s answered %d invalidates %j', async (method, path, status, invalidated) => {
      const { app: a, onManifestChange } = app();
      answer = (_req, res) => {
        res.writeHead(status, { 'Content-Length': '0' });
        res.end();
      };
      const r = await request(a)[method.toLowerCase() as 'put' | 'get' | 'delete'](path).set('Authorization', `Bearer ${HARBOR_TOKEN}`);
      expect(r.status).toBe(status);
      await new Promise((r) => setImmediate(r));
      expect(onManifestChange.mock.calls).toEqual(invalidated.map((repo) => [repo]));
    });

    const pushed = async (a: express.Express) => {
      answer = (_req, res) => {
        res.writeHead(201, { 'Content-Length': '0' });
        res.end();
      };
      expect((await request(a).put('/v2/alpha/app/manifests/v1').set('Authorization', `Bearer ${HARBOR_TOKEN}`).send('{}')).status).toBe(201);
      await new Promise((r) => setImmediate(r));
      return logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'image list invalidation failed');
    };

    it('nothing to invalidate when no image list is cached (no hook): no warning', async () => {
      const { app: a } = app({ onManifestChange: undefined });
      expect(await pushed(a)).toEqual([]);
    });

    it('an invalidation that fails is logged as a warning by operation id, the push still succeeds', async () => {
      const { app: a } = app({ onManifestChange: () => Promise.reject(new Error('cache unreachable')) });
      const warned = await pushed(a);
      expect(warned.map((l) => [l.level, l.operation])).toEqual([['warn', 'v2_manifest']]);
      expect(JSON.stringify(warned)).toContain('cache unreachable');
    });
  });

  describe('token endpoint', () => {
    it('GET with a hubgate login: asks Harbor as the robot, rewrites account, passes the answer, drops the cookie', async () => {
      const { app: a } = app();
      const issued = jwt({ sub: 'robot$hg-p1', exp: Math.floor(Date.now() / 1000) + 1800 });
      const harborAnswer = { token: issued, access_token: '', expires_in: 1800, issued_at: '2026-11-26T13:52:54Z' };
      answer = (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Set-Cookie': 'sid=1' });
        res.end(JSON.stringify(harborAnswer));
      };
      const r = await request(a).get('/service/token?account=hg-p1&service=harbor-registry&scope=repository:alpha/app:pull,push').set('Authorization', basic('hg-p1', PASSWORD));
      expect(r.status).toBe(200);
      // Harbor's answer, as Harbor gave it: the very token it issued.
      expect(r.body).toEqual(harborAnswer);
      expect(r.headers['set-cookie']).toBeUndefined();
      expect(r.headers['cache-control']).toBe('no-store');
      const q = new URL(seen[0].url, 'http://x').searchParams;
      expect(q.get('account')).toBe('robot$hg-p1');
      expect(q.getAll('scope')).toEqual(['repository:alpha/app:pull,push']);
      expect(seen[0].headers.authorization).toBe(basic('robot$hg-p1', PASSWORD));
    });

    it("turns Harbor's anonymous token for credentials it refused into a 401 (finding 089)", async () => {
      const { app: a } = app();
      answer = (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ token: jwt({ access: [{ type: 'repository', name: 'alpha/app', actions: [] }] }) }));
      };
      const r = await request(a).get('/service/token?service=harbor-registry&scope=repository:alpha/app:pull').set('Authorization', basic('hg-p1', PASSWORD));
      expectRefusal(r, 401, 'UNAUTHORIZED', 'unauthorized: incorrect username or password');
      expect(r.text).not.toContain('eyJ');
    });

    it('refuses anonymous token requests by default', async () => {
      const { app: a, metrics } = app();
      const r = await request(a).get('/service/token?service=harbor-registry&scope=repository:beta/base:pull');
      expectRefusal(r, 401, 'UNAUTHORIZED', "unauthorized: authentication required; log in with your project's registry credentials (user name and password from the console)");
      expect(seen).toHaveLength(0);
      expect(await metrics.registry.getSingleMetricAsString('hubgate_login_failures_total')).toMatch(/reason="anonymous"} 1/);
    });

    it('with anonymous pulls enabled, asks Harbor anonymously for the pull part of repository scopes only', async () => {
      const { app: a } = app({ allowAnonymousPull: true });
      answer = (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"token":"anon"}');
      };
      const r = await request(a).get('/service/token?service=harbor-registry&scope=repository:beta/base:pull,push&scope=registry:catalog:*&scope=repository:beta/x:push&account=x');
      expect(r.status).toBe(200);
      const q = new URL(seen[0].url, 'http://x').searchParams;
      expect(q.getAll('scope')).toEqual(['repository:beta/base:pull']);
      expect(q.get('account')).toBeNull();
      expect(seen[0].headers.authorization).toBeUndefined();
    });

    it("answers containerd's OAuth2 password grant in OAuth2 form", async () => {
      const { app: a } = app();
      const r = await request(a)
        .post('/service/token')
        .type('form')
        .send({ grant_type: 'password', username: 'hg-p1', password: PASSWORD, service: 'harbor-registry', scope: 'repository:alpha/app:pull repository:alpha/base:pull', client_id: 'containerd-client' });
      expect(r.status).toBe(200);
      expect(r.body.access_token).toBe(r.body.token);
      expect(r.body.access_token).toMatch(/^eyJ/);
      expect(r.body.expires_in).toBe(1800);
      expect(r.body.issued_at).toBe('2026-11-26T13:52:54Z');
      const q = new URL(seen[0].url, 'http://x').searchParams;
      expect(q.getAll('scope')).toEqual(['repository:alpha/app:pull', 'repository:alpha/base:pull']);
      expect(q.get('service')).toBe('harbor-registry');
      expect(seen[0].headers.authorization).toBe(basic('robot$hg-p1', PASSWORD));
    });

    it('password grant with a wrong password: 400 invalid_grant (containerd then falls back to GET)', async () => {
      const { app: a } = app();
      const r = await request(a).post('/service/token').type('form').send({ grant_type: 'password', username: 'hg-p1', password: 'nope', service: 'harbor-registry' });
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('invalid_grant');
      expect(seen).toHaveLength(0);
    });

    it('other grants and bodies are refused in OAuth2 form, other methods with 405 — never a 200 that ignores the form', async () => {
      const { app: a } = app();
      const refresh = await request(a).post('/service/token').type('form').send({ grant_type: 'refresh_token', refresh_token: 'x', service: 'harbor-registry' });
      expect(refresh.status).toBe(400);
      expect(refresh.body.error).toBe('unsupported_grant_type');
      const json = await request(a).post('/service/token').send({ grant_type: 'password' });
      expect(json.status).toBe(400);
      expect(json.body.error).toBe('invalid_request');
      const missing = await request(a).post('/service/token').type('form').send({ grant_type: 'password', username: 'hg-p1' });
      expect({ status: missing.status, body: missing.body }).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'username and password are required' } });
      const put = await request(a).put('/service/token');
      expect(put.status).toBe(405);
      expect(put.headers.allow).toBe('GET, POST');
      expect(seen).toHaveLength(0);
    });
  });
});

describe('requestPath of a plain request (no Express)', () => {
  it.each([
    ['/v2/alpha/app/tags/list?n=1&last=a', '/v2/alpha/app/tags/list'],
    ['/v2/', '/v2/'],
    ['?n=1', ''],
    [undefined, ''],
  ])('%p → %p', (url, path) => {
    expect(requestPath({ url, headers: {} } as http.IncomingMessage)).toBe(path);
  });
});
