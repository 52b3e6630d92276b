import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import fs from 'node:fs';
import type { AppError } from '../../../src/domain/errors';
import { ERROR_TABLE } from '../../../src/http/errors';
import { configFor, digestOf, dockerSave, layerTar, ociFiles, paxRecord, tar, tarEntry, type TarItem } from '../../support/archives';
import { kit, pieces, type Kit } from './kit';

/**
 * Small archives must not buy large work: a document or layer named K times is parsed / decompressed once, the
 * images it describes are pushed once; PAX and GNU long-name headers are capped per archive and count as
 * entries.
 */

const block = tarEntry;

const status = (e: unknown) => ERROR_TABLE[(e as AppError).kind].status;

describe('console uploads: no amplification', () => {
  let k: Kit;
  afterEach(() => {
    jest.restoreAllMocks();
    k.close();
  });

  it('an index naming the same (big, rewritten) manifest 200 times: parsed once, rewritten once, one manifest PUT, one tag', async () => {
    k = kit();
    const layer = layerTar({ data: randomBytes(64 * 1024) }); // uncompressed: the manifest is rewritten (layer gzip-compressed here)
    const files = ociFiles([{ layers: [layer], refs: ['tools/app:v1'] }], {
      mutateManifest: (m) => {
        m.annotations = { pad: 'x'.repeat(256 * 1024) };
      },
      mutateIndex: (i) => {
        const one = (i.manifests as unknown[])[0];
        i.manifests = Array.from({ length: 200 }, () => one);
      },
    });
    const index = JSON.parse(files['index.json'].toString()) as { manifests: { digest: string }[] };
    const manifestText = files[`blobs/sha256/${index.manifests[0].digest.slice(7)}`].toString();
    const archive = tar(Object.entries(files).map(([name, data]): TarItem => ({ name, data })));

    const parse = jest.spyOn(JSON, 'parse');
    const put = jest.spyOn(k.registry, 'putManifest');
    const stringify = jest.spyOn(JSON, 'stringify');
    const rec = await k.upload(pieces(archive, 64 * 1024));

    expect(rec.state).toBe('succeeded');
    expect(rec.images.map((i) => `${i.repository}:${i.tag}`)).toEqual(['ws/tools/app:v1']);
    expect(parse.mock.calls.filter(([text]) => text === manifestText)).toHaveLength(1);
    // the old planner held one fresh parse and one rewritten body per reference (200 × ~0.5 MiB): counted, not weighed
    expect(stringify.mock.results.filter((r) => typeof r.value === 'string' && r.value.includes('"pad":"xxxx'))).toHaveLength(1);
    expect(put.mock.calls.map((c) => c[1].startsWith('sha256:') ? 'digest' : c[1])).toEqual(['digest', 'v1']);
  });

  it('manifest.json naming the same image 300 times: one image planned, one manifest PUT', async () => {
    k = kit();
    const layers = [layerTar()];
    const archive = dockerSave([{ layers, refs: ['app:v1'] }], { manifest: (m) => Array.from({ length: 300 }, () => m[0]) });
    const put = jest.spyOn(k.registry, 'putManifest');
    const rec = await k.upload(archive);
    expect(rec.state).toBe('succeeded');
    expect(put.mock.calls.map((c) => (c[1].startsWith('sha256:') ? 'digest' : c[1]))).toEqual(['digest', 'v1']);
  });

  it('a gzip layer listed 40 times in one image: decompressed and hashed once', async () => {
    k = kit();
    const layer = layerTar({ data: randomBytes(1024 * 1024) });
    const K = 40;
    const cfg = configFor(Array.from({ length: K }, () => layer));
    const archive = dockerSave([{ layers: [layer], refs: ['rep:1'] }], {
      layout: 'flat',
      gzipLayers: true,
      configBytes: () => cfg,
      manifest: (m) => m.map((e) => ({ ...e, Layers: Array.from({ length: K }, () => (e.Layers as string[])[0]) })),
    });
    // every read of a spooled file: the diff-id check (decompress + hash) and the push
    const reads = jest.spyOn(fs, 'createReadStream');
    const rec = await k.upload(archive);
    expect(rec.state).toBe('succeeded');
    const layerReads = reads.mock.calls.filter(([p]) => String(p).startsWith(k.tmp));
    expect(layerReads.length).toBe(2); // one decompression for the diff id, one push (old: 40 decompressions)
    expect(JSON.parse(k.registry.manifests.get('ws/rep')!.get('1')!.body.toString()).layers).toHaveLength(K);
    expect(digestOf(layer)).toBe(JSON.parse(cfg.toString()).rootfs.diff_ids[0]);
  });

  it('PAX headers adding up past the per-archive metadata cap: 400 corrupt_tar, reading stops early', async () => {
    k = kit({ maxMetadataBytes: 4 * 1024 * 1024 });
    const good = dockerSave([{ layers: [layerTar()], refs: ['pax:1'] }]);
    let sent = 0;
    // 40 consecutive PAX headers of ~1000 KiB with distinct keys (the old reader merged them all), then a valid archive
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < 40; i++) {
          const data = Buffer.from(paxRecord(`hubgate.junk${i}`, 'y'.repeat(1000 * 1024)));
          sent += data.length;
          yield block(`PaxHeaders/${i}`, data, 'x');
        }
        yield good;
      })(),
    );
    const { projectId } = await k.uploads.authorize({ userId: 'u1', username: 'alice', isCloudAdmin: false, projects: [{ id: 'p1', name: 'p1', department: 'd1' }] }, 'ws');
    const h = await k.uploads.start({ userId: 'u1', username: 'alice', isCloudAdmin: false, projects: [{ id: 'p1', name: 'p1', department: 'd1' }] }, 'ws', { projectId });
    const err = await k.uploads.run(h, body, () => ({})).catch((e: unknown) => e);
    expect(status(err)).toBe(400);
    expect(h.record.error).toMatchObject({ reason: 'corrupt_tar', message: expect.stringMatching(/PAX and long-name headers add up to more than 4194304 bytes/) });
    expect(h.record.bytesReceived).toBeLessThan(10 * 1024 * 1024);
    expect(sent).toBeLessThan(12 * 1024 * 1024);
    expect(k.registry.tags()).toEqual([]);
    expect(k.spoolDirs()).toEqual([]);
  });

  it('GNU long-name and PAX headers count as entries: 400 too_many_entries', async () => {
    k = kit({ maxEntries: 20 });
    const good = dockerSave([{ layers: [layerTar()], refs: ['gnu:1'] }]); // 6 entries
    const meta: Buffer[] = [];
    for (let i = 0; i < 10; i++) meta.push(block('././@LongLink', Buffer.from(`junk-${i}\0`), 'L'));
    for (let i = 0; i < 10; i++) meta.push(block(`PaxHeaders/${i}`, Buffer.from(paxRecord('path', `junk-${i}`)), 'x'));
    meta.push(block('junk', Buffer.from('x'), '0'));
    const err = await k.upload(Buffer.concat([...meta, good])).catch((e: unknown) => e);
    expect(status(err)).toBe(400);
    expect((err as { reason?: string }).reason).toBe('too_many_entries');
    expect(k.spoolDirs()).toEqual([]);
  });
});
