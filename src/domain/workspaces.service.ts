import { AppError, conflict, forbidden, invalid, notFound } from './errors';
import { memberOf, type PlatformProject, type Principal } from './principal';
import { workspaceNameProblem } from './names';
import type { CredentialsService, OwnerRecord } from './credentials.service';
import type { HarborPort, HarborProject } from '../ports/harbor';
import type { Cache, Coordination } from '../ports/coordination';
import type { ChangeFeed } from '../ports/changes';
import type { Logger } from '../observability/logger';

export type AccessLevel = 'private' | 'public';

export interface Workspace {
  name: string;
  access: AccessLevel;
  /** The owning platform project; null for Harbor projects hubgate did not create (visible to cloud admins only). */
  project: PlatformProject | null;
  harborProjectId: number;
  createdAt: string;
  updatedAt: string;
  /** Push/pull address prefix: `<registry host>/<workspace>`. */
  pullAddressPrefix: string;
}

export interface WorkspaceDetail extends Workspace {
  imageCount: number;
  storageUsedBytes: number;
  storageLimitBytes: number | null;
  /** Used as a percentage of the quota (one decimal); null without a quota. */
  storageUsedPercent: number | null;
}

/** Used as a percentage of the limit, one decimal; null without a limit. */
export const usedPercent = (used: number, limit: number | null): number | null =>
  limit === null || limit <= 0 ? null : Math.round((used / limit) * 1000) / 10;

export interface ListFilter {
  department?: string;
  projectId?: string;
  access?: AccessLevel;
  /** Substring of the name. */
  q?: string;
  /** Order (default name): by name or by creation time, `-` for descending. */
  sort?: WorkspaceSort;
  page: number;
  pageSize: number;
}

export type WorkspaceSort = 'name' | '-name' | 'created' | '-created';

const WORKSPACE_ORDER: Record<WorkspaceSort, (a: Workspace, b: Workspace) => number> = {
  name: (a, b) => a.name.localeCompare(b.name),
  '-name': (a, b) => b.name.localeCompare(a.name),
  created: (a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name),
  '-created': (a, b) => b.createdAt.localeCompare(a.createdAt) || a.name.localeCompare(b.name),
};

export interface PageOf<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
}

export type Relation = 'manage' | 'view' | 'none';

/**
 * What a principal may do with a workspace (SPEC's permission matrix): manage own projects' workspaces;
 * view (and pull) other projects' public ones; others' private workspaces do not exist for them.
 */
export function relation(p: Principal, ws: Pick<Workspace, 'access' | 'project'>): Relation {
  if (p.isCloudAdmin) return 'manage';
  if (ws.project && memberOf(p, ws.project.id)) return 'manage';
  if (ws.project && ws.access === 'public') return 'view';
  return 'none';
}

export interface WorkspacesDeps {
  harbor: HarborPort;
  credentials: CredentialsService;
  coordination: Coordination;
  cache: Cache;
  logger: Logger;
  registryHost: string;
  reserved: string[];
  /**
   * How long the workspace catalogue may be served from cache. With a `feed`, writes through hubgate reach every
   * replica at once, so this bounds only changes made directly in Harbor (a project created, deleted or made public
   * there): past half of it the catalogue is read again in the background, past all of it before answering.
   */
  catalogTtlSeconds: number;
  /**
   * Workspace names changed through hubgate (create, access, delete), shared by every replica (Redis, or in-process
   * for one): each replica re-reads just those workspaces (one Harbor call each, plus the owner records) instead of
   * dropping its catalogue. Without a feed every write drops the catalogue (it is read again in full).
   */
  feed?: ChangeFeed;
  /**
   * An existing Harbor project nobody owns is adopted by a creation only when it is empty and at least this old
   * (by its creation_time; default 600): a younger one may be another creation in flight. See create().
   */
  adoptUnownedAfterSeconds?: number;
  /** Storage quota of new workspaces in bytes (HUBGATE_DEFAULT_WORKSPACE_QUOTA); undefined = unlimited. */
  defaultQuotaBytes?: number;
  /** Names a version an immutable rule protects (workspace policies); a workspace holding one is not deleted. */
  protectedVersion?: (workspace: string) => Promise<string | undefined>;
}

/** Ownership changes (create, delete) hold the workspace lock across replicas, or are refused (503). */
const WORKSPACE_LOCK = { ttlMs: 30000, waitMs: 60000, required: true } as const;

interface Catalog {
  workspaces: Workspace[];
  /** The change feed's cursor when the catalogue was read from Harbor (changes after it are not in it). */
  cursor?: string;
}

const CATALOG_KEY = 'catalog:workspaces';

export class WorkspacesService {
  private local?: { at: number; catalog: Catalog };

  constructor(private readonly deps: WorkspacesDeps) {}

  /** Bumped by invalidate(): a rebuild that started before it is not kept. */
  private generation = 0;
  private ahead?: Promise<unknown>;
  /** Where this replica is in the change feed, and the names read from it not applied yet. */
  private cursor?: string;
  private readonly pending = new Set<string>();
  /** When each name was last read from the feed or written here: a full read that started earlier is patched with it. */
  private tick = 0;
  private readonly seenAt = new Map<string, number>();

  private note(names: Iterable<string>): void {
    for (const n of names) {
      this.pending.add(n);
      this.seenAt.set(n, ++this.tick);
    }
  }

  /**
   * After any write through hubgate. With a feed: the named workspaces (none: all) are re-read by every replica at
   * its next use. Without: every cached view is dropped.
   */
  async invalidate(names?: string[]): Promise<void> {
    const { feed } = this.deps;
    if (!feed || !names || names.length === 0) {
      this.drop();
      await this.deps.cache.del(CATALOG_KEY);
      if (feed) await feed.publish(['*']);
      return;
    }
    this.note(names);
    // The shared copy is dropped too: a replica starting now reads Harbor (or a copy written after this).
    await this.deps.cache.del(CATALOG_KEY);
    await feed.publish(names);
  }

  /** Reads the change feed from `cursor`: names to re-read, or `false` when they cannot be accounted for. */
  private async readFeed(cursor: string | undefined): Promise<boolean> {
    const read = await this.deps.feed!.read(cursor);
    this.cursor = read.cursor;
    if (read.reset || read.names.includes('*')) return false;
    this.note(read.names);
    return true;
  }

  private drop(): void {
    // Stryker disable next-line UpdateOperator: equivalent, a generation is only compared with one taken earlier, and a counter going down never repeats a value either
    this.generation++;
    this.local = undefined;
    this.pending.clear();
    this.seenAt.clear();
  }

  /** Every workspace of the platform (the catalogue itself, not copied; for other services, e.g. image lists). */
  async all(): Promise<readonly Workspace[]> {
    return (await this.catalog()).workspaces;
  }

  private async catalog(): Promise<Catalog> {
    if (this.deps.feed && !(await this.readFeed(this.cursor))) this.drop();
    if (this.local && this.pending.size > 0) await this.applyPending();
    const ttlMs = this.deps.catalogTtlSeconds * 1000;
    if (this.local && Date.now() - this.local.at < ttlMs) {
      // Past half its life the catalogue is rebuilt in the background, so that lists under traffic never wait for it.
      if (Date.now() - this.local.at >= ttlMs / 2 && !this.ahead) {
        const gen = this.generation;
        const started = this.tick;
        this.ahead = this.build()
          .then((catalog) => {
            if (gen === this.generation) this.keep(catalog, started);
          })
          .catch((e: unknown) => this.deps.logger.warn('workspace catalogue refresh failed; the current copy stays until it expires', { error: e }))
          .finally(() => (this.ahead = undefined));
      }
      return this.local.catalog;
    }
    const cached = await this.deps.cache.get<Catalog>(CATALOG_KEY);
    // A shared copy is used when the feed can account for every change since it was read (a replica's own
    // cursor may be newer than the copy).
    if (cached && (!this.deps.feed || (cached.cursor !== undefined && (await this.readFeed(cached.cursor))))) {
      this.local = { at: Date.now(), catalog: cached };
      if (this.pending.size > 0) await this.applyPending();
      return this.local.catalog;
    }
    // Callers arriving while a full read runs share it (a replica's start: the warm-up and the first lists).
    this.reading ??= this.readAll().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private reading?: Promise<Catalog>;

  private async readAll(): Promise<Catalog> {
    const gen = this.generation;
    const started = this.tick;
    const catalog = await this.build();
    if (gen === this.generation) {
      this.keep(catalog, started);
      await this.deps.cache.set(CATALOG_KEY, catalog, this.deps.catalogTtlSeconds);
    }
    return catalog;
  }

  /**
   * A full read replaces the catalogue. Names read from the feed before it started are in it; names seen since
   * (`started`: the tick then) may not be, so they are re-read again.
   */
  private keep(catalog: Catalog, started: number): void {
    this.local = { at: Date.now(), catalog };
    for (const [n, at] of this.seenAt) {
      if (at > started) this.pending.add(n);
      else this.seenAt.delete(n);
    }
  }

  /** Re-reads the workspaces named by the feed (one call each, plus the owner records once) into the catalogue. */
  private async applyPending(): Promise<void> {
    const names = [...this.pending];
    this.pending.clear();
    const gen = this.generation;
    let found: (HarborProject | null)[];
    let owners: OwnerRecord[];
    try {
      [found, owners] = await Promise.all([Promise.all(names.map((n) => this.deps.harbor.findProject(n))), this.deps.credentials.ownerRecords()]);
    } catch (e) {
      for (const n of names) this.pending.add(n);
      throw e;
    }
    if (gen !== this.generation || !this.local) return;
    const changed = new Set(names);
    const workspaces = this.local.catalog.workspaces.filter((w) => !changed.has(w.name));
    workspaces.push(...this.toWorkspaces(found.filter((hp): hp is HarborProject => hp !== null), owners));
    this.local = { at: this.local.at, catalog: { workspaces, cursor: this.local.catalog.cursor } };
  }

  private async build(): Promise<Catalog> {
    // Names read from the feed up to here are covered by this read.
    const cursor = this.cursor;
    this.pending.clear();
    const [projects, owners] = await Promise.all([this.deps.harbor.listAllProjects(), this.deps.credentials.ownerRecords()]);
    return { workspaces: this.toWorkspaces(projects, owners), cursor };
  }

  /** Harbor projects as workspaces, each with the platform project its owner record names (none: unowned). */
  private toWorkspaces(projects: readonly HarborProject[], owners: readonly OwnerRecord[]): Workspace[] {
    const ownerOf = new Map<string, OwnerRecord>();
    for (const o of owners) for (const w of o.workspaces) ownerOf.set(w, o);
    return projects.map((hp) => this.toWorkspace(hp, ownerOf.get(hp.name)?.project ?? null));
  }

  private toWorkspace(hp: HarborProject, project: PlatformProject | null): Workspace {
    return {
      name: hp.name,
      access: hp.metadata?.public === 'true' ? 'public' : 'private',
      project,
      harborProjectId: hp.project_id,
      createdAt: hp.creation_time,
      updatedAt: hp.update_time,
      pullAddressPrefix: `${this.deps.registryHost}/${hp.name}`,
    };
  }

  async list(p: Principal, f: ListFilter): Promise<PageOf<Workspace & { relation: Relation }>> {
    const { workspaces } = await this.catalog();
    const q = f.q?.toLowerCase();
    const rows = workspaces
      .map((w) => ({ ...w, relation: relation(p, w) }))
      .filter((w) => w.relation !== 'none')
      .filter((w) => !f.department || w.project?.department === f.department)
      .filter((w) => !f.projectId || w.project?.id === f.projectId)
      .filter((w) => !f.access || w.access === f.access)
      .filter((w) => !q || w.name.includes(q))
      .sort(WORKSPACE_ORDER[f.sort ?? 'name']);
    const start = (f.page - 1) * f.pageSize;
    return { items: rows.slice(start, start + f.pageSize), total: rows.length, page: f.page, pageSize: f.pageSize };
  }

  /** Resolves a workspace for a caller (for other services, e.g. workspace policies): absent and invisible are 404. */
  lookup(p: Principal, name: string): Promise<{ ws: Workspace; rel: Relation }> {
    return this.resolve(p, name);
  }

  /** Resolves a workspace for a caller; absent and invisible look the same (404). */
  private async resolve(p: Principal, name: string): Promise<{ ws: Workspace; rel: Relation }> {
    if (workspaceNameProblem(name)) throw notFound(`workspace "${name}"`);
    const hp = await this.deps.harbor.findProject(name);
    if (!hp) throw notFound(`workspace "${name}"`);
    const owner = (await this.deps.credentials.ownerRecords()).find((o) => o.workspaces.includes(name));
    const ws = this.toWorkspace(hp, owner?.project ?? null);
    const rel = relation(p, ws);
    if (rel === 'none') throw notFound(`workspace "${name}"`);
    return { ws, rel };
  }

  private async resolveForManage(p: Principal, name: string): Promise<Workspace> {
    const { ws, rel } = await this.resolve(p, name);
    if (rel !== 'manage') throw forbidden(`only members of the owning project can change workspace "${name}"`);
    return ws;
  }

  async get(p: Principal, name: string): Promise<WorkspaceDetail & { relation: Relation }> {
    const { ws, rel } = await this.resolve(p, name);
    const summary = await this.deps.harbor.projectSummary(name);
    const hard = summary.quota?.hard?.storage;
    const limit = hard === undefined || hard < 0 ? null : hard;
    const used = summary.quota?.used?.storage ?? 0;
    return {
      ...ws,
      relation: rel,
      imageCount: summary.repo_count ?? 0,
      storageUsedBytes: used,
      storageLimitBytes: limit,
      storageUsedPercent: usedPercent(used, limit),
    };
  }

  /** The project a caller creates in: a project they joined, or any project for a cloud admin. */
  private owningProject(p: Principal, input: { projectId: string; projectName?: string; department?: string }): PlatformProject {
    const joined = p.projects.find((x) => x.id === input.projectId);
    if (joined) {
      if (input.department && input.department !== joined.department) {
        throw invalid(`project "${input.projectId}" belongs to department "${joined.department}", not "${input.department}"`);
      }
      return joined;
    }
    if (!p.isCloudAdmin) throw forbidden(`you are not a member of project "${input.projectId}"`);
    if (!input.department) throw invalid('department is required when creating a workspace for a project you have not joined');
    return { id: input.projectId, name: input.projectName ?? input.projectId, department: input.department };
  }

  async create(
    p: Principal,
    input: { name: string; projectId: string; projectName?: string; department?: string; access: AccessLevel },
  ): Promise<WorkspaceDetail & { relation: Relation }> {
    const problem = workspaceNameProblem(input.name);
    if (problem) throw invalid(problem);
    const project = this.owningProject(p, input);
    if (this.deps.reserved.includes(input.name)) throw conflict(`workspace name "${input.name}" is reserved`);
    const { harbor, credentials, coordination } = this.deps;

    // Ownership is claimed by Harbor itself: project names are unique there (transactionally), so the one request
    // that gets the 201 for POST /projects is the only one that grants the workspace to its project. A request that
    // finds the project existing never takes it over while its creator may still be granting it (adoptOrRefuse).
    // The lock (required: 503 while Redis is unavailable) orders creations and deletions of one name.
    await coordination.withLock(
      `workspace:${input.name}`,
      async () => {
        let created = false;
        try {
          await harbor.createProject({ name: input.name, public: input.access === 'public', storageLimit: this.deps.defaultQuotaBytes });
          created = true;
        } catch (e) {
          if (!(e instanceof AppError && e.kind === 'conflict')) throw e;
          await this.adoptOrRefuse(project, input.name, input.access);
        }
        try {
          if (created) await credentials.releaseFromOthers(input.name, project);
          await credentials.grantWorkspace(project, input.name);
        } catch (e) {
          if (created) {
            // Roll back: a workspace never exists without its project's credentials reaching it (and a grant that
            // landed before the failure is taken back first, so nothing of it survives under that name).
            await credentials
              .revokeWorkspace(project, input.name)
              .catch((re) => this.deps.logger.warn('rollback: could not take the workspace back out of the project credentials', { workspace: input.name, error: re }));
            await harbor.deleteProject(input.name).catch((re) =>
              this.deps.logger.error('rollback of workspace creation failed; the empty project is adopted by a creation once it is older than HUBGATE_ADOPT_UNOWNED_AFTER_SECONDS', {
                workspace: input.name,
                error: re,
              }),
            );
          }
          throw e;
        }
      },
      WORKSPACE_LOCK,
    );
    await this.invalidate([input.name]);
    return this.get(p, input.name);
  }

  /**
   * The Harbor project exists already (POST /projects answered 409). Ours already: an idempotent retry. Another
   * project's: a name conflict. Nobody's: it may be another request's creation that has not granted it yet, or
   * what a failed creation left — adopted only when it is empty and older than adoptUnownedAfterSeconds (no
   * creation takes that long), so an in-flight creation can never end up owned by two projects.
   */
  private async adoptOrRefuse(project: PlatformProject, name: string, access: AccessLevel): Promise<void> {
    const owners = (await this.deps.credentials.ownerRecords()).filter((o) => o.workspaces.includes(name));
    if (owners.length > 0) {
      if (owners.every((o) => o.project.id === project.id)) return; // already ours: idempotent retry
      throw conflict(`workspace name "${name}" is already taken`);
    }
    const hp = await this.deps.harbor.findProject(name);
    if (!hp) throw conflict(`workspace "${name}" is being created or deleted by another request; try again`);
    const ageMs = Date.now() - Date.parse(hp.creation_time);
    if (!(ageMs >= (this.deps.adoptUnownedAfterSeconds ?? 600) * 1000)) {
      throw conflict(`workspace name "${name}" is taken (it is being created by another request)`);
    }
    const summary = await this.deps.harbor.projectSummary(name);
    if ((summary.repo_count ?? 0) > 0) throw conflict(`workspace name "${name}" is already taken`);
    this.deps.logger.info('adopting an unowned empty Harbor project as a workspace', { workspace: name, project: project.id });
    if ((hp.metadata?.public === 'true') !== (access === 'public')) await this.deps.harbor.setProjectPublic(hp.project_id, access === 'public');
  }

  async setAccess(p: Principal, name: string, access: AccessLevel): Promise<WorkspaceDetail & { relation: Relation }> {
    const ws = await this.resolveForManage(p, name);
    if (ws.access !== access) await this.deps.harbor.setProjectPublic(ws.harborProjectId, access === 'public');
    await this.invalidate([name]);
    return this.get(p, name);
  }

  /** Deletes every image inside, then the workspace. Safe to retry after a failure midway. */
  async delete(p: Principal, name: string): Promise<{ deletedImages: number }> {
    const ws = await this.resolveForManage(p, name);
    const { harbor, credentials } = this.deps;
    // Harbor refuses to delete a protected version only when it reaches that image, after deleting the others
    const locked = await this.deps.protectedVersion?.(name);
    if (locked) throw conflict(`workspace "${name}" cannot be deleted: ${locked}; remove the rule first`);
    let deletedImages = 0;
    await this.deps.coordination.withLock(
      `workspace:${name}`,
      async () => {
        // The owner's credentials let go first (Harbor may keep a permission by name and hand it to the next
        // project of that name); if the deletion then fails, they get it back.
        if (ws.project) await credentials.revokeWorkspace(ws.project, name);
        try {
          // Three rounds at most: a round deletes the project or throws, unless an image arrived in the first two.
          for (let round = 0; ; round++) {
            const repos = await harbor.listAllRepositories(name);
            for (const r of repos) {
              await harbor.deleteRepository(name, r.name.slice(name.length + 1));
              deletedImages++;
            }
            try {
              await harbor.deleteProject(name);
              return;
            } catch (e) {
              // An image pushed while we were deleting: empty it again.
              if (e instanceof AppError && e.kind === 'precondition' && round < 2) continue;
              throw e;
            }
          }
        } catch (e) {
          if (ws.project) {
            const owner = ws.project;
            await credentials
              .grantWorkspace(owner, name)
              .catch((ge) => this.deps.logger.error('a failed deletion could not give the workspace back to its project', { workspace: name, project: owner.id, error: ge }));
          }
          throw e;
        }
      },
      WORKSPACE_LOCK,
    );
    await this.invalidate([name]);
    return { deletedImages };
  }
}
