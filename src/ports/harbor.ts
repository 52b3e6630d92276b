/**
 * What hubgate needs from Harbor 2.5.5's REST API. Implemented by adapters/harbor (axios); the domain only
 * sees this interface. Shapes follow Harbor's JSON (see ../shared/harbor-2.5.5/exchanges). Every method throws
 * AppError: not_found / conflict / invalid (Harbor's message kept) / upstream_misconfigured (Harbor refused
 * hubgate's admin identity) / upstream_unavailable (refused, 5xx) / upstream_timeout.
 */

export interface HarborProject {
  project_id: number;
  name: string;
  metadata: { public?: string; [k: string]: string | undefined };
  creation_time: string;
  update_time: string;
  repo_count?: number;
  owner_name?: string;
}

export interface HarborProjectSummary {
  repo_count: number;
  quota?: { hard?: { storage?: number }; used?: { storage?: number } };
}

export interface HarborRepository {
  id: number;
  project_id: number;
  /** Full name including the project: `alpha/app`, `beta/team/app`. */
  name: string;
  description?: string;
  artifact_count: number;
  pull_count: number;
  creation_time: string;
  update_time: string;
}

export interface RobotAccess {
  resource: string;
  action: string;
}

export interface RobotPermission {
  kind: 'project' | 'system';
  /** Harbor project name for kind "project". */
  namespace: string;
  access: RobotAccess[];
}

/** A robot exactly as `GET /robots/{id}` returns it; `PUT /robots/{id}` must send this whole body back. */
export interface HarborRobot {
  id: number;
  /** With the robot name prefix, e.g. `robot$hg-p1`. */
  name: string;
  description?: string;
  level: 'system' | 'project';
  duration: number;
  disable: boolean;
  editable?: boolean;
  expires_at: number;
  creation_time: string;
  update_time: string;
  permissions: RobotPermission[];
}

export interface RobotCreate {
  /** Without the prefix. */
  name: string;
  description?: string;
  level: 'system';
  duration: number;
  disable: boolean;
  permissions: RobotPermission[];
}

export interface Page<T> {
  items: T[];
  total: number;
}

export interface ListQuery {
  page?: number;
  /** At most 100 (Harbor answers 422 above). */
  pageSize?: number;
  /** Harbor `q` expression, e.g. `name=~team`. */
  q?: string;
  sort?: string;
}

export interface HarborHealth {
  status: string;
  components: { name: string; status: string; error?: string }[];
}

export interface HarborCurrentUser {
  user_id: number;
  username: string;
  sysadmin_flag: boolean;
}

export interface HarborPort {
  /** `GET /users/current` — the cheap check that Harbor accepts hubgate's admin credentials. */
  currentUser(): Promise<HarborCurrentUser>;
  health(): Promise<HarborHealth>;

  /** Exact lookup by name (never a fuzzy search); null when absent. */
  findProject(name: string): Promise<HarborProject | null>;
  getProjectById(id: number): Promise<HarborProject | null>;
  /** Creates the project; returns its id (from `Location`). conflict when the name exists. */
  createProject(input: { name: string; public: boolean; storageLimit?: number }): Promise<number>;
  setProjectPublic(projectId: number, isPublic: boolean): Promise<void>;
  /** Idempotent: a project that is already gone is not an error. precondition when it still has repositories. */
  deleteProject(name: string): Promise<void>;
  listProjects(query: ListQuery & { name?: string; public?: boolean }): Promise<Page<HarborProject>>;
  /** Every project, walking all pages. */
  listAllProjects(): Promise<HarborProject[]>;
  projectSummary(name: string): Promise<HarborProjectSummary>;

  /** `GET /projects/{p}/repositories`; repository names are encoded as Harbor wants. */
  listRepositories(project: string, query?: ListQuery): Promise<Page<HarborRepository>>;
  listAllRepositories(project: string): Promise<HarborRepository[]>;
  /** Idempotent: an absent repository is not an error. `repository` is the name without the project. */
  deleteRepository(project: string, repository: string): Promise<void>;

  /** Robots whose name matches (fuzzy) `nameContains`, every page. Only system-level robots are listed. */
  listRobots(nameContains: string): Promise<HarborRobot[]>;
  getRobot(id: number): Promise<HarborRobot | null>;
  /** `POST /robots`; Harbor ignores any secret here, use refreshRobotSecret. */
  createRobot(input: RobotCreate): Promise<{ id: number; name: string }>;
  /** `PUT /robots/{id}` with the whole body (Harbor replaces everything, including duration). */
  updateRobot(robot: HarborRobot): Promise<void>;
  /** `PATCH /robots/{id} {"secret"}`: takes effect at once, the old secret stops working. */
  setRobotSecret(id: number, secret: string): Promise<void>;
  deleteRobot(id: number): Promise<void>;
}

/** A garbage-collection execution as `GET /system/gc/{id}` returns it. */
export interface HarborGcRun {
  id: number;
  job_name: string;
  /** `MANUAL` for runs started through `startGc`, `SCHEDULE` for cron runs. */
  job_kind: string;
  /** JSON text, e.g. `{"delete_untagged":true,"dry_run":true,"time_window":0,…}`. */
  job_parameters?: string;
  /** `Pending`, `Running`, `Success`, `Error`, `Stopped`. */
  job_status: string;
  schedule?: { type?: string; cron?: string };
  creation_time: string;
  update_time: string;
}

/** Registry storage as `/systeminfo/volumes` reports it; either field is absent when Harbor cannot measure it. */
export interface HarborVolumes {
  total?: number;
  free?: number;
}

/** Garbage collection and storage, system-wide (admin only in Harbor). */
export interface HarborGcPort {
  /** `POST /system/gc/schedule` with a Manual schedule; returns the run id (from `Location`). Never retried. */
  startGc(opts: { dryRun: boolean; deleteUntagged: boolean }): Promise<number>;
  /** `GET /system/gc`, newest first; `total` from `X-Total-Count`. pageSize at most 100. */
  listGcHistory(page: number, pageSize: number): Promise<Page<HarborGcRun>>;
  /** null when Harbor does not know the run. */
  getGc(id: number): Promise<HarborGcRun | null>;
  /** The run's log as plain text (one record a line); null when Harbor does not know the run. */
  getGcLog(id: number): Promise<string | null>;
  /** `GET /systeminfo/volumes`; `{}` when Harbor answers `{"storage":[{}]}` (path not measurable). */
  systemVolumes(): Promise<HarborVolumes>;
}

export interface HarborTag {
  id: number;
  name: string;
  push_time: string;
  pull_time?: string;
  immutable?: boolean;
  signed?: boolean;
}

/** An artifact as `GET …/artifacts?with_tag=true` lists it (fields hubgate reads; Harbor sends more). */
export interface HarborArtifact {
  id: number;
  digest: string;
  size: number;
  type: string;
  media_type?: string;
  manifest_media_type?: string;
  project_id: number;
  repository_id: number;
  push_time: string;
  pull_time?: string;
  /** null when the artifact has no tag. */
  tags: HarborTag[] | null;
  extra_attrs?: Record<string, unknown>;
  /** The children of an image index (multi-arch); null for a plain image. */
  references?: HarborArtifactReference[] | null;
  [k: string]: unknown;
}

/** One child of an image index, as Harbor lists it in `references`. */
export interface HarborArtifactReference {
  parent_id: number;
  child_id: number;
  child_digest: string;
  platform?: { os?: string; architecture?: string; variant?: string; [k: string]: unknown } | null;
  annotations?: Record<string, string> | null;
  urls?: string[] | null;
}

/**
 * Repositories and artifacts. `repository` is always the name without the project (`team/app` in project
 * `beta`); the adapter encodes it as Harbor wants (twice, so a slash survives Harbor's nginx).
 */
export interface HarborContentPort {
  /** null when the repository (or its project) does not exist. */
  getRepository(project: string, repository: string): Promise<HarborRepository | null>;
  /** `PUT …/repositories/{r} {"description"}`; not_found when the repository does not exist. */
  updateRepositoryDescription(project: string, repository: string, description: string): Promise<void>;
  /** One artifact (with its tags) by digest or tag; null when absent. */
  getArtifact(project: string, repository: string, reference: string): Promise<HarborArtifact | null>;
  /** One page of artifacts, with their tags (`with_tag=true`). */
  listArtifacts(project: string, repository: string, query?: ListQuery): Promise<Page<HarborArtifact>>;
  /** `reference` is a digest or a tag. not_found when absent. */
  deleteArtifact(project: string, repository: string, reference: string): Promise<void>;
  /** Removes one tag from the artifact `digest`. not_found when absent. */
  deleteTag(project: string, repository: string, digest: string, tag: string): Promise<void>;
  /** `GET /repositories`: one page across every project. */
  listRepositoriesAll(query?: ListQuery): Promise<Page<HarborRepository>>;
  /**
   * `GET /repositories?q=repository_id=[from~to]&page_size=0`: every repository whose id is in the range (either
   * bound may be left open), across every project, in one answer — Harbor 2.5.5 applies no LIMIT for page_size 0
   * (lib/orm QuerySetter; recording 027 for projects). Only for ranges the caller keeps small (the image
   * catalogue's walk); `total` is Harbor's count for the range, so a shorter answer can be detected and paged.
   */
  listRepositoriesInIdRange(from: number | undefined, to: number | undefined): Promise<Page<HarborRepository>>;
}
