import { getEventListeners } from 'node:events';
import { Readable } from 'node:stream';
import type { AppError } from '../../../src/domain/errors';
import { ArchiveError } from '../../../src/domain/uploads/archive-error';
import type { UploadHandle } from '../../../src/domain/uploads.service';
import type { BlobPush } from '../../../src/ports/registry';
import { dockerSave, layerTar } from '../../support/archives';
import { counted, kit, member, pieces, stalled, type Kit } from './kit';

/**
 * Reading the body of an upload: the byte limit, the idle timeout (and its message), the compression told from the
 * first bytes, a client that goes away — and that reads and pushes leave no timer or abort listener behind.
 */

/** Yields the pieces with a pause of `ms` before each (a slow client). */
async function* slow(parts: Buffer[], ms: number): AsyncGenerator<Buffer> {
  for (const c of parts) {
    await new Promise((r) => setTimeout(r, ms));
    yield c;
  }
}

const GONE = new ArchiveError('interrupted', 'the upload was interrupted: the client closed the connection');
const archive = () => dockerSave([{ layers: [layerTar()], refs: ['app:1'] }]);
const failure = (e: unknown) => ({ kind: (e as AppError).kind, reason: (e as ArchiveError).reason, message: (e as AppError).message });
const abortListeners = (h: UploadHandle) => getEventListeners(h.signal, 'abort').length;

describe('console uploads: reading the body', () => {
  let k: Kit;
  afterEach(() => {
    jest.restoreAllMocks();
    k.close();
  });

  const begin = () => k.uploads.start(member(), 'ws', { projectId: 'p1' });

  it('the idle timeout names the seconds waited, rounded (600 ms: "1 s")', async () => {
    k = kit({ idleTimeoutMs: 600 });
    const err = await k.uploads.run(await begin(), stalled([archive().subarray(0, 1000)]), () => ({})).catch((e: unknown) => e);
    expect(failure(err)).toEqual({ kind: 'timeout', reason: 'idle_timeout', message: 'the upload sent nothing for 1 s and was stopped' });
  });

  it('idleTimeoutMs 0 switches the idle timeout off: a client pausing between pieces still uploads', async () => {
    k = kit({ idleTimeoutMs: 0 });
    const rec = await k.uploads.run(await begin(), slow(pieces(archive(), 4096), 20), () => ({}));
    expect(rec.state).toBe('succeeded');
  });

  it('a body whose read fails (the connection reset): 400 interrupted, saying the archive did not arrive whole', async () => {
    k = kit();
    const body: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('read ECONNRESET')) }) };
    const err = await k.uploads.run(await begin(), body, () => ({})).catch((e: unknown) => e);
    expect(failure(err)).toEqual({ kind: 'invalid', reason: 'interrupted', message: 'the upload was interrupted: the connection closed before the whole archive arrived' });
  });

  it('an archive of exactly maxBytes is accepted', async () => {
    const a = archive();
    k = kit({ maxBytes: a.length });
    expect((await k.upload(pieces(a, 1000))).state).toBe('succeeded');
  });

  it('the compression is told from the first 6 bytes: an xz archive is refused without waiting for more', async () => {
    k = kit({ idleTimeoutMs: 2000 });
    const xz = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
    const err = await k.uploads.run(await begin(), stalled([xz]), () => ({})).catch((e: unknown) => e);
    expect(failure(err)).toEqual({
      kind: 'invalid',
      reason: 'unsupported_compression',
      message: 'the archive is xz-compressed; upload a plain tar or a gzip-compressed tar (tar.gz)',
    });
  });

  it('an upload aborted while the body is being read stops reading it', async () => {
    k = kit();
    const h = await begin();
    const body = counted(pieces(archive(), 512), () => h.abort(GONE));
    expect(await k.uploads.run(h, body, () => ({})).catch((e: unknown) => e)).toBe(GONE);
    expect(body.pulls).toBe(1);
  });

  it('maxMetadataBytes applies: long-name headers adding up to more are refused', async () => {
    k = kit({ maxMetadataBytes: 300 });
    const a = dockerSave([{ layers: [layerTar()], refs: ['app:1'] }], { extra: [{ name: `notes/${'n'.repeat(400)}`, data: 'x' }] });
    const err = await k.upload(a).catch((e: unknown) => e);
    expect(failure(err)).toEqual({ kind: 'invalid', reason: 'corrupt_tar', message: "the archive's PAX and long-name headers add up to more than 300 bytes; refusing it" });
  });

  it('each read leaves no idle timer and no abort listener behind', async () => {
    k = kit({ idleTimeoutMs: 43_210 });
    const h = await begin();
    const setSpy = jest.spyOn(global, 'setTimeout');
    const clearSpy = jest.spyOn(global, 'clearTimeout');
    const listeners: number[] = [];
    const readListeners = () => getEventListeners(h.signal, 'abort').filter((f) => f.name === 'onAbort').length;
    const rec = await k.uploads.run(h, counted(pieces(archive(), 1024), () => listeners.push(readListeners())), () => ({}));
    expect(rec.state).toBe('succeeded');
    // when the next read starts, no listener of an earlier read is left (the spool's own, named `stop`, come and go with its entries)
    expect(listeners).toEqual(listeners.map(() => 0));
    const idleTimers = setSpy.mock.calls.flatMap((c, i) => (c[1] === 43_210 ? [setSpy.mock.results[i].value] : []));
    expect(idleTimers).toHaveLength(listeners.length);
    const cleared = new Set(clearSpy.mock.calls.map((c) => c[0]));
    expect(idleTimers.filter((t) => !cleared.has(t))).toEqual([]);
  });
});

describe('console uploads: the layer streams given to the registry', () => {
  let k: Kit;
  afterEach(() => k.close());

  it('a stream opened after the upload was aborted is destroyed at once with the reason', async () => {
    k = kit({ streamLayers: false, pushConcurrency: 1 });
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    let opened: Readable | undefined;
    k.registry.pushBlob = async (_repository: string, blob: BlobPush) => {
      h.abort(GONE);
      opened = blob.open();
      opened.on('error', () => undefined);
      throw new Error('stopped');
    };
    await k.uploads.run(h, Readable.from([archive()]), () => ({})).catch(() => undefined);
    expect(opened?.destroyed).toBe(true);
    expect(opened?.errored).toBe(GONE);
  });

  it('once a pushed stream closed, its abort listener is gone (none left when the tags are set)', async () => {
    k = kit({ streamLayers: false, pushConcurrency: 1 });
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    const atPush: number[] = [];
    const atTag: number[] = [];
    const push = k.registry.pushBlob.bind(k.registry);
    k.registry.pushBlob = async (repository: string, blob: BlobPush) => {
      atPush.push(abortListeners(h));
      await push(repository, blob);
    };
    const put = k.registry.putManifest.bind(k.registry);
    k.registry.putManifest = async (...a: Parameters<typeof put>) => {
      if (!a[1].startsWith('sha256:')) atTag.push(abortListeners(h));
      return put(...a);
    };
    const rec = await k.uploads.run(h, Readable.from([dockerSave([{ layers: [layerTar(), layerTar()], refs: ['app:1'] }])]), () => ({}));
    expect(rec.state).toBe('succeeded');
    expect(atPush).toEqual([0, 0, 0]);
    expect(atTag).toEqual([0]);
  });
});
