import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * V8 garbage-collector setting for a streaming pass-through.
 *
 * Every socket read of a blob being pulled or pushed allocates a 64 KiB Buffer outside the JavaScript heap, so
 * 1 GiB through hubgate allocates ~1 GiB of short-lived external memory. With incremental marking on, V8 answers
 * that external-memory pressure on a heap of hubgate's size (≈15 MB: express, ajv, ioredis, prom-client, …) by
 * starting incremental major GCs; buffers allocated while marking runs are kept until the next major GC, which the
 * next 64 MB of buffers triggers again — a cycle of 25–40 major GCs per GiB on four concurrent-marking threads.
 * Measured here (`docs/registry.md`, Performance): blob PUT 2.3–2.6 CPU seconds per GiB with the default against
 * 1.2–1.3 s with incremental marking off (the cycle never starts: 0 major GCs per GiB, scavenges free the buffers);
 * blob GET fell into the cycle in some runs and not in others. A bare Node pipe never sees it (its heap is too
 * small for incremental marking).
 *
 * Without incremental marking a major GC is one stop-the-world pause; on hubgate's heap that is a few
 * milliseconds, and major GCs become rare. Operators who want V8's default back start node with
 * `--incremental-marking` (this function then leaves the flag alone).
 *
 * Node 20 applies this flag at run time (V8 reads it whenever it decides to start marking); it is set before the
 * server starts so no request runs under the other setting.
 */
export function tuneGarbageCollector(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => /^--(no[-_])?incremental[-_]marking$/.test(a))) return false;
  v8.setFlagsFromString('--no-incremental-marking');
  return true;
}

/**
 * glibc malloc settings for the hubgate process. glibc reads them from the environment when the process starts,
 * so they cannot be set from JavaScript: the Dockerfile, the systemd unit, `npm start` and `scripts/up.sh` put
 * them in hubgate's environment (a unit test checks each carries these values), and main.ts logs whether they are.
 *
 * Why: every socket read of a streamed blob is a 64 KiB allocation on glibc's main heap, freed when V8 collects its
 * Buffer. V8 frees them in batches (a GC every ~64 MB of external memory), so the top of the heap falls free in
 * large pieces, glibc gives it back to the kernel (trim), and the next reads fault fresh pages in again: ~840,000
 * page faults per GiB through hubgate. On a virtual machine a page fault is expensive; measured here
 * (`BENCH_ONLY=get npm run bench -- passthrough`, docs/registry.md): 7.8–9.7 CPU s per GiB pulled without the
 * setting, 1.1–1.2 s with it, for hubgate and a bare Node pipe alike (in the runs where the trimming happens: most,
 * not all). MALLOC_TOP_PAD_ keeps 64 MiB at the top of the heap across trims (and grows it in 64 MiB steps), which
 * covers one batch; 16 MiB did not (6.5 s/GiB). The cost is up to 64 MiB of resident memory that is no longer
 * returned to the kernel between transfers. An operator's own value in the environment wins; a .env file cannot
 * set it (dotenv runs long after glibc read its environment).
 */
export const MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_TOP_PAD_: String(64 * 1024 * 1024) };

/** What main.ts logs at start: each MALLOC_ENV variable and whether it is hubgate's value, another, or unset. */
export function mallocSettings(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(MALLOC_ENV)) {
    const given = env[name];
    out[name] = given === undefined ? 'unset' : given === value ? value : `${given} (operator's value)`;
  }
  return out;
}

let fullCollection: (() => void) | null | undefined;
/** Heap in use right after the last collection asked for here (0: none yet). */
let liveAfterCollection = 0;

/**
 * A full garbage collection when the heap grew by more than `budgetBytes` since the last one asked for here, for a
 * caller that makes a lot of short-lived garbage for a while (the image catalogue's stats fill: 100,000 Harbor
 * calls). Without incremental marking (above), V8 starts a major GC only when the old generation reaches a limit
 * that does not follow what is live: at 100,000 images the fill's request objects that outlived two scavenges (more
 * of them the busier the machine) piled up to 180–270 MB of old space (RSS 320–390 MB) before V8 collected them, and
 * ~40 MB were live. Checked after every batch of the fill, this bounds that pile to the budget. Uses V8's `gc`
 * (exposed at run time, as tuneGarbageCollector sets its flag); false when nothing was collected or it is not
 * available.
 */
export function collectGarbageIfGrown(budgetBytes: number): boolean {
  const used = v8.getHeapStatistics().used_heap_size;
  if (used - liveAfterCollection <= budgetBytes) return false;
  if (fullCollection === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const gc: unknown = vm.runInNewContext('gc');
      fullCollection = typeof gc === 'function' ? (gc as () => void) : null;
    } catch {
      fullCollection = null;
    }
  }
  if (!fullCollection) return false;
  fullCollection();
  liveAfterCollection = v8.getHeapStatistics().used_heap_size;
  return true;
}
