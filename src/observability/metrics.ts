import * as client from 'prom-client';

/**
 * Every metric hubgate exports. Labels are bounded: operation ids, methods, status classes, outcomes and
 * reasons from fixed lists — never repositories, users or project ids. One registry per app instance, so
 * tests can run several instances in one process.
 */
export type Metrics = ReturnType<typeof createMetrics>;

export const HARBOR_OUTCOMES = ['success', 'client_error', 'unauthorized', 'server_error', 'timeout', 'unreachable'] as const;
export type HarborOutcome = (typeof HARBOR_OUTCOMES)[number];

export function createMetrics(opts: { version?: string; defaultMetrics?: boolean } = {}) {
  const registry = new client.Registry();
  if (opts.defaultMetrics !== false) client.collectDefaultMetrics({ register: registry });

  const buildInfo = new client.Gauge({
    name: 'hubgate_build_info',
    help: 'Build information; always 1.',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  });
  buildInfo.set({ version: opts.version ?? '0.0.0', node_version: process.version }, 1);

  return {
    registry,
    httpRequests: new client.Counter({
      name: 'hubgate_http_requests_total',
      help: 'API requests handled by hubgate, by operation id, method and status class.',
      labelNames: ['operation', 'method', 'status_class'],
      registers: [registry],
    }),
    httpDuration: new client.Histogram({
      name: 'hubgate_http_request_duration_seconds',
      help: 'API request latency by operation id.',
      labelNames: ['operation', 'method'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    harborRequests: new client.Counter({
      name: 'hubgate_harbor_requests_total',
      help: 'Calls from hubgate to the Harbor REST API, by adapter operation and outcome.',
      labelNames: ['operation', 'outcome'],
      registers: [registry],
    }),
    imageCatalogSyncs: new client.Counter({
      name: 'hubgate_image_catalog_syncs_total',
      help: 'Image catalogue updates from Harbor, by kind: full (replica start or "everything changed"), resync (the periodic re-read of everything), delta (repositories updated since the last one), reconcile (count mismatch: projects compared), image (per-image changes from the change feed).',
      labelNames: ['kind'],
      registers: [registry],
    }),
    imageCatalogRepositories: new client.Counter({
      name: 'hubgate_image_catalog_repositories_total',
      help: 'Repositories re-read or changed by image catalogue updates, by kind (see hubgate_image_catalog_syncs_total).',
      labelNames: ['kind'],
      registers: [registry],
    }),
    harborDuration: new client.Histogram({
      name: 'hubgate_harbor_request_duration_seconds',
      help: 'Latency of calls to the Harbor REST API, by adapter operation.',
      labelNames: ['operation'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    harborUp: new client.Gauge({
      name: 'hubgate_harbor_up',
      help: '1 when Harbor answered the last health poll and accepted hubgate\'s admin identity.',
      registers: [registry],
    }),
    harborComponentHealthy: new client.Gauge({
      name: 'hubgate_harbor_component_healthy',
      help: '1 when the Harbor component reports healthy in /api/v2.0/health.',
      labelNames: ['component'],
      registers: [registry],
    }),
    storageTotalBytes: new client.Gauge({
      name: 'hubgate_harbor_storage_total_bytes',
      help: 'Registry storage size as reported by /api/v2.0/systeminfo/volumes.',
      registers: [registry],
    }),
    workspacesWithQuota: new client.Gauge({
      name: 'hubgate_workspaces_with_quota',
      help: 'Workspaces (Harbor projects) with a storage quota.',
      registers: [registry],
    }),
    workspacesNearQuota: new client.Gauge({
      name: 'hubgate_workspaces_over_quota_threshold',
      help: 'Workspaces using more than 90% of their storage quota (a count; names are in the console and Harbor).',
      registers: [registry],
    }),
    storageFreeBytes: new client.Gauge({
      name: 'hubgate_harbor_storage_free_bytes',
      help: 'Registry storage free as reported by /api/v2.0/systeminfo/volumes.',
      registers: [registry],
    }),
    redisUp: new client.Gauge({
      name: 'hubgate_redis_up',
      help: '1 when Redis is configured and reachable; 0 when configured and down (hubgate then runs degraded).',
      registers: [registry],
    }),
    connectionsRefused: new client.Counter({
      name: 'hubgate_connections_refused_total',
      help: 'Client connections closed on arrival, by reason (per_address: the peer already held HUBGATE_MAX_CONNECTIONS_PER_ADDRESS).',
      labelNames: ['reason'],
      registers: [registry],
    }),
    registryRequests: new client.Counter({
      name: 'hubgate_registry_requests_total',
      help: 'Registry (/v2 and token) requests passed through, by operation id, method and status class.',
      labelNames: ['operation', 'method', 'status_class'],
      registers: [registry],
    }),
    registryBytes: new client.Counter({
      name: 'hubgate_registry_bytes_total',
      help: 'Bytes passed through the registry front, by operation id and direction (in = from clients).',
      labelNames: ['operation', 'direction'],
      registers: [registry],
    }),
    registryDuration: new client.Histogram({
      name: 'hubgate_registry_request_duration_seconds',
      help: 'Registry pass-through latency (to the end of the response), by operation id.',
      labelNames: ['operation'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers: [registry],
    }),
    loginFailures: new client.Counter({
      name: 'hubgate_login_failures_total',
      help: 'Failed registry logins, by reason (bad_credentials, unknown_user, anonymous, bad_token).',
      labelNames: ['reason'],
      registers: [registry],
    }),
    loginThrottled: new client.Counter({
      name: 'hubgate_login_throttled_total',
      help: 'Registry logins refused with 429, by what was throttled (username, client).',
      labelNames: ['scope'],
      registers: [registry],
    }),
    uploadsStarted: new client.Counter({
      name: 'hubgate_uploads_started_total',
      help: 'Console archive uploads started.',
      registers: [registry],
    }),
    uploadsFinished: new client.Counter({
      name: 'hubgate_uploads_finished_total',
      help: 'Console archive uploads finished, by result (succeeded, failed) and failure reason.',
      labelNames: ['result', 'reason'],
      registers: [registry],
    }),
    uploadBytes: new client.Counter({
      name: 'hubgate_upload_bytes_total',
      help: 'Archive bytes received by console uploads.',
      registers: [registry],
    }),
    robotUpdateRetries: new client.Counter({
      name: 'hubgate_robot_update_retries_total',
      help: 'Robot read-modify-write updates that had to be repeated because a concurrent write was detected.',
      registers: [registry],
    }),
    credentialRotations: new client.Counter({
      name: 'hubgate_credential_rotations_total',
      help: 'Per-project registry password rotations.',
      registers: [registry],
    }),
    credentialKeyHeals: new client.Counter({
      name: 'hubgate_credential_key_heals_total',
      help: 'Project robots whose Harbor secret was re-set because a retired credential secret had set it.',
      registers: [registry],
    }),
    credentialKeyMismatch: new client.Gauge({
      name: 'hubgate_credential_key_mismatch',
      help: 'Project robots seen recently whose password another credential secret set and this replica may not re-set (0 when the replicas agree).',
      registers: [registry],
    }),
    gcLastRunTimestamp: new client.Gauge({
      name: 'hubgate_gc_last_run_timestamp_seconds',
      help: 'Start time of the most recent Harbor garbage collection.',
      registers: [registry],
    }),
    gcLastSuccessTimestamp: new client.Gauge({
      name: 'hubgate_gc_last_success_timestamp_seconds',
      help: 'End time of the most recent successful Harbor garbage collection.',
      registers: [registry],
    }),
    gcLastStatus: new client.Gauge({
      name: 'hubgate_gc_last_status',
      help: '1 for the status of the most recent GC run (Pending, Running, Success, Error, Stopped), 0 for the others.',
      labelNames: ['status'],
      registers: [registry],
    }),
    gcLastFreedBytes: new client.Gauge({
      name: 'hubgate_gc_last_freed_bytes',
      help: 'Bytes freed by the most recent finished GC, parsed from Harbor\'s GC log.',
      registers: [registry],
    }),
  };
}

export const statusClass = (status: number): string => `${Math.floor(status / 100)}xx`;
