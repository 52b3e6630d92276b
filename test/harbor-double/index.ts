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
import { Sessions } from './session';
import { LoginLocks } from './logins';
import { nginxPage, nginxRoute } from './paths';
import { findUser } from './users';
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
  /** The request's `Cookie` header, when it sent one (a gateway should never). */
  cookie?: string;
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
  /**
   * Harbor's GC time window in hours (GC_TIME_WINDOW_HOURS): what was pushed or touched within it is never collected.
   * Default 0 (collect at once, as the shared recording's Harbor was set up); stock Harbor 2.5.5 is 2.
   */
  gcTimeWindowHours?: number;
  /** Delay before answering each REST (`/api/v2.0`) call, to simulate a realistic Harbor (benchmarks; default 0). */
  restLatencyMs?: number;
  /**
   * Pull counts and pull times are written in batches this often, as Harbor 2.5.5 does
   * (ARTIFACT_PULL_ASYNC_FLUSH_DURATION, default 10 s): a pull shows in the counts up to this much later. 0: at once.
   */
  pullFlushMs?: number;
  /**
   * Harbor sleeps 1.5 s on a failed password login and locks that username for as long (logins.ts); default 0 (off).
   * `1500` is Harbor 2.5.5.
   */
  wrongCredentialsDelayMs?: number;
  /** Per-operation latency with jitter and write contention (latency.ts); `'realistic'` = Harbor 2.5.5's measured timings. Default off. */
  latency?: LatencyModel | 'realistic';
  /** Key used to sign tokens (default: the per-process key whose certificate startRegistry installs). */
  signing?: SigningMaterial;
  /**
   * Also listen as Harbor's nginx (`nginxUrl`): paths are normalised the way Harbor's nginx does before the same
   * Harbor sees them (`%2F`/`%3A` decoded, `//` merged, dot segments resolved; paths.ts). `url` stays harbor-core.
   */
  nginx?: boolean;
  /** Called by reset() (and POST /__double/reset) after the state was cleared, e.g. to restart the registry with empty storage; may return a new registry URL. */
  onReset?: () => Promise<{ registryUrl?: string } | void>;
}

export interface HarborDouble {
  /** harbor-core's own listener (paths taken as sent). */
  url: string;
  port: number;
  /** With `nginx: true`: the same Harbor behind its nginx (paths normalised first). */
  nginxUrl?: string;
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
  const sessions = new Sessions();
  const logins = new LoginLocks(() => opts.wrongCredentialsDelayMs ?? 0);

  const front = new RegistryFront({
    get state() {
      return state;
    },
    key,
    registryUrl: () => registryUrl,
    externalUrl: () => externalUrl,
    coreUrl: () => url,
    tokenLifetime: opts.tokenLifetimeSeconds ?? 1800,
    pullFlushMs: opts.pullFlushMs ?? 10_000,
  });
  const rest = new Rest({
    get state() {
      return state;
    },
    externalUrl: () => externalUrl,
    deleteManifest: (repo, digest) => front.deleteUpstream(repo, digest),
    runGc: (exec) => startGc({ state, deleteManifest: (r, d) => front.deleteUpstream(r, d), delayMs: opts.gcDelayMs ?? 300, timeWindowHours: opts.gcTimeWindowHours ?? 0 }, exec),
  });

  /** `wrong`: a failed password login under that username (Harbor sleeps and locks it); `locked`: refused by the lock. */
  const resolvePrincipal = (req: http.IncomingMessage): { principal: Principal; wrong: boolean; user?: string } => {
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
      if (user.startsWith(state.robotPrefix)) {
        const stored = user.slice(state.robotPrefix.length);
        const now = Date.now();
        for (const r of state.robots.values()) {
          if (r.name !== stored || r.secret !== pass || r.disable) continue;
          if (r.duration !== -1 && r.creationTime + r.duration * 86400000 < now) continue;
          return { principal: { kind: 'robot', name: user, robot: r }, wrong: false };
        }
      }
      // the password login (after the robot check): a locked name fails at once, without the sleep
      if (logins.locked(user)) return anon(true);
      if (user === 'admin' && pass === state.adminPassword) return { principal: { kind: 'admin', name: 'admin' }, wrong: false };
      const known = user === 'admin' ? undefined : findUser(state, user, pass);
      if (known) return { principal: { kind: 'user', name: known.username, user: known }, wrong: false };
      return { ...anon(true), user };
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
    if (req.headers.cookie !== undefined) record.cookie = req.headers.cookie;
    calls.push(record);
    // beego's session cookie on every answer, gorilla/csrf for requests that carry one (session.ts)
    const session = rawPath === '/__double/reset' ? undefined : sessions.apply(req, res, method, rawPath);
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

    if (session?.csrfRefused) {
      const ctx0 = { req, res, method, rawPath, query: new URLSearchParams(rawQuery), rawQuery, requestId, principal: { kind: 'anonymous', name: '', wrongCredentials: false, sentCredentials: false } } as Ctx;
      req.resume();
      return sendError(ctx0, 403, 'FORBIDDEN', 'CSRF token invalid');
    }
    const { principal, wrong, user } = resolvePrincipal(req);
    record.principal = principal.name;
    if (wrong && user !== undefined) await logins.failed(user);
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
  const servers = [server];
  if (opts.nginx) {
    servers.push(
      http.createServer((req, res) => {
        const raw = req.url ?? '/';
        const qi = raw.indexOf('?');
        const verdict = nginxRoute(qi < 0 ? raw : raw.slice(0, qi));
        if (verdict.kind !== 'core') {
          req.resume();
          const page = nginxPage(verdict.kind === 'bad-request' ? 400 : 404);
          res.writeHead(verdict.kind === 'bad-request' ? 400 : 404, { Server: 'nginx', 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(page) });
          res.end(page);
          return;
        }
        req.url = verdict.path + (qi < 0 ? '' : raw.slice(qi));
        server.emit('request', req, res);
      }),
    );
  }
  for (const srv of servers) {
    srv.keepAliveTimeout = 5000;
    srv.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
  }
  const listen = (srv: http.Server, p: number) =>
    new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(p, '127.0.0.1', () => resolve());
    });
  await listen(server, opts.port ?? 0);
  if (servers[1]) await listen(servers[1], 0);
  const port = (server.address() as net.AddressInfo).port;
  const nginxUrl = servers[1] ? `http://127.0.0.1:${(servers[1].address() as net.AddressInfo).port}` : undefined;
  const url = `http://127.0.0.1:${port}`;
  // Harbor's external endpoint is its nginx when there is one
  if (!externalUrl) externalUrl = nginxUrl ?? url;

  const api: HarborDouble = {
    url,
    port,
    nginxUrl,
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
      sessions.clear();
      logins.clear();
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
      const closed = Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
      for (const s of sockets) s.destroy();
      return closed.then(() => undefined);
    },
  };
  return api;
}
