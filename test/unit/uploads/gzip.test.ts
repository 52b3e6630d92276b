/**
 * The gzip pieces of the uploads (src/domain/uploads/gzip.ts), against zlib as the reader: ParallelGzip's output is
 * one gzip member holding exactly the input whatever the block boundaries, the parallelism and the level;
 * incompressible blocks are stored (no larger than the input plus stored-block headers), compressible ones deflated;
 * storedBlocks splits at 65,535 bytes; detectCompression reads the magic bytes only.
 */
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { detectCompression, ParallelGzip, storedBlocks } from '../../../src/domain/uploads/gzip';

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
    [[0x75, 0x73, 0x74, 0x61, 0x72], 'none'],
  ])('%j → %s', (bytes, kind) => {
    expect(detectCompression(Buffer.from(bytes))).toBe(kind);
  });
});
