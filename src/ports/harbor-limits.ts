/**
 * Workspace policies in Harbor 2.5.5: the project's storage quota (`/quotas`) and its immutable tag rules
 * (`/projects/{p}/immutabletagrules`). Shapes as recorded in test/fixtures/harbor/live-policies. Implemented by
 * adapters/harbor; errors as in HarborPort (not_found for an unknown project or rule, invalid with Harbor's message).
 */

/** A project's quota: `hard`/`used` bytes of storage; `hard` -1 = unlimited. */
export interface HarborQuota {
  id: number;
  hard: number;
  used: number;
}

export interface HarborImmutableSelector {
  kind: string;
  decoration: string;
  pattern: string;
  extras?: string;
}

/** An immutable tag rule as Harbor lists it (`priority`, `disabled`, `params` left out when zero). */
export interface HarborImmutableRule {
  id: number;
  disabled?: boolean;
  action?: string;
  template?: string;
  tag_selectors: HarborImmutableSelector[] | null;
  scope_selectors: { repository?: HarborImmutableSelector[] } | null;
}

/** What hubgate creates: one doublestar tag pattern and one doublestar repository pattern. */
export interface ImmutableRuleInput {
  tagPattern: string;
  repositoryPattern: string;
}

export interface HarborLimitsPort {
  /** `GET /quotas?reference=project&reference_id=`; null when Harbor has no quota for the project. */
  getProjectQuota(projectId: number): Promise<HarborQuota | null>;
  /** `GET /quotas`, every page: one row per project (`ref.id` = project id). */
  listQuotas(): Promise<(HarborQuota & { projectId: number; projectName: string })[]>;
  /** `PUT /quotas/{id} {"hard":{"storage":n}}`; -1 clears the limit. */
  setQuota(quotaId: number, hardBytes: number): Promise<void>;
  listImmutableRules(project: string): Promise<HarborImmutableRule[]>;
  /** Returns the new rule's id (from `Location`); conflict when an identical rule exists. */
  createImmutableRule(project: string, rule: ImmutableRuleInput): Promise<number>;
  /** not_found when the rule does not exist. */
  deleteImmutableRule(project: string, id: number): Promise<void>;
}
