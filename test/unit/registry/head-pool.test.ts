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
    jest.restoreAllMocks();
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
    ['a status line that is not HTTP/1.x', 'HTTP/2 200 OK\r\n\r\n', 'malformed status line'],
    ['a three-digit status below 100', 'HTTP/1.1 099 Odd\r\n\r\n', 'malformed status line'],
    ['garbage', 'hello\r\n\r\n', 'malformed status line'],
    ['an empty head', '\r\n\r\n', 'malformed status line'],
    ['an obsolete folded header line', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\n\r\n', 'malformed header line'],
    ['a header line without a colon', 'HTTP/1.1 200 OK\r\nNoColon\r\n\r\n', 'malformed header line'],
    ['a header line that starts with its colon', 'HTTP/1.1 200 OK\r\n: no-name\r\n\r\n', 'malformed header line'],
    ['a header name with a space', 'HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n', 'malformed header name'],
    ['a bare LF inside a value', 'HTTP/1.1 200 OK\r\nX-A: 1\nInjected: 2\r\n\r\n', 'invalid character in a header value'],
    ['a NUL in a value', 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n', 'invalid character in a header value'],
    ['a protocol switch', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', 'unexpected protocol switch'],
  ])('refuses %s (protocol error, socket closed)', async (_what, answer, message) => {
    const { s, p } = await make((_r, sock) => sock.write(answer));
    // A short exchange timeout: a head the parser wrongly waits on ends as ETIMEDOUT, not as a hung test.
    const { err } = await head(p, undefined, undefined, 1000);
    expect(err).toStrictEqual(expect.objectContaining({ code: 'HPE_INVALID_RESPONSE', message }));
    await until(() => s.closedConnections === 1);
    expect(p.stats()).toStrictEqual({ open: 0, idle: 0 });
  });

  it('refuses a head larger than maxHeaderBytes, without waiting for its end', async () => {
    const { s, p } = await make((_r, sock) => sock.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(3000)}`), { maxHeaderBytes: 1024 });
    const { err } = await head(p);
    expect(err).toStrictEqual(expect.objectContaining({ code: 'HPE_HEADER_OVERFLOW', message: 'response head too large' }));
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
    expect(err).toStrictEqual(expect.objectContaining({ code: 'ETIMEDOUT', timedOut: true, message: 'upstream idle timeout' }));
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

  it('writes the request head as latin1, one byte per character (as node:http writes headers)', async () => {
    const { s, p } = await make((_r, sock) => sock.write(OK));
    await head(p, '/v2/a/b/manifests/v1', 'x-note: caf\u00e9\r\n');
    expect(s.requests).toStrictEqual([`HEAD /v2/a/b/manifests/v1 HTTP/1.1\r\nHost: harbor.internal:${s.port}\r\nx-note: caf\u00e9\r\nConnection: keep-alive\r\n\r\n`]);
  });

  it('turns Nagle off on its sockets and sets a socket timeout once, again only for an exchange that asks another', async () => {
    const noDelay = jest.spyOn(net.Socket.prototype, 'setNoDelay');
    const timeout = jest.spyOn(net.Socket.prototype, 'setTimeout');
    const { s, p } = await make((_r, sock) => sock.write(OK));
    for (const ms of [5000, 5000, 5000, 3000]) expect((await head(p, undefined, undefined, ms)).answer?.status).toBe(200);
    expect(s.connections).toBe(1);
    expect(noDelay.mock.calls).toStrictEqual([[true]]);
    expect(timeout.mock.calls).toStrictEqual([[5000], [3000]]);
  });

  it('takes an idle socket when maxSockets are open: a full pool still reuses', async () => {
    const { s, p } = await make((_r, sock) => sock.write(OK), { maxSockets: 1 });
    expect((await head(p)).answer?.status).toBe(200);
    expect((await head(p)).answer?.status).toBe(200);
    expect(s.connections).toBe(1);
    expect(p.stats()).toStrictEqual({ open: 1, idle: 1 });
  });

  it('keeps at most maxFreeSockets idle: a socket that comes back to a full idle list is closed', async () => {
    const { s, p } = await make((_r, sock) => sock.write(OK), { maxFreeSockets: 1 });
    const answers = await Promise.all([head(p), head(p)]);
    expect(answers.map((a) => a.answer?.status)).toStrictEqual([200, 200]);
    expect(s.connections).toBe(2);
    await until(() => s.closedConnections === 1);
    expect(p.stats()).toStrictEqual({ open: 1, idle: 1 });
  });

  it('closes the socket of an exchange that ends after close(), instead of keeping it idle', async () => {
    const held: net.Socket[] = [];
    const { s, p } = await make((_r, sock) => held.push(sock));
    const pending = head(p);
    await until(() => s.requests.length === 1);
    p.close();
    held[0].write(OK);
    expect((await pending).answer?.status).toBe(200);
    await until(() => s.closedConnections === 1);
    expect(p.stats()).toStrictEqual({ open: 0, idle: 0 });
  });

  it('a busy socket that closes leaves the idle sockets in the pool', async () => {
    const { s, p } = await make((r, sock) => {
      if (r.startsWith('HEAD /v2/fast ')) sock.write(OK);
    });
    const slow = p.head('/v2/slow', '', 5000, () => undefined);
    expect((await head(p, '/v2/fast')).answer?.status).toBe(200);
    expect(p.stats()).toStrictEqual({ open: 2, idle: 1 });
    slow?.abort();
    await until(() => p.stats().open === 1);
    expect(p.stats()).toStrictEqual({ open: 1, idle: 1 });
    expect((await head(p, '/v2/fast')).answer?.status).toBe(200);
    expect(s.connections).toBe(2);
  });

  it('abort() after the answer changes nothing: the socket stays in the pool for the next HEAD', async () => {
    const { s, p } = await make((_r, sock) => sock.write(OK));
    let x: ReturnType<HeadPool['head']>;
    const first = await new Promise<Outcome>((resolve) => {
      x = p.head('/v2/a/b/manifests/v1', '', 5000, (err, answer) => resolve({ err, answer }));
    });
    expect(first.answer?.status).toBe(200);
    x!.abort();
    expect(p.stats()).toStrictEqual({ open: 1, idle: 1 });
    expect((await head(p)).answer?.status).toBe(200);
    expect(s.connections).toBe(1);
  });

  it('resends on a fresh connection, not on another idle socket Harbor may have closed as well', async () => {
    const { s, p } = await make((_r, sock, n) => {
      // Both sockets of the first two HEADs are closed by Harbor on their next request (an idle-timeout race).
      if (s.requests.length > 2 && n <= 2) sock.destroy();
      else sock.write(OK);
    });
    await Promise.all([head(p), head(p)]);
    expect(p.stats()).toStrictEqual({ open: 2, idle: 2 });
    const third = await head(p);
    expect(third.err).toBeUndefined();
    expect(third.answer?.status).toBe(200);
    expect(s.connections).toBe(3);
    expect(s.requests).toHaveLength(4);
  });

  it('closes an idle socket once the exchange timeout passes without a byte on it', async () => {
    const { s, p } = await make((_r, sock) => sock.write(OK));
    expect((await head(p, undefined, undefined, 100)).answer?.status).toBe(200);
    expect(p.stats()).toStrictEqual({ open: 1, idle: 1 });
    await until(() => s.closedConnections === 1);
    await until(() => p.stats().open === 0);
    expect(p.stats()).toStrictEqual({ open: 0, idle: 0 });
  });

  it('reports a refused connection with its own error (not as a hang-up)', async () => {
    const closed = await rawServer(() => undefined);
    await closed.close();
    const p = pool(closed.port);
    pools.push(p);
    const { err } = await head(p);
    expect(err).toStrictEqual(expect.objectContaining({ code: 'ECONNREFUSED', message: `connect ECONNREFUSED 127.0.0.1:${closed.port}` }));
    await until(() => p.stats().open === 0);
    expect(p.stats()).toStrictEqual({ open: 0, idle: 0 });
  });

  it.each([
    ['ends (FIN)', (sock: net.Socket) => sock.end()],
    ['resets (RST)', (sock: net.Socket) => sock.resetAndDestroy()],
  ])('drops an idle socket Harbor %s, quietly, and opens a new one for the next HEAD', async (_what, hangUp) => {
    const served: net.Socket[] = [];
    const { s, p } = await make((_r, sock) => {
      served.push(sock);
      sock.write(OK);
    });
    await head(p);
    hangUp(served[0]);
    await until(() => p.stats().open === 0);
    expect(p.stats()).toStrictEqual({ open: 0, idle: 0 });
    expect((await head(p)).answer?.status).toBe(200);
    expect(s.connections).toBe(2);
  });

  it('fails an exchange whose connection Harbor ends mid-answer with "socket hang up"', async () => {
    const { p } = await make((_r, sock) => sock.end('HTTP/1.1 200'));
    const { err } = await head(p);
    expect(err).toStrictEqual(expect.objectContaining({ code: 'ECONNRESET', message: 'socket hang up' }));
  });

  it('ends an exchange whose socket closes without an end or error (destroyed under it) with "socket hang up"', async () => {
    const connect = jest.spyOn(net, 'connect');
    const { s, p } = await make(() => undefined);
    const pending = head(p);
    await until(() => s.requests.length === 1);
    (connect.mock.results[0].value as net.Socket).destroy();
    expect((await pending).err).toStrictEqual(expect.objectContaining({ code: 'ECONNRESET', message: 'socket hang up' }));
    expect(p.stats()).toStrictEqual({ open: 0, idle: 0 });
  });

  describe('maxHeaderBytes, at its bound', () => {
    const PREFIX = 'HTTP/1.1 200 OK\r\nX-Pad: ';
    /** A response head (without its final CRLF CRLF) exactly `bytes` long. */
    const headOf = (bytes: number) => PREFIX + 'a'.repeat(bytes - PREFIX.length);

    it('accepts a head of exactly maxHeaderBytes, whole or with its end in a later packet', async () => {
      const whole = await make((_r, sock) => sock.write(`${headOf(64)}\r\n\r\n`), { maxHeaderBytes: 64 });
      expect((await head(whole.p)).answer?.rawHeaders).toStrictEqual(['X-Pad', 'a'.repeat(64 - PREFIX.length)]);

      const split = await make(
        (_r, sock) => {
          sock.write(headOf(64));
          setTimeout(() => sock.write('\r\n\r\n'), 30);
        },
        { maxHeaderBytes: 64 },
      );
      expect((await head(split.p)).answer?.status).toBe(200);
    });

    it('refuses a head one byte longer, even when it arrives whole', async () => {
      const { s, p } = await make((_r, sock) => sock.write(`${headOf(65)}\r\n\r\n`), { maxHeaderBytes: 64 });
      const { err } = await head(p);
      expect(err).toStrictEqual(expect.objectContaining({ code: 'HPE_HEADER_OVERFLOW', message: 'response head too large' }));
      await until(() => s.closedConnections === 1);
    });
  });

  describe('the idle sweep, on a fake clock (sockets stay real)', () => {
    beforeEach(() => {
      jest.useFakeTimers({ doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout'] });
      jest.setSystemTime(1_000_000);
    });
    afterEach(() => jest.useRealTimers());

    it('runs every idleSocketMs / 2, closes each socket once idle for idleSocketMs, and stops with the last one', async () => {
      const { s, p } = await make((_r, sock) => sock.write(OK), { idleSocketMs: 1000 });
      await Promise.all([head(p), head(p)]);
      expect(p.stats()).toStrictEqual({ open: 2, idle: 2 });
      expect(jest.getTimerCount()).toBe(1);
      jest.advanceTimersByTime(300);
      await head(p); // the newest idle socket, now idle since +300
      jest.advanceTimersByTime(200); // +500, first sweep: nothing idle for 1000 ms yet
      expect(p.stats().idle).toBe(2);
      jest.advanceTimersByTime(500); // +1000: the socket idle since +0 goes
      expect(p.stats().idle).toBe(1);
      jest.advanceTimersByTime(499); // +1499: the other one is idle for 1199 ms, but no sweep since +1000
      expect(p.stats().idle).toBe(1);
      expect(jest.getTimerCount()).toBe(1);
      jest.advanceTimersByTime(1); // +1500
      expect(p.stats().idle).toBe(0);
      expect(jest.getTimerCount()).toBe(0);
      await until(() => s.closedConnections === 2);
      expect(p.stats()).toStrictEqual({ open: 0, idle: 0 });
    });

    it('close() stops the sweep timer', async () => {
      const { p } = await make((_r, sock) => sock.write(OK));
      await head(p);
      expect(jest.getTimerCount()).toBe(1);
      p.close();
      expect(jest.getTimerCount()).toBe(0);
    });
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

  it('trims leading and trailing tabs and spaces around a value, keeps those inside it', () => {
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nX-A:\t \tv\t a\t \r\nX-B:\tb\t\r\nX-C: \t').answer.rawHeaders).toStrictEqual(['X-A', 'v\t a', 'X-B', 'b', 'X-C', '']);
  });

  it('keeps a tab inside a value and a reason phrase with spaces', () => {
    expect(parseResponseHead('HTTP/1.1 412 Precondition Failed\r\nX-A: a\tb').answer).toStrictEqual({ status: 412, statusMessage: 'Precondition Failed', rawHeaders: ['X-A', 'a\tb'] });
  });
});

describe('parseResponseHead framing headers (as node:http refuses them)', () => {
  it.each([
    ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked', 'both Transfer-Encoding and Content-Length'],
    ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6', 'invalid Content-Length'],
    ['a Content-Length that is not a number', 'HTTP/1.1 200 OK\r\nContent-Length: 5x', 'invalid Content-Length'],
    ['a Content-Length with a non-digit before its digits', 'HTTP/1.1 200 OK\r\nContent-Length: x5', 'invalid Content-Length'],
  ])('refuses %s', (_what, head, message) => {
    expect(() => parseResponseHead(head)).toThrow(expect.objectContaining({ code: 'HPE_INVALID_RESPONSE', message }));
  });

  it('accepts a Content-Length repeated with the same value, and Transfer-Encoding alone', () => {
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5').answer.rawHeaders).toStrictEqual(['Content-Length', '5', 'content-length', '5']);
    expect(parseResponseHead('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked').answer.status).toBe(200);
  });
});
