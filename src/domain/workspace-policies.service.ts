import { AppError, conflict, forbidden, invalid, notFound } from './errors';
import type { Principal } from './principal';
import type { WorkspacesService, Relation } from './workspaces.service';
import { usedPercent } from './workspaces.service';
import { describeRule, protectingRule } from './immutability';
import { formatSize, parseSize } from './storage-units';
import { ArchiveError } from './uploads/archive-error';
import type { HarborImmutableRule, HarborLimitsPort } from '../ports/harbor-limits';
import type { HarborContentPort, HarborPort } from '../ports/harbor';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';

/**
 * Workspace policies: the storage quota and the immutable versions of a workspace. Both live in Harbor only —
 * the quota is the Harbor project's quota (`/quotas`), immutable versions are its immutable tag rules — so Harbor
 * enforces them on every path (docker, containerd, skopeo, the console upload), every replica sees the same state,
 * and hubgate keeps nothing. hubgate adds the platform's permissions (quota: cloud admins set it, everyone who
 * sees the workspace reads it; rules: the owning project manages them), human units, and checks the console
 * upload against both *before* it pushes or tags anything (Harbor alone would refuse halfway, at a blob or a tag).
 */

export interface WorkspaceQuota {
  workspace: string;
  /** null = no limit. */
  limitBytes: number | null;
  usedBytes: number;
  /** usedBytes / limitBytes in percent, one decimal; null without a limit. */
  usedPercent: number | null;
  /** `4.0 GiB`; null without a limit. */
  limit: string | null;
  used: string;
}

export interface ImmutableRuleView {
  id: number;
  /** doublestar pattern of protected versions (tags), e.g. `v*`, `release-{1,2}.*`. */
  tags: string;
  /** doublestar pattern of the images it applies to (repository names without the workspace), `**` = all. */
  images: string;
  enabled: boolean;
}

export interface PoliciesDeps {
  harbor: HarborPort & HarborContentPort & HarborLimitsPort;
  workspaces: WorkspacesService;
  logger: Logger;
  metrics: Metrics;
}

/** Share of the quota above which a workspace counts as nearly full (metric and alert). */
export const QUOTA_WARN_RATIO = 0.9;
const PATTERN_RE = /^[A-Za-z0-9_.\-*?{},[\]/]{1,255}$/;

export class WorkspacePoliciesService {
  private timer?: NodeJS.Timeout;

  constructor(private readonly deps: PoliciesDeps) {}

  /** Polls Harbor's quotas for the gauges every `intervalMs` (one `GET /quotas` per 100 workspaces). */
  startMonitor(intervalMs: number): void {
    const tick = () =>
      void this.sampleQuotas().catch((e: unknown) => {
        if (!(e instanceof AppError && e.kind === 'upstream_misconfigured')) this.deps.logger.debug('quota metrics poll failed', { error: e });
      });
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  stopMonitor(): void {
    clearInterval(this.timer);
  }

  // ------------------------------------------------------------------ quota

  async quota(p: Principal, workspace: string): Promise<WorkspaceQuota> {
    const { ws } = await this.deps.workspaces.lookup(p, workspace);
    return this.quotaOf(ws.name, ws.harborProjectId);
  }

  /** Sets (limit) or clears (null) the quota. Cloud admins only; others who see the workspace get 403. */
  async setQuota(p: Principal, workspace: string, limit: number | string | null): Promise<WorkspaceQuota> {
    const { ws } = await this.deps.workspaces.lookup(p, workspace);
    if (!p.isCloudAdmin) throw forbidden(`only cloud admins can change the storage quota of workspace "${workspace}"`);
    const clear = limit === null;
    const bytes = clear ? -1 : parseSize(limit, 'limit');
    const q = await this.deps.harbor.getProjectQuota(ws.harborProjectId);
    if (!q) throw notFound(`quota of workspace "${workspace}"`);
    await this.deps.harbor.setQuota(q.id, bytes);
    this.deps.logger.info(clear ? 'workspace quota cleared' : 'workspace quota set', { workspace, limit_bytes: clear ? null : bytes });
    return this.quotaOf(ws.name, ws.harborProjectId);
  }

  private async quotaOf(workspace: string, harborProjectId: number): Promise<WorkspaceQuota> {
    const q = await this.deps.harbor.getProjectQuota(harborProjectId);
    const limit = q && q.hard >= 0 ? q.hard : null;
    const used = q?.used ?? 0;
    return { workspace, limitBytes: limit, usedBytes: used, usedPercent: usedPercent(used, limit), limit: limit === null ? null : formatSize(limit), used: formatSize(used) };
  }

  /**
   * Refuses an upload that needs more new bytes than the workspace's quota leaves (413, naming the workspace, the
   * limit and the usage), before anything is pushed. `addBytes` is asked only when a limit is set.
   */
  async checkQuota(workspace: string, harborProjectId: number, addBytes: () => Promise<number>): Promise<void> {
    const q = await this.deps.harbor.getProjectQuota(harborProjectId);
    if (!q || q.hard < 0) return;
    const add = await addBytes();
    if (q.used + add <= q.hard) return;
    throw quotaExceeded(workspace, q.hard, q.used, `the upload needs ${formatSize(add)} more`);
  }

  /** What Harbor's own refusal (403 DENIED at a blob or manifest, e.g. a concurrent push) becomes in an upload. */
  async quotaRefusal(workspace: string, harborProjectId: number, harborMessage: string): Promise<AppError> {
    const q = await this.deps.harbor.getProjectQuota(harborProjectId).catch(() => undefined);
    const adding = /adding (\S+ \S+) of storage/.exec(harborMessage)?.[1];
    return quotaExceeded(workspace, q?.hard ?? -1, q?.used ?? 0, `Harbor refused ${adding ?? 'a blob'} more`);
  }

  /** Counts workspaces with a quota and those above 90 % of it for the gauges (bounded: counts, never names). */
  async sampleQuotas(): Promise<{ limited: number; nearlyFull: number }> {
    const rows = await this.deps.harbor.listQuotas();
    const limited = rows.filter((q) => q.hard > 0);
    const nearlyFull = limited.filter((q) => q.used > q.hard * QUOTA_WARN_RATIO).length;
    this.deps.metrics.workspacesWithQuota.set(limited.length);
    this.deps.metrics.workspacesNearQuota.set(nearlyFull);
    return { limited: limited.length, nearlyFull };
  }

  // ------------------------------------------------------------------ immutable versions

  async rules(p: Principal, workspace: string): Promise<{ workspace: string; items: ImmutableRuleView[] }> {
    const { ws } = await this.deps.workspaces.lookup(p, workspace);
    return { workspace: ws.name, items: (await this.deps.harbor.listImmutableRules(ws.name)).map(ruleView) };
  }

  async addRule(p: Principal, workspace: string, input: { tags: string; images?: string }): Promise<ImmutableRuleView> {
    const ws = await this.manageable(p, workspace);
    const tags = checkPattern(input.tags, 'tags');
    const images = checkPattern(input.images ?? '**', 'images');
    try {
      const id = await this.deps.harbor.createImmutableRule(ws, { tagPattern: tags, repositoryPattern: images });
      return { id, tags, images, enabled: true };
    } catch (e) {
      if (e instanceof AppError && e.kind === 'conflict') throw conflict(`workspace "${workspace}" already has an immutable rule for versions "${tags}" of images "${images}"`);
      throw e;
    }
  }

  async deleteRule(p: Principal, workspace: string, id: number): Promise<void> {
    const ws = await this.manageable(p, workspace);
    try {
      await this.deps.harbor.deleteImmutableRule(ws, id);
    } catch (e) {
      if (e instanceof AppError && e.kind === 'not_found') throw notFound(`immutable rule ${id} of workspace "${workspace}"`);
      throw e;
    }
  }

  /**
   * Refuses (409) an upload that would move an existing version protected by a rule — Harbor only protects
   * existing tags, so a new version is fine. Checked before anything is pushed; Harbor checks again at the tag.
   */
  async checkImmutable(workspace: string, targets: readonly { repository: string; tag: string }[]): Promise<void> {
    const rules = await this.deps.harbor.listImmutableRules(workspace);
    for (const t of targets) {
      const image = t.repository.slice(workspace.length + 1);
      const rule = protectingRule(rules, image, t.tag);
      if (!rule) continue;
      const existing = await this.deps.harbor.getArtifact(workspace, image, t.tag);
      if (existing) throw immutableRefusal(workspace, image, t.tag, rule);
    }
  }

  /** What Harbor's own refusal (412 at a tag PUT) becomes in a console upload. */
  async immutableRefusalFor(workspace: string, repository: string, tag: string): Promise<AppError> {
    const image = repository.slice(workspace.length + 1);
    const rules = await this.deps.harbor.listImmutableRules(workspace).catch(() => [] as HarborImmutableRule[]);
    const rule = protectingRule(rules, image, tag);
    return immutableRefusal(workspace, image, tag, rule);
  }

  /**
   * The first existing version a rule protects, for refusing a workspace deletion up front (Harbor would refuse
   * only at that image's repository, after deleting the others). One artifact list per image when rules exist.
   */
  async protectedVersion(workspace: string): Promise<string | undefined> {
    const { harbor } = this.deps;
    const rules = (await harbor.listImmutableRules(workspace)).filter((r) => !r.disabled);
    if (!rules.length) return undefined;
    for (const repo of await harbor.listAllRepositories(workspace)) {
      const image = repo.name.slice(workspace.length + 1);
      for (let page = 1; page <= 1000; page++) {
        const { items, total } = await harbor.listArtifacts(workspace, image, { page, pageSize: 100 });
        for (const a of items) {
          for (const t of a.tags ?? []) {
            const rule = protectingRule(rules, image, t.name);
            if (rule) return `version "${image}:${t.name}" is protected by immutable ${describeRule(rule)}`;
          }
        }
        if (items.length < 100 || page * 100 >= total) break;
      }
    }
    return undefined;
  }

  /** `rule #3 (versions "v*" of images "**")` when a rule protects `image:tag`, else undefined. */
  async ruleFor(workspace: string, image: string, tag: string): Promise<string | undefined> {
    const rule = protectingRule(await this.deps.harbor.listImmutableRules(workspace), image, tag);
    return rule ? describeRule(rule) : undefined;
  }

  private async manageable(p: Principal, workspace: string): Promise<string> {
    const { ws, rel } = await this.deps.workspaces.lookup(p, workspace);
    if ((rel as Relation) !== 'manage') throw forbidden(`only members of the owning project can change the immutable versions of workspace "${workspace}"`);
    return ws.name;
  }
}

function ruleView(r: HarborImmutableRule): ImmutableRuleView {
  return {
    id: r.id,
    tags: r.tag_selectors?.[0]?.pattern ?? '',
    images: r.scope_selectors?.repository?.[0]?.pattern ?? '',
    enabled: !r.disabled,
  };
}

function checkPattern(value: string, what: string): string {
  if (typeof value !== 'string' || !PATTERN_RE.test(value)) {
    throw invalid(`${what} must be a pattern of 1–255 characters: letters, digits, "_", ".", "-", "/" and the wildcards * ** ? [ ] { , }`);
  }
  return value;
}

function quotaExceeded(workspace: string, limit: number, used: number, why: string): AppError {
  const limitText = limit >= 0 ? formatSize(limit) : 'its limit';
  // an ArchiveError: the upload's record and metrics carry the bounded reason
  return new ArchiveError('quota_exceeded', `storage quota of workspace "${workspace}" exceeded: ${why}, ${formatSize(used)} of ${limitText} are used; nothing was tagged`, 'too_large');
}

function immutableRefusal(workspace: string, image: string, tag: string, rule: HarborImmutableRule | undefined): AppError {
  const by = rule ? `immutable ${describeRule(rule)}` : 'an immutable rule';
  return new ArchiveError('immutable_version', `version "${image}:${tag}" of workspace "${workspace}" is protected by ${by} and cannot be overwritten; nothing was tagged`, 'conflict');
}
