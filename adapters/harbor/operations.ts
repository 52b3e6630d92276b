import { HARBOR_OPERATIONS, type HarborOperation } from './swagger-operations';

export type { HarborOperation } from './swagger-operations';

/**
 * Harbor's REST operations (swagger.yaml of v2.5.5) looked up the way go-swagger's router does: by method and path
 * below `/api/v2.0`, a `{param}` matching one whole segment, a literal segment preferred over a parameter at the
 * same place (`/system/gc/schedule` is not `/system/gc/{gc_id}`). HEAD only matches operations declared as HEAD.
 */
const BY_METHOD = new Map<string, { op: HarborOperation; segments: (string | null)[]; rank: string }[]>();
for (const op of HARBOR_OPERATIONS) {
  const segments = op.path.split('/').slice(1).map((s) => (/^\{[^}]+\}$/.test(s) ? null : s));
  const list = BY_METHOD.get(op.method) ?? [];
  list.push({ op, segments, rank: segments.map((s) => (s === null ? '1' : '0')).join('') });
  BY_METHOD.set(op.method, list);
}
for (const list of BY_METHOD.values()) list.sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));

/** The operation for `method` and the path's segments (below `/api/v2.0`, without the query); undefined if none. */
export function matchOperation(method: string, segments: readonly string[]): HarborOperation | undefined {
  const list = BY_METHOD.get(method.toUpperCase());
  if (!list) return undefined;
  for (const { op, segments: tpl } of list) {
    if (tpl.length !== segments.length) continue;
    if (tpl.every((t, i) => (t === null ? segments[i] !== '' : t === segments[i]))) return op;
  }
  return undefined;
}

/** `/projects/alpha/summary?x=1` → `['projects', 'alpha', 'summary']` (trailing slash ignored, as Harbor's router does). */
export function pathSegments(path: string): string[] {
  const p = path.split('?')[0].replace(/\/+$/, '');
  return p === '' ? [] : p.replace(/^\//, '').split('/');
}

/**
 * The `Accept` header for a call: the operation's `produces` (go-swagger answers 422 when `Accept` matches none of
 * them, e.g. `application/json` on the GC log, which is `text/plain`). Unknown paths keep Harbor's global default.
 */
export function acceptFor(method: string, path: string): string {
  const op = matchOperation(method, pathSegments(path));
  return (op?.produces ?? ['application/json']).join(
    // Stryker disable next-line StringLiteral: equivalent, every Harbor 2.5.5 operation produces exactly one media type (test/unit/adapters/harbor-operations.test.ts)
    ', ',
  );
}
