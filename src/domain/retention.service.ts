import { conflict, forbidden, invalid, notFound } from './errors';
import type { Principal } from './principal';
import type { WorkspacesService } from './workspaces.service';
import type { Coordination } from '../ports/coordination';
import type { HarborPort } from '../ports/harbor';
import type {
  HarborPoliciesPort,
  HarborRetentionExecution,
  HarborRetentionPolicy,
  HarborRetentionRule,
  HarborRetentionTask,
} from '../ports/harbor-policies';
import type { Logger } from '../observability/logger';

/**
 * Version retention per workspace, on Harbor 2.5.5's tag retention (one policy per Harbor project, found through
 * the project's `retention_id` metadata; Harbor is the only store, as for everything else).
 *
 * hubgate's rule `{images, keepLatestPushed?, keepLatestPulled?, keepPushedWithinDays?, keepPulledWithinDays?}`
 * becomes one Harbor "retain" rule per keep-condition, all scoped to the repositories matching `images`
 * (doublestar, the image name without the workspace), over every tag (`**`, untagged artifacts excluded). Protected
 * version patterns become an `always` rule per image pattern — never one over every repository, because Harbor
 * processes each repository with the rules whose scope matches it and deletes every candidate none of them
 * retains: an `always` rule on `**` would put images that no rule names under retention too.
 *
 * Harbor's semantics, which hubgate documents rather than hides: conditions are OR-ed (a version kept by any
 * condition stays); a version is an artifact with all its tags, so a protected tag keeps its artifact's other tags;
 * untagged artifacts are left to garbage collection (`deleteUntagged`); a run deletes artifacts, and their space
 * returns only after garbage collection. Pull times reach Harbor asynchronously (within ~10 s, finding d).
 */
export interface RetentionRule {
  /** Image names this rule covers (doublestar: `*` one path level, `**` any, `{a,b}` alternatives). */
  images: string;
  keepLatestPushed?: number;
  keepLatestPulled?: number;
  keepPushedWithinDays?: number;
  keepPulledWithinDays?: number;
}

export interface RetentionPolicy {
  rules: RetentionRule[];
  /** Version (tag) patterns always kept, e.g. `latest`, `v*`. */
  protected: string[];
  /** Cron with seconds (`0 0 3 * * *` = 03:00 every day), or null for manual runs only. */
  schedule: string | null;
}

export interface RetentionRunTask {
  image: string;
  status: string;
  /** Tagged versions considered, kept, and removed (or, for a dry run, that would be removed). */
  total: number;
  retained: number;
  removed: number;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface RetentionRun {
  id: number;
  dryRun: boolean;
  trigger: 'manual' | 'schedule';
  status: string;
  startedAt: string;
  finishedAt: string | null;
  counts: { images: number; total: number; retained: number; removed: number };
  note: string;
}

export interface RemovedVersion {
  image: string;
  digest: string;
  tags: string[];
  pushedAt: string | null;
  pulledAt: string | null;
}

export interface RetentionRunDetail extends RetentionRun {
  tasks: RetentionRunTask[];
  /** What was removed (or, for a dry run, would be): from Harbor's task logs. */
  removedVersions: RemovedVersion[];
}

export const RETENTION_GC_NOTE =
  'Retention deletes versions (artifacts); their space comes back only after a garbage collection (POST /gc), and only for what was deleted before its safety window.';
export const RETENTION_DRY_RUN_NOTE = 'Dry run: nothing was deleted; removedVersions lists what a real run would remove now.';

const TEMPLATE: Record<Exclude<keyof RetentionRule, 'images'>, string> = {
  keepLatestPushed: 'latestPushedK',
  keepLatestPulled: 'latestPulledN',
  keepPushedWithinDays: 'nDaysSinceLastPush',
  keepPulledWithinDays: 'nDaysSinceLastPull',
};
const KEEPS = Object.keys(TEMPLATE) as (keyof typeof TEMPLATE)[];
const TAGGED_ONLY = JSON.stringify({ untagged: false });
/** Harbor lists at most this many runs per page; detail lookups walk at most this many pages. */
const MAX_RUN_PAGES = 50;

const selector = (decoration: 'matches' | 'repoMatches', pattern: string) =>
  decoration === 'matches' ? { kind: 'doublestar' as const, decoration, pattern, extras: TAGGED_ONLY } : { kind: 'doublestar' as const, decoration, pattern };

/** hubgate's policy → Harbor's rules. */
export function toHarborRules(p: RetentionPolicy): HarborRetentionRule[] {
  const rules: HarborRetentionRule[] = [];
  const scopes: string[] = [];
  for (const r of p.rules) {
    if (!scopes.includes(r.images)) scopes.push(r.images);
    for (const k of KEEPS) {
      const n = r[k];
      if (n === undefined) continue;
      rules.push({
        disabled: false,
        action: 'retain',
        template: TEMPLATE[k],
        params: { [TEMPLATE[k]]: n },
        tag_selectors: [selector('matches', '**')],
        scope_selectors: { repository: [selector('repoMatches', r.images)] },
      });
    }
  }
  if (p.protected.length) {
    const pattern = p.protected.length === 1 ? p.protected[0] : `{${p.protected.join(',')}}`;
    for (const images of scopes) {
      rules.push({
        disabled: false,
        action: 'retain',
        template: 'always',
        params: {},
        tag_selectors: [selector('matches', pattern)],
        scope_selectors: { repository: [selector('repoMatches', images)] },
      });
    }
  }
  return rules;
}

/** Harbor's rules → hubgate's policy (the inverse of toHarborRules; rules made elsewhere are read as far as they fit). */
export function fromHarbor(h: HarborRetentionPolicy): RetentionPolicy {
  const byImages = new Map<string, RetentionRule>();
  const protectedSet = new Set<string>();
  // Stryker disable next-line ArrayDeclaration: equivalent, an entry that is not a rule object has no template and is skipped like an absent list
  for (const r of h.rules ?? []) {
    if (r.disabled) continue;
    const images = r.scope_selectors?.repository?.[0]?.pattern ?? '**';
    const tagPattern = r.tag_selectors?.[0]?.pattern ?? '**';
    if (r.template === 'always') {
      const inner = /^\{(.*)\}$/.exec(tagPattern);
      for (const t of inner ? inner[1].split(',') : [tagPattern]) protectedSet.add(t);
      if (!byImages.has(images)) byImages.set(images, { images });
      continue;
    }
    const key = KEEPS.find((k) => TEMPLATE[k] === r.template);
    if (!key) continue;
    const rule = byImages.get(images) ?? { images };
    const v = Number(r.params?.[r.template]);
    if (Number.isFinite(v)) rule[key] = v;
    byImages.set(images, rule);
  }
  const cron = h.trigger?.settings?.cron ?? '';
  return {
    rules: [...byImages.values()].filter((r) => KEEPS.some((k) => r[k] !== undefined)),
    protected: [...protectedSet],
    schedule: cron ? cron : null,
  };
}

/** A task-log time (`2026/12/04 16:51:14`, Harbor's UTC) as ISO 8601; a cell that is no date is no time, not an error. */
function logTime(s: string): string | null {
  const t = s ? new Date(s.replace(/\//g, '-').replace(' ', 'T') + 'Z') : null;
  return t && !Number.isNaN(t.getTime()) ? t.toISOString() : null;
}

/** Rows `| digest | tags | kind | labels | pushed | pulled | created | RETAIN/DEL |` of Harbor's task log (R17). */
export function parseTaskLog(image: string, log: string): RemovedVersion[] {
  const out: RemovedVersion[] = [];
  for (const line of log.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 10 || !/^sha256:[0-9a-f]{64}$/.test(cells[1])) continue;
    if (cells[8] !== 'DEL') continue;
    out.push({ image, digest: cells[1], tags: cells[2] ? cells[2].split(',').map((t) => t.trim()).filter(Boolean) : [], pushedAt: logTime(cells[5]), pulledAt: logTime(cells[6]) });
  }
  return out;
}

export interface RetentionDeps {
  harbor: Pick<HarborPort, 'findProject'> & HarborPoliciesPort;
  workspaces: Pick<WorkspacesService, 'get'>;
  coordination: Coordination;
  logger: Logger;
}

export class RetentionService {
  constructor(private readonly deps: RetentionDeps) {}

  async get(p: Principal, workspace: string): Promise<RetentionPolicy & { enabled: boolean }> {
    await this.manage(p, workspace);
    const id = await this.policyId(workspace);
    if (id === null) return { rules: [], protected: [], schedule: null, enabled: false };
    const policy = fromHarbor(await this.deps.harbor.getRetention(id));
    return { ...policy, enabled: policy.rules.length > 0 };
  }

  async set(p: Principal, workspace: string, policy: RetentionPolicy): Promise<RetentionPolicy & { enabled: boolean }> {
    await this.manage(p, workspace);
    checkPolicy(policy);
    await this.write(workspace, policy);
    return this.get(p, workspace);
  }

  /** Turns retention off: Harbor keeps the (empty) policy; no run deletes anything and nothing is scheduled. */
  async disable(p: Principal, workspace: string): Promise<void> {
    await this.manage(p, workspace);
    if ((await this.policyId(workspace)) === null) return;
    await this.write(workspace, {
      rules: [],
      // Stryker disable next-line ArrayDeclaration: equivalent, `always` rules are made per rule's image pattern, so with no rules no protected pattern reaches Harbor
      protected: [],
      schedule: null,
    });
  }

  async start(p: Principal, workspace: string, dryRun: boolean): Promise<RetentionRun> {
    await this.manage(p, workspace);
    const id = await this.policyId(workspace);
    const policy = id === null ? null : fromHarbor(await this.deps.harbor.getRetention(id));
    if (id === null || !policy || policy.rules.length === 0) throw conflict(`workspace "${workspace}" has no retention policy: set one first (PUT …/retention)`);
    const runId = await this.deps.harbor.startRetention(id, dryRun);
    this.deps.logger.info('retention run started', { workspace, run: runId, dry_run: dryRun });
    const found = await this.findExecution(id, runId);
    if (found) return this.summarise(id, found);
    const now = new Date().toISOString();
    return { id: runId, dryRun, trigger: 'manual', status: 'Pending', startedAt: now, finishedAt: null, counts: { images: 0, total: 0, retained: 0, removed: 0 }, note: noteFor(dryRun) };
  }

  async runs(p: Principal, workspace: string, page: number, pageSize: number): Promise<{ items: RetentionRun[]; total: number; page: number; pageSize: number; note: string }> {
    await this.manage(p, workspace);
    const id = await this.policyId(workspace);
    if (id === null) return { items: [], total: 0, page, pageSize, note: RETENTION_GC_NOTE };
    const list = await this.deps.harbor.listRetentionExecutions(id, page, pageSize);
    const items = await Promise.all(list.items.map((e) => this.summarise(id, e)));
    return { items, total: list.total, page, pageSize, note: RETENTION_GC_NOTE };
  }

  async run(p: Principal, workspace: string, runId: number): Promise<RetentionRunDetail> {
    await this.manage(p, workspace);
    const id = await this.policyId(workspace);
    const e = id === null ? null : await this.findExecution(id, runId);
    if (id === null || !e) throw notFound(`retention run ${runId} of workspace "${workspace}"`);
    const tasks = await this.tasks(id, e.id);
    const removedVersions: RemovedVersion[] = [];
    for (const t of tasks) {
      if (t.total === t.retained) continue;
      const log = await this.deps.harbor.retentionTaskLog(id, e.id, t.id);
      if (log) removedVersions.push(...parseTaskLog(t.repository, log));
    }
    return { ...summary(e, tasks), tasks: tasks.map(taskView).sort((a, b) => a.image.localeCompare(b.image)), removedVersions };
  }

  private async summarise(policyId: number, e: HarborRetentionExecution): Promise<RetentionRun> {
    return summary(e, await this.tasks(policyId, e.id));
  }

  private async tasks(policyId: number, executionId: number): Promise<HarborRetentionTask[]> {
    const out: HarborRetentionTask[] = [];
    for (let page = 1; page <= MAX_RUN_PAGES; page++) {
      const { items, total } = await this.deps.harbor.listRetentionTasks(policyId, executionId, page, 100);
      out.push(...items);
      if (items.length < 100 || out.length >= total) break;
    }
    return out;
  }

  private async findExecution(policyId: number, runId: number): Promise<HarborRetentionExecution | null> {
    for (let page = 1; page <= MAX_RUN_PAGES; page++) {
      const { items, total } = await this.deps.harbor.listRetentionExecutions(policyId, page, 100);
      const hit = items.find((e) => e.id === runId);
      if (hit) return hit;
      if (
        items.length < 100 ||
        page * 100 >= total ||
        // Stryker disable next-line EqualityOperator,MethodExpression: equivalent — an item whose id is runId was returned as the hit just above; `some` for `every` only differs on a page out of id order, which Harbor's newest-first list never is
        items.every((e) => e.id < runId)
      )
        break;
    }
    return null;
  }

  private async write(workspace: string, policy: RetentionPolicy): Promise<void> {
    await this.deps.coordination.withLock(`retention:${workspace}`, async () => {
      const project = await this.deps.harbor.findProject(workspace);
      if (!project) throw notFound(`workspace "${workspace}"`);
      const body: HarborRetentionPolicy = {
        algorithm: 'or',
        rules: toHarborRules(policy),
        trigger: { kind: 'Schedule', settings: { cron: policy.schedule ?? '' } },
        scope: { level: 'project', ref: project.project_id },
      };
      const existing = retentionIdOf(project.metadata);
      if (existing === null) await this.deps.harbor.createRetention(body);
      else await this.deps.harbor.updateRetention(existing, { ...body, id: existing });
    });
  }

  private async policyId(workspace: string): Promise<number | null> {
    const project = await this.deps.harbor.findProject(workspace);
    if (!project) throw notFound(`workspace "${workspace}"`);
    return retentionIdOf(project.metadata);
  }

  private async manage(p: Principal, workspace: string): Promise<void> {
    const ws = await this.deps.workspaces.get(p, workspace);
    if (ws.relation !== 'manage') throw forbidden(`only members of the owning project can manage retention of workspace "${workspace}"`);
  }
}

function retentionIdOf(metadata: Record<string, string | undefined>): number | null {
  const raw = metadata.retention_id;
  return raw && /^\d+$/.test(raw) ? Number(raw) : null;
}

const noteFor = (dryRun: boolean) => (dryRun ? `${RETENTION_DRY_RUN_NOTE} ${RETENTION_GC_NOTE}` : RETENTION_GC_NOTE);

function summary(e: HarborRetentionExecution, tasks: HarborRetentionTask[]): RetentionRun {
  const total = tasks.reduce((s, t) => s + (t.total ?? 0), 0);
  const retained = tasks.reduce((s, t) => s + (t.retained ?? 0), 0);
  return {
    id: e.id,
    dryRun: e.dry_run === true,
    trigger: e.trigger === 'SCHEDULE' ? 'schedule' : 'manual',
    status: e.status,
    startedAt: e.start_time,
    finishedAt: e.end_time && !e.end_time.startsWith('0001-') ? e.end_time : null,
    counts: { images: tasks.length, total, retained, removed: total - retained },
    note: noteFor(e.dry_run === true),
  };
}

function taskView(t: HarborRetentionTask): RetentionRunTask {
  return {
    image: t.repository,
    status: t.status,
    total: t.total,
    retained: t.retained,
    removed: t.total - t.retained,
    startedAt: t.start_time ?? null,
    finishedAt: t.end_time && !t.end_time.startsWith('0001-') ? t.end_time : null,
  };
}

/** Invariants the schema cannot say. */
export function checkPolicy(p: RetentionPolicy): void {
  const seen = new Set<string>();
  for (const r of p.rules) {
    if (!KEEPS.some((k) => r[k] !== undefined)) throw invalid(`rule for images "${r.images}" keeps nothing: give keepLatestPushed, keepLatestPulled, keepPushedWithinDays or keepPulledWithinDays`);
    if (seen.has(r.images)) throw invalid(`two rules for images "${r.images}": merge them into one`);
    seen.add(r.images);
  }
  if (p.rules.length === 0 && p.protected.length) throw invalid('protected versions need at least one rule');
}
