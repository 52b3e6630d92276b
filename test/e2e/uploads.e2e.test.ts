/**
 * Console uploads end to end: hubgate (real HTTP server and adapters) → Harbor double → real docker-registry,
 * with a real redis-server shared by two replicas. Archives are made by the real skopeo (`docker-archive:` and
 * `oci-archive:` from OCI layouts built in temp dirs) or by hand, uploaded over HTTP (raw and multipart, plain
 * and gzip), pulled back with skopeo straight from the Harbor double and compared with what went in.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { HarborDouble } from '../harbor-double';
import { doubleOnly, notChecked, realAdmin, REAL_HARBOR, startTestHarbor } from '../support/real-harbor';
import { startRegistry, type RunningRegistry } from '../support/registry';
import { startJwks, type TestIdp } from '../support/tokens';
import { startRedis, type TestRedis } from '../support/redis';
import { ADMIN_PASSWORD, ADMIN_USERNAME, CREDENTIAL_SECRET, startHubgate, testConfig } from '../support/stack';
import { configFor, digestOf, dockerSave, layerTar, tar, writeOciDir, type ImageSpec } from '../support/archives';
import { requireTools, which } from '../support/tools';

jest.setTimeout(120_000);

const tools = requireTools('console uploads e2e', ['skopeo', 'docker-registry', 'redis-server']);
const SKOPEO = which('skopeo') ?? 'skopeo';
const d = tools.available ? describe : describe.skip;

const team = { id: 'proj-up', name: 'Uploaders', department: 'dept-1' };
const other = { id: 'proj-other', name: 'Others', department: 'dept-2' };
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(SKOPEO, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => (err ? reject(new Error(`skopeo ${args.join(' ')}: ${stderr}`)) : resolve(stdout)));
  });
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, checked field by field
  body: any;
  continued: boolean;
}

/**
 * POSTs to hubgate with full control over the body: `parts` are written one after the other; a function part is
 * awaited between writes (to act while the upload is in flight). `declare` sets Content-Length (else chunked).
 */
function post(url: string, headers: Record<string, string>, parts: (Buffer | (() => Promise<void>))[], o: { declare?: number | false; expectContinue?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const total = parts.reduce((n, p) => n + (Buffer.isBuffer(p) ? p.length : 0), 0);
    const h: Record<string, string> = { ...headers };
    if (o.declare !== false) h['Content-Length'] = String(o.declare ?? total);
    if (o.expectContinue) h.Expect = '100-continue';
    const req = http.request(url, { method: 'POST', headers: h });
    let continued = false;
    let answered = false;
    req.on('continue', () => {
      continued = true;
      void write();
    });
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined, continued });
      });
    });
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    const write = async () => {
      for (const p of parts) {
        if (answered) return;
        if (Buffer.isBuffer(p)) {
          if (!req.write(p)) await new Promise((r) => req.once('drain', r));
        } else await p();
      }
      req.end();
    };
    if (o.expectContinue) req.flushHeaders();
    else void write();
  });
}

/** Splits a buffer into pieces of `n` bytes (written one after the other, as a chunked body). */
function pieces(b: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return out;
}

function multipart(file: Buffer, fields: Record<string, string>): { body: Buffer; type: string } {
  const b = `----hubgate${randomBytes(8).toString('hex')}`;
  const pre = Object.entries(fields).map(([k, v]) => `--${b}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('');
  const head = `${pre}--${b}\r\nContent-Disposition: form-data; name="file"; filename="image.tar.gz"\r\nContent-Type: application/gzip\r\n\r\n`;
  return { body: Buffer.concat([Buffer.from(head), file, Buffer.from(`\r\n--${b}--\r\n`)]), type: `multipart/form-data; boundary=${b}` };
}

d('console uploads end to end', () => {
  let registry: RunningRegistry | undefined;
  let harbor: HarborDouble;
  let idp: TestIdp;
  let redis: TestRedis;
  let hubA: Awaited<ReturnType<typeof startHubgate>>;
  let hubB: Awaited<ReturnType<typeof startHubgate>> | undefined;
  let token: string;
  let otherToken: string;
  let work: string;
  let spoolDir: string;
  const harborHost = () => new URL(harbor.url).host;

  const start = () =>
    startHubgate(
      testConfig({
        harborUrl: harbor.url,
        idp,
        redisUrl: redis.url,
        env: { HUBGATE_UPLOAD_MAX_BYTES: String(8 * 1024 * 1024), HUBGATE_UPLOAD_MAX_EXPANDED_BYTES: String(32 * 1024 * 1024), HUBGATE_UPLOAD_TMP_DIR: spoolDir },
      }),
    );

  async function api(base: string, method: string, p: string, body?: unknown, bearer = token) {
    const res = await fetch(`${base}/api/v1${p}`, {
      method,
      headers: { Authorization: `Bearer ${bearer}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  const upload = (base: string, ws: string, parts: (Buffer | (() => Promise<void>))[], o: { query?: string; type?: string; bearer?: string; declare?: number | false; expectContinue?: boolean } = {}) =>
    post(`${base}/api/v1/workspaces/${ws}/uploads${o.query ? `?${o.query}` : ''}`, { Authorization: `Bearer ${o.bearer ?? token}`, 'Content-Type': o.type ?? 'application/x-tar' }, parts, o);

  /** Pulls a tag straight from Harbor (the double, or the real one: its token realm) with skopeo into a dir: layout; returns config and uncompressed layers. */
  async function pullBack(ref: string): Promise<{ config: Buffer; layers: Buffer[]; manifest: { mediaType: string; layers: { mediaType: string; digest: string }[]; config: { digest: string } } }> {
    const out = fs.mkdtempSync(path.join(work, 'pull-'));
    await run(['copy', '--src-tls-verify=false', '--src-creds', `${ADMIN_USERNAME}:${ADMIN_PASSWORD}`, `docker://${harborHost()}/${ref}`, `dir:${out}`]);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    const blob = (dg: string) => fs.readFileSync(path.join(out, dg.slice(7)));
    const layers = (manifest.layers as { digest: string; mediaType: string }[]).map((l) => (/gzip/.test(l.mediaType) ? gunzipSync(blob(l.digest)) : blob(l.digest)));
    return { config: blob(manifest.config.digest), layers, manifest };
  }

  const tagsOf = async (repo: string): Promise<string[]> => {
    if (realAdmin) return realAdmin.tagsOf(repo);
    const r = harbor.state.repoByName(repo);
    return r ? [...harbor.state.tags.values()].filter((t) => t.repositoryId === r.id).map((t) => t.name).sort() : [];
  };

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'hubgate-uploads-e2e-'));
    spoolDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hubgate-uploads-spool-'));
    registry = REAL_HARBOR ? undefined : await startRegistry();
    [harbor, idp, redis] = await Promise.all([startTestHarbor({ registryUrl: registry?.url }), startJwks(), startRedis()]);
    token = await idp.memberToken({ sub: 'u-up', username: 'uploader', projects: [team] });
    otherToken = await idp.memberToken({ sub: 'u-other', username: 'other', projects: [other] });
    hubA = await start();
    for (const [name, projectId, access, bearer] of [
      ['up-ws', team.id, 'private', token],
      ['their-pub', other.id, 'public', otherToken],
      ['their-priv', other.id, 'private', otherToken],
    ] as const) {
      expect((await api(hubA.url, 'POST', '/workspaces', { name, projectId, access }, bearer)).status).toBe(201);
    }
  });

  afterAll(async () => {
    await hubB?.close();
    await hubA?.close();
    await Promise.all([harbor?.close(), idp?.close(), redis?.close()]);
    await registry?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
    if (spoolDir) fs.rmSync(spoolDir, { recursive: true, force: true });
  });

  it('a skopeo docker-archive (config without docker_version) uploads raw and pulls back identical; progress seen from another replica, which then dies', async () => {
    const layers = [layerTar({ 'bin/app': randomBytes(300_000) }), layerTar({ 'etc/conf': 'x=1\n' })];
    const spec: ImageSpec = { layers, refs: ['v1'] };
    const dir = path.join(work, 'oci-1');
    writeOciDir(dir, [spec]);
    const archive = path.join(work, 'one.tar');
    await run(['copy', `oci:${dir}:v1`, `docker-archive:${archive}:library/app:v1`]);

    hubB = await start();
    const id = `e2e-${randomBytes(6).toString('hex')}`;
    const bytes = fs.readFileSync(archive);
    let seenFromB: { bytesReceived?: number; state?: string } | undefined;
    const half = Math.floor(bytes.length / 2);
    const res = await upload(hubA.url, 'up-ws', [
      bytes.subarray(0, half),
      async () => {
        // while the body is in flight, the record is visible from the other replica through Redis ...
        for (let i = 0; i < 100 && !((seenFromB?.bytesReceived ?? 0) > 0); i++) {
          await new Promise((r) => setTimeout(r, 100));
          seenFromB = (await api(hubB!.url, 'GET', `/uploads/${id}`)).body;
        }
        // ... and then that other replica dies: the upload on A carries on
        await hubB!.close();
        hubB = undefined;
      },
      bytes.subarray(half),
    ], { query: `uploadId=${id}` });
    expect(res.status).toBe(201);
    expect(seenFromB).toMatchObject({ id, state: 'receiving', workspace: 'up-ws' });
    expect(res.body).toMatchObject({ id, state: 'succeeded', format: 'docker-save', compression: 'none', bytesReceived: bytes.length });
    expect(res.body.images).toEqual([expect.objectContaining({ repository: 'up-ws/app', tag: 'v1' })]);
    expect(res.headers.location).toBe(`/api/v1/uploads/${id}`);

    const pulled = await pullBack('up-ws/app:v1');
    expect(pulled.manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(pulled.manifest.layers.every((l: { mediaType: string }) => l.mediaType.endsWith('tar.gzip'))).toBe(true);
    expect(pulled.layers.map(sha)).toEqual(layers.map(digestOf));
    expect(JSON.parse(pulled.config.toString()).rootfs.diff_ids).toEqual(JSON.parse(configFor(layers).toString()).rootfs.diff_ids);
    expect(JSON.parse(pulled.config.toString()).docker_version).toBeUndefined();

    // a replica started afterwards reads the final record from Redis; strangers get 404
    hubB = await start();
    // The final record is written to Redis before the 201; if that write was lost (a command timeout on a busy
    // machine), the owner's heartbeat re-sends it within about a second — wait for that, bounded.
    let fromB = await api(hubB.url, 'GET', `/uploads/${id}`);
    for (let i = 0; i < 50 && fromB.status === 404; i++) {
      await new Promise((r) => setTimeout(r, 100));
      fromB = await api(hubB.url, 'GET', `/uploads/${id}`);
    }
    expect(fromB.body).toMatchObject({ state: 'succeeded', images: res.body.images });
    expect((await api(hubB.url, 'GET', `/uploads/${id}`, undefined, otherToken)).status).toBe(404);
    await hubB.close();
    hubB = undefined;
  });

  it('a skopeo oci-archive, gzip-compressed, as multipart with image and tag fields; re-upload skips blobs and overwrites', async () => {
    const layers = [layerTar({ 'data/blob': randomBytes(200_000) })];
    const dir = path.join(work, 'oci-2');
    writeOciDir(dir, [{ layers, refs: ['src'] }]);
    const archive = path.join(work, 'two.tar');
    await run(['copy', `oci:${dir}:src`, `oci-archive:${archive}:src`]);
    const form = multipart(gzipSync(fs.readFileSync(archive)), { image: 'tools/oci-app', tag: '2.0' });
    const first = await upload(hubA.url, 'up-ws', [form.body], { type: form.type });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ format: 'oci', compression: 'gzip', images: [expect.objectContaining({ repository: 'up-ws/tools/oci-app', tag: '2.0' })] });
    const pulled = await pullBack('up-ws/tools/oci-app:2.0');
    expect(pulled.manifest.layers[0].mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(pulled.layers.map(sha)).toEqual(layers.map(digestOf));

    const again = await upload(hubA.url, 'up-ws', [form.body], { type: form.type });
    expect(again.status).toBe(201);
    expect(again.body.layers.map((l: { state: string }) => l.state)).toEqual(['skipped', 'skipped']);

    // the same tag with new content: overwritten
    const dir3 = path.join(work, 'oci-3');
    const newer = [layerTar({ 'data/other': randomBytes(1000) })];
    writeOciDir(dir3, [{ layers: newer, refs: ['src'] }]);
    const archive3 = path.join(work, 'three.tar');
    await run(['copy', `oci:${dir3}:src`, `oci-archive:${archive3}:src`]);
    const form3 = multipart(fs.readFileSync(archive3), { image: 'tools/oci-app', tag: '2.0' });
    expect((await upload(hubA.url, 'up-ws', [form3.body], { type: form3.type })).status).toBe(201);
    expect((await pullBack('up-ws/tools/oci-app:2.0')).layers.map(sha)).toEqual(newer.map(digestOf));
  });

  it('a hand-built archive with two images and three tags; big layers streamed to a staging repository and mounted', async () => {
    const a = [layerTar()];
    const b = [layerTar({ big: randomBytes(2_500_000) }), layerTar()];
    const res = await upload(hubA.url, 'up-ws', [dockerSave([{ layers: a, refs: ['hub.ecns.io/up-ws/api:1', 'api:latest'] }, { layers: b, refs: ['quay.io/team/worker:7'] }], { layout: 'blobs' })]);
    expect(res.status).toBe(201);
    expect(res.body.images.map((i: { repository: string; tag: string }) => `${i.repository}:${i.tag}`).sort()).toEqual(['up-ws/api:1', 'up-ws/api:latest', 'up-ws/team/worker:7']);
    expect((await pullBack('up-ws/team/worker:7')).layers.map(sha)).toEqual(b.map(digestOf));
    expect(res.body.layers.find((l: { repository: string; label: string }) => l.repository === 'up-ws/team/worker' && l.label === 'layer 1/2').state).toBe('uploaded');
    if (realAdmin) {
      notChecked('the cross-repository mount from the staging repository', 'needs the double\'s call log (harbor.calls)');
      expect(await realAdmin.repositories('up-ws')).not.toContain('up-ws/hubgate-upload-staging');
    } else {
      expect(harbor.calls.some((c) => c.method === 'POST' && c.url.includes('mount=') && c.url.includes('hubgate-upload-staging'))).toBe(true);
      expect(harbor.state.repoByName('up-ws/hubgate-upload-staging')).toBeUndefined(); // no manifest, no tag: not a repository
    }
    // the workspace's image count reflects the upload at once (caches invalidated)
    expect((await api(hubA.url, 'GET', '/workspaces/up-ws')).body.imageCount).toBeGreaterThanOrEqual(3);
  });

  it('bad input → 4xx in Harbor\'s envelope, nothing tagged, hubgate keeps serving', async () => {
    const notTar = await upload(hubA.url, 'up-ws', [randomBytes(5000)]);
    expect(notTar.status).toBe(400);
    expect(notTar.body.errors[0]).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/not a tar/) });
    const rec = await api(hubA.url, 'GET', `/uploads/${notTar.headers['x-upload-id']}`);
    expect(rec.body).toMatchObject({ state: 'failed', error: { status: 400, code: 'BAD_REQUEST', reason: 'not_tar' } });

    const good = dockerSave([{ layers: [layerTar()], refs: ['bad:1'] }]);
    const truncated = await upload(hubA.url, 'up-ws', [good.subarray(0, good.length - 2000)]);
    expect(truncated.status).toBe(400);
    expect(truncated.body.errors[0].message).toMatch(/truncated/);

    const bomb = await upload(hubA.url, 'up-ws', [gzipSync(tar([{ name: 'zeros', data: Buffer.alloc(40 * 1024 * 1024) }]))], { type: 'application/gzip' });
    expect(bomb.status).toBe(400);
    expect(bomb.body.errors[0].message).toMatch(/gzip bomb/);
    expect(await tagsOf('up-ws/bad')).toEqual([]);

    const noFile = `--xyz\r\nContent-Disposition: form-data; name="image"\r\n\r\napp\r\n--xyz--\r\n`;
    const nf = await upload(hubA.url, 'up-ws', [Buffer.from(noFile)], { type: 'multipart/form-data; boundary=xyz' });
    expect(nf.status).toBe(400);
    expect(nf.body.errors[0].message).toMatch(/no file part/);
    const asJson = await upload(hubA.url, 'up-ws', [Buffer.from('{"a":1}')], { type: 'application/json' });
    expect(asJson.status).toBe(400);
    expect(asJson.body.errors[0].message).toMatch(/raw body/);

    expect((await upload(hubA.url, 'their-pub', [good])).status).toBe(403);
    expect((await upload(hubA.url, 'their-priv', [good])).status).toBe(404);
    expect((await upload(hubA.url, 'no-such-ws', [good])).status).toBe(404);
    expect(await tagsOf('their-pub/bad')).toEqual([]);
    expect(fs.readdirSync(spoolDir)).toEqual([]); // temporary data removed
    expect((await fetch(`${hubA.url}/healthz`)).status).toBe(200);
  });

  it('413: a declared Content-Length over the limit is refused before the body is sent; a streamed body crossing it is cut off', async () => {
    const declared = await upload(hubA.url, 'up-ws', [Buffer.alloc(10)], { declare: 3 * 1024 ** 3, expectContinue: true });
    expect(declared.status).toBe(413);
    expect(declared.continued).toBe(false);
    expect(declared.body.errors[0]).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });

    const big = dockerSave([{ layers: [layerTar({ big: randomBytes(9 * 1024 * 1024) })], refs: ['huge:1'] }]);
    const parts = [];
    for (let i = 0; i < big.length; i += 256 * 1024) parts.push(big.subarray(i, i + 256 * 1024));
    const streamed = await upload(hubA.url, 'up-ws', parts, { declare: false });
    expect(streamed.status).toBe(413);
    expect(await tagsOf('up-ws/huge')).toEqual([]);
    expect(fs.readdirSync(spoolDir)).toEqual([]);

    // a small upload with Expect: 100-continue gets its 100 Continue and goes through
    const ok = await upload(hubA.url, 'up-ws', [dockerSave([{ layers: [layerTar()], refs: ['cont:1'] }])], { expectContinue: true });
    expect(ok.continued).toBe(true);
    expect(ok.status).toBe(201);
  });

  it('an upload survives Redis being stopped midway; its progress is kept locally', async () => {
    const layers = [layerTar({ payload: randomBytes(1_000_000) })];
    const bytes = dockerSave([{ layers, refs: ['redis-down:1'] }]);
    const id = `redis-${randomBytes(6).toString('hex')}`;
    const third = Math.floor(bytes.length / 3);
    const res = await upload(hubA.url, 'up-ws', [bytes.subarray(0, third), () => redis.stop(), bytes.subarray(third)], { query: `uploadId=${id}` });
    try {
      expect(res.status).toBe(201);
      expect((await pullBack('up-ws/redis-down:1')).layers.map(sha)).toEqual(layers.map(digestOf));
      const rec = await api(hubA.url, 'GET', `/uploads/${id}`);
      expect(rec.body).toMatchObject({ id, state: 'succeeded', bytesReceived: bytes.length });
    } finally {
      await redis.restart();
    }
  });

  /** Polls `check` every 50 ms until it returns true; fails after `ms`. Returns how long it took. */
  async function until(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<number> {
    const t0 = Date.now();
    while (!(await check())) {
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return Date.now() - t0;
  }

  it('slots never leak: N+1 multipart requests without a boundary each get 400 and a failed record; a valid upload then succeeds', async () => {
    const max = 4; // HUBGATE_UPLOAD_MAX_CONCURRENT's default
    const ids: string[] = [];
    for (let i = 0; i <= max; i++) {
      const id = `noboundary-${i}-${randomBytes(4).toString('hex')}`;
      ids.push(id);
      const r = await upload(hubA.url, 'up-ws', [Buffer.from('--x\r\n')], { type: 'multipart/form-data', query: `uploadId=${id}` });
      expect(r.status).toBe(400);
      expect(r.body.errors[0]).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/multipart/) });
    }
    for (const id of ids) {
      const rec = await api(hubA.url, 'GET', `/uploads/${id}`);
      expect(rec.body).toMatchObject({ state: 'failed', error: { status: 400, code: 'BAD_REQUEST', reason: 'bad_multipart' } });
    }
    const ok = await upload(hubA.url, 'up-ws', [dockerSave([{ layers: [layerTar()], refs: ['after-leak:1'] }])]);
    expect(ok.status).toBe(201);
    expect(await tagsOf('up-ws/after-leak')).toEqual(['1']);
    expect(fs.readdirSync(spoolDir)).toEqual([]);
  });

  it('a client that disconnects mid-body (multipart): the record turns failed, the spool is removed and registry calls stop; slots are free', async () => {
    const max = 4;
    for (let i = 0; i <= max; i++) {
      const layer = layerTar({ big: randomBytes(3 * 1024 * 1024) }); // ≥ 1 MiB: streamed to Harbor while it arrives
      const archive = dockerSave([{ layers: [layer], refs: ['gone:1'] }]);
      const form = multipart(archive, {});
      const id = `gone-${i}-${randomBytes(4).toString('hex')}`;
      const half = Math.floor(form.body.length / 2);
      const req = http.request(`${hubA.url}/api/v1/workspaces/up-ws/uploads?uploadId=${id}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': form.type, 'Content-Length': String(form.body.length) },
      });
      req.on('error', () => undefined);
      req.write(form.body.subarray(0, half));
      // wait until hubgate has read a good part of what was sent, then go away
      await until('bytes received', async () => ((await api(hubA.url, 'GET', `/uploads/${id}`)).body?.bytesReceived ?? 0) > half / 2);
      req.destroy();
      await until('the record failed', async () => (await api(hubA.url, 'GET', `/uploads/${id}`)).body?.state === 'failed', 5000);
      const rec = await api(hubA.url, 'GET', `/uploads/${id}`);
      expect(rec.body.error).toMatchObject({ status: 400, code: 'BAD_REQUEST', reason: 'interrupted' });
      await until('spool removed', () => fs.readdirSync(spoolDir).length === 0, 5000);
      // no more registry traffic once the upload has failed (the stream upload to staging was cancelled)
      const log = harbor?.calls; // the double's call log (absent against a real Harbor)
      if (log) {
        const calls = log.length;
        await new Promise((r) => setTimeout(r, 1000));
        expect(log.slice(calls).filter((c) => c.url.startsWith('/v2/') && c.method !== 'DELETE')).toEqual([]);
      }
    }
    expect(await tagsOf('up-ws/gone')).toEqual([]);
    const ok = await upload(hubA.url, 'up-ws', [dockerSave([{ layers: [layerTar()], refs: ['after-gone:1'] }])]);
    expect(ok.status).toBe(201);
  });

  doubleOnly("needs the double's fault injection (a blob PUT that never answers)")('a client that disconnects while blobs are pushed: the push stops within about a second, record failed, spool removed, nothing tagged', async () => {
    // the blob PUT hangs (never answered): the upload sits in "pushing" until its client goes away
    harbor.failNext('PUT', /\/blobs\/uploads\/.+/, 'timeout', 5);
    try {
      const bytes = dockerSave([{ layers: [layerTar({ small: randomBytes(50_000) })], refs: ['hang:1'] }]);
      const id = `hang-${randomBytes(4).toString('hex')}`;
      const req = http.request(`${hubA.url}/api/v1/workspaces/up-ws/uploads?uploadId=${id}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/x-tar', 'Content-Length': String(bytes.length) },
      });
      req.on('error', () => undefined);
      req.end(bytes);
      const rec = async () => (await api(hubA.url, 'GET', `/uploads/${id}`)).body;
      await until('the blob push', async () => (await rec())?.layers?.some((l: { state: string }) => l.state === 'uploading') === true);
      req.destroy();
      const tookMs = await until('the record failed', async () => (await rec())?.state === 'failed', 3000);
      expect((await rec()).error).toMatchObject({ status: 400, code: 'BAD_REQUEST', reason: 'interrupted' });
      await until('spool removed', () => fs.readdirSync(spoolDir).length === 0, 3000);
      const calls = harbor.calls.length;
      await new Promise((r) => setTimeout(r, 1000));
      expect(harbor.calls.slice(calls).filter((c) => c.url.startsWith('/v2/') && c.method !== 'DELETE')).toEqual([]);
      expect(await tagsOf('up-ws/hang')).toEqual([]);
      process.stdout.write(`abort while pushing: record failed ${tookMs} ms after the disconnect (polled every 50 ms)\n`);
    } finally {
      harbor.clearFaults();
    }
  });

  it('the workspace deleted and re-created by another project mid-upload: 409 CONFLICT workspace_changed, nothing lands in their workspace', async () => {
    expect((await api(hubA.url, 'POST', '/workspaces', { name: 'moving-ws', projectId: team.id, access: 'private' })).status).toBe(201);
    const layers = [layerTar({ big: randomBytes(1_500_000) })];
    const bytes = dockerSave([{ layers, refs: ['app:1'] }]);
    const id = `moving-${randomBytes(4).toString('hex')}`;
    const half = Math.floor(bytes.length / 2);
    const res = await upload(hubA.url, 'moving-ws', [
      bytes.subarray(0, half),
      async () => {
        // while the archive arrives, the workspace goes away and someone else takes the name
        expect((await api(hubA.url, 'DELETE', '/workspaces/moving-ws')).status).toBe(200);
        expect((await api(hubA.url, 'POST', '/workspaces', { name: 'moving-ws', projectId: other.id, access: 'private' }, otherToken)).status).toBe(201);
      },
      bytes.subarray(half),
    ], { query: `uploadId=${id}` });
    expect(res.status).toBe(409);
    expect(res.body.errors[0]).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/deleted or changed owner/) });
    expect((await api(hubA.url, 'GET', `/uploads/${id}`)).body).toMatchObject({ state: 'failed', images: [], error: { status: 409, code: 'CONFLICT', reason: 'workspace_changed' } });
    expect(await tagsOf('moving-ws/app')).toEqual([]);
    expect(fs.readdirSync(spoolDir)).toEqual([]);
  });

  it('limits over HTTP in Harbor\'s envelope: 507 when the replica\'s disk budget is used up (before reading for a declared size), 408 for a silent body', async () => {
    const hub = await startHubgate(
      testConfig({
        harborUrl: harbor.url,
        idp,
        redisUrl: redis.url,
        env: {
          HUBGATE_UPLOAD_TMP_DIR: spoolDir,
          HUBGATE_UPLOAD_DISK_BUDGET_BYTES: String(2 * 1024 * 1024),
          HUBGATE_UPLOAD_MAX_DISK_BYTES: String(1024 * 1024 * 1024),
          HUBGATE_UPLOAD_IDLE_TIMEOUT_SECONDS: '5',
        },
      }),
    );
    try {
      // declared larger than the budget: refused before the body is sent
      const declared = await upload(hub.url, 'up-ws', [Buffer.alloc(10)], { declare: 3 * 1024 * 1024, expectContinue: true });
      expect(declared.status).toBe(507);
      expect(declared.continued).toBe(false);
      expect(declared.body.errors[0]).toMatchObject({ code: 'INSUFFICIENT_STORAGE', message: expect.stringMatching(/disk budget/) });

      // streamed (no declared size) past the budget: cut off with 507, spool removed, nothing tagged
      const big = dockerSave([{ layers: [layerTar({ r: randomBytes(3 * 1024 * 1024) })], refs: ['budget:1'] }]);
      const streamed = await upload(hub.url, 'up-ws', pieces(big, 256 * 1024), { declare: false });
      expect(streamed.status).toBe(507);
      expect(streamed.body.errors[0]).toMatchObject({ code: 'INSUFFICIENT_STORAGE' });
      const rec = await api(hub.url, 'GET', `/uploads/${streamed.headers['x-upload-id']}`);
      expect(rec.body).toMatchObject({ state: 'failed', error: { status: 507, code: 'INSUFFICIENT_STORAGE', reason: 'no_space' } });
      expect(await tagsOf('up-ws/budget')).toEqual([]);
      await until('spool removed', () => fs.readdirSync(spoolDir).length === 0, 3000);

      // a body that stops: 408 after the idle timeout, the slot and spool freed
      const small = dockerSave([{ layers: [layerTar()], refs: ['idle:1'] }]);
      const idle = await upload(hub.url, 'up-ws', [small.subarray(0, 1024), () => new Promise((r) => setTimeout(r, 7000)), small.subarray(1024)], { declare: small.length });
      expect(idle.status).toBe(408);
      expect(idle.body.errors[0]).toMatchObject({ code: 'REQUEST_TIMEOUT', message: expect.stringMatching(/sent nothing/) });
      expect((await api(hub.url, 'GET', `/uploads/${idle.headers['x-upload-id']}`)).body.error).toMatchObject({ status: 408, reason: 'idle_timeout' });
      await until('spool removed', () => fs.readdirSync(spoolDir).length === 0, 3000);
    } finally {
      await hub.close();
    }
  });

  it('never logs secrets', () => {
    const logs = hubA.logs.join('\n');
    expect(logs).not.toContain(ADMIN_PASSWORD);
    expect(logs).not.toContain(CREDENTIAL_SECRET);
    expect(logs).not.toContain(Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64'));
  });
});
