import type { ChangeFeed } from '../ports/changes';
import { mapLimit } from './concurrency';
import type { HarborArtifact, HarborContentPort, HarborPort, HarborRepository } from '../ports/harbor';
import type { Logger } from '../observability/logger';

/**
 * The image catalogue: every repository on the platform, kept in each replica so that list pages need no Harbor
 * call, and kept current at a cost that grows with what changed, not with what exists.
 *
 * Two levels:
 *
 * 1. **Repositories** (id, name, project, pull count, artifact count, update time) — all of them, from Harbor's
 *    platform-wide `GET /repositories` (in repository-id ranges of ~1,000 answered whole, in parallel; see walk()) once per replica start. After that:
 *    - **per-image changes seen by hubgate** (every manifest PUT/DELETE through the registry front, console
 *      uploads, image and version deletes, description edits) are published on a change feed shared by all
 *      replicas (Redis; src/ports/changes.ts). Every list first reads the feed (one Redis round trip) and re-reads
 *      just those repositories (`GET /projects/{p}/repositories/{r}`, one call each) — so such a change shows in
 *      the very next list on every replica;
 *    - **changes made directly in Harbor** — pushes that bypass hubgate, pulls (pull counts), deletes in Harbor's
 *      UI — are picked up by a **delta sync** at most every `syncSeconds`: `GET /repositories?q=update_time=[t~]
 *      &sort=-update_time` for the repositories updated since the newest update time seen (minus an overlap
 *      for clock steps and late commits), plus the platform's repository count (`page_size=1`). Only when the
 *      count disagrees with the catalogue (a repository deleted in Harbor) are the projects' `repo_count`s
 *      compared, and just the projects that differ are listed again.
 * 2. **Stats** (version count, size, latest push) — one artifact listing per repository. Fetched for the rows of
 *    the page being answered when missing, and for the others by a background fill with few calls in flight.
 *    A stat stays valid while the repository's artifact count is unchanged and hubgate saw no change to it, for
 *    at most `statsMaxAgeSeconds` (so a tag added or removed directly in Harbor on an artifact that was already
 *    there — which changes neither artifact count nor update time — shows after at most that long).
 *
 * Harbor calls: steady state (no changes) ≤ 2 per `syncSeconds` per replica, plus the stats re-verification
 * (images / statsMaxAgeSeconds per second); a write costs 1 call per replica (the repository) plus the stats of
 * that image when it is next shown (1 call per 100 artifacts). Never a full walk per write.
 */
export interface CatalogRepo {
  id: number;
  projectId: number;
  /** Full name `workspace/image`. */
  name: string;
  /** Name inside the workspace. */
  image: string;
  pullCount: number;
  artifactCount: number;
  updateTime: string;
}

export interface RepoStats {
  versionCount: number;
  sizeBytes: number;
  latestPushAt: string | null;
}

export type SyncKind = 'full' | 'resync' | 'delta' | 'reconcile' | 'image';

export interface CatalogDeps {
  harbor: HarborPort & HarborContentPort;
  /** Changed repository names (`workspace/image`), shared by every replica; `*` means everything. */
  feed: ChangeFeed;
  logger: Logger;
  /** Longest time a list is answered without asking Harbor what changed (bounds staleness of changes made outside hubgate). 0 = ask before every list. */
  syncSeconds: number;
  /**
   * Every this often the whole repository list is read again in the background (0 = never). Harbor 2.5.5 changes
   * a repository's update time on creation, pulls and description edits only — not when an artifact is pushed to
   * or deleted from an existing repository — so this bounds how long such a change made directly in Harbor
   * (bypassing hubgate's registry front) takes to show in artifact counts.
   */
  fullSyncSeconds: number;
  /** Longest time the stats of one image are kept without re-reading them (0 = until a change is seen). */
  statsMaxAgeSeconds: number;
  /** Harbor calls in flight at once while building or answering a page. */
  concurrency: number;
  /** Harbor calls in flight at once for the background stats fill. */
  fillConcurrency: number;
  /** Repository ids per request of the walk (one id range answered whole); default 1,000. */
  walkRangeRows?: number;
  /** Update times this much older than the newest one seen are asked for again (late commits, clock steps). Default 10. */
  overlapSeconds?: number;
  /**
   * Called after every batch of the stats fill of a catalogue of at least `compactMinRows` rows (default 10,000),
   * so that the runtime can collect the fill's garbage before V8 would (src/runtime.ts collectGarbageIfGrown).
   */
  compact?: () => void;
  compactMinRows?: number;
  /** Counts syncs and the repositories they touched (metrics). */
  onSync?: (kind: SyncKind, repositories: number) => void;
  now?: () => number;
}

const PAGE = 100;
/** 200,000 repositories at 100 per page; a guard against totals that never add up. */
const MAX_PAGES = 2_000;
/** Repository ids per request of the catalogue walk (one id range, answered whole). */
const WALK_RANGE_ROWS = 1_000;
/** Up to this many changed rows are placed into the sorted orders one by one (binary search and splice). */
const SPLICE_LIMIT = 32;
/** Index of the first row not before `r` in `rows` (sorted by `compare`). */
function lowerBound(rows: readonly CatalogRepo[], r: CatalogRepo, compare: Comparator): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(rows[mid], r) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
/** Pages ending within this many rows of an order not remembered yet are selected without sorting (see select()). */
const SELECT_LIMIT = 1_000;
/** Changed rows merged into the sorted orders in place; more than this and they are sorted again. */
const PATCH_LIMIT = 5_000;
/** A delta sync starts in the background once this share of `syncSeconds` has passed since the last one. */
const REFRESH_AHEAD = 0.5;
/** Catalogues smaller than this never call CatalogDeps.compact. */
const COMPACT_MIN_ROWS = 10_000;
/** Repositories the background fill takes at a time. */
const FILL_BATCH = 200;
/** After a failed background fill, wait this long before trying again. */
const FILL_BACKOFF_MS = 5_000;

export const toCatalogRepo = (r: HarborRepository): CatalogRepo => ({
  id: r.id,
  projectId: r.project_id,
  name: r.name,
  image: r.name.slice(r.name.indexOf('/') + 1),
  pullCount: r.pull_count ?? 0,
  artifactCount: r.artifact_count ?? 0,
  updateTime: r.update_time,
});

/** Version count, size and latest push of one repository from its artifacts (tags are the versions). */
export function statsOf(artifacts: HarborArtifact[]): RepoStats {
  let versionCount = 0;
  let sizeBytes = 0;
  let latest = 0;
  const seen = new Set<string>();
  for (const a of artifacts) {
    if (!seen.has(a.digest)) {
      seen.add(a.digest);
      sizeBytes += a.size ?? 0;
    }
    versionCount += a.tags?.length ?? 0;
    // Stryker disable next-line ArrayDeclaration: equivalent, the stand-in for a tagless artifact's tags has no push times, which count as 0 (the line's ConditionalExpression mutants are killed by catalog.rules, planted)
    latest = Math.max(latest, Date.parse(a.push_time) || 0, ...(a.tags ?? []).map((t) => Date.parse(t.push_time) || 0));
  }
  return { versionCount, sizeBytes, latestPushAt: latest > 0 ? new Date(latest).toISOString() : null };
}

/** Harbor's `q` range bound for times: whole seconds, UTC, no zone (what Harbor 2.5.5 parses as a time). */
export const harborQueryTime = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19);

type Comparator = (a: CatalogRepo, b: CatalogRepo) => number;

/** One image's stats as kept (flat, the push time as a number: 100,000 of them at scale). */
interface StatsEntry {
  versionCount: number;
  sizeBytes: number;
  /** ms since the epoch; 0 = none. */
  latestPushMs: number;
  artifactCount: number;
  expiresAt: number;
}

export class ImageCatalog {
  private readonly repos = new Map<number, CatalogRepo>();
  /** Id by full name; built on first use after a build (not on the path of a replica's first list). */
  private readonly idByName = new Map<string, number>();
  // Stryker disable next-line BooleanLiteral: equivalent, build() runs before any name lookup and sets it false
  private namesIndexed = false;
  private loaded = false;
  /** Newest update time seen by a build or delta sync (Harbor's clock, ms); after a build, worked out at the first delta sync. */
  private watermark?: number;
  private lastBuildMs = 0;
  // Stryker disable next-line UnaryOperator: equivalent, build() sets it before it is first read
  private syncedAt = -Infinity;
  // Stryker disable next-line UnaryOperator: equivalent, build() sets it before it is first read
  private fullAt = -Infinity;
  private resyncing = false;
  /** Row clock: when each row was last written (a background re-walk does not overwrite newer rows). */
  private rowTick = 0;
  private readonly rowAt = new Map<number, number>();
  private cursor?: string;
  private readonly dirty = new Set<string>();
  // Stryker disable next-line BooleanLiteral: equivalent, an empty catalogue builds at its first refresh, which clears the flag
  private rebuild = false;
  private forceDelta = false;
  private readonly sorted = new Map<string, { compare: Comparator; rows: CatalogRepo[] }>();
  /** The row each changed id had before its first change since the last patchSorted (to find it in the orders). */
  private readonly before = new Map<number, CatalogRepo>();

  private readonly stats = new Map<number, StatsEntry>();
  /** Repositories whose stats are missing or stale, for the background fill. */
  private readonly needsStats = new Set<number>();
  /** Every repository of the last build (or a reset feed) still to be looked at by the fill, taken 200 at a time into needsStats. */
  private backlog?: Iterator<number>;
  /** Invalidation clock: a stats fetch that started before its repository's last invalidation is not kept. */
  private clock = 0;
  /** Bumped by every build: stats fetched before it are not kept. */
  private generation = 0;
  private readonly touched = new Map<number, number>();
  private filling = false;
  private fillPausedUntil = 0;
  private nextExpiryScan = 0;

  private running?: Promise<void>;
  private queued?: Promise<void>;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly deps: CatalogDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Stops background work (stats fill); for shutdown. */
  stop(): void {
    this.stopped = true;
  }

  /** Repositories in the catalogue now (for tests and metrics). */
  size(): number {
    return this.repos.size;
  }

  /**
   * Publishes changed repositories (`workspace/image`) to every replica, this one included (applied at its next
   * list even when the feed cannot be reached). No names: everything (every replica rebuilds from Harbor).
   */
  async invalidate(names?: string[]): Promise<void> {
    const list = names && names.length > 0 ? [...new Set(names)] : ['*'];
    this.mark(list);
    await this.deps.feed.publish(list);
  }

  private mark(names: string[]): void {
    for (const n of names) {
      if (n === '*') this.rebuild = true;
      else this.dirty.add(n);
    }
  }

  /**
   * Brings the catalogue up to date as the staleness bounds require: reads the change feed (always), re-reads the
   * repositories it names, runs a delta sync when the last one is older than `syncSeconds`, builds when empty.
   * Concurrent callers share one refresh; a caller arriving during one waits for the next.
   */
  refresh(): Promise<void> {
    if (!this.running) {
      const p = this.doRefresh().finally(() => {
        // Stryker disable next-line ConditionalExpression: equivalent, a refresh starts only when none runs, so the one ending is always the one remembered
        if (this.running === p) this.running = undefined;
      });
      this.running = p;
      return p;
    }
    if (!this.queued) {
      const q = this.running
        .catch(() => undefined)
        .then(() => {
          this.queued = undefined;
          return this.refresh();
        });
      this.queued = q;
    }
    return this.queued;
  }

  private async doRefresh(): Promise<void> {
    const read = await this.deps.feed.read(this.cursor);
    this.mark(read.names);
    if (!this.loaded || this.rebuild) {
      // Entries published from here on are applied after the build (re-reading a few is harmless).
      this.rebuild = false;
      this.dirty.clear();
      try {
        await this.build();
        this.cursor = read.cursor;
      } catch (e) {
        // Stryker disable next-line ConditionalExpression: equivalent, a catalogue never loaded builds at its next refresh anyway
        if (this.loaded) this.rebuild = true;
        throw e;
      }
      return;
    }
    this.cursor = read.cursor;
    if (read.reset) {
      // Per-image invalidations may have been missed (Redis restarted or was flushed): re-verify every stat in
      // the background and look at Harbor now.
      this.backlog = this.repos.keys();
      for (const e of this.stats.values()) e.expiresAt = 0;
      this.forceDelta = true;
    }
    if (this.dirty.size > 0) await this.applyDirty();
    const age = this.now() - this.syncedAt;
    const syncMs = this.deps.syncSeconds * 1000;
    if (this.forceDelta || age >= syncMs) {
      this.forceDelta = false;
      await this.delta();
    } else if (age >= syncMs * REFRESH_AHEAD) {
      // Under traffic the delta sync runs ahead of its deadline, in the background: lists do not wait for it.
      this.deltaAhead();
    }
    if (this.deps.fullSyncSeconds > 0 && this.now() - this.fullAt >= this.deps.fullSyncSeconds * 1000) this.resync();
  }

  private deltaRunning = false;

  private deltaAhead(): void {
    if (this.deltaRunning || this.stopped) return;
    this.deltaRunning = true;
    void this.delta()
      .catch((e: unknown) => this.deps.logger.warn('image catalogue delta sync failed; retried by the next list', { error: e }))
      .finally(() => {
        this.deltaRunning = false;
      });
  }

  /** Reads every repository again in the background and merges: rows written meanwhile stay, missing ones go. */
  private resync(): void {
    if (this.resyncing || this.stopped) return;
    this.resyncing = true;
    this.fullAt = this.now();
    const tick = this.rowTick;
    void this.walk()
      .then((list) => {
        const rows = new Map(list.map((r) => [r.id, r]));
        const changed = new Set<number>();
        for (const r of [...this.repos.values()]) {
          if (!rows.has(r.id) && (this.rowAt.get(r.id) ?? 0) <= tick) {
            this.remove(r.id);
            changed.add(r.id);
          }
        }
        for (const r of rows.values()) {
          const old = this.repos.get(r.id);
          if ((this.rowAt.get(r.id) ?? 0) > tick) continue;
          if (old && old.updateTime === r.updateTime && old.artifactCount === r.artifactCount && old.pullCount === r.pullCount) continue;
          this.upsert(r, changed);
        }
        this.patchSorted(changed);
        this.deps.onSync?.('resync', changed.size);
      })
      .catch((e: unknown) => this.deps.logger.warn('image catalogue re-walk failed; tried again at the next interval', { error: e }))
      .finally(() => {
        this.resyncing = false;
      });
  }

  /**
   * Every repository from `GET /repositories`, in repository-id ranges fetched whole and in parallel: the newest id
   * and the count first (`sort=-repository_id&page_size=1`), then ranges of about `WALK_RANGE_ROWS` ids each
   * (`q=repository_id=[a~b]&page_size=0`; the first and last open-ended, so nothing created meanwhile falls
   * outside). Ids never change, so unlike pages no row shifts from one range into another while the walk runs;
   * and Harbor neither counts the whole table nor skips an OFFSET of rows per request. A range answered with fewer
   * rows than its count is read again in pages of 100.
   */
  private async walk(): Promise<CatalogRepo[]> {
    const head = await this.deps.harbor.listRepositoriesAll({ sort: '-repository_id', page: 1, pageSize: 1 });
    if (head.items.length === 0) return [];
    const maxId = head.items[0].id;
    const parts = Math.max(1, Math.min(MAX_PAGES, Math.ceil(Math.max(head.total, 1) / (this.deps.walkRangeRows ?? WALK_RANGE_ROWS))));
    const width = Math.max(1, Math.ceil(maxId / parts));
    const ranges = Array.from({ length: parts }, (_, k): [number | undefined, number | undefined] => [
      k === 0 ? undefined : k * width + 1,
      k === parts - 1 ? undefined : (k + 1) * width,
    ]);
    // Rows straight into one flat array per range (no map keyed by id: the ranges do not overlap, and a row read
    // twice by a paged range is written twice into the catalogue's map, harmlessly).
    const got = await mapLimit(ranges, this.deps.concurrency, async ([from, to]) => {
      const reply = await this.deps.harbor.listRepositoriesInIdRange(from, to);
      let items = reply.items;
      if (items.length < reply.total) items = await this.pagedRange(from, to, reply.total);
      // Stryker disable next-line ArrayDeclaration: equivalent, every slot is written just below
      const out = new Array<CatalogRepo>(items.length);
      for (let i = 0; i < items.length; i++) out[i] = toCatalogRepo(items[i]);
      return out;
    });
    // Stryker disable next-line ConditionalExpression: equivalent, concatenating a single range gives the same rows (the test only saves a copy)
    return got.length === 1 ? got[0] : ([] as CatalogRepo[]).concat(...got);
  }

  /** One id range in pages of 100 (a Harbor that limits unpaged answers). */
  private async pagedRange(from: number | undefined, to: number | undefined, total: number): Promise<HarborRepository[]> {
    const q = `repository_id=[${from ?? ''}~${to ?? ''}]`;
    const pages = Math.min(MAX_PAGES, Math.ceil(total / PAGE));
    const got = await mapLimit(
      Array.from({ length: pages }, (_, i) => i + 1),
      this.deps.concurrency,
      (page) => this.deps.harbor.listRepositoriesAll({ q, sort: 'repository_id', page, pageSize: PAGE }).then((p) => p.items),
    );
    return got.flat();
  }

  /**
   * The repositories of the given Harbor projects, in the order of `compare` (remembered per `sortKey` and kept
   * sorted as rows change).
   */
  async repositories(projectIds: Set<number>, compare: Comparator, sortKey: string): Promise<CatalogRepo[]> {
    return (await this.page(projectIds, compare, sortKey, 0, Infinity)).rows;
  }

  /**
   * One page (`size` rows from `start`) of the repositories of the given projects that pass `keep`, in the order of
   * `compare`, and how many there are in all — without copying the others (100,000 rows per list at scale).
   */
  async page(
    projectIds: Set<number>,
    compare: Comparator,
    sortKey: string,
    start: number,
    size: number,
    keep?: (r: CatalogRepo) => boolean,
  ): Promise<{ rows: CatalogRepo[]; total: number }> {
    await this.refresh();
    let memo = this.sorted.get(sortKey);
    // Stryker disable next-line EqualityOperator: equivalent for total orders (the service's comparators end on the name): select() and a sort give the same page; they differ only in the order of rows the comparator calls equal
    if (!memo && start + size <= SELECT_LIMIT) return this.select(projectIds, compare, start, size, keep);
    if (!memo) {
      memo = { compare, rows: [...this.repos.values()].sort(compare) };
      this.sorted.set(sortKey, memo);
    }
    const rows: CatalogRepo[] = [];
    const end = start + size;
    let total = 0;
    for (const r of memo.rows) {
      if (!projectIds.has(r.projectId) || (keep && !keep(r))) continue;
      if (total >= start && total < end) rows.push(r);
      total++;
    }
    return { rows, total };
  }

  /**
   * A page near the start of an order not remembered yet (a replica's first lists): the first `start + size`
   * matching rows kept in order while counting all of them, in one pass and without sorting the catalogue
   * (100,000 rows: ~100 ms of sorting per order, on the path of a cold list). Deeper pages sort and remember.
   */
  private select(
    projectIds: Set<number>,
    compare: Comparator,
    start: number,
    size: number,
    keep?: (r: CatalogRepo) => boolean,
  ): { rows: CatalogRepo[]; total: number } {
    const k = start + size;
    const top: CatalogRepo[] = [];
    let total = 0;
    for (const r of this.repos.values()) {
      if (!projectIds.has(r.projectId) || (keep && !keep(r))) continue;
      total++;
      // Stryker disable next-line EqualityOperator: '> 0' differs only for rows the comparator calls equal (the service's orders are total, ending on the name); 'k < 0' is killed by catalog.rules (a page of no rows), planted
      if (k <= 0 || (top.length === k && compare(r, top[k - 1]) >= 0)) continue;
      top.splice(lowerBound(top, r, compare), 0, r);
      if (top.length > k) top.pop();
    }
    return { rows: top.slice(start), total };
  }

  // ── changes ─────────────────────────────────────────────────────────────────────────────────────────────

  /** Replaces the whole catalogue from `GET /repositories`; every stat is read again. */
  private async build(): Promise<void> {
    const started = this.now();
    const rows = await this.walk();
    this.repos.clear();
    this.rowAt.clear();
    this.idByName.clear();
    this.namesIndexed = false;
    this.sorted.clear();
    // A build means "anything may have changed": every stat is read again (pages on demand, the rest in the background).
    // Stryker disable next-line UpdateOperator: equivalent, generations are only compared for equality and never repeat either way
    this.generation++;
    this.stats.clear();
    this.touched.clear();
    this.needsStats.clear();
    // Only the rows themselves on the way to the first answer: the name index, the fill's queue and the newest
    // update time are worked out when first needed (100,000 rows: ~150 ms of CPU a cold list does not wait for).
    for (const r of rows) this.repos.set(r.id, r);
    this.backlog = this.repos.keys();
    this.watermark = undefined;
    this.lastBuildMs = this.now() - started;
    this.syncedAt = started;
    this.fullAt = started;
    this.loaded = true;
    this.deps.onSync?.('full', this.repos.size);
  }

  /** Re-reads the repositories named by the feed (one call each). */
  private async applyDirty(): Promise<void> {
    const names = [...this.dirty];
    this.dirty.clear();
    let got: (HarborRepository | null)[];
    try {
      got = await mapLimit(names, this.deps.concurrency, (n) => {
        const i = n.indexOf('/');
        return i > 0 ? this.deps.harbor.getRepository(n.slice(0, i), n.slice(i + 1)) : Promise.resolve(null);
      });
    } catch (e) {
      for (const n of names) this.dirty.add(n);
      throw e;
    }
    const changed = new Set<number>();
    names.forEach((name, i) => {
      const old = this.names().get(name);
      // Stryker disable next-line ConditionalExpression: equivalent, removing an id the catalogue does not hold does nothing (the extra entry in `changed` is in no order)
      if (old !== undefined) {
        this.remove(old);
        changed.add(old);
      }
      const r = got[i];
      if (r) {
        this.upsert(toCatalogRepo(r), changed); // a new row: its stats are read again
      }
    });
    this.patchSorted(changed);
    this.deps.onSync?.('image', names.length);
  }

  /** Repositories updated since the newest update time seen, and the platform-wide count. */
  private async delta(): Promise<void> {
    const started = this.now();
    // Rows written after this (per-image changes applied meanwhile) are newer than what this sync reads.
    const tick = this.rowTick;
    const overlapMs = (this.deps.overlapSeconds ?? 10) * 1000 + this.lastBuildMs;
    this.watermark ??= this.newestUpdate();
    const q = `update_time=[${harborQueryTime(Math.max(0, this.watermark - overlapMs))}~]`;
    const [count, first] = await Promise.all([
      this.deps.harbor.listRepositoriesAll({ page: 1, pageSize: 1 }),
      this.deps.harbor.listRepositoriesAll({ q, sort: '-update_time', page: 1, pageSize: PAGE }),
    ]);
    const pages = Math.min(MAX_PAGES, Math.ceil(first.total / PAGE));
    const rest = await mapLimit(
      Array.from({ length: Math.max(0, pages - 1) }, (_, i) => i + 2),
      this.deps.concurrency,
      (page) => this.deps.harbor.listRepositoriesAll({ q, sort: '-update_time', page, pageSize: PAGE }).then((p) => p.items),
    );
    const changed = new Set<number>();
    let newest = this.watermark;
    for (const h of [first.items, ...rest].flat()) {
      const r = toCatalogRepo(h);
      newest = Math.max(newest, Date.parse(r.updateTime) || 0);
      const old = this.repos.get(r.id);
      if ((this.rowAt.get(r.id) ?? 0) > tick) continue;
      if (old && old.updateTime === r.updateTime && old.artifactCount === r.artifactCount && old.pullCount === r.pullCount) continue;
      this.upsert(r, changed);
    }
    this.watermark = newest;
    this.patchSorted(changed);
    this.deps.onSync?.('delta', changed.size);
    if (this.repos.size !== count.total) await this.reconcile();
    this.syncedAt = Math.max(this.syncedAt, started);
  }

  /**
   * The catalogue's count differs from Harbor's: compares every project's `repo_count` with the catalogue and
   * lists again only the projects that differ (projects gone from Harbor lose their rows).
   */
  private async reconcile(): Promise<void> {
    const tick = this.rowTick;
    const projects = await this.deps.harbor.listAllProjects();
    const counts = new Map<number, number>();
    for (const r of this.repos.values()) counts.set(r.projectId, (counts.get(r.projectId) ?? 0) + 1);
    const known = new Set(projects.map((p) => p.project_id));
    const changed = new Set<number>();
    for (const r of [...this.repos.values()]) {
      if (!known.has(r.projectId)) {
        this.remove(r.id);
        changed.add(r.id);
      }
    }
    const differ = projects.filter((p) => (p.repo_count ?? 0) !== (counts.get(p.project_id) ?? 0));
    const lists = await mapLimit(differ, this.deps.concurrency, (p) =>
      this.deps.harbor.listAllRepositories(p.name).catch((e: unknown) => {
        if ((e as { kind?: string }).kind === 'not_found') return [];
        throw e;
      }),
    );
    const untouched = (id: number) => (this.rowAt.get(id) ?? 0) <= tick;
    differ.forEach((p, i) => {
      const keep = new Set(lists[i].map((r) => r.id));
      for (const r of [...this.repos.values()]) {
        if (r.projectId === p.project_id && !keep.has(r.id) && untouched(r.id)) {
          this.remove(r.id);
          changed.add(r.id);
        }
      }
      for (const h of lists[i]) if (untouched(h.id)) this.upsert(toCatalogRepo(h), changed);
    });
    this.patchSorted(changed);
    this.deps.onSync?.('reconcile', differ.length);
  }

  private names(): Map<string, number> {
    // Stryker disable next-line ConditionalExpression: equivalent, indexing the rows again gives the same index (every write keeps it exact)
    if (!this.namesIndexed) {
      for (const r of this.repos.values()) this.idByName.set(r.name, r.id);
      this.namesIndexed = true;
    }
    return this.idByName;
  }

  /** Newest update time of the catalogue's rows (ms). */
  private newestUpdate(): number {
    let newest = 0;
    for (const r of this.repos.values()) newest = Math.max(newest, Date.parse(r.updateTime) || 0);
    return newest;
  }

  private upsert(r: CatalogRepo, changed: Set<number>): void {
    const old = this.repos.get(r.id);
    if (old && !this.before.has(r.id)) this.before.set(r.id, old);
    const other = this.names().get(r.name);
    if (other !== undefined && other !== r.id) {
      this.remove(other);
      changed.add(other);
    }
    this.repos.set(r.id, r);
    this.names().set(r.name, r.id);
    this.rowAt.set(r.id, ++this.rowTick);
    changed.add(r.id);
    if (!old || old.artifactCount !== r.artifactCount) this.invalidateStats(r.id);
  }

  private remove(id: number): void {
    const r = this.repos.get(id);
    // Stryker disable next-line ConditionalExpression: equivalent, every caller passes an id the catalogue holds (taken from its rows or from its exact name index)
    if (!r) return;
    if (!this.before.has(id)) this.before.set(id, r);
    this.repos.delete(id);
    this.rowAt.set(id, ++this.rowTick);
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, the name index is exact (a removed row's name always points at it), and a name left pointing at a removed id is harmless: remove() ignores ids it does not hold
    if (this.names().get(r.name) === id) this.idByName.delete(r.name);
    this.dropStats(id);
  }

  private invalidateStats(id: number): void {
    this.stats.delete(id);
    this.touched.set(id, ++this.clock);
    this.needsStats.add(id);
  }

  // Stryker disable next-line BlockStatement: equivalent, stats of a removed row are never read: a row that comes back is new to upsert(), which invalidates them, and the fill drops ids that are gone
  private dropStats(id: number): void {
    this.stats.delete(id);
    this.touched.delete(id);
    this.needsStats.delete(id);
  }

  /**
   * Keeps every remembered order sorted: changed rows out, their current versions in. A few rows (a write seen by
   * hubgate) are found and placed by binary search; more are merged in one pass; very many: sorted again on use.
   */
  private patchSorted(changed: Set<number>): void {
    const before = new Map(this.before);
    this.before.clear();
    // Stryker disable next-line ConditionalExpression: equivalent, with nothing changed both paths below leave the orders as they are
    if (changed.size === 0) return;
    // Stryker disable next-line ConditionalExpression,EqualityOperator,BlockStatement: equivalent, sorting again on use and merging give the same orders (a cost bound only; the merge is proven by catalog.rules)
    if (changed.size > PATCH_LIMIT) {
      this.sorted.clear();
      return;
    }
    // Every order holds exactly the catalogue's rows: a changed id is in them as its `before` row, or not at all.
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, placing rows one by one and merging give the same orders (a cost bound only)
    if (changed.size <= SPLICE_LIMIT) {
      for (const memo of this.sorted.values()) {
        for (const id of changed) {
          const old = before.get(id);
          if (old) {
            const at = lowerBound(memo.rows, old, memo.compare);
            // Stryker disable next-line ConditionalExpression: equivalent, the indexOf fallback finds the same row
            if (memo.rows[at] === old) memo.rows.splice(at, 1);
            else memo.rows.splice(memo.rows.indexOf(old), 1); // not where its order says: look it up
          }
          const now = this.repos.get(id);
          if (now) memo.rows.splice(lowerBound(memo.rows, now, memo.compare), 0, now);
        }
      }
      return;
    }
    const fresh = [...changed].map((id) => this.repos.get(id)).filter((r): r is CatalogRepo => !!r);
    for (const memo of this.sorted.values()) {
      // Stryker disable next-line MethodExpression: equivalent, sorting the local `fresh` in place (completely, for each order) gives the same rows
      const add = fresh.slice().sort(memo.compare);
      // Stryker disable next-line ArrayDeclaration: equivalent, a stand-in first element has no project, so no page shows or counts it, and the service's comparators find it equal to every row
      const rows: CatalogRepo[] = [];
      let j = 0;
      for (const r of memo.rows) {
        if (changed.has(r.id)) continue;
        // Stryker disable next-line EqualityOperator: differs only in where a changed row lands among rows the comparator calls equal (the service's orders are total, ending on the name)
        while (j < add.length && memo.compare(add[j], r) < 0) rows.push(add[j++]);
        rows.push(r);
      }
      while (j < add.length) rows.push(add[j++]);
      memo.rows = rows;
    }
  }

  // ── stats ───────────────────────────────────────────────────────────────────────────────────────────────

  /** Stats of the given repositories: remembered ones, or fetched now; starts the background fill for the rest. */
  async statsFor(repos: CatalogRepo[]): Promise<Map<number, RepoStats>> {
    const out = new Map<number, RepoStats>();
    const missing: CatalogRepo[] = [];
    const now = this.now();
    for (const r of repos) {
      const e = this.valid(r, now);
      if (e) out.set(r.id, { versionCount: e.versionCount, sizeBytes: e.sizeBytes, latestPushAt: e.latestPushMs > 0 ? new Date(e.latestPushMs).toISOString() : null });
      else missing.push(r);
    }
    const fetched = await mapLimit(missing, this.deps.concurrency, (r) => this.fetchAndKeep(r));
    missing.forEach((r, i) => out.set(r.id, fetched[i]));
    this.kickFill();
    return out;
  }

  private valid(r: CatalogRepo, now: number): StatsEntry | undefined {
    const e = this.stats.get(r.id);
    // Stryker disable next-line ConditionalExpression: 'true' for the artifact-count test is equivalent (upsert() deletes an entry when its count changes, so a kept entry always has its row's count); '>= now' is killed by catalog.rules (listed the moment they expire), planted
    return e && e.artifactCount === r.artifactCount && e.expiresAt > now ? e : undefined;
  }

  private async fetchAndKeep(r: CatalogRepo): Promise<RepoStats> {
    const startedAt = this.clock;
    const generation = this.generation;
    const stats = await this.fetchStats(r);
    const current = this.repos.get(r.id);
    // Kept only if nothing invalidated this repository meanwhile and it is still the same.
    // Stryker disable next-line ConditionalExpression: 'true' for 'current && count' and for the count test alone are equivalent (a row removed or re-counted during the read was also dropped or touched, and stats kept for a removed id are never read); the other 'true' mutants of this line are killed by catalog.rules (stats read while the image changes), planted
    if (current && current.artifactCount === r.artifactCount && generation === this.generation && (this.touched.get(r.id) ?? 0) <= startedAt) {
      const maxAge = this.deps.statsMaxAgeSeconds * 1000;
      // Spread re-verification over the last fifth of the age, so that a fill does not come back as one burst.
      const expiresAt = maxAge > 0 ? this.now() + maxAge * (0.8 + 0.2 * Math.random()) : Infinity;
      const latestPushMs = stats.latestPushAt ? Date.parse(stats.latestPushAt) : 0;
      this.stats.set(r.id, { versionCount: stats.versionCount, sizeBytes: stats.sizeBytes, latestPushMs, artifactCount: r.artifactCount, expiresAt });
      this.needsStats.delete(r.id);
    }
    return stats;
  }

  private async fetchStats(r: CatalogRepo): Promise<RepoStats> {
    if (r.artifactCount === 0) return { versionCount: 0, sizeBytes: 0, latestPushAt: null };
    const i = r.name.indexOf('/');
    const [project, repository] = [r.name.slice(0, i), r.name.slice(i + 1)];
    const first = await this.deps.harbor.listArtifacts(project, repository, { page: 1, pageSize: PAGE });
    const pages = Math.min(MAX_PAGES, Math.ceil(first.total / PAGE));
    const more = await mapLimit(
      Array.from({ length: Math.max(0, pages - 1) }, (_, k) => k + 2),
      this.deps.fillConcurrency,
      (page) => this.deps.harbor.listArtifacts(project, repository, { page, pageSize: PAGE }).then((p) => p.items),
    );
    return statsOf([...first.items, ...more.flat()]);
  }

  /** Fills missing or expired stats in the background, `fillConcurrency` calls at a time. */
  private kickFill(): void {
    if (this.filling || this.stopped || this.now() < this.fillPausedUntil) return;
    const now = this.now();
    // Stryker disable next-line ConditionalExpression,EqualityOperator: 'true' for the max-age test and '>= 0' are equivalent (without a maximum age every stat expires at Infinity, so a scan finds nothing); the whole condition 'true', 'now > …' and '||' are killed by catalog.rules (expiry scans), planted
    if (this.deps.statsMaxAgeSeconds > 0 && now >= this.nextExpiryScan) {
      this.nextExpiryScan = now + Math.min(60_000, (this.deps.statsMaxAgeSeconds * 1000) / 20);
      // Stryker disable next-line ConditionalExpression: 'true' is equivalent (the fill drops stats still valid without a Harbor call); '< now' is killed by catalog.rules (expiring right now), planted
      for (const [id, e] of this.stats) if (e.expiresAt <= now) this.needsStats.add(id);
    }
    this.takeBacklog();
    // Stryker disable next-line ConditionalExpression: equivalent, a fill started with nothing to do ends at its first test
    if (this.needsStats.size === 0) return;
    this.filling = true;
    const compact = this.repos.size >= (this.deps.compactMinRows ?? COMPACT_MIN_ROWS) ? this.deps.compact : undefined;
    void (async () => {
      // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, an empty set gives an empty batch, which ends the loop just below
      while (!this.stopped && (this.takeBacklog(), this.needsStats.size > 0)) {
        const batch: CatalogRepo[] = [];
        for (const id of this.needsStats) {
          const r = this.repos.get(id);
          // Stryker disable next-line ConditionalExpression: equivalent, needsStats holds only ids of the catalogue (remove() drops them, a build clears them, the backlog skips deleted keys)
          if (r) batch.push(r);
          else this.needsStats.delete(id);
          if (batch.length >= FILL_BATCH) break;
        }
        // Stryker disable next-line ConditionalExpression: equivalent, a batch is never empty (see above)
        if (batch.length === 0) break;
        await mapLimit(batch, this.deps.fillConcurrency, async (r) => {
          if (this.valid(r, this.now())) this.needsStats.delete(r.id);
          else await this.fetchAndKeep(r);
        });
        // The name index of a fresh build, made here (a batch after the first list answered) rather than by the
        // first write's list.
        this.names();
        compact?.();
      }
    })()
      .catch((e: unknown) => {
        this.fillPausedUntil = this.now() + FILL_BACKOFF_MS;
        this.deps.logger.warn('image stats fill paused after a Harbor error', { error: e });
      })
      .finally(() => {
        this.filling = false;
      });
  }

  /** Moves the next rows of the backlog into needsStats (up to a batch); a failed batch stays there for the next try. */
  private takeBacklog(): void {
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, the fill takes at most 200 ids a batch anyway; the backlog only moves into the set earlier
    while (this.backlog && this.needsStats.size < FILL_BATCH) {
      const next = this.backlog.next();
      if (next.done) this.backlog = undefined;
      else this.needsStats.add(next.value);
    }
  }

  /** True while the background fill has work left (for the bench and tests). */
  filled(): boolean {
    return this.needsStats.size === 0 && !this.backlog && !this.filling;
  }
}
