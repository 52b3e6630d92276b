/**
 * Console upload benchmark (issue 4, item 7). In one run, on 127.0.0.1 only:
 *
 *   a 1 GiB random-data single-layer image, as a `docker save` archive made by skopeo (`docker-archive:`), plain
 *   and gzip-compressed, uploaded
 *     (h) through hubgate: `POST /api/v1/workspaces/bench/uploads` (hubgate in a child process, transpiled JS,
 *         LOG_LEVEL=info to /dev/null) → Harbor double → docker-registry;
 *     (s) with `skopeo copy docker-archive:… docker://…` as Harbor's admin → the same Harbor double → docker-registry.
 *   Both compress the uncompressed layer with gzip (skopeo's default for a docker:// destination, hubgate's
 *   default too); neither skips a blob: every upload gets a fresh, empty registry storage.
 *   skopeo 1.9 cannot read a gzip-compressed docker-archive, so its gzip time is `gzip -dc` to a temp file plus the
 *   copy of the result — what a user of skopeo has to do with a .tar.gz.
 *
 * Measured: wall time of each (best of BENCH_RUNS, default 2), hubgate's peak RSS (VmHWM of the child, and the
 * highest VmRSS sampled every 100 ms). Results: printed and written to bench/results/upload.json.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { transpileProject } from './transpile';
import { MALLOC_ENV } from '../src/runtime';
import { startHarborDouble, type HarborDouble } from '../test/harbor-double';
import { startRegistry, freePort, type RunningRegistry } from '../test/support/registry';
import { startJwks } from '../test/support/tokens';
import { ADMIN_PASSWORD, CREDENTIAL_SECRET } from '../test/support/stack';
import { ParallelGzip } from '../src/domain/uploads/gzip';

const LAYER_BYTES = Number(process.env.BENCH_UPLOAD_BYTES ?? 1024 * 1024 * 1024);
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const DEADLINE_MS = 9 * 60 * 1000;

const sh = (cmd: string, args: string[]): Promise<string> =>
  new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (e, out, err) => (e ? reject(new Error(`${cmd} ${args.join(' ')}: ${err || e.message}`)) : resolve(out))),
  );


/** Writes an OCI layout whose one layer is a tar holding `bytes` of random data (streamed, never in memory). */
async function buildImage(dir: string, bytes: number): Promise<void> {
  fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
  const tmp = path.join(dir, 'layer.tmp');
  const fd = fs.openSync(tmp, 'w');
  const hash = createHash('sha256');
  const put = (b: Buffer) => {
    hash.update(b);
    fs.writeSync(fd, b);
  };
  const h = Buffer.alloc(512);
  h.write('random.bin', 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(bytes.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0' + '00', 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  put(h);
  for (let left = bytes; left > 0; left -= 4 * 1024 * 1024) put(randomBytes(Math.min(left, 4 * 1024 * 1024)));
  put(Buffer.alloc((512 - (bytes % 512)) % 512));
  put(Buffer.alloc(1024));
  fs.closeSync(fd);
  const layerHex = hash.digest('hex');
  fs.renameSync(tmp, path.join(dir, 'blobs/sha256', layerHex));
  const size = fs.statSync(path.join(dir, 'blobs/sha256', layerHex)).size;
  const blob = (b: Buffer) => {
    const hex = createHash('sha256').update(b).digest('hex');
    fs.writeFileSync(path.join(dir, 'blobs/sha256', hex), b);
    return { digest: `sha256:${hex}`, size: b.length };
  };
  const cfg = blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${layerHex}`] } })));
  const m = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerHex}`, size }],
      }),
    ),
  );
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
}

/** gzip with hubgate's own compressor (fast on random data, standard gzip) — just to make the .tar.gz input. */
async function gzipFile(src: string, dest: string): Promise<void> {
  const fd = fs.openSync(dest, 'w');
  const gz = new ParallelGzip(async (bs) => void fs.writevSync(fd, bs), { level: 1, parallel: os.availableParallelism() });
  for await (const c of fs.createReadStream(src, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) await gz.write(c);
  await gz.end();
  fs.closeSync(fd);
}

function rssOf(pid: number): { rss: number; hwm: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

function postFile(url: string, file: string, bearer: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/octet-stream', 'Content-Length': fs.statSync(file).size },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    fs.createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(req);
  });
}

export async function run(): Promise<void> {
  const started = Date.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hubgate-bench-upload-'));
  let registry: RunningRegistry | undefined;
  let harbor: HarborDouble | undefined;
  let child: ChildProcess | undefined;
  const idp = await startJwks();
  try {
    console.log(`building a ${(LAYER_BYTES / 2 ** 20).toFixed(0)} MiB random single-layer image and its archives …`);
    await buildImage(path.join(work, 'oci'), LAYER_BYTES);
    const plain = path.join(work, 'image.tar');
    await sh('skopeo', ['copy', '-q', `oci:${path.join(work, 'oci')}:v1`, `docker-archive:${plain}:bench/app:v1`]);
    fs.rmSync(path.join(work, 'oci'), { recursive: true, force: true });
    const gz = path.join(work, 'image.tar.gz');
    await gzipFile(plain, gz);

    registry = await startRegistry();
    harbor = await startHarborDouble({ registryUrl: registry.url });
    const freshRegistry = async () => {
      await registry!.stop();
      registry = await startRegistry();
      harbor!.setRegistryUrl(registry.url);
      await harbor!.reset();
      const r = await fetch(`${harbor!.url}/api/v2.0/projects`, {
        method: 'POST',
        headers: { Authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64'), 'Content-Type': 'application/json' },
        body: JSON.stringify({ project_name: 'bench', metadata: { public: 'false' } }),
      });
      if (r.status !== 201) throw new Error(`could not create the bench project: ${r.status}`);
    };

    const out = path.join(work, 'js');
    transpileProject(out);
    const port = await freePort();
    const spool = fs.mkdtempSync(path.join(work, 'spool-'));
    fs.writeFileSync(
      path.join(out, 'child.js'),
      `process.on('SIGTERM', () => process.exit(0)); require('./src/runtime').tuneGarbageCollector(); require('./src/server').startServer(require('./src/config').loadConfig(), { logger: require('./src/observability/logger').createLogger('info', (l) => { if (l.includes('upload finished')) process.stderr.write('hubgate: ' + l + '\\n'); }) }).then(() => process.send && process.send('up'));`,
    );
    // BENCH_CHILD_NODE_ARGS: extra node flags for hubgate, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
    const nodeArgs = (process.env.BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean);
    child = spawn(process.execPath, [...nodeArgs, path.join(out, 'child.js')], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: {
        // As deployed: glibc's heap setting for streaming (src/runtime.ts MALLOC_ENV); an explicit one in the
        // bench's environment wins.
        ...MALLOC_ENV,
        ...process.env,
        HUBGATE_PORT: String(port),
        HUBGATE_HOST: '127.0.0.1',
        HARBOR_URL: harbor.url,
        HARBOR_ADMIN_PASSWORD: ADMIN_PASSWORD,
        HARBOR_HEALTH_POLL_MS: '60000',
        OIDC_ISSUER: idp.issuer,
        OIDC_JWKS_URL: idp.jwksUrl,
        OIDC_AUDIENCE: idp.audience,
        OIDC_ADMIN_ROLE: idp.adminRole,
        HUBGATE_CREDENTIAL_SECRET: CREDENTIAL_SECRET,
        HUBGATE_UPLOAD_TMP_DIR: spool,
        LOG_LEVEL: 'info',
      },
    });
    await new Promise<void>((resolve, reject) => {
      child!.once('message', () => resolve());
      child!.once('exit', (c) => reject(new Error(`hubgate exited at start (${c})`)));
    });
    const pid = child.pid!;
    let peakRss = 0;
    const sampler = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, rssOf(pid).rss);
      } catch {
        /* gone */
      }
    }, 100);
    const admin = await idp.adminToken({ sub: 'bench-admin' });
    const hub = `http://127.0.0.1:${port}`;

    const timeHubgate = async (file: string, tag: string): Promise<number> => {
      await freshRegistry();
      const t = process.hrtime.bigint();
      const r = await postFile(`${hub}/api/v1/workspaces/bench/uploads?image=hubgate-app&tag=${tag}`, file, admin);
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      if (r.status !== 201) throw new Error(`hubgate upload failed: ${r.status} ${r.body}`);
      return s;
    };
    const timeSkopeo = async (file: string, gzipped: boolean, tag: string): Promise<number> => {
      await freshRegistry();
      const t = process.hrtime.bigint();
      let src = file;
      if (gzipped) {
        src = path.join(work, 'gunzipped.tar');
        await sh('sh', ['-c', `gzip -dc '${file}' > '${src}'`]);
      }
      await sh('skopeo', ['copy', '-q', '--dest-tls-verify=false', '--dest-creds', `admin:${ADMIN_PASSWORD}`, `docker-archive:${src}`, `docker://${new URL(harbor!.url).host}/bench/skopeo-app:${tag}`]);
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      if (gzipped) fs.rmSync(src, { force: true });
      return s;
    };

    const best = { hubgate_plain: Infinity, skopeo_plain: Infinity, hubgate_gzip: Infinity, skopeo_gzip: Infinity };
    for (let i = 0; i < RUNS && Date.now() - started < DEADLINE_MS; i++) {
      best.skopeo_plain = Math.min(best.skopeo_plain, await timeSkopeo(plain, false, `p${i}`));
      best.hubgate_plain = Math.min(best.hubgate_plain, await timeHubgate(plain, `p${i}`));
      best.skopeo_gzip = Math.min(best.skopeo_gzip, await timeSkopeo(gz, true, `g${i}`));
      best.hubgate_gzip = Math.min(best.hubgate_gzip, await timeHubgate(gz, `g${i}`));
      console.log(`run ${i + 1}: ${JSON.stringify(best)}`);
    }
    clearInterval(sampler);
    const { hwm } = rssOf(pid);
    const round = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;
    const result = {
      generated_at: new Date().toISOString(),
      machine: { cpus: os.availableParallelism(), cpu_model: os.cpus()[0]?.model, node: process.version, mem_gb: Math.round(os.totalmem() / 2 ** 30) },
      settings: {
        layer_bytes: LAYER_BYTES,
        archive_bytes_plain: fs.statSync(plain).size,
        archive_bytes_gzip: fs.statSync(gz).size,
        runs: RUNS,
        path: 'client → (hubgate | skopeo) → Harbor double (in the bench process) → docker-registry, fresh storage per upload',
        compression: 'both gzip the uncompressed layer (default); skopeo gzip = gzip -dc + copy (skopeo 1.9 reads no .tar.gz)',
      },
      seconds: Object.fromEntries(Object.entries(best).map(([k, v]) => [k, round(v, 2)])),
      ratio_vs_skopeo_plain: round(best.hubgate_plain / best.skopeo_plain),
      ratio_vs_skopeo_gzip: round(best.hubgate_gzip / best.skopeo_gzip),
      rss_peak_mb: round(Math.max(hwm, peakRss), 1),
      rss_sampled_peak_mb: round(peakRss, 1),
      bench_seconds: Math.round((Date.now() - started) / 1000),
      targets: { 'ratio_vs_skopeo_plain <=': 1, 'ratio_vs_skopeo_gzip <=': 1, 'rss_peak_mb <=': 200 },
    };
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, 'results', 'upload.json'), JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result, null, 2));
  } finally {
    child?.kill('SIGTERM');
    await harbor?.close();
    await registry?.stop();
    await idp.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  run().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
