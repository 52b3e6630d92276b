/**
 * Registry pass-through benchmark (issue 3, item 7). In one run, on 127.0.0.1 only:
 *
 *   (a) direct    client → docker-registry
 *   (b) node pipe client → bare Node `http` pipe (keep-alive agent) → docker-registry
 *   (c) nginx     client → nginx set up as Harbor's front (proxy_buffering off, proxy_request_buffering off,
 *                 HTTP/1.1 keep-alive upstream, worker_processes auto as in Harbor) → docker-registry
 *   (d) hubgate   client → hubgate (its real registry router, run from a transpiled copy in a child process) → docker-registry
 *
 * Measured: a 1 GiB blob GET and PUT (throughput, best of RUNS, interleaved), 10,000 manifest HEADs at 100
 * concurrent in RUNS interleaved rounds (p50/p99 latency of the median round; plus 1,000 one at a time, the proxy's own cost without queueing), hubgate's RSS
 * during 10 parallel 1 GiB pulls (sampled from /proc/<pid>/status) and its peak (VmHWM).
 *
 * Besides wall-clock numbers, the CPU time each proxy process spends (utime + stime from /proc/<pid>/stat; nginx:
 * master and workers) is read around every measurement: CPU seconds per GiB moved and CPU microseconds per HEAD.
 * On a small shared machine the wall-clock ratios swing with whatever else runs; the CPU cost per unit of work
 * is what the proxy itself decides, and it is what to compare when changing the pass-through.
 *
 * Blob bodies are sent and received by curl (the PUT body is a file in the bench's temp dir) and the HEAD load comes
 * from ApacheBench (`ab`, Debian's apache2-utils: keep-alive, exact request count, a percentile table): C clients,
 * so the load generator does not take the CPU the servers need. Without them, a Node client in this process does
 * the work (the results name the client: `blob_client`, `head_client`).
 *
 * The registry runs with auth disabled: the comparison is of the pass-through itself, so no token service sits in
 * any path (the Harbor double would add its own proxy hop to every setup alike). hubgate still does all its
 * per-request work: the client sends `Authorization: Bearer …` with a token signed like Harbor's token service signs
 * them, which hubgate checks against the certificate (HARBOR_TOKEN_CERT_FILE, signature mode; the first request
 * pays the RSA check, the rest a hash and a look-up) and passes on (a registry without auth ignores it); path
 * hygiene, the operation table, header rewrites, metrics and a JSON access-log line per request (LOG_LEVEL=info,
 * to /dev/null) all run.
 *
 * Results: printed, and written to bench/results/passthrough.json.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { transpileProject } from './transpile';
import { freePort, startRegistry } from '../test/support/registry';
import { signingMaterial } from '../test/harbor-double/keys';
import { signToken } from '../test/harbor-double/jwt';
import { harborLocation } from '../test/support/nginx';
import { MALLOC_ENV } from '../src/runtime';

const ROOT = path.resolve(__dirname, '..');
const GIB = 1024 * 1024 * 1024;
const BLOB_BYTES = Number(process.env.BENCH_BLOB_BYTES ?? GIB);
const HEADS = Number(process.env.BENCH_HEADS ?? 10_000);
const HEAD_CONCURRENCY = 100;
const PARALLEL_PULLS = 10;
const SEQUENTIAL_HEADS = 1_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** `head`: only the manifest HEAD CPU comparison; `get`: only blob GETs, node pipe and hubgate (see run()). */
const ONLY = process.env.BENCH_ONLY;
const DEADLINE_MS = 9 * 60 * 1000;
/** A token as Harbor's token service issues them for a hubgate robot, and the certificate hubgate checks it with. */
const SIGNING = signingMaterial();
const BEARER = `Bearer ${signToken(SIGNING, 'robot$hg-bench', [{ type: 'repository', name: 'bench/blob', actions: ['pull', 'push'] }], 24 * 3600).token}`;

/**
 * `node_pipe` is the baseline the targets name: a bare Node pipe as anyone would start it. `node_pipe_malloc` is
 * the same pipe with hubgate's glibc malloc settings (MALLOC_ENV, src/runtime.ts), which hubgate is deployed with
 * (Dockerfile, systemd unit, npm start): printed beside it, so the part of hubgate's lead that is the setting, not
 * the code, is visible in every run.
 */
type Target = 'direct' | 'node_pipe' | 'node_pipe_malloc' | 'nginx' | 'hubgate';
const TARGETS: Target[] = ['direct', 'node_pipe', 'node_pipe_malloc', 'nginx', 'hubgate'];

const children: ChildProcess[] = [];
const cleanups: (() => void)[] = [];

async function waitFor(url: string, ok: (status: number) => boolean, what: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const r = http.get(url, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      r.on('error', () => resolve(0));
      r.setTimeout(1000, () => r.destroy());
    });
    if (ok(status)) return;
    if (Date.now() > until) throw new Error(`${what} did not come up on ${url}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function spawnChild(cmd: string, args: string[], env: Record<string, string> = {}, what = cmd): ChildProcess {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  child.on('exit', (code, signal) => {
    if (code && !stopping) console.error(`${what} exited with ${code ?? signal}: ${err}`);
  });
  children.push(child);
  return child;
}
let stopping = false;

// ------------------------------------------------------------------ the setups

async function startNodePipe(dir: string, upstream: string, env: Record<string, string> = {}): Promise<{ url: string; pid: number }> {
  const port = await freePort();
  const u = new URL(upstream);
  const script = path.join(dir, `node-pipe-${port}.js`);
  fs.writeFileSync(
    script,
    `const http = require('http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
http.createServer((req, res) => {
  const up = http.request({ host: ${JSON.stringify(u.hostname)}, port: ${u.port}, method: req.method, path: req.url, headers: req.headers, agent }, (r) => {
    res.writeHead(r.statusCode, r.headers);
    r.pipe(res);
  });
  up.on('error', () => res.destroy());
  req.pipe(up);
}).listen(${port}, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`,
  );
  // BENCH_CPU_PROF_DIR profiles the pipe too, for side-by-side comparison with hubgate's profile.
  const prof = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF_DIR] : [];
  const child = spawnChild(process.execPath, [...prof, script], env, 'node pipe');
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/v2/`, (s) => s === 200, 'node pipe');
  return { url, pid: child.pid! };
}

async function startNginx(dir: string, upstream: string): Promise<{ url: string; pid: number } | undefined> {
  if (!fs.existsSync('/usr/sbin/nginx')) return undefined;
  const port = await freePort();
  const u = new URL(upstream);
  const prefix = path.join(dir, 'nginx');
  fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  // The proxy part of Harbor's own nginx.conf (make/photon/prepare/templates/nginx/nginx.http.conf.jinja, /v2/).
  fs.writeFileSync(
    conf,
    `worker_processes auto;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 3096; use epoll; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body_temp;
  proxy_temp_path ${prefix}/proxy_temp;
  fastcgi_temp_path ${prefix}/fastcgi_temp;
  uwsgi_temp_path ${prefix}/uwsgi_temp;
  scgi_temp_path ${prefix}/scgi_temp;
  tcp_nodelay on;
  upstream core { server ${u.hostname}:${u.port}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    chunked_transfer_encoding on;
    ${harborLocation('/v2/')}
  }
}
`,
  );
  const child = spawnChild('/usr/sbin/nginx', ['-p', prefix, '-c', conf], {}, 'nginx');
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/v2/`, (s) => s === 200, 'nginx');
  return { url, pid: child.pid! };
}


export async function startHubgate(dir: string, upstream: string, extraEnv: Record<string, string> = {}): Promise<{ url: string; pid: number }> {
  const out = path.join(dir, 'hubgate');
  if (!fs.existsSync(out)) transpileProject(out);
  const port = await freePort();
  const certFile = path.join(dir, 'harbor-token.crt');
  fs.writeFileSync(certFile, SIGNING.certPem);
  const script = path.join(out, 'bench-main.js');
  fs.writeFileSync(
    script,
    `// What src/main.ts does before it starts the server (the V8 setting production runs with).
require('./src/runtime').tuneGarbageCollector();
const { loadConfig } = require('./src/config');
const { startServer } = require('./src/server');
startServer(loadConfig(process.env)).catch((e) => { console.error(e); process.exit(1); });
process.on('SIGTERM', () => process.exit(0));
`,
  );
  const prof = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF_DIR] : [];
  const child = spawnChild(
    process.execPath,
    [...prof, script],
    {
      HARBOR_URL: upstream,
      HARBOR_ADMIN_PASSWORD: 'bench-admin-password',
      OIDC_ISSUER: 'http://127.0.0.1:9/realms/bench',
      OIDC_AUDIENCE: 'hubgate',
      HUBGATE_CREDENTIAL_SECRET: 'bench-credential-secret-0123456789abcdef',
      HUBGATE_PORT: String(port),
      HUBGATE_HOST: '127.0.0.1',
      HUBGATE_PUBLIC_URL: `http://127.0.0.1:${port}`,
      HARBOR_HEALTH_POLL_MS: '3600000',
      HARBOR_TOKEN_CERT_FILE: certFile,
      LOG_LEVEL: 'info',
      // As deployed (Dockerfile, systemd unit, npm start): glibc's heap settings for streaming.
      ...MALLOC_ENV,
      ...extraEnv,
      NODE_ENV: 'production',
    },
    'hubgate',
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/healthz`, (s) => s === 200, 'hubgate');
  return { url, pid: child.pid! };
}

// ------------------------------------------------------------------ load

const PATTERN = (() => {
  // 1 MiB of pseudo-random bytes, repeated: uncompressible enough, and no CPU spent on randomness during runs.
  const b = Buffer.alloc(1 << 20);
  let x = 0x9e3779b9;
  for (let i = 0; i < b.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
})();

function blobDigest(bytes: number): string {
  const h = createHash('sha256');
  for (let left = bytes; left > 0; left -= PATTERN.length) h.update(left >= PATTERN.length ? PATTERN : PATTERN.subarray(0, left));
  return `sha256:${h.digest('hex')}`;
}

interface Resp {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes: number;
}

function call(url: string, method: string, opts: { headers?: Record<string, string>; bodyBytes?: number; body?: Buffer; agent?: http.Agent | false } = {}): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Authorization: BEARER, ...opts.headers };
    if (opts.bodyBytes !== undefined) headers['Content-Length'] = String(opts.bodyBytes);
    const req = http.request(url, { method, headers, agent: opts.agent ?? false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body) return void req.end(opts.body);
    if (opts.bodyBytes === undefined) return void req.end();
    let left = opts.bodyBytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, PATTERN.length);
        left -= n;
        if (!req.write(n === PATTERN.length ? PATTERN : PATTERN.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** Monolithic upload: POST (session) then PUT ?digest= with the whole body. Returns seconds of the PUT. */
async function putBlob(base: string, repo: string, bytes: number, digest: string): Promise<number> {
  const start = await call(`${base}/v2/${repo}/blobs/uploads/`, 'POST', { bodyBytes: 0 });
  if (start.status !== 202 || !start.headers.location) throw new Error(`upload start via ${base}: ${start.status}`);
  const loc = new URL(start.headers.location, base);
  // The Location names the host of whoever answered; talk to the setup under test.
  const target = `${base}${loc.pathname}${loc.search}${loc.search ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
  const t0 = process.hrtime.bigint();
  let status: number;
  if (CURL && blobFile.bytes === bytes) {
    const out = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '-H', 'Expect:', '-H', 'Content-Type: application/octet-stream', '-H', `Authorization: ${BEARER}`, '-T', blobFile.path, target]);
    status = Number(out);
  } else {
    status = (await call(target, 'PUT', { bodyBytes: bytes, headers: { 'Content-Type': 'application/octet-stream' } })).status;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (status !== 201) throw new Error(`blob PUT via ${base}: ${status}`);
  return seconds;
}

/**
 * Blob bodies are sent and received by curl when it is installed (C, like ab for the HEADs): a Node client in this
 * process would compete with the servers for the same two cores. The PUT body is a file with the blob's bytes.
 */
const CURL = ['/usr/bin/curl'].find((p) => fs.existsSync(p));
const blobFile = { path: '', bytes: -1 };

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(CURL ?? 'curl', ['-sS', ...args], { maxBuffer: 1 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl ${args[args.length - 1]}: ${err.message} ${stderr}`));
      resolve(stdout);
    });
  });
}

function writeBlobFile(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; left -= PATTERN.length) fs.writeSync(fd, left >= PATTERN.length ? PATTERN : PATTERN.subarray(0, left));
  } finally {
    fs.closeSync(fd);
  }
  blobFile.path = file;
  blobFile.bytes = bytes;
}

async function getBlob(base: string, repo: string, digest: string, bytes: number): Promise<number> {
  const url = `${base}/v2/${repo}/blobs/${digest}`;
  const t0 = process.hrtime.bigint();
  let r: { status: number; bytes: number };
  if (CURL) {
    const [status, size] = (await curl(['-o', '/dev/null', '-w', '%{http_code} %{size_download}', '-H', `Authorization: ${BEARER}`, url])).split(' ').map(Number);
    r = { status, bytes: size };
  } else {
    r = await call(url, 'GET');
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 200 || r.bytes !== bytes) throw new Error(`blob GET via ${base}: ${r.status}, ${r.bytes} bytes`);
  return seconds;
}

/**
 * `n` manifest HEADs at `concurrency` with ApacheBench (keep-alive); p50/p99 from its percentile table (ms, three
 * decimals). Throws when any request failed or was not a 200.
 */
function abHeads(base: string, path_: string, n: number, concurrency: number, csv: string): Promise<{ p50: number; p99: number }> {
  const args = ['-q', '-k', '-i', '-n', String(n), '-c', String(concurrency), '-e', csv, '-H', `Authorization: ${BEARER}`, '-H', `Accept: ${OCI_MANIFEST}`, `${base}${path_}`];
  return new Promise((resolve, reject) => {
    execFile(AB ?? 'ab', args, { maxBuffer: 1 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`ab against ${base}: ${err.message} ${stderr}`));
      const failed = Number(/Failed requests:\s+(\d+)/.exec(stdout)?.[1] ?? 'NaN');
      const non2xx = Number(/Non-2xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
      const complete = Number(/Complete requests:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
      if (failed !== 0 || non2xx !== 0 || complete !== n) return reject(new Error(`ab against ${base}: ${complete} complete, ${failed} failed, ${non2xx} non-2xx`));
      const table = new Map(
        fs
          .readFileSync(csv, 'utf8')
          .split('\n')
          .map((l) => l.split(','))
          .filter((c) => c.length === 2 && /^\d+$/.test(c[0]))
          .map((c) => [Number(c[0]), Number(c[1])] as const),
      );
      const p50 = table.get(50);
      const p99 = table.get(99);
      if (p50 === undefined || p99 === undefined) return reject(new Error(`ab against ${base}: no percentile table`));
      resolve({ p50, p99 });
    });
  });
}

const AB = ['/usr/bin/ab', '/usr/sbin/ab'].find((p) => fs.existsSync(p));

/**
 * CPU placement (BENCH_PIN, on by default with two or more CPUs and taskset): the registry gets CPU 0; the proxy under
 * test, the load generators and this process get CPU 1 (they inherit it from this process). In production Harbor's
 * registry runs on other machines than hubgate, so the registry's CPU is not shared with the hop under test; the
 * proxy shares its core with the clients, a worst case for it. The placement is the same for every setup, and it
 * stops the scheduler's lottery of which process lands beside which (unpinned, the same setup swung 2x in
 * throughput between runs). BENCH_PIN=0 leaves everything on all cores.
 */
const TASKSET = ['/usr/bin/taskset'].find((p) => fs.existsSync(p));
const PIN = process.env.BENCH_PIN !== '0' && os.cpus().length >= 2 && TASKSET !== undefined;

function pinTo(pid: number, cpu: number): void {
  if (PIN) execFileSync(TASKSET!, ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
}
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** CPU seconds (user + system) the given processes have used so far; a process that is gone counts 0. */
function cpuSeconds(pids: readonly number[], which: 'all' | 'user' | 'system' = 'all'): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (which !== 'system') ticks += Number(fields[11]);
      if (which !== 'user') ticks += Number(fields[12]);
    } catch {
      /* exited */
    }
  }
  return ticks / CLOCK_TICKS;
}
/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

/** CPU seconds of a process' main thread (its first task: /proc/<pid>/task/<pid>). */
function threadCpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** A process and its direct children (nginx: master and workers). */
function withChildren(pid: number): number[] {
  const out = [pid];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {
      /* exited */
    }
  }
  return out;
}

async function heads(base: string, path_: string, n: number, concurrency: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const lat: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const t0 = process.hrtime.bigint();
      const r = await call(`${base}${path_}`, 'HEAD', { agent, headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (r.status !== 200) throw new Error(`manifest HEAD via ${base}: ${r.status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return lat.sort((x, y) => x - y);
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

function procStatus(pid: number): { rssKb: number; hwmKb: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0);
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

// ------------------------------------------------------------------ the run

export async function run(): Promise<void> {
  if (!fs.existsSync('/usr/bin/docker-registry')) throw new Error('docker-registry is not installed (Debian package docker-registry)');
  const guard = setTimeout(() => {
    console.error(`bench exceeded ${DEADLINE_MS / 60000} minutes; stopping`);
    stopAll();
    process.exit(3);
  }, DEADLINE_MS);
  guard.unref();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hubgate-bench-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const started = Date.now();
  try {
    // Children inherit this process' CPU: pin it first, then move the registry to its own CPU.
    pinTo(process.pid, 1);
    const running = await startRegistry({ tokenAuth: false });
    pinTo(running.pid, 0);
    cleanups.push(() => void running.stop());
    const registry = running.url;
    const nodePipe = await startNodePipe(dir, registry);
    const nodePipeMalloc = await startNodePipe(dir, registry, { ...MALLOC_ENV });
    const nginx = await startNginx(dir, registry);
    const hubgate = await startHubgate(dir, registry);
    const urls: Partial<Record<Target, string>> = { direct: registry, node_pipe: nodePipe.url, node_pipe_malloc: nodePipeMalloc.url, nginx: nginx?.url, hubgate: hubgate.url };
    // Whose CPU time is read: the proxy in each setup (direct: the registry itself, for scale).
    const pids: Partial<Record<Target, number[]>> = {
      direct: [running.pid],
      node_pipe: [nodePipe.pid],
      node_pipe_malloc: [nodePipeMalloc.pid],
      nginx: nginx ? withChildren(nginx.pid) : undefined,
      hubgate: [hubgate.pid],
    };
    // nginx's workers outlive a SIGKILLed master: stop them with it.
    for (const pid of pids.nginx?.slice(1) ?? []) strays.push(pid);
    const targets = TARGETS.filter((t) => urls[t]);
    if (!nginx) console.warn('nginx is not installed: (c) skipped');
    const headClient = AB ? 'ab (apache2-utils)' : 'node http client in the bench process';
    if (!AB) console.warn('ab (Debian apache2-utils) is not installed: HEADs come from a Node client in this process, which takes CPU from the servers');
    console.log(PIN ? 'CPU placement: registry on CPU 0; proxy, load generators and the bench on CPU 1 (BENCH_PIN=0 to leave all on all cores)' : 'CPU placement: unpinned');
    console.log(`setups up; blob ${(BLOB_BYTES / GIB).toFixed(2)} GiB, ${HEADS} HEADs at ${HEAD_CONCURRENCY} concurrent (${headClient}), ${RUNS} runs per measurement`);

    // Seed: the blob and a small image (config + manifest), pushed directly.
    const digest = blobDigest(BLOB_BYTES);
    if (CURL) writeBlobFile(path.join(dir, 'blob'), BLOB_BYTES);
    else console.warn('curl is not installed: blob bodies come from a Node client in this process');
    await putBlob(registry, 'bench/big', BLOB_BYTES, digest);
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    const cs = await call(`${registry}/v2/bench/small/blobs/uploads/`, 'POST', { bodyBytes: 0 });
    await call(`${new URL(cs.headers.location!, registry).href}&digest=${encodeURIComponent(configDigest)}`, 'PUT', { body: config });
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length }, layers: [] }),
    );
    const mp = await call(`${registry}/v2/bench/small/manifests/v1`, 'PUT', { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });
    if (mp.status !== 201) throw new Error(`manifest seed: ${mp.status}`);
    const manifestPath = '/v2/bench/small/manifests/v1';
    const csv = path.join(dir, 'ab.csv');
    const concurrentHeads = (t: Target, n: number, c: number) => (AB ? abHeads(urls[t]!, manifestPath, n, c, csv) : heads(urls[t]!, manifestPath, n, c).then((lat) => ({ p50: pct(lat, 50), p99: pct(lat, 99) })));

    // Warm-up (page cache for the blob, JIT, keep-alive pools).
    for (const t of targets) await concurrentHeads(t, 1000, 50);
    await getBlob(registry, 'bench/big', digest, BLOB_BYTES);

    if (ONLY === 'head') {
      // Quick mode for work on the per-request path: manifest HEADs only, RUNS rounds alternating the order of the
      // targets (a busy machine then skews every target alike); nothing is written to bench/results.
      const cpu: Partial<Record<Target, number>> = {};
      const user: Partial<Record<Target, number>> = {};
      // The same hubgate on the fallback engine (HUBGATE_REGISTRY_PROXY_ENGINE=http-proxy-middleware), measured
      // in the same rounds: the comparison behind the default (docs/registry.md).
      const hpm = AB ? await startHubgate(dir, registry, { HUBGATE_REGISTRY_PROXY_ENGINE: 'http-proxy-middleware' }) : undefined;
      if (hpm) await abHeads(hpm.url, manifestPath, 1000, 50, csv);
      let hpmCpu = 0;
      // BENCH_HEAD_AFTER_BLOBS=1: every target first moves the blob once each way, as in the full bench's sequence.
      if (process.env.BENCH_HEAD_AFTER_BLOBS === '1') {
        for (const t of targets) {
          await getBlob(urls[t]!, 'bench/big', digest, BLOB_BYTES);
          await putBlob(urls[t]!, `bench/up-${t}-warm`, BLOB_BYTES, digest);
        }
      }
      for (let r = 0; r < RUNS; r++) {
        if (hpm) {
          const c0 = cpuSeconds([hpm.pid]);
          await abHeads(hpm.url, manifestPath, HEADS, HEAD_CONCURRENCY, csv);
          hpmCpu += cpuSeconds([hpm.pid]) - c0;
        }
        for (const t of r % 2 ? [...targets].reverse() : targets) {
          const c0 = cpuSeconds(pids[t] ?? []);
          const u0 = cpuSeconds(pids[t] ?? [], 'user');
          await concurrentHeads(t, HEADS, HEAD_CONCURRENCY);
          cpu[t] = (cpu[t] ?? 0) + cpuSeconds(pids[t] ?? []) - c0;
          user[t] = (user[t] ?? 0) + cpuSeconds(pids[t] ?? [], 'user') - u0;
        }
      }
      const perHead = (t: Target, of = cpu) => ((of[t] ?? 0) / (HEADS * RUNS)) * 1e6;
      for (const t of targets) console.log(`  ${t.padEnd(16)} ${perHead(t).toFixed(1)} µs CPU per manifest HEAD (user ${perHead(t, user).toFixed(1)}, system ${(perHead(t) - perHead(t, user)).toFixed(1)})`);
      if (hpm) console.log(`  hubgate on http-proxy-middleware: ${((hpmCpu / (HEADS * RUNS)) * 1e6).toFixed(1)} µs CPU per manifest HEAD (ratio vs node pipe ${((hpmCpu / (HEADS * RUNS)) * 1e6 / perHead('node_pipe')).toFixed(3)})`);
      console.log(`head_cpu_ratio_vs_node_pipe ${(perHead('hubgate') / perHead('node_pipe')).toFixed(3)} (target <= 1.0; BENCH_ONLY=head: not recorded)`);
      console.log(`head_cpu_ratio_vs_node_pipe_malloc ${(perHead('hubgate') / perHead('node_pipe_malloc')).toFixed(3)} (info)`);
      return;
    }

    if (ONLY === 'get') {
      // Quick mode for work on the streaming path: blob GETs only, CPU per GiB of the node pipe and hubgate.
      const cpu: Partial<Record<Target, number>> = {};
      const best: Partial<Record<Target, number>> = {};
      const pair: Target[] = ['node_pipe', 'node_pipe_malloc', 'hubgate'];
      for (let r = 0; r < RUNS; r++) {
        for (const t of r % 2 ? [...pair].reverse() : pair) {
          const c0 = cpuSeconds(pids[t] ?? []);
          const seconds = await getBlob(urls[t]!, 'bench/big', digest, BLOB_BYTES);
          cpu[t] = (cpu[t] ?? 0) + cpuSeconds(pids[t] ?? []) - c0;
          best[t] = Math.max(best[t] ?? 0, BLOB_BYTES / (1024 * 1024) / seconds);
        }
      }
      const perGib = (t: Target) => (cpu[t] ?? 0) / ((RUNS * BLOB_BYTES) / GIB);
      for (const t of pair) console.log(`  ${t.padEnd(16)} ${perGib(t).toFixed(2)} CPU s per GiB GET, best ${best[t]?.toFixed(0)} MB/s`);
      console.log(`get_cpu_ratio_vs_node_pipe ${(perGib('hubgate') / perGib('node_pipe')).toFixed(3)}, get_ratio_vs_node_pipe ${((best.hubgate ?? 0) / (best.node_pipe ?? 1)).toFixed(3)} (BENCH_ONLY=get: not recorded)`);
      console.log(`get_cpu_ratio_vs_node_pipe_malloc ${(perGib('hubgate') / perGib('node_pipe_malloc')).toFixed(3)}, get_ratio_vs_node_pipe_malloc ${((best.hubgate ?? 0) / (best.node_pipe_malloc ?? 1)).toFixed(3)}`);
      return;
    }

    const getMBs: Partial<Record<Target, number>> = {};
    const putMBs: Partial<Record<Target, number>> = {};
    const getRuns: Partial<Record<Target, number[]>> = {};
    const putRuns: Partial<Record<Target, number[]>> = {};
    const getCpu: Partial<Record<Target, number>> = {};
    const putCpu: Partial<Record<Target, number>> = {};
    const headLat: Partial<Record<Target, { p50: number; p99: number }>> = {};
    const headCpu: Partial<Record<Target, number>> = {};
    const mb = (s: number) => BLOB_BYTES / (1024 * 1024) / s;
    /** Runs `fn` and adds the CPU seconds the target's processes spent meanwhile to `into[t]`. */
    /** hubgate's CPU split: the main (JavaScript) thread against V8's and libuv's helper threads (GC, sweeping). */
    const hubgateThreads: Record<string, { main: number; helpers: number }> = {};
    const metered = async <T>(t: Target, into: Partial<Record<Target, number>>, fn: () => Promise<T>, phase?: string): Promise<T> => {
      const c0 = cpuSeconds(pids[t] ?? []);
      const main0 = t === 'hubgate' ? threadCpuSeconds(hubgate.pid) : 0;
      const out = await fn();
      const spent = cpuSeconds(pids[t] ?? []) - c0;
      into[t] = (into[t] ?? 0) + spent;
      if (t === 'hubgate' && phase) {
        const main = threadCpuSeconds(hubgate.pid) - main0;
        const acc = (hubgateThreads[phase] ??= { main: 0, helpers: 0 });
        acc.main += main;
        acc.helpers += spent - main;
      }
      return out;
    };

    for (let r = 0; r < RUNS; r++) {
      for (const t of r % 2 ? [...targets].reverse() : targets) {
        const seconds = await metered(t, getCpu, () => getBlob(urls[t]!, 'bench/big', digest, BLOB_BYTES), 'get');
        getMBs[t] = Math.max(getMBs[t] ?? 0, mb(seconds));
        (getRuns[t] ??= []).push(Math.round(mb(seconds)));
      }
    }
    console.log('GET done');
    for (let r = 0; r < RUNS; r++) {
      for (const t of r % 2 ? [...targets].reverse() : targets) {
        const seconds = await metered(t, putCpu, () => putBlob(urls[t]!, `bench/up-${t}-${r}`, BLOB_BYTES, digest), 'put');
        putMBs[t] = Math.max(putMBs[t] ?? 0, mb(seconds));
        (putRuns[t] ??= []).push(Math.round(mb(seconds)));
      }
    }
    console.log('PUT done');
    // HEADS per target in RUNS rounds that alternate the order of the targets, as the blob phases do: a load change
    // on a shared machine then skews every target alike instead of the ones measured last. CPU is summed over the
    // rounds; the latency reported is the median round's.
    const perRound = Math.ceil(HEADS / RUNS);
    const roundLat: Partial<Record<Target, { p50: number; p99: number }[]>> = {};
    for (let r = 0; r < RUNS; r++) {
      for (const t of r % 2 ? [...targets].reverse() : targets) (roundLat[t] ??= []).push(await metered(t, headCpu, () => concurrentHeads(t, perRound, HEAD_CONCURRENCY)));
    }
    const median = (xs: number[]) => pct([...xs].sort((a, b) => a - b), 50);
    for (const t of targets) headLat[t] = { p50: median(roundLat[t]!.map((l) => l.p50)), p99: median(roundLat[t]!.map((l) => l.p99)) };
    // The same HEADs one at a time: the pass-through's own cost, without queueing on a shared 2-core box.
    const seqLat: Partial<Record<Target, { p50: number; p99: number }>> = {};
    for (const t of targets) {
      const lat = await heads(urls[t]!, manifestPath, SEQUENTIAL_HEADS, 1);
      seqLat[t] = { p50: pct(lat, 50), p99: pct(lat, 99) };
    }
    console.log('HEAD done');

    // RSS of hubgate while 10 clients pull the 1 GiB blob at once.
    let rssPeakDuringPulls = 0;
    const sampler = setInterval(() => {
      rssPeakDuringPulls = Math.max(rssPeakDuringPulls, procStatus(hubgate.pid).rssKb);
    }, 25);
    const t0 = Date.now();
    await Promise.all(Array.from({ length: PARALLEL_PULLS }, () => getBlob(hubgate.url, 'bench/big', digest, BLOB_BYTES)));
    const parallelSeconds = (Date.now() - t0) / 1000;
    clearInterval(sampler);
    const final = procStatus(hubgate.pid);
    rssPeakDuringPulls = Math.max(rssPeakDuringPulls, final.rssKb);

    const ratio = (a?: number, b?: number) => (a && b ? Number((a / b).toFixed(3)) : null);
    const round = (x: number | undefined, d = 2) => (x === undefined ? null : Number(x.toFixed(d)));
    const perGib = (cpu?: number) => (cpu === undefined ? undefined : cpu / ((RUNS * BLOB_BYTES) / GIB));
    const results = {
      generated_at: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, node: process.version, mem_gb: Math.round(os.totalmem() / 1e9), load_average_1m_at_end: Number(os.loadavg()[0].toFixed(2)) },
      settings: { blob_bytes: BLOB_BYTES, heads: HEADS, head_concurrency: HEAD_CONCURRENCY, cpu_placement: PIN ? 'registry on CPU 0; proxy, clients and the bench on CPU 1' : 'unpinned (BENCH_PIN=0)', head_client: headClient, blob_client: CURL ? 'curl' : 'node http client in the bench process', parallel_pulls: PARALLEL_PULLS, runs: RUNS, registry_auth: 'disabled (see bench/passthrough.ts header)', nginx_workers: 'auto', hubgate_and_node_pipe_malloc_env: MALLOC_ENV },
      get_mb_per_s: Object.fromEntries(targets.map((t) => [t, round(getMBs[t], 1)])),
      put_mb_per_s: Object.fromEntries(targets.map((t) => [t, round(putMBs[t], 1)])),
      get_mb_per_s_every_run: getRuns,
      put_mb_per_s_every_run: putRuns,
      cpu_s_per_gib_get: Object.fromEntries(targets.map((t) => [t, round(perGib(getCpu[t]), 3)])),
      cpu_s_per_gib_put: Object.fromEntries(targets.map((t) => [t, round(perGib(putCpu[t]), 3)])),
      cpu_us_per_head: Object.fromEntries(targets.map((t) => [t, round(((headCpu[t] ?? 0) / (perRound * RUNS)) * 1e6, 1)])),
      hubgate_cpu_s_per_gib_by_thread: Object.fromEntries(
        Object.entries(hubgateThreads).map(([phase, v]) => [phase, { main: round(perGib(v.main), 3), helper_threads: round(perGib(v.helpers), 3) }]),
      ),
      get_cpu_ratio_vs_node_pipe: ratio(getCpu.hubgate, getCpu.node_pipe),
      put_cpu_ratio_vs_node_pipe: ratio(putCpu.hubgate, putCpu.node_pipe),
      head_cpu_ratio_vs_node_pipe: ratio(headCpu.hubgate, headCpu.node_pipe),
      get_cpu_ratio_vs_node_pipe_malloc: ratio(getCpu.hubgate, getCpu.node_pipe_malloc),
      put_cpu_ratio_vs_node_pipe_malloc: ratio(putCpu.hubgate, putCpu.node_pipe_malloc),
      head_cpu_ratio_vs_node_pipe_malloc: ratio(headCpu.hubgate, headCpu.node_pipe_malloc),
      head_latency_ms: Object.fromEntries(targets.map((t) => [t, { p50: round(headLat[t]?.p50, 3), p99: round(headLat[t]?.p99, 3) }])),
      get_ratio_vs_node_pipe: ratio(getMBs.hubgate, getMBs.node_pipe),
      put_ratio_vs_node_pipe: ratio(putMBs.hubgate, putMBs.node_pipe),
      get_ratio_vs_node_pipe_malloc: ratio(getMBs.hubgate, getMBs.node_pipe_malloc),
      put_ratio_vs_node_pipe_malloc: ratio(putMBs.hubgate, putMBs.node_pipe_malloc),
      get_ratio_vs_nginx: ratio(getMBs.hubgate, getMBs.nginx),
      put_ratio_vs_nginx: ratio(putMBs.hubgate, putMBs.nginx),
      get_ratio_vs_direct: ratio(getMBs.hubgate, getMBs.direct),
      head_latency_sequential_ms: Object.fromEntries(targets.map((t) => [t, { p50: round(seqLat[t]?.p50, 3), p99: round(seqLat[t]?.p99, 3) }])),
      head_added_sequential_p50_ms: round((seqLat.hubgate?.p50 ?? 0) - (seqLat.direct?.p50 ?? 0), 3),
      head_added_sequential_p99_ms: round((seqLat.hubgate?.p99 ?? 0) - (seqLat.direct?.p99 ?? 0), 3),
      head_added_p50_ms: round((headLat.hubgate?.p50 ?? 0) - (headLat.direct?.p50 ?? 0), 3),
      head_added_p99_ms: round((headLat.hubgate?.p99 ?? 0) - (headLat.direct?.p99 ?? 0), 3),
      rss_peak_mb: round(Math.max(final.hwmKb, rssPeakDuringPulls) / 1024, 1),
      rss_during_parallel_pulls_mb: round(rssPeakDuringPulls / 1024, 1),
      parallel_pulls_seconds: round(parallelSeconds, 1),
      bench_seconds: Math.round((Date.now() - started) / 1000),
      targets: {
        'get_ratio_vs_node_pipe >=': 1.0,
        'put_ratio_vs_node_pipe >=': 1.0,
        'head_cpu_ratio_vs_node_pipe <=': 1.0,
        'head_added_p50_ms <=': 1,
        'head_added_p99_ms <=': 5,
        'rss_during_parallel_pulls_mb <=': 200,
      },
    };
    const outDir = path.join(ROOT, 'bench', 'results');
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'passthrough.json'), JSON.stringify(results, null, 2) + '\n');

    const line = (name: string, v: unknown, target: string, ok: boolean | null) => console.log(`${name.padEnd(34)} ${String(v).padEnd(10)} target ${target.padEnd(8)} ${ok === null ? '' : ok ? 'met' : 'MISSED'}`);
    console.log('\nthroughput MB/s, best run (GET / PUT):');
    for (const t of targets) console.log(`  ${t.padEnd(16)} ${String(results.get_mb_per_s[t]).padStart(8)} / ${String(results.put_mb_per_s[t]).padStart(8)}   every run: ${getRuns[t]?.join(' ')} / ${putRuns[t]?.join(' ')}`);
    console.log('CPU of the proxy process (direct: the registry), s per GiB GET / PUT, us per HEAD:');
    for (const t of targets) console.log(`  ${t.padEnd(16)} ${String(results.cpu_s_per_gib_get[t]).padStart(8)} / ${String(results.cpu_s_per_gib_put[t]).padStart(8)} / ${String(results.cpu_us_per_head[t]).padStart(8)}`);
    for (const [phase, v] of Object.entries(results.hubgate_cpu_s_per_gib_by_thread)) console.log(`  hubgate ${phase}: main thread ${v.main} s/GiB, helper threads (GC, …) ${v.helper_threads} s/GiB`);
    console.log('manifest HEAD latency ms (p50 / p99):');
    for (const t of targets) console.log(`  ${t.padEnd(16)} ${String(results.head_latency_ms[t].p50).padStart(8)} / ${String(results.head_latency_ms[t].p99).padStart(8)}`);
    console.log('manifest HEAD latency ms, one at a time (p50 / p99):');
    for (const t of targets) console.log(`  ${t.padEnd(16)} ${String(results.head_latency_sequential_ms[t].p50).padStart(8)} / ${String(results.head_latency_sequential_ms[t].p99).padStart(8)}`);
    console.log('');
    line('get_ratio_vs_node_pipe', results.get_ratio_vs_node_pipe, '>= 1.0', results.get_ratio_vs_node_pipe === null ? null : results.get_ratio_vs_node_pipe >= 1);
    line('put_ratio_vs_node_pipe', results.put_ratio_vs_node_pipe, '>= 1.0', results.put_ratio_vs_node_pipe === null ? null : results.put_ratio_vs_node_pipe >= 1);
    line('get_ratio_vs_node_pipe_malloc', results.get_ratio_vs_node_pipe_malloc, '(info)', null);
    line('put_ratio_vs_node_pipe_malloc', results.put_ratio_vs_node_pipe_malloc, '(info)', null);
    line('get_ratio_vs_nginx', results.get_ratio_vs_nginx, '-', null);
    line('get_cpu_ratio_vs_node_pipe', results.get_cpu_ratio_vs_node_pipe, '(info)', null);
    line('put_cpu_ratio_vs_node_pipe', results.put_cpu_ratio_vs_node_pipe, '(info)', null);
    line('head_cpu_ratio_vs_node_pipe', results.head_cpu_ratio_vs_node_pipe, '<= 1.0', results.head_cpu_ratio_vs_node_pipe === null ? null : results.head_cpu_ratio_vs_node_pipe <= 1);
    line('head_cpu_ratio_vs_pipe_malloc', results.head_cpu_ratio_vs_node_pipe_malloc, '(info)', null);
    line('head_added_p50_ms', results.head_added_p50_ms, '<= 1', (results.head_added_p50_ms ?? 99) <= 1);
    line('head_added_p99_ms', results.head_added_p99_ms, '<= 5', (results.head_added_p99_ms ?? 99) <= 5);
    line('head_added_seq_p50_ms', results.head_added_sequential_p50_ms, '(info)', null);
    line('head_added_seq_p99_ms', results.head_added_sequential_p99_ms, '(info)', null);
    line('rss_during_10_pulls_mb', results.rss_during_parallel_pulls_mb, '<= 200', (results.rss_during_parallel_pulls_mb ?? 999) <= 200);
    line('rss_peak_mb (VmHWM)', results.rss_peak_mb, '-', null);
    console.log(`\nwritten: bench/results/passthrough.json (${results.bench_seconds} s)`);
  } finally {
    clearTimeout(guard);
    // Profiled children write their .cpuprofile on SIGTERM: wait for them before this process exits.
    const exited = process.env.BENCH_CPU_PROF_DIR ? children.filter((c) => c.exitCode === null).map((c) => new Promise((r) => c.once('exit', r))) : [];
    stopAll();
    await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 10_000))]);
  }
}

/** Processes that are not our children but must go with them (nginx workers). */
const strays: number[] = [];

function killStrays(): void {
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

function stopAll(): void {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill(process.env.BENCH_CPU_PROF_DIR ? 'SIGTERM' : 'SIGKILL');
  killStrays();
  for (const c of cleanups.splice(0)) c();
}

process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  killStrays();
});
