import type http from 'node:http';
import express, { type Express, type Request, type Response } from 'express';
import { AppError } from '../domain/errors';
import type { CredentialsService } from '../domain/credentials.service';
import type { WorkspacesService } from '../domain/workspaces.service';
import type { TokenVerifier } from '../ports/identity';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { ReadinessReport } from '../observability/harbor-monitor';
import { errorHandler } from './errors';
import { observe, op } from './middleware/observe';
import { authenticate } from './middleware/authn';
import { openApiDocument } from './openapi';
import { workspacesRoutes } from './routes/workspaces.routes';
import { credentialsRoutes } from './routes/credentials.routes';
import { imagesRoutes } from './routes/images.routes';
import { gcRoutes } from './routes/gc.routes';
import type { ImagesService } from '../domain/images.service';
import type { GcService } from '../domain/gc.service';
import type { UploadsService } from '../domain/uploads.service';
import { uploadsRoutes } from './routes/uploads.routes';
import { limitsRoutes } from './routes/limits.routes';
import type { WorkspacePoliciesService } from '../domain/workspace-policies.service';
import { policiesRoutes } from './routes/policies.routes';
import { auditCalls } from './middleware/audit';
import type { AuditTrail } from '../observability/audit';
import type { ActivityService } from '../domain/activity.service';
import type { RetentionService } from '../domain/retention.service';
import { meRoutes } from './routes/me.routes';
import { requestPath, type Next, type PlainHandler } from './registry/router';
import type { TrustProxy } from './registry/auth';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  verifier: TokenVerifier;
  workspaces: WorkspacesService;
  credentials: CredentialsService;
  /** Images and garbage collection (mounted when given). */
  images?: ImagesService;
  gc?: GcService;
  /** Console uploads (mounted when given). */
  uploads?: UploadsService;
  /** Storage quota and immutable versions (routes/limits.routes.ts; mounted when given). */
  policies?: WorkspacePoliciesService;
  /** Workspace activity and retention (routes/policies.routes.ts; mounted when given). */
  activity?: ActivityService;
  retention?: RetentionService;
  /** Audit events for every state-changing API call (when given). */
  audit?: AuditTrail;
  readiness: () => Promise<ReadinessReport>;
  registryHost: string;
  registryInsecure: boolean;
  publicUrl: string;
  version: string;
  /** Proxies trusted to report the client's address (compileTrust of HUBGATE_TRUSTED_PROXIES); default none. */
  trustProxy?: TrustProxy;
  /** Mounted before the API (the registry front: /v2 and /service/token); runs on plain node req/res too. */
  registryRouter?: PlainHandler;
  /** The web console (src/http/console.ts), mounted at /console when given (HUBGATE_CONSOLE_ENABLED). */
  consoleUi?: express.Router;
  /** HUBGATE_GC_ALLOW_MEMBERS, for GET /me's mayRunGc. */
  gcAllowMembers?: boolean;
}

export const API_PREFIX = '/api/v1';

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Only configured proxies may report the client's address (HUBGATE_TRUSTED_PROXIES); by default none.
  app.set('trust proxy', deps.trustProxy ?? false);
  app.use(observe(deps.logger, deps.metrics));

  app.get('/healthz', op('healthz'), (_req, res) => {
    res.json({ status: 'alive' });
  });
  app.get('/readyz', op('readyz'), async (_req, res) => {
    const report = await deps.readiness();
    res.status(report.ready ? 200 : 503).json({ status: report.ready ? (report.degraded ? 'degraded' : 'ready') : 'not ready', ...report });
  });
  app.get('/metrics', op('metrics'), async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  const doc = openApiDocument({ version: deps.version, publicUrl: deps.publicUrl });
  app.get('/openapi.json', op('openapi'), (_req, res) => {
    res.json(doc);
  });

  if (deps.registryRouter) app.use(deps.registryRouter);
  if (deps.consoleUi) {
    app.use('/console', deps.consoleUi);
    app.get('/', (_req, res) => res.redirect(302, '/console/'));
    // browsers ask every page of the origin (/healthz, /openapi.json …) for it
    app.get('/favicon.ico', (_req, res) => res.redirect(301, '/console/assets/favicon.svg'));
  }

  const api = express.Router();
  if (deps.audit) api.use(auditCalls(deps.audit));
  api.use(authenticate(deps.verifier));
  api.use(express.json({ limit: '256kb' }));
  api.use(workspacesRoutes(deps.workspaces));
  // the registry is reached where hubgate is: over plain HTTP exactly when its public URL is http://
  const plainHttp = deps.publicUrl.startsWith('http:');
  api.use(credentialsRoutes(deps.credentials, { registryHost: deps.registryHost, insecure: deps.registryInsecure, plainHttp }));
  if (deps.images) api.use(imagesRoutes(deps.images));
  if (deps.gc) api.use(gcRoutes(deps.gc));
  if (deps.uploads) api.use(uploadsRoutes(deps.uploads));
  if (deps.policies) api.use(limitsRoutes(deps.policies));
  // policiesRoutes mounts the activity and retention routes of the services given, nothing without them
  api.use(policiesRoutes({ activity: deps.activity, retention: deps.retention }));
  api.use(meRoutes({ gcAllowMembers: deps.gcAllowMembers ?? false }));
  app.use(API_PREFIX, api);

  app.use((req, _res, next) => next(new AppError('not_found', `path ${req.path} was not found`)));
  app.use(errorHandler(deps.logger));
  return app;
}

/**
 * Registry paths (`/v2…`, `/service/token`) whose URL Express would parse the plain way (no '#', spaces or other
 * characters that send parseurl to url.parse): for these, `req.path` is the part before '?', and it is one the
 * registry router serves (`isRegistryPath`). Everything else takes the full Express app.
 */
const FAST_REGISTRY_URL = /^\/(?:v2(?:\/[^\t\n\f\r #\u00a0\ufeff]*|\?[^\t\n\f\r #\u00a0\ufeff]*)?|service\/token(?:\?[^\t\n\f\r #\u00a0\ufeff]*)?)$/;

/**
 * The server's request listener: registry requests go straight to `observe` + the registry router, skipping
 * Express's router walk (the layers before the registry router never match these paths: health, metrics and
 * openapi are exact paths elsewhere) and Express's req/res prototypes: they are served on the plain node objects
 * (`observe`, the router, the pass-through, `sendError` and the token endpoint need nothing from Express; setting
 * the prototypes per request costs more CPU than the rest of the front). The answers are the same as through the
 * app: the same request id, access-log line, metrics and error envelope; the client address a login is throttled
 * by is computed by proxy-addr with the same trust setting as the app's `req.ip` (auth.ts clientAddress), and
 * no X-Powered-By is sent. A registry request the router does not take (it never happens for
 * these paths) ends like it would in the app: 404, or the error handler.
 */
export function createFront(app: Express, deps: Pick<AppDeps, 'logger' | 'metrics' | 'registryRouter'>): http.RequestListener {
  const router = deps.registryRouter;
  if (!router) return app;
  const observed = observe(deps.logger, deps.metrics);
  const onError = errorHandler(deps.logger);
  return (req, res) => {
    const url = req.url as string; // a request the server received always has its url
    if (!FAST_REGISTRY_URL.test(url) || app.enabled('x-powered-by')) {
      app(req, res);
      return;
    }
    const fallThrough: Next = (err?: unknown) => {
      const e = err !== undefined && err !== 'route' && err !== 'router' ? err : new AppError('not_found', `path ${requestPath(req)} was not found`);
      onError(e, req as Request, res as Response, () => undefined);
    };
    observed(req, res, () => {
      try {
        router(req, res, fallThrough);
      } catch (e) {
        fallThrough(e);
      }
    });
  };
}
