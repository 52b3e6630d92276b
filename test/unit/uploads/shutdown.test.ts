import { Readable } from 'node:stream';
import { dockerSave, layerTar } from '../../support/archives';
import { kit, member, recordingCache, stalled, type Kit } from './kit';

/**
 * Shutdown and the end of an upload's signal: shutdown() aborts what runs and returns once the final records are
 * written (or its wait is over), and a settled upload's signal is aborted so nothing it started keeps working.
 */

const SHUTDOWN = { kind: 'unavailable', reason: 'shutdown', message: 'hubgate is shutting down; send the archive again' };

describe('console uploads: shutdown', () => {
  let k: Kit;
  afterEach(() => k.close());

  it('returns only after the running upload was settled: its final record (failed, shutdown, the message) is already in the shared store', async () => {
    const store = recordingCache();
    k = kit({}, { cache: store.cache });
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    const archive = dockerSave([{ layers: [layerTar({ a: Buffer.alloc(100_000, 1) })], refs: ['s:1'] }]);
    const running = k.uploads.run(h, stalled([archive.subarray(0, 10_000)]), () => ({})).catch((e: unknown) => e);
    for (let i = 0; i < 500 && h.record.bytesReceived === 0; i++) await new Promise((r) => setTimeout(r, 10));
    // a wait far beyond the test's timeout: shutdown must return because the upload settled, not because it gave up
    await k.uploads.shutdown(60_000);
    expect(k.uploads.active).toBe(0);
    expect(store.writes[store.writes.length - 1]).toMatchObject({ id: h.record.id, state: 'failed', error: SHUTDOWN });
    expect(await running).toMatchObject(SHUTDOWN);
  }, 5000);

  it('an upload that never settles does not hold shutdown beyond its wait; its signal carries the shutdown reason', async () => {
    k = kit();
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    await k.uploads.shutdown(50);
    expect(h.signal.reason).toMatchObject(SHUTDOWN);
  }, 2000);
});

describe('console uploads: the signal of a settled upload', () => {
  let k: Kit;
  afterEach(() => k.close());

  it('is aborted once the upload succeeded, with "the upload has ended"', async () => {
    k = kit();
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    expect(h.signal.aborted).toBe(false);
    const rec = await k.uploads.run(h, Readable.from([dockerSave([{ layers: [layerTar()], refs: ['done:1'] }])]), () => ({}));
    expect(rec.state).toBe('succeeded');
    expect(h.signal.aborted).toBe(true);
    expect(h.signal.reason).toMatchObject({ kind: 'invalid', reason: 'interrupted', message: 'the upload has ended' });
  });
});
