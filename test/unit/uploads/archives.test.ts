import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { configFor, digestOf, dockerSave, gzip, layerTar, ociArchive } from '../../support/archives';
import { kit, pieces, type Kit } from './kit';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The manifest a tag points at, parsed. */
function manifestOf(k: Kit, repo: string, tag: string): { mediaType: string; config: { digest: string }; layers: { digest: string; mediaType: string; size: number }[] } {
  const m = k.registry.manifests.get(repo)?.get(tag);
  if (!m) throw new Error(`no manifest ${repo}:${tag}`);
  return JSON.parse(m.body.toString('utf8'));
}

/** Digests of the uncompressed content of every layer of a tag, in order (compare digests: jest's deep equality on MB-sized buffers is very slow). */
function layersOf(k: Kit, repo: string, tag: string): string[] {
  return manifestOf(k, repo, tag).layers.map((l) => {
    const b = k.registry.blob(repo, l.digest)!;
    return sha(l.mediaType.endsWith('gzip') ? gunzipSync(b) : b);
  });
}
const digests = (bs: Buffer[]) => bs.map(digestOf);

describe('console uploads: archives that must be accepted', () => {
  let k: Kit;
  beforeEach(() => {
    k = kit();
  });
  afterEach(() => k.close());

  it.each(['legacy', 'flat', 'blobs'] as const)('docker save with layers laid out as %s: pushed, layers gzip-compressed, content identical', async (layout) => {
    const layers = [layerTar(), layerTar({ 'etc/hello': 'world' })];
    const rec = await k.upload(dockerSave([{ layers, refs: ['docker.io/library/app:v1'] }], { layout }));
    expect(rec.state).toBe('succeeded');
    expect(rec.format).toBe('docker-save');
    expect(rec.images.map((i) => `${i.repository}:${i.tag}`)).toEqual(['ws/app:v1']);
    const m = manifestOf(k, 'ws/app', 'v1');
    expect(m.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(m.layers.every((l) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip')).toBe(true);
    expect(layersOf(k, 'ws/app', 'v1')).toEqual(digests(layers));
    expect(k.registry.blob('ws/app', m.config.digest)!.equals(configFor(layers))).toBe(true);
    expect(k.spoolDirs()).toEqual([]);
    expect(k.invalidated).toEqual(['ws']);
  });

  it('without a repositories file, with a config lacking docker_version/created/history', async () => {
    const layers = [layerTar()];
    const rec = await k.upload(dockerSave([{ layers, refs: ['app:v2'], config: { docker_version: undefined, created: undefined } }], { repositories: false }));
    expect(rec.images[0]).toMatchObject({ repository: 'ws/app', tag: 'v2', pullAddress: 'hub.test/ws/app:v2' });
  });

  it('gzip-compressed archive, detected by content, delivered in odd-sized pieces', async () => {
    const layers = [layerTar({ a: randomBytes(300_000) })];
    const rec = await k.upload(pieces(gzip(dockerSave([{ layers, refs: ['x/app:1.0'] }])), 7777));
    expect(rec.compression).toBe('gzip');
    expect(rec.images.map((i) => `${i.repository}:${i.tag}`)).toEqual(['ws/x/app:1.0']);
    expect(layersOf(k, 'ws/x/app', '1.0')).toEqual(digests(layers));
  });

  it('layers already gzip-compressed inside a docker save archive are pushed as they are', async () => {
    const layers = [layerTar()];
    await k.upload(dockerSave([{ layers, refs: ['app:gz'] }], { gzipLayers: true, layout: 'flat' }));
    const m = manifestOf(k, 'ws/app', 'gz');
    expect(m.layers[0].mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
    expect(sha(gunzipSync(k.registry.blob('ws/app', m.layers[0].digest)!))).toBe(digestOf(layers[0]));
  });

  it('several images and several tags in one archive; a workspace prefix and registry host are dropped', async () => {
    const a = [layerTar()];
    const b = [layerTar()];
    const rec = await k.upload(dockerSave([{ layers: a, refs: ['hub.ecns.io/ws/api:1', 'hub.ecns.io/ws/api:latest'] }, { layers: b, refs: ['localhost:5000/tools/cli:2'] }]));
    expect(rec.images.map((i) => `${i.repository}:${i.tag}`).sort()).toEqual(['ws/api:1', 'ws/api:latest', 'ws/tools/cli:2']);
    expect(k.registry.tags()).toEqual(['ws/api:1', 'ws/api:latest', 'ws/tools/cli:2']);
  });

  it('image and tag overrides', async () => {
    const rec = await k.upload(dockerSave([{ layers: [layerTar()], refs: ['foo:bar'] }]), { image: 'team/web', tag: 'prod' });
    expect(rec.images.map((i) => `${i.repository}:${i.tag}`)).toEqual(['ws/team/web:prod']);
  });

  it('an untagged image (docker save by id) needs an image name; then it gets "latest"', async () => {
    const archive = dockerSave([{ layers: [layerTar()] }]);
    await expect(k.upload(archive)).rejects.toMatchObject({ kind: 'invalid', reason: 'name_required' });
    const rec = await k.upload(archive, { image: 'named' });
    expect(rec.images.map((i) => `${i.repository}:${i.tag}`)).toEqual(['ws/named:latest']);
  });

  it('OCI layout with uncompressed layers: layers compressed, manifest rewritten with +gzip media types', async () => {
    const layers = [layerTar(), layerTar()];
    const rec = await k.upload(ociArchive([{ layers, refs: ['v1'] }]), { image: 'oci-app' });
    expect(rec.format).toBe('oci');
    const m = manifestOf(k, 'ws/oci-app', 'v1');
    expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(m.layers.map((l) => l.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+gzip']);
    expect(layersOf(k, 'ws/oci-app', 'v1')).toEqual(digests(layers));
  });

  it('OCI layout with gzip layers keeps the manifest byte for byte (same digest)', async () => {
    const archive = ociArchive([{ layers: [layerTar()], refs: ['registry.example.com/team/app:3'] }], { gzip: true });
    const rec = await k.upload(archive);
    expect(rec.images[0].repository).toBe('ws/team/app');
    const idx = JSON.parse(tarFile(archive, 'index.json').toString());
    expect(rec.images[0].digest).toBe(idx.manifests[0].digest);
  });

  it('OCI image index (several platforms) is pushed children first, then the index', async () => {
    const rec = await k.upload(ociArchive([{ layers: [layerTar()], refs: ['multi:1'] }, { layers: [layerTar()] }], { asIndex: true, gzip: true }), { image: 'multi' });
    expect(rec.images).toHaveLength(1);
    expect(rec.images[0].mediaType).toBe('application/vnd.oci.image.index.v1+json');
    const index = JSON.parse(k.registry.manifests.get('ws/multi')!.get('1')!.body.toString());
    for (const c of index.manifests) expect(k.registry.manifests.get('ws/multi')!.has(c.digest)).toBe(true);
  });

  it('an empty layer (1024 zero bytes, the end-of-archive marker alone) is a layer however the body is cut: also in 512-byte pieces', async () => {
    const empty = Buffer.alloc(1024);
    const rec = await k.upload(pieces(dockerSave([{ layers: [layerTar(), empty], refs: ['empty:1'] }]), 512));
    expect(rec.state).toBe('succeeded');
    expect(manifestOf(k, 'ws/empty', '1').layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
    ]);
    expect(layersOf(k, 'ws/empty', '1')[1]).toBe(digestOf(empty));
  });

  it('with compression off, layers are stored as they are (uncompressed media type, same digest)', async () => {
    const k2 = kit({ compressLayers: false });
    try {
      const layers = [layerTar()];
      await k2.upload(dockerSave([{ layers, refs: ['raw:1'] }]));
      const m = manifestOf(k2, 'ws/raw', '1');
      expect(m.layers[0]).toMatchObject({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: digestOf(layers[0]) });
    } finally {
      k2.close();
    }
  });

  it('blobs the registry already has are skipped; an existing tag is overwritten', async () => {
    const base = layerTar();
    await k.upload(dockerSave([{ layers: [base], refs: ['app:v1'] }]));
    const pushesBefore = k.registry.pushes.length;
    const top = layerTar();
    const rec = await k.upload(dockerSave([{ layers: [base, top], refs: ['app:v1'] }]));
    expect(rec.layers.find((l) => l.label === 'layer 1/2')?.state).toBe('skipped');
    expect(rec.layers.find((l) => l.label === 'layer 2/2')?.state).toBe('uploaded');
    expect(k.registry.pushes.length - pushesBefore).toBe(2); // new layer + new config
    expect(layersOf(k, 'ws/app', 'v1')).toEqual(digests([base, top]));
  });

  it('large mixed layer (compressible and random blocks) round-trips through the parallel compressor', async () => {
    const big = Buffer.concat([randomBytes(1_500_000), Buffer.alloc(2_000_000, 7), randomBytes(700_001)]);
    const layers = [layerTar({ big })];
    const rec = await k.upload(pieces(dockerSave([{ layers, refs: ['big:1'] }]), 65536));
    const m = manifestOf(k, 'ws/big', '1');
    expect(m.layers[0].size).toBeLessThan(layers[0].length); // the zero run did compress
    expect(layersOf(k, 'ws/big', '1')).toEqual(digests(layers));
    expect(rec.bytesReceived).toBeGreaterThan(big.length);
    expect(sha(gunzipSync(k.registry.blob('ws/big', m.layers[0].digest)!))).toBe(digestOf(layers[0]));
  });

  it('big layers stream to the registry while the archive arrives: into the named image, or staged and mounted', async () => {
    const layers = [layerTar({ big: randomBytes(2_000_000) })];
    const named = await k.upload(pieces(dockerSave([{ layers, refs: ['s:1'] }]), 65536), { image: 'streamed' });
    expect(k.registry.staged).toHaveLength(1);
    expect(k.registry.staged[0]).toMatch(/^ws\/streamed@/);
    expect(named.layers.find((l) => l.label === 'layer 1/1')).toMatchObject({ state: 'uploaded' });
    expect(k.registry.pushes.filter((p) => p === k.registry.staged[0])).toEqual([]); // not sent twice
    expect(layersOf(k, 'ws/streamed', '1')).toEqual(digests(layers));

    const other = [layerTar({ big: randomBytes(2_000_000) })];
    await k.upload(pieces(dockerSave([{ layers: other, refs: ['team/app:2'] }]), 65536));
    expect(k.registry.staged[1]).toMatch(/^ws\/hubgate-upload-staging@/);
    expect(layersOf(k, 'ws/team/app', '2')).toEqual(digests(other));
    expect(k.registry.tags()).not.toContain(expect.stringMatching(/staging/));
  });

  it('a stream upload that fails midway falls back to pushing from the spool', async () => {
    const layers = [layerTar({ big: randomBytes(1_500_000) })];
    const open = k.registry.openBlobUpload.bind(k.registry);
    k.registry.openBlobUpload = async (repo) => {
      const w = await open(repo);
      let n = 0;
      return { ...w, write: async (c) => { if (++n > 3) throw new Error('connection reset'); await w.write(c); } };
    };
    const rec = await k.upload(pieces(dockerSave([{ layers, refs: ['fb:1'] }]), 65536));
    expect(k.registry.aborted).toBe(1);
    expect(k.registry.staged).toEqual([]);
    expect(rec.layers.find((l) => l.label === 'layer 1/1')).toMatchObject({ state: 'uploaded' });
    expect(layersOf(k, 'ws/fb', '1')).toEqual(digests(layers));
  });

  it('progress is readable by the uploader and project members, 404 for others', async () => {
    const rec = await k.upload(dockerSave([{ layers: [layerTar()], refs: ['app:p'] }]), { id: 'client-chosen-1' });
    expect(rec.id).toBe('client-chosen-1');
    await expect(k.uploads.get({ userId: 'u2', username: 'bob', isCloudAdmin: false, projects: [{ id: 'p1', name: 'p1', department: 'd' }] }, rec.id)).resolves.toMatchObject({ state: 'succeeded' });
    await expect(k.uploads.get({ userId: 'u3', username: 'eve', isCloudAdmin: false, projects: [] }, rec.id)).rejects.toMatchObject({ kind: 'not_found' });
    await expect(k.upload(dockerSave([{ layers: [layerTar()], refs: ['app:p'] }]), { id: 'client-chosen-1' })).rejects.toMatchObject({ kind: 'conflict' });
  });
});

/** Content of one file of a tar built by the support builders (test helper). */
function tarFile(archive: Buffer, name: string): Buffer {
  let off = 0;
  while (off + 512 <= archive.length) {
    const h = archive.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const n = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
    if (n === name) return archive.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${name} not in archive`);
}
