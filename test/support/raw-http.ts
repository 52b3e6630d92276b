import net from 'node:net';

/**
 * Writes `raw` bytes to 127.0.0.1:`port` on a fresh socket and collects everything that comes back until the server
 * closes the connection (requests no HTTP client would send: malformed ones, or a request on a socket opened
 * earlier). `socket`: an open socket to use instead of a fresh one.
 */
export function exchange(port: number, raw: string, socket: net.Socket = net.connect(port, '127.0.0.1')): Promise<{ answer: string; closed: boolean }> {
  return new Promise((resolve) => {
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ answer, closed: true }));
    socket.write(raw);
  });
}

/** Opens a plain TCP connection to 127.0.0.1:`port`; resolves once it is connected. */
export function connectRaw(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves when `socket` closes: with the bytes it received first (empty: closed by the server on arrival). */
export function closedWith(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(got));
  });
}
