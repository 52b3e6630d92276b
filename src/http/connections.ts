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
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
  return (address) => open.get(address) ?? 0;
}
