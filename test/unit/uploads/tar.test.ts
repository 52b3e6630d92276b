/**
 * The tar reader (src/domain/uploads/tar.ts), built block by block: the byte reader under it, every refusal with
 * its exact reason and message (first header vs a later one), numbers and checksums as writers spell them, PAX
 * records, the metadata and entry caps at their boundaries, every type flag, the rarer header forms (GNU base-256
 * sizes, GNU long names / link names 'L'/'K', global PAX headers, contiguous files, a ustar prefix, directories
 * marked by a trailing slash only), what each entry hands to the caller, and awkward chunkings of the input.
 */
import { ArchiveError } from '../../../src/domain/uploads/archive-error';
import { ByteReader, isTarHeader, readTar, type TarEntry } from '../../../src/domain/uploads/tar';
import { header, pad, paxRecord, tarEntry } from '../../support/archives';
import { counted } from './kit';

const MIB = 1024 * 1024;
const END = Buffer.alloc(1024);

/** The header checksum: every byte, the checksum field counted as spaces. */
function sumOf(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return sum;
}
/** Recomputes a header's checksum after a field was changed by hand. */
function sealed(h: Buffer): Buffer {
  h.write(sumOf(h).toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}
/** A copy of `h` whose checksum field holds exactly `text` (NUL-padded). */
function withChecksum(h: Buffer, text: string): Buffer {
  const c = Buffer.from(h);
  c.fill(0, 148, 156);
  c.write(text, 148, 8, 'latin1');
  return c;
}
/** A header whose size field holds exactly `text` (NUL-padded), checksum recomputed. */
function withSize(h: Buffer, text: string): Buffer {
  h.fill(0, 124, 136);
  h.write(text, 124, 12, 'latin1');
  return sealed(h);
}
const meta = (flag: string, data: string | Buffer) => tarEntry('././@LongLink', data, flag);
const paxEntry = (body: string) => tarEntry('PaxHeaders/f', body, 'x');

type Got = TarEntry & { content: string };
interface RunOptions {
  /** Bytes per chunk handed to the reader (default: everything at once). */
  chunk?: number;
  maxEntries?: number;
  maxMetadataBytes?: number;
}

/** Reads `parts` as one tar stream, in chunks of `o.chunk` bytes; every entry's content is read to the end. */
async function run(parts: Buffer[], o: RunOptions = {}): Promise<{ got: Got[]; entries: number; trailingBytes: number }> {
  const bytes = Buffer.concat(parts);
  const step = o.chunk ?? Math.max(bytes.length, 1);
  const got: Got[] = [];
  const result = await readTar(
    (async function* () {
      for (let i = 0; i < bytes.length; i += step) yield bytes.subarray(i, i + step);
    })(),
    async (e, chunks) => {
      const data: Buffer[] = [];
      for await (const c of chunks) data.push(c);
      got.push({ ...e, content: Buffer.concat(data).toString() });
    },
    { maxEntries: o.maxEntries ?? 100, maxMetadataBytes: o.maxMetadataBytes },
  );
  return { got, ...result };
}
const entries = async (parts: Buffer[], o: RunOptions = {}) => (await run(parts, o)).got;

/** The ArchiveError a promise is rejected with, as { reason, message }. */
async function refusal(p: Promise<unknown>): Promise<{ reason: string; message: string }> {
  const e = await p.then(
    () => new Error('accepted'),
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ArchiveError);
  const { reason, message } = e as ArchiveError;
  return { reason, message };
}
const refused = (parts: Buffer[], o: RunOptions = {}) => refusal(run(parts, o));

describe('ByteReader', () => {
  it('read(n) gives exactly n bytes, joining partial chunks, and pulls no chunk it does not need; nothing is pulled after the end', async () => {
    const src = counted(['ab', 'cde', 'f']);
    const r = new ByteReader(src);
    expect((await r.read(2)).toString()).toBe('ab');
    expect(src.pulls).toBe(1);
    expect((await r.read(2)).toString()).toBe('cd');
    expect(src.pulls).toBe(2);
    // 'e' is left over, 'f' joins it, then the input ends: fewer than n only at the end
    expect((await r.read(3)).toString()).toBe('ef');
    expect(src.pulls).toBe(4);
    expect((await r.read(1)).toString()).toBe('');
    expect(src.pulls).toBe(4);

    const three = new ByteReader(counted(['a', 'b', 'c', 'd']));
    expect((await three.read(3)).toString()).toBe('abc');
    expect((await three.read(3)).toString()).toBe('d');
  });

  it('some(n) gives what has arrived, at most n bytes, and reads an empty chunk as no data, not as the end', async () => {
    const r = new ByteReader(counted([Buffer.from('ab'), Buffer.alloc(0), Buffer.alloc(0), Buffer.from('cde')]));
    expect((await r.some(5)).toString()).toBe('ab');
    expect((await r.some(2)).toString()).toBe('cd');
    expect((await r.some(5)).toString()).toBe('e');
    expect((await r.some(5)).length).toBe(0);
  });

  it('rest() counts every byte left, held and still to come, then nothing more', async () => {
    const src = counted(['abc', 'de', 'fgh']);
    const r = new ByteReader(src);
    expect((await r.read(1)).toString()).toBe('a');
    expect(await r.rest()).toBe(7);
    expect(src.pulls).toBe(4);
    expect(await r.rest()).toBe(0);
    expect(src.pulls).toBe(4);
  });
});

describe('isTarHeader', () => {
  const h = header('f', 0, '0');
  const sum = sumOf(h).toString(8);

  it('accepts the checksum however writers pad it (NUL, spaces before or after), never a short buffer', () => {
    expect(isTarHeader(h)).toBe(true);
    expect(isTarHeader(withChecksum(h, `${sum.padStart(6, '0')}\0 `))).toBe(true);
    expect(isTarHeader(withChecksum(h, ` ${sum.padStart(6, '0')} `))).toBe(true);
    expect(isTarHeader(withChecksum(h, `${sum.padStart(7, ' ')}\0`))).toBe(true);
    expect(isTarHeader(withChecksum(h, `${sum.padStart(7, '0')} `))).toBe(true);
    expect(isTarHeader(h.subarray(0, 511))).toBe(false);
  });

  it('refuses a checksum that is not all octal digits even where parseInt would read the right value', () => {
    expect(isTarHeader(withChecksum(h, `${sum.padStart(7, '0')}8`))).toBe(false);
    expect(isTarHeader(withChecksum(h, `+${sum.padStart(7, '0')}`))).toBe(false);
    expect(isTarHeader(withChecksum(h, `8${sum.padStart(7, '0')}`))).toBe(false);
    expect(isTarHeader(withChecksum(h, ''))).toBe(false);
    expect(isTarHeader(withChecksum(h, (sumOf(h) + 1).toString(8)))).toBe(false);
  });
});

describe('readTar: refusals of the first header and of a later one', () => {
  const one = tarEntry('a', 'x');

  it('empty input; too short for a header; zero bytes first; no valid header first', async () => {
    expect(await refused([])).toEqual({ reason: 'empty', message: 'the upload is empty (expected a tar or tar.gz archive)' });
    expect(await refused([Buffer.from('x'.repeat(511))], { chunk: 100 })).toEqual({ reason: 'not_tar', message: 'the upload is not a tar archive (too short for a tar header)' });
    expect(await refused([END])).toEqual({ reason: 'not_tar', message: 'the upload is not a tar archive (it starts with zero bytes)' });
    expect(await refused([withChecksum(header('a', 0, '0'), '1'), END])).toEqual({
      reason: 'not_tar',
      message: 'the upload is not a tar or tar.gz archive (no valid tar header at its start)',
    });
  });

  it('after an entry: an incomplete header is truncation, a bad checksum is corruption (naming the entries before it)', async () => {
    expect(await refused([one, header('b', 0, '0').subarray(0, 511)], { chunk: 1 })).toEqual({
      reason: 'truncated_tar',
      message: 'the archive is truncated (incomplete entry header)',
    });
    expect(await refused([one, one, withChecksum(header('c', 0, '0'), `+${sumOf(header('c', 0, '0')).toString(8)}`), END])).toEqual({
      reason: 'corrupt_tar',
      message: 'the archive is corrupt (bad header checksum after entry 2)',
    });
  });

  it('content or padding cut short is truncation', async () => {
    expect(await refused([header('a', 1000, '0'), Buffer.alloc(300)], { chunk: 64 })).toEqual({
      reason: 'truncated_tar',
      message: 'the archive is truncated (an entry ends before its declared size)',
    });
    expect(await refused([header('a', 1000, '0'), Buffer.alloc(1000 + 23)])).toEqual({
      reason: 'truncated_tar',
      message: 'the archive is truncated (missing padding after an entry)',
    });
  });

  it('input ending after a complete entry without the end-of-archive marker is accepted (1 byte at a time too)', async () => {
    for (const chunk of [undefined, 1, 512]) {
      expect(await run([one, tarEntry('b', 'y'.repeat(600))], { chunk })).toEqual({
        got: [
          { name: 'a', type: 'file', size: 1, linkname: '', content: 'x' },
          { name: 'b', type: 'file', size: 600, linkname: '', content: 'y'.repeat(600) },
        ],
        entries: 2,
        trailingBytes: 0,
      });
    }
  });

  it('after the first zero block, every byte left counts as trailing, however it arrives', async () => {
    const trailer = Buffer.alloc(700, 7);
    for (const chunk of [undefined, 1, 100, 513]) {
      const { got, entries: n, trailingBytes } = await run([one, END, trailer], { chunk });
      expect({ got, n, trailingBytes }).toEqual({ got: [{ name: 'a', type: 'file', size: 1, linkname: '', content: 'x' }], n: 1, trailingBytes: 512 + 700 });
    }
  });
});

describe('readTar: size fields', () => {
  const BAD_NUMBER = { reason: 'corrupt_tar', message: 'the archive is not a valid tar file (bad number in an entry header)' };
  const sized = (text: string, content: string) => [withSize(header('f', 0, '0'), text), Buffer.from(content), pad(content.length), END];

  it('octal with spaces or NULs around it; an empty field is 0', async () => {
    const data = 'd'.repeat(1000); // 0o1750
    expect(await entries(sized('   1750  ', data))).toEqual([{ name: 'f', type: 'file', size: 1000, linkname: '', content: data }]);
    expect(await entries(sized('\0\0\0\0\0\0\0\0\0\0\0\0', ''))).toEqual([{ name: 'f', type: 'file', size: 0, linkname: '', content: '' }]);
    expect(await entries(sized('            ', ''))).toEqual([{ name: 'f', type: 'file', size: 0, linkname: '', content: '' }]);
  });

  it('anything but octal digits is refused, even where parseInt would read a number', async () => {
    const data = 'd'.repeat(1000);
    expect(await refused(sized('17508', data))).toEqual(BAD_NUMBER);
    expect(await refused(sized('+1750', data))).toEqual(BAD_NUMBER);
    expect(await refused(sized('17x', data))).toEqual(BAD_NUMBER);
    expect(await refused(sized('8', data))).toEqual(BAD_NUMBER);
  });

  it('a GNU base-256 size field (top bit set) is read big-endian', async () => {
    const data = 'x'.repeat(300);
    const h = header('big', 0, '0');
    h.fill(0, 124, 136);
    h[124] = 0x80;
    h[134] = 0x01; // 0x012c = 300
    h[135] = 0x2c;
    const [e] = await entries([sealed(h), Buffer.from(data), pad(300), END]);
    expect(e).toMatchObject({ name: 'big', size: 300, content: data });
    // every byte counts: one high up makes it more than a safe integer, refused as such
    h[125] = 0x01;
    expect(await refused([sealed(h), Buffer.from(data), pad(300), END])).toEqual({ reason: 'corrupt_tar', message: 'the archive has an entry with an invalid size' });
  });
});

describe('readTar: PAX headers', () => {
  const MALFORMED = { reason: 'corrupt_tar', message: 'the archive has a malformed PAX header' };

  it('path, linkpath and size apply to the next entry, values sliced exactly; other keys are dropped', async () => {
    const content = 'c'.repeat(600);
    const body = paxRecord('mtime', '1.5') + paxRecord('path', 'long/p=ath') + paxRecord('uid', '0') + paxRecord('size', '600');
    const got = await entries([paxEntry(body), header('short', 0, '0'), Buffer.from(content), pad(600), paxEntry(paxRecord('linkpath', 'to/target')), header('s', 0, '2', 'cut'), END], { chunk: 7 });
    expect(got).toEqual([
      { name: 'long/p=ath', type: 'file', size: 600, linkname: '', content },
      { name: 's', type: 'symlink', size: 0, linkname: 'to/target', content: '' },
    ]);
  });

  it('a record without "=" or with an empty key is dropped; data without a space left at the end is ignored', async () => {
    expect(await entries([paxEntry('8 pathQ\n9 =value\n'), tarEntry('plain', 'p'), END])).toEqual([{ name: 'plain', type: 'file', size: 1, linkname: '', content: 'p' }]);
    expect(await entries([paxEntry(`${paxRecord('path', 'kept')}\0\0\0\0`), tarEntry('plain', 'p'), END])).toEqual([{ name: 'kept', type: 'file', size: 1, linkname: '', content: 'p' }]);
  });

  it('a record with no length, a zero, negative or non-numeric length, or one past the data is refused', async () => {
    for (const body of [' path=x\n', '0 path=x\n', '-5 path=x\n', 'abc path=x\n', '99 path=x\n', `${paxRecord('path', 'a')}50 size=1\n`]) {
      expect({ body, ...(await refused([paxEntry(body), tarEntry('f', 'x'), END])) }).toEqual({ body, ...MALFORMED });
    }
  });

  it('a PAX size that is negative or not an integer is refused', async () => {
    for (const size of ['-5', '1.5', 'abc']) {
      expect({ size, ...(await refused([paxEntry(paxRecord('size', size)), tarEntry('f', 'x'), END])) }).toEqual({
        size,
        reason: 'corrupt_tar',
        message: 'the archive has an entry with an invalid size',
      });
    }
  });

  it('a PAX size or record length is decimal digits only: hex, exponent, sign, point or trailing junk are refused', async () => {
    for (const size of ['0x258', '6e2', '+600', '600.0', ' 600']) {
      expect({ size, ...(await refused([paxEntry(paxRecord('size', size)), header('f', 0, '0'), Buffer.alloc(600, 99), pad(600), END])) }).toEqual({
        size,
        reason: 'corrupt_tar',
        message: 'the archive has an entry with an invalid size',
      });
    }
    // each of these records is as long as parseInt or Number would read its length field: 12, 12, then (Number only:
    // an exponent, a hex prefix, a trailing tab) 10, 9 and 11
    for (const body of ['12x path=ab\n', '+12 path=ab\n', '1e1 k=abc\n', '0x9 k=ab\n', '11\t path=a\n']) expect({ body, ...(await refused([paxEntry(body), tarEntry('f', 'x'), END])) }).toEqual({ body, ...MALFORMED });
  });

  it('an empty PAX value deletes the keyword, also one an earlier PAX header set: the header fields apply again', async () => {
    expect(await entries([paxEntry(paxRecord('size', '') + paxRecord('path', '')), tarEntry('own-name', 'x'), END])).toEqual([
      { name: 'own-name', type: 'file', size: 1, linkname: '', content: 'x' },
    ]);
    const earlier = paxEntry(paxRecord('path', 'long/name') + paxRecord('linkpath', 'long/target'));
    const got = await entries([earlier, paxEntry(paxRecord('path', '') + paxRecord('linkpath', '')), header('s', 0, '2', 'short'), END]);
    expect(got).toEqual([{ name: 's', type: 'symlink', size: 0, linkname: 'short', content: '' }]);
  });

  it('a PAX size applies to the next real entry, never to a metadata header (L, K, x, g) between them', async () => {
    const content = 'c'.repeat(600);
    for (const flag of ['K', 'L']) {
      const got = await entries([paxEntry(paxRecord('size', '600')), meta(flag, 'tgt'), header('f', 0, '0'), Buffer.from(content), pad(600), END]);
      expect(got).toEqual([{ name: flag === 'L' ? 'tgt' : 'f', type: 'file', size: 600, linkname: flag === 'K' ? 'tgt' : '', content }]);
    }
    const global = tarEntry('PaxHeaders/g', paxRecord('comment', 'global'), 'g');
    expect(await entries([paxEntry(paxRecord('size', '600')), global, header('f', 0, '0'), Buffer.from(content), pad(600), END])).toEqual([
      { name: 'f', type: 'file', size: 600, linkname: '', content },
    ]);
    expect(await entries([paxEntry(paxRecord('size', '600')), paxEntry(paxRecord('path', 'p2')), header('f', 0, '0'), Buffer.from(content), pad(600), END])).toEqual([
      { name: 'p2', type: 'file', size: 600, linkname: '', content },
    ]);
  });
});

describe('readTar: metadata limits', () => {
  it('one PAX or long-name header may hold 1 MiB, not a byte more', async () => {
    const name = 'n'.repeat(MIB);
    const [e] = await entries([meta('L', name), tarEntry('short', 'x'), END]);
    expect(e).toEqual({ name, type: 'file', size: 1, linkname: '', content: 'x' });
    expect(await refused([meta('L', `${name}n`), tarEntry('short', 'x'), END])).toEqual({
      reason: 'corrupt_tar',
      message: 'the archive has an oversized PAX or long-name header',
    });
  });

  it('all metadata headers together may hold maxMetadataBytes, not a byte more', async () => {
    const f = tarEntry('f', 'x');
    expect(await run([meta('g', Buffer.alloc(600)), meta('L', 'n'.repeat(400)), f, END], { maxMetadataBytes: 1000 })).toEqual({
      got: [{ name: 'n'.repeat(400), type: 'file', size: 1, linkname: '', content: 'x' }],
      entries: 3,
      trailingBytes: 512,
    });
    expect(await refused([meta('g', Buffer.alloc(600)), meta('L', 'n'.repeat(401)), f, END], { maxMetadataBytes: 1000 })).toEqual({
      reason: 'corrupt_tar',
      message: "the archive's PAX and long-name headers add up to more than 1000 bytes; refusing it",
    });
  });

  it('maxMetadataBytes defaults to 4 MiB', async () => {
    const four = Array.from({ length: 4 }, () => meta('g', Buffer.alloc(MIB)));
    const f = tarEntry('f', 'x');
    expect((await run([...four, f, END])).got).toEqual([{ name: 'f', type: 'file', size: 1, linkname: '', content: 'x' }]);
    expect(await refused([...four, meta('g', Buffer.alloc(1)), f, END])).toEqual({
      reason: 'corrupt_tar',
      message: "the archive's PAX and long-name headers add up to more than 4194304 bytes; refusing it",
    });
  });
});

describe('readTar: entries', () => {
  it('maxEntries entries are accepted, one more is refused; metadata headers count', async () => {
    const three = [tarEntry('a', 'x'), tarEntry('b', 'y'), tarEntry('c', 'z'), END];
    expect((await run(three, { maxEntries: 3 })).entries).toBe(3);
    expect(await refused(three, { maxEntries: 2 })).toEqual({ reason: 'too_many_entries', message: 'the archive has more than 2 entries' });
    expect(await refused([paxEntry(paxRecord('path', 'p')), tarEntry('a', 'x'), END], { maxEntries: 1 })).toEqual({
      reason: 'too_many_entries',
      message: 'the archive has more than 1 entries',
    });
  });

  it('every type flag: 0, NUL and 7 are files, 5 directories, 2 symlinks, 1 hard links, the others "other"', async () => {
    const got = await entries([
      tarEntry('zero', 'a', '0'),
      tarEntry('nul', 'b', '\0'),
      tarEntry('seven', 'c', '7'),
      header('dir/', 0, '5'),
      header('sym', 0, '2', 'zero'),
      header('hard', 0, '1', 'zero'),
      ...['3', '4', '6', 'S', 'V'].map((flag) => header(`dev${flag}`, 0, flag)),
      END,
    ]);
    expect(got.map(({ name, type, size, linkname }) => ({ name, type, size, linkname }))).toEqual([
      { name: 'zero', type: 'file', size: 1, linkname: '' },
      { name: 'nul', type: 'file', size: 1, linkname: '' },
      { name: 'seven', type: 'file', size: 1, linkname: '' },
      { name: 'dir', type: 'directory', size: 0, linkname: '' },
      { name: 'sym', type: 'symlink', size: 0, linkname: 'zero' },
      { name: 'hard', type: 'hardlink', size: 0, linkname: 'zero' },
      ...['3', '4', '6', 'S', 'V'].map((flag) => ({ name: `dev${flag}`, type: 'other', size: 0, linkname: '' })),
    ]);
    expect(got.map((e) => e.content)).toEqual(['a', 'b', 'c', '', '', '', '', '', '', '', '']);
  });

  it('symlinks and hard links carry no content whatever their size field says', async () => {
    const got = await entries([header('sym', 600, '2', 'f'), header('hard', 600, '1', 'f'), tarEntry('f', 'x'), END]);
    expect(got).toEqual([
      { name: 'sym', type: 'symlink', size: 0, linkname: 'f', content: '' },
      { name: 'hard', type: 'hardlink', size: 0, linkname: 'f', content: '' },
      { name: 'f', type: 'file', size: 1, linkname: '', content: 'x' },
    ]);
  });

  it('the content of directories and other entries is skipped, not handed out; their size is reported as 0', async () => {
    const got = await entries([tarEntry('d/', 'abc', '5'), tarEntry('fifo', 'x'.repeat(600), '6'), tarEntry('f', 'x'), END]);
    expect(got).toEqual([
      { name: 'd', type: 'directory', size: 0, linkname: '', content: '' },
      { name: 'fifo', type: 'other', size: 0, linkname: '', content: '' },
      { name: 'f', type: 'file', size: 1, linkname: '', content: 'x' },
    ]);
  });

  it('trailing slashes: stripped (all of them, only at the end) from directories, files ending in / are directories, other types keep them', async () => {
    const got = await entries([header('a/b//', 0, '5'), header('old//', 0, '0'), header('link/', 0, '2', 't'), header('hard/', 0, '1', 't'), header('dev/', 0, '3'), END]);
    expect(got.map(({ name, type }) => ({ name, type }))).toEqual([
      { name: 'a/b', type: 'directory' },
      { name: 'old', type: 'directory' },
      { name: 'link/', type: 'symlink' },
      { name: 'hard/', type: 'hardlink' },
      { name: 'dev/', type: 'other' },
    ]);
  });

  it("GNU long names ('L') and long link names ('K') apply to the next entry only", async () => {
    const longName = `dir/${'n'.repeat(150)}`;
    const longTarget = `target/${'t'.repeat(150)}`;
    const got = await entries([meta('L', longName), meta('K', longTarget), header('short', 0, '2', 'cut'), tarEntry('plain', 'p'), END]);
    expect(got.map(({ name, type, linkname }) => ({ name, type, linkname }))).toEqual([
      { name: longName, type: 'symlink', linkname: longTarget },
      { name: 'plain', type: 'file', linkname: '' },
    ]);
  });

  it("a global PAX header ('g') is read past and ignored; a contiguous file ('7') is a file", async () => {
    const rec = paxRecord('path', 'ignored');
    const got = await entries([tarEntry('pax_global_header', rec, 'g'), tarEntry('seven', 'abc', '7'), END]);
    expect(got).toEqual([{ name: 'seven', type: 'file', size: 3, linkname: '', content: 'abc' }]);
  });

  it('a ustar prefix is joined to the name; a file entry whose name ends in / is a directory (old tars)', async () => {
    const h = header('leaf.txt', 2, '0');
    h.write('some/prefix', 345, 155, 'utf8');
    const got = await entries([sealed(h), Buffer.from('hi'), pad(2), header('olddir/', 0, '0'), END]);
    expect(got.map(({ name, type }) => ({ name, type }))).toEqual([
      { name: 'some/prefix/leaf.txt', type: 'file' },
      { name: 'olddir', type: 'directory' },
    ]);
  });

  it('a prefix field without the ustar magic is not part of the name', async () => {
    const h = header('leaf.txt', 0, '0');
    h.write('some/prefix', 345, 155, 'utf8');
    h.write('\0\0\0\0\0\0', 257, 'latin1');
    const [e] = await entries([sealed(h), END]);
    expect(e.name).toBe('leaf.txt');
  });

  it('the same archive read 1 byte at a time, split mid-header or mid-block, gives the same entries', async () => {
    const big = Buffer.alloc(1500, 'b');
    const parts = [paxEntry(paxRecord('path', `deep/${'p'.repeat(120)}`)), tarEntry('ignored', big), meta('K', 'target'), header('s', 0, '2'), header('d/', 0, '5'), tarEntry('small', 'abc'), END, Buffer.alloc(10, 1)];
    const expected = {
      got: [
        { name: `deep/${'p'.repeat(120)}`, type: 'file', size: 1500, linkname: '', content: big.toString() },
        { name: 's', type: 'symlink', size: 0, linkname: 'target', content: '' },
        { name: 'd', type: 'directory', size: 0, linkname: '', content: '' },
        { name: 'small', type: 'file', size: 3, linkname: '', content: 'abc' },
      ],
      entries: 6,
      trailingBytes: 522,
    };
    for (const chunk of [1, 7, 300, 511, 513, 1000]) expect({ chunk, ...(await run(parts, { chunk })) }).toEqual({ chunk, ...expected });
  });
});
