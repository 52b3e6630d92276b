/**
 * The spool on its own (src/domain/uploads/spool.ts), driven entry by entry as the tar reader drives it: what an
 * entry's name becomes and which names are refused, directories and links, what is stored for a file (its path,
 * size, digests, layer detection, compression), the cap on other entries, reading JSON back, big layers staged
 * to the registry while they arrive, and the bounded queue in front of the disk. The HTTP-level corpus is in
 * bad-archives.test.ts and fuzz.test.ts.
 */
import { getEventListeners } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ArchiveError } from '../../../src/domain/uploads/archive-error';
import { normaliseName, Spool, STAGE_MIN_BYTES, type SpooledFile, type SpoolOptions, type Stager } from '../../../src/domain/uploads/spool';
import type { TarEntry } from '../../../src/domain/uploads/tar';
import { appError } from '../../support/app-refusal';
import { digestOf, gzip, layerTar, tar } from '../../support/archives';
import { counted, pieces } from './kit';

const MiB = 1024 * 1024;
/** The largest JSON document the spool parses; eight of them make the 64 MiB it parses per archive at most. */
const MAX_JSON = 8 * MiB;

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

const entry = (name: string, type: TarEntry['type'], size = 0, linkname = ''): TarEntry => ({ name, type, size, linkname });
const sizeOf = (parts: Buffer[]) => parts.reduce((n, p) => n + p.length, 0);

/** Stores a regular file `name` whose content arrives in `parts`; resolves to what the spool keeps for it. */
async function put(s: Spool, name: string, parts: Buffer[]): Promise<SpooledFile> {
  await s.add(entry(name, 'file', sizeOf(parts)), counted(parts));
  return s.resolve(name)!;
}
/** Adds a directory, symlink, hard link or other entry (no content). */
const add = (s: Spool, name: string, type: Exclude<TarEntry['type'], 'file'>, linkname = '') => s.add(entry(name, type, 0, linkname), counted([]));

/** The ArchiveError a call is refused with, as { reason, kind, message }. */
async function refused(p: Promise<unknown> | (() => unknown)): Promise<{ reason: string; kind: string; message: string }> {
  const e = await appError(typeof p === 'function' ? Promise.resolve().then(p) : p);
  expect(e).toBeInstanceOf(ArchiveError);
  return { reason: (e as ArchiveError).reason, kind: e.kind, message: e.message };
}
const unsafe = (reason: 'unsafe_path' | 'unsafe_link', message: string) => ({ reason, kind: 'invalid', message });

describe('entry names', () => {
  it.each([
    ['a/b/c', 'a/b/c'],
    ['./a//b/.', 'a/b'],
    ['a/./b/', 'a/b'],
    // a drive letter makes a name absolute only at its start and followed by a separator ("C:x" is no path here:
    // nothing is ever written under an entry's name)
    ['x/C:/y', 'x/C:/y'],
    ['1:/x', '1:/x'],
    ['C:x', 'C:x'],
    ['.', ''],
    ['./', ''],
    ['', ''],
  ])('%j is the archive path %j', (name, path) => {
    expect(normaliseName(name)).toBe(path);
  });

  it.each(['/etc/passwd', 'C:\\Windows\\system.ini', 'c:/x', 'Z:\\'])('%j is absolute: refused', async (name) => {
    expect(await refused(() => normaliseName(name))).toEqual(unsafe('unsafe_path', `the archive contains an absolute entry name "${name}"`));
  });

  it('".." is refused; the name in a message is cut to 200 characters, anything but printable ASCII shown as "?"', async () => {
    expect(await refused(() => normaliseName('a/../../etc'))).toEqual(unsafe('unsafe_path', 'the archive contains an entry name with ".." ("a/../../etc")'));
    const name = `/\u00e9\n\t${'x'.repeat(300)}`;
    expect(await refused(() => normaliseName(name))).toEqual(unsafe('unsafe_path', `the archive contains an absolute entry name "/???${'x'.repeat(196)}"`));
  });

  it('an absolute or empty file name is refused before anything is stored', async () => {
    const s = await spool();
    expect(await refused(put(s, 'C:\\evil', [Buffer.from('x')]))).toEqual(unsafe('unsafe_path', 'the archive contains an absolute entry name "C:\\evil"'));
    expect(await refused(put(s, '.', [Buffer.from('x')]))).toEqual(unsafe('unsafe_path', 'the archive contains an entry with an empty name'));
    expect(await refused(add(s, './', 'symlink', 'f'))).toEqual(unsafe('unsafe_path', 'the archive contains an entry with an empty name'));
    expect(readdirSync(s.dir)).toEqual([]);
  });
});

describe('directories, other entries and links', () => {
  it('directories and other entries (devices, fifos) store nothing: their content is read to the end, no file is named', async () => {
    const s = await spool();
    const contents = [counted([Buffer.from('ignored')]), counted([Buffer.from('ignored')]), counted([Buffer.from('ignored')])];
    await s.add(entry('d', 'directory'), contents[0]);
    await s.add(entry('dev/null', 'other'), contents[1]);
    await s.add(entry('./', 'directory'), contents[2]); // the archive's root: no name, accepted
    expect(contents.map((c) => c.pulls)).toEqual([2, 2, 2]);
    expect(readdirSync(s.dir)).toEqual([]);
    expect([s.resolve('d'), s.has('d'), s.resolve('dev/null'), s.has('dev/null')]).toEqual([undefined, false, undefined, false]);
    // a hard link may name a directory (then it names no file), not an entry the spool did not keep
    await add(s, 'hd', 'hardlink', 'd');
    expect(s.resolve('hd')).toBeUndefined();
    for (const [name, target] of [
      ['hn', 'dev/null'],
      ['hr', '.'],
    ]) {
      expect(await refused(add(s, name, 'hardlink', target))).toEqual(unsafe('unsafe_link', `the archive contains a hard link "${name}" to a file it does not contain`));
    }
  });

  it('a symlink is followed inside the archive, relative to its own directory', async () => {
    const s = await spool();
    const f = await put(s, 'a/b/f', [Buffer.from('{}')]);
    const top = await put(s, 'top', [Buffer.from('[]')]);
    await add(s, 'a/l', 'symlink', 'b/./f');
    await add(s, 'a/b/up', 'symlink', '../../top');
    expect([s.resolve('a/l'), s.resolve('./a//l'), s.resolve('a/b/up')]).toEqual([f, f, top]);
    expect(s.resolve('a/l')).toBe(f);
    expect(s.has('a/b/up')).toBe(true);
  });

  it.each([
    ['l', '..'],
    ['a/l', '../..'],
    ['a/l', '../../etc/passwd'],
    ['a/l', 'b/../../../x'],
  ])('a symlink %j to %j points outside the archive: refused', async (name, target) => {
    const s = await spool();
    expect(await refused(add(s, name, 'symlink', target))).toEqual(unsafe('unsafe_link', `the archive contains a link "${name}" pointing outside the archive`));
    expect(s.resolve(name)).toBeUndefined();
  });

  it('a symlink to an absolute path is refused', async () => {
    const s = await spool();
    expect(await refused(add(s, 'a/l', 'symlink', '/etc/passwd'))).toEqual(unsafe('unsafe_link', 'the archive contains a link "a/l" to an absolute path'));
  });

  it('a hard link names the file stored under its target; one outside the archive or to a name not seen yet is refused', async () => {
    const s = await spool();
    const f = await put(s, 'a/f', [Buffer.from('{}')]);
    await add(s, 'h', 'hardlink', './a//f');
    expect(s.resolve('h')).toBe(f);
    expect(await refused(add(s, 'h2', 'hardlink', 'later'))).toEqual(unsafe('unsafe_link', 'the archive contains a hard link "h2" to a file it does not contain'));
    for (const target of ['../a/f', '/a/f', 'C:/a/f']) {
      expect(await refused(add(s, 'h3', 'hardlink', target))).toEqual(unsafe('unsafe_link', 'the archive contains a hard link "h3" pointing outside the archive'));
    }
  });

  it('a chain of 16 links is followed (to a file; to a directory it names no file); 17 links, or a loop, are refused', async () => {
    const s = await spool();
    const f = await put(s, 'f', [Buffer.from('{}')]);
    await add(s, 'd', 'directory');
    // links p0 → p1 → … → p(n-1) → end, hard and symbolic in turn (a hard link names what exists: built from the end)
    for (const [p, n, end] of [
      ['tofile', 16, 'f'],
      ['todir', 16, 'd'],
      ['long', 17, 'f'],
    ] as const) {
      for (let i = n - 1; i >= 0; i--) await add(s, `${p}${i}`, i % 2 ? 'symlink' : 'hardlink', i === n - 1 ? end : `${p}${i + 1}`);
    }
    expect(s.resolve('tofile0')).toBe(f);
    expect(s.resolve('todir0')).toBeUndefined();
    expect(await refused(() => s.resolve('long0'))).toEqual(unsafe('unsafe_link', 'the archive contains a chain of links that does not end ("long0")'));
    await add(s, 'x', 'symlink', 'y');
    await add(s, 'y', 'symlink', 'x');
    expect(await refused(() => s.has('x'))).toEqual(unsafe('unsafe_link', 'the archive contains a chain of links that does not end ("x")'));
  });
});

describe('stored files', () => {
  it('each file is stored under a counter (never its name), with the size and digest of its content', async () => {
    const s = await spool();
    const a = await put(s, 'manifest.json', [Buffer.from('[1,'), Buffer.from('2]')]);
    const b = await put(s, 'blobs/sha256/abc', [Buffer.from('{"a":1}')]);
    expect(a).toEqual({ path: join(s.dir, '1'), size: 5, digest: digestOf(Buffer.from('[1,2]')), tarLike: false, gzipped: false });
    expect(b).toEqual({ path: join(s.dir, '2'), size: 7, digest: digestOf(Buffer.from('{"a":1}')), tarLike: false, gzipped: false });
    expect(readdirSync(s.dir).sort()).toEqual(['1', '2']);
    expect(readFileSync(a.path, 'utf8')).toBe('[1,2]');
  });

  it("an entry's pieces are read once each, and never past their end (also when it ends within the first 1024 bytes)", async () => {
    const s = await spool();
    const short = counted([Buffer.alloc(100, 'a'), Buffer.alloc(100, 'b'), Buffer.alloc(100, 'c')]);
    await s.add(entry('short', 'file', 300), short);
    const long = counted(pieces(Buffer.alloc(5000, 'd'), 1000));
    await s.add(entry('long', 'file', 5000), long);
    expect([short.pulls, long.pulls]).toEqual([4, 6]);
    expect(readFileSync(s.resolve('short')!.path, 'utf8')).toBe('a'.repeat(100) + 'b'.repeat(100) + 'c'.repeat(100));
    expect(readFileSync(s.resolve('long')!.path, 'utf8')).toBe('d'.repeat(5000));
  });

  it('open() reads the stored content back in 1 MiB pieces', async () => {
    const s = await spool();
    const content = Buffer.alloc(2.5 * MiB, 'a');
    const f = await put(s, 'blob', [content]);
    const got: Buffer[] = [];
    for await (const c of s.open(f) as AsyncIterable<Buffer>) got.push(c);
    expect(got.map((c) => c.length)).toEqual([MiB, MiB, MiB / 2]);
    expect(Buffer.concat(got).equals(content)).toBe(true);
  });
});

describe('layer detection', () => {
  it.each([[[1024]], [[512, 512]], [[600, 424]], [[100, 924]], [[1, 1, 1022]]])(
    'an empty layer (1024 zero bytes: the end-of-archive marker alone) is a layer however it arrives: pieces %j',
    async (sizes) => {
      const s = await spool({ compress: true });
      const f = await put(s, 'empty/layer.tar', sizes.map((n) => Buffer.alloc(n)));
      expect({ tarLike: f.tarLike, gzipped: f.gzipped, size: f.size, digest: f.digest }).toEqual({ tarLike: true, gzipped: false, size: 1024, digest: digestOf(Buffer.alloc(1024)) });
      const stored = readFileSync(f.path);
      expect(f.gz).toEqual({ size: stored.length, digest: digestOf(stored) });
      expect(gunzipSync(stored)).toEqual(Buffer.alloc(1024));
    },
  );

  it.each([
    ['a tar', layerTar({ a: 'one' }), true],
    ['one 10 KiB tar record of zeros (an empty layer, padded)', Buffer.alloc(10 * 1024), true],
    ['a byte more zeros than a tar record', Buffer.alloc(10 * 1024 + 1), false],
    ['fewer zeros than the end-of-archive marker', Buffer.alloc(1000), false],
  ])('%s: a layer is %p (only a layer is compressed)', async (_what, content, layer) => {
    const s = await spool({ compress: true });
    const f = await put(s, 'entry', pieces(content, 700));
    expect({ tarLike: f.tarLike, gzipped: f.gzipped, size: f.size, digest: f.digest, compressed: f.gz !== undefined }).toEqual({
      tarLike: layer,
      gzipped: false,
      size: content.length,
      digest: digestOf(content),
      compressed: layer,
    });
    const stored = readFileSync(f.path);
    expect(layer ? gunzipSync(stored) : stored).toEqual(content);
  });

  it('gzip data is a compressed layer, kept as it is', async () => {
    const s = await spool({ compress: true });
    const content = gzip(layerTar({ a: 'one' }));
    const f = await put(s, 'layer.tar.gz', [content]);
    expect(f).toEqual({ path: join(s.dir, '1'), size: content.length, digest: digestOf(content), tarLike: false, gzipped: true });
    expect(readFileSync(f.path)).toEqual(content);
  });

  it('an entry that is neither a tar nor gzip data may be at most maxOtherEntryBytes (413 too_large); layers are not capped there', async () => {
    const s = await spool({ maxOtherEntryBytes: 100 });
    expect((await put(s, 'a.json', [Buffer.alloc(100, ' ')])).size).toBe(100);
    expect(await refused(put(s, 'b.json', [Buffer.alloc(101, ' ')]))).toEqual({
      reason: 'too_large',
      kind: 'too_large',
      message: 'the archive has a 101-byte entry that is neither a layer (tar) nor gzip data; such entries (JSON documents) may be at most 100 bytes',
    });
    expect((await put(s, 'l.tar', [layerTar({ a: 'x'.repeat(300) })])).tarLike).toBe(true);
    expect((await put(s, 'l.tar.gz', [gzip(layerTar({ a: 'y'.repeat(300) }))])).gzipped).toBe(true);
  });
});

describe('readJson', () => {
  it('a document the archive does not contain: missing_blob', async () => {
    const s = await spool();
    await add(s, 'dangling', 'symlink', 'nope.json');
    expect(await refused(s.readJson('nope.json', 'manifest.json'))).toEqual({ reason: 'missing_blob', kind: 'invalid', message: 'manifest.json "nope.json" is missing from the archive' });
    expect(await refused(s.readJson('dangling', 'the image config'))).toEqual({ reason: 'missing_blob', kind: 'invalid', message: 'the image config "dangling" is missing from the archive' });
  });

  it('a layer hubgate compressed, or a file over 8 MiB, is no JSON document (invalid_json)', async () => {
    const s = await spool({ compress: true });
    await put(s, 'layer.tar', [layerTar({ a: '{}' })]);
    await put(s, 'big.json', [Buffer.alloc(MAX_JSON + 1, ' ')]);
    expect(await refused(s.readJson('layer.tar', 'the image config'))).toEqual({ reason: 'invalid_json', kind: 'invalid', message: 'the image config "layer.tar" is not a JSON document' });
    expect(await refused(s.readJson('big.json', 'image manifest'))).toEqual({ reason: 'invalid_json', kind: 'invalid', message: 'image manifest "big.json" is not a JSON document' });
  });

  it('a document is parsed once however often and by whatever name it is read: the same value, bytes and file', async () => {
    const s = await spool();
    const f = await put(s, 'config.json', [Buffer.from('{"os":"linux"}')]);
    await add(s, 'alias', 'symlink', 'config.json');
    const first = await s.readJson('config.json', 'the image config');
    const again = await s.readJson('alias', 'the image config');
    expect(first).toEqual({ value: { os: 'linux' }, bytes: Buffer.from('{"os":"linux"}'), file: f });
    expect([again.value, again.bytes, again.file]).toEqual([first.value, first.bytes, first.file]);
    expect(again.value).toBe(first.value);
  });

  it('the JSON parsed per archive is capped at 64 MiB: eight documents of 8 MiB pass (read again, not counted again), a byte more is refused', async () => {
    const s = await spool();
    const doc = Buffer.alloc(MAX_JSON, ' ');
    doc[0] = 0x30; // the number 0, then spaces
    for (let i = 0; i < 8; i++) await put(s, `d${i}.json`, [doc]);
    await put(s, 'one.json', [Buffer.from('1')]);
    for (let i = 0; i < 8; i++) expect((await s.readJson(`d${i}.json`, 'a document')).value).toBe(0);
    expect((await s.readJson('d0.json', 'a document')).value).toBe(0);
    expect(await refused(s.readJson('one.json', 'a document'))).toEqual({
      reason: 'invalid_manifest',
      kind: 'invalid',
      message: "the archive's JSON documents add up to more than 67108864 bytes; refusing it",
    });
  });
});

/** What a stager's registry saw: uploads opened, commits (digests), aborts, existence checks, the committed bytes. */
interface Staged {
  opened: number;
  commits: string[];
  aborts: number;
  exists: string[];
  body?: Buffer;
}

/**
 * A stager into repository "ws/app" whose registry commits a blob only when the bytes written hash to the digest
 * given; `o` makes it answer otherwise.
 */
function stager(o: { exists?: () => Promise<boolean>; commit?: () => Promise<void>; write?: (written: number) => Promise<void> } = {}): { stager: Stager; log: Staged } {
  const log: Staged = { opened: 0, commits: [], aborts: 0, exists: [] };
  const st: Stager = {
    repository: 'ws/app',
    open: async () => {
      log.opened++;
      const parts: Buffer[] = [];
      return {
        write: async (c) => {
          parts.push(Buffer.from(c));
          await o.write?.(sizeOf(parts));
        },
        commit: async (digest) => {
          const body = Buffer.concat(parts);
          if (digestOf(body) !== digest) throw new Error('DIGEST_INVALID');
          await o.commit?.();
          log.commits.push(digest);
          log.body = body;
        },
        abort: () => {
          log.aborts++;
        },
      };
    },
    exists: async (digest) => {
      log.exists.push(digest);
      return o.exists ? o.exists() : false;
    },
  };
  return { stager: st, log };
}

/** A layer (a tar) of exactly `size` bytes, as long as size is a multiple of 512 (or cut short by a few bytes). */
const layerOf = (size: number) => tar([{ name: 'f', data: Buffer.alloc(Math.ceil(size / 512) * 512 - 1536, 'x') }]).subarray(0, size);

describe('staging big layers while they arrive', () => {
  it('a layer of 1 MiB is staged as it is pushed (compressed): committed under the digest of what is stored', async () => {
    const { stager: st, log } = stager();
    const s = await spool({ stager: st, compress: true });
    const layer = layerOf(STAGE_MIN_BYTES);
    const f = await put(s, 'l.tar', pieces(layer, 300_000));
    const stored = readFileSync(f.path);
    expect(f).toMatchObject({ size: STAGE_MIN_BYTES, digest: digestOf(layer), gz: { size: stored.length, digest: digestOf(stored) } });
    expect(f.staged).toEqual({ repository: 'ws/app', digest: digestOf(stored) });
    expect(log).toEqual({ opened: 1, commits: [digestOf(stored)], aborts: 0, exists: [digestOf(stored)], body: stored });
  });

  it('a layer a byte under 1 MiB, and a big entry that is neither tar nor gzip, are not staged', async () => {
    const { stager: st, log } = stager();
    const s = await spool({ stager: st });
    const small = await put(s, 'small.tar', [layerOf(STAGE_MIN_BYTES - 1)]);
    const other = await put(s, 'other', [Buffer.alloc(2 * MiB, 'a')]);
    expect([small.tarLike, small.staged, other.staged]).toEqual([true, undefined, undefined]);
    expect(log).toEqual({ opened: 0, commits: [], aborts: 0, exists: [] });
  });

  it('a blob the registry already has is not committed again: the upload is aborted, the file not marked staged', async () => {
    const { stager: st, log } = stager({ exists: async () => true });
    const s = await spool({ stager: st });
    const layer = layerOf(STAGE_MIN_BYTES);
    const f = await put(s, 'l.tar', [layer]);
    expect(f.staged).toBeUndefined();
    expect(log).toEqual({ opened: 1, commits: [], aborts: 1, exists: [digestOf(layer)] });
  });

  it('the existence check failing: committed all the same; the commit failing: not staged, the upload session closed, the file kept', async () => {
    const layer = layerOf(STAGE_MIN_BYTES);
    const a = stager({ exists: () => Promise.reject(new Error('HEAD failed')) });
    const f = await put(await spool({ stager: a.stager }), 'l.tar', [layer]);
    expect(f.staged).toEqual({ repository: 'ws/app', digest: digestOf(layer) });
    expect(a.log).toMatchObject({ opened: 1, commits: [digestOf(layer)], aborts: 0 });

    const b = stager({ commit: () => Promise.reject(new Error('PUT failed')) });
    const g = await put(await spool({ stager: b.stager }), 'l.tar', [layer]);
    expect(g.staged).toBeUndefined();
    expect(b.log).toMatchObject({ opened: 1, commits: [], aborts: 1 });
    expect(readFileSync(g.path).equals(layer)).toBe(true);
  });

  it('a write to the registry failing at the very end: the upload is aborted, never committed; the file is kept', async () => {
    const layer = layerOf(STAGE_MIN_BYTES);
    const { stager: st, log } = stager({ write: async (written) => (written === layer.length ? Promise.reject(new Error('connection reset')) : undefined) });
    const f = await put(await spool({ stager: st }), 'l.tar', [layer]);
    expect(f.staged).toBeUndefined();
    expect(log).toEqual({ opened: 1, commits: [], aborts: 1, exists: [] });
    expect(readFileSync(f.path).equals(layer)).toBe(true);
  });

  it('an abort while a layer arrives ends the stream upload at once, before the next piece is read; add() fails with the reason', async () => {
    const { stager: st, log } = stager();
    const ctl = new AbortController();
    const reason = new Error('client gone');
    let abortsAtOnce = -1;
    const layer = layerOf(3 * MiB);
    const content = counted(pieces(layer, MiB), (pull) => {
      if (pull !== 2) return;
      ctl.abort(reason);
      abortsAtOnce = log.aborts;
    });
    const s = await spool({ stager: st, signal: ctl.signal });
    expect(await s.add(entry('l.tar', 'file', layer.length), content).then(() => 'stored', (e: unknown) => e)).toBe(reason);
    expect(abortsAtOnce).toBe(1);
    expect(log).toEqual({ opened: 1, commits: [], aborts: 1, exists: [] });
    expect(getEventListeners(ctl.signal, 'abort')).toEqual([]);
  });

  it('no abort listener is left on the signal once entries are stored', async () => {
    const ctl = new AbortController();
    const s = await spool({ signal: ctl.signal });
    await put(s, 'a', [Buffer.from('{}')]);
    await put(s, 'b', [layerOf(2048)]);
    expect(getEventListeners(ctl.signal, 'abort')).toEqual([]);
  });
});

describe('the queue in front of the disk', () => {
  it('the source is read at most 8 MiB ahead of the disk: 9 pieces of 1 MiB before the first write is accounted, then in turns', async () => {
    let accounted = 0;
    const seen: number[] = []; // MiB accounted (on their way to disk) when each piece was asked for; the 21st ask finds the end
    const s = await spool({
      account: async (n) => {
        await new Promise(setImmediate);
        accounted += n;
      },
    });
    const content = Buffer.alloc(20 * MiB, 'a');
    await s.add(entry('big', 'file', content.length), counted(pieces(content, MiB), () => seen.push(accounted / MiB)));
    expect(seen).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 18, 18, 18]);
    expect(accounted).toBe(20 * MiB);
    expect(readFileSync(s.resolve('big')!.path).equals(content)).toBe(true);
  });
});
