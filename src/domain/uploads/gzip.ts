import * as zlib from 'node:zlib';
import { promisify } from 'node:util';
import { ArchiveError } from './archive-error';

const deflateRaw = promisify(zlib.deflateRaw) as (buf: Buffer, opts: zlib.ZlibOptions) => Promise<Buffer>;

export type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

/** The magic bytes each compression starts with. */
const MAGIC: ReadonlyArray<readonly [Compression, Buffer]> = [
  ['gzip', Buffer.from([0x1f, 0x8b])],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['bzip2', Buffer.from('BZh', 'latin1')],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
];

/** Compression detected from the first bytes (content, never the file name); a head shorter than a magic is not it. */
export function detectCompression(head: Buffer): Compression {
  return MAGIC.find(([, magic]) => head.subarray(0, magic.length).equals(magic))?.[0] ?? 'none';
}

/**
 * Decompresses a gzip stream (all members) as it is read, refusing to produce more than `maxOut` bytes (a
 * gzip bomb) and turning zlib's errors into ArchiveErrors: an input that ends early is `truncated_gzip`.
 */
export async function* gunzipLimited(source: AsyncIterable<Buffer>, maxOut: number, what = 'the archive'): AsyncGenerator<Buffer> {
  const gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 });
  let pumpError: unknown;
  const pump = (async () => {
    try {
      for await (const c of source) {
        if (gunzip.destroyed) return;
        if (!gunzip.write(c)) {
          // wait for room — or for the end: the consumer stops early (bomb, bad tar) and destroys the stream
          await new Promise<void>((r) => {
            const done = () => {
              gunzip.off('drain', done);
              gunzip.off('close', done);
              r();
            };
            gunzip.on('drain', done);
            gunzip.on('close', done);
          });
        }
      }
      // Stryker disable next-line ConditionalExpression: end() on a destroyed stream is a no-op (no throw, no event)
      if (!gunzip.destroyed) gunzip.end();
    } catch (e) {
      pumpError = e;
      gunzip.destroy(e as Error);
    }
  })();
  let out = 0;
  try {
    for await (const c of gunzip as AsyncIterable<Buffer>) {
      out += c.length;
      if (out > maxOut) {
        throw new ArchiveError('gzip_bomb', `${what} expands to more than ${maxOut} bytes when decompressed (limit); refusing it as a possible gzip bomb`);
      }
      yield c;
    }
  } catch (e) {
    if (pumpError) throw pumpError;
    if (e instanceof ArchiveError) throw e;
    const code = (e as { code?: string }).code;
    // zlib reports an input that stops inside the compressed data as Z_BUF_ERROR ("unexpected end of file")
    if (code === 'Z_BUF_ERROR') {
      throw new ArchiveError('truncated_gzip', `${what} is a truncated gzip stream (it ends before the compressed data does)`);
    }
    // Stryker disable next-line StringLiteral: zlib's errors always carry a code; the fallback only keeps the message readable
    throw new ArchiveError('corrupt_gzip', `${what} is not valid gzip data (${code ?? 'decompression failed'})`);
  } finally {
    gunzip.destroy();
    await pump;
  }
  // Defence: a failing source destroys gunzip with its error, so the loop above throws it and this is not reached.
  // Stryker disable next-line ConditionalExpression: unreachable today (see above); kept so a source error is never lost
  if (pumpError) throw pumpError;
}

const BLOCK = 1024 * 1024;
/** Order-0 entropy (bits per byte) from which a block counts as incompressible (random or already compressed). */
const STORE_ENTROPY = 7.95;

/**
 * Cheap test for already-compressed or random data: the byte entropy of four 16 KiB samples spread over the
 * block. Deflate gains next to nothing on such data (a stored block is at most 0.01 % larger), at a high CPU
 * cost. A block of repeated high-entropy runs would be stored too; that is rare inside 1 MiB of a layer.
 */
function incompressible(parts: Buffer[], len: number): boolean {
  const counts = new Uint32Array(256);
  const step = Math.floor(len / 4);
  let pi = 0;
  let base = 0; // offset of parts[pi] in the block
  for (let k = 0; k < 4; k++) {
    let pos = k * step;
    let left = SAMPLE;
    while (left > 0) {
      while (pos >= base + parts[pi].length) base += parts[pi++].length;
      const p = parts[pi];
      const from = pos - base;
      const to = Math.min(p.length, from + left);
      for (let i = from; i < to; i++) counts[p[i]]++;
      left -= to - from;
      pos += to - from;
    }
  }
  const n = 4 * SAMPLE;
  let h = 0;
  // Stryker disable next-line EqualityOperator: counts[256] is undefined and skipped by the `if (c)` below
  for (let i = 0; i < 256; i++) {
    const c = counts[i];
    if (c) h -= (c / n) * Math.log2(c / n);
  }
  // Stryker disable next-line EqualityOperator: a sample's entropy is never exactly 7.95 bits (a sum of n·log2 terms)
  return h >= STORE_ENTROPY;
}
const SAMPLE = 16 * 1024;
/**
 * Deflate "stored" blocks (RFC 1951 §3.2.4) for a buffer, written directly: each previous block ended on a byte
 * boundary (Z_SYNC_FLUSH), so a stored block is a 5-byte header (BFINAL/BTYPE=00, LEN, NLEN) and the bytes.
 */
export function storedBlocks(parts: Buffer[], last: boolean): Buffer[] {
  const MAX = 65535;
  const out: Buffer[] = [];
  const header = (len: number, final: boolean) => {
    const h = Buffer.allocUnsafe(5);
    h[0] = final ? 1 : 0;
    h.writeUInt16LE(len, 1);
    h.writeUInt16LE(~len & 0xffff, 3);
    return h;
  };
  const total = parts.reduce((n, p) => n + p.length, 0);
  if (total === 0) return [header(0, last)];
  let left = total;
  let pi = 0;
  let off = 0;
  while (left > 0) {
    const len = Math.min(MAX, left);
    left -= len;
    out.push(header(len, last && left === 0));
    // the piece's bytes, as views into the input parts
    let need = len;
    while (need > 0) {
      const p = parts[pi];
      const take = Math.min(need, p.length - off);
      out.push(p.subarray(off, off + take));
      need -= take;
      off += take;
      if (off === p.length) {
        pi++;
        off = 0;
      }
    }
  }
  return out;
}

const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

/**
 * gzip compression in parallel, the way pigz / Go's pgzip do it: the input is cut into 1 MiB blocks, each
 * deflated independently on libuv's thread pool (Z_SYNC_FLUSH ends every block but the last on a byte
 * boundary), and the outputs are concatenated in order into ONE standard gzip member with the CRC-32 and size
 * of the whole input. Any gzip reader (Go's compress/gzip in docker and containerd, zlib) reads it.
 *
 * Like klauspost/compress (used by skopeo and containerd), a block that looks incompressible (already
 * compressed or random data, see `incompressible`) is stored instead of deflated: same format, no wasted CPU.
 */
export class ParallelGzip {
  private block: Buffer[] = [];
  private blockLen = 0;
  private readonly pending: Promise<Buffer[]>[] = [];
  private crc = 0;
  private total = 0;
  private started = false;

  /** `sink` receives the output in order, as lists of buffers (stored blocks point into the input: no copy). */
  constructor(
    private readonly sink: (out: Buffer[]) => Promise<void>,
    private readonly opts: { level: number; parallel: number },
  ) {}

  /** The gzip header goes out once, before the first block (or alone, for an empty input). */
  private async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.sink([GZIP_HEADER]);
  }

  async write(chunk: Buffer): Promise<void> {
    await this.start();
    this.crc = zlib.crc32(chunk, this.crc);
    this.total += chunk.length;
    let c = chunk;
    while (c.length) {
      const take = Math.min(BLOCK - this.blockLen, c.length);
      this.block.push(c.subarray(0, take));
      this.blockLen += take;
      c = c.subarray(take);
      if (this.blockLen === BLOCK) await this.flushBlock(false);
    }
  }

  private async flushBlock(last: boolean): Promise<void> {
    const parts = this.block;
    const len = this.blockLen;
    this.block = [];
    this.blockLen = 0;
    this.pending.push(this.compress(parts, len, last));
    while (this.pending.length >= this.opts.parallel) await this.sink(await this.pending.shift()!);
  }

  private async compress(parts: Buffer[], len: number, last: boolean): Promise<Buffer[]> {
    if (this.opts.level === 0 || (len >= 4 * SAMPLE && incompressible(parts, len))) return storedBlocks(parts, last);
    // Stryker disable next-line ConditionalExpression: concatenating one part only copies it (same bytes, one copy avoided)
    const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts, len);
    const finishFlush = last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH;
    return [await deflateRaw(buf, { level: this.opts.level, finishFlush })];
  }

  async end(): Promise<void> {
    await this.start();
    await this.flushBlock(true);
    while (this.pending.length) await this.sink(await this.pending.shift()!);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.total % 2 ** 32, 4);
    await this.sink([trailer]);
  }
}
