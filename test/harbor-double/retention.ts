/**
 * Harbor 2.5.5's tag retention (`/retentions…`), minimal and faithful to the recordings in
 * test/fixtures/harbor/retention (R01–R27) and to the tag's sources (pkg/retention: launcher, job, or-processor,
 * rule evaluators; lib/selector/selectors/doublestar):
 *
 * - one policy per project (`metadata.retention_id`); a second POST → 400 "project N already has retention policy M";
 *   a cron that is not 5 or 6 fields → 400; an unknown template is accepted; an unknown policy id → 500;
 * - a run makes one task per repository that some enabled rule's repository selector matches (tasks created in
 *   repository-name order, listed newest first); per repository every artifact is a candidate (untagged ones too);
 *   each rule selects candidates with its tag selectors and retains some; a candidate no rule retains is deleted
 *   (not in a dry run) by `harbor-jobservice`, which is what the project log then names;
 * - task counts: total = candidates, retained = total − deleted; the task log is the job's log with its table.
 */
import { randomBytes } from 'crypto';
import { minimatch } from 'minimatch';
import type { Artifact, Project, State } from './state';

export interface RetentionSelector {
  kind: string;
  decoration: string;
  pattern: string;
  extras?: string;
}
export interface RetentionRuleDoc {
  id?: number;
  priority?: number;
  disabled?: boolean;
  action?: string;
  template?: string;
  params?: Record<string, unknown>;
  tag_selectors?: RetentionSelector[];
  scope_selectors?: Record<string, RetentionSelector[]>;
}
export interface RetentionPolicyDoc {
  id: number;
  algorithm: string;
  rules: RetentionRuleDoc[];
  trigger: { kind?: string; settings?: { cron?: string }; references?: unknown };
  scope: { level?: string; ref?: number };
}
export interface RetentionTask {
  id: number;
  executionId: number;
  jobId: string;
  repository: string;
  status: 'Pending' | 'Running' | 'Success' | 'Error';
  startTime: number;
  endTime: number;
  total: number;
  retained: number;
  log: string;
}
export interface RetentionExecution {
  id: number;
  policyId: number;
  dryRun: boolean;
  trigger: 'MANUAL' | 'SCHEDULE';
  status: 'Running' | 'Success' | 'Error';
  startTime: number;
  endTime: number;
  tasks: RetentionTask[];
}

export class RetentionStore {
  policies = new Map<number, RetentionPolicyDoc>();
  executions: RetentionExecution[] = [];
}

export const RETENTION_METADATA = {
  scope_selectors: [{ decorations: ['repoMatches', 'repoExcludes'], display_text: 'Repositories', kind: 'doublestar' }],
  tag_selectors: [{ decorations: ['matches', 'excludes'], display_text: 'Tags', kind: 'doublestar' }],
  templates: [
    { action: 'retain', display_text: 'the most recently pushed # artifacts', params: [{ required: true, type: 'int', unit: 'COUNT' }], rule_template: 'latestPushedK' },
    { action: 'retain', display_text: 'the most recently pulled # artifacts', params: [{ required: true, type: 'int', unit: 'COUNT' }], rule_template: 'latestPulledN' },
    { action: 'retain', display_text: 'pushed within the last # days', params: [{ required: true, type: 'int', unit: 'DAYS' }], rule_template: 'nDaysSinceLastPush' },
    { action: 'retain', display_text: 'pulled within the last # days', params: [{ required: true, type: 'int', unit: 'DAYS' }], rule_template: 'nDaysSinceLastPull' },
    { action: 'retain', display_text: 'always', params: [], rule_template: 'always' },
  ],
};

/** `null` when fine, else Harbor's message (robfig/cron's parser with optional seconds). */
export function cronProblem(cron: string | undefined): string | null {
  if (!cron) return null;
  const n = cron.trim().split(/\s+/).length;
  if (n === 5 || n === 6) return null;
  return `invalid cron ${cron}: Expected 5 or 6 fields, found ${n}: ${cron}`;
}

/** The policy as `GET /retentions/{id}` shows it: zero values left out (Go's omitempty), keys in Go's order. */
export function policyView(p: RetentionPolicyDoc): Record<string, unknown> {
  const sel = (s: RetentionSelector) => {
    const o: Record<string, unknown> = { decoration: s.decoration };
    if (s.extras) o.extras = s.extras;
    o.kind = s.kind;
    o.pattern = s.pattern;
    return o;
  };
  return {
    algorithm: p.algorithm,
    id: p.id,
    rules: p.rules.map((r) => {
      const o: Record<string, unknown> = {};
      if (r.action) o.action = r.action;
      if (r.disabled) o.disabled = true;
      if (r.id) o.id = r.id;
      if (r.params && Object.keys(r.params).length) o.params = r.params;
      if (r.priority) o.priority = r.priority;
      if (r.scope_selectors) o.scope_selectors = Object.fromEntries(Object.entries(r.scope_selectors).map(([k, v]) => [k, v.map(sel)]));
      if (r.tag_selectors) o.tag_selectors = r.tag_selectors.map(sel);
      if (r.template) o.template = r.template;
      return o;
    }),
    scope: p.scope,
    trigger: { kind: p.trigger.kind, settings: { cron: p.trigger.settings?.cron ?? '' } },
  };
}

// ------------------------------------------------------------------ the engine

interface Candidate {
  artifact: Artifact;
  tags: string[];
  pushed: number; // unix seconds
  pulled: number;
  created: number;
}

const sec = (ms: number) => Math.floor(ms / 1000);
/** Go's doublestar.Match for the patterns hubgate writes (`*` within a path level, `**`, `{a,b}`, `?`). */
const match = (pattern: string, value: string): boolean => pattern === '' || minimatch(value, pattern, { dot: true, nocomment: true, nonegate: true });

function untaggedOf(s: RetentionSelector): boolean {
  let untagged = s.decoration !== 'excludes';
  if (s.extras) {
    try {
      const e = JSON.parse(s.extras) as { untagged?: unknown };
      untagged = e.untagged === true;
    } catch {
      /* Harbor keeps the default */
    }
  }
  return untagged;
}

function selectTags(s: RetentionSelector, cs: Candidate[]): Candidate[] {
  const untagged = untaggedOf(s);
  if (s.decoration === 'matches') return cs.filter((c) => (c.tags.length ? c.tags.some((t) => match(s.pattern, t)) : untagged));
  if (s.decoration === 'excludes') return cs.filter((c) => (c.tags.length ? c.tags.some((t) => !match(s.pattern, t)) : !untagged));
  return cs;
}

function evaluate(template: string | undefined, params: Record<string, unknown> | undefined, cs: Candidate[], now: number): Candidate[] {
  const n = (k: string, dflt: number) => {
    const v = Number(params?.[k]);
    return Number.isInteger(v) && v >= 0 ? v : dflt;
  };
  switch (template) {
    case 'latestPushedK':
      return [...cs].sort((a, b) => b.pushed - a.pushed).slice(0, n('latestPushedK', 10));
    case 'latestPulledN':
      return [...cs].sort((a, b) => b.pulled - a.pulled).slice(0, n('latestPulledN', 10));
    case 'nDaysSinceLastPush':
      return cs.filter((c) => c.pushed >= sec(now) - n('nDaysSinceLastPush', 30) * 86400);
    case 'nDaysSinceLastPull':
      return cs.filter((c) => c.pulled >= sec(now) - n('nDaysSinceLastPull', 30) * 86400);
    case 'always':
      return cs;
    default:
      return [];
  }
}

const tableTime = (s: number) => (s > 0 ? new Date(s * 1000).toISOString().replace(/-/g, '/').replace('T', ' ').replace(/\.\d{3}Z$/, '') : '');
const logTime = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** olekukonko/tablewriter as the job uses it: centred headers, left-aligned cells, side borders only. */
function table(rows: string[][]): string {
  const header = ['Digest', 'Tag', 'Kind', 'Labels', 'PushedTime', 'PulledTime', 'CreatedTime', 'Retention'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)) + 2);
  const centre = (h: string, w: number) => {
    const pad = w - h.length;
    return ' '.repeat(Math.floor(pad / 2)) + h + ' '.repeat(pad - Math.floor(pad / 2));
  };
  const lines = [
    `|${header.map((h, i) => centre(h, widths[i])).join('|')}|`,
    `|${widths.map((w) => '-'.repeat(w)).join('|')}|`,
    ...rows.map((r) => `|${r.map((c, i) => ` ${c.padEnd(widths[i] - 2)} `).join('|')}|`),
  ];
  return lines.join('\n') + '\n';
}

export interface RetentionEnv {
  state: State;
  store: RetentionStore;
  deleteManifest: (repo: string, digest: string) => Promise<void>;
  delayMs: number;
}

/** Creates the execution and its tasks at once (as the launcher does), then runs the tasks in the background. */
export function startExecution(env: RetentionEnv, policy: RetentionPolicyDoc, project: Project, dryRun: boolean): RetentionExecution {
  const { state: s, store } = env;
  const now = Date.now();
  const exec: RetentionExecution = { id: s.next('execution'), policyId: policy.id, dryRun, trigger: 'MANUAL', status: 'Running', startTime: now, endTime: 0, tasks: [] };
  store.executions.push(exec);
  const repos = [...s.repositories.values()].filter((r) => r.projectId === project.id).map((r) => ({ r, name: r.name.slice(project.name.length + 1) }));
  const perRepo = new Map<string, RetentionRuleDoc[]>();
  for (const rule of policy.rules) {
    if (rule.disabled) continue;
    let selected = repos;
    for (const sel of rule.scope_selectors?.repository ?? []) {
      if (sel.decoration === 'repoMatches') selected = selected.filter((x) => match(sel.pattern, x.name));
      else if (sel.decoration === 'repoExcludes') selected = selected.filter((x) => !match(sel.pattern, x.name));
    }
    for (const x of selected) perRepo.set(x.name, [...(perRepo.get(x.name) ?? []), rule]);
  }
  for (const name of [...perRepo.keys()].sort()) {
    exec.tasks.push({ id: s.next('retention-task'), executionId: exec.id, jobId: randomBytes(12).toString('hex'), repository: name, status: 'Pending', startTime: now, endTime: 0, total: 0, retained: 0, log: '' });
  }
  setTimeout(() => {
    void runTasks(env, exec, project, perRepo).catch(() => {
      exec.status = 'Error';
      exec.endTime = Date.now();
    });
  }, env.delayMs);
  if (!exec.tasks.length) {
    exec.status = 'Success';
    exec.endTime = now;
  }
  return exec;
}

async function runTasks(env: RetentionEnv, exec: RetentionExecution, project: Project, perRepo: Map<string, RetentionRuleDoc[]>): Promise<void> {
  const s = env.state;
  for (const task of exec.tasks) {
    task.status = 'Running';
    const full = `${project.name}/${task.repository}`;
    const repo = s.repoByName(full);
    const now = Date.now();
    const lines: string[] = [`${logTime(now)} [INFO] [/pkg/retention/job.go:83]: Run retention process.\n Repository: ${full} \n Rule Algorithm: or \n Dry Run: ${exec.dryRun}`];
    const all: Candidate[] = (repo ? s.artifactsOf(repo.id) : [])
      .sort((a, b) => b.pushTime - a.pushTime || b.id - a.id)
      .map((a) => {
        const tags = s.tagsOf(a.id).sort((x, y) => x.id - y.id);
        return {
          artifact: a,
          tags: tags.map((t) => t.name),
          pushed: sec(Math.max(a.pushTime, ...tags.map((t) => t.pushTime))),
          pulled: sec(Math.max(a.pullTime, ...tags.map((t) => t.pullTime))),
          created: sec(a.pushTime),
        };
      });
    lines.push(`${logTime(now)} [INFO] [/pkg/retention/job.go:98]: Load ${all.length} candidates from repository ${full}`);
    const retained = new Set<Candidate>();
    for (const rule of perRepo.get(task.repository) ?? []) {
      let cs = all;
      for (const sel of rule.tag_selectors ?? []) cs = selectTags(sel, cs);
      for (const c of evaluate(rule.template, rule.params, cs, now)) retained.add(c);
    }
    const doomed = all.filter((c) => !retained.has(c));
    if (!exec.dryRun && repo) {
      for (const c of doomed) {
        await env.deleteManifest(repo.name, c.artifact.digest);
        s.deleteArtifact(c.artifact);
        s.log(project.id, 'delete', `${repo.name}:${c.artifact.digest}`, 'artifact', 'harbor-jobservice');
      }
    }
    const rows = all.map((c) => [c.artifact.digest, c.tags.join(','), 'image', '', tableTime(c.pushed), tableTime(c.pulled), tableTime(c.created), retained.has(c) ? 'RETAIN' : 'DEL']);
    lines.push(`${logTime(Date.now())} [INFO] [/pkg/retention/job.go:201]: \n${table(rows)}`);
    task.log = lines.join('\n');
    task.total = all.length;
    task.retained = all.length - doomed.length;
    task.status = 'Success';
    task.endTime = Date.now();
  }
  exec.status = 'Success';
  exec.endTime = Date.now();
}

/** Go's time.Time JSON: RFC 3339 with trailing zeros of the fraction dropped (`…56.105417Z`, `…57Z`). */
const goTime = (ms: number, micro = 0) => {
  const base = new Date(ms).toISOString().replace(/\.\d{3}Z$/, '');
  const frac = String((ms % 1000) * 1000 + micro).padStart(6, '0').replace(/0+$/, '');
  return frac ? `${base}.${frac}Z` : `${base}Z`;
};
const ZERO = '0001-01-01T00:00:00Z';

export function executionView(e: RetentionExecution): Record<string, unknown> {
  const v: Record<string, unknown> = {};
  if (e.dryRun) v.dry_run = true;
  v.end_time = e.endTime ? goTime(Math.floor(e.endTime / 1000) * 1000) : ZERO;
  v.id = e.id;
  v.policy_id = e.policyId;
  v.start_time = goTime(e.startTime, 417);
  v.status = e.status;
  v.trigger = e.trigger;
  return v;
}

export function taskView(t: RetentionTask): Record<string, unknown> {
  return {
    end_time: t.endTime ? goTime(Math.floor(t.endTime / 1000) * 1000) : ZERO,
    execution_id: t.executionId,
    id: t.id,
    job_id: t.jobId,
    repository: t.repository,
    retained: t.retained,
    start_time: goTime(Math.floor(t.startTime / 1000) * 1000),
    status: t.status,
    status_code: t.status === 'Success' ? 3 : t.status === 'Running' ? 2 : t.status === 'Error' ? 3 : 0,
    total: t.total,
  };
}
