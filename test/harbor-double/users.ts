/**
 * Ordinary Harbor users (db_auth, self-registration off) and project members, from Harbor 2.5.5's sources
 * (server/v2.0/handler/user.go and member.go, common/rbac/project's role policies): the admin creates users, adds them to
 * projects with a role, and they log in with Basic username:password on the REST API, the token service and `/v2`.
 * Not recorded on a real Harbor (that needs writes the shared kits may not take); the messages are the sources'.
 *
 *   POST /users {username,password,email,realname,comment}  -> 201, Location /api/v2.0/users/<id> (admin only)
 *   GET /users, GET|DELETE /users/<id>                        (admin only)
 *   POST /projects/<p>/members {role_id, member_user:{username}} -> 201, Location /api/v2.0/projects/<p>/members/<id>
 *   GET /projects/<p>/members
 */
import { Ctx, isoMs, readBody, sendEmpty, sendError, sendJson } from './http';
import { HarborUser, Project, State } from './state';

/** Harbor's project roles: id -> name. */
export const ROLES: Record<number, string> = { 1: 'projectAdmin', 2: 'developer', 3: 'guest', 4: 'maintainer', 5: 'limitedGuest' };

/** repository actions per role (Harbor's role policies, the registry-relevant part). */
const REPOSITORY_ACTIONS: Record<number, string[]> = {
  1: ['create', 'read', 'update', 'delete', 'list', 'pull', 'push'],
  4: ['create', 'read', 'update', 'delete', 'list', 'pull', 'push'],
  2: ['create', 'read', 'list', 'pull', 'push'],
  3: ['read', 'list', 'pull'],
  5: ['read', 'list', 'pull'],
};
/** Other project resources a member may read (any role), as far as the double models them. */
const MEMBER_READ: Record<string, string[]> = { project: ['read'], artifact: ['read', 'list'], tag: ['list'], 'artifact-addition': ['read'], accessory: ['list'] };

export function roleOf(state: State, user: HarborUser, project: Project): number | undefined {
  return state.members.get(project.id)?.get(user.id);
}

/** Can an ordinary user do resource:action in the project (its role there; public projects are checked by the caller). */
export function userCan(state: State, user: HarborUser, project: Project, resource: string, action: string): boolean {
  const role = roleOf(state, user, project);
  if (role === undefined) return false;
  if (resource === 'repository') return (REPOSITORY_ACTIONS[role] ?? []).includes(action);
  if (resource === 'artifact' && action === 'delete') return role === 1 || role === 4;
  if (resource === 'tag' && (action === 'create' || action === 'delete')) return role !== 3 && role !== 5;
  return (MEMBER_READ[resource] ?? []).includes(action);
}

/** db_auth password check. */
export function findUser(state: State, username: string, password: string): HarborUser | undefined {
  for (const u of state.users.values()) if (u.username === username && u.password === password) return u;
  return undefined;
}

class Refusal extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

const STRONG = (s: string) => s.length >= 8 && /[a-z]/.test(s) && /[A-Z]/.test(s) && /[0-9]/.test(s);
const EMAIL = /^[^<>()[\]\\.,;:\s@"]+(\.[^<>()[\]\\.,;:\s@"]+)*@([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}$/;

export function userView(u: HarborUser): Record<string, unknown> {
  return {
    admin_role_in_auth: false,
    comment: u.comment,
    creation_time: isoMs(u.creationTime),
    email: u.email,
    realname: u.realname,
    sysadmin_flag: false,
    update_time: isoMs(u.creationTime),
    user_id: u.id,
    username: u.username,
  };
}

async function body(ctx: Ctx): Promise<any> {
  const raw = (await readBody(ctx.req)).toString('utf8');
  try {
    return raw ? JSON.parse(raw) : {};
  } catch {
    throw new Refusal(400, 'BAD_REQUEST', 'invalid JSON body');
  }
}

function requireAdmin(ctx: Ctx, what: string): void {
  if (ctx.principal.kind === 'anonymous' || ctx.principal.kind === 'token') throw new Refusal(401, 'UNAUTHORIZED', 'unauthorized');
  if (ctx.principal.kind !== 'admin') throw new Refusal(403, 'FORBIDDEN', what);
}

/**
 * `/users...` (segs after `api/v2.0`). Answers and returns true when it handled the request; `GET /users/current`
 * for an ordinary user too. Returns false for what it does not know (the caller answers 404).
 */
export async function usersRoute(ctx: Ctx, state: State, segs: string[]): Promise<boolean> {
  try {
    const [, b] = segs;
    const n = segs.length;
    const m = ctx.method;
    if (n === 2 && b === 'current' && m === 'GET' && ctx.principal.kind === 'user') {
      sendJson(ctx, 200, userView(ctx.principal.user));
      return true;
    }
    if (n === 1 && m === 'POST') {
      requireAdmin(ctx, 'forbidden');
      const req = await body(ctx);
      const password = String(req.password ?? '');
      if (!STRONG(password)) throw new Refusal(400, 'BAD_REQUEST', 'the password or secret must be longer than 8 chars with at least 1 uppercase letter, 1 lowercase letter and 1 number');
      const email = String(req.email ?? '');
      if (!email) throw new Refusal(400, 'BAD_REQUEST', "email can't be empty");
      if (!EMAIL.test(email)) throw new Refusal(400, 'BAD_REQUEST', 'email with illegal format');
      const realname = String(req.realname ?? '');
      if (realname.length < 1 || realname.length > 255) throw new Refusal(400, 'BAD_REQUEST', 'realname with illegal length');
      if (/[,~#$%]/.test(realname)) throw new Refusal(400, 'BAD_REQUEST', 'realname contains illegal characters');
      const username = String(req.username ?? '');
      if ([...state.users.values()].some((u) => u.username === username) || username === 'admin') throw new Refusal(409, 'CONFLICT', `username ${username} is already used`);
      const u: HarborUser = { id: state.next('user') + 1, username, password, email, realname, comment: String(req.comment ?? ''), creationTime: Date.now() };
      state.users.set(u.id, u);
      sendEmpty(ctx, 201, { Location: `/api/v2.0/users/${u.id}` });
      return true;
    }
    if (n === 1 && m === 'GET') {
      requireAdmin(ctx, 'forbidden');
      sendJson(ctx, 200, [...state.users.values()].map(userView));
      return true;
    }
    if (n === 2 && /^\d+$/.test(b) && (m === 'GET' || m === 'DELETE')) {
      requireAdmin(ctx, m === 'GET' ? `Not authorized to read user: ${b}` : 'Not authorized to delete users');
      const u = state.users.get(Number(b));
      if (!u) throw new Refusal(404, 'NOT_FOUND', `user ${b} not found`);
      if (m === 'GET') sendJson(ctx, 200, userView(u));
      else {
        state.users.delete(u.id);
        for (const ms of state.members.values()) ms.delete(u.id);
        sendEmpty(ctx, 200);
      }
      return true;
    }
    return false;
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    sendError(ctx, e.status, e.code, e.message);
    return true;
  }
}

/** `/projects/<p>/members` for an already resolved project (the caller did the name/id lookup and its refusals). */
export async function membersRoute(ctx: Ctx, state: State, project: Project): Promise<void> {
  try {
    if (ctx.method === 'GET') {
      requireAdmin(ctx, 'forbidden');
      const rows = [...(state.members.get(project.id) ?? new Map<number, number>())].map(([userId, role]) => ({
        entity_id: userId,
        entity_name: state.users.get(userId)?.username ?? '',
        entity_type: 'u',
        id: userId,
        project_id: project.id,
        role_id: role,
        role_name: ROLES[role] ?? '',
      }));
      return sendJson(ctx, 200, rows);
    }
    requireAdmin(ctx, 'forbidden');
    const req = await body(ctx);
    const role = Number(req.role_id);
    if (!ROLES[role]) throw new Refusal(400, 'BAD_REQUEST', 'role can not be empty!');
    const name = String(req.member_user?.username ?? '');
    const user = [...state.users.values()].find((u) => u.username === name);
    if (!user) throw new Refusal(404, 'NOT_FOUND', `user ${name} not found`);
    if (!state.members.has(project.id)) state.members.set(project.id, new Map());
    const ms = state.members.get(project.id)!;
    if (ms.has(user.id)) throw new Refusal(409, 'CONFLICT', `The user with id ${user.id} is already a member of the project`);
    ms.set(user.id, role);
    sendEmpty(ctx, 201, { Location: `/api/v2.0/projects/${project.name}/members/${user.id}` });
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    sendError(ctx, e.status, e.code, e.message);
  }
}
