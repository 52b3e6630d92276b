/**
 * A changed HUBGATE_CREDENTIAL_SECRET, end to end through the Harbor double (or a real Harbor 2.5.5 with
 * `npm run test:harbor`): replica A runs with the old secret and creates the projects; replica B starts with a new
 * secret and the old one in HUBGATE_CREDENTIAL_SECRET_PREVIOUS (a restart after a leak). Without any manual
 * rotation, the password B shows is the one Harbor accepts (skopeo login and push work), and a login with the
 * password B's key derives heals a project nobody has looked at yet. A, still running with the old secret, is
 * the replica that disagrees: it never overwrites B's passwords (B's logins keep working), answers 503 for them,
 * and says so in /readyz (degraded) and hubgate_credential_key_mismatch. With Redis and no list: the new replica
 * waits while a replica with the old secret still announces its key, and heals once that replica is gone.
 *
 * Against a real Harbor the suite uses its own username prefix (`hgk-`) and random names, cleans only what it
 * made, and does not wipe other suites' data (another engineer may be using that Harbor).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createHarborAdapter } from '../../adapters/harbor/harbor.adapter';
import { CredentialsService, keyFingerprint, parseMarker } from '../../src/domain/credentials.service';
import { loadConfig } from '../../src/config';
import { createLogger, silentLogger } from '../../src/observability/logger';
import { createInProcessCoordination } from '../../adapters/redis/redis.coordination';
import { startServer, type RunningServer } from '../../src/server';
import { startHarborDouble, type HarborDouble } from '../harbor-double';
import { buildImage, clientOrSkip, run, tempDir, HARBOR_ADMIN_PASSWORD, HARBOR_ADMIN_USERNAME } from '../support/clients';
import { REAL_HARBOR, RealHarborAdmin } from '../support/real-harbor';
import { freePort, startRegistry, type RunningRegistry } from '../support/registry';
import { startRedis } from '../support/redis';
import { startJwks, type TestIdp } from '../support/tokens';

const skopeo = clientOrSkip('skopeo');
const registryTool = REAL_HARBOR ? { available: true, reason: '' } : clientOrSkip('docker-registry');
const redisTool = clientOrSkip('redis-server');
if (!redisTool.available) console.warn(redisTool.reason);
if (!skopeo.available) console.warn(skopeo.reason);
if (!registryTool.available) console.warn(registryTool.reason);
const withSkopeo = skopeo.available ? it : it.skip;
const d = registryTool.available ? describe : describe.skip;

jest.setTimeout(180_000);

const OLD_SECRET = 'old-credential-secret-0123456789abcdefghij';
const NEW_SECRET = 'new-credential-secret-0123456789abcdefghij';
const PREFIX = 'hgk-';
const ROBOT_PREFIX = 'robot$';
/** Unique per run: the real Harbor may hold other runs' and other suites' data. */
const RUN = randomBytes(3).toString('hex');

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(base: string, method: string, p: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${p}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
const tokenPath = (scope: string) => `/service/token?service=harbor-registry&scope=${encodeURIComponent(scope)}`;

interface Instance {
  url: string;
  host: string;
  logs: string[];
  server: RunningServer;
}

d('a changed credential secret heals without a manual rotation; a replica with another secret does not flap logins', () => {
  let registry: RunningRegistry | undefined;
  let double: HarborDouble | undefined;
  let harborUrl: string;
  let idp: TestIdp;
  let a: Instance;
  let b: Instance;
  let work: string;
  const admin = REAL_HARBOR ? new RealHarborAdmin(REAL_HARBOR) : undefined;
  const project = (n: string) => ({ id: `ck${RUN}-${n}`, ws: `ck${RUN}-${n}-ws` });
  const p1 = project('one');
  const p2 = project('two');
  const p3 = project('three');
  const tokens = new Map<string, string>();

  async function start(secret: string, extra: Record<string, string> = {}): Promise<Instance> {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const logs: string[] = [];
    const config = loadConfig({
      HARBOR_URL: harborUrl,
      HARBOR_ADMIN_USERNAME,
      HARBOR_ADMIN_PASSWORD,
      OIDC_ISSUER: idp.issuer,
      OIDC_JWKS_URL: idp.jwksUrl,
      OIDC_AUDIENCE: idp.audience,
      HUBGATE_CREDENTIAL_SECRET: secret,
      HUBGATE_CREDENTIAL_USERNAME_PREFIX: PREFIX,
      HUBGATE_PORT: String(port),
      HUBGATE_HOST: '127.0.0.1',
      HUBGATE_PUBLIC_URL: url,
      HARBOR_HEALTH_POLL_MS: '600000',
      LOG_LEVEL: 'debug',
      ...extra,
    });
    const server = await startServer(config, { logger: createLogger('debug', (l) => logs.push(l)) });
    return { url, host: `127.0.0.1:${port}`, logs, server };
  }

  async function api(inst: Instance, method: string, p: string, projectId: string, body?: unknown): Promise<Reply> {
    let t = tokens.get(projectId);
    if (!t) {
      t = await idp.memberToken({ sub: `user-${projectId}`, username: `user-${projectId}`, projects: [{ id: projectId, name: projectId.toUpperCase(), department: 'dep' }] });
      tokens.set(projectId, t);
    }
    return send(inst.url, method, `/api/v1${p}`, { Authorization: `Bearer ${t}`, 'Content-Type': 'application/json' }, body === undefined ? undefined : JSON.stringify(body));
  }

  async function credentials(inst: Instance, projectId: string): Promise<Reply & { json: { username: string; password: string } }> {
    const r = await api(inst, 'GET', `/projects/${projectId}/credentials`, projectId);
    return { ...r, json: JSON.parse(r.body || '{}') as { username: string; password: string } };
  }

  /** What Harbor holds for a project's robot (read with hubgate's own adapter as Harbor's admin). */
  async function robotOf(projectId: string) {
    const harbor = createHarborAdapter({ baseUrl: harborUrl, username: HARBOR_ADMIN_USERNAME, password: HARBOR_ADMIN_PASSWORD, timeoutMs: 10000, retries: 1, logger: silentLogger });
    const username = `${PREFIX}${projectId}`;
    const hit = (await harbor.listRobots(username)).find((r) => r.name === ROBOT_PREFIX + username);
    return hit ? harbor.getRobot(hit.id) : undefined;
  }

  const tokenStatus = async (inst: Instance, projectId: string, ws: string, password: string) =>
    (await send(inst.url, 'GET', tokenPath(`repository:${ws}/app:pull,push`), { Authorization: basic(`${PREFIX}${projectId}`, password) })).status;

  const readyz = async (inst: Instance) => {
    const r = await send(inst.url, 'GET', '/readyz');
    return { status: r.status, body: JSON.parse(r.body) as { status: string; ready: boolean; degraded: boolean; checks: Record<string, { ok: boolean; detail?: string }> } };
  };
  const mismatchGauge = async (inst: Instance) => {
    const text = (await send(inst.url, 'GET', '/metrics')).body;
    const line = text.split('\n').find((l) => l.startsWith('hubgate_credential_key_mismatch '));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };

  let oldPasswords: Record<string, string>;

  beforeAll(async () => {
    work = tempDir('credential-key');
    if (REAL_HARBOR) {
      harborUrl = REAL_HARBOR.url;
      await admin!.check();
      await admin!.wipe('owned', PREFIX); // only robot$hgk-… robots (this suite's) and the projects they hold
    } else {
      registry = await startRegistry();
      double = await startHarborDouble({ registryUrl: registry.url, adminPassword: HARBOR_ADMIN_PASSWORD });
      harborUrl = double.url;
    }
    idp = await startJwks();
    // Replica A, the old secret: creates both projects.
    a = await start(OLD_SECRET);
    oldPasswords = {};
    for (const p of [p1, p2]) {
      const created = await api(a, 'POST', '/workspaces', p.id, { name: p.ws, projectId: p.id, access: 'private' });
      expect(created.status).toBe(201);
      const c = await credentials(a, p.id);
      expect(c.status).toBe(200);
      oldPasswords[p.id] = c.json.password;
      expect(await tokenStatus(a, p.id, p.ws, c.json.password)).toBe(200);
    }
    // Replica B: restarted with a new secret, the old one listed as retired.
    b = await start(NEW_SECRET, { HUBGATE_CREDENTIAL_SECRET_PREVIOUS: OLD_SECRET });
  });

  afterAll(async () => {
    await b?.server.close();
    await a?.server.close();
    await idp?.close();
    await double?.close();
    await registry?.stop();
    if (admin) await admin.wipe('owned', PREFIX).catch((e: unknown) => console.warn(`cleaning ${PREFIX} robots: ${String(e)}`));
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('the password the restarted replica shows is the one Harbor accepts: token, then skopeo login and push', async () => {
    // Still as A left it (A's key in the marker, checked by the last test as the disagreement).
    const before = await robotOf(p1.id);
    expect(parseMarker(before?.description)?.gen).toBe(1);
    expect(parseMarker(before?.description)?.key).not.toBe(keyFingerprint(NEW_SECRET));

    const c = await credentials(b, p1.id);
    expect(c.status).toBe(200);
    expect(c.json.username).toBe(`${PREFIX}${p1.id}`);
    expect(c.json.password).not.toBe(oldPasswords[p1.id]);
    // Harbor took the new secret: the token service (hubgate, then Harbor behind it) accepts it; the old one is refused.
    expect(await tokenStatus(b, p1.id, p1.ws, c.json.password)).toBe(200);
    expect(await tokenStatus(b, p1.id, p1.ws, oldPasswords[p1.id])).toBe(401);
    // Only the key moved: same generation, same workspaces.
    const after = await robotOf(p1.id);
    expect(parseMarker(after?.description)).toMatchObject({ gen: 1, key: keyFingerprint(NEW_SECRET) });
    expect(after?.permissions.map((p) => p.namespace)).toEqual([p1.ws]);
    expect(b.logs.some((l) => l.includes(c.json.password) || l.includes(NEW_SECRET) || l.includes(OLD_SECRET))).toBe(false);
  });

  withSkopeo('skopeo login and push with the shown password through the restarted replica', async () => {
    const c = await credentials(b, p1.id);
    const authfile = path.join(work, 'auth.json');
    const login = await run('skopeo', ['login', '--tls-verify=false', '--authfile', authfile, '-u', c.json.username, '--password-stdin', b.host], { input: c.json.password });
    expect(login.stderr).toBe('');
    expect(login.code).toBe(0);
    const img = await buildImage(path.join(work, 'img'), { layers: [{ bytes: 2048 }] });
    const push = await run('skopeo', ['copy', '--dest-tls-verify=false', '--authfile', authfile, `oci:${img.dir}:latest`, `docker://${b.host}/${p1.ws}/app:v1`]);
    expect(push.stderr).toBe('');
    expect(push.code).toBe(0);
  });

  withSkopeo('a login with the new derived password heals a project nobody looked at since the restart; a wrong one changes nothing', async () => {
    const robot = (await robotOf(p2.id))!;
    expect(parseMarker(robot.description)?.gen).toBe(1);
    expect(parseMarker(robot.description)?.key).not.toBe(keyFingerprint(NEW_SECRET));
    // The password B's key derives for this robot, computed here without asking B (which would heal it).
    const derived = new CredentialsService({
      harbor: createHarborAdapter({ baseUrl: harborUrl, username: HARBOR_ADMIN_USERNAME, password: HARBOR_ADMIN_PASSWORD, timeoutMs: 10000, retries: 1, logger: silentLogger }),
      coordination: createInProcessCoordination(),
      logger: silentLogger,
      secret: NEW_SECRET,
      usernamePrefix: PREFIX,
      robotPrefix: ROBOT_PREFIX,
    }).derivePassword(robot, 1);
    // Wrong passwords through B: refused, nothing written (the old secret still works on A).
    expect(await tokenStatus(b, p2.id, p2.ws, derived.slice(0, -1) + 'x')).toBe(401);
    expect((await robotOf(p2.id))?.description).toBe(robot.description);
    expect(await tokenStatus(a, p2.id, p2.ws, oldPasswords[p2.id])).toBe(200);

    const login = await run('skopeo', ['login', '--tls-verify=false', '--authfile', path.join(work, 'auth2.json'), '-u', `${PREFIX}${p2.id}`, '--password-stdin', b.host], { input: derived });
    expect(login.stderr).toBe('');
    expect(login.code).toBe(0);
    expect(parseMarker((await robotOf(p2.id))?.description)).toMatchObject({ gen: 1, key: keyFingerprint(NEW_SECRET) });
    expect((await credentials(b, p2.id)).json.password).toBe(derived);
  });

  it('the replica still on the old secret disagrees visibly and does not flap: 503, 502, /readyz degraded, gauge; B keeps working', async () => {
    const c = await credentials(b, p1.id);
    const onA = await credentials(a, p1.id);
    expect(onA.status).toBe(503);
    expect(JSON.parse(onA.body)).toEqual({
      errors: [
        {
          code: 'SERVICE_UNAVAILABLE',
          message:
            `the registry password of project "${p1.id}" was set with another credential secret (key ${keyFingerprint(NEW_SECRET)}, this replica's key ${keyFingerprint(OLD_SECRET)}): ` +
            'this replica can neither show nor check it. The replicas disagree on HUBGATE_CREDENTIAL_SECRET, or the old secret is missing from HUBGATE_CREDENTIAL_SECRET_PREVIOUS',
        },
      ],
    });
    // A login through A cannot be judged there: 502, not a failed login (no 401, nothing counted).
    const failuresBefore = (await send(a.url, 'GET', '/metrics')).body.split('\n').filter((l) => l.startsWith('hubgate_login_failures_total'));
    const login = await send(a.url, 'GET', tokenPath(`repository:${p1.ws}/app:pull,push`), { Authorization: basic(`${PREFIX}${p1.id}`, c.json.password) });
    expect(login.status).toBe(502);
    expect(JSON.parse(login.body).errors[0].code).toBe('UPSTREAM_UNAVAILABLE');
    expect((await send(a.url, 'GET', '/metrics')).body.split('\n').filter((l) => l.startsWith('hubgate_login_failures_total'))).toEqual(failuresBefore);
    expect(a.logs.some((l) => l.includes('was set with another credential secret'))).toBe(true);
    const rotate = await api(a, 'POST', `/projects/${p1.id}/credentials/rotate`, p1.id);
    expect(rotate.status).toBe(503);
    expect(JSON.parse(rotate.body).errors[0].code).toBe('SERVICE_UNAVAILABLE');
    // A touched nothing: B's password still works, the key is still B's.
    expect(await tokenStatus(b, p1.id, p1.ws, c.json.password)).toBe(200);
    expect(parseMarker((await robotOf(p1.id))?.description)).toMatchObject({ gen: 1, key: keyFingerprint(NEW_SECRET) });
    expect((await credentials(b, p1.id)).json.password).toBe(c.json.password);

    const ra = await readyz(a);
    expect(ra.status).toBe(200);
    expect(ra.body.ready).toBe(true);
    expect(ra.body.degraded).toBe(true);
    expect(ra.body.status).toBe('degraded');
    expect(ra.body.checks.credential_key.ok).toBe(false);
    expect(ra.body.checks.credential_key.detail).toContain(keyFingerprint(NEW_SECRET));
    expect(ra.body.checks.credential_key.detail).toContain(keyFingerprint(OLD_SECRET));
    expect(await mismatchGauge(a)).toBeGreaterThanOrEqual(1);

    const rb = await readyz(b);
    expect(rb.body.checks.credential_key).toEqual({ ok: true, detail: `credential key ${keyFingerprint(NEW_SECRET)}` });
    expect(await mismatchGauge(b)).toBe(0);
  });

  (redisTool.available ? it : it.skip)('with Redis and no list: nothing is replaced while a replica with the old secret announces it; after it stops, the next read heals', async () => {
    const redis = await startRedis();
    // (no restart quarantine for ownership changes: this redis-server started a moment ago)
    const grace = { REDIS_URL: redis.url, HUBGATE_CREDENTIAL_KEY_GRACE_SECONDS: '3', HUBGATE_LOCK_QUARANTINE_MS: '0' };
    let c: Instance | undefined;
    let e: Instance | undefined;
    try {
      c = await start(OLD_SECRET, grace);
      expect((await api(c, 'POST', '/workspaces', p3.id, { name: p3.ws, projectId: p3.id, access: 'private' })).status).toBe(201);
      const old = (await credentials(c, p3.id)).json.password;
      e = await start(NEW_SECRET, grace);
      // C is alive and announces the old key: E leaves the robot alone, however long it waits.
      const deadline = Date.now() + 8000;
      while (Date.now() < deadline) {
        expect((await credentials(e, p3.id)).status).toBe(503);
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(await tokenStatus(c, p3.id, p3.ws, old)).toBe(200);
      expect(parseMarker((await robotOf(p3.id))?.description)?.key).not.toBe(keyFingerprint(NEW_SECRET));
      // C stops: its announcement expires, and after the grace period E's next read sets the new password.
      await c.server.close();
      c = undefined;
      let shown: Awaited<ReturnType<typeof credentials>> | undefined;
      const healBy = Date.now() + 30000;
      while (Date.now() < healBy) {
        shown = await credentials(e, p3.id);
        if (shown.status !== 503) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(shown?.status).toBe(200);
      expect(shown!.json.password).not.toBe(old);
      expect(await tokenStatus(e, p3.id, p3.ws, shown!.json.password)).toBe(200);
      expect(await tokenStatus(e, p3.id, p3.ws, old)).toBe(401);
      expect(parseMarker((await robotOf(p3.id))?.description)).toMatchObject({ gen: 1, key: keyFingerprint(NEW_SECRET) });
    } finally {
      await c?.server.close();
      await e?.server.close();
      await redis.close();
    }
  });
});
