/**
 * Helpers for the registry end-to-end tests: the whole stack on 127.0.0.1 (a real Debian docker-registry →
 * the Harbor double → hubgate, plus a test OIDC realm for hubgate's API), real registry clients (skopeo, ctr,
 * podman, buildah, docker CLI) run as child processes, OCI image layouts built on disk, and a scan of
 * everything logged for secrets.
 *
 *   const stack = await startStack();
 *   const a = await stack.project('pa', [{ name: 'alpha-ws', access: 'private' }]);   // { username, password }
 *   const layout = await buildImage(dir, { layers: [{ bytes: 1024 }] });
 *   await run('skopeo', ['copy', ...]);
 *   await stack.close();
 *
 * With HUBGATE_TEST_HARBOR_URL (and _ADMIN_PASSWORD) set, the stack runs in front of that real Harbor instead of
 * the double and the local docker-registry (see real-harbor.ts; `npm run test:harbor`); the Harbor is wiped first.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/observability/logger';
import { startServer, type RunningServer } from '../../src/server';
import { startHarborDouble, type HarborDouble, type HarborDoubleOptions } from '../harbor-double';
import { connectRealHarbor, REAL_HARBOR } from './real-harbor';
import { engineUnderTest } from './stack';
import { freePort, startRegistry, type RunningRegistry } from './registry';
import { startJwks, type TestIdp } from './tokens';
import { requireTools, which } from './tools';

// ------------------------------------------------------------------ processes

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export { which };

/**
 * Runs a command; never throws for a non-zero exit (tests assert on `code`). `guardMs` only stops a hung client
 * from hanging the suite (it is not an assertion on time).
 */
export function run(cmd: string, args: string[], opts: { env?: Record<string, string>; input?: string; cwd?: string; guardMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), opts.guardMs ?? 180_000);
    child.on('error', (e) => {
      clearTimeout(guard);
      resolve({ code: 127, stdout, stderr: stderr + String(e) });
    });
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `hubgate-${prefix}-`));
}

// ------------------------------------------------------------------ OCI layouts

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
}

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512, 0);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 8, 'ascii');
  h.write('0000000\0', 108, 8, 'ascii');
  h.write('0000000\0', 116, 8, 'ascii');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 12, 'ascii');
  h.write('00000000000\0', 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

/** Writes a blob into the layout; returns its digest and size. */
function putBlob(layout: string, data: Buffer): { digest: string; size: number } {
  const digest = sha256(data);
  const dir = path.join(layout, 'blobs', 'sha256');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, digest.slice(7)), data);
  return { digest, size: data.length };
}

/**
 * A layer: an uncompressed tar holding one file of `bytes` random bytes, streamed to disk (a 200 MB layer never
 * sits in memory).
 */
async function putTarLayer(layout: string, fileName: string, bytes: number): Promise<{ digest: string; size: number }> {
  const dir = path.join(layout, 'blobs', 'sha256');
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
  const out = fs.createWriteStream(tmp);
  const hash = createHash('sha256');
  let size = 0;
  const write = async (b: Buffer) => {
    hash.update(b);
    size += b.length;
    if (!out.write(b)) await new Promise<void>((r) => out.once('drain', () => r()));
  };
  await write(tarHeader(fileName, bytes));
  const chunk = 1 << 20;
  for (let left = bytes; left > 0; left -= chunk) await write(randomBytes(Math.min(chunk, left)));
  const pad = (512 - (bytes % 512)) % 512;
  if (pad) await write(Buffer.alloc(pad));
  await write(Buffer.alloc(1024));
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  const digest = `sha256:${hash.digest('hex')}`;
  fs.renameSync(tmp, path.join(dir, digest.slice(7)));
  return { digest, size };
}

export interface ImageSpec {
  layers: { bytes: number }[];
  architecture?: string;
  os?: string;
  /** Distinguishes otherwise identical images (goes into the config). */
  label?: string;
}

/** Adds one image (config + layers + manifest) to a layout; returns the manifest descriptor. */
async function addImage(layout: string, spec: ImageSpec): Promise<Descriptor> {
  const layers: Descriptor[] = [];
  let i = 0;
  for (const l of spec.layers) {
    const b = await putTarLayer(layout, `file-${i++}.bin`, l.bytes);
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...b });
  }
  const architecture = spec.architecture ?? 'amd64';
  const osName = spec.os ?? 'linux';
  const config = Buffer.from(
    JSON.stringify({
      architecture,
      os: osName,
      config: { Labels: { 'io.hubgate.test': spec.label ?? randomBytes(4).toString('hex') }, Cmd: ['/file-0.bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      history: layers.map(() => ({ created_by: 'hubgate e2e' })),
    }),
  );
  const c = putBlob(layout, config);
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...c }, layers }),
  );
  const m = putBlob(layout, manifest);
  return { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, platform: { architecture, os: osName } };
}

function writeLayout(layout: string, top: Descriptor, ref: string): void {
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const { platform: _p, ...desc } = top;
  fs.writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ ...desc, annotations: { 'org.opencontainers.image.ref.name': ref } }] }),
  );
}

/** A single-platform image as an OCI layout `dir`, tag `ref` (use with `oci:<dir>:<ref>`). */
export async function buildImage(dir: string, spec: ImageSpec, ref = 'latest'): Promise<{ dir: string; manifest: Descriptor }> {
  fs.mkdirSync(dir, { recursive: true });
  const m = await addImage(dir, spec);
  writeLayout(dir, m, ref);
  return { dir, manifest: m };
}

/** A multi-arch image: an OCI index of one manifest per platform. */
export async function buildIndex(dir: string, specs: ImageSpec[], ref = 'latest'): Promise<{ dir: string; index: Descriptor; manifests: Descriptor[] }> {
  fs.mkdirSync(dir, { recursive: true });
  const manifests: Descriptor[] = [];
  for (const s of specs) manifests.push(await addImage(dir, s));
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  const d = putBlob(dir, index);
  const desc: Descriptor = { mediaType: 'application/vnd.oci.image.index.v1+json', ...d };
  writeLayout(dir, desc, ref);
  return { dir, index: desc, manifests };
}

/** sha256 of a file, streamed. */
export async function fileDigest(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

// ------------------------------------------------------------------ the stack

export interface ProjectCredentials {
  username: string;
  password: string;
}

export interface Stack {
  /** The docker-registry behind the Harbor double; undefined against a real Harbor (it has its own). */
  registry: RunningRegistry | undefined;
  /** The Harbor double, or (real-Harbor mode) the real Harbor in its shape: only url, port, reset() and close(). */
  harbor: HarborDouble;
  /** True when `harbor` is a real Harbor (HUBGATE_TEST_HARBOR_URL). */
  realHarbor: boolean;
  idp: TestIdp;
  hubgate: RunningServer;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `127.0.0.1:<port>` (what clients put before the image name). */
  host: string;
  /** Every JSON log line hubgate wrote. */
  logs: string[];
  /** Creates workspaces for a platform project through hubgate's API and returns the project's registry credentials. */
  project(projectId: string, workspaces: { name: string; access: 'private' | 'public' }[]): Promise<ProjectCredentials>;
  /** Rotates a project's password through hubgate's API. */
  rotate(projectId: string): Promise<ProjectCredentials>;
  /** Plain HTTP request to hubgate (no keep-alive), body collected. */
  request(method: string, pathAndQuery: string, headers?: Record<string, string>, body?: Buffer | string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>;
  metrics(): Promise<string>;
  close(): Promise<void>;
}

export const CREDENTIAL_SECRET = 'e2e-credential-secret-0123456789abcdef';
/** Harbor's admin password: the double's, or the real Harbor's (HUBGATE_TEST_HARBOR_ADMIN_PASSWORD). */
export const HARBOR_ADMIN_PASSWORD = REAL_HARBOR?.adminPassword ?? 'Harbor12345';
export const HARBOR_ADMIN_USERNAME = REAL_HARBOR?.adminUsername ?? 'admin';

/** `double`: settings of the Harbor double (ignored against a real Harbor), e.g. `{ gcTimeWindowHours: 2 }`. */
export async function startStack(env: Record<string, string> = {}, double: Partial<HarborDoubleOptions> = {}): Promise<Stack> {
  const registry = REAL_HARBOR ? undefined : await startRegistry();
  const harbor = registry ? await startHarborDouble({ ...double, registryUrl: registry.url, adminPassword: HARBOR_ADMIN_PASSWORD }) : await connectRealHarbor();
  const idp = await startJwks();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    HARBOR_URL: harbor.url,
    HARBOR_ADMIN_USERNAME,
    HARBOR_ADMIN_PASSWORD,
    OIDC_ISSUER: idp.issuer,
    OIDC_AUDIENCE: idp.audience,
    HUBGATE_CREDENTIAL_SECRET: CREDENTIAL_SECRET,
    HUBGATE_PORT: String(port),
    HUBGATE_HOST: '127.0.0.1',
    HUBGATE_PUBLIC_URL: url,
    HARBOR_HEALTH_POLL_MS: '600000',
    LOG_LEVEL: 'debug',
    // redis-server starts moments before: no restart quarantine for ownership changes (see HUBGATE_LOCK_QUARANTINE_MS)
    HUBGATE_LOCK_QUARANTINE_MS: '0',
    ...engineUnderTest(),
    ...env,
  });
  const logs: string[] = [];
  const hubgate = await startServer(config, { logger: createLogger('debug', (l) => logs.push(l)) });

  const request: Stack['request'] = (method, pathAndQuery, headers = {}, body) =>
    new Promise((resolve, reject) => {
      const req = http.request(`${url}${pathAndQuery}`, { method, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });

  const tokens = new Map<string, string>();
  const tokenFor = async (projectId: string) => {
    let t = tokens.get(projectId);
    if (!t) {
      t = await idp.memberToken({ sub: `user-${projectId}`, username: `user-${projectId}`, projects: [{ id: projectId, name: projectId.toUpperCase(), department: 'dep' }] });
      tokens.set(projectId, t);
    }
    return t;
  };
  const api = async (method: string, p: string, projectId: string, body?: unknown) => {
    const r = await request(method, `/api/v1${p}`, { Authorization: `Bearer ${await tokenFor(projectId)}`, 'Content-Type': 'application/json' }, body === undefined ? undefined : JSON.stringify(body));
    if (r.status >= 300) throw new Error(`${method} ${p} → ${r.status} ${r.body.toString()}`);
    return JSON.parse(r.body.toString() || '{}') as Record<string, unknown>;
  };

  return {
    registry,
    harbor,
    realHarbor: !!REAL_HARBOR,
    idp,
    hubgate,
    url,
    host: `127.0.0.1:${port}`,
    logs,
    async project(projectId, workspaces) {
      for (const w of workspaces) await api('POST', '/workspaces', projectId, { name: w.name, projectId, access: w.access });
      const c = await api('GET', `/projects/${projectId}/credentials`, projectId);
      return { username: c.username as string, password: c.password as string };
    },
    async rotate(projectId) {
      const c = await api('POST', `/projects/${projectId}/credentials/rotate`, projectId);
      return { username: c.username as string, password: c.password as string };
    },
    request,
    async metrics() {
      return (await request('GET', '/metrics')).body.toString();
    },
    async close() {
      await hubgate.close();
      await harbor.close();
      await idp.close();
      await registry?.stop();
    },
  };
}

/** Lines of `logs` that contain any of `secrets` (passwords, tokens); empty when clean. */
export function leakedSecrets(logs: string[], secrets: string[]): string[] {
  const s = secrets.filter((x) => x && x.length >= 6);
  return logs.filter((l) => s.some((x) => l.includes(x)));
}

/**
 * One client the tests need (see tools.ts): with CI=true a missing one throws, so the test file fails; locally it
 * returns available: false and a reason for the caller to print and skip on.
 */
export function clientOrSkip(bin: string): { available: boolean; reason: string } {
  const t = requireTools(bin, [bin], { warn: () => undefined });
  return { available: t.available, reason: t.available ? '' : `${t.reason} — skipping its tests locally (CI installs it)` };
}

export interface ApiAnswer {
  status: number;
  /** The parsed JSON body; undefined when empty or not JSON (then see `text`). */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
  headers: Record<string, string>;
}

/**
 * One call of hubgate's `/api/v1` as a platform user: a JSON body when `body` is given, or `raw` bytes with their
 * content type (archives).
 */
export async function apiCall(baseUrl: string, token: string, method: string, p: string, body?: unknown, raw?: { type: string; data: Buffer }): Promise<ApiAnswer> {
  const res = await fetch(`${baseUrl}/api/v1${p}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(raw ? { 'Content-Type': raw.type } : body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: raw ? new Uint8Array(raw.data) : body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, body: json, text, headers: Object.fromEntries(res.headers) as Record<string, string> };
}
