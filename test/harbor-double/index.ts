/**
 * In-process test double of Harbor 2.5.5 behind its nginx: REST API (`/api/v2.0`), token service
 * (`/service/token`) and the registry front (`/v2/`, proxied to a real docker-registry started with
 * test/support/registry.ts). Behaviour follows ../shared/harbor-2.5.5/exchanges (see its README).
 *
 *   const registry = await startRegistry();
 *   const harbor = await startHarborDouble({ registryUrl: registry.url });
 *   ... harbor.url ...
 *   await harbor.close(); await registry.stop();
 */
import http from 'http';
import net from 'net';
import { randomUUID } from 'crypto';
import { Ctx, Principal, sendError } from './http';
import { SigningMaterial, signingMaterial } from './keys';
import { verifyToken } from './jwt';
import { Rest } from './rest';
import { RegistryFront } from './registry';
import { startGc } from './gc';
import { State } from './state';
import { Latency, LatencyModel, REALISTIC_LATENCY } from './latency';

export { State } from './state';
export { signingMaterial } from './keys';
export { REALISTIC_LATENCY } from './latency';
export type { LatencyModel, LatencySpec } from './latency';

export type FaultOutcome = number | 'timeout' | 'reset';

export interface CallRecord {
  method: string;
  /** Path + query as sent. */
  url: string;
  status: number;
  /** `admin`, a robot's full name, a token subject, or '' (anonymous). */
  principal: string;
  at: number;
  fault?: FaultOutcome;
}

export interface HarborDoubleOptions {
  /** Base URL of the docker-registry behind `/v2` (e.g. from startRegistry). Without it `/v2` calls fail with 503. */
  registryUrl?: string;
  /** Password of user `admin` (default Harbor12345). */
  adminPassword?: string;
  /** Listen port on 127.0.0.1 (default 0 = random). */
  port?: number;
  /** Harbor's external URL (token realm, systeminfo); default `http://127.0.0.1:<port>`. */
  externalUrl?: string;
  /** Registry token lifetime in seconds (default 1800 = Harbor's 30 min). */
  tokenLifetimeSeconds?: number;
  /** Delay before a submitted GC starts (default 300 ms). */
  gcDelayMs?: number;
  /** Delay before answering each REST (`/api/v2.0`) call, to simulate a realistic Harbor (benchmarks; default 0). */
  restLatencyMs?: number;
  /**
   * Pull counts and pull times are written in batches this often, as Harbor 2.5.5 does
   * (ARTIFACT_PULL_ASYNC_FLUSH_DURATION, default 10 s): a pull shows in the counts up to this much later. 0: at once.
   */
  pullFlushMs?: number;
  /** Extra delay on wrong Basic credentials (Harbor sleeps 1.5 s; default 0). */
  wrongCredentialsDelayMs?: number;
  /** Per-operation latency with jitter and write contention (latency.ts); `'realistic'` = Harbor 2.5.5's measured timings. Default off. */
  latency?: LatencyModel | 'realistic';
  /** Key used to sign tokens (default: the per-process key whose certificate startRegistry installs). */
  signing?: SigningMaterial;
  /** Called by reset() (and POST /__double/reset) after the state was cleared, e.g. to restart the registry with empty storage; may return a new registry URL. */
  onReset?: () => Promise<{ registryUrl?: string } | void>;
}

export interface HarborDouble {
  url: string;
  port: number;
  state: State;
  /** Every request seen (oldest first). */
  calls: CallRecord[];
  clearCalls(): void;
  /** The next `times` requests matching method (or '*') and path regex get `outcome` instead of an answer. */
  failNext(method: string, path: RegExp | string, outcome: FaultOutcome, times?: number): void;
  clearFaults(): void;
  /** Back to a fresh install: admin/<adminPassword>, only project `library` (id 1, public), prefix `robot$`. */
  reset(): Promise<void>;
  setRegistryUrl(url: string | undefined): void;
  /** Turns the latency model on (a model, or `'realistic'`) or off (`null`); returns the seed of its jitter. */
  setLatency(model: LatencyModel | 'realistic' | null): number | undefined;
  close(): Promise<void>;
}

interface Fault {
  method: string;
  path: RegExp;
  outcome: FaultOutcome;
  remaining: number;
}

const STATUS_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  412: 'PRECONDITION',
  422: 'UNPROCESSABLE_ENTITY',
  500: 'UNKNOWN',
  502: 'UNKNOWN',
  503: 'UNKNOWN',
  504: 'UNKNOWN',
};

export async function startHarborDouble(opts: HarborDoubleOptions = {}): Promise<HarborDouble> {
  const adminPassword = opts.adminPassword ?? 'Harbor12345';
  const key = opts.signing ?? signingMaterial();
  let registryUrl = opts.registryUrl;
  let state = new State(adminPassword);
  let externalUrl = opts.externalUrl ?? '';
  const calls: CallRecord[] = [];
  let faults: Fault[] = [];
  const sockets = new Set<net.Socket>();
  const makeLatency = (m: LatencyModel | 'realistic' | null | undefined) => (m ? new Latency(m === 'realistic' ? REALISTIC_LATENCY : m) : undefined);
  let latency = makeLatency(opts.latency);

  const front = new RegistryFront({
    get state() {
      return state;
    },
    key,
    registryUrl: () => registryUrl,
    externalUrl: () => externalUrl,
    tokenLifetime: opts.tokenLifetimeSeconds ?? 1800,
    pullFlushMs: opts.pullFlushMs ?? 10_000,
  });
  const rest = new Rest({
    get state() {
      return state;
    },
    externalUrl: () => externalUrl,
    deleteManifest: (repo, digest) => front.deleteUpstream(repo, digest),
    runGc: (exec) => startGc({ state, deleteManifest: (r, d) => front.deleteUpstream(r, d), delayMs: opts.gcDelayMs ?? 300 }, exec),
  });

  const resolvePrincipal = (req: http.IncomingMessage): { principal: Principal; wrong: boolean } => {
    const h = req.headers.authorization;
    if (!h) return { principal: { kind: 'anonymous', name: '', wrongCredentials: false, sentCredentials: false }, wrong: false };
    const anon = (wrong: boolean): { principal: Principal; wrong: boolean } => ({
      principal: { kind: 'anonymous', name: '', wrongCredentials: wrong, sentCredentials: true },
      wrong,
    });
    const [scheme, value] = [h.slice(0, h.indexOf(' ')).toLowerCase(), h.slice(h.indexOf(' ') + 1).trim()];
    if (scheme === 'basic') {
      const dec = Buffer.from(value, 'base64').toString('utf8');
      const i = dec.indexOf(':');
      if (i < 0) return anon(true);
      const user = dec.slice(0, i);
      const pass = dec.slice(i + 1);
      if (user === 'admin' && pass === state.adminPassword) return { principal: { kind: 'admin', name: 'admin' }, wrong: false };
      if (user.startsWith(state.robotPrefix)) {
        const stored = user.slice(state.robotPrefix.length);
        const now = Date.now();
        for (const r of state.robots.values()) {
          if (r.name !== stored || r.secret !== pass || r.disable) continue;
          if (r.duration !== -1 && r.creationTime + r.duration * 86400000 < now) continue;
          return { principal: { kind: 'robot', name: user, robot: r }, wrong: false };
        }
      }
      return anon(true);
    }
    if (scheme === 'bearer') {
      const claims = verifyToken(key, value);
      if (!claims) return anon(false);
      return { principal: { kind: 'token', name: claims.sub ?? '', access: claims.access }, wrong: false };
    }
    return anon(false);
  };

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const rawUrl = req.url ?? '/';
    const qi = rawUrl.indexOf('?');
    const rawPath = qi < 0 ? rawUrl : rawUrl.slice(0, qi);
    const rawQuery = qi < 0 ? '' : rawUrl.slice(qi + 1);
    const method = (req.method ?? 'GET').toUpperCase();
    const incomingId = req.headers['x-request-id'];
    const requestId = typeof incomingId === 'string' && incomingId ? incomingId : randomUUID();
    const record: CallRecord = { method, url: rawUrl, status: 0, principal: '', at: Date.now() };
    calls.push(record);
    res.on('finish', () => {
      record.status = res.statusCode;
    });

    const fault = faults.find((f) => (f.method === '*' || f.method === method) && f.path.test(rawPath));
    if (fault) {
      fault.remaining -= 1;
      if (fault.remaining <= 0) faults = faults.filter((f) => f !== fault);
      record.fault = fault.outcome;
      if (fault.outcome === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault.outcome === 'timeout') return; // never answered; closed with the server
      const ctx0 = { req, res, method, rawPath, query: new URLSearchParams(rawQuery), rawQuery, requestId, principal: { kind: 'anonymous', name: '', wrongCredentials: false, sentCredentials: false } } as Ctx;
      req.resume();
      return sendError(ctx0, fault.outcome, STATUS_CODES[fault.outcome] ?? 'UNKNOWN', 'injected fault');
    }

    const { principal, wrong } = resolvePrincipal(req);
    record.principal = principal.name;
    if (wrong && opts.wrongCredentialsDelayMs) await new Promise((r) => setTimeout(r, opts.wrongCredentialsDelayMs));
    if (latency && rawPath !== '/__double/reset') {
      const l = latency.begin(method, rawPath, new URLSearchParams(rawQuery));
      res.on('close', l.done);
      await l.wait();
    }
    const ctx: Ctx = { req, res, method, rawPath, query: new URLSearchParams(rawQuery), rawQuery, requestId, principal };

    if (rawPath === '/__double/reset' && method === 'POST') {
      await api.reset();
      res.writeHead(204, { 'X-Request-Id': requestId });
      res.end();
      return;
    }
    if (rawPath.startsWith('/api/v2.0/') || rawPath === '/api/v2.0') {
      if (opts.restLatencyMs) await new Promise((r) => setTimeout(r, opts.restLatencyMs));
      return rest.handle(ctx);
    }
    if (rawPath === '/service/token') return front.handleToken(ctx);
    if (rawPath === '/v2' || rawPath.startsWith('/v2/')) {
      if (!registryUrl) {
        req.resume();
        return sendError(ctx, 503, 'UNKNOWN', 'no registry behind this Harbor double');
      }
      return front.handleV2(ctx);
    }
    req.resume();
    sendError(ctx, 404, 'NOT_FOUND', `path ${rawPath} was not found`);
  };

  const server = http.createServer((req, res) => {
    handler(req, res).catch((e) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'internal server error' }] }) + '\n');
      } else res.destroy(e as Error);
    });
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  if (!externalUrl) externalUrl = url;

  const api: HarborDouble = {
    url,
    port,
    get state() {
      return state;
    },
    calls,
    clearCalls: () => {
      calls.length = 0;
    },
    failNext(method, path, outcome, times = 1) {
      faults.push({ method: method.toUpperCase(), path: typeof path === 'string' ? new RegExp(path) : path, outcome, remaining: times });
    },
    clearFaults() {
      faults = [];
    },
    async reset() {
      state = new State(adminPassword);
      faults = [];
      calls.length = 0;
      if (opts.onReset) {
        const r = await opts.onReset();
        if (r && r.registryUrl) registryUrl = r.registryUrl;
      }
    },
    setRegistryUrl(u) {
      registryUrl = u;
    },
    setLatency(m) {
      latency = makeLatency(m);
      return latency?.seed;
    },
    close() {
      front.close();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
  return api;
}
