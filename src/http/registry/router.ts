import type http from 'node:http';
import type { Request } from 'express';
import type { Cache, Coordination } from '../../ports/coordination';
import type { Logger } from '../../observability/logger';
import { statusClass, type Metrics } from '../../observability/metrics';
import { currentContext, currentRequestId } from '../../observability/context';
import { sendError } from '../errors';
import { authScheme, basicHeader, clientAddress, parseBasic, TRUST_NONE, VerifiedLogins, type BasicCredentials, type TrustProxy } from './auth';
import { bearerChallenge, sanitizeRequestHeaders, tokenRealm } from './headers';
import { RegistryLogin } from './login';
import { canonicalRegistryPath, challengeScope, classify, isRegistryPath, type RegistryOperation } from './operations';
import { createKeepAliveAgent, createPassThrough, type ProxyEngine } from './proxy';
import { LoginThrottle, type ThrottleSettings } from './throttle';
import { createTokenHandler } from './token';
import { bearerToken, RegistryTokens } from './bearer';

/**
 * The registry front: `/v2/…` and `/service/token`, passed through to Harbor.
 *
 *   request → operation id (route table) → authentication → header hygiene → streaming pass-through
 *           → response header rewrites → metrics by operation id (and catalogue invalidation on manifest writes)
 *
 * Authentication on `/v2`:
 * - no credentials (or an unknown scheme): 401 with a Bearer challenge whose realm is hubgate's token endpoint —
 *   Harbor answers the same, but hubgate never sends an unauthenticated request on;
 * - `Bearer`: only a token Harbor's token service issued through hubgate's token endpoint (signature checked
 *   against the token service's certificate, or found in hubgate's record of the tokens it handed out — see
 *   bearer.ts), for a hubgate robot (or anonymous while anonymous pulls are enabled); anything else gets the
 *   401 challenge here, because Harbor reads a token it cannot verify as anonymous (a public pull);
 * - `Basic` with a hubgate username: verified here, then sent on as the Harbor robot `robot$<username>`;
 *   any other username (Harbor admin, users, robots) is refused.
 */
export interface RegistryRouterDeps {
  harborUrl: string;
  /** hubgate's public base URL (token realm, Location rewrites). */
  publicUrl: string;
  /** Checks a registry login against Harbor-held state (CredentialsService.verify). */
  verify: (username: string, password: string) => Promise<unknown>;
  usernamePrefix: string;
  robotPrefix: string;
  allowAnonymousPull: boolean;
  throttle: ThrottleSettings;
  /** Shared store for the failed-login counters (Redis-backed cache); used while `coordination.shared()`. */
  cache?: Cache;
  coordination?: Pick<Coordination, 'shared'> & Partial<Pick<Coordination, 'withLock'>>;
  /** How long a verified login is trusted without asking Harbor again (seconds, 0 = never cached). */
  loginCacheSeconds: number;
  /** PEM of Harbor's token service certificate(s): bearer tokens are then checked by signature (see bearer.ts). */
  tokenCertificatePem?: string;
  /** Upstream exchanges idle (no bytes either way) this long are cut: 504 before a response, else the connection. */
  upstreamIdleTimeoutMs?: number;
  /** What streams the exchanges (proxy.ts): `node` (default) or `http-proxy-middleware`. */
  proxyEngine?: ProxyEngine;
  /** Bodiless HEADs on their own socket pool (node engine; default on). */
  headPool?: boolean;
  /** A manifest of `repository` (`workspace/image`) was pushed or deleted through hubgate (invalidate it in image lists). */
  onManifestChange?: (repository: string) => Promise<void> | void;
  logger: Logger;
  metrics: Metrics;
  /** Further host[:port] values Harbor may put into absolute Locations (its external URL host). */
  upstreamHosts?: string[];
  agent?: http.Agent;
  /** Proxies trusted to report the client's address (compileTrust of HUBGATE_TRUSTED_PROXIES); default none. */
  trustProxy?: TrustProxy;
  now?: () => number;
}

interface Flight {
  op: RegistryOperation;
  started: bigint;
  bytesIn: number;
  bytesOut: number;
  /** Credentials hubgate vouched for on this request (forgotten if Harbor refuses them). */
  creds?: BasicCredentials;
}

const flights = new WeakMap<http.IncomingMessage, Flight>();

/** `next` of a middleware: an error, or nothing to hand the request on. */
export type Next = (err?: unknown) => void;

/**
 * A middleware on plain node request and response objects: mounts with `app.use` (Express's req/res are those
 * objects with more on their prototypes), and the server's front handler calls it without Express's prototypes.
 */
export type PlainHandler = (req: http.IncomingMessage, res: http.ServerResponse, next: Next) => void;

/**
 * The URL path: Express's `req.path` when the request went through the Express app; else (the front's fast
 * path, whose URLs parse the plain way — app.ts FAST_REGISTRY_URL) the part before '?', which is the same.
 */
export function requestPath(req: http.IncomingMessage): string {
  if ('app' in req) return (req as Request).path;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * The registry front as one middleware (not an express.Router: no router walk per request); mount it with
 * `app.use` or call it from the server's front handler (app.ts `createFront`) on plain node req/res (nothing
 * here needs Express's prototypes). Non-registry paths go to `next`.
 */
export function createRegistryRouter(deps: RegistryRouterDeps): PlainHandler {
  const now = deps.now ?? Date.now;
  const trust = deps.trustProxy ?? TRUST_NONE;
  const agent = deps.agent ?? createKeepAliveAgent(deps.harborUrl);
  const realm = tokenRealm(deps.publicUrl);
  const throttle = new LoginThrottle({ settings: deps.throttle, cache: deps.cache, coordination: deps.coordination, now });
  const login = new RegistryLogin({
    verify: deps.verify,
    usernamePrefix: deps.usernamePrefix,
    robotPrefix: deps.robotPrefix,
    throttle,
    ...(deps.coordination?.withLock ? { lock: deps.coordination.withLock.bind(deps.coordination) } : {}),
    verified: new VerifiedLogins(deps.loginCacheSeconds * 1000, now),
    logger: deps.logger,
    metrics: deps.metrics,
  });
  const tokens = new RegistryTokens({
    certificatePem: deps.tokenCertificatePem,
    robotPrefix: deps.robotPrefix,
    usernamePrefix: deps.usernamePrefix,
    allowAnonymousPull: deps.allowAnonymousPull,
    cache: deps.cache,
    coordination: deps.coordination,
    now,
  });
  const token = createTokenHandler({ harborUrl: deps.harborUrl, agent, login, tokens, trust, allowAnonymousPull: deps.allowAnonymousPull, logger: deps.logger, metrics: deps.metrics });

  const passThrough = createPassThrough({
    harborUrl: deps.harborUrl,
    publicUrl: deps.publicUrl,
    upstreamHosts: deps.upstreamHosts,
    agent,
    idleTimeoutMs: deps.upstreamIdleTimeoutMs,
    engine: deps.proxyEngine,
    headFastPath: deps.headPool,
    logger: deps.logger,
    events: {
      onStart(req) {
        const f = flights.get(req);
        // A request without a body (a manifest HEAD, a GET) has no bytes to count.
        if (!f || (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined)) return;
        // Attached synchronously right before http-proxy pipes the body: counts bytes without buffering them
        // (pause/resume by the pipe's backpressure applies to this listener too).
        req.on('data', (c: Buffer) => {
          f.bytesIn += c.length;
        });
      },
      onResponse(req, _res, status, body) {
        const f = flights.get(req);
        // Stryker disable next-line ConditionalExpression: 'false' is equivalent (onResponse only comes for requests forward() sent on, whose flight was set first); 'true' is killed by the router tests (bytes out, invalidation), applied by hand
        if (!f) return;
        body?.on('data', (c: Buffer) => {
          f.bytesOut += c.length;
        });
        if (status === 401 && f.creds) login.forget(f.creds);
        if (f.op.id === 'v2_manifest' && (req.method === 'PUT' || req.method === 'DELETE') && status >= 200 && status < 300) {
          void Promise.resolve()
            .then(() => (f.op.repository ? deps.onManifestChange?.(f.op.repository) : undefined))
            .catch((e: unknown) => deps.logger.warn('image list invalidation failed', { operation: f.op.id, error: e }));
        }
      },
    },
  });

  /** Metrics when the exchange ends (finished or cut), by operation id only. */
  function track(req: http.IncomingMessage, res: http.ServerResponse, f: Flight): void {
    res.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - f.started) / 1e9;
      const operation = f.op.id;
      deps.metrics.registryRequests.inc({ operation, method: req.method, status_class: res.writableFinished ? statusClass(res.statusCode) : 'aborted' });
      deps.metrics.registryDuration.observe({ operation }, seconds);
      if (f.bytesIn) deps.metrics.registryBytes.inc({ operation, direction: 'in' }, f.bytesIn);
      if (f.bytesOut) deps.metrics.registryBytes.inc({ operation, direction: 'out' }, f.bytesOut);
    });
  }

  const challenge = (res: http.ServerResponse, op: RegistryOperation, message = 'unauthorized: authentication required') => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    sendError(res, 401, 'UNAUTHORIZED', message, { 'WWW-Authenticate': bearerChallenge(realm, challengeScope(op)) });
  };

  /** Header hygiene, then the pass-through (the credentials were checked). */
  function forward(req: http.IncomingMessage, res: http.ServerResponse, next: Next): void {
    sanitizeRequestHeaders(req.headers);
    const rid = currentRequestId();
    if (rid) req.headers['x-request-id'] = rid;
    return passThrough(req, res, next);
  }

  /**
   * A `/v2` request. The common case — a bearer token this replica already accepted — goes on synchronously (no
   * promise on the per-request path); logins and first sightings of a token take `v2Checked`.
   */
  function v2(req: http.IncomingMessage, res: http.ServerResponse, next: Next, f: Flight): Promise<void> | undefined {
    const header = req.headers.authorization;
    if (f.op.id !== 'v2_other' && authScheme(header) === 'bearer') {
      const t = bearerToken(header);
      if (t && tokens.checkAccepted(t)?.ok) {
        forward(req, res, next);
        return undefined;
      }
    }
    return v2Checked(req, res, next, f);
  }

  async function v2Checked(req: http.IncomingMessage, res: http.ServerResponse, next: Next, f: Flight): Promise<void> {
    if (f.op.id === 'v2_other') {
      // Only the distribution API's routes pass: nothing else under /v2 is Harbor's to answer through hubgate.
      req.resume();
      res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
      return sendError(res, 404, 'NOT_FOUND', 'not found: the path is not part of the registry API');
    }
    const header = req.headers.authorization;
    const scheme = authScheme(header);
    if (scheme === 'none' || scheme === 'other') {
      req.resume();
      return challenge(res, f.op);
    }
    if (scheme === 'basic') {
      const creds = parseBasic(header);
      if (!creds) {
        req.resume();
        deps.metrics.loginFailures.inc({ reason: 'bad_credentials' });
        return challenge(res, f.op, 'unauthorized: malformed user name and password (HTTP Basic)');
      }
      const result = await login.login(creds, clientAddress(req, trust));
      if (!result.ok) {
        req.resume();
        const extra: Record<string, string> = {};
        if (result.retryAfterSeconds !== undefined) extra['Retry-After'] = String(result.retryAfterSeconds);
        if (result.status === 401) extra['WWW-Authenticate'] = 'Basic realm="harbor"';
        res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
        return sendError(res, result.status, result.code, result.message, extra);
      }
      f.creds = creds;
      req.headers.authorization = basicHeader(result.robotName, creds.password);
    } else {
      const t = bearerToken(header);
      const verdict = t ? await tokens.check(t) : undefined;
      if (!verdict?.ok) {
        req.resume();
        deps.metrics.loginFailures.inc({ reason: 'bad_token' });
        return challenge(res, f.op, 'unauthorized: invalid or expired registry token; authenticate again');
      }
    }
    forward(req, res, next);
  }

  return (req, res, next) => {
    let path = requestPath(req);
    if (!isRegistryPath(path)) return next();
    const target = req.url ?? '';
    if (!target.startsWith('/')) {
      // An absolute-form target (`GET http://host/v2/…`, RFC 9112 §3.2.2), which Express parses into the path
      // checked here: Harbor gets it in origin-form, never a host the client chose.
      const q = target.indexOf('?');
      req.url = path + (q < 0 ? '' : target.slice(q));
    }
    if (path !== '/service/token') {
      const canonical = canonicalRegistryPath(path);
      if ('problem' in canonical) {
        req.resume();
        deps.metrics.registryRequests.inc({ operation: 'v2_other', method: req.method, status_class: '4xx' });
        return sendError(res, 400, 'BAD_REQUEST', `invalid registry path: ${canonical.problem}`, { 'Docker-Distribution-API-Version': 'registry/2.0' });
      }
      if (canonical.path !== path) {
        // Send on exactly what was classified (a decoded `%3A`): the rest of the URL (the query) is unchanged.
        // Stryker disable next-line StringLiteral: equivalent, a server's request always has a url (requestPath gives '' without one, which is no registry path)
        const url = req.url ?? '';
        req.url = canonical.path + url.slice(url.indexOf(path) + path.length);
        path = canonical.path;
      }
    }
    // Stryker disable next-line StringLiteral: equivalent, a server's request always has a method
    const op = classify(req.method ?? '', path);
    const ctx = currentContext();
    if (ctx) ctx.operation = op.id;
    const f: Flight = { op, started: process.hrtime.bigint(), bytesIn: 0, bytesOut: 0 };
    flights.set(req, f);
    track(req, res, f);
    const run = op.id === 'token' ? token(req, res) : v2(req, res, next, f);
    run?.catch((e: unknown) => {
      deps.logger.error('registry request failed', { operation: op.id, error: e });
      if (!res.headersSent) sendError(res, 500, 'UNKNOWN', 'internal server error');
      else res.destroy();
    });
  };
}
