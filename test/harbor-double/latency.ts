/**
 * Latency model of the Harbor double: how long Harbor 2.5.5 takes to answer, per operation, with jitter and with
 * the slow-down of writes under concurrent writers. Off unless a test (or `serve.ts --latency realistic`) turns it
 * on. Numbers of the `realistic` preset come from ../shared/harbor-2.5.5/README.md: the timing table (finding k,
 * idle medians/p90 on one machine) and finding n (10 concurrent writers: `PUT /robots/{id}` and `POST /projects`
 * ~80–90 ms each).
 *
 * delay = baseMs + jitterMs × r (+ perItemMs × page_size on list calls)
 *         (+ writeContentionMs × other writes in flight, writes only: at arrival (`queue`) or at the busiest moment of
 *            the request's life (`shared`))
 * with r uniform in [0, 1) from a seeded generator, so a run can be repeated with the same seed.
 */
import { matchOperation } from '../../adapters/harbor/operations';

export interface LatencySpec {
  /** Fixed part, ms. */
  baseMs: number;
  /** Uniform random extra in [0, jitterMs), ms. */
  jitterMs?: number;
  /** Extra per requested row on list calls (`page_size`, at most 100; Harbor's list-100 is ~5× list-1). */
  perItemMs?: number;
}

export interface LatencyModel {
  /** Per operation: a REST operationId of swagger.yaml (`createProject`, `updateRobot`, ...), `token`, or a `/v2` kind (see `operationOf`). */
  operations?: Record<string, LatencySpec>;
  /** Any other REST call. */
  rest?: LatencySpec;
  /** Any other `/v2` call. */
  registry?: LatencySpec;
  /** Added to a write (REST POST/PUT/PATCH/DELETE, /v2 manifest PUT/DELETE) per other write in flight (see `writeContention`). */
  writeContentionMs?: number;
  /**
   * `queue` (default): a write pays for the writes already in flight when it arrives — 10 writers arriving together
   * take ~8, 16, ... 80 ms (median ~45), as measured in test/fixtures/harbor/live/timing.json. `shared`: every write
   * pays for the most writes in flight at once during its life — all 10 take ~80 ms, as in finding n.
   */
  writeContention?: 'queue' | 'shared';
  /** Seed of the jitter (default: random; read it back from `HarborDouble.latency()` to repeat a run). */
  seed?: number;
}

/**
 * Harbor 2.5.5 on one idle machine (finding k) plus its slow-down under concurrent writers (finding n, and
 * test/fixtures/harbor/live/timing.json: 10 concurrent robot PUTs / project POSTs, median ~43 ms, max ~77–102 ms).
 */
export const REALISTIC_LATENCY: LatencyModel = {
  rest: { baseMs: 3, jitterMs: 3 },
  registry: { baseMs: 4, jitterMs: 4 },
  writeContentionMs: 8,
  operations: {
    getPing: { baseMs: 0.5, jitterMs: 0.5 },
    getHealth: { baseMs: 1, jitterMs: 1 },
    getCurrentUserInfo: { baseMs: 2.3, jitterMs: 1.2 },
    getProject: { baseMs: 2.9, jitterMs: 1.7 },
    headProject: { baseMs: 3, jitterMs: 1 },
    listProjects: { baseMs: 4.5, jitterMs: 2.8 },
    getProjectSummary: { baseMs: 3, jitterMs: 1.4 },
    createProject: { baseMs: 4.3, jitterMs: 5 },
    updateProject: { baseMs: 3.5, jitterMs: 5 },
    deleteProject: { baseMs: 4.2, jitterMs: 2 },
    listRepositories: { baseMs: 3.5, jitterMs: 2, perItemMs: 0.17 },
    listAllRepositories: { baseMs: 3, jitterMs: 2, perItemMs: 0.16 },
    getRepository: { baseMs: 3.5, jitterMs: 1 },
    listArtifacts: { baseMs: 3, jitterMs: 3.6 },
    getArtifact: { baseMs: 3.5, jitterMs: 2 },
    deleteArtifact: { baseMs: 5, jitterMs: 3 },
    listAuditLogs: { baseMs: 2.3, jitterMs: 1.8 },
    GetRobotByID: { baseMs: 2.3, jitterMs: 1.6 },
    ListRobot: { baseMs: 3.5, jitterMs: 5 },
    CreateRobot: { baseMs: 5.9, jitterMs: 3 },
    UpdateRobot: { baseMs: 5.5, jitterMs: 2 },
    RefreshSec: { baseMs: 4.5, jitterMs: 1 },
    DeleteRobot: { baseMs: 4, jitterMs: 1.9 },
    getGC: { baseMs: 3, jitterMs: 2 },
    getGCLog: { baseMs: 3, jitterMs: 2 },
    createGCSchedule: { baseMs: 5, jitterMs: 3 },
    token: { baseMs: 8.5, jitterMs: 4 },
    'v2:ping': { baseMs: 1, jitterMs: 4.7 },
    'v2:manifest:HEAD': { baseMs: 5.3, jitterMs: 4 },
    'v2:manifest:GET': { baseMs: 6, jitterMs: 2 },
    'v2:manifest:PUT': { baseMs: 12, jitterMs: 38 },
    'v2:manifest:DELETE': { baseMs: 4, jitterMs: 2 },
    'v2:blob:HEAD': { baseMs: 3.6, jitterMs: 2.5 },
    'v2:blob:GET': { baseMs: 8, jitterMs: 1 },
    'v2:upload:POST': { baseMs: 9.7, jitterMs: 6 },
    'v2:upload:PATCH': { baseMs: 6.4, jitterMs: 2 },
    'v2:upload:PUT': { baseMs: 13, jitterMs: 6 },
    'v2:tags': { baseMs: 5.5, jitterMs: 1 },
    'v2:catalog': { baseMs: 4.2, jitterMs: 1 },
  },
};

/** The model's operation name for a request: a swagger operationId, `token`, `v2:<kind>[:<METHOD>]`, or '' (unknown). */
export function operationOf(method: string, rawPath: string): string {
  if (rawPath === '/service/token') return 'token';
  if (rawPath === '/v2' || rawPath === '/v2/') return 'v2:ping';
  if (rawPath.startsWith('/v2/')) {
    if (rawPath === '/v2/_catalog') return 'v2:catalog';
    if (/\/tags\/list$/.test(rawPath)) return 'v2:tags';
    if (/\/manifests\/[^/]+$/.test(rawPath)) return `v2:manifest:${method}`;
    if (/\/blobs\/uploads(\/[^/]*)?$/.test(rawPath)) return `v2:upload:${method}`;
    if (/\/blobs\/[^/]+$/.test(rawPath)) return `v2:blob:${method}`;
    return 'v2';
  }
  if (!rawPath.startsWith('/api/v2.0/')) return '';
  // the segments as rest.ts routes them (Harbor's nginx decodes once, core decodes each segment again)
  const safe = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  const segs = safe(rawPath).replace(/^\/api\/v2\.0\/?/, '').split('/').map(safe);
  if (segs.length > 1 && segs[segs.length - 1] === '') segs.pop();
  return matchOperation(method, segs)?.id ?? 'rest';
}

/** Whether a request counts as a write for contention (Harbor's database writes). */
export function isWrite(method: string, operation: string): boolean {
  if (operation.startsWith('v2:')) return operation === 'v2:manifest:PUT' || operation === 'v2:manifest:DELETE';
  if (operation === 'token' || operation === '') return false;
  return method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE';
}

/** mulberry32: a small seeded generator of numbers in [0, 1). */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One request's share of the model: its own delay, and what concurrent writes add to it. */
export interface LatencyTicket {
  operation: string;
  /** base + jitter (+ per-row cost). */
  delayMs: number;
  /** What concurrent writes add so far: writeContentionMs × (most writes in flight at once during its life − 1); 0 for reads. */
  contentionMs(): number;
  /** Sleeps delayMs, then as long as contentionMs() has grown beyond what was already waited. */
  wait(): Promise<void>;
  /** The answer is finished: the request no longer slows other writes down. Idempotent. */
  done(): void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Latency {
  readonly seed: number;
  private random: () => number;
  /** Writes in flight, each with the most writes in flight seen during its life. */
  private writes = new Set<{ peak: number; ahead: number }>();

  constructor(readonly model: LatencyModel) {
    this.seed = model.seed ?? Math.floor(Math.random() * 2 ** 32);
    this.random = generator(this.seed);
  }

  /** Called when a request arrives; see `LatencyModel.writeContention` for how writes slow each other down. */
  begin(method: string, rawPath: string, query: URLSearchParams): LatencyTicket {
    const operation = operationOf(method, rawPath);
    const m = this.model;
    const spec = m.operations?.[operation] ?? (operation.startsWith('v2') ? m.registry : operation && operation !== 'token' ? m.rest : undefined);
    let delayMs = 0;
    if (spec) {
      delayMs = spec.baseMs + (spec.jitterMs ?? 0) * this.random();
      if (spec.perItemMs) {
        const size = Number(query.get('page_size') ?? 10);
        delayMs += spec.perItemMs * (Number.isFinite(size) && size > 0 ? Math.min(size, 100) : 100);
      }
    }
    const per = m.writeContentionMs ?? 0;
    const entry = isWrite(method, operation) && per > 0 ? { peak: 0, ahead: this.writes.size } : undefined;
    if (entry) {
      this.writes.add(entry);
      for (const w of this.writes) w.peak = Math.max(w.peak, this.writes.size);
    }
    const shared = m.writeContention === 'shared';
    const contentionMs = () => (entry ? per * (shared ? entry.peak - 1 : entry.ahead) : 0);
    return {
      operation,
      delayMs,
      contentionMs,
      async wait() {
        if (delayMs > 0) await sleep(delayMs);
        for (let paid = 0; ; ) {
          const owed = contentionMs() - paid;
          if (owed <= 0) return;
          await sleep(owed);
          paid += owed;
        }
      },
      done: () => {
        if (entry) this.writes.delete(entry);
      },
    };
  }
}
