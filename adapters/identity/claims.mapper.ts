import type { Config } from '../../src/config';
import { AppError } from '../../src/domain/errors';
import type { PlatformProject, Principal } from '../../src/domain/principal';
import type { Logger } from '../../src/observability/logger';

/**
 * Turns the claims of a verified Keycloak access token into a Principal. Pure: no I/O, no clock.
 *
 * Rules (also in the README):
 * - Claim names are looked up as an exact top-level key first, then as a dot path (`platform.projects` reads
 *   `payload.platform.projects`) — Keycloak's protocol mappers nest claims at dots the same way.
 * - userId (default `sub`): a non-empty string, else the token is refused ("missing claim <name>").
 * - username (default `preferred_username`): a non-empty string, else the userId is used.
 * - cloud admin: the role `adminRole` is present in `realm_access.roles` (source `realm`) or in
 *   `resource_access.<clientId>.roles` (source `client:<clientId>`). Roles anywhere else do not count.
 * - projects (default `projects`): an array — or a JSON string holding an array — whose entries are either
 *   objects `{ "id", "name"?, "department" }` (name defaults to id; a numeric id is accepted and turned into
 *   a string) or strings `"<department>/<projectId>"`, or strings holding such a JSON object (what a
 *   multivalued Keycloak user attribute produces). A single string is read as a one-entry list. Entries that
 *   fit none of these, or whose fields are empty, longer than 255 characters or contain control characters,
 *   are ignored (debug log, without the values). A repeated id keeps the first entry.
 */
export type ClaimsConfig = Config['oidc']['claims'];
export type TokenPayload = Record<string, unknown>;

const MAX_FIELD_LENGTH = 255;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Reads a claim by exact name, then by dot path. */
export function readClaim(payload: TokenPayload, name: string): unknown {
  if (Object.prototype.hasOwnProperty.call(payload, name)) return payload[name];
  // a name without a dot is one step of the walk: absent, as just seen
  let cur: unknown = payload;
  for (const part of name.split('.')) {
    if (!isRecord(cur) || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = cur[part];
  }
  return cur;
}

export function mapClaims(payload: TokenPayload, claims: ClaimsConfig, log?: Logger): Principal {
  const userId = readClaim(payload, claims.userId);
  if (typeof userId !== 'string' || userId.trim() === '') {
    throw new AppError('unauthorized', `missing claim ${claims.userId}`);
  }
  const username = readClaim(payload, claims.username);
  return {
    userId,
    username: typeof username === 'string' && username.trim() !== '' ? username : userId,
    isCloudAdmin: hasAdminRole(payload, claims),
    projects: readProjects(readClaim(payload, claims.projects), claims.projects, log),
  };
}

function hasAdminRole(payload: TokenPayload, claims: ClaimsConfig): boolean {
  // stays undefined for a source that is neither: no roles, not an admin (config refuses such a source anyway)
  let holder: unknown;
  if (claims.adminRoleSource === 'realm') {
    holder = payload.realm_access;
  } else if (claims.adminRoleSource.startsWith('client:')) {
    const clientId = claims.adminRoleSource.slice('client:'.length);
    const access = payload.resource_access;
    holder = isRecord(access) && Object.prototype.hasOwnProperty.call(access, clientId) ? access[clientId] : undefined;
  }
  const roles = isRecord(holder) ? holder.roles : undefined;
  return Array.isArray(roles) && roles.some((r) => r === claims.adminRole);
}

function readProjects(raw: unknown, claimName: string, log?: Logger): PlatformProject[] {
  if (raw === undefined || raw === null) return [];
  let list: unknown = raw;
  if (typeof raw === 'string') {
    list = raw.trim().startsWith('[') ? parseJson(raw) : [raw];
  }
  if (!Array.isArray(list)) {
    log?.debug('token projects claim ignored: not a list', { claim: claimName, type: typeof raw });
    return [];
  }
  const out: PlatformProject[] = [];
  const seen = new Set<string>();
  let ignored = 0;
  let duplicates = 0;
  for (const entry of list) {
    const project = toProject(entry);
    if (!project) {
      ignored += 1;
    } else if (seen.has(project.id)) {
      duplicates += 1;
    } else {
      seen.add(project.id);
      out.push(project);
    }
  }
  if (ignored > 0 || duplicates > 0) {
    log?.debug('token project entries ignored', { claim: claimName, invalid: ignored, duplicates });
  }
  return out;
}

function toProject(entry: unknown): PlatformProject | undefined {
  if (typeof entry === 'string') {
    const s = entry.trim();
    if (s.startsWith('{')) return toProject(parseJson(s));
    const parts = s.split('/');
    if (parts.length !== 2) return undefined;
    const department = field(parts[0]);
    const id = field(parts[1]);
    return id && department ? { id, name: id, department } : undefined;
  }
  if (!isRecord(entry)) return undefined;
  const id = field(Number.isSafeInteger(entry.id) ? String(entry.id) : entry.id);
  const department = field(entry.department);
  if (!id || !department) return undefined;
  if (entry.name !== undefined && entry.name !== null && !field(entry.name)) return undefined;
  return { id, name: field(entry.name) ?? id, department };
}

/** The trimmed value when it is a usable field: non-empty, at most 255 characters, no control characters. */
function field(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (s.length > MAX_FIELD_LENGTH || CONTROL_CHARS.test(s)) return undefined;
  return s || undefined;
}

function parseJson(s: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(s);
  } catch {
    // not JSON: undefined, which no caller takes for a list or a project
  }
  return value;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
