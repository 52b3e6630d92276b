import http from 'node:http';
import https from 'node:https';
import { createProxyMiddleware } from 'http-proxy-middleware';
import type { Logger } from '../../observability/logger';
import { sendError } from '../errors';
import { rewriteResponseHeaders } from './headers';

/**
 * The streaming pass-through to Harbor (http-proxy-middleware over node-http-proxy):
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
 *   exchange at once (http-proxy only listens for the request's `aborted` event, which Node no longer emits once
 *   the request body is complete: a client gone while Harbor works would leave the upstream request open).
 */
export interface ProxyEvents {
  /** Called synchronously before the upstream request is sent; `req` is flowing after it. */
  onStart?(req: http.IncomingMessage): void;
  /** Response headers from Harbor arrived (already rewritten); the body follows. */
  onResponse?(req: http.IncomingMessage, res: http.ServerResponse, upstream: http.IncomingMessage): void;
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
}

/** Marks an upstream request cut for idleness (the error handler then answers 504, not 502). */
const idleCut = new WeakSet<http.IncomingMessage>();

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

export function createPassThrough(opts: PassThroughOptions): (req: http.IncomingMessage, res: http.ServerResponse, next: (err?: unknown) => void) => Promise<void> {
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
          rewriteResponseHeaders(upstream.headers, opts.publicUrl, hosts);
          // A client that disconnects mid-download: stop reading from Harbor and free the socket.
          res.once('close', () => {
            if (!res.writableFinished) upstream.destroy();
          });
          events.onResponse?.(req, res, upstream);
        });
        server.on('econnreset', () => {
          /* client went away; http-proxy aborted the upstream request */
        });
        server.on('error', (err, req, res) => {
          const r = res as http.ServerResponse | import('node:net').Socket;
          const code = (err as NodeJS.ErrnoException).code;
          if (!('headersSent' in r)) {
            r.destroy();
            return;
          }
          if (r.headersSent) {
            // Mid-body failure: the only honest signal left is to cut the connection.
            opts.logger.warn('registry pass-through failed mid-response', { error_code: code });
            r.destroy();
            return;
          }
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
  return proxy as unknown as (req: http.IncomingMessage, res: http.ServerResponse, next: (err?: unknown) => void) => Promise<void>;
}
