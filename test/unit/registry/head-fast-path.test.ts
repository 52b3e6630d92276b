/**
 * The node engine's HEAD fast path (proxy.ts `headFast` on head-pool.ts) against the general node:http path: a
 * client must not be able to tell them apart — same status, same headers (rewritten realm and Location, Harbor's
 * cookie and hop-by-hop headers dropped, repeated headers kept, Content-Length of the manifest kept), no body —
 * and a broken or stalled Harbor gets the same 502/504 envelope.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createKeepAliveAgent, createPassThrough, type PassThroughOptions } from '../../../src/http/registry/proxy';
import { createLogger } from '../../../src/observability/logger';

const HARBOR_HEAD = (port: number) =>
  [
    'HTTP/1.1 401 Unauthorized',
    'Content-Type: application/json; charset=utf-8',
    'Content-Length: 157',
    'Docker-Distribution-Api-Version: registry/2.0',
    `Www-Authenticate: Bearer realm="http://harbor.internal:${port}/service/token",service="harbor-registry",scope="repository:alpha/app:pull"`,
    'Www-Authenticate: Basic realm="harbor"',
    `Location: http://127.0.0.1:${port}/v2/alpha/app/blobs/uploads/abc?_state=x`,
    'Set-Cookie: sid=0123456789abcdef; Path=/; HttpOnly',
    'Link: </v2/a>; rel="next"',
    'Link: </v2/b>; rel="last"',
    'Keep-Alive: timeout=5',
    'Connection: keep-alive',
    'X-Request-Id: up-1',
  ].join('\r\n') + '\r\n\r\n';

describe('HEAD fast path', () => {
  let upstream: net.Server;
  let port: number;
  let mode: 'answer' | 'garbage' | 'stall' | 'close' | 'smuggle' | 'reason' = 'answer';
  const received: string[] = [];
  /** One promise per connection Harbor's stand-in accepted, settled when it closes. */
  const closes: Promise<void>[] = [];
  /** Every connection Harbor's stand-in accepted. */
  const sockets = new Set<net.Socket>();
  /** Called after each request head Harbor's stand-in receives. */
  let onHead = (): void => undefined;

  beforeAll(async () => {
    upstream = net.createServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => undefined);
      closes.push(new Promise((r) => sock.once('close', () => r())));
      let buf = '';
      sock.on('data', (c) => {
        buf += c.toString('latin1');
        for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
          received.push(buf.slice(0, end + 4));
          buf = buf.slice(end + 4);
          onHead();
          if (mode === 'answer') sock.write(HARBOR_HEAD(port));
          else if (mode === 'garbage') sock.write('SPDY/3 200 OK\r\n\r\n');
          else if (mode === 'close') sock.destroy();
          else if (mode === 'reason') sock.write('HTTP/1.1 200 O\x01K\r\nContent-Length: 5\r\nX-Request-Id: up-1\r\n\r\n');
          else if (mode === 'smuggle') sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n');
        }
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    port = (upstream.address() as AddressInfo).port;
  });
  // The fronts' keep-alive agents would hold their sockets for their idle time (30 s): closed here.
  afterAll(
    () =>
      new Promise<void>((r) => {
        for (const sock of sockets) sock.destroy();
        upstream.close(() => r());
      }),
  );

  /**
   * The pass-through on a random loopback port. `extra`: further options, and `prepare`, run on each request
   * before it (a middleware that set a header); a throw from the pass-through is answered 500 with its code.
   */
  async function front(
    headFastPath: boolean,
    idleTimeoutMs = 5000,
    extra: Partial<PassThroughOptions> & { prepare?: (req: http.IncomingMessage) => void } = {},
  ): Promise<{ url: string; close: () => Promise<void>; logs: string[] }> {
    const harborUrl = `http://127.0.0.1:${port}`;
    const logs: string[] = [];
    const { prepare, ...options } = extra;
    const pt = createPassThrough({
      harborUrl,
      publicUrl: 'https://hub.example',
      upstreamHosts: [`harbor.internal:${port}`],
      agent: createKeepAliveAgent(harborUrl),
      logger: createLogger('info', (l) => logs.push(l)),
      headFastPath,
      idleTimeoutMs,
      ...options,
    });
    const server = http.createServer((req, res) => {
      res.setHeader('X-Front', '1');
      prepare?.(req);
      try {
        pt(req, res, () => undefined);
      } catch (e) {
        res.writeHead(500).end((e as NodeJS.ErrnoException).code);
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      logs,
      close: () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    };
  }

  /** The raw answer as a client sees it: status line and header lines (Date dropped), and any body bytes. */
  function rawHead(url: string, path: string, headers: Record<string, string> = {}): Promise<{ lines: string[]; body: string }> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      const sock = net.connect(Number(u.port), u.hostname);
      let buf = '';
      sock.on('data', (c) => {
        buf += c.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        if (end >= 0) {
          setTimeout(() => {
            sock.destroy();
            const lines = buf
              .slice(0, end)
              .split('\r\n')
              .filter((l) => !/^date:/i.test(l));
            resolve({ lines, body: buf.slice(end + 4) });
          }, 50);
        }
      });
      sock.on('error', reject);
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      sock.write(`HEAD ${path} HTTP/1.1\r\nHost: hub.example\r\nAuthorization: Bearer tok\r\n${extra}\r\n`);
    });
  }

  afterEach(() => {
    mode = 'answer';
    received.length = 0;
    onHead = () => undefined;
  });

  it('answers like the node:http path (header names as Harbor spelled them, repeated headers as separate lines)', async () => {
    const fast = await front(true);
    const slow = await front(false);
    try {
      const a = await rawHead(fast.url, '/v2/alpha/app/manifests/v1?x=1');
      const b = await rawHead(slow.url, '/v2/alpha/app/manifests/v1?x=1');
      // node:http's client joins repeated headers into one line (", "); the fast path keeps Harbor's lines.
      const norm = (lines: string[]) => {
        const merged = new Map<string, string>();
        for (const l of lines.slice(1)) {
          const i = l.indexOf(': ');
          const name = l.slice(0, i).toLowerCase();
          merged.set(name, merged.has(name) ? `${merged.get(name)}, ${l.slice(i + 2)}` : l.slice(i + 2));
        }
        return [lines[0], ...merged];
      };
      expect(norm(a.lines)).toStrictEqual(norm(b.lines));
      expect(a.body).toBe('');
      expect(a.lines).toStrictEqual([
        'HTTP/1.1 401 Unauthorized',
        'X-Front: 1',
        'Content-Type: application/json; charset=utf-8',
        'Content-Length: 157',
        'Docker-Distribution-Api-Version: registry/2.0',
        'Www-Authenticate: Bearer realm="https://hub.example/service/token",service="harbor-registry",scope="repository:alpha/app:pull"',
        'Www-Authenticate: Basic realm="harbor"',
        'Location: https://hub.example/v2/alpha/app/blobs/uploads/abc?_state=x',
        'Link: </v2/a>; rel="next"',
        'Link: </v2/b>; rel="last"',
        'X-Request-Id: up-1',
        'Connection: keep-alive',
        'Keep-Alive: timeout=5',
      ]);
    } finally {
      await fast.close();
      await slow.close();
    }
  });

  it('sends Harbor the request head node:http would: the Host of Harbor, client headers, keep-alive', async () => {
    const fast = await front(true);
    try {
      await rawHead(fast.url, '/v2/alpha/app/manifests/sha256:abc', { Accept: 'application/vnd.oci.image.manifest.v1+json', Connection: 'close' });
      expect(received[0]).toBe(
        `HEAD /v2/alpha/app/manifests/sha256:abc HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nauthorization: Bearer tok\r\naccept: application/vnd.oci.image.manifest.v1+json\r\nConnection: keep-alive\r\n\r\n`,
      );
    } finally {
      await fast.close();
    }
  });

  // The error codes: the HEAD pool's parser and node:http's name a refused answer differently.
  it.each([
    ['a malformed answer', 'garbage' as const, '502 Bad Gateway', 'UPSTREAM_UNAVAILABLE', ['HPE_INVALID_RESPONSE', 'HPE_INVALID_CONSTANT']],
    ['an answer with both Content-Length and Transfer-Encoding', 'smuggle' as const, '502 Bad Gateway', 'UPSTREAM_UNAVAILABLE', ['HPE_INVALID_RESPONSE', 'HPE_INVALID_TRANSFER_ENCODING']],
    ['a connection closed without an answer', 'close' as const, '502 Bad Gateway', 'UPSTREAM_UNAVAILABLE', ['ECONNRESET', 'ECONNRESET']],
    ['no answer within the idle timeout', 'stall' as const, '504 Gateway Timeout', 'UPSTREAM_TIMEOUT', ['ETIMEDOUT', 'ETIMEDOUT']],
  ])('%s: %s with the error code in the logs, on both paths', async (_what, m, statusLine, code, errorCodes) => {
    mode = m;
    for (const [i, fastPath] of [true, false].entries()) {
      const f = await front(fastPath, 300);
      try {
        const r = await rawHead(f.url, '/v2/alpha/app/manifests/v1');
        expect(r.lines[0]).toBe(`HTTP/1.1 ${statusLine}`);
        expect(r.body).toBe('');
        const logs = f.logs.map((l) => {
          const { time: _time, ...rest } = JSON.parse(l) as Record<string, unknown>;
          return rest;
        });
        expect(logs).toStrictEqual([
          code === 'UPSTREAM_TIMEOUT'
            ? { level: 'warn', msg: 'registry backend timed out', error_code: errorCodes[i], idle_timeout_ms: 300 }
            : { level: 'warn', msg: 'registry backend unreachable', error_code: errorCodes[i] },
        ]);
      } finally {
        await f.close();
      }
    }
  });

  it('a header a middleware set to undefined is left out; one with CR or LF never goes raw onto the socket (node:http refuses it)', async () => {
    const dropped = await front(true, 5000, { prepare: (req) => (req.headers['x-dropped'] = undefined) });
    const injected = await front(true, 5000, { prepare: (req) => (req.headers['x-note'] = 'a\r\nX-Smuggled: 1') });
    try {
      const a = await rawHead(dropped.url, '/v2/alpha/app/manifests/v1');
      const b = await rawHead(injected.url, '/v2/alpha/app/manifests/v1');
      expect([a.lines[0], b.lines[0]]).toStrictEqual(['HTTP/1.1 401 Unauthorized', 'HTTP/1.1 500 Internal Server Error']);
      expect(received).toStrictEqual([`HEAD /v2/alpha/app/manifests/v1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nauthorization: Bearer tok\r\nConnection: keep-alive\r\n\r\n`]);
    } finally {
      await dropped.close();
      await injected.close();
    }
  }, 5000);

  it("a HEAD past the pool's sockets (the agent's maxSockets) takes node:http's path", async () => {
    mode = 'stall';
    const f = await front(true, 5000, { agent: createKeepAliveAgent(`http://127.0.0.1:${port}`, { maxSockets: 1 }) });
    try {
      const arrived = new Promise<void>((r) => (onHead = r));
      void rawHead(f.url, '/v2/alpha/app/manifests/v1');
      await arrived;
      mode = 'answer';
      const r = await rawHead(f.url, '/v2/alpha/app/manifests/v2');
      expect(r.lines[0]).toBe('HTTP/1.1 401 Unauthorized');
      expect(received).toStrictEqual([
        `HEAD /v2/alpha/app/manifests/v1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nauthorization: Bearer tok\r\nConnection: keep-alive\r\n\r\n`,
        // node:http's request head: its own spelling and order.
        `HEAD /v2/alpha/app/manifests/v2 HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: Bearer tok\r\nconnection: keep-alive\r\n\r\n`,
      ]);
    } finally {
      await f.close();
    }
  }, 5000);

  it("a client that goes away before Harbor answered a HEAD: Harbor's socket for it is closed, nothing logged", async () => {
    mode = 'stall';
    // An idle timeout far past the test's own: only the client's leaving can close Harbor's socket in time.
    const f = await front(true, 60_000);
    try {
      const arrived = new Promise<void>((r) => (onHead = r));
      const client = net.connect(Number(new URL(f.url).port), '127.0.0.1');
      client.on('error', () => undefined);
      client.write('HEAD /v2/alpha/app/manifests/v1 HTTP/1.1\r\nHost: hub.example\r\n\r\n');
      await arrived;
      const harborSide = closes[closes.length - 1];
      client.destroy();
      await harborSide;
      expect(f.logs).toStrictEqual([]);
    } finally {
      await f.close();
    }
  }, 5000);

  it('an idle kept-alive HEAD socket is closed after idleSocketMs', async () => {
    const f = await front(true, 5000, { idleSocketMs: 40 });
    try {
      const r = await rawHead(f.url, '/v2/alpha/app/manifests/v1');
      expect(r.lines[0]).toBe('HTTP/1.1 401 Unauthorized');
      await closes[closes.length - 1];
    } finally {
      await f.close();
    }
  }, 5000);

  it('the fallback engine (http-proxy-middleware) on a reason phrase node:http refuses: the answer goes on with the status code\'s own phrase, no crash', async () => {
    mode = 'reason';
    const f = await front(false, 5000, { engine: 'http-proxy-middleware' } as Partial<PassThroughOptions>);
    try {
      const r = await rawHead(f.url, '/v2/alpha/app/manifests/v1');
      expect([r.lines[0], r.body]).toStrictEqual(['HTTP/1.1 200 OK', '']);
      expect(f.logs).toEqual([]);
    } finally {
      await f.close();
    }
  }, 5000);

  it('a reason phrase node:http refuses to send (a control character): 502 UPSTREAM_UNAVAILABLE on both paths, not an exception out of a socket listener', async () => {
    mode = 'reason';
    for (const fastPath of [true, false]) {
      const f = await front(fastPath);
      try {
        const r = await rawHead(f.url, '/v2/alpha/app/manifests/v1');
        expect([r.lines[0], r.lines.find((l) => l.startsWith('Content-Length:')), r.body]).toStrictEqual(['HTTP/1.1 502 Bad Gateway', 'Content-Length: 110', '']);
        expect(f.logs.map((l) => JSON.parse(l) as Record<string, unknown>).map(({ msg, error_code }) => [msg, error_code])).toStrictEqual([['registry backend unreachable', 'ERR_INVALID_CHAR']]);
      } finally {
        await f.close();
      }
    }
  }, 5000);
});
