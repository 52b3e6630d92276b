import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobWriter } from '../../ports/registry';
import { ArchiveError } from './archive-error';
import { ParallelGzip, detectCompression, gunzipLimited } from './gzip';
import { isTarHeader, type TarEntry } from './tar';

/**
 * The archive's files on local disk while an upload is assembled. Why disk: in a `docker save` archive the
 * manifest.json that says which files are layers, which image and which tags they belong to comes LAST, and
 * nothing may be written to Harbor before the whole archive has been checked (a bad archive must leave no
 * trace, and a tag is only set once every blob is in). Holding up to 2 GB in memory is not an option, so
 * each entry is streamed into its own file, named by a counter — never by the entry's name.
 *
 * While an entry streams in its SHA-256 is computed; an entry that starts with a tar header (a layer) is, when
 * compression is on, gzip-compressed on the fly (ParallelGzip) and only the compressed file is kept, together
 * with both digests. The directory is removed by cleanup() whatever happens.
 */
export interface SpooledFile {
  /** Path of the stored content on disk (compressed when `gz` is set). */
  path: string;
  /** Size and digest of the content as it is in the archive. */
  size: number;
  digest: string;
  /** The entry looks like an uncompressed tar (a layer). */
  tarLike: boolean;
  /** The entry is gzip data (a compressed layer). */
  gzipped: boolean;
  /** Present when hubgate compressed the entry: only this file is on disk. */
  gz?: { size: number; digest: string };
  /** The pushed form (gz, else as is) already went to this repository while the archive arrived. */
  staged?: { repository: string; digest: string };
}

/** Big layers go to the registry while they arrive, in parallel with the spool (see UploadsService). */
export interface Stager {
  repository: string;
  open(): Promise<BlobWriter>;
  exists(digest: string): Promise<boolean>;
}

/** Entries from this size on are staged (smaller ones are not worth a second request). */
export const STAGE_MIN_BYTES = 1024 * 1024;

type Node = { kind: 'file'; file: SpooledFile } | { kind: 'symlink'; target: string } | { kind: 'hardlink'; target: string } | { kind: 'dir' };

export interface SpoolOptions {
  tmpDir: string;
  compress: boolean;
  gzipLevel: number;
  parallel: number;
  /** Limit on any decompression done later (diff ids of gzip layers). */
  maxExpandedBytes: number;
  stager?: Stager;
  /** Largest entry that is neither a tar (layer) nor gzip data (JSON documents, other blobs). */
  maxOtherEntryBytes?: number;
  /** Aborts reading, hashing and staging (client gone, shutdown). */
  signal?: AbortSignal;
  /** Called before bytes are written to the spool directory; throws when a disk limit is crossed. */
  account?: (bytes: number) => Promise<void>;
}

const MAX_JSON = 8 * 1024 * 1024;
/** An empty tar: the end-of-archive marker, padded to a record (tar's default record is 10 KiB). */
const EMPTY_TAR_MAX = 10 * 1024;
/** JSON parsed per archive in total (every document once, however often it is referenced). */
const MAX_JSON_TOTAL = 64 * 1024 * 1024;
const MAX_LINK_HOPS = 16;

/** Normalises an entry name to a relative archive path; absolute or `..` names are refused. */
export function normaliseName(name: string): string {
  if (name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(name)) {
    throw new ArchiveError('unsafe_path', `the archive contains an absolute entry name "${printable(name)}"`);
  }
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw new ArchiveError('unsafe_path', `the archive contains an entry name with ".." ("${printable(name)}")`);
    parts.push(p);
  }
  return parts.join('/');
}

const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);

export class Spool {
  private readonly nodes = new Map<string, Node>();
  private counter = 0;
  /** Each spooled file is parsed (JSON) and gunzip-hashed (diff id) at most once, however often it is named. */
  private readonly parsed = new Map<SpooledFile, Promise<{ value: unknown; bytes: Buffer }>>();
  private readonly diffIds = new Map<SpooledFile, Promise<string>>();
  private jsonBytes = 0;

  private constructor(
    readonly dir: string,
    private readonly opts: SpoolOptions,
  ) {}

  static async create(opts: SpoolOptions): Promise<Spool> {
    return new Spool(await mkdtemp(join(opts.tmpDir, 'hubgate-upload-')), opts);
  }

  async cleanup(): Promise<void> {
    this.parsed.clear();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Throws the abort reason once the upload was aborted. */
  check(): void {
    this.opts.signal?.throwIfAborted();
  }

  /** Stores one tar entry (its content is read to the end). */
  async add(entry: TarEntry, chunks: AsyncIterable<Buffer>): Promise<void> {
    const name = normaliseName(entry.name);
    if (entry.type === 'directory' || entry.type === 'other') {
      for await (const _ of chunks) void _;
      if (name && entry.type === 'directory') this.nodes.set(name, { kind: 'dir' });
      return;
    }
    if (!name) throw new ArchiveError('unsafe_path', 'the archive contains an entry with an empty name');
    if (entry.type === 'symlink') {
      const target = entry.linkname;
      if (target.startsWith('/')) throw new ArchiveError('unsafe_link', `the archive contains a link "${printable(name)}" to an absolute path`);
      const joined = posix.normalize(posix.join(posix.dirname(name), target));
      if (joined === '..' || joined.startsWith('../')) {
        throw new ArchiveError('unsafe_link', `the archive contains a link "${printable(name)}" pointing outside the archive`);
      }
      // Stryker disable next-line StringLiteral: equivalent, resolve() follows the target of any node that is neither a file nor a directory
      this.nodes.set(name, { kind: 'symlink', target: joined });
      return;
    }
    if (entry.type === 'hardlink') {
      let target: string;
      try {
        target = normaliseName(entry.linkname);
      } catch {
        throw new ArchiveError('unsafe_link', `the archive contains a hard link "${printable(name)}" pointing outside the archive`);
      }
      if (!this.nodes.has(target)) throw new ArchiveError('unsafe_link', `the archive contains a hard link "${printable(name)}" to a file it does not contain`);
      // Stryker disable next-line StringLiteral: equivalent, resolve() follows the target of any node that is neither a file nor a directory
      this.nodes.set(name, { kind: 'hardlink', target });
      return;
    }
    this.nodes.set(name, { kind: 'file', file: await this.store(entry.size, chunks) });
  }

  private async store(size: number, chunks: AsyncIterable<Buffer>): Promise<SpooledFile> {
    const path = join(this.dir, String(++this.counter));
    const fh = await open(path, 'wx');
    const cleanups: (() => void)[] = [];
    try {
      const it = chunks[Symbol.asyncIterator]();
      // peek at the first 1024 bytes to tell a layer (tar), compressed data and JSON apart: an empty layer is told
      // by its two zero blocks, whichever pieces they arrive in
      const head: Buffer[] = [];
      let headLen = 0;
      let ended = false;
      // Stryker disable next-line EqualityOperator: equivalent, one more piece peeked only moves where the head ends; every check reads at most its first 1024 bytes
      while (headLen < 1024) {
        const r = await it.next();
        if (r.done) {
          ended = true;
          break;
        }
        head.push(r.value);
        headLen += r.value.length;
      }
      const first = Buffer.concat(head);
      // a layer is a tar; an empty layer is just the end-of-archive marker (zero blocks, padded to at most one
      // 10 KiB tar record). A bigger entry of zeros is no layer: it is capped like any other entry, never compressed
      // (gigabytes of zeros from a small gzip upload would otherwise cost CPU to deflate).
      const tarLike =
        isTarHeader(first.subarray(0, 512)) || (size <= EMPTY_TAR_MAX && first.length >= 1024 && first.subarray(0, 1024).every((b) => b === 0));
      const gzipped = detectCompression(first) === 'gzip';
      const maxOther = this.opts.maxOtherEntryBytes;
      if (!tarLike && !gzipped && maxOther !== undefined && size > maxOther) {
        throw new ArchiveError(
          'too_large',
          `the archive has a ${size}-byte entry that is neither a layer (tar) nor gzip data; such entries (JSON documents) may be at most ${maxOther} bytes`,
        );
      }
      const raw = createHash('sha256');
      const rest = async function* () {
        yield first;
        if (!ended) for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
      };
      const stager = this.opts.stager;
      let writer: BlobWriter | undefined;
      if (stager && size >= STAGE_MIN_BYTES && (tarLike || gzipped)) writer = await stager.open().catch(() => undefined);
      // every piece goes to disk and, while the stream upload is healthy, to the registry — both through a
      // bounded queue, so reading the body, writing the file and sending to Harbor overlap
      const account = this.opts.account;
      const signal = this.opts.signal;
      const disk = bounded(async (bs) => {
        signal?.throwIfAborted();
        if (account) await account(bs.reduce((n, b) => n + b.length, 0));
        await writeAll(fh, bs);
      }, QUEUE_BYTES);
      if (signal) {
        // an abort ends the stream upload at once (no waiting for the next chunk)
        const stop = () => dropNet();
        // Stryker disable next-line ObjectLiteral,BooleanLiteral: equivalent, a signal fires 'abort' once and the listener is removed in finally either way
        signal.addEventListener('abort', stop, { once: true });
        cleanups.push(() => signal.removeEventListener('abort', stop));
      }
      const net = writer
        ? bounded(async (bs) => {
            for (const b of bs) await writer!.write(b);
          }, QUEUE_BYTES)
        : undefined;
      const dropNet = () => {
        writer?.abort();
        writer = undefined;
      };
      const emit = async (out: Buffer[]) => {
        await disk.push(out);
        // Stryker disable next-line LogicalOperator: equivalent, net exists only with a writer; once the writer is dropped a push to net fails in its queue (no writer) and dropNet swallows it
        if (writer && net) await net.push(out).catch(dropNet);
      };
      try {
        let gz: SpooledFile['gz'];
        if (tarLike && this.opts.compress) {
          const zHash = createHash('sha256');
          let zSize = 0;
          const pgz = new ParallelGzip(
            async (out) => {
              for (const b of out) {
                zHash.update(b);
                zSize += b.length;
              }
              await emit(out);
            },
            { level: this.opts.gzipLevel, parallel: this.opts.parallel },
          );
          for await (const c of rest()) {
            raw.update(c);
            await pgz.write(c);
          }
          await pgz.end();
          gz = { size: zSize, digest: `sha256:${zHash.digest('hex')}` };
        } else {
          for await (const c of rest()) {
            raw.update(c);
            await emit([c]);
          }
        }
        await disk.flush();
        // Stryker disable next-line LogicalOperator: equivalent, once the writer is dropped its queue only holds writes that failed or that abort() ended; dropNet swallows the failure
        if (writer && net) await net.flush().catch(dropNet);
        const file: SpooledFile = { path, size, digest: `sha256:${raw.digest('hex')}`, tarLike, gzipped, ...(gz ? { gz } : {}) };
        if (writer && stager) {
          const pushed = gz?.digest ?? file.digest;
          const w = writer;
          writer = undefined;
          // Stryker disable next-line ArrowFunction: equivalent, undefined is as falsy as false
          if (await stager.exists(pushed).catch(() => false)) w.abort();
          // a commit that failed leaves the registry's upload session open: close it (the blob is pushed again later)
          else if (await w.commit(pushed).then(() => true, () => (w.abort(), false))) file.staged = { repository: stager.repository, digest: pushed };
        }
        return file;
      } catch (e) {
        writer?.abort();
        throw e;
      }
    } finally {
      for (const c of cleanups) c();
      await fh.close();
    }
  }

  /** The file an archive path names, following links inside the archive; undefined when absent. */
  resolve(name: string): SpooledFile | undefined {
    let path = normaliseName(name);
    for (let hops = 0; hops <= MAX_LINK_HOPS; hops++) {
      const n = this.nodes.get(path);
      if (!n || n.kind === 'dir') return undefined;
      if (n.kind === 'file') return n.file;
      path = n.target;
    }
    throw new ArchiveError('unsafe_link', `the archive contains a chain of links that does not end ("${printable(name)}")`);
  }

  has(name: string): boolean {
    return this.resolve(name) !== undefined;
  }

  /**
   * Reads a small JSON file of the archive (manifest.json, index.json, configs, manifests). Each file is read and
   * parsed once: a document named many times (an index listing the same manifest again and again) is one parse
   * and one copy in memory. The total parsed per archive is capped.
   */
  async readJson(name: string, what: string): Promise<{ value: unknown; bytes: Buffer; file: SpooledFile }> {
    this.check();
    const file = this.resolve(name);
    if (!file) throw new ArchiveError('missing_blob', `${what} "${printable(name)}" is missing from the archive`);
    if (file.gz || file.size > MAX_JSON) throw new ArchiveError('invalid_json', `${what} "${printable(name)}" is not a JSON document`);
    let p = this.parsed.get(file);
    if (!p) {
      this.jsonBytes += file.size;
      if (this.jsonBytes > MAX_JSON_TOTAL) {
        throw new ArchiveError('invalid_manifest', `the archive's JSON documents add up to more than ${MAX_JSON_TOTAL} bytes; refusing it`);
      }
      p = readFile(file.path).then((bytes) => {
        try {
          return { value: JSON.parse(bytes.toString('utf8')) as unknown, bytes };
        } catch (e) {
          // Stryker disable next-line MethodExpression: equivalent, V8's JSON.parse messages stay under 120 characters (it quotes at most 10 characters of context each side)
          throw new ArchiveError('invalid_json', `${what} "${printable(name)}" is not valid JSON (${(e as Error).message.slice(0, 120)})`);
        }
      });
      this.parsed.set(file, p);
    }
    const { value, bytes } = await p;
    return { value, bytes, file };
  }

  /** The content as it will be pushed (compressed when hubgate compressed it). */
  open(file: SpooledFile): Readable {
    return createReadStream(file.path, { highWaterMark: 1024 * 1024 });
  }

  /**
   * SHA-256 of the uncompressed content of a gzip entry (a layer's diff id), within the expansion limit.
   * Computed once per file: a layer listed K times is decompressed once.
   */
  async uncompressedDigest(file: SpooledFile, what: string): Promise<string> {
    if (!file.gzipped) return file.digest;
    let p = this.diffIds.get(file);
    if (!p) {
      p = this.gunzipDigest(file, what);
      this.diffIds.set(file, p);
    }
    return p;
  }

  private async gunzipDigest(file: SpooledFile, what: string): Promise<string> {
    const h = createHash('sha256');
    const signal = this.opts.signal;
    for await (const c of gunzipLimited(createReadStream(file.path) as AsyncIterable<Buffer>, this.opts.maxExpandedBytes, what)) {
      signal?.throwIfAborted();
      h.update(c);
    }
    return `sha256:${h.digest('hex')}`;
  }
}

const QUEUE_BYTES = 8 * 1024 * 1024;

/** Runs `write` on each buffer in order, letting up to `limit` bytes wait; the first failure is rethrown. */
function bounded(write: (bs: Buffer[]) => Promise<void>, limit: number): { push(bs: Buffer[]): Promise<void>; flush(): Promise<void> } {
  let chain: Promise<void> = Promise.resolve();
  let waiting = 0;
  let failure: { e: unknown } | undefined;
  const check = () => {
    if (failure) throw failure.e;
  };
  return {
    async push(bs) {
      check();
      const n = bs.reduce((x, b) => x + b.length, 0);
      waiting += n;
      chain = chain
        .then(() => (failure ? undefined : write(bs)))
        .catch((e: unknown) => {
          failure ??= { e };
        })
        .finally(() => {
          waiting -= n;
        });
      while (waiting > limit && !failure) await chain;
      check();
    },
    async flush() {
      await chain;
      check();
    },
  };
}

async function writeAll(fh: FileHandle, bufs: Buffer[]): Promise<void> {
  // Stryker disable next-line MethodExpression: equivalent, an empty buffer writes nothing and the loop below drops it as written
  const rest = bufs.filter((b) => b.length > 0);
  while (rest.length) {
    let { bytesWritten } = await fh.writev(rest);
    // a short write: drop what was written and go on with the remainder
    while (rest.length && bytesWritten >= rest[0].length) bytesWritten -= rest.shift()!.length;
    // Stryker disable next-line LogicalOperator: equivalent, bytesWritten is 0 once rest is empty (a write never takes more than it was given)
    if (rest.length && bytesWritten > 0) rest[0] = rest[0].subarray(bytesWritten);
  }
}
