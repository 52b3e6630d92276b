import type { NextFunction, Request, Response } from 'express';
import { currentContext } from '../../observability/context';
import type { AuditTarget, AuditTrail } from '../../observability/audit';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Request-body fields an audit event may carry: names, ids, flags. Never descriptions, never anything else. */
const BODY_FIELDS = ['name', 'projectId', 'department', 'access', 'dryRun', 'deleteUntagged', 'tags', 'items', 'schedule', 'enabled', 'limit', 'images'] as const;
const MAX_LIST = 100;
const MAX_TEXT = 256;

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v.slice(0, MAX_TEXT) : undefined);

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** What the call acted on, from its path and a fixed list of body fields. */
export function auditTarget(path: string, body: unknown): AuditTarget {
  const t: AuditTarget = {};
  const ws = /^\/workspaces\/([^/]+)(?:\/(images|uploads|retention|activity|quota|immutable-rules)(?:\/(.+?))?)?\/?$/.exec(path);
  if (ws) {
    t.workspace = decode(ws[1]);
    if (ws[2] === 'images' && ws[3]) t.image = decode(ws[3].replace(/\/versions$/, ''));
  }
  const proj = /^\/projects\/([^/]+)\//.exec(path);
  if (proj) t.projectId = decode(proj[1]);
  // (a primitive body, e.g. a JSON string, has none of the fields: it needs no check of its own)
  if (body && !Array.isArray(body) && !Buffer.isBuffer(body)) {
    const b = body as Record<string, unknown>;
    for (const k of BODY_FIELDS) {
      const v = b[k];
      if (v === undefined) continue;
      if (k === 'items') {
        // a list only (anything else is left out): the activity feed maps over it
        if (Array.isArray(v))
          t.items = v
            .slice(0, MAX_LIST)
            .filter((x): x is Record<string, unknown> => !!x && typeof x === 'object')
            .map((x) => ({ workspace: text(x.workspace) ?? '', image: text(x.image) ?? '' }));
      } else if (k === 'tags' && Array.isArray(v)) t.tags = v.slice(0, MAX_LIST).map(text).filter((x): x is string => x !== undefined);
      else if (k === 'name' && path === '/workspaces') t.workspace = text(v);
      else if (typeof v === 'boolean' || typeof v === 'number') (t as Record<string, unknown>)[k] = v;
      else if (typeof v === 'string') (t as Record<string, unknown>)[k] = text(v);
    }
  }
  return t;
}

/**
 * Audits every state-changing call of the API router (mounted before authentication, so refused calls are
 * recorded too). The event is written when the response has been sent: it never delays the answer.
 */
export function auditCalls(trail: AuditTrail) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!WRITE_METHODS.has(req.method)) return next();
    const started = Date.now();
    // The duration on the monotonic clock: a wall-clock step (NTP) during the call would skew it, even below zero.
    const t0 = performance.now();
    const path = req.path;
    res.on('finish', () => {
      const ctx = currentContext();
      const p = req.principal;
      const status = res.statusCode;
      const errorCode = (res as { errorCode?: string }).errorCode;
      trail.record({
        type: 'audit',
        time: new Date(started).toISOString(),
        requestId: ctx?.requestId ?? String(res.getHeader('X-Request-Id') ?? ''),
        clientAddress: req.ip ?? null,
        actor: p ? { userId: p.userId, username: p.username, cloudAdmin: p.isCloudAdmin, projects: p.projects.map((x) => x.id) } : null,
        action: ctx?.operation ?? 'unmatched',
        method: req.method,
        path: `/api/v1${path}`.slice(0, 1024),
        target: auditTarget(path, req.body),
        outcome: status < 400 ? 'success' : status === 401 || status === 403 || status === 404 ? 'denied' : 'failure',
        status,
        ...(errorCode ? { errorCode } : {}),
        durationMs: Math.round(performance.now() - t0),
      });
    });
    next();
  };
}
