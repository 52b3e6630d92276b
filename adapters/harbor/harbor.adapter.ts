import { mapLimit } from '../../src/domain/concurrency';
import { AppError, invalid } from '../../src/domain/errors';
import { registerSecret, silentLogger, type Logger } from '../../src/observability/logger';
import type { Metrics } from '../../src/observability/metrics';
import type {
  HarborArtifact,
  HarborContentPort,
  HarborCurrentUser,
  HarborGcPort,
  HarborGcRun,
  HarborHealth,
  HarborPort,
  HarborProject,
  HarborProjectSummary,
  HarborRepository,
  HarborRobot,
  HarborVolumes,
  ListQuery,
  Page,
  RobotCreate,
} from '../../src/ports/harbor';
import type { HarborLimitsPort } from '../../src/ports/harbor-limits';
import { AdminIdentity } from './admin-identity';
import { harborLimits } from './harbor-limits';
import { policiesMethods } from './harbor-policies';
import type { HarborPoliciesPort } from '../../src/ports/harbor-policies';
import { createHarborHttp, type HarborCall, type HarborReply } from './harbor-http';
import { artifactPath, gcPath, idFromLocation, projectIdPath, projectPath, repositoryPath, robotPath, tagPath } from './paths';

export interface HarborAdapterOptions {
  /** Harbor's external URL, e.g. `https://harbor.internal` (the adapter adds `/api/v2.0`). */
  baseUrl: string;
  /** hubgate's Harbor system administrator. */
  username: string;
  password: string;
  /** Deadline of one HTTP attempt. */
  timeoutMs: number;
  /** Extra attempts for GET/HEAD/PUT/DELETE after a network error, timeout or 5xx; POST/PATCH never retry. */
  retries: number;
  metrics?: Metrics;
  logger?: Logger;
  /** First retry backoff step (default 100 ms). */
  retryDelayMs?: number;
  /** How long a confirmed admin identity is trusted (default 30 s). */
  identityTtlMs?: number;
  /** How long a refused admin identity fails fast before asking Harbor again (default 5 s). */
  identityFailTtlMs?: number;
  /** Clock for the identity cache (tests). */
  now?: () => number;
}

export type HarborAdapter = HarborPort &
  HarborGcPort &
  HarborContentPort &
  HarborLimitsPort &
  HarborPoliciesPort & {
    /** Closes kept-alive connections to Harbor (graceful shutdown). */
    close(): void;
  };

/** A transport call; `project` marks a path that names a project (see `call`). */
type AdapterCall = Omit<HarborCall, 'byName'> & { project?: string };

/** Harbor answers 422 above 100 (recording 026). */
export const MAX_PAGE_SIZE = 100;
const DEFAULT_PAGE_SIZE = 10;
/** Stops a walk if Harbor's totals never add up (a bug, not a registry this big). */
const MAX_WALK_PAGES = 10_000;
/** Pages read at once by walks that know their total from the first page (listAllProjects). */
const WALK_CONCURRENCY = 8;

export function createHarborAdapter(opts: HarborAdapterOptions): HarborAdapter {
  const logger = opts.logger ?? silentLogger;
  // Defence in depth: even a stray log line elsewhere will mask the admin password.
  registerSecret(opts.password);

  const http = createHarborHttp({
    baseUrl: opts.baseUrl,
    username: opts.username,
    password: opts.password,
    timeoutMs: opts.timeoutMs,
    retries: opts.retries,
    retryDelayMs: opts.retryDelayMs ?? 100,
    metrics: opts.metrics,
    logger,
  });

  const fetchCurrentUser = async (operation: string) =>
    (await http.request<HarborCurrentUser>({ operation, method: 'GET', path: '/users/current' })).data;

  const identity = new AdminIdentity({
    username: opts.username,
    fetchCurrentUser: () => fetchCurrentUser('currentUser'),
    ttlMs: opts.identityTtlMs ?? 30_000,
    failTtlMs: opts.identityFailTtlMs ?? 5_000,
    now: opts.now ?? Date.now,
  });

  /**
   * Every call except health() and currentUser() goes through here: first the (cached) identity check, so
   * an anonymous view is never mistaken for data; then the call. A 401 marks the identity as refused.
   * `project` marks a path that names a project: Harbor answers an unknown project NAME with 403 even for
   * the admin (recordings 030, 040), so with the admin identity confirmed that 403 means "no such project".
   */
  async function call<T>(c: AdapterCall): Promise<HarborReply<T>> {
    const { project, ...rest } = c;
    await identity.ensure();
    try {
      return await http.request<T>({ ...rest, byName: project !== undefined });
    } catch (e) {
      if (isKind(e, 'upstream_misconfigured')) identity.refused(e as AppError);
      if (
        project !== undefined &&
        isKind(e, 'forbidden') &&
        // Stryker disable next-line ConditionalExpression: equivalent, harbor-http maps only a 403 to the 'forbidden' kind, so this test restates it
        (e as AppError).upstreamStatus === 403
      ) {
        await identity.ensure();
        throw new AppError('not_found', `project ${project} not found`, { upstreamStatus: 403 });
      }
      throw e;
    }
  }

  const get = <T>(operation: string, path: string, extra: Partial<AdapterCall> = {}) =>
    call<T>({ operation, method: 'GET', path, ...extra });

  /** One page of a list call; `total` from `X-Total-Count`. */
  async function page<T>(
    operation: string,
    path: string,
    query: ListQuery = {},
    extra: Record<string, string | undefined> = {},
    project?: string,
  ): Promise<Page<T>> {
    const pageNo =
      query.page !== undefined &&
      // Stryker disable next-line EqualityOperator: equivalent, page 1 gives Math.floor(1) = 1, the same as the default
      query.page >= 1
        ? Math.floor(query.page)
        : 1;
    const reply = await get<T[]>(operation, path, {
      project,
      params: { ...extra, q: query.q, sort: query.sort, page: pageNo, page_size: pageSize(query.pageSize) },
    });
    const items = Array.isArray(reply.data) ? reply.data : [];
    return { items, total: totalOf(reply, items.length) };
  }

  /** Every item of a list, walking pages of 100 until `X-Total-Count` items were seen or a page comes back short. */
  async function walk<T>(fetch: (q: ListQuery) => Promise<Page<T>>, key: (t: T) => unknown): Promise<T[]> {
    const seen = new Map<unknown, T>();
    for (let p = 1; p <= MAX_WALK_PAGES; p++) {
      const { items, total } = await fetch({ page: p, pageSize: MAX_PAGE_SIZE });
      // Items shift between pages when something is created or deleted meanwhile: keep each one once.
      for (const it of items) seen.set(key(it), it);
      if (items.length < MAX_PAGE_SIZE || p * MAX_PAGE_SIZE >= total) break;
    }
    return [...seen.values()];
  }

  /**
   * Every item of a list: the first page (100) gives `X-Total-Count`, the other pages are read `concurrency` at a
   * time (a platform's 2,000 projects in 20 pages would otherwise take 20 round trips one after another). Items
   * keep page order, each once (rows shift between pages when something is created or deleted meanwhile).
   */
  async function walkParallel<T>(fetch: (q: ListQuery) => Promise<Page<T>>, key: (t: T) => unknown, concurrency: number): Promise<T[]> {
    const first = await fetch({ page: 1, pageSize: MAX_PAGE_SIZE });
    const last = Math.min(MAX_WALK_PAGES, Math.ceil(first.total / MAX_PAGE_SIZE));
    const more =
      first.items.length >= MAX_PAGE_SIZE &&
      // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, for last <= 1 Array.from({ length: last - 1 }) is [] as well
      last > 1
        ? Array.from({ length: last - 1 }, (_, i) => i + 2)
        : [];
    const pages = [first.items, ...(await mapLimit(more, concurrency, async (p) => (await fetch({ page: p, pageSize: MAX_PAGE_SIZE })).items))];
    const seen = new Map<unknown, T>();
    for (const items of pages) for (const it of items) if (!seen.has(key(it))) seen.set(key(it), it);
    return [...seen.values()];
  }

  const absentAsNull = async <T>(p: Promise<T>): Promise<T | null> => {
    try {
      return await p;
    } catch (e) {
      if (isKind(e, 'not_found')) return null;
      throw e;
    }
  };
  const absentAsDone = async (p: Promise<unknown>): Promise<void> => {
    await absentAsNull(p);
  };

  const adapter: HarborAdapter = {
    close: () => http.close(),
    ...harborLimits(call),
    ...policiesMethods({ call, page, absentAsNull }),

    async currentUser() {
      try {
        const user = await fetchCurrentUser('currentUser');
        identity.observe(user);
        return user;
      } catch (e) {
        if (isKind(e, 'upstream_misconfigured')) identity.refused(e as AppError);
        throw e;
      }
    },

    async health() {
      return (await http.request<HarborHealth>({ operation: 'health', method: 'GET', path: '/health' })).data;
    },

    // ── projects ────────────────────────────────────────────────────────────────────────────────
    async findProject(name) {
      // `GET /projects/{name}` is exact (the `?name=` filter is a substring search, recording 023).
      return absentAsNull(get<HarborProject>('findProject', projectPath(name), { project: name }).then((r) => r.data));
    },

    async getProjectById(id) {
      return absentAsNull(get<HarborProject>('getProjectById', projectIdPath(id)).then((r) => r.data));
    },

    async createProject(input) {
      const reply = await call({
        operation: 'createProject',
        method: 'POST',
        path: '/projects',
        // metadata values are strings in Harbor: a JSON boolean is a 422 (recording 021).
        body: {
          project_name: input.name,
          metadata: { public: String(input.public) },
          // Stryker disable next-line ConditionalExpression: equivalent, storage_limit: undefined is dropped when the body is serialised to JSON
          ...(input.storageLimit !== undefined ? { storage_limit: input.storageLimit } : {}),
        },
      });
      const id = idFromLocation(reply.headers.location);
      if (id !== undefined) return id;
      const created = await adapter.findProject(input.name);
      if (!created) throw new AppError('upstream_unavailable', 'upstream unavailable: Harbor did not report the new project');
      return created.project_id;
    },

    async setProjectPublic(projectId, isPublic) {
      await call({
        operation: 'setProjectPublic',
        method: 'PUT',
        path: projectIdPath(projectId),
        body: { metadata: { public: String(isPublic) } },
      });
    },

    async deleteProject(name) {
      await absentAsDone(call({ operation: 'deleteProject', method: 'DELETE', path: projectPath(name), project: name }));
    },

    async listProjects(query) {
      return page<HarborProject>('listProjects', '/projects', query, {
        name: query.name,
        public: query.public === undefined ? undefined : String(query.public),
      });
    },

    async listAllProjects() {
      return walkParallel((q) => page<HarborProject>('listAllProjects', '/projects', q), (p) => p.project_id, WALK_CONCURRENCY);
    },

    async projectSummary(name) {
      return (await get<HarborProjectSummary>('projectSummary', `${projectPath(name)}/summary`, { project: name })).data;
    },

    // ── repositories ────────────────────────────────────────────────────────────────────────────
    async listRepositories(project, query = {}) {
      return page<HarborRepository>('listRepositories', `${projectPath(project)}/repositories`, query, {}, project);
    },

    async listAllRepositories(project) {
      return walk(
        (q) => page<HarborRepository>('listAllRepositories', `${projectPath(project)}/repositories`, q, {}, project),
        (r) => r.id,
      );
    },

    async deleteRepository(project, repository) {
      await absentAsDone(
        call({ operation: 'deleteRepository', method: 'DELETE', path: repositoryPath(project, repository), project }),
      );
    },

    async getRepository(project, repository) {
      return absentAsNull(
        get<HarborRepository>('getRepository', repositoryPath(project, repository), { project }).then((r) => r.data),
      );
    },

    async updateRepositoryDescription(project, repository, description) {
      await call({
        operation: 'updateRepositoryDescription',
        method: 'PUT',
        path: repositoryPath(project, repository),
        body: { description },
        project,
      });
    },

    async listRepositoriesAll(query = {}) {
      return page<HarborRepository>('listRepositoriesAll', '/repositories', query);
    },

    async listRepositoriesInIdRange(from, to) {
      const bound = (n: number | undefined) => (n === undefined ? '' : String(Math.floor(n)));
      // page_size=0: every row of the range in one answer (pageSize() never asks for that; this range is bounded).
      const reply = await get<HarborRepository[]>('listRepositoriesRange', '/repositories', {
        params: { q: `repository_id=[${bound(from)}~${bound(to)}]`, page_size: 0 },
      });
      const items = Array.isArray(reply.data) ? reply.data : [];
      return { items, total: totalOf(reply, items.length) };
    },

    // ── artifacts ───────────────────────────────────────────────────────────────────────────────
    async listArtifacts(project, repository, query = {}) {
      return page<HarborArtifact>(
        'listArtifacts',
        `${repositoryPath(project, repository)}/artifacts`,
        query,
        { with_tag: 'true', with_label: 'false', with_scan_overview: 'false' },
        project,
      );
    },

    async getArtifact(project, repository, reference) {
      return absentAsNull(
        get<HarborArtifact>('getArtifact', artifactPath(project, repository, reference), {
          project,
          params: { with_tag: 'true', with_label: 'false', with_scan_overview: 'false' },
        }).then((r) => r.data),
      );
    },

    async deleteArtifact(project, repository, reference) {
      await call({ operation: 'deleteArtifact', method: 'DELETE', path: artifactPath(project, repository, reference), project });
    },

    async deleteTag(project, repository, digest, tag) {
      await call({
        operation: 'deleteTag',
        method: 'DELETE',
        path: tagPath(project, repository, digest, tag),
        project,
      });
    },

    // ── robots ──────────────────────────────────────────────────────────────────────────────────
    async listRobots(nameContains) {
      // `q` is Harbor's `key=value,key=value` syntax: these characters would change the query's meaning.
      if (/[,=~&{}()[\]\s]/.test(nameContains)) throw invalid('robot name filter contains characters Harbor cannot match');
      const q = nameContains ? `name=~${nameContains}` : undefined;
      const all = await walk((lq) => page<HarborRobot>('listRobots', '/robots', { ...lq, q }), (r) => r.id);
      // Without a Level filter Harbor lists system robots only (052, 053); keep that promise if it ever changes.
      return all.filter((r) => r.level === 'system');
    },

    async getRobot(id) {
      return absentAsNull(get<HarborRobot>('getRobot', robotPath(id)).then((r) => r.data));
    },

    async createRobot(input: RobotCreate) {
      const reply = await call<{ id?: number; name?: string; secret?: string }>({
        operation: 'createRobot',
        method: 'POST',
        path: '/robots',
        body: input,
      });
      // Harbor returns a generated secret here; hubgate sets its own with setRobotSecret and drops this one.
      const id = typeof reply.data?.id === 'number' ? reply.data.id : idFromLocation(reply.headers.location);
      if (id === undefined) throw new AppError('upstream_unavailable', 'upstream unavailable: Harbor did not report the new robot');
      return { id, name: typeof reply.data?.name === 'string' ? reply.data.name : input.name };
    },

    async updateRobot(robot) {
      // The whole body, as given: Harbor replaces everything, a missing duration becomes 30 days (060/061).
      await call({ operation: 'updateRobot', method: 'PUT', path: robotPath(robot.id), body: robot });
    },

    async setRobotSecret(id, secret) {
      await call({
        operation: 'setRobotSecret',
        method: 'PATCH',
        path: robotPath(id),
        body: { secret },
        secrets: [secret],
      });
    },

    async deleteRobot(id) {
      await call({ operation: 'deleteRobot', method: 'DELETE', path: robotPath(id) });
    },

    // ── garbage collection and storage ──────────────────────────────────────────────────────────
    async startGc({ dryRun, deleteUntagged }) {
      const reply = await call({
        operation: 'startGc',
        method: 'POST',
        path: '/system/gc/schedule',
        body: { schedule: { type: 'Manual' }, parameters: { delete_untagged: deleteUntagged, dry_run: dryRun } },
      });
      const id = idFromLocation(reply.headers.location);
      if (id === undefined) throw new AppError('upstream_unavailable', 'upstream unavailable: Harbor did not report the GC run id');
      return id;
    },

    async listGcHistory(pageNo, size) {
      return page<HarborGcRun>('listGcHistory', '/system/gc', { page: pageNo, pageSize: size });
    },

    async getGc(id) {
      return absentAsNull(get<HarborGcRun>('getGc', gcPath(id)).then((r) => r.data));
    },

    async getGcLog(id) {
      return absentAsNull(
        get<unknown>('getGcLog', `${gcPath(id)}/log`, { text: true }).then((r) =>
          // Stryker disable next-line ConditionalExpression,EqualityOperator,StringLiteral: equivalent, a text-mode call always yields a string body (String() of it is itself), so the fallbacks never run
          typeof r.data === 'string' ? r.data : r.data == null ? '' : String(r.data),
        ),
      );
    },

    async systemVolumes(): Promise<HarborVolumes> {
      const { data } = await get<{ storage?: { total?: unknown; free?: unknown }[] }>('systemVolumes', '/systeminfo/volumes');
      const first = Array.isArray(data?.storage) ? data.storage[0] : undefined;
      const out: HarborVolumes = {};
      if (typeof first?.total === 'number' && Number.isFinite(first.total)) out.total = first.total;
      if (typeof first?.free === 'number' && Number.isFinite(first.free)) out.free = first.free;
      return out;
    },
  };
  return adapter;
}

function isKind(e: unknown, kind: AppError['kind']): boolean {
  return e instanceof AppError && e.kind === kind;
}

function pageSize(requested: number | undefined): number {
  if (requested === undefined || !Number.isFinite(requested)) return DEFAULT_PAGE_SIZE;
  // 0 and negative sizes make Harbor return every row (recordings 027, 134): never ask for that.
  return Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(requested)));
}

function totalOf(reply: HarborReply, fallback: number): number {
  const n = Number(reply.headers['x-total-count']);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}
