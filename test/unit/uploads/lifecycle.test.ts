import { Readable } from 'node:stream';
import { AppError } from '../../../src/domain/errors';
import { ArchiveError } from '../../../src/domain/uploads/archive-error';
import type { UploadHandle } from '../../../src/domain/uploads.service';
import { ERROR_TABLE } from '../../../src/http/errors';
import type { BlobPush } from '../../../src/ports/registry';
import { dockerSave, layerTar } from '../../support/archives';
import { kit, member, pieces, stalled, type Kit } from './kit';

/**
 * Every way out of an upload frees its slot and closes its record as `failed` with a reason: a body that cannot
 * even be set up, shutdown, an idle body, the client going away while the upload is pushing.
 */

/** Polls until `check` holds (bounded); returns the time it took. */
async function until(what: string, check: () => boolean, ms = 5000): Promise<number> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

const status = (e: unknown) => ERROR_TABLE[(e as AppError).kind].status;

describe('console uploads: slots and records on every way out', () => {
  let k: Kit;
  afterEach(() => k.close());

  async function begin(id?: string): Promise<UploadHandle> {
    const { projectId } = await k.uploads.authorize(member(), 'ws');
    return k.uploads.start(member(), 'ws', { projectId, id });
  }

  it('a body that throws while being set up (multipart without boundary): 400, record failed, slot freed — N+1 times, then an upload succeeds', async () => {
    k = kit({ maxConcurrent: 2 });
    for (let i = 0; i < 3; i++) {
      const h = await begin();
      const err = await k.uploads
        .run(h, () => {
          throw new ArchiveError('bad_multipart', 'malformed multipart request: Multipart: Boundary not found');
        }, () => ({}))
        .catch((e: unknown) => e);
      expect(status(err)).toBe(400);
      expect(h.record).toMatchObject({ state: 'failed', error: { kind: 'invalid', reason: 'bad_multipart' } });
      expect(k.uploads.active).toBe(0);
    }
    // fail() for errors outside run() (a thrown route step) settles once; a second call changes nothing
    const h = await begin();
    await k.uploads.fail(h, new AppError('invalid', 'broken request'));
    await k.uploads.fail(h, new Error('later'));
    expect(h.record).toMatchObject({ state: 'failed', error: { reason: 'invalid', message: 'broken request' } });
    expect(k.uploads.active).toBe(0);
    expect((await k.upload(dockerSave([{ layers: [layerTar()], refs: ['ok:1'] }]))).state).toBe('succeeded');
  });

  it('a body read that fails after the upload was aborted leaves no unhandled rejection behind (the client gone before the first read)', async () => {
    k = kit();
    const h = await begin();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // like a request whose socket closed: the abort comes first, the read of the body fails a moment later
      const body: AsyncIterable<Buffer> = {
        [Symbol.asyncIterator]: () => ({
          next: () => {
            h.abort(new ArchiveError('interrupted', 'the upload was interrupted: the client closed the connection'));
            return new Promise<IteratorResult<Buffer>>((_, reject) => setTimeout(() => reject(new Error('aborted')), 5));
          },
        }),
      };
      const err = await k.uploads.run(h, body, () => ({})).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'invalid', reason: 'interrupted' });
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(k.uploads.active).toBe(0);
  });

  it('shutdown aborts running uploads: 503 SERVICE_UNAVAILABLE, reason shutdown, spool removed, slot freed; new uploads refused', async () => {
    k = kit();
    const h = await begin();
    const archive = dockerSave([{ layers: [layerTar({ a: Buffer.alloc(100_000, 1) })], refs: ['s:1'] }]);
    const running = k.uploads.run(h, stalled([archive.subarray(0, 10_000)]), () => ({})).catch((e: unknown) => e);
    await until('bytes arrive', () => h.record.bytesReceived > 0);
    await k.uploads.shutdown(2000);
    const err = await running;
    expect(status(err)).toBe(503);
    expect(ERROR_TABLE[(err as AppError).kind].code).toBe('SERVICE_UNAVAILABLE');
    expect(h.record).toMatchObject({ state: 'failed', error: { kind: 'unavailable', reason: 'shutdown' } });
    expect(k.uploads.active).toBe(0);
    expect(k.spoolDirs()).toEqual([]);
    await expect(begin()).rejects.toMatchObject({ kind: 'unavailable' });
  });

  it('a body that stops sending: 408 REQUEST_TIMEOUT after the idle timeout, reason idle_timeout, slot freed', async () => {
    k = kit({ idleTimeoutMs: 300 });
    const h = await begin();
    const archive = dockerSave([{ layers: [layerTar({ a: Buffer.alloc(100_000, 1) })], refs: ['i:1'] }]);
    const err = await k.uploads.run(h, stalled([archive.subarray(0, 10_000)]), () => ({})).catch((e: unknown) => e);
    expect(status(err)).toBe(408);
    expect(ERROR_TABLE[(err as AppError).kind].code).toBe('REQUEST_TIMEOUT');
    expect(h.record).toMatchObject({ state: 'failed', error: { reason: 'idle_timeout' } });
    expect(k.uploads.active).toBe(0);
    expect(k.spoolDirs()).toEqual([]);
  });

  it('the client going away while blobs are pushed stops the push at once: no further registry calls, nothing tagged, spool removed', async () => {
    k = kit({ streamLayers: false, pushConcurrency: 1 });
    const reg = k.registry;
    const calls: string[] = [];
    let pushing = false;
    // a registry that takes the first chunk of a blob and then never reads again: only cutting the push ends it
    reg.pushBlob = async (_repository: string, blob: BlobPush) => {
      calls.push(`push ${blob.digest}`);
      pushing = true;
      const s = blob.open();
      await new Promise<void>((resolve, reject) => {
        s.on('error', reject);
        s.on('close', () => resolve());
        s.once('data', () => s.pause());
      });
      if (s.errored) throw s.errored;
      calls.push(`pushed ${blob.digest}`);
    };
    const put = reg.putManifest.bind(reg);
    reg.putManifest = async (...a: Parameters<typeof put>) => {
      calls.push(`manifest ${a[1]}`);
      return put(...a);
    };
    const layers = [1, 2, 3].map((n) => layerTar({ data: Buffer.alloc(2 * 1024 * 1024, n) }));
    const h = await begin();
    const running = k.uploads.run(h, Readable.from(pieces(dockerSave([{ layers, refs: ['slow:1'] }]), 256 * 1024)), () => ({})).catch((e: unknown) => e);
    await until('the first blob push', () => pushing);
    h.abort(new ArchiveError('interrupted', 'the upload was interrupted: the client closed the connection'));
    await until('the upload ended', () => h.record.state === 'failed');
    const err = await running;
    expect(status(err)).toBe(400);
    expect(h.record.error).toMatchObject({ reason: 'interrupted' });
    const after = calls.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(calls.length).toBe(after);
    expect(calls.filter((c) => c.startsWith('pushed') || c.startsWith('manifest'))).toEqual([]);
    expect(reg.tags()).toEqual([]);
    expect(k.uploads.active).toBe(0);
    expect(k.spoolDirs()).toEqual([]);
  });
});

describe('console uploads: ownership re-checked before manifests and before tags', () => {
  let k: Kit;
  afterEach(() => k.close());

  it.each([
    ['deleted and re-created (another Harbor project id)', (k: Kit) => (k.projects.ws.id = 2)],
    ['given to another project', (k: Kit) => (k.projects.ws.owner = 'p2')],
    ['deleted', (k: Kit) => delete (k.projects as Record<string, unknown>).ws],
  ])('workspace %s after the manifests went in, before the tags: 409 CONFLICT workspace_changed, nothing tagged', async (_what, change) => {
    k = kit();
    const put = k.registry.putManifest.bind(k.registry);
    k.registry.putManifest = async (...a: Parameters<typeof put>) => {
      const d = await put(...a);
      if (a[1].startsWith('sha256:')) change(k); // right after the manifest PUT by digest
      return d;
    };
    const err = await k.upload(dockerSave([{ layers: [layerTar()], refs: ['moved:1'] }])).catch((e: unknown) => e);
    expect(ERROR_TABLE[(err as AppError).kind]).toEqual({ status: 409, code: 'CONFLICT' });
    expect(err).toMatchObject({ reason: 'workspace_changed' });
    expect(k.registry.tags()).toEqual([]);
    expect(k.uploads.active).toBe(0);
    expect(k.spoolDirs()).toEqual([]);
  });
});
