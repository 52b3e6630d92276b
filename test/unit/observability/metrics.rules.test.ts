/**
 * The metrics hubgate exports (src/observability/metrics.ts) are an operator contract: the alert rules
 * (deploy/prometheus/hubgate-alerts.yml, its Helm copy) and dashboards query them by name, label and bucket.
 * Each test creates its metrics inside its own `it()`: Stryker's perTest coverage credits only what a test body runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { AuditTrail } from '../../../src/observability/audit';
import { createMetrics, type Metrics } from '../../../src/observability/metrics';

const root = path.resolve(__dirname, '../../..');
const ALERT_RULE_FILES = ['deploy/prometheus/hubgate-alerts.yml', 'helm/hubgate/files/hubgate-alerts.yml'];

/** One sample on every metric, with the label names and values the code uses. */
function touchEveryMetric(m: Metrics): void {
  m.httpRequests.inc({ operation: 'workspace_list', method: 'GET', status_class: '2xx' });
  m.httpDuration.observe({ operation: 'workspace_list', method: 'GET' }, 0.02);
  m.harborRequests.inc({ operation: 'findProject', outcome: 'success' });
  m.imageCatalogSyncs.inc({ kind: 'delta' });
  m.imageCatalogRepositories.inc({ kind: 'delta' }, 3);
  m.harborDuration.observe({ operation: 'findProject' }, 0.3);
  m.harborUp.set(1);
  m.harborComponentHealthy.set({ component: 'jobservice' }, 0);
  m.storageTotalBytes.set(1000);
  m.workspacesWithQuota.set(4);
  m.workspacesNearQuota.set(1);
  m.storageFreeBytes.set(400);
  m.redisUp.set(1);
  m.connectionsRefused.inc({ reason: 'per_address' });
  m.registryRequests.inc({ operation: 'v2_blob', method: 'GET', status_class: '2xx' });
  m.registryBytes.inc({ operation: 'v2_blob', direction: 'out' }, 2048);
  m.registryDuration.observe({ operation: 'v2_blob' }, 0.002);
  m.loginFailures.inc({ reason: 'bad_token' });
  m.loginThrottled.inc({ scope: 'username' });
  m.uploadsStarted.inc();
  m.uploadsFinished.inc({ result: 'failed', reason: 'too_large' });
  m.uploadBytes.inc(512);
  m.robotUpdateRetries.inc();
  m.credentialRotations.inc();
  m.credentialKeyHeals.inc();
  m.credentialKeyMismatch.set(2);
  m.gcLastRunTimestamp.set(1_800_000_000);
  m.gcLastSuccessTimestamp.set(1_799_990_000);
  m.gcLastStatus.set({ status: 'Error' }, 1);
  m.gcLastFreedBytes.set(123_456);
}

/** The names of the samples in an exposition text (`hubgate_x_bucket{…} 1` → `hubgate_x_bucket`). */
const sampleNames = (text: string): Set<string> =>
  new Set(
    text
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(/[{ ]/)[0]),
  );

const NODE = process.version;

describe('metrics: what a scrape of hubgate shows', () => {
  it('every metric on the instance\'s own registry, with its help, type, label names and histogram buckets', async () => {
    const m = createMetrics({ defaultMetrics: false, version: '1.4.2' });
    touchEveryMetric(m);
    expect(await m.registry.metrics()).toBe(`# HELP hubgate_build_info Build information; always 1.
# TYPE hubgate_build_info gauge
hubgate_build_info{version="1.4.2",node_version="${NODE}"} 1

# HELP hubgate_http_requests_total API requests handled by hubgate, by operation id, method and status class.
# TYPE hubgate_http_requests_total counter
hubgate_http_requests_total{operation="workspace_list",method="GET",status_class="2xx"} 1

# HELP hubgate_http_request_duration_seconds API request latency by operation id.
# TYPE hubgate_http_request_duration_seconds histogram
hubgate_http_request_duration_seconds_bucket{le="0.005",operation="workspace_list",method="GET"} 0
hubgate_http_request_duration_seconds_bucket{le="0.01",operation="workspace_list",method="GET"} 0
hubgate_http_request_duration_seconds_bucket{le="0.025",operation="workspace_list",method="GET"} 1
hubgate_http_request_duration_seconds_bucket{le="0.05",operation="workspace_list",method="GET"} 1
hubgate_http_request_duration_seconds_bucket{le="0.1",operation="workspace_list",method="GET"} 1
hubgate_http_request_duration_seconds_bucket{le="0.25",operation="workspace_list",method="GET"} 1
hubgate_http_request_duration_seconds_bucket{le="0.5",operation="workspace_list",method="GET"} 1
hubgate_http_request_duration_seconds_bucket{le="1",operation="workspace_list",method="GET"} 1
hubgate_http_request_duration_seconds_bucket{le="2.5",operation="workspace_list",method="GET"} 1
hubgate_http_request_duration_seconds_bucket{le="5",operation="workspace_list",method="GET"} 1
hubgate_http_request_duration_seconds_bucket{le="10",operation="workspace_list",method="GET"} 1
hubgate_http_request_duration_seconds_bucket{le="30",operation="workspace_list",method="GET"} 1
hubgate_http_request_duration_seconds_bucket{le="+Inf",operation="workspace_list",method="GET"} 1
hubgate_http_request_duration_seconds_sum{operation="workspace_list",method="GET"} 0.02
hubgate_http_request_duration_seconds_count{operation="workspace_list",method="GET"} 1

# HELP hubgate_harbor_requests_total Calls from hubgate to the Harbor REST API, by adapter operation and outcome.
# TYPE hubgate_harbor_requests_total counter
hubgate_harbor_requests_total{operation="findProject",outcome="success"} 1

# HELP hubgate_image_catalog_syncs_total Image catalogue updates from Harbor, by kind: full (replica start or "everything changed"), resync (the periodic re-read of everything), delta (repositories updated since the last one), reconcile (count mismatch: projects compared), image (per-image changes from the change feed).
# TYPE hubgate_image_catalog_syncs_total counter
hubgate_image_catalog_syncs_total{kind="delta"} 1

# HELP hubgate_image_catalog_repositories_total Repositories re-read or changed by image catalogue updates, by kind (see hubgate_image_catalog_syncs_total).
# TYPE hubgate_image_catalog_repositories_total counter
hubgate_image_catalog_repositories_total{kind="delta"} 3

# HELP hubgate_harbor_request_duration_seconds Latency of calls to the Harbor REST API, by adapter operation.
# TYPE hubgate_harbor_request_duration_seconds histogram
hubgate_harbor_request_duration_seconds_bucket{le="0.005",operation="findProject"} 0
hubgate_harbor_request_duration_seconds_bucket{le="0.01",operation="findProject"} 0
hubgate_harbor_request_duration_seconds_bucket{le="0.025",operation="findProject"} 0
hubgate_harbor_request_duration_seconds_bucket{le="0.05",operation="findProject"} 0
hubgate_harbor_request_duration_seconds_bucket{le="0.1",operation="findProject"} 0
hubgate_harbor_request_duration_seconds_bucket{le="0.25",operation="findProject"} 0
hubgate_harbor_request_duration_seconds_bucket{le="0.5",operation="findProject"} 1
hubgate_harbor_request_duration_seconds_bucket{le="1",operation="findProject"} 1
hubgate_harbor_request_duration_seconds_bucket{le="2.5",operation="findProject"} 1
hubgate_harbor_request_duration_seconds_bucket{le="5",operation="findProject"} 1
hubgate_harbor_request_duration_seconds_bucket{le="10",operation="findProject"} 1
hubgate_harbor_request_duration_seconds_bucket{le="+Inf",operation="findProject"} 1
hubgate_harbor_request_duration_seconds_sum{operation="findProject"} 0.3
hubgate_harbor_request_duration_seconds_count{operation="findProject"} 1

# HELP hubgate_harbor_up 1 when Harbor answered the last health poll and accepted hubgate's admin identity.
# TYPE hubgate_harbor_up gauge
hubgate_harbor_up 1

# HELP hubgate_harbor_component_healthy 1 when the Harbor component reports healthy in /api/v2.0/health.
# TYPE hubgate_harbor_component_healthy gauge
hubgate_harbor_component_healthy{component="jobservice"} 0

# HELP hubgate_harbor_storage_total_bytes Registry storage size as reported by /api/v2.0/systeminfo/volumes.
# TYPE hubgate_harbor_storage_total_bytes gauge
hubgate_harbor_storage_total_bytes 1000

# HELP hubgate_workspaces_with_quota Workspaces (Harbor projects) with a storage quota.
# TYPE hubgate_workspaces_with_quota gauge
hubgate_workspaces_with_quota 4

# HELP hubgate_workspaces_over_quota_threshold Workspaces using more than 90% of their storage quota (a count; names are in the console and Harbor).
# TYPE hubgate_workspaces_over_quota_threshold gauge
hubgate_workspaces_over_quota_threshold 1

# HELP hubgate_harbor_storage_free_bytes Registry storage free as reported by /api/v2.0/systeminfo/volumes.
# TYPE hubgate_harbor_storage_free_bytes gauge
hubgate_harbor_storage_free_bytes 400

# HELP hubgate_redis_up 1 when Redis is configured and reachable; 0 when configured and down (hubgate then runs degraded).
# TYPE hubgate_redis_up gauge
hubgate_redis_up 1

# HELP hubgate_connections_refused_total Client connections closed on arrival, by reason (per_address: the peer already held HUBGATE_MAX_CONNECTIONS_PER_ADDRESS).
# TYPE hubgate_connections_refused_total counter
hubgate_connections_refused_total{reason="per_address"} 1

# HELP hubgate_registry_requests_total Registry (/v2 and token) requests passed through, by operation id, method and status class.
# TYPE hubgate_registry_requests_total counter
hubgate_registry_requests_total{operation="v2_blob",method="GET",status_class="2xx"} 1

# HELP hubgate_registry_bytes_total Bytes passed through the registry front, by operation id and direction (in = from clients).
# TYPE hubgate_registry_bytes_total counter
hubgate_registry_bytes_total{operation="v2_blob",direction="out"} 2048

# HELP hubgate_registry_request_duration_seconds Registry pass-through latency (to the end of the response), by operation id.
# TYPE hubgate_registry_request_duration_seconds histogram
hubgate_registry_request_duration_seconds_bucket{le="0.001",operation="v2_blob"} 0
hubgate_registry_request_duration_seconds_bucket{le="0.005",operation="v2_blob"} 1
hubgate_registry_request_duration_seconds_bucket{le="0.01",operation="v2_blob"} 1
hubgate_registry_request_duration_seconds_bucket{le="0.025",operation="v2_blob"} 1
hubgate_registry_request_duration_seconds_bucket{le="0.05",operation="v2_blob"} 1
hubgate_registry_request_duration_seconds_bucket{le="0.1",operation="v2_blob"} 1
hubgate_registry_request_duration_seconds_bucket{le="0.5",operation="v2_blob"} 1
hubgate_registry_request_duration_seconds_bucket{le="1",operation="v2_blob"} 1
hubgate_registry_request_duration_seconds_bucket{le="5",operation="v2_blob"} 1
hubgate_registry_request_duration_seconds_bucket{le="30",operation="v2_blob"} 1
hubgate_registry_request_duration_seconds_bucket{le="120",operation="v2_blob"} 1
hubgate_registry_request_duration_seconds_bucket{le="600",operation="v2_blob"} 1
hubgate_registry_request_duration_seconds_bucket{le="+Inf",operation="v2_blob"} 1
hubgate_registry_request_duration_seconds_sum{operation="v2_blob"} 0.002
hubgate_registry_request_duration_seconds_count{operation="v2_blob"} 1

# HELP hubgate_login_failures_total Failed registry logins, by reason (bad_credentials, unknown_user, anonymous, bad_token).
# TYPE hubgate_login_failures_total counter
hubgate_login_failures_total{reason="bad_token"} 1

# HELP hubgate_login_throttled_total Registry logins refused with 429, by what was throttled (username, client).
# TYPE hubgate_login_throttled_total counter
hubgate_login_throttled_total{scope="username"} 1

# HELP hubgate_uploads_started_total Console archive uploads started.
# TYPE hubgate_uploads_started_total counter
hubgate_uploads_started_total 1

# HELP hubgate_uploads_finished_total Console archive uploads finished, by result (succeeded, failed) and failure reason.
# TYPE hubgate_uploads_finished_total counter
hubgate_uploads_finished_total{result="failed",reason="too_large"} 1

# HELP hubgate_upload_bytes_total Archive bytes received by console uploads.
# TYPE hubgate_upload_bytes_total counter
hubgate_upload_bytes_total 512

# HELP hubgate_robot_update_retries_total Robot read-modify-write updates that had to be repeated because a concurrent write was detected.
# TYPE hubgate_robot_update_retries_total counter
hubgate_robot_update_retries_total 1

# HELP hubgate_credential_rotations_total Per-project registry password rotations.
# TYPE hubgate_credential_rotations_total counter
hubgate_credential_rotations_total 1

# HELP hubgate_credential_key_heals_total Project robots whose Harbor secret was re-set because a retired credential secret had set it.
# TYPE hubgate_credential_key_heals_total counter
hubgate_credential_key_heals_total 1

# HELP hubgate_credential_key_mismatch Project robots seen recently whose password another credential secret set and this replica may not re-set (0 when the replicas agree).
# TYPE hubgate_credential_key_mismatch gauge
hubgate_credential_key_mismatch 2

# HELP hubgate_gc_last_run_timestamp_seconds Start time of the most recent Harbor garbage collection.
# TYPE hubgate_gc_last_run_timestamp_seconds gauge
hubgate_gc_last_run_timestamp_seconds 1800000000

# HELP hubgate_gc_last_success_timestamp_seconds End time of the most recent successful Harbor garbage collection.
# TYPE hubgate_gc_last_success_timestamp_seconds gauge
hubgate_gc_last_success_timestamp_seconds 1799990000

# HELP hubgate_gc_last_status 1 for the status of the most recent GC run (Pending, Running, Success, Error, Stopped), 0 for the others.
# TYPE hubgate_gc_last_status gauge
hubgate_gc_last_status{status="Error"} 1

# HELP hubgate_gc_last_freed_bytes Bytes freed by the most recent finished GC, parsed from Harbor's GC log.
# TYPE hubgate_gc_last_freed_bytes gauge
hubgate_gc_last_freed_bytes 123456
`);
  });

  it('build info: version 0.0.0 when none is given, with the Node.js version that runs hubgate', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const lines = (await m.registry.metrics()).split('\n').filter((l) => l.startsWith('hubgate_build_info'));
    expect(lines).toEqual([`hubgate_build_info{version="0.0.0",node_version="${NODE}"} 1`]);
  });

  it('prom-client\'s default process metrics (those docs/operations.md names) unless defaultMetrics is false', async () => {
    const namesOf = async (m: Metrics) => ((await m.registry.getMetricsAsJSON()) as unknown as { name: string }[]).map((x) => x.name);
    const documented = ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes'];
    expect(await namesOf(createMetrics())).toEqual(expect.arrayContaining(documented));
    expect(await namesOf(createMetrics({ defaultMetrics: true }))).toEqual(expect.arrayContaining(documented));
    expect((await namesOf(createMetrics({ defaultMetrics: false }))).filter((n) => !n.startsWith('hubgate_'))).toEqual([]);
  });

  it('every hubgate metric the alert rules query (deploy/ and the Helm chart) is in the scrape', async () => {
    const m = createMetrics({ defaultMetrics: false });
    new AuditTrail({ registry: m.registry, sink: () => undefined });
    touchEveryMetric(m);
    const scraped = sampleNames(await m.registry.metrics());
    for (const file of ALERT_RULE_FILES) {
      const doc = yaml.load(fs.readFileSync(path.join(root, file), 'utf8')) as { groups: { rules: { expr: string }[] }[] };
      const used = [...new Set(doc.groups.flatMap((g) => g.rules.flatMap((r) => r.expr.match(/\bhubgate_[a-z0-9_]+/g) ?? [])))].sort();
      expect({ file, used, missing: used.filter((n) => !scraped.has(n)) }).toEqual({
        file,
        used: [
          'hubgate_audit_webhook_dropped_total',
          'hubgate_credential_key_mismatch',
          'hubgate_gc_last_status',
          'hubgate_gc_last_success_timestamp_seconds',
          'hubgate_harbor_component_healthy',
          'hubgate_harbor_storage_free_bytes',
          'hubgate_harbor_storage_total_bytes',
          'hubgate_harbor_up',
          'hubgate_http_request_duration_seconds_bucket',
          'hubgate_http_requests_total',
          'hubgate_login_failures_total',
          'hubgate_login_throttled_total',
          'hubgate_redis_up',
          'hubgate_registry_requests_total',
          'hubgate_uploads_finished_total',
          'hubgate_workspaces_over_quota_threshold',
        ],
        missing: [],
      });
    }
  });
});
