#!/usr/bin/env node
// Write latency of a Harbor (real or the double), idle and under concurrent writers (finding n of
// ../shared/harbor-2.5.5/README.md). Measures, with admin Basic auth on keep-alive connections:
//   robot-put:   PUT /api/v2.0/robots/{id} with the robot's own body, 10 one after the other, then 10 at once
//                (each on its own robot);
//   project-post: POST /api/v2.0/projects, 10 one after the other, then 10 at once (deleted afterwards).
// --runs R repeats it R times (1 s apart): timings on a shared machine vary a lot between runs.
// Prints (or with --out FILE writes) a JSON summary: per call, idle/loaded median/p90/min/max pooled over the runs,
// the per-run loaded/idle medians, and every sample.
//   node test/harbor-double/live-timing.mjs --target http://127.0.0.1:8881 [--runs 5] [--out test/fixtures/harbor/live/timing.json]
// Creates robots `timing-<n>` and projects `timing-<n>` and removes them again. Loopback targets only.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { basic, createClient, json } = await import(path.resolve(HERE, '../../../shared/harbor-2.5.5/conformance/lib.mjs'));

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : def);
const target = opt('target');
const out = opt('out');
const [user, pass] = opt('admin', 'admin:Harbor12345').split(':');
if (!target) {
  console.error('usage: live-timing.mjs --target URL [--out FILE] [--admin user:pass]');
  process.exit(2);
}
const N = 10;
const RUNS = Number(opt('runs', '1'));
// one client (own keep-alive connection) per writer: lib.mjs' agent would queue beyond 8 sockets
const clients = Array.from({ length: N }, () => createClient(target));
const admin = basic(user, pass, 'Basic <admin>');
const req = async (o, ...ok) => {
  const r = await clients[o.writer ?? 0].request({ auth: admin, ...o });
  if (ok.length && !ok.includes(r.status)) throw new Error(`${o.method ?? 'GET'} ${o.url}: ${r.status} ${r.buf.toString('utf8').slice(0, 200)}`);
  return r;
};
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, median: q(0.5), p90: q(0.9), min: s[0], max: s[s.length - 1] };
};

const robots = [];
const projects = [];
try {
  // set-up: N system robots with pull on library
  for (let i = 0; i < N; i++) {
    const r = await req({ method: 'POST', url: '/api/v2.0/robots', body: { name: `timing-${i}`, level: 'system', duration: -1, permissions: [{ kind: 'project', namespace: 'library', access: [{ resource: 'repository', action: 'pull' }] }] } }, 201);
    robots.push(json(r).id);
  }
  const bodies = [];
  for (const id of robots) bodies.push(json(await req({ url: `/api/v2.0/robots/${id}` }, 200)));
  const put = async (i) => (await req({ method: 'PUT', url: `/api/v2.0/robots/${robots[i]}`, body: bodies[i], writer: i }, 200)).elapsed_ms;
  const post = async (name, writer = 0) => {
    const r = await req({ method: 'POST', url: '/api/v2.0/projects', body: { project_name: name, metadata: { public: 'false' } }, writer }, 201);
    projects.push(name);
    return r.elapsed_ms;
  };
  for (const [i] of robots.entries()) await req({ url: '/api/v2.0/users/current', writer: i }, 200); // open every connection
  const runs = [];
  for (let run = 0; run < RUNS; run++) {
    if (run) await new Promise((r) => setTimeout(r, 1000));
    const samples = { 'robot-put': { idle: [], loaded: [] }, 'project-post': { idle: [], loaded: [] } };
    for (let i = 0; i < N; i++) samples['robot-put'].idle.push(await put(i));
    samples['robot-put'].loaded = await Promise.all(robots.map((_, i) => put(i)));
    for (let i = 0; i < N; i++) samples['project-post'].idle.push(await post(`timing-${run}-idle-${i}`));
    samples['project-post'].loaded = await Promise.all(Array.from({ length: N }, (_, i) => post(`timing-${run}-loaded-${i}`, i)));
    runs.push(samples);
    for (const p of projects.splice(0)) await req({ method: 'DELETE', url: `/api/v2.0/projects/${p}` }).catch(() => undefined);
  }
  const pooled = (k, phase) => runs.flatMap((r) => r[k][phase]);
  const summary = {
    title: 'Write latency, idle and with 10 concurrent writers (client-side ms, keep-alive, admin Basic auth)',
    target: target.replace(/\/+$/, ''),
    recorded: new Date().toISOString(),
    calls: Object.fromEntries(Object.keys(runs[0]).map((k) => [k, {
      idle: stats(pooled(k, 'idle')),
      loaded: stats(pooled(k, 'loaded')),
      runMedians: { idle: runs.map((r) => stats(r[k].idle).median), loaded: runs.map((r) => stats(r[k].loaded).median) },
    }])),
    samples: runs,
  };
  const text = JSON.stringify(summary, null, 2) + '\n';
  if (out) fs.writeFileSync(out, text);
  console.log(JSON.stringify(summary.calls));
} finally {
  for (const id of robots) await req({ method: 'DELETE', url: `/api/v2.0/robots/${id}` }).catch(() => undefined);
  for (const p of projects) await req({ method: 'DELETE', url: `/api/v2.0/projects/${p}` }).catch(() => undefined);
  for (const c of clients) c.close();
}
