/**
 * The gzip pieces of the uploads (src/domain/uploads/gzip.ts), against zlib as the reader: ParallelGzip's output is
 * one gzip member holding exactly the input whatever the block boundaries, the parallelism and the level;
 * incompressible blocks are stored (no larger than the input plus stored-block headers), compressible ones deflated;
 * storedBlocks splits at 65,535 bytes; detectCompression reads the magic bytes only. gunzipLimited stops at its output
 * limit (a bomb), tells a truncated stream from a corrupt one, passes a failing source's own error on, keeps
 * back-pressure on the body it reads and stops reading it (and closes it) once its consumer stops.
 */
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { ArchiveError } from '../../../src/domain/uploads/archive-error';
import { detectCompression, gunzipLimited, ParallelGzip, storedBlocks } from '../../../src/domain/uploads/gzip';

const MiB = 1024 * 1024;

async function gz(pieces: Buffer[], opts: { level: number; parallel: number }): Promise<Buffer> {
  const out: Buffer[] = [];
  const z = new ParallelGzip(async (bufs) => void out.push(...bufs), opts);
  for (const p of pieces) await z.write(p);
  await z.end();
  return Buffer.concat(out);
}
/** The pieces a body arrives in: uneven, crossing the 1 MiB block boundaries. */
const cut = (b: Buffer, sizes: number[]) => {
  const out: Buffer[] = [];
  let at = 0;
  for (let i = 0; at < b.length; i++) {
    const n = sizes[i % sizes.length];
    out.push(b.subarray(at, at + n));
    at += n;
  }
  return out;
};
describe('ParallelGzip', () => {
  const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(80_000)); // ~3.4 MiB, compressible
  const noise = randomBytes(2 * MiB + 12_345); // incompressible

  it.each([
    [1, 1],
    [6, 3],
    [0, 2],
  ])('level %i, %i in parallel: exactly the input, with the CRC and size of all of it in the (one) trailer', async (level, parallel) => {
    const input = Buffer.concat([text, noise, text.subarray(0, 1000)]);
    const out = await gz(cut(input, [1000, 700_000, 3 * MiB, 1]), { level, parallel });
    expect(zlib.gunzipSync(out).equals(input)).toBe(true);
    expect(out.readUInt32LE(out.length - 8)).toBe(zlib.crc32(input) >>> 0);
    expect(out.readUInt32LE(out.length - 4)).toBe(input.length);
  });

  it('stores incompressible blocks (the input plus 5 bytes per 64 KiB piece of each 1 MiB block) and deflates compressible ones', async () => {
    const stored = await gz([noise], { level: 6, parallel: 2 });
    const pieces = 2 * Math.ceil(MiB / 65_535) + Math.ceil((noise.length - 2 * MiB) / 65_535);
    // zlib's own stored blocks (what deflate falls back to) cost 5 bytes per 16 KiB: this bound tells them apart
    expect(stored.length).toBe(10 + noise.length + 5 * pieces + 8);
    expect(zlib.gunzipSync(stored).equals(noise)).toBe(true);
    const deflated = await gz([text], { level: 6, parallel: 2 });
    expect(deflated.length).toBeLessThan(text.length / 20);
  });

  it('an empty input is a valid, empty gzip', async () => {
    const out = await gz([], { level: 6, parallel: 2 });
    expect(zlib.gunzipSync(out).length).toBe(0);
    expect(out.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });

  it('exactly one block of input, then end: no empty member or block lost', async () => {
    const input = text.subarray(0, MiB);
    const out = await gz([input], { level: 1, parallel: 1 });
    expect(zlib.gunzipSync(out).equals(input)).toBe(true);
  });

  /** The exact size of a gzip whose blocks are all stored: header, input, 5 bytes per 64 KiB piece of each 1 MiB block, trailer. */
  const storedSize = (n: number) => {
    let pieces = 0;
    for (let left = n; left > 0; left -= MiB) pieces += Math.ceil(Math.min(left, MiB) / 65_535);
    return 10 + n + 5 * pieces + 8;
  };

  it('level 0 stores every block, compressible or not (no deflate call at all)', async () => {
    const input = text.subarray(0, MiB + 5000);
    const out = await gz([input], { level: 0, parallel: 2 });
    expect(out.length).toBe(storedSize(input.length));
    expect(zlib.gunzipSync(out).equals(input)).toBe(true);
  });

  it('a block of exactly four 16 KiB samples (64 KiB) is sampled, and stored when incompressible', async () => {
    const input = noise.subarray(0, 64 * 1024);
    const out = await gz([input], { level: 6, parallel: 1 });
    expect(out.length).toBe(storedSize(input.length));
  });

  it('samples that cross the pieces a block arrived in are read whole: random data in 10,000-byte pieces is stored', async () => {
    const out = await gz(cut(noise, [10_000]), { level: 6, parallel: 2 });
    expect(out.length).toBe(storedSize(noise.length));
    expect(zlib.gunzipSync(out).equals(noise)).toBe(true);
  });

  it('the estimate counts exactly the four 16 KiB samples: samples at 7.9493 bits are deflated (a byte more per sample would make 7.9502)', async () => {
    // 64 KiB of sample bytes: 233 values 274 times each and 22 values 77 times each (none is 0x00) — 7.9493 bits;
    // counting one 0x00 more per sample would make it 7.9502
    const sampled = Buffer.alloc(64 * 1024);
    let at = 0;
    for (let v = 1; v <= 255; v++) {
      const n = v <= 233 ? 274 : 77;
      sampled.fill(v, at, at + n);
      at += n;
    }
    expect(at).toBe(sampled.length);
    const block = Buffer.alloc(MiB); // zeros around the samples, at 0, 256, 512 and 768 KiB
    for (let k = 0; k < 4; k++) sampled.copy(block, k * 256 * 1024, k * 16 * 1024, (k + 1) * 16 * 1024);
    const out = await gz([block], { level: 6, parallel: 1 });
    expect(out.length).toBeLessThan(storedSize(block.length) / 4);
    expect(zlib.gunzipSync(out).equals(block)).toBe(true);
  });

  it('a byte value that never occurs does not break the entropy estimate: random data without 0x00 is still stored', async () => {
    const no0 = Buffer.from(noise.subarray(0, MiB - 1).map((b) => 1 + (b % 255)));
    const out = await gz([no0], { level: 6, parallel: 1 });
    expect(out.length).toBe(storedSize(no0.length));
    expect(zlib.gunzipSync(out).equals(no0)).toBe(true);
  });
});

describe('storedBlocks', () => {
  it('cuts at 65,535 bytes across parts, marks only the last block final, and writes LEN / NLEN', () => {
    const a = randomBytes(70_000);
    const b = randomBytes(70_000);
    const blocks = storedBlocks([a, b], true);
    const headers = blocks.filter((_, i) => i === 0 || blocks[i - 1].length !== 5).filter((x) => x.length === 5);
    expect(headers.map((h) => [h[0], h.readUInt16LE(1), h.readUInt16LE(3)])).toEqual([
      [0, 65_535, 0],
      [0, 65_535, 0],
      [1, 8_930, ~8_930 & 0xffff],
    ]);
    const raw = zlib.inflateRawSync(Buffer.concat(blocks));
    expect(raw.equals(Buffer.concat([a, b]))).toBe(true);
    // not last: no block is final (more follows)
    expect(storedBlocks([a], false).filter((x) => x.length === 5).map((h) => h[0])).toEqual([0, 0]);
    // nothing: one empty block, final when last
    expect(storedBlocks([], true)).toEqual([Buffer.from([1, 0, 0, 0xff, 0xff])]);
  });
});

describe('detectCompression', () => {
  it.each([
    [[0x1f, 0x8b, 0x08], 'gzip'],
    [[0x28, 0xb5, 0x2f, 0xfd, 0], 'zstd'],
    [[0x42, 0x5a, 0x68, 0x39], 'bzip2'],
    [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz'],
    [[0x1f], 'none'],
    [[0x28, 0xb5, 0x2f], 'none'],
    [[0x42, 0x5a], 'none'],
    [[0xfd, 0x37, 0x7a, 0x58, 0x5a], 'none'],
    [[0x1f, 0x8b], 'gzip'],
    [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
    [[0x42, 0x5a, 0x68], 'bzip2'],
    [[0x00, 0x8b, 0x08], 'none'],
    [[0x1f, 0x00, 0x08], 'none'],
    [[0x1f, 0x8b, 0x08].slice(1), 'none'],
    [[], 'none'],
    [[0x75, 0x73, 0x74, 0x61, 0x72], 'none'],
  ])('%j → %s', (bytes, kind) => {
    expect(detectCompression(Buffer.from(bytes))).toBe(kind);
  });
});

describe('gunzipLimited', () => {
  async function* from(chunks: Buffer[], seen: { pulled: number; closed: boolean } = { pulled: 0, closed: false }) {
    try {
      for (const c of chunks) {
        seen.pulled++;
        yield c;
      }
    } finally {
      seen.closed = true;
    }
  }
  async function collect(gen: AsyncGenerator<Buffer>): Promise<{ out: Buffer[]; error?: unknown }> {
    const out: Buffer[] = [];
    try {
      for await (const c of gen) out.push(c);
      return { out };
    } catch (error) {
      return { out, error };
    }
  }
  const refusal = (e: unknown) => (e instanceof ArchiveError ? `${e.reason}: ${e.message}` : e);
  const zeros = Buffer.alloc(100_000, 7);

  it('an output of exactly the limit passes; one byte more is refused as a gzip bomb (named "the archive" by default)', async () => {
    const ok = await collect(gunzipLimited(from([zlib.gzipSync(zeros)]), zeros.length));
    expect(ok.error).toBeUndefined();
    expect(Buffer.concat(ok.out).equals(zeros)).toBe(true);
    const bomb = await collect(gunzipLimited(from([zlib.gzipSync(zeros)]), zeros.length - 1));
    expect(refusal(bomb.error)).toBe(
      'gzip_bomb: the archive expands to more than 99999 bytes when decompressed (limit); refusing it as a possible gzip bomb',
    );
    // how logs name it, and the 400 it maps to
    expect(bomb.error).toMatchObject({ name: 'ArchiveError', kind: 'invalid' });
  });

  it('yields large chunks (256 KiB at most, not zlib\'s default 16 KiB)', async () => {
    const big = Buffer.alloc(MiB, 1);
    const { out } = await collect(gunzipLimited(from([zlib.gzipSync(big)]), MiB));
    expect(Math.max(...out.map((c) => c.length))).toBe(256 * 1024);
  });

  it('a stream that stops inside the compressed data is truncated_gzip; bad compressed data is corrupt_gzip with zlib\'s code', async () => {
    const z = zlib.gzipSync(randomBytes(50_000));
    const truncated = await collect(gunzipLimited(from([z.subarray(0, z.length / 2)]), MiB, 'layer "a.tar"'));
    expect(refusal(truncated.error)).toBe('truncated_gzip: layer "a.tar" is a truncated gzip stream (it ends before the compressed data does)');
    const corrupt = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8]);
    const bad = await collect(gunzipLimited(from([corrupt]), MiB));
    expect(refusal(bad.error)).toBe('corrupt_gzip: the archive is not valid gzip data (Z_DATA_ERROR)');
  });

  it('a source that fails (the client went away) fails the read with that same error, not a gzip one', async () => {
    const gone = new Error('client went away');
    async function* failing() {
      yield zlib.gzipSync(zeros).subarray(0, 100);
      throw gone;
    }
    const { error } = await collect(gunzipLimited(failing(), MiB));
    expect(error).toBe(gone);
  });

  // 1,000 gzip members of 1 MiB each (~1 KiB compressed): 1 GiB if it were all read
  const member = zlib.gzipSync(Buffer.alloc(MiB));
  const members = Array.from({ length: 1000 }, () => member);

  it('a bomb stops the reading of the body: the source is closed before the refusal, and not read to its end', async () => {
    const seen = { pulled: 0, closed: false };
    const { error } = await collect(gunzipLimited(from(members, seen), 4 * MiB));
    expect((error as ArchiveError).reason).toBe('gzip_bomb');
    expect(seen.closed).toBe(true);
    expect(seen.pulled).toBeLessThan(100);
  });

  it('keeps back-pressure on the source: a consumer that reads nothing more leaves the body unread', async () => {
    const random = zlib.gzipSync(randomBytes(64 * 1024));
    const seen = { pulled: 0, closed: false };
    const gen = gunzipLimited(from(Array.from({ length: 200 }, () => random), seen), 100 * MiB);
    await gen.next();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(seen.pulled).toBeLessThan(20);
    await gen.return(undefined);
    expect(seen.closed).toBe(true);
  });

  it('waiting for room many times leaks no listener on the decompressor', async () => {
    // the decompressor is internal: found through its writes (a core module's exports cannot be replaced)
    const made = new Set<zlib.Gunzip>();
    const write = zlib.Gunzip.prototype.write;
    const spy = jest.spyOn(zlib.Gunzip.prototype, 'write').mockImplementation(function (this: zlib.Gunzip, ...args: unknown[]) {
      made.add(this);
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    });
    const random = zlib.gzipSync(randomBytes(64 * 1024));
    try {
      // once with no wait at all (one small chunk), once with a wait for room after every 64 KiB chunk
      await collect(gunzipLimited(from([zlib.gzipSync(Buffer.from('x'))]), MiB));
      const { out, error } = await collect(gunzipLimited(from(Array.from({ length: 50 }, () => random)), 100 * MiB));
      expect(error).toBeUndefined();
      expect(out.reduce((n, c) => n + c.length, 0)).toBe(50 * 64 * 1024);
    } finally {
      spy.mockRestore();
    }
    const [once, waited] = [...made].map((g) => [g.listenerCount('drain'), g.listenerCount('close')]);
    expect(waited).toEqual(once);
  });
});
