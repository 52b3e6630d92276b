import { AppError, conflict, forbidden, invalid, notFound } from './errors';
import type { Principal } from './principal';
import type { Coordination } from '../ports/coordination';
import type { HarborGcPort, HarborGcRun } from '../ports/harbor';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';

/**
 * Garbage collection over Harbor's GC jobs. Platform-wide in Harbor, so: cloud admins only (a setting lets
 * members start and watch it too). hubgate refuses a second start while one runs (Harbor itself would accept it
 * and queue a second job, recordings 187–188). Freed space comes from Harbor's job log ("The GC job actual frees
 * up N MB space."): whole megabytes, as Harbor writes them.
 */
export type GcStatus = 'Pending' | 'Running' | 'Success' | 'Error' | 'Stopped';
export const GC_STATUSES: GcStatus[] = ['Pending', 'Running', 'Success', 'Error', 'Stopped'];
const ACTIVE = new Set(['Pending', 'Running', 'Scheduled']);
const MB = 1024 * 1024;

export interface GcLogSummary {
  /** Bytes freed (real run) or that could be freed (dry run); whole MB as Harbor logs it, so a lower bound. */
  freedBytes: number | null;
  blobs: number | null;
  manifests: number | null;
}

export interface GcRun {
  id: number;
  status: string;
  dryRun: boolean;
  deleteUntagged: boolean;
  trigger: 'manual' | 'schedule';
  /** Harbor's safety window for this run in hours: only what was deleted before `startedAt - window` is collected. */
  safetyWindowHours: number;
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface GcRunDetail extends GcRun {
  /** Present once the run has finished and its log could be read. */
  result: (GcLogSummary & { kind: 'freed' | 'would_free' }) | null;
  note: string;
}

export interface GcDeps {
  harbor: HarborGcPort;
  coordination: Coordination;
  logger: Logger;
  metrics?: Metrics;
  /** Let members (not only cloud admins) start GC and see its runs. */
  allowMembers: boolean;
  /** Harbor's GC window when a run does not report it (stock Harbor: GC_TIME_WINDOW_HOURS unset = 2). */
  defaultWindowHours: number;
  /** Workspaces a principal may see, to hide other projects' repository names in logs shown to members. */
  visibleWorkspaces?: (p: Principal) => Promise<Set<string>>;
}

export function gcWindowNote(hours: number): string {
  if (hours <= 0) return 'This Harbor collects deleted images at once (no safety window).';
  return (
    `Harbor only collects what was deleted more than ${hours} hour${hours === 1 ? '' : 's'} before the garbage collection starts ` +
    '(its safety window for pushes in progress). Images deleted more recently stay on disk until a later run: a run that ' +
    'frees nothing right after a delete has not failed.'
  );
}

/** Freed (or, for a dry run, collectable) space and counts from Harbor 2.5.5's GC job log. */
export function parseGcLog(log: string): GcLogSummary & { kind: 'freed' | 'would_free' | null } {
  const freed = /The GC job actual frees up (\d+) MB space/.exec(log);
  const could = /The GC could free up (\d+) MB space/.exec(log);
  const deleted = /(\d+) blobs and (\d+) manifests are actually deleted/.exec(log);
  const eligible = /(\d+) blobs and (\d+) manifests eligible for deletion/.exec(log);
  if (freed || deleted) {
    return {
      kind: 'freed',
      freedBytes: freed ? Number(freed[1]) * MB : null,
      blobs: deleted ? Number(deleted[1]) : null,
      manifests: deleted ? Number(deleted[2]) : null,
    };
  }
  if (could || eligible) {
    return {
      kind: 'would_free',
      freedBytes: could ? Number(could[1]) * MB : null,
      blobs: eligible ? Number(eligible[1]) : null,
      manifests: eligible ? Number(eligible[2]) : null,
    };
  }
  return { kind: null, freedBytes: null, blobs: null, manifests: null };
}

/** Only the parameters users need; `job_parameters` also carries Harbor's internal Redis URL, never shown. */
function parameters(run: HarborGcRun): { dryRun: boolean; deleteUntagged: boolean; windowHours?: number } {
  try {
    const p = JSON.parse(run.job_parameters ?? '{}') as { dry_run?: unknown; delete_untagged?: unknown; time_window?: unknown };
    return {
      dryRun: p.dry_run === true,
      deleteUntagged: p.delete_untagged === true,
      windowHours: typeof p.time_window === 'number' && p.time_window >= 0 ? p.time_window : undefined,
    };
  } catch {
    return { dryRun: false, deleteUntagged: false };
  }
}

/**
 * Every place Harbor 2.5.5's GC job (jobservice/job/impl/gc) writes a repository name into its log: the trash
 * candidates (`RepositoryName-…`), the untagged-artifact deletion (`RepositoryName(…)`), the manifest deletion and
 * its three failure lines, the trash-record deletion, and registry URLs quoted inside error texts (`/v2/<repo>/…`).
 */
const LOG_REPOSITORY = [
  /(RepositoryName-)(\S+)/g,
  /(RepositoryName\()([^)\s]+)/g,
  /(delete the manifest with registry v2 API: )([^,\s]+)/g,
  /(failed to delete manifest with v2 API, )([^,\s]+)/g,
  /(failed to remove manifest from storage: )([^,\s]+)/g,
  /(DeleteManifest\(\) error out: )([^,\s]+)/g,
  /(delete artifact trash record from database: \d+, )([^,\s]+)/g,
  /(\/v2\/)([a-z0-9._-]+(?:\/[a-z0-9._-]+)*?)(?=\/(?:manifests|blobs|tags)\/)/g,
];

export class GcService {
  constructor(private readonly deps: GcDeps) {}

  private mayUse(p: Principal): boolean {
    return p.isCloudAdmin || (this.deps.allowMembers && p.projects.length > 0);
  }

  private require(p: Principal): void {
    if (!this.mayUse(p)) throw forbidden('garbage collection is platform-wide: cloud administrators only');
  }

  private view(run: HarborGcRun): GcRun {
    const params = parameters(run);
    const finished = !ACTIVE.has(run.job_status);
    return {
      id: run.id,
      status: run.job_status,
      dryRun: params.dryRun,
      deleteUntagged: params.deleteUntagged,
      trigger: run.job_kind === 'MANUAL' || run.schedule?.type === 'Manual' ? 'manual' : 'schedule',
      safetyWindowHours: params.windowHours ?? this.deps.defaultWindowHours,
      startedAt: run.creation_time,
      updatedAt: run.update_time,
      finishedAt: finished ? run.update_time : null,
    };
  }

  /** Starts a GC unless one is running (409). Serialised across replicas so two starts cannot both pass the check. */
  async start(p: Principal, opts: { dryRun: boolean; deleteUntagged: boolean }): Promise<GcRunDetail> {
    this.require(p);
    const id = await this.deps.coordination.withLock(
      'gc:start',
      async () => {
        const running = await this.active();
        if (running) throw conflict(`garbage collection ${running.id} is still ${running.job_status.toLowerCase()}; wait for it to finish`);
        return this.deps.harbor.startGc(opts);
      },
      { waitMs: 5_000 },
    );
    this.deps.logger.info('garbage collection started', { gc_id: id, dry_run: opts.dryRun, user: p.userId });
    // Stryker disable next-line ArrowFunction: equivalent, undefined and null both mean "Harbor does not show it yet" below
    const run = await this.deps.harbor.getGc(id).catch(() => null);
    const base: GcRun = run
      ? this.view(run)
      : {
          id,
          status: 'Pending',
          dryRun: opts.dryRun,
          deleteUntagged: opts.deleteUntagged,
          trigger: 'manual',
          safetyWindowHours: this.deps.defaultWindowHours,
          startedAt: new Date().toISOString(),
          updatedAt: new Date().toISOString(),
          finishedAt: null,
        };
    void this.refreshMetrics().catch(() => undefined);
    return { ...base, result: null, note: gcWindowNote(base.safetyWindowHours) };
  }

  /** The newest run that has not finished, if any (Harbor lists newest first). */
  private async active(): Promise<HarborGcRun | undefined> {
    const { items } = await this.deps.harbor.listGcHistory(1, 20);
    return items.find((r) => ACTIVE.has(r.job_status));
  }

  async history(p: Principal, page: number, pageSize: number): Promise<{ items: GcRun[]; total: number; page: number; pageSize: number; running: boolean; note: string }> {
    this.require(p);
    if (pageSize > 100) throw invalid('page_size must be at most 100');
    const res = await this.deps.harbor.listGcHistory(page, pageSize);
    const items = res.items.map((r) => this.view(r));
    if (page === 1) void this.setMetrics(res.items[0]).catch(() => undefined);
    const window = items[0]?.safetyWindowHours ?? this.deps.defaultWindowHours;
    return { items, total: res.total, page, pageSize, running: items.some((r) => r.finishedAt === null), note: gcWindowNote(window) };
  }

  async get(p: Principal, id: number): Promise<GcRunDetail> {
    this.require(p);
    const run = await this.deps.harbor.getGc(id);
    if (!run) throw notFound(`garbage collection ${id}`);
    const v = this.view(run);
    let result: GcRunDetail['result'] = null;
    if (v.finishedAt !== null) {
      const log = await this.deps.harbor.getGcLog(id).catch((e: unknown) => {
        this.deps.logger.warn('could not read a GC log', { gc_id: id, error: e });
        return null;
      });
      const parsed = parseGcLog(log ?? '');
      if (parsed.kind) result = { kind: parsed.kind, freedBytes: parsed.freedBytes, blobs: parsed.blobs, manifests: parsed.manifests };
    }
    return { ...v, result, note: gcWindowNote(v.safetyWindowHours) };
  }

  /** Harbor's log, as text. Members (when allowed) see other projects' repository names masked. */
  async log(p: Principal, id: number): Promise<string> {
    this.require(p);
    const log = await this.deps.harbor.getGcLog(id);
    if (log === null) throw notFound(`garbage collection ${id}`);
    if (p.isCloudAdmin || !this.deps.visibleWorkspaces) return p.isCloudAdmin ? log : maskAll(log);
    const visible = await this.deps.visibleWorkspaces(p);
    return LOG_REPOSITORY.reduce(
      (text, re) => text.replace(re, (_m, prefix: string, repo: string) => `${prefix}${visible.has(repo.split('/')[0]) ? repo : '<hidden>'}`),
      log,
    );
  }

  /** Sets the hubgate_gc_last_* gauges from the newest run (and its log once finished). */
  async refreshMetrics(): Promise<void> {
    const { items } = await this.deps.harbor.listGcHistory(1, 1);
    await this.setMetrics(items[0]);
  }

  private lastFreedFor?: number;

  private async setMetrics(run: HarborGcRun | undefined): Promise<void> {
    const m = this.deps.metrics;
    if (!m || !run) return;
    const started = Date.parse(run.creation_time);
    if (Number.isFinite(started)) m.gcLastRunTimestamp.set(started / 1000);
    for (const s of GC_STATUSES) m.gcLastStatus.set({ status: s }, run.job_status === s ? 1 : 0);
    const params = parameters(run);
    if (run.job_status === 'Success') {
      const ended = Date.parse(run.update_time);
      if (Number.isFinite(ended)) m.gcLastSuccessTimestamp.set(ended / 1000);
      if (!params.dryRun && this.lastFreedFor !== run.id) {
        // Stryker disable next-line ArrowFunction: equivalent, a log that cannot be read is the empty log either way
        const parsed = parseGcLog((await this.deps.harbor.getGcLog(run.id).catch(() => null)) ?? '');
        if (parsed.kind === 'freed' && parsed.freedBytes !== null) {
          m.gcLastFreedBytes.set(parsed.freedBytes);
          this.lastFreedFor = run.id;
        }
      }
    }
  }

  private timer?: NodeJS.Timeout;

  /** Polls the newest GC run for the gauges every `intervalMs`. */
  startMonitor(intervalMs: number): void {
    const tick = () =>
      void this.refreshMetrics().catch((e: unknown) => {
        if (!(e instanceof AppError && e.kind === 'upstream_misconfigured')) this.deps.logger.debug('GC metrics poll failed', { error: e });
      });
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  stopMonitor(): void {
    clearInterval(this.timer);
  }
}

function maskAll(log: string): string {
  return LOG_REPOSITORY.reduce((text, re) => text.replace(re, (_m, prefix: string) => `${prefix}<hidden>`), log);
}
