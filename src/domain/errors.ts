/**
 * The one error type of hubgate. Every layer throws AppError with a kind; the HTTP layer turns the kind
 * into a status and Harbor's error envelope `{"errors":[{"code","message"}]}` (see src/http/errors.ts).
 */
export type ErrorKind =
  | 'invalid' // 400 BAD_REQUEST
  | 'unauthorized' // 401 UNAUTHORIZED
  | 'forbidden' // 403 FORBIDDEN
  | 'not_found' // 404 NOT_FOUND
  | 'conflict' // 409 CONFLICT
  | 'precondition' // 412 PRECONDITION
  | 'timeout' // 408 REQUEST_TIMEOUT (the client stopped sending)
  | 'too_large' // 413 PAYLOAD_TOO_LARGE
  | 'unprocessable' // 422 UNPROCESSABLE_ENTITY
  | 'rate_limited' // 429 TOO_MANY_REQUESTS
  | 'internal' // 500 UNKNOWN
  | 'upstream_misconfigured' // 502 UPSTREAM_MISCONFIGURED (Harbor rejected hubgate's own credentials)
  | 'upstream_unavailable' // 502 UPSTREAM_UNAVAILABLE (refused, reset, 5xx)
  | 'upstream_timeout' // 504 UPSTREAM_TIMEOUT
  | 'unavailable' // 503 SERVICE_UNAVAILABLE (hubgate itself is shutting down)
  | 'insufficient_storage'; // 507 INSUFFICIENT_STORAGE (no room to spool an upload)

export interface AppErrorOptions {
  /** Status the upstream answered with, kept for logs and metrics (never sent to the caller as-is). */
  upstreamStatus?: number;
  /** Seconds a client should wait (rate_limited). */
  retryAfterSeconds?: number;
  cause?: unknown;
}

export class AppError extends Error {
  readonly kind: ErrorKind;
  readonly upstreamStatus?: number;
  readonly retryAfterSeconds?: number;

  constructor(kind: ErrorKind, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.kind = kind;
    this.upstreamStatus = options.upstreamStatus;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;

export const notFound = (what: string): AppError => new AppError('not_found', `${what} not found`);
export const invalid = (message: string): AppError => new AppError('invalid', message);
export const forbidden = (message = 'forbidden'): AppError => new AppError('forbidden', message);
export const conflict = (message: string): AppError => new AppError('conflict', message);
