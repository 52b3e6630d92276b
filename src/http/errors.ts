import type http from 'node:http';
import etag from 'etag';
import type { ErrorRequestHandler } from 'express';
import { AppError, type ErrorKind } from '../domain/errors';
import type { Logger } from '../observability/logger';
import { redactText } from '../observability/logger';

/** The one table from error kinds to HTTP statuses and Harbor-style error codes. */
export const ERROR_TABLE: Record<ErrorKind, { status: number; code: string }> = {
  invalid: { status: 400, code: 'BAD_REQUEST' },
  unauthorized: { status: 401, code: 'UNAUTHORIZED' },
  forbidden: { status: 403, code: 'FORBIDDEN' },
  not_found: { status: 404, code: 'NOT_FOUND' },
  conflict: { status: 409, code: 'CONFLICT' },
  precondition: { status: 412, code: 'PRECONDITION' },
  timeout: { status: 408, code: 'REQUEST_TIMEOUT' },
  too_large: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  unprocessable: { status: 422, code: 'UNPROCESSABLE_ENTITY' },
  rate_limited: { status: 429, code: 'TOO_MANY_REQUESTS' },
  internal: { status: 500, code: 'UNKNOWN' },
  upstream_misconfigured: { status: 502, code: 'UPSTREAM_MISCONFIGURED' },
  upstream_unavailable: { status: 502, code: 'UPSTREAM_UNAVAILABLE' },
  upstream_timeout: { status: 504, code: 'UPSTREAM_TIMEOUT' },
  unavailable: { status: 503, code: 'SERVICE_UNAVAILABLE' },
  insufficient_storage: { status: 507, code: 'INSUFFICIENT_STORAGE' },
};

/** Harbor's envelope: `{"errors":[{"code","message"}]}`, `application/json; charset=utf-8`. */
export function sendError(res: http.ServerResponse, status: number, code: string, message: string, extra?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (extra) for (const [k, v] of Object.entries(extra)) res.setHeader(k, v);
  (res as { errorCode?: string }).errorCode = code; // read by the audit trail (middleware/audit.ts)
  sendJsonText(res, status, JSON.stringify({ errors: [{ code, message: redactText(message) }] }) + '\n');
}

/**
 * A JSON text answered as Express's `res.status(status).type('application/json; charset=utf-8').send(text)` and
 * `res.status(status).json(value)` answer it with default app settings — `Content-Type`, `Content-Length`, weak
 * `ETag`, no body for HEAD — on a plain node response (the registry front runs without Express's prototypes).
 * Only for answers Express never turns into a 304 (freshness applies to 2xx/304 answers to GET and HEAD only):
 * error statuses, or answers to other methods.
 */
export function sendJsonText(res: http.ServerResponse, status: number, text: string): void {
  const body = Buffer.from(text); // UTF-8
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  if (!res.hasHeader('Transfer-Encoding')) res.setHeader('Content-Length', String(body.length));
  // Express's default `etag` setting ('weak') computes its ETag with this same package.
  if (!res.hasHeader('ETag')) res.setHeader('ETag', etag(body, { weak: true }));
  if (res.req.method === 'HEAD') res.end();
  else res.end(body);
}

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { type?: string; status?: number; statusCode?: number; message?: string };
  // body-parser errors: malformed JSON, too large, wrong charset.
  if (e?.type === 'entity.parse.failed') return new AppError('invalid', 'request body is not valid JSON');
  if (e?.type === 'entity.too.large') return new AppError('too_large', 'request body too large');
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return new AppError('invalid', e.message ?? 'bad request');
  return new AppError('internal', 'internal server error', { cause: err });
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const appErr = toAppError(err);
    const { status, code } = ERROR_TABLE[appErr.kind];
    if (status >= 500) {
      // Details of 5xx go to the log only; the caller gets the generic message of its kind.
      logger.error('request failed', { kind: appErr.kind, upstream_status: appErr.upstreamStatus, error: appErr.cause ?? appErr });
    }
    const message = appErr.kind === 'internal' ? 'internal server error' : appErr.message;
    const extra = appErr.retryAfterSeconds !== undefined ? { 'Retry-After': String(appErr.retryAfterSeconds) } : undefined;
    sendError(res, status, code, message, extra);
  };
}
