import http from 'node:http';
import https from 'node:https';
import { createProxyMiddleware } from 'http-proxy-middleware';
import type { Logger } from '../../observability/logger';
import { sendError } from '../errors';
import { HeadPool, type HeadAnswer } from './head-pool';
import { rewriteResponseHeader, rewriteResponseHeaders, tokenRealm } from './headers';

/**
 * The streaming pass-through to Harbor (node:http with a keep-alive agent; see docs/registry.md for why not
 * http-proxy-middleware here):
 * - bodies are piped both ways (`req → proxyReq`, `proxyRes → res`), so backpressure holds and nothing is
 *   buffered: a 10 GB layer costs a few socket buffers;
 * - an *idle* timeout only (`idleTimeoutMs`: no bytes either way on the upstream socket): a stalled Harbor frees
 *   the socket (504 before a response, a cut connection after), while a slow but moving multi-GB transfer is never
 *   cut (idle keep-alive sockets to Harbor are closed by the agent after `idleSocketMs`);
 * - keep-alive agent, so a manifest HEAD does not pay a TCP handshake;
 * - methods, paths, queries (`_state`, `digest`, `mount`/`from`), `Range`, `Content-Range`, `Content-Length`,
 *   `Transfer-Encoding: chunked`, `Docker-*` headers pass unchanged; only `WWW-Authenticate` realms and
 *   Harbor-absolute `Location`s are rewritten and Harbor's session cookie is dropped;
 * - a client that goes away at any point — before Harbor answered, mid-upload, mid-download — aborts the upstream
 *   exchange at once (the response's `close` before it finished; http-proxy only listened for the request's
 *   `aborted`, which Node no longer emits once the request body is complete);
 * - hop-by-hop response headers (`Connection`, `Keep-Alive`, `Transfer-Encoding`, …) stay on Harbor's side: Node
 *   frames the response for the client's own connection.
 */
export interface ProxyEvents {
  /** Called synchronously before the upstream request is sent; `req` is flowing after it. */
  onStart?(req: http.IncomingMessage): void;
  /** Harbor's answer arrived (headers already rewritten); `body` follows (none for a HEAD on the fast path). */
  onResponse?(req: http.IncomingMessage, res: http.ServerResponse, status: number, body?: NodeJS.ReadableStream): void;
}

export interface PassThroughOptions {
  harborUrl: string;
  publicUrl: string;
  /** Further host[:port] values Harbor may put into absolute Locations (its external URL host). */
  upstreamHosts?: string[];
  agent: http.Agent;
  logger: Logger;
  events?: ProxyEvents;
  /** No bytes either way on the upstream socket for this long: the exchange is cut (default 120 s). */
  idleTimeoutMs?: number;
  /** Idle kept-alive sockets of the HEAD pool are closed after this long (default 30 s, as the agent's). */
  idleSocketMs?: number;
  /** Bodiless HEADs on their own socket pool (head-pool.ts; node engine, http Harbor URL). Default on. */
  headFastPath?: boolean;
}

export function createKeepAliveAgent(harborUrl: string, opts: { maxSockets?: number; idleSocketMs?: number } = {}): http.Agent {
  const options: http.AgentOptions = {
    keepAlive: true,
    keepAliveMsecs: 1000,
    maxSockets: opts.maxSockets ?? 1024,
    maxFreeSockets: 256,
    scheduling: 'lifo',
    // Applies to idle pooled sockets (the agent closes them); an active socket only gets a 'timeout' event nobody
    // acts on, so a long transfer is not cut.
    timeout: opts.idleSocketMs ?? 30_000,
  };
  return new URL(harborUrl).protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
}

export function upstreamHostsOf(harborUrl: string, extra: string[] = []): string[] {
  const u = new URL(harborUrl);
  const hosts = new Set<string>([u.host]);
  // Location built from a Host header with an explicit default port.
  if (!u.port) {
    hosts.add(`${u.hostname}:80`);
    hosts.add(`${u.hostname}:443`);
  }
  for (const h of extra) hosts.add(h);
  return [...hosts];
}

/** Hop-by-hop response headers: they describe Harbor's connection to hubgate, not hubgate's to the client. */
const HOP_BY_HOP_RESPONSE = ['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'trailer'];

/** Harbor's answer headers made the client's, on either engine: hop-by-hop ones dropped, then rewriteResponseHeaders. */
function toClientHeaders(h: http.IncomingHttpHeaders, publicUrl: string, hosts: readonly string[]): void {
  for (const name of HOP_BY_HOP_RESPONSE) delete h[name];
  rewriteResponseHeaders(h, publicUrl, hosts);
}

/**
 * A failure after the client's answer started, on either engine: the only honest signal left is to cut the
 * connection, with one warning. After a complete answer (an early 401 while an upload body was still going out,
 * then Harbor's reset) nothing is wrong and nothing is done.
 */
function cutMidResponse(res: http.ServerResponse, logger: Logger, code: string | undefined): void {
  if (res.writableFinished) return;
  logger.warn('registry pass-through failed mid-response', { error_code: code });
  res.destroy();
}

export type PassThrough = (req: http.IncomingMessage, res: http.ServerResponse, next: (err?: unknown) => void) => void;

/** Which implementation streams registry exchanges (HUBGATE_REGISTRY_PROXY_ENGINE). */
export type ProxyEngine = 'node' | 'http-proxy-middleware';
export const PROXY_ENGINES: readonly ProxyEngine[] = ['node', 'http-proxy-middleware'];

export function createPassThrough(opts: PassThroughOptions & { engine?: ProxyEngine }): PassThrough {
  const engine = opts.engine === 'http-proxy-middleware' ? createHttpProxyPassThrough(opts) : createNodePassThrough(opts);
  return (req, res, next) => {
    // A registry DELETE or OPTIONS has no body, and one sent chunked is refused on both engines: node-http-proxy
    // (the fallback engine) forwards it as `Content-Length: 0` followed by the body's bytes, which Harbor reads as
    // a further request on the kept-alive socket — one hubgate never checked (request smuggling).
    if ((req.method === 'DELETE' || req.method === 'OPTIONS') && req.headers['transfer-encoding'] !== undefined) {
      req.resume();
      sendError(res, 400, 'BAD_REQUEST', `a registry ${req.method} request carries no body; this one was sent chunked`);
      return;
    }
    engine(req, res, next);
  };
}

/**
 * The default engine: node:http with the keep-alive agent, nothing between the request and the socket. Bodiless
 * exchanges (a manifest HEAD) skip the pipes' set-up altogether.
 */
function createNodePassThrough(opts: PassThroughOptions): PassThrough {
  const hosts = upstreamHostsOf(opts.harborUrl, opts.upstreamHosts);
  const events = opts.events ?? {};
  const idleTimeoutMs = opts.idleTimeoutMs ?? 120_000;
  const target = new URL(opts.harborUrl);
  const send = target.protocol === 'https:' ? https.request : http.request;
  // Stryker disable next-line Regex: equivalent, URL.hostname has brackets only around an IPv6 literal, at its two ends
  const hostname = target.hostname.replace(/^\[|\]$/g, '');
  const port = target.port || (target.protocol === 'https:' ? 443 : 80);
  // A Harbor URL with a path prefix (behind a path-routing ingress) keeps it.
  const prefix = target.pathname.replace(/\/+$/, '');

  const fail = (req: http.IncomingMessage, res: http.ServerResponse, err: Error, idle: boolean): void => {
    const code = (err as NodeJS.ErrnoException).code;
    if (res.headersSent) return cutMidResponse(res, opts.logger, code);
    req.resume();
    if (idle) {
      opts.logger.warn('registry backend timed out', { error_code: code, idle_timeout_ms: idleTimeoutMs });
      sendError(res, 504, 'UPSTREAM_TIMEOUT', 'the registry backend did not answer in time, try again later');
      return;
    }
    if (res.destroyed) return;
    opts.logger.warn('registry backend unreachable', { error_code: code });
    sendError(res, 502, 'UPSTREAM_UNAVAILABLE', 'the registry backend is unavailable, try again later');
  };

  const realm = tokenRealm(opts.publicUrl);
  const headPool =
    target.protocol === 'http:' && opts.headFastPath !== false
      ? new HeadPool({ host: hostname, port: Number(port), hostHeader: target.host, maxSockets: opts.agent.maxSockets, idleSocketMs: opts.idleSocketMs ?? 30_000 })
      : undefined;

  /**
   * A bodiless HEAD on the HEAD pool (head-pool.ts). False when it cannot take it (pool full, a header value
   * node:http would refuse): the general path below does.
   */
  const headFast = (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    let lines = '';
    const h = req.headers;
    for (const name in h) {
      if (name === 'host' || name === 'connection') continue;
      const v = h[name];
      if (v === undefined) continue;
      for (const value of Array.isArray(v) ? v : [v]) {
        if (UNSENDABLE.test(value)) return false;
        lines += `${name}: ${value}\r\n`;
      }
    }
    let finished = false;
    // Stryker disable next-line StringLiteral: equivalent, node:http's server always sets req.url
    const exchange = headPool!.head(prefix + (req.url ?? '/'), lines, idleTimeoutMs, (err, answer) => {
      // Stryker disable next-line BooleanLiteral: equivalent, the pool's abort() is a no-op once its exchange has finished
      finished = true;
      // Stryker disable next-line LogicalOperator: equivalent, the pool calls done with an error or with an answer, never with neither
      if (err || !answer) {
        // Stryker disable next-line StringLiteral,OptionalChaining: equivalent, err is undefined only without an answer, which the pool never gives
        fail(req, res, err ?? new Error('no answer'), err?.timedOut === true);
        return;
      }
      try {
        writeHeadAnswer(res, answer, realm, opts.publicUrl, hosts);
      } catch (e) {
        // The parser refuses what setHeader would; should anything still get through, it is a 502, not a crash.
        // A refused reason phrase stays on `res` (writeHead sets it before checking it): sendError's own writeHead
        // would throw on it again, out of a socket listener.
        res.statusMessage = '';
        // Stryker disable next-line StringLiteral: equivalent, sendError sets its own Content-Length over Harbor's
        res.removeHeader('content-length');
        fail(req, res, e as Error, false);
        return;
      }
      events.onResponse?.(req, res, answer.status);
      res.end();
    });
    if (!exchange) return false;
    res.once('close', () => {
      if (!finished) exchange.abort();
    });
    events.onStart?.(req);
    req.resume();
    return true;
  };

  return (req, res) => {
    // Stryker disable next-line StringLiteral: equivalent, node:http's server always sets req.method
    const method = req.method ?? 'GET';
    if (headPool && method === 'HEAD' && req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined && headFast(req, res)) return;
    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: target.host, connection: 'keep-alive' };
    // A DELETE or OPTIONS without a body says so (Go's server would otherwise wait for one on a kept-alive socket).
    if ((method === 'DELETE' || method === 'OPTIONS') && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) headers['content-length'] = '0';
    let idle = false;
    let upstream: http.IncomingMessage | undefined;
    // Stryker disable next-line StringLiteral: equivalent, node:http's server always sets req.url
    const proxyReq = send({ hostname, port, method, path: prefix + (req.url ?? '/'), headers, agent: opts.agent });
    // The client went away before the exchange finished: abort the upstream exchange at once (frees the socket).
    res.once('close', () => {
      if (res.writableFinished) return;
      if (!proxyReq.destroyed) proxyReq.destroy();
      upstream?.destroy();
    });
    proxyReq.setTimeout(idleTimeoutMs, () => {
      idle = true;
      proxyReq.destroy(Object.assign(new Error('upstream idle timeout'), { code: 'ETIMEDOUT' }));
    });
    proxyReq.on('error', (err) => fail(req, res, err, idle && upstream === undefined));
    proxyReq.on('response', (up) => {
      upstream = up;
      const h = up.headers;
      toClientHeaders(h, opts.publicUrl, hosts);
      events.onResponse?.(req, res, up.statusCode ?? 0, up);
      // Stryker disable next-line BooleanLiteral: equivalent, the client's headers are sent before Harbor's answer can fail, and fail() reads `idle` only until they are
      up.on('error', (err) => fail(req, res, err, false));
      // Stryker disable next-line StringLiteral,BlockStatement: equivalent, a cut answer emits 'error' right after 'aborted' (fail() cuts the client's connection); 'aborted' alone only once res is closed
      up.on('aborted', () => {
        // Stryker disable next-line BooleanLiteral,ConditionalExpression: equivalent, as above
        if (!res.writableFinished) res.destroy();
      });
      const status = up.statusCode ?? 502;
      try {
        res.writeHead(status, up.statusMessage, h);
      } catch (e) {
        // A reason phrase node:http's parser lets through but writeHead refuses (a control character): a 502, not
        // an exception out of this listener. writeHead kept the phrase on `res`: cleared for sendError's own.
        res.statusMessage = '';
        up.resume();
        fail(req, res, e as Error, false);
        return;
      }
      // Stryker disable next-line LogicalOperator,StringLiteral: equivalent, these only narrow the shortcut; piping an empty body ends the client's answer the same
      if (method === 'HEAD' || status === 204 || status === 304 || h['content-length'] === '0') {
        // No body to stream (a manifest HEAD, the common case): end now, skip the pipe's set-up.
        up.resume();
        res.end();
      } else {
        up.pipe(res);
      }
    });
    events.onStart?.(req);
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      // No request body (GET, HEAD, DELETE): nothing to pipe.
      req.resume();
      proxyReq.end();
    } else {
      req.pipe(proxyReq);
    }
  };
}

/** Header values node:http would refuse to send (it throws ERR_INVALID_CHAR): such a request takes its path. */
const UNSENDABLE = /[\r\n\0]/;

/**
 * Harbor's answer to a HEAD, on to the client: hop-by-hop headers dropped, the rest through rewriteResponseHeader
 * (the same rules as the general path's rewriteResponseHeaders), repeated headers kept as
 * repeated lines, names as Harbor spelled them.
 */
function writeHeadAnswer(res: http.ServerResponse, answer: HeadAnswer, realm: string, publicUrl: string, hosts: readonly string[]): void {
  const raw = answer.rawHeaders;
  const seen = new Map<string, string[]>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_RESPONSE.includes(lower)) continue;
    const value = rewriteResponseHeader(lower, raw[i + 1], realm, publicUrl, hosts);
    if (value === undefined) continue;
    const values = seen.get(lower);
    if (values) {
      values.push(value);
      res.setHeader(name, values);
    } else {
      seen.set(lower, [value]);
      res.setHeader(name, value);
    }
  }
  res.writeHead(answer.status, answer.statusMessage);
}

/** Characters node:http refuses in a reason phrase (its header-value rule: no controls but tab, no DEL). */
const INVALID_REASON = /[^\t\x20-\x7e\x80-\xff]/;

/** Marks an upstream request cut for idleness (the error handler then answers 504, not 502). */
const idleCut = new WeakSet<http.IncomingMessage>();

/**
 * The same pass-through on http-proxy-middleware (node-http-proxy underneath), kept as the fallback engine
 * (`HUBGATE_REGISTRY_PROXY_ENGINE=http-proxy-middleware`) and as the bench's same-run comparison; see
 * docs/registry.md for why `node` is the default.
 */
function createHttpProxyPassThrough(opts: PassThroughOptions): PassThrough {
  const hosts = upstreamHostsOf(opts.harborUrl, opts.upstreamHosts);
  const events = opts.events ?? {};
  const idleTimeoutMs = opts.idleTimeoutMs ?? 120_000;
  const proxy = createProxyMiddleware<http.IncomingMessage, http.ServerResponse>({
    target: opts.harborUrl,
    changeOrigin: true,
    agent: opts.agent,
    xfwd: false,
    // Reuse the upstream connection whatever the client said about its own.
    headers: { connection: 'keep-alive' },
    followRedirects: false,
    // Our own handlers instead of the default plugins (their error page and logging are not ours).
    ejectPlugins: true,
    plugins: [
      (server) => {
        server.on('start', (req) => events.onStart?.(req));
        server.on('proxyReq', (proxyReq, req, res) => {
          // The client went away before the exchange finished: abort the upstream request (frees the socket).
          res.once('close', () => {
            if (!res.writableFinished && !proxyReq.destroyed) proxyReq.destroy();
          });
          proxyReq.setTimeout(idleTimeoutMs, () => {
            idleCut.add(req);
            proxyReq.destroy(Object.assign(new Error('upstream idle timeout'), { code: 'ETIMEDOUT' }));
          });
        });
        server.on('proxyRes', (upstream, req, res) => {
          // A reason phrase node:http refuses to send (a control character) would throw out of node-http-proxy's
          // write, a crash: dropped here, before node-http-proxy copies it (the status code's own phrase is sent).
          if (upstream.statusMessage && INVALID_REASON.test(upstream.statusMessage)) upstream.statusMessage = '';
          // node-http-proxy would copy Harbor's hop-by-hop headers, and its `Connection: keep-alive` kept the client's
          // connection open after it asked for `close`. Without them node-http-proxy sets Connection from the
          // client's own request and Node frames the body.
          toClientHeaders(upstream.headers, opts.publicUrl, hosts);
          // Harbor cutting its answer mid-body: node-http-proxy's pipe neither ends nor cuts the client's response
          // (the client would wait for its idle timeout).
          upstream.on('error', (err) => cutMidResponse(res, opts.logger, (err as NodeJS.ErrnoException).code));
          // A client that disconnects mid-download: stop reading from Harbor and free the socket.
          // Stryker disable next-line StringLiteral,BlockStatement: equivalent, the proxyReq 'close' handler above destroys the request, whose socket this response shares
          res.once('close', () => {
            // Stryker disable next-line BooleanLiteral,ConditionalExpression: equivalent, as above
            if (!res.writableFinished) upstream.destroy();
          });
          events.onResponse?.(req, res, upstream.statusCode ?? 0, upstream);
        });
        // Stryker disable next-line StringLiteral: equivalent, an event nobody listens to is ignored (only 'error' throws)
        server.on('econnreset', () => {
          /* client went away; http-proxy aborted the upstream request */
        });
        server.on('error', (err, req, res) => {
          const r = res as http.ServerResponse | import('node:net').Socket;
          const code = (err as NodeJS.ErrnoException).code;
          // Stryker disable next-line BlockStatement: equivalent, res is a Socket only for WebSocket upgrades, and this proxy does not take them (ws off)
          if (!('headersSent' in r)) {
            r.destroy();
            return;
          }
          if (r.headersSent) return cutMidResponse(r, opts.logger, code);
          // The rest of an upload body is read and dropped, so a kept-alive client connection carries its next
          // request after this answer (node-http-proxy left it unread).
          req.resume();
          if (idleCut.has(req)) {
            opts.logger.warn('registry backend timed out', { error_code: code, idle_timeout_ms: idleTimeoutMs });
            sendError(r, 504, 'UPSTREAM_TIMEOUT', 'the registry backend did not answer in time, try again later');
            return;
          }
          if ((r as http.ServerResponse).destroyed) return;
          opts.logger.warn('registry backend unreachable', { error_code: code });
          sendError(r, 502, 'UPSTREAM_UNAVAILABLE', 'the registry backend is unavailable, try again later');
        });
      },
    ],
  });
  const handler = proxy as unknown as (req: http.IncomingMessage, res: http.ServerResponse, next: (err?: unknown) => void) => Promise<void>;
  return (req, res, next) => {
    void handler(req, res, next);
  };
}
