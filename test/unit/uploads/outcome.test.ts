import { join } from 'node:path';
import { Readable } from 'node:stream';
import { AppError } from '../../../src/domain/errors';
import { ArchiveError } from '../../../src/domain/uploads/archive-error';
import { Spool } from '../../../src/domain/uploads/spool';
import type { UploadRecord } from '../../../src/domain/uploads/progress';
import { captureLogger } from '../../support/capture-logger';
import { dockerSave, layerTar } from '../../support/archives';
import { counted, kit, member, recordingCache, type Kit } from './kit';

/**
 * How an upload ends, as operators and callers see it: the log line (message and fields, timings included), the
 * `uploads_finished` metric, the caches dropped, and which error the record and the caller get when several
 * things break at once.
 */

const finished = async (k: Kit) => (await k.metrics.uploadsFinished.get()).values.map((v) => ({ labels: v.labels, value: v.value }));

describe('console uploads: the end of an upload', () => {
  let k: Kit;
  afterEach(() => {
    jest.restoreAllMocks();
    k.close();
  });

  it('success: "upload finished" with the images, the bytes and the time spent receiving, verifying and pushing; metric succeeded; caches of every repository dropped', async () => {
    // a clock the test moves: 1000 ms receiving (at the end of the body), 250 ms verifying (at its record), 125 ms pushing (at the first push record)
    let clock = 0;
    const seen = new Set<string>();
    const store = recordingCache((rec) => {
      if (rec.state === 'verifying' && !seen.has('verifying')) clock += 250;
      if (rec.state === 'pushing' && !seen.has('pushing')) clock += 125;
      seen.add(rec.state);
    });
    const logger = captureLogger();
    const invalidated: [string, string[]][] = [];
    k = kit({}, { cache: store.cache, logger, invalidate: async (w, repos) => void invalidated.push([w, repos]) });
    const archive = dockerSave([{ layers: [layerTar()], refs: ['app:1', 'app:latest'] }, { layers: [layerTar()], refs: ['tool:2'] }]);
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    clock = Date.parse(h.record.createdAt);
    jest.spyOn(Date, 'now').mockImplementation(() => clock);
    const body = counted([archive], (pull) => {
      if (pull === 2) clock += 1000; // the body's end
    });
    const rec = await k.uploads.run(h, body, () => ({}));
    expect(rec.state).toBe('succeeded');
    expect(logger.lines).toEqual([
      {
        level: 'info',
        msg: 'upload finished',
        fields: { upload: rec.id, workspace: 'ws', images: ['ws/app:1', 'ws/app:latest', 'ws/tool:2'], bytes: archive.length, receive_ms: 1000, verify_ms: 250, push_ms: 125 },
      },
    ]);
    expect(await finished(k)).toEqual([{ labels: { result: 'succeeded', reason: '' }, value: 1 }]);
    expect(invalidated).toEqual([['ws', ['ws/app', 'ws/tool']]]);
  });

  it('a cache invalidation that fails: the upload still succeeded, a warning says so', async () => {
    const logger = captureLogger();
    const down = new Error('redis: connection refused');
    k = kit({}, { logger, invalidate: async () => Promise.reject(down) });
    const rec = await k.upload(dockerSave([{ layers: [layerTar()], refs: ['app:1'] }]));
    expect(rec.state).toBe('succeeded');
    expect(logger.lines.filter((l) => l.level !== 'info')).toEqual([{ level: 'warn', msg: 'cache invalidation after an upload failed', fields: { error: down } }]);
  });

  it('a spool directory that cannot be removed is logged with its path and the error; the upload still succeeded', async () => {
    const logger = captureLogger();
    const busy = new Error('EBUSY: resource busy or locked');
    jest.spyOn(Spool.prototype, 'cleanup').mockRejectedValue(busy);
    k = kit({}, { logger });
    const rec = await k.upload(dockerSave([{ layers: [layerTar()], refs: ['app:1'] }]));
    expect(rec.state).toBe('succeeded');
    expect(k.spoolDirs()).toHaveLength(1);
    expect(logger.lines.filter((l) => l.level !== 'info')).toEqual([
      { level: 'error', msg: 'could not remove an upload spool directory', fields: { dir: join(k.tmp, k.spoolDirs()[0]), error: busy } },
    ]);
  });

  it('a refusal by the registry: "upload failed" with reason, kind and bytes, no error line; metric failed; the spool is gone before the final record is written', async () => {
    const logger = captureLogger();
    let spoolAtFinalRecord: string[] | undefined;
    const store = recordingCache((rec: UploadRecord) => {
      if (rec.state === 'failed') spoolAtFinalRecord = k.spoolDirs();
    });
    k = kit({}, { logger, cache: store.cache });
    const refused = new AppError('upstream_unavailable', 'registry answered 503');
    k.registry.failBlob = refused;
    const archive = dockerSave([{ layers: [layerTar()], refs: ['app:1'] }]);
    expect(await k.upload(archive).catch((e: unknown) => e)).toBe(refused);
    const id = store.writes[0].id;
    expect(logger.lines).toEqual([
      { level: 'info', msg: 'upload failed', fields: { upload: id, workspace: 'ws', reason: 'upstream_unavailable', kind: 'upstream_unavailable', bytes: archive.length } },
    ]);
    expect(await finished(k)).toEqual([{ labels: { result: 'failed', reason: 'upstream_unavailable' }, value: 1 }]);
    expect(spoolAtFinalRecord).toEqual([]);
  });

  it('an unexpected error: the record says "internal server error", the error line carries the original error', async () => {
    const logger = captureLogger();
    k = kit({}, { logger });
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    const boom = new TypeError('cannot read properties of undefined');
    await k.uploads.fail(h, boom);
    expect(h.record.error).toEqual({ kind: 'internal', reason: 'internal', message: 'internal server error' });
    expect(logger.lines).toEqual([
      { level: 'info', msg: 'upload failed', fields: { upload: h.record.id, workspace: 'ws', reason: 'internal', kind: 'internal', bytes: 0 } },
      { level: 'error', msg: 'upload failed unexpectedly', fields: { upload: h.record.id, error: boom } },
    ]);
  });

  it('the workspace deleted while the blobs were pushed: 409 saying so and that nothing was tagged', async () => {
    k = kit({ streamLayers: false });
    const push = k.registry.pushBlob.bind(k.registry);
    k.registry.pushBlob = async (...a: Parameters<typeof push>) => {
      delete (k.projects as Record<string, unknown>).ws;
      return push(...a);
    };
    const err = await k.upload(dockerSave([{ layers: [layerTar()], refs: ['app:1'] }])).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'conflict', reason: 'workspace_changed', message: 'workspace "ws" was deleted or changed owner during the upload; nothing was tagged' });
    expect(k.registry.tags()).toEqual([]);
  });

  it('an abort while the registry is busy: the abort reason is reported, not the error the registry call ended with', async () => {
    k = kit({ streamLayers: false, pushConcurrency: 1 });
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    const gone = new ArchiveError('interrupted', 'the upload was interrupted: the client closed the connection');
    k.registry.pushBlob = async (_repository, blob) => {
      h.abort(gone);
      // the registry request ends with its own error once the upload is aborted
      await new Promise((r) => setTimeout(r, 5));
      throw new AppError('upstream_unavailable', `registry connection reset while pushing ${blob.digest}`);
    };
    const err = await k.uploads.run(h, Readable.from([dockerSave([{ layers: [layerTar()], refs: ['app:1'] }])]), () => ({})).catch((e: unknown) => e);
    expect(err).toBe(gone);
    expect(h.record.error).toEqual({ kind: 'invalid', reason: 'interrupted', message: 'the upload was interrupted: the client closed the connection' });
  });
});
