/* eslint-disable @typescript-eslint/no-explicit-any -- assertions over loosely typed JSON answers */
/**
 * Ownership invariants under faults, randomized and seeded (issue 12, item 4). Three in-process hubgate replicas
 * share one redis-server that this test stops and restarts (flaps) while several platform projects create the
 * same and different workspace names at once, delete, switch access and rotate — against the Harbor double with
 * its realistic latency (or a real Harbor in `npm run test:harbor`). Invariants checked:
 *
 *   I1 every 2xx creation is owned by exactly the creator's project: the creator's next GET answers 200 with its
 *      project (never 404), and the credentials it reads then can push to it (Harbor's token service says so);
 *   I2 no workspace is ever owned by two projects (no name in two hubgate robots' permission lists; never two
 *      2xx creations of one name by different projects without a delete in between);
 *   I3 a failed creation answers 409 or 5xx (503 carries Retry-After) and leaves nothing behind: after every
 *      wave, each Harbor project of the names used here has exactly one owner.
 *
 * Seed: OWNERSHIP_SEED=<n> replays a run (the seed is printed). OWNERSHIP_WAVES sets the number of waves.
 */
import type { HarborDouble } from '../harbor-double';
import { startTestHarbor, REAL_HARBOR } from '../support/real-harbor';
import { startJwks, type TestIdp } from '../support/tokens';
import { startRedis, type TestRedis } from '../support/redis';
import { requireTools } from '../support/tools';
import { ADMIN_PASSWORD, ADMIN_USERNAME, startHubgate, testConfig } from '../support/stack';

const SEED = Number(process.env.OWNERSHIP_SEED || Math.floor(Math.random() * 2 ** 31));
const WAVES = Number(process.env.OWNERSHIP_WAVES || 24);
const OPS_PER_WAVE = 14;

/** mulberry32: small, seeded, good enough to pick operations. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const projects = ['own-a', 'own-b', 'own-c'].map((id, i) => ({ id, name: `Owners ${i}`, department: 'dept-own' }));
const NAMES = Array.from({ length: 8 }, (_, i) => `own-ws-${i}`);

const adminAuth = 'Basic ' + Buffer.from(`${ADMIN_USERNAME}:${ADMIN_PASSWORD}`).toString('base64');
let harbor: HarborDouble;
let idp: TestIdp;
let redis: TestRedis;
const tokens = new Map<string, string>();

beforeAll(async () => {
  [harbor, idp, redis] = await Promise.all([startTestHarbor(), startJwks(), startRedis()]);
  for (const p of projects) tokens.set(p.id, await idp.memberToken({ sub: `u-${p.id}`, username: `user-${p.id}`, projects: [p] }));
  // A real Harbor may keep what an interrupted earlier run left that its wipe does not reach (a project no robot holds).
  if (REAL_HARBOR) for (const name of NAMES) await fetch(`${harbor.url}/api/v2.0/projects/${name}`, { method: 'DELETE', headers: { Authorization: adminAuth } });
});
afterAll(async () => {
  await Promise.all([harbor?.close(), idp?.close(), redis?.close()]);
});

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

async function api(base: string, method: string, path: string, projectId: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${tokens.get(projectId)}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}


/** Harbor's view, read through its REST API as admin (works on the double and on a real Harbor). */
async function harborGet(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${harbor.url}/api/v2.0${path}`, { headers: { Authorization: adminAuth, Accept: 'application/json' } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** namespace → the hubgate robots (platform project ids) whose permission list holds it. */
async function robotHolders(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (let page = 1; ; page++) {
    const r = await harborGet(`/robots?page=${page}&page_size=100&q=${encodeURIComponent('name=~hg-own-')}`);
    expect(r.status).toBe(200);
    for (const robot of r.body as { name: string; permissions: { kind: string; namespace: string }[] }[]) {
      const m = /^robot\$hg-(own-[abc])$/.exec(robot.name);
      if (!m) continue;
      for (const p of robot.permissions) if (p.kind === 'project') out.set(p.namespace, [...(out.get(p.namespace) ?? []), m[1]]);
    }
    if ((r.body as unknown[]).length < 100) break;
  }
  return out;
}

async function harborHas(name: string): Promise<boolean> {
  const r = await harborGet(`/projects?name=${encodeURIComponent(name)}&page_size=100`);
  return ((r.body ?? []) as { name: string }[]).some((p) => p.name === name);
}

/** What Harbor's token service grants these credentials on a repository of the workspace. */
async function grantedActions(username: string, password: string, workspace: string): Promise<string[]> {
  const url = `${harbor.url}/service/token?service=harbor-registry&scope=repository:${workspace}/probe:pull,push`;
  const res = await fetch(url, { headers: { Authorization: 'Basic ' + Buffer.from(`robot$${username}:${password}`).toString('base64') } });
  if (res.status !== 200) return [];
  const { token: jwt } = (await res.json()) as { token: string };
  const claims = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as { access: { actions: string[] }[] | null };
  return (claims.access?.[0]?.actions ?? []).sort();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ready = requireTools('ownership faults e2e', ['redis-server']).available;

(ready ? describe : describe.skip)('ownership invariants under faults (randomized)', () => {
  it(`3 replicas, Redis flapping, realistic latency: concurrent creations, deletes, access switches, rotations (seed ${SEED})`, async () => {
    console.log(`ownership faults: seed ${SEED} (replay with OWNERSHIP_SEED=${SEED})`);
    const rand = rng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    if (!REAL_HARBOR) harbor.setLatency('realistic');
    const hubs = await Promise.all(
      [0, 1, 2].map(() => startHubgate(testConfig({ harborUrl: harbor.url, idp, redisUrl: redis.url, env: { HUBGATE_LOCK_QUARANTINE_MS: '1000' } }))),
    );
    const violations: string[] = [];
    const statuses = new Map<string, number>();
    const count = (k: string) => statuses.set(k, (statuses.get(k) ?? 0) + 1);
    /** The model: who owns each name (after a 2xx creation, until the owner's 2xx delete). */
    const owner = new Map<string, string>();

    // Redis flaps on its own schedule (seeded durations) while the waves run.
    let flapping = true;
    const flapRand = rng(SEED ^ 0x5bd1e995);
    const flapper = (async () => {
      while (flapping) {
        await sleep(2500 + flapRand() * 3000);
        if (!flapping) break;
        await redis.stop();
        await sleep(200 + flapRand() * 1200);
        await redis.restart();
      }
    })();

    try {
      for (let wave = 0; wave < WAVES; wave++) {
        const ops: (() => Promise<void>)[] = [];
        const ownedAtStart = [...owner.entries()];
        // Deletions are chosen first: no other operation of the wave touches a name being deleted (a creation's
        // own check would race with its owner's deletion).
        const deleting = new Set<string>();
        for (const [name] of ownedAtStart) if (rand() < 0.2) deleting.add(name);
        const kept = ownedAtStart.filter(([name]) => !deleting.has(name));
        for (const name of deleting) {
          const p = owner.get(name)!;
          const hub = pick(hubs).url;
          ops.push(async () => {
            const r = await api(hub, 'DELETE', `/workspaces/${name}`, p);
            count(`delete ${r.status}`);
            if (r.status === 200) owner.delete(name);
            else if (!(r.status >= 500 || r.status === 409)) violations.push(`delete ${name} by ${p}: ${r.status} ${JSON.stringify(r.body)}`);
            if (r.status === 503 && !r.headers.get('retry-after')) violations.push(`delete ${name}: 503 without Retry-After`);
          });
        }
        for (let i = 0; i < OPS_PER_WAVE; i++) {
          const hub = pick(hubs).url;
          const roll = rand();
          if (roll < 0.12 && kept.length > 0) {
            const [name, p] = pick(kept);
            const access = rand() < 0.5 ? 'public' : 'private';
            ops.push(async () => {
              const r = await api(hub, 'PATCH', `/workspaces/${name}`, p, { access });
              count(`access ${r.status}`);
              if (r.status !== 200 && r.status < 500) violations.push(`access switch of ${name} by its owner ${p}: ${r.status} ${JSON.stringify(r.body)}`);
            });
          } else if (roll < 0.2) {
            const p = pick(projects).id;
            ops.push(async () => {
              const r = await api(hub, 'POST', `/projects/${p}/credentials/rotate`, p);
              count(`rotate ${r.status}`);
              if (r.status !== 200 && r.status !== 404 && r.status !== 409 && r.status < 500) violations.push(`rotate ${p}: ${r.status} ${JSON.stringify(r.body)}`);
            });
          } else {
            const name = pick(NAMES.filter((n) => !deleting.has(n)));
            const p = pick(projects).id;
            ops.push(async () => {
              const r = await api(hub, 'POST', '/workspaces', p, { name, projectId: p, access: rand() < 0.5 ? 'public' : 'private' });
              count(`create ${r.status}`);
              if (r.status === 201 || r.status === 200) {
                const was = owner.get(name);
                if (was && was !== p) violations.push(`I2: ${name} created (2xx) by ${p} while ${was} owns it`);
                owner.set(name, p);
                // I1: the creator sees it at once, as its own, on any replica…
                const seen = await api(pick(hubs).url, 'GET', `/workspaces/${name}`, p);
                if (seen.status !== 200) violations.push(`I1: ${p} created ${name} (2xx) and then got ${seen.status} ${JSON.stringify(seen.body)}`);
                else if (seen.body.project?.id !== p) violations.push(`I1: ${p} created ${name}, GET shows owner ${seen.body.project?.id}`);
                // …and its credentials can push to it (a rotation meanwhile changes the password: read them again).
                // Reading the credentials may need Redis (finishing a rotation a fault interrupted): 503s are retried.
                let usable = false;
                let last = '';
                const until = Date.now() + 8000;
                for (let attempt = 0; !usable && Date.now() < until; attempt++) {
                  const creds = await api(pick(hubs).url, 'GET', `/projects/${p}/credentials`, p);
                  last = `${creds.status}`;
                  if (creds.status === 200) {
                    const actions = await grantedActions(creds.body.username, creds.body.password, name);
                    usable = actions.includes('push');
                    last += ` ${JSON.stringify(creds.body.workspaces)} → ${actions.join(',') || 'nothing'}`;
                    if (!usable && attempt >= 3) break;
                  } else if (creds.status < 500) break;
                  if (!usable) await sleep(200);
                }
                if (!usable) violations.push(`I1: ${p} created ${name} (2xx) but its credentials cannot push to it (last: ${last})`);
              } else if (!(r.status === 409 || r.status >= 500)) {
                violations.push(`I3: creation of ${name} by ${p} answered ${r.status} ${JSON.stringify(r.body)}`);
              } else if (r.status === 503 && !r.headers.get('retry-after')) {
                violations.push(`I3: creation of ${name} by ${p}: 503 without Retry-After`);
              }
            });
          }
        }
        await Promise.all(ops.map((op) => op()));

        // After the wave: Harbor agrees with the model — one owner per existing project, none for absent ones.
        const holders = await robotHolders();
        for (const name of NAMES) {
          const held = holders.get(name) ?? [];
          const exists = await harborHas(name);
          if (held.length > 1) violations.push(`I2 (wave ${wave}): ${name} is held by ${held.join(' and ')}`);
          if (exists && held.length === 0) violations.push(`I3 (wave ${wave}): Harbor project ${name} exists and nobody owns it`);
          if (exists && owner.has(name) && held.length === 1 && held[0] !== owner.get(name)) {
            violations.push(`I1 (wave ${wave}): ${name} created by ${owner.get(name)} is held by ${held[0]}`);
          }
          if (exists && !owner.has(name) && held.length > 0) violations.push(`I3 (wave ${wave}): ${name} is held by ${held.join(', ')} though no creation of it succeeded`);
          if (!exists && owner.has(name)) violations.push(`I1 (wave ${wave}): ${name} created by ${owner.get(name)} is gone from Harbor`);
        }
      }
    } finally {
      flapping = false;
      await flapper;
      if (!redis.running) await redis.restart();
      await Promise.all(hubs.map((h) => h.close()));
    }
    console.log(`ownership faults: seed ${SEED}: ${[...statuses.entries()].map(([k, v]) => `${k}×${v}`).sort().join(', ')}`);
    if (violations.length) console.log(`ownership faults: seed ${SEED}: ${violations.length} violation(s):\n  ${violations.join('\n  ')}`);
    expect(violations).toEqual([]);
    const created = [...statuses.entries()].filter(([k]) => /^create 20[01]$/.test(k)).reduce((n, [, v]) => n + v, 0);
    expect(created).toBeGreaterThan(0);
  }, 90000);
});
