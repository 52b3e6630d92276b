import { randomBytes } from 'node:crypto';
import type { UploadRecord } from '../../../src/domain/uploads/progress';
import { STAGING_IMAGE } from '../../../src/domain/uploads.service';
import type { BlobPush } from '../../../src/ports/registry';
import { dockerSave, layerTar } from '../../support/archives';
import { kit, recordingCache, type Kit } from './kit';

/**
 * Progress of the push phase as another replica sees it through the shared store: every change of state (of the
 * upload and of each layer row) is written at once, not left to the throttled streaming writes. And where big
 * layers are streamed while the archive arrives, how rows end for layers already there, streamed or mounted.
 */

/** One line per record written: the upload's state and each row as `label:state:bytesSent`; repeats folded. */
function timeline(writes: UploadRecord[]): string[] {
  const out: string[] = [];
  for (const w of writes) {
    const line = [w.state, ...w.layers.map((l) => `${l.label}:${l.state}:${l.bytesSent}`)].join(' ');
    if (out[out.length - 1] !== line) out.push(line);
  }
  return out;
}

/** A layer of `n` random bytes (big ones are streamed to the registry while the archive arrives). */
const layerOf = (n: number) => layerTar({ data: randomBytes(n) });
const MiB = 1024 * 1024;

describe('console uploads: push progress in the shared store', () => {
  let k: Kit;
  afterEach(() => k.close());

  it('each state and each row change is written at once: receiving, verifying, rows pending → uploading → uploaded (all bytes), succeeded', async () => {
    const store = recordingCache();
    k = kit({ streamLayers: false, pushConcurrency: 1 }, { cache: store.cache });
    const rec = await k.upload(dockerSave([{ layers: [layerOf(4096)], refs: ['app:1'] }]));
    const [layer, config] = rec.layers.map((l) => l.size);
    expect(timeline(store.writes)).toEqual([
      'receiving',
      'verifying',
      'pushing layer 1/1:pending:0 config:pending:0',
      'pushing layer 1/1:uploading:0 config:pending:0',
      `pushing layer 1/1:uploaded:${layer} config:pending:0`,
      `pushing layer 1/1:uploaded:${layer} config:uploading:0`,
      `pushing layer 1/1:uploaded:${layer} config:uploaded:${config}`,
      `succeeded layer 1/1:uploaded:${layer} config:uploaded:${config}`,
    ]);
  });

  it('blobs the repository has already are "skipped" with no bytes sent, each written at once', async () => {
    const archive = dockerSave([{ layers: [layerOf(4096)], refs: ['app:1'] }]);
    const store = recordingCache();
    k = kit({ streamLayers: false, pushConcurrency: 1 }, { cache: store.cache });
    await k.upload(archive);
    store.writes.length = 0;
    await k.upload(archive);
    expect(timeline(store.writes)).toEqual([
      'receiving',
      'verifying',
      'pushing layer 1/1:pending:0 config:pending:0',
      'pushing layer 1/1:skipped:0 config:pending:0',
      'pushing layer 1/1:skipped:0 config:skipped:0',
      'succeeded layer 1/1:skipped:0 config:skipped:0',
    ]);
  });

  it('a big layer streamed into the named repository while the archive arrived: "uploaded" with all its bytes, nothing pushed again', async () => {
    const store = recordingCache();
    k = kit({ pushConcurrency: 1 }, { cache: store.cache });
    const rec = await k.upload(dockerSave([{ layers: [layerOf(2 * MiB)], refs: ['app:1'] }]), { image: 'app' });
    const [layer, config] = rec.layers;
    expect(k.registry.staged).toEqual([`ws/app@${layer.digest}`]);
    expect(k.registry.pushes).toEqual([`ws/app@${config.digest}`]);
    expect(timeline(store.writes).slice(2)).toEqual([
      'pushing layer 1/1:pending:0 config:pending:0',
      `pushing layer 1/1:uploaded:${layer.size} config:pending:0`,
      `pushing layer 1/1:uploaded:${layer.size} config:uploading:0`,
      `pushing layer 1/1:uploaded:${layer.size} config:uploaded:${config.size}`,
      `succeeded layer 1/1:uploaded:${layer.size} config:uploaded:${config.size}`,
    ]);
  });

  it.each([[undefined], [true]])(
    'streamLayers %s: a big layer waits in the staging repository and is mounted into the image\'s: "uploaded" with all its bytes',
    async (streamLayers) => {
      const store = recordingCache();
      k = kit({ pushConcurrency: 1, streamLayers }, { cache: store.cache });
      const rec = await k.upload(dockerSave([{ layers: [layerOf(2 * MiB)], refs: ['app:1'] }]));
      const [layer, config] = rec.layers;
      expect(k.registry.staged).toEqual([`ws/${STAGING_IMAGE}@${layer.digest}`]);
      expect(k.registry.pushes).toEqual([`ws/app@${config.digest}`]);
      expect(timeline(store.writes).slice(2, 4)).toEqual(['pushing layer 1/1:pending:0 config:pending:0', `pushing layer 1/1:uploaded:${layer.size} config:pending:0`]);
    },
  );

  it('streamLayers false: nothing is streamed, the big layer is pushed after the archive was read', async () => {
    k = kit({ streamLayers: false });
    const rec = await k.upload(dockerSave([{ layers: [layerOf(2 * MiB)], refs: ['app:1'] }]));
    expect(k.registry.staged).toEqual([]);
    expect(k.registry.pushes).toContain(`ws/app@${rec.layers[0].digest}`);
  });

  it.each([
    ['a name hubgate refuses', 'Bad', `ws/${STAGING_IMAGE}`],
    ['a name that makes the repository exactly 255 characters', 'a'.repeat(252), `ws/${'a'.repeat(252)}`],
    ['a name that makes the repository 256 characters', 'a'.repeat(253), `ws/${STAGING_IMAGE}`],
  ])('an image named up front with %s: big layers stream into the repository it names, or into the staging one', async (_what, image, repository) => {
    k = kit();
    await k.upload(dockerSave([{ layers: [layerOf(2 * MiB)], refs: ['app:1'] }]), { image }).catch(() => undefined);
    expect(k.registry.staged.map((s) => s.slice(0, s.indexOf('@')))).toEqual([repository]);
  });

  it('a layer two images of one repository share gets one row, labelled as in the first image', async () => {
    k = kit();
    const shared = layerOf(4096);
    const rec = await k.upload(dockerSave([{ layers: [shared], refs: ['app:1'] }, { layers: [layerOf(4096), shared], refs: ['app:2'] }]));
    expect(rec.layers.map((l) => `${l.repository} ${l.label}`)).toEqual(['ws/app layer 1/1', 'ws/app config', 'ws/app layer 1/2', 'ws/app config']);
  });

  it.each([
    [undefined, 3],
    [2, 2],
  ])('pushConcurrency %s: %i blob pushes run at once', async (pushConcurrency, expected) => {
    k = kit({ streamLayers: false, pushConcurrency });
    let inFlight = 0;
    let most = 0;
    let release!: () => void;
    const all = new Promise<void>((r) => (release = r));
    const push = k.registry.pushBlob.bind(k.registry);
    k.registry.pushBlob = async (repository: string, blob: BlobPush) => {
      most = Math.max(most, ++inFlight);
      if (inFlight === expected) release();
      // wait until `expected` pushes run together (bounded: with fewer workers the test fails instead of hanging)
      await Promise.race([all, new Promise((r) => setTimeout(r, 1000))]);
      await push(repository, blob);
      inFlight--;
    };
    const rec = await k.upload(dockerSave([{ layers: [1, 2, 3].map(() => layerOf(4096)), refs: ['app:1'] }]));
    expect(rec.state).toBe('succeeded');
    expect(most).toBe(expected);
  });
});
