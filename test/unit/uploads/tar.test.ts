/**
 * The tar reader's rarer header forms (src/domain/uploads/tar.ts), built block by block: GNU base-256 sizes, GNU
 * long names and long link names ('L'/'K'), global PAX headers (ignored), contiguous files ('7'), a ustar prefix,
 * directories marked by a trailing slash only, and what each entry hands to the caller.
 */
import { readTar, type TarEntry } from '../../../src/domain/uploads/tar';
import { header, pad } from '../../support/archives';

/** Recomputes a header's checksum after a field was changed by hand. */
function sealed(h: Buffer): Buffer {
  h.write('        ', 148, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}
const meta = (flag: string, data: string) => [header('././@LongLink', Buffer.byteLength(data), flag), Buffer.from(data), pad(Buffer.byteLength(data))];
const file = (name: string, data: string, flag = '0') => [header(name, data.length, flag), Buffer.from(data), pad(data.length)];
const END = Buffer.alloc(1024);

async function entries(parts: Buffer[]): Promise<(TarEntry & { content: string })[]> {
  const out: (TarEntry & { content: string })[] = [];
  await readTar(
    (async function* () {
      yield Buffer.concat(parts);
    })(),
    async (e, chunks) => {
      const got: Buffer[] = [];
      for await (const c of chunks) got.push(c);
      out.push({ ...e, content: Buffer.concat(got).toString() });
    },
    { maxEntries: 100 },
  );
  return out;
}

describe('tar reader: rarer header forms', () => {
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
    await expect(entries([sealed(h), Buffer.from(data), pad(300), END])).rejects.toMatchObject({ reason: 'corrupt_tar', message: 'the archive has an entry with an invalid size' });
  });

  it("GNU long names ('L') and long link names ('K') apply to the next entry only", async () => {
    const longName = `dir/${'n'.repeat(150)}`;
    const longTarget = `target/${'t'.repeat(150)}`;
    const got = await entries([...meta('L', longName), ...meta('K', longTarget), header('short', 0, '2', 'cut'), ...file('plain', 'p'), END]);
    expect(got.map(({ name, type, linkname }) => ({ name, type, linkname }))).toEqual([
      { name: longName, type: 'symlink', linkname: longTarget },
      { name: 'plain', type: 'file', linkname: '' },
    ]);
  });

  it("a global PAX header ('g') is read past and ignored; a contiguous file ('7') is a file", async () => {
    const global = ' path=ignored\n';
    const rec = `${global.length + 2}${global}`;
    const got = await entries([header('pax_global_header', rec.length, 'g'), Buffer.from(rec), pad(rec.length), ...file('seven', 'abc', '7'), END]);
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
});
