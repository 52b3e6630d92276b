/**
 * The OpenAPI document (src/http/openapi.ts and the routes' *.openapi.ts fragments) as a contract, checked by its
 * structure rather than by its prose: OpenAPI 3.0.3 at the public URL's /api/v1 with the version given; every
 * operation the API router serves is documented under its path, method and operation id (the id its `op()` gives
 * metrics and logs), and nothing else is; path parameters are declared; every `$ref` resolves; every error
 * answer is Harbor's envelope; every call needs the bearer token; and the headers the workspace routes send are
 * documented. Each test builds its own document: StrykerJS (coverageAnalysis perTest) credits only code that runs
 * inside a test.
 */
import type { RequestHandler } from 'express';
import { API_PREFIX, createApp, type AppDeps } from '../../../src/http/app';
import { openApiDocument } from '../../../src/http/openapi';
import { runWithContext, type RequestContext } from '../../../src/observability/context';
import { silentLogger } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';
import type { WorkspacesService } from '../../../src/domain/workspaces.service';
import { apiKit, recorder } from './app.kit';

interface Parameter {
  name?: unknown;
  in?: unknown;
  required?: unknown;
  schema?: { type?: unknown };
}
interface Content {
  [mediaType: string]: { schema?: object };
}
interface Response {
  description?: unknown;
  headers?: Record<string, { schema?: { type?: unknown } }>;
  content?: Content;
}
interface Operation {
  operationId?: unknown;
  summary?: unknown;
  parameters?: Parameter[];
  requestBody?: { required?: unknown; content?: Content };
  responses?: Record<string, Response>;
}
type PathItem = { parameters?: Parameter[] } & Record<string, Operation>;
interface Doc {
  openapi: string;
  info: { title?: unknown; version?: unknown };
  servers: unknown;
  components: { securitySchemes: unknown; schemas: Record<string, unknown> };
  security: unknown;
  paths: Record<string, PathItem>;
}

const doc = (o = { version: '1.2.3', publicUrl: 'https://hub.example.test' }) => openApiDocument(o) as unknown as Doc;

/** Every documented operation: path, method, the operation and the parameters it takes (its path's and its own). */
const operations = (d: Doc) =>
  Object.entries(d.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => method !== 'parameters')
      .map(([method, op]) => ({ path, method, op: op as Operation, parameters: [...(item.parameters ?? []), ...((op as Operation).parameters ?? [])] })),
  );

/** A layer of Express 5's router (the `router` package): a route, or a middleware that may be a router itself. */
interface Layer {
  rawPath?: string;
  slash?: boolean;
  route?: { path: string; methods: Record<string, boolean>; stack: { handle: RequestHandler }[] };
  handle: { stack?: Layer[] };
}

/** The operation id a route's first handler, its `op()`, names (what metrics and the access log record). */
const operationIdOf = (first: RequestHandler): string | undefined => {
  const ctx: RequestContext = { requestId: 'r' };
  runWithContext(ctx, () => first({} as never, {} as never, () => undefined));
  return ctx.operation;
};

/** `/workspaces/:workspace/images/*image` as OpenAPI writes it: `/workspaces/{workspace}/images/{image}`. */
const template = (expressPath: string) => expressPath.replace(/[:*](\w+)/g, '{$1}');

/** Every route below `layers` as "METHOD /path operation_id", routers mounted below a prefix included. */
function routes(layers: Layer[], prefix = ''): string[] {
  return layers.flatMap((l) => {
    if (l.route) return Object.keys(l.route.methods).map((m) => `${m.toUpperCase()} ${template(prefix + l.route!.path)} ${operationIdOf(l.route!.stack[0].handle)}`);
    return l.handle.stack ? routes(l.handle.stack, l.slash ? prefix : prefix + (l.rawPath ?? '')) : [];
  });
}

/** What the API router serves below /api/v1 when every optional part (images, gc, uploads, limits, activity, retention) is mounted. */
function served(): string[] {
  const some = {} as never;
  const app = createApp({
    logger: silentLogger,
    metrics: createMetrics({ defaultMetrics: false }),
    verifier: some,
    workspaces: some,
    credentials: some,
    images: some,
    gc: some,
    uploads: some,
    policies: some,
    activity: some,
    retention: some,
    readiness: async () => ({ ready: true, degraded: false, checks: {} }),
    registryHost: 'hub.example.test',
    registryInsecure: true,
    publicUrl: 'https://hub.example.test',
    version: 'test',
  } satisfies AppDeps);
  const api = (app.router.stack as Layer[]).filter((l) => l.rawPath === API_PREFIX);
  expect(api.length).toBe(1);
  return routes(api[0].handle.stack ?? []).sort();
}

/** Every `$ref` in `value`, with where it is. */
function refs(value: unknown, at = '#'): { at: string; ref: unknown }[] {
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => (k === '$ref' ? [{ at, ref: v }] : refs(v, `${at}/${k}`)));
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.0.3 for the version given, served at the public URL + /api/v1', () => {
    const d = doc({ version: '1.2.3', publicUrl: 'https://hub.example.test:8443' });
    expect([d.openapi, d.info.version, d.servers]).toEqual(['3.0.3', '1.2.3', [{ url: 'https://hub.example.test:8443/api/v1' }]]);
    expect(doc({ version: '0.9.0-rc.1', publicUrl: 'http://127.0.0.1:8080' }).servers).toEqual([{ url: 'http://127.0.0.1:8080/api/v1' }]);
  });

  it('documents exactly the operations the API router serves: method, path and the operation id metrics use', () => {
    const documented = operations(doc())
      .map(({ path, method, op }) => `${method.toUpperCase()} ${path} ${String(op.operationId)}`)
      .sort();
    expect(documented).toEqual(served());
    // not vacuous: the workspace and credential routes of src/http/openapi.ts itself are there
    expect(documented.filter((o) => /^\S+ \/(workspaces(\/\{name\})?|projects\/.*) (workspaces|credentials)_/.test(o))).toEqual([
      'DELETE /workspaces/{name} workspaces_delete',
      'GET /projects/{projectId}/credentials credentials_get',
      'GET /workspaces workspaces_list',
      'GET /workspaces/{name} workspaces_get',
      'PATCH /workspaces/{name} workspaces_update',
      'POST /projects/{projectId}/credentials/rotate credentials_rotate',
      'POST /workspaces workspaces_create',
    ]);
  });

  it('every parameter is named, in the path or the query, with a typed schema; every {param} of a path is declared, required', () => {
    const wrong: unknown[] = [];
    for (const { path, method, parameters } of operations(doc())) {
      const where = `${method} ${path}`;
      for (const p of parameters) {
        const ok = typeof p?.name === 'string' && p.name !== '' && (p.in === 'query' || p.in === 'path') && typeof p.schema?.type === 'string';
        if (!ok) wrong.push({ where, p });
      }
      const declared = parameters.filter((p) => p?.in === 'path').map((p) => [p.name, p.required]);
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => [m[1], true]);
      if (JSON.stringify(declared) !== JSON.stringify(inPath)) wrong.push({ where, declared, inPath });
    }
    expect(wrong).toEqual([]);
    // the list's query parameters are the properties of the schema the edge validates it with
    const list = operations(doc()).find((o) => o.op.operationId === 'workspaces_list')!;
    expect(list.parameters.map((p) => [p.name, p.in])).toEqual(['department', 'projectId', 'access', 'q', 'sort', 'page', 'page_size'].map((n) => [n, 'query']));
  });

  it('every $ref names a schema of components.schemas', () => {
    const d = doc();
    const all = refs(d);
    const unresolved = all.filter(({ ref }) => typeof ref !== 'string' || !ref.startsWith('#/components/schemas/') || !(ref.slice('#/components/schemas/'.length) in d.components.schemas));
    expect(unresolved).toEqual([]);
  });

  it("every operation answers a 2xx with a body schema (but 204), and every 4xx/5xx in Harbor's envelope, 401 included", () => {
    const wrong: unknown[] = [];
    const envelope = { 'application/json': { schema: { $ref: '#/components/schemas/Errors' } } };
    for (const { path, method, op } of operations(doc())) {
      const where = `${method} ${path}`;
      const responses = Object.entries(op.responses ?? {});
      const ok = responses.filter(([status]) => /^2\d\d$/.test(status));
      if (ok.length === 0) wrong.push({ where, missing: '2xx' });
      for (const [status, r] of ok) {
        const bodies = Object.values(r.content ?? {});
        if (status !== '204' && (bodies.length === 0 || bodies.some((b) => typeof b.schema !== 'object'))) wrong.push({ where, status, content: r.content });
      }
      for (const [status, r] of responses.filter(([s]) => Number(s) >= 400)) if (JSON.stringify(r.content) !== JSON.stringify(envelope)) wrong.push({ where, status, content: r.content });
      if (!op.responses?.['401']) wrong.push({ where, missing: '401' });
    }
    expect(wrong).toEqual([]);
  });

  it('request bodies have a schema per media type; required, but where the route starts a default run without one', () => {
    const wrong: unknown[] = [];
    const optional: unknown[] = [];
    for (const { path, method, op } of operations(doc())) {
      if (!op.requestBody) continue;
      const bodies = Object.values(op.requestBody.content ?? {});
      if (bodies.length === 0 || bodies.some((b) => typeof b.schema !== 'object')) wrong.push({ where: `${method} ${path}`, requestBody: op.requestBody });
      if (op.requestBody.required !== true) optional.push([op.operationId, op.requestBody.required]);
    }
    expect(wrong).toEqual([]);
    // POST /gc without a body starts a normal run, POST …/retention/runs without one a dry run (gc.routes.ts, policies.routes.ts)
    expect(optional).toEqual([
      ['gc_start', false],
      ['retention_run', false],
    ]);
    // the workspace bodies are JSON, in the schemas the edge validates them with
    const body = (id: string) => operations(doc()).find((o) => o.op.operationId === id)!.op.requestBody!.content;
    expect([body('workspaces_create'), body('workspaces_update')]).toEqual([
      { 'application/json': { schema: { $ref: '#/components/schemas/WorkspaceCreate' } } },
      { 'application/json': { schema: { $ref: '#/components/schemas/WorkspaceUpdate' } } },
    ]);
  });

  it('every call needs a bearer JWT', () => {
    const d = doc();
    expect(d.components.securitySchemes).toEqual({ bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } });
    expect(d.security).toEqual([{ bearer: [] }]);
  });

  it('every operation has a summary and every response a description (what documentation viewers list them by)', () => {
    const d = doc();
    const blank = (v: unknown) => typeof v !== 'string' || v.trim() === '';
    const missing: string[] = [];
    if (blank(d.info.title)) missing.push('info.title');
    for (const { path, method, op } of operations(d)) {
      if (blank(op.summary)) missing.push(`${method} ${path}: summary`);
      for (const [status, r] of Object.entries(op.responses ?? {})) if (blank(r.description)) missing.push(`${method} ${path} ${status}: description`);
    }
    expect(missing).toEqual([]);
  });

  it('documents the headers the workspace routes send: X-Total-Count on the list, Location on create', async () => {
    const ws = { name: 'ws-a', access: 'private', project: null, relation: 'manage', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', pullAddressPrefix: 'hub.example.test/ws-a' };
    const { service } = recorder<WorkspacesService>({
      list: async () => ({ items: [ws], total: 7, page: 1, pageSize: 20 }),
      create: async () => ({ ...ws, imageCount: 0, storageUsedBytes: 0, storageLimitBytes: null, storageUsedPercent: null }),
    });
    const k = await apiKit({ workspaces: service });
    try {
      const list = await k.as('alice').get('/api/v1/workspaces');
      const created = await k.as('alice').post('/api/v1/workspaces').send({ name: 'ws-a', projectId: 'proj-a' });
      expect([list.status, list.headers['x-total-count'], created.status, created.headers.location]).toEqual([200, '7', 201, '/api/v1/workspaces/ws-a']);
    } finally {
      await k.close();
    }
    const documented = (id: string, status: string) => operations(doc()).find((o) => o.op.operationId === id)!.op.responses![status].headers;
    expect(documented('workspaces_list', '200')).toEqual({ 'X-Total-Count': { schema: { type: 'integer' } } });
    expect(documented('workspaces_create', '201')).toEqual({ Location: { schema: { type: 'string' } } });
  });
});
