import * as http from 'node:http';
import * as https from 'node:https';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { AppError } from '../../src/domain/errors';
import { currentRequestId } from '../../src/observability/context';
import type { Logger } from '../../src/observability/logger';
import type { HarborOutcome, Metrics } from '../../src/observability/metrics';
import { acceptFor } from './operations';

/**
 * The one place hubgate talks HTTP to Harbor's REST API: timeouts, retries of idempotent calls, metrics,
 * logs, and the translation of every Harbor answer or network failure into an AppError. It knows nothing
 * about projects or robots; harbor.adapter.ts builds the paths and decides what an answer means.
 */

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);
const MAX_LOGGED_MESSAGE = 300;

export interface HarborCall {
  /** Adapter method name: the `operation` label of the metrics and logs. */
  operation: string;
  method: HttpMethod;
  /** Path below `/api/v2.0`, already encoded (see paths.ts). */
  path: string;
  params?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** The path names a project by name: sends `X-Is-Resource-Name: true` so a numeric name is not read as an id. */
  byName?: boolean;
  /** Read the body as plain text (GC logs) instead of JSON. */
  text?: boolean;
  /** Values of this call that must never reach a log line or an error message (e.g. a robot secret). */
  secrets?: string[];
}

export interface HarborReply<T = unknown> {
  status: number;
  data: T;
  /** Lower-cased header names. */
  headers: Record<string, string | undefined>;
}

export interface HarborHttpOptions {
  baseUrl: string;
  username: string;
  password: string;
  timeoutMs: number;
  /** Extra attempts for idempotent calls after a network error, timeout or 5xx. */
  retries: number;
  /** First backoff step; doubled per attempt, capped at 1 s, plus up to 50 % jitter. */
  retryDelayMs: number;
  metrics?: Metrics;
  logger: Logger;
}

export interface HarborHttp {
  request<T = unknown>(call: HarborCall): Promise<HarborReply<T>>;
  /** Closes the kept-alive connections (graceful shutdown). Later calls open new ones. */
  close(): void;
}

const MISCONFIGURED = "upstream misconfigured: Harbor rejected hubgate's admin credentials";

type Failure = { kind: 'timeout' | 'unreachable'; code: string; message: string };

export function createHarborHttp(opts: HarborHttpOptions): HarborHttp {
  const base = opts.baseUrl.replace(/\/+$/, '');
  // Own agents (keep-alive) rather than Node's global ones, so shutdown can close exactly hubgate's connections.
  const httpAgent = new http.Agent({ keepAlive: true });
  const httpsAgent = new https.Agent({ keepAlive: true });
  const client: AxiosInstance = axios.create({
    httpAgent,
    httpsAgent,
    baseURL: `${base}/api/v2.0`,
    timeout: opts.timeoutMs,
    auth: { username: opts.username, password: opts.password },
    // Every status is an answer we translate ourselves; redirects are never expected from the REST API.
    validateStatus: () => true,
    maxRedirects: 0,
    // hubgate reaches Harbor directly; an HTTP(S)_PROXY meant for other traffic must not capture admin calls.
    proxy: false,
    // Stryker disable next-line ObjectLiteral: equivalent, the own deadline (AbortController) ends every slow call before axios' timeout would, so the transitional flags never decide anything
    transitional: { clarifyTimeoutError: true, silentJSONParsing: true, forcedJSONParsing: true },
  });

  const basicToken = Buffer.from(`${opts.username}:${opts.password}`).toString('base64');
  // Stryker disable next-line ArrayDeclaration: equivalent, an extra string to scrub that no message contains changes nothing
  const scrub = (text: string, extra: string[] = []): string => {
    let out = text;
    for (const s of [opts.password, basicToken, ...extra]) if (s && out.includes(s)) out = out.split(s).join('[redacted]');
    return out.length > MAX_LOGGED_MESSAGE ? `${out.slice(0, MAX_LOGGED_MESSAGE)}…` : out;
  };

  const observe = (operation: string, outcome: HarborOutcome, startedAt: bigint) => {
    if (!opts.metrics) return;
    opts.metrics.harborRequests.inc({ operation, outcome });
    opts.metrics.harborDuration.observe({ operation }, Number(process.hrtime.bigint() - startedAt) / 1e9);
  };

  const backoff = (attempt: number) => {
    const step = Math.min(1000, opts.retryDelayMs * 2 ** attempt);
    return new Promise<void>((resolve) => setTimeout(resolve, step + Math.random() * step * 0.5));
  };

  async function attemptOnce(call: HarborCall): Promise<AxiosResponse | Failure> {
    const headers: Record<string, string> = {};
    const requestId = currentRequestId();
    if (requestId) headers['X-Request-Id'] = requestId;
    if (call.byName) headers['X-Is-Resource-Name'] = 'true';
    // What the operation produces (swagger.yaml): go-swagger answers 422 to an Accept none of them match (finding l).
    headers.Accept = acceptFor(call.method, call.path);
    // Axios' own timeout is an idle timer on the socket; this deadline bounds the whole exchange.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), opts.timeoutMs);
    try {
      return await client.request({
        method: call.method,
        url: call.path,
        params: call.params ? dropUndefined(call.params) : undefined,
        data: call.body,
        headers,
        signal: deadline.signal,
        // Stryker disable next-line ArrayDeclaration: equivalent, with responseType 'text' axios leaves the body a string whether the transform list is identity or empty
        ...(call.text ? { responseType: 'text' as const, transformResponse: [(d: unknown) => d] } : {}),
      });
    } catch (err) {
      return classifyNetworkError(err, deadline.signal.aborted);
    } finally {
      clearTimeout(timer);
    }
  }

  async function request<T>(call: HarborCall): Promise<HarborReply<T>> {
    const retryable = IDEMPOTENT.has(call.method);
    const maxAttempts = retryable ? Math.max(0, opts.retries) + 1 : 1;
    const fields = { operation: call.operation, method: call.method, path: call.path };

    for (let attempt = 0; ; attempt++) {
      const startedAt = process.hrtime.bigint();
      const res = await attemptOnce(call);
      const last = attempt + 1 >= maxAttempts;

      if (isFailure(res)) {
        observe(call.operation, res.kind, startedAt);
        const logFields = { ...fields, attempt: attempt + 1, error_code: res.code, error: scrub(res.message, call.secrets) };
        if (!last) {
          opts.logger.warn('harbor call failed, retrying', logFields);
          await backoff(attempt);
          continue;
        }
        opts.logger.error(res.kind === 'timeout' ? 'harbor call timed out' : 'harbor unreachable', logFields);
        throw res.kind === 'timeout'
          ? new AppError('upstream_timeout', `upstream timeout: Harbor did not answer within ${opts.timeoutMs} ms`)
          : new AppError('upstream_unavailable', 'upstream unavailable: Harbor is not reachable');
      }

      const status = res.status;
      const reply: HarborReply<T> = { status, data: res.data as T, headers: lowerHeaders(res.headers) };
      if (status < 400) {
        observe(call.operation, 'success', startedAt);
        opts.logger.debug('harbor call', { ...fields, status, attempt: attempt + 1 });
        return reply;
      }

      const harbor = harborError(res.data);
      const harborMessage = harbor.message ? scrub(harbor.message, call.secrets) : undefined;
      if (status >= 500) {
        observe(call.operation, 'server_error', startedAt);
        const logFields = { ...fields, status, attempt: attempt + 1, harbor_code: harbor.code, harbor_message: harborMessage };
        if (!last) {
          opts.logger.warn('harbor server error, retrying', logFields);
          await backoff(attempt);
          continue;
        }
        // Details stay in the log; the caller only learns that Harbor failed.
        opts.logger.error('harbor server error', logFields);
        throw new AppError('upstream_unavailable', 'upstream unavailable: Harbor failed to handle the request', {
          upstreamStatus: status,
        });
      }

      if (status === 401) {
        observe(call.operation, 'unauthorized', startedAt);
        opts.logger.error("harbor rejected hubgate's admin credentials", { ...fields, status });
        throw new AppError('upstream_misconfigured', MISCONFIGURED, { upstreamStatus: 401 });
      }

      observe(call.operation, 'client_error', startedAt);
      // A DELETE whose earlier attempt got lost on the way back may have worked: "already gone" is success.
      if (call.method === 'DELETE' && status === 404 && attempt > 0) {
        opts.logger.info('harbor delete retried, resource already gone', { ...fields, status });
        return reply;
      }
      opts.logger.debug('harbor client error', { ...fields, status, harbor_code: harbor.code, harbor_message: harborMessage });
      throw clientError(status, harborMessage);
    }
  }

  return {
    request,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/** Harbor's 4xx → hubgate's error kinds, keeping Harbor's message where it helps the caller. */
function clientError(status: number, message: string | undefined): AppError {
  const o = { upstreamStatus: status };
  // go-swagger refusing hubgate's own Accept/Content-Type (test/fixtures/harbor/live L01) is hubgate's fault, not the caller's
  if (status === 422 && message?.startsWith('validation failure list:\nunsupported media type')) {
    return new AppError('upstream_unavailable', `upstream unavailable: Harbor refused the request format (${message.split('\n')[1]})`, o);
  }
  switch (status) {
    case 400:
    case 422:
      return new AppError('invalid', message ?? 'invalid request', o);
    case 403:
      return new AppError('forbidden', message ?? 'forbidden', o);
    case 404:
      return new AppError('not_found', message ?? 'not found', o);
    case 409:
      return new AppError('conflict', message ?? 'conflict', o);
    case 412:
      return new AppError('precondition', message ?? 'precondition failed', o);
    case 413:
      return new AppError('too_large', message ?? 'payload too large', o);
    default:
      // Anything else (405, 415, 429 …) means hubgate and Harbor disagree: not the caller's fault.
      return new AppError('upstream_unavailable', `upstream unavailable: Harbor answered ${status}`, o);
  }
}

function harborError(body: unknown): { code?: string; message?: string } {
  let data = body;
  // text calls (GC logs) keep the body unparsed; their errors are Harbor's JSON envelope all the same
  if (typeof body === 'string') {
    try {
      data = JSON.parse(body);
    } /* Stryker disable next-line BlockStatement: equivalent, a body that is not JSON falls through to the object check below, which returns {} for a string as well */ catch {
      return {};
    }
  }
  if (data && typeof data === 'object' && Array.isArray((data as { errors?: unknown }).errors)) {
    const first = (data as { errors: unknown[] }).errors[0];
    if (first && typeof first === 'object') {
      const { code, message } = first as { code?: unknown; message?: unknown };
      return {
        code: typeof code === 'string' ? code : undefined,
        message: typeof message === 'string' && message.trim() ? message : undefined,
      };
    }
  }
  return {};
}

function classifyNetworkError(err: unknown, deadlineHit: boolean): Failure {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
  const code = typeof e?.code === 'string' ? e.code : typeof e?.cause?.code === 'string' ? e.cause.code : 'UNKNOWN';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (deadlineHit || code === 'ETIMEDOUT' || code === 'ECONNABORTED' || /timeout/i.test(message)) {
    return { kind: 'timeout', code: deadlineHit ? 'DEADLINE' : code, message };
  }
  // Refused, reset, DNS failures, and any other transport failure (bad TLS, socket hang up …): not reachable.
  return { kind: 'unreachable', code, message };
}

function isFailure(x: AxiosResponse | Failure): x is Failure {
  return (
    (x as Failure).kind !== undefined &&
    // Stryker disable next-line ConditionalExpression: equivalent, an axios response never has 'kind', so the first half alone decides
    (x as AxiosResponse).status === undefined
  );
}

function lowerHeaders(h: AxiosResponse['headers']): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    out[k.toLowerCase()] = Array.isArray(v)
      ? v.join(', ')
      : // Stryker disable next-line ConditionalExpression: equivalent, Node's http parser never yields a null or undefined header value
        v == null
        ? undefined
        : String(v);
  }
  return out;
}

function dropUndefined(p: Record<string, string | number | boolean | undefined>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(p)) if (v !== undefined) out[k] = v;
  return out;
}
