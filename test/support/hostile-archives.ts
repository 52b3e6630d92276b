/**
 * A seeded corpus of hostile archives (no randomness outside the seed: a failure names its seed and replays), for
 * test/unit/uploads/fuzz.test.ts (every archive must end in a clean 4xx) and bench/hostile.ts (what each costs the
 * event loop). Families: truncation at every kind of structure boundary (plain and gzip), gzip bombs in every
 * compression position (archive, layer, archive + layer), huge / many / malformed PAX and GNU long-name headers,
 * long names, many tiny entries, symlink and hard-link games, unsafe paths, digest and size lies (docker save and
 * OCI), OCI index nesting, repetition (the same manifest / layer / image many times) ending in a lie, JSON bombs,
 * not-an-archive bodies.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { configFor, dockerSave, header, ociFiles, paxRecord, tar, tarEntry, type TarItem } from './archives';

/** The seed and size of the corpus CI runs (`HUBGATE_FUZZ_SEED`, `HUBGATE_FUZZ_PER_FAMILY` change them). */
export const DEFAULT_SEED = 20261204;
export const DEFAULT_PER_FAMILY = 7;
/** The upload limits the corpus is refused under (its test and its benchmark): small, so that every bomb and flood hits one. */
export const CORPUS_LIMITS = { maxBytes: 64 * 1024 * 1024, maxExpandedBytes: 16 * 1024 * 1024, maxEntries: 500, maxMetadataBytes: 4 * 1024 * 1024 };

/** mulberry32: small, fast, good enough to drive a generator. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const bytes = (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
    return b;
  };
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)];
  return { next, int, bytes, pick };
}
type Rng = ReturnType<typeof rng>;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// ------------------------------------------------------------------------------------------- raw tar pieces

const entry = tarEntry;
const END = Buffer.alloc(1024);

const MIB = 1024 * 1024;
const MIB_OF_ZEROS_GZ = gzipSync(Buffer.alloc(MIB));
/**
 * A gzip bomb without ever holding its expansion: a multi-member gzip of `prefix` (tar bytes, no end marker) plus
 * an entry `name` of `mib` MiB of zeros — one small member per MiB — and the end-of-archive marker.
 */
const zeroBomb = (prefix: Buffer, name: string, mib: number) =>
  Buffer.concat([gzipSync(Buffer.concat([prefix, header(name, mib * MIB, '0')])), ...Array.from({ length: mib }, () => MIB_OF_ZEROS_GZ), gzipSync(END)]);

/** A docker save archive whose one layer is a gzip bomb (its diff id is checked, so it is decompressed). */
function bombLayerArchive(r: Rng): Buffer {
  const bomb = zeroBomb(Buffer.alloc(0), 'zeros', r.int(17, 24));
  const cfg = configFor([layer(r)]);
  const layout = r.pick(['flat', 'blobs'] as const);
  const layerName = layout === 'flat' ? `${sha(bomb)}.tar` : `blobs/sha256/${sha(bomb)}`;
  const cfgName = layout === 'flat' ? `${sha(cfg)}.json` : `blobs/sha256/${sha(cfg)}`;
  return tar([
    { name: layerName, data: bomb },
    { name: cfgName, data: cfg },
    { name: 'manifest.json', data: JSON.stringify([{ Config: cfgName, RepoTags: ['bomb:1'], Layers: [layerName] }]) },
  ]);
}

/** A small random layer (a tar with a few files). */
function layer(r: Rng): Buffer {
  const items: TarItem[] = [];
  for (let i = 0, n = r.int(1, 3); i < n; i++) items.push({ name: `f${i}-${r.int(0, 1e6)}`, data: r.bytes(r.int(0, 3000)) });
  return tar(items);
}
const image = (r: Rng, n = r.int(1, 3)) => ({ layers: Array.from({ length: n }, () => layer(r)), refs: [`app${r.int(0, 99)}:v${r.int(0, 9)}`] });
const ociTar = (files: Record<string, Buffer>) => tar(Object.entries(files).map(([name, data]) => ({ name, data })));

/** Offsets of every structure of a tar: [headerStart, contentStart, contentEnd, paddedEnd] per entry. */
function structure(t: Buffer): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  for (let off = 0; off + 512 <= t.length; ) {
    const h = t.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    const size = parseInt(h.subarray(124, 135).toString('ascii'), 8) || 0;
    const flag = String.fromCharCode(h[156] || 0x30);
    const content = flag === '1' || flag === '2' || flag === '5' ? 0 : size;
    const padded = off + 512 + Math.ceil(content / 512) * 512;
    out.push([off, off + 512, off + 512 + content, padded]);
    off = padded;
  }
  return out;
}

export interface HostileCase {
  family: string;
  seed: number;
}

type Family = (r: Rng) => Buffer | { body: Buffer; image?: string };

const families: Record<string, Family> = {
  // ---- truncation at every kind of boundary (inside a header, inside content, inside padding), plain and gzip
  'truncated tar': (r) => {
    const t = r.next() < 0.5 ? dockerSave([image(r)]) : ociTar(ociFiles([image(r)]));
    const s = structure(t);
    const [h, c, e, p] = r.pick(s);
    const spots = [h + r.int(1, 511), ...(e > c + 1 ? [r.int(c + 1, e - 1)] : []), ...(p > e ? [r.int(e, p - 1)] : [])].filter((x) => x > h && x < p);
    const at = r.pick(spots);
    const out = t.subarray(0, at);
    return r.next() < 0.3 ? gzipSync(out) : out;
  },
  'truncated gzip': (r) => {
    const z = gzipSync(dockerSave([image(r)]));
    return z.subarray(0, r.int(10, z.length - 9));
  },
  'corrupt header checksum': (r) => {
    const t = Buffer.from(dockerSave([image(r)]));
    const s = structure(t);
    const [h] = s[r.int(1, s.length - 1)];
    t[h + r.int(0, 147)] ^= 1 << r.int(0, 6);
    return t;
  },
  // ---- gzip bombs: the archive, a layer, both
  'bomb: archive': (r) => zeroBomb(Buffer.alloc(0), 'zeros', r.int(17, 24)),
  'bomb: layer': (r) => bombLayerArchive(r),
  'bomb: archive and layer': (r) => gzipSync(bombLayerArchive(r)),
  'bomb: archive of an OCI layout': (r) => {
    const t = ociTar(ociFiles([image(r)]));
    return zeroBomb(t.subarray(0, t.length - END.length), 'zeros', r.int(17, 24));
  },
  // ---- PAX / GNU headers
  'PAX: one header over 1 MiB': (r) => Buffer.concat([entry('PaxHeaders/x', Buffer.from(paxRecord('path', 'a'.repeat(1024 * 1024 + r.int(1, 5000)))), 'x'), dockerSave([image(r)])]),
  'PAX: many headers past the metadata cap': (r) => {
    const parts: Buffer[] = [];
    for (let i = 0, n = r.int(5, 9); i < n; i++) parts.push(entry(`PaxHeaders/${i}`, Buffer.from(paxRecord(`k${i}`, 'v'.repeat(1000 * 1024))), 'x'));
    return gzipSync(Buffer.concat([...parts, dockerSave([image(r)])]));
  },
  'PAX: malformed record': (r) => Buffer.concat([entry('PaxHeaders/x', Buffer.from(r.pick(['99999 path=x\n', 'abc path=x\n', '0 path=x\n', `${r.int(200, 900)} size=1\n`])), 'x'), dockerSave([image(r)])]),
  'PAX: size lie': (r) => Buffer.concat([entry('PaxHeaders/x', Buffer.from(paxRecord('size', String(r.int(10_000, 10_000_000)))), 'x'), entry('f', r.bytes(r.int(0, 3000))), END]),
  'GNU: long name over 1 MiB': (r) => Buffer.concat([entry('././@LongLink', Buffer.alloc(1024 * 1024 + r.int(1, 4096), 'n'), 'L'), entry('f', Buffer.from('x')), END]),
  'GNU + PAX headers past the entry cap': (r) => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 600; i++) parts.push(r.next() < 0.5 ? entry('././@LongLink', Buffer.from(`n${i}\0`), 'L') : entry(`PaxHeaders/${i}`, Buffer.from(paxRecord('path', `p${i}`)), 'x'));
    return Buffer.concat([...parts, entry('f', Buffer.from('x')), END]);
  },
  'long names (PAX) to a missing manifest': (r) => {
    const items: TarItem[] = [];
    for (let i = 0, n = r.int(3, 20); i < n; i++) items.push({ name: `${'d/'.repeat(r.int(60, 400))}f${i}`, data: r.bytes(r.int(0, 100)) });
    return tar(items);
  },
  'many tiny entries past the entry cap': (r) => {
    const parts: Buffer[] = [];
    for (let i = 0, n = r.int(510, 700); i < n; i++) parts.push(entry(`t/${i}`, r.bytes(r.int(0, 3))));
    return Buffer.concat([...parts, END]);
  },
  // ---- links and paths
  'symlink games': (r) => {
    const good = dockerSave([image(r)]);
    const s = structure(good);
    const kind = r.int(0, 3);
    const link =
      kind === 0 ? header('manifest.json', 0, '2', '../../etc/passwd') :
      kind === 1 ? header('abs', 0, '2', '/etc/passwd') :
      kind === 2 ? Buffer.concat([header('a', 0, '2', 'b'), header('b', 0, '2', 'a'), header('manifest.json', 0, '2', 'a')]) :
      header('up', 0, '2', `${'x/'.repeat(r.int(1, 5))}${'../'.repeat(r.int(6, 12))}y`);
    return Buffer.concat([good.subarray(0, s[s.length - 1][3]), link, END]);
  },
  'hard-link games': (r) => {
    const kind = r.int(0, 2);
    const link = kind === 0 ? header('h', 0, '1', 'missing/file') : kind === 1 ? header('h', 0, '1', `../${'x'.repeat(r.int(1, 50))}`) : header('h', 0, '1', '/etc/shadow');
    return Buffer.concat([entry('a', Buffer.from('x')), link, END]);
  },
  'unsafe paths': (r) => Buffer.concat([entry(r.pick(['../evil', '/abs/path', 'a/../../b', 'C:/win', './../x']), r.bytes(r.int(0, 100))), END]),
  // ---- digest and size lies
  'docker save: diff id lie': (r) => {
    const img = image(r);
    return dockerSave([img], { configBytes: () => configFor(img.layers.map((l) => Buffer.concat([l, Buffer.from('x')]))), layout: r.pick(['legacy', 'flat', 'blobs'] as const) });
  },
  'docker save: config name lie': (r) => {
    const img = image(r);
    const cfg = configFor(img.layers);
    const wrong = `${sha(r.bytes(8))}.json`;
    const items: TarItem[] = img.layers.map((l) => ({ name: `${sha(l)}.tar`, data: l }));
    items.push({ name: wrong, data: cfg });
    items.push({ name: 'manifest.json', data: JSON.stringify([{ Config: wrong, RepoTags: ['lie:1'], Layers: img.layers.map((l) => `${sha(l)}.tar`) }]) });
    return tar(items);
  },
  'docker save: missing layer': (r) => dockerSave([image(r)], { omit: (n) => n.endsWith('layer.tar') || n.endsWith('.tar') }),
  'OCI: size lie': (r) => ociTar(ociFiles([image(r)], { mutateManifest: (m) => { const ls = m.layers as { size: number }[]; ls[r.int(0, ls.length - 1)].size += r.int(1, 1000); } })),
  'OCI: digest points at nothing': (r) => ociTar(ociFiles([image(r)], { mutateManifest: (m) => { const ls = m.layers as { digest: string }[]; ls[r.int(0, ls.length - 1)].digest = `sha256:${sha(r.bytes(8))}`; } })),
  'OCI: unsupported digest algorithm': (r) => ociTar(ociFiles([image(r)], { mutateManifest: (m) => { (m.config as { digest: string }).digest = `sha512:${sha(r.bytes(8))}${sha(r.bytes(8))}`; } })),
  // ---- OCI index nesting
  'OCI: index inside an index': (r) => {
    const files = ociFiles([image(r)], { asIndex: true });
    const index = JSON.parse(files['index.json'].toString()) as { manifests: { digest: string; size: number; mediaType: string }[] };
    // wrap the image index in another image index, n levels deep
    let top = index.manifests[0];
    for (let i = 0, n = r.int(1, 4); i < n; i++) {
      const b = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [top] }));
      files[`blobs/sha256/${sha(b)}`] = b;
      top = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${sha(b)}`, size: b.length };
    }
    files['index.json'] = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': 'reg.io/nest:1' } }] }));
    return ociTar(files);
  },
  // ---- repetition that ends in a lie (all the repeated work happens, then the archive is refused)
  'repeated OCI manifest, then a lie': (r) => {
    const files = ociFiles([image(r)], {
      mutateIndex: (i) => {
        const one = (i.manifests as { size: number }[])[0];
        const n = r.int(100, 2000);
        i.manifests = [...Array.from({ length: n }, () => one), { ...one, size: one.size + 1 }];
      },
    });
    return ociTar(files);
  },
  'repeated docker save image, then a missing one': (r) =>
    dockerSave([image(r)], { manifest: (m) => [...Array.from({ length: r.int(100, 2000) }, () => m[0]), { ...m[0], Config: 'nope.json' }] }),
  'same gzip layer many times, then a diff id lie': (r) => {
    const l = layer(r);
    const n = r.int(20, 200);
    const cfg = configFor([...Array.from({ length: n }, () => l), Buffer.from('other')]);
    return dockerSave([{ layers: [l], refs: ['rep:1'] }], {
      gzipLayers: true,
      layout: 'flat',
      configBytes: () => cfg,
      manifest: (m) => m.map((e) => ({ ...e, Layers: Array.from({ length: n + 1 }, () => (e.Layers as string[])[0]) })),
    });
  },
  // ---- JSON bombs and not-archives
  'JSON bomb in manifest.json': (r) => {
    const depth = r.int(10_000, 200_000);
    return dockerSave([image(r)], { manifestText: '['.repeat(depth) + ']'.repeat(depth) });
  },
  'oversized manifest.json': (r) => dockerSave([image(r)], { manifestText: `[${' '.repeat(8 * 1024 * 1024 + r.int(1, 1000))}]` }),
  'not an archive': (r) => r.pick([r.bytes(r.int(0, 5000)), Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), r.bytes(50)]), Buffer.from('{"a":1}'), Buffer.alloc(r.int(1, 2048))]),
};

/** The corpus as (family, seed) pairs; each archive is built right before its upload (the corpus is not held in memory). */
export function hostileCorpus(seed = DEFAULT_SEED, perFamily = DEFAULT_PER_FAMILY): HostileCase[] {
  const out: HostileCase[] = [];
  let n = 0;
  for (const family of Object.keys(families)) for (let i = 0; i < perFamily; i++) out.push({ family, seed: seed + 7919 * n++ });
  return out;
}

/** The archive of one case (and the image name to upload it under, when the family gives one). */
export function makeHostile(c: HostileCase): { body: Buffer; image?: string } {
  const made = families[c.family](rng(c.seed));
  return Buffer.isBuffer(made) ? { body: made } : made;
}
