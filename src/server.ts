import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config';
import { createApp, createFront } from './http/app';
import { consoleRouter } from './http/console';
import { CredentialsService } from './domain/credentials.service';
import { WorkspacesService } from './domain/workspaces.service';
import { WorkspacePoliciesService } from './domain/workspace-policies.service';
import { ImagesService } from './domain/images.service';
import { GcService } from './domain/gc.service';
import { UploadsService } from './domain/uploads.service';
import { createRegistryClient } from '../adapters/registry/registry.client';
import { createLogger, registerSecret, sinkOf, type Logger } from './observability/logger';
import { createMetrics } from './observability/metrics';
import { collectGarbageIfGrown } from './runtime';
import { HarborMonitor } from './observability/harbor-monitor';
import { createHarborAdapter } from '../adapters/harbor/harbor.adapter';
import { createOidcVerifier } from '../adapters/identity/oidc.verifier';
import { createCoordination } from '../adapters/redis/redis.coordination';
import { createChangeFeed } from '../adapters/redis/change.feed';
import { createKeepAliveAgent, createRegistryRouter } from './http/registry';
import { compileTrust } from './http/registry/auth';
import { answerMalformedRequests, capConnectionsPerAddress } from './http/connections';
import { AuditTrail } from './observability/audit';
import { ActivityService, consoleActionsOf } from './domain/activity.service';
import { RetentionService } from './domain/retention.service';
import { createConsoleActionStore } from '../adapters/redis/console-actions.store';

export const VERSION: string = (() => {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('../package.json') as { version: string }).version;
  } catch {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return (require('../../package.json') as { version: string }).version;
    } catch {
      return '0.0.0';
    }
  }
})();

export interface RunningServer {
  url: string;
  server: http.Server;
  /** Graceful stop: no new connections, in-flight requests finish (up to the shutdown timeout), then close. */
  close(): Promise<void>;
}

/** Composition root: config → adapters → domain → app → listen. The only place that knows concrete adapters. */
export async function startServer(config: Readonly<Config>, opts: { logger?: Logger; auditSink?: (line: string) => void } = {}): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  registerSecret(config.harbor.adminPassword);
  registerSecret(config.credentials.secret);
  // Retired credential secrets (HUBGATE_CREDENTIAL_SECRET_PREVIOUS); their 16-hex-digit fingerprints are not secret.
  for (const s of config.credentials.previous) if (!/^[0-9a-f]{16}$/.test(s)) registerSecret(s);
  const metrics = createMetrics({ version: VERSION });

  const harbor = createHarborAdapter({
    baseUrl: config.harbor.url,
    username: config.harbor.adminUsername,
    password: config.harbor.adminPassword,
    timeoutMs: config.harbor.timeoutMs,
    retries: config.harbor.retries,
    metrics,
    logger,
  });
  const coordination = createCoordination({ redisUrl: config.redisUrl, logger, lockQuarantineMs: config.lockQuarantineMs });
  const verifier = createOidcVerifier({ ...config.oidc, logger });
  const credentials = new CredentialsService({
    harbor,
    coordination,
    logger,
    metrics,
    secret: config.credentials.secret,
    previousSecrets: config.credentials.previous,
    // With Redis, replicas announce their key fingerprint: a key nobody announces any more counts as retired.
    liveKeys: config.redisUrl ? coordination : undefined,
    keyGraceMs: config.credentials.keyGraceSeconds * 1000,
    announceMs: Math.min(20000, (config.credentials.keyGraceSeconds * 1000) / 3),
    usernamePrefix: config.credentials.usernamePrefix,
    robotPrefix: config.harbor.robotPrefix,
    settleMs: 250,
  });
  const workspaceFeed = createChangeFeed({ name: 'workspaces', redisUrl: config.redisUrl, logger });
  const workspaces = new WorkspacesService({
    harbor,
    feed: workspaceFeed,
    credentials,
    coordination,
    cache: coordination,
    logger,
    registryHost: config.registryHost,
    reserved: config.reservedWorkspaces,
    catalogTtlSeconds: config.catalogTtlSeconds,
    adoptUnownedAfterSeconds: config.adoptUnownedAfterSeconds,
    defaultQuotaBytes: config.policies.defaultQuotaBytes,
    protectedVersion: (ws): Promise<string | undefined> => policies.protectedVersion(ws),
  });
  const imageFeed = createChangeFeed({ name: 'images', redisUrl: config.redisUrl, logger });
  const policies: WorkspacePoliciesService = new WorkspacePoliciesService({ harbor, workspaces, logger, metrics });
  const images = new ImagesService({
    harbor,
    workspaces,
    feed: imageFeed,
    logger,
    registryHost: config.registryHost,
    cacheTtlSeconds: config.images.cacheTtlSeconds,
    harborConcurrency: config.images.harborConcurrency,
    statsMaxAgeSeconds: config.images.statsMaxAgeSeconds,
    statsFillConcurrency: config.images.statsFillConcurrency,
    fullSyncSeconds: config.images.fullSyncSeconds,
    onSync: (kind, repositories) => {
      metrics.imageCatalogSyncs.inc({ kind });
      metrics.imageCatalogRepositories.inc({ kind }, repositories);
    },
    immutableRule: (ws, image, tag) => policies.ruleFor(ws, image, tag),
    // the stats fill's garbage collected once the heap grew by 48 MB (docs/operations.md: memory at 100,000 images)
    compact: () => void collectGarbageIfGrown(48 * 1024 * 1024),
  });
  const gc = new GcService({
    harbor,
    coordination,
    logger,
    metrics,
    allowMembers: config.gc.allowMembers,
    defaultWindowHours: config.gc.windowHours,
    visibleWorkspaces: async (p) =>
      new Set((await workspaces.list(p, { page: 1, pageSize: Number.MAX_SAFE_INTEGER })).items.map((w) => w.name)),
  });
  const registryClient = createRegistryClient({
    baseUrl: config.harbor.url,
    username: config.harbor.adminUsername,
    password: config.harbor.adminPassword,
    timeoutMs: Math.max(config.harbor.timeoutMs, 60000),
    retries: config.harbor.retries,
    chunkBytes: config.uploads.chunkBytes,
    logger,
  });
  const uploads = new UploadsService({
    harbor,
    credentials,
    registry: registryClient,
    cache: coordination,
    logger,
    metrics,
    registryHost: config.registryHost,
    settings: config.uploads,
    sharedConfigured: Boolean(config.redisUrl),
    shared: () => coordination.shared(),
    // The workspace catalogue holds no per-image data (counts and storage are read live): only images change.
    invalidate: async (_workspace, repositories) => {
      await images.invalidate(repositories);
    },
    policies,
  });
  const monitor = new HarborMonitor({
    harbor,
    metrics,
    logger,
    redisUp: async () => (config.redisUrl ? ((await coordination.ping()) ? 1 : 0) : undefined),
    intervalMs: config.harbor.healthPollMs,
    soft: () => ({ credential_key: credentials.keyStatus() }),
  });

  // Audit events (stdout + optional webhook); console actions remembered per workspace for the activity view.
  if (config.audit.webhook?.token) registerSecret(config.audit.webhook.token);
  const consoleActions = createConsoleActionStore({ redisUrl: config.redisUrl, keepDays: config.audit.attributionDays, logger });
  const audit = new AuditTrail({
    // audit lines go where the log lines go: stdout, or the caller's logger's sink (nowhere for a silent logger)
    sink: opts.auditSink ?? (opts.logger ? (sinkOf(opts.logger) ?? (() => undefined)) : undefined),
    registry: metrics.registry,
    logger,
    webhook: config.audit.webhook && {
      ...config.audit.webhook,
      headers: config.audit.webhook.token ? { Authorization: `Bearer ${config.audit.webhook.token}` } : undefined,
    },
  });
  audit.addObserver((e) => {
    for (const { workspace, action } of consoleActionsOf(e)) void consoleActions.remember(workspace, action);
  });
  const activity = new ActivityService({
    harbor,
    workspaces,
    credentials,
    consoleActions,
    adminUsername: config.harbor.adminUsername,
    robotPrefix: config.harbor.robotPrefix,
  });
  const retention = new RetentionService({ harbor, workspaces, coordination, logger });

  const registryAgent = createKeepAliveAgent(config.harbor.url);
  const trustProxy = compileTrust(config.network.trustedProxies);
  const registryRouter = createRegistryRouter({
    harborUrl: config.harbor.url,
    publicUrl: config.publicUrl,
    verify: (username, password) => credentials.verify(username, password),
    usernamePrefix: config.credentials.usernamePrefix,
    robotPrefix: config.harbor.robotPrefix,
    allowAnonymousPull: config.registryFront.allowAnonymousPull,
    throttle: {
      maxFailuresPerUser: config.registryFront.loginMaxFailures,
      maxFailuresPerAddress: config.registryFront.loginMaxFailuresPerAddress,
      windowSeconds: config.registryFront.loginFailureWindowSeconds,
      blockSeconds: config.registryFront.loginBlockSeconds,
    },
    cache: coordination,
    coordination,
    loginCacheSeconds: config.registryFront.loginCacheSeconds,
    onManifestChange: async (repository) => {
      await images.invalidate([repository]);
    },
    agent: registryAgent,
    trustProxy,
    tokenCertificatePem: config.registryFront.tokenCertificatePem,
    upstreamIdleTimeoutMs: config.network.upstreamIdleTimeoutMs,
    proxyEngine: config.network.proxyEngine,
    headPool: config.network.headPool,
    logger,
    metrics,
  });

  const app = createApp({
    logger,
    metrics,
    verifier,
    workspaces,
    credentials,
    images,
    gc,
    uploads,
    policies,
    activity,
    retention,
    audit,
    readiness: () => monitor.readiness(),
    registryHost: config.registryHost,
    registryInsecure: config.registryInsecure,
    trustProxy,
    publicUrl: config.publicUrl,
    version: VERSION,
    registryRouter,
    gcAllowMembers: config.gc.allowMembers,
    consoleUi: config.console.enabled
      ? consoleRouter({ dir: config.console.dir, oidcIssuer: config.console.oidcIssuer, clientId: config.console.clientId, scope: config.console.scope, version: VERSION, logger })
      : undefined,
  });

  // Registry requests skip Express's router walk (see createFront); the rest is the Express app.
  const front = createFront(app, { logger, metrics, registryRouter });
  // Timeouts (headers, idle) are checked every second instead of Node's default 30 s, so a slowloris client is
  // cut close to HUBGATE_HEADERS_TIMEOUT_MS.
  // (a request the server received always has its url: only a client-side message leaves it undefined)
  const isUpload = (req: http.IncomingMessage) => req.method === 'POST' && /^\/api\/v1\/workspaces\/[^/?]+\/uploads\/?(\?|$)/.test(req.url as string);
  // A console upload answers only once the archive is pushed to Harbor: after its body, the connection waits on
  // hubgate, not on the client, so the client idle timeout does not apply to it (the upload has its own idle
  // timeout on the body, and ends when its client goes away).
  const listener: http.RequestListener = (req, res) => {
    if (isUpload(req)) req.socket.setTimeout(0);
    front(req, res);
  };
  const server = http.createServer({ connectionsCheckingInterval: 1000 }, listener);
  // Expect: 100-continue — uploads answer it themselves once permission and declared size are checked (a 413
  // or 403 then costs the client nothing); every other request gets its 100 Continue at once.
  server.on('checkContinue', (req, res) => {
    if (!isUpload(req)) res.writeContinue();
    listener(req, res);
  });
  // Long uploads and pulls must not be cut by a total-time limit (requestTimeout 0); a connection that stops moving
  // is: no bytes either way for HUBGATE_CLIENT_IDLE_TIMEOUT_MS closes it (Node destroys the socket), and the
  // headers must arrive within HUBGATE_HEADERS_TIMEOUT_MS (slowloris).
  server.requestTimeout = 0;
  server.headersTimeout = config.network.headersTimeoutMs;
  server.timeout = config.network.clientIdleTimeoutMs;
  server.keepAliveTimeout = Math.min(65000, config.network.clientIdleTimeoutMs);
  answerMalformedRequests(server);
  capConnectionsPerAddress(server, {
    max: config.network.maxConnectionsPerAddress,
    trust: trustProxy,
    onRefused: () => metrics.connectionsRefused.inc({ reason: 'per_address' }),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  monitor.start();
  if (config.images.warmOnStart) images.warm();
  credentials.start();
  gc.startMonitor(config.harbor.healthPollMs);
  policies.startMonitor(config.policies.quotaPollSeconds * 1000);
  const { port } = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `http://${host}:${port}`;
  logger.info('hubgate listening', { url, harbor: config.harbor.url, redis: config.redisUrl ? 'configured' : 'not configured', version: VERSION });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      monitor.stop();
      credentials.stop();
      gc.stopMonitor();
      policies.stopMonitor();
      images.close();
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs).unref());
      await Promise.race([drained, timer]);
      // uploads still running: aborted (records `failed`, reason `shutdown`) and written while Redis is still up
      const uploadsStopped = uploads.shutdown();
      server.closeAllConnections();
      harbor.close();
      await uploadsStopped;
      await imageFeed.close();
      await workspaceFeed.close();
      await coordination.close();
      registryAgent.destroy();
      uploads.close();
      registryClient.close();
      await audit.close();
      await consoleActions.close();
    })());
  return { url, server, close };
}
