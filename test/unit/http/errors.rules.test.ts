/**
 * The rules of src/http/errors.ts one at a time, each where it can be seen: sendJsonText and sendError on a plain
 * node server (the answer on the wire, next to the one Express gives for the same text), the error handler through
 * createApp (status, envelope, Retry-After, and what reaches the log), and AppError itself (src/domain/errors.ts).
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { AppError } from '../../../src/domain/errors';
import type { WorkspacePoliciesService } from '../../../src/domain/workspace-policies.service';
import { sendError, sendJsonText } from '../../../src/http/errors';
import { captureLogger } from '../../support/capture-logger';
import { exchange } from '../../support/raw-http';
import { answer, apiKit, envelope, recorder, type ApiKit } from './app.kit';

interface Wire {
  status: number;
  /** Header names in lower case (Date left out: it changes between answers). */
  headers: Record<string, string>;
  /** Everything after the head, as sent (chunk sizes included when chunked); all the client got without a full head (status 0). */
  body: string;
  /** What `handler` threw (its response is then cut). */
  thrown: unknown[];
}

/**
 * `handler` answering one `method /` request (`Connection: close`) on its own loopback server, created with node's
 * server `options`: what the client got, parsed.
 */
async function serveOnce(handler: http.RequestListener, method = 'GET', options: http.ServerOptions = {}): Promise<Wire> {
  const thrown: unknown[] = [];
  const server = http
    .createServer(options, (req, res) => {
      try {
        handler(req, res);
      } catch (e) {
        thrown.push(e);
        res.destroy();
      }
    })
    .listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { answer: text } = await exchange((server.address() as AddressInfo).port, `${method} / HTTP/1.1\r\nHost: hub.example.test\r\nConnection: close\r\n\r\n`);
    const at = text.indexOf('\r\n\r\n');
    if (at < 0) return { status: 0, headers: {}, body: text, thrown };
    const [statusLine, ...lines] = text.slice(0, at).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      if (name !== 'date') headers[name] = line.slice(colon + 1).trim();
    }
    return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(at + 4), thrown };
  } finally {
    await new Promise((r) => server.close(r));
  }
}

/** What Express answers for `text` sent as JSON with `status` (res.status().type().send(), default settings). */
const expressAnswer = (status: number, text: string, method = 'GET') => {
  const app = express();
  app.disable('x-powered-by');
  app.all('/', (_req, res) => void res.status(status).type('application/json; charset=utf-8').send(text));
  return serveOnce(app, method);
};

// Non-ASCII on purpose: its length in bytes (what Content-Length counts) is not its length in characters.
const TEXT = JSON.stringify({ errors: [{ code: 'CONFLICT', message: 'Tag «v1» existiert schon — déjà pris' }] }) + '\n';
const BYTES = Buffer.byteLength(TEXT);

describe('sendJsonText: the answer Express would give for the same JSON text', () => {
  it('a body with non-ASCII characters: its status, Content-Type, Content-Length in bytes, weak ETag, the text', async () => {
    const ours = await serveOnce((_req, res) => sendJsonText(res, 409, TEXT));
    expect(BYTES).not.toBe(TEXT.length);
    expect(ours).toEqual({
      status: 409,
      headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': String(BYTES), etag: expect.stringMatching(/^W\/"[0-9a-f]+-/), connection: 'close' },
      body: TEXT,
      thrown: [],
    });
    expect(ours).toEqual(await expressAnswer(409, TEXT));
  });

  it("HEAD: GET's head (Content-Length and ETag of the body) and no body, none even handed to node", async () => {
    // rejectNonStandardBodyWrites: node throws when a body is written to an answer to HEAD, instead of dropping it.
    const ours = await serveOnce((_req, res) => sendJsonText(res, 409, TEXT), 'HEAD', { rejectNonStandardBodyWrites: true });
    const get = await serveOnce((_req, res) => sendJsonText(res, 409, TEXT));
    expect(ours).toEqual({ status: 409, headers: get.headers, body: '', thrown: [] });
    expect(ours).toEqual(await expressAnswer(409, TEXT, 'HEAD'));
  });

  it('Transfer-Encoding already set: no Content-Length, the body goes chunked', async () => {
    const ours = await serveOnce((_req, res) => {
      res.setHeader('Transfer-Encoding', 'chunked');
      sendJsonText(res, 400, TEXT);
    });
    expect(ours.headers['transfer-encoding']).toBe('chunked');
    expect(ours.headers).not.toHaveProperty('content-length');
    expect([ours.status, ours.body, ours.thrown]).toEqual([400, `${BYTES.toString(16)}\r\n${TEXT}\r\n0\r\n\r\n`, []]);
  });

  it('an ETag already set is kept', async () => {
    const ours = await serveOnce((_req, res) => {
      res.setHeader('ETag', '"v7"');
      sendJsonText(res, 400, TEXT);
    });
    expect([ours.status, ours.headers.etag, ours.headers['content-length'], ours.body]).toEqual([400, '"v7"', String(BYTES), TEXT]);
  });
});

describe('sendError', () => {
  it("Harbor's envelope with credentials in the message redacted, and the extra headers", async () => {
    const ours = await serveOnce((_req, res) =>
      sendError(res, 401, 'UNAUTHORIZED', 'Harbor refused Authorization: Bearer abcdefgh.ijkl', { 'WWW-Authenticate': 'Bearer realm="hub"' }),
    );
    expect([ours.status, ours.headers['content-type'], ours.headers['www-authenticate'], ours.thrown]).toEqual([401, 'application/json; charset=utf-8', 'Bearer realm="hub"', []]);
    expect(JSON.parse(ours.body)).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'Harbor refused Authorization: Bearer [redacted]' }] });
  });

  it('once the head went out: the connection is cut instead, nothing thrown, no envelope', async () => {
    let cut: boolean | undefined;
    const ours = await serveOnce((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('partial');
      sendError(res, 500, 'UNKNOWN', 'internal server error');
      cut = req.socket.destroyed;
    });
    expect([cut, ours.thrown]).toEqual([true, []]);
    // Whatever of the head and 'partial' got out before the cut: no envelope, no end of the chunked body.
    expect(ours.body).not.toContain('errors');
    expect(ours.body).not.toMatch(/0\r\n\r\n$/);
  });
});

describe('the error handler through the app', () => {
  const log = captureLogger();
  let failure: unknown;
  let k: ApiKit;
  beforeAll(async () => {
    const policies = recorder<WorkspacePoliciesService>({
      quota: async () => {
        throw failure;
      },
    });
    k = await apiKit({ policies: policies.service, logger: log });
  });
  afterAll(() => k.close());
  beforeEach(() => void log.lines.splice(0));
  const errorLines = () => log.lines.filter((l) => l.level === 'error');

  it('a body that is not JSON: 400 BAD_REQUEST "request body is not valid JSON", not logged', async () => {
    const res = await k.as('admin').put('/api/v1/workspaces/ws/quota').set('Content-Type', 'application/json').send('{"limit":');
    expect(answer(res)).toEqual(envelope(400, 'BAD_REQUEST', 'request body is not valid JSON'));
    expect(errorLines()).toEqual([]);
  });

  it('a failure that is not an AppError: 500 with the generic message; the log gets the failure itself', async () => {
    failure = new Error('connect ECONNREFUSED 10.0.0.1:5432');
    const res = await k.as('alice').get('/api/v1/workspaces/ws/quota');
    expect(answer(res)).toEqual(envelope(500, 'UNKNOWN', 'internal server error'));
    expect(res.headers).not.toHaveProperty('retry-after');
    expect(errorLines()).toEqual([{ level: 'error', msg: 'request failed', fields: { kind: 'internal', upstream_status: undefined, error: failure } }]);
    expect(errorLines()[0].fields?.error).toBe(failure);
  });

  it('an internal AppError: the generic message, not its own; the log gets the AppError', async () => {
    failure = new AppError('internal', 'pool exhausted on db-7:5432');
    const res = await k.as('alice').get('/api/v1/workspaces/ws/quota');
    expect(answer(res)).toEqual(envelope(500, 'UNKNOWN', 'internal server error'));
    expect(errorLines().map((l) => [l.msg, l.fields?.kind, l.fields?.error])).toEqual([['request failed', 'internal', failure]]);
    expect(errorLines()[0].fields?.error).toBe(failure);
  });

  it("another 5xx, without a cause (Harbor's 503): its status and message; logged with the upstream status and the error", async () => {
    failure = new AppError('upstream_unavailable', 'Harbor is unavailable, try again later', { upstreamStatus: 503 });
    const res = await k.as('alice').get('/api/v1/workspaces/ws/quota');
    expect(answer(res)).toEqual(envelope(502, 'UPSTREAM_UNAVAILABLE', 'Harbor is unavailable, try again later'));
    expect(res.headers).not.toHaveProperty('retry-after');
    expect(errorLines()).toEqual([{ level: 'error', msg: 'request failed', fields: { kind: 'upstream_unavailable', upstream_status: 503, error: failure } }]);
    expect(errorLines()[0].fields?.error).toBe(failure);
  });

  it('a 5xx with a wait: Retry-After, and logged', async () => {
    failure = new AppError('unavailable', 'hubgate is shutting down', { retryAfterSeconds: 3 });
    const res = await k.as('alice').get('/api/v1/workspaces/ws/quota');
    expect(answer(res)).toEqual(envelope(503, 'SERVICE_UNAVAILABLE', 'hubgate is shutting down'));
    expect(res.headers['retry-after']).toBe('3');
    expect(errorLines().map((l) => [l.msg, l.fields?.kind])).toEqual([['request failed', 'unavailable']]);
  });

  it('a 4xx: its status and message, no Retry-After, nothing logged', async () => {
    failure = new AppError('conflict', 'a quota change is in progress');
    const res = await k.as('alice').get('/api/v1/workspaces/ws/quota');
    expect(answer(res)).toEqual(envelope(409, 'CONFLICT', 'a quota change is in progress'));
    expect(res.headers).not.toHaveProperty('retry-after');
    expect(errorLines()).toEqual([]);
  });
});

describe('AppError', () => {
  it('is named AppError: its name and how it prints', () => {
    const e = new AppError('conflict', 'taken');
    expect([e.name, String(e)]).toEqual(['AppError', 'AppError: taken']);
  });

  it('made without a cause it has none at all (no `cause` key); made with one it keeps it', () => {
    const cause = new Error('socket hang up');
    expect('cause' in new AppError('internal', 'failed')).toBe(false);
    expect(new AppError('internal', 'failed', { cause }).cause).toBe(cause);
  });
});
