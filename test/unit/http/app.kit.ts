/**
 * The API as createApp mounts it (authentication, JSON body parser, edge validation, error handler) over services
 * a test hands in, with bearer tokens of three callers minted by a local JWKS (test/support/tokens.ts): alice
 * (member of Team A), bob (member of Team B), admin (cloud admin). For route tests: what a route passes to its
 * service and what it answers (status, headers, body, Harbor's error envelope).
 *
 *   const k = await apiKit({ policies: service });
 *   const res = await k.as('alice').get('/api/v1/workspaces/ws/quota');
 *   await k.close();
 */
import http from 'node:http';
import net from 'node:net';
import request from 'supertest';
import type { Express } from 'express';
import { createApp, type AppDeps } from '../../../src/http/app';
import { silentLogger } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';
import { createOidcVerifier } from '../../../adapters/identity/oidc.verifier';
import type { PlatformProject } from '../../../src/domain/principal';
import { startJwks, type TestIdp } from '../../support/tokens';
import { teamA, teamB } from '../domain/workspaces.kit';

export type Caller = 'alice' | 'bob' | 'admin';

export interface ApiKit {
  app: Express;
  idp: TestIdp;
  /** The caller's bearer token. */
  token(who: Caller): string;
  /** Requests with the caller's bearer token. */
  as(who: Caller): {
    get(path: string): request.Test;
    put(path: string): request.Test;
    post(path: string): request.Test;
    delete(path: string): request.Test;
  };
  /**
   * A request written by hand over its own connection (`Connection: close`), with the caller's token and `headers`:
   * node's client would add `Content-Length: 0` to a request without a body, and cannot wait for `100 Continue`.
   * With `Expect: 100-continue` the body is sent only after the server's `100 Continue` (the server holds it back
   * for the app to send, as src/server.ts does for uploads). Resolves to all the server answered, as text.
   */
  raw(who: Caller, method: string, path: string, o?: { headers?: Record<string, string>; body?: Buffer }): Promise<string>;
  /** `raw` without a body, Content-Length or Transfer-Encoding (what `curl -X POST` sends without data), parsed. */
  bare(who: Caller, method: string, path: string): Promise<{ status: number; headers: string; body: unknown }>;
  close(): Promise<void>;
}

/** The callers' user ids (the `sub` of their tokens): what the verifier makes their principal's userId. */
export const USER_ID: Record<Caller, string> = { alice: 'u-alice', bob: 'u-bob', admin: 'u-admin' };

/**
 * createApp with `deps` (workspaces and credentials default to empty stand-ins: no test here reaches them) and
 * tokens for the callers; `alice` may be given other projects (e.g. the uploads kit's `p1`).
 */
export async function apiKit(deps: Partial<AppDeps>, o: { aliceProjects?: PlatformProject[] } = {}): Promise<ApiKit> {
  const idp = await startJwks();
  const app = createApp({
    logger: silentLogger,
    metrics: createMetrics({ defaultMetrics: false }),
    verifier: createOidcVerifier({ ...idp.oidcConfig(), logger: silentLogger }),
    workspaces: {} as AppDeps['workspaces'],
    credentials: {} as AppDeps['credentials'],
    readiness: async () => ({ ready: true, degraded: false, checks: {} }),
    registryHost: 'hub.example.test',
    registryInsecure: true,
    publicUrl: 'http://hub.example.test',
    version: 'test',
    ...deps,
  });
  const tokens: Record<Caller, string> = {
    alice: await idp.memberToken({ sub: USER_ID.alice, username: 'alice', projects: o.aliceProjects ?? [teamA] }),
    bob: await idp.memberToken({ sub: USER_ID.bob, username: 'bob', projects: [teamB] }),
    admin: await idp.adminToken({ sub: USER_ID.admin, username: 'root' }),
  };
  const raw: ApiKit['raw'] = (who, method, path, o = {}) => {
    const headers = Object.entries({ Host: 'hub.example.test', Authorization: `Bearer ${tokens[who]}`, Connection: 'close', ...o.headers });
    return exchange(app, `${method} ${path} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`, o.body);
  };
  const auth = (t: request.Test, who: Caller) => t.set('Authorization', `Bearer ${tokens[who]}`);
  return {
    app,
    idp,
    token: (who) => tokens[who],
    as: (who) => ({
      get: (p) => auth(request(app).get(p), who),
      put: (p) => auth(request(app).put(p), who),
      post: (p) => auth(request(app).post(p), who),
      delete: (p) => auth(request(app).delete(p), who),
    }),
    raw,
    bare: async (who, method, path) => {
      const text = await raw(who, method, path);
      const at = text.indexOf('\r\n\r\n');
      return { status: Number(text.split(' ')[1]), headers: text.slice(0, at), body: JSON.parse(text.slice(at + 4)) };
    },
    close: () => idp.close(),
  };
}

async function exchange(app: Express, head: string, body?: Buffer): Promise<string> {
  const server = http.createServer(app).listen(0, '127.0.0.1');
  server.on('checkContinue', (req, res) => app(req, res));
  await new Promise((r) => server.once('listening', r));
  const waits = /^expect: 100-continue\r$/im.test(head);
  try {
    return await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => {
        socket.write(head);
        if (body && !waits) socket.write(body);
      });
      socket.on('data', (c: Buffer) => {
        if (body && waits && !chunks.length && c.toString('latin1').startsWith('HTTP/1.1 100 Continue\r\n\r\n')) socket.write(body);
        chunks.push(c);
      });
      socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      socket.on('error', reject);
    });
  } finally {
    await new Promise((r) => server.close(r));
  }
}

/** Status, content type and body of an answer, to compare with Harbor's error envelope (or any JSON answer) at once. */
export const answer = (res: request.Response) => ({ status: res.status, type: res.headers['content-type'], body: res.body as unknown });

/** Harbor's error envelope as hubgate answers it. */
export const envelope = (status: number, code: string, message: string) => ({ status, type: 'application/json; charset=utf-8', body: { errors: [{ code, message }] } });

/**
 * A stand-in for a service: each method given answers as `impl` says and is recorded in `calls` as
 * `[method, ...arguments]`, a first argument that is the caller's principal by its userId.
 */
export function recorder<T>(impl: Record<string, (...args: never[]) => unknown>): { service: T; calls: unknown[][] } {
  const calls: unknown[][] = [];
  const service: Record<string, (...args: unknown[]) => unknown> = {};
  for (const [name, fn] of Object.entries(impl)) {
    service[name] = (p: unknown, ...rest: unknown[]) => {
      const principal = typeof p === 'object' && p !== null && 'userId' in p;
      calls.push([name, principal ? (p as { userId: string }).userId : p, ...rest]);
      return (fn as (...a: unknown[]) => unknown)(p, ...rest);
    };
  }
  return { service: service as T, calls };
}
