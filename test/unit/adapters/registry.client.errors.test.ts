/**
 * How the registry client reports what the registry answered (adapters/registry/registry.client.ts, failure() and
 * networkError()): each status to its kind, the registry's envelope to the message, a body that is not the envelope
 * cut short, nothing at all as the status; the admin password and its Basic token scrubbed from whatever is quoted;
 * which failures are retried, how long each retry waits and what it logs; an https base URL verified as TLS. A local
 * HTTP server answers what each case needs.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createRegistryClient } from '../../../adapters/registry/registry.client';
import { AppError } from '../../../src/domain/errors';
import { runWithContext } from '../../../src/observability/context';
import { silentLogger } from '../../../src/observability/logger';
import { signingMaterial } from '../../harbor-double/keys';
import { captureLogger } from '../../support/capture-logger';

const PASSWORD = 'pw-very-secret-1234';
const BASIC = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;
const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('registry client: what the registry answered, as AppError', () => {
  let server: http.Server;
  let base: string;
  let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  let seen: http.IncomingMessage[];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req);
      req.resume();
      req.on('end', () => answer(req, res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => {
    seen = [];
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const client = (retries = 0) => createRegistryClient({ baseUrl: base, username: 'admin', password: PASSWORD, timeoutMs: 2000, retries, logger: silentLogger });
  const reply = (status: number, body = '', type = 'application/json') => (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };
  async function failure(p: Promise<unknown>): Promise<{ kind: string; message: string; upstreamStatus?: number }> {
    try {
      await p;
    } catch (e) {
      expect(e).toBeInstanceOf(AppError);
      const a = e as AppError & { upstreamStatus?: number };
      return { kind: a.kind, message: a.message, upstreamStatus: a.upstreamStatus };
    }
    throw new Error('expected a failure');
  }
  const envelope = (code: string, message?: string) => JSON.stringify({ errors: [{ code, ...(message === undefined ? {} : { message }) }] });

  /** A manifest PUT (a HEAD's answer has no body to quote). */
  const put = () => client().putManifest('ws/app', 'v1', 'application/vnd.oci.image.manifest.v1+json', Buffer.from('{}'));

  it.each([
    [401, envelope('UNAUTHORIZED', 'x'), { kind: 'upstream_misconfigured', message: "upstream misconfigured: Harbor rejected hubgate's admin credentials on /v2", upstreamStatus: 401 }],
    [403, envelope('DENIED', 'not allowed'), { kind: 'forbidden', message: 'Harbor refused manifest ws/app:v1: DENIED: not allowed', upstreamStatus: 403 }],
    [404, envelope('NAME_UNKNOWN', 'repository name not known'), { kind: 'not_found', message: 'manifest ws/app:v1: NAME_UNKNOWN: repository name not known', upstreamStatus: 404 }],
    [400, envelope('BLOB_UNKNOWN'), { kind: 'invalid', message: 'registry refused manifest ws/app:v1: BLOB_UNKNOWN', upstreamStatus: 400 }],
    [499, 'plain words, not JSON', { kind: 'invalid', message: 'registry refused manifest ws/app:v1: plain words, not JSON', upstreamStatus: 499 }],
    [418, '', { kind: 'invalid', message: 'registry refused manifest ws/app:v1: status 418', upstreamStatus: 418 }],
    [400, '{"errors":[]}', { kind: 'invalid', message: 'registry refused manifest ws/app:v1: status 400', upstreamStatus: 400 }],
    [400, '{"errors":[{"message":"no code given"}]}', { kind: 'invalid', message: 'registry refused manifest ws/app:v1: no code given', upstreamStatus: 400 }],
    [400, '{"errors":[{"code":"","message":"empty code"}]}', { kind: 'invalid', message: 'registry refused manifest ws/app:v1: empty code', upstreamStatus: 400 }],
    [400, '{"errors":[{"code":7,"message":"numeric code"}]}', { kind: 'invalid', message: 'registry refused manifest ws/app:v1: numeric code', upstreamStatus: 400 }],
    [500, envelope('UNKNOWN', 'boom'), { kind: 'upstream_unavailable', message: 'registry failed manifest ws/app:v1 (status 500)', upstreamStatus: 500 }],
    [302, '', { kind: 'upstream_unavailable', message: 'registry failed manifest ws/app:v1 (status 302)', upstreamStatus: 302 }],
  ])('status %i, body %j', async (status, body, expected) => {
    answer = reply(status, body);
    expect(await failure(put())).toEqual(expected);
  });

  it('a 4xx body quoting the password or its Basic token is scrubbed; what is quoted is cut at 200 (non-JSON) and 500 characters', async () => {
    answer = reply(400, envelope('DENIED', `you sent ${PASSWORD} as ${BASIC}`));
    expect((await failure(put())).message).toBe('registry refused manifest ws/app:v1: DENIED: you sent [redacted] as [redacted]');
    answer = reply(400, 'y'.repeat(1000), 'text/plain');
    expect((await failure(put())).message).toBe(`registry refused manifest ws/app:v1: ${'y'.repeat(200)}`);
    answer = reply(400, envelope('DENIED', 'z'.repeat(1000)));
    expect((await failure(put())).message).toBe(`registry refused manifest ws/app:v1: ${`DENIED: ${'z'.repeat(1000)}`.slice(0, 500)}`);
  });

  it('5xx is retried, 4xx is not; the request carries the admin Basic auth, the user agent and the request id', async () => {
    let calls = 0;
    answer = (req, res) => {
      calls += 1;
      reply(calls === 1 ? 503 : 200)(req, res);
    };
    expect(await runWithContext({ requestId: 'req-42' }, () => client(1).blobExists('ws/app', DIGEST))).toBe(true);
    expect(calls).toBe(2);
    expect(seen.map((r) => [r.method, r.url, r.headers.authorization, r.headers['user-agent'], r.headers['x-request-id']])).toEqual([
      ['HEAD', `/v2/ws/app/blobs/${DIGEST}`, BASIC, 'hubgate-uploads', 'req-42'],
      ['HEAD', `/v2/ws/app/blobs/${DIGEST}`, BASIC, 'hubgate-uploads', 'req-42'],
    ]);
    calls = 0;
    answer = (req, res) => {
      calls += 1;
      reply(400, envelope('BLOB_UPLOAD_INVALID'))(req, res);
    };
    await failure(client(3).blobExists('ws/app', DIGEST));
    expect(calls).toBe(1);
  });

  it('blob checks and mounts name the digest in what they report; a mount refused is a failure, not "not mounted"', async () => {
    answer = reply(403);
    expect(await failure(client().blobExists('ws/app', DIGEST))).toEqual({ kind: 'forbidden', message: `Harbor refused blob check ${DIGEST}: status 403`, upstreamStatus: 403 });
    seen = [];
    answer = reply(404, envelope('NAME_UNKNOWN', 'repository name not known'));
    expect(await failure(client().mountBlob('ws/app', DIGEST, 'ws/base'))).toEqual({
      kind: 'not_found',
      message: `blob mount ${DIGEST}: NAME_UNKNOWN: repository name not known`,
      upstreamStatus: 404,
    });
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([`POST /v2/ws/app/blobs/uploads/?mount=${DIGEST.replace(':', '%3A')}&from=ws%2Fbase`]);
  });

  it('a call that keeps failing is retried `retries` times, waiting 200 ms doubled per retry up to 2 s; each retry is logged with what failed', async () => {
    const delays: number[] = [];
    const realSetTimeout = global.setTimeout;
    const spy = jest.spyOn(global, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      delays.push(ms ?? -1);
      return realSetTimeout(fn, 0); // the waits asked for are recorded, not waited
    }) as typeof setTimeout);
    const logger = captureLogger();
    let got: Awaited<ReturnType<typeof failure>>;
    try {
      const gone = createRegistryClient({ baseUrl: 'http://127.0.0.1:1', username: 'admin', password: PASSWORD, timeoutMs: 2000, retries: 6, logger });
      got = await failure(gone.mountBlob('ws/app', DIGEST, 'ws/base'));
    } finally {
      spy.mockRestore();
    }
    expect(got).toEqual({ kind: 'upstream_unavailable', message: `registry unreachable during blob mount ${DIGEST} (ECONNREFUSED)`, upstreamStatus: undefined });
    expect(delays).toEqual([200, 400, 800, 1600, 2000, 2000]);
    expect(logger.lines).toEqual(
      [1, 2, 3, 4, 5, 6].map((attempt) => ({ level: 'warn', msg: 'registry call failed; retrying', fields: { what: `blob mount ${DIGEST}`, attempt, kind: 'upstream_unavailable' } })),
    );
  });

  it('an https base URL is spoken to over TLS with the certificate verified: an untrusted one ends the call, nothing is sent in clear', async () => {
    const { privateKey, certPem } = signingMaterial(); // self-signed, trusted by nobody
    let requests = 0;
    const tls = https.createServer({ key: privateKey.export({ type: 'pkcs8', format: 'pem' }), cert: certPem }, (_req, res) => {
      requests += 1;
      res.end();
    });
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', () => r()));
    try {
      const c = createRegistryClient({ baseUrl: `https://127.0.0.1:${(tls.address() as AddressInfo).port}`, username: 'admin', password: PASSWORD, timeoutMs: 2000, retries: 0, logger: silentLogger });
      expect(await failure(c.blobExists('ws/app', DIGEST))).toEqual({
        kind: 'upstream_unavailable',
        message: `registry unreachable during blob check ${DIGEST} (DEPTH_ZERO_SELF_SIGNED_CERT)`,
        upstreamStatus: undefined,
      });
      c.close();
    } finally {
      await new Promise<void>((r) => tls.close(() => r()));
    }
    expect(requests).toBe(0);
  });

  it('no answer within timeoutMs: upstream_timeout, retried like a 5xx', async () => {
    let calls = 0;
    answer = (req, res) => {
      calls += 1;
      if (calls === 1) return; // never answers
      reply(200)(req, res);
    };
    const fast = createRegistryClient({ baseUrl: base, username: 'admin', password: PASSWORD, timeoutMs: 200, retries: 1, logger: silentLogger });
    await expect(fast.blobExists('ws/app', DIGEST)).resolves.toBe(true);
    expect(calls).toBe(2);
    calls = 0;
    const once = createRegistryClient({ baseUrl: base, username: 'admin', password: PASSWORD, timeoutMs: 200, retries: 0, logger: silentLogger });
    expect(await failure(once.blobExists('ws/app', DIGEST))).toEqual({ kind: 'upstream_timeout', message: `registry timed out during blob check ${DIGEST}`, upstreamStatus: undefined });
    fast.close();
    once.close();
  });
});
