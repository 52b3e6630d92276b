/**
 * What the activity feed tests share: Team A's caller, who manages workspace `ws` (its registry robot is
 * `robot$hg-proj-a`), Harbor audit rows, and an ActivityService over recording stand-ins: Harbor's project log (the
 * queries it was asked), the console-action store (the windows it was asked for) and the robot → project lookup.
 * hubgate's Harbor admin user is `admin`.
 */
import { ActivityService } from '../../../src/domain/activity.service';
import type { OwnerRecord } from '../../../src/domain/credentials.service';
import type { Principal } from '../../../src/domain/principal';
import type { ConsoleAction } from '../../../src/ports/console-actions';
import type { ListQuery } from '../../../src/ports/harbor';
import type { HarborAuditLog } from '../../../src/ports/harbor-policies';

export const owner: OwnerRecord = { robotId: 7, username: 'hg-proj-a', project: { id: 'proj-a', name: 'Team A', department: 'd1' }, workspaces: ['ws'] };
export const principal: Principal = { userId: 'u1', username: 'alice', isCloudAdmin: false, projects: [owner.project] };

export const auditRow = (id: number, t: string, operation: string, resource: string, username: string, type = 'artifact'): HarborAuditLog => ({
  id,
  op_time: t,
  operation,
  resource,
  resource_type: type,
  username,
});

export interface ActivityKitOptions {
  /** The caller's relation to the workspace (default `manage`). */
  relation?: 'manage' | 'view';
  /** The robot → project records (default: Team A's robot only). */
  ownerRecords?: () => Promise<OwnerRecord[]>;
  ownersTtlMs?: number;
  now?: () => number;
}

/** A service whose Harbor log answers `rows` (total 42) and whose console-action store answers `actions`. */
export function activityKit(rows: HarborAuditLog[], actions: ConsoleAction[], o: ActivityKitOptions = {}) {
  const calls: ListQuery[] = [];
  const recent: [string, number][] = [];
  const service = new ActivityService({
    harbor: {
      projectLogs: async (_p, q) => {
        calls.push(q);
        return { items: rows, total: 42 };
      },
    },
    workspaces: { get: async () => ({ relation: o.relation ?? 'manage' }) as never },
    credentials: { ownerRecords: o.ownerRecords ?? (async () => [owner]), usernameFor: (p: string) => `hg-${p}`, robotNameFor: (u: string) => `robot$${u}` },
    consoleActions: {
      remember: async () => undefined,
      recent: async (workspace, since) => {
        recent.push([workspace, since]);
        return actions;
      },
      close: async () => undefined,
    },
    adminUsername: 'admin',
    robotPrefix: 'robot$',
    ownersTtlMs: o.ownersTtlMs,
    now: o.now,
  });
  return { service, calls, recent };
}
