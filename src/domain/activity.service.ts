import { forbidden } from './errors';
import type { Principal } from './principal';
import type { CredentialsService, OwnerRecord } from './credentials.service';
import type { WorkspacesService } from './workspaces.service';
import type { HarborAuditLog, HarborPoliciesPort } from '../ports/harbor-policies';
import type { ConsoleAction, ConsoleActionStore } from '../ports/console-actions';

/**
 * Who pushed, pulled and deleted what in a workspace, from Harbor's project log (`GET /projects/{ws}/logs`),
 * with Harbor's operators mapped back to platform identities:
 *
 * | Harbor's `username` | shown as |
 * |---|---|
 * | `robot$hg-…` (a project's registry credentials) | `{"kind":"project", project id, name, department}` (from the robot's marker) |
 * | hubgate's admin identity (console actions) | `{"kind":"user", userId, username}` — the console action (audit trail, kept per workspace in Redis) whose call was in flight when Harbor wrote the row, on the same image; `{"kind":"harbor","name":"admin"}` when none matches |
 * | `harbor-jobservice` | `{"kind":"retention"}` — a retention run deleted it (recording R23) |
 * | anything else | `{"kind":"harbor","name":…}` — someone acting in Harbor directly |
 *
 * Paging and filters are Harbor's (`q`): exact totals, no full scan. `image` and `version` filter with Harbor's
 * fuzzy match on the resource (`ws/image:version` as a substring), so `app` also matches `app2`.
 */
export type ActivityOperation = 'push' | 'pull' | 'delete' | 'tag' | 'workspace_create' | 'workspace_delete' | 'other';

export type ActivityActor =
  | { kind: 'project'; projectId: string | null; projectName: string | null; department: string | null; username: string }
  | { kind: 'user'; userId: string; username: string; requestId: string }
  | { kind: 'retention' }
  | { kind: 'harbor'; name: string };

export interface ActivityEntry {
  id: number;
  time: string;
  operation: ActivityOperation;
  image: string | null;
  version: string | null;
  digest: string | null;
  /** Harbor's resource type: artifact, tag, repository, project. */
  resourceType: string;
  actor: ActivityActor;
}

export interface ActivityQuery {
  operation?: 'push' | 'pull' | 'delete';
  image?: string;
  version?: string;
  /** Platform project id: only what its registry credentials did. */
  actorProject?: string;
  from?: string;
  to?: string;
  page: number;
  pageSize: number;
}

export interface ActivityDeps {
  harbor: Pick<HarborPoliciesPort, 'projectLogs'>;
  workspaces: Pick<WorkspacesService, 'get'>;
  credentials: Pick<CredentialsService, 'ownerRecords' | 'usernameFor' | 'robotNameFor'>;
  consoleActions: ConsoleActionStore;
  /** hubgate's Harbor admin user name (HARBOR_ADMIN_USERNAME). */
  adminUsername: string;
  robotPrefix: string;
  /** How long robot → project lookups are reused (ms). */
  ownersTtlMs?: number;
  now?: () => number;
}

/** Harbor's row is written while hubgate's call is in flight; allow for clock skew between hubgate and Harbor. */
const BEFORE_MS = 2000;
const AFTER_MS = 5000;
export const JOBSERVICE_USER = 'harbor-jobservice';

/** `2026-12-04T16:37:41Z` → `2026-12-04 16:37:41`, the form Harbor's op_time range takes. */
const harborTime = (iso: string): string => new Date(iso).toISOString().replace('T', ' ').replace(/\.\d{3}Z/, '');

export function parseResource(workspace: string, resource: string): { image: string | null; version: string | null; digest: string | null } {
  if (!resource.startsWith(`${workspace}/`)) return { image: null, version: null, digest: null };
  const rest = resource.slice(workspace.length + 1);
  const i = rest.indexOf(':');
  if (i < 0) return { image: rest, version: null, digest: null };
  const ref = rest.slice(i + 1);
  return { image: rest.slice(0, i), version: ref.startsWith('sha256:') ? null : ref, digest: ref.startsWith('sha256:') ? ref : null };
}

export function operationOf(row: Pick<HarborAuditLog, 'operation' | 'resource_type'>): ActivityOperation {
  const { operation: o, resource_type: t } = row;
  if (t === 'project') return o === 'create' ? 'workspace_create' : o === 'delete' ? 'workspace_delete' : 'other';
  if (o === 'create') return t === 'artifact' ? 'push' : t === 'tag' ? 'tag' : 'other';
  if (o === 'pull') return 'pull';
  if (o === 'delete') return 'delete';
  return 'other';
}

export class ActivityService {
  private owners: { at: number; byUsername: Map<string, OwnerRecord> } | undefined;

  constructor(private readonly deps: ActivityDeps) {}

  async list(p: Principal, workspace: string, q: ActivityQuery): Promise<{ items: ActivityEntry[]; total: number; page: number; pageSize: number }> {
    const ws = await this.deps.workspaces.get(p, workspace);
    if (ws.relation !== 'manage') throw forbidden(`only members of the owning project can see the activity of workspace "${workspace}"`);
    const page = await this.deps.harbor.projectLogs(workspace, { page: q.page, pageSize: q.pageSize, q: this.harborQuery(workspace, q) });
    const rows = page.items;
    // Console calls are only looked up for the admin's rows, from the oldest of them; a row whose time does not
    // parse cannot be matched to a call (and must not turn the lookup window into NaN for the others).
    const adminTimes = rows.filter((r) => r.username === this.deps.adminUsername).map((r) => Date.parse(r.op_time)).filter(Number.isFinite);
    const needsConsole = adminTimes.length > 0;
    const oldest = Math.min(...adminTimes);
    const needsOwners = rows.some((r) => r.username.startsWith(this.deps.robotPrefix));
    const [actions, owners] = await Promise.all([
      // Stryker disable next-line ArrayDeclaration: equivalent, the empty list is only read for admin rows, and there are none when it is used
      needsConsole ? this.deps.consoleActions.recent(workspace, oldest - AFTER_MS) : Promise.resolve([]),
      needsOwners ? this.ownerMap() : Promise.resolve(new Map<string, OwnerRecord>()),
    ]);
    const items = rows.map((r) => {
      const res = parseResource(workspace, r.resource);
      return {
        id: r.id,
        time: r.op_time,
        operation: operationOf(r),
        ...res,
        resourceType: r.resource_type,
        actor: this.actorOf(r, res.image, actions, owners),
      };
    });
    return { items, total: page.total, page: q.page, pageSize: q.pageSize };
  }

  private harborQuery(workspace: string, q: ActivityQuery): string | undefined {
    const parts: string[] = [];
    if (q.operation === 'push') parts.push('operation=create', 'resource_type=artifact');
    else if (q.operation) parts.push(`operation=${q.operation}`);
    if (q.image) parts.push(`resource=~${workspace}/${q.image}${q.version ? `:${q.version}` : ''}`);
    else if (q.version) parts.push(`resource=~:${q.version}`);
    if (q.actorProject) parts.push(`username=${this.deps.credentials.robotNameFor(this.deps.credentials.usernameFor(q.actorProject))}`);
    if (q.from || q.to) parts.push(`op_time=[${harborTime(q.from ?? '1970-01-01T00:00:00Z')}~${harborTime(q.to ?? '9999-12-31T23:59:59Z')}]`);
    return parts.length ? parts.join(',') : undefined;
  }

  private actorOf(r: HarborAuditLog, image: string | null, actions: ConsoleAction[], owners: Map<string, OwnerRecord>): ActivityActor {
    if (r.username === JOBSERVICE_USER) return { kind: 'retention' };
    if (r.username.startsWith(this.deps.robotPrefix)) {
      const username = r.username.slice(this.deps.robotPrefix.length);
      const o = owners.get(username);
      return { kind: 'project', projectId: o?.project.id ?? null, projectName: o?.project.name ?? null, department: o?.project.department ?? null, username };
    }
    if (r.username === this.deps.adminUsername) {
      const t = Date.parse(r.op_time);
      let best: ConsoleAction | undefined;
      let bestDistance = Number.POSITIVE_INFINITY;
      for (const a of actions) {
        if (t < a.start - BEFORE_MS || t > a.end + AFTER_MS) continue;
        if (a.image !== undefined && image !== null && a.image !== image) continue;
        // how far the row lies before the call's start or after its end: 0 while the call was in flight, NaN for a row
        // whose time does not parse (never the nearest: such a row is credited to no call)
        const distance = Math.max(a.start - t, 0) || Math.max(t - a.end, 0);
        // the narrower call wins a tie (a batch delete and an upload overlapping)
        if (distance < bestDistance || (distance === bestDistance && best && a.end - a.start < best.end - best.start)) {
          best = a;
          bestDistance = distance;
        }
      }
      if (best) return { kind: 'user', userId: best.userId, username: best.username, requestId: best.requestId };
    }
    return { kind: 'harbor', name: r.username };
  }

  private async ownerMap(): Promise<Map<string, OwnerRecord>> {
    const now = (this.deps.now ?? Date.now)();
    if (this.owners && now - this.owners.at < (this.deps.ownersTtlMs ?? 30_000)) return this.owners.byUsername;
    const records = await this.deps.credentials.ownerRecords();
    this.owners = { at: now, byUsername: new Map(records.map((r) => [r.username, r])) };
    return this.owners.byUsername;
  }
}

/** Calls that never leave a row in Harbor's project log (quota, immutable rules): never candidates for attribution. */
const NO_HARBOR_ROWS = new Set(['workspace_quota_set', 'workspace_quota_clear', 'immutable_rules_create', 'immutable_rules_delete']);

/** Console actions an audit event implies, per workspace (what the activity view attributes "admin" rows to). */
export function consoleActionsOf(e: {
  outcome: string;
  action: string;
  requestId: string;
  time: string;
  durationMs: number;
  actor: { userId: string; username: string } | null;
  target: { workspace?: string; image?: string; items?: { workspace: string; image: string }[] };
}): { workspace: string; action: ConsoleAction }[] {
  if (e.outcome !== 'success' || !e.actor || NO_HARBOR_ROWS.has(e.action)) return [];
  const start = Date.parse(e.time);
  const base = { start, end: start + e.durationMs, userId: e.actor.userId, username: e.actor.username, action: e.action, requestId: e.requestId };
  if (e.target.items?.length) return e.target.items.map((it) => ({ workspace: it.workspace, action: { ...base, image: it.image } }));
  if (!e.target.workspace) return [];
  return [{ workspace: e.target.workspace, action: e.target.image ? { ...base, image: e.target.image } : base }];
}
