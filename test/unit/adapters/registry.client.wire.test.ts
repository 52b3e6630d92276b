/**
 * The registry client on the wire (adapters/registry/registry.client.ts), against a local HTTP server that answers
 * what each case needs: the headers of every request (an empty body is `Content-Length: 0`, never chunked), one
 * kept-alive connection for a push, a chunk-sized blob pushed whole, the digest the registry says it stored checked
 * again, error bodies bounded at 64 KiB, the blob stream closed whatever happens, and streamed uploads that fail,
 * are given up, or outgrow what the socket takes.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { createRegistryClient } from '../../../adapters/registry/registry.client';
import type { AppError } from '../../../src/domain/errors';
import { silentLogger } from '../../../src/observability/logger';
import { appError } from '../../support/app-refusal';

const content = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz'); // 36 bytes
const DIGEST = `sha256:${createHash('sha256').update(content).digest('hex')}`;
const OTHER = `sha256:${'b'.repeat(64)}`;

interface Seen {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  socket: Socket;
}
type Handler = (req: Seen, res: http.ServerResponse) => void;

/** The usual answers of a registry for a push; a test replaces the ones it needs. */
const registry: Record<string, Handler> = {
  POST: (_q, res) => {
    res.writeHead(202, { Location: '/v2/ws/app/blobs/uploads/s1?_state=a', 'Content-Length': '0' });
    res.end();
  },
  PATCH: (q, res) => {
    res.writeHead(202, { Location: '/v2/ws/app/blobs/uploads/s1?_state=b', Range: `0-${q.body.length - 1}`, 'Content-Length': '0' });
    res.end();
  },
  PUT: (_q, res) => {
    res.writeHead(201, { 'Docker-Content-Digest': DIGEST, 'Content-Length': '0' });
    res.end();
  },
  HEAD: (_q, res) => {
    res.writeHead(200, { 'Content-Length': '0' });
    res.end();
  },
  DELETE: (_q, res) => {
    res.writeHead(204);
    res.end();
  },
};

describe('registry client on the wire', () => {
  let server: http.Server;
  let base: string;
  let seen: Seen[];
  let handlers: Record<string, Handler>;
  /** When set, the server takes the request before its body has arrived (for streams it reads slowly or never). */
  let early: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (early) return early(req, res);
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const q: Seen = { method: req.method ?? '', path: (req.url ?? '').split('?')[0], headers: req.headers, body: Buffer.concat(parts), socket: req.socket };
        seen.push(q);
        (handlers[q.method] ?? registry.DELETE)(q, res);
      });
    });
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => {
    seen = [];
    handlers = { ...registry };
    early = undefined;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const client = (o: Partial<Parameters<typeof createRegistryClient>[0]> = {}) =>
    createRegistryClient({ baseUrl: base, username: 'admin', password: 'pw', timeoutMs: 2000, retries: 0, logger: silentLogger, ...o });
  /** A blob whose stream can be watched: `closed()` tells whether the client let go of it. */
  const watched = (bytes = content) => {
    let stream: Readable | undefined;
    return {
      push: { digest: DIGEST, size: bytes.length, open: () => (stream = Readable.from([bytes])) },
      closed: () => stream?.destroyed === true,
    };
  };

  it('an empty POST and the final PUT of a chunked push say Content-Length: 0 (never chunked); the bodies say what they are', async () => {
    const c = client({ chunkBytes: 10 });
    await c.pushBlob('ws/app', watched().push);
    expect(seen.map((q) => [q.method, q.headers['content-length'], q.headers['transfer-encoding'], q.headers['content-type']])).toEqual([
      ['POST', '0', undefined, undefined],
      ['PATCH', '10', undefined, 'application/octet-stream'],
      ['PATCH', '10', undefined, 'application/octet-stream'],
      ['PATCH', '10', undefined, 'application/octet-stream'],
      ['PATCH', '6', undefined, 'application/octet-stream'],
      ['PUT', '0', undefined, undefined],
    ]);
    seen = [];
    await client().pushBlob('ws/app', watched().push);
    expect(seen.map((q) => [q.method, q.headers['content-length'], q.headers['transfer-encoding'], q.headers['content-type']])).toEqual([
      ['POST', '0', undefined, undefined],
      ['PUT', '36', undefined, 'application/octet-stream'],
    ]);
    c.close();
  });

  it('a blob exactly one chunk long goes whole (no PATCH)', async () => {
    await client({ chunkBytes: content.length }).pushBlob('ws/app', watched().push);
    expect(seen.map((q) => q.method)).toEqual(['POST', 'PUT']);
  });

  it('keeps its connection alive: a push is one connection, not one per request', async () => {
    const c = client({ chunkBytes: 10 });
    await c.pushBlob('ws/app', watched().push);
    expect(new Set(seen.map((q) => q.socket)).size).toBe(1);
    c.close();
  });

  it('a base URL with a path or trailing slashes still reaches /v2/ at the root', async () => {
    await client({ baseUrl: `${base}/some/path//` }).blobExists('ws/app', DIGEST);
    expect(seen.map((q) => q.path)).toEqual([`/v2/ws/app/blobs/${DIGEST}`]);
  });

  it.each([
    ['POST', 201],
    ['PATCH', 200],
  ])('a %s answered %i instead of 202 fails the push (and lets go of the stream)', async (method, status) => {
    handlers[method] = (_q, res) => {
      res.writeHead(status, { 'Content-Length': '0' });
      res.end();
    };
    const blob = watched();
    const err = await appError(client({ chunkBytes: 10 }).pushBlob('ws/app', blob.push));
    expect(err).toMatchObject({ kind: 'upstream_unavailable', message: `registry failed blob upload ${DIGEST} (status ${status})` });
    expect(seen.map((q) => q.method)).not.toContain('PUT');
    if (method === 'PATCH') expect(blob.closed()).toBe(true);
  });

  it('a registry that says it stored the blob under another digest: refused, and the stream let go of', async () => {
    handlers.PUT = (_q, res) => {
      res.writeHead(201, { 'Docker-Content-Digest': OTHER, 'Content-Length': '0' });
      res.end();
    };
    const blob = watched();
    const err = await appError(client().pushBlob('ws/app', blob.push));
    expect(err).toMatchObject({ kind: 'upstream_unavailable', message: `registry stored blob upload ${DIGEST} under ${OTHER}` });
    expect(blob.closed()).toBe(true);
  });

  it('reads at most 64 KiB of an error body: a longer envelope is quoted as the raw text it starts with', async () => {
    const longMessage = 'x'.repeat(70 * 1024);
    handlers.PUT = (_q, res) => {
      const body = JSON.stringify({ errors: [{ code: 'DENIED', message: longMessage }] });
      res.writeHead(400, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    const err = await appError(client().putManifest('ws/app', 'v1', 'application/vnd.oci.image.manifest.v1+json', Buffer.from('{}')));
    expect(err.message).toBe(`registry refused manifest ws/app:v1: ${`{"errors":[{"code":"DENIED","message":"${longMessage}`.slice(0, 200)}`);
    // within the bound, the envelope is read
    handlers.PUT = (_q, res) => {
      const body = JSON.stringify({ errors: [{ code: 'DENIED', message: 'short' }] });
      res.writeHead(400, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    expect((await appError(client().putManifest('ws/app', 'v1', 'application/vnd.oci.image.manifest.v1+json', Buffer.from('{}')))).message).toBe(
      'registry refused manifest ws/app:v1: DENIED: short',
    );
  });

  it('a blob stream that fails midway ends the push with its error, and nothing is committed', async () => {
    const failing = new PassThrough();
    const push = { digest: DIGEST, size: content.length, open: () => failing };
    early = (req, res) => {
      if (req.method === 'POST') return registry.POST({} as Seen, res);
      seen.push({ method: req.method ?? '', path: '', headers: req.headers, body: Buffer.alloc(0), socket: req.socket });
      req.resume();
    };
    const pushing = appError(client().pushBlob('ws/app', push));
    failing.write(content.subarray(0, 10));
    await new Promise((r) => setTimeout(r, 50));
    failing.destroy(Object.assign(new Error('spool read failed'), { code: 'EIO' }));
    const err = await pushing;
    expect(err).toMatchObject({ kind: 'upstream_unavailable', message: `registry unreachable during blob upload ${DIGEST} (EIO)` });
    expect(seen.map((q) => q.method)).toEqual(['PUT']); // begun, never completed
  });

  it('the cause of a network failure is kept (for the log), and a timeout is its own kind', async () => {
    const refused = await appError(createRegistryClient({ baseUrl: 'http://127.0.0.1:1', username: 'a', password: 'b', timeoutMs: 1000, retries: 0, logger: silentLogger }).blobExists('ws/app', DIGEST));
    expect(refused).toMatchObject({ kind: 'upstream_unavailable', message: `registry unreachable during blob check ${DIGEST} (ECONNREFUSED)` });
    expect((refused as AppError & { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
    early = () => undefined; // never answers
    const slow = await appError(client({ timeoutMs: 200 }).blobExists('ws/app', DIGEST));
    expect(slow).toMatchObject({ kind: 'upstream_timeout', message: `registry timed out during blob check ${DIGEST}` });
    expect((slow as AppError & { cause?: { code?: string } }).cause?.code).toBe('ETIMEDOUT');
  });

  describe('streamed uploads (openBlobUpload)', () => {
    it('sends one PATCH with the request id and its headers, then the PUT with the digest', async () => {
      const w = await client().openBlobUpload('ws/app');
      await w.write(content.subarray(0, 20));
      await w.write(content.subarray(20));
      await w.commit(DIGEST);
      expect(seen.map((q) => [q.method, q.body.length, q.headers['content-type'], q.headers['user-agent'], q.headers.authorization])).toEqual([
        ['POST', 0, undefined, 'hubgate-uploads', `Basic ${Buffer.from('admin:pw').toString('base64')}`],
        ['PATCH', 36, 'application/octet-stream', 'hubgate-uploads', `Basic ${Buffer.from('admin:pw').toString('base64')}`],
        ['PUT', 0, undefined, 'hubgate-uploads', `Basic ${Buffer.from('admin:pw').toString('base64')}`],
      ]);
    });

    it('a PATCH the registry refuses is reported with its envelope', async () => {
      handlers.PATCH = (_q, res) => {
        const body = JSON.stringify({ errors: [{ code: 'BLOB_UPLOAD_INVALID', message: 'bad range' }] });
        res.writeHead(400, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      };
      const w = await client().openBlobUpload('ws/app');
      await w.write(content);
      const err = await appError(w.commit(DIGEST));
      expect(err).toMatchObject({ kind: 'invalid', message: 'registry refused streamed blob upload to ws/app: BLOB_UPLOAD_INVALID: bad range' });
    });

    it('given up: the PATCH is cut and the session DELETEd', async () => {
      early = (req, res) => {
        if (req.method === 'POST') return registry.POST({} as Seen, res);
        seen.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0], headers: req.headers, body: Buffer.alloc(0), socket: req.socket });
        if (req.method === 'DELETE') return registry.DELETE({} as Seen, res);
        req.resume(); // a PATCH: read, never answered
      };
      const w = await client().openBlobUpload('ws/app');
      await w.write(content);
      for (let i = 0; i < 50 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 20)); // the PATCH is on its way
      w.abort();
      for (let i = 0; i < 50 && !seen.some((q) => q.method === 'DELETE'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(seen.map((q) => `${q.method} ${q.path}`)).toEqual(['PATCH /v2/ws/app/blobs/uploads/s1', 'DELETE /v2/ws/app/blobs/uploads/s1']);
    });

    it('the connection lost midway: the next write fails with the network error', async () => {
      early = (req, res) => {
        if (req.method === 'POST') return registry.POST({} as Seen, res);
        req.once('data', () => req.socket.destroy());
      };
      const w = await client().openBlobUpload('ws/app');
      await w.write(content);
      let err: AppError | undefined;
      for (let i = 0; i < 50 && !err; i++) {
        await new Promise((r) => setTimeout(r, 20));
        err = await w.write(content).then(
          () => undefined,
          (e: AppError) => e,
        );
      }
      expect(err).toMatchObject({ kind: 'upstream_unavailable', message: expect.stringMatching(/^registry unreachable during streamed blob upload to ws\/app \((ECONNRESET|EPIPE)\)$/) });
    });

    it('keeps at most a few MiB in flight: a write past that waits until the registry reads', async () => {
      let reading: http.IncomingMessage | undefined;
      early = (req, res) => {
        if (req.method === 'POST') return registry.POST({} as Seen, res);
        reading = req;
        req.pause(); // a registry that does not read (yet)
        req.on('end', () => {
          res.writeHead(202, { Location: '/v2/ws/app/blobs/uploads/s1?_state=b', 'Content-Length': '0' });
          res.end();
        });
      };
      const w = await client({ timeoutMs: 10_000 }).openBlobUpload('ws/app');
      const piece = Buffer.alloc(1024 * 1024);
      let waited = false;
      for (let i = 0; i < 12 && !waited; i++) {
        const wrote = w.write(piece);
        const state = await Promise.race([wrote.then(() => 'done'), new Promise((r) => setTimeout(() => r('waiting'), 200))]);
        if (state === 'waiting') {
          waited = true;
          expect(i).toBeGreaterThanOrEqual(3); // 3 MiB are taken at once; the 4th (4 MiB and its framing) may wait
          reading?.resume();
          await wrote; // and it goes on once the registry reads
        }
      }
      expect(waited).toBe(true);
      w.abort();
    });
  });
});
