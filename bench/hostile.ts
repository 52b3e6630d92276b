/**
 * Hostile-archive benchmark: what each archive of the seeded corpus (test/support/hostile-archives.ts, the one
 * test/unit/uploads/fuzz.test.ts runs) costs the event loop while hubgate refuses it. In one process, on 127.0.0.1:
 *
 *   hubgate   the upload route as the API mounts it (Express, the error handler, the uploads service with the fuzz
 *             test's limits, a registry in memory), each archive POSTed to it;
 *   baseline  a bare Node HTTP server that reads the same body to its end and answers 400, the same archives
 *             POSTed to it: what receiving the bytes costs by itself on this machine at this moment.
 *
 * Measured per archive: the longest event-loop delay (perf_hooks.monitorEventLoopDelay, 5 ms resolution) while the
 * request runs, and the wall time. Printed: the worst and the 95th percentile delay of each side, their ratio, and the
 * slowest families. Target: no archive blocks the event loop for more than 100 ms (an upload must not stall the
 * registry front and the API that share the process). Memory is not measured here: in one process with the corpus
 * builder and the HTTP client, the RSS is theirs as much as hubgate's (hubgate's own peak RSS under an upload is the
 * upload bench's, in a process of its own). Results: bench/results/hostile.json. Never fails on a slow machine; only
 * a broken setup (an archive accepted, an error outside 4xx) fails it.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { CORPUS_LIMITS, DEFAULT_PER_FAMILY, DEFAULT_SEED, hostileCorpus, makeHostile } from '../test/support/hostile-archives';
import { kit, serveUploadRoute } from '../test/unit/uploads/kit';

const SEED = Number(process.env.HUBGATE_FUZZ_SEED ?? DEFAULT_SEED);
const PER_FAMILY = Number(process.env.HUBGATE_FUZZ_PER_FAMILY ?? DEFAULT_PER_FAMILY);
const TARGET_MS = 100;

interface Sample {
  family: string;
  seed: number;
  bytes: number;
  status: number;
  loopMs: number;
  wallMs: number;
}

async function listen(server: http.Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** POSTs `body` and measures the longest event-loop delay and the wall time until the answer is read. */
async function measure(url: string, body: Buffer): Promise<{ status: number; loopMs: number; wallMs: number }> {
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const t0 = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: new Uint8Array(body) });
  await res.arrayBuffer();
  const wallMs = performance.now() - t0;
  loop.disable();
  return { status: res.status, loopMs: loop.max / 1e6, wallMs };
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

export async function run(): Promise<void> {
  const k = kit(CORPUS_LIMITS);
  const bare = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"BAD_REQUEST","message":"baseline"}]}'));
  });
  const hub = await serveUploadRoute(k);
  const hubUrl = hub.url;
  const bareUrl = await listen(bare);
  const cases = hostileCorpus(SEED, PER_FAMILY);
  const hubSamples: Sample[] = [];
  const bareSamples: Sample[] = [];
  try {
    // warm-up: module loading and JIT would count as the first archive's delay
    for (const c of cases.slice(0, 3)) {
      const { body } = makeHostile(c);
      await measure(`${hubUrl}/api/v1/workspaces/ws/uploads`, body);
      await measure(bareUrl, body);
    }
    // the bare server first, then hubgate, each over the whole corpus
    for (const c of cases) {
      const { body } = makeHostile(c);
      bareSamples.push({ family: c.family, seed: c.seed, bytes: body.length, ...(await measure(bareUrl, body)) });
    }
    for (const [i, c] of cases.entries()) {
      const { body, image } = makeHostile(c);
      const m = await measure(`${hubUrl}/api/v1/workspaces/ws/uploads?uploadId=bench-${i}${image ? `&image=${image}` : ''}`, body);
      if (m.status < 400 || m.status >= 500) throw new Error(`${c.family} (seed ${c.seed}): hubgate answered ${m.status}, not a 4xx`);
      hubSamples.push({ family: c.family, seed: c.seed, bytes: body.length, ...m });
    }
    if (k.registry.tags().length) throw new Error(`the corpus tagged ${k.registry.tags().join(', ')}`);
  } finally {
    await hub.close();
    await new Promise((r) => bare.close(r));
    k.close();
  }

  const summary = (xs: Sample[]) => ({
    worstLoopMs: Math.max(...xs.map((x) => x.loopMs)),
    p95LoopMs: percentile(xs.map((x) => x.loopMs), 95),
    medianWallMs: percentile(xs.map((x) => x.wallMs), 50),
    totalWallMs: xs.reduce((n, x) => n + x.wallMs, 0),
  });
  const h = summary(hubSamples);
  const b = summary(bareSamples);
  // below the 5 ms resolution the histogram reads 0: no ratio then
  const ratio = (x: number, y: number) => (y > 0 ? `ratio ${(x / y).toFixed(1)}` : 'bare below the 5 ms resolution');
  const slowest = [...hubSamples].sort((x, y) => y.loopMs - x.loopMs).slice(0, 8);
  const fmt = (n: number) => n.toFixed(1);
  console.log(`corpus: ${cases.length} archives (seed ${SEED}, ${PER_FAMILY} per family), ${(hubSamples.reduce((n, x) => n + x.bytes, 0) / 2 ** 20).toFixed(0)} MiB in all`);
  console.log(`event-loop delay, worst:  hubgate ${fmt(h.worstLoopMs)} ms, bare Node ${fmt(b.worstLoopMs)} ms (${ratio(h.worstLoopMs, b.worstLoopMs)})  target < ${TARGET_MS} ms: ${h.worstLoopMs < TARGET_MS ? 'met' : 'MISSED'}`);
  console.log(`event-loop delay, p95:    hubgate ${fmt(h.p95LoopMs)} ms, bare Node ${fmt(b.p95LoopMs)} ms (${ratio(h.p95LoopMs, b.p95LoopMs)})`);
  console.log(`wall time per archive:    hubgate median ${fmt(h.medianWallMs)} ms, bare Node ${fmt(b.medianWallMs)} ms; whole corpus ${(h.totalWallMs / 1000).toFixed(1)} s vs ${(b.totalWallMs / 1000).toFixed(1)} s`);
  console.log('slowest for the event loop:');
  for (const s of slowest) console.log(`  ${fmt(s.loopMs).padStart(7)} ms  ${s.family} (seed ${s.seed}, ${(s.bytes / 1024).toFixed(0)} KiB, ${s.status})`);
  const out = path.join(__dirname, 'results', 'hostile.json');
  fs.writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), seed: SEED, perFamily: PER_FAMILY, targetMs: TARGET_MS, hubgate: h, bareNode: b, slowest }, null, 2) + '\n');
  console.log(`results: ${path.relative(process.cwd(), out)}`);
}
