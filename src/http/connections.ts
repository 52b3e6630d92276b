import type http from 'node:http';
import type { Socket } from 'node:net';
import type { TrustProxy } from './registry/auth';

/**
 * Caps the connections one peer address may hold open at once, so one client (or a botnet's worth of sockets from
 * one host) cannot take every file descriptor and keep-alive slot of a replica. Counted per socket peer, before
 * any byte is read; a connection over the cap is closed at once (the client sees a reset — there is no request to
 * answer yet). Trusted proxies (load balancers, ingress) are exempt: every client behind them shares their address.
 * Returns a function that reports the current count for an address (tests, diagnostics).
 */
export function capConnectionsPerAddress(
  server: http.Server,
  opts: { max: number; trust: TrustProxy; onRefused?: () => void },
): (address: string) => number {
  const open = new Map<string, number>();
  if (opts.max <= 0) return () => 0;
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (!address || opts.trust(address, 0)) return;
    const n = (open.get(address) ?? 0) + 1;
    if (n > opts.max) {
      opts.onRefused?.();
      socket.destroy();
      return;
    }
    open.set(address, n);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      // Stryker disable next-line ConditionalExpression,EqualityOperator: a count of 0 kept reads like no entry (`?? 0`); the delete only stops the map holding every address ever seen
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
  return (address) => open.get(address) ?? 0;
}

/** What hubgate answers for a request Node's HTTP parser refused (no request object exists to answer on). */
function clientErrorAnswer(code: string | undefined): { status: number; code: string; message: string } {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, code: 'BAD_REQUEST', message: 'request headers too large' };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, code: 'REQUEST_TIMEOUT', message: 'the request did not arrive in time' };
  return { status: 400, code: 'BAD_REQUEST', message: 'malformed HTTP request' };
}

/**
 * A request Node's parser refuses — both `Content-Length` and `Transfer-Encoding` (request smuggling), a bad
 * header name or value, a broken chunk, headers over the size limit, headers that never finished — gets Harbor's
 * error envelope with `Connection: close` instead of Node's bare status line with an empty body, then the
 * connection is closed. Nothing of the request is echoed. A socket that is already gone or mid-response is only
 * destroyed.
 */
export function answerMalformedRequests(server: http.Server, onRefused?: (status: number) => void): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: import('node:stream').Duplex) => {
    const pending = (socket as { _httpMessage?: http.ServerResponse })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || pending?.headersSent) {
      socket.destroy();
      return;
    }
    const a = clientErrorAnswer(err.code);
    onRefused?.(a.status);
    const body = JSON.stringify({ errors: [{ code: a.code, message: a.message }] }) + '\n';
    const reason = a.status === 431 ? 'Request Header Fields Too Large' : a.status === 408 ? 'Request Timeout' : 'Bad Request';
    socket.end(`HTTP/1.1 ${a.status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
}
