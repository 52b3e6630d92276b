import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { RequestHandler } from 'express';
import { currentContext, runWithContext } from '../../observability/context';
import type { Logger } from '../../observability/logger';
import { statusClass, type Metrics } from '../../observability/metrics';
import { OPERATION_IDS } from '../registry/operations';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const REGISTRY_OPERATIONS: ReadonlySet<string> = new Set(OPERATION_IDS);
/** The status logged for a request whose client closed the connection before any answer (nginx's convention). */
const CLIENT_CLOSED = 499;

/**
 * Request id (the client's X-Request-Id when sane, else a new UUID; echoed back and forwarded to Harbor),
 * one JSON access-log line per request (also for one the client abandoned), and the request metrics labelled by
 * operation id. Works on plain node req/res (the registry front calls it without Express's prototypes) as well as
 * in the Express app.
 */
export function observe(logger: Logger, metrics: Metrics): (req: http.IncomingMessage, res: http.ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    const ctx = { requestId, operation: undefined as string | undefined, user: undefined as string | undefined };
    // Once per request: when the answer went out ('finish'), or when the connection closed before it did (the
    // client went away, or the answer was cut): logged as aborted, with 499 — nginx's "client closed request" —
    // if no status line went out, else the status the client saw.
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      const aborted = !res.writableFinished;
      const status = aborted && !res.headersSent ? CLIENT_CLOSED : res.statusCode;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const operation = ctx.operation ?? 'unmatched';
      // Registry exchanges (/v2, the token endpoint) have their own metrics (hubgate_registry_*, recorded by the
      // registry router): a 10 GB layer pull is not an API request, and counting it here too would put minute-long
      // pulls into the API latency alert and count every registry request twice in the 5xx ratio.
      if (operation !== 'metrics' && operation !== 'healthz' && operation !== 'readyz' && !REGISTRY_OPERATIONS.has(operation)) {
        metrics.httpRequests.inc({ operation, method: req.method, status_class: statusClass(status) });
        metrics.httpDuration.observe({ operation, method: req.method }, seconds);
      }
      // The request id as a field (the same key and place a context would give it) instead of re-entering the
      // request's AsyncLocalStorage context for one line.
      logger.info('request', {
        request_id: ctx.requestId,
        operation,
        method: req.method,
        status,
        duration_ms: Math.round(seconds * 1000),
        user: ctx.user,
        ...(aborted ? { aborted: true } : {}),
      });
    };
    // Stryker disable next-line StringLiteral: 'close' always follows 'finish' and records the same line, only later
    res.once('finish', record);
    res.once('close', record);
    runWithContext(ctx, () => next());
  };
}

/** Names the operation (metrics and logs use this id, never the raw path). */
export const op =
  (operation: string): RequestHandler =>
  (_req, _res, next) => {
    const ctx = currentContext();
    if (ctx) ctx.operation = operation;
    next();
  };
