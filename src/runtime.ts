import v8 from 'node:v8';

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
