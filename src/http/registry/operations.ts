/**
 * The registry route table: every request on the registry front gets an operation id (for metrics, logs and
 * the per-operation behaviour of the pass-through), the repository it names and what kind of access it needs.
 * Ids, like Harbor's own `/v2` route table, never carry a repository or a user.
 *
 * Paths follow the Docker Registry HTTP API V2 / OCI distribution spec. Repository names may contain `/` (and
 * even the words `manifests`, `blobs`, `tags`), so the name is the longest prefix before the last operation
 * keyword — the same way distribution's router resolves them.
 */
export const OPERATION_IDS = ['v2_ping', 'v2_catalog', 'v2_tags', 'v2_manifest', 'v2_blob', 'v2_upload', 'v2_other', 'token'] as const;
export type OperationId = (typeof OPERATION_IDS)[number];

/** Registry access a request needs, as the token service names it in a scope. */
export type Access = 'pull' | 'push' | 'delete';

export interface RegistryOperation {
  id: OperationId;
  /** Repository name (`project/repo[/...]`) for repository-scoped operations. */
  repository?: string;
  /** Tag or digest (v2_manifest, v2_blob), upload session id (v2_upload). */
  reference?: string;
  /** What the request needs; undefined for v2_ping / v2_catalog / v2_other / token. */
  access?: Access;
  /** True for requests that change the registry (push, delete). */
  write: boolean;
}

/** A distribution repository name component sequence (lower case, digits, separators `.`, `_`, `__`, `-`). */
const NAME = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*';
const TAG_OR_DIGEST = '[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[A-Fa-f0-9=_-]{32,}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[A-Za-z0-9=_-]{32,}';

interface Route {
  id: OperationId;
  pattern: RegExp;
  /** Access by method; a method not listed still passes through (the registry answers 404/405 itself). */
  access?: (method: string) => Access | undefined;
}

const readOr = (write: Access) => (method: string): Access => (method === 'GET' || method === 'HEAD' ? 'pull' : method === 'DELETE' ? 'delete' : write);

/** Order matters: the upload routes before the blob route, the most specific first. */
export const ROUTES: readonly Route[] = [
  { id: 'v2_ping', pattern: /^\/v2\/?$/ },
  { id: 'v2_catalog', pattern: /^\/v2\/_catalog$/ },
  { id: 'v2_tags', pattern: new RegExp(`^/v2/(${NAME})/tags/list$`), access: () => 'pull' },
  { id: 'v2_manifest', pattern: new RegExp(`^/v2/(${NAME})/manifests/(${TAG_OR_DIGEST})$`), access: readOr('push') },
  // Upload sessions: POST starts (or mounts), PATCH/PUT/GET/DELETE work on one session. All need push
  // (a GET of an upload's status, too: distribution checks push on the whole /blobs/uploads/ tree).
  { id: 'v2_upload', pattern: new RegExp(`^/v2/(${NAME})/blobs/uploads/?$`), access: () => 'push' },
  { id: 'v2_upload', pattern: new RegExp(`^/v2/(${NAME})/blobs/uploads/([A-Za-z0-9._=-]+)$`), access: () => 'push' },
  { id: 'v2_blob', pattern: new RegExp(`^/v2/(${NAME})/blobs/(${DIGEST})$`), access: readOr('push') },
];

/** Classifies a request on the registry front; `path` is the URL path without the query string. */
export function classify(method: string, path: string): RegistryOperation {
  if (path === '/service/token') return { id: 'token', write: false };
  for (const r of ROUTES) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    const access = r.access?.(method);
    // Keys only when they have a value (no temporary objects per request).
    const op: RegistryOperation = { id: r.id, write: access === 'push' || access === 'delete' };
    if (m[1] !== undefined) op.repository = m[1];
    if (m[2] !== undefined) op.reference = m[2];
    if (access) op.access = access;
    return op;
  }
  return { id: 'v2_other', write: method !== 'GET' && method !== 'HEAD' };
}

/** True for the paths the registry front serves (everything else goes on to the API). */
export const isRegistryPath = (path: string): boolean => path === '/v2' || path.startsWith('/v2/') || path === '/service/token';

/**
 * The scope a Bearer challenge names for an operation, as Harbor's challenge does
 * (`repository:<name>:pull` for reads, `repository:<name>:pull,push` for writes, `registry:catalog:*`).
 */
export function challengeScope(op: RegistryOperation): string | undefined {
  if (op.id === 'v2_catalog') return 'registry:catalog:*';
  if (!op.repository || !op.access) return undefined;
  const actions = op.access === 'pull' ? 'pull' : op.access === 'push' ? 'pull,push' : 'delete';
  return `repository:${op.repository}:${actions}`;
}

/**
 * Path hygiene before anything on `/v2` reaches Harbor. hubgate routes on the path it sees; Harbor's nginx (and
 * any proxy in between) resolves dot segments and decodes `%2F` first, so a path that means one thing here and
 * another there (`/v2/..%2fapi/v2.0/projects` is Harbor's REST API behind nginx) must never be sent on. Refused:
 * - dot segments (`.`, `..`) and empty segments (`//`), raw or percent-encoded;
 * - any percent-encoding but `%3A` (`:` in a digest, which some clients encode): it is decoded, so Harbor core,
 *   which takes `%3A` literally, sees the digest and not a tag named `sha256%3A…`;
 * - backslashes, `;` (path parameters), control, space and non-ASCII characters.
 * Returns the canonical path (what is sent on), or the reason it was refused.
 */
export function canonicalRegistryPath(path: string): { path: string } | { problem: string } {
  if (/%(?![3][Aa])/.test(path)) return { problem: 'percent-encoded characters other than ":" are not allowed in registry paths' };
  const p = path.replace(/%3[Aa]/g, ':');
  if (/[^\x21-\x7e]|[\\;]/.test(p)) return { problem: 'the path holds characters no registry path has' };
  // A segment that is `.` or `..`.
  if (/\/\.\.?(?:\/|$)/.test(p)) return { problem: 'dot segments are not allowed in registry paths' };
  // An empty segment: `//` anywhere, or a trailing `/` but that of `/v2/` (its only other `/` is the first) and
  // `…/uploads/`.
  if (p.includes('//') || (p.endsWith('/') && p.indexOf('/', 1) !== p.length - 1 && !p.endsWith('/uploads/'))) {
    return { problem: 'empty path segments are not allowed in registry paths' };
  }
  return { path: p };
}
