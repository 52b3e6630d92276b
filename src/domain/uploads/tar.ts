import { ArchiveError } from './archive-error';

/**
 * A small streaming tar reader (POSIX ustar, GNU and PAX), written here rather than taken from npm so that every
 * malformed input maps to one precise, user-facing ArchiveError and nothing is ever written to a path taken from
 * the archive. It pulls bytes from an async iterable (so the HTTP body is read only as fast as entries are
 * consumed) and hands each entry's content out as chunks; the caller must consume an entry before the next.
 *
 * Accepted: regular files ('0', '\0', '7'), directories ('5'), symlinks ('2'), hard links ('1'), PAX headers
 * ('x' path/linkpath/size, 'g' ignored), GNU long names/links ('L'/'K'), base-256 sizes. Refused: bad header
 * checksums, truncated headers/content/padding. Device, fifo and other entries reach the caller as type 'other'
 * with their content skipped (they never occur in images' outer archives); absolute and `..` names are reported to
 * the caller via `name` (checked by the spool). PAX numbers are decimal digits only; an empty PAX value deletes the
 * keyword (POSIX).
 */
export interface TarEntry {
  /** Name as stored (PAX/GNU long names applied), not yet normalised. */
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  size: number;
  linkname: string;
}

const BLOCK = 512;
const MAX_META = 1024 * 1024; // PAX / GNU long-name records are small; anything bigger is hostile
/** PAX keys that matter here; all others (mtime, uid, xattrs, …) are dropped as they are parsed. */
const PAX_KEYS = new Set(['path', 'linkpath', 'size']);

/** Pulls exact byte counts out of an async iterable of buffers. */
export class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      // Stryker disable next-line BooleanLiteral: equivalent, a caller told 'true' calls fill() again, which returns false without pulling
      return false;
    }
    const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c;
    return true;
  }

  /** Exactly n bytes, or fewer only at the end of input. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) if (!(await this.fill())) break;
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }

  /** Up to n bytes as they arrive (at least 1 unless the input ended). */
  async some(n: number): Promise<Buffer> {
    // an empty chunk is not the end: pull until a byte arrives or the input ends
    while (this.buf.length === 0) if (!(await this.fill())) return Buffer.alloc(0);
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }

  /** Whatever is left (to drain a body after the end-of-archive marker). */
  async rest(): Promise<number> {
    let n = this.buf.length;
    this.buf = Buffer.alloc(0);
    while (await this.fill()) {
      n += this.buf.length;
      this.buf = Buffer.alloc(0);
    }
    return n;
  }
}

const str = (b: Buffer, off: number, len: number): string => {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return (z < 0 ? s : s.subarray(0, z)).toString('utf8');
};

function num(b: Buffer, off: number, len: number): number {
  const f = b.subarray(off, off + len);
  if (f[0] & 0x80) {
    // GNU base-256: big-endian, first byte's top bit is the marker
    let v = f[0] & 0x7f;
    for (let i = 1; i < f.length; i++) v = v * 256 + f[i];
    return v;
  }
  const s = str(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new ArchiveError('corrupt_tar', 'the archive is not a valid tar file (bad number in an entry header)');
  return parseInt(s, 8);
}

export function isTarHeader(b: Buffer): boolean {
  // Stryker disable next-line ConditionalExpression: equivalent, bytes past the end read as undefined, the sum is NaN and never equal
  if (b.length < BLOCK) return false;
  const stored = str(b, 148, 8).trim();
  if (!/^[0-7]+$/.test(stored)) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i];
  return sum === parseInt(stored, 8);
}

function parsePax(data: Buffer): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  let i = 0;
  // Stryker disable next-line EqualityOperator: equivalent, at the end indexOf finds no space and the loop breaks
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const digits = data.subarray(i, sp).toString('ascii');
    const len = /^[0-9]+$/.test(digits) ? Number(digits) : NaN;
    if (!(len > 0) || i + len > data.length) throw new ArchiveError('corrupt_tar', 'the archive has a malformed PAX header');
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    // Stryker disable next-line EqualityOperator,StringLiteral: equivalent, a key of '' (or any other not in PAX_KEYS) is never read
    const key = eq > 0 ? rec.slice(0, eq) : '';
    // Stryker disable next-line ConditionalExpression: equivalent for the entries (only PAX_KEYS are read); it keeps the other keys out of memory
    if (PAX_KEYS.has(key)) {
      // POSIX: an empty value deletes the keyword, also one an earlier PAX header set (the entry's own header
      // field applies again)
      out[key] = eq === rec.length - 1 ? undefined : rec.slice(eq + 1);
    }
    i += len;
  }
  return out;
}

/**
 * Iterates the entries of a tar stream. For each entry, `consume(entry, chunks)` must read `chunks` to the end
 * (or throw). Ends at the end-of-archive marker (two zero blocks) or at the end of input after a whole entry.
 */
export async function readTar(
  source: AsyncIterable<Buffer>,
  consume: (entry: TarEntry, chunks: AsyncIterable<Buffer>) => Promise<void>,
  opts: { maxEntries: number; maxMetadataBytes?: number },
): Promise<{ entries: number; trailingBytes: number }> {
  const maxMeta = opts.maxMetadataBytes ?? 4 * MAX_META;
  let metaBytes = 0;
  const r = new ByteReader(source);
  let entries = 0;
  let pax: Record<string, string | undefined> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  let first = true;

  const body = async function* (size: number): AsyncGenerator<Buffer> {
    let left = size;
    while (left > 0) {
      const c = await r.some(Math.min(left, 1024 * 1024));
      if (c.length === 0) throw new ArchiveError('truncated_tar', 'the archive is truncated (an entry ends before its declared size)');
      left -= c.length;
      yield c;
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad && (await r.read(pad)).length < pad) throw new ArchiveError('truncated_tar', 'the archive is truncated (missing padding after an entry)');
  };
  const readMeta = async (size: number): Promise<Buffer> => {
    if (size > MAX_META) throw new ArchiveError('corrupt_tar', 'the archive has an oversized PAX or long-name header');
    metaBytes += size;
    if (metaBytes > maxMeta) {
      throw new ArchiveError('corrupt_tar', `the archive's PAX and long-name headers add up to more than ${maxMeta} bytes; refusing it`);
    }
    const parts: Buffer[] = [];
    for await (const c of body(size)) parts.push(c);
    return Buffer.concat(parts);
  };

  for (;;) {
    const h = await r.read(BLOCK);
    if (h.length === 0) {
      if (first) throw new ArchiveError('empty', 'the upload is empty (expected a tar or tar.gz archive)');
      // end of input without the end-of-archive marker: accepted after a complete entry (some writers omit it)
      return { entries, trailingBytes: 0 };
    }
    if (h.length < BLOCK) {
      if (first) throw new ArchiveError('not_tar', 'the upload is not a tar archive (too short for a tar header)');
      throw new ArchiveError('truncated_tar', 'the archive is truncated (incomplete entry header)');
    }
    if (h.every((x) => x === 0)) {
      if (first) throw new ArchiveError('not_tar', 'the upload is not a tar archive (it starts with zero bytes)');
      const trailingBytes = await r.rest();
      return { entries, trailingBytes };
    }
    if (!isTarHeader(h)) {
      if (first) throw new ArchiveError('not_tar', 'the upload is not a tar or tar.gz archive (no valid tar header at its start)');
      throw new ArchiveError('corrupt_tar', `the archive is corrupt (bad header checksum after entry ${entries})`);
    }
    first = false;
    const flag = String.fromCharCode(h[156] || 0x30);
    // PAX `size` applies to the next real entry, never to another metadata header
    const meta = flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K';
    // a PAX size is decimal digits only (no sign, point, exponent or hex: Number() alone would take '0x258' or '6e2')
    const size = pax.size !== undefined && !meta ? (/^[0-9]+$/.test(pax.size) ? Number(pax.size) : NaN) : num(h, 124, 12);
    // (never negative: a PAX size is digits only, an octal or base-256 field has no sign)
    if (!Number.isSafeInteger(size)) throw new ArchiveError('corrupt_tar', 'the archive has an entry with an invalid size');
    // every header counts, metadata headers too (a stream of PAX/long-name headers is work like any entry)
    if (++entries > opts.maxEntries) throw new ArchiveError('too_many_entries', `the archive has more than ${opts.maxEntries} entries`);

    if (flag === 'x') {
      pax = { ...pax, ...parsePax(await readMeta(size)) };
      continue;
    }
    if (flag === 'g') {
      await readMeta(size);
      continue;
    }
    if (flag === 'L') {
      longName = str(await readMeta(size), 0, size);
      continue;
    }
    if (flag === 'K') {
      longLink = str(await readMeta(size), 0, size);
      continue;
    }

    const magic = h.subarray(257, 263).toString('latin1');
    const prefix = magic.startsWith('ustar') ? str(h, 345, 155) : '';
    let name = pax.path ?? longName ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
    const linkname = pax.linkpath ?? longLink ?? str(h, 157, 100);
    pax = {};
    longName = longLink = undefined;

    let type: TarEntry['type'];
    if (flag === '0' || flag === '7') type = 'file'; // a NUL flag already reads as '0' (above)
    else if (flag === '5') type = 'directory';
    else if (flag === '2') type = 'symlink';
    else if (flag === '1') type = 'hardlink';
    else type = 'other';
    if (type === 'file' && name.endsWith('/')) type = 'directory'; // old tars mark directories by name only
    if (type === 'directory') name = name.replace(/\/+$/, '');

    // hard links and symlinks carry no content; directories neither (size is informational)
    const contentSize = type === 'symlink' || type === 'hardlink' ? 0 : size;
    const chunks = body(contentSize);
    const entry: TarEntry = { name, type, size: type === 'file' ? contentSize : 0, linkname };
    if (type === 'file') {
      await consume(entry, chunks);
    } else {
      await consume(entry, (async function* () {})());
      for await (const _ of chunks) void _; // skip content of non-files
    }
  }
}
