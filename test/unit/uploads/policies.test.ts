import { createHash } from 'node:crypto';
import { AppError } from '../../../src/domain/errors';
import type { UploadPolicies } from '../../../src/domain/uploads.service';
import { ArchiveError } from '../../../src/domain/uploads/archive-error';
import { MemoryCache } from '../../../adapters/redis/memory.cache';
import { dockerSave, layerTar } from '../../support/archives';
import { capturedLogger } from '../../support/observed';
import { kit, member, type Kit } from './kit';

/**
 * Workspace policies in an upload (README "Console uploads", docs/limits): immutable versions and the storage quota
 * are checked before a byte is pushed, and Harbor's own refusals mid-push (403 "upper limit", 412 "configured as
 * immutable") come back in the upload's words. The policies are a recording fake here; the service asks them.
 */

type Call = [string, ...unknown[]];

/** UploadPolicies that record every question; refusals are set per test. */
function policies(o: { immutable?: AppError; quota?: AppError } = {}): UploadPolicies & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    async checkImmutable(workspace, targets) {
      calls.push(['checkImmutable', workspace, targets]);
      if (o.immutable) throw o.immutable;
    },
    async checkQuota(workspace, harborProjectId, addBytes) {
      const bytes = await addBytes();
      calls.push(['checkQuota', workspace, harborProjectId, bytes]);
      if (o.quota) throw o.quota;
    },
    async quotaRefusal(workspace, harborProjectId, harborMessage) {
      calls.push(['quotaRefusal', workspace, harborProjectId, harborMessage]);
      return new ArchiveError('quota_exceeded', `storage quota of workspace "${workspace}" exceeded; nothing was tagged`, 'too_large');
    },
    async immutableRefusalFor(workspace, repository, tag) {
      calls.push(['immutableRefusalFor', workspace, repository, tag]);
      return new ArchiveError('immutable_version', `version "${repository.slice(workspace.length + 1)}:${tag}" is protected; nothing was tagged`, 'conflict');
    },
  };
}

const HARBOR_QUOTA = 'Harbor refused blob upload: adding 8.0 KiB of storage resource, which when updated to current usage of 796 B will exceed the configured upper limit of 4.0 KiB.';
const immutableAt = (image: string, tag: string) => `registry refused manifest: Failed to process request due to '${image}:${tag}' configured as immutable.`;
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function failure(p: Promise<unknown>): Promise<AppError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (!(e instanceof AppError)) throw new Error(`expected an AppError, got ${String(e)}`);
  return e;
}

/** Makes the registry refuse the tag PUT `repository:tag` with `error` (after counting it). */
function refuseTag(k: Kit, repository: string, tag: string, error: Error): void {
  const put = k.registry.putManifest.bind(k.registry);
  k.registry.putManifest = async (r, ref, mt, body) => {
    if (r === repository && ref === tag) throw error;
    return put(r, ref, mt, body);
  };
}

describe('console uploads: workspace policies before the push', () => {
  let k: Kit;
  afterEach(() => k.close());

  it('every version the archive would set is checked against the immutable rules, in order', async () => {
    const pol = policies();
    k = kit({}, { policies: pol });
    k.projects.ws.id = 42;
    await k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:1'] }, { layers: [layerTar()], refs: ['two:1', 'two:latest'] }]));
    expect(pol.calls[0]).toEqual([
      'checkImmutable',
      'ws',
      [
        { repository: 'ws/one', tag: '1' },
        { repository: 'ws/two', tag: '1' },
        { repository: 'ws/two', tag: 'latest' },
      ],
    ]);
    expect(pol.calls.map((c) => c[0])).toEqual(['checkImmutable', 'checkQuota']);
  });

  it('a protected version: the upload fails with the rule\'s refusal, nothing is pushed or tagged', async () => {
    const refusal = new ArchiveError('immutable_version', 'version "one:1" of workspace "ws" is protected by immutable rule 3; nothing was tagged', 'conflict');
    k = kit({ streamLayers: false }, { policies: policies({ immutable: refusal }) });
    const err = await failure(k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:1'] }])));
    expect(err).toBe(refusal);
    expect(k.registry.pushes).toEqual([]);
    expect(k.registry.tags()).toEqual([]);
  });

  it('the quota is asked with the Harbor project id and the bytes the push adds: distinct new blobs + manifests', async () => {
    const pol = policies();
    k = kit({ streamLayers: false, compressLayers: false }, { policies: pol });
    k.projects.ws.id = 42;
    const shared = layerTar();
    const present = layerTar();
    // a layer the repository already has (a former version) costs nothing
    k.registry.blobs.set('ws/one', new Map([[sha(present), present]]));
    const rec = await k.upload(dockerSave([{ layers: [shared, present], refs: ['one:1'] }, { layers: [shared], refs: ['two:1'] }]), { p: member() });
    expect(rec.state).toBe('succeeded');
    // what was added: the blobs pushed (the shared layer twice: once per repository, counted once) and the two manifests
    const pushed = new Map(k.registry.pushes.map((p) => [p.split('@')[1], k.registry.blob(p.split('@')[0], p.split('@')[1])!.length]));
    const manifests = rec.images.map((i) => k.registry.manifests.get(i.repository)!.get(i.digest)!.body.length);
    const expected = [...pushed.values()].reduce((a, b) => a + b, 0) + manifests.reduce((a, b) => a + b, 0);
    expect(k.registry.pushes).toHaveLength(4); // ws/one: shared + config; ws/two: shared + config
    expect(pushed.size).toBe(3);
    expect(pol.calls[1]).toEqual(['checkQuota', 'ws', 42, expected]);
  });

  it('a layer already streamed to the registry while the archive arrived is not counted again', async () => {
    const pol = policies();
    k = kit({ compressLayers: false }, { policies: pol });
    const big = layerTar({ big: Buffer.alloc(1536 * 1024, 7) });
    // staged in the workspace's staging repository (the image name is not known up front): Harbor counts it there
    const rec = await k.upload(dockerSave([{ layers: [big], refs: ['app:1'] }]));
    expect(k.registry.staged).toEqual([`ws/hubgate-upload-staging@${sha(big)}`]);
    const config = k.registry.pushes.map((p) => k.registry.blob('ws/app', p.split('@')[1])!.length);
    const manifest = k.registry.manifests.get('ws/app')!.get(rec.images[0].digest)!.body.length;
    expect(config).toHaveLength(1);
    expect(pol.calls[1]).toEqual(['checkQuota', 'ws', 1, config[0] + manifest]);
  });

  it('over the quota: the upload fails with its refusal before anything is pushed', async () => {
    const refusal = new ArchiveError('quota_exceeded', 'storage quota of workspace "ws" exceeded: the upload needs 9 KiB more; nothing was tagged', 'too_large');
    k = kit({ streamLayers: false }, { policies: policies({ quota: refusal }) });
    expect(await failure(k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:1'] }])))).toBe(refusal);
    expect(k.registry.pushes).toEqual([]);
  });

  it('started without a Harbor project id: the workspace\'s id is looked up; gone by then: no quota question (the ownership check fails the upload)', async () => {
    const pol = policies();
    k = kit({ streamLayers: false }, { policies: pol });
    k.projects.ws.id = 77;
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    const { Readable } = await import('node:stream');
    await k.uploads.run(h, Readable.from([dockerSave([{ layers: [layerTar()], refs: ['one:1'] }])]), () => ({}));
    expect(pol.calls.map((c) => c.slice(0, 3))).toEqual([['checkImmutable', 'ws', [{ repository: 'ws/one', tag: '1' }]], ['checkQuota', 'ws', 77]]);

    // the id checked at the start is the one asked about, even when the workspace has another one by now
    const moved = policies();
    const k3 = kit({ streamLayers: false }, { policies: moved });
    try {
      k3.projects.ws.id = 43;
      const h3 = await k3.uploads.start(member(), 'ws', { projectId: 'p1', harborProjectId: 42 });
      const err = await failure(k3.uploads.run(h3, Readable.from([dockerSave([{ layers: [layerTar()], refs: ['one:1'] }])]), () => ({})));
      expect(err).toMatchObject({ kind: 'conflict', reason: 'workspace_changed' });
      expect(moved.calls.map((c) => c.slice(0, 3))).toEqual([['checkImmutable', 'ws', [{ repository: 'ws/one', tag: '1' }]], ['checkQuota', 'ws', 42]]);
    } finally {
      k3.close();
    }

    const gone = policies();
    const k2 = kit({ streamLayers: false }, { policies: gone });
    try {
      const h2 = await k2.uploads.start(member(), 'ws', { projectId: 'p1' });
      delete k2.projects.ws;
      const err = await failure(k2.uploads.run(h2, Readable.from([dockerSave([{ layers: [layerTar()], refs: ['one:1'] }])]), () => ({})));
      expect(err).toMatchObject({ kind: 'conflict', reason: 'workspace_changed' });
      expect(gone.calls.map((c) => c[0])).toEqual(['checkImmutable']);
    } finally {
      k2.close();
    }
  });
});

describe("console uploads: Harbor's refusals mid-push in the upload's words", () => {
  let k: Kit;
  afterEach(() => k.close());

  it('403 "upper limit" at a blob: the quota refusal for the workspace, with Harbor\'s text', async () => {
    const pol = policies();
    k = kit({ streamLayers: false }, { policies: pol });
    k.projects.ws.id = 42;
    k.registry.failBlob = new AppError('forbidden', HARBOR_QUOTA, { upstreamStatus: 403 });
    const err = await failure(k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:1'] }])));
    expect({ kind: err.kind, message: err.message }).toEqual({ kind: 'too_large', message: 'storage quota of workspace "ws" exceeded; nothing was tagged' });
    expect(pol.calls[2]).toEqual(['quotaRefusal', 'ws', 42, HARBOR_QUOTA]);
  });

  it.each([
    ['403 without "upper limit"', new AppError('forbidden', 'Harbor refused blob upload: DENIED: no permission', { upstreamStatus: 403 })],
    ['"upper limit" but not a 403', new AppError('invalid', HARBOR_QUOTA, { upstreamStatus: 400 })],
    ['"configured as immutable" at a blob but not a 412', new AppError('invalid', immutableAt('one', '1'), { upstreamStatus: 400 })],
  ])('%s: the error as it came', async (_what, error) => {
    const pol = policies();
    k = kit({ streamLayers: false }, { policies: pol });
    k.registry.failBlob = error;
    expect(await failure(k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:1'] }])))).toBe(error);
    expect(pol.calls.map((c) => c[0])).toEqual(['checkImmutable', 'checkQuota']);
  });

  it('403 "upper limit" when the workspace\'s id cannot be found any more: Harbor\'s error as it came', async () => {
    const pol = policies();
    k = kit({ streamLayers: false }, { policies: pol });
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    const error = new AppError('forbidden', HARBOR_QUOTA, { upstreamStatus: 403 });
    const find = k.harbor.findProject;
    k.registry.failBlob = error;
    const push = k.registry.pushBlob.bind(k.registry);
    k.registry.pushBlob = async (r, b) => {
      k.harbor.findProject = async () => {
        throw new AppError('upstream_unavailable', 'Harbor down');
      };
      return push(r, b);
    };
    const { Readable } = await import('node:stream');
    expect(await failure(k.uploads.run(h, Readable.from([dockerSave([{ layers: [layerTar()], refs: ['one:1'] }])]), () => ({})))).toBe(error);
    k.harbor.findProject = find;
    expect(pol.calls.map((c) => c[0])).toEqual(['checkImmutable', 'checkQuota']);
  });

  it('a non-Harbor failure while pushing stays what it was: 500 internal, logged', async () => {
    const { logger, entries } = capturedLogger();
    k = kit({ streamLayers: false }, { policies: policies(), logger });
    const crash = new TypeError('socket hang up');
    k.registry.pushBlob = async () => {
      throw crash;
    };
    const err = await failure(k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:1'] }])));
    expect({ kind: err.kind, message: err.message, cause: err.cause }).toEqual({ kind: 'internal', message: 'internal server error', cause: crash });
    expect(entries().filter((l) => l.level === 'error').map((l) => [l.msg, (l.error as { message?: string }).message])).toEqual([['upload failed unexpectedly', 'socket hang up']]);
  });

  it('412 "configured as immutable" at the first tag: the rule\'s refusal, nothing tagged before it', async () => {
    const pol = policies();
    k = kit({ streamLayers: false }, { policies: pol });
    refuseTag(k, 'ws/one', 'v1', new AppError('invalid', immutableAt('one', 'v1'), { upstreamStatus: 412 }));
    const err = await failure(k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:v1', 'one:v2'] }])));
    expect({ kind: err.kind, message: err.message }).toEqual({ kind: 'conflict', message: 'version "one:v1" is protected; nothing was tagged' });
    expect(pol.calls[2]).toEqual(['immutableRefusalFor', 'ws', 'ws/one', 'v1']);
  });

  it.each([
    ['v2', 'one:v1'],
    ['v3', 'one:v1, two:v2'],
  ])('412 at a later tag, two:%s (a rule added while tagging): the refusal says which versions were already tagged: %s', async (tag, done) => {
    const pol = policies();
    k = kit({ streamLayers: false }, { policies: pol });
    refuseTag(k, 'ws/two', tag, new AppError('invalid', immutableAt('two', tag), { upstreamStatus: 412 }));
    const err = await failure(k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:v1'] }, { layers: [layerTar()], refs: ['two:v2', 'two:v3'] }])));
    expect(err.message).toBe(`version "two:${tag}" is protected; tagged before the refusal: ${done}`);
    expect(pol.calls[2]).toEqual(['immutableRefusalFor', 'ws', 'ws/two', tag]);
    expect(k.registry.tags()).toEqual(done.split(', ').map((d) => `ws/${d}`));
  });

  it.each([
    ['412 without "immutable"', new AppError('invalid', 'registry refused manifest: precondition failed', { upstreamStatus: 412 })],
    ['412 "immutable" in another wording', new AppError('invalid', 'registry refused manifest: the tag is immutable', { upstreamStatus: 412 })],
    ['412 naming an image the archive does not hold', new AppError('invalid', immutableAt('other', 'v1'), { upstreamStatus: 412 })],
    ['"configured as immutable" but a 403', new AppError('forbidden', immutableAt('one', 'v1'), { upstreamStatus: 403 })],
  ])('%s: the error as it came', async (_what, error) => {
    const pol = policies();
    k = kit({ streamLayers: false }, { policies: pol });
    refuseTag(k, 'ws/one', 'v1', error);
    expect(await failure(k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:v1'] }])))).toBe(error);
    expect(pol.calls.map((c) => c[0])).toEqual(['checkImmutable', 'checkQuota']);
  });

  it('without policies Harbor\'s refusal is passed on as it came', async () => {
    k = kit({ streamLayers: false });
    const error = new AppError('forbidden', HARBOR_QUOTA, { upstreamStatus: 403 });
    k.registry.failBlob = error;
    expect(await failure(k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:1'] }])))).toBe(error);
  });
});

describe('console uploads: start, settings and progress', () => {
  let k: Kit;
  afterEach(() => k.close());

  it('the settings the service runs with', () => {
    k = kit({ maxBytes: 12345, maxConcurrent: 3 });
    expect(k.uploads.settings).toMatchObject({ maxBytes: 12345, maxConcurrent: 3, tmpDir: k.tmp, compressLayers: true, gzipLevel: 6, progressTtlSeconds: 600 });
  });

  it('the first progress record cannot be written: the start fails with that error, the slot is freed, the failure is counted and logged', async () => {
    const { logger, entries } = capturedLogger();
    const broken = new Error('cache down');
    class FailingCache extends MemoryCache {
      override async set(): Promise<void> {
        throw broken;
      }
    }
    k = kit({}, { cache: new FailingCache(), logger });
    const err = await k.uploads.start(member(), 'ws', { projectId: 'p1', id: 'upload-cache-1' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBe(broken);
    expect(k.uploads.active).toBe(0);
    expect(await k.metrics.registry.getSingleMetricAsString('hubgate_uploads_finished_total')).toContain('hubgate_uploads_finished_total{result="failed",reason="internal"} 1');
    expect(entries().map((l) => [l.level, l.msg, l.upload])).toEqual([
      ['info', 'upload failed', 'upload-cache-1'],
      ['error', 'upload failed unexpectedly', 'upload-cache-1'],
      ['warn', 'could not write a failed upload record', 'upload-cache-1'],
    ]);
  });

  it('the registry reports bytes sent: the layer\'s row follows them', async () => {
    k = kit({ streamLayers: false });
    const seen: number[] = [];
    const push = k.registry.pushBlob.bind(k.registry);
    k.registry.pushBlob = async (r, b) => {
      b.onProgress?.(1000);
      const rec = await k.uploads.get(member(), 'upload-progress-1');
      seen.push(rec.layers.find((l) => l.digest === b.digest)!.bytesSent);
      return push(r, b);
    };
    const rec = await k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:1'] }]), { id: 'upload-progress-1' });
    expect(seen).toEqual([1000, 1000]);
    expect(rec.layers.map((l) => l.bytesSent)).toEqual(rec.layers.map((l) => l.size));
  });
});

describe('console uploads: edges of the run', () => {
  let k: Kit;
  afterEach(() => k.close());
  const admin = { userId: 'u-root', username: 'root', isCloudAdmin: true, projects: [] };
  const one = () => dockerSave([{ layers: [layerTar()], refs: ['one:1'] }]);

  it('an image tagged into two repositories: its manifest counts once for the quota', async () => {
    const pol = policies();
    k = kit({ streamLayers: false, compressLayers: false }, { policies: pol });
    const rec = await k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:1', 'two:1'] }]));
    const blobs = new Map(k.registry.pushes.map((p) => [p.split('@')[1], k.registry.blob(p.split('@')[0], p.split('@')[1])!.length]));
    const manifest = k.registry.manifests.get('ws/one')!.get(rec.images[0].digest)!.body.length;
    expect(rec.images.map((i) => i.digest)).toEqual([rec.images[0].digest, rec.images[0].digest]);
    expect(pol.calls[1]).toEqual(['checkQuota', 'ws', 1, [...blobs.values()].reduce((a, b) => a + b, 0) + manifest]);
  });

  it('two images of one repository sharing a layer: one progress row for it', async () => {
    k = kit({ streamLayers: false });
    const shared = layerTar();
    const rec = await k.upload(dockerSave([{ layers: [shared], refs: ['one:1'] }, { layers: [shared, layerTar()], refs: ['one:2'] }]));
    // rows: the shared layer, config 1, config 2, the second image's own layer
    expect(rec.layers).toHaveLength(4);
    expect(new Set(rec.layers.map((l) => l.digest)).size).toBe(4);
  });

  it('a staged layer that cannot be mounted is pushed instead', async () => {
    k = kit({ compressLayers: false });
    const big = layerTar({ big: Buffer.alloc(1536 * 1024, 3) });
    k.registry.mountBlob = async () => {
      throw new AppError('upstream_unavailable', 'mount failed');
    };
    const rec = await k.upload(dockerSave([{ layers: [big], refs: ['app:1'] }]));
    expect(k.registry.staged).toEqual([`ws/hubgate-upload-staging@${sha(big)}`]);
    expect(k.registry.pushes).toContain(`ws/app@${sha(big)}`);
    expect(rec.layers.find((l) => l.digest === sha(big))).toMatchObject({ state: 'uploaded', bytesSent: big.length });
  });

  it('the registry storing a manifest under another digest: 502, nothing tagged', async () => {
    k = kit({ streamLayers: false });
    const put = k.registry.putManifest.bind(k.registry);
    k.registry.putManifest = async (r, ref, mt, body) => {
      await put(r, ref, mt, body);
      return `sha256:${'0'.repeat(64)}`;
    };
    const err = await failure(k.upload(one()));
    expect(err.kind).toBe('upstream_unavailable');
    expect(err.message).toMatch(new RegExp(`^registry stored manifest sha256:[0-9a-f]{64} as sha256:${'0'.repeat(64)}$`));
    expect(k.registry.tags()).toEqual([]);
  });

  it('cache invalidation failing after a successful upload: still succeeded, a warning', async () => {
    const { logger, entries } = capturedLogger();
    k = kit(
      { streamLayers: false },
      {
        logger,
        invalidate: async () => {
          throw new Error('redis gone');
        },
      },
    );
    expect((await k.upload(one())).state).toBe('succeeded');
    expect(entries().filter((l) => l.level === 'warn')).toEqual([
      { time: expect.any(String), level: 'warn', msg: 'cache invalidation after an upload failed', error: expect.objectContaining({ message: 'redis gone' }) },
    ]);
  });

  it('a workspace no platform project owns: a cloud admin uploads (no project), members cannot see it', async () => {
    k = kit({ streamLayers: false });
    k.projects.orphan = { public: true, owner: 'p9', id: 9 };
    expect(await k.uploads.authorize(admin, 'orphan')).toEqual({ projectId: null, harborProjectId: 9 });
    await expect(k.uploads.authorize(member(), 'orphan')).rejects.toMatchObject({ kind: 'not_found', message: 'workspace "orphan" not found' });
    const rec = await k.upload(one(), { ws: 'orphan', p: admin });
    expect({ state: rec.state, projectId: rec.projectId }).toEqual({ state: 'succeeded', projectId: null });
  });

  it('declared sizes: none is fine, over the limit refused, within the allowed framing slack accepted', () => {
    k = kit({ maxBytes: 1000 });
    expect(() => k.uploads.checkDeclaredLength(undefined)).not.toThrow();
    expect(() => k.uploads.checkDeclaredLength(1000)).not.toThrow();
    expect(() => k.uploads.checkDeclaredLength(1001)).toThrow('the archive is larger than the upload limit of 1000 bytes');
    expect(() => k.uploads.checkDeclaredLength(1100, 100)).not.toThrow();
    expect(() => k.uploads.checkDeclaredLength(1101, 100)).toThrow('the archive is larger than the upload limit of 1000 bytes');
  });

  it('an upload id of the wrong shape: 400 before a slot is taken', async () => {
    k = kit();
    for (const id of ['short', 'x'.repeat(65), '-leading-dash', 'with space 123']) {
      await expect(k.uploads.start(member(), 'ws', { projectId: 'p1', id })).rejects.toMatchObject({ kind: 'invalid', message: 'upload id must be 8 to 64 letters, digits, "-" or "_"' });
    }
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1', id: 'A'.repeat(64) });
    expect(h.record.id).toBe('A'.repeat(64));
    await k.uploads.fail(h, new AppError('invalid', 'over'));
    expect(k.uploads.active).toBe(0);
  });

  it('run() on an upload that has already ended: refused, the record stays as it was', async () => {
    k = kit();
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    await k.uploads.fail(h, new AppError('invalid', 'broken request'));
    const { Readable } = await import('node:stream');
    const err = await failure(k.uploads.run(h, Readable.from([one()]), () => ({})));
    expect({ kind: err.kind, message: err.message }).toEqual({ kind: 'internal', message: 'upload already ended' });
    expect(h.record).toMatchObject({ state: 'failed', error: { kind: 'invalid', reason: 'invalid', message: 'broken request' } });
  });

  it('an internal error without a cause is logged as itself', async () => {
    const { logger, entries } = capturedLogger();
    k = kit({}, { logger });
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1', id: 'upload-internal-1' });
    await k.uploads.fail(h, new AppError('internal', 'broken invariant'));
    const errors = entries().filter((l) => l.level === 'error');
    expect(errors.map((l) => [l.msg, (l.error as { message?: string }).message])).toEqual([['upload failed unexpectedly', 'broken invariant']]);
    expect(h.record.error).toEqual({ kind: 'internal', reason: 'internal', message: 'internal server error' });
  });

  it('progress: the uploader, members of the project and cloud admins; anyone else and malformed ids get 404', async () => {
    const looked: string[] = [];
    class CountingCache extends MemoryCache {
      override async get<T>(key: string): Promise<T | undefined> {
        looked.push(key);
        return super.get<T>(key);
      }
    }
    k = kit({ streamLayers: false }, { cache: new CountingCache() });
    const rec = await k.upload(one(), { id: 'upload-get-1' });
    const outsider = { userId: 'u-eve', username: 'eve', isCloudAdmin: false, projects: [{ id: 'p2', name: 'p2', department: 'd' }] };
    const colleague = { ...outsider, userId: 'u-bob', projects: [{ id: 'p1', name: 'p1', department: 'd' }] };
    expect(await k.uploads.get(member(), 'upload-get-1')).toBe(rec);
    expect(await k.uploads.get(colleague, 'upload-get-1')).toBe(rec);
    expect(await k.uploads.get(admin, 'upload-get-1')).toBe(rec);
    await expect(k.uploads.get(outsider, 'upload-get-1')).rejects.toMatchObject({ kind: 'not_found', message: 'upload "upload-get-1" not found' });
    looked.length = 0;
    await expect(k.uploads.get(admin, 'short')).rejects.toMatchObject({ kind: 'not_found', message: 'upload "short" not found' });
    await expect(k.uploads.get(admin, '../../etc')).rejects.toMatchObject({ kind: 'not_found' });
    expect(looked).toEqual([]); // a malformed id never reaches the store
    await expect(k.uploads.get(admin, '123e4567-e89b-12d3-a456-426614174000')).rejects.toMatchObject({ kind: 'not_found' });
    // an upload into a workspace no project owns: only its uploader and cloud admins
    k.projects.orphan = { public: true, owner: 'p9', id: 9 };
    const h = await k.uploads.start(admin, 'orphan', { projectId: null });
    await k.uploads.fail(h, new AppError('invalid', 'over'));
    expect((await k.uploads.get(admin, h.record.id)).projectId).toBeNull();
    await expect(k.uploads.get(colleague, h.record.id)).rejects.toMatchObject({ kind: 'not_found' });
  });
});
