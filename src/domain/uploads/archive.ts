import { createHash } from 'node:crypto';
import { ArchiveError } from './archive-error';
import { checkRepository, checkTag, imageFor, parseReference } from './refs';
import type { Spool, SpooledFile } from './spool';

/**
 * Turns a spooled archive into what will be pushed: for every image, its blobs and manifests, the repository
 * and the tags. Reads `docker save` archives (manifest.json, layers as `<id>/layer.tar`, `<sha>.tar` or
 * `blobs/sha256/<hex>`) and OCI image layouts (oci-layout, index.json, blobs/). Verifies every digest it can:
 * layer diff ids against the config, file names that are digests, OCI descriptors' digests and sizes.
 */
export const MT = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface PlannedBlob {
  digest: string;
  size: number;
  file: SpooledFile;
  /** What the layer/config is, for progress (`layer 2 of app:v1`). */
  label: string;
}

export interface PlannedManifest {
  mediaType: string;
  body: Buffer;
  digest: string;
}

export interface ImagePlan {
  repository: string;
  tags: string[];
  blobs: PlannedBlob[];
  /** Manifests to PUT by digest before tagging; the last one is what the tags point at. */
  manifests: PlannedManifest[];
}

export interface Overrides {
  image?: string;
  tag?: string;
}

interface FoundImage {
  /** References named in the archive (docker refs, or OCI ref names). */
  refs: { ref: string; tagOnly: boolean }[];
  blobs: PlannedBlob[];
  manifests: PlannedManifest[];
  where: string;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A digest encoded in an archive path (`<hex>.json`, `<hex>.tar`, `blobs/sha256/<hex>`), if any. */
function digestInName(name: string): string | undefined {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const m = /^([a-f0-9]{64})(\.json|\.tar)?$/.exec(base);
  if (!m) return undefined;
  if (base === m[1] && !name.includes('sha256/')) return undefined;
  return `sha256:${m[1]}`;
}

export async function planUpload(spool: Spool, workspace: string, overrides: Overrides, compress: boolean): Promise<ImagePlan[]> {
  let found: FoundImage[];
  if (spool.has('manifest.json')) found = await dockerSave(spool);
  else if (spool.has('index.json')) found = await ociLayout(spool, compress);
  else {
    throw new ArchiveError(
      'missing_manifest',
      'the archive has neither manifest.json (docker save) nor index.json (OCI image layout); is it an image archive?',
    );
  }
  if (found.length === 0) throw new ArchiveError('invalid_manifest', 'the archive describes no image');
  return assign(merge(found), workspace, overrides);
}

/**
 * One entry per distinct image: entries whose top manifest is the same (an index or manifest.json naming the
 * same image again and again) become one, with all their references; blobs and manifests appear once each.
 * The work later done per image (pushes, manifest PUTs) is then bounded by what the archive really holds.
 */
function merge(found: FoundImage[]): FoundImage[] {
  const byTop = new Map<string, FoundImage>();
  for (const img of found) {
    const top = img.manifests[img.manifests.length - 1].digest;
    const seen = byTop.get(top);
    if (!seen) {
      byTop.set(top, { ...img, refs: uniqueRefs(img.refs), blobs: uniqueBy(img.blobs, (b) => b.digest), manifests: uniqueBy(img.manifests, (m) => m.digest) });
      continue;
    }
    seen.refs = uniqueRefs([...seen.refs, ...img.refs]);
  }
  return [...byTop.values()];
}

/** One of each key, in first-seen order (items with the same key are equal here: a key is all of a reference). */
function uniqueBy<T>(xs: T[], key: (x: T) => string): T[] {
  return [...new Map(xs.map((x) => [key(x), x])).values()];
}

// "true:v1" (a tag only) and "false:v1" (image v1, tag latest) are two references; no ref can make the two prefixes meet
const uniqueRefs = (refs: FoundImage['refs']) => uniqueBy(refs, (r) => `${r.tagOnly}:${r.ref}`);

// ---------------------------------------------------------------------------------------------- docker save

async function dockerSave(spool: Spool): Promise<FoundImage[]> {
  const { value } = await spool.readJson('manifest.json', 'manifest.json');
  if (!Array.isArray(value)) throw new ArchiveError('invalid_manifest', 'manifest.json must be a JSON array of images');
  const images: FoundImage[] = [];
  // an entry repeating an earlier one (same config, same layers) is only another set of references
  const built = new Map<string, FoundImage>();
  for (const [i, raw] of value.entries()) {
    spool.check();
    const where = `manifest.json entry ${i + 1}`;
    if (!isObject(raw) || typeof raw.Config !== 'string' || !Array.isArray(raw.Layers) || !raw.Layers.every((l) => typeof l === 'string')) {
      throw new ArchiveError('invalid_manifest', `${where} must have "Config" (a path) and "Layers" (a list of paths)`);
    }
    const repoTags = raw.RepoTags ?? [];
    if (!Array.isArray(repoTags) || !repoTags.every((t) => typeof t === 'string')) {
      throw new ArchiveError('invalid_manifest', `${where}: "RepoTags" must be a list of image references`);
    }
    const key = JSON.stringify([raw.Config, raw.Layers]);
    const again = built.get(key);
    // Stryker disable next-line BlockStatement: equivalent, planning the repeated entry again gives the same image, and merge() folds it into the first
    if (again) {
      images.push({ ...again, refs: (repoTags as string[]).map((ref) => ({ ref, tagOnly: false })), where });
      continue;
    }
    const cfgFile = spool.resolve(raw.Config);
    if (!cfgFile) throw new ArchiveError('missing_blob', `${where} names config "${raw.Config}", which the archive does not contain`);
    const { value: config, file: configFile } = await spool.readJson(raw.Config, `the image config named by ${where}`);
    const named = digestInName(raw.Config);
    if (named && named !== configFile.digest) {
      throw new ArchiveError('digest_mismatch', `config "${raw.Config}" has digest ${configFile.digest}, not the one its name says`);
    }
    const diffIds = isObject(config) && isObject(config.rootfs) ? config.rootfs.diff_ids : undefined;
    if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string')) {
      throw new ArchiveError('invalid_manifest', `config "${raw.Config}" has no "rootfs.diff_ids" list`);
    }
    const layers = raw.Layers as string[];
    if (diffIds.length !== layers.length) {
      throw new ArchiveError('invalid_manifest', `${where} lists ${layers.length} layers but its config has ${diffIds.length} diff ids`);
    }
    const blobs: PlannedBlob[] = [];
    const descriptors: { mediaType: string; size: number; digest: string }[] = [];
    for (const [j, path] of layers.entries()) {
      spool.check();
      const file = spool.resolve(path);
      if (!file) throw new ArchiveError('missing_blob', `${where} names layer "${path}", which the archive does not contain`);
      if (!file.tarLike && !file.gzipped) throw new ArchiveError('invalid_manifest', `layer "${path}" is neither a tar nor gzip-compressed tar`);
      const diffId = await spool.uncompressedDigest(file, `layer "${path}"`);
      const namedLayer = digestInName(path);
      if (namedLayer && namedLayer !== diffId && namedLayer !== file.digest) {
        throw new ArchiveError('digest_mismatch', `layer "${path}" has digest ${diffId}, not the one its name says`);
      }
      if (diffId !== diffIds[j]) {
        throw new ArchiveError('digest_mismatch', `layer "${path}" has content digest ${diffId} but the image config expects ${String(diffIds[j])}`);
      }
      const pushed = file.gz ?? { digest: file.digest, size: file.size };
      const mediaType = file.gz || file.gzipped ? MT.dockerLayerGzip : MT.dockerLayerTar;
      descriptors.push({ mediaType, size: pushed.size, digest: pushed.digest });
      blobs.push({ digest: pushed.digest, size: pushed.size, file, label: `layer ${j + 1}/${layers.length}` });
    }
    blobs.push({ digest: configFile.digest, size: configFile.size, file: configFile, label: 'config' });
    const manifest = {
      schemaVersion: 2,
      mediaType: MT.dockerManifest,
      config: { mediaType: MT.dockerConfig, size: configFile.size, digest: configFile.digest },
      layers: descriptors,
    };
    const body = Buffer.from(JSON.stringify(manifest, null, 3));
    const image: FoundImage = {
      refs: (repoTags as string[]).map((ref) => ({ ref, tagOnly: false })),
      blobs,
      manifests: [{ mediaType: MT.dockerManifest, body, digest: sha256(body) }],
      where,
    };
    built.set(key, image);
    images.push(image);
  }
  return images;
}

// ---------------------------------------------------------------------------------------------- OCI layout

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

function descriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v) || typeof v.digest !== 'string' || typeof v.size !== 'number' || typeof v.mediaType !== 'string') {
    throw new ArchiveError('invalid_manifest', `${where} is not a valid descriptor (needs mediaType, digest and size)`);
  }
  if (!DIGEST.test(v.digest)) throw new ArchiveError('invalid_manifest', `${where} has an unsupported digest "${String(v.digest).slice(0, 80)}" (sha256 only)`);
  return v as Descriptor;
}

/** The spooled blob a descriptor names, with its digest and size checked. */
function blob(spool: Spool, d: Descriptor, what: string): SpooledFile {
  const path = `blobs/sha256/${d.digest.slice(7)}`;
  const file = spool.resolve(path);
  if (!file) throw new ArchiveError('missing_blob', `${what} ${d.digest} is missing from the archive (expected ${path})`);
  if (file.digest !== d.digest) throw new ArchiveError('digest_mismatch', `${path} has content digest ${file.digest}, not ${d.digest}`);
  if (file.size !== d.size) throw new ArchiveError('digest_mismatch', `${what} ${d.digest} is ${file.size} bytes, but its descriptor says ${d.size}`);
  return file;
}

const UNCOMPRESSED_LAYER: Record<string, string> = { [MT.ociLayerTar]: MT.ociLayerGzip, [MT.dockerLayerTar]: MT.dockerLayerGzip };
const GZIP_LAYER = new Set<string>([MT.ociLayerGzip, MT.dockerLayerGzip]);

async function ociLayout(spool: Spool, compress: boolean): Promise<FoundImage[]> {
  if (spool.has('oci-layout')) {
    const { value } = await spool.readJson('oci-layout', 'oci-layout');
    if (!isObject(value) || typeof value.imageLayoutVersion !== 'string') {
      throw new ArchiveError('invalid_manifest', 'oci-layout must be {"imageLayoutVersion": "1.0.0"}');
    }
  }
  const { value: index } = await spool.readJson('index.json', 'index.json');
  if (!isObject(index) || !Array.isArray(index.manifests)) throw new ArchiveError('invalid_manifest', 'index.json must have a "manifests" list');
  // every manifest and index is checked, parsed and (when its layers are compressed here) rewritten once per
  // digest, however often the archive names it
  const manifestsDone = new Map<string, Promise<{ manifest: PlannedManifest; blobs: PlannedBlob[] }>>();
  const imageOnce = (d: Descriptor) => {
    blob(spool, d, 'image manifest'); // digest and size of this very descriptor
    let p = manifestsDone.get(d.digest);
    if (!p) {
      p = (async () => {
        const blobs: PlannedBlob[] = [];
        const manifest = await imageManifest(spool, d, compress, blobs);
        return { manifest, blobs };
      })();
      manifestsDone.set(d.digest, p);
    }
    return p;
  };
  const indexesDone = new Map<string, Promise<{ manifests: PlannedManifest[]; blobs: PlannedBlob[] }>>();
  const indexOnce = (d: Descriptor) => {
    const file = blob(spool, d, 'image index');
    let p = indexesDone.get(d.digest);
    // Stryker disable next-line ConditionalExpression: 'true' is equivalent (the index planned again is the same); 'false' (p undefined) is killed by the index tests, applied by hand
    if (!p) {
      p = imageIndex(spool, d, file, imageOnce);
      indexesDone.set(d.digest, p);
    }
    return p;
  };
  const images: FoundImage[] = [];
  for (const [i, raw] of index.manifests.entries()) {
    spool.check();
    const where = `index.json manifest ${i + 1}`;
    const d = descriptor(raw, where);
    let blobs: PlannedBlob[];
    let manifests: PlannedManifest[];
    if (d.mediaType === MT.ociIndex || d.mediaType === MT.dockerList) {
      ({ blobs, manifests } = await indexOnce(d));
    } else if (d.mediaType === MT.ociManifest || d.mediaType === MT.dockerManifest) {
      const done = await imageOnce(d);
      blobs = done.blobs;
      manifests = [done.manifest];
    } else {
      throw new ArchiveError('invalid_manifest', `${where} has media type "${d.mediaType.slice(0, 100)}", which is not an image manifest or index`);
    }
    const a = d.annotations ?? {};
    const full = a['io.containerd.image.name'];
    const name = a['org.opencontainers.image.ref.name'];
    const refs = full ? [{ ref: full, tagOnly: false }] : name ? [{ ref: name, tagOnly: !/[/:]/.test(name) }] : [];
    images.push({ refs, blobs, manifests, where });
  }
  return images;
}

/** An image index (one level: image manifests only), its children checked once each. */
async function imageIndex(
  spool: Spool,
  d: Descriptor,
  file: SpooledFile,
  imageOnce: (d: Descriptor) => Promise<{ manifest: PlannedManifest; blobs: PlannedBlob[] }>,
): Promise<{ manifests: PlannedManifest[]; blobs: PlannedBlob[] }> {
  const { value: child, bytes } = await spool.readJson(`blobs/sha256/${d.digest.slice(7)}`, 'image index');
  if (!isObject(child) || !Array.isArray(child.manifests)) throw new ArchiveError('invalid_manifest', `image index ${d.digest} has no "manifests" list`);
  let changed = false;
  const entries: unknown[] = [];
  const manifests = new Map<string, PlannedManifest>();
  const blobs = new Map<string, PlannedBlob>();
  for (const [k, c] of child.manifests.entries()) {
    spool.check();
    const cd = descriptor(c, `entry ${k + 1} of image index ${d.digest}`);
    if (cd.mediaType !== MT.ociManifest && cd.mediaType !== MT.dockerManifest) {
      throw new ArchiveError('invalid_manifest', `image index ${d.digest} nests ${cd.mediaType}; only image manifests are supported inside an index`);
    }
    const done = await imageOnce(cd);
    const m = done.manifest;
    // imageOnce() answers one object per manifest digest: setting it again changes nothing.
    manifests.set(m.digest, m);
    for (const b of done.blobs) if (!blobs.has(b.digest)) blobs.set(b.digest, b);
    if (m.digest !== cd.digest) {
      changed = true;
      entries.push({ ...cd, digest: m.digest, size: m.body.length });
    } else entries.push(c);
  }
  const out = [...manifests.values()];
  if (changed) {
    const body = Buffer.from(JSON.stringify({ ...child, manifests: entries }));
    out.push({ mediaType: d.mediaType, body, digest: sha256(body) });
  } else {
    out.push({ mediaType: d.mediaType, body: bytes, digest: file.digest });
  }
  return { manifests: out, blobs: [...blobs.values()] };
}

async function imageManifest(spool: Spool, d: Descriptor, compress: boolean, blobs: PlannedBlob[]): Promise<PlannedManifest> {
  const file = blob(spool, d, 'image manifest');
  const { value: m, bytes } = await spool.readJson(`blobs/sha256/${d.digest.slice(7)}`, 'image manifest');
  if (!isObject(m) || !Array.isArray(m.layers)) throw new ArchiveError('invalid_manifest', `image manifest ${d.digest} has no "layers" list`);
  const cfg = descriptor(m.config, `the config descriptor of image manifest ${d.digest}`);
  const cfgFile = blob(spool, cfg, 'image config');
  await spool.readJson(`blobs/sha256/${cfg.digest.slice(7)}`, 'image config');
  let changed = false;
  const layers: unknown[] = [];
  for (const [j, l] of m.layers.entries()) {
    spool.check();
    const ld = descriptor(l, `layer ${j + 1} of image manifest ${d.digest}`);
    const lf = blob(spool, ld, 'layer');
    if (GZIP_LAYER.has(ld.mediaType) && !lf.gzipped) {
      throw new ArchiveError('invalid_manifest', `layer ${ld.digest} is declared gzip-compressed but is not gzip data`);
    }
    const compressedType = UNCOMPRESSED_LAYER[ld.mediaType];
    if (lf.gz && compress && compressedType) {
      changed = true;
      layers.push({ ...ld, mediaType: compressedType, digest: lf.gz.digest, size: lf.gz.size });
      blobs.push({ digest: lf.gz.digest, size: lf.gz.size, file: lf, label: `layer ${j + 1}/${m.layers.length}` });
    } else {
      if (lf.gz) throw new ArchiveError('invalid_manifest', `layer ${ld.digest} has media type "${ld.mediaType.slice(0, 100)}" but is an uncompressed tar`);
      layers.push(l);
      blobs.push({ digest: lf.digest, size: lf.size, file: lf, label: `layer ${j + 1}/${m.layers.length}` });
    }
  }
  blobs.push({ digest: cfgFile.digest, size: cfgFile.size, file: cfgFile, label: 'config' });
  const mediaType = typeof m.mediaType === 'string' ? m.mediaType : d.mediaType;
  if (!changed) return { mediaType, body: bytes, digest: file.digest };
  const body = Buffer.from(JSON.stringify({ ...m, layers }));
  return { mediaType, body, digest: sha256(body) };
}

// ---------------------------------------------------------------------------------------------- names

function assign(found: FoundImage[], workspace: string, o: Overrides): ImagePlan[] {
  if (o.image !== undefined) checkRepository(workspace, o.image);
  if (o.tag !== undefined) checkTag(o.tag);
  if (o.tag !== undefined && found.length > 1) {
    throw new ArchiveError('invalid_tag', `a tag can only be given for an archive holding one image; this one holds ${found.length}`);
  }
  const seen = new Map<string, string>();
  const plans: ImagePlan[] = [];
  for (const img of found) {
    const byRepo = new Map<string, Set<string>>();
    const add = (image: string, tag: string) => {
      const repository = checkRepository(workspace, image);
      checkTag(tag);
      if (!byRepo.has(repository)) byRepo.set(repository, new Set());
      byRepo.get(repository)!.add(tag);
    };
    if (o.image !== undefined) {
      const tags = o.tag !== undefined ? [o.tag] : img.refs.map((r) => (r.tagOnly ? r.ref : parseReference(r.ref).tag ?? 'latest'));
      for (const t of tags.length ? tags : ['latest']) add(o.image, t);
    } else {
      const named = img.refs.filter((r) => !r.tagOnly);
      if (named.length === 0) {
        const hint = img.refs.length ? ` (it is only tagged "${img.refs[0].ref}")` : '';
        throw new ArchiveError('name_required', `${img.where} has no image name${hint}; give "image" (and optionally "tag") with the upload`);
      }
      for (const r of named) {
        const ref = parseReference(r.ref);
        add(imageFor(ref, workspace), o.tag ?? ref.tag ?? 'latest');
      }
    }
    const top = img.manifests[img.manifests.length - 1].digest;
    for (const [repository, tags] of byRepo) {
      for (const t of tags) {
        const key = `${repository}:${t}`;
        const other = seen.get(key);
        // Stryker disable next-line ConditionalExpression: equivalent, merge() left one image per top manifest, so a key seen before is another image's
        if (other !== undefined && other !== top) throw new ArchiveError('duplicate_reference', `the archive names ${key} for two different images`);
        seen.set(key, top);
      }
      plans.push({ repository, tags: [...tags], blobs: img.blobs, manifests: img.manifests });
    }
  }
  return plans;
}
