import { randomUUID } from 'node:crypto';
import { statfs } from 'node:fs/promises';
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
import type { Readable } from 'node:stream';
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
  /** Tar entries per archive; every header (PAX, GNU long names) counts (default 100,000). */
  maxEntries?: number;
  /** PAX and GNU long-name metadata per archive, bytes (default 4 MiB). */
  maxMetadataBytes?: number;
  /** Largest entry that is neither a layer (tar) nor gzip data: JSON, other blobs (default 64 MiB). */
  maxOtherEntryBytes?: number;
  /** Spool bytes one upload may write (default 2.5 GiB). */
  maxDiskBytes?: number;
  /** Spool bytes all uploads of this replica may hold together (default 4 GiB; the chart's volume is 5 Gi). */
  diskBudgetBytes?: number;
  /** Free space the spool's file system keeps; below it uploads stop with 507 (default 256 MiB). */
  minFreeBytes?: number;
  /** An upload whose body sends nothing for this long is stopped (default 60 s). */
  idleTimeoutMs?: number;
}

/** Defaults of the optional settings (README "Console uploads", .env.example and the Helm values follow them). */
export const UPLOAD_DEFAULTS = {
  maxEntries: 100_000,
  maxMetadataBytes: 4 * 1024 * 1024,
  maxOtherEntryBytes: 64 * 1024 * 1024,
  maxDiskBytes: 2.5 * 1024 ** 3,
  diskBudgetBytes: 4 * 1024 ** 3,
  minFreeBytes: 256 * 1024 * 1024,
  idleTimeoutMs: 60_000,
} as const;

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
  /** Drops cached views of the workspace and its images after a successful upload: the workspace and the
   * repositories (`workspace/image`) it pushed to. */
  invalidate: (workspace: string, repositories: string[]) => Promise<void>;
  /** Workspace policies (quota, immutable versions), checked before anything is pushed; none when absent. */
  policies?: UploadPolicies;
  replica?: string;
}

/** What an upload asks of WorkspacePoliciesService (src/domain/workspace-policies.service.ts). */
export interface UploadPolicies {
  checkImmutable(workspace: string, targets: readonly { repository: string; tag: string }[]): Promise<void>;
  checkQuota(workspace: string, harborProjectId: number, addBytes: () => Promise<number>): Promise<void>;
  quotaRefusal(workspace: string, harborProjectId: number, harborMessage: string): Promise<AppError>;
  immutableRefusalFor(workspace: string, repository: string, tag: string): Promise<AppError>;
}

/**
 * A started upload. It holds one of the replica's upload slots until it is settled — by run() (success or
 * failure) or by fail() for a request that never got that far; settling is idempotent, closes the record and
 * frees the slot exactly once. `signal` aborts all its work: client gone, idle body, shutdown.
 */
export interface UploadHandle {
  record: UploadRecord;
  readonly signal: AbortSignal;
  /** Stops the upload's work with this error (the first reason wins). */
  abort(reason: AppError): void;
}

interface Running extends UploadHandle {
  controller: AbortController;
  settled?: Promise<void>;
  /** Resolves once the upload is settled, by whichever path (what shutdown waits for). */
  ended: Promise<void>;
  end: () => void;
  /** Harbor project id the permission was checked against (deleted and re-created = another id). */
  harborProjectId?: number;
  /** Spool bytes on disk now. */
  diskBytes: number;
}

/** Repository (inside the workspace) where big layers wait while the archive's image names are not known yet. */
export const STAGING_IMAGE = 'hubgate-upload-staging';
const UPLOAD_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{7,63}$/;

export class UploadsService {
  readonly progress: ProgressStore;
  private readonly running = new Set<Running>();
  private readonly replica: string;
  private closing = false;

  constructor(private readonly deps: UploadsDeps) {
    this.replica = deps.replica ?? randomUUID();
    this.progress = new ProgressStore(deps.cache, {
      ttlSeconds: deps.settings.progressTtlSeconds,
      replica: this.replica,
      sharedConfigured: deps.sharedConfigured,
      shared: deps.shared,
    });
  }

  /** Uploads holding a slot now. */
  get active(): number {
    return this.running.size;
  }

  /**
   * Shutdown: aborts every running upload (their records end `failed`, reason `shutdown`) and waits up to
   * `waitMs` for them to settle, so their final records are written while the shared store is still up.
   */
  async shutdown(waitMs = 3000): Promise<void> {
    this.closing = true;
    const all = [...this.running];
    for (const h of all) h.abort(new ArchiveError('shutdown', 'hubgate is shutting down; send the archive again', 'unavailable'));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      // not h.settled: a running upload is settled by its run() only after the abort has reached it
      Promise.allSettled(all.map((h) => h.ended)),
      new Promise<void>((r) => {
        timer = setTimeout(r, waitMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  close(): void {
    this.closing = true;
    for (const h of this.running) h.abort(new ArchiveError('shutdown', 'hubgate is shutting down; send the archive again', 'unavailable'));
    this.progress.close();
  }

  get settings(): UploadSettings {
    return this.deps.settings;
  }

  /** May the caller upload into the workspace? 404 when it does not exist for them, 403 when only visible. */
  async authorize(p: Principal, workspace: string): Promise<{ projectId: string | null; harborProjectId?: number }> {
    if (workspaceNameProblem(workspace)) throw notFound(`workspace "${workspace}"`);
    const hp = await this.deps.harbor.findProject(workspace);
    if (!hp) throw notFound(`workspace "${workspace}"`);
    const owner = (await this.deps.credentials.ownerRecords()).find((o) => o.workspaces.includes(workspace));
    const ws = { access: hp.metadata?.public === 'true' ? ('public' as const) : ('private' as const), project: owner?.project ?? null };
    const rel = relation(p, ws);
    if (rel === 'none') throw notFound(`workspace "${workspace}"`);
    if (rel !== 'manage') throw forbidden(`only members of the owning project can upload to workspace "${workspace}"`);
    return { projectId: owner?.project.id ?? null, harborProjectId: hp.project_id };
  }

  /**
   * Pushes run as hubgate's Harbor admin, so the permission checked at the start must still hold when images
   * become visible: the workspace must still be the same Harbor project (not deleted, not deleted and
   * re-created by someone else) owned by the same platform project. Checked before the first manifest and
   * again before the first tag.
   */
  private async recheckOwnership(h: Running): Promise<void> {
    const rec = h.record;
    const hp = await this.deps.harbor.findProject(rec.workspace);
    const owner = hp ? (await this.deps.credentials.ownerRecords()).find((o) => o.workspaces.includes(rec.workspace)) : undefined;
    const sameProject = hp && (h.harborProjectId === undefined || hp.project_id === h.harborProjectId);
    if (!sameProject || (owner?.project.id ?? null) !== rec.projectId) {
      throw new ArchiveError(
        'workspace_changed',
        `workspace "${rec.workspace}" was deleted or changed owner during the upload; nothing was tagged`,
        'conflict',
      );
    }
  }

  /** Refuses a declared body over the limit before anything is read. */
  checkDeclaredLength(declared: number | undefined, slack = 0): void {
    // Stryker disable next-line ConditionalExpression: 'declared !== undefined' → true is equivalent (undefined > n is false); the others were killed in the last run
    if (declared !== undefined && declared > this.deps.settings.maxBytes + slack) throw this.tooLarge();
  }

  private tooLarge(): ArchiveError {
    return new ArchiveError('too_large', `the archive is larger than the upload limit of ${this.deps.settings.maxBytes} bytes`);
  }

  /** Registers an upload (its id is usable for progress at once). */
  async start(
    p: Principal,
    workspace: string,
    opts: { id?: string; projectId: string | null; harborProjectId?: number; declaredBytes?: number },
  ): Promise<UploadHandle> {
    // Stryker disable next-line ConditionalExpression: 'opts.id !== undefined' → true is equivalent (UPLOAD_ID matches the string "undefined"); the others were killed in the last run
    if (opts.id !== undefined && !UPLOAD_ID.test(opts.id)) throw new AppError('invalid', 'upload id must be 8 to 64 letters, digits, "-" or "_"');
    if (this.closing) throw new AppError('unavailable', 'hubgate is shutting down; send the archive again', { retryAfterSeconds: 5 });
    if (this.running.size >= this.deps.settings.maxConcurrent) {
      throw new AppError('rate_limited', `this replica is already receiving ${this.running.size} uploads; try again shortly`, { retryAfterSeconds: 10 });
    }
    const id = opts.id ?? randomUUID();
    if (opts.id !== undefined && (await this.progress.exists(id))) throw new AppError('conflict', `upload id "${id}" is already in use`);
    // disk: refuse before reading when the replica's budget (or the file system) has no room for what is declared
    await this.checkDisk(opts.declaredBytes ?? 0);
    if (this.running.size >= this.deps.settings.maxConcurrent) {
      throw new AppError('rate_limited', `this replica is already receiving ${this.running.size} uploads; try again shortly`, { retryAfterSeconds: 10 });
    }
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
    const controller = new AbortController();
    let end!: () => void;
    const ended = new Promise<void>((r) => (end = r));
    const handle: Running = {
      record,
      controller,
      signal: controller.signal,
      abort: (reason) => {
        // Stryker disable next-line ConditionalExpression: 'true' is equivalent (abort() on an aborted signal does nothing: the first reason stays); 'false' timed out in the last run
        if (!controller.signal.aborted) controller.abort(reason);
      },
      harborProjectId: opts.harborProjectId,
      diskBytes: 0,
      ended,
      end,
    };
    // the slot is taken synchronously with the check above; from here on only settle() gives it back
    this.running.add(handle);
    this.deps.metrics.uploadsStarted.inc();
    try {
      // Stryker disable next-line BooleanLiteral: equivalent, the first save of a new record is always due (it was never written), forced or not
      await this.progress.save(record, true);
    } catch (e) {
      await this.fail(handle, e);
      throw e;
    }
    return handle;
  }

  /** Closes an upload that failed before or outside run() (bad multipart framing, a thrown route step). */
  async fail(handle: UploadHandle, e: unknown): Promise<void> {
    await this.settle(handle as Running, e);
  }

  /** Ends an upload exactly once: record final (failed with a reason, unless it succeeded), slot freed. */
  private settle(h: Running, e: unknown | undefined): Promise<void> {
    h.settled ??= (async () => {
      this.running.delete(h);
      h.controller.abort(new ArchiveError('interrupted', 'the upload has ended'));
      const rec = h.record;
      if (e === undefined) return;
      // Stryker disable next-line StringLiteral: 'internal server error' → "" is equivalent (the record names internal errors with its own literal, the error log gets the cause); 'internal' was killed in the last run
      const err = e instanceof AppError ? e : new AppError('internal', 'internal server error', { cause: e });
      const reason = err instanceof ArchiveError ? err.reason : err.kind;
      rec.state = 'failed';
      rec.finishedAt = new Date().toISOString();
      rec.error = { kind: err.kind, reason, message: err.kind === 'internal' ? 'internal server error' : err.message };
      this.deps.metrics.uploadsFinished.inc({ result: 'failed', reason });
      this.deps.logger.info('upload failed', { upload: rec.id, workspace: rec.workspace, reason, kind: err.kind, bytes: rec.bytesReceived });
      if (err.kind === 'internal') this.deps.logger.error('upload failed unexpectedly', { upload: rec.id, error: err.cause ?? err });
      await this.progress.save(rec, true).catch((x) => this.deps.logger.warn('could not write a failed upload record', { upload: rec.id, error: x }));
    })().finally(h.end);
    return h.settled;
  }

  /** Room on disk for `more` bytes: the replica's budget and the file system's free space. */
  private async checkDisk(more: number): Promise<void> {
    const s = this.deps.settings;
    const budget = s.diskBudgetBytes ?? UPLOAD_DEFAULTS.diskBudgetBytes;
    const used = [...this.running].reduce((n, h) => n + h.diskBytes, 0);
    if (used + more > budget) {
      throw new ArchiveError('no_space', `this replica's upload disk budget (${budget} bytes) is used up by running uploads; try again later`, 'insufficient_storage');
    }
    const minFree = s.minFreeBytes ?? UPLOAD_DEFAULTS.minFreeBytes;
    // no statfs here (it fails): the budget alone applies
    const free = await statfs(s.tmpDir).then(
      (st) => Number(st.bavail) * Number(st.bsize),
      () => undefined,
    );
    // Stryker disable next-line ConditionalExpression: 'free !== undefined' → true is equivalent (undefined - more < minFree is false); the others were killed in the last run
    if (free !== undefined && free - more < minFree) {
      throw new ArchiveError('no_space', 'the upload spool of this replica is out of disk space; try again later', 'insufficient_storage');
    }
  }

  /** Accounts spool bytes written by an upload against its own limit and the replica's budget. */
  private diskAccount(h: Running): (bytes: number) => Promise<void> {
    const s = this.deps.settings;
    const perUpload = s.maxDiskBytes ?? UPLOAD_DEFAULTS.maxDiskBytes;
    const budget = s.diskBudgetBytes ?? UPLOAD_DEFAULTS.diskBudgetBytes;
    let sinceCheck = 0;
    return async (bytes) => {
      h.diskBytes += bytes;
      if (h.diskBytes > perUpload) {
        throw new ArchiveError('too_large', `the archive needs more than ${perUpload} bytes of spool space (the per-upload disk limit)`);
      }
      const used = [...this.running].reduce((n, x) => n + x.diskBytes, 0);
      if (used > budget) {
        throw new ArchiveError('no_space', `this replica's upload disk budget (${budget} bytes) is used up by running uploads; try again later`, 'insufficient_storage');
      }
      sinceCheck += bytes;
      if (sinceCheck >= 64 * 1024 * 1024) {
        sinceCheck = 0;
        await this.checkDisk(0);
      }
    };
  }

  /**
   * Runs a started upload to the end; the record ends succeeded (returned) or failed (the error is thrown). The
   * body may be given as a function (a multipart parser that can throw when set up): whatever throws, the
   * upload is settled and its slot freed. Every step watches `handle.signal`.
   */
  async run(handle: UploadHandle, body: AsyncIterable<Buffer> | (() => AsyncIterable<Buffer>), overrides: () => Overrides): Promise<UploadRecord> {
    const h = handle as Running;
    const rec = h.record;
    const s = this.deps.settings;
    const signal = h.signal;
    let spool: Spool | undefined;
    try {
      if (h.settled) throw new AppError('internal', 'upload already ended');
      signal.throwIfAborted();
      const source = typeof body === 'function' ? body() : body;
      spool = await Spool.create({
        tmpDir: s.tmpDir,
        compress: s.compressLayers,
        gzipLevel: s.gzipLevel,
        parallel: Math.max(2, availableParallelism()),
        maxExpandedBytes: s.maxExpandedBytes,
        maxOtherEntryBytes: s.maxOtherEntryBytes ?? UPLOAD_DEFAULTS.maxOtherEntryBytes,
        stager: this.stager(rec.workspace, overrides),
        signal,
        account: this.diskAccount(h),
      });
      const sp = spool;
      const stream = await this.decoded(this.counted(source, rec, signal), rec);
      await readTar(stream, (entry, chunks) => sp.add(entry, chunks), {
        maxEntries: s.maxEntries ?? UPLOAD_DEFAULTS.maxEntries,
        maxMetadataBytes: s.maxMetadataBytes ?? UPLOAD_DEFAULTS.maxMetadataBytes,
      });
      signal.throwIfAborted();

      const received = Date.now();
      rec.state = 'verifying';
      await this.progress.save(rec, true);
      const plans = await planUpload(spool, rec.workspace, overrides(), s.compressLayers);
      rec.format = spool.has('manifest.json') ? 'docker-save' : 'oci';
      signal.throwIfAborted();

      rec.state = 'pushing';
      const pushing = Date.now();
      await this.push(plans, h, spool);
      const timings = { receive_ms: received - Date.parse(rec.createdAt), verify_ms: pushing - received, push_ms: Date.now() - pushing };

      rec.state = 'succeeded';
      rec.finishedAt = new Date().toISOString();
      await this.progress.save(rec, true);
      this.deps.metrics.uploadsFinished.inc({ result: 'succeeded', reason: '' });
      this.deps.logger.info('upload finished', { upload: rec.id, workspace: rec.workspace, images: rec.images.map((i) => `${i.repository}:${i.tag}`), bytes: rec.bytesReceived, ...timings });
      await this.settle(h, undefined);
      await this.deps.invalidate(rec.workspace, [...new Set(rec.images.map((i) => i.repository))]).catch((e) => this.deps.logger.warn('cache invalidation after an upload failed', { error: e }));
      return rec;
    } catch (e) {
      // an abort surfaces as whatever broke first (a destroyed stream, a cut-off request): report the abort's reason
      const reason: unknown = !h.settled && signal.aborted ? signal.reason : undefined;
      const err = reason instanceof AppError ? reason : e instanceof AppError ? e : new AppError('internal', 'internal server error', { cause: e });
      if (spool) await this.removeSpool(spool);
      await this.settle(h, err);
      throw err;
    } finally {
      if (spool) await this.removeSpool(spool);
      // Stryker disable next-line StringLiteral: equivalent, a safety net: when finally runs the try or the catch has settled the upload already, so this error is never recorded
      await this.settle(h, new AppError('internal', 'upload ended without a result'));
    }
  }

  private async removeSpool(spool: Spool): Promise<void> {
    await spool.cleanup().catch((e) => this.deps.logger.error('could not remove an upload spool directory', { dir: spool.dir, error: e }));
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

  /**
   * Counts received bytes (progress, metrics) and cuts the body off at the limit. Each read also ends when the
   * upload is aborted (client gone, shutdown) or the body stays silent for the idle timeout — a parser waiting
   * for bytes that will never come (a multipart body whose connection died) cannot hold the upload.
   */
  private async *counted(body: AsyncIterable<Buffer>, rec: UploadRecord, signal: AbortSignal): AsyncGenerator<Buffer> {
    const max = this.deps.settings.maxBytes;
    const idleMs = this.deps.settings.idleTimeoutMs ?? UPLOAD_DEFAULTS.idleTimeoutMs;
    const it = body[Symbol.asyncIterator]();
    for (;;) {
      let r: IteratorResult<Buffer>;
      try {
        r = await raceAbort(it.next(), signal, idleMs, () => new ArchiveError('idle_timeout', `the upload sent nothing for ${Math.round(idleMs / 1000)} s and was stopped`, 'timeout'));
      } catch (e) {
        // Stryker disable next-line ConditionalExpression: 'false' is equivalent (run() reports signal.reason whenever the signal is aborted, whatever error surfaces); 'true' was killed in the last run
        if (signal.aborted) throw signal.reason;
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
        // Stryker disable next-line BooleanLiteral: equivalent, the body is counted(), an async generator that answers done again when asked after its end
        ended = true;
        break;
      }
      head.push(r.value);
      len += r.value.length;
    }
    const first = Buffer.concat(head);
    const replay = (async function* () {
      // Stryker disable next-line ConditionalExpression: 'true' is equivalent (an empty head means the body ended with no bytes, and an empty chunk before the end reads as the end); 'false' was killed in the last run
      if (first.length) yield first;
      // Stryker disable next-line ConditionalExpression: 'true' is equivalent (the body is counted(), an async generator that answers done again when asked after its end); 'false' was killed in the last run
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

  private async push(plans: ImagePlan[], h: Running, spool: Spool): Promise<void> {
    const rec = h.record;
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
    await this.checkPolicies(plans, h, rows);
    try {
      await this.pushContent(plans, h, spool, rows);
    } catch (e) {
      throw await this.translateRefusal(e, h, plans);
    }
  }

  /**
   * Immutable versions and the storage quota, before a byte is pushed: a version a rule protects that exists
   * already → 409 naming the rule; more new bytes (blobs the workspace lacks + manifests) than the quota leaves →
   * 413 naming the workspace, the limit and the usage. Harbor enforces both again at every blob, manifest and tag.
   */
  private async checkPolicies(plans: ImagePlan[], h: Running, rows: Map<string, { plan: ImagePlan; blob: ImagePlan['blobs'][number] }>): Promise<void> {
    const policies = this.deps.policies;
    if (!policies) return;
    const ws = h.record.workspace;
    await policies.checkImmutable(ws, plans.flatMap((plan) => plan.tags.map((tag) => ({ repository: plan.repository, tag }))));
    const pid = await this.projectIdOf(h);
    if (pid === undefined) return;
    await policies.checkQuota(ws, pid, () => this.newBytes(plans, rows));
  }

  /** Bytes the push adds to the workspace: distinct blobs it does not hold yet (streamed ones already count) + manifests. */
  private async newBytes(plans: ImagePlan[], rows: Map<string, { plan: ImagePlan; blob: ImagePlan['blobs'][number] }>): Promise<number> {
    const seen = new Set<string>();
    let bytes = 0;
    for (const { plan, blob } of rows.values()) {
      if (seen.has(blob.digest) || blob.file.staged?.digest === blob.digest) continue;
      seen.add(blob.digest);
      if (!(await this.deps.registry.blobExists(plan.repository, blob.digest))) bytes += blob.size;
    }
    for (const plan of plans) {
      for (const m of plan.manifests) {
        if (seen.has(m.digest)) continue;
        seen.add(m.digest);
        bytes += m.body.length;
      }
    }
    return bytes;
  }

  private async projectIdOf(h: Running): Promise<number | undefined> {
    return h.harborProjectId ?? (await this.deps.harbor.findProject(h.record.workspace))?.project_id;
  }

  /** Harbor's own refusals mid-push (a concurrent push filled the quota, a rule was added) in the upload's words. */
  private async translateRefusal(e: unknown, h: Running, plans: ImagePlan[]): Promise<unknown> {
    const policies = this.deps.policies;
    if (!policies || !(e instanceof AppError)) return e;
    const ws = h.record.workspace;
    if (e.upstreamStatus === 403 && /upper limit/.test(e.message)) {
      const pid = await this.projectIdOf(h).catch(() => undefined);
      return pid === undefined ? e : policies.quotaRefusal(ws, pid, e.message);
    }
    if (e.upstreamStatus === 412 && /immutable/.test(e.message)) {
      const m = /'([^']+):([^':]+)' configured as immutable/.exec(e.message);
      const plan = m ? plans.find((x) => x.repository === `${ws}/${m[1]}`) : undefined;
      if (!plan || !m) return e;
      const err = await policies.immutableRefusalFor(ws, plan.repository, m[2]);
      // a rule added while this upload was tagging: say which tags were already moved
      const done = h.record.images.map((i) => `${i.repository.slice(ws.length + 1)}:${i.tag}`);
      if (done.length) err.message = err.message.replace('; nothing was tagged', `; tagged before the refusal: ${done.join(', ')}`);
      return err;
    }
    return e;
  }

  private async pushContent(plans: ImagePlan[], h: Running, spool: Spool, rows: Map<string, { row: LayerProgress; plan: ImagePlan; blob: ImagePlan['blobs'][number] }>): Promise<void> {
    const { registry } = this.deps;
    const rec = h.record;
    const signal = h.signal;

    const queue = [...rows.values()];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        signal.throwIfAborted();
        const { row, plan, blob } = next;
        const staged = blob.file.staged?.digest === blob.digest ? blob.file.staged.repository : undefined;
        if (await registry.blobExists(plan.repository, blob.digest)) {
          row.state = staged === plan.repository ? 'uploaded' : 'skipped';
          if (row.state === 'uploaded') row.bytesSent = blob.size;
          await this.progress.save(rec, true);
          continue;
        }
        signal.throwIfAborted();
        // Stryker disable next-line ArrowFunction: equivalent, undefined is as falsy as false
        if (staged && (await registry.mountBlob(plan.repository, blob.digest, staged).catch(() => false))) {
          row.state = 'uploaded';
          row.bytesSent = blob.size;
          await this.progress.save(rec, true);
          continue;
        }
        signal.throwIfAborted();
        row.state = 'uploading';
        await this.progress.save(rec, true);
        await registry.pushBlob(plan.repository, {
          digest: blob.digest,
          size: blob.size,
          // an abort destroys the stream being sent, which ends the registry request (no retry: not a network error)
          open: () => abortable(spool.open(blob.file), signal),
          signal,
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
    await this.recheckOwnership(h);
    for (const plan of plans) {
      for (const m of plan.manifests) {
        signal.throwIfAborted();
        const digest = await registry.putManifest(plan.repository, m.digest, m.mediaType, m.body);
        if (digest && digest !== m.digest) throw new AppError('upstream_unavailable', `registry stored manifest ${m.digest} as ${digest}`);
      }
    }
    // ... then the tags (an existing tag is moved: the manual's "overwrite")
    await this.recheckOwnership(h);
    for (const plan of plans) {
      const top = plan.manifests[plan.manifests.length - 1];
      for (const tag of plan.tags) {
        signal.throwIfAborted();
        await registry.putManifest(plan.repository, tag, top.mediaType, top.body);
        rec.images.push({ repository: plan.repository, tag, digest: top.digest, mediaType: top.mediaType, pullAddress: `${this.deps.registryHost}/${plan.repository}:${tag}` });
      }
    }
  }

  /** Progress for the uploader, members of the workspace's project and cloud admins; 404 for anyone else. */
  async get(p: Principal, id: string): Promise<UploadRecord> {
    const rec = UPLOAD_ID.test(id) || /^[0-9a-f-]{36}$/.test(id) ? await this.progress.get(id) : undefined;
    if (!rec) throw notFound(`upload "${id}"`);
    // Stryker disable next-line ConditionalExpression: 'rec.projectId !== null' → true is equivalent (project ids are strings, memberOf(p, null) is false); the others are killed (start-and-access.test.ts, applied by hand, and the last run)
    const allowed = p.isCloudAdmin || p.userId === rec.userId || (rec.projectId !== null && memberOf(p, rec.projectId));
    if (!allowed) throw notFound(`upload "${id}"`);
    return rec;
  }
}

/** Settles with `p`, or rejects with the signal's reason on abort, or with `idle()` after `idleMs` of waiting. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal, idleMs: number, idle: () => Error): Promise<T> {
  if (signal.aborted) {
    // the read lost the race before it began; its own failure (a request cut off: 'aborted') must not go unhandled
    p.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => done(() => reject(signal.reason as Error));
    const timer = idleMs > 0 ? setTimeout(() => done(() => reject(idle())), idleMs) : undefined;
    const done = (f: () => void) => {
      // Stryker disable next-line ConditionalExpression: 'true' is equivalent (clearTimeout(undefined) does nothing); 'false' is killed by body-reading.test.ts (no idle timer left), applied by hand
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      f();
    };
    // Stryker disable next-line ObjectLiteral,BooleanLiteral: equivalent, a signal fires 'abort' once and done() removes the listener on every path
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => done(() => resolve(v)),
      (e: unknown) => done(() => reject(e as Error)),
    );
  });
}

/** The stream, destroyed with the signal's reason when the upload is aborted. */
function abortable(stream: Readable, signal: AbortSignal): Readable {
  const onAbort = () => stream.destroy(signal.reason as Error);
  if (signal.aborted) onAbort();
  else {
    // Stryker disable next-line ObjectLiteral,BooleanLiteral: equivalent, a signal fires 'abort' once and the listener is removed on 'close' either way
    signal.addEventListener('abort', onAbort, { once: true });
    stream.once('close', () => signal.removeEventListener('abort', onAbort));
  }
  return stream;
}
