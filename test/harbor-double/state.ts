/** In-memory state of the Harbor double (what Harbor keeps in PostgreSQL). */
import type { ImmutableRule } from './immutable';

export interface RobotAccessItem {
  resource: string;
  action: string;
}

export interface RobotPermissionItem {
  kind: string;
  namespace: string;
  access: RobotAccessItem[];
}

export interface Project {
  id: number;
  name: string;
  metadata: Record<string, string>;
  creationTime: number;
  updateTime: number;
  quotaId: number;
  /** Storage hard limit in bytes, -1 = unlimited. */
  storageLimit: number;
  quotaCreationTime: number;
  quotaUpdateTime: number;
}

export interface Robot {
  id: number;
  /** Stored name without the prefix: `ci-pusher`, `alpha+builder`. */
  name: string;
  description: string;
  level: 'system' | 'project';
  /** 0 for system robots. */
  projectId: number;
  duration: number;
  disable: boolean;
  secret: string;
  creationTime: number;
  updateTime: number;
  permissions: RobotPermissionItem[];
}

export interface Tag {
  id: number;
  name: string;
  artifactId: number;
  repositoryId: number;
  pushTime: number;
  pullTime: number;
}

export interface BlobRef {
  digest: string;
  size: number;
  mediaType?: string;
}

export interface Artifact {
  id: number;
  repositoryId: number;
  projectId: number;
  digest: string;
  manifestMediaType: string;
  mediaType: string;
  /** manifest + config + layers. */
  size: number;
  pushTime: number;
  pullTime: number;
  extraAttrs: Record<string, unknown> | null;
  history: unknown;
  blobs: BlobRef[];
  manifestSize: number;
  type: string;
}

export interface Repository {
  id: number;
  projectId: number;
  name: string;
  description: string;
  pullCount: number;
  creationTime: number;
  updateTime: number;
}

export interface AuditLog {
  id: number;
  projectId: number;
  opTime: number;
  operation: string;
  resource: string;
  resourceType: string;
  username: string;
}

export interface GcExecution {
  id: number;
  scheduleType: string;
  parameters: Record<string, unknown>;
  status: 'Pending' | 'Running' | 'Success' | 'Error';
  creationTime: number;
  updateTime: number;
  log: string[];
  deleted: boolean;
}

/** An ordinary Harbor user (db_auth), see users.ts. */
export interface HarborUser {
  id: number;
  username: string;
  password: string;
  email: string;
  realname: string;
  comment: string;
  creationTime: number;
}

export interface GcSchedule {
  type: string;
  cron?: string;
  parameters: Record<string, unknown>;
  creationTime: number;
  updateTime: number;
  id: number;
}

import { RetentionStore } from './retention';

export class State {
  projects = new Map<number, Project>();
  robots = new Map<number, Robot>();
  repositories = new Map<number, Repository>();
  artifacts = new Map<number, Artifact>();
  tags = new Map<number, Tag>();
  audit: AuditLog[] = [];
  gc: GcExecution[] = [];
  gcSchedule: GcSchedule | null = null;
  /** Tag retention policies and executions (retention.ts). */
  retention = new RetentionStore();
  /** blob digest -> size, as Harbor's blob table (project_blob association in projectBlobs). */
  blobs = new Map<string, number>();
  projectBlobs = new Map<number, Set<string>>();
  /** Blobs uploaded or mounted into a project that no artifact references yet: Harbor counts them in the quota at once. */
  pendingBlobs = new Map<number, Set<string>>();
  immutableRules = new Map<number, ImmutableRule>();
  /** Deleted artifacts waiting for GC (Harbor's artifact_trash). */
  trash: (Artifact & { repoName: string; trashedAt: number; trashId: number })[] = [];
  /** Blob record ids (insertion order) and the digests that are manifests. */
  blobIds = new Map<string, number>();
  /** When each blob was last pushed or referenced by a push (Harbor's blob.update_time; GC's time window). */
  blobUpdated = new Map<string, number>();
  manifestSet = new Set<string>();
  robotPrefix = 'robot$';
  /** Ordinary users (admin is not one of them) and project members: project id -> user id -> role id (users.ts). */
  users = new Map<number, HarborUser>();
  members = new Map<number, Map<number, number>>();
  adminPassword: string;
  adminCreated: number;
  seq: Record<string, number> = {};

  constructor(adminPassword: string) {
    this.adminPassword = adminPassword;
    const now = Date.now();
    this.adminCreated = now;
    const lib = this.newProject('library', { public: 'true' }, -1, now);
    lib.id = 1;
  }

  next(kind: string): number {
    this.seq[kind] = (this.seq[kind] ?? 0) + 1;
    return this.seq[kind];
  }

  newProject(name: string, metadata: Record<string, string>, storageLimit: number, now = Date.now()): Project {
    const p: Project = {
      id: this.next('project'),
      name,
      metadata: { ...metadata },
      creationTime: now,
      updateTime: now,
      quotaId: this.next('quota'),
      storageLimit,
      quotaCreationTime: now,
      quotaUpdateTime: now,
    };
    if (p.metadata.public === undefined) p.metadata.public = 'false';
    this.projects.set(p.id, p);
    this.projectBlobs.set(p.id, new Set());
    this.pendingBlobs.set(p.id, new Set());
    return p;
  }

  projectByName(name: string): Project | undefined {
    for (const p of this.projects.values()) if (p.name === name) return p;
    return undefined;
  }

  repoByName(name: string): Repository | undefined {
    for (const r of this.repositories.values()) if (r.name === name) return r;
    return undefined;
  }

  reposOfProject(projectId: number): Repository[] {
    return [...this.repositories.values()].filter((r) => r.projectId === projectId);
  }

  artifactsOf(repoId: number): Artifact[] {
    return [...this.artifacts.values()].filter((a) => a.repositoryId === repoId);
  }

  tagsOf(artifactId: number): Tag[] {
    return [...this.tags.values()].filter((t) => t.artifactId === artifactId);
  }

  tagByName(repoId: number, name: string): Tag | undefined {
    for (const t of this.tags.values()) if (t.repositoryId === repoId && t.name === name) return t;
    return undefined;
  }

  artifactByDigest(repoId: number, digest: string): Artifact | undefined {
    for (const a of this.artifacts.values()) if (a.repositoryId === repoId && a.digest === digest) return a;
    return undefined;
  }

  addBlob(digest: string, size: number, isManifest = false): void {
    this.blobs.set(digest, size);
    if (!this.blobIds.has(digest)) this.blobIds.set(digest, this.next('blob'));
    this.blobUpdated.set(digest, Date.now());
    if (isManifest) this.manifestSet.add(digest);
  }

  blobOrder(digest: string): number {
    return this.blobIds.get(digest) ?? 0;
  }

  manifestDigests(): string[] {
    return [...this.manifestSet];
  }

  deleteArtifact(a: Artifact): void {
    const repo = this.repositories.get(a.repositoryId);
    this.trash.push({ ...a, repoName: repo?.name ?? '', trashedAt: Date.now(), trashId: this.next('trash') });
    for (const t of this.tagsOf(a.id)) this.tags.delete(t.id);
    this.artifacts.delete(a.id);
  }

  deleteRepository(r: Repository): void {
    for (const a of this.artifactsOf(r.id)) this.deleteArtifact(a);
    this.repositories.delete(r.id);
  }

  /** Bytes used by a project: the distinct blobs (and manifests) its artifacts reference, plus blobs pushed but not yet referenced. */
  projectUsage(projectId: number): number {
    const seen = new Map<string, number>();
    for (const a of this.artifacts.values()) {
      if (a.projectId !== projectId) continue;
      seen.set(a.digest, a.manifestSize);
      for (const b of a.blobs) seen.set(b.digest, b.size);
    }
    for (const d of this.pendingBlobs.get(projectId) ?? []) if (!seen.has(d)) seen.set(d, this.blobs.get(d) ?? 0);
    let sum = 0;
    for (const v of seen.values()) sum += v;
    return sum;
  }

  log(projectId: number, operation: string, resource: string, resourceType: string, username: string): void {
    this.audit.push({ id: this.next('audit'), projectId, opTime: Date.now(), operation, resource, resourceType, username });
  }
}
