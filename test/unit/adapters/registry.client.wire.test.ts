/**
 * The registry client on the wire (adapters/registry/registry.client.ts), against a local HTTP server that answers
 * what each case needs: the headers of every request (an empty body is `Content-Length: 0`, never chunked), one
 * kept-alive connection for a push, a chunk-sized blob pushed whole, the digest the registry says it stored checked
 * again, error bodies bounded at 64 KiB, the blob stream closed whatever happens, answers cut off or never given,
 * sessions opened without a Location, mounts answered with a session, chunk boundaries, close(), and streamed
 * uploads that fail, are given up, or outgrow what the socket takes (exactly how much may wait, with a stand-in request).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { createRegistryClient } from '../../../adapters/registry/registry.client';
import type { AppError } from '../../../src/domain/errors';
import { runWithContext } from '../../../src/observability/context';
import { silentLogger } from '../../../src/observability/logger';
import { appError } from '../../support/app-refusal';

const content = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz'); // 36 bytes
const DIGEST = `sha256:${createHash('sha256').update(content).digest('hex')}`;
const OTHER = `sha256:${'b'.repeat(64)}`;

interface Seen {
  method: string;
  path: string;
  /** What follows the `?`, as sent ('' when nothing does). */
  query: string;
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
        const [path, query = ''] = (req.url ?? '').split('?');
        const q: Seen = { method: req.method ?? '', path, query, headers: req.headers, body: Buffer.concat(parts), socket: req.socket };
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

  it.each([
    ['with a code', Object.assign(new Error('spool read failed'), { code: 'EIO' }), 'EIO'],
    ['without a code', new Error('spool read failed'), 'network error'],
  ])('a blob stream that fails midway (%s) ends the push with its error, and nothing is committed', async (_case, failure, said) => {
    const failing = new PassThrough();
    const push = { digest: DIGEST, size: content.length, open: () => failing };
    early = (req, res) => {
      if (req.method === 'POST') return registry.POST({} as Seen, res);
      seen.push({ method: req.method ?? '', path: '', query: '', headers: req.headers, body: Buffer.alloc(0), socket: req.socket });
      req.resume();
    };
    const pushing = appError(client().pushBlob('ws/app', push));
    failing.write(content.subarray(0, 10));
    await new Promise((r) => setTimeout(r, 50));
    failing.destroy(failure);
    const err = await pushing;
    expect(err).toMatchObject({ kind: 'upstream_unavailable', message: `registry unreachable during blob upload ${DIGEST} (${said})` });
    expect(seen.map((q) => q.method)).toEqual(['PUT']); // begun, never completed
  });

  it('the cause of a network failure is kept (for the log), and a timeout is its own kind', async () => {
    const refused = await appError(createRegistryClient({ baseUrl: 'http://127.0.0.1:1', username: 'a', password: 'b', timeoutMs: 1000, retries: 0, logger: silentLogger }).blobExists('ws/app', DIGEST));
    expect(refused).toMatchObject({ kind: 'upstream_unavailable', message: `registry unreachable during blob check ${DIGEST} (ECONNREFUSED)` });
    expect((refused as AppError & { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
    early = () => undefined; // never answers
    const slow = await appError(client({ timeoutMs: 200 }).blobExists('ws/app', DIGEST));
    expect(slow).toMatchObject({ kind: 'upstream_timeout', message: `registry timed out during blob check ${DIGEST}` });
    expect((slow as AppError & { cause?: Error & { code?: string } }).cause).toMatchObject({ code: 'ETIMEDOUT', message: 'registry request timed out' });
  });

  const answer = (status: number, headers: http.OutgoingHttpHeaders = {}): Handler => (_q, res) => {
    res.writeHead(status, { 'Content-Length': '0', ...headers });
    res.end();
  };
  /** Sends the head and 10 bytes of a 100-byte body, then drops the connection. */
  const cutOff: Handler = (q, res) => {
    res.writeHead(400, { 'Content-Type': 'application/json', 'Content-Length': '100' });
    res.write('{"errors":', () => q.socket.destroy());
  };
  const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

  it('an error body is kept up to exactly 64 KiB: what arrives after is read, not kept', async () => {
    const head = '{"errors":[{"code":"DENIED","message":"';
    const first = head + 'a'.repeat(64 * 1024 - head.length);
    handlers.PUT = (_q, res) => {
      // no Content-Length: chunked, each write its own chunk, so the client reads 64 KiB, then 1 byte, then the rest
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.write(first);
      res.write('x');
      res.end('"}]}Z'); // kept in part, this would close the envelope
    };
    const err = await appError(client().putManifest('ws/app', 'v1', MANIFEST, Buffer.from('{}')));
    expect(err.message).toBe(`registry refused manifest ws/app:v1: ${first.slice(0, 200)}`);
  });

  it('an answer cut off in its body is a network failure, for an exchange and for the streamed PATCH', async () => {
    handlers.PUT = cutOff;
    expect(await appError(client().putManifest('ws/app', 'v1', MANIFEST, Buffer.from('{}')))).toMatchObject({
      kind: 'upstream_unavailable',
      message: 'registry unreachable during manifest ws/app:v1 (ECONNRESET)',
    });
    handlers.PATCH = cutOff;
    const w = await client().openBlobUpload('ws/app');
    await w.write(content);
    expect(await appError(w.commit(DIGEST))).toMatchObject({ kind: 'upstream_unavailable', message: 'registry unreachable during streamed blob upload to ws/app (ECONNRESET)' });
  });

  it('an upload session opened (202) without a Location: upstream_unavailable, nothing more is sent (not a PUT to the base URL)', async () => {
    handlers.POST = answer(202);
    const what = `blob upload ${DIGEST}`;
    expect(await appError(client().pushBlob('ws/app', watched().push))).toMatchObject({ kind: 'upstream_unavailable', message: `registry opened ${what} without a Location header` });
    await expect(client().openBlobUpload('ws/app')).rejects.toMatchObject({ kind: 'upstream_unavailable', message: 'registry opened streamed blob upload to ws/app without a Location header' });
    expect(seen.map((q) => q.method)).toEqual(['POST', 'POST']);
  });

  it('a PATCH answered (202) without a Location: the session goes on where it was, for a chunked push and a streamed upload', async () => {
    handlers.PATCH = answer(202);
    await client({ chunkBytes: 20 }).pushBlob('ws/app', watched().push);
    const w = await client().openBlobUpload('ws/app');
    await w.write(content);
    await w.commit(DIGEST);
    const at = `/v2/ws/app/blobs/uploads/s1?_state=a`;
    expect(seen.map((q) => `${q.method} ${q.path}?${q.query}`)).toEqual([
      'POST /v2/ws/app/blobs/uploads/?',
      `PATCH ${at}`,
      `PATCH ${at}`,
      `PUT ${at}&digest=${DIGEST.replace(':', '%3A')}`,
      'POST /v2/ws/app/blobs/uploads/?',
      `PATCH ${at}`,
      `PUT ${at}&digest=${DIGEST.replace(':', '%3A')}`,
    ]);
  });

  it('an upload session moved to another host (Location of another origin): refused before the admin credentials go there', async () => {
    // another server, which would see the credentials if the client followed the Location there
    const elsewhere: string[] = [];
    const other = http.createServer((req, res) => {
      elsewhere.push(`${req.method} ${req.headers.authorization ?? ''}`);
      res.writeHead(201).end();
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
    const origin = `http://localhost:${(other.address() as AddressInfo).port}`;
    const away = `${origin}/v2/ws/app/blobs/uploads/s1?_state=a`;
    const refused = (what: string) => ({ kind: 'upstream_unavailable', message: `registry moved ${what} to another host (${origin}); hubgate sends its credentials to ${base} only` });
    handlers.POST = answer(202, { Location: away });
    expect(await appError(client().pushBlob('ws/app', watched().push))).toMatchObject(refused(`blob upload ${DIGEST}`));
    await expect(client().openBlobUpload('ws/app')).rejects.toMatchObject(refused('streamed blob upload to ws/app'));
    // the same for the Location a PATCH answers with: chunked pushes and the streamed upload's commit
    handlers.POST = registry.POST;
    handlers.PATCH = answer(202, { Location: away });
    expect(await appError(client({ chunkBytes: 10 }).pushBlob('ws/app', watched().push))).toMatchObject(refused(`blob upload ${DIGEST}`));
    const w = await client().openBlobUpload('ws/app');
    await w.write(content);
    expect(await appError(w.commit(DIGEST))).toMatchObject(refused('streamed blob upload to ws/app'));
    // a mount answered with a session elsewhere: not mounted, and no DELETE sent there
    handlers.POST = answer(202, { Location: away });
    expect(await client().mountBlob('ws/app', DIGEST, 'ws/base')).toBe(false);
    expect(seen.map((q) => q.method)).toEqual(['POST', 'POST', 'POST', 'PATCH', 'POST', 'PATCH', 'POST']);
    await new Promise<void>((r) => other.close(() => r()));
    expect(elsewhere).toEqual([]);
  });

  it('a mount answered with an upload session (202): false, and that session is DELETEd; with no Location, nothing more is sent', async () => {
    handlers.POST = answer(202, { Location: '/v2/ws/app/blobs/uploads/m1?_state=x' });
    expect(await client().mountBlob('ws/app', DIGEST, 'ws/base')).toBe(false);
    expect(seen.map((q) => `${q.method} ${q.path}?${q.query}`)).toEqual([
      `POST /v2/ws/app/blobs/uploads/?mount=${DIGEST.replace(':', '%3A')}&from=ws%2Fbase`,
      'DELETE /v2/ws/app/blobs/uploads/m1?_state=x',
    ]);
    seen = [];
    handlers.POST = answer(202);
    expect(await client().mountBlob('ws/app', DIGEST, 'ws/base')).toBe(false);
    expect(seen.map((q) => q.method)).toEqual(['POST']);
  });

  it('a manifest stored without a Docker-Content-Digest answer: the digest returned is empty', async () => {
    handlers.PUT = answer(201);
    expect(await client().putManifest('ws/app', 'v1', MANIFEST, Buffer.from('{}'))).toBe('');
  });

  it('close() lets go of the kept-alive connection', async () => {
    const keepAlive = server.keepAliveTimeout;
    server.keepAliveTimeout = 0; // the server never closes an idle connection by itself
    try {
      const c = client();
      await c.blobExists('ws/app', DIGEST);
      const socket = seen[0].socket;
      expect(socket.destroyed).toBe(false);
      const closed = new Promise((r) => socket.once('close', r));
      c.close();
      await closed;
    } finally {
      server.keepAliveTimeout = keepAlive;
    }
  });

  it('a blob a whole number of chunks long: exactly those PATCHes, no empty one after them', async () => {
    await client({ chunkBytes: 12 }).pushBlob('ws/app', watched().push);
    expect(seen.map((q) => [q.method, q.headers['content-range'], q.body.length])).toEqual([
      ['POST', undefined, 0],
      ['PATCH', '0-11', 12],
      ['PATCH', '12-23', 12],
      ['PATCH', '24-35', 12],
      ['PUT', undefined, 0],
    ]);
  });

  it('a chunk is sent as soon as its last byte is read, not when the next read comes', async () => {
    const source = new PassThrough();
    const pushing = client({ chunkBytes: 12 }).pushBlob('ws/app', { digest: DIGEST, size: content.length, open: () => source });
    source.write(content.subarray(0, 12)); // and nothing more until the registry has that chunk
    for (let i = 0; i < 250 && !seen.some((q) => q.method === 'PATCH'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(seen.map((q) => [q.method, q.headers['content-range']])).toEqual([
      ['POST', undefined],
      ['PATCH', '0-11'],
    ]);
    source.end(content.subarray(12));
    await pushing;
    expect(seen.map((q) => q.headers['content-range'] ?? q.method)).toEqual(['POST', '0-11', '12-23', '24-35', 'PUT']);
  });

  describe('streamed uploads (openBlobUpload)', () => {
    it('sends one PATCH with the request id and its headers, then the PUT with the digest', async () => {
      await runWithContext({ requestId: 'req-7' }, async () => {
        const w = await client().openBlobUpload('ws/app');
        await w.write(content.subarray(0, 20));
        await w.write(content.subarray(20));
        await w.commit(DIGEST);
      });
      const basic = `Basic ${Buffer.from('admin:pw').toString('base64')}`;
      expect(seen.map((q) => [q.method, q.query, q.body.length, q.headers['content-type'], q.headers['user-agent'], q.headers.authorization, q.headers['x-request-id']])).toEqual([
        ['POST', '', 0, undefined, 'hubgate-uploads', basic, 'req-7'],
        ['PATCH', '_state=a', 36, 'application/octet-stream', 'hubgate-uploads', basic, 'req-7'],
        ['PUT', `_state=b&digest=${DIGEST.replace(':', '%3A')}`, 0, undefined, 'hubgate-uploads', basic, 'req-7'],
      ]);
    });

    it('a session the registry refuses to open: its refusal, and no PATCH', async () => {
      handlers.POST = (_q, res) => {
        const body = JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known' }] });
        res.writeHead(404, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      };
      expect(await appError(client().openBlobUpload('ws/app'))).toMatchObject({ kind: 'not_found', message: 'streamed blob upload to ws/app: NAME_UNKNOWN: repository name not known' });
      expect(seen.map((q) => q.method)).toEqual(['POST']);
    });

    it('a PATCH never answered: upstream_timeout once the connection is idle for timeoutMs, the cause saying so', async () => {
      early = (req, res) => {
        if (req.method === 'POST') return registry.POST({} as Seen, res);
        req.resume(); // read, never answered
      };
      const w = await client({ timeoutMs: 200 }).openBlobUpload('ws/app');
      await w.write(content);
      const err = await appError(w.commit(DIGEST));
      expect(err).toMatchObject({ kind: 'upstream_timeout', message: 'registry timed out during streamed blob upload to ws/app' });
      expect((err as AppError & { cause?: Error & { code?: string } }).cause).toMatchObject({ code: 'ETIMEDOUT', message: 'registry request timed out' });
    });

    describe('how much waits in the PATCH (its request replaced by a stand-in)', () => {
      /** The PATCH request as the client sees it: takes every piece, says "full" past 16 KiB as a request does, counts what waits. */
      class HeldRequest extends EventEmitter {
        pieces: number[] = [];
        writableLength = 0;
        write(chunk: Buffer): boolean {
          this.pieces.push(chunk.length);
          this.writableLength += chunk.length;
          return this.writableLength < 16 * 1024;
        }
        end(): void {}
        setTimeout(): this {
          return this;
        }
        destroy(): this {
          return this;
        }
      }
      let held: HeldRequest;
      beforeEach(() => {
        held = new HeldRequest();
        const real = http.request;
        jest.spyOn(http, 'request').mockImplementation(((url: URL, options: http.RequestOptions, cb?: (res: http.IncomingMessage) => void) =>
          options.method === 'PATCH' ? held : real(url, options, cb)) as typeof http.request);
      });
      afterEach(() => jest.restoreAllMocks());
      /** 'done', the error it failed with, or 'waiting' when it is neither once everything ready has run. */
      const settled = (p: Promise<unknown>) => Promise.race([p.then(() => 'done', (e: unknown) => e), new Promise((r) => setImmediate(() => r('waiting')))]);
      const MiB = 1024 * 1024;

      it('up to 4 MiB waiting, a write returns at once even past the 16 KiB mark; beyond, it waits for drain, then lets go of its listeners', async () => {
        const w = await client().openBlobUpload('ws/app');
        for (let i = 0; i < 4; i++) expect(await settled(w.write(Buffer.alloc(MiB)))).toBe('done');
        expect(held.writableLength).toBe(4 * MiB);
        const fifth = w.write(Buffer.alloc(1));
        expect(await settled(fifth)).toBe('waiting');
        expect([held.listenerCount('drain'), held.listenerCount('close')]).toEqual([1, 1]);
        held.writableLength = 0;
        held.emit('drain');
        expect(await settled(fifth)).toBe('done');
        expect([held.listenerCount('drain'), held.listenerCount('close')]).toEqual([0, 0]);
        expect(held.pieces).toEqual([MiB, MiB, MiB, MiB, 1]);
        w.abort();
      });

      it('the request failing while a write waits: that write fails with the network error, and later ones hand it nothing', async () => {
        const w = await client().openBlobUpload('ws/app');
        const waiting = w.write(Buffer.alloc(5 * MiB));
        expect(await settled(waiting)).toBe('waiting');
        held.emit('error', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
        held.emit('close');
        const lost = { kind: 'upstream_unavailable', message: 'registry unreachable during streamed blob upload to ws/app (ECONNRESET)' };
        expect(await settled(waiting)).toMatchObject(lost);
        expect(await settled(w.write(Buffer.alloc(1)))).toMatchObject(lost);
        expect(held.pieces).toEqual([5 * MiB]);
      });
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
        seen.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0], query: '', headers: req.headers, body: Buffer.alloc(0), socket: req.socket });
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
