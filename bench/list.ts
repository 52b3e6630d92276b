/**
 * Image list benchmark (issue 5, item 3). On 127.0.0.1 only:
 *
 *   hubgate (in-process, real adapters) → Harbor double with 10,000 images in 200 workspaces and a 20 ms delay on
 *   every REST call (Harbor's page_size cap of 100 applies), with a real redis-server when one is installed.
 *
 * Workspaces belong to 20 platform projects (10 each), every other one public; each holds 50 images with one
 * version. Measured through hubgate's HTTP API with real bearer tokens:
 *
 *   warm   300 list requests (a member's own+shared view, a member's own view, a cloud admin's whole platform; random
 *          page, sort and page size up to 100) after one warm-up request;
 *   cold   20 list requests, each to a freshly started hubgate with Redis flushed (nothing cached: the image catalogue,
 *          the workspace catalogue and the stats of the page are all read from the double);
 *   after a write  10 lists right after a description change through hubgate (which invalidates the catalogue).
 *
 * Targets: p95 ≤ 50 ms warm, ≤ 1 s cold. Results: printed and written to bench/results/list.json. Never fails
 * on a slow machine; only a broken setup (wrong totals, errors) fails it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { startHarborDouble, type HarborDouble } from '../test/harbor-double';
import type { State } from '../test/harbor-double/state';
import { startJwks, type TestIdp } from '../test/support/tokens';
import { startRedis, type TestRedis } from '../test/support/redis';
import { testConfig } from '../test/support/stack';
import { startServer, type RunningServer } from '../src/server';
import { createLogger } from '../src/observability/logger';
import { formatMarker, WORKSPACE_ACCESS } from '../src/domain/credentials.service';

const WORKSPACES = Number(process.env.BENCH_WORKSPACES ?? 200);
const IMAGES_PER_WORKSPACE = Number(process.env.BENCH_IMAGES_PER_WORKSPACE ?? 50);
const PROJECTS = 20;
const HARBOR_LATENCY_MS = Number(process.env.BENCH_HARBOR_LATENCY_MS ?? 20);
const WARM_REQUESTS = Number(process.env.BENCH_WARM_REQUESTS ?? 300);
const COLD_REQUESTS = Number(process.env.BENCH_COLD_REQUESTS ?? 20);
const AFTER_WRITE_REQUESTS = 10;
const TARGET_WARM_MS = 50;
const TARGET_COLD_MS = 1000;

const project = (i: number) => ({ id: `proj-${String(i).padStart(2, '0')}`, name: `Project ${i}`, department: `dept-${i % 4}` });
const wsName = (i: number) => `ws-${String(i).padStart(3, '0')}`;

/** Fills the double's state directly (as if everything had been pushed): projects, robots (owners), repositories, artifacts, tags. */
export function seed(s: State): void {
  const now = Date.now();
  const perms = new Map<number, string[]>();
  for (let w = 0; w < WORKSPACES; w++) {
    const p = s.newProject(wsName(w), { public: String(w % 2 === 0) }, -1, now - 86_400_000);
    const owner = w % PROJECTS;
    perms.set(owner, [...(perms.get(owner) ?? []), p.name]);
    for (let i = 0; i < IMAGES_PER_WORKSPACE; i++) {
      const name = `${p.name}/${i % 10 === 0 ? 'team/' : ''}app-${String(i).padStart(2, '0')}`;
      const t = now - ((w * IMAGES_PER_WORKSPACE + i) % 5000) * 1000;
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
 * The double scans every artifact/tag for each repository it renders (fine for tests, O(n²) at 10,000 images), and
 * it shares this process with hubgate. Index those lookups on this seeded state so that the double's CPU does not
 * stand in for Harbor's latency (which the 20 ms delay models). The bench writes no artifacts or tags.
 */
function indexLookups(s: State): void {
  const artifactsByRepo = new Map<number, State['artifacts'] extends Map<number, infer A> ? A[] : never>();
  for (const a of s.artifacts.values()) artifactsByRepo.set(a.repositoryId, [...(artifactsByRepo.get(a.repositoryId) ?? []), a]);
  const tagsByArtifact = new Map<number, State['tags'] extends Map<number, infer T> ? T[] : never>();
  for (const t of s.tags.values()) tagsByArtifact.set(t.artifactId, [...(tagsByArtifact.get(t.artifactId) ?? []), t]);
  s.artifactsOf = (repoId) => [...(artifactsByRepo.get(repoId) ?? [])];
  s.tagsOf = (artifactId) => [...(tagsByArtifact.get(artifactId) ?? [])];
}

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const round = (n: number) => Math.round(n * 10) / 10;

interface Caller {
  name: string;
  token: string;
  query: () => string;
  expectTotal: number;
}

async function timedGet(base: string, token: string, pathAndQuery: string): Promise<{ ms: number; body: { total: number; items: unknown[] } }> {
  const t0 = process.hrtime.bigint();
  const res = await fetch(`${base}/api/v1${pathAndQuery}`, { headers: { Authorization: `Bearer ${token}` } });
  const text = await res.text();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (res.status !== 200) throw new Error(`GET ${pathAndQuery} → ${res.status}: ${text.slice(0, 300)}`);
  return { ms, body: JSON.parse(text) as { total: number; items: unknown[] } };
}

/** Calls hubgate made to Harbor so far (its hubgate_harbor_requests_total counter). */
async function harborCalls(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^hubgate_harbor_requests_total\{[^}]*\} (\d+(?:\.\d+)?)$/gm)) sum += Number(m[1]);
  return sum;
}

/** Starts the seeded double in a child process (this file, BENCH_LIST_CHILD=double); resolves with its URL. */
function startDoubleProcess(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-r', require.resolve('ts-node/register/transpile-only'), __filename], {
    env: { ...process.env, BENCH_LIST_CHILD: 'double' },
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

export async function run(): Promise<void> {
  let harbor: Pick<HarborDouble, 'url'> | undefined;
  let child: ChildProcess | undefined;
  let idp: TestIdp | undefined;
  let redis: TestRedis | undefined;
  const hubs: RunningServer[] = [];
  try {
    // The double runs in its own process, as Harbor would: its CPU must not block hubgate's event loop.
    const double = await startDoubleProcess();
    child = double.child;
    harbor = { url: double.url } as HarborDouble;
    idp = await startJwks();
    try {
      redis = await startRedis();
    } catch (e) {
      console.log(`redis-server not available (${(e as Error).message}); measuring with the in-process cache`);
    }
    const images = WORKSPACES * IMAGES_PER_WORKSPACE;
    const config = testConfig({ harborUrl: harbor.url, idp, redisUrl: redis?.url, env: { LOG_LEVEL: 'error' } });
    const start = async () => {
      const hub = await startServer(config, { logger: createLogger('error', () => undefined) });
      hubs.push(hub);
      return hub;
    };
    const member = project(0);
    const memberToken = await idp.memberToken({ sub: 'u-bench', username: 'bench', projects: [member] });
    const adminToken = await idp.adminToken({ sub: 'u-root', username: 'root' });
    const ownWorkspaces = Array.from({ length: WORKSPACES }, (_, w) => w).filter((w) => w % PROJECTS === 0).length;
    const sharedWorkspaces = Array.from({ length: WORKSPACES }, (_, w) => w).filter((w) => w % PROJECTS !== 0 && w % 2 === 0).length;
    const sorts = ['name', '-name', 'updated', '-updated', 'pulls', '-pulls'];
    const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)];
    const pageQuery = (view: string, total: number) => {
      const size = pick([20, 20, 50, 100]);
      const page = 1 + Math.floor(Math.random() * Math.max(1, Math.ceil(total / size)));
      return `/images?view=${view}&sort=${pick(sorts)}&page=${page}&page_size=${size}`;
    };
    const callers: Caller[] = [
      { name: 'member all', token: memberToken, expectTotal: (ownWorkspaces + sharedWorkspaces) * IMAGES_PER_WORKSPACE, query: () => '' },
      { name: 'member own', token: memberToken, expectTotal: ownWorkspaces * IMAGES_PER_WORKSPACE, query: () => '' },
      { name: 'admin all', token: adminToken, expectTotal: images, query: () => '' },
    ];
    callers[0].query = () => pageQuery('all', callers[0].expectTotal);
    callers[1].query = () => pageQuery('own', callers[1].expectTotal);
    callers[2].query = () => pageQuery('all', callers[2].expectTotal);

    // ── cold: a fresh hubgate, nothing cached anywhere ─────────────────────────────────────────────────────
    const cold: number[] = [];
    const flush = async () => {
      if (!redis) return;
      const c = new Redis(redis.url, { lazyConnect: true });
      await c.connect();
      await c.flushall();
      c.disconnect();
    };
    for (let i = 0; i < COLD_REQUESTS; i++) {
      await flush();
      const hub = await start();
      // Only the token verifier's key fetch is warmed (an authenticated 404); the list itself starts from nothing.
      await fetch(`${hub.url}/api/v1/bench-warm-jwks`, { headers: { Authorization: `Bearer ${memberToken}` } });
      const c = callers[i % callers.length];
      const { ms, body } = await timedGet(hub.url, c.token, `/images?view=${c.name === 'member own' ? 'own' : 'all'}&page_size=20`);
      if (body.total !== c.expectTotal) throw new Error(`cold ${c.name}: total ${body.total}, expected ${c.expectTotal}`);
      cold.push(ms);
      await hub.close();
      hubs.pop();
    }

    // ── warm ──────────────────────────────────────────────────────────────────────────────────────────────
    await flush();
    const hub = await start();
    for (const c of callers) {
      const { body } = await timedGet(hub.url, c.token, `/images?view=${c.name === 'member own' ? 'own' : 'all'}&page_size=100`);
      if (body.total !== c.expectTotal) throw new Error(`warm-up ${c.name}: total ${body.total}, expected ${c.expectTotal}`);
    }
    // Warm = the background stats prefetch has finished: wait until hubgate stops calling the double.
    const prefetchStarted = Date.now();
    for (let last = -1, now = await harborCalls(hub.url); now !== last; now = await harborCalls(hub.url)) {
      last = now;
      await new Promise((r) => setTimeout(r, 1500));
    }
    const prefetchSeconds = round((Date.now() - prefetchStarted - 1500) / 1000);
    const warm: number[] = [];
    const warmBy: Record<string, number[]> = {};
    for (let i = 0; i < WARM_REQUESTS; i++) {
      const c = callers[i % callers.length];
      const { ms, body } = await timedGet(hub.url, c.token, c.query());
      if (body.total !== c.expectTotal) throw new Error(`warm ${c.name}: total ${body.total}, expected ${c.expectTotal}`);
      warm.push(ms);
      (warmBy[c.name] ??= []).push(ms);
    }

    // ── right after a write through hubgate (catalogue invalidated, workspace catalogue warm) ─────────────
    const afterWrite: number[] = [];
    for (let i = 0; i < AFTER_WRITE_REQUESTS; i++) {
      const res = await fetch(`${hub.url}/api/v1/workspaces/${wsName(0)}/images/app-01`, {
        method: 'PATCH',
        headers: { Authorization: `Bearer ${memberToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ description: `bench ${i}` }),
      });
      if (res.status !== 200) throw new Error(`PATCH description → ${res.status}`);
      afterWrite.push((await timedGet(hub.url, memberToken, '/images?view=all&page_size=20')).ms);
    }

    const result = {
      images,
      workspaces: WORKSPACES,
      harbor_latency_ms: HARBOR_LATENCY_MS,
      redis: redis ? 'redis-server' : 'in-process',
      p95_warm_ms: round(percentile(warm, 95)),
      p50_warm_ms: round(percentile(warm, 50)),
      p95_cold_ms: round(percentile(cold, 95)),
      p50_cold_ms: round(percentile(cold, 50)),
      p95_after_write_ms: round(percentile(afterWrite, 95)),
      warm_by_caller_p95_ms: Object.fromEntries(Object.entries(warmBy).map(([k, v]) => [k, round(percentile(v, 95))])),
      stats_prefetch_seconds: prefetchSeconds,
      samples: { warm: warm.length, cold: cold.length, after_write: afterWrite.length },
      targets: { p95_warm_ms: TARGET_WARM_MS, p95_cold_ms: TARGET_COLD_MS },
      met: { warm: percentile(warm, 95) <= TARGET_WARM_MS, cold: percentile(cold, 95) <= TARGET_COLD_MS },
      date: new Date().toISOString(),
      node: process.version,
    };
    const ok = (b: boolean) => (b ? 'OK  ' : 'MISS');
    console.log(`${images} images in ${WORKSPACES} workspaces, Harbor REST delay ${HARBOR_LATENCY_MS} ms, cache: ${result.redis}`);
    console.log(`  ${ok(result.met.warm)} warm         p95 ${result.p95_warm_ms} ms (p50 ${result.p50_warm_ms})  target ≤ ${TARGET_WARM_MS} ms   [${warm.length} requests]`);
    for (const [k, v] of Object.entries(result.warm_by_caller_p95_ms)) console.log(`         ${k.padEnd(11)} p95 ${v} ms`);
    console.log(`  ${ok(result.met.cold)} cold         p95 ${result.p95_cold_ms} ms (p50 ${result.p50_cold_ms})  target ≤ ${TARGET_COLD_MS} ms  [${cold.length} fresh instances]`);
    console.log(`       background stats prefetch of all ${images} images took ≈ ${prefetchSeconds} s before the warm phase`);
    console.log(`       after a write p95 ${result.p95_after_write_ms} ms  (catalogue rebuilt after hubgate's own invalidation)`);
    const out = path.join(__dirname, 'results', 'list.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    console.log(`  written to ${path.relative(process.cwd(), out)}`);
  } finally {
    for (const h of hubs) await h.close().catch(() => undefined);
    child?.kill('SIGKILL');
    await idp?.close();
    await redis?.close();
  }
}

if (require.main === module && process.env.BENCH_LIST_CHILD === 'double') {
  void startHarborDouble({ restLatencyMs: HARBOR_LATENCY_MS }).then((h) => {
    seed(h.state);
    process.stdout.write(`DOUBLE ${h.url}\n`);
  });
} else if (require.main === module) {
  run().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
