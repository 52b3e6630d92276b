import http from 'node:http';
import https from 'node:https';
import { parse as parseUrl } from 'node:url';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../../observability/logger';
import { sendError } from '../errors';
import { rewriteResponseHeaders } from './headers';

/**
 * The streaming pass-through to Harbor: one `http.request` per exchange, the same semantics http-proxy had here
 * (changeOrigin, no X-Forwarded-*, `Connection: keep-alive` upstream), without its per-request option merging,
 * URL parsing and event plumbing:
 * - bodies are piped both ways (`req → proxyReq`, `proxyRes → res`), so backpressure holds and nothing is
 *   buffered: a 10 GB layer costs a few socket buffers;
 * - no proxy or socket timeout: a long upload or a slow pull is never cut (idle keep-alive sockets to Harbor are
 *   closed by the agent after `idleSocketMs`);
 * - keep-alive agent, so a manifest HEAD does not pay a TCP handshake;
 * - methods, paths, queries (`_state`, `digest`, `mount`/`from`), `Range`, `Content-Range`, `Content-Length`,
 *   `Transfer-Encoding: chunked`, `Docker-*` headers pass unchanged; only `WWW-Authenticate` realms and
 *   Harbor-absolute `Location`s are rewritten and Harbor's session cookie is dropped;
 * - a client that goes away mid-transfer aborts the upstream exchange (no orphaned uploads holding sockets).
 */
export interface ProxyEvents {
  /** Called synchronously before the upstream request is sent; `req` is flowing after it. */
  onStart?(req: Request): void;
  /** Response headers from Harbor arrived (already rewritten); the body follows. */
  onResponse?(req: Request, res: Response, upstream: http.IncomingMessage): void;
}

export interface PassThroughOptions {
  harborUrl: string;
  publicUrl: string;
  /** Further host[:port] values Harbor may put into absolute Locations (its external URL host). */
  upstreamHosts?: string[];
  agent: http.Agent;
  logger: Logger;
  events?: ProxyEvents;
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

/** A plain origin-form path (what clients send): used as is; anything else takes http-proxy's exact route. */
const PLAIN_PATH = /^\/[^\t\n\r "'<>\\^`{|}#]*$/;

/** http-proxy's `urlJoin`: joins the paths, collapses repeated slashes (never in the query). */
function urlJoin(base: string, url: string): string {
  const q = url.indexOf('?');
  const p = q < 0 ? url : url.slice(0, q);
  const joined = [base, p]
    .filter(Boolean)
    .join('/')
    .replace(/\/+/g, '/')
    .replace('http:/', 'http://')
    .replace('https:/', 'https://');
  return q < 0 ? joined : joined + url.slice(q);
}

/** The upstream path for a request URL, as http-proxy built it (target path + `url.parse(req.url).path`). */
export function upstreamPath(targetPath: string, url: string): string {
  if ((targetPath === '/' || targetPath === '') && PLAIN_PATH.test(url) && !url.includes('//') && !url.includes('http')) return url;
  return urlJoin(targetPath, parseUrl(url).path ?? '');
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

export function createPassThrough(opts: PassThroughOptions): (req: Request, res: Response, next: NextFunction) => Promise<void> {
  const hosts = upstreamHostsOf(opts.harborUrl, opts.upstreamHosts);
  const events = opts.events ?? {};
  const target = new URL(opts.harborUrl);
  const secure = target.protocol === 'https:';
  const client = secure ? https : http;
  const hostname = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = target.port || (secure ? '443' : '80');
  // Host as Harbor sees it (what http-proxy's changeOrigin sent: host[:port] of the target).
  const hostHeader = target.host;
  const targetPath = parseUrl(opts.harborUrl).path ?? '';

  const fail = (err: Error, res: Response) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (res.headersSent) {
      // Mid-body failure: the only honest signal left is to cut the connection.
      opts.logger.warn('registry pass-through failed mid-response', { error_code: code });
      res.destroy();
      return;
    }
    opts.logger.warn('registry backend unreachable', { error_code: code });
    sendError(res, 502, 'UPSTREAM_UNAVAILABLE', 'the registry backend is unavailable, try again later');
  };

  return (req: Request, res: Response): Promise<void> => {
    // Bodyless DELETE/OPTIONS get an explicit empty body (as http-proxy did).
    if ((req.method === 'DELETE' || req.method === 'OPTIONS') && !req.headers['content-length']) {
      req.headers['content-length'] = '0';
      delete req.headers['transfer-encoding'];
    }
    const headers: http.OutgoingHttpHeaders = { ...req.headers, connection: 'keep-alive', host: hostHeader };
    const path = upstreamPath(targetPath, req.url);
    events.onStart?.(req);
    const proxyReq = client.request({ hostname, port, method: req.method, path, headers, agent: opts.agent });
    req.on('aborted', () => proxyReq.destroy());
    const onError = (err: Error) => {
      if (req.socket.destroyed && (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
        // The client went away: drop the upstream exchange too.
        proxyReq.destroy();
        return;
      }
      fail(err, res);
    };
    req.on('error', onError);
    proxyReq.on('error', onError);
    req.pipe(proxyReq);
    proxyReq.on('response', (upstream: http.IncomingMessage) => {
      const h = upstream.headers;
      rewriteResponseHeaders(h, opts.publicUrl, hosts);
      // A client that disconnects mid-download: stop reading from Harbor and free the socket.
      res.once('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      events.onResponse?.(req, res, upstream);
      if (!res.headersSent) {
        if (req.httpVersion === '1.0') {
          delete h['transfer-encoding'];
          h.connection = req.headers.connection || 'close';
        } else if (!h.connection) {
          h.connection = req.headers.connection || 'keep-alive';
        }
        for (const key in h) {
          const v = h[key];
          if (v !== undefined) res.setHeader(key, v);
        }
        res.statusCode = upstream.statusCode ?? 502;
        if (upstream.statusMessage) res.statusMessage = upstream.statusMessage;
      }
      if (!res.writableEnded) upstream.pipe(res);
    });
    return Promise.resolve();
  };
}
