/**
 * hubgate as a real process: configuration errors stop it with a message naming the variable; SIGTERM drains
 * in-flight requests before it exits; logs are JSON lines with request ids and no secrets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { startHarborDouble, type HarborDouble } from '../harbor-double';
import { startJwks, type TestIdp } from '../support/tokens';
import { freePort } from '../support/registry';
import { ADMIN_PASSWORD, CREDENTIAL_SECRET } from '../support/stack';

const root = path.resolve(__dirname, '../..');
const tsNode = path.join(root, 'node_modules/ts-node/dist/bin.js');

function run(env: Record<string, string>): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  let out = '';
  const child = spawn(process.execPath, [tsNode, '--transpile-only', 'src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

let harbor: HarborDouble;
let idp: TestIdp;
beforeAll(async () => {
  [harbor, idp] = await Promise.all([startHarborDouble(), startJwks()]);
});
afterAll(async () => {
  await Promise.all([harbor?.close(), idp?.close()]);
});

const baseEnv = () => ({
  HARBOR_URL: harbor.url,
  HARBOR_ADMIN_PASSWORD: ADMIN_PASSWORD,
  OIDC_ISSUER: idp.issuer,
  OIDC_JWKS_URL: idp.jwksUrl,
  OIDC_AUDIENCE: idp.audience,
  HUBGATE_CREDENTIAL_SECRET: CREDENTIAL_SECRET,
  HUBGATE_HOST: '127.0.0.1',
});

it('refuses to start on a bad setting and names it (exit 78)', async () => {
  const { out, exited } = run({ ...baseEnv(), HUBGATE_CREDENTIAL_SECRET: '' });
  expect(await exited).toBe(78);
  expect(out()).toContain('HUBGATE_CREDENTIAL_SECRET is required');
  const bad = run({ ...baseEnv(), HARBOR_TIMEOUT_MS: 'soon' });
  expect(await bad.exited).toBe(78);
  expect(bad.out()).toContain('HARBOR_TIMEOUT_MS must be an integer');
});

it('drains in-flight requests on SIGTERM, then exits 0; logs are JSON with request ids and no secrets', async () => {
  const port = await freePort();
  // No catalogue warm-up at start (HUBGATE_IMAGES_WARM_ON_START): the project listing that hangs below must be the
  // one the in-flight request makes, not one the warm-up already made.
  const proc = run({ ...baseEnv(), HUBGATE_PORT: String(port), HARBOR_TIMEOUT_MS: '1500', HARBOR_RETRIES: '0', HUBGATE_SHUTDOWN_TIMEOUT_MS: '10000', HUBGATE_IMAGES_WARM_ON_START: 'false' });
  const url = `http://127.0.0.1:${port}`;
  // ts-node compiles the whole server first: seconds when idle, far more on a loaded machine. Wait (up to 90 s) for
  // it to listen, and say so if it never does, rather than fail later on a refused connection.
  let up = false;
  for (let i = 0; i < 900 && !up; i++) {
    up = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (!up) await new Promise((r) => setTimeout(r, 100));
  }
  expect(up).toBe(true);
  const token = await idp.memberToken({ sub: 'u-1', projects: [{ id: 'p1', name: 'P1', department: 'd' }] });
  // Harbor hangs on the next project listing: the request stays in flight for ~1.5 s (hubgate's Harbor timeout).
  harbor.failNext('GET', /^\/api\/v2\.0\/projects/, 'timeout');
  const inflight = fetch(`${url}/api/v1/workspaces`, { headers: { Authorization: `Bearer ${token}`, 'X-Request-Id': 'drain-test-1' } });
  await new Promise((r) => setTimeout(r, 300));
  proc.child.kill('SIGTERM');
  const res = await inflight;
  expect([504, 502]).toContain(res.status); // it got its answer instead of a reset connection
  expect(res.headers.get('x-request-id')).toBe('drain-test-1');
  expect(await proc.exited).toBe(0);
  await expect(fetch(`${url}/healthz`)).rejects.toThrow();

  const lines = proc.out().trim().split('\n');
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(parsed.some((l) => l.msg === 'request' && l.request_id === 'drain-test-1' && l.operation === 'workspaces_list')).toBe(true);
  expect(parsed.some((l) => String(l.msg).startsWith('shutting down'))).toBe(true);
  // Started without the glibc malloc setting (this child's environment is PATH and hubgate's settings only): the
  // runtime line says so and a warning names the variable.
  expect(parsed.find((l) => l.msg === 'runtime')).toMatchObject({ v8_incremental_marking: 'off', malloc: { MALLOC_TOP_PAD_: 'unset' } });
  expect(parsed.find((l) => l.level === 'warn' && String(l.msg).startsWith('glibc malloc settings missing'))).toMatchObject({ missing: ['MALLOC_TOP_PAD_'] });
  for (const secret of [ADMIN_PASSWORD, CREDENTIAL_SECRET, token]) expect(proc.out()).not.toContain(secret);
}, 150_000);
