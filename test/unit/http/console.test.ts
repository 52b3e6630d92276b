/**
 * The console's server side (src/http/console.ts) and what the console relies on in the API: strict CSP and
 * caching, config.json, a clear 503 when the console is not built, nothing mounted when it is disabled, no path
 * escapes; GET /me; the workspace list's server-side sort. The local issuer's code flow (test/support/oidc-login.ts)
 * refuses what a real Keycloak refuses: bad PKCE verifiers, reused codes, unregistered redirect URIs.
 */
import request from 'supertest';
import type { Express } from 'express';
import fs, { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { createApp, type AppDeps } from '../../../src/http/app';
import { consoleCsp, consoleRouter, defaultConsoleDir } from '../../../src/http/console';
import { CredentialsService } from '../../../src/domain/credentials.service';
import { WorkspacesService } from '../../../src/domain/workspaces.service';
import { silentLogger } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';
import { createOidcVerifier } from '../../../adapters/identity/oidc.verifier';
import { createInProcessCoordination } from '../../../adapters/redis/redis.coordination';
import { loadConfig } from '../../../src/config';
import { FakeHarbor } from '../../support/fake-harbor';
import { captureLogger } from '../../support/capture-logger';
import { startJwks, type TestIdp } from '../../support/tokens';
import { enableCodeFlow, SANDBOX_USERS } from '../../support/oidc-login';

const teamA = { id: 'proj-a', name: 'Team A', department: 'dept-1' };
let idp: TestIdp;
let dir: string;
const logger = silentLogger;

function build(extra: Partial<AppDeps> = {}): Express {
  const harbor = new FakeHarbor();
  const coordination = createInProcessCoordination();
  const metrics = createMetrics({ defaultMetrics: false });
  const credentials = new CredentialsService({ harbor, coordination, logger, metrics, secret: 'k'.repeat(40), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
  const workspaces = new WorkspacesService({ harbor, credentials, coordination, cache: coordination, logger, registryHost: 'hub.example.test', reserved: [], catalogTtlSeconds: 5 });
  return createApp({
    logger,
    metrics,
    verifier: createOidcVerifier({ ...idp.oidcConfig(), logger }),
    workspaces,
    credentials,
    readiness: async () => ({ ready: true, degraded: false, checks: {} }),
    registryHost: 'hub.example.test',
    registryInsecure: true,
    publicUrl: 'http://hub.example.test',
    version: 'test',
    ...extra,
  });
}

const consoleUi = (d: string | undefined) => consoleRouter({ dir: d, oidcIssuer: idp.issuer, clientId: 'hubgate', scope: 'openid profile', version: 'test', logger });

beforeAll(async () => {
  idp = await startJwks();
  dir = mkdtempSync(join(tmpdir(), 'hubgate-console-unit-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="assets/app-ABC.js"></script>');
  writeFileSync(join(dir, 'assets/app-ABC.js'), 'console.log(1)');
  writeFileSync(join(dir, 'secret.txt'), 'outside the assets folder');
});

afterAll(async () => {
  await idp.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The headers every answer under /console carries, the 503 of an unbuilt console included. */
const expectSecured = (res: request.Response) =>
  expect({
    csp: res.headers['content-security-policy'],
    nosniff: res.headers['x-content-type-options'],
    referrer: res.headers['referrer-policy'],
    frames: res.headers['x-frame-options'],
    opener: res.headers['cross-origin-opener-policy'],
  }).toEqual({
    csp:
      `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ${new URL(idp.issuer).origin}; ` +
      "form-action 'none'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'; manifest-src 'self'",
    nosniff: 'nosniff',
    referrer: 'no-referrer',
    frames: 'DENY',
    opener: 'same-origin',
  });

/** The API request counter's line for an operation id (dashboards and alerts select by these ids). */
const counted = async (metrics: ReturnType<typeof createMetrics>, operation: string, statusClass: string) =>
  (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(`hubgate_http_requests_total{operation="${operation}",method="GET",status_class="${statusClass}"}`));

// Each test builds its own router: the CSP and config.json are computed when the router is built, and StrykerJS
// (coverageAnalysis perTest) credits only code that runs inside a test, not in beforeAll.
describe('the console at /console', () => {
  it('serves the page with a strict CSP (no inline code; only the issuer besides itself), never cached, counted as console_page', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const app = build({ consoleUi: consoleUi(dir), metrics });
    const res = await request(app).get('/console/');
    expect(res.status).toBe(200);
    expect(res.text).toContain('assets/app-ABC.js');
    expectSecured(res);
    expect(res.headers['cache-control']).toBe('no-cache');
    // client-side routes get the page too; /console itself redirects, and so does /
    expect((await request(app).get('/console/images/own')).text).toContain('app-ABC.js');
    expect((await request(app).get('/console')).headers.location).toBe('/console/');
    expect((await request(app).get('/')).headers.location).toBe('/console/');
    expect(await counted(metrics, 'console_page', '2xx')).toEqual(['hubgate_http_requests_total{operation="console_page",method="GET",status_class="2xx"} 2']);
    expect(await counted(metrics, 'console_page', '3xx')).toEqual(['hubgate_http_requests_total{operation="console_page",method="GET",status_class="3xx"} 1']);
  });

  it('the page is not served where a path only ends like a client route: under assets/, or below a segment with a dot', async () => {
    const app = build({ consoleUi: consoleUi(dir) });
    for (const p of ['/console/assets/nope', '/console/assets/sub/route', '/console/v1.2/images']) {
      const r = await request(app).get(p);
      expect({ p, status: r.status, page: r.text.includes('app-ABC.js') }).toEqual({ p, status: 404, page: false });
    }
  });

  it("the CSP's connect-src names the issuer's origin only (no path, port kept)", () => {
    expect(consoleCsp('https://sso.example:8443/realms/r?x=1')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' https://sso.example:8443; " +
        "form-action 'none'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'; manifest-src 'self'",
    );
  });

  it('serves hashed assets cached for a year, counted as console_asset; nothing outside assets/, no traversal', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const app = build({ consoleUi: consoleUi(dir), metrics });
    const res = await request(app).get('/console/assets/app-ABC.js');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expectSecured(res);
    expect(await counted(metrics, 'console_asset', '2xx')).toEqual(['hubgate_http_requests_total{operation="console_asset",method="GET",status_class="2xx"} 1']);
    for (const p of ['/console/assets/../secret.txt', '/console/assets/%2e%2e/secret.txt', '/console/secret.txt', '/console/assets/nope.js']) {
      const r = await request(app).get(p);
      expect({ p, status: r.status, leaked: r.text.includes('outside the assets folder') }).toEqual({ p, status: 404, leaked: false });
    }
  });

  it('config.json tells the page where to sign in (public client, no secret), never cached, counted as console_config', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const app = build({ consoleUi: consoleUi(dir), metrics });
    const res = await request(app).get('/console/config.json');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ issuer: idp.issuer, clientId: 'hubgate', scope: 'openid profile', apiBase: 'api/v1', version: 'test' });
    expect(res.headers['cache-control']).toBe('no-cache');
    expectSecured(res);
    expect(await counted(metrics, 'console_config', '2xx')).toEqual(['hubgate_http_requests_total{operation="console_config",method="GET",status_class="2xx"} 1']);
  });

  it('not built: 503 in the error envelope naming the fix on every path (counted as console), config.json still served, a warning naming the folder', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'hubgate-console-empty-'));
    try {
      const log = captureLogger();
      const metrics = createMetrics({ defaultMetrics: false });
      const unbuilt = build({ consoleUi: consoleRouter({ dir: empty, oidcIssuer: idp.issuer, clientId: 'hubgate', scope: 'openid profile', version: 'test', logger: log }), metrics });
      expect(log.lines).toEqual([
        { level: 'warn', msg: 'console enabled but not built: run npm run build (or set HUBGATE_CONSOLE_DIR, or HUBGATE_CONSOLE_ENABLED=false)', fields: { dir: empty } },
      ]);
      for (const p of ['/console/', '/console/assets/app-ABC.js']) {
        const res = await request(unbuilt).get(p);
        expect({ p, status: res.status, body: res.body }).toEqual({
          p,
          status: 503,
          body: { errors: [{ code: 'SERVICE_UNAVAILABLE', message: 'the console is not built on this server: run npm run build' }] },
        });
        expectSecured(res);
      }
      expect(await counted(metrics, 'console', '5xx')).toEqual(['hubgate_http_requests_total{operation="console",method="GET",status_class="5xx"} 2']);
      const config = await request(unbuilt).get('/console/config.json');
      expect([config.status, config.body.apiBase]).toEqual([200, 'api/v1']);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('disabled (HUBGATE_CONSOLE_ENABLED=false): nothing at /console, / is not redirected', async () => {
    const off = build();
    expect((await request(off).get('/console/')).status).toBe(404);
    expect((await request(off).get('/')).status).toBe(404);
  });

  it('settings: on by default, issuer and client id default to the API\'s, overridable', () => {
    const base = { HARBOR_URL: 'http://h', HARBOR_ADMIN_PASSWORD: 'x', OIDC_ISSUER: 'http://kc/realms/r', OIDC_AUDIENCE: 'hubgate', HUBGATE_CREDENTIAL_SECRET: 's'.repeat(40) };
    expect(loadConfig(base).console).toEqual({ enabled: true, dir: undefined, oidcIssuer: 'http://kc/realms/r', clientId: 'hubgate', scope: 'openid profile' });
    const c = loadConfig({ ...base, HUBGATE_CONSOLE_ENABLED: 'false', HUBGATE_CONSOLE_OIDC_ISSUER: 'https://sso.example/realms/r', HUBGATE_CONSOLE_OIDC_CLIENT_ID: 'console', HUBGATE_CONSOLE_DIR: '/srv/console' }).console;
    expect(c).toEqual({ enabled: false, dir: '/srv/console', oidcIssuer: 'https://sso.example/realms/r', clientId: 'console', scope: 'openid profile' });
    expect(() => loadConfig({ ...base, HUBGATE_CONSOLE_ENABLED: 'maybe' })).toThrow('HUBGATE_CONSOLE_ENABLED must be true or false, got "maybe"');
    expect(() => loadConfig({ ...base, HUBGATE_CONSOLE_OIDC_ISSUER: 'ftp://x' })).toThrow('HUBGATE_CONSOLE_OIDC_ISSUER must be an http(s) URL');
  });
});

describe('GET /api/v1/me and the workspace sort', () => {
  let app: Express;
  beforeAll(() => {
    app = build({ gcAllowMembers: false });
  });

  it('shows the caller as hubgate maps the token; 401 without one', async () => {
    const alice = await idp.memberToken({ sub: 'u-alice', username: 'alice', projects: [teamA] });
    const res = await request(app).get('/api/v1/me').set('Authorization', `Bearer ${alice}`);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({ userId: 'u-alice', username: 'alice', cloudAdmin: false, projects: [teamA], mayRunGc: false });
    const admin = await idp.adminToken({ sub: 'u-root', username: 'root' });
    expect((await request(app).get('/api/v1/me').set('Authorization', `Bearer ${admin}`)).body).toMatchObject({ cloudAdmin: true, mayRunGc: true });
    const anon = await request(app).get('/api/v1/me');
    expect(anon.status).toBe(401);
    expect(anon.body.errors[0].code).toBe('UNAUTHORIZED');
    const members = build({ gcAllowMembers: true });
    expect((await request(members).get('/api/v1/me').set('Authorization', `Bearer ${alice}`)).body.mayRunGc).toBe(true);
  });

  it('sorts workspaces by name or creation time, both directions; refuses other orders', async () => {
    const alice = await idp.memberToken({ sub: 'u-alice', username: 'alice', projects: [teamA] });
    for (const name of ['ws-b', 'ws-c', 'ws-a']) {
      expect((await request(app).post('/api/v1/workspaces').set('Authorization', `Bearer ${alice}`).send({ name, projectId: teamA.id })).status).toBe(201);
      await new Promise((r) => setTimeout(r, 5)); // distinct creation times
    }
    const names = async (sort: string) => (await request(app).get(`/api/v1/workspaces?sort=${sort}`).set('Authorization', `Bearer ${alice}`)).body.items.map((w: { name: string }) => w.name);
    expect(await names('name')).toEqual(['ws-a', 'ws-b', 'ws-c']);
    expect(await names('-name')).toEqual(['ws-c', 'ws-b', 'ws-a']);
    const created = await names('created');
    expect(created).toEqual(['ws-b', 'ws-c', 'ws-a']);
    expect(await names('-created')).toEqual([...created].reverse());
    const bad = await request(app).get('/api/v1/workspaces?sort=size').set('Authorization', `Bearer ${alice}`);
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].code).toBe('BAD_REQUEST');
  });
});

describe("the sandbox issuer's code flow (PKCE S256)", () => {
  const redirect = 'http://127.0.0.1:9/console/';
  const verifier = 'v'.repeat(50);
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  let flow: ReturnType<typeof enableCodeFlow>;
  const oidc = () => `${idp.issuer}/protocol/openid-connect`;
  beforeAll(() => {
    flow = enableCodeFlow(idp, { clientId: 'hubgate', redirectPrefixes: [redirect], users: SANDBOX_USERS });
  });

  const authorize = async (overrides: Record<string, string> = {}) => {
    const form = new URLSearchParams({ username: 'alice', client_id: 'hubgate', redirect_uri: redirect, state: 'st', code_challenge: challenge, code_challenge_method: 'S256', ...overrides });
    return fetch(`${oidc()}/auth`, { method: 'POST', body: form, redirect: 'manual' });
  };
  const token = (form: Record<string, string>) => fetch(`${oidc()}/token`, { method: 'POST', body: new URLSearchParams({ client_id: 'hubgate', ...form }) });

  it('discovery names the endpoints; the sign-in page lists the ready users without scripts', async () => {
    const d = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(d).toMatchObject({ authorization_endpoint: `${oidc()}/auth`, token_endpoint: `${oidc()}/token`, code_challenge_methods_supported: ['S256'] });
    const q = new URLSearchParams({ response_type: 'code', client_id: 'hubgate', redirect_uri: redirect, state: 's', code_challenge: challenge, code_challenge_method: 'S256' });
    const page = await fetch(`${oidc()}/auth?${q}`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).not.toContain('<script');
    for (const u of SANDBOX_USERS) expect(html).toContain(`id="user-${u.username}"`);
    const plain = await fetch(`${oidc()}/auth?${new URLSearchParams({ ...Object.fromEntries(q), code_challenge_method: 'plain' })}`);
    expect([plain.status, await plain.text()]).toEqual([400, 'invalid_request: PKCE with code_challenge_method=S256 is required']);
    const elsewhere = await fetch(`${oidc()}/auth?${new URLSearchParams({ ...Object.fromEntries(q), redirect_uri: 'http://evil.example/console/' })}`);
    expect([elsewhere.status, await elsewhere.text()]).toEqual([400, 'invalid_request: redirect_uri is not registered for this client']);
  });

  it('code → tokens hubgate accepts; the code works once; a wrong verifier fails; refresh rotates', async () => {
    const res = await authorize();
    expect(res.status).toBe(302);
    const to = new URL(res.headers.get('location')!);
    expect(to.searchParams.get('state')).toBe('st');
    const code = to.searchParams.get('code')!;

    const wrong = await token({ grant_type: 'authorization_code', code, redirect_uri: redirect, code_verifier: 'w'.repeat(50) });
    expect([wrong.status, await wrong.json()]).toEqual([400, { error: 'invalid_grant', error_description: 'PKCE verification failed' }]);
    // the failed attempt used the code up
    const again = await token({ grant_type: 'authorization_code', code, redirect_uri: redirect, code_verifier: verifier });
    expect([again.status, ((await again.json()) as { error: string }).error]).toEqual([400, 'invalid_grant']);

    const code2 = new URL((await authorize()).headers.get('location')!).searchParams.get('code')!;
    const ok = await token({ grant_type: 'authorization_code', code: code2, redirect_uri: redirect, code_verifier: verifier });
    const t = (await ok.json()) as { access_token: string; refresh_token: string; expires_in: number };
    expect(ok.status).toBe(200);
    const app = build();
    const me = await request(app).get('/api/v1/me').set('Authorization', `Bearer ${t.access_token}`);
    expect(me.body).toMatchObject({ userId: 'u-alice', username: 'alice', projects: SANDBOX_USERS[0].projects });

    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: t.refresh_token });
    expect(refreshed.status).toBe(200);
    const reused = await token({ grant_type: 'refresh_token', refresh_token: t.refresh_token });
    expect([reused.status, ((await reused.json()) as { error: string }).error]).toEqual([400, 'invalid_grant']);
    expect(flow.grants).toEqual({ authorization_code: 1, refresh_token: 1 });
  });
});

describe('defaultConsoleDir: the build next to the code', () => {
  const root = join(__dirname, '../../..');
  /** defaultConsoleDir with only the given index.html files present. */
  const found = (present: string[]) => {
    const spy = jest.spyOn(fs, 'existsSync').mockImplementation((p) => present.includes(String(p)));
    try {
      return defaultConsoleDir();
    } finally {
      spy.mockRestore();
    }
  };

  it('seen from src/http: ../../console (dist/console once built to dist/src/http) first, then ../../dist/console, else none', () => {
    expect(found([join(root, 'console/index.html')])).toBe(join(root, 'console'));
    expect(found([join(root, 'dist/console/index.html')])).toBe(join(root, 'dist/console'));
    expect(found([join(root, 'console/index.html'), join(root, 'dist/console/index.html')])).toBe(join(root, 'console'));
    // a folder without index.html is no build
    expect(found([join(root, 'console'), join(root, 'dist/console')])).toBeUndefined();
  });

  it('consoleRouter without a folder serves that build', async () => {
    const index = join(root, 'console/index.html');
    const exists = jest.spyOn(fs, 'existsSync').mockImplementation((p) => String(p) === index);
    const realRead = fs.readFileSync;
    const read = jest.spyOn(fs, 'readFileSync').mockImplementation(((p: fs.PathOrFileDescriptor, o?: unknown) =>
      String(p) === index ? Buffer.from('<!doctype html><title>the default build</title>') : realRead(p, o as BufferEncoding)) as typeof fs.readFileSync);
    let ui: ReturnType<typeof consoleRouter>;
    try {
      ui = consoleUi(undefined);
    } finally {
      exists.mockRestore();
      read.mockRestore();
    }
    const res = await request(build({ consoleUi: ui })).get('/console/');
    expect([res.status, res.text]).toEqual([200, '<!doctype html><title>the default build</title>']);
  });

  it('consoleRouter without a folder and no build: 503, and the warning says dir null', async () => {
    const log = captureLogger();
    const exists = jest.spyOn(fs, 'existsSync').mockReturnValue(false);
    let ui: ReturnType<typeof consoleRouter>;
    try {
      ui = consoleRouter({ oidcIssuer: idp.issuer, clientId: 'hubgate', scope: 'openid profile', version: 'test', logger: log });
    } finally {
      exists.mockRestore();
    }
    expect(log.lines.map((l) => [l.level, l.fields])).toEqual([['warn', { dir: null }]]);
    expect((await request(build({ consoleUi: ui })).get('/console/')).status).toBe(503);
  });
});
