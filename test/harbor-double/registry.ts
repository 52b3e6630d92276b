/**
 * `/service/token` (Harbor's token service) and `/v2/...` (Harbor core in front of a real docker-registry):
 * authentication, Harbor's own answers (401/404/400/412/403 shapes), then a streaming proxy to the registry with
 * an internal token; manifest PUT/DELETE/GET are watched to keep repositories, artifacts, tags, pull counts and
 * audit logs in step.
 */
import { createHash } from 'crypto';
import http from 'http';
import { signToken, AccessEntry } from './jwt';
import { SigningMaterial } from './keys';
import { Ctx, errorBody, isoSec, send } from './http';
import { canProject, registryActions } from './rbac';
import { coreV2Path } from './paths';
import { Artifact, Repository, State, Tag } from './state';
import { deleteRefusal, isImmutable, pushRefusal } from './immutable';

const DDAV = { 'Docker-Distribution-Api-Version': 'registry/2.0' };
const JSON_UTF8 = 'application/json; charset=utf-8';
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
/** distribution's own limit for manifest bodies */
const MANIFEST_LIMIT = 4 * 1024 * 1024;
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer']);

export interface RegistryEnv {
  state: State;
  key: SigningMaterial;
  registryUrl: () => string | undefined;
  externalUrl: () => string;
  /** harbor-core's own URL: a request addressed to it (Host) gets it as token realm, any other the external URL. */
  coreUrl?: () => string;
  tokenLifetime: number;
  /** Batch interval of pull counts and times (ms); 0 = at once. */
  pullFlushMs?: number;
}

/** go-humanize IBytes (what Harbor's quota messages use). */
export function ibytes(n: number): string {
  if (n < 10) return `${n} B`;
  const sizes = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  const e = Math.floor(Math.log(n) / Math.log(1024));
  const val = Math.floor((n / Math.pow(1024, e)) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : val.toFixed(0)} ${sizes[e]}`;
}

/** Error text of Go's encoding/json for a syntax error (the common cases). */
export function goJsonError(text: string): string {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  };
  const ch = () => (i < text.length ? text[i] : null);
  const quote = (c: string) => (c === "'" ? "'\\''" : `'${c}'`);
  class E extends Error {}
  const fail = (ctx: string): never => {
    const c = ch();
    throw new E(c === null ? 'unexpected end of JSON input' : `invalid character ${quote(c)} ${ctx}`);
  };
  const str = () => {
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('in string literal');
    i++;
  };
  const value = (): void => {
    ws();
    const c = ch();
    if (c === '{') {
      i++;
      ws();
      if (ch() === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (ch() !== '"') fail('looking for beginning of object key string');
        str();
        ws();
        if (ch() !== ':') fail('after object key');
        i++;
        value();
        ws();
        if (ch() === ',') {
          i++;
          continue;
        }
        if (ch() === '}') {
          i++;
          return;
        }
        fail('after object key:value pair');
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (ch() === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (ch() === ',') {
          i++;
          continue;
        }
        if (ch() === ']') {
          i++;
          return;
        }
        fail('after array element');
      }
    }
    if (c === '"') return str();
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (m) {
      i += m[0].length;
      return;
    }
    fail('looking for beginning of value');
  };
  try {
    value();
    ws();
    if (i < text.length) fail('after top-level value');
    return '';
  } catch (e) {
    if (e instanceof E) return e.message;
    throw e;
  }
}

export class RegistryFront {
  private tokenCache = new Map<string, { token: string; exp: number }>();
  /** Pulls not yet counted (Harbor's asynchronous pull-count flush), and the timer that counts them. */
  private pendingPulls: (() => void)[] = [];
  private flushTimer?: NodeJS.Timeout;

  /** Counts a pull now, or with the next batch (see RegistryEnv.pullFlushMs). */
  private countPull(apply: () => void): void {
    const ms = this.env.pullFlushMs ?? 0;
    if (ms <= 0) return apply();
    this.pendingPulls.push(apply);
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      const due = this.pendingPulls;
      this.pendingPulls = [];
      for (const f of due) f();
    }, ms);
    this.flushTimer.unref();
  }

  close(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.pendingPulls = [];
  }

  constructor(private env: RegistryEnv) {}

  private get s(): State {
    return this.env.state;
  }

  // ------------------------------------------------------------------ token service

  handleToken(ctx: Ctx): void {
    const service = ctx.query.get('service') ?? '';
    if (service !== 'harbor-registry') {
      return send(ctx, 400, `Unable to handle service: ${service}`, { 'Content-Type': 'text/plain; charset=utf-8' });
    }
    const scopes = ctx.query.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    const p = ctx.principal;
    if (p.kind === 'anonymous' && p.wrongCredentials && !scopes.length) return send(ctx, 401, null);
    const principal = p.kind === 'token' ? { kind: 'anonymous' as const, name: '' as const, wrongCredentials: false, sentCredentials: true } : p;
    let access: AccessEntry[] | null = null;
    if (scopes.length) {
      access = [];
      for (const sc of scopes) {
        const parts = sc.split(':');
        if (parts.length < 3) continue;
        const type = parts[0];
        const name = parts.slice(1, -1).join(':');
        let actions: string[] = [];
        if (type === 'repository') {
          const project = this.s.projectByName(name.split('/')[0]);
          actions = registryActions(this.s, principal, project);
        } else if (type === 'registry' && name === 'catalog') {
          actions = principal.kind === 'admin' ? ['*'] : [];
        }
        access.push({ type, name, actions });
      }
    }
    const sub = principal.kind === 'admin' || principal.kind === 'robot' || principal.kind === 'user' ? principal.name : undefined;
    const { token, claims } = signToken(this.env.key, sub, access, this.env.tokenLifetime);
    const body = JSON.stringify({ token, access_token: '', expires_in: this.env.tokenLifetime, issued_at: isoSec(claims.iat * 1000) });
    send(ctx, 200, body, { 'Content-Type': JSON_UTF8 });
  }

  // ------------------------------------------------------------------ /v2

  private challenge(ctx: Ctx, scope?: string): string {
    // core's tokenSvcEndpoint: its internal URL when the request's Host is core's, else the external endpoint
    const core = this.env.coreUrl ? new URL(this.env.coreUrl()) : undefined;
    const base = core && ctx.req.headers.host === core.host ? core.origin : this.env.externalUrl();
    return `Bearer realm="${base}/service/token",service="harbor-registry"${scope ? `,scope="${scope}"` : ''}`;
  }

  private v2Error(ctx: Ctx, status: number, code: string, message: string, extra: Record<string, string> = {}): void {
    send(ctx, status, errorBody(code, message), { 'Content-Type': JSON_UTF8, ...extra });
  }

  private sentAuth(ctx: Ctx): boolean {
    return Boolean(ctx.req.headers.authorization);
  }

  private has(ctx: Ctx, repo: string, action: string): boolean {
    const p = ctx.principal;
    const project = this.s.projectByName(decodeURIComponent(repo).split('/')[0]);
    if (!project) return false;
    if (p.kind === 'token') {
      return (p.access ?? []).some((a) => a.type === 'repository' && a.name === repo && (a.actions.includes(action) || a.actions.includes('*')));
    }
    return canProject(this.s, p, project, 'repository', action);
  }

  private denied(ctx: Ctx, repo: string, action: string): void {
    const m = `unauthorized to access repository: ${repo}, action: ${action}`;
    if (!this.sentAuth(ctx)) {
      const msg = 'authorize header needed to send HEAD to repository';
      const scope = `repository:${repo}:${action === 'push' ? 'pull,push' : action}`;
      return this.v2Error(ctx, 401, 'UNAUTHORIZED', `${msg}: ${msg}`, { ...DDAV, 'Www-Authenticate': this.challenge(ctx, scope) });
    }
    this.v2Error(ctx, 401, 'UNAUTHORIZED', `${m}: ${m}`, { ...DDAV, 'Www-Authenticate': 'Basic realm="harbor"' });
  }

  async handleV2(ctx: Ctx): Promise<void> {
    // harbor-core merges `//` and refuses dot segments (paths.ts); Harbor's nginx, when in front, decoded the path first
    const core = coreV2Path(ctx.method, ctx.rawPath);
    if (core.kind === 'unrecognized') return this.v2Error(ctx, 401, 'UNAUTHORIZED', core.message, { ...DDAV, 'Www-Authenticate': '' });
    const path = core.path;
    const p = ctx.principal;
    const authed = p.kind === 'admin' || p.kind === 'robot' || p.kind === 'user' || p.kind === 'token';
    if (path === '/v2/' || path === '/v2') {
      if (authed) return send(ctx, 200, '{}', { 'Content-Type': JSON_UTF8, ...DDAV });
      if (this.sentAuth(ctx)) {
        return this.v2Error(ctx, 401, 'UNAUTHORIZED', 'unauthorized: unauthorized', { ...DDAV, 'Www-Authenticate': 'Basic realm="harbor"' });
      }
      return this.v2Error(ctx, 401, 'UNAUTHORIZED', 'unauthorized: unauthorized', { ...DDAV, 'Www-Authenticate': this.challenge(ctx) });
    }
    if (path === '/v2/_catalog') return this.catalog(ctx);
    const m = /^\/v2\/(.+?)\/(manifests\/[^/]+|blobs\/uploads\/?[^/]*|blobs\/[^/]+|tags\/list)$/.exec(path);
    if (!m) return this.v2Error(ctx, 404, 'NOT_FOUND', `path ${path} was not found`);
    const repo = m[1];
    const what = m[2];
    const method = ctx.method;
    const action = method === 'GET' || method === 'HEAD' ? 'pull' : method === 'DELETE' ? 'delete' : 'push';
    // the project comes from the decoded path (a `%2F` inside the repository name stays literal for the repository)
    const projectName = decodeURIComponent(repo).split('/')[0];
    const project = this.s.projectByName(projectName);
    if (!project && (p.kind === 'admin' || p.kind === 'robot' || p.kind === 'user')) {
      const msg = `project ${projectName} not found`;
      return this.v2Error(ctx, 401, 'UNAUTHORIZED', `${msg}: ${msg}`, { ...DDAV, 'Www-Authenticate': '' });
    }
    // without any Authorization header Harbor always challenges (even for a public pull)
    if (!this.sentAuth(ctx)) return this.denied(ctx, repo, action);
    if (!this.has(ctx, repo, action)) return this.denied(ctx, repo, action);
    const from = ctx.query.get('from');
    if (what.startsWith('blobs/uploads') && method === 'POST' && from && !this.has(ctx, from, 'pull')) return this.denied(ctx, from, 'pull');

    if (what === 'tags/list') return this.tagsList(ctx, repo);
    if (what.startsWith('manifests/')) {
      const ref = decodeURIComponent(what.slice('manifests/'.length));
      if (method === 'GET' || method === 'HEAD') return this.getManifest(ctx, repo, ref, what.slice('manifests/'.length));
      // Harbor core takes the PUT reference literally: `sha256%3A<hex>` stores the manifest (distribution decodes
      // it) and creates a TAG named `sha256%3A<hex>` (finding m). Only Harbor's nginx would decode it first.
      if (method === 'PUT') return this.putManifest(ctx, repo, what.slice('manifests/'.length));
      if (method === 'DELETE') return this.deleteManifest(ctx, repo, ref);
    }
    if (what.startsWith('blobs/') && !what.startsWith('blobs/uploads') && method === 'HEAD') {
      const digest = what.slice('blobs/'.length);
      const res = await this.forward(ctx, { path: path + (ctx.rawQuery ? `?${ctx.rawQuery}` : ''), repo });
      // Harbor also checks that the blob belongs to the project (project_blob)
      if (res.statusCode === 404 || (res.statusCode === 200 && !this.s.projectBlobs.get(project!.id)?.has(digest))) {
        res.resume();
        return this.v2Error(ctx, 404, 'NOT_FOUND', `blob ${digest} not found`);
      }
      return this.pipeBack(ctx, res);
    }
    if (what.startsWith('blobs/uploads') && method === 'PUT') {
      const q = this.checkQuota(project!, this.uploadSize(ctx) ?? 0);
      if (q) return this.v2Error(ctx, 403, 'DENIED', q);
    }
    const mount = what.startsWith('blobs/uploads') && method === 'POST' ? ctx.query.get('mount') : null;
    if (mount && from && this.s.blobs.has(mount) && !this.inProject(project!.id, mount)) {
      // a cross-repository mount is counted like an upload (recording P09)
      const q = this.checkQuota(project!, this.s.blobs.get(mount)!);
      if (q) return this.v2Error(ctx, 403, 'DENIED', q);
    }
    const res = await this.forward(ctx, { path: path + (ctx.rawQuery ? `?${ctx.rawQuery}` : ''), repo, from: from ?? undefined, body: 'stream' });
    if (what.startsWith('blobs/uploads') && method === 'PUT' && res.statusCode === 201) {
      const dg = String(res.headers['docker-content-digest'] ?? '');
      const size = this.uploadSize(ctx);
      if (dg && size !== undefined) this.s.addBlob(dg, size);
      if (dg && !this.inProject(project!.id, dg)) this.s.pendingBlobs.get(project!.id)?.add(dg);
      this.s.projectBlobs.get(project!.id)?.add(dg);
    }
    if (mount && res.statusCode === 201) {
      if (!this.inProject(project!.id, mount)) this.s.pendingBlobs.get(project!.id)?.add(mount);
      this.s.projectBlobs.get(project!.id)?.add(mount);
    }
    return this.pipeBack(ctx, res);
  }

  /** Bytes a completing upload PUT adds: offset recorded in `_state` + this request's body. */
  private uploadSize(ctx: Ctx): number | undefined {
    let offset = 0;
    const st = ctx.query.get('_state');
    if (st) {
      try {
        const raw = Buffer.from(st.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
        const j = JSON.parse(raw.subarray(32).toString('utf8'));
        offset = Number(j.Offset) || 0;
      } catch {
        /* unknown */
      }
    }
    const cl = Number(ctx.req.headers['content-length'] ?? 0);
    return offset + (Number.isFinite(cl) ? cl : 0);
  }

  /** Is the blob already counted in the project's usage (referenced by one of its artifacts, or pending)? */
  private inProject(projectId: number, digest: string): boolean {
    if (this.s.pendingBlobs.get(projectId)?.has(digest)) return true;
    for (const a of this.s.artifacts.values()) {
      if (a.projectId === projectId && (a.digest === digest || a.blobs.some((b) => b.digest === digest))) return true;
    }
    return false;
  }

  /** Harbor's quota middleware: 403 DENIED with go-humanize sizes when `size` more bytes exceed the hard limit. */
  private checkQuota(project: { id: number; storageLimit: number }, size: number): string | null {
    if (project.storageLimit < 0) return null;
    const used = this.s.projectUsage(project.id);
    if (used + size <= project.storageLimit) return null;
    return `adding ${ibytes(size)} of storage resource, which when updated to current usage of ${ibytes(used)} will exceed the configured upper limit of ${ibytes(project.storageLimit)}.`;
  }

  private catalog(ctx: Ctx): void {
    const p = ctx.principal;
    const ok = p.kind === 'admin' || (p.kind === 'token' && (p.access ?? []).some((a) => a.type === 'registry' && a.name === 'catalog' && a.actions.includes('*')));
    if (!ok) {
      const m = 'unauthorized to list catalog';
      if (!this.sentAuth(ctx)) return this.v2Error(ctx, 401, 'UNAUTHORIZED', `${m}: ${m}`, { ...DDAV, 'Www-Authenticate': this.challenge(ctx, 'registry:catalog:*') });
      return this.v2Error(ctx, 401, 'UNAUTHORIZED', `${m}: ${m}`, { ...DDAV, 'Www-Authenticate': 'Basic realm="harbor"' });
    }
    let names = [...this.s.repositories.values()].map((r) => r.name).sort();
    const last = ctx.query.get('last');
    if (last) names = names.filter((x) => x > last);
    const nq = ctx.query.get('n');
    const headers: Record<string, string> = { 'Content-Type': JSON_UTF8 };
    if (nq && Number(nq) > 0 && names.length > Number(nq)) {
      names = names.slice(0, Number(nq));
      headers.Link = `</v2/_catalog?last=${encodeURIComponent(names[names.length - 1])}&n=${nq}>; rel="next"`;
    }
    send(ctx, 200, JSON.stringify({ repositories: names }) + '\n', headers);
  }

  private tagsList(ctx: Ctx, repo: string): void {
    const r = this.s.repoByName(repo);
    // Harbor answers for an unknown repository itself (seen on the real Harbor, issue12 R-exchanges)
    if (!r) return this.v2Error(ctx, 404, 'NOT_FOUND', `repository ${repo} not found`);
    const tags = [...this.s.tags.values()].filter((t) => t.repositoryId === r.id).map((t) => t.name).sort();
    send(ctx, 200, JSON.stringify({ name: repo, tags }) + '\n', { 'Content-Type': JSON_UTF8 });
  }

  private resolve(repo: string, ref: string): { r?: Repository; a?: Artifact; t?: Tag } {
    const r = this.s.repoByName(repo);
    if (!r) return {};
    if (DIGEST_RE.test(ref)) return { r, a: this.s.artifactByDigest(r.id, ref) };
    const t = this.s.tagByName(r.id, ref);
    return { r, t, a: t ? this.s.artifacts.get(t.artifactId) : undefined };
  }

  private async getManifest(ctx: Ctx, repo: string, ref: string, rawRef = ref): Promise<void> {
    const { r, a, t } = this.resolve(repo, ref);
    // Harbor 2.5.5 (seen on the real one): an unknown repository is named as such for a tag, a missing reference as the
    // artifact (a digest is looked up without the repository first)
    if (!r && !DIGEST_RE.test(rawRef)) return this.v2Error(ctx, 404, 'NOT_FOUND', `repository ${repo} not found`);
    if (!r || !a) return this.v2Error(ctx, 404, 'NOT_FOUND', `artifact ${repo}${DIGEST_RE.test(ref) ? '@' : ':'}${ref} not found`);
    const project = this.s.projects.get(r.projectId)!;
    if (project.metadata.enable_content_trust_cosign === 'true') {
      return this.v2Error(ctx, 412, 'PROJECTPOLICYVIOLATION', 'The image is not signed in Cosign.');
    }
    const res = await this.forward(ctx, { path: `/v2/${repo}/manifests/${a.digest}`, repo });
    if (ctx.method === 'GET' && res.statusCode === 200) {
      const now = Date.now();
      this.countPull(() => {
        r.pullCount += 1;
        // Harbor's AddPullCount also sets the repository's update_time (a push of an artifact does not).
        r.updateTime = Date.now();
        a.pullTime = now;
        if (t) t.pullTime = now;
      });
      this.s.log(r.projectId, 'pull', `${repo}:${ref}`, 'artifact', ctx.principal.name);
    }
    return this.pipeBack(ctx, res);
  }

  private async putManifest(ctx: Ctx, repo: string, ref: string): Promise<void> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of ctx.req) {
      n += (c as Buffer).length;
      if (n > MANIFEST_LIMIT) {
        ctx.req.resume();
        return this.v2Error(ctx, 400, 'MANIFEST_INVALID', `manifest exceeds ${MANIFEST_LIMIT} bytes`);
      }
      chunks.push(c as Buffer);
    }
    const body = Buffer.concat(chunks);
    const text = body.toString('utf8');
    const err = goJsonError(text);
    if (err) return this.v2Error(ctx, 400, 'MANIFEST_INVALID', `unmarshal manifest failed: ${err}`);
    const manifest = JSON.parse(text);
    // Harbor's chain on manifest PUT: immutable, then quota (src/server/registry/route.go); recordings P25, P10
    const project = this.s.projectByName(repo.split('/')[0])!;
    const tag = decodeURIComponent(ref);
    if (!DIGEST_RE.test(tag)) {
      const r = this.s.repoByName(repo);
      if (r && this.s.tagByName(r.id, tag) && isImmutable(this.s, project.id, repo, tag)) {
        return this.v2Error(ctx, 412, 'PRECONDITION', pushRefusal(repo.slice(repo.indexOf('/') + 1), tag));
      }
    }
    const manifestDigest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (!this.inProject(project.id, manifestDigest)) {
      const q = this.checkQuota(project, body.length);
      if (q) return this.v2Error(ctx, 403, 'DENIED', q);
    }
    // `ref` is the path segment as sent (see handleV2): forwarded unchanged, as core's reverse proxy does
    const res = await this.forward(ctx, { path: `/v2/${repo}/manifests/${ref}`, repo, body });
    if (res.statusCode === 201) {
      const digest = String(res.headers['docker-content-digest'] ?? '');
      const mediaType = String(manifest.mediaType ?? ctx.req.headers['content-type'] ?? '');
      await this.recordPush(ctx, repo, ref, digest, mediaType, manifest, body.length);
    }
    return this.pipeBack(ctx, res);
  }

  private async recordPush(ctx: Ctx, repo: string, ref: string, digest: string, mediaType: string, manifest: any, size: number): Promise<void> {
    const project = this.s.projectByName(repo.split('/')[0]);
    if (!project || !digest) return;
    const now = Date.now();
    let r = this.s.repoByName(repo);
    if (!r) {
      r = { id: this.s.next('repository'), projectId: project.id, name: repo, description: '', pullCount: 0, creationTime: now, updateTime: now };
      this.s.repositories.set(r.id, r);
    }
    let a = this.s.artifactByDigest(r.id, digest);
    if (!a) {
      const blobs: { digest: string; size: number; mediaType?: string }[] = [];
      let extra: Record<string, unknown> | null = null;
      let history: unknown = null;
      let configType = '';
      if (manifest.config && typeof manifest.config.digest === 'string') {
        configType = String(manifest.config.mediaType ?? '');
        blobs.push({ digest: manifest.config.digest, size: Number(manifest.config.size) || 0, mediaType: configType });
        const cfg = await this.fetchJson(`/v2/${repo}/blobs/${manifest.config.digest}`, repo);
        if (cfg && typeof cfg === 'object') {
          extra = {
            architecture: cfg.architecture ?? '',
            author: cfg.author ?? '',
            config: cfg.config ?? {},
            created: cfg.created ?? null,
            os: cfg.os ?? '',
          };
          history = cfg.history ?? null;
        }
      }
      for (const l of Array.isArray(manifest.layers) ? manifest.layers : []) {
        blobs.push({ digest: String(l.digest), size: Number(l.size) || 0, mediaType: l.mediaType });
      }
      a = {
        id: this.s.next('artifact'),
        repositoryId: r.id,
        projectId: project.id,
        digest,
        manifestMediaType: mediaType,
        mediaType: configType || mediaType,
        size: size + blobs.reduce((x, b) => x + b.size, 0),
        pushTime: now,
        pullTime: 0,
        extraAttrs: extra,
        history,
        blobs,
        manifestSize: size,
        type: 'IMAGE',
      };
      this.s.artifacts.set(a.id, a);
      const pending = this.s.pendingBlobs.get(project.id);
      for (const b of blobs) pending?.delete(b.digest);
      pending?.delete(digest);
      this.s.addBlob(digest, size, true);
      for (const b of blobs) this.s.addBlob(b.digest, b.size);
      const pb = this.s.projectBlobs.get(project.id);
      for (const b of blobs) pb?.add(b.digest);
      pb?.add(digest);
    }
    if (!DIGEST_RE.test(ref)) {
      const existing = this.s.tagByName(r.id, ref);
      if (existing) {
        existing.artifactId = a.id;
        existing.pushTime = now;
      } else {
        const t: Tag = { id: this.s.next('tag'), name: ref, artifactId: a.id, repositoryId: r.id, pushTime: now, pullTime: 0 };
        this.s.tags.set(t.id, t);
      }
    }
    this.s.log(project.id, 'create', `${repo}:${ref}`, 'artifact', ctx.principal.name);
  }

  private async deleteManifest(ctx: Ctx, repo: string, ref: string): Promise<void> {
    if (!DIGEST_RE.test(ref)) {
      return this.v2Error(ctx, 400, 'UNSUPPORTED', `unsupported digest ${ref}: invalid checksum digest format`);
    }
    const target = this.resolve(repo, ref);
    const locked = target.a ? this.s.tagsOf(target.a.id).find((t) => isImmutable(this.s, target.r!.projectId, repo, t.name)) : undefined;
    if (locked) return this.v2Error(ctx, 412, 'PRECONDITION', deleteRefusal(locked.name));
    const res = await this.forward(ctx, { path: `/v2/${repo}/manifests/${ref}`, repo });
    if (res.statusCode === 202) {
      res.resume();
      const { r, a } = this.resolve(repo, ref);
      if (r && a) {
        this.s.deleteArtifact(a);
        this.s.log(r.projectId, 'delete', `${repo}:${ref}`, 'artifact', ctx.principal.name);
      }
      // Harbor answers the delete itself: 202, empty body, no registry headers
      return send(ctx, 202, null);
    }
    return this.pipeBack(ctx, res);
  }

  // ------------------------------------------------------------------ upstream

  internalToken(repos: string[], catalog = false): string {
    const key = repos.join(' ') + (catalog ? ' +catalog' : '');
    const now = Math.floor(Date.now() / 1000);
    const hit = this.tokenCache.get(key);
    if (hit && hit.exp > now + 60) return hit.token;
    const access: AccessEntry[] = repos.map((name) => ({ type: 'repository', name, actions: ['pull', 'push', 'delete'] }));
    if (catalog) access.push({ type: 'registry', name: 'catalog', actions: ['*'] });
    const { token, claims } = signToken(this.env.key, 'harbor-core', access, 1800);
    this.tokenCache.set(key, { token, exp: claims.exp });
    return token;
  }

  private forward(ctx: Ctx, o: { path: string; repo: string; from?: string; body?: Buffer | 'stream' }): Promise<http.IncomingMessage> {
    const base = this.env.registryUrl();
    if (!base) return Promise.reject(new Error('no registry configured'));
    const u = new URL(base);
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(ctx.req.headers)) {
      if (HOP.has(k) || k === 'authorization' || v === undefined) continue;
      headers[k] = v;
    }
    headers.host = ctx.req.headers.host ?? u.host;
    headers.authorization = `Bearer ${this.internalToken(o.from ? [o.repo, o.from] : [o.repo])}`;
    if (Buffer.isBuffer(o.body)) {
      headers['content-length'] = String(o.body.length);
      delete headers['transfer-encoding'];
    } else if (o.body !== 'stream') {
      delete headers['content-length'];
    }
    return new Promise((resolve, reject) => {
      const up = http.request({ host: u.hostname, port: u.port, method: ctx.method, path: o.path, headers }, resolve);
      up.on('error', reject);
      if (o.body === 'stream') ctx.req.pipe(up);
      else up.end(Buffer.isBuffer(o.body) ? o.body : undefined);
    });
  }

  private fetchJson(path: string, repo: string): Promise<any> {
    const base = this.env.registryUrl();
    if (!base) return Promise.resolve(null);
    return new Promise((resolve) => {
      const u = new URL(path, base);
      const req = http.get(u, { headers: { authorization: `Bearer ${this.internalToken([repo])}` } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve(res.statusCode === 200 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : null);
          } catch {
            resolve(null);
          }
        });
      });
      req.on('error', () => resolve(null));
    });
  }

  /** Deletes a manifest in the registry (used by REST deletes); errors are ignored. */
  async deleteUpstream(repo: string, digest: string, what: 'manifests' | 'blobs' = 'manifests'): Promise<void> {
    const base = this.env.registryUrl();
    if (!base) return;
    await new Promise<void>((resolve) => {
      const u = new URL(`/v2/${repo}/${what}/${digest}`, base);
      const req = http.request(u, { method: 'DELETE', headers: { authorization: `Bearer ${this.internalToken([repo])}` } }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', () => resolve());
      req.end();
    });
  }

  private pipeBack(ctx: Ctx, res: http.IncomingMessage): void {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (HOP.has(k) || v === undefined || k === 'x-request-id') continue;
      headers[k] = v;
    }
    headers['X-Request-Id'] = ctx.requestId;
    const status = res.statusCode ?? 502;
    if (status === 200 || status === 201) {
      headers['X-Frame-Options'] = 'DENY';
      headers['Content-Security-Policy'] = "frame-ancestors 'none'";
    }
    ctx.res.writeHead(status, headers);
    res.pipe(ctx.res);
  }
}
