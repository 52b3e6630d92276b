/**
 * The console upload routes (src/http/routes/uploads.routes.ts) through createApp over the uploads kit's real
 * UploadsService (in-memory registry): raw and multipart bodies that succeed (201, X-Upload-Id, Location, the
 * record), the upload id (query, header, generated), image and tag (query over form fields), the refusals before
 * a byte is read (a JSON or form body, a declared length over the limit: Connection close; the spool's free space,
 * with or without a declared length), a malformed multipart body and busboy's limits (one file part, 16 fields of up
 * to 1024 bytes, 32 parts), `100 Continue` only when asked, a client gone before or while the body is read, the
 * connection dropped after an early refusal, and progress (`GET /uploads/{id}`: no-store, the error as status,
 * code, reason and message). The archive handling itself is tested in the other files here; the whole path with
 * real clients in e2e/uploads.e2e.test.ts.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Express } from 'express';
import request from 'supertest';
import { dockerSave, layerTar } from '../../support/archives';
import { answer, apiKit, envelope, type ApiKit } from '../http/app.kit';
import type { UploadSettings } from '../../../src/domain/uploads.service';
import { kit, member, type Kit } from './kit';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BOUNDARY = 'hubgate-test-boundary';
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;
/** A member of the kit's project p1 (owner of workspace `ws`), as alice's token says. */
const P1 = member().projects;

/** A multipart form: text fields, then a file part for each of `archives` (when given). */
function form(fields: Record<string, string>, ...archives: Buffer[]): Buffer {
  const parts: Buffer[] = Object.entries(fields).map(([k, v]) => Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  for (const archive of archives) parts.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="image.tar"\r\nContent-Type: application/x-tar\r\n\r\n`), archive, Buffer.from('\r\n'));
  return Buffer.concat([...parts, Buffer.from(`--${BOUNDARY}--\r\n`)]);
}

/** The head of a raw upload (application/x-tar) of `declared` bytes. */
const rawHead = (path: string, token: string, declared: number) =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/x-tar\r\nContent-Length: ${declared}\r\n\r\n`;

/** Serves `handler` on a free port of 127.0.0.1 while `use` runs; then closes it (and any connection left). */
async function serving<T>(handler: http.RequestListener, use: (port: number, server: http.Server) => Promise<T>): Promise<T> {
  const server = http.createServer(handler).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    return await use((server.address() as AddressInfo).port, server);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

/**
 * Sends the head of a raw upload declaring `declared` bytes and the first bytes of its body; once the server has
 * the request and `ready()` holds, resets the connection (a client that went away). Resolves once the server's
 * side of it is closed.
 */
async function hangUp(app: Express, token: string, path: string, declared: number, first: Buffer, ready: () => Promise<boolean>): Promise<void> {
  await serving(app, (port, server) =>
    new Promise<void>((resolve, reject) => {
      server.once('connection', (s: net.Socket) => s.once('close', () => resolve()));
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(rawHead(path, token, declared));
        if (first.length) socket.write(first);
      });
      socket.on('error', () => undefined);
      server.once('request', () => void until('ready to hang up', ready).then(() => socket.resetAndDestroy(), reject));
    }),
  );
}

/** Polls `check` until it holds (at most 10 s). */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * POSTs a raw body of `total` bytes (no Content-Length: chunked) over a kept-alive connection, writing on while the
 * server reads; resolves to the answer's status and Connection header as soon as it comes (writing then stops).
 */
async function streamed(app: Express, token: string, path: string, total: number): Promise<{ status: number; connection: string | undefined }> {
  const agent = new http.Agent({ keepAlive: true });
  try {
    return await serving(
      app,
      (port) =>
        new Promise((resolve, reject) => {
          const req = http.request({ port, host: '127.0.0.1', method: 'POST', path, agent, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/x-tar' } });
          let answered = false;
          req.on('response', (res) => {
            answered = true;
            res.resume();
            resolve({ status: res.statusCode!, connection: res.headers.connection });
          });
          req.on('error', (e) => (answered ? undefined : reject(e)));
          const chunk = Buffer.alloc(64 * 1024, 'x');
          let sent = 0;
          const write = () => {
            while (!answered && sent < total) {
              sent += chunk.length;
              if (!req.write(chunk)) return void req.once('drain', write);
            }
            if (!answered) req.end();
          };
          write();
        }),
    );
  } finally {
    agent.destroy();
  }
}

const archive = (ref: string) => dockerSave([{ layers: [layerTar()], refs: [ref] }]);

describe('console uploads over HTTP', () => {
  let up: Kit;
  let k: ApiKit;
  const uploads = (query = '') => `/api/v1/workspaces/ws/uploads${query}`;
  /** The record as the service keeps it, as JSON (what a success answers). */
  const stored = async (id: string) => JSON.parse(JSON.stringify(await up.uploads.get(member(), id))) as Record<string, unknown>;

  const start = async (maxBytes: number, settings: Partial<UploadSettings> = {}) => {
    up = kit({ maxBytes, ...settings });
    k = await apiKit({ uploads: up.uploads }, { aliceProjects: P1 });
  };
  const stop = async () => {
    await k.close();
    up.close();
  };
  beforeEach(() => start(64 * 1024));
  afterEach(stop);

  it('a raw archive: 201 with a generated X-Upload-Id, the Location of its progress and the record; tagged as the archive says', async () => {
    const body = archive('app:1');
    const res = await k.as('alice').post(uploads()).type('application/x-tar').send(body);
    expect(res.status).toBe(201);
    const id = res.headers['x-upload-id'];
    expect(id).toMatch(UUID);
    expect(res.headers.location).toBe(`/api/v1/uploads/${id}`);
    expect(res.body).toEqual(await stored(id));
    expect(res.body).toMatchObject({ id, workspace: 'ws', projectId: 'p1', userId: 'u-alice', state: 'succeeded', bytesReceived: body.length, bytesDeclared: body.length });
    expect(res.body.error).toBeUndefined();
    expect(up.registry.tags()).toEqual(['ws/app:1']);
  });

  it('image and tag from the query; the id from X-Upload-Id, or from the query over the header; an empty header is no id', async () => {
    const byHeader = await k.as('alice').post(uploads('?image=team/app&tag=2')).type('application/octet-stream').set('X-Upload-Id', 'header-id-1').send(archive('app:1'));
    expect([byHeader.status, byHeader.headers['x-upload-id']]).toEqual([201, 'header-id-1']);
    expect(up.registry.tags()).toEqual(['ws/team/app:2']);
    const byQuery = await k.as('alice').post(uploads('?uploadId=query-id-1')).type('application/octet-stream').set('X-Upload-Id', 'header-id-2').send(archive('app:3'));
    expect([byQuery.status, byQuery.headers['x-upload-id']]).toEqual([201, 'query-id-1']);
    const empty = await k.as('alice').post(uploads()).type('application/octet-stream').set('X-Upload-Id', '').send(archive('app:4'));
    expect(empty.status).toBe(201);
    expect(empty.headers['x-upload-id']).toMatch(UUID);
  });

  it('multipart: the file part is the archive, image and tag from its fields (other fields ignored), the query over the fields', async () => {
    const res = await k.as('alice').post(uploads()).type(MULTIPART).send(form({ note: 'x', image: 'tools/oci', tag: '2.0' }, archive('app:1')));
    expect(res.status).toBe(201);
    expect(res.body).toEqual(await stored(res.headers['x-upload-id']));
    expect(res.body).toMatchObject({ state: 'succeeded', bytesDeclared: null });
    expect(up.registry.tags()).toEqual(['ws/tools/oci:2.0']);
    const over = await k.as('alice').post(uploads('?image=web&tag=3')).type(MULTIPART).send(form({ image: 'tools/oci', tag: '2.0' }, archive('app:1')));
    expect(over.status).toBe(201);
    expect(up.registry.tags()).toEqual(['ws/tools/oci:2.0', 'ws/web:3']);
  });

  it('multipart: the declared length may exceed the limit by the form around the archive', async () => {
    const file = archive('app:1');
    await stop();
    await start(file.length + 64);
    const body = form({ note: 'n'.repeat(1000) }, file);
    expect(body.length).toBeGreaterThan(file.length + 64);
    expect((await k.as('alice').post(uploads()).type(MULTIPART).send(body)).status).toBe(201);
    expect(up.registry.tags()).toEqual(['ws/app:1']);
  });

  it.each([
    ['application/json', '{"archive":"x"}'],
    ['application/x-www-form-urlencoded', 'archive=x'],
  ])('a %s body: 400 before anything starts', async (type, body) => {
    const res = await k.as('alice').post(uploads('?uploadId=never-started')).type(type).send(body);
    expect(answer(res)).toEqual(
      envelope(400, 'BAD_REQUEST', 'send the archive as the raw body (application/x-tar, application/gzip, application/octet-stream) or as multipart/form-data'),
    );
    expect(res.headers['x-upload-id']).toBeUndefined();
    expect(answer(await k.as('alice').get('/api/v1/uploads/never-started'))).toEqual(envelope(404, 'NOT_FOUND', 'upload "never-started" not found'));
  });

  it('a declared length over the limit: 413 before reading, and the connection closed (raw and multipart, whose form may add 1 MiB)', async () => {
    const refused = envelope(413, 'PAYLOAD_TOO_LARGE', 'the archive is larger than the upload limit of 65536 bytes');
    const raw = await k.as('alice').post(uploads('?uploadId=too-large-1')).type('application/x-tar').set('Connection', 'keep-alive').send(Buffer.alloc(64 * 1024 + 1));
    expect(answer(raw)).toEqual(refused);
    expect(raw.headers.connection).toBe('close');
    const multipart = await k.as('alice').post(uploads()).type(MULTIPART).set('Connection', 'keep-alive').send(Buffer.alloc(64 * 1024 + 1024 * 1024 + 1));
    expect(answer(multipart)).toEqual(refused);
    expect(multipart.headers.connection).toBe('close');
    // nothing was started
    expect((await k.as('alice').get('/api/v1/uploads/too-large-1')).status).toBe(404);
    expect(up.uploads.active).toBe(0);
  });

  it.each([
    ['without a boundary', 'multipart/form-data', form({}, archive('app:1')), 'malformed multipart request: Multipart: Boundary not found'],
    ['without a file part', MULTIPART, form({ image: 'app' }), 'the multipart body has no file part (send the archive as a file field)'],
    ['cut short', MULTIPART, form({}, archive('app:1')).subarray(0, 600), 'malformed multipart body: Unexpected end of form'],
    ['cut short later', MULTIPART, form({}, dockerSave([{ layers: [layerTar({ a: Buffer.alloc(40_000, 7) })], refs: ['a:1'] }])).subarray(0, 30_000), 'malformed multipart body: Unexpected end of form'],
  ])('multipart %s: 400, the record failed with reason bad_multipart', async (_what, type, body, message) => {
    const res = await k.as('alice').post(uploads('?uploadId=bad-form-1')).type(type).send(body);
    expect(answer(res)).toEqual(envelope(400, 'BAD_REQUEST', message));
    const rec = await k.as('alice').get('/api/v1/uploads/bad-form-1');
    expect(rec.body).toMatchObject({ state: 'failed', error: { status: 400, code: 'BAD_REQUEST', reason: 'bad_multipart', message } });
    expect(up.registry.tags()).toEqual([]);
    expect(up.uploads.active).toBe(0);
  });

  it('a failure while the client is still sending: the answer closes the connection; once the body is all read it does not', async () => {
    const early = await streamed(k.app, k.token('alice'), uploads(), 64 * 1024 * 1024);
    expect(early).toEqual({ status: 400, connection: 'close' }); // x… is not a tar: refused after its first bytes
    const late = await k.as('alice').post(uploads()).type('application/x-tar').set('Connection', 'keep-alive').send(Buffer.from('not a tar archive at all'));
    expect([late.status, late.headers.connection]).toEqual([400, 'keep-alive']);
    expect(up.uploads.active).toBe(0);
  });

  it('Expect: 100-continue: 100 Continue once the permission and the declared length pass, then the archive is read', async () => {
    await stop();
    await start(64 * 1024, { idleTimeoutMs: 5000 }); // without 100 Continue the client never sends: 408 after 5 s, not a hang
    const body = archive('app:1');
    const head = (length: number) => ({ 'Content-Type': 'application/x-tar', 'Content-Length': String(length), Expect: '100-Continue' });
    const ok = await k.raw('alice', 'POST', uploads('?uploadId=continued-1'), { headers: head(body.length), body });
    expect(ok).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 Created\r\n/);
    expect(up.registry.tags()).toEqual(['ws/app:1']);
    // not asked for: no 100 Continue
    const plain = await k.raw('alice', 'POST', uploads(), { headers: { 'Content-Type': 'application/x-tar', 'Content-Length': String(body.length) }, body });
    expect(plain).toMatch(/^HTTP\/1\.1 201 Created\r\n/);
    // refused before: no 100 Continue, the body is never asked for
    expect(await k.raw('alice', 'POST', uploads(), { headers: head(64 * 1024 + 1), body })).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    expect(await k.raw('bob', 'POST', uploads(), { headers: head(body.length), body })).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
  });

  it('the client going away (before or while the body is read): the upload fails as interrupted, its slot freed, nothing tagged', async () => {
    const body = dockerSave([{ layers: [layerTar({ a: Buffer.alloc(50_000, 3) })], refs: ['gone:1'] }]);
    const receiving = (id: string) => async () => ((await up.uploads.get(member(), id).catch(() => undefined))?.bytesReceived ?? 0) > 0;
    for (const [id, first, ready] of [
      ['gone-early-1', Buffer.alloc(0), async () => true],
      ['gone-midway-1', body.subarray(0, 20_000), receiving('gone-midway-1')],
    ] as const) {
      await hangUp(k.app, k.token('alice'), uploads(`?uploadId=${id}`), body.length, first, ready);
      await until(`${id} failed`, async () => (await up.uploads.get(member(), id).catch(() => undefined))?.state === 'failed');
      expect((await up.uploads.get(member(), id)).error).toMatchObject({ kind: 'invalid', reason: 'interrupted', message: 'the upload was interrupted: the client closed the connection' });
    }
    expect(up.uploads.active).toBe(0);
    expect(up.registry.tags()).toEqual([]);
  });

  it('a body of unknown length (chunked) still needs the free space the spool keeps: 507 before reading, as with a declared one', async () => {
    await stop();
    await start(64 * 1024, { minFreeBytes: Number.MAX_SAFE_INTEGER });
    const body = archive('app:1');
    const refused = { errors: [{ code: 'INSUFFICIENT_STORAGE', message: 'the upload spool of this replica is out of disk space; try again later' }] };
    const chunked = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
    for (const [headers, sent] of [
      [{ 'Transfer-Encoding': 'chunked' }, chunked],
      [{ 'Content-Length': String(body.length) }, body],
    ] as const) {
      const text = await k.raw('alice', 'POST', uploads(), { headers: { 'Content-Type': 'application/x-tar', ...headers }, body: sent });
      expect([text.split('\r\n')[0], JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))]).toEqual(['HTTP/1.1 507 Insufficient Storage', refused]);
    }
    expect(up.uploads.active).toBe(0);
  });

  it('the client gone while the upload was being registered: the upload is aborted before its body is read', async () => {
    let socket: net.Socket | undefined;
    const started = up.uploads.start.bind(up.uploads);
    up.uploads.start = async (...args) => {
      const handle = await started(...args);
      socket!.destroy(); // gone now: the socket's 'close' (and the response's) comes only later
      return handle;
    };
    const run = up.uploads.run.bind(up.uploads);
    const atRun: unknown[] = [];
    up.uploads.run = (handle, ...rest) => {
      atRun.push(handle.signal.aborted ? (handle.signal.reason as Error).message : 'not aborted');
      return run(handle, ...rest);
    };
    const app = (req: http.IncomingMessage, res: http.ServerResponse) => {
      socket = req.socket;
      k.app(req, res);
    };
    const sent = await request(app).post(uploads('?uploadId=gone-at-start-1')).set('Authorization', `Bearer ${k.token('alice')}`).type('application/x-tar').send(archive('app:1')).then(
      () => 'answered',
      (e: NodeJS.ErrnoException) => e.code,
    );
    expect(sent).toBe('ECONNRESET');
    await until('gone-at-start-1 failed', async () => (await up.uploads.get(member(), 'gone-at-start-1')).state === 'failed');
    expect(atRun).toEqual(['the upload was interrupted: the client closed the connection']);
    expect((await up.uploads.get(member(), 'gone-at-start-1')).error).toEqual({ kind: 'invalid', reason: 'interrupted', message: 'the upload was interrupted: the client closed the connection' });
    expect(up.uploads.active).toBe(0);
  });

  it("once answered, the route keeps no listener on the response: as many 'close' listeners as a progress read has", async () => {
    const closeListeners: number[] = [];
    const app = (req: http.IncomingMessage, res: http.ServerResponse) => {
      res.once('finish', () => closeListeners.push(res.listenerCount('close')));
      k.app(req, res);
    };
    const auth = `Bearer ${k.token('alice')}`;
    const created = await request(app).post(uploads()).set('Authorization', auth).type('application/x-tar').send(archive('app:1'));
    expect(created.status).toBe(201);
    expect((await request(app).get(`/api/v1/uploads/${created.headers['x-upload-id']}`).set('Authorization', auth)).status).toBe(200);
    expect(closeListeners).toHaveLength(2);
    expect(closeListeners[0]).toBe(closeListeners[1]);
  });

  it('refused while the client still sends, on a connection that outlives the answer (only ended, not destroyed): dropped 2 s later', async () => {
    const timers = jest.spyOn(global, 'setTimeout');
    try {
      let socket: net.Socket | undefined;
      let finished!: () => void;
      const answered = new Promise<void>((r) => (finished = r));
      const app = (req: http.IncomingMessage, res: http.ServerResponse) => {
        socket = req.socket;
        // without destroySoon node only ends the socket after a `Connection: close` answer
        (socket as { destroySoon?: unknown }).destroySoon = undefined;
        res.once('finish', finished);
        k.app(req, res);
      };
      await serving(app, async (port) => {
        const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
          client.write(rawHead(uploads(), k.token('alice'), 60_000));
          client.write(Buffer.alloc(2000, 'x')); // not a tar: refused with 58,000 bytes still to come
        });
        client.on('error', () => undefined);
        await answered; // the route's own 'finish' listener ran with this one
        const drops = timers.mock.calls.filter(([, ms]) => ms === 2000);
        expect(drops).toHaveLength(1);
        expect(socket!.destroyed).toBe(false);
        (drops[0]![0] as () => void)();
        expect(socket!.destroyed).toBe(true);
        client.destroy();
      });
    } finally {
      timers.mockRestore();
    }
  });

  /** `n` text fields that mean nothing to the route. */
  const filler = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, 'x']));
  /** A form whose file part comes first, then `fields`. */
  const fileFirst = (fields: Record<string, string>, file: Buffer) => {
    const head = form({}, file);
    return Buffer.concat([head.subarray(0, head.length - `--${BOUNDARY}--\r\n`.length), form(fields)]);
  };
  const tooLong = (name: string) => `the multipart field "${name}" is longer than 1024 bytes`;

  it.each([
    ['16 fields, the 16th the image: kept', form({ ...filler(15), image: 'sixteen' }, archive('app:1')), 201, ['ws/sixteen:1']],
    ['17 fields: refused, not the 17th dropped', form({ ...filler(16), image: 'seventeen' }, archive('app:1')), 400, 'the multipart body has more than 16 fields'],
    ['17 fields after the file part: refused', fileFirst(filler(17), archive('app:1')), 400, 'the multipart body has more than 16 fields'],
    // 1024 bytes pass the form and reach the name checks whole
    ['a field of 1024 bytes: kept whole', form({ image: 'a'.repeat(1024) }, archive('app:1')), 400, `repository "ws/${'a'.repeat(137)}…" is longer than 255 characters`],
    ['the image field over 1024 bytes: refused, not cut', form({ image: `${'a'.repeat(1024)}/Cut` }, archive('app:1')), 400, tooLong('image')],
    ['any field over 1024 bytes, after the file part: refused', fileFirst({ note: 'n'.repeat(1025) }, archive('app:1')), 400, tooLong('note')],
    ['a second file part: refused, not ignored', form({}, archive('app:1'), archive('other:2')), 400, 'the multipart body has more than one file part (send one archive)'],
  ] as const)('multipart limits, %s', async (_what, body, status, expected) => {
    const res = await k.as('alice').post(uploads()).type(MULTIPART).send(body);
    if (typeof expected === 'string') {
      expect(answer(res)).toEqual(envelope(status, 'BAD_REQUEST', expected));
      expect(up.registry.tags()).toEqual([]);
    } else {
      expect(res.status).toBe(status);
      expect(up.registry.tags()).toEqual(expected);
    }
  });

  it('progress: the record for its owner or a cloud admin (no-store), the error as status, code, reason and message; 404 for others', async () => {
    const failed = await k.as('alice').post(uploads('?uploadId=not-a-tar-1')).type('application/x-tar').send(Buffer.from('not a tar archive at all'));
    expect(failed.status).toBe(400);
    const rec = (await up.uploads.get(member(), 'not-a-tar-1'))!;
    const { error, ...rest } = JSON.parse(JSON.stringify(rec)) as { error: { kind: string; reason: string; message: string } };
    expect(error.kind).toBe('invalid');
    for (const who of ['alice', 'admin'] as const) {
      const res = await k.as(who).get('/api/v1/uploads/not-a-tar-1');
      expect(answer(res)).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: { ...rest, error: { status: 400, code: 'BAD_REQUEST', reason: error.reason, message: error.message } } });
      expect(res.headers['cache-control']).toBe('no-store');
    }
    expect(failed.body).toEqual({ errors: [{ code: 'BAD_REQUEST', message: error.message }] });
    expect(answer(await k.as('bob').get('/api/v1/uploads/not-a-tar-1'))).toEqual(envelope(404, 'NOT_FOUND', 'upload "not-a-tar-1" not found'));
  });
});
