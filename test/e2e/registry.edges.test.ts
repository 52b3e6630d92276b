/**
 * Registry-front edges over the network, with real components only (hubgate → Harbor double → Debian
 * docker-registry, redis-server, skopeo, curl):
 *
 * 1. failed-login throttling — per username (skopeo login, Basic on /v2/ and on /service/token), per client
 *    address, the block's end, the counting window's end, and two hubgate instances sharing one Redis;
 * 2. anonymous pulls — refused by default; with HUBGATE_ALLOW_ANONYMOUS_PULL=true a public workspace's image
 *    is pulled anonymously byte for byte, while private workspaces and anonymous pushes stay refused;
 * 3. Range — curl GETs slices of a multi-MB layer through hubgate (206, Content-Range, Content-Length, bytes),
 *    and HEAD keeps Content-Length and Docker-Content-Digest.
 *
 * Extra hubgate instances run in-process against the same Harbor double (test/support/stack.ts), with the same
 * credential key as the stack, so the project credentials created through the stack's API work on them too.
 */
import { randomBytes, createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  buildImage,
  clientOrSkip,
  fileDigest,
  leakedSecrets,
  run,
  startStack,
  tempDir,
  CREDENTIAL_SECRET,
  HARBOR_ADMIN_PASSWORD,
  type ProjectCredentials,
  type RunResult,
  type Stack,
} from '../support/clients';
import { expectAnswered, expectRefused } from '../support/refusals';
import { freePort } from '../support/registry';
import { startRedis, type TestRedis } from '../support/redis';
import { startHubgate, testConfig } from '../support/stack';
import { decodeToken } from '../support/tokens';

jest.setTimeout(240_000);

const need = ['skopeo', 'docker-registry', 'redis-server'].map(clientOrSkip);
for (const n of need) if (!n.available) console.warn(n.reason);
const curl = clientOrSkip('curl');
if (!curl.available) console.warn(`${curl.reason} (the Range tests need a real HTTP client)`);
const d = need.every((n) => n.available) ? describe : describe.skip;
const withCurl = curl.available ? it : it.skip;

// ------------------------------------------------------------------ helpers

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One plain HTTP request (no keep-alive), body collected as text. */
function send(base: string, method: string, pathAndQuery: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${pathAndQuery}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
const tokenPath = (scope: string) => `/service/token?service=harbor-registry&scope=${encodeURIComponent(scope)}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until cond() holds; throws after timeoutMs (a guard against hanging, not an assertion on time). */
async function eventually(what: string, cond: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await sleep(250);
  }
}

/** Harbor's envelope, exactly: `{"errors":[{"code","message"}]}` as application/json; charset=utf-8. */
function envelope(r: Reply): { code: string; message: string } {
  expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
  const parsed = JSON.parse(r.body) as { errors: { code: string; message: string }[] };
  expect(Object.keys(parsed)).toEqual(['errors']);
  expect(parsed.errors).toHaveLength(1);
  expect(Object.keys(parsed.errors[0]).sort()).toEqual(['code', 'message']);
  expect(typeof parsed.errors[0].message).toBe('string');
  return parsed.errors[0];
}

/** A 429 from the login throttle: Retry-After in 1..blockSeconds, the same number in the message. */
function expectThrottled(r: Reply, blockSeconds: number): number {
  expect(r.status).toBe(429);
  const retryAfter = String(r.headers['retry-after']);
  expect(retryAfter).toMatch(/^\d+$/);
  const seconds = Number(retryAfter);
  expect(seconds).toBeGreaterThanOrEqual(1);
  expect(seconds).toBeLessThanOrEqual(blockSeconds);
  expect(envelope(r)).toEqual({ code: 'TOO_MANY_REQUESTS', message: `too many failed logins; try again in ${seconds} seconds` });
  return seconds;
}

function expectBadLogin(r: Reply): void {
  expect(r.status).toBe(401);
  expect(r.headers['retry-after']).toBeUndefined();
  expect(envelope(r)).toEqual({ code: 'UNAUTHORIZED', message: 'unauthorized: incorrect username or password' });
}

/** Metric sample value (0 when absent). */
function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function fetchMetrics(url: string): Promise<string> {
  return (await send(url, 'GET', '/metrics')).body;
}

interface Instance {
  url: string;
  host: string;
  logs: string[];
  close(): Promise<void>;
}

/** One more hubgate, in-process, on its own port, in front of the stack's Harbor double. */
async function extraHubgate(stack: Stack, env: Record<string, string>, redisUrl?: string): Promise<Instance> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const hg = await startHubgate(
    testConfig({
      harborUrl: stack.harbor.url,
      idp: stack.idp,
      redisUrl,
      env: {
        HUBGATE_PORT: String(port),
        HUBGATE_PUBLIC_URL: url,
        HUBGATE_CREDENTIAL_SECRET: CREDENTIAL_SECRET,
        HARBOR_HEALTH_POLL_MS: '600000',
        ...env,
      },
    }),
  );
  return { url, host: `127.0.0.1:${port}`, logs: hg.logs, close: () => hg.close() };
}

/** Waits until the instance's /readyz reports Redis as reachable (its counters then go to Redis). */
async function redisConnected(url: string): Promise<void> {
  await eventually(`Redis connected for ${url}`, async () => {
    const r = await send(url, 'GET', '/readyz');
    const body = JSON.parse(r.body) as { checks?: { redis?: { ok?: boolean } } };
    return r.status === 200 && body.checks?.redis?.ok === true;
  });
}

/** The throttle's Redis key for a username (src/http/registry/throttle.ts: sha256, 32 hex, never in clear). */
/** The Redis key of a (username, client address) pair's failed-login counter. */
const userKey = (username: string, address: string) => `hubgate:cache:registry-login:p:${createHash('sha256').update(`${username}\0${address}`).digest('hex').slice(0, 32)}`;

// ------------------------------------------------------------------ 1. throttling

d('registry edges: failed-login throttling over the network', () => {
  const MAX_PER_USER = 3;
  const MAX_PER_ADDRESS = 6;
  /** Long enough that a slow client round on a busy machine still sees the block; the tests wait it out. */
  const BLOCK_SECONDS = 20;
  const throttleEnv = {
    HUBGATE_LOGIN_MAX_FAILURES: String(MAX_PER_USER),
    HUBGATE_LOGIN_MAX_FAILURES_PER_ADDRESS: String(MAX_PER_ADDRESS),
    HUBGATE_LOGIN_FAILURE_WINDOW_SECONDS: '600',
    HUBGATE_LOGIN_BLOCK_SECONDS: String(BLOCK_SECONDS),
    // Every login is checked (no "verified within the last N seconds" pass that would skip the throttle).
    HUBGATE_LOGIN_CACHE_SECONDS: '0',
    // The tests play clients behind a proxy on loopback: X-Forwarded-For names them.
    HUBGATE_TRUSTED_PROXIES: 'loopback',
  };

  let redis: TestRedis;
  let stack: Stack;
  let second: Instance;
  let work: string;
  const creds: Record<string, ProjectCredentials> = {};
  /** Every password used (right and wrong): none may appear in an answer or a log line. */
  const passwords: string[] = [];
  const wrong = () => {
    const p = `wrong-${randomBytes(8).toString('hex')}`;
    passwords.push(p);
    return p;
  };

  beforeAll(async () => {
    work = tempDir('edges-throttle');
    redis = await startRedis();
    stack = await startStack({ REDIS_URL: redis.url, ...throttleEnv });
    second = await extraHubgate(stack, throttleEnv, redis.url);
    // One project (and so one registry username) per scenario, so the counters never mix.
    for (const id of ['thr-skopeo', 'thr-http', 'thr-addr', 'thr-shared', 'thr-mixed', 'thr-cleared', 'thr-window', 'thr-window-ctl']) {
      creds[id] = await stack.project(id, [{ name: `${id}-ws`, access: 'private' }]);
      passwords.push(creds[id].password);
    }
    await redisConnected(stack.url);
    await redisConnected(second.url);
  });

  afterAll(async () => {
    await second?.close();
    await stack?.close();
    await redis?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('skopeo login: wrong passwords end in 429; the right one is refused while blocked and works after the block', async () => {
    const c = creds['thr-skopeo'];
    const authfile = path.join(work, 'skopeo-auth.json');
    const login = (password: string) => run('skopeo', ['login', '--tls-verify=false', '--authfile', authfile, '-u', c.username, '--password-stdin', stack.host], { input: password });
    const throttledBefore = metric(await stack.metrics(), 'hubgate_login_throttled_total', 'scope="username"');

    for (let i = 1; i <= MAX_PER_USER; i++) {
      const mark = stack.logs.length;
      expectRefused(await login(wrong()), /logging into \\"[0-9.:]+\\": invalid username\/password"$/);
      expectAnswered(stack.logs, mark, 401);
    }
    let mark = stack.logs.length;
    expectRefused(await login(wrong()), /authenticating creds for \\"[0-9.:]+\\": too many requests to registry"$/);
    expectAnswered(stack.logs, mark, 429);

    // The right password, while blocked: hubgate's answers over plain HTTP (/v2/ and the token service) …
    const v2 = await send(stack.url, 'GET', '/v2/', { Authorization: basic(c.username, c.password) });
    expectThrottled(v2, BLOCK_SECONDS);
    expect(v2.headers['docker-distribution-api-version']).toBe('registry/2.0');
    const token = await send(stack.url, 'GET', tokenPath(`repository:thr-skopeo-ws/app:pull`), { Authorization: basic(c.username, c.password) });
    expectThrottled(token, BLOCK_SECONDS);
    for (const r of [v2, token]) for (const p of passwords) expect(r.body).not.toContain(p);
    // … and what skopeo makes of them.
    mark = stack.logs.length;
    expectRefused(await login(c.password), /authenticating creds for \\"[0-9.:]+\\": too many requests to registry"$/);
    expectAnswered(stack.logs, mark, 429);
    expect(metric(await stack.metrics(), 'hubgate_login_throttled_total', 'scope="username"')).toBeGreaterThan(throttledBefore);

    // The block ends (polling does not extend it: a refused login while blocked is not another failure).
    await eventually('block over', async () => (await send(stack.url, 'GET', '/v2/', { Authorization: basic(c.username, c.password) })).status === 200);
    const after = await login(c.password);
    expect(after.stderr).toBe('');
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/Login Succeeded/);
  });

  it('plain HTTP: Basic failures on /v2/ and /service/token count together; the block holds for that address only', async () => {
    const c = creds['thr-http'];
    const from = (address: string, password: string, where: 'v2' | 'token') =>
      send(stack.url, 'GET', where === 'v2' ? '/v2/' : tokenPath('repository:thr-http-ws/app:pull'), {
        Authorization: basic(c.username, password),
        'X-Forwarded-For': address,
      });

    const first = await from('10.61.0.1', wrong(), 'v2');
    expectBadLogin(first);
    expect(first.headers['www-authenticate']).toBe('Basic realm="harbor"');
    expectBadLogin(await from('10.61.0.1', wrong(), 'token'));
    // The third failure reaches the limit: it is still answered as a wrong password, the block starts after it.
    expectBadLogin(await from('10.61.0.1', wrong(), 'v2'));

    const blockedV2 = await from('10.61.0.1', wrong(), 'v2');
    expectThrottled(blockedV2, BLOCK_SECONDS);
    expect(blockedV2.headers['www-authenticate']).toBeUndefined();
    expectThrottled(await from('10.61.0.1', c.password, 'v2'), BLOCK_SECONDS);
    expectThrottled(await from('10.61.0.1', c.password, 'token'), BLOCK_SECONDS);
    // Per (username, address): the project's own clients elsewhere are not locked out by someone's wrong guesses …
    const elsewhere = await from('10.61.0.99', c.password, 'token');
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.body).not.toContain(c.password);
    // … and their success does not lift the guesser's block.
    expectThrottled(await from('10.61.0.1', c.password, 'v2'), BLOCK_SECONDS);

    await eventually('block over', async () => (await from('10.61.0.1', c.password, 'token')).status === 200);
    const ok = await from('10.61.0.1', c.password, 'token');
    expect(ok.status).toBe(200);
    expect(typeof (JSON.parse(ok.body) as { token: string }).token).toBe('string');
  });

  it('per client address: many usernames failing from one address block that address for everyone, only there', async () => {
    const c = creds['thr-addr'];
    const address = '10.62.0.7';
    const throttledBefore = metric(await stack.metrics(), 'hubgate_login_throttled_total', 'scope="client"');
    // One failure per username (far below the per-username limit), MAX_PER_ADDRESS usernames.
    for (let i = 0; i < MAX_PER_ADDRESS; i++) {
      expectBadLogin(await send(stack.url, 'GET', '/v2/', { Authorization: basic(`hg-nobody-${i}`, wrong()), 'X-Forwarded-For': address }));
    }
    // Another username, with its right password, from that address: blocked.
    const there = await send(stack.url, 'GET', tokenPath('repository:thr-addr-ws/app:pull'), { Authorization: basic(c.username, c.password), 'X-Forwarded-For': address });
    expectThrottled(there, BLOCK_SECONDS);
    expect(there.body).not.toContain(c.password);
    expectThrottled(await send(stack.url, 'GET', '/v2/', { Authorization: basic(c.username, c.password), 'X-Forwarded-For': address }), BLOCK_SECONDS);
    expect(metric(await stack.metrics(), 'hubgate_login_throttled_total', 'scope="client"')).toBeGreaterThan(throttledBefore);
    // The same login from another address is fine; so is a wrong one answered as such (not 429).
    expect((await send(stack.url, 'GET', '/v2/', { Authorization: basic(c.username, c.password), 'X-Forwarded-For': '10.62.0.8' })).status).toBe(200);
    expectBadLogin(await send(stack.url, 'GET', '/v2/', { Authorization: basic('hg-nobody-x', wrong()), 'X-Forwarded-For': '10.62.0.8' }));
    // And the address works again after its block.
    await eventually('address block over', async () => (await send(stack.url, 'GET', '/v2/', { Authorization: basic(c.username, c.password), 'X-Forwarded-For': address })).status === 200);
  });

  it('two instances sharing one Redis share the counters: failures on A block that address for the user on B; other addresses log in', async () => {
    const c = creds['thr-shared'];
    for (let i = 0; i < MAX_PER_USER; i++) {
      expectBadLogin(await send(stack.url, 'GET', tokenPath('repository:thr-shared-ws/app:pull'), { Authorization: basic(c.username, wrong()), 'X-Forwarded-For': '10.63.0.1' }));
    }
    // In Redis under a hashed key (the username never in clear), blocked.
    const stored = JSON.parse(await redis.command('GET', userKey(c.username, '10.63.0.1'))) as { b: number };
    expect(stored.b).toBeGreaterThan(Date.now());

    // B never saw a failure for this user itself: the same address is blocked there.
    const onB = await send(second.url, 'GET', '/v2/', { Authorization: basic(c.username, c.password), 'X-Forwarded-For': '10.63.0.1' });
    expectThrottled(onB, BLOCK_SECONDS);
    expect(onB.body).not.toContain(c.password);
    expect(metric(await fetchMetrics(second.url), 'hubgate_login_throttled_total', 'scope="username"')).toBeGreaterThan(0);
    // skopeo from another address (loopback itself) logs in on B with the right password.
    const skopeoOnB = await run('skopeo', ['login', '--tls-verify=false', '--authfile', path.join(work, 'b-auth.json'), '-u', c.username, '--password-stdin', second.host], { input: c.password });
    expect(skopeoOnB.stderr).toBe('');
    expect(skopeoOnB.code).toBe(0);

    // When the block is over, the user logs in on B from that address; the success clears the shared counter.
    await eventually('block over on B', async () => (await send(second.url, 'GET', '/v2/', { Authorization: basic(c.username, c.password), 'X-Forwarded-For': '10.63.0.1' })).status === 200);
    expect(JSON.parse(await redis.command('GET', userKey(c.username, '10.63.0.1')))).toMatchObject({ n: 0, b: 0 });
  });

  it('two instances sharing one Redis add up their failures: 2 on A + 1 on B block the user on both', async () => {
    const c = creds['thr-mixed'];
    const fail = async (inst: { url: string }) =>
      expectBadLogin(await send(inst.url, 'GET', '/v2/', { Authorization: basic(c.username, wrong()), 'X-Forwarded-For': '10.64.0.1' }));
    await fail(stack);
    await fail(stack);
    // Two failures counted in Redis, below the limit of 3: not blocked.
    const counted = JSON.parse(await redis.command('GET', userKey(c.username, '10.64.0.1'))) as { n: number; b: number };
    expect(counted).toMatchObject({ n: 2, b: 0 });
    // The third failure, on B, reaches the limit …
    await fail(second);
    // … so the user is blocked from that address on both instances.
    for (const inst of [stack, second]) {
      expectThrottled(await send(inst.url, 'GET', '/v2/', { Authorization: basic(c.username, c.password), 'X-Forwarded-For': '10.64.0.1' }), BLOCK_SECONDS);
    }
  });

  it('two instances sharing one Redis: a success on B clears the failures A keeps in memory too', async () => {
    const c = creds['thr-cleared'];
    const v2 = (inst: { url: string }, password: string) => send(inst.url, 'GET', '/v2/', { Authorization: basic(c.username, password), 'X-Forwarded-For': '10.66.0.1' });
    expectBadLogin(await v2(stack, wrong()));
    expectBadLogin(await v2(stack, wrong()));
    expect((await v2(second, c.password)).status).toBe(200);
    // The success is recorded in Redis: no failures, no block, the time of the clear.
    const cleared = JSON.parse(await redis.command('GET', userKey(c.username, '10.66.0.1'))) as { n: number; b: number; c: number };
    expect(cleared).toMatchObject({ n: 0, b: 0 });
    expect(cleared.c).toBeGreaterThan(Date.now() - 60_000);
    // One failure since the success, not three: A must not fall back on the two it counted itself.
    expectBadLogin(await v2(stack, wrong()));
    expect(JSON.parse(await redis.command('GET', userKey(c.username, '10.66.0.1')))).toMatchObject({ n: 1, b: 0 });
    expect((await v2(stack, c.password)).status).toBe(200);
    expect((await v2(second, c.password)).status).toBe(200);
  });

  it('failures older than the counting window are forgotten (an instance with a 4 s window)', async () => {
    const WINDOW_SECONDS = 4;
    const short = await extraHubgate(stack, { ...throttleEnv, HUBGATE_LOGIN_MAX_FAILURES: '2', HUBGATE_LOGIN_FAILURE_WINDOW_SECONDS: String(WINDOW_SECONDS), HUBGATE_LOGIN_BLOCK_SECONDS: '300' });
    try {
      const attempt = (c: ProjectCredentials, password: string) => send(short.url, 'GET', '/v2/', { Authorization: basic(c.username, password), 'X-Forwarded-For': '10.65.0.1' });
      // Control: two failures in a row block (limit 2) …
      const ctl = creds['thr-window-ctl'];
      expectBadLogin(await attempt(ctl, wrong()));
      expectBadLogin(await attempt(ctl, wrong()));
      expectThrottled(await attempt(ctl, ctl.password), 300);
      // … but not when the window of the first one has passed before the second.
      const c = creds['thr-window'];
      expectBadLogin(await attempt(c, wrong()));
      await sleep(WINDOW_SECONDS * 1000 + 1500);
      expectBadLogin(await attempt(c, wrong()));
      expect((await attempt(c, c.password)).status).toBe(200);
      expect(leakedSecrets(short.logs, passwords)).toEqual([]);
    } finally {
      await short.close();
    }
  });

  it('no password, right or wrong, in any log line of either instance', () => {
    expect(passwords.length).toBeGreaterThan(20);
    expect(leakedSecrets([...stack.logs, ...second.logs], [...passwords, HARBOR_ADMIN_PASSWORD])).toEqual([]);
  });
});

// ------------------------------------------------------------------ 2. anonymous pulls, 3. Range

d('registry edges: anonymous pulls and Range through real clients', () => {
  let stack: Stack;
  /** A second hubgate in front of the same Harbor with HUBGATE_ALLOW_ANONYMOUS_PULL=true. */
  let open: Instance;
  let work: string;
  let a: ProjectCredentials;
  let image: { dir: string; manifestDigest: string; layers: { digest: string; size: number }[] };

  const creds = (c: ProjectCredentials) => `${c.username}:${c.password}`;
  const anonInspect = (host: string, repo: string) => run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--no-creds', `docker://${host}/${repo}`]);
  const anonPull = (host: string, repo: string, dest: string) =>
    run('skopeo', ['copy', '--preserve-digests', '--src-tls-verify=false', '--src-no-creds', `docker://${host}/${repo}`, `oci:${dest}:pulled`]);
  const blob = (dir: string, digest: string) => path.join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));

  beforeAll(async () => {
    stack = await startStack();
    open = await extraHubgate(stack, { HUBGATE_ALLOW_ANONYMOUS_PULL: 'true' });
    work = tempDir('edges-anon-range');
    a = await stack.project('edge-a', [
      { name: 'edge-pub', access: 'public' },
      { name: 'edge-priv', access: 'private' },
    ]);
    // A layer of a few MB (3 MiB of random bytes in a tar) and a small one.
    const built = await buildImage(path.join(work, 'src'), { layers: [{ bytes: 3 * 1024 * 1024 }, { bytes: 5000 }] });
    const manifest = JSON.parse(fs.readFileSync(blob(built.dir, built.manifest.digest), 'utf8')) as { layers: { digest: string; size: number }[] };
    image = { dir: built.dir, manifestDigest: built.manifest.digest, layers: manifest.layers };
    for (const repo of ['edge-pub/app:1', 'edge-priv/app:1']) {
      const pushed = await run('skopeo', ['copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', creds(a), `oci:${built.dir}:latest`, `docker://${stack.host}/${repo}`]);
      expect(pushed.stderr).toBe('');
      expect(pushed.code).toBe(0);
    }
  });

  afterAll(async () => {
    await open?.close();
    await stack?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  describe('anonymous pulls', () => {
    it('by default, refused even for a public workspace: skopeo --no-creds, the token service, /v2', async () => {
      // Control: the image is there and public workspaces are pullable with credentials.
      const withCreds = await run('skopeo', ['inspect', '--format', '{{.Digest}}', '--tls-verify=false', '--creds', creds(a), `docker://${stack.host}/edge-pub/app:1`]);
      expect(withCreds.stdout.trim()).toBe(image.manifestDigest);
      const anonymousBefore = metric(await stack.metrics(), 'hubgate_login_failures_total', 'reason="anonymous"');

      const anonymous = /unable to retrieve auth token: invalid username\/password: unauthorized: unauthorized: authentication required; log in with your project's registry credentials/;
      let mark = stack.logs.length;
      expectRefused(await anonInspect(stack.host, 'edge-pub/app:1'), anonymous);
      expectAnswered(stack.logs, mark, 401, 'token');
      const dest = path.join(work, 'anon-refused');
      mark = stack.logs.length;
      expectRefused(await anonPull(stack.host, 'edge-pub/app:1', dest), anonymous);
      expectAnswered(stack.logs, mark, 401, 'token');
      expect(fs.existsSync(blob(dest, image.layers[0].digest))).toBe(false);

      // docs/registry.md: "an anonymous token request gets 401" …
      const token = await stack.request('GET', tokenPath('repository:edge-pub/app:pull'));
      expect(token.status).toBe(401);
      const err = envelope({ status: token.status, headers: token.headers, body: token.body.toString() });
      expect(err.code).toBe('UNAUTHORIZED');
      expect(err.message).toMatch(/^unauthorized: authentication required; /);
      // … and /v2 without credentials the challenge pointing back at hubgate's token service.
      const manifest = await stack.request('GET', '/v2/edge-pub/app/manifests/1', { Accept: 'application/vnd.oci.image.manifest.v1+json' });
      expect(manifest.status).toBe(401);
      expect(manifest.headers['www-authenticate']).toBe(`Bearer realm="${stack.url}/service/token",service="harbor-registry",scope="repository:edge-pub/app:pull"`);
      expect(envelope({ status: manifest.status, headers: manifest.headers, body: manifest.body.toString() }).code).toBe('UNAUTHORIZED');
      expect(metric(await stack.metrics(), 'hubgate_login_failures_total', 'reason="anonymous"')).toBeGreaterThanOrEqual(anonymousBefore + 2);
    });

    it('with HUBGATE_ALLOW_ANONYMOUS_PULL=true: skopeo copies the public image anonymously, byte for byte', async () => {
      const inspected = await anonInspect(open.host, 'edge-pub/app:1');
      expect(inspected.code).toBe(0);
      expect(createHash('sha256').update(inspected.stdout).digest('hex')).toBe(image.manifestDigest.slice(7));
      const dest = path.join(work, 'anon-pulled');
      const copied = await anonPull(open.host, 'edge-pub/app:1', dest);
      expect(copied.stderr).toBe('');
      expect(copied.code).toBe(0);
      expect(await fileDigest(blob(dest, image.manifestDigest))).toBe(image.manifestDigest);
      for (const l of image.layers) {
        const got = fs.readFileSync(blob(dest, l.digest));
        expect(got.length).toBe(l.size);
        expect(got.equals(fs.readFileSync(blob(image.dir, l.digest)))).toBe(true);
      }
    });

    it('with HUBGATE_ALLOW_ANONYMOUS_PULL=true: a private workspace stays closed to anonymous clients', async () => {
      const privatePull = /reading manifest 1 in [0-9.:]+\/edge-priv\/app: unauthorized: unauthorized to access repository: edge-priv\/app, action: pull/;
      let mark = open.logs.length;
      expectRefused(await anonInspect(open.host, 'edge-priv/app:1'), privatePull);
      expectAnswered(open.logs, mark, 401);
      const dest = path.join(work, 'anon-priv');
      mark = open.logs.length;
      expectRefused(await anonPull(open.host, 'edge-priv/app:1', dest), privatePull);
      expectAnswered(open.logs, mark, 401);
      expect(fs.existsSync(blob(dest, image.layers[0].digest))).toBe(false);
      // The token Harbor issues anonymously grants nothing on it …
      const t = await send(open.url, 'GET', tokenPath('repository:edge-priv/app:pull'));
      expect(t.status).toBe(200);
      const { payload } = decodeToken((JSON.parse(t.body) as { token: string }).token);
      expect(payload.access).toEqual([{ type: 'repository', name: 'edge-priv/app', actions: [] }]);
      // … and a blob GET with it is refused by Harbor.
      const got = await send(open.url, 'GET', `/v2/edge-priv/app/blobs/${image.layers[1].digest}`, { Authorization: `Bearer ${(JSON.parse(t.body) as { token: string }).token}` });
      expect({ status: got.status, ...envelope(got) }).toEqual({ status: 401, code: 'UNAUTHORIZED', message: 'unauthorized to access repository: edge-priv/app, action: pull: unauthorized to access repository: edge-priv/app, action: pull' });
      // With the owner's credentials it is there (so the refusals above are about anonymity).
      expect((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', creds(a), `docker://${open.host}/edge-priv/app:1`])).code).toBe(0);
    });

    it('with HUBGATE_ALLOW_ANONYMOUS_PULL=true: an anonymous push to the public workspace is refused', async () => {
      const other = await buildImage(path.join(work, 'anon-push'), { layers: [{ bytes: 2000 }], label: 'anonymous' });
      const mark = open.logs.length;
      const pushed = await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-no-creds', `oci:${other.dir}:latest`, `docker://${open.host}/edge-pub/anon:1`]);
      expectRefused(pushed, /initiating layer upload to \/v2\/edge-pub\/anon\/blobs\/uploads\/ in [0-9.:]+: unauthorized: unauthorized to access repository: edge-pub\/anon, action: push/);
      expectAnswered(open.logs, mark, 401);
      // Asking for push anonymously yields pull only.
      const t = await send(open.url, 'GET', tokenPath('repository:edge-pub/anon:pull,push'));
      expect(t.status).toBe(200);
      expect(decodeToken((JSON.parse(t.body) as { token: string }).token).payload.access).toEqual([{ type: 'repository', name: 'edge-pub/anon', actions: ['pull'] }]);
      // Nothing landed.
      const check = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', creds(a), `docker://${stack.host}/edge-pub/anon:1`]);
      expect(check.code).toBe(1);
      // Nothing was created: Harbor does not know the repository at all (real Harbor 2.5.5's wording).
      expect(check.stderr).toMatch(/reading manifest 1 in [0-9.:]+\/edge-pub\/anon: unknown: repository edge-pub\/anon not found/);
      const tags = await run('skopeo', ['list-tags', '--tls-verify=false', '--creds', creds(a), `docker://${stack.host}/edge-pub/app`]);
      expect(JSON.parse(tags.stdout)).toEqual({ Repository: `${stack.host}/edge-pub/app`, Tags: ['1'] });
    });
  });

  describe('Range through curl', () => {
    let bearer: string;
    let whole: Buffer;
    let layer: { digest: string; size: number };

    /** curl through hubgate; headers from its dump file (one response: no redirects are followed). */
    const curlBlob = async (args: string[], name: string): Promise<{ result: RunResult; status: number; headers: Record<string, string>; body: Buffer; downloaded: number }> => {
      const hdrs = path.join(work, `${name}.headers`);
      const body = path.join(work, `${name}.body`);
      const result = await run('curl', [
        '-sS',
        '--max-time',
        '120',
        '-D',
        hdrs,
        '-o',
        body,
        '-w',
        '%{size_download}',
        '-H',
        `Authorization: Bearer ${bearer}`,
        ...args,
        `${stack.url}/v2/edge-pub/app/blobs/${layer.digest}`,
      ]);
      const lines = fs.existsSync(hdrs) ? fs.readFileSync(hdrs, 'utf8').split(/\r?\n/) : [''];
      const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0])?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      // With -I curl writes the header block to -o as well; size_download counts body bytes only.
      return { result, status, headers, body: fs.existsSync(body) ? fs.readFileSync(body) : Buffer.alloc(0), downloaded: Number(result.stdout.trim()) };
    };

    beforeAll(async () => {
      if (!curl.available) return;
      layer = image.layers[0];
      expect(layer.size).toBeGreaterThan(3 * 1024 * 1024);
      // The layer as pulled whole by a registry client.
      const dest = path.join(work, 'whole');
      const pulled = await run('skopeo', ['copy', '--preserve-digests', '--src-tls-verify=false', '--src-creds', creds(a), `docker://${stack.host}/edge-pub/app:1`, `oci:${dest}:1`]);
      expect(pulled.code).toBe(0);
      whole = fs.readFileSync(blob(dest, layer.digest));
      expect(whole.length).toBe(layer.size);
      expect(`sha256:${createHash('sha256').update(whole).digest('hex')}`).toBe(layer.digest);
      // A pull token from hubgate's token service with the project credentials.
      const t = await stack.request('GET', tokenPath('repository:edge-pub/app:pull'), { Authorization: basic(a.username, a.password) });
      expect(t.status).toBe(200);
      bearer = (JSON.parse(t.body.toString()) as { token: string }).token;
      expect(decodeToken(bearer).payload.access).toEqual([{ type: 'repository', name: 'edge-pub/app', actions: expect.arrayContaining(['pull']) }]);
    });

    withCurl('GET with Range: bytes=100-199 → 206 with exactly those 100 bytes', async () => {
      const r = await curlBlob(['-H', 'Range: bytes=100-199'], 'closed');
      expect(r.result.stderr).toBe('');
      expect(r.result.code).toBe(0);
      expect(r.status).toBe(206);
      expect(r.headers['content-range']).toBe(`bytes 100-199/${layer.size}`);
      expect(r.headers['content-length']).toBe('100');
      expect(r.body.length).toBe(100);
      expect(r.downloaded).toBe(100);
      expect(r.body.equals(whole.subarray(100, 200))).toBe(true);
    });

    withCurl('GET with an open range bytes=1000- → 206 with the rest of the layer', async () => {
      const r = await curlBlob(['-H', 'Range: bytes=1000-'], 'open');
      expect(r.result.code).toBe(0);
      expect(r.status).toBe(206);
      expect(r.headers['content-range']).toBe(`bytes 1000-${layer.size - 1}/${layer.size}`);
      expect(r.headers['content-length']).toBe(String(layer.size - 1000));
      expect(r.body.length).toBe(layer.size - 1000);
      expect(r.body.equals(whole.subarray(1000))).toBe(true);
    });

    withCurl('GET without Range → 200 with the whole layer (control)', async () => {
      const r = await curlBlob([], 'full');
      expect(r.result.code).toBe(0);
      expect(r.status).toBe(200);
      expect(r.headers['content-range']).toBeUndefined();
      expect(r.headers['content-length']).toBe(String(layer.size));
      expect(r.headers['docker-content-digest']).toBe(layer.digest);
      expect(r.body.equals(whole)).toBe(true);
    });

    withCurl('HEAD → Content-Length and Docker-Content-Digest unchanged, no body', async () => {
      const r = await curlBlob(['-I'], 'head');
      expect(r.result.stderr).toBe('');
      expect(r.result.code).toBe(0);
      expect(r.status).toBe(200);
      expect(r.headers['content-length']).toBe(String(layer.size));
      expect(r.headers['docker-content-digest']).toBe(layer.digest);
      expect(r.downloaded).toBe(0);
    });
  });
});
