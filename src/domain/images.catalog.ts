import { randomUUID } from 'node:crypto';
import type { Cache } from '../ports/coordination';
import type { HarborArtifact, HarborContentPort, HarborPort, HarborRepository } from '../ports/harbor';
import type { Logger } from '../observability/logger';

/**
 * The image catalogue: every repository of every workspace, kept so that list pages need no Harbor call.
 *
 * Harbor 2.5.5 caps `page_size` at 100 and has no call that returns sizes or tag counts for many repositories
 * at once, so the catalogue has two levels:
 *
 * 1. **Repositories** (name, project, pull count, artifact count, update time) — the whole platform, built from
 *    `GET /projects/{p}/repositories` pages fetched in parallel (bounded concurrency). Enough to filter, sort and page.
 * 2. **Repository stats** (version count, size, latest push) — one artifact listing per repository, fetched for the
 *    rows of the page being answered when missing, and for every repository in the background after a build.
 *
 * Freshness: a **generation token** lives in the shared cache (Redis). Every write through hubgate (and every
 * manifest PUT/DELETE seen by the registry front) replaces it (`invalidate()`); a replica serves its in-process
 * copy only while that copy carries the current token and is younger than the TTL, so invalidations reach every
 * replica at once and changes made elsewhere show after at most the TTL. When the cache cannot answer (Redis
 * down) there is no token, so nothing is served from memory: every answer is built from Harbor (correct,
 * uncached). Under steady traffic the catalogue is refreshed ahead of its expiry in the background.
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
  creationTime: string;
}

export interface RepoStats {
  versionCount: number;
  sizeBytes: number;
  latestPushAt: string | null;
}

interface CatalogData {
  token: string;
  builtAt: number;
  /** Workspace name → the Harbor project id it had when the catalogue was built (recreated names differ). */
  projects: Record<string, number>;
  repos: CatalogRepo[];
}

export interface CatalogDeps {
  harbor: HarborPort & HarborContentPort;
  cache: Cache;
  logger: Logger;
  /** Longest time an entry is served (bounds staleness of changes made outside hubgate). 0 = no caching. */
  ttlSeconds: number;
  /** Harbor calls in flight at once while building. */
  concurrency: number;
  /** Every workspace (Harbor project) with its id; default: Harbor's project list. */
  listProjects?: () => Promise<{ name: string; id: number }[]>;
  now?: () => number;
}

const TOKEN_KEY = 'images:gen';
const CATALOG_KEY = 'images:catalog:v2';
const PAGE = 100;
/** 200,000 repositories at 100 per page; a guard against totals that never add up. */
const MAX_PAGES = 2_000;
const MAX_STATS_ENTRIES = 50_000;
/** Refresh in the background once an entry has lived this share of its TTL. */
const REFRESH_AHEAD = 0.7;

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

export const toCatalogRepo = (r: HarborRepository): CatalogRepo => ({
  id: r.id,
  projectId: r.project_id,
  name: r.name,
  image: r.name.slice(r.name.indexOf('/') + 1),
  pullCount: r.pull_count ?? 0,
  artifactCount: r.artifact_count ?? 0,
  updateTime: r.update_time,
  creationTime: r.creation_time,
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
    latest = Math.max(latest, Date.parse(a.push_time) || 0, ...(a.tags ?? []).map((t) => Date.parse(t.push_time) || 0));
  }
  return { versionCount, sizeBytes, latestPushAt: latest > 0 ? new Date(latest).toISOString() : null };
}

export class ImageCatalog {
  private local?: CatalogData;
  private building?: { token: string | undefined; promise: Promise<CatalogData> };
  private readonly stats = new Map<string, { stats: RepoStats; at: number }>();
  private refreshingStats = false;
  private readonly now: () => number;

  constructor(private readonly deps: CatalogDeps) {
    this.now = deps.now ?? Date.now;
  }

  private get ttlMs(): number {
    return this.deps.ttlSeconds * 1000;
  }

  /**
   * Stats are checked against the repository's artifact count and update time (which every push changes) and
   * dropped on every invalidation, so they may live longer than the catalogue: 20 × its TTL, at least a minute.
   * Only a change made directly in Harbor that touches neither (e.g. a tag deleted in Harbor's UI) waits this long.
   */
  private get statsTtlMs(): number {
    return Math.max(this.ttlMs * 20, 60_000);
  }

  private stopped = false;

  /** Stops background work (refresh, stats prefetch); for shutdown. */
  stop(): void {
    this.stopped = true;
    this.local = undefined;
  }

  /** Forgets everything cached, here and (through the shared token) in every replica. */
  async invalidate(): Promise<void> {
    this.local = undefined;
    this.building = undefined;
    this.stats.clear();
    if (this.deps.ttlSeconds > 0) await this.deps.cache.set(TOKEN_KEY, randomUUID(), this.deps.ttlSeconds * 4);
    await this.deps.cache.del(CATALOG_KEY);
  }

  /**
   * The repositories of the given workspaces (name → Harbor project id, as the workspace catalogue knows them
   * now), plus the token that stats lookups use. A workspace the catalogue does not know under that project id
   * (created or recreated since it was built) is fetched live and added.
   */
  async repositories(
    workspaces: Map<string, number>,
    sort: (a: CatalogRepo, b: CatalogRepo) => number,
    sortKey: string,
  ): Promise<{ repos: CatalogRepo[]; token: string | undefined }> {
    const read = this.deps.ttlSeconds > 0 ? await this.deps.cache.get<string>(TOKEN_KEY) : undefined;
    let data = await this.current(read);
    // A first build mints the token; it counts once the build was kept as current.
    const token = read ?? (data.token && this.local === data ? data.token : undefined);
    const unknown = [...workspaces].filter(([name, id]) => data.projects[name] !== id);
    if (unknown.length > 0) {
      const extra = await mapLimit(unknown, this.deps.concurrency, ([name]) => this.fetchWorkspace(name));
      const projects = { ...data.projects };
      let repos = data.repos;
      unknown.forEach(([name, id], i) => {
        projects[name] = id;
        repos = repos.filter((r) => r.projectId !== id && !r.name.startsWith(`${name}/`)).concat(extra[i]);
      });
      const merged = { ...data, projects, repos };
      if (token !== undefined && data.token === token && this.local === data) this.local = merged;
      data = merged;
    }
    // Sorted once per catalogue and sort order; filtering keeps the order.
    let memo = this.sorted.get(data);
    if (!memo) this.sorted.set(data, (memo = new Map()));
    let ordered = memo.get(sortKey);
    if (!ordered) memo.set(sortKey, (ordered = data.repos.slice().sort(sort)));
    const repos = ordered.filter((r) => workspaces.get(r.name.slice(0, r.name.length - r.image.length - 1)) === r.projectId);
    return { repos, token };
  }

  private readonly sorted = new WeakMap<CatalogData, Map<string, CatalogRepo[]>>();

  /**
   * Stats of the given repositories: remembered ones (same token, artifact count and update time, younger than
   * the TTL; refreshed in the background once older than 70 % of it) or fetched now.
   */
  async statsFor(repos: CatalogRepo[], token: string | undefined, concurrency = this.deps.concurrency): Promise<Map<number, RepoStats>> {
    const out = new Map<number, RepoStats>();
    const key = (r: CatalogRepo) => `${token}|${r.id}|${r.artifactCount}|${r.updateTime}`;
    const missing: CatalogRepo[] = [];
    const ageing: CatalogRepo[] = [];
    for (const r of repos) {
      const hit = token !== undefined ? this.stats.get(key(r)) : undefined;
      const age = hit ? this.now() - hit.at : Infinity;
      if (hit && age < this.statsTtlMs) {
        out.set(r.id, hit.stats);
        if (age > this.statsTtlMs * REFRESH_AHEAD) ageing.push(r);
      } else missing.push(r);
    }
    const remember = (list: CatalogRepo[], fetched: RepoStats[]) =>
      list.forEach((r, i) => {
        if (token === undefined) return;
        const k = key(r);
        this.stats.delete(k);
        if (this.stats.size >= MAX_STATS_ENTRIES) this.stats.delete(this.stats.keys().next().value as string);
        this.stats.set(k, { stats: fetched[i], at: this.now() });
      });
    const fetched = await mapLimit(missing, concurrency, (r) => this.fetchStats(r));
    missing.forEach((r, i) => out.set(r.id, fetched[i]));
    remember(missing, fetched);
    if (ageing.length > 0 && !this.refreshingStats) {
      this.refreshingStats = true;
      void mapLimit(ageing, this.deps.concurrency, (r) => this.fetchStats(r))
        .then((f) => remember(ageing, f))
        .catch((e: unknown) => this.deps.logger.warn('image stats refresh failed', { error: e }))
        .finally(() => {
          this.refreshingStats = false;
        });
    }
    return out;
  }

  /**
   * After a build, fills the stats of every repository in the background (half the concurrency), so that
   * any page of a warm catalogue needs no Harbor call. Stops when the catalogue is invalidated meanwhile.
   */
  private prefetchStats(data: CatalogData): void {
    if (this.prefetching === data.token) return;
    this.prefetching = data.token;
    const token = data.token;
    const limit = Math.max(1, Math.floor(this.deps.concurrency / 2));
    void (async () => {
      for (let i = 0; i < data.repos.length; i += 200) {
        if (this.stopped || this.local?.token !== token) return;
        await this.statsFor(data.repos.slice(i, i + 200), token, limit);
      }
    })()
      .catch((e: unknown) => this.deps.logger.warn('image stats prefetch stopped', { error: e }))
      .finally(() => {
        if (this.prefetching === token) this.prefetching = undefined;
      });
  }

  private prefetching?: string;

  private async fetchStats(r: CatalogRepo): Promise<RepoStats> {
    const [project, ...rest] = r.name.split('/');
    const repository = rest.join('/');
    if (r.artifactCount === 0) return { versionCount: 0, sizeBytes: 0, latestPushAt: null };
    const first = await this.deps.harbor.listArtifacts(project, repository, { page: 1, pageSize: PAGE });
    const pages = Math.min(MAX_PAGES, Math.ceil(first.total / PAGE));
    const more = await mapLimit(
      Array.from({ length: Math.max(0, pages - 1) }, (_, i) => i + 2),
      this.deps.concurrency,
      (page) => this.deps.harbor.listArtifacts(project, repository, { page, pageSize: PAGE }).then((p) => p.items),
    );
    return statsOf([...first.items, ...more.flat()]);
  }

  private async fetchWorkspace(name: string): Promise<CatalogRepo[]> {
    try {
      return (await this.deps.harbor.listAllRepositories(name)).map(toCatalogRepo);
    } catch (e) {
      // Deleted between the workspace lookup and now: it has no images.
      if ((e as { kind?: string }).kind === 'not_found') return [];
      throw e;
    }
  }

  /** The catalogue for `token`: this replica's copy, the shared one, or a new build. */
  private async current(token: string | undefined): Promise<CatalogData> {
    const fresh = (d: CatalogData | undefined): d is CatalogData => !!d && token !== undefined && d.token === token && this.now() - d.builtAt < this.ttlMs;
    if (fresh(this.local)) {
      if (this.now() - this.local.builtAt > this.ttlMs * REFRESH_AHEAD) this.refreshAhead(token);
      return this.local;
    }
    if (token !== undefined) {
      const shared = await this.deps.cache.get<CatalogData>(CATALOG_KEY);
      if (fresh(shared)) {
        this.local = shared;
        return shared;
      }
    }
    return this.build(token);
  }

  private refreshAhead(token: string | undefined): void {
    if (this.building || this.stopped) return;
    void (async () => {
      const shared = await this.deps.cache.get<CatalogData>(CATALOG_KEY);
      if (shared && shared.token === token && this.local && shared.builtAt > this.local.builtAt && this.now() - shared.builtAt < this.ttlMs * REFRESH_AHEAD) {
        this.local = shared;
        return;
      }
      await this.build(token);
    })().catch((e: unknown) => this.deps.logger.warn('image catalogue refresh failed; the current copy stays until it expires', { error: e }));
  }

  /** One build at a time per token in this process; callers asking meanwhile share it. */
  private build(token: string | undefined): Promise<CatalogData> {
    if (this.building && this.building.token === token) return this.building.promise;
    const started = this.now();
    const self: { promise?: Promise<CatalogData> } = {};
    const promise = (async (): Promise<CatalogData> => {
      let tok = token;
      if (tok === undefined && this.deps.ttlSeconds > 0) {
        // First build since start (or since the token expired): mint one. If the cache is down it is not kept,
        // and the next request builds again — nothing is served from memory without a shared token.
        tok = randomUUID();
        await this.deps.cache.set(TOKEN_KEY, tok, this.deps.ttlSeconds * 4);
      }
      const projects = this.deps.listProjects ? await this.deps.listProjects() : (await this.deps.harbor.listAllProjects()).map((p) => ({ name: p.name, id: p.project_id }));
      const repos = await this.fetchAllRepositories(projects.map((p) => p.name));
      const data: CatalogData = {
        token: tok ?? '',
        builtAt: started,
        projects: Object.fromEntries(projects.map((p) => [p.name, p.id])),
        repos,
      };
      if (tok !== undefined && (await this.deps.cache.get<string>(TOKEN_KEY)) === tok) {
        // Still current (no invalidation while building): keep it here and share it.
        if (this.building?.promise === self.promise || !this.local || this.local.builtAt <= started) this.local = data;
        await this.deps.cache.set(CATALOG_KEY, data, this.deps.ttlSeconds);
        this.prefetchStats(data);
      }
      return data;
    })();
    self.promise = promise;
    this.building = { token, promise };
    const clear = () => {
      if (this.building?.promise === promise) this.building = undefined;
    };
    promise.then(clear, clear);
    return promise;
  }

  /**
   * Every repository, workspace by workspace (`GET /projects/{p}/repositories`, 100 a page): every first page in
   * parallel, then any further pages, all through one concurrency limit. Per-project lists are small queries for
   * Harbor, unlike deep pages of one platform-wide list.
   */
  private async fetchAllRepositories(projects: string[]): Promise<CatalogRepo[]> {
    const firsts = await mapLimit(projects, this.deps.concurrency, (p) =>
      this.deps.harbor.listRepositories(p, { page: 1, pageSize: PAGE }).catch((e: unknown) => {
        if ((e as { kind?: string }).kind === 'not_found') return { items: [], total: 0 };
        throw e;
      }),
    );
    const more: { project: string; page: number }[] = [];
    projects.forEach((p, i) => {
      const pages = Math.min(MAX_PAGES, Math.ceil(firsts[i].total / PAGE));
      for (let page = 2; page <= pages; page++) more.push({ project: p, page });
    });
    const rest = await mapLimit(more, this.deps.concurrency, ({ project, page }) =>
      this.deps.harbor.listRepositories(project, { page, pageSize: PAGE }).then((r) => r.items),
    );
    // Rows shift between pages when something is pushed or deleted meanwhile: keep each repository once.
    const byId = new Map<number, CatalogRepo>();
    for (const r of [...firsts.flatMap((f) => f.items), ...rest.flat()]) byId.set(r.id, toCatalogRepo(r));
    return [...byId.values()];
  }
}
