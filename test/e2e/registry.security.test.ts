/**
 * The registry front as an attacker meets it, over the network with real components (hubgate → Harbor double →
 * Debian docker-registry; Debian nginx as Harbor's own front; skopeo and raw sockets as clients):
 *
 * 1. no unauthenticated read of any workspace, public or private, whatever the Authorization header says — junk
 *    bearer tokens, unsigned and forged JWTs, Harbor's own anonymous token fetched around hubgate — in both bearer
 *    modes (signature against the token service certificate, and the record of issued tokens). The Harbor double
 *    reads a token it cannot verify as anonymous, like Harbor, so a token passed on unchecked is a public pull;
 * 2. no path outside the distribution API and the token service reaches Harbor: a table of request targets (dot
 *    segments raw and encoded, encoded slashes, `//`, backslashes, path parameters, …) sent byte for byte with valid
 *    project credentials, against a core-like upstream (the double) and two nginx-like ones (Debian nginx in front
 *    of the double, and the double's own nginx listener, both resolving `..%2f` the way Harbor's nginx does);
 * 3. a client that goes away releases the upstream socket within a second, an upstream that stalls gets a 504, a
 *    client that trickles its headers is cut, and one address cannot hold more than its share of connections.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { buildImage, run, startStack, tempDir, CREDENTIAL_SECRET, type ProjectCredentials, type Stack } from '../support/clients';
import { requireTools } from '../support/tools';
import { startHubgate, testConfig } from '../support/stack';
import { startHarborNginx, type RunningNginx } from '../support/nginx';
import { signingMaterial } from '../harbor-double/keys';
import { signToken } from '../harbor-double/jwt';
import { freePort } from '../support/registry';
import { notChecked, REAL_HARBOR } from '../support/real-harbor';

/**
 * Against a real Harbor (npm run test:harbor): its token service certificate (the kit's conf/secret/root.crt) for
 * the signature mode, and its own nginx as the nginx-fronted upstream. Without them those parts are skipped with
 * a printed reason.
 */
const REAL_TOKEN_CERT = process.env.HUBGATE_TEST_HARBOR_TOKEN_CERT;
const REAL_NGINX_URL = process.env.HUBGATE_TEST_HARBOR_NGINX_URL;
if (REAL_HARBOR && !REAL_TOKEN_CERT) console.warn('[real Harbor] HUBGATE_TEST_HARBOR_TOKEN_CERT not set: the signature mode is not tested');
if (REAL_HARBOR && !REAL_NGINX_URL) console.warn('[real Harbor] HUBGATE_TEST_HARBOR_NGINX_URL not set: the nginx-fronted upstream is not tested');

jest.setTimeout(240_000);

// Under CI a missing tool fails the file (test/support/tools.ts); locally it skips with what is missing.
const tools = requireTools('registry security e2e', ['skopeo', 'docker-registry', 'nginx']);
const d = tools.available ? describe : describe.skip;

// ------------------------------------------------------------------ helpers

interface Raw {
  status: number;
  head: string;
  body: string;
}

/** Sends a request target byte for byte (no client-side normalisation) and reads the answer. */
function rawRequest(base: string, method: string, target: string, headers: Record<string, string> = {}): Promise<Raw> {
  const u = new URL(base);
  return new Promise((resolve) => {
    const socket = net.connect(Number(u.port), u.hostname);
    const lines = [`${method} ${target} HTTP/1.1`, `Host: ${u.host}`, 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''];
    let data = '';
    socket.on('connect', () => socket.write(lines.join('\r\n')));
    const done = () => {
      const i = data.indexOf('\r\n\r\n');
      if (i < 0) return false;
      if (method === 'HEAD') return true;
      const len = /\r\ncontent-length: *(\d+)/i.exec(data.slice(0, i));
      return len ? data.length - i - 4 >= Number(len[1]) : false;
    };
    // Answers end at their Content-Length (HEAD: at the headers), or when the connection closes.
    socket.on('data', (c: Buffer) => {
      data += c.toString('latin1');
      if (done()) socket.destroy();
    });
    // A connection refused or reset by hubgate is an answer too: status 0.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const i = data.indexOf('\r\n\r\n');
      const head = i < 0 ? data : data.slice(0, i);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, body: i < 0 ? '' : data.slice(i + 4) });
    });
    socket.setTimeout(15_000, () => socket.destroy());
  });
}

const basic = (c: ProjectCredentials) => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const b64u = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function within(ms: number, what: string, cond: () => boolean): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(10);
  }
  return Date.now() - start;
}

interface Instance {
  url: string;
  host: string;
  logs: string[];
  close(): Promise<void>;
}

async function hubgateFor(stack: Stack, harborUrl: string, env: Record<string, string> = {}): Promise<Instance> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const hg = await startHubgate(
    testConfig({
      harborUrl,
      idp: stack.idp,
      env: { HUBGATE_PORT: String(port), HUBGATE_PUBLIC_URL: url, HUBGATE_CREDENTIAL_SECRET: CREDENTIAL_SECRET, HARBOR_HEALTH_POLL_MS: '600000', ...env },
    }),
  );
  return { url, host: `127.0.0.1:${port}`, logs: hg.logs, close: () => hg.close() };
}

// ------------------------------------------------------------------ 1 + 2: tokens and paths

d('registry front security: tokens and paths', () => {
  let stack: Stack;
  let work: string;
  let nginx: RunningNginx | undefined;
  /** hubgate instances to test, by bearer mode / upstream shape (only those this run can set up). */
  const modes: ('record' | 'signature')[] = REAL_HARBOR && !REAL_TOKEN_CERT ? ['record'] : ['record', 'signature'];
  let a: ProjectCredentials;
  let certFile: string;
  /** hubgate instances: record mode (the stack), signature mode, and one whose Harbor is nginx. */
  let signed: Instance | undefined;
  let viaNginx: Instance | undefined;
  /** hubgate whose Harbor is the double's own nginx listener (`nginx: true`: paths normalised as Harbor's nginx does). */
  let viaDoubleNginx: Instance | undefined;

  beforeAll(async () => {
    stack = await startStack({}, { nginx: true });
    work = tempDir('security');
    certFile = path.join(work, 'token.crt');
    fs.writeFileSync(certFile, REAL_HARBOR ? (REAL_TOKEN_CERT ? fs.readFileSync(REAL_TOKEN_CERT, 'utf8') : '') : signingMaterial().certPem);
    if (!REAL_HARBOR) nginx = await startHarborNginx(work, stack.harbor.url);
    const nginxUrl = REAL_HARBOR ? REAL_NGINX_URL : nginx?.url;
    if (modes.includes('signature')) signed = await hubgateFor(stack, stack.harbor.url, { HARBOR_TOKEN_CERT_FILE: certFile });
    if (nginxUrl) viaNginx = await hubgateFor(stack, nginxUrl);
    if (!REAL_HARBOR) viaDoubleNginx = await hubgateFor(stack, stack.harbor.nginxUrl!);
    a = await stack.project('sec-a', [
      { name: 'sec-pub', access: 'public' },
      { name: 'sec-priv', access: 'private' },
    ]);
    const built = await buildImage(path.join(work, 'img'), { layers: [{ bytes: 2048 }] });
    for (const repo of ['sec-pub/app:1', 'sec-priv/app:1']) {
      const pushed = await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `${a.username}:${a.password}`, `oci:${built.dir}:latest`, `docker://${stack.host}/${repo}`]);
      expect(pushed.stderr).toBe('');
      expect(pushed.code).toBe(0);
    }
  });

  afterAll(async () => {
    await signed?.close();
    await viaNginx?.close();
    await viaDoubleNginx?.close();
    await nginx?.stop();
    await stack?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  /** Harbor's own anonymous token for a public repository, fetched from the token service around hubgate. */
  async function harborAnonymousToken(repo: string): Promise<string> {
    const r = await rawRequest(stack.harbor.url, 'GET', `/service/token?service=harbor-registry&scope=repository:${repo}:pull`);
    expect(r.status).toBe(200);
    return (JSON.parse(r.body) as { token: string }).token;
  }

  function forgedTokens(): [string, () => Promise<string>][] {
    const now = Math.floor(Date.now() / 1000);
    const claims = (sub: string, repo: string) => ({ iss: 'harbor-token-issuer', aud: 'harbor-registry', sub, exp: now + 600, nbf: now - 5, iat: now - 5, jti: 'x', access: [{ type: 'repository', name: repo, actions: ['pull', 'push'] }] });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const foreignKey = { ...signingMaterial(), privateKey, publicKey };
    return [
      ['Bearer x', async () => 'Bearer x'],
      ['Bearer (empty)', async () => 'Bearer '],
      ['Bearer a.b.c', async () => 'Bearer a.b.c'],
      ['an unsigned JWT naming the robot', async () => `Bearer ${b64u({ alg: 'none', typ: 'JWT' })}.${b64u(claims(`robot$${a.username}`, 'sec-priv/app'))}.`],
      ['a JWT signed by a foreign key', async () => `Bearer ${signToken(foreignKey, `robot$${a.username}`, claims('', 'sec-priv/app').access, 600).token}`],
      ["Harbor's anonymous token fetched around hubgate", async () => `Bearer ${await harborAnonymousToken('sec-pub/app')}`],
      ['Digest junk', async () => 'Digest username="x"'],
      ['Basic junk', async () => 'Basic !!!'],
      ['Basic for an unknown hg- user', async () => `Basic ${Buffer.from('hg-nobody:x').toString('base64')}`],
      ["Basic for Harbor's admin", async () => `Basic ${Buffer.from('admin:Harbor12345').toString('base64')}`],
    ];
  }

  const reads = (digestless: boolean) => [
    '/v2/sec-pub/app/manifests/1',
    '/v2/sec-pub/app/tags/list',
    '/v2/sec-priv/app/manifests/1',
    '/v2/sec-priv/app/tags/list',
    ...(digestless ? [] : ['/v2/_catalog']),
  ];

  it.each(modes)('no Authorization value reads any workspace (%s mode), while the project itself still pulls', async (mode) => {
    const base = mode === 'record' ? stack.url : signed!.url;
    for (const [what, auth] of forgedTokens()) {
      const header = await auth();
      for (const p of reads(false)) {
        for (const method of ['GET', 'HEAD']) {
          const r = await rawRequest(base, method, p, { Authorization: header, Accept: 'application/vnd.oci.image.manifest.v1+json' });
          // The reason, not only the status: a 401 challenge from hubgate (or 429 once the junk logins pile up).
          expect({ what, p, method, status: r.status === 429 ? 401 : r.status }).toEqual({ what, p, method, status: 401 });
          if (method === 'GET' && r.status === 401) expect(r.body).toMatch(/"code":"UNAUTHORIZED"/);
        }
      }
    }
    // Positive control: the project's own credentials pull both through this instance (the refusals above are not
    // an instance that refuses everything).
    const host = new URL(base).host;
    for (const repo of ['sec-pub/app:1', 'sec-priv/app:1']) {
      const ok = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `${a.username}:${a.password}`, `docker://${host}/${repo}`]);
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
    }
  });

  it('skopeo with a junk registry token is refused with the reason', async () => {
    const r = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--registry-token', 'x', `docker://${stack.host}/sec-pub/app:1`]);
    // hubgate's own refusal, as skopeo prints it (not a connection, TLS or Harbor error).
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unauthorized: invalid or expired registry token; authenticate again/);
  });

  /** Request targets that must never reach anything but a distribution route; 4xx from hubgate each. */
  const VARIANTS = [
    '/v2/..%2fapi/v2.0/projects',
    '/v2/..%2Fapi/v2.0/projects',
    '/v2/%2e%2e/api/v2.0/projects',
    '/v2/%2E%2E%2Fapi%2Fv2.0%2Fprojects',
    '/v2/.%2e/api/v2.0/projects',
    '/v2/../api/v2.0/projects',
    '/v2/./../api/v2.0/projects',
    '/v2/sec-priv/../../api/v2.0/users',
    '/v2/sec-priv/app/../../../api/v2.0/projects',
    '/v2/sec-priv/app/tags/../../../../api/v2.0/systeminfo',
    '/v2/sec-priv/app/manifests/..%2f..%2f..%2f..%2fapi%2fv2.0%2fprojects',
    '/v2/sec-priv/app/blobs/uploads/..%2f..%2f..%2f..%2f..%2fapi/v2.0/projects',
    '/v2/sec-priv/app/blobs/uploads/../../../../../api/v2.0/projects',
    '/v2/sec-priv/app/blobs/uploads/..',
    '/v2/sec-priv%2fapp/tags/list',
    '/v2/sec-priv%252fapp/tags/list',
    '/v2//api/v2.0/projects',
    '/v2/sec-priv//app/tags/list',
    '/v2/sec-priv/app/tags/list/',
    '/v2/..\\api\\v2.0\\projects',
    '/v2/sec-priv\\..\\..\\api/v2.0/projects',
    '/v2/sec-priv/app/manifests/1;/../../../../api/v2.0/projects',
    '/v2/;/../api/v2.0/projects',
    '/v2/%00/../api/v2.0/projects',
    '/v2/sec-priv/app/manifests/%3f/../../../../api/v2.0/projects',
    '/v2/api/v2.0/projects',
    '/v2/api/v2.0/projects/1',
    '/v2/service/token',
    '/v2/sec-priv/app/referrers/sha256:abc',
    '/v2/sec-priv',
    '/v2/c/login',
    '/v2/sec-priv/app/tags/list%23',
    '/v2/sec-priv/app/manifests/1%2f..%2f..%2f..%2f..%2fc%2flogin',
  ];

  it(`${VARIANTS.length} hostile path variants get a 4xx from hubgate and never reach Harbor outside /v2 (core-like and nginx-like upstream)`, async () => {
    expect(VARIANTS.length).toBeGreaterThanOrEqual(30);
    // One good login first, so hubgate's own (admin) look-up for it is done before the table runs.
    const bases = [stack.url, ...[viaNginx, viaDoubleNginx].flatMap((i) => (i ? [i.url] : []))];
    for (const inst of bases) expect((await rawRequest(inst, 'GET', '/v2/', { Authorization: basic(a) })).status).toBe(200);
    if (!REAL_HARBOR) stack.harbor.clearCalls();
    const answers: Record<string, number>[] = [];
    for (const base of bases) {
      const row: Record<string, number> = {};
      for (const target of VARIANTS) {
        for (const method of ['GET', 'DELETE']) {
          const r = await rawRequest(base, method, target, { Authorization: basic(a) });
          row[`${method} ${target}`] = r.status;
          expect({ target, method, fourxx: r.status >= 400 && r.status < 500 }).toEqual({ target, method, fourxx: true });
          // hubgate's own refusal (its message), not an answer Harbor gave to a path it received.
          expect(r.body).toMatch(/^\{"errors":\[\{"code":"(BAD_REQUEST","message":"invalid registry path: |NOT_FOUND","message":"not found: the path is not part of the registry API")/);
        }
      }
      answers.push(row);
    }
    // Nothing of the table reached Harbor at all: every refusal happened in hubgate.
    if (REAL_HARBOR) notChecked("Harbor's call log is empty", 'the call log is a Harbor-double hook; the refusal messages above are hubgate\'s own');
    else expect(stack.harbor.calls.filter((c) => c.principal !== 'admin').map((c) => `${c.method} ${c.url}`)).toEqual([]);
    // Both upstream shapes answered the same: hubgate decides, not the upstream.
    for (const other of answers.slice(1)) expect(other).toEqual(answers[0]);
  });

  it('a digest with an encoded ":" reaches Harbor as the digest, through core and nginx alike', async () => {
    const m = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', `${a.username}:${a.password}`, `docker://${stack.host}/sec-priv/app:1`]);
    expect(m.code).toBe(0);
    const digest = `sha256:${(await import('node:crypto')).createHash('sha256').update(m.stdout).digest('hex')}`;
    for (const base of [stack.url, ...[viaNginx, viaDoubleNginx].flatMap((i) => (i ? [i.url] : []))]) {
      if (!REAL_HARBOR) stack.harbor.clearCalls();
      const r = await rawRequest(base, 'HEAD', `/v2/sec-priv/app/manifests/${digest.replace(':', '%3A')}`, { Authorization: basic(a), Accept: 'application/vnd.oci.image.manifest.v1+json' });
      // Harbor core answers a literal `sha256%3A…` reference with 404: a 200 with the digest means it got `sha256:`.
      expect(r.status).toBe(200);
      expect(r.head.toLowerCase()).toContain(`docker-content-digest: ${digest}`);
      if (!REAL_HARBOR) expect(stack.harbor.calls.filter((c) => c.principal !== 'admin').map((c) => c.url)).toEqual([`/v2/sec-priv/app/manifests/${digest}`]);
    }
  });
});

// ------------------------------------------------------------------ 3: slow, stalled and abandoned connections

d('registry front security: connections', () => {
  /** A Harbor that reads requests and never answers /v2 (records its sockets). */
  let stall: http.Server;
  let stallUrl: string;
  let open: Set<net.Socket>;
  let hits: string[];
  let work: string;
  let certFile: string;
  const instances: { close(): Promise<void> }[] = [];
  const token = () => `Bearer ${signToken(signingMaterial(), 'robot$hg-sec', [{ type: 'repository', name: 'sec/app', actions: ['pull', 'push'] }], 600).token}`;

  beforeAll(async () => {
    work = tempDir('security-conn');
    certFile = path.join(work, 'token.crt');
    fs.writeFileSync(certFile, signingMaterial().certPem);
    open = new Set();
    hits = [];
    stall = http.createServer((req, res) => {
      req.resume();
      if (!req.url?.startsWith('/v2/')) {
        // hubgate's own REST calls (admin identity, health) get a plain answer; only /v2 stalls.
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ username: 'admin', sysadmin_flag: true, status: 'healthy', components: [] }));
        return;
      }
      hits.push(`${req.method} ${req.url}`);
      // The socket that carries a /v2 request: reads the body, never answers.
      open.add(req.socket);
      req.socket.once('close', () => open.delete(req.socket));
    });
    await new Promise<void>((r) => stall.listen(0, '127.0.0.1', r));
    stallUrl = `http://127.0.0.1:${(stall.address() as net.AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const i of instances) await i.close();
    stall.closeAllConnections();
    await new Promise<void>((r) => stall.close(() => r()));
    fs.rmSync(work, { recursive: true, force: true });
  });

  async function gate(env: Record<string, string> = {}): Promise<string> {
    const { startJwks } = await import('../support/tokens');
    const idp = await startJwks();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const hg = await startHubgate(
      testConfig({ harborUrl: stallUrl, idp, env: { HUBGATE_PORT: String(port), HUBGATE_PUBLIC_URL: url, HARBOR_TOKEN_CERT_FILE: certFile, HARBOR_HEALTH_POLL_MS: '600000', ...env } }),
    );
    instances.push({ close: async () => (await hg.close(), await idp.close()) });
    return url;
  }

  it.each([
    ['while Harbor has not answered a GET (request body complete)', 'GET', '/v2/sec/app/manifests/1', undefined],
    ['mid-upload (PATCH body still streaming)', 'PATCH', '/v2/sec/app/blobs/uploads/u1', 'chunked'],
  ])('a client that goes away %s releases the upstream socket within 1 s', async (_what, method, target, body) => {
    const url = await gate();
    const u = new URL(url);
    const before = hits.length;
    const client = net.connect(Number(u.port), u.hostname);
    await new Promise<void>((r) => client.once('connect', () => r()));
    const head = [`${method} ${target} HTTP/1.1`, `Host: ${u.host}`, `Authorization: ${token()}`];
    if (body === 'chunked') head.push('Content-Type: application/octet-stream', 'Transfer-Encoding: chunked');
    client.write(`${head.join('\r\n')}\r\n\r\n`);
    if (body === 'chunked') client.write('400\r\n' + 'x'.repeat(0x400) + '\r\n');
    await within(5000, 'the request reaches the stalled Harbor', () => hits.length > before);
    expect(hits.at(-1)).toBe(`${method} ${target}`);
    expect(open.size).toBe(1);
    client.destroy();
    const took = await within(1000, 'upstream socket released after the client left', () => open.size === 0);
    expect(took).toBeLessThanOrEqual(1000);
  });

  it('a Harbor that stalls gets the client a 504 in the envelope after the idle timeout, and frees the socket', async () => {
    const url = await gate({ HUBGATE_UPSTREAM_IDLE_TIMEOUT_MS: '1000' });
    const r = await rawRequest(url, 'GET', '/v2/sec/app/tags/list', { Authorization: token() });
    expect(r.status).toBe(504);
    expect(JSON.parse(r.body)).toEqual({ errors: [{ code: 'UPSTREAM_TIMEOUT', message: 'the registry backend did not answer in time, try again later' }] });
  });

  it('a client trickling its headers is cut after the headers timeout', async () => {
    const url = await gate({ HUBGATE_HEADERS_TIMEOUT_MS: '1000' });
    const u = new URL(url);
    const client = net.connect(Number(u.port), u.hostname);
    let closed = false;
    let answer = '';
    client.on('data', (c: Buffer) => (answer += c.toString()));
    client.on('close', () => (closed = true));
    client.on('error', () => undefined);
    client.write('GET /v2/ HTTP/1.1\r\nHost: x\r\n');
    // One header byte every 200 ms: the connection is alive but never finishes its request.
    const drip = setInterval(() => client.write('X'), 200);
    try {
      await within(8000, 'trickling client cut', () => closed);
    } finally {
      clearInterval(drip);
    }
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
  });

  it('one address cannot hold more than HUBGATE_MAX_CONNECTIONS_PER_ADDRESS connections; a freed slot is usable again', async () => {
    const url = await gate({ HUBGATE_MAX_CONNECTIONS_PER_ADDRESS: '4' });
    const u = new URL(url);
    const connect = () =>
      new Promise<{ socket: net.Socket; closedEarly: Promise<boolean> }>((resolve) => {
        const socket = net.connect(Number(u.port), u.hostname);
        socket.on('error', () => undefined);
        const closedEarly = new Promise<boolean>((r) => {
          socket.once('close', () => r(true));
          setTimeout(() => r(false), 500).unref();
        });
        socket.once('connect', () => resolve({ socket, closedEarly }));
      });
    const held = [];
    for (let i = 0; i < 4; i++) held.push(await connect());
    const fifth = await connect();
    expect(await fifth.closedEarly).toBe(true);
    for (const h of held) expect(await h.closedEarly).toBe(false);
    held[0].socket.destroy();
    await sleep(100);
    const again = await connect();
    expect(await again.closedEarly).toBe(false);
    const health = await rawRequest(url, 'GET', '/healthz');
    // The probe itself is a fifth connection: refused while four are held.
    expect(health.status).toBe(0);
    for (const h of [...held, again]) h.socket.destroy();
    await sleep(100);
    expect((await rawRequest(url, 'GET', '/healthz')).status).toBe(200);
    const metrics = await rawRequest(url, 'GET', '/metrics');
    expect(metrics.body).toMatch(/hubgate_connections_refused_total\{reason="per_address"\} [2-9]/);
  });
});
