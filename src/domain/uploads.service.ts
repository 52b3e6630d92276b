import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { AppError, notFound, forbidden } from './errors';
import { memberOf, type Principal } from './principal';
import { relation } from './workspaces.service';
import { workspaceNameProblem } from './names';
import type { CredentialsService } from './credentials.service';
import type { HarborPort } from '../ports/harbor';
import type { RegistryPort } from '../ports/registry';
import type { Cache } from '../ports/coordination';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { ArchiveError } from './uploads/archive-error';
import { detectCompression, gunzipLimited } from './uploads/gzip';
import { readTar } from './uploads/tar';
import { Spool, type Stager } from './uploads/spool';
import { imageNameProblem } from './uploads/refs';
import { planUpload, type ImagePlan, type Overrides } from './uploads/archive';
import { ProgressStore, type LayerProgress, type UploadRecord } from './uploads/progress';

/**
 * Console uploads of image archives: `docker save` / OCI archives, plain or gzip, pushed into a workspace.
 *
 *   authorize (before reading a byte) → receive: count and cap the bytes, detect gzip, read the tar entry by
 *   entry into a spool directory (layers compressed on the fly) → verify and plan (formats, digests, names) →
 *   push blobs the registry lacks → PUT every manifest by digest → tag → invalidate caches → clean up.
 *
 * Nothing reaches Harbor before the whole archive was read and checked, and tags are set only after every
 * manifest was accepted by digest, so a failure never creates or moves a tag. Progress: ProgressStore.
 */
export interface UploadSettings {
  /** Largest archive accepted (bytes on the wire, after multipart framing). */
  maxBytes: number;
  /** Largest size a gzip archive or gzip layer may expand to (gzip bombs). */
  maxExpandedBytes: number;
  tmpDir: string;
  /** Compress uncompressed layers with gzip as `docker push` does (false: store them as they are). */
  compressLayers: boolean;
  gzipLevel: number;
  /** Uploads running at once on this replica; more get 429. */
  maxConcurrent: number;
  progressTtlSeconds: number;
  /** Blob uploads in parallel. */
  pushConcurrency?: number;
  /** Stream big layers to Harbor while the archive arrives (default true). */
  streamLayers?: boolean;
}

export interface UploadsDeps {
  harbor: HarborPort;
  credentials: CredentialsService;
  registry: RegistryPort;
  cache: Cache;
  logger: Logger;
  metrics: Metrics;
  registryHost: string;
  settings: UploadSettings;
  /** True when a shared store (Redis) is configured, and whether it answers now. */
  sharedConfigured: boolean;
  shared: () => boolean;
  /** Drops cached views of the workspace and its images after a successful upload. */
  invalidate: (workspace: string) => Promise<void>;
  replica?: string;
}

export interface UploadHandle {
  record: UploadRecord;
}

const MAX_ENTRIES = 100_000;
/** Repository (inside the workspace) where big layers wait while the archive's image names are not known yet. */
export const STAGING_IMAGE = 'hubgate-upload-staging';
const UPLOAD_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{7,63}$/;

export class UploadsService {
  readonly progress: ProgressStore;
  private active = 0;
  private readonly replica: string;

  constructor(private readonly deps: UploadsDeps) {
    this.replica = deps.replica ?? randomUUID();
    this.progress = new ProgressStore(deps.cache, {
      ttlSeconds: deps.settings.progressTtlSeconds,
      replica: this.replica,
      sharedConfigured: deps.sharedConfigured,
      shared: deps.shared,
    });
  }

  close(): void {
    this.progress.close();
  }

  get settings(): UploadSettings {
    return this.deps.settings;
  }

  /** May the caller upload into the workspace? 404 when it does not exist for them, 403 when only visible. */
  async authorize(p: Principal, workspace: string): Promise<{ projectId: string | null }> {
    if (workspaceNameProblem(workspace)) throw notFound(`workspace "${workspace}"`);
    const hp = await this.deps.harbor.findProject(workspace);
    if (!hp) throw notFound(`workspace "${workspace}"`);
    const owner = (await this.deps.credentials.ownerRecords()).find((o) => o.workspaces.includes(workspace));
    const ws = { access: hp.metadata?.public === 'true' ? ('public' as const) : ('private' as const), project: owner?.project ?? null };
    const rel = relation(p, ws);
    if (rel === 'none') throw notFound(`workspace "${workspace}"`);
    if (rel !== 'manage') throw forbidden(`only members of the owning project can upload to workspace "${workspace}"`);
    return { projectId: owner?.project.id ?? null };
  }

  /** Refuses a declared body over the limit before anything is read. */
  checkDeclaredLength(declared: number | undefined, slack = 0): void {
    if (declared !== undefined && declared > this.deps.settings.maxBytes + slack) throw this.tooLarge();
  }

  private tooLarge(): ArchiveError {
    return new ArchiveError('too_large', `the archive is larger than the upload limit of ${this.deps.settings.maxBytes} bytes`);
  }

  /** Registers an upload (its id is usable for progress at once). */
  async start(p: Principal, workspace: string, opts: { id?: string; projectId: string | null; declaredBytes?: number }): Promise<UploadHandle> {
    if (opts.id !== undefined && !UPLOAD_ID.test(opts.id)) throw new AppError('invalid', 'upload id must be 8 to 64 letters, digits, "-" or "_"');
    if (this.active >= this.deps.settings.maxConcurrent) {
      throw new AppError('rate_limited', `this replica is already receiving ${this.active} uploads; try again shortly`, { retryAfterSeconds: 10 });
    }
    const id = opts.id ?? randomUUID();
    if (opts.id !== undefined && (await this.progress.exists(id))) throw new AppError('conflict', `upload id "${id}" is already in use`);
    const now = new Date().toISOString();
    const record: UploadRecord = {
      id,
      workspace,
      projectId: opts.projectId,
      userId: p.userId,
      state: 'receiving',
      bytesReceived: 0,
      bytesDeclared: opts.declaredBytes ?? null,
      layers: [],
      images: [],
      createdAt: now,
      updatedAt: now,
      replica: this.replica,
    };
    this.active++;
    this.deps.metrics.uploadsStarted.inc();
    await this.progress.save(record, true);
    return { record };
  }

  /** Runs a started upload to the end; the record ends succeeded (returned) or failed (the error is thrown). */
  async run(handle: UploadHandle, body: AsyncIterable<Buffer>, overrides: () => Overrides): Promise<UploadRecord> {
    const rec = handle.record;
    const s = this.deps.settings;
    let spool: Spool | undefined;
    try {
      spool = await Spool.create({
        tmpDir: s.tmpDir,
        compress: s.compressLayers,
        gzipLevel: s.gzipLevel,
        parallel: Math.max(2, availableParallelism()),
        maxExpandedBytes: s.maxExpandedBytes,
        stager: this.stager(rec.workspace, overrides),
      });
      const sp = spool;
      const stream = await this.decoded(this.counted(body, rec), rec);
      await readTar(stream, (entry, chunks) => sp.add(entry, chunks), { maxEntries: MAX_ENTRIES });

      const received = Date.now();
      rec.state = 'verifying';
      await this.progress.save(rec, true);
      const plans = await planUpload(spool, rec.workspace, overrides(), s.compressLayers);
      rec.format = spool.has('manifest.json') ? 'docker-save' : 'oci';

      rec.state = 'pushing';
      const pushing = Date.now();
      await this.push(plans, rec, spool);
      const timings = { receive_ms: received - Date.parse(rec.createdAt), verify_ms: pushing - received, push_ms: Date.now() - pushing };

      rec.state = 'succeeded';
      rec.finishedAt = new Date().toISOString();
      await this.progress.save(rec, true);
      this.deps.metrics.uploadsFinished.inc({ result: 'succeeded', reason: '' });
      this.deps.logger.info('upload finished', { upload: rec.id, workspace: rec.workspace, images: rec.images.map((i) => `${i.repository}:${i.tag}`), bytes: rec.bytesReceived, ...timings });
      await this.deps.invalidate(rec.workspace).catch((e) => this.deps.logger.warn('cache invalidation after an upload failed', { error: e }));
      return rec;
    } catch (e) {
      const err = e instanceof AppError ? e : new AppError('internal', 'internal server error', { cause: e });
      const reason = err instanceof ArchiveError ? err.reason : err.kind;
      rec.state = 'failed';
      rec.finishedAt = new Date().toISOString();
      rec.error = { kind: err.kind, reason, message: err.kind === 'internal' ? 'internal server error' : err.message };
      await this.progress.save(rec, true);
      this.deps.metrics.uploadsFinished.inc({ result: 'failed', reason });
      this.deps.logger.info('upload failed', { upload: rec.id, workspace: rec.workspace, reason, kind: err.kind, bytes: rec.bytesReceived });
      if (err.kind === 'internal') this.deps.logger.error('upload failed unexpectedly', { upload: rec.id, error: err.cause ?? err });
      throw err;
    } finally {
      this.active--;
      if (spool) await spool.cleanup().catch((e) => this.deps.logger.error('could not remove an upload spool directory', { dir: spool?.dir, error: e }));
    }
  }

  /**
   * Big layers are streamed to Harbor while the archive still arrives (so receiving and pushing overlap), into the
   * target repository when the client named the image up front, else into `<workspace>/hubgate-upload-staging`
   * from where they are mounted. Such a blob carries no tag and no manifest: if the archive turns out bad, it
   * is garbage that Harbor's GC removes, never a visible change.
   */
  private stager(workspace: string, overrides: () => Overrides): Stager | undefined {
    if (this.deps.settings.streamLayers === false) return undefined;
    const image = overrides().image;
    const repository = image && !imageNameProblem(image) && `${workspace}/${image}`.length <= 255 ? `${workspace}/${image}` : `${workspace}/${STAGING_IMAGE}`;
    return {
      repository,
      open: () => this.deps.registry.openBlobUpload(repository),
      exists: (digest) => this.deps.registry.blobExists(repository, digest),
    };
  }

  /** Counts received bytes (progress, metrics) and cuts the body off at the limit. */
  private async *counted(body: AsyncIterable<Buffer>, rec: UploadRecord): AsyncGenerator<Buffer> {
    const max = this.deps.settings.maxBytes;
    const it = body[Symbol.asyncIterator]();
    for (;;) {
      let r: IteratorResult<Buffer>;
      try {
        r = await it.next();
      } catch (e) {
        if (e instanceof AppError) throw e;
        // the client went away (reset, aborted request): nothing to answer, but the record says what happened
        throw new ArchiveError('interrupted', 'the upload was interrupted: the connection closed before the whole archive arrived');
      }
      if (r.done) return;
      const c = r.value;
      rec.bytesReceived += c.length;
      this.deps.metrics.uploadBytes.inc(c.length);
      if (rec.bytesReceived > max) throw this.tooLarge();
      void this.progress.save(rec);
      yield c;
    }
  }

  /** Detects the compression from the first bytes; gzip is decompressed as it streams, others refused. */
  private async decoded(body: AsyncIterable<Buffer>, rec: UploadRecord): Promise<AsyncIterable<Buffer>> {
    const it = body[Symbol.asyncIterator]();
    const head: Buffer[] = [];
    let len = 0;
    let ended = false;
    while (len < 6) {
      const r = await it.next();
      if (r.done) {
        ended = true;
        break;
      }
      head.push(r.value);
      len += r.value.length;
    }
    const first = Buffer.concat(head);
    const replay = (async function* () {
      if (first.length) yield first;
      if (!ended) for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    })();
    const kind = detectCompression(first);
    rec.compression = kind;
    if (kind === 'gzip') return gunzipLimited(replay, this.deps.settings.maxExpandedBytes);
    if (kind !== 'none') {
      throw new ArchiveError('unsupported_compression', `the archive is ${kind}-compressed; upload a plain tar or a gzip-compressed tar (tar.gz)`);
    }
    return replay;
  }

  private async push(plans: ImagePlan[], rec: UploadRecord, spool: Spool): Promise<void> {
    const { registry } = this.deps;
    // one progress row per blob and repository (a layer shared by two images of the archive is pushed once per repository)
    const rows = new Map<string, { row: LayerProgress; plan: ImagePlan; blob: ImagePlan['blobs'][number] }>();
    for (const plan of plans) {
      for (const b of plan.blobs) {
        const key = `${plan.repository}@${b.digest}`;
        if (rows.has(key)) continue;
        const row: LayerProgress = { repository: plan.repository, digest: b.digest, size: b.size, label: b.label, state: 'pending', bytesSent: 0 };
        rows.set(key, { row, plan, blob: b });
      }
    }
    rec.layers = [...rows.values()].map((r) => r.row);
    await this.progress.save(rec, true);

    const queue = [...rows.values()];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const { row, plan, blob } = next;
        const staged = blob.file.staged?.digest === blob.digest ? blob.file.staged.repository : undefined;
        if (await registry.blobExists(plan.repository, blob.digest)) {
          row.state = staged === plan.repository ? 'uploaded' : 'skipped';
          if (row.state === 'uploaded') row.bytesSent = blob.size;
          await this.progress.save(rec, true);
          continue;
        }
        if (staged && (await registry.mountBlob(plan.repository, blob.digest, staged).catch(() => false))) {
          row.state = 'uploaded';
          row.bytesSent = blob.size;
          await this.progress.save(rec, true);
          continue;
        }
        row.state = 'uploading';
        await this.progress.save(rec, true);
        await registry.pushBlob(plan.repository, {
          digest: blob.digest,
          size: blob.size,
          open: () => spool.open(blob.file),
          onProgress: (sent) => {
            row.bytesSent = sent;
            void this.progress.save(rec);
          },
        });
        row.bytesSent = blob.size;
        row.state = 'uploaded';
        await this.progress.save(rec, true);
      }
    };
    const n = Math.max(1, this.deps.settings.pushConcurrency ?? 3);
    const results = await Promise.allSettled(Array.from({ length: n }, worker));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;

    // every manifest by digest first (the registry validates them, nothing is tagged yet) ...
    for (const plan of plans) {
      for (const m of plan.manifests) {
        const digest = await registry.putManifest(plan.repository, m.digest, m.mediaType, m.body);
        if (digest && digest !== m.digest) throw new AppError('upstream_unavailable', `registry stored manifest ${m.digest} as ${digest}`);
      }
    }
    // ... then the tags (an existing tag is moved: the manual's "overwrite")
    for (const plan of plans) {
      const top = plan.manifests[plan.manifests.length - 1];
      for (const tag of plan.tags) {
        await registry.putManifest(plan.repository, tag, top.mediaType, top.body);
        rec.images.push({ repository: plan.repository, tag, digest: top.digest, mediaType: top.mediaType, pullAddress: `${this.deps.registryHost}/${plan.repository}:${tag}` });
      }
    }
  }

  /** Progress for the uploader, members of the workspace's project and cloud admins; 404 for anyone else. */
  async get(p: Principal, id: string): Promise<UploadRecord> {
    const rec = UPLOAD_ID.test(id) || /^[0-9a-f-]{36}$/.test(id) ? await this.progress.get(id) : undefined;
    if (!rec) throw notFound(`upload "${id}"`);
    const allowed = p.isCloudAdmin || p.userId === rec.userId || (rec.projectId !== null && memberOf(p, rec.projectId));
    if (!allowed) throw notFound(`upload "${id}"`);
    return rec;
  }
}
