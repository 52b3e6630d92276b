/**
 * The spool's writes when the file system takes less than it was given (a short writev: the kernel may write
 * fewer bytes than asked, e.g. when a signal interrupts it): the rest is written, in order, nothing twice.
 * fs/promises' open is wrapped here so that every writev writes at most `limit` bytes.
 */
import type { FileHandle } from 'node:fs/promises';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Spool } from '../../../src/domain/uploads/spool';
import { tar } from '../../support/archives';
import { pieces } from './kit';

const short = { limit: Infinity, calls: [] as number[] };
jest.mock('node:fs/promises', () => {
  const actual = jest.requireActual<typeof import('node:fs/promises')>('node:fs/promises');
  return {
    ...actual,
    open: async (...args: Parameters<typeof actual.open>) => {
      const fh: FileHandle = await actual.open(...args);
      const writev = fh.writev.bind(fh);
      fh.writev = async <T extends readonly NodeJS.ArrayBufferView[]>(buffers: T) => {
        const take: Buffer[] = [];
        let left = short.limit;
        for (const b of buffers) {
          if (left <= 0) break;
          take.push(Buffer.from(b.buffer, b.byteOffset, Math.min(left, b.byteLength)));
          left -= take[take.length - 1].length;
        }
        // a writer that never gets to the end would fill the disk: stop it
        if (short.calls.length > 1000) throw new Error('more than 1000 writes for a few KB');
        const r = await writev(take);
        short.calls.push(r.bytesWritten);
        return { bytesWritten: r.bytesWritten, buffers };
      };
      return fh;
    },
  };
});

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'spool-writes-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** ~3.6 KB of text (digits) in a tar: a layer, so that it can also be stored gzip-compressed. */
const content = tar([{ name: 'f', data: Array.from({ length: 2100 }, (_, i) => `${i % 10}`).join('') }]);

it.each([
  ['as it is, one buffer per write', false, 2000, 700],
  ['as it is, pieces cut inside a short write', false, 700, 1000],
  ['compressed (stored deflate blocks: several buffers per write)', true, 700, 1000],
  ['compressed, short writes ending on buffer boundaries', true, 512, 517],
])('short writes (%s): the stored file is the whole content, in order, each byte once', async (_what, compress, piece, limit) => {
  short.limit = limit;
  short.calls = [];
  const s = await Spool.create({ tmpDir: tmp, compress, gzipLevel: 0, parallel: 1, maxExpandedBytes: 1 << 30 });
  try {
    const parts = pieces(content, piece);
    await s.add(
      { name: 'layer.tar', type: 'file', size: content.length, linkname: '' },
      (async function* () {
        yield* parts;
      })(),
    );
    const f = s.resolve('layer.tar')!;
    const stored = readFileSync(f.path);
    expect((compress ? gunzipSync(stored) : stored).equals(content)).toBe(true);
    expect(f.gz?.size ?? f.size).toBe(stored.length);
    expect(short.calls.filter((n) => n > limit)).toEqual([]);
    expect(short.calls.reduce((a, b) => a + b, 0)).toBe(stored.length);
  } finally {
    await s.cleanup();
  }
});
