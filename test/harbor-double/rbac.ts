/** Harbor 2.5.5 permission outcomes as observed in the recording (findings b, c, f). */
import { Principal } from './http';
import { Project, Robot, State } from './state';
import { roleOf, userCan } from './users';

/** Project-scope resource/action pairs known to 2.5.5 (union of the project-role policies). */
export const PROJECT_PAIRS: Record<string, string[]> = {
  repository: ['create', 'read', 'update', 'delete', 'list', 'pull', 'push'],
  artifact: ['create', 'read', 'list', 'delete'],
  tag: ['create', 'delete', 'list'],
  'artifact-label': ['create', 'delete'],
  'artifact-addition': ['read'],
  accessory: ['list'],
  scan: ['create', 'read', 'stop'],
  scanner: ['create', 'read'],
  'helm-chart': ['create', 'read', 'delete', 'list'],
  'helm-chart-version': ['create', 'read', 'delete', 'list'],
  'helm-chart-version-label': ['create', 'delete', 'list'],
  label: ['create', 'read', 'update', 'delete', 'list'],
  member: ['create', 'read', 'update', 'delete', 'list'],
  robot: ['create', 'read', 'update', 'delete', 'list'],
  'notification-policy': ['create', 'read', 'update', 'delete', 'list'],
  'preheat-policy': ['create', 'read', 'update', 'delete', 'list'],
  metadata: ['create', 'read', 'update', 'delete'],
  'immutable-tag': ['create', 'update', 'delete', 'list'],
  'tag-retention': ['create', 'read', 'update', 'delete', 'list', 'operate'],
  quota: ['read'],
  log: ['list'],
  configuration: ['read', 'update'],
};

/** What anyone may do on a public project (Harbor's public-project policies, read side). */
const PUBLIC_READ: Record<string, string[]> = {
  project: ['read'],
  repository: ['list', 'read', 'pull'],
  artifact: ['read', 'list'],
  tag: ['list'],
  'artifact-addition': ['read'],
  accessory: ['list'],
  'helm-chart': ['read', 'list'],
  'helm-chart-version': ['read', 'list'],
  scan: ['read'],
};

export function robotHasSystemPerm(robot: Robot): boolean {
  return robot.permissions.some((p) => p.kind === 'system');
}

export function robotFullName(state: State, robot: Robot): string {
  return state.robotPrefix + robot.name;
}

/** Can `principal` do resource:action in `project`? */
export function canProject(state: State, principal: Principal, project: Project, resource: string, action: string): boolean {
  if (principal.kind === 'admin') return true;
  const isPublic = project.metadata.public === 'true';
  const publicOk = isPublic && (PUBLIC_READ[resource] ?? []).includes(action);
  if (principal.kind === 'user') return publicOk || userCan(state, principal.user, project, resource, action);
  if (principal.kind === 'robot') {
    const robot = principal.robot;
    if (robotHasSystemPerm(robot)) return false;
    if (publicOk) return true;
    if (robot.level === 'project' && robot.projectId !== project.id) return false;
    return robot.permissions.some(
      (p) => p.kind === 'project' && p.namespace === project.name && p.access.some((a) => a.resource === resource && a.action === action),
    );
  }
  return publicOk;
}

/** System-level resources (audit-log, gc, robots, ...): admin, or a system robot holding the kind "system" pair. */
export function canSystem(principal: Principal, resource: string, action: string): boolean {
  if (principal.kind === 'admin') return true;
  if (principal.kind === 'robot') {
    return principal.robot.permissions.some(
      (p) => p.kind === 'system' && p.access.some((a) => a.resource === resource && a.action === action),
    );
  }
  return false;
}

/** Whether the principal is "a member" of the project for listings (any permission, or public). */
export function seesProject(state: State, principal: Principal, project: Project): boolean {
  if (principal.kind === 'admin') return true;
  if (project.metadata.public === 'true') return true;
  if (principal.kind === 'user') return roleOf(state, principal.user, project) !== undefined;
  if (principal.kind === 'robot') {
    const r = principal.robot;
    if (robotHasSystemPerm(r)) return false;
    if (r.level === 'project') return r.projectId === project.id;
    return r.permissions.some((p) => p.kind === 'project' && p.namespace === project.name);
  }
  return false;
}

/** Registry actions a principal holds on a repository of `project` (token service). */
export function registryActions(state: State, principal: Principal, project: Project | undefined): string[] {
  if (!project) return [];
  if (principal.kind === 'admin') return ['pull', 'push', 'delete', '*'];
  const out: string[] = [];
  for (const a of ['pull', 'push', 'delete']) {
    if (principal.kind === 'robot' || principal.kind === 'anonymous' || principal.kind === 'user') {
      if (canProject(state, principal, project, 'repository', a)) out.push(a);
    }
  }
  // Harbor 2.5.5's token service adds "*" whenever push, pull and delete are all granted (for notary; seen on the
  // real Harbor through test:harbor, src/core/service/token/creator.go).
  if (out.length === 3) out.push('*');
  return out;
}
