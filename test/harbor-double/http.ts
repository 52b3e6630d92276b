/** Response helpers reproducing Harbor's (core behind nginx) wire format. */
import http from 'http';
import { HarborUser, Robot } from './state';

export type Principal =
  | { kind: 'admin'; name: string }
  | { kind: 'robot'; name: string; robot: Robot }
  | { kind: 'user'; name: string; user: HarborUser }
  | { kind: 'anonymous'; name: ''; wrongCredentials: boolean; sentCredentials: boolean }
  | { kind: 'token'; name: string; access: { type: string; name: string; actions: string[] }[] | null };

export interface Ctx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  method: string;
  /** Raw path as sent (still percent-encoded). */
  rawPath: string;
  query: URLSearchParams;
  rawQuery: string;
  requestId: string;
  principal: Principal;
}

export function baseHeaders(ctx: Ctx, status: number): Record<string, string> {
  const h: Record<string, string> = {};
  h['X-Request-Id'] = ctx.requestId;
  if (status === 200 || status === 201) {
    h['X-Frame-Options'] = 'DENY';
    h['Content-Security-Policy'] = "frame-ancestors 'none'";
  }
  return h;
}

export function send(ctx: Ctx, status: number, body: Buffer | string | null, headers: Record<string, string> = {}): void {
  if (ctx.res.headersSent) return;
  const buf = body === null ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const h: Record<string, string> = { ...headers, ...baseHeaders(ctx, status) };
  h['Content-Length'] = String(buf.length);
  ctx.res.writeHead(status, h);
  ctx.res.end(ctx.method === 'HEAD' ? undefined : buf);
}

/** REST JSON (success): `application/json`, body + "\n". */
export function sendJson(ctx: Ctx, status: number, obj: unknown, headers: Record<string, string> = {}): void {
  send(ctx, status, JSON.stringify(obj) + '\n', { 'Content-Type': 'application/json', ...headers });
}

/** Empty success (PUT/DELETE/POST): Content-Length 0, no Content-Type. */
export function sendEmpty(ctx: Ctx, status: number, headers: Record<string, string> = {}): void {
  send(ctx, status, null, headers);
}

export function errorBody(code: string, message: string, detail?: unknown): string {
  const e: Record<string, unknown> = { code, message };
  if (detail !== undefined) e.detail = detail;
  return JSON.stringify({ errors: [e] }) + '\n';
}

/** Harbor error envelope, `application/json; charset=utf-8`. */
export function sendError(ctx: Ctx, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  send(ctx, status, errorBody(code, message), { 'Content-Type': 'application/json; charset=utf-8', ...headers });
}

export const isoMs = (t: number): string => new Date(t).toISOString();
export const isoSec = (t: number): string => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
export const ZERO_TIME = '0001-01-01T00:00:00.000Z';

export function readBody(req: http.IncomingMessage, limit = 10 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
