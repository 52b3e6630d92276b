import { AppError, forbidden, invalid, notFound } from './errors';
import { memberOf, type PlatformProject, type Principal } from './principal';
import { workspaceNameProblem } from './names';
import { relation, type AccessLevel, type PageOf, type Relation, type Workspace, type WorkspacesService } from './workspaces.service';
import { mapLimit } from './concurrency';
import { ImageCatalog, statsOf, type CatalogRepo, type SyncKind } from './images.catalog';
import type { HarborArtifact, HarborContentPort, HarborPort } from '../ports/harbor';
import type { Cache } from '../ports/coordination';
import type { ChangeFeed } from '../ports/changes';
import type { Logger } from '../observability/logger';

/** What users are told wherever something is deleted (SPEC: deleting is soft; Harbor's 2 h GC window). */
export const GC_NOTE =
  'Storage is returned by the next garbage collection, not by the delete itself. Harbor only collects what was deleted ' +
  'more than its safety window before the GC starts (2 hours by default), so a GC right after a delete may free nothing yet.';

/** Longest description accepted (characters of Markdown). */
export const DESCRIPTION_MAX = 10_000;
/** Items per batch delete. */
export const BATCH_MAX = 100;

/** Distribution's repository-name grammar (lower case components, separators `.`, `_`, `__`, `-`+, joined by `/`). */
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const IMAGE_NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** Harbor's zero time for "never" (e.g. a tag never pulled). */
const ZERO_TIME_YEAR = 1;

export type ImageView = 'all' | 'own' | 'shared';
export type ImageSort = 'name' | '-name' | 'updated' | '-updated' | 'pulls' | '-pulls';

export interface ImageListFilter {
  view: ImageView;
  workspace?: string;
  projectId?: string;
  department?: string;
  /** Substring of the image name (case-insensitive). */
  q?: string;
  sort: ImageSort;
  page: number;
  pageSize: number;
}

export interface ImageRow {
  workspace: string;
  /** Name inside the workspace; may contain `/`. */
  image: string;
  /** `<registry>/<workspace>/<image>`; add `:<version>`. */
  pullAddress: string;
  versionCount: number;
  latestPushAt: string | null;
  /** Harbor's pull count: manifest GETs (never HEADs), updated by Harbor within ~10 s. */
  pullCount: number;
  /** Sum of the sizes of the image's artifacts, as Harbor reports them. */
  sizeBytes: number;
  updatedAt: string;
  access: AccessLevel;
  project: PlatformProject | null;
  /** manage: own project (or cloud admin); view: shared (public workspace of another project) — view and pull only. */
  relation: Exclude<Relation, 'none'>;
  shared: boolean;
}

export interface ImageChild {
  digest: string;
  os: string | null;
  architecture: string | null;
  variant: string | null;
  sizeBytes: number | null;
  pullAddress: string;
}

export interface ImageVersion {
  tag: string;
  digest: string;
  sizeBytes: number;
  pushedAt: string | null;
  lastPulledAt: string | null;
  os: string | null;
  architecture: string | null;
  /** `image`, or `index` for a multi-architecture image (its platforms are in `children`). */
  kind: 'image' | 'index';
  mediaType: string | null;
  pullAddress: string;
  pullAddressByDigest: string;
  children?: ImageChild[];
}

export interface ImageDetail extends Omit<ImageRow, 'updatedAt'> {
  description: string;
  /** Sum of the sizes of all artifacts (tagged or not), as Harbor counts them. */
  storageUsedBytes: number;
  createdAt: string;
  updatedAt: string;
  versions: ImageVersion[];
  /** Artifacts without a tag (e.g. the previous image of an overwritten version); GC with untagged deletion removes them. */
  untagged: { digest: string; sizeBytes: number; pushedAt: string | null }[];
  pullCountNote: string;
  /** The storage quota of the image's workspace (null values: no quota). */
  workspaceQuota: { limitBytes: number | null; usedBytes: number; usedPercent: number | null };
}

export interface BatchFailure {
  code: string;
  reason: string;
}

export interface ImagesDeleteResult {
  deleted: { workspace: string; image: string }[];
  failed: ({ workspace: string; image: string } & BatchFailure)[];
  note: string;
}

export interface VersionsDeleteResult {
  workspace: string;
  image: string;
  deleted: { tag: string; digest: string; artifactDeleted: boolean }[];
  failed: ({ tag: string } & BatchFailure)[];
  note: string;
}

export interface ImagesDeps {
  harbor: HarborPort & HarborContentPort;
  workspaces: Pick<WorkspacesService, 'all' | 'get'>;
  /** Unused by the catalogue since it keeps its own state (kept for callers that pass it). */
  cache?: Cache;
  /** Changed images shared by every replica (Redis, or in-process for one replica). */
  feed: ChangeFeed;
  logger: Logger;
  registryHost: string;
  /**
   * Longest time lists are answered without asking Harbor what changed (bounds staleness of changes made outside
   * hubgate: pushes that bypass it, pull counts, deletes in Harbor's UI); 0 = ask before every list.
   */
  cacheTtlSeconds: number;
  /** Every this often the whole repository list is read again in the background (see ImageCatalog); default 1 hour. */
  fullSyncSeconds?: number;
  /** Longest time one image's version count and size are kept without re-reading them (0 = until a change is seen). Default 1 day. */
  statsMaxAgeSeconds?: number;
  /** Harbor calls in flight at once when building the catalogue or fetching details. */
  harborConcurrency: number;
  /** Harbor calls in flight at once for the background stats fill (default 4). */
  statsFillConcurrency?: number;
  onSync?: (kind: SyncKind, repositories: number) => void;
  /** Lets the runtime collect the stats fill's garbage (src/runtime.ts collectGarbageIfGrown); see ImageCatalog. */
  compact?: () => void;
  now?: () => number;
  /** Names the immutable rule protecting `image:tag` (workspace policies), for refusals of deletes. */
  immutableRule?: (workspace: string, image: string, tag: string) => Promise<string | undefined>;
}

const PULL_COUNT_NOTE = 'Pull count is Harbor\'s: manifest downloads (GET), not HEAD checks; Harbor updates it within about 10 seconds.';

export function imageNameProblem(workspace: string, image: string): string | undefined {
  if (!IMAGE_NAME.test(image)) return `image name "${image}" is not a valid repository name (lower-case components separated by "/")`;
  if (workspace.length + 1 + image.length > 255) return 'image name is too long (workspace/image at most 255 characters)';
  return undefined;
}

const isoOrNull = (t: string | undefined | null): string | null => {
  if (!t) return null;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) || d.getUTCFullYear() <= ZERO_TIME_YEAR ? null : d.toISOString();
};

const describeFailure = (e: unknown): BatchFailure => {
  if (e instanceof AppError) {
    const code = { not_found: 'NOT_FOUND', forbidden: 'FORBIDDEN', conflict: 'CONFLICT', invalid: 'BAD_REQUEST', precondition: 'PRECONDITION' }[
      e.kind as string
    ];
    if (code) return { code, reason: e.message };
    if (e.kind === 'upstream_timeout') return { code: 'UPSTREAM_TIMEOUT', reason: 'Harbor did not answer in time; try again' };
    if (e.kind === 'upstream_misconfigured') return { code: 'UPSTREAM_MISCONFIGURED', reason: 'upstream misconfigured' };
  }
  return { code: 'UPSTREAM_UNAVAILABLE', reason: 'Harbor failed to delete it; try again' };
};

export class ImagesService {
  private readonly catalog: ImageCatalog;

  constructor(private readonly deps: ImagesDeps) {
    this.catalog = new ImageCatalog({
      harbor: deps.harbor,
      feed: deps.feed,
      logger: deps.logger,
      syncSeconds: deps.cacheTtlSeconds,
      statsMaxAgeSeconds: deps.statsMaxAgeSeconds ?? 86_400,
      fullSyncSeconds: deps.fullSyncSeconds ?? 3_600,
      concurrency: deps.harborConcurrency,
      fillConcurrency: deps.statsFillConcurrency ?? 4,
      onSync: deps.onSync,
      compact: deps.compact,
      now: deps.now,
    });
  }

  /**
   * Marks images (`workspace/image`) as changed, in this replica and (through the change feed) in all others: their
   * next list re-reads just those. Called after every write through hubgate; the registry front calls it after each
   * manifest PUT/DELETE it passes through. Without names: everything (every replica rebuilds its catalogue).
   */
  async invalidate(images?: string[]): Promise<void> {
    await this.catalog.invalidate(images);
  }

  /**
   * Builds the workspace and image catalogues in the background (a replica's start), so that the first lists find
   * them ready or on their way. Failures are logged; the next list tries again.
   */
  warm(): void {
    void Promise.all([this.deps.workspaces.all(), this.catalog.refresh()]).catch((e: unknown) =>
      this.deps.logger.warn('could not build the image catalogue at start; the first list builds it', { error: e }),
    );
  }

  /** True once every image's stats are in memory (the background fill has nothing left to do). */
  statsFilled(): boolean {
    return this.catalog.filled();
  }

  /** Stops background catalogue work (shutdown). */
  close(): void {
    this.catalog.stop();
  }

  private pullAddress(workspace: string, image: string): string {
    return `${this.deps.registryHost}/${workspace}/${image}`;
  }

  // ── lists ───────────────────────────────────────────────────────────────────────────────────────────────

  async list(p: Principal, f: ImageListFilter): Promise<PageOf<ImageRow>> {
    const visible = new Map<string, { ws: Workspace; rel: Exclude<Relation, 'none'>; shared: boolean }>();
    // The workspace catalogue and the image catalogue are brought up to date side by side (a cold start pays for
    // the slower of the two, not both).
    const [workspaces] = await Promise.all([this.deps.workspaces.all(), this.catalog.refresh()]);
    for (const ws of workspaces) {
      const rel = relation(p, ws);
      if (rel === 'none') continue;
      const own = !!ws.project && memberOf(p, ws.project.id);
      const shared = !own && ws.access === 'public' && !!ws.project;
      if (f.view === 'own' && !own) continue;
      if (f.view === 'shared' && !shared) continue;
      if (f.workspace && ws.name !== f.workspace) continue;
      if (f.projectId && ws.project?.id !== f.projectId) continue;
      if (f.department && ws.project?.department !== f.department) continue;
      visible.set(ws.name, { ws, rel, shared });
    }
    const byProject = new Map([...visible.values()].map((v) => [v.ws.harborProjectId, v]));
    const q = f.q?.toLowerCase();
    const start = (f.page - 1) * f.pageSize;
    const { rows: pageRows, total } = await this.catalog.page(
      new Set(byProject.keys()),
      comparator(f.sort),
      f.sort,
      start,
      f.pageSize,
      q ? (r) => r.image.includes(q) : undefined,
    );
    const stats = await this.catalog.statsFor(pageRows);
    const items = pageRows.map((r): ImageRow => {
      const image = r.image;
      const workspace = r.name.slice(0, r.name.length - image.length - 1);
      const v = byProject.get(r.projectId)!;
      // Stryker disable next-line ObjectLiteral: equivalent, statsFor answers every row it is given, so the fallback is never used
      const s = stats.get(r.id) ?? { versionCount: 0, sizeBytes: 0, latestPushAt: null };
      return {
        workspace,
        image,
        pullAddress: this.pullAddress(workspace, image),
        versionCount: s.versionCount,
        latestPushAt: s.latestPushAt,
        pullCount: r.pullCount,
        sizeBytes: s.sizeBytes,
        updatedAt: r.updateTime,
        access: v.ws.access,
        project: v.ws.project,
        relation: v.rel,
        shared: v.shared,
      };
    });
    return { items, total, page: f.page, pageSize: f.pageSize };
  }

  // ── one image ───────────────────────────────────────────────────────────────────────────────────────────

  /** The workspace of an image call, checked live (not from a cache): absent and invisible look the same (404). */
  private async workspaceFor(p: Principal, workspace: string, image: string, manage: boolean) {
    if (workspaceNameProblem(workspace)) throw notFound(`workspace "${workspace}"`);
    if (imageNameProblem(workspace, image)) throw notFound(`image "${workspace}/${image}"`);
    const ws = await this.deps.workspaces.get(p, workspace);
    if (manage && ws.relation !== 'manage') {
      throw forbidden(`"${workspace}/${image}" is shared with you for viewing and pulling only; only members of the owning project can change it`);
    }
    return ws;
  }

  async get(p: Principal, workspace: string, image: string): Promise<ImageDetail> {
    const ws = await this.workspaceFor(p, workspace, image, false);
    const { harbor } = this.deps;
    const [repo, artifacts] = await Promise.all([harbor.getRepository(workspace, image), this.allArtifacts(workspace, image)]);
    if (!repo) throw notFound(`image "${workspace}/${image}"`);
    const address = this.pullAddress(workspace, image);

    // Children of multi-arch indexes: platform from the index, size from the child artifact.
    const childDigests = [...new Set(artifacts.flatMap((a) => (a.references ?? []).map((r) => r.child_digest)))];
    const children = await mapLimit(childDigests, this.deps.harborConcurrency, (d) =>
      harbor.getArtifact(workspace, image, d).catch((e: unknown) => {
        this.deps.logger.warn('could not read a child artifact of an index', { image: `${workspace}/${image}`, digest: d, error: e });
        return null;
      }),
    );
    const childSize = new Map(childDigests.map((d, i) => [d, children[i]?.size ?? null]));

    const versions: ImageVersion[] = [];
    const untagged: ImageDetail['untagged'] = [];
    for (const a of artifacts) {
      const extra = (a.extra_attrs ?? {}) as { os?: unknown; architecture?: unknown };
      const refs = a.references ?? [];
      const kind: ImageVersion['kind'] = refs.length > 0 ? 'index' : 'image';
      if (!a.tags || a.tags.length === 0) {
        untagged.push({ digest: a.digest, sizeBytes: a.size ?? 0, pushedAt: isoOrNull(a.push_time) });
        continue;
      }
      for (const t of a.tags) {
        versions.push({
          tag: t.name,
          digest: a.digest,
          sizeBytes: a.size ?? 0,
          pushedAt: isoOrNull(t.push_time) ?? isoOrNull(a.push_time),
          lastPulledAt: isoOrNull(t.pull_time),
          os: typeof extra.os === 'string' && extra.os ? extra.os : null,
          architecture: typeof extra.architecture === 'string' && extra.architecture ? extra.architecture : null,
          kind,
          mediaType: a.manifest_media_type ?? a.media_type ?? null,
          pullAddress: `${address}:${t.name}`,
          pullAddressByDigest: `${address}@${a.digest}`,
          ...(kind === 'index'
            ? {
                children: refs.map((r) => ({
                  digest: r.child_digest,
                  os: r.platform?.os || null,
                  architecture: r.platform?.architecture || null,
                  variant: r.platform?.variant || null,
                  sizeBytes: childSize.get(r.child_digest) ?? null,
                  pullAddress: `${address}@${r.child_digest}`,
                })),
              }
            : {}),
        });
      }
    }
    versions.sort((x, y) => (y.pushedAt ?? '').localeCompare(x.pushedAt ?? '') || x.tag.localeCompare(y.tag));
    const stats = statsOf(artifacts);
    return {
      workspace,
      image,
      pullAddress: address,
      versionCount: versions.length,
      latestPushAt: stats.latestPushAt,
      pullCount: repo.pull_count ?? 0,
      sizeBytes: stats.sizeBytes,
      storageUsedBytes: stats.sizeBytes,
      workspaceQuota: { limitBytes: ws.storageLimitBytes ?? null, usedBytes: ws.storageUsedBytes ?? 0, usedPercent: ws.storageUsedPercent ?? null },
      access: ws.access,
      project: ws.project,
      relation: ws.relation === 'manage' ? 'manage' : 'view',
      shared: !(ws.project && memberOf(p, ws.project.id)) && ws.access === 'public' && !!ws.project,
      description: repo.description ?? '',
      createdAt: repo.creation_time,
      updatedAt: repo.update_time,
      versions,
      untagged,
      pullCountNote: PULL_COUNT_NOTE,
    };
  }

  private async allArtifacts(workspace: string, image: string): Promise<HarborArtifact[]> {
    const { harbor } = this.deps;
    let first;
    try {
      first = await harbor.listArtifacts(workspace, image, { page: 1, pageSize: 100 });
    } catch (e) {
      if (e instanceof AppError && e.kind === 'not_found') return [];
      throw e;
    }
    const pages = Math.min(1000, Math.ceil(first.total / 100));
    const rest = await mapLimit(
      Array.from({ length: Math.max(0, pages - 1) }, (_, i) => i + 2),
      this.deps.harborConcurrency,
      (page) => harbor.listArtifacts(workspace, image, { page, pageSize: 100 }).then((r) => r.items),
    );
    const byDigest = new Map<string, HarborArtifact>();
    for (const a of [...first.items, ...rest.flat()]) byDigest.set(a.digest, a);
    return [...byDigest.values()];
  }

  /** Sets the Markdown description (stored raw in Harbor; the console renders it). */
  async describe(p: Principal, workspace: string, image: string, description: string): Promise<ImageDetail> {
    if (typeof description !== 'string') throw invalid('description must be a string');
    if (description.length > DESCRIPTION_MAX) throw invalid(`description must be at most ${DESCRIPTION_MAX} characters`);
    await this.workspaceFor(p, workspace, image, true);
    await this.deps.harbor.updateRepositoryDescription(workspace, image, description).catch((e: unknown) => {
      if (e instanceof AppError && e.kind === 'not_found') throw notFound(`image "${workspace}/${image}"`);
      throw e;
    });
    await this.invalidate([`${workspace}/${image}`]);
    return this.get(p, workspace, image);
  }

  // ── deletes ─────────────────────────────────────────────────────────────────────────────────────────────

  /** Deletes whole images (every version); each item reported on its own. */
  async deleteImages(p: Principal, items: { workspace: string; image: string }[]): Promise<ImagesDeleteResult> {
    if (items.length === 0 || items.length > BATCH_MAX) throw invalid(`give 1 to ${BATCH_MAX} images to delete`);
    const unique = [...new Map(items.map((i) => [`${i.workspace}/${i.image}`, i])).values()];
    const access = new Map<string, Promise<unknown>>();
    const result: ImagesDeleteResult = { deleted: [], failed: [], note: GC_NOTE };
    const outcomes = await mapLimit(unique, Math.min(4, this.deps.harborConcurrency), async (it) => {
      try {
        if (imageNameProblem(it.workspace, it.image)) throw notFound(`image "${it.workspace}/${it.image}"`);
        // One permission check per workspace, shared by its items.
        if (!access.has(it.workspace)) access.set(it.workspace, this.workspaceFor(p, it.workspace, it.image, true));
        await access.get(it.workspace);
        const repo = await this.deps.harbor.getRepository(it.workspace, it.image);
        if (!repo) throw notFound(`image "${it.workspace}/${it.image}"`);
        await this.deps.harbor.deleteRepository(it.workspace, it.image);
        return null;
      } catch (e) {
        if (!(e instanceof AppError) || e.kind.startsWith('upstream') || e.kind === 'internal') {
          this.deps.logger.warn('image delete failed', { image: `${it.workspace}/${it.image}`, error: e });
        }
        return this.deleteFailure(e, it.workspace, it.image);
      }
    });
    unique.forEach((it, i) => {
      const f = outcomes[i];
      if (f) result.failed.push({ workspace: it.workspace, image: it.image, ...f });
      else result.deleted.push({ workspace: it.workspace, image: it.image });
    });
    // every item is re-read: a failed delete may still have happened (a timeout after Harbor acted)
    await this.invalidate(unique.map((it) => `${it.workspace}/${it.image}`));
    return result;
  }

  /**
   * Harbor refuses to delete an immutable version with 412 "the tag v1 configured as immutable, cannot be deleted"
   * (recordings P30–P31): reported as CONFLICT naming the version and the rule; other failures as they are.
   */
  private async deleteFailure(e: unknown, workspace: string, image: string, tag?: string): Promise<BatchFailure> {
    const m = e instanceof AppError && e.kind === 'precondition' ? /the tag (\S+) configured as immutable/.exec(e.message) : null;
    if (!m) return describeFailure(e);
    const locked = m[1];
    const rule = `immutable ${(await this.deps.immutableRule?.(workspace, image, locked).catch(() => undefined)) ?? 'rule'}`;
    if (tag === undefined) {
      return { code: 'CONFLICT', reason: `image "${image}" of workspace "${workspace}" cannot be deleted: its version "${locked}" is protected by ${rule}` };
    }
    const because = locked === tag ? '' : ` (it shares its image with the protected version "${locked}")`;
    return { code: 'CONFLICT', reason: `version "${image}:${tag}" of workspace "${workspace}" cannot be deleted${because}: protected by ${rule}` };
  }

  /**
   * Deletes versions (tags) of one image. Rule: the tag is removed; when the artifact it pointed to has no tag
   * left afterwards, the artifact is deleted too (so GC can reclaim its blobs). An artifact that keeps another
   * tag stays.
   */
  async deleteVersions(p: Principal, workspace: string, image: string, tags: string[]): Promise<VersionsDeleteResult> {
    if (tags.length === 0 || tags.length > BATCH_MAX) throw invalid(`give 1 to ${BATCH_MAX} versions to delete`);
    await this.workspaceFor(p, workspace, image, true);
    const repo = await this.deps.harbor.getRepository(workspace, image);
    if (!repo) throw notFound(`image "${workspace}/${image}"`);
    const artifacts = await this.allArtifacts(workspace, image);
    const result: VersionsDeleteResult = { workspace, image, deleted: [], failed: [], note: GC_NOTE };

    const wanted = [...new Set(tags)];
    const byArtifact = new Map<string, { artifact: HarborArtifact; tags: string[] }>();
    for (const tag of wanted) {
      if (!TAG.test(tag)) {
        result.failed.push({ tag, code: 'NOT_FOUND', reason: `version "${tag}" not found` });
        continue;
      }
      const a = artifacts.find((x) => x.tags?.some((t) => t.name === tag));
      if (!a) {
        result.failed.push({ tag, code: 'NOT_FOUND', reason: `version "${tag}" not found` });
        continue;
      }
      const g = byArtifact.get(a.digest) ?? { artifact: a, tags: [] };
      g.tags.push(tag);
      byArtifact.set(a.digest, g);
    }

    const { harbor } = this.deps;
    await mapLimit([...byArtifact.values()], 4, async ({ artifact, tags: group }) => {
      // Stryker disable next-line ArrayDeclaration: equivalent, every artifact here was found by one of its tags, so its tags are never null
      const all = (artifact.tags ?? []).map((t) => t.name);
      const removesLast = all.every((t) => group.includes(t));
      if (removesLast) {
        // Every tag of the artifact goes: delete the artifact itself (removes its tags with it).
        try {
          await harbor.deleteArtifact(workspace, image, artifact.digest);
          for (const tag of group) result.deleted.push({ tag, digest: artifact.digest, artifactDeleted: true });
        } catch (e) {
          for (const tag of group) result.failed.push({ tag, ...(await this.deleteFailure(e, workspace, image, tag)) });
        }
        return;
      }
      for (const tag of group) {
        try {
          await harbor.deleteTag(workspace, image, artifact.digest, tag);
          result.deleted.push({ tag, digest: artifact.digest, artifactDeleted: false });
        } catch (e) {
          result.failed.push({ tag, ...(await this.deleteFailure(e, workspace, image, tag)) });
        }
      }
    });
    const order = new Map(wanted.map((t, i) => [t, i]));
    result.deleted.sort((a, b) => order.get(a.tag)! - order.get(b.tag)!);
    result.failed.sort((a, b) => (order.get(a.tag) ?? 0) - (order.get(b.tag) ?? 0));
    await this.invalidate([`${workspace}/${image}`]);
    return result;
  }
}

function comparator(sort: ImageSort): (a: CatalogRepo, b: CatalogRepo) => number {
  const byName = (a: CatalogRepo, b: CatalogRepo) =>
    // Stryker disable next-line ConditionalExpression,EqualityOperator: the first 'a.name <= b.name', 'true' and 'a.name >= b.name' at the second differ only for equal names, a row compared with itself (patchSorted's lookup falls back to indexOf); 'false' and 'a.name <= b.name' at the second are killed by the '-name' test (images.service.rules), planted
    a.image < b.image ? -1 : a.image > b.image ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  const desc = sort.startsWith('-');
  const field = desc ? sort.slice(1) : sort;
  const primary =
    field === 'updated'
      ? (a: CatalogRepo, b: CatalogRepo) => (a.updateTime < b.updateTime ? -1 : a.updateTime > b.updateTime ? 1 : 0)
      : field === 'pulls'
        ? (a: CatalogRepo, b: CatalogRepo) => a.pullCount - b.pullCount
        : byName;
  return (a, b) => (desc ? -primary(a, b) : primary(a, b)) || byName(a, b);
}
