/**
 * The HEAD pool (src/http/registry/head-pool.ts): bodiless HEADs on kept-alive sockets without node:http's client.
 * Each test scripts a raw TCP server byte for byte — what Harbor (Go's net/http), its nginx, or a broken peer
 * would send — and checks what the pool makes of it: the answer, whether the socket is reused, the error.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { HeadPool, parseResponseHead, type HeadAnswer } from '../../../src/http/registry/head-pool';

type Script = (request: string, socket: net.Socket, connection: number) => void;

interface RawServer {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Every request head received, in order. */
  requests: string[];
  closedConnections: number;
  close(): Promise<void>;
}

/** A TCP server that hands each complete request head to `script`. */
async function rawServer(script: Script): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const state: RawServer = { port: 0, connections: 0, requests: [], closedConnections: 0, close: async () => undefined };
  const server = net.createServer((socket) => {
    const n = ++state.connections;
    sockets.add(socket);
    socket.on('close', () => {
      state.closedConnections++;
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (c) => {
      buf += c.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end + 4);
        buf = buf.slice(end + 4);
        state.requests.push(head);
        script(head, socket, n);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as AddressInfo).port;
  state.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return state;
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 528\r\nDocker-Content-Digest: sha256:abc\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\r\n';

function pool(port: number, extra: Partial<ConstructorParameters<typeof HeadPool>[0]> = {}): HeadPool {
  return new HeadPool({ host: '127.0.0.1', port, hostHeader: `harbor.internal:${port}`, maxSockets: 8, idleSocketMs: 30_000, ...extra });
}

type Outcome = { err?: Error & { code?: string; timedOut?: boolean }; answer?: HeadAnswer };
function head(p: HeadPool, path = '/v2/alpha/app/manifests/v1', lines = 'authorization: Bearer t\r\n', timeoutMs = 5000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const x = p.head(path, lines, timeoutMs, (err, answer) => resolve({ err, answer }));
    if (!x) reject(new Error('pool refused the exchange'));
  });
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
};

describe('HeadPool', () => {
  const servers: RawServer[] = [];
  const pools: HeadPool[] = [];
  const make = async (script: Script, extra?: Partial<ConstructorParameters<typeof HeadPool>[0]>) => {
    const s = await rawServer(script);
    servers.push(s);
    const p = pool(s.port, extra);
    pools.push(p);
    return { s, p };
  };
  afterEach(async () => {
    for (const p of pools.splice(0)) p.close();
    for (const s of servers.splice(0)) await s.close();
  });

  it('sends one request head (path, Host, the given lines, keep-alive) and returns status, reason and raw headers', async () => {
    const { s, p } = await make((_r, sock) => sock.write(OK));
    const { err, answer } = await head(p, '/v2/a/b/manifests/sha256:abc?x=1', 'accept: application/json\r\nauthorization: Bearer t\r\n');
    expect(err).toBeUndefined();
    expect(s.requests).toStrictEqual([
      `HEAD /v2/a/b/manifests/sha256:abc?x=1 HTTP/1.1\r\nHost: harbor.internal:${s.port}\r\naccept: application/json\r\nauthorization: Bearer t\r\nConnection: keep-alive\r\n\r\n`,
    ]);
    expect(answer).toStrictEqual({
      status: 200,
      statusMessage: 'OK',
      rawHeaders: ['Content-Length', '528', 'Docker-Content-Digest', 'sha256:abc', 'Content-Type', 'application/vnd.oci.image.manifest.v1+json'],
    });
  });

  it('reuses the kept-alive socket: three HEADs in a row take one connection', async () => {
    const { s, p } = await make((_r, sock) => sock.write(OK));
    for (let i = 0; i < 3; i++) expect((await head(p)).answer?.status).toBe(200);
    expect(s.connections).toBe(1);
    expect(p.stats()).toStrictEqual({ open: 1, idle: 1 });
  });

  it.each([
    ['Connection: close', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n'],
    ['Connection: close among other tokens', 'HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\n\r\n'],
    ['HTTP/1.0 without keep-alive', 'HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n'],
    ['stray bytes after the head', `${OK}junk`],
  ])('does not reuse a socket after %s', async (_what, answer) => {
    const { s, p } = await make((_r, sock) => sock.write(answer));
    expect((await head(p)).answer?.status).toBe(200);
    expect((await head(p)).answer?.status).toBe(200);
    expect(s.connections).toBe(2);
  });

  it('reuses an HTTP/1.0 socket that says keep-alive', async () => {
    const { s, p } = await make((_r, sock) => sock.write('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n'));
    await head(p);
    await head(p);
    expect(s.connections).toBe(1);
  });

  it('reads a head that arrives one byte at a time', async () => {
    const { p } = await make((_r, sock) => {
      let i = 0;
      const t = setInterval(() => {
        if (i >= OK.length) return clearInterval(t);
        sock.write(OK[i++]);
      }, 1);
    });
    const { answer } = await head(p);
    expect(answer?.rawHeaders).toStrictEqual(['Content-Length', '528', 'Docker-Content-Digest', 'sha256:abc', 'Content-Type', 'application/vnd.oci.image.manifest.v1+json']);
  });

  it('skips interim 1xx answers and returns the final one', async () => {
    const { s, p } = await make((_r, sock) => sock.write(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n${OK}`));
    const { answer } = await head(p);
    expect(answer?.status).toBe(200);
    expect(answer?.rawHeaders).toContain('Docker-Content-Digest');
    await head(p);
    expect(s.connections).toBe(1);
  });

  it('keeps repeated headers and an empty reason phrase, trims optional whitespace', async () => {
    const { p } = await make((_r, sock) => sock.write('HTTP/1.1 401\r\nWww-Authenticate: Bearer realm="a"\r\nWWW-Authenticate:   Basic realm="b"  \r\nX-Empty:\r\n\r\n'));
    const { answer } = await head(p);
    expect(answer).toStrictEqual({ status: 401, statusMessage: '', rawHeaders: ['Www-Authenticate', 'Bearer realm="a"', 'WWW-Authenticate', 'Basic realm="b"', 'X-Empty', ''] });
  });

  it.each([
    ['a status line that is not HTTP/1.x', 'HTTP/2 200 OK\r\n\r\n', 'HPE_INVALID_RESPONSE'],
    ['a three-digit status below 100', 'HTTP/1.1 099 Odd\r\n\r\n', 'HPE_INVALID_RESPONSE'],
    ['garbage', 'hello\r\n\r\n', 'HPE_INVALID_RESPONSE'],
    ['an obsolete folded header line', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\n\r\n', 'HPE_INVALID_RESPONSE'],
    ['a header line without a colon', 'HTTP/1.1 200 OK\r\nNoColon\r\n\r\n', 'HPE_INVALID_RESPONSE'],
    ['a header name with a space', 'HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n', 'HPE_INVALID_RESPONSE'],
    ['a bare LF inside a value', 'HTTP/1.1 200 OK\r\nX-A: 1\nInjected: 2\r\n\r\n', 'HPE_INVALID_RESPONSE'],
    ['a NUL in a value', 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n', 'HPE_INVALID_RESPONSE'],
    ['a protocol switch', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', 'HPE_INVALID_RESPONSE'],
  ])('refuses %s (protocol error, socket closed)', async (_what, answer, code) => {
    const { s, p } = await make((_r, sock) => sock.write(answer));
    const { err } = await head(p);
    expect(err?.code).toBe(code);
    await until(() => s.closedConnections === 1);
    expect(p.stats()).toStrictEqual({ open: 0, idle: 0 });
  });

  it('refuses a head larger than maxHeaderBytes, without waiting for its end', async () => {
    const { s, p } = await make((_r, sock) => sock.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(3000)}`), { maxHeaderBytes: 1024 });
    const { err } = await head(p);
    expect(err?.code).toBe('HPE_HEADER_OVERFLOW');
    await until(() => s.closedConnections === 1);
  });

  it('sends the HEAD again on a fresh connection when Harbor closed the kept-alive socket as it went out', async () => {
    const { s, p } = await make((_r, sock, n) => {
      // The first connection answers once, then closes on the next request without a byte (an idle-timeout race).
      if (n === 1 && s.requests.length > 1) sock.destroy();
      else sock.write(OK);
    });
    expect((await head(p)).answer?.status).toBe(200);
    const second = await head(p);
    expect(second.err).toBeUndefined();
    expect(second.answer?.status).toBe(200);
    expect(s.connections).toBe(2);
    expect(s.requests).toHaveLength(3);
  });

  it('does not resend on a fresh connection that fails too, nor after part of an answer came back', async () => {
    const first = await make((_r, sock) => sock.destroy());
    const { err } = await head(first.p);
    expect(err?.code).toBe('ECONNRESET');
    expect(first.s.requests).toHaveLength(1);

    const partial = await make((_r, sock, n) => {
      if (n === 1 && partial.s.requests.length === 1) sock.write(OK);
      else sock.end('HTTP/1.1 200');
    });
    await head(partial.p);
    const r = await head(partial.p);
    expect(r.err?.code).toBe('ECONNRESET');
    expect(partial.s.requests).toHaveLength(2);
  });

  it('cuts an exchange after timeoutMs without a byte (timedOut), and closes its socket', async () => {
    const { s, p } = await make(() => undefined);
    const { err } = await head(p, undefined, undefined, 200);
    expect(err?.timedOut).toBe(true);
    expect(err?.code).toBe('ETIMEDOUT');
    await until(() => s.closedConnections === 1);
  });

  it('abort() closes the socket at once and never calls back', async () => {
    const { s, p } = await make(() => undefined);
    const calls: unknown[] = [];
    const x = p.head('/v2/a/b/manifests/v1', '', 5000, (...args) => calls.push(args));
    await until(() => s.requests.length === 1);
    x?.abort();
    await until(() => s.closedConnections === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toStrictEqual([]);
    expect(p.stats()).toStrictEqual({ open: 0, idle: 0 });
  });

  it('returns undefined when maxSockets are busy (the caller takes node:http)', async () => {
    const { p } = await make(() => undefined, { maxSockets: 1 });
    const busy = p.head('/v2/a/b/manifests/v1', '', 5000, () => undefined);
    expect(busy).toBeDefined();
    expect(p.head('/v2/a/b/manifests/v2', '', 5000, () => undefined)).toBeUndefined();
    busy?.abort();
  });

  it('closes idle sockets after idleSocketMs, and an idle socket that receives unasked bytes', async () => {
    const idle = await make((_r, sock) => sock.write(OK), { idleSocketMs: 100 });
    await head(idle.p);
    expect(idle.p.stats().idle).toBe(1);
    await until(() => idle.s.closedConnections === 1);
    expect(idle.p.stats()).toStrictEqual({ open: 0, idle: 0 });

    const chatty = await make((_r, sock) => {
      sock.write(OK);
      setTimeout(() => sock.write('HTTP/1.1 200 OK\r\n\r\n'), 30);
    });
    await head(chatty.p);
    await until(() => chatty.s.closedConnections === 1);
    expect(chatty.p.stats()).toStrictEqual({ open: 0, idle: 0 });
  });

  it('after close() refuses new exchanges and closes its idle sockets', async () => {
    const { s, p } = await make((_r, sock) => sock.write(OK));
    await head(p);
    p.close();
    await until(() => s.closedConnections === 1);
    expect(p.head('/v2/', '', 1000, () => undefined)).toBeUndefined();
  });
});

describe('parseResponseHead', () => {
  it('keep-alive: HTTP/1.1 unless Connection says close; HTTP/1.0 only when it says keep-alive', () => {
    expect(parseResponseHead('HTTP/1.1 200 OK').keepAlive).toBe(true);
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nConnection: close').keepAlive).toBe(false);
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nConnection: upgrade\r\nConnection: CLOSE').keepAlive).toBe(false);
    expect(parseResponseHead('HTTP/1.0 200 OK').keepAlive).toBe(false);
    expect(parseResponseHead('HTTP/1.0 200 OK\r\nconnection: Keep-Alive').keepAlive).toBe(true);
    expect(parseResponseHead('HTTP/1.1 404 Not Found\r\nX-Closer: close').keepAlive).toBe(true);
  });

  it('keeps a tab inside a value and a reason phrase with spaces', () => {
    expect(parseResponseHead('HTTP/1.1 412 Precondition Failed\r\nX-A: a\tb').answer).toStrictEqual({ status: 412, statusMessage: 'Precondition Failed', rawHeaders: ['X-A', 'a\tb'] });
  });
});

describe('parseResponseHead framing headers (as node:http refuses them)', () => {
  it.each([
    ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked'],
    ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6'],
    ['a Content-Length that is not a number', 'HTTP/1.1 200 OK\r\nContent-Length: 5x'],
  ])('refuses %s', (_what, head) => {
    expect(() => parseResponseHead(head)).toThrow(expect.objectContaining({ code: 'HPE_INVALID_RESPONSE' }));
  });

  it('accepts a Content-Length repeated with the same value, and Transfer-Encoding alone', () => {
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5').answer.rawHeaders).toStrictEqual(['Content-Length', '5', 'content-length', '5']);
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked').answer.status).toBe(200);
  });
});
