import type { ErrorRequestHandler, Response } from 'express';
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
  too_large: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  unprocessable: { status: 422, code: 'UNPROCESSABLE_ENTITY' },
  rate_limited: { status: 429, code: 'TOO_MANY_REQUESTS' },
  internal: { status: 500, code: 'UNKNOWN' },
  upstream_misconfigured: { status: 502, code: 'UPSTREAM_MISCONFIGURED' },
  upstream_unavailable: { status: 502, code: 'UPSTREAM_UNAVAILABLE' },
  upstream_timeout: { status: 504, code: 'UPSTREAM_TIMEOUT' },
};

/** Harbor's envelope: `{"errors":[{"code","message"}]}`, `application/json; charset=utf-8`. */
export function sendError(res: Response, status: number, code: string, message: string, extra?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (extra) for (const [k, v] of Object.entries(extra)) res.setHeader(k, v);
  res.status(status).type('application/json; charset=utf-8').send(JSON.stringify({ errors: [{ code, message: redactText(message) }] }) + '\n');
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
