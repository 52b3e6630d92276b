import { AppError } from '../../src/domain/errors';
import type {
  HarborArtifact,
  HarborContentPort,
  HarborGcPort,
  HarborGcRun,
  HarborPort,
  HarborProject,
  HarborRepository,
  HarborRobot,
  ListQuery,
  Page,
  RobotCreate,
} from '../../src/ports/harbor';

/**
 * An in-memory HarborPort for domain tests: Harbor's semantics where they matter to the domain (PUT /robots
 * replaces the whole robot with no version check, an empty permission list is refused, deleting a project
 * drops it from robots, a project with repositories cannot be deleted), plus latency and fault injection.
 */
export class FakeHarbor implements HarborPort, HarborContentPort, HarborGcPort {
  projects = new Map<string, HarborProject>();
  repos = new Map<string, HarborRepository[]>();
  robots = new Map<number, HarborRobot>();
  secrets = new Map<number, string>();
  calls: string[] = [];
  /** Per-call artificial latency (ms), to widen race windows. */
  latencyMs = 0;
  /** updateRobot answers 404 `project <name> not found` for a permission on an absent project, as Harbor 2.5.5 does. */
  strictPermissions = false;
  private nextProject = 2;
  private nextRobot = 1;
  private faults: { method: string; remaining: number; error: () => Error }[] = [];

  constructor() {
    this.projects.set('library', this.mkProject(1, 'library', true));
  }

  /** The next `times` calls of `method` throw. */
  failNext(method: keyof HarborPort | keyof HarborContentPort | keyof HarborGcPort, error: () => Error = () => new AppError('upstream_unavailable', 'boom'), times = 1): void {
    this.faults.push({ method, remaining: times, error });
  }

  private async enter(method: string): Promise<void> {
    this.calls.push(method);
    if (this.latencyMs) await new Promise((r) => setTimeout(r, Math.random() * this.latencyMs));
    const f = this.faults.find((x) => x.method === method && x.remaining > 0);
    if (f) {
      f.remaining--;
      throw f.error();
    }
  }

  private mkProject(id: number, name: string, pub: boolean): HarborProject {
    const now = new Date().toISOString();
    return { project_id: id, name, metadata: { public: String(pub) }, creation_time: now, update_time: now, repo_count: 0, owner_name: 'admin' };
  }

  addRepository(project: string, repo: string): void {
    const list = this.repos.get(project) ?? [];
    const now = new Date().toISOString();
    list.push({ id: list.length + 1, project_id: this.projects.get(project)!.project_id, name: `${project}/${repo}`, artifact_count: 1, pull_count: 0, creation_time: now, update_time: now });
    this.repos.set(project, list);
  }

  async currentUser() {
    await this.enter('currentUser');
    return { user_id: 1, username: 'admin', sysadmin_flag: true };
  }
  async health() {
    await this.enter('health');
    return { status: 'healthy', components: [{ name: 'core', status: 'healthy' }] };
  }
  async findProject(name: string) {
    await this.enter('findProject');
    return structuredClone(this.projects.get(name)) ?? null;
  }
  async getProjectById(id: number) {
    await this.enter('getProjectById');
    return structuredClone([...this.projects.values()].find((p) => p.project_id === id)) ?? null;
  }
  async createProject(input: { name: string; public: boolean }) {
    await this.enter('createProject');
    if (this.projects.has(input.name)) throw new AppError('conflict', `The project named ${input.name} already exists`);
    const id = this.nextProject++;
    this.projects.set(input.name, this.mkProject(id, input.name, input.public));
    return id;
  }
  async setProjectPublic(projectId: number, isPublic: boolean) {
    await this.enter('setProjectPublic');
    const p = [...this.projects.values()].find((x) => x.project_id === projectId);
    if (!p) throw new AppError('not_found', 'project not found');
    p.metadata.public = String(isPublic);
  }
  async deleteProject(name: string) {
    await this.enter('deleteProject');
    if (!this.projects.has(name)) return;
    if ((this.repos.get(name) ?? []).length > 0) {
      throw new AppError('precondition', 'precondition failed: the project contains repositories, can not be deleted');
    }
    this.projects.delete(name);
    for (const r of this.robots.values()) r.permissions = r.permissions.filter((p) => p.namespace !== name);
  }
  async listProjects(query: ListQuery & { name?: string }): Promise<Page<HarborProject>> {
    await this.enter('listProjects');
    const all = [...this.projects.values()].filter((p) => !query.name || p.name.includes(query.name));
    const size = query.pageSize ?? 10;
    const page = query.page ?? 1;
    return { items: structuredClone(all.slice((page - 1) * size, page * size)), total: all.length };
  }
  async listAllProjects() {
    await this.enter('listAllProjects');
    return structuredClone([...this.projects.values()]);
  }
  async projectSummary(name: string) {
    await this.enter('projectSummary');
    return { repo_count: (this.repos.get(name) ?? []).length, quota: { hard: { storage: -1 }, used: { storage: 0 } } };
  }
  async listRepositories(project: string, query: ListQuery = {}): Promise<Page<HarborRepository>> {
    await this.enter('listRepositories');
    if (!this.projects.has(project)) throw new AppError('not_found', `project ${project} not found`, { upstreamStatus: 403 });
    const items = this.repos.get(project) ?? [];
    // Harbor's paging (page_size at most 100); without a page size, everything (as before).
    const size = query.pageSize ?? items.length;
    const page = query.page ?? 1;
    return { items: structuredClone(size > 0 ? items.slice((page - 1) * size, page * size) : items), total: items.length };
  }
  async listAllRepositories(project: string) {
    await this.enter('listAllRepositories');
    return structuredClone(this.repos.get(project) ?? []);
  }
  async deleteRepository(project: string, repository: string) {
    await this.enter('deleteRepository');
    this.repos.set(project, (this.repos.get(project) ?? []).filter((r) => r.name !== `${project}/${repository}`));
    this.artifacts.delete(`${project}/${repository}`);
  }
  async listRobots(nameContains: string) {
    await this.enter('listRobots');
    return structuredClone([...this.robots.values()].filter((r) => r.name.includes(nameContains)));
  }
  async getRobot(id: number) {
    await this.enter('getRobot');
    return structuredClone(this.robots.get(id)) ?? null;
  }
  async createRobot(input: RobotCreate) {
    await this.enter('createRobot');
    if (input.permissions.length === 0) throw new AppError('invalid', 'bad request empty permission');
    if ([...this.robots.values()].some((r) => r.name === `robot$${input.name}`)) throw new AppError('conflict', 'robot already exists');
    const id = this.nextRobot++;
    const now = new Date().toISOString();
    this.robots.set(id, {
      id,
      name: `robot$${input.name}`,
      description: input.description,
      level: 'system',
      duration: input.duration,
      disable: input.disable,
      editable: true,
      expires_at: -1,
      creation_time: now,
      update_time: now,
      permissions: structuredClone(input.permissions),
    });
    this.secrets.set(id, `random-${Math.random()}`);
    return { id, name: `robot$${input.name}` };
  }
  async updateRobot(robot: HarborRobot) {
    await this.enter('updateRobot');
    const cur = this.robots.get(robot.id);
    if (!cur) throw new AppError('not_found', `robot ${robot.id} not found`);
    if (robot.permissions.length === 0) throw new AppError('invalid', 'bad request empty permission');
    // Real Harbor refuses a permission on a project that does not exist (opt-in: unit tests often grant bare names).
    const missing = this.strictPermissions && robot.permissions.find((p) => p.kind === 'project' && !this.projects.has(p.namespace));
    if (missing) throw new AppError('not_found', `project ${missing.namespace} not found`);
    // Whole replacement, no version check (recordings 064–067).
    this.robots.set(robot.id, { ...structuredClone(robot), update_time: new Date().toISOString() });
  }
  async setRobotSecret(id: number, secret: string) {
    await this.enter('setRobotSecret');
    if (!this.robots.has(id)) throw new AppError('not_found', `robot ${id} not found`);
    this.secrets.set(id, secret);
  }
  async deleteRobot(id: number) {
    await this.enter('deleteRobot');
    this.robots.delete(id);
  }

  // ── repositories, artifacts, tags (HarborContentPort) ───────────────────────────────────────────────────
  /** Artifacts by full repository name (`project/repo`), newest first as Harbor lists them. */
  artifacts = new Map<string, HarborArtifact[]>();
  private nextArtifact = 1;
  private nextRepoId = 1000;

  /**
   * Adds (or extends) an image: one artifact per entry, with the given tags. `children` makes it an index whose
   * children are stored as untagged artifacts that the list hides (as Harbor does for referenced artifacts).
   */
  addImage(
    project: string,
    repo: string,
    artifacts: { tags: string[]; digest?: string; size?: number; os?: string; arch?: string; pushTime?: string; pullCount?: number; children?: { digest: string; os: string; arch: string; size: number }[] }[],
  ): HarborRepository {
    const full = `${project}/${repo}`;
    const p = this.projects.get(project);
    if (!p) throw new Error(`no project ${project}`);
    const list = this.repos.get(project) ?? [];
    let r = list.find((x) => x.name === full);
    const now = new Date().toISOString();
    if (!r) {
      r = { id: this.nextRepoId++, project_id: p.project_id, name: full, artifact_count: 0, pull_count: 0, creation_time: now, update_time: now };
      list.push(r);
      this.repos.set(project, list);
    }
    const arts = this.artifacts.get(full) ?? [];
    for (const a of artifacts) {
      const id = this.nextArtifact++;
      const digest = a.digest ?? `sha256:${id.toString(16).padStart(64, '0')}`;
      const push = a.pushTime ?? now;
      const references = a.children?.map((c, i) => ({ parent_id: id, child_id: 10_000 + id * 10 + i, child_digest: c.digest, platform: { os: c.os, architecture: c.arch } })) ?? null;
      for (const c of a.children ?? []) this.hiddenArtifacts.set(`${full}@${c.digest}`, this.mkArtifact(10_000, c.digest, c.size, push, [], r, { os: c.os, architecture: c.arch }, null));
      arts.unshift(this.mkArtifact(id, digest, a.size ?? 1000, push, a.tags, r, a.children ? {} : { os: a.os ?? 'linux', architecture: a.arch ?? 'amd64' }, references));
      r.pull_count += a.pullCount ?? 0;
    }
    this.artifacts.set(full, arts);
    r.artifact_count = arts.length;
    r.update_time = now;
    return r;
  }

  /** Index children: readable by digest, not listed. */
  hiddenArtifacts = new Map<string, HarborArtifact>();

  private mkArtifact(id: number, digest: string, size: number, push: string, tags: string[], r: HarborRepository, extra: Record<string, unknown>, references: HarborArtifact['references']): HarborArtifact {
    return {
      id,
      digest,
      size,
      type: 'IMAGE',
      manifest_media_type: references ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json',
      media_type: 'application/vnd.oci.image.config.v1+json',
      project_id: r.project_id,
      repository_id: r.id,
      push_time: push,
      pull_time: '0001-01-01T00:00:00.000Z',
      tags: tags.length ? tags.map((name, i) => ({ id: id * 100 + i, name, push_time: push, pull_time: '0001-01-01T00:00:00.000Z' })) : null,
      extra_attrs: extra,
      references,
    };
  }

  private repoOrThrow(project: string, repository: string): HarborRepository {
    if (!this.projects.has(project)) throw new AppError('not_found', `project ${project} not found`, { upstreamStatus: 403 });
    const r = (this.repos.get(project) ?? []).find((x) => x.name === `${project}/${repository}`);
    if (!r) throw new AppError('not_found', `repository ${project}/${repository} not found`);
    return r;
  }

  async getRepository(project: string, repository: string) {
    await this.enter('getRepository');
    try {
      return structuredClone(this.repoOrThrow(project, repository));
    } catch {
      return null;
    }
  }
  async updateRepositoryDescription(project: string, repository: string, description: string) {
    await this.enter('updateRepositoryDescription');
    const r = this.repoOrThrow(project, repository);
    r.description = description;
    r.update_time = new Date().toISOString();
  }
  async listArtifacts(project: string, repository: string, query: ListQuery = {}): Promise<Page<HarborArtifact>> {
    await this.enter('listArtifacts');
    this.repoOrThrow(project, repository);
    const all = this.artifacts.get(`${project}/${repository}`) ?? [];
    const size = query.pageSize ?? 10;
    const page = query.page ?? 1;
    return { items: structuredClone(all.slice((page - 1) * size, page * size)), total: all.length };
  }
  async getArtifact(project: string, repository: string, reference: string) {
    await this.enter('getArtifact');
    const full = `${project}/${repository}`;
    const a = (this.artifacts.get(full) ?? []).find((x) => x.digest === reference || x.tags?.some((t) => t.name === reference)) ?? this.hiddenArtifacts.get(`${full}@${reference}`);
    return a ? structuredClone(a) : null;
  }
  async deleteArtifact(project: string, repository: string, reference: string) {
    await this.enter('deleteArtifact');
    const r = this.repoOrThrow(project, repository);
    const list = this.artifacts.get(r.name) ?? [];
    const a = list.find((x) => x.digest === reference || x.tags?.some((t) => t.name === reference));
    if (!a) throw new AppError('not_found', `artifact ${r.name}@${reference} not found`);
    this.artifacts.set(r.name, list.filter((x) => x !== a));
    r.artifact_count = list.length - 1;
  }
  async deleteTag(project: string, repository: string, digest: string, tag: string) {
    await this.enter('deleteTag');
    const r = this.repoOrThrow(project, repository);
    const a = (this.artifacts.get(r.name) ?? []).find((x) => x.digest === digest);
    if (!a || !a.tags?.some((t) => t.name === tag)) throw new AppError('not_found', `tag ${tag} not found`);
    a.tags = a.tags.filter((t) => t.name !== tag);
    if (a.tags.length === 0) a.tags = null;
  }
  async listRepositoriesAll(query: ListQuery = {}): Promise<Page<HarborRepository>> {
    await this.enter('listRepositoriesAll');
    const byId = query.sort === 'repository_id' ? 1 : query.sort === '-repository_id' ? -1 : 0;
    const all = [...this.repos.values()].flat().sort((a, b) => (byId ? byId * (a.id - b.id) : a.name < b.name ? -1 : 1));
    const size = query.pageSize ?? 10;
    const page = query.page ?? 1;
    return { items: structuredClone(all.slice((page - 1) * size, page * size)), total: all.length };
  }
  async listRepositoriesInIdRange(from: number | undefined, to: number | undefined): Promise<Page<HarborRepository>> {
    await this.enter('listRepositoriesRange');
    const all = [...this.repos.values()].flat().filter((r) => (from === undefined || r.id >= from) && (to === undefined || r.id <= to));
    return { items: structuredClone(all), total: all.length };
  }

  // ── garbage collection (HarborGcPort) ───────────────────────────────────────────────────────────────────
  gcRuns: HarborGcRun[] = [];
  gcLogs = new Map<number, string>();
  /** Harbor's GC time window reported in job_parameters (hours). */
  gcWindowHours = 2;

  async startGc(opts: { dryRun: boolean; deleteUntagged: boolean }) {
    await this.enter('startGc');
    const id = this.gcRuns.length + 1;
    const now = new Date().toISOString();
    this.gcRuns.push({
      id,
      job_name: 'GARBAGE_COLLECTION',
      job_kind: 'MANUAL',
      job_parameters: JSON.stringify({ delete_untagged: opts.deleteUntagged, dry_run: opts.dryRun, redis_url_reg: 'redis://:s3cret-redis@redis:6379/1', time_window: this.gcWindowHours }),
      job_status: 'Running',
      schedule: { type: 'Manual' },
      creation_time: now,
      update_time: now,
    });
    return id;
  }
  /** Ends a run with `status` and a log. */
  finishGc(id: number, status: 'Success' | 'Error' | 'Stopped', log: string): void {
    const run = this.gcRuns.find((r) => r.id === id);
    if (!run) throw new Error(`no GC ${id}`);
    run.job_status = status;
    run.update_time = new Date().toISOString();
    this.gcLogs.set(id, log);
  }
  async listGcHistory(page: number, pageSize: number): Promise<Page<HarborGcRun>> {
    await this.enter('listGcHistory');
    const all = [...this.gcRuns].reverse();
    return { items: structuredClone(all.slice((page - 1) * pageSize, page * pageSize)), total: all.length };
  }
  async getGc(id: number) {
    await this.enter('getGc');
    return structuredClone(this.gcRuns.find((r) => r.id === id)) ?? null;
  }
  async getGcLog(id: number) {
    await this.enter('getGcLog');
    if (!this.gcRuns.some((r) => r.id === id)) return null;
    return this.gcLogs.get(id) ?? '';
  }
  async systemVolumes() {
    await this.enter('systemVolumes');
    return {};
  }
}
