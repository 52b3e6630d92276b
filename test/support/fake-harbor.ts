import { AppError } from '../../src/domain/errors';
import type { HarborPort, HarborProject, HarborRepository, HarborRobot, ListQuery, Page, RobotCreate } from '../../src/ports/harbor';

/**
 * An in-memory HarborPort for domain tests: Harbor's semantics where they matter to the domain (PUT /robots
 * replaces the whole robot with no version check, an empty permission list is refused, deleting a project
 * drops it from robots, a project with repositories cannot be deleted), plus latency and fault injection.
 */
export class FakeHarbor implements HarborPort {
  projects = new Map<string, HarborProject>();
  repos = new Map<string, HarborRepository[]>();
  robots = new Map<number, HarborRobot>();
  secrets = new Map<number, string>();
  calls: string[] = [];
  /** Per-call artificial latency (ms), to widen race windows. */
  latencyMs = 0;
  private nextProject = 2;
  private nextRobot = 1;
  private faults: { method: string; remaining: number; error: () => Error }[] = [];

  constructor() {
    this.projects.set('library', this.mkProject(1, 'library', true));
  }

  /** The next `times` calls of `method` throw. */
  failNext(method: keyof HarborPort, error: () => Error = () => new AppError('upstream_unavailable', 'boom'), times = 1): void {
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
  async listRepositories(project: string): Promise<Page<HarborRepository>> {
    await this.enter('listRepositories');
    const items = this.repos.get(project) ?? [];
    return { items: structuredClone(items), total: items.length };
  }
  async listAllRepositories(project: string) {
    await this.enter('listAllRepositories');
    return structuredClone(this.repos.get(project) ?? []);
  }
  async deleteRepository(project: string, repository: string) {
    await this.enter('deleteRepository');
    this.repos.set(project, (this.repos.get(project) ?? []).filter((r) => r.name !== `${project}/${repository}`));
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
}
