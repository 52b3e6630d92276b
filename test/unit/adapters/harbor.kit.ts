import fs from 'node:fs';
import path from 'node:path';
import nock, { type NockOptions, type Scope } from './nock';
import { createHarborAdapter, type HarborAdapterOptions } from '../../../adapters/harbor/harbor.adapter';
import { createHarborHttp, type HarborHttpOptions } from '../../../adapters/harbor/harbor-http';
import { createMetrics, type Metrics } from '../../../src/observability/metrics';
import { recordedReply } from '../../support/recorded';
import { captureLogger } from '../../support/capture-logger';

/** Shared set-up of the Harbor adapter tests: one adapter per test against a nock'ed Harbor. */
export const BASE = 'http://harbor.test:8880';
export const API = '/api/v2.0';
export const ADMIN = 'admin';
export const PASSWORD = 'Adm1n-S3cret-Pa55word';

const opened: { close(): void }[] = [];

/** Closes every adapter (and Harbor HTTP client) made since the last call (their kept-alive sockets would keep jest running). */
export function closeAdapters(): void {
  for (const a of opened.splice(0)) a.close();
}

/**
 * `create` run with the test options (hubgate's admin against BASE, short timeouts, fast retries; `over` on top),
 * with its metrics and captured logger; closed by closeAdapters().
 */
function made<O, C extends { close(): void }>(create: (o: O) => C, over: Partial<O>): { made: C; metrics: Metrics; logger: ReturnType<typeof captureLogger> } {
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = captureLogger();
  const base = { baseUrl: BASE, username: ADMIN, password: PASSWORD, timeoutMs: 1000, retries: 2, retryDelayMs: 1, metrics, logger };
  const it = create({ ...base, ...over } as O);
  opened.push(it);
  return { made: it, metrics, logger };
}

export function makeAdapter(over: Partial<HarborAdapterOptions> = {}) {
  const { made: harbor, metrics, logger } = made(createHarborAdapter, over);
  return { harbor, metrics, logger };
}

/** The transport alone (adapters/harbor/harbor-http.ts), without the adapter's paths and admin identity check. */
export function makeHttp(over: Partial<HarborHttpOptions> = {}) {
  const { made: http, metrics, logger } = made(createHarborHttp, over);
  return { http, metrics, logger };
}

/** A nock scope that insists on hubgate's admin Basic credentials. */
export const harborScope = (opts: NockOptions = {}) => nock(BASE, opts).matchHeader('authorization', basic(ADMIN, PASSWORD));

export const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** `GET /users/current` answered as recorded for the admin (009), `times` times; `calls()` counts the answers. */
export function adminAccepted(scope: Scope, times = 1): { calls(): number } {
  let calls = 0;
  scope
    .get(`${API}/users/current`)
    .times(times)
    .reply(() => {
      calls++;
      return recordedReply(9);
    });
  return { calls: () => calls };
}

/** Interceptors of `scope` not used yet, as `METHOD url` strings. */
export const pending = (scope: Scope): string[] => scope.pendingMocks();

export async function counter(metrics: Metrics, operation: string, outcome: string): Promise<number> {
  const m = await metrics.harborRequests.get();
  return m.values.find((v) => v.labels.operation === operation && v.labels.outcome === outcome)?.value ?? 0;
}

/** Every Harbor call counted so far, as `operation outcome count` lines (the operation ids the adapter reports). */
export async function operations(metrics: Metrics): Promise<string[]> {
  const m = await metrics.harborRequests.get();
  return m.values.map((v) => `${v.labels.operation} ${v.labels.outcome} ${v.value}`).sort();
}

export async function rejection(p: Promise<unknown>): Promise<Error & { kind?: string; upstreamStatus?: number }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { kind?: string; upstreamStatus?: number };
  }
  throw new Error('expected the call to fail');
}

/**
 * A real local HTTP server standing in for Harbor, for what nock cannot play here (its replyWithError never
 * reaches axios with nock 15 under jest): connection resets and lost responses. `handler` returns false to
 * reset the connection instead of answering.
 */
export async function startLocalHarbor(
  handler: (req: import('node:http').IncomingMessage, hit: number) => [number, string, Record<string, string>] | false,
): Promise<{ url: string; hits: string[]; close(): Promise<void> }> {
  const http = await import('node:http');
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      const answer = handler(req, hits.length);
      if (answer === false) {
        req.socket.resetAndDestroy();
        return;
      }
      const [status, body, headers] = answer;
      res.writeHead(status, headers).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A local port nothing listens on (connection refused). */
export async function closedPortUrl(): Promise<string> {
  const net = await import('node:net');
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as import('node:net').AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/**
 * One exchange of a recorded set in test/fixtures/harbor/<set> (files `<id>-<title>.json`, e.g. `R05-…`, `P18-…`),
 * as nock needs it: the path below /api/v2.0, the query, the request body, and the reply with the headers worth
 * replaying (`response` is the body as recorded).
 */
export function replayed(set: string, id: string) {
  const dir = path.resolve(__dirname, '../../fixtures/harbor', set);
  const name = fs.readdirSync(dir).find((f) => f.startsWith(`${id}-`));
  if (!name) throw new Error(`no recorded exchange ${id} in ${set}`);
  const raw = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
  const url = new URL(raw.request.url);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw.response.headers as Record<string, string>)) if (REPLAYED.has(k.toLowerCase())) headers[k] = v;
  const b = raw.response.body;
  const text = b === '' || b == null ? '' : typeof b === 'string' ? b : JSON.stringify(b) + '\n';
  return {
    path: url.pathname.slice(API.length),
    query: Object.fromEntries(url.searchParams),
    body: raw.request.body,
    reply: [raw.response.status, text, headers] as [number, string, Record<string, string>],
    response: b,
  };
}
const REPLAYED = new Set(['content-type', 'location', 'x-total-count', 'link']);

/**
 * The usual frame of an adapter test file: no real network (nock), adapters closed and interceptors dropped after
 * each test. Returns `setup()`: a fresh adapter whose admin identity check (009) is answered once, and its scope.
 */
export function nockedHarbor(): (over?: Partial<HarborAdapterOptions>) => ReturnType<typeof makeAdapter> & { scope: Scope } {
  beforeAll(() => nock.disableNetConnect());
  afterEach(() => {
    nock.cleanAll();
    closeAdapters();
  });
  afterAll(() => nock.enableNetConnect());
  return (over = {}) => {
    const ctx = makeAdapter(over);
    const scope = harborScope();
    adminAccepted(scope);
    return { ...ctx, scope };
  };
}
