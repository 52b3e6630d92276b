/**
 * The streaming pass-through (src/http/registry/proxy.ts, `createPassThrough`) on both engines, driven directly
 * against a local node:http server standing in for Harbor: what Harbor receives, what the client receives, and
 * what happens when Harbor is unreachable, silent or cuts an answer short, or the client goes away (before Harbor
 * answered, mid-upload, mid-download). Each test was checked against the bug its name implies, planted in proxy.ts
 * by hand. The end-to-end tests (test/e2e/registry.*.test.ts) cover the same through real clients; these run in
 * the unit project, so mutation testing sees them.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { createKeepAliveAgent, createPassThrough, PROXY_ENGINES, type PassThroughOptions, type ProxyEngine } from '../../../src/http/registry/proxy';
import { createLogger } from '../../../src/observability/logger';

const PUBLIC = 'https://hub.example';

/** One request as the Harbor stand-in received it. */
interface Received {
  method: string;
  url: string;
  /** Header lines as sent, `name: value`, sorted (the engines send them in different orders). */
  headers: string[];
  /** The body, one character a byte (latin1). */
  body: string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Harbor's stand-in: records each request (body read in full) and hands it to the current handler. */
interface Harbor {
  port: number;
  received: Received[];
  /** TCP connections accepted so far. */
  connections: number;
  handler: Handler;
  close(): Promise<void>;
}

async function startHarbor(): Promise<Harbor> {
  const state: Harbor = {
    port: 0,
    received: [],
    connections: 0,
    handler: (_req, res) => res.end('ok'),
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    res.sendDate = false;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      state.received.push({ method: req.method ?? '', url: req.url ?? '', headers: headers.sort(), body: Buffer.concat(chunks).toString('latin1') });
      state.handler(req, res);
    });
  });
  server.on('connection', () => state.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as AddressInfo).port;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Front {
  url: string;
  /** JSON log lines, `time` dropped. */
  logs(): Record<string, unknown>[];
  /** onStart / onResponse (and `next`) calls in order. */
  events: string[];
  agent: http.Agent;
  close(): Promise<void>;
}

/** hubgate's `/v2/` front reduced to the pass-through, on a random loopback port. */
async function startFront(engine: ProxyEngine, harborUrl: string, opts: Partial<PassThroughOptions> = {}): Promise<Front> {
  const lines: string[] = [];
  const events: string[] = [];
  const agent = createKeepAliveAgent(harborUrl);
  const pt = createPassThrough({
    harborUrl,
    publicUrl: PUBLIC,
    upstreamHosts: ['harbor.internal:8443'],
    agent,
    logger: createLogger('info', (l) => lines.push(l)),
    idleTimeoutMs: 5000,
    events: {
      onStart: (req) => events.push(`start ${req.method} ${req.url}`),
      onResponse: (_req, _res, status, body) => events.push(`response ${status} ${String((body as http.IncomingMessage | undefined)?.headers['x-request-id'])}`),
    },
    engine,
    ...opts,
  });
  const server = http.createServer((req, res) => pt(req, res, (err) => events.push(`next ${String(err)}`)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    events,
    agent,
    logs: () =>
      lines.map((l) => {
        const { time: _time, ...rest } = JSON.parse(l) as Record<string, unknown>;
        return rest;
      }),
    close: () =>
      new Promise<void>((r) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

interface Answer {
  status: number;
  /** Header lines as the client received them, `Name: value`, Date dropped. */
  headers: string[];
  body: Buffer;
}

/** One exchange through the front on a connection of its own (the client sends `Connection: close`). */
function call(url: string, method: string, path: string, headers: http.OutgoingHttpHeaders = {}, body?: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const lines: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) if (res.rawHeaders[i].toLowerCase() !== 'date') lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
        resolve({ status: res.statusCode ?? 0, headers: lines, body: Buffer.concat(chunks) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A 401 from Harbor with every kind of header the pass-through treats specially. */
const CHALLENGE_BODY = '{"errors":[{"code":"UNAUTHORIZED","message":"unauthorized to access repository: alpha/app, action: pull"}]}';
const harborChallenge =
  (port: number): Handler =>
  (_req, res) => {
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Docker-Distribution-Api-Version', 'registry/2.0');
    res.setHeader('Www-Authenticate', 'Bearer realm="http://harbor.internal:8443/service/token",service="harbor-registry",scope="repository:alpha/app:pull"');
    res.setHeader('Location', `http://127.0.0.1:${port}/v2/alpha/app/blobs/uploads/abc?_state=x%3D`);
    res.setHeader('Set-Cookie', ['sid=0123456789abcdef; Path=/; HttpOnly', '_gorilla_csrf=xyz; Path=/']);
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('Keep-Alive', 'timeout=99');
    res.setHeader('Proxy-Connection', 'keep-alive');
    res.setHeader('Transfer-Encoding', 'chunked');
    res.setHeader('Trailer', 'X-Checksum');
    res.setHeader('Upgrade', 'h2c');
    res.setHeader('X-Request-Id', 'up-1');
    res.writeHead(401);
    res.end(CHALLENGE_BODY);
  };
/** Hop-by-hop header lines, whoever wrote them. */
const HOP_BY_HOP = /^(connection|keep-alive|proxy-connection|transfer-encoding|trailer|upgrade):/i;

const envelope = (code: string, message: string) => `${JSON.stringify({ errors: [{ code, message }] })}\n`;
const UNAVAILABLE = envelope('UPSTREAM_UNAVAILABLE', 'the registry backend is unavailable, try again later');
const TIMEOUT = envelope('UPSTREAM_TIMEOUT', 'the registry backend did not answer in time, try again later');
/** hubgate's own error answer as a client sees it (sendError: Express's JSON framing, on a connection the client closes). */
const errorHeaders = (body: string, etag: string) => ['Content-Type: application/json; charset=utf-8', `Content-Length: ${body.length}`, `ETag: ${etag}`, 'Connection: close'];

describe('createKeepAliveAgent', () => {
  it('keeps sockets alive, picks the agent by scheme and takes the limits given', () => {
    /** What the agent was made with (node:http keeps it; @types/node does not declare it). */
    const options = (a: http.Agent) => (a as http.Agent & { options: http.AgentOptions }).options;
    const plain = createKeepAliveAgent('http://harbor:8080');
    expect(plain).not.toBeInstanceOf(https.Agent);
    expect(plain).toBeInstanceOf(http.Agent);
    expect([plain.maxSockets, plain.maxFreeSockets, options(plain).timeout, options(plain).keepAlive, options(plain).scheduling]).toStrictEqual([1024, 256, 30_000, true, 'lifo']);
    const tls = createKeepAliveAgent('https://harbor', { maxSockets: 8, idleSocketMs: 1234 });
    expect(tls).toBeInstanceOf(https.Agent);
    expect([tls.maxSockets, options(tls).timeout]).toStrictEqual([8, 1234]);
  });
});


/** A download through the front that may go away after the first bytes; how it ended, as the client saw it. */
interface Download {
  status: number;
  /** The body arrived in full (`IncomingMessage.complete`). */
  complete: boolean;
  /** `code: message` of the error the response or request ended with, or 'none'. */
  error: string;
}
function download(url: string, path: string, leaveAfterFirstBytes = false): Promise<Download> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}${path}`, { agent: false }, (res) => {
      let error = 'none';
      const done = () => resolve({ status: res.statusCode ?? 0, complete: res.complete, error });
      res.on('data', () => {
        if (leaveAfterFirstBytes) req.destroy();
      });
      res.on('error', (e: NodeJS.ErrnoException) => (error = `${e.code}: ${e.message}`));
      res.on('close', done);
    });
    req.on('error', reject);
  });
}

/** Waits for `cond` (polled every 10 ms, 2 s at most): for state that settles a tick after the answer. */
const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
};

/** Writes `body` in 64 KiB pieces, waiting for drain: a layer as Harbor streams it. */
function stream(res: http.ServerResponse, body: Buffer): void {
  let at = 0;
  const more = (): void => {
    while (at < body.length) {
      const piece = body.subarray(at, at + 65536);
      at += piece.length;
      if (!res.write(piece)) {
        res.once('drain', more);
        return;
      }
    }
    res.end();
  };
  more();
}

describe.each(PROXY_ENGINES)('pass-through, %s engine', (engine) => {
  let harbor: Harbor;
  let front: Front;
  let harborUrl: string;

  beforeAll(async () => {
    harbor = await startHarbor();
    harborUrl = `http://127.0.0.1:${harbor.port}`;
  });
  afterAll(() => harbor.close());
  beforeEach(async () => {
    harbor.received.length = 0;
    harbor.connections = 0;
    harbor.handler = (_req, res) => {
      res.setHeader('X-Request-Id', 'up-1');
      res.end('ok');
    };
    front = await startFront(engine, harborUrl);
  });
  afterEach(() => front.close());

  describe('what Harbor receives', () => {
    it.each(['/harbor', '/harbor/', '/harbor//'])('method, path under the Harbor URL prefix (%s, trailing slashes dropped), query as sent, Harbor Host, keep-alive', async (prefix) => {
      const f = await startFront(engine, `${harborUrl}${prefix}`);
      try {
        const path = '/v2/alpha/app/tags/list?n=10&last=a%2Fb&_state=x%3D%3D';
        const r = await call(f.url, 'GET', path, { Authorization: 'Bearer tok', Accept: 'application/json' });
        expect([r.status, r.body.toString()]).toStrictEqual([200, 'ok']);
        // The client said `Connection: close` (agent: false) and its own Host: neither reaches Harbor.
        expect(harbor.received).toStrictEqual([
          {
            method: 'GET',
            url: `/harbor${path}`,
            headers: ['accept: application/json', 'authorization: Bearer tok', 'connection: keep-alive', `host: 127.0.0.1:${harbor.port}`],
            body: '',
          },
        ]);
        expect(f.events).toStrictEqual([`start GET ${path}`, 'response 200 up-1']);
      } finally {
        await f.close();
      }
    });

    it('a DELETE or OPTIONS without a body says Content-Length: 0; one with a body keeps its own', async () => {
      await call(front.url, 'DELETE', '/v2/alpha/app/manifests/sha256:abc');
      await call(front.url, 'OPTIONS', '/v2/');
      await call(front.url, 'DELETE', '/v2/alpha/app/blobs/uploads/u1', { 'Content-Length': '5' }, 'hello');
      expect(harbor.received.map((r) => [r.method, r.url, r.headers.filter((h) => /^(content-length|transfer-encoding):/.test(h)), r.body])).toStrictEqual([
        ['DELETE', '/v2/alpha/app/manifests/sha256:abc', ['content-length: 0'], ''],
        ['OPTIONS', '/v2/', ['content-length: 0'], ''],
        ['DELETE', '/v2/alpha/app/blobs/uploads/u1', ['content-length: 5'], 'hello'],
      ]);
    });

    it.each(['DELETE', 'OPTIONS'])('a %s with a chunked body is refused (400) and never reaches Harbor (smuggling on the fallback engine)', async (method) => {
      // What node-http-proxy made of it: `Content-Length: 0`, then these bytes — a second request to Harbor.
      const smuggled = 'GET /api/v2.0/users HTTP/1.1\r\nHost: harbor\r\n\r\n';
      const r = await call(front.url, method, '/v2/alpha/app/blobs/uploads/u1', { 'Transfer-Encoding': 'chunked' }, smuggled);
      expect([r.status, JSON.parse(r.body.toString())]).toStrictEqual([
        400,
        { errors: [{ code: 'BAD_REQUEST', message: `a registry ${method} request carries no body; this one was sent chunked` }] },
      ]);
      expect(harbor.received).toStrictEqual([]);
    });

    it('an upload body arrives intact, chunked or with its Content-Length', async () => {
      const chunked = crypto.randomBytes(1 << 20);
      const sized = crypto.randomBytes(300_000);
      harbor.handler = (_req, res) => {
        res.writeHead(202, { 'Content-Length': '0' });
        res.end();
      };
      const a = await call(front.url, 'PATCH', '/v2/alpha/app/blobs/uploads/u1?_state=s', { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' }, chunked);
      const b = await call(front.url, 'PUT', '/v2/alpha/app/blobs/uploads/u1?_state=s&digest=sha256:x', { 'Content-Length': String(sized.length) }, sized);
      expect([a.status, b.status]).toStrictEqual([202, 202]);
      expect(harbor.received.map((r) => [r.method, r.headers.filter((h) => /^(content-length|transfer-encoding):/.test(h)), r.body.length])).toStrictEqual([
        ['PATCH', ['transfer-encoding: chunked'], chunked.length],
        ['PUT', [`content-length: ${sized.length}`], sized.length],
      ]);
      expect(harbor.received[0].body).toBe(chunked.toString('latin1'));
      expect(harbor.received[1].body).toBe(sized.toString('latin1'));
    });
  });

  describe('what the client receives', () => {
    it("Harbor's session cookie stays behind; the challenge realm and Harbor's Location point at hubgate, other headers pass", async () => {
      harbor.handler = harborChallenge(harbor.port);
      const r = await call(front.url, 'GET', '/v2/alpha/app/manifests/v1');
      expect([r.status, r.body.toString()]).toStrictEqual([401, CHALLENGE_BODY]);
      expect(r.headers.filter((h) => !HOP_BY_HOP.test(h))).toStrictEqual([
        'content-type: application/json; charset=utf-8',
        'docker-distribution-api-version: registry/2.0',
        'www-authenticate: Bearer realm="https://hub.example/service/token",service="harbor-registry",scope="repository:alpha/app:pull"',
        'location: https://hub.example/v2/alpha/app/blobs/uploads/abc?_state=x%3D',
        'x-request-id: up-1',
      ]);
      expect(front.events).toStrictEqual(['start GET /v2/alpha/app/manifests/v1', 'response 401 up-1']);
    });

    it('a Location on another host (a storage redirect) stays as Harbor sent it; one on an extra upstream host is rewritten', async () => {
      let n = 0;
      harbor.handler = (_req, res) => {
        const to = n++ === 0 ? 'https://s3.example/bucket/docker/blobs/x?X-Amz-Signature=1' : 'http://harbor.internal:8443/v2/alpha/app/blobs/sha256:x';
        res.writeHead(307, { Location: to, 'Content-Length': '0' });
        res.end();
      };
      const a = await call(front.url, 'GET', '/v2/alpha/app/blobs/sha256:x');
      const b = await call(front.url, 'GET', '/v2/alpha/app/blobs/sha256:x');
      expect([a.status, a.headers.find((h) => h.startsWith('location:')), b.status, b.headers.find((h) => h.startsWith('location:'))]).toStrictEqual([
        307,
        'location: https://s3.example/bucket/docker/blobs/x?X-Amz-Signature=1',
        307,
        'location: https://hub.example/v2/alpha/app/blobs/sha256:x',
      ]);
    });

    it("Harbor's hop-by-hop headers stay on its side: the client gets the front's own framing only", async () => {
      harbor.handler = harborChallenge(harbor.port);
      const r = await call(front.url, 'GET', '/v2/alpha/app/manifests/v1');
      // Names compared in lower case: node-http-proxy sets Connection (from the client's own) in lower case.
      expect([r.status, r.headers.filter((h) => HOP_BY_HOP.test(h)).map((h) => h.toLowerCase())]).toStrictEqual([401, ['connection: close', 'transfer-encoding: chunked']]);
    });

    it("Harbor's own reason phrase reaches the client, not the status code's standard one", async () => {
      const phrase = (reason: string) =>
        new Promise<string>((resolve, reject) => {
          harbor.handler = (_req, res) => {
            res.writeHead(418, reason, { 'Content-Length': '0' });
            res.end();
          };
          http.get(`${front.url}/v2/alpha/app/tags/list`, { agent: false }, (res) => {
            res.resume();
            res.on('end', () => resolve(`${res.statusCode} ${res.statusMessage}`));
          }).on('error', reject);
        });
      expect(await phrase('Short And Stout')).toBe('418 Short And Stout');
    });

    it('a HEAD on the default set-up (the node engine takes its HEAD pool): the events with the status, no body', async () => {
      harbor.handler = (_req, res) => {
        res.writeHead(200, { 'Content-Length': '528', 'Docker-Content-Digest': 'sha256:abc', 'X-Request-Id': 'up-1' });
        res.end();
      };
      const r = await call(front.url, 'HEAD', '/v2/alpha/app/manifests/v1');
      // Names as Harbor spelled them on the HEAD pool, in lower case on node:http's client: compared in lower case.
      const lines = r.headers.filter((h) => /^(content-length|docker-content-digest):/i.test(h)).map((h) => h.toLowerCase());
      expect([r.status, lines, r.body.toString()]).toStrictEqual([
        200,
        ['content-length: 528', 'docker-content-digest: sha256:abc'],
        '',
      ]);
      // The HEAD pool hands no body stream to onResponse.
      expect(front.events).toStrictEqual(['start HEAD /v2/alpha/app/manifests/v1', `response 200 ${engine === 'node' ? 'undefined' : 'up-1'}`]);
    });

    it.each([
      ['Content-Length', true],
      ['chunked', false],
    ])('a streamed 4 MiB body arrives intact (%s)', async (_framing, sized) => {
      const blob = crypto.randomBytes(4 << 20);
      harbor.handler = (_req, res) => {
        res.setHeader('Docker-Content-Digest', 'sha256:feed');
        if (sized) res.setHeader('Content-Length', String(blob.length));
        res.writeHead(200);
        stream(res, blob);
      };
      const r = await call(front.url, 'GET', '/v2/alpha/app/blobs/sha256:feed');
      const framing = r.headers.filter((h) => /^(content-length|transfer-encoding|docker-content-digest):/i.test(h)).map((h) => h.toLowerCase());
      expect([r.status, framing, r.body.length]).toStrictEqual([
        200,
        ['docker-content-digest: sha256:feed', sized ? `content-length: ${blob.length}` : 'transfer-encoding: chunked'],
        blob.length,
      ]);
      expect(r.body.equals(blob)).toBe(true);
    });

    it("204, 304, HEAD and Content-Length: 0 answers end without a body, and Harbor's connection is kept for the next", async () => {
      // The node engine's HEAD pool is off here: this is the general path's HEAD (head-fast-path.test.ts has the pool's).
      const f = await startFront(engine, harborUrl, { headFastPath: false });
      harbor.handler = (req, res) => {
        if (req.method === 'HEAD') res.writeHead(200, { 'Content-Length': '528', 'Docker-Content-Digest': 'sha256:abc' });
        else if (req.method === 'DELETE') res.writeHead(202, { 'Content-Length': '0' });
        else if (req.method === 'PUT') res.writeHead(201, { 'Content-Length': '0', Location: `http://127.0.0.1:${harbor.port}/v2/alpha/app/blobs/sha256:abc` });
        else if (req.headers['if-none-match']) res.writeHead(304, { Etag: '"sha256:abc"' });
        else res.writeHead(204);
        res.end();
      };
      try {
        const answers: [number, string | undefined, string][] = [];
        for (const [method, path, headers] of [
          ['HEAD', '/v2/alpha/app/manifests/v1', {}],
          ['DELETE', '/v2/alpha/app/manifests/sha256:abc', {}],
          ['PUT', '/v2/alpha/app/blobs/uploads/u1?digest=sha256:abc', { 'Content-Length': '0' }],
          ['GET', '/v2/alpha/app/manifests/v1', { 'If-None-Match': '"sha256:abc"' }],
          ['GET', '/v2/', {}],
        ] as const) {
          const r = await call(f.url, method, path, headers);
          answers.push([r.status, r.headers.find((h) => /^(content-length|location|etag):/i.test(h)), r.body.toString()]);
          // The exchange's socket is back in the agent's pool before the next one starts.
          await until(() => Object.values(f.agent.freeSockets).flat().length === 1);
        }
        expect(answers).toStrictEqual([
          [200, 'content-length: 528', ''],
          [202, 'content-length: 0', ''],
          [201, 'content-length: 0', ''],
          [304, 'etag: "sha256:abc"', ''],
          [204, undefined, ''],
        ]);
        expect(harbor.connections).toBe(1);
      } finally {
        await f.close();
      }
    });
  });

  describe('failures', () => {
    it('Harbor unreachable: 502 UPSTREAM_UNAVAILABLE and one warn line with the error code', async () => {
      const f = await startFront(engine, `http://127.0.0.1:${await closedPort()}`);
      try {
        const r = await call(f.url, 'GET', '/v2/alpha/app/manifests/v1');
        expect([r.status, r.headers, r.body.toString()]).toStrictEqual([502, errorHeaders(UNAVAILABLE, 'W/"6e-woh8SDfEOT2+LLmXnx6bUTkTL1E"'), UNAVAILABLE]);
        expect(f.logs()).toStrictEqual([{ level: 'warn', msg: 'registry backend unreachable', error_code: 'ECONNREFUSED' }]);
        expect(f.events).toStrictEqual(['start GET /v2/alpha/app/manifests/v1']);
      } finally {
        await f.close();
      }
    });

    it("Harbor unreachable during an upload: the client's body is drained, so its kept-alive connection carries the next request", async () => {
      const f = await startFront(engine, `http://127.0.0.1:${await closedPort()}`);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const send = (method: string, body?: Buffer) =>
        new Promise<number>((resolve, reject) => {
          const req = http.request(`${f.url}/v2/alpha/app/blobs/uploads/u1?_state=s`, { method, agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end(body);
        });
      try {
        expect(await send('PUT', Buffer.alloc(4 << 20, 1))).toBe(502);
        expect(await send('GET')).toBe(502);
        expect(f.logs().map((l) => l.msg)).toStrictEqual(['registry backend unreachable', 'registry backend unreachable']);
      } finally {
        agent.destroy();
        await f.close();
      }
    }, 5000);

    it('Harbor silent past the idle timeout before answering: 504 UPSTREAM_TIMEOUT and one warn line with the timeout', async () => {
      const f = await startFront(engine, harborUrl, { idleTimeoutMs: 200 });
      harbor.handler = () => undefined;
      try {
        const r = await call(f.url, 'PUT', '/v2/alpha/app/manifests/v1', { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, '{"schemaVersion":2}');
        expect([r.status, r.headers, r.body.toString()]).toStrictEqual([504, errorHeaders(TIMEOUT, 'W/"72-EIn3TF+3/YsZ6pXinfLpJQUBvpg"'), TIMEOUT]);
        expect(f.logs()).toStrictEqual([{ level: 'warn', msg: 'registry backend timed out', error_code: 'ETIMEDOUT', idle_timeout_ms: 200 }]);
        expect(f.events).toStrictEqual(['start PUT /v2/alpha/app/manifests/v1']);
        expect(harbor.received.map((x) => x.body)).toStrictEqual(['{"schemaVersion":2}']);
      } finally {
        await f.close();
      }
    });

    it('Harbor cutting the connection mid-body: the client connection is cut, not ended as if complete, and one warn line', async () => {
      harbor.handler = (req, res) => {
        res.writeHead(200, { 'Docker-Content-Digest': 'sha256:feed', 'X-Request-Id': 'up-1' });
        res.write(Buffer.alloc(65536, 1), () => req.socket.destroy());
      };
      const d = await download(front.url, '/v2/alpha/app/blobs/sha256:feed');
      expect(d).toStrictEqual({ status: 200, complete: false, error: 'ECONNRESET: aborted' });
      expect(front.logs()).toStrictEqual([{ level: 'warn', msg: 'registry pass-through failed mid-response', error_code: 'ECONNRESET' }]);
      expect(front.events).toStrictEqual(['start GET /v2/alpha/app/blobs/sha256:feed', 'response 200 up-1']);
    }, 5000);

    it('Harbor stalling mid-body past the idle timeout: the client connection is cut and one warn line', async () => {
      const f = await startFront(engine, harborUrl, { idleTimeoutMs: 200 });
      harbor.handler = (_req, res) => {
        res.writeHead(200, { 'Content-Length': String(1 << 20) });
        res.write(Buffer.alloc(65536, 1));
      };
      try {
        const d = await download(f.url, '/v2/alpha/app/blobs/sha256:feed');
        expect(d).toStrictEqual({ status: 200, complete: false, error: 'ECONNRESET: aborted' });
        expect(f.logs()).toStrictEqual([{ level: 'warn', msg: 'registry pass-through failed mid-response', error_code: 'ETIMEDOUT' }]);
      } finally {
        await f.close();
      }
    }, 5000);

    it.each([
      ['before Harbor answered', false],
      ['mid-upload', true],
    ])("a client that goes away %s: Harbor's socket for that exchange is closed", async (_when, uploading) => {
      let closed!: Promise<void>;
      let arrived!: () => void;
      const atHarbor = new Promise<void>((r) => (arrived = r));
      // Harbor's stand-in reads bodies to their end: here it takes the request head and never answers.
      const server = http.createServer();
      server.on('request', (req: http.IncomingMessage) => {
        closed = new Promise((r) => req.socket.once('close', () => r()));
        req.once('data', () => arrived());
        if (!uploading) arrived();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const f = await startFront(engine, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      try {
        const req = http.request(`${f.url}/v2/alpha/app/blobs/uploads/u1?_state=s`, { method: uploading ? 'PATCH' : 'GET', agent: false });
        const gone = new Promise<string>((r) => req.on('error', (e: NodeJS.ErrnoException) => r(`${e.code}: ${e.message}`)));
        if (uploading) req.write(Buffer.alloc(65536, 1));
        else req.end();
        await atHarbor;
        req.destroy();
        expect(await gone).toBe('ECONNRESET: socket hang up');
        await closed;
        // The front's side of Harbor's socket is closed too (the agent lets it go on its 'close', as the request's
        // error handler runs): nothing is logged for a client that left.
        await until(() => Object.keys(f.agent.sockets).length === 0);
        expect(f.logs()).toStrictEqual([]);
      } finally {
        await f.close();
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      }
    }, 5000);

    it("a client that goes away mid-download: Harbor's socket for that exchange is closed", async () => {
      let closed!: Promise<void>;
      harbor.handler = (req, res) => {
        closed = new Promise((r) => req.socket.once('close', () => r()));
        res.writeHead(200, { 'Content-Length': String(4 << 20) });
        res.write(Buffer.alloc(65536, 1));
      };
      const d = await download(front.url, '/v2/alpha/app/blobs/sha256:feed', true);
      expect(d).toStrictEqual({ status: 200, complete: false, error: 'ECONNRESET: aborted' });
      await closed;
      expect(front.logs()).toStrictEqual([]);
    }, 5000);
  });
});

/**
 * Each test here builds the fronts and Harbor stand-ins it needs inside its own body (mutation testing credits a
 * test only with the code its body runs, not with what a beforeAll/beforeEach built).
 */
describe('pass-through set-up and edge cases', () => {
  /** An agent of the given scheme that records where node:http asked it to connect and connects to `port` instead. */
  const redirectingAgent = (tls: boolean, port: number, seen: string[]): http.Agent => {
    const Base = tls ? https.Agent : http.Agent;
    const agent = new Base({ keepAlive: true });
    (agent as unknown as { createConnection: (o: { host: string; port: number }) => net.Socket }).createConnection = (o) => {
      seen.push(`${o.host} ${o.port}`);
      return net.connect(port, '127.0.0.1');
    };
    return agent;
  };

  it("a Harbor URL without a port is reached on its scheme's port, an IPv6 literal without its brackets, Host as in the URL", async () => {
    const harbor = await startHarbor();
    const seen: string[] = [];
    try {
      for (const [harborUrl, tls] of [
        ['http://harbor.test', false],
        ['https://harbor.test', true],
        ['http://[::1]:8080', false],
      ] as const) {
        const f = await startFront('node', harborUrl, { agent: redirectingAgent(tls, harbor.port, seen) });
        try {
          const r = await call(f.url, 'GET', '/v2/');
          expect([r.status, r.body.toString()]).toStrictEqual([200, 'ok']);
        } finally {
          await f.close();
        }
      }
      expect(seen).toStrictEqual(['harbor.test 80', 'harbor.test 443', '::1 8080']);
      expect(harbor.received.map((r) => r.headers.find((h) => h.startsWith('host:')))).toStrictEqual(['host: harbor.test', 'host: harbor.test', 'host: [::1]:8080']);
    } finally {
      await harbor.close();
    }
  });

  it('an https Harbor URL is spoken to over TLS only, HEADs included: a plain HTTP listener there gets no request (502)', async () => {
    const harbor = await startHarbor();
    const f = await startFront('node', `https://127.0.0.1:${harbor.port}`);
    try {
      const get = await call(f.url, 'GET', '/v2/');
      const head = await call(f.url, 'HEAD', '/v2/alpha/app/manifests/v1');
      expect([get.status, get.body.toString(), head.status]).toStrictEqual([502, UNAVAILABLE, 502]);
      expect(f.logs()).toStrictEqual([
        { level: 'warn', msg: 'registry backend unreachable', error_code: 'EPROTO' },
        { level: 'warn', msg: 'registry backend unreachable', error_code: 'EPROTO' },
      ]);
      expect(harbor.received).toStrictEqual([]);
    } finally {
      await f.close();
      await harbor.close();
    }
  });

  it.each([
    ['Content-Length', { 'Content-Length': '5' }],
    ['chunked', { 'Transfer-Encoding': 'chunked' }],
  ])('a HEAD that carries a body (%s) takes the general path: Harbor gets the body', async (_framing, headers) => {
    const harbor = await startHarbor();
    const f = await startFront('node', `http://127.0.0.1:${harbor.port}`, { idleTimeoutMs: 1000 });
    try {
      const r = await call(f.url, 'HEAD', '/v2/alpha/app/manifests/v1', headers, 'hello');
      expect(r.status).toBe(200);
      expect(harbor.received.map((x) => [x.method, x.body])).toStrictEqual([['HEAD', 'hello']]);
    } finally {
      await f.close();
      await harbor.close();
    }
  }, 5000);

  it.each(PROXY_ENGINES)('without event hooks the %s engine passes the exchange through', async (engine) => {
    const harbor = await startHarbor();
    const f = await startFront(engine, `http://127.0.0.1:${harbor.port}`, { events: undefined });
    try {
      const r = await call(f.url, 'GET', '/v2/');
      expect([r.status, r.body.toString(), f.events]).toStrictEqual([200, 'ok', []]);
    } finally {
      await f.close();
      await harbor.close();
    }
  }, 5000);

  /** Harbor's stand-in that answers 401 as soon as a request head arrives, then reads the body on. */
  async function earlyHarbor(): Promise<{ url: string; body: Promise<number>; socket: Promise<net.Socket>; close(): Promise<void> }> {
    let body!: (n: number) => void;
    let socket!: (s: net.Socket) => void;
    const server = http.createServer((req, res) => {
      socket(req.socket);
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => body(n));
      req.on('close', () => body(n));
      res.writeHead(401, { 'Content-Length': '6' });
      res.end('denied');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      body: new Promise((r) => (body = r)),
      socket: new Promise((r) => (socket = r)),
      close: () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    };
  }

  /** Starts a 128 KiB PATCH, sends its first half and resolves with the answer (status, body) once it is complete. */
  function halfUpload(url: string, agent: http.Agent): { req: http.ClientRequest; answer: Promise<[number, string]> } {
    // On a kept-alive connection: a client that said `Connection: close` stops sending once it has its answer.
    const req = http.request(`${url}/v2/alpha/app/blobs/uploads/u1?_state=s`, { method: 'PATCH', agent, headers: { 'Content-Length': String(2 * 65536) } });
    const answer = new Promise<[number, string]>((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve([res.statusCode ?? 0, text]));
      });
      req.on('error', reject);
    });
    req.write(Buffer.alloc(65536, 1));
    return { req, answer };
  }

  it.each(PROXY_ENGINES)("Harbor answering an upload before its end (%s engine): the client's answer arrives in full and the rest of the body still reaches Harbor", async (engine) => {
    const harbor = await earlyHarbor();
    const f = await startFront(engine, harbor.url);
    const agent = new http.Agent({ keepAlive: true });
    try {
      const { req, answer } = halfUpload(f.url, agent);
      expect(await answer).toStrictEqual([401, 'denied']);
      // The client's response is finished, not gone: the exchange with Harbor is not cut.
      req.end(Buffer.alloc(65536, 2));
      expect(await harbor.body).toBe(2 * 65536);
      expect(f.logs()).toStrictEqual([]);
    } finally {
      agent.destroy();
      await f.close();
      await harbor.close();
    }
  }, 5000);

  it.each(PROXY_ENGINES)('Harbor resetting its connection after a complete early answer (%s engine): nothing is logged, the answer stands', async (engine) => {
    const harbor = await earlyHarbor();
    const f = await startFront(engine, harbor.url);
    const agent = new http.Agent({ keepAlive: true });
    try {
      const { req, answer } = halfUpload(f.url, agent);
      expect(await answer).toStrictEqual([401, 'denied']);
      (await harbor.socket).resetAndDestroy();
      await until(() => Object.keys(f.agent.sockets).length === 0);
      expect(f.logs()).toStrictEqual([]);
      req.destroy();
    } finally {
      agent.destroy();
      await f.close();
      await harbor.close();
    }
  }, 5000);
});
