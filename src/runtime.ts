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
