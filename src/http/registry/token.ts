import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { currentRequestId } from '../../observability/context';
import { sendError, sendJsonText } from '../errors';
import { basicHeader, clientAddress, jwtSubject, parseBasic, authScheme, type BasicCredentials, type TrustProxy } from './auth';
import { NOT_A_HUBGATE_LOGIN, type RegistryLogin } from './login';
import type { RegistryTokens } from './bearer';

/**
 * hubgate's token endpoint (`/service/token`, the realm every challenge names). Harbor's token service issues
 * the tokens; hubgate decides who may ask:
 *
 * - `GET` with Basic credentials (docker, podman, skopeo, containerd's fallback): the login is verified by
 *   hubgate, then the request goes to Harbor as the project's robot (`account` rewritten too). Harbor answers
 *   a wrong secret with an *anonymous* token when a scope is asked (README finding 089), so a 200 whose token is
 *   not issued to the robot is turned into a 401 — a password rotated away after hubgate cached it fails here.
 * - `GET` without credentials: refused (401), unless anonymous pulls are enabled; then Harbor is asked for the
 *   `pull` part of repository scopes only (Harbor grants pull on public projects, nothing on private ones).
 * - `POST` `grant_type=password` (containerd's OAuth2 form): the same login with the form's username, password,
 *   service and space-separated scopes, answered in OAuth2 form (`access_token`, `expires_in`, `issued_at`).
 *   Other grant types → 400 `unsupported_grant_type` (containerd then falls back to GET with Basic).
 */
export interface TokenDeps {
  harborUrl: string;
  agent: http.Agent;
  login: RegistryLogin;
  /** Told about every token handed out (record mode of the bearer check on /v2). */
  tokens?: Pick<RegistryTokens, 'issued'>;
  allowAnonymousPull: boolean;
  /** Proxies trusted to report the client's address (default: none). */
  trust?: TrustProxy;
  logger: Logger;
  metrics: Metrics;
  /** Time a client has to send the POST form (default 10 s). */
  formTimeoutMs?: number;
  /** Largest token-service answer accepted (bytes). */
  maxResponseBytes?: number;
  /** Time Harbor's token service has to answer (default 30 s). */
  upstreamTimeoutMs?: number;
}

interface Upstream {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const FORM_LIMIT = 64 * 1024;
/** Time a client has to send the token form (it is at most FORM_LIMIT bytes). */
const FORM_TIMEOUT_MS = 10_000;

/** Keeps only `repository:<name>:pull` of each requested scope (anonymous pulls). */
export function pullOnlyScopes(scopes: string[]): string[] {
  const out: string[] = [];
  // Stryker disable next-line MethodExpression: equivalent, an empty scope fails the pattern below and is skipped anyway
  for (const s of scopes.flatMap((x) => x.split(' ')).filter(Boolean)) {
    const m = /^repository(?:\([a-z0-9]+\))?:(.+):([a-z*,]+)$/.exec(s);
    if (!m) continue;
    const actions = m[2].split(',');
    if (actions.includes('pull') || actions.includes('*')) out.push(`repository:${m[1]}:pull`);
  }
  return out;
}

export function createTokenHandler(deps: TokenDeps) {
  const base = new URL(deps.harborUrl);
  // Stryker disable next-line ConditionalExpression,EqualityOperator,StringLiteral: equivalent, the agent (always given) decides the protocol: http.request and https.request both connect through it
  const client = base.protocol === 'https:' ? https : http;
  const maxBytes = deps.maxResponseBytes ?? 1024 * 1024;

  function askHarbor(params: URLSearchParams, authorization: string | undefined, userAgent: string | undefined): Promise<Upstream> {
    return new Promise((resolve, reject) => {
      const path = `${base.pathname.replace(/\/+$/, '')}/service/token${params.size ? `?${params.toString()}` : ''}`;
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (authorization) headers.Authorization = authorization;
      if (userAgent) headers['User-Agent'] = userAgent;
      const rid = currentRequestId();
      if (rid) headers['X-Request-Id'] = rid;
      // Stryker disable next-line StringLiteral: equivalent, Node sends GET for an empty method as well
      const req = client.request({ protocol: base.protocol, hostname: base.hostname, port: base.port, path, method: 'GET', headers, agent: deps.agent }, (res) => {
        const chunks: Buffer[] = [];
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          if (n > maxBytes) {
            res.destroy(new Error('token service answer too large'));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(deps.upstreamTimeoutMs ?? 30_000, () => req.destroy(new Error('token service timed out')));
      req.end();
    });
  }

  type Issued = { ok: true; upstream: Upstream } | { ok: false; status: number; code: string; message: string; retryAfterSeconds?: number };

  /** Logs in (or checks the anonymous opt-in) and asks Harbor. */
  async function issue(req: http.IncomingMessage, creds: BasicCredentials | undefined, params: URLSearchParams): Promise<Issued> {
    let authorization: string | undefined;
    let robotName: string | undefined;
    if (creds) {
      const result = await deps.login.login(creds, clientAddress(req, deps.trust));
      if (!result.ok) return result;
      robotName = result.robotName;
      authorization = basicHeader(robotName, creds.password);
      if (params.has('account')) params.set('account', robotName);
    } else {
      if (!deps.allowAnonymousPull) {
        deps.metrics.loginFailures.inc({ reason: 'anonymous' });
        // Stryker disable next-line Regex: equivalent, NOT_A_HUBGATE_LOGIN holds "unauthorized: " once, at its start
        return { ok: false, status: 401, code: 'UNAUTHORIZED', message: `unauthorized: authentication required; ${NOT_A_HUBGATE_LOGIN.replace(/^unauthorized: /, '')}` };
      }
      const scopes = pullOnlyScopes(params.getAll('scope'));
      params.delete('scope');
      params.delete('account');
      for (const s of scopes) params.append('scope', s);
    }
    let upstream: Upstream;
    try {
      upstream = await askHarbor(params, authorization, req.headers['user-agent']);
    } catch (e) {
      deps.logger.warn('token service unreachable', { operation: 'token', error: e });
      return { ok: false, status: 502, code: 'UPSTREAM_UNAVAILABLE', message: 'the registry token service is unavailable' };
    }
    if (creds && robotName) {
      let refused = upstream.status === 401;
      if (upstream.status === 200) {
        const token = tokenOf(upstream.body);
        // Harbor hands out an anonymous token for wrong credentials when a scope is asked: not ours to pass on.
        refused = !token || jwtSubject(token) !== robotName;
      }
      if (refused) {
        deps.login.forget(creds);
        deps.logger.warn('harbor refused registry credentials hubgate accepted (rotated or changed in Harbor)', { operation: 'token' });
        return { ok: false, status: 401, code: 'UNAUTHORIZED', message: 'unauthorized: incorrect username or password' };
      }
    }
    if (upstream.status === 200 && deps.tokens) await deps.tokens.issued(tokenOf(upstream.body));
    return { ok: true, upstream };
  }

  function refuse(res: http.ServerResponse, r: { status: number; code: string; message: string; retryAfterSeconds?: number }): void {
    const extra: Record<string, string> = {};
    if (r.retryAfterSeconds !== undefined) extra['Retry-After'] = String(r.retryAfterSeconds);
    sendError(res, r.status, r.code, r.message, extra);
  }

  function relay(res: http.ServerResponse, up: Upstream): void {
    const type = up.headers['content-type'];
    if (type) res.setHeader('Content-Type', type);
    res.setHeader('Cache-Control', 'no-store');
    res.statusCode = up.status;
    res.end(up.body);
  }

  async function get(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Express's originalUrl when it went through the app (the same as req.url: the front is mounted at '/').
    const params = new URL((req as { originalUrl?: string }).originalUrl ?? req.url!, 'http://hubgate.invalid').searchParams;
    const header = req.headers.authorization;
    const creds = parseBasic(header);
    if (!creds && authScheme(header) !== 'none') {
      deps.metrics.loginFailures.inc({ reason: 'bad_credentials' });
      // Not "Basic <word>": error bodies are redacted, and that reads as an embedded credential ("Basic [redacted]").
      return refuse(res, { status: 401, code: 'UNAUTHORIZED', message: 'unauthorized: the token service takes a user name and password (HTTP Basic)' });
    }
    const r = await issue(req, creds, params);
    if (!r.ok) return refuse(res, r);
    relay(res, r.upstream);
  }

  async function post(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Answers to POST: Express's res.json would send the same (sendJsonText; never a 304 for a POST).
    const oauthError = (status: number, error: string, description: string) => {
      res.setHeader('Cache-Control', 'no-store');
      sendJsonText(res, status, JSON.stringify({ error, error_description: description }));
    };
    const type = req.headers['content-type'];
    // Stryker disable next-line StringLiteral: equivalent, without a Content-Type any stand-in text fails the pattern the same way
    if (!/^application\/x-www-form-urlencoded\b/i.test(type ?? '')) {
      req.resume();
      return oauthError(400, 'invalid_request', 'expected an application/x-www-form-urlencoded body');
    }
    let form: URLSearchParams;
    try {
      form = new URLSearchParams((await readBody(req, FORM_LIMIT, deps.formTimeoutMs ?? FORM_TIMEOUT_MS)).toString('utf8'));
    } catch {
      // Stryker disable next-line StringLiteral: equivalent, readBody() failed because the request was destroyed or closed: this answer reaches no one
      return oauthError(400, 'invalid_request', 'request body too large or unreadable');
    }
    const grant = form.get('grant_type');
    if (grant !== 'password') {
      // refresh_token: hubgate never issues refresh tokens. Anything else: not supported. Clients fall back to GET.
      return oauthError(400, 'unsupported_grant_type', 'only grant_type=password is supported; or use GET with Basic credentials');
    }
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    if (!username || !password) return oauthError(400, 'invalid_request', 'username and password are required');
    const params = new URLSearchParams();
    const service = form.get('service');
    if (service) params.set('service', service);
    for (const s of (form.get('scope') ?? '').split(' ').filter(Boolean)) params.append('scope', s);
    const r = await issue(req, { username, password }, params);
    if (!r.ok) {
      if (r.status === 401) return oauthError(400, 'invalid_grant', r.message);
      return refuse(res, r);
    }
    if (r.upstream.status !== 200) return relay(res, r.upstream);
    let body: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      body = JSON.parse(r.upstream.body.toString('utf8')) as typeof body;
      // (The mark sits before `catch`: Stryker reads marks only as a node's leading comment.)
    } /* Stryker disable all: unreachable, issue() already refused (401) a 200 whose body does not parse to the robot's token */ catch {
      return refuse(res, { status: 502, code: 'UPSTREAM_UNAVAILABLE', message: 'the registry token service gave an unreadable answer' });
    }
    // Stryker restore all
    const token = body.access_token || body.token;
    res.setHeader('Cache-Control', 'no-store');
    sendJsonText(res, 200, JSON.stringify({
      access_token: token,
      token,
      token_type: 'Bearer',
      // JSON.stringify leaves out the ones Harbor did not send (undefined).
      expires_in: body.expires_in,
      issued_at: body.issued_at,
      ...(form.get('scope') ? { scope: form.get('scope') } : {}),
    }));
  }

  return async function tokenHandler(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      if (req.method === 'GET' || req.method === 'HEAD') return await get(req, res);
      if (req.method === 'POST') return await post(req, res);
      req.resume();
      res.setHeader('Allow', 'GET, POST');
      sendError(res, 405, 'METHOD_NOT_ALLOWED', `method ${req.method} is not allowed on the token service`);
    } catch (e) {
      deps.logger.error('token request failed', { operation: 'token', error: e });
      // Once the head went out, sendError cuts the connection instead.
      sendError(res, 500, 'UNKNOWN', 'internal server error');
    }
  };
}

/** The token of a token-service answer (`token`, else `access_token`), or undefined. */
function tokenOf(body: Buffer): string | undefined {
  let parsed: { token?: unknown; access_token?: unknown } | null | undefined;
  try {
    parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
  } catch {
    // Not JSON: no token.
  }
  const t = parsed?.token || parsed?.access_token;
  return typeof t === 'string' && t ? t : undefined;
}

/**
 * Reads a small request body: at most `limit` bytes within `timeoutMs` (a client trickling a form must not hold a
 * socket and a pending login for minutes). Either failure destroys the connection.
 */
function readBody(req: http.IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const fail = (why: string) => {
      clearTimeout(timer);
      req.destroy();
      reject(new Error(why));
    };
    // The reasons below are for a debugger: post() answers every failure the same way, without reading them.
    // Stryker disable next-line StringLiteral: equivalent, the reason is never read (see above)
    const timer = setTimeout(() => fail('body not received in time'), timeoutMs);
    req.on('data', (c: Buffer) => {
      n += c.length;
      // Stryker disable next-line StringLiteral: equivalent, the reason is never read
      if (n > limit) return fail('too large');
      chunks.push(c);
    });
    req.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    // A client that goes away mid-form: 'close' settles it. No 'error' listener: an IncomingMessage emits its
    // ECONNRESET 'error' only to listeners, and 'close' follows it either way.
    req.on('close', () => {
      clearTimeout(timer);
      // Stryker disable next-line StringLiteral: equivalent, the reason is never read
      reject(new Error('client went away'));
    });
  });
}
