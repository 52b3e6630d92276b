/**
 * The upload planner on its own (src/domain/uploads/archive.ts): an archive is read into a real Spool with the real
 * tar reader, then planUpload says what will be pushed — repositories and tags, blobs with their progress labels,
 * manifests (their exact bytes and digests). The refusals name the problem; the HTTP-level corpus is in
 * bad-archives.test.ts and fuzz.test.ts.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planUpload, MT, type ImagePlan, type Overrides } from '../../../src/domain/uploads/archive';
import { Spool } from '../../../src/domain/uploads/spool';
import { readTar } from '../../../src/domain/uploads/tar';
import { configFor, digestOf, dockerSave, gzip, layerTar, ociFiles, tar, type TarItem } from '../../support/archives';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'archive-plan-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Spools `archive` and plans it for workspace "ws"; `signal` replaces the spool's abort signal while planning. */
async function plan(archive: Buffer, o: Overrides = {}, compress = true, signal?: Pick<AbortSignal, 'throwIfAborted'>): Promise<ImagePlan[]> {
  const spool = await Spool.create({ tmpDir: tmp, compress, gzipLevel: 1, parallel: 1, maxExpandedBytes: 1 << 30 });
  try {
    await readTar(
      (async function* () {
        yield archive;
      })(),
      (e, c) => spool.add(e, c),
      { maxEntries: 10_000 },
    );
    if (signal) (spool as unknown as { opts: { signal?: unknown } }).opts.signal = signal;
    return await planUpload(spool, 'ws', o, compress);
  } finally {
    await spool.cleanup();
  }
}
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'no error',
    (e: { reason?: string; message: string }) => `${e.reason}: ${e.message}`,
  );
const names = (plans: ImagePlan[]) => plans.map((p) => `${p.repository}:${p.tags.join(',')}`);
const ociTar = (files: Record<string, Buffer>, extra: TarItem[] = []) => tar([...Object.entries(files).map(([name, data]) => ({ name, data })), ...extra]);

describe('docker save', () => {
  it('plans layers then config, labelled for progress, and a Docker schema 2 manifest with gzip layers (3-space JSON)', async () => {
    const l1 = layerTar({ a: 'one' });
    const l2 = layerTar({ b: 'two' });
    const [p] = await plan(dockerSave([{ layers: [l1, l2], refs: ['app:v1'] }]));
    expect(p.repository).toBe('ws/app');
    expect(p.tags).toEqual(['v1']);
    expect(p.blobs.map((b) => b.label)).toEqual(['layer 1/2', 'layer 2/2', 'config']);
    const cfg = configFor([l1, l2]);
    expect(p.blobs[2]).toMatchObject({ digest: digestOf(cfg), size: cfg.length });
    expect(p.manifests).toHaveLength(1);
    const m = p.manifests[0];
    expect(m.mediaType).toBe(MT.dockerManifest);
    expect(m.digest).toBe(sha256(m.body));
    const parsed = JSON.parse(m.body.toString()) as { layers: { mediaType: string; size: number; digest: string }[] };
    expect(m.body.toString()).toBe(
      JSON.stringify(
        {
          schemaVersion: 2,
          mediaType: MT.dockerManifest,
          config: { mediaType: MT.dockerConfig, size: cfg.length, digest: digestOf(cfg) },
          layers: parsed.layers,
        },
        null,
        3,
      ),
    );
    expect(parsed.layers.map((l) => l.mediaType)).toEqual([MT.dockerLayerGzip, MT.dockerLayerGzip]);
    // The pushed layer is the compressed one: its digest and size are the blob's.
    expect(parsed.layers.map((l) => [l.digest, l.size])).toEqual(p.blobs.slice(0, 2).map((b) => [b.digest, b.size]));
    expect(parsed.layers[0].digest).not.toBe(digestOf(l1));
  });

  it('with compression off, uncompressed layers keep their digest and the tar media type; gzip layers stay gzip', async () => {
    const l1 = layerTar({ a: 'one' });
    const [p] = await plan(dockerSave([{ layers: [l1], refs: ['app:v1'] }]), {}, false);
    const parsed = JSON.parse(p.manifests[0].body.toString()) as { layers: { mediaType: string; digest: string; size: number }[] };
    expect(parsed.layers).toEqual([{ mediaType: MT.dockerLayerTar, size: l1.length, digest: digestOf(l1) }]);
    const [g] = await plan(dockerSave([{ layers: [l1], refs: ['app:v1'] }], { gzipLayers: true }), {}, false);
    const gz = JSON.parse(g.manifests[0].body.toString()) as { layers: { mediaType: string; digest: string }[] };
    expect(gz.layers[0].mediaType).toBe(MT.dockerLayerGzip);
    expect(gz.layers[0].digest).toBe(digestOf(gzip(l1)));
  });

  it('layer files named by a digest: the diff id, or the file digest of a gzip layer, both count; another digest is a mismatch', async () => {
    const l1 = layerTar({ a: 'one' });
    expect(names(await plan(dockerSave([{ layers: [l1], refs: ['app:v1'] }], { layout: 'blobs' })))).toEqual(['ws/app:v1']);
    // A gzip layer stored under the digest of its compressed bytes.
    const gz = gzip(l1);
    const cfg = configFor([l1]);
    const hex = digestOf(gz).slice(7);
    const byFileDigest = tar([
      { name: `${digestOf(cfg).slice(7)}.json`, data: cfg },
      { name: `${hex}.tar`, data: gz },
      { name: 'manifest.json', data: JSON.stringify([{ Config: `${digestOf(cfg).slice(7)}.json`, RepoTags: ['app:v1'], Layers: [`${hex}.tar`] }]) },
    ]);
    expect(names(await plan(byFileDigest))).toEqual(['ws/app:v1']);
    const wrong = 'ab'.repeat(32);
    const lying = tar([
      { name: `${digestOf(cfg).slice(7)}.json`, data: cfg },
      { name: `${wrong}.tar`, data: l1 },
      { name: 'manifest.json', data: JSON.stringify([{ Config: `${digestOf(cfg).slice(7)}.json`, RepoTags: ['app:v1'], Layers: [`${wrong}.tar`] }]) },
    ]);
    expect(await refusal(plan(lying))).toBe(`digest_mismatch: layer "${wrong}.tar" has digest ${digestOf(l1)}, not the one its name says`);
  });

  it('a bare 64-hex file name outside blobs/sha256/ is no digest claim', async () => {
    const l1 = layerTar({ a: 'one' });
    const cfg = configFor([l1]);
    const name = 'cd'.repeat(32);
    const archive = tar([
      { name: 'config.json', data: cfg },
      { name: `layers/${name}`, data: l1 },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'config.json', RepoTags: ['app:v1'], Layers: [`layers/${name}`] }]) },
    ]);
    expect(names(await plan(archive))).toEqual(['ws/app:v1']);
    // Under blobs/sha256/ the same name is a claim, and a false one.
    const claimed = tar([
      { name: 'config.json', data: cfg },
      { name: `blobs/sha256/${name}`, data: l1 },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'config.json', RepoTags: ['app:v1'], Layers: [`blobs/sha256/${name}`] }]) },
    ]);
    expect(await refusal(plan(claimed))).toBe(`digest_mismatch: layer "blobs/sha256/${name}" has digest ${digestOf(l1)}, not the one its name says`);
  });

  it('only a whole file name is a digest claim: 64 hex digits with more before or after them (other than .json or .tar) claim nothing', async () => {
    const l1 = layerTar({ a: 'one' });
    const cfg = configFor([l1]);
    const hex = 'ef'.repeat(32);
    for (const name of [`v${hex}.tar`, `${hex}.tar.bak`, `${hex}x`, `layer-${hex}`]) {
      const archive = tar([
        { name: 'config.json', data: cfg },
        { name, data: l1 },
        { name: 'manifest.json', data: JSON.stringify([{ Config: 'config.json', RepoTags: ['app:v1'], Layers: [name] }]) },
      ]);
      expect([name, names(await plan(archive))]).toEqual([name, ['ws/app:v1']]);
    }
  });

  it('a config whose file name is another digest: mismatch', async () => {
    const l1 = layerTar({ a: 'one' });
    const wrong = 'ef'.repeat(32);
    const archive = dockerSave([{ layers: [l1], refs: ['app:v1'] }], { manifest: (m) => m.map((e) => ({ ...e, Config: `${wrong}.json` })), extra: [{ name: `${wrong}.json`, data: configFor([l1]) }] });
    expect(await refusal(plan(archive))).toBe(`digest_mismatch: config "${wrong}.json" has digest ${digestOf(configFor([l1]))}, not the one its name says`);
  });

  it('refusals name the entry and the problem', async () => {
    const l1 = layerTar({ a: 'one' });
    const cases: [Buffer, string][] = [
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { manifestText: '{}' }), 'invalid_manifest: manifest.json must be a JSON array of images'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { manifestText: '[]' }), 'invalid_manifest: the archive describes no image'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { manifest: (m) => [...m, 'x'] }), 'invalid_manifest: manifest.json entry 2 must have "Config" (a path) and "Layers" (a list of paths)'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { manifest: (m) => m.map((e) => ({ ...e, Config: 1 })) }), 'invalid_manifest: manifest.json entry 1 must have "Config" (a path) and "Layers" (a list of paths)'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { manifest: (m) => m.map((e) => ({ ...e, Layers: 'x' })) }), 'invalid_manifest: manifest.json entry 1 must have "Config" (a path) and "Layers" (a list of paths)'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { manifest: (m) => m.map((e) => ({ ...e, Layers: [1] })) }), 'invalid_manifest: manifest.json entry 1 must have "Config" (a path) and "Layers" (a list of paths)'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { manifest: (m) => m.map((e) => ({ ...e, RepoTags: 'app:v1' })) }), 'invalid_manifest: manifest.json entry 1: "RepoTags" must be a list of image references'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { manifest: (m) => m.map((e) => ({ ...e, RepoTags: [1] })) }), 'invalid_manifest: manifest.json entry 1: "RepoTags" must be a list of image references'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { manifest: (m) => m.map((e) => ({ ...e, Config: 'nothere.json' })) }), 'missing_blob: manifest.json entry 1 names config "nothere.json", which the archive does not contain'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { configBytes: () => Buffer.from('{"rootfs":{}}') }), 'invalid_manifest: config "'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { configBytes: () => Buffer.from('{"rootfs":{"diff_ids":[1]}}') }), 'invalid_manifest: config "'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { configBytes: () => Buffer.from('[]') }), 'invalid_manifest: config "'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { configBytes: () => Buffer.from('{"rootfs":[]}') }), 'invalid_manifest: config "'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { configBytes: () => Buffer.from('{}') }), 'invalid_manifest: config "'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { configBytes: () => Buffer.from('"a string"') }), 'invalid_manifest: config "'],
      [dockerSave([{ layers: [l1, layerTar({ b: 'x' })], refs: ['app:v1'] }], { configBytes: () => configFor([l1]) }), 'invalid_manifest: manifest.json entry 1 lists 2 layers but its config has 1 diff ids'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { manifest: (m) => m.map((e) => ({ ...e, Layers: ['repositories'] })) }), 'invalid_manifest: layer "repositories" is neither a tar nor gzip-compressed tar'],
      [dockerSave([{ layers: [l1], refs: ['app:v1'] }], { configBytes: () => configFor([layerTar({ z: 'other' })]) }), `digest_mismatch: layer "`],
    ];
    for (const [archive, says] of cases) expect(await refusal(plan(archive))).toContain(says);
    // The diff id mismatch names both digests.
    const other = layerTar({ z: 'other' });
    const msg = await refusal(plan(dockerSave([{ layers: [l1], refs: ['app:v1'] }], { layout: 'flat', configBytes: () => configFor([other]) })));
    expect(msg).toBe(`digest_mismatch: layer "${digestOf(l1).slice(7)}.tar" has content digest ${digestOf(l1)} but the image config expects ${digestOf(other)}`);
    const noConfig = await refusal(plan(dockerSave([{ layers: [l1], refs: ['app:v1'] }], { configBytes: () => Buffer.from('{"rootfs":{}}'), layout: 'flat' })));
    expect(noConfig).toMatch(/^invalid_manifest: config "[0-9a-f]{64}\.json" has no "rootfs\.diff_ids" list$/);
    const missingLayer = await refusal(plan(dockerSave([{ layers: [l1], refs: ['app:v1'] }], { layout: 'flat', omit: (n) => n.endsWith('.tar') })));
    expect(missingLayer).toBe(`missing_blob: manifest.json entry 1 names layer "${digestOf(l1).slice(7)}.tar", which the archive does not contain`);
  });

  it('a gzip layer that does not decompress is named by its path in the archive', async () => {
    const l1 = layerTar({ a: 'one' });
    const z = gzip(l1);
    const broken = z.subarray(0, z.length >> 1);
    const archive = dockerSave([{ layers: [broken], refs: ['app:v1'] }], { layout: 'flat', configBytes: () => configFor([l1]) });
    expect(await refusal(plan(archive))).toBe(`truncated_gzip: layer "${digestOf(broken).slice(7)}.tar" is a truncated gzip stream (it ends before the compressed data does)`);
  });

  it('a repeated entry is one image with the names of both; repeated names count once', async () => {
    const l1 = layerTar({ a: 'one' });
    const archive = dockerSave([{ layers: [l1], refs: ['app:v1', 'app:v1'] }], { manifest: (m) => [...m, { ...m[0], RepoTags: ['app:v2', 'tool:1'] }] });
    const plans = await plan(archive);
    expect(names(plans)).toEqual(['ws/app:v1,v2', 'ws/tool:1']);
    expect(plans[0].manifests).toBe(plans[1].manifests);
  });

  it('an entry without RepoTags needs an image name; with one it is tagged latest', async () => {
    const l1 = layerTar({ a: 'one' });
    const archive = dockerSave([{ layers: [l1] }]);
    expect(await refusal(plan(archive))).toBe('name_required: manifest.json entry 1 has no image name; give "image" (and optionally "tag") with the upload');
    expect(names(await plan(archive, { image: 'tools/x' }))).toEqual(['ws/tools/x:latest']);
    expect(names(await plan(archive, { image: 'tools/x', tag: '2' }))).toEqual(['ws/tools/x:2']);
  });

  it('an image override keeps each reference’s tag (latest when it has none); a tag override replaces them', async () => {
    const l1 = layerTar({ a: 'one' });
    const archive = dockerSave([{ layers: [l1], refs: ['reg.io/a/app:1.0', 'app'] }], { repositories: false });
    expect(names(await plan(archive, { image: 'x' }))).toEqual(['ws/x:1.0,latest']);
    expect(names(await plan(archive, { tag: 't' }))).toEqual(['ws/a/app:t', 'ws/app:t']);
  });

  it('a tag override for two images is refused; two images under one name are a duplicate reference', async () => {
    const a = layerTar({ a: 'one' });
    const b = layerTar({ b: 'two' });
    const two = dockerSave([{ layers: [a], refs: ['app:v1'] }, { layers: [b], refs: ['app:v2'] }]);
    expect(names(await plan(two))).toEqual(['ws/app:v1', 'ws/app:v2']);
    expect(await refusal(plan(two, { tag: 'x' }))).toBe('invalid_tag: a tag can only be given for an archive holding one image; this one holds 2');
    expect(names(await plan(two, { image: 'same' }))).toEqual(['ws/same:v1', 'ws/same:v2']);
    const sameTag = dockerSave([{ layers: [a], refs: ['app:v1'] }, { layers: [b], refs: ['other:v1'] }]);
    expect(await refusal(plan(sameTag, { image: 'same' }))).toBe('duplicate_reference: the archive names ws/same:v1 for two different images');
    const clash = dockerSave([{ layers: [a], refs: ['app:v1'] }, { layers: [b], refs: ['app:v1'] }]);
    expect(await refusal(plan(clash))).toBe('duplicate_reference: the archive names ws/app:v1 for two different images');
  });

  it('planning checks for an abort before each image and each layer (and while reading what they name)', async () => {
    const archive = dockerSave([{ layers: [layerTar({ a: '1' }), layerTar({ b: '2' })], refs: ['app:v1'] }]);
    let checks = 0;
    await plan(archive, {}, true, { throwIfAborted: () => void checks++ });
    // One per image and per layer (3); the spool checks twice more while it reads what they name.
    expect(checks).toBe(5);
    // An abort at any of them stops the planning with the abort reason.
    for (let k = 1; k <= checks; k++) {
      let n = 0;
      const signal = {
        throwIfAborted: () => {
          if (++n === k) throw new Error(`aborted at check ${k}`);
        },
      };
      expect(await refusal(plan(archive, {}, true, signal))).toBe(`undefined: aborted at check ${k}`);
    }
  });
});

describe('OCI layout', () => {
  const l1 = layerTar({ a: 'one' });
  const l2 = layerTar({ b: 'two' });

  it('uncompressed layers are compressed and the manifest rewritten; labels as for docker save', async () => {
    const files = ociFiles([{ layers: [l1, l2], refs: ['reg.io/app:v1'] }]);
    const [p] = await plan(ociTar(files));
    expect(p.repository).toBe('ws/app');
    expect(p.blobs.map((b) => b.label)).toEqual(['layer 1/2', 'layer 2/2', 'config']);
    const m = JSON.parse(p.manifests[0].body.toString()) as { layers: { mediaType: string; digest: string; size: number }[]; mediaType: string };
    expect(m.layers.map((l) => l.mediaType)).toEqual([MT.ociLayerGzip, MT.ociLayerGzip]);
    expect(m.layers.map((l) => [l.digest, l.size])).toEqual(p.blobs.slice(0, 2).map((b) => [b.digest, b.size]));
    expect(p.manifests[0].digest).toBe(sha256(p.manifests[0].body));
    expect(p.manifests[0].mediaType).toBe(MT.ociManifest);
  });

  it('with compression off (or gzip layers) the manifest is kept byte for byte', async () => {
    const files = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }]);
    const manifestFile = Object.entries(files).find(([n, d]) => n.startsWith('blobs/') && d.toString().includes('"schemaVersion"'))!;
    const [p] = await plan(ociTar(files), {}, false);
    expect(p.manifests[0].body.equals(manifestFile[1])).toBe(true);
    expect(p.manifests[0].digest).toBe(`sha256:${manifestFile[0].slice('blobs/sha256/'.length)}`);
    expect(p.blobs[0].digest).toBe(digestOf(l1));
  });

  it('a manifest without mediaType takes the descriptor’s', async () => {
    const files = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { gzip: true, mutateManifest: (m) => delete m.mediaType });
    const [p] = await plan(ociTar(files));
    expect(p.manifests[0].mediaType).toBe(MT.ociManifest);
  });

  it('names: the containerd image name wins over the ref name; a bare ref name is a tag only', async () => {
    const files = ociFiles([{ layers: [l1], refs: ['v1'] }], { gzip: true });
    expect(await refusal(plan(ociTar(files)))).toBe('name_required: index.json manifest 1 has no image name (it is only tagged "v1"); give "image" (and optionally "tag") with the upload');
    expect(names(await plan(ociTar(files), { image: 'app' }))).toEqual(['ws/app:v1']);
    const both = ociFiles([{ layers: [l1], refs: ['v1'] }], {
      gzip: true,
      mutateIndex: (i) => ((i.manifests as { annotations: Record<string, string> }[])[0].annotations['io.containerd.image.name'] = 'docker.io/library/alpine:3.18'),
    });
    expect(names(await plan(ociTar(both)))).toEqual(['ws/alpine:3.18']);
    const full = ociFiles([{ layers: [l1], refs: ['reg.io/team/tool'] }], { gzip: true });
    expect(names(await plan(ociTar(full)))).toEqual(['ws/team/tool:latest']);
  });

  it('an image index: children by digest, then the index; rewritten children make a rewritten index', async () => {
    const files = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }, { layers: [l2] }], { asIndex: true });
    const [p] = await plan(ociTar(files));
    expect(p.manifests.map((m) => m.mediaType)).toEqual([MT.ociManifest, MT.ociManifest, MT.ociIndex]);
    const index = JSON.parse(p.manifests[2].body.toString()) as { manifests: { digest: string; size: number; platform: unknown }[] };
    expect(index.manifests.map((m) => [m.digest, m.size])).toEqual(p.manifests.slice(0, 2).map((m) => [m.digest, m.body.length]));
    expect(index.manifests[0].platform).toEqual({ architecture: 'amd64', os: 'linux' });
    expect(p.manifests[2].digest).toBe(sha256(p.manifests[2].body));
    expect(p.blobs).toHaveLength(4);
    // Unchanged children (gzip layers): the index is pushed as it is.
    const gz = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }, { layers: [l2] }], { asIndex: true, gzip: true });
    const indexFile = Object.entries(gz).find(([n, d]) => n.startsWith('blobs/') && d.toString().includes('"manifests"'))!;
    const [q] = await plan(ociTar(gz));
    expect(q.manifests[2].body.equals(indexFile[1])).toBe(true);
    expect(q.manifests[2].digest).toBe(`sha256:${indexFile[0].slice('blobs/sha256/'.length)}`);
  });

  it('refusals name the descriptor and the problem', async () => {
    const base = () => ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }]);
    const idx = (f: (i: Record<string, unknown>) => void) => ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { mutateIndex: f });
    const first = (i: Record<string, unknown>) => (i.manifests as Record<string, unknown>[])[0];
    const cases: [Record<string, Buffer>, string][] = [
      [{ ...base(), 'oci-layout': Buffer.from('{}') }, 'invalid_manifest: oci-layout must be {"imageLayoutVersion": "1.0.0"}'],
      [{ ...base(), 'index.json': Buffer.from('{}') }, 'invalid_manifest: index.json must have a "manifests" list'],
      [idx((i) => (i.manifests = [1])), 'invalid_manifest: index.json manifest 1 is not a valid descriptor (needs mediaType, digest and size)'],
      [idx((i) => (first(i).size = '1')), 'invalid_manifest: index.json manifest 1 is not a valid descriptor (needs mediaType, digest and size)'],
      [idx((i) => (first(i).mediaType = 5)), 'invalid_manifest: index.json manifest 1 is not a valid descriptor (needs mediaType, digest and size)'],
      [idx((i) => (first(i).digest = 'sha512:abc')), 'invalid_manifest: index.json manifest 1 has an unsupported digest "sha512:abc" (sha256 only)'],
      [idx((i) => (first(i).mediaType = 'text/plain')), 'invalid_manifest: index.json manifest 1 has media type "text/plain", which is not an image manifest or index'],
      [idx((i) => (first(i).size = (first(i).size as number) + 1)), 'digest_mismatch: image manifest '],
      [idx((i) => (first(i).digest = `sha256:${'0'.repeat(64)}`)), `missing_blob: image manifest sha256:${'0'.repeat(64)} is missing from the archive (expected blobs/sha256/${'0'.repeat(64)})`],
    ];
    for (const [files, says] of cases) expect(await refusal(plan(ociTar(files)))).toContain(says);
    // Without oci-layout the layout is still read.
    const { ['oci-layout']: _drop, ...noLayout } = base();
    expect(names(await plan(ociTar(noLayout)))).toEqual(['ws/app:v1']);
  });

  it('layer refusals: declared gzip but not gzip; an uncompressed tar under a media type hubgate cannot compress; no layers list; a nested index', async () => {
    const notGzip = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { mutateManifest: (m) => ((m.layers as Record<string, unknown>[])[0].mediaType = MT.ociLayerGzip) });
    expect(await refusal(plan(ociTar(notGzip)))).toBe(`invalid_manifest: layer ${digestOf(l1)} is declared gzip-compressed but is not gzip data`);
    const odd = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { mutateManifest: (m) => ((m.layers as Record<string, unknown>[])[0].mediaType = 'application/x-odd') });
    expect(await refusal(plan(ociTar(odd)))).toBe(`invalid_manifest: layer ${digestOf(l1)} has media type "application/x-odd" but is an uncompressed tar`);
    // With compression off the same layer is pushed as it is.
    expect(names(await plan(ociTar(odd), {}, false))).toEqual(['ws/app:v1']);
    const noLayers = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { mutateManifest: (m) => delete m.layers });
    expect(await refusal(plan(ociTar(noLayers)))).toMatch(/^invalid_manifest: image manifest sha256:[0-9a-f]{64} has no "layers" list$/);
    const nested = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { asIndex: true });
    const topIndex = (JSON.parse(nested['index.json'].toString()) as { manifests: { digest: string; size: number }[] }).manifests[0];
    const outer = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MT.ociIndex, digest: topIndex.digest, size: topIndex.size }] }));
    nested[`blobs/sha256/${digestOf(outer).slice(7)}`] = outer;
    nested['index.json'] = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MT.ociIndex, digest: digestOf(outer), size: outer.length, annotations: { 'org.opencontainers.image.ref.name': 'reg.io/app:v1' } }] }));
    expect(await refusal(plan(ociTar(nested)))).toBe(`invalid_manifest: image index ${digestOf(outer)} nests ${MT.ociIndex}; only image manifests are supported inside an index`);
  });

  it('Docker media types in an OCI layout: a schema 2 manifest and a manifest list at the top are planned like their OCI twins', async () => {
    const docker = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], {
      gzip: true,
      mutateManifest: (m) => (m.mediaType = MT.dockerManifest),
      mutateIndex: (i) => ((i.manifests as Record<string, unknown>[])[0].mediaType = MT.dockerManifest),
    });
    const [p] = await plan(ociTar(docker));
    expect(names([p])).toEqual(['ws/app:v1']);
    expect(p.manifests.map((m) => m.mediaType)).toEqual([MT.dockerManifest]);
    const list = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { gzip: true, asIndex: true, mutateIndex: (i) => ((i.manifests as Record<string, unknown>[])[0].mediaType = MT.dockerList) });
    const [q] = await plan(ociTar(list));
    expect(names([q])).toEqual(['ws/app:v1']);
    expect(q.manifests.map((m) => m.mediaType)).toEqual([MT.ociManifest, MT.dockerList]);
  });

  it('an index whose children are unchanged is pushed byte for byte, whitespace and all (not re-serialised)', async () => {
    const gz = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }, { layers: [l2] }], { asIndex: true, gzip: true });
    const [name, compact] = Object.entries(gz).find(([n, d]) => n.startsWith('blobs/') && d.toString().includes('"manifests"'))!;
    const pretty = Buffer.from(JSON.stringify(JSON.parse(compact.toString()), null, 2));
    delete gz[name];
    gz[`blobs/sha256/${digestOf(pretty).slice(7)}`] = pretty;
    const index = JSON.parse(gz['index.json'].toString()) as { manifests: { digest: string; size: number }[] };
    index.manifests[0].digest = digestOf(pretty);
    index.manifests[0].size = pretty.length;
    gz['index.json'] = Buffer.from(JSON.stringify(index));
    const [p] = await plan(ociTar(gz));
    expect(p.manifests[2].body.equals(pretty)).toBe(true);
    expect(p.manifests[2].digest).toBe(digestOf(pretty));
  });

  it('null where an object belongs, and a layer list with a non-path in it, are refused like any other bad entry', async () => {
    const l = layerTar({ a: 'one' });
    expect(await refusal(plan(dockerSave([{ layers: [l], refs: ['app:v1'] }], { manifest: () => [null] })))).toBe(
      'invalid_manifest: manifest.json entry 1 must have "Config" (a path) and "Layers" (a list of paths)',
    );
    expect(await refusal(plan(dockerSave([{ layers: [l], refs: ['app:v1'] }], { manifest: (m) => m.map((e) => ({ ...e, Layers: [...(e.Layers as string[]), 7] })) })))).toBe(
      'invalid_manifest: manifest.json entry 1 must have "Config" (a path) and "Layers" (a list of paths)',
    );
    const nullDescriptor = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { mutateIndex: (i) => (i.manifests = [null]) });
    expect(await refusal(plan(ociTar(nullDescriptor)))).toBe('invalid_manifest: index.json manifest 1 is not a valid descriptor (needs mediaType, digest and size)');
    const nullIndex = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { gzip: true, mutateIndex: () => undefined });
    nullIndex['index.json'] = Buffer.from('null');
    expect(await refusal(plan(ociTar(nullIndex)))).toBe('invalid_manifest: index.json must have a "manifests" list');
  });

  it('JSON that does not parse is named by the document it is', async () => {
    const l = layerTar({ a: 'one' });
    expect(await refusal(plan(dockerSave([{ layers: [l], refs: ['app:v1'] }], { manifestText: '[{' })))).toMatch(/^invalid_json: manifest\.json "manifest\.json" is not valid JSON \(/);
    const files = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { gzip: true });
    expect(await refusal(plan(ociTar({ ...files, 'oci-layout': Buffer.from('{') })))).toMatch(/^invalid_json: oci-layout "oci-layout" is not valid JSON \(/);
    expect(await refusal(plan(ociTar({ ...files, 'index.json': Buffer.from('{') })))).toMatch(/^invalid_json: index\.json "index\.json" is not valid JSON \(/);
  });

  it('an image index blob without a "manifests" list is refused, naming it', async () => {
    const files = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { gzip: true, asIndex: true });
    const top = (JSON.parse(files['index.json'].toString()) as { manifests: { digest: string }[] }).manifests[0];
    const bad = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex }));
    delete files[`blobs/sha256/${top.digest.slice(7)}`];
    files[`blobs/sha256/${digestOf(bad).slice(7)}`] = bad;
    files['index.json'] = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MT.ociIndex, digest: digestOf(bad), size: bad.length, annotations: { 'org.opencontainers.image.ref.name': 'reg.io/app:v1' } }] }));
    expect(await refusal(plan(ociTar(files)))).toBe(`invalid_manifest: image index ${digestOf(bad)} has no "manifests" list`);
  });

  it('what a refusal quotes from the archive is cut short: a digest at 80 characters, a media type at 100', async () => {
    const idx = (f: (d: Record<string, unknown>) => void) =>
      ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { mutateIndex: (i) => f((i.manifests as Record<string, unknown>[])[0]) });
    const digest = `sha512:${'a'.repeat(200)}`;
    expect(await refusal(plan(ociTar(idx((d) => (d.digest = digest)))))).toBe(`invalid_manifest: index.json manifest 1 has an unsupported digest "${digest.slice(0, 80)}" (sha256 only)`);
    const type = `application/${'x'.repeat(200)}`;
    expect(await refusal(plan(ociTar(idx((d) => (d.mediaType = type)))))).toBe(
      `invalid_manifest: index.json manifest 1 has media type "${type.slice(0, 100)}", which is not an image manifest or index`,
    );
    const odd = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { mutateManifest: (m) => ((m.layers as Record<string, unknown>[])[0].mediaType = type) });
    expect(await refusal(plan(ociTar(odd)))).toBe(`invalid_manifest: layer ${digestOf(l1)} has media type "${type.slice(0, 100)}" but is an uncompressed tar`);
  });

  it('a name given both as a tag only and as a full reference is both: image "v1" tagged latest, and the tag v1', async () => {
    const files = ociFiles([{ layers: [l1], refs: ['v1'] }], {
      gzip: true,
      mutateIndex: (i) => {
        const [m] = i.manifests as Record<string, unknown>[];
        (i.manifests as unknown[]).unshift({ ...m, annotations: { 'io.containerd.image.name': 'v1' } });
      },
    });
    expect(names(await plan(ociTar(files), { image: 'app' }))).toEqual(['ws/app:latest,v1']);
    expect(names(await plan(ociTar(files)))).toEqual(['ws/v1:latest']);
  });

  it('a layer two platforms share is pushed once, labelled where it first appears', async () => {
    const files = ociFiles([{ layers: [l1, l2] }, { layers: [l2] }], { asIndex: true, gzip: true, mutateIndex: (i) => ((i.manifests as Record<string, unknown>[])[0].annotations = { 'org.opencontainers.image.ref.name': 'reg.io/app:v1' }) });
    const [p] = await plan(ociTar(files));
    expect(p.blobs.map((b) => b.label)).toEqual(['layer 1/2', 'layer 2/2', 'config', 'config']);
    expect(new Set(p.blobs.map((b) => b.digest)).size).toBe(4);
  });

  it('layers pushed as they are (gzip already) are labelled for progress like compressed ones', async () => {
    const files = ociFiles([{ layers: [l1, l2], refs: ['reg.io/app:v1'] }], { gzip: true });
    const [p] = await plan(ociTar(files));
    expect(p.blobs.map((b) => b.label)).toEqual(['layer 1/2', 'layer 2/2', 'config']);
    const [q] = await plan(ociTar(ociFiles([{ layers: [l1, l2], refs: ['reg.io/app:v1'] }])), {}, false);
    expect(q.blobs.map((b) => b.label)).toEqual(['layer 1/2', 'layer 2/2', 'config']);
  });

  it('an image index named in index.json but not in the archive, or of another size: refused, naming the image index', async () => {
    const files = ociFiles([{ layers: [l1], refs: ['reg.io/app:v1'] }], { gzip: true, asIndex: true });
    const index = JSON.parse(files['index.json'].toString()) as { manifests: { digest: string; size: number }[] };
    const { digest, size } = index.manifests[0];
    const missing = `sha256:${'1'.repeat(64)}`;
    index.manifests[0].digest = missing;
    expect(await refusal(plan(ociTar({ ...files, 'index.json': Buffer.from(JSON.stringify(index)) })))).toBe(
      `missing_blob: image index ${missing} is missing from the archive (expected blobs/sha256/${'1'.repeat(64)})`,
    );
    index.manifests[0].digest = digest;
    index.manifests[0].size = size + 1;
    expect(await refusal(plan(ociTar({ ...files, 'index.json': Buffer.from(JSON.stringify(index)) })))).toBe(`digest_mismatch: image index ${digest} is ${size} bytes, but its descriptor says ${size + 1}`);
  });

  it('neither manifest.json nor index.json: not an image archive', async () => {
    expect(await refusal(plan(tar([{ name: 'hello.txt', data: 'hi' }])))).toBe(
      'missing_manifest: the archive has neither manifest.json (docker save) nor index.json (OCI image layout); is it an image archive?',
    );
  });
});
