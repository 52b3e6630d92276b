/**
 * Image list benchmark (issues 5 and 15). On 127.0.0.1 only:
 *
 *   hubgate (in-process, real adapters, real redis-server) → Harbor double (its own process, a real docker-registry
 *   behind /v2) seeded with BENCH_WORKSPACES × BENCH_IMAGES_PER_WORKSPACE images (default 200 × 50 = 10,000), a
 *   BENCH_HARBOR_LATENCY_MS (20 ms) delay on every REST call, Harbor's page_size cap of 100.
 *
 * Workspaces belong to 20 platform projects, every other one public; each image has one version. Measured through
 * hubgate's HTTP API with bearer tokens that outlive the run:
 *
 *   cold         BENCH_COLD_REQUESTS (20) lists, each to a freshly started hubgate with Redis flushed;
 *   warm         BENCH_WARM_REQUESTS (300) lists (member all/own, cloud admin; random page, sort, size ≤ 100) once the
 *                background stats fill has finished;
 *   after write  10 lists, each right after a description change through hubgate (a per-image invalidation);
 *   push         5 pushes (skopeo through hubgate's registry front) into a fresh workspace: time from the end of the
 *                push until the new version shows in the list;
 *   steady       BENCH_STEADY_SECONDS (60) of lists at ~5 a second: Harbor calls per minute by operation;
 *   RSS          hubgate's process RSS (peak of samples taken every 250 ms from the warm phase on).
 *
 * When the scale is not 10,000 the bench first runs the 10,000 scale too (BENCH_LIST_COMPARE=0 skips it), so both
 * sets of figures are printed side by side. Targets (issue 15, at 100,000 images): p95 warm ≤ 50 ms, cold ≤ 2 s,
 * after a write ≤ 300 ms, push visible ≤ 1 s, RSS ≤ 300 MB. Results: bench/results/list.json. Never fails on a slow
 * machine; only a broken setup (wrong totals, errors) fails it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { startHarborDouble } from '../test/harbor-double';
import { Rest, sendPage } from '../test/harbor-double/rest';
import type { State } from '../test/harbor-double/state';
import { send } from '../test/harbor-double/http';
import { startJwks, type TestIdp } from '../test/support/tokens';
import { startRedis, type TestRedis } from '../test/support/redis';
import { freePort, startRegistry } from '../test/support/registry';
import { buildImage, run as runTool, tempDir } from '../test/support/clients';
import { ADMIN_PASSWORD, ADMIN_USERNAME, CREDENTIAL_SECRET } from '../test/support/stack';
import { transpileProject } from './transpile';
import { MALLOC_ENV } from '../src/runtime';
import { formatMarker, WORKSPACE_ACCESS } from '../src/domain/credentials.service';

const env = (k: string, d: number) => (process.env[k] === undefined || process.env[k] === '' ? d : Number(process.env[k]));
const WORKSPACES = env('BENCH_WORKSPACES', 200);
const IMAGES_PER_WORKSPACE = env('BENCH_IMAGES_PER_WORKSPACE', 50);
const PROJECTS = 20;
const HARBOR_LATENCY_MS = env('BENCH_HARBOR_LATENCY_MS', 20);
const WARM_REQUESTS = env('BENCH_WARM_REQUESTS', 300);
const COLD_REQUESTS = env('BENCH_COLD_REQUESTS', 20);
const STEADY_SECONDS = env('BENCH_STEADY_SECONDS', 60);
/**
 * Background stats fill calls in flight during the bench (HUBGATE_IMAGES_STATS_FILL_CONCURRENCY; default 4 in
 * production). 8, not more: every call in flight keeps its request and response objects alive past a young-generation
 * collection, and at 32 that promoted garbage grew hubgate's heap (and RSS) by ~40 MB per 10,000 images filled
 * (measured at 10,000: peak RSS 202 MB at 32, 162 MB at 8) while the fill was CPU-bound anyway on 2 cores.
 */
const FILL_CONCURRENCY = env('BENCH_STATS_FILL_CONCURRENCY', 8);
const AFTER_WRITE_REQUESTS = 10;
const PUSHES = 5;
const TOKEN_LIFETIME_SECONDS = 24 * 3600;
const TARGETS = { p95_warm_ms: 50, p95_cold_ms: 2000, p95_after_write_ms: 300, push_visible_ms: 1000, rss_mb: 300 };

const project = (i: number) => ({ id: `proj-${String(i).padStart(2, '0')}`, name: `Project ${i}`, department: `dept-${i % 4}` });
const wsName = (i: number) => `ws-${String(i).padStart(4, '0')}`;

interface Scale {
  workspaces: number;
  perWorkspace: number;
}

/** Fills the double's state directly (as if everything had been pushed): projects, robots (owners), repositories, artifacts, tags. */
export function seed(s: State, scale: Scale): void {
  const now = Date.now();
  const perms = new Map<number, string[]>();
  for (let w = 0; w < scale.workspaces; w++) {
    const p = s.newProject(wsName(w), { public: String(w % 2 === 0) }, -1, now - 86_400_000);
    const owner = w % PROJECTS;
    perms.set(owner, [...(perms.get(owner) ?? []), p.name]);
    for (let i = 0; i < scale.perWorkspace; i++) {
      const name = `${p.name}/${i % 10 === 0 ? 'team/' : ''}app-${String(i).padStart(2, '0')}`;
      const t = now - ((w * scale.perWorkspace + i) % 5000) * 1000;
      const repoId = s.next('repository');
      s.repositories.set(repoId, { id: repoId, projectId: p.id, name, description: '', pullCount: (w * 7 + i * 13) % 1000, creationTime: t, updateTime: t });
      const artifactId = s.next('artifact');
      const digest = `sha256:${artifactId.toString(16).padStart(64, '0')}`;
      s.artifacts.set(artifactId, {
        id: artifactId,
        repositoryId: repoId,
        projectId: p.id,
        digest,
        manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
        mediaType: 'application/vnd.oci.image.config.v1+json',
        size: 1000 + i,
        pushTime: t,
        pullTime: 0,
        extraAttrs: { architecture: 'amd64', os: 'linux', author: '', config: {}, created: null },
        history: null,
        blobs: [],
        manifestSize: 500,
        type: 'IMAGE',
      });
      const tagId = s.next('tag');
      s.tags.set(tagId, { id: tagId, name: '1.0', artifactId, repositoryId: repoId, pushTime: t, pullTime: 0 });
    }
  }
  indexLookups(s);
  for (const [owner, workspaces] of perms) {
    const pr = project(owner);
    const id = s.next('robot');
    s.robots.set(id, {
      id,
      name: `hg-${pr.id}`,
      description: formatMarker({ v: 1, project: pr.id, name: pr.name, department: pr.department, gen: 1 }),
      level: 'system',
      projectId: 0,
      duration: -1,
      disable: false,
      secret: 'Bench-secret-0123456789abcdef',
      creationTime: now,
      updateTime: now,
      permissions: workspaces.map((namespace) => ({ kind: 'project', namespace, access: WORKSPACE_ACCESS.map((a) => ({ ...a })) })),
    });
  }
}

/**
 * The double scans every artifact/tag/repository for each row it renders and sorts every repository for each page
 * (fine for tests, O(n²) at 100,000 images), and its CPU would stand in for Harbor's latency (which the delay
 * models). Index those lookups, kept current by re-indexing when the counts change (pushes add rows).
 */
function indexLookups(s: State): void {
  type A = State['artifacts'] extends Map<number, infer X> ? X : never;
  type T = State['tags'] extends Map<number, infer X> ? X : never;
  type R = State['repositories'] extends Map<number, infer X> ? X : never;
  // Indexes kept current by the maps' own set/delete (the double changes rows only through them; a tag moved to
  // another artifact is found through its repository, which never changes), not rebuilt from 100,000 rows after
  // every push (that rebuild was the double's CPU, ~0.3 s per push, in the push-visibility figure).
  const artifactsByRepo = new Map<number, A[]>();
  const artifactsByProject = new Map<number, A[]>();
  const tagsByRepo = new Map<number, T[]>();
  const reposByProject = new Map<number, R[]>();
  const add = <V>(m: Map<number, V[]>, k: number, v: V) => {
    const l = m.get(k);
    if (l) l.push(v);
    else m.set(k, [v]);
  };
  const drop = <V>(m: Map<number, V[]>, k: number, v: V) => {
    const l = m.get(k);
    const i = l ? l.indexOf(v) : -1;
    if (i >= 0) l!.splice(i, 1);
  };
  const track = <V>(m: Map<number, V>, on: (v: V) => void, off: (v: V) => void) => {
    const set = m.set.bind(m);
    const del = m.delete.bind(m);
    m.set = (k, v) => {
      const old = m.get(k);
      if (old) off(old);
      set(k, v);
      on(v);
      return m;
    };
    m.delete = (k) => {
      const old = m.get(k);
      if (old) off(old);
      return del(k);
    };
    for (const v of m.values()) on(v);
  };
  track(
    s.artifacts,
    (a) => (add(artifactsByRepo, a.repositoryId, a), add(artifactsByProject, a.projectId, a)),
    (a) => (drop(artifactsByRepo, a.repositoryId, a), drop(artifactsByProject, a.projectId, a)),
  );
  track(s.tags, (t) => add(tagsByRepo, t.repositoryId, t), (t) => drop(tagsByRepo, t.repositoryId, t));
  track(s.repositories, (r) => add(reposByProject, r.projectId, r), (r) => drop(reposByProject, r.projectId, r));
  s.artifactsOf = (repoId) => [...(artifactsByRepo.get(repoId) ?? [])];
  s.tagsOf = (artifactId) => {
    const repoId = s.artifacts.get(artifactId)?.repositoryId;
    return repoId === undefined ? [] : (tagsByRepo.get(repoId) ?? []).filter((t) => t.artifactId === artifactId);
  };
  s.reposOfProject = (projectId) => [...(reposByProject.get(projectId) ?? [])];
  // A project's quota usage from its own artifacts (Harbor keeps it in its quota_usage table), not a scan of all
  // 100,000 artifacts per project: the quota poll's 2,000 rows cost the double ~3 CPU seconds each time otherwise,
  // taken from the 2 cores hubgate runs on.
  const projectUsage = s.projectUsage.bind(s);
  s.projectUsage = (projectId) => {
    const own = artifactsByProject.get(projectId) ?? [];
    if ((s.pendingBlobs.get(projectId)?.size ?? 0) > 0) return projectUsage(projectId);
    const seen = new Map<string, number>();
    for (const a of own) {
      seen.set(a.digest, a.manifestSize);
      for (const b of a.blobs) seen.set(b.digest, b.size);
    }
    let sum = 0;
    for (const v of seen.values()) sum += v;
    return sum;
  };
  // The default order (creation time, id) of the whole list only changes when repositories are added or removed.
  // The whole platform list in its default order (creation time, id) only changes when repositories are added or
  // removed: hubgate's admin walk of GET /repositories pages through one remembered copy instead of sorting 100,000
  // rows per page (Harbor answers such a page from an index, in the 20 ms the delay models).
  type Ctx = { query: URLSearchParams; principal: { kind: string } };
  const proto = Rest.prototype as unknown as {
    allRepositories: (ctx: Ctx) => void;
    sortRepos: (ctx: Ctx, rows: R[]) => R[];
    repoView: (r: R) => unknown;
  };
  // A repository's JSON view is built once and again only when one of its fields or its artifact count changed
  // (Harbor reads these rows from its database; the double would format two dates per row per answer).
  const repoView = proto.repoView;
  const views = new Map<number, { r: R; fields: unknown[]; view: unknown }>();
  proto.repoView = function (this: typeof proto, r: R) {
    const fields = [r.name, r.projectId, r.pullCount, r.updateTime, r.creationTime, r.description, artifactsByRepo.get(r.id)?.length ?? 0];
    const hit = views.get(r.id);
    if (hit && hit.r === r && hit.fields.every((f, i) => f === fields[i])) return hit.view;
    const view = repoView.call(this, r);
    views.set(r.id, { r, fields, view });
    return view;
  };
  const allRepositories = proto.allRepositories;
  let memo: { key: string; rows: R[] } | undefined;
  // The catalogue walk's id ranges (`q=repository_id=[a~b]`, no sort) are answered from the same copy, filtered
  // (Harbor: an index range scan), instead of matching every row's fields against q for each of ~100 requests.
  // The walk's first call (`sort=-repository_id`, newest id and the count) reads the same copy backwards.
  const idRange = /^repository_id=\[(\d*)~(\d*)\]$/;
  let byId: { key: string; rows: R[] } | undefined;
  // Each range's rows (and its answer's bytes): the walk asks for the same ~100 ranges on every cold start, and
  // building 17 MB of JSON per walk would be the double's CPU taken from the 2 cores hubgate is measured on.
  const ranges = new Map<string, { rows: R[]; sig: number; body: string }>();
  const firstAtLeast = (rows: R[], id: number) => {
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rows[mid].id < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  proto.allRepositories = function (this: typeof proto, ctx) {
    const q = ctx.query.get('q');
    const sort = ctx.query.get('sort');
    const range = q ? idRange.exec(q) : null;
    if (ctx.principal.kind !== 'admin' || (q && !range) || (sort && (q || sort !== '-repository_id'))) return allRepositories.call(this, ctx);
    const key = `${s.repositories.size}/${s.projects.size}`;
    if (range || sort) {
      if (byId?.key !== key) byId = { key, rows: [...s.repositories.values()].sort((a, b) => a.id - b.id) };
      if (sort) return sendPage(ctx as never, byId.rows.slice().reverse(), (r) => this.repoView(r));
      const from = firstAtLeast(byId.rows, range![1] ? Number(range![1]) : -Infinity);
      const to = firstAtLeast(byId.rows, range![2] ? Number(range![2]) + 1 : Infinity);
      // in Harbor's default order (creation time, id; newest first), as the generic path answers
      const slot = `${byId.key}/${range![1]}~${range![2]}`;
      let cached = ranges.get(slot);
      if (!cached) {
        cached = { rows: byId.rows.slice(from, to).sort((a, b) => b.creationTime - a.creationTime || b.id - a.id), sig: NaN, body: '' };
        ranges.set(slot, cached);
      }
      if (ctx.query.get('page_size') !== '0') return sendPage(ctx as never, cached.rows, (r) => this.repoView(r));
      // The answer's bytes are kept while no row of the range changed (the same fields repoView reads).
      let sig = 0;
      for (const r of cached.rows) {
        sig = (sig * 31 + r.id + r.pullCount + r.updateTime + (artifactsByRepo.get(r.id)?.length ?? 0) * 13) % 2_147_483_647;
        for (let i = 0; i < r.description.length; i++) sig = (sig * 31 + r.description.charCodeAt(i)) % 2_147_483_647;
      }
      if (cached.sig !== sig) cached = Object.assign(cached, { sig, body: JSON.stringify(cached.rows.map((r) => this.repoView(r))) + '\n' });
      return send(ctx as never, 200, cached.body, { 'Content-Type': 'application/json', 'X-Total-Count': String(cached.rows.length) });
    }
    if (memo?.key !== key) memo = { key, rows: this.sortRepos(ctx, [...s.repositories.values()]) };
    sendPage(ctx as never, memo.rows, (r) => this.repoView(r));
  };
  // Indexes built now, not by the first cold sample's calls.
  byId = { key: `${s.repositories.size}/${s.projects.size}`, rows: [...s.repositories.values()].sort((a, b) => a.id - b.id) };
}

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const round = (n: number) => Math.round(n * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Caller {
  name: string;
  token: string;
  query: () => string;
  expectTotal: number;
}

async function timedGet(base: string, token: string, pathAndQuery: string): Promise<{ ms: number; body: { total: number; items: Record<string, unknown>[] } }> {
  const t0 = process.hrtime.bigint();
  const res = await fetch(`${base}/api/v1${pathAndQuery}`, { headers: { Authorization: `Bearer ${token}` } });
  const text = await res.text();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (res.status !== 200) throw new Error(`GET ${pathAndQuery} → ${res.status}: ${text.slice(0, 300)}`);
  return { ms, body: JSON.parse(text) as { total: number; items: Record<string, unknown>[] } };
}

/** Calls hubgate made to Harbor so far, by adapter operation (its hubgate_harbor_requests_total counter). */
async function harborCalls(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^hubgate_harbor_requests_total\{([^}]*)\} (\d+(?:\.\d+)?)$/gm)) {
    const op = /operation="([^"]*)"/.exec(m[1])?.[1] ?? '?';
    out[op] = (out[op] ?? 0) + Number(m[2]);
  }
  return out;
}
const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const diff = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] ?? 0)]).filter(([, v]) => (v as number) > 0)) as Record<string, number>;

const HUBGATE_DIR = tempDir('bench-list-hubgate');
let transpiled = false;

interface Hub {
  url: string;
  pid: number;
  close(): Promise<void>;
}

/**
 * Starts hubgate as its own process (compiled JS, production GC settings, as src/main.ts runs it), so that its RSS is
 * its own and a "fresh replica" is a fresh process. Resolves once /healthz answers.
 */
export async function startHub(harborUrl: string, redisUrl: string, idp: TestIdp, opts: { env?: Record<string, string>; stdout?: number; execArgv?: string[] } = {}): Promise<Hub> {
  if (!transpiled) {
    transpileProject(HUBGATE_DIR);
    fs.writeFileSync(
      path.join(HUBGATE_DIR, 'bench-main.js'),
      `require('./src/runtime').tuneGarbageCollector();
const { loadConfig } = require('./src/config');
const { startServer } = require('./src/server');
startServer(loadConfig(process.env)).catch((e) => { console.error(e); process.exit(1); });
process.on('SIGTERM', () => process.exit(0));
`,
    );
    transpiled = true;
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [...(opts.execArgv ?? []), path.join(HUBGATE_DIR, 'bench-main.js')], {
    env: {
      // As deployed: glibc's heap setting (src/runtime.ts MALLOC_ENV); one in the bench's environment wins. The
      // 100k run recorded at 53f6ab9 predates this line (a probe with it peaked at 237 MB: README, fast lists).
      ...MALLOC_ENV,
      ...process.env,
      HUBGATE_PORT: String(port),
      HUBGATE_HOST: '127.0.0.1',
      HUBGATE_PUBLIC_URL: url,
      HARBOR_URL: harborUrl,
      HARBOR_ADMIN_USERNAME: ADMIN_USERNAME,
      HARBOR_ADMIN_PASSWORD: ADMIN_PASSWORD,
      HARBOR_TIMEOUT_MS: '30000',
      HARBOR_HEALTH_POLL_MS: '3600000',
      OIDC_ISSUER: idp.issuer,
      OIDC_JWKS_URL: idp.jwksUrl,
      OIDC_AUDIENCE: idp.audience,
      OIDC_ADMIN_ROLE: idp.adminRole,
      HUBGATE_CREDENTIAL_SECRET: CREDENTIAL_SECRET,
      HUBGATE_LOCK_QUARANTINE_MS: '0',
      HUBGATE_IMAGES_STATS_FILL_CONCURRENCY: String(FILL_CONCURRENCY),
      REDIS_URL: redisUrl,
      LOG_LEVEL: 'error',
      NODE_ENV: 'production',
      ...opts.env,
    },
    stdio: ['ignore', opts.stdout ?? 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (let i = 0; ; i++) {
    const ok = await fetch(`${url}/healthz`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (child.exitCode !== null || i > 600) throw new Error('hubgate did not start');
    await sleep(100);
  }
  return {
    url,
    pid: child.pid!,
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Peak RSS (VmHWM) of a process, MB. */
function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024;
}

/** Starts the seeded double (and its docker-registry) in a child process (this file, BENCH_LIST_CHILD=double); resolves with its URL. */
export function startDoubleProcess(scale: Scale, execArgv: string[] = []): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [...execArgv, '-r', require.resolve('ts-node/register/transpile-only'), __filename], {
    env: { ...process.env, BENCH_LIST_CHILD: 'double', BENCH_CHILD_WORKSPACES: String(scale.workspaces), BENCH_CHILD_PER_WORKSPACE: String(scale.perWorkspace) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /^DOUBLE (\S+)$/m.exec(buf);
      if (m) resolve({ url: m[1], child });
    });
    child.once('exit', (code) => reject(new Error(`Harbor double process exited (${code})`)));
  });
}

interface ScaleResult {
  images: number;
  workspaces: number;
  p95_warm_ms: number;
  p50_warm_ms: number;
  p95_cold_ms: number;
  p50_cold_ms: number;
  p95_after_write_ms: number;
  push_visible_ms_max: number;
  push_visible_ms: number[];
  rss_mb_peak: number;
  harbor_calls_per_minute: number;
  harbor_calls_per_minute_by_operation: Record<string, number>;
  harbor_calls_per_after_write_list: number;
  cold_harbor_calls: number;
  stats_fill_seconds: number;
  warm_by_caller_p95_ms: Record<string, number>;
  samples: { warm: number; cold: number; after_write: number; steady_lists: number; steady_seconds: number };
  /** The machine's 1-minute load average when this scale's run started and ended (2 shared cores: the figures are CPU-bound). */
  load_average: { start: number; end: number };
}

async function runScale(scale: Scale, redis: TestRedis, idp: TestIdp): Promise<ScaleResult> {
  const loadAtStart = round(os.loadavg()[0]);
  let child: ChildProcess | undefined;
  const hubs: Hub[] = [];
  const work = tempDir('bench-list');
  try {
    const double = await startDoubleProcess(scale);
    child = double.child;
    const images = scale.workspaces * scale.perWorkspace;
    const start = async () => {
      const hub = await startHub(double.url, redis.url, idp);
      hubs.push(hub);
      return hub;
    };
    const life = { expiresIn: TOKEN_LIFETIME_SECONDS };
    const member = project(0);
    const memberToken = await idp.memberToken({ sub: 'u-bench', username: 'bench', projects: [member] }, life);
    const adminToken = await idp.adminToken({ sub: 'u-root', username: 'root' }, life);
    const ws = Array.from({ length: scale.workspaces }, (_, w) => w);
    const ownWorkspaces = ws.filter((w) => w % PROJECTS === 0).length;
    const sharedWorkspaces = ws.filter((w) => w % PROJECTS !== 0 && w % 2 === 0).length;
    const sorts = ['name', '-name', 'updated', '-updated', 'pulls', '-pulls'];
    const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)];
    const pageQuery = (view: string, total: number) => {
      const size = pick([20, 20, 50, 100]);
      const page = 1 + Math.floor(Math.random() * Math.max(1, Math.ceil(total / size)));
      return `/images?view=${view}&sort=${pick(sorts)}&page=${page}&page_size=${size}`;
    };
    const callers: Caller[] = [
      { name: 'member all', token: memberToken, expectTotal: (ownWorkspaces + sharedWorkspaces) * scale.perWorkspace, query: () => '' },
      { name: 'member own', token: memberToken, expectTotal: ownWorkspaces * scale.perWorkspace, query: () => '' },
      { name: 'admin all', token: adminToken, expectTotal: images, query: () => '' },
    ];
    callers[0].query = () => pageQuery('all', callers[0].expectTotal);
    callers[1].query = () => pageQuery('own', callers[1].expectTotal);
    callers[2].query = () => pageQuery('all', callers[2].expectTotal);
    const flush = async () => {
      const c = new Redis(redis.url, { lazyConnect: true });
      await c.connect();
      await c.flushall();
      c.disconnect();
    };

    // ── cold: a fresh hubgate, Redis flushed ─────────────────────────────────────────────────────────────
    const cold: number[] = [];
    let coldCalls = 0;
    for (let i = 0; i < COLD_REQUESTS; i++) {
      await flush();
      const hub = await start();
      // Only the token verifier's key fetch is warmed (an authenticated 404); the list itself starts from nothing.
      await fetch(`${hub.url}/api/v1/bench-warm-jwks`, { headers: { Authorization: `Bearer ${memberToken}` } });
      const before = sum(await harborCalls(hub.url));
      const c = callers[i % callers.length];
      const { ms, body } = await timedGet(hub.url, c.token, `/images?view=${c.name === 'member own' ? 'own' : 'all'}&page_size=20`);
      if (body.total !== c.expectTotal) throw new Error(`cold ${c.name}: total ${body.total}, expected ${c.expectTotal}`);
      cold.push(ms);
      coldCalls = Math.max(coldCalls, sum(await harborCalls(hub.url)) - before);
      await hub.close();
      hubs.pop();
    }

    // ── warm ──────────────────────────────────────────────────────────────────────────────────────────────
    console.log(`  [${images}] cold p95 ${round(percentile(cold, 95))} ms`);
    await flush();
    const hub = await start();
    {
      for (const c of callers) {
        const { body } = await timedGet(hub.url, c.token, `/images?view=${c.name === 'member own' ? 'own' : 'all'}&page_size=100`);
        if (body.total !== c.expectTotal) throw new Error(`warm-up ${c.name}: total ${body.total}, expected ${c.expectTotal}`);
      }
      // Warm = the background stats fill has finished: wait until hubgate stops calling the double.
      const fillStarted = Date.now();
      for (let last = -1, now = sum(await harborCalls(hub.url)); now !== last; now = sum(await harborCalls(hub.url))) {
        last = now;
        await sleep(2000);
      }
      const fillSeconds = round((Date.now() - fillStarted - 2000) / 1000);
      console.log(`  [${images}] stats fill ${fillSeconds} s`);
      const warm: number[] = [];
      const warmBy: Record<string, number[]> = {};
      for (let i = 0; i < WARM_REQUESTS; i++) {
        const c = callers[i % callers.length];
        const { ms, body } = await timedGet(hub.url, c.token, c.query());
        if (body.total !== c.expectTotal) throw new Error(`warm ${c.name}: total ${body.total}, expected ${c.expectTotal}`);
        warm.push(ms);
        (warmBy[c.name] ??= []).push(ms);
      }

      console.log(`  [${images}] warm p95 ${round(percentile(warm, 95))} ms`);
      // ── right after a write through hubgate (a per-image invalidation) ───────────────────────────────────
      const afterWrite: number[] = [];
      const writeCalls: number[] = [];
      for (let i = 0; i < AFTER_WRITE_REQUESTS; i++) {
        const res = await fetch(`${hub.url}/api/v1/workspaces/${wsName(0)}/images/app-01`, {
          method: 'PATCH',
          headers: { Authorization: `Bearer ${memberToken}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ description: `bench ${i}` }),
        });
        if (res.status !== 200) throw new Error(`PATCH description → ${res.status}`);
        const before = sum(await harborCalls(hub.url));
        afterWrite.push((await timedGet(hub.url, memberToken, '/images?view=all&page_size=20')).ms);
        writeCalls.push(sum(await harborCalls(hub.url)) - before);
      }

      // ── a push through the registry front: how soon the list shows it ──────────────────────────────────
      const pushWs = 'bench-push';
      const pushProject = { id: 'proj-push', name: 'Push', department: 'dept-0' };
      const pushToken = await idp.memberToken({ sub: 'u-push', username: 'pusher', projects: [pushProject] }, life);
      const api = async (method: string, p: string, body?: unknown) => {
        const res = await fetch(`${hub.url}/api/v1${p}`, {
          method,
          headers: { Authorization: `Bearer ${pushToken}`, 'Content-Type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (res.status >= 300) throw new Error(`${method} ${p} → ${res.status} ${await res.text()}`);
        return (await res.json()) as Record<string, string>;
      };
      await api('POST', '/workspaces', { name: pushWs, projectId: pushProject.id, access: 'private' });
      const creds = await api('GET', `/projects/${pushProject.id}/credentials`);
      const host = new URL(hub.url).host;
      const pushVisible: number[] = [];
      for (let i = 0; i < PUSHES; i++) {
        const img = await buildImage(path.join(work, `img-${i}`), { layers: [{ bytes: 2000 + i }], label: `bench-${i}` });
        const r = await runTool('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `${creds.username}:${creds.password}`, `oci:${img.dir}:latest`, `docker://${host}/${pushWs}/app:v${i}`]);
        if (r.code !== 0) throw new Error(`skopeo push failed: ${r.stderr}`);
        const pushed = process.hrtime.bigint();
        for (;;) {
          const { body } = await timedGet(hub.url, pushToken, `/images?workspace=${pushWs}&page_size=20`);
          const row = body.items.find((x) => x.image === 'app');
          if (row && row.versionCount === i + 1) break;
          if (Number(process.hrtime.bigint() - pushed) / 1e6 > 30_000) throw new Error(`push ${i} not visible after 30 s`);
          await sleep(20);
        }
        pushVisible.push(round(Number(process.hrtime.bigint() - pushed) / 1e6));
      }

      // ── steady state: lists at ~5 per second, Harbor calls per minute by operation ─────────────────────
      const steadyStart = await harborCalls(hub.url);
      const t0 = Date.now();
      let steadyLists = 0;
      while (Date.now() - t0 < STEADY_SECONDS * 1000) {
        const c = callers[steadyLists % callers.length];
        await timedGet(hub.url, c.token, c.query());
        steadyLists++;
        await sleep(200);
      }
      const minutes = (Date.now() - t0) / 60_000;
      const steady = diff(steadyStart, await harborCalls(hub.url));
      const perMinute = Object.fromEntries(Object.entries(steady).map(([k, v]) => [k, round(v / minutes)]));

      return {
        images,
        workspaces: scale.workspaces,
        p95_warm_ms: round(percentile(warm, 95)),
        p50_warm_ms: round(percentile(warm, 50)),
        p95_cold_ms: round(percentile(cold, 95)),
        p50_cold_ms: round(percentile(cold, 50)),
        p95_after_write_ms: round(percentile(afterWrite, 95)),
        push_visible_ms_max: Math.max(...pushVisible),
        push_visible_ms: pushVisible,
        rss_mb_peak: round(peakRssMb(hub.pid)),
        harbor_calls_per_minute: round(sum(steady) / minutes),
        harbor_calls_per_minute_by_operation: perMinute,
        harbor_calls_per_after_write_list: Math.max(...writeCalls),
        cold_harbor_calls: coldCalls,
        stats_fill_seconds: fillSeconds,
        warm_by_caller_p95_ms: Object.fromEntries(Object.entries(warmBy).map(([k, v]) => [k, round(percentile(v, 95))])),
        samples: { warm: warm.length, cold: cold.length, after_write: afterWrite.length, steady_lists: steadyLists, steady_seconds: STEADY_SECONDS },
        load_average: { start: loadAtStart, end: round(os.loadavg()[0]) },
      };
    }
  } finally {
    for (const h of hubs) await h.close().catch(() => undefined);
    if (child && child.exitCode === null) {
      // SIGTERM: the child stops its docker-registry before it exits.
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function print(r: ScaleResult): void {
  const ok = (b: boolean) => (b ? 'OK  ' : 'MISS');
  console.log(`${r.images} images in ${r.workspaces} workspaces, Harbor REST delay ${HARBOR_LATENCY_MS} ms, redis-server`);
  console.log(`  ${ok(r.p95_warm_ms <= TARGETS.p95_warm_ms)} warm         p95 ${r.p95_warm_ms} ms (p50 ${r.p50_warm_ms})  target ≤ ${TARGETS.p95_warm_ms} ms   [${r.samples.warm} requests]`);
  for (const [k, v] of Object.entries(r.warm_by_caller_p95_ms)) console.log(`         ${k.padEnd(11)} p95 ${v} ms`);
  console.log(`  ${ok(r.p95_cold_ms <= TARGETS.p95_cold_ms)} cold         p95 ${r.p95_cold_ms} ms (p50 ${r.p50_cold_ms})  target ≤ ${TARGETS.p95_cold_ms} ms  [${r.samples.cold} fresh instances, ≤ ${r.cold_harbor_calls} Harbor calls each]`);
  console.log(`  ${ok(r.p95_after_write_ms <= TARGETS.p95_after_write_ms)} after write  p95 ${r.p95_after_write_ms} ms  target ≤ ${TARGETS.p95_after_write_ms} ms  [≤ ${r.harbor_calls_per_after_write_list} Harbor calls per list]`);
  console.log(`  ${ok(r.push_visible_ms_max <= TARGETS.push_visible_ms)} push visible max ${r.push_visible_ms_max} ms  target ≤ ${TARGETS.push_visible_ms} ms  [${r.push_visible_ms.join(', ')}]`);
  console.log(`  ${ok(r.rss_mb_peak <= TARGETS.rss_mb)} RSS          peak ${r.rss_mb_peak} MB (hubgate process VmHWM)  target ≤ ${TARGETS.rss_mb} MB`);
  console.log(`       steady state: ${r.harbor_calls_per_minute} Harbor calls/min  ${JSON.stringify(r.harbor_calls_per_minute_by_operation)}  [${r.samples.steady_lists} lists in ${r.samples.steady_seconds} s]`);
  console.log(`       background stats fill of all ${r.images} images took ≈ ${r.stats_fill_seconds} s (${FILL_CONCURRENCY} calls in flight)`);
  console.log(`       load average ${r.load_average.start} at the start, ${r.load_average.end} at the end (2 shared cores)`);
}

export async function run(): Promise<void> {
  const idp = await startJwks();
  const redis = await startRedis();
  try {
    const main: Scale = { workspaces: WORKSPACES, perWorkspace: IMAGES_PER_WORKSPACE };
    const compare = process.env.BENCH_LIST_COMPARE !== '0' && WORKSPACES * IMAGES_PER_WORKSPACE !== 10_000;
    const scales = compare ? [{ workspaces: 200, perWorkspace: 50 }, main] : [main];
    const results: ScaleResult[] = [];
    for (const scale of scales) {
      const r = await runScale(scale, redis, idp);
      print(r);
      results.push(r);
    }
    const top = results[results.length - 1];
    const ten = results.find((r) => r.images === 10_000);
    if (ten && ten !== top) {
      console.log(`\n  Harbor calls per minute in steady state: ${ten.harbor_calls_per_minute} at ${ten.images} images, ${top.harbor_calls_per_minute} at ${top.images} images`);
    }
    const out = path.join(__dirname, 'results', 'list.json');
    const result = {
      scale: { images: top.images, workspaces: top.workspaces, images_per_workspace: IMAGES_PER_WORKSPACE, harbor_latency_ms: HARBOR_LATENCY_MS },
      p95_warm_ms: top.p95_warm_ms,
      p95_cold_ms: top.p95_cold_ms,
      p95_after_write_ms: top.p95_after_write_ms,
      push_visible_ms_max: top.push_visible_ms_max,
      rss_mb_peak: top.rss_mb_peak,
      harbor_calls_per_minute: top.harbor_calls_per_minute,
      harbor_calls_per_minute_by_operation: top.harbor_calls_per_minute_by_operation,
      harbor_calls_per_minute_10k: ten?.harbor_calls_per_minute ?? null,
      targets: TARGETS,
      met: {
        warm: top.p95_warm_ms <= TARGETS.p95_warm_ms,
        cold: top.p95_cold_ms <= TARGETS.p95_cold_ms,
        after_write: top.p95_after_write_ms <= TARGETS.p95_after_write_ms,
        push_visible: top.push_visible_ms_max <= TARGETS.push_visible_ms,
        rss: top.rss_mb_peak <= TARGETS.rss_mb,
      },
      runs: results,
      settings: { stats_fill_concurrency: FILL_CONCURRENCY, redis: 'redis-server' },
      date: new Date().toISOString(),
      node: process.version,
    };
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    console.log(`  written to ${path.relative(process.cwd(), out)}`);
  } finally {
    await idp.close();
    await redis.close();
    fs.rmSync(HUBGATE_DIR, { recursive: true, force: true });
  }
}

if (require.main === module && process.env.BENCH_LIST_CHILD === 'double') {
  void (async () => {
    const registry = await startRegistry();
    const h = await startHarborDouble({ restLatencyMs: HARBOR_LATENCY_MS, registryUrl: registry.url });
    seed(h.state, { workspaces: Number(process.env.BENCH_CHILD_WORKSPACES), perWorkspace: Number(process.env.BENCH_CHILD_PER_WORKSPACE) });
    process.on('SIGTERM', () => void registry.stop().then(() => process.exit(0)));
    process.stdout.write(`DOUBLE ${h.url}\n`);
  })();
} else if (require.main === module) {
  run().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
