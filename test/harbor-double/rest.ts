/** `/api/v2.0/...`: the REST subset of Harbor 2.5.5 that hubgate and the conformance scenario use. */
import { randomBytes } from 'crypto';
import { matchOperation } from '../../adapters/harbor/operations';
import { Ctx, isoMs, readBody, send, sendEmpty, sendError, sendJson, ZERO_TIME } from './http';
import { acceptProblem, contentTypeProblem, producedText } from './negotiate';
import { canProject, canSystem, PROJECT_PAIRS, robotFullName, seesProject } from './rbac';
import { Artifact, GcExecution, Project, Repository, Robot, RobotPermissionItem, State, Tag } from './state';
import { deleteRefusal, isImmutable, parseRule, ruleKey, ruleView, rulesOf } from './immutable';
import { membersRoute, usersRoute } from './users';
import { cronProblem, executionView, policyView, RETENTION_METADATA, startExecution, taskView, type RetentionPolicyDoc } from './retention';

export interface RestEnv {
  state: State;
  externalUrl: () => string;
  /** Deletes a manifest in the backing registry (repository, digest); errors are ignored. */
  deleteManifest: (repo: string, digest: string) => Promise<void>;
  runGc: (exec: GcExecution) => void;
  /** Delay before a retention execution's tasks run (ms). */
  retentionDelayMs?: number;
}

const NAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const HARBOR_VERSION = 'v2.5.5-b09a690e';

class HttpError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}
const notFound = (m: string) => new HttpError(404, 'NOT_FOUND', m);
const badRequest = (m: string) => new HttpError(400, 'BAD_REQUEST', m);
const unauthorized = () => new HttpError(401, 'UNAUTHORIZED', 'unauthorized');
const forbidden = (m = 'forbidden') => new HttpError(403, 'FORBIDDEN', m);

/** Go's `Request.BasicAuth()` would find credentials (whether right or wrong). */
function hasBasicCredentials(ctx: Ctx): boolean {
  const m = /^basic (.*)$/i.exec(ctx.req.headers.authorization ?? '');
  return m !== null && Buffer.from(m[1], 'base64').toString('utf8').includes(':');
}

function requireAuth(ctx: Ctx): void {
  if (ctx.principal.kind === 'anonymous' || ctx.principal.kind === 'token') throw unauthorized();
}

function requireSystem(ctx: Ctx, resource: string, action: string): void {
  requireAuth(ctx);
  if (!canSystem(ctx.principal, resource, action)) throw forbidden(ctx.principal.name);
}

// ------------------------------------------------------------------ paging / query

interface Paging {
  page: number;
  pageSize: number;
}

function paging(ctx: Ctx): Paging {
  const ps = ctx.query.get('page_size');
  const pg = ctx.query.get('page');
  const pageSize = ps === null || ps === '' ? 10 : Number(ps);
  const page = pg === null || pg === '' ? 1 : Number(pg);
  if (!Number.isInteger(pageSize)) throw new HttpError(422, 'UNPROCESSABLE_ENTITY', `validation failure list:\npage_size in query must be of type int64: "${ps}"`);
  if (!Number.isInteger(page)) throw new HttpError(422, 'UNPROCESSABLE_ENTITY', `validation failure list:\npage in query must be of type int64: "${pg}"`);
  if (pageSize > 100) throw new HttpError(422, 'UNPROCESSABLE_ENTITY', 'validation failure list:\npage_size in query should be less than or equal to 100');
  return { page, pageSize };
}

function linkFor(ctx: Ctx, page: number, pageSize: number): string {
  const params = new Map<string, string>();
  for (const [k, v] of ctx.query) if (!params.has(k)) params.set(k, v);
  params.set('page', String(page));
  params.set('page_size', String(pageSize));
  const qs = [...params.keys()].sort().map((k) => `${k}=${params.get(k)}`).join('&');
  return `<${decodeURIComponent(ctx.rawPath)}?${qs}>`;
}

/** Sends a list page with X-Total-Count and Harbor's Link header. */
export function sendPage<T>(ctx: Ctx, rows: T[], map: (x: T) => unknown): void {
  const { page, pageSize } = paging(ctx);
  const total = rows.length;
  const slice = pageSize > 0 ? rows.slice((page - 1) * pageSize, page * pageSize) : rows;
  const links: string[] = [];
  if (pageSize !== 0) {
    if (page > 1 && (page - 1) * pageSize < total) links.push(`${linkFor(ctx, page - 1, pageSize)}; rel="prev"`);
    if (pageSize * page < total) links.push(`${linkFor(ctx, page + 1, pageSize)}; rel="next"`);
  }
  const headers: Record<string, string> = { 'X-Total-Count': String(total) };
  if (links.length) headers.Link = links.join(' , ');
  sendJson(ctx, 200, slice.map(map), headers);
}

interface QItem {
  key: string;
  op: 'exact' | 'fuzzy' | 'range' | 'list';
  value: string;
  from?: string;
  to?: string;
  values?: string[];
}

function parseQ(ctx: Ctx): QItem[] {
  const q = ctx.query.get('q');
  if (q === null || q === '') return [];
  const out: QItem[] = [];
  for (const part of q.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0 || i === part.length - 1) throw badRequest('the query string must contain "=" and the key/value cannot be empty');
    const key = part.slice(0, i);
    let value = part.slice(i + 1);
    if (value.startsWith('~')) {
      value = value.slice(1);
      out.push({ key, op: 'fuzzy', value });
    } else if (/^\[.*~.*\]$/.test(value)) {
      const [from, to] = value.slice(1, -1).split('~');
      out.push({ key, op: 'range', value, from, to });
    } else if (/^\{.*\}$/.test(value)) {
      out.push({ key, op: 'list', value, values: value.slice(1, -1).split(' ').filter(Boolean) });
    } else out.push({ key, op: 'exact', value });
  }
  return out;
}

function matchQ(items: QItem[], get: (key: string) => string | number | undefined): boolean {
  for (const it of items) {
    const v = get(it.key);
    if (v === undefined) continue;
    const s = String(v);
    if (it.op === 'exact' && s !== it.value) return false;
    if (it.op === 'fuzzy' && !s.includes(it.value)) return false;
    if (it.op === 'list' && !it.values!.includes(s)) return false;
  }
  return true;
}

/**
 * `q` over repositories as Harbor 2.5.5 applies it (lib/orm setFilters on RepoRecord): fuzzy `~v` is a
 * case-insensitive substring (`__icontains`); a range `[min~max]` bounds either side, inclusive; times are
 * `YYYY-MM-DDTHH:MM:SS[.fff]` read as UTC (Harbor's parser takes whole seconds; fractions reach Postgres as text,
 * which compares them as timestamps — test/fixtures/harbor/live/R03–R06); or-lists `{a b}`; unknown keys are ignored.
 */
type RepoFields = { name: string; projectId: number; id: number; pullCount: number; creationTime: number; updateTime: number };
const REPO_FIELDS: Record<string, (r: RepoFields) => string | number> = {
  name: (r) => r.name,
  project_id: (r) => r.projectId,
  repository_id: (r) => r.id,
  pull_count: (r) => r.pullCount,
  creation_time: (r) => r.creationTime,
  update_time: (r) => r.updateTime,
};

/**
 * matchRepoQ for many rows (GET /repositories over a whole platform): a q of ranges only (the image catalogue's
 * delta sync and walk) has its bounds parsed once instead of per row; anything else goes through matchRepoQ.
 */
function repoQMatcher(items: QItem[]): (r: RepoFields) => boolean {
  if (!items.every((it) => it.op === 'range' && it.key !== 'name' && REPO_FIELDS[it.key])) return (r) => matchRepoQ(items, r);
  const bounds = items.map((it) => ({ get: REPO_FIELDS[it.key], lo: rangeBound(it.key, it.from), hi: rangeBound(it.key, it.to) }));
  return (r) => bounds.every(({ get, lo, hi }) => (lo === undefined || (get(r) as number) >= lo) && (hi === undefined || (get(r) as number) <= hi));
}

const isRepoTime = (k: string) => k === 'creation_time' || k === 'update_time';
/** A range bound of `q` as Harbor reads it for that key (times: whole seconds UTC, fractions ignored as text; numbers). */
function rangeBound(k: string, v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const t = v.trim();
  if (isRepoTime(k)) return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$/.test(t) ? Date.parse(`${t}Z`) : undefined;
  return /^-?\d+$/.test(t) ? Number(t) : undefined;
}

function matchRepoQ(items: QItem[], r: RepoFields): boolean {
  const fields: Record<string, string | number> = {
    name: r.name,
    project_id: r.projectId,
    repository_id: r.id,
    pull_count: r.pullCount,
    creation_time: r.creationTime,
    update_time: r.updateTime,
  };
  const isTime = isRepoTime;
  const bound = rangeBound;
  for (const it of items) {
    const v = fields[it.key];
    if (v === undefined) continue;
    if (it.op === 'fuzzy') {
      if (!String(v).toLowerCase().includes(it.value.toLowerCase())) return false;
    } else if (it.op === 'range') {
      const lo = bound(it.key, it.from);
      const hi = bound(it.key, it.to);
      if (lo !== undefined && (v as number) < lo) return false;
      if (hi !== undefined && (v as number) > hi) return false;
    } else if (it.op === 'list') {
      if (!it.values!.includes(String(v))) return false;
    } else if (isTime(it.key) ? bound(it.key, it.value) !== v : String(v) !== it.value) return false;
  }
  return true;
}

function sortRows<T>(ctx: Ctx, rows: T[], fields: Record<string, (x: T) => string | number>, dflt: (a: T, b: T) => number): T[] {
  const sort = ctx.query.get('sort');
  const keys = (sort ?? '').split(',').filter(Boolean).map((s) => (s.startsWith('-') ? { f: s.slice(1), desc: true } : { f: s, desc: false }))
    .filter((k) => fields[k.f]);
  return [...rows].sort((a, b) => {
    for (const k of keys) {
      const va = fields[k.f](a), vb = fields[k.f](b);
      if (va < vb) return k.desc ? 1 : -1;
      if (va > vb) return k.desc ? -1 : 1;
    }
    return dflt(a, b);
  });
}

async function jsonBody(ctx: Ctx): Promise<any> {
  const buf = await readBody(ctx.req);
  if (!buf.length) return {};
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new HttpError(422, 'UNPROCESSABLE_ENTITY', `validation failure list:\nparsing body body from "" failed, because ${(e as Error).message}`);
  }
}

const goType = (v: unknown) => (typeof v === 'boolean' ? 'bool' : typeof v === 'number' ? 'number' : Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);

// ------------------------------------------------------------------ views

export class Rest {
  constructor(private env: RestEnv) {}

  private get s(): State {
    return this.env.state;
  }

  projectView(ctx: Ctx, p: Project): Record<string, unknown> {
    const v: Record<string, unknown> = {
      chart_count: 0,
      creation_time: isoMs(p.creationTime),
      current_user_role_ids: null,
      cve_allowlist: { creation_time: ZERO_TIME, id: p.id, items: [], project_id: p.id, update_time: ZERO_TIME },
      metadata: { ...p.metadata },
      name: p.name,
      owner_id: 1,
      owner_name: 'admin',
      project_id: p.id,
      repo_count: this.s.reposOfProject(p.id).length,
      update_time: isoMs(p.updateTime),
    };
    if (ctx.principal.kind === 'admin') {
      v.current_user_role_id = 1;
      v.current_user_role_ids = [1];
    }
    return v;
  }

  robotView(r: Robot): Record<string, unknown> {
    const v: Record<string, unknown> = {
      creation_time: isoMs(r.creationTime),
      disable: r.disable,
      duration: r.duration,
      editable: true,
      expires_at: r.duration === -1 ? -1 : Math.floor(r.creationTime / 1000) + r.duration * 86400,
      id: r.id,
      level: r.level,
      name: robotFullName(this.s, r),
      permissions: r.permissions
        .filter((p) => p.kind !== 'project' || this.s.projectByName(p.namespace))
        .map((p) => ({ access: p.access.map((a) => ({ action: a.action, resource: a.resource })), kind: p.kind, namespace: p.namespace })),
      update_time: isoMs(r.updateTime),
    };
    if (r.description) v.description = r.description;
    return v;
  }

  repoView(r: Repository): Record<string, unknown> {
    const v: Record<string, unknown> = {
      artifact_count: this.s.artifactsOf(r.id).length,
      creation_time: isoMs(r.creationTime),
      id: r.id,
      name: r.name,
      project_id: r.projectId,
      pull_count: r.pullCount,
      update_time: isoMs(r.updateTime),
    };
    if (r.description) v.description = r.description;
    return v;
  }

  /** `immutable` is computed only when the caller asked for `with_immutable_status=true` (false otherwise, as Harbor). */
  tagView(t: Tag, withImmutable = false): Record<string, unknown> {
    const r = withImmutable ? this.s.repositories.get(t.repositoryId) : undefined;
    return {
      artifact_id: t.artifactId,
      id: t.id,
      immutable: r ? isImmutable(this.s, r.projectId, r.name, t.name) : false,
      name: t.name,
      pull_time: t.pullTime ? isoMs(t.pullTime) : ZERO_TIME,
      push_time: isoMs(t.pushTime),
      repository_id: t.repositoryId,
      signed: false,
    };
  }

  artifactView(a: Artifact, repo: Repository, withTag: boolean, withImmutable = false): Record<string, unknown> {
    const [project, ...rest] = repo.name.split('/');
    const repoPath = encodeURIComponent(rest.join('/')).replace(/%/g, '%25');
    const tags = this.s.tagsOf(a.id).sort((x, y) => y.id - x.id);
    return {
      accessories: null,
      addition_links: {
        build_history: { absolute: false, href: `/api/v2.0/projects/${project}/repositories/${repoPath}/artifacts/${a.digest}/additions/build_history` },
      },
      digest: a.digest,
      extra_attrs: a.extraAttrs,
      icon: 'sha256:0048162a053eef4d4ce3fe7518615bef084403614f8bca43b40ae2e762e11e06',
      id: a.id,
      labels: null,
      manifest_media_type: a.manifestMediaType,
      media_type: a.mediaType,
      project_id: a.projectId,
      pull_time: a.pullTime ? isoMs(a.pullTime) : ZERO_TIME,
      push_time: isoMs(a.pushTime),
      references: null,
      repository_id: a.repositoryId,
      size: a.size,
      tags: withTag ? (tags.length ? tags.map((t) => this.tagView(t, withImmutable)) : null) : null,
      type: a.type,
    };
  }

  gcView(e: GcExecution): Record<string, unknown> {
    const params: Record<string, unknown> = {
      delete_untagged: e.parameters.delete_untagged ?? false,
      dry_run: e.parameters.dry_run ?? false,
      redis_url_reg: 'redis://127.0.0.1:6379/1?idle_timeout_seconds=30',
      time_window: e.parameters.time_window ?? 0,
    };
    return {
      creation_time: isoMs(e.creationTime),
      id: e.id,
      job_kind: 'MANUAL',
      job_name: 'GARBAGE_COLLECTION',
      job_parameters: JSON.stringify(params),
      job_status: e.status,
      schedule: { type: 'Manual' },
      update_time: e.status === 'Success' ? new Date(Math.floor(e.updateTime / 1000) * 1000).toISOString() : isoMs(e.updateTime),
    };
  }

  // ------------------------------------------------------------------ dispatch

  async handle(ctx: Ctx): Promise<void> {
    try {
      await this.route(ctx);
    } catch (e) {
      // go-swagger's own validation errors (all of Harbor's 422s) carry `Www-Authenticate: Basic realm="API"` when
      // the request had no Basic credentials: its basic authenticator left that realm in the request (seen live)
      if (e instanceof HttpError) sendError(ctx, e.status, e.code, e.message, e.status === 422 && !hasBasicCredentials(ctx) ? { 'Www-Authenticate': 'Basic realm="API"' } : {});
      else {
        sendError(ctx, 500, 'UNKNOWN', 'internal server error');
      }
    }
  }

  /** Resolves `{project_name_or_id}` like Harbor: unknown name → 403, unknown id → 404. */
  private project(ctx: Ctx, ref: string): Project {
    const byName = ctx.req.headers['x-is-resource-name'] === 'true' || !/^\d+$/.test(ref);
    if (byName) {
      const p = this.s.projectByName(ref);
      if (!p) {
        if (ctx.principal.kind === 'anonymous') throw unauthorized();
        throw forbidden();
      }
      return p;
    }
    const p = this.s.projects.get(Number(ref));
    if (!p) throw notFound(`project ${ref} not found`);
    return p;
  }

  private requireProject(ctx: Ctx, p: Project, resource: string, action: string): void {
    if (canProject(this.s, ctx.principal, p, resource, action)) return;
    if (ctx.principal.kind === 'anonymous') throw unauthorized();
    throw forbidden();
  }

  private async route(ctx: Ctx): Promise<void> {
    // nginx decodes the path once; core splits it and decodes each segment again
    let once: string;
    try {
      once = decodeURIComponent(ctx.rawPath);
    } catch {
      once = ctx.rawPath;
    }
    const segs = once.replace(/^\/api\/v2\.0\/?/, '').split('/').map((x) => {
      try {
        return decodeURIComponent(x);
      } catch {
        return x;
      }
    });
    if (segs.length > 1 && segs[segs.length - 1] === '') segs.pop();
    const m = ctx.method;
    // go-swagger validates Content-Type against `consumes` and Accept against `produces` before Harbor's handler runs (finding l)
    const op = matchOperation(m, segs);
    const unacceptable = op ? (contentTypeProblem(ctx.req, op.consumes) ?? acceptProblem(ctx.req, op.produces)) : null;
    if (unacceptable) throw new HttpError(422, 'UNPROCESSABLE_ENTITY', unacceptable);
    const notRouted = () => {
      throw notFound(`path ${once} was not found`);
    };
    const [a, b, c, d, e, f, g, h, i] = segs;
    const n = segs.length;

    switch (a) {
      case 'ping':
        if (n === 1 && (m === 'GET' || m === 'HEAD')) return this.sendText(ctx, 'Pong');
        return notRouted();
      case 'health':
        if (n === 1 && m === 'GET') return this.health(ctx);
        return notRouted();
      case 'systeminfo':
        if (n === 1 && m === 'GET') return this.systeminfo(ctx);
        if (n === 2 && b === 'volumes' && m === 'GET') {
          requireSystem(ctx, 'system-volumes', 'read');
          return sendJson(ctx, 200, { storage: [{}] });
        }
        return notRouted();
      case 'statistics':
        if (n === 1 && m === 'GET') return this.statistics(ctx);
        return notRouted();
      case 'users':
        if (await usersRoute(ctx, this.s, segs)) return; // ordinary users (users.ts)
        if (n === 2 && b === 'current' && m === 'GET') return this.currentUser(ctx);
        return notRouted();
      case 'configurations':
        if (n === 1 && m === 'GET') return this.getConfig(ctx);
        if (n === 1 && m === 'PUT') return this.putConfig(ctx);
        return notRouted();
      case 'robots':
        if (n === 1 && m === 'GET') return this.listRobots(ctx);
        if (n === 1 && m === 'POST') return this.createRobot(ctx);
        if (n === 2 && m === 'GET') return this.getRobot(ctx, b);
        if (n === 2 && m === 'PUT') return this.updateRobot(ctx, b);
        if (n === 2 && m === 'PATCH') return this.patchRobot(ctx, b);
        if (n === 2 && m === 'DELETE') return this.deleteRobot(ctx, b);
        return notRouted();
      case 'audit-logs':
        if (n === 1 && m === 'GET') {
          requireSystem(ctx, 'audit-log', 'list');
          return this.auditList(ctx, this.s.audit);
        }
        return notRouted();
      case 'retentions':
        return this.retentionRoutes(ctx, segs.slice(1), notRouted);
      case 'repositories':
        if (n === 1 && m === 'GET') return this.allRepositories(ctx);
        return notRouted();
      case 'quotas':
        if (n === 1 && m === 'GET') return this.listQuotas(ctx);
        if (n === 2 && m === 'GET') return this.getQuota(ctx, b);
        if (n === 2 && m === 'PUT') return this.putQuota(ctx, b);
        return notRouted();
      case 'system':
        if (b === 'gc') return this.gcRoutes(ctx, segs.slice(2), notRouted);
        return notRouted();
      case 'projects':
        break;
      default:
        return notRouted();
    }
    // ---- /projects
    if (n === 1) {
      if (m === 'GET') return this.listProjects(ctx);
      if (m === 'HEAD') return this.headProject(ctx);
      if (m === 'POST') return this.createProject(ctx);
      return notRouted();
    }
    if (n === 2) {
      if (m === 'GET') {
        const p = this.project(ctx, b);
        this.requireProject(ctx, p, 'project', 'read');
        return sendJson(ctx, 200, this.projectView(ctx, p));
      }
      if (m === 'PUT') return this.updateProject(ctx, b);
      if (m === 'DELETE') return this.deleteProject(ctx, b);
      return notRouted();
    }
    if (n === 3 && c === 'members' && (m === 'GET' || m === 'POST')) return membersRoute(ctx, this.s, this.project(ctx, b));
    if (n === 3 && c === 'summary' && m === 'GET') return this.summary(ctx, b);
    if (n === 3 && c === '_deletable' && m === 'GET') return this.deletable(ctx, b);
    if (n === 3 && c === 'logs' && m === 'GET') {
      const p = this.project(ctx, b);
      this.requireProject(ctx, p, 'log', 'list');
      return this.auditList(ctx, this.s.audit.filter((x) => x.projectId === p.id));
    }
    if (n === 3 && c === 'robots' && m === 'POST') return this.createRobotV1(ctx, b);
    if ((n === 3 || n === 4) && c === 'immutabletagrules') return this.immutableRoutes(ctx, b, d, n, notRouted);
    if (c === 'repositories') {
      if (n === 3 && m === 'GET') return this.listRepositories(ctx, b);
      if (n === 4) {
        if (m === 'GET') return this.getRepository(ctx, b, d);
        if (m === 'PUT') return this.updateRepository(ctx, b, d);
        if (m === 'DELETE') return this.deleteRepository(ctx, b, d);
        return notRouted();
      }
      if (e === 'artifacts') {
        if (n === 5 && m === 'GET') return this.listArtifacts(ctx, b, d);
        if (n === 6 && m === 'GET') return this.getArtifact(ctx, b, d, f);
        if (n === 6 && m === 'DELETE') return this.deleteArtifact(ctx, b, d, f);
        if (n === 7 && g === 'tags' && m === 'GET') return this.listTags(ctx, b, d, f);
        if (n === 7 && g === 'tags' && m === 'POST') return this.createTag(ctx, b, d, f);
        if (n === 8 && g === 'tags' && m === 'DELETE') return this.deleteTag(ctx, b, d, f, h);
        if (n === 8 && g === 'additions' && m === 'GET') return this.addition(ctx, b, d, f, h);
      }
    }
    void i;
    return notRouted();
  }

  /** 200 with the text of a `produces: text/plain` operation, in the format go-swagger negotiates (see negotiate.ts). */
  private sendText(ctx: Ctx, text: string): void {
    const { contentType, body } = producedText(ctx.req, ['text/plain'], text);
    send(ctx, 200, body, { 'Content-Type': contentType });
  }

  // ------------------------------------------------------------------ system

  private health(ctx: Ctx): void {
    const names = ['core', 'database', 'jobservice', 'portal', 'redis', 'registry', 'registryctl'];
    sendJson(ctx, 200, { components: names.map((name) => ({ name, status: 'healthy' })), status: 'healthy' });
  }

  private systeminfo(ctx: Ctx): void {
    if (ctx.principal.kind === 'anonymous' || ctx.principal.kind === 'token') {
      return sendJson(ctx, 200, { auth_mode: 'db_auth', harbor_version: HARBOR_VERSION, self_registration: false });
    }
    const ext = this.env.externalUrl();
    sendJson(ctx, 200, {
      auth_mode: 'db_auth',
      current_time: isoMs(Date.now()),
      external_url: ext,
      harbor_version: HARBOR_VERSION,
      has_ca_root: false,
      notification_enable: true,
      project_creation_restriction: 'everyone',
      read_only: false,
      registry_storage_provider_name: 'filesystem',
      registry_url: new URL(ext).host,
      self_registration: false,
      with_chartmuseum: false,
      with_notary: false,
    });
  }

  private statistics(ctx: Ctx): void {
    requireAuth(ctx);
    const projects = [...this.s.projects.values()].filter((p) => seesProject(this.s, ctx.principal, p));
    const pub = projects.filter((p) => p.metadata.public === 'true');
    const repos = [...this.s.repositories.values()];
    const pubIds = new Set(pub.map((p) => p.id));
    const visIds = new Set(projects.map((p) => p.id));
    const visRepos = repos.filter((r) => visIds.has(r.projectId));
    let storage = 0;
    for (const v of this.s.blobs.values()) storage += v;
    sendJson(ctx, 200, {
      private_project_count: projects.length - pub.length,
      private_repo_count: visRepos.filter((r) => !pubIds.has(r.projectId)).length,
      public_project_count: pub.length,
      public_repo_count: visRepos.filter((r) => pubIds.has(r.projectId)).length,
      total_project_count: projects.length,
      total_repo_count: visRepos.length,
      total_storage_consumption: storage,
    });
  }

  private currentUser(ctx: Ctx): void {
    if (ctx.principal.kind !== 'admin') throw unauthorized();
    sendJson(ctx, 200, {
      admin_role_in_auth: false,
      comment: 'admin user',
      creation_time: isoMs(this.s.adminCreated),
      realname: 'system admin',
      sysadmin_flag: true,
      update_time: isoMs(this.s.adminCreated),
      user_id: 1,
      username: 'admin',
    });
  }

  private getConfig(ctx: Ctx): void {
    requireSystem(ctx, 'configuration', 'read');
    const ed = (value: unknown) => ({ editable: true, value });
    sendJson(ctx, 200, {
      auth_mode: ed('db_auth'),
      email_from: ed('admin <sample_admin@mydomain.com>'),
      email_host: ed('smtp.mydomain.com'),
      email_identity: ed(''),
      email_insecure: ed(false),
      email_port: ed(25),
      email_ssl: ed(false),
      email_username: ed('sample_admin@mydomain.com'),
      http_authproxy_admin_groups: ed(''),
      http_authproxy_admin_usernames: ed(''),
      http_authproxy_endpoint: ed(''),
      http_authproxy_server_certificate: ed(''),
      http_authproxy_skip_search: ed(false),
      http_authproxy_tokenreview_endpoint: ed(''),
      http_authproxy_verify_cert: ed(true),
      ldap_base_dn: ed(''),
      ldap_filter: ed(''),
      ldap_group_admin_dn: ed(''),
      ldap_group_attribute_name: ed(''),
      ldap_group_base_dn: ed(''),
      ldap_group_membership_attribute: ed('memberof'),
      ldap_group_search_filter: ed(''),
      ldap_group_search_scope: ed(2),
      ldap_scope: ed(2),
      ldap_search_dn: ed(''),
      ldap_timeout: ed(5),
      ldap_uid: ed('cn'),
      ldap_url: ed(''),
      ldap_verify_cert: ed(true),
      notification_enable: ed(true),
      oidc_admin_group: ed(''),
      oidc_auto_onboard: ed(false),
      oidc_client_id: ed(''),
      oidc_endpoint: ed(''),
      oidc_extra_redirect_parms: ed('{}'),
      oidc_groups_claim: ed(''),
      oidc_name: ed(''),
      oidc_scope: ed(''),
      oidc_user_claim: ed(''),
      oidc_verify_cert: ed(true),
      project_creation_restriction: ed('everyone'),
      quota_per_project_enable: ed(true),
      read_only: ed(false),
      robot_name_prefix: ed(this.s.robotPrefix),
      robot_token_duration: ed(30),
      scan_all_policy: {},
      self_registration: ed(false),
      storage_per_project: ed(-1),
      token_expiration: ed(30),
      uaa_client_id: ed(''),
      uaa_client_secret: ed(''),
      uaa_endpoint: ed(''),
      uaa_verify_cert: ed(false),
    });
  }

  private async putConfig(ctx: Ctx): Promise<void> {
    requireSystem(ctx, 'configuration', 'update');
    const body = await jsonBody(ctx);
    if (typeof body.robot_name_prefix === 'string' && body.robot_name_prefix) this.s.robotPrefix = body.robot_name_prefix;
    sendEmpty(ctx, 200);
  }

  // ------------------------------------------------------------------ projects

  private listProjects(ctx: Ctx): void {
    const q = parseQ(ctx);
    const name = ctx.query.get('name');
    const pub = ctx.query.get('public');
    let rows = [...this.s.projects.values()].filter((p) => seesProject(this.s, ctx.principal, p));
    if (name) rows = rows.filter((p) => p.name.includes(name));
    if (pub === 'true' || pub === 'false') rows = rows.filter((p) => p.metadata.public === pub);
    rows = rows.filter((p) => matchQ(q, (k) => (k === 'name' ? p.name : k === 'project_id' ? p.id : k === 'public' ? p.metadata.public : undefined)));
    rows = sortRows(ctx, rows, { name: (p) => p.name, creation_time: (p) => p.creationTime, project_id: (p) => p.id }, (x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    sendPage(ctx, rows, (p) => this.projectView(ctx, p));
  }

  private headProject(ctx: Ctx): void {
    const name = ctx.query.get('project_name') ?? '';
    const p = this.s.projectByName(name);
    if (!p) return sendError(ctx, 404, 'NOT_FOUND', `project ${name} not found`);
    sendEmpty(ctx, 200);
  }

  private async createProject(ctx: Ctx): Promise<void> {
    requireAuth(ctx);
    const body = await jsonBody(ctx);
    const meta: Record<string, string> = {};
    for (const [k, v] of Object.entries(body.metadata ?? {})) {
      if (typeof v !== 'string') {
        throw new HttpError(422, 'UNPROCESSABLE_ENTITY', `validation failure list:\nparsing project body from "" failed, because json: cannot unmarshal ${goType(v)} into Go struct field ProjectMetadata.metadata.${k} of type string`);
      }
      meta[k] = v;
    }
    if (ctx.principal.kind === 'robot') throw forbidden();
    const name = String(body.project_name ?? '');
    if (!name || name.length > 255 || !NAME_RE.test(name)) throw badRequest('project name is not in lower case or contains illegal characters');
    if (this.s.projectByName(name)) throw new HttpError(409, 'CONFLICT', `The project named ${name} already exists`);
    const limit = typeof body.storage_limit === 'number' && body.storage_limit !== 0 ? body.storage_limit : -1;
    if (!Number.isInteger(limit) || (limit < 0 && limit !== -1)) throw badRequest('bad request: invalid value for resource storage');
    if (meta.public !== undefined && meta.public !== 'true') meta.public = 'false';
    const p = this.s.newProject(name, meta, limit);
    this.s.log(p.id, 'create', name, 'project', ctx.principal.name);
    sendEmpty(ctx, 201, { Location: `/api/v2.0/projects/${p.id}` });
  }

  private async updateProject(ctx: Ctx, ref: string): Promise<void> {
    const p = this.project(ctx, ref);
    this.requireProject(ctx, p, 'project', 'update');
    const body = await jsonBody(ctx);
    for (const [k, v] of Object.entries(body.metadata ?? {})) {
      if (typeof v !== 'string') {
        throw new HttpError(422, 'UNPROCESSABLE_ENTITY', `validation failure list:\nparsing project body from "" failed, because json: cannot unmarshal ${goType(v)} into Go struct field ProjectMetadata.metadata.${k} of type string`);
      }
      p.metadata[k] = v;
    }
    sendEmpty(ctx, 200);
  }

  private reposOf(p: Project): Repository[] {
    return this.s.reposOfProject(p.id);
  }

  private async deleteProject(ctx: Ctx, ref: string): Promise<void> {
    const p = this.project(ctx, ref);
    this.requireProject(ctx, p, 'project', 'delete');
    if (this.reposOf(p).length) throw new HttpError(412, 'PRECONDITION', 'precondition failed: the project contains repositories, can not be deleted');
    this.s.projects.delete(p.id);
    for (const r of [...this.s.robots.values()]) if (r.level === 'project' && r.projectId === p.id) this.s.robots.delete(r.id);
    this.s.log(p.id, 'delete', p.name, 'project', ctx.principal.name);
    sendEmpty(ctx, 200);
  }

  private quotaView(p: Project, listView: boolean): Record<string, unknown> {
    return {
      creation_time: isoMs(p.quotaCreationTime),
      hard: { storage: p.storageLimit },
      id: p.quotaId,
      ref: { id: p.id, name: p.name, owner_name: '' },
      update_time: listView ? isoMs(p.quotaUpdateTime) : ZERO_TIME,
      used: { storage: this.s.projectUsage(p.id) },
    };
  }

  private summary(ctx: Ctx, ref: string): void {
    const p = this.project(ctx, ref);
    this.requireProject(ctx, p, 'project', 'read');
    sendJson(ctx, 200, {
      chart_count: 0,
      project_admin_count: 1,
      quota: { hard: { storage: p.storageLimit }, used: { storage: this.s.projectUsage(p.id) } },
      repo_count: this.reposOf(p).length,
    });
  }

  private deletable(ctx: Ctx, ref: string): void {
    const p = this.project(ctx, ref);
    this.requireProject(ctx, p, 'project', 'delete');
    if (this.reposOf(p).length) return sendJson(ctx, 200, { message: 'the project contains repositories, can not be deleted' });
    sendJson(ctx, 200, { deletable: true });
  }

  // ------------------------------------------------------------------ quotas

  private listQuotas(ctx: Ctx): void {
    requireSystem(ctx, 'quota', 'list');
    let rows = [...this.s.projects.values()];
    const refId = ctx.query.get('reference_id');
    if (refId) rows = rows.filter((p) => String(p.id) === refId);
    rows.sort((x, y) => x.quotaId - y.quotaId);
    sendPage(ctx, rows, (p) => this.quotaView(p, true));
  }

  private quotaProject(id: string): Project {
    const p = [...this.s.projects.values()].find((x) => String(x.quotaId) === id);
    if (!p) throw notFound(`quota ${id} not found`);
    return p;
  }

  private getQuota(ctx: Ctx, id: string): void {
    requireSystem(ctx, 'quota', 'read');
    sendJson(ctx, 200, this.quotaView(this.quotaProject(id), false));
  }

  private async putQuota(ctx: Ctx, id: string): Promise<void> {
    requireSystem(ctx, 'quota', 'update');
    const p = this.quotaProject(id);
    const body = await jsonBody(ctx);
    // go-swagger: an absent or empty `hard` map is "hard required in body" (P14); Harbor: 0 or < -1 is invalid (P12, 205)
    if (!body?.hard || typeof body.hard !== 'object' || !Object.keys(body.hard).length) throw badRequest('hard required in body');
    const st = body.hard.storage;
    if (typeof st !== 'number' || !Number.isInteger(st) || st === 0 || (st < 0 && st !== -1)) throw badRequest('invalid value for resource storage');
    p.storageLimit = st;
    p.quotaUpdateTime = Date.now();
    sendEmpty(ctx, 200);
  }

  // ------------------------------------------------------------------ robots

  private parsePermissions(raw: unknown): RobotPermissionItem[] {
    if (!Array.isArray(raw)) return [];
    return raw.map((p: any) => ({
      kind: String(p?.kind ?? ''),
      namespace: String(p?.namespace ?? ''),
      access: Array.isArray(p?.access) ? p.access.map((a: any) => ({ resource: String(a?.resource ?? ''), action: String(a?.action ?? '') })) : [],
    }));
  }

  private validateRobot(body: any): { level: 'system' | 'project'; duration: number; perms: RobotPermissionItem[] } {
    const level = body.level;
    if (level !== 'system' && level !== 'project') throw badRequest(`bad request error level input: ${level ?? ''}`);
    const duration = body.duration === undefined || body.duration === null ? 0 : Number(body.duration);
    if (!Number.isInteger(duration) || duration < -1) throw badRequest(`bad request error duration input: ${body.duration}`);
    const perms = this.parsePermissions(body.permissions);
    if (!perms.length) throw badRequest('bad request empty permission');
    if (level === 'project' && (perms.length > 1 || perms[0].kind !== 'project')) throw badRequest('bad request permission');
    return { level, duration, perms };
  }

  private robotById(id: string): Robot {
    const r = /^\d+$/.test(id) ? this.s.robots.get(Number(id)) : undefined;
    if (!r) throw notFound(`robot ${id} not found`);
    return r;
  }

  private secret(): string {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    for (;;) {
      const s = Array.from(randomBytes(32), (x) => alphabet[x % alphabet.length]).join('');
      if (/[a-z]/.test(s) && /[A-Z]/.test(s) && /\d/.test(s)) return s;
    }
  }

  private async createRobot(ctx: Ctx): Promise<void> {
    requireSystem(ctx, 'robot', 'create');
    const body = await jsonBody(ctx);
    const { level, duration, perms } = this.validateRobot(body);
    const name = String(body.name ?? '');
    if (!NAME_RE.test(name) || name.length > 255) throw badRequest('robot name is not in lower case or contains illegal characters');
    let projectId = 0;
    let stored = name;
    if (level === 'project') {
      const p = this.s.projectByName(perms[0].namespace);
      if (!p) throw badRequest('bad request permission');
      projectId = p.id;
      stored = `${p.name}+${name}`;
    } else {
      for (const p of perms) if (p.kind === 'project' && !this.s.projectByName(p.namespace)) throw notFound(`project ${p.namespace} not found`);
    }
    if ([...this.s.robots.values()].some((r) => r.name === stored && r.projectId === projectId)) {
      throw new HttpError(409, 'CONFLICT', `robot account ${projectId}:${stored} already exists`);
    }
    const r = this.addRobot(stored, String(body.description ?? ''), level, projectId, duration, perms, Boolean(body.disable));
    sendJson(ctx, 201, this.createdView(r, true), { Location: `/api/v2.0/robots/${r.id}` });
  }

  private addRobot(stored: string, description: string, level: 'system' | 'project', projectId: number, duration: number, perms: RobotPermissionItem[], disable: boolean): Robot {
    const now = Date.now();
    const r: Robot = {
      id: this.s.next('robot'),
      name: stored,
      description,
      level,
      projectId,
      duration: duration === 0 ? 30 : duration,
      disable,
      secret: this.secret(),
      creationTime: now,
      updateTime: now,
      permissions: perms,
    };
    this.s.robots.set(r.id, r);
    return r;
  }

  private createdView(r: Robot, withExpiry: boolean): Record<string, unknown> {
    const v: Record<string, unknown> = { creation_time: isoMs(r.creationTime) };
    if (withExpiry) v.expires_at = r.duration === -1 ? -1 : Math.floor(r.creationTime / 1000) + r.duration * 86400;
    v.id = r.id;
    v.name = robotFullName(this.s, r);
    v.secret = r.secret;
    return v;
  }

  private async createRobotV1(ctx: Ctx, ref: string): Promise<void> {
    const p = this.project(ctx, ref);
    this.requireProject(ctx, p, 'robot', 'create');
    const body = await jsonBody(ctx);
    const name = String(body.name ?? '');
    if (!NAME_RE.test(name)) throw badRequest('robot name is not in lower case or contains illegal characters');
    const access: { resource: string; action: string }[] = [];
    for (const a of Array.isArray(body.access) ? body.access : []) {
      const res = String(a?.resource ?? '');
      const action = String(a?.action ?? '');
      const m = /^\/project\/(\d+)\/(.+)$/.exec(res);
      const resource = m ? m[2] : res;
      if (!m || Number(m[1]) !== p.id || !(PROJECT_PAIRS[resource] ?? []).includes(action)) {
        throw badRequest(`${action} action of ${res} resource not exist in project ${p.name}`);
      }
      access.push({ resource, action });
    }
    const stored = `${p.name}+${name}`;
    if ([...this.s.robots.values()].some((r) => r.name === stored && r.projectId === p.id)) {
      throw new HttpError(409, 'CONFLICT', `robot account ${p.id}:${stored} already exists`);
    }
    const r = this.addRobot(stored, String(body.description ?? ''), 'project', p.id, 30, [{ kind: 'project', namespace: p.name, access }], false);
    sendJson(ctx, 201, this.createdView(r, false), { Location: `/api/v2.0/projects/${p.name}/robots/${r.id}` });
  }

  private listRobots(ctx: Ctx): void {
    requireSystem(ctx, 'robot', 'list');
    const q = parseQ(ctx);
    const levelQ = q.find((x) => x.key === 'Level' || x.key === 'level');
    let rows = [...this.s.robots.values()];
    if (!levelQ) rows = rows.filter((r) => r.level === 'system');
    rows = rows.filter((r) =>
      matchQ(q, (k) => {
        if (k === 'name') return r.name;
        if (k === 'Level' || k === 'level') return r.level;
        if (k === 'ProjectID' || k === 'project_id') return r.projectId;
        return undefined;
      }),
    );
    rows = sortRows(ctx, rows, { name: (r) => r.name, creation_time: (r) => r.creationTime, id: (r) => r.id }, (x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    sendPage(ctx, rows, (r) => this.robotView(r));
  }

  private getRobot(ctx: Ctx, id: string): void {
    requireSystem(ctx, 'robot', 'read');
    sendJson(ctx, 200, this.robotView(this.robotById(id)));
  }

  private async updateRobot(ctx: Ctx, id: string): Promise<void> {
    requireSystem(ctx, 'robot', 'update');
    const r = this.robotById(id);
    const body = await jsonBody(ctx);
    const { level, duration, perms } = this.validateRobot(body);
    if (level !== r.level || body.name !== robotFullName(this.s, r)) throw badRequest('cannot update the level or name of robot');
    // Harbor rewrites the permissions in the request's transaction: one naming a deleted project fails it (404), nothing changes
    for (const p of perms) if (p.kind === 'project' && !this.s.projectByName(p.namespace)) throw notFound(`project ${p.namespace} not found`);
    r.description = typeof body.description === 'string' ? body.description : '';
    r.disable = Boolean(body.disable);
    r.duration = duration === 0 ? 30 : duration;
    r.permissions = perms;
    r.updateTime = Date.now();
    sendEmpty(ctx, 200);
  }

  private async patchRobot(ctx: Ctx, id: string): Promise<void> {
    requireSystem(ctx, 'robot', 'update');
    const r = this.robotById(id);
    const body = await jsonBody(ctx);
    if (body.secret !== undefined && body.secret !== '') {
      const s = String(body.secret);
      if (s.length < 8 || s.length > 128 || !/[a-z]/.test(s) || !/[A-Z]/.test(s) || !/\d/.test(s)) {
        throw badRequest('the secret must longer than 8 chars with at least 1 uppercase letter, 1 lowercase letter and 1 number');
      }
      r.secret = s;
      r.updateTime = Date.now();
      return sendJson(ctx, 200, {});
    }
    r.secret = this.secret();
    r.updateTime = Date.now();
    sendJson(ctx, 200, { secret: r.secret });
  }

  private deleteRobot(ctx: Ctx, id: string): void {
    requireSystem(ctx, 'robot', 'delete');
    const r = this.robotById(id);
    this.s.robots.delete(r.id);
    sendEmpty(ctx, 200);
  }

  // ------------------------------------------------------------------ audit logs

  private auditList(ctx: Ctx, rows0: State['audit']): void {
    const q = parseQ(ctx);
    for (const it of q) {
      if (it.op === 'range' && it.key === 'op_time') {
        if (Number.isNaN(Date.parse(it.from ?? '')) || Number.isNaN(Date.parse(it.to ?? ''))) throw new HttpError(500, 'UNKNOWN', 'internal server error');
      }
    }
    let rows = rows0.filter((x) =>
      matchQ(q, (k) => (k === 'operation' ? x.operation : k === 'resource' ? x.resource : k === 'resource_type' ? x.resourceType : k === 'username' ? x.username : undefined)),
    );
    for (const it of q) {
      if (it.op === 'range' && it.key === 'op_time') {
        const from = Date.parse(it.from!), to = Date.parse(it.to!);
        rows = rows.filter((x) => x.opTime >= from && x.opTime <= to);
      }
    }
    rows = [...rows].sort((x, y) => y.opTime - x.opTime || y.id - x.id);
    sendPage(ctx, rows, (x) => ({ id: x.id, op_time: isoMs(x.opTime), operation: x.operation, resource: x.resource, resource_type: x.resourceType, username: x.username }));
  }

  // ------------------------------------------------------------------ repositories / artifacts

  private allRepositories(ctx: Ctx): void {
    requireAuth(ctx);
    const q = parseQ(ctx);
    const visible = new Set([...this.s.projects.values()].filter((p) => seesProject(this.s, ctx.principal, p)).map((p) => p.id));
    let rows = [...this.s.repositories.values()].filter((r) => visible.has(r.projectId));
    if (q.length > 0) rows = rows.filter(repoQMatcher(q));
    rows = this.sortRepos(ctx, rows);
    sendPage(ctx, rows, (r) => this.repoView(r));
  }

  private sortRepos(ctx: Ctx, rows: Repository[]): Repository[] {
    return sortRows(ctx, rows, { name: (r) => r.name, creation_time: (r) => r.creationTime, update_time: (r) => r.updateTime, pull_count: (r) => r.pullCount, repository_id: (r) => r.id, project_id: (r) => r.projectId },
      (x, y) => y.creationTime - x.creationTime || y.id - x.id);
  }

  private listRepositories(ctx: Ctx, ref: string): void {
    const p = this.project(ctx, ref);
    this.requireProject(ctx, p, 'repository', 'list');
    const q = parseQ(ctx);
    let rows = this.reposOf(p).filter((r) => matchRepoQ(q, r));
    rows = this.sortRepos(ctx, rows);
    sendPage(ctx, rows, (r) => this.repoView(r));
  }

  private repo(ctx: Ctx, ref: string, name: string, resource: string, action: string): { p: Project; r: Repository } {
    const p = this.project(ctx, ref);
    this.requireProject(ctx, p, resource, action);
    const full = `${p.name}/${name}`;
    const r = this.s.repoByName(full);
    if (!r) throw notFound(`repository ${full} not found`);
    return { p, r };
  }

  private getRepository(ctx: Ctx, ref: string, name: string): void {
    const { r } = this.repo(ctx, ref, name, 'repository', 'read');
    sendJson(ctx, 200, this.repoView(r));
  }

  private async updateRepository(ctx: Ctx, ref: string, name: string): Promise<void> {
    const { r } = this.repo(ctx, ref, name, 'repository', 'update');
    const body = await jsonBody(ctx);
    r.description = typeof body.description === 'string' ? body.description : '';
    r.updateTime = Date.now();
    sendEmpty(ctx, 200);
  }

  private async deleteRepository(ctx: Ctx, ref: string, name: string): Promise<void> {
    const { p, r } = this.repo(ctx, ref, name, 'repository', 'delete');
    for (const a of this.s.artifactsOf(r.id)) this.refuseImmutable(r, a);
    for (const a of this.s.artifactsOf(r.id)) {
      await this.env.deleteManifest(r.name, a.digest);
      this.s.log(p.id, 'delete', `${r.name}:${a.digest}`, 'artifact', ctx.principal.name);
      this.s.deleteArtifact(a);
    }
    this.s.repositories.delete(r.id);
    this.s.log(p.id, 'delete', r.name, 'repository', ctx.principal.name);
    sendEmpty(ctx, 200);
  }

  private artifact(r: Repository, reference: string): Artifact {
    let a: Artifact | undefined;
    if (/^sha256:[0-9a-f]{64}$/.test(reference)) a = this.s.artifactByDigest(r.id, reference);
    else {
      const t = this.s.tagByName(r.id, reference);
      if (t) a = this.s.artifacts.get(t.artifactId);
    }
    if (!a) throw notFound(`artifact ${r.name}${/^sha256:[0-9a-f]{64}$/.test(reference) ? '@' : ':'}${reference} not found`);
    return a;
  }

  private listArtifacts(ctx: Ctx, ref: string, name: string): void {
    const { r } = this.repo(ctx, ref, name, 'artifact', 'list');
    const withTag = ctx.query.get('with_tag') !== 'false';
    const rows = this.s.artifactsOf(r.id).sort((x, y) => y.pushTime - x.pushTime || y.id - x.id);
    const withImmutable = ctx.query.get('with_immutable_status') === 'true';
    sendPage(ctx, rows, (a) => this.artifactView(a, r, withTag, withImmutable));
  }

  private getArtifact(ctx: Ctx, ref: string, name: string, reference: string): void {
    const { r } = this.repo(ctx, ref, name, 'artifact', 'read');
    const a = this.artifact(r, reference);
    sendJson(ctx, 200, this.artifactView(a, r, ctx.query.get('with_tag') !== 'false', ctx.query.get('with_immutable_status') === 'true'));
  }

  private async deleteArtifact(ctx: Ctx, ref: string, name: string, reference: string): Promise<void> {
    const { p, r } = this.repo(ctx, ref, name, 'artifact', 'delete');
    const a = this.artifact(r, reference);
    this.refuseImmutable(r, a);
    await this.env.deleteManifest(r.name, a.digest);
    this.s.deleteArtifact(a);
    this.s.log(p.id, 'delete', `${r.name}:${a.digest}`, 'artifact', ctx.principal.name);
    sendEmpty(ctx, 200);
  }

  private listTags(ctx: Ctx, ref: string, name: string, reference: string): void {
    const { r } = this.repo(ctx, ref, name, 'tag', 'list');
    const a = this.artifact(r, reference);
    const withImmutable = ctx.query.get('with_immutable_status') === 'true';
    sendPage(ctx, this.s.tagsOf(a.id).sort((x, y) => y.id - x.id), (t) => this.tagView(t, withImmutable));
  }

  private async createTag(ctx: Ctx, ref: string, name: string, reference: string): Promise<void> {
    const { p, r } = this.repo(ctx, ref, name, 'tag', 'create');
    const a = this.artifact(r, reference);
    const body = await jsonBody(ctx);
    const tagName = String(body.name ?? '');
    if (!tagName) throw badRequest('tag name is required');
    if (this.s.tagByName(r.id, tagName)) throw new HttpError(409, 'CONFLICT', `tag ${tagName} already exists under the repository ${r.id}`);
    const t: Tag = { id: this.s.next('tag'), name: tagName, artifactId: a.id, repositoryId: r.id, pushTime: Date.now(), pullTime: 0 };
    this.s.tags.set(t.id, t);
    this.s.log(p.id, 'create', `${r.name}:${tagName}`, 'tag', ctx.principal.name);
    sendEmpty(ctx, 201);
  }

  private deleteTag(ctx: Ctx, ref: string, name: string, reference: string, tagName: string): void {
    const { p, r } = this.repo(ctx, ref, name, 'tag', 'delete');
    const a = this.artifact(r, reference);
    const t = this.s.tagsOf(a.id).find((x) => x.name === tagName);
    if (!t) throw notFound(`tag ${tagName} not found`);
    if (isImmutable(this.s, r.projectId, r.name, t.name)) throw new HttpError(412, 'PRECONDITION', deleteRefusal(t.name));
    this.s.tags.delete(t.id);
    this.s.log(p.id, 'delete', `${r.name}:${tagName}`, 'tag', ctx.principal.name);
    sendEmpty(ctx, 200);
  }

  /** Harbor refuses to delete an artifact (or the repository holding it) while one of its tags is immutable (P31, P33). */
  private refuseImmutable(r: Repository, a: Artifact): void {
    const t = this.s.tagsOf(a.id).find((x) => isImmutable(this.s, r.projectId, r.name, x.name));
    if (t) throw new HttpError(412, 'PRECONDITION', deleteRefusal(t.name));
  }

  // ------------------------------------------------------------------ immutable tag rules (live-policies P16–P41)

  private async immutableRoutes(ctx: Ctx, ref: string, id: string | undefined, n: number, notRouted: () => never): Promise<void> {
    const m = ctx.method;
    const p = this.project(ctx, ref);
    if (n === 3 && m === 'GET') {
      this.requireProject(ctx, p, 'immutable-tag', 'list');
      return sendPage(ctx, rulesOf(this.s, p), ruleView);
    }
    if (n === 3 && m === 'POST') {
      this.requireProject(ctx, p, 'immutable-tag', 'create');
      const rule = parseRule(await jsonBody(ctx), p.id);
      // the id is taken before the unique index (project_id, tag_filter) refuses a duplicate, as PostgreSQL's sequence does
      const newId = this.s.next('immutableRule');
      if ([...this.s.immutableRules.values()].some((x) => ruleKey(x) === ruleKey(rule))) throw new HttpError(409, 'CONFLICT', 'immutable rule already exists');
      this.s.immutableRules.set(newId, { ...rule, id: newId });
      return sendEmpty(ctx, 201, { Location: `/api/v2.0/projects/${ref}/immutabletagrules/${newId}` });
    }
    if (n === 4 && (m === 'PUT' || m === 'DELETE')) {
      this.requireProject(ctx, p, 'immutable-tag', m === 'PUT' ? 'update' : 'delete');
      const existing = this.s.immutableRules.get(Number(id));
      if (!existing || existing.projectId !== p.id || !/^\d+$/.test(String(id))) throw notFound(`immutable rule ${id} not found`);
      if (m === 'DELETE') {
        this.s.immutableRules.delete(existing.id);
        return sendEmpty(ctx, 200);
      }
      const rule = parseRule(await jsonBody(ctx), p.id);
      this.s.immutableRules.set(existing.id, { ...rule, id: existing.id });
      return sendEmpty(ctx, 200);
    }
    return notRouted();
  }

  private addition(ctx: Ctx, ref: string, name: string, reference: string, addition: string): void {
    const { r } = this.repo(ctx, ref, name, 'artifact-addition', 'read');
    const a = this.artifact(r, reference);
    if (addition !== 'build_history') throw notFound(`addition ${addition} not found`);
    send(ctx, 200, JSON.stringify(a.history ?? null), { 'Content-Type': 'application/json; charset=utf-8' });
  }

  // ------------------------------------------------------------------ GC

  // ------------------------------------------------------------------ tag retention (retention.ts)

  private async retentionRoutes(ctx: Ctx, rest: string[], notRouted: () => never): Promise<void> {
    const m = ctx.method;
    const store = this.s.retention;
    requireAuth(ctx);
    if (rest.length === 1 && rest[0] === 'metadatas' && m === 'GET') return sendJson(ctx, 200, RETENTION_METADATA);
    const may = (p: Project | undefined, action: string) => {
      if (!p || !canProject(this.s, ctx.principal, p, 'tag-retention', action)) throw forbidden();
    };
    // A schedule is a periodic job of Harbor's task manager: it takes an execution id and a task id (R09, R14)
    const scheduled = (doc: RetentionPolicyDoc, before: string) => {
      const cron = doc.trigger?.settings?.cron ?? '';
      if (cron && cron !== before) {
        this.s.next('execution');
        this.s.next('retention-task');
      }
    };
    const checked = (body: any): RetentionPolicyDoc => {
      const cron = body?.trigger?.settings?.cron;
      const problem = cronProblem(typeof cron === 'string' ? cron : undefined);
      if (problem) throw badRequest(problem);
      return { id: 0, algorithm: body?.algorithm ?? 'or', rules: Array.isArray(body?.rules) ? body.rules : [], trigger: body?.trigger ?? {}, scope: body?.scope ?? {} };
    };
    if (rest.length === 0 && m === 'POST') {
      const body = await jsonBody(ctx);
      const p = this.s.projects.get(Number(body?.scope?.ref));
      may(p, 'create');
      if (p!.metadata.retention_id) throw badRequest(`bad request: project ${p!.id} already has retention policy ${p!.metadata.retention_id}`);
      // the policy row is written before its schedule is checked: a bad cron still uses up an id (R04, R05)
      const id = this.s.next('retention');
      const doc = checked(body);
      doc.id = id;
      scheduled(doc, '');
      store.policies.set(doc.id, doc);
      p!.metadata.retention_id = String(doc.id);
      return sendEmpty(ctx, 201, { Location: `/api/v2.0/retentions/${doc.id}` });
    }
    const policy = store.policies.get(Number(rest[0]));
    // Harbor answers an unknown policy id with 500 (recording R12)
    if (!policy) throw new HttpError(500, 'UNKNOWN', 'internal server error');
    const project = this.s.projects.get(Number(policy.scope.ref));
    if (rest.length === 1) {
      if (m === 'GET') {
        may(project, 'read');
        return sendJson(ctx, 200, policyView(policy));
      }
      if (m === 'PUT') {
        const doc = checked(await jsonBody(ctx));
        may(project, 'update');
        scheduled(doc, policy.trigger?.settings?.cron ?? '');
        policy.rules = doc.rules;
        policy.trigger = doc.trigger;
        policy.algorithm = doc.algorithm;
        return sendEmpty(ctx, 200);
      }
      return notRouted();
    }
    if (rest[1] !== 'executions') return notRouted();
    if (rest.length === 2 && m === 'POST') {
      const body = await jsonBody(ctx);
      may(project, 'operate');
      const exec = startExecution({ state: this.s, store, deleteManifest: this.env.deleteManifest, delayMs: this.env.retentionDelayMs ?? 50 }, policy, project!, body?.dry_run === true);
      return sendEmpty(ctx, 201, { Location: `/api/v2.0/retentions/${policy.id}/executions/${exec.id}` });
    }
    if (rest.length === 2 && m === 'GET') {
      may(project, 'list');
      return sendPage(ctx, store.executions.filter((e) => e.policyId === policy.id).sort((a, b) => b.id - a.id), executionView);
    }
    const exec = store.executions.find((e) => e.policyId === policy.id && String(e.id) === rest[2]);
    if (rest.length === 4 && rest[3] === 'tasks' && m === 'GET') {
      may(project, 'list');
      return sendPage(ctx, exec ? [...exec.tasks].sort((a, b) => b.id - a.id) : [], taskView);
    }
    if (rest.length === 5 && rest[3] === 'tasks' && m === 'GET') {
      may(project, 'read');
      const task = exec?.tasks.find((t) => String(t.id) === rest[4]);
      if (!task) throw notFound(`task ${rest[4]} not found`);
      return this.sendText(ctx, task.log);
    }
    return notRouted();
  }

  private async gcRoutes(ctx: Ctx, rest: string[], notRouted: () => never): Promise<void> {
    const m = ctx.method;
    requireSystem(ctx, 'garbage-collection', m === 'GET' ? 'list' : 'create');
    if (rest.length === 0 && m === 'GET') {
      const rows = [...this.s.gc].sort((x, y) => y.id - x.id);
      return sendPage(ctx, rows, (e) => this.gcView(e));
    }
    if (rest.length === 1 && rest[0] === 'schedule') {
      if (m === 'GET') {
        const sc = this.s.gcSchedule;
        if (!sc) return send(ctx, 200, null, { 'Content-Type': 'application/json' });
        return sendJson(ctx, 200, {
          creation_time: isoMs(sc.creationTime),
          id: sc.id,
          job_kind: sc.cron ?? sc.type,
          job_parameters: JSON.stringify(sc.parameters),
          job_status: 'Running',
          schedule: { cron: sc.cron, type: sc.type },
          update_time: isoMs(sc.updateTime),
        });
      }
      const body = await jsonBody(ctx);
      const type = body?.schedule?.type;
      if (m === 'POST') {
        if (type !== 'Manual') {
          if ((type === 'Custom' || type === 'Hourly' || type === 'Daily' || type === 'Weekly') && !this.s.gcSchedule) return this.setSchedule(ctx, body, 201);
          throw badRequest(`invalid schedule type ${type}`);
        }
        const now = Date.now();
        const exec: GcExecution = { id: this.s.next('gc'), scheduleType: 'Manual', parameters: body.parameters ?? {}, status: 'Running', creationTime: now, updateTime: now, log: [], deleted: false };
        this.s.gc.push(exec);
        this.env.runGc(exec);
        return sendEmpty(ctx, 201, { Location: `/api/v2.0/system/gc/${exec.id}` });
      }
      if (m === 'PUT') return this.setSchedule(ctx, body, 200);
      return notRouted();
    }
    if (rest.length === 1 && m === 'GET') {
      const e = this.s.gc.find((x) => String(x.id) === rest[0]);
      if (!e) throw notFound(`garbage collection execution ${rest[0]} not found`);
      return sendJson(ctx, 200, this.gcView(e));
    }
    if (rest.length === 2 && rest[1] === 'log' && m === 'GET') {
      const e = this.s.gc.find((x) => String(x.id) === rest[0]);
      if (!e) throw notFound(`garbage collection ${rest[0]} log is not found`);
      return this.sendText(ctx, e.log.map((l) => l + '\n').join(''));
    }
    return notRouted();
  }

  private setSchedule(ctx: Ctx, body: any, status: number): void {
    const type = body?.schedule?.type;
    if (type === 'None') {
      this.s.gcSchedule = null;
      return sendEmpty(ctx, status);
    }
    const crons: Record<string, string> = { Hourly: '0 0 * * * *', Daily: '0 0 0 * * *', Weekly: '0 0 0 * * 0' };
    const cron = type === 'Custom' ? body?.schedule?.cron : crons[type];
    if (!cron) throw badRequest('empty cron string for gc schedule');
    const now = Date.now();
    this.s.gcSchedule = { type, cron, parameters: body.parameters ?? {}, creationTime: now, updateTime: now, id: this.s.gcSchedule?.id ?? this.s.next('gc-schedule') };
    sendEmpty(ctx, status);
  }
}
