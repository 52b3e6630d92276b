/**
 * The spool on its own (src/domain/uploads/spool.ts), driven entry by entry as the tar reader drives it: what an
 * entry's name becomes and which names are refused, directories and links, what is stored for a file (its path,
 * size, digests, layer detection, compression), the cap on other entries, reading JSON back, big layers staged
 * to the registry while they arrive, and the bounded queue in front of the disk. The HTTP-level corpus is in
 * bad-archives.test.ts and fuzz.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Spool, type SpooledFile, type SpoolOptions } from '../../../src/domain/uploads/spool';
import type { TarEntry } from '../../../src/domain/uploads/tar';
import { digestOf } from '../../support/archives';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'spool-unit-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const open: Spool[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.cleanup()));
});

/** A spool in the test's directory (no compression, no stager unless told). */
async function spool(o: Partial<SpoolOptions> = {}): Promise<Spool> {
  const s = await Spool.create({ tmpDir: tmp, compress: false, gzipLevel: 1, parallel: 1, maxExpandedBytes: 1 << 30, ...o });
  open.push(s);
  return s;
}

/** An entry's content as the tar reader hands it out, in `parts`; `pulls` counts every next(), also those after the end. */
function chunks(parts: Buffer[], onPull?: (pull: number) => void): AsyncIterable<Buffer> & { pulls: number } {
  const src = {
    pulls: 0,
    [Symbol.asyncIterator]: () => {
      let i = 0;
      return {
        next: async (): Promise<IteratorResult<Buffer>> => {
          onPull?.(++src.pulls);
          return i < parts.length ? { done: false, value: parts[i++] } : { done: true, value: undefined };
        },
      };
    },
  };
  return src;
}

const entry = (name: string, type: TarEntry['type'], size = 0, linkname = ''): TarEntry => ({ name, type, size, linkname });
const sizeOf = (parts: Buffer[]) => parts.reduce((n, p) => n + p.length, 0);

/** Stores a regular file `name` whose content arrives in `parts`; resolves to what the spool keeps for it. */
async function put(s: Spool, name: string, parts: Buffer[]): Promise<SpooledFile> {
  await s.add(entry(name, 'file', sizeOf(parts)), chunks(parts));
  return s.resolve(name)!;
}

describe('layer detection', () => {
  it.each([[[1024]], [[512, 512]], [[600, 424]], [[100, 924]], [[1, 1, 1022]]])(
    'an empty layer (1024 zero bytes: the end-of-archive marker alone) is a layer however it arrives: pieces %j',
    async (sizes) => {
      const s = await spool({ compress: true });
      const f = await put(
        s,
        'empty/layer.tar',
        sizes.map((n) => Buffer.alloc(n)),
      );
      expect({ tarLike: f.tarLike, gzipped: f.gzipped, size: f.size, digest: f.digest }).toEqual({ tarLike: true, gzipped: false, size: 1024, digest: digestOf(Buffer.alloc(1024)) });
      const stored = readFileSync(f.path);
      expect(f.gz).toEqual({ size: stored.length, digest: digestOf(stored) });
      expect(gunzipSync(stored)).toEqual(Buffer.alloc(1024));
    },
  );
});
