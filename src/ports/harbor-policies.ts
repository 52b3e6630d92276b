/**
 * Harbor 2.5.5's project audit log and tag retention, as hubgate uses them (issue 13). Shapes follow the
 * recordings in test/fixtures/harbor/retention (R01–R27) and ../shared/harbor-2.5.5/exchanges 211–213.
 */
import type { ListQuery, Page } from './harbor';

/** One row of `GET /projects/{p}/logs`. */
export interface HarborAuditLog {
  id: number;
  op_time: string;
  /** `create` (push: one per tag, or project creation), `pull` (manifest GET), `delete`. */
  operation: string;
  /** `ws/image:tag`, `ws/image:sha256:…`, `ws/image` (repository) or `ws` (project). */
  resource: string;
  /** `artifact`, `tag`, `repository`, `project`. */
  resource_type: string;
  /** Harbor user (`admin` for hubgate's console actions), robot (`robot$hg-…`), or `harbor-jobservice` (retention). */
  username: string;
}

export interface HarborRetentionSelector {
  kind: 'doublestar';
  decoration: 'matches' | 'excludes' | 'repoMatches' | 'repoExcludes';
  pattern: string;
  /** JSON text, e.g. `{"untagged":false}` (tag selectors). */
  extras?: string;
}

export interface HarborRetentionRule {
  id?: number;
  priority?: number;
  disabled?: boolean;
  action: 'retain';
  /** latestPushedK, latestPulledN, nDaysSinceLastPush, nDaysSinceLastPull, always. */
  template: string;
  params?: Record<string, number>;
  tag_selectors: HarborRetentionSelector[];
  scope_selectors: { repository: HarborRetentionSelector[] };
}

export interface HarborRetentionPolicy {
  id?: number;
  algorithm: 'or';
  rules: HarborRetentionRule[];
  /** cron: six fields (with seconds), '' for manual runs only. */
  trigger: { kind: 'Schedule'; settings: { cron: string } };
  scope: { level: 'project'; ref: number };
}

export interface HarborRetentionExecution {
  id: number;
  policy_id: number;
  start_time: string;
  end_time?: string;
  /** Pending, Running, Success, Error, Stopped. */
  status: string;
  /** MANUAL or SCHEDULE. */
  trigger: string;
  /** Absent when false (Harbor omits it). */
  dry_run?: boolean;
}

export interface HarborRetentionTask {
  id: number;
  execution_id: number;
  /** Repository name without the project. */
  repository: string;
  status: string;
  start_time?: string;
  end_time?: string;
  /** Candidates (tagged artifacts) and how many the rules kept. */
  total: number;
  retained: number;
}

export interface HarborPoliciesPort {
  projectLogs(project: string, query: ListQuery): Promise<Page<HarborAuditLog>>;
  /** `POST /retentions`; the policy id from `Location`. invalid when the project already has one. */
  createRetention(policy: HarborRetentionPolicy): Promise<number>;
  /** Harbor answers an unknown id with 500: call only with the id from the project's `retention_id`. */
  getRetention(id: number): Promise<HarborRetentionPolicy>;
  updateRetention(id: number, policy: HarborRetentionPolicy): Promise<void>;
  /** `POST /retentions/{id}/executions`; the execution id from `Location`. Never retried. */
  startRetention(id: number, dryRun: boolean): Promise<number>;
  listRetentionExecutions(id: number, page: number, pageSize: number): Promise<Page<HarborRetentionExecution>>;
  listRetentionTasks(id: number, executionId: number, page: number, pageSize: number): Promise<Page<HarborRetentionTask>>;
  /** The task log (text); null when unknown. */
  retentionTaskLog(id: number, executionId: number, taskId: number): Promise<string | null>;
}
