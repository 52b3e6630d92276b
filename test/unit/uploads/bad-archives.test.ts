import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { AppError } from '../../../src/domain/errors';
import { ERROR_TABLE } from '../../../src/http/errors';
import { dockerSave, layerTar, ociArchive, ociFiles, tar, type TarItem } from '../../support/archives';
import { kit, member, pieces, type Kit } from './kit';

/**
 * The corpus of archives the upload endpoint must refuse: each one → the right 4xx (kind → status) and reason,
 * nothing pushed or tagged, the spool directory removed, the failure recorded in the progress record.
 */
interface Case {
  name: string;
  build: () => Buffer;
  status: number;
  reason: string;
  /** Part of the message that names the problem. */
  says: RegExp;
  image?: string;
  tag?: string;
}

const good = () => dockerSave([{ layers: [layerTar()], refs: ['app:v1'] }]);
const withManifest = (m: (x: Record<string, unknown>[]) => unknown) => dockerSave([{ layers: [layerTar()], refs: ['app:v1'] }], { manifest: m });
const ociWith = (o: Parameters<typeof ociArchive>[1], extra: TarItem[] = []) => ociArchive([{ layers: [layerTar()], refs: ['reg.io/app:v1'] }], o, extra);
const cut = (b: Buffer, at: number) => b.subarray(0, Math.floor(at));
const manifestEntry = (items: TarItem[]) => tar([...items, { name: 'manifest.json', data: '[]' }]);

/** An OCI archive whose blob (matched by predicate) is replaced with other bytes under the same name. */
function ociTamper(which: (name: string, data: Buffer) => boolean, replace: (b: Buffer) => Buffer): Buffer {
  const files = ociFiles([{ layers: [layerTar()], refs: ['reg.io/app:v1'] }]);
  return tar(Object.entries(files).map(([name, data]) => ({ name, data: which(name, data) ? replace(data) : data })));
}
const isLayer = (name: string, data: Buffer) => name.startsWith('blobs/') && data.length >= 512 && data.subarray(257, 262).toString() === 'ustar';

const cases: Case[] = [
  { name: 'empty body', build: () => Buffer.alloc(0), status: 400, reason: 'empty', says: /empty/ },
  { name: 'random bytes', build: () => randomBytes(4096), status: 400, reason: 'not_tar', says: /not a tar/ },
  { name: 'a text file', build: () => Buffer.from('hello, this is not an archive\n'.repeat(40)), status: 400, reason: 'not_tar', says: /not a tar/ },
  { name: 'a short text', build: () => Buffer.from('hi'), status: 400, reason: 'not_tar', says: /not a tar/ },
  { name: 'zstd-compressed', build: () => Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), randomBytes(100)]), status: 400, reason: 'unsupported_compression', says: /zstd/ },
  { name: 'bzip2-compressed', build: () => Buffer.concat([Buffer.from('BZh91AY&SY'), randomBytes(100)]), status: 400, reason: 'unsupported_compression', says: /bzip2/ },
  { name: 'xz-compressed', build: () => Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), randomBytes(100)]), status: 400, reason: 'unsupported_compression', says: /xz/ },
  { name: 'tar truncated inside an entry', build: () => cut(good(), 2048 + 700), status: 400, reason: 'truncated_tar', says: /truncated/ },
  { name: 'tar truncated inside a header', build: () => { const g = good(); return cut(g, g.length - 1024 - 300); }, status: 400, reason: 'truncated_tar', says: /truncated/ },
  {
    name: 'tar with a corrupt second header',
    build: () => { const g = Buffer.from(good()); const first = 512 + Math.ceil(parseInt(g.subarray(124, 135).toString(), 8) / 512) * 512; g[first + 10] ^= 0xff; return g; },
    status: 400,
    reason: 'corrupt_tar',
    says: /checksum/,
  },
  { name: 'gzip truncated', build: () => { const z = gzipSync(good()); return cut(z, z.length / 2); }, status: 400, reason: 'truncated_gzip', says: /truncated gzip/ },
  {
    name: 'gzip with corrupted data',
    build: () => { const z = Buffer.from(gzipSync(good())); for (let i = 20; i < 60; i++) z[i] ^= 0x5a; return z; },
    status: 400,
    reason: 'corrupt_gzip',
    says: /not valid gzip/,
  },
  { name: 'gzip bomb (archive)', build: () => gzipSync(tar([{ name: 'zeros', data: Buffer.alloc(6 * 1024 * 1024) }])), status: 400, reason: 'gzip_bomb', says: /gzip bomb/ },
  {
    name: 'gzip bomb (layer inside docker save)',
    build: () => dockerSave([{ layers: [tar([{ name: 'z', data: Buffer.alloc(6 * 1024 * 1024) }])], refs: ['app:v1'] }], { gzipLayers: true }),
    status: 400,
    reason: 'gzip_bomb',
    says: /gzip bomb/,
  },
  { name: 'entry name with ..', build: () => manifestEntry([{ name: '../evil', data: 'x' }]), status: 400, reason: 'unsafe_path', says: /"\.\."/ },
  { name: 'entry name with a nested ..', build: () => manifestEntry([{ name: 'a/../../b', data: 'x' }]), status: 400, reason: 'unsafe_path', says: /"\.\."/ },
  { name: 'absolute entry name', build: () => manifestEntry([{ name: '/etc/passwd', data: 'x' }]), status: 400, reason: 'unsafe_path', says: /absolute/ },
  { name: 'long (PAX) entry name with ..', build: () => manifestEntry([{ name: `${'d/'.repeat(60)}../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../x`, data: 'x' }]), status: 400, reason: 'unsafe_path', says: /"\.\."/ },
  { name: 'symlink to an absolute path', build: () => manifestEntry([{ name: 'layer.tar', type: 'symlink', linkname: '/etc/shadow' }]), status: 400, reason: 'unsafe_link', says: /absolute/ },
  { name: 'symlink escaping the archive', build: () => manifestEntry([{ name: 'layer.tar', type: 'symlink', linkname: '../../outside' }]), status: 400, reason: 'unsafe_link', says: /outside/ },
  { name: 'symlink in a directory escaping the archive', build: () => manifestEntry([{ name: 'x/y/layer.tar', type: 'symlink', linkname: '../../../z' }]), status: 400, reason: 'unsafe_link', says: /outside/ },
  { name: 'hard link escaping the archive', build: () => manifestEntry([{ name: 'h', type: 'hardlink', linkname: '../x' }]), status: 400, reason: 'unsafe_link', says: /outside/ },
  { name: 'hard link to a file not in the archive', build: () => manifestEntry([{ name: 'h', type: 'hardlink', linkname: 'nothere' }]), status: 400, reason: 'unsafe_link', says: /does not contain/ },
  { name: 'no manifest.json and no index.json', build: () => tar([{ name: 'hello.txt', data: 'hi' }, { name: 'layer.tar', data: layerTar() }]), status: 400, reason: 'missing_manifest', says: /manifest\.json.*index\.json/ },
  { name: 'OCI layout without index.json', build: () => ociWith({ omit: (n) => n === 'index.json' }), status: 400, reason: 'missing_manifest', says: /index\.json/ },
  { name: 'manifest.json names a missing layer', build: () => dockerSave([{ layers: [layerTar()], refs: ['app:v1'] }], { omit: (n) => n.endsWith('layer.tar') }), status: 400, reason: 'missing_blob', says: /layer .* does not contain/ },
  { name: 'manifest.json names a missing config', build: () => dockerSave([{ layers: [layerTar()], refs: ['app:v1'] }], { omit: (n) => n.endsWith('.json') && n !== 'manifest.json' }), status: 400, reason: 'missing_blob', says: /config/ },
  { name: 'OCI index names a missing manifest', build: () => ociMissing('manifest'), status: 400, reason: 'missing_blob', says: /image manifest .* missing/ },
  { name: 'OCI manifest names a missing layer', build: () => ociMissing('layer'), status: 400, reason: 'missing_blob', says: /layer .* missing/ },
  { name: 'OCI manifest names a missing config', build: () => ociMissing('config'), status: 400, reason: 'missing_blob', says: /image config .* missing/ },
  { name: 'manifest.json is not JSON', build: () => dockerSave([{ layers: [layerTar()], refs: ['app:v1'] }], { manifestText: '[{"Config": ' }), status: 400, reason: 'invalid_json', says: /manifest\.json.*not valid JSON/ },
  { name: 'config is not JSON', build: () => dockerSave([{ layers: [layerTar()], refs: ['app:v1'] }], { configBytes: () => Buffer.from('{not json') }), status: 400, reason: 'invalid_json', says: /config.*not valid JSON/ },
  { name: 'index.json is not JSON', build: () => ociTamper((n) => n === 'index.json', () => Buffer.from('{"manifests": [')), status: 400, reason: 'invalid_json', says: /index\.json.*not valid JSON/ },
  { name: 'manifest.json is not a list', build: () => withManifest((m) => m[0]), status: 400, reason: 'invalid_manifest', says: /JSON array/ },
  { name: 'manifest.json entry without Layers', build: () => withManifest((m) => [{ Config: m[0].Config }]), status: 400, reason: 'invalid_manifest', says: /"Layers"/ },
  { name: 'config without rootfs.diff_ids', build: () => dockerSave([{ layers: [layerTar()], refs: ['app:v1'], config: { rootfs: { type: 'layers' } } }]), status: 400, reason: 'invalid_manifest', says: /diff_ids/ },
  { name: 'config with fewer diff ids than layers', build: () => dockerSave([{ layers: [layerTar()], refs: ['app:v1'], config: { rootfs: { type: 'layers', diff_ids: [] } } }]), status: 400, reason: 'invalid_manifest', says: /1 layers but its config has 0/ },
  {
    name: 'layer content does not match the diff id in the config',
    build: () => dockerSave([{ layers: [layerTar()], refs: ['app:v1'], config: { rootfs: { type: 'layers', diff_ids: [`sha256:${'a'.repeat(64)}`] } } }]),
    status: 400,
    reason: 'digest_mismatch',
    says: /expects sha256:a{64}/,
  },
  {
    name: 'config named by a digest it does not have',
    build: () => tamperConfigKeepName([layerTar()]),
    status: 400,
    reason: 'digest_mismatch',
    says: /config .* has digest/,
  },
  { name: 'OCI layer whose content does not match its digest', build: () => ociTamper(isLayer, (b) => { const c = Buffer.from(b); c[600] ^= 1; return c; }), status: 400, reason: 'digest_mismatch', says: /content digest/ },
  { name: 'OCI descriptor with a wrong size', build: () => ociWith({ mutateManifest: (m) => { (m.layers as { size: number }[])[0].size += 1; } }), status: 400, reason: 'digest_mismatch', says: /bytes, but its descriptor says/ },
  { name: 'OCI layer declared gzip but plain tar', build: () => ociWith({ mutateManifest: (m) => { (m.layers as { mediaType: string }[])[0].mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip'; } }), status: 400, reason: 'invalid_manifest', says: /declared gzip/ },
  { name: 'OCI descriptor with a sha512 digest', build: () => ociWith({ mutateIndex: (i) => { (i.manifests as { digest: string }[])[0].digest = `sha512:${'a'.repeat(128)}`; } }), status: 400, reason: 'invalid_manifest', says: /sha256 only/ },
  { name: 'image name with upper case in the archive', build: () => dockerSave([{ layers: [layerTar()], refs: ['Bad/App:v1'] }]), status: 400, reason: 'invalid_name', says: /image name "Bad\/App"/ },
  { name: 'tag too long in the archive', build: () => dockerSave([{ layers: [layerTar()], refs: [`app:${'t'.repeat(129)}`] }]), status: 400, reason: 'invalid_tag', says: /tag "t+/ },
  { name: 'image override that the spec forbids', build: good, image: 'UPPER/Case', status: 400, reason: 'invalid_name', says: /UPPER/ },
  { name: 'tag override that the spec forbids', build: good, tag: '-bad', status: 400, reason: 'invalid_tag', says: /"-bad"/ },
  { name: 'tag override for an archive with two images', build: () => dockerSave([{ layers: [layerTar()], refs: ['a:1'] }, { layers: [layerTar()], refs: ['b:1'] }]), tag: 'x', status: 400, reason: 'invalid_tag', says: /holds 2/ },
  { name: 'OCI image only tagged, no name given', build: () => ociArchive([{ layers: [layerTar()], refs: ['v1'] }]), status: 400, reason: 'name_required', says: /give "image"/ },
  { name: 'two images under the same name and tag', build: () => dockerSave([{ layers: [layerTar()], refs: ['a:1'] }, { layers: [layerTar()], refs: ['a:1'] }]), status: 400, reason: 'duplicate_reference', says: /ws\/a:1 for two different images/ },
  { name: 'archive over the size limit (streamed)', build: () => dockerSave([{ layers: [layerTar({ big: randomBytes(9 * 1024 * 1024) })], refs: ['app:v1'] }]), status: 413, reason: 'too_large', says: /larger than the upload limit/ },
];

function ociMissing(what: 'manifest' | 'layer' | 'config'): Buffer {
  const files = ociFiles([{ layers: [layerTar()], refs: ['reg.io/app:v1'] }]);
  const index = JSON.parse(files['index.json'].toString());
  const mDigest: string = index.manifests[0].digest;
  const m = JSON.parse(files[`blobs/sha256/${mDigest.slice(7)}`].toString());
  const drop = what === 'manifest' ? mDigest : what === 'layer' ? m.layers[0].digest : m.config.digest;
  delete files[`blobs/sha256/${drop.slice(7)}`];
  return tar(Object.entries(files).map(([name, data]) => ({ name, data })));
}

/** A docker save whose config file keeps its digest name but holds other (valid JSON) content. */
function tamperConfigKeepName(layers: Buffer[]): Buffer {
  const archive = dockerSave([{ layers, refs: ['app:v1'] }], { layout: 'flat' });
  const items: TarItem[] = [];
  let off = 0;
  while (off + 512 <= archive.length) {
    const h = archive.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 135).toString('ascii'), 8);
    let data = archive.subarray(off + 512, off + 512 + size);
    if (/^[a-f0-9]{64}\.json$/.test(name)) data = Buffer.from(data.toString().replace('"amd64"', '"arm64"'));
    items.push({ name, data });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return tar(items);
}

describe('console uploads: the corpus of bad archives', () => {
  let k: Kit;
  beforeAll(() => {
    k = kit({ maxBytes: 8 * 1024 * 1024, maxExpandedBytes: 4 * 1024 * 1024 });
  });
  afterAll(() => k.close());

  it('has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s → 4xx naming the problem, nothing pushed, spool removed', async (_n, c) => {
    const body = c.build();
    const id = `bad-${Math.random().toString(36).slice(2, 12)}`;
    // in 64 KiB pieces, as a socket delivers it (exercises backpressure paths)
    const err = await k.upload(pieces(body, 65536), { image: c.image, tag: c.tag, id }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    const e = err as AppError & { reason?: string };
    expect(ERROR_TABLE[e.kind].status).toBe(c.status);
    expect(e.reason).toBe(c.reason);
    expect(e.message).toMatch(c.says);
    expect(k.registry.tags()).toEqual([]);
    expect(k.registry.pushes).toEqual([]);
    expect(k.spoolDirs()).toEqual([]);
    const rec = await k.uploads.get(member(), id);
    expect(rec.state).toBe('failed');
    expect(rec.error).toMatchObject({ kind: e.kind, reason: c.reason });
  });

  it('a body that breaks off (client disconnects) → interrupted, nothing pushed, spool removed', async () => {
    const good = dockerSave([{ layers: [layerTar({ a: randomBytes(3_000_000) })], refs: ['cut:1'] }]);
    const { projectId } = await k.uploads.authorize(member(), 'ws');
    const handle = await k.uploads.start(member(), 'ws', { projectId });
    const broken = (async function* () {
      yield good.subarray(0, 2_000_000);
      throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    })();
    await expect(k.uploads.run(handle, broken, () => ({}))).rejects.toMatchObject({ reason: 'interrupted' });
    expect(k.registry.tags()).toEqual([]);
    expect(k.spoolDirs()).toEqual([]);
    expect(k.registry.aborted).toBeGreaterThanOrEqual(1); // the stream upload of the layer was given up
  });

  it('counts failures by reason in hubgate_uploads_finished_total', async () => {
    const text = await k.metrics.registry.getSingleMetricAsString('hubgate_uploads_finished_total');
    expect(text).toMatch(/result="failed",reason="not_tar"\} [1-9]/);
    expect(text).not.toMatch(/result="succeeded"/);
  });
});

describe('console uploads: who may upload (SPEC permission matrix)', () => {
  let k: Kit;
  beforeAll(() => {
    k = kit();
  });
  afterAll(() => k.close());

  it("another project's public workspace → 403; another project's private workspace or an absent one → 404", async () => {
    await expect(k.upload(good(), { ws: 'pub' })).rejects.toMatchObject({ kind: 'forbidden' });
    await expect(k.upload(good(), { ws: 'other' })).rejects.toMatchObject({ kind: 'not_found' });
    await expect(k.upload(good(), { ws: 'nope' })).rejects.toMatchObject({ kind: 'not_found' });
    await expect(k.upload(good(), { ws: 'Bad_Name' })).rejects.toMatchObject({ kind: 'not_found' });
    expect(k.registry.pushes).toEqual([]);
  });

  it('a cloud admin may upload anywhere; a failed blob push leaves no tag', async () => {
    const admin = { userId: 'root', username: 'root', isCloudAdmin: true, projects: [] };
    k.registry.failBlob = new AppError('upstream_unavailable', 'registry down');
    await expect(k.upload(good(), { ws: 'other', p: admin })).rejects.toMatchObject({ kind: 'upstream_unavailable' });
    expect(k.registry.tags()).toEqual([]);
    const rec = await k.upload(good(), { ws: 'other', p: admin });
    expect(rec.images.map((i) => `${i.repository}:${i.tag}`)).toEqual(['other/app:v1']);
    expect(k.spoolDirs()).toEqual([]);
  });
});
