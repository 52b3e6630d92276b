/**
 * Builders of image archives for tests: a minimal tar writer (ustar + PAX long names), `docker save`-style and
 * OCI-layout archives in memory, with knobs to break them in every way the upload endpoint must refuse, and
 * OCI layout directories on disk for skopeo.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface TarItem {
  name: string;
  data?: Buffer | string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink';
  linkname?: string;
  /** Override the header's size field (to lie about the content). */
  sizeField?: number;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
export const digestOf = (b: Buffer) => `sha256:${sha(b)}`;

/** One ustar header block with any type flag (also used by tests that build raw or hostile archives). */
export function header(name: string, size: number, typeflag: string, linkname = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'ascii');
  h.write('0000000\0', 108, 'ascii');
  h.write('0000000\0', 116, 'ascii');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  h.write('00000000000\0', 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(typeflag, 156, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

/** Zero padding of a tar entry's data to the next 512-byte block. */
export const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);

/** One whole entry (header, data, padding) with any type flag; the header's size is the data's. */
export const tarEntry = (name: string, data: Buffer | string, flag = '0') => {
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return Buffer.concat([header(name, b.length, flag), b, pad(b.length)]);
};

/** A PAX record `len key=value\n` of exactly the right length. */
export function paxRecord(key: string, value: string): string {
  const rec = ` ${key}=${value}\n`;
  let len = rec.length + 1;
  while (String(len).length + rec.length !== len) len = String(len).length + rec.length;
  return `${len}${rec}`;
}

function pax(name: string, records: Record<string, string>): Buffer {
  const body = Object.entries(records)
    .map(([k, v]) => paxRecord(k, v))
    .join('');
  return tarEntry(`PaxHeaders/${name.slice(0, 80)}`, body, 'x');
}

/** A tar archive; `end: false` omits the end-of-archive marker. */
export function tar(items: TarItem[], opts: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const it of items) {
    const data = it.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(it.data) ? it.data : Buffer.from(it.data);
    const type = it.type ?? 'file';
    const flag = { file: '0', dir: '5', symlink: '2', hardlink: '1' }[type];
    const long = Buffer.byteLength(it.name) > 99 || Buffer.byteLength(it.linkname ?? '') > 99;
    if (long) parts.push(pax(it.name, { path: it.name, ...(it.linkname ? { linkpath: it.linkname } : {}) }));
    const size = type === 'file' ? data.length : 0;
    parts.push(header(long ? it.name.slice(0, 99) : it.name, it.sizeField ?? size, flag, long ? '' : it.linkname));
    if (type === 'file') parts.push(data, pad(data.length));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A layer: a tar holding the given files (random content by default). */
export function layerTar(files: Record<string, Buffer | string> = { [`f-${randomBytes(4).toString('hex')}`]: randomBytes(2048) }): Buffer {
  return tar(Object.entries(files).map(([name, data]) => ({ name, data })));
}

export interface ImageSpec {
  layers: Buffer[];
  /** RepoTags (docker save) or the ref name annotation (OCI). */
  refs?: string[];
  /** Extra or replaced config fields (e.g. to drop docker_version). */
  config?: Record<string, unknown>;
}

export function configFor(layers: Buffer[], extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map(digestOf) },
      ...extra,
    }),
  );
}

export interface DockerSaveOptions {
  /** Layers as `<id>/layer.tar` (legacy, default), `<sha>.tar` or `blobs/sha256/<hex>`. */
  layout?: 'legacy' | 'flat' | 'blobs';
  repositories?: boolean;
  /** Mutate the manifest.json value before it is written. */
  manifest?: (m: Record<string, unknown>[]) => unknown;
  /** Raw manifest.json text instead. */
  manifestText?: string;
  /** Drop these archive paths. */
  omit?: (name: string) => boolean;
  /** Extra entries, appended. */
  extra?: TarItem[];
  /** Replace the config bytes. */
  configBytes?: (orig: Buffer) => Buffer;
  /** Gzip each layer inside the archive. */
  gzipLayers?: boolean;
}

export function dockerSave(images: ImageSpec[], o: DockerSaveOptions = {}): Buffer {
  const items: TarItem[] = [];
  const manifest: Record<string, unknown>[] = [];
  const repos: Record<string, Record<string, string>> = {};
  for (const img of images) {
    let cfg = configFor(img.layers, img.config);
    if (o.configBytes) cfg = o.configBytes(cfg);
    const cfgName = o.layout === 'blobs' ? `blobs/sha256/${sha(cfg)}` : `${sha(cfg)}.json`;
    items.push({ name: cfgName, data: cfg });
    const layerNames: string[] = [];
    for (const l of img.layers) {
      const content = o.gzipLayers ? gzipSync(l) : l;
      const hex = sha(l);
      if (o.layout === 'blobs') {
        layerNames.push(`blobs/sha256/${hex}`);
        items.push({ name: `blobs/sha256/${hex}`, data: content });
      } else if (o.layout === 'flat') {
        layerNames.push(`${hex}.tar`);
        items.push({ name: `${hex}.tar`, data: content });
      } else {
        const id = sha(Buffer.from(hex + 'id'));
        layerNames.push(`${id}/layer.tar`);
        items.push({ name: `${id}/`, type: 'dir' }, { name: `${id}/VERSION`, data: '1.0' }, { name: `${id}/json`, data: `{"id":"${id}"}` }, { name: `${id}/layer.tar`, data: content });
      }
    }
    manifest.push({ Config: cfgName, RepoTags: img.refs ?? null, Layers: layerNames });
    for (const r of img.refs ?? []) {
      const i = r.lastIndexOf(':');
      (repos[r.slice(0, i)] ??= {})[r.slice(i + 1)] = sha(Buffer.from(sha(img.layers[img.layers.length - 1]) + 'id'));
    }
  }
  const mtext = o.manifestText ?? JSON.stringify(o.manifest ? o.manifest(manifest) : manifest);
  items.push({ name: 'manifest.json', data: mtext });
  if (o.repositories !== false) items.push({ name: 'repositories', data: JSON.stringify(repos) });
  if (o.extra) items.push(...o.extra);
  return tar(items.filter((i) => !o.omit?.(i.name)));
}

export interface OciOptions {
  /** Layer media type (default uncompressed OCI tar); `gzip: true` stores layers gzip-compressed. */
  gzip?: boolean;
  mutateManifest?: (m: Record<string, unknown>) => void;
  mutateIndex?: (i: Record<string, unknown>) => void;
  omit?: (name: string) => boolean;
  ociLayout?: boolean;
  /** Wrap the image manifests in one image index (multi-platform). */
  asIndex?: boolean;
}

export interface OciBlobs {
  files: Record<string, Buffer>;
  manifests: { digest: string; size: number; bytes: Buffer }[];
}

/** The files of an OCI image layout (path → bytes). */
export function ociFiles(images: ImageSpec[], o: OciOptions = {}): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  const put = (b: Buffer) => {
    files[`blobs/sha256/${sha(b)}`] = b;
    return { digest: digestOf(b), size: b.length };
  };
  const entries: Record<string, unknown>[] = [];
  for (const img of images) {
    const cfg = configFor(img.layers, img.config);
    const layers = img.layers.map((l) => {
      const content = o.gzip ? gzipSync(l) : l;
      return { mediaType: o.gzip ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar', ...put(content) };
    });
    const m: Record<string, unknown> = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...put(cfg) },
      layers,
    };
    o.mutateManifest?.(m);
    const mb = Buffer.from(JSON.stringify(m));
    const d = put(mb);
    entries.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...d,
      ...(img.refs?.length ? { annotations: { 'org.opencontainers.image.ref.name': img.refs[0] } } : {}),
      platform: { architecture: 'amd64', os: 'linux' },
    });
  }
  let top = entries;
  if (o.asIndex) {
    const ib = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries.map(({ annotations: _a, ...e }) => e) }));
    const ref = images[0].refs?.[0];
    top = [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...put(ib), ...(ref ? { annotations: { 'org.opencontainers.image.ref.name': ref } } : {}) }];
  }
  const index: Record<string, unknown> = { schemaVersion: 2, manifests: top };
  o.mutateIndex?.(index);
  files['index.json'] = Buffer.from(JSON.stringify(index));
  if (o.ociLayout !== false) files['oci-layout'] = Buffer.from('{"imageLayoutVersion":"1.0.0"}');
  return files;
}

export function ociArchive(images: ImageSpec[], o: OciOptions = {}, extra: TarItem[] = []): Buffer {
  const files = ociFiles(images, o);
  const items: TarItem[] = Object.entries(files).map(([name, data]) => ({ name, data }));
  return tar([...items.filter((i) => !o.omit?.(i.name)), ...extra]);
}

/** Writes an OCI layout directory (for `skopeo copy oci:<dir>:<ref> …`). */
export function writeOciDir(dir: string, images: ImageSpec[], o: OciOptions = {}): void {
  for (const [name, data] of Object.entries(ociFiles(images, o))) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), data);
  }
}

export const gzip = (b: Buffer) => gzipSync(b);
