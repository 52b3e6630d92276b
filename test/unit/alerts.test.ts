/**
 * Alert rules: promtool validates and unit-tests them (with CI=true a missing promtool fails the file; locally
 * those two tests are skipped with a printed message, see test/support/tools.ts),
 * every alert has a test case and a runbook section, and every metric a rule uses is one hubgate exports.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { createMetrics } from '../../src/observability/metrics';
import { AuditTrail } from '../../src/observability/audit';
import { requireTools } from '../support/tools';

const root = path.resolve(__dirname, '../..');
const rulesPath = path.join(root, 'deploy/prometheus/hubgate-alerts.yml');
const testsPath = path.join(root, 'deploy/prometheus/hubgate-alerts.test.yml');
const opsPath = path.join(root, 'docs/operations.md');

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface PromtoolTest {
  name?: string;
  alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[];
}

const rules: Rule[] = (yaml.load(fs.readFileSync(rulesPath, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap(
  (g) => g.rules,
);
const alerts = rules.filter((r) => r.alert);
const promtoolTests = (yaml.load(fs.readFileSync(testsPath, 'utf8')) as { tests: PromtoolTest[] }).tests;

/** GitHub-style heading anchor: lower case, punctuation dropped, spaces to dashes. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');
}

const promtoolAvailable = requireTools('alert rules (promtool check/test rules)', ['promtool']).available;

describe('alert rules', () => {
  const EXPECTED = [
    'HubgateHarborDown',
    'HarborComponentUnhealthy',
    'HubgateRedisDown',
    'HubgateCredentialKeyMismatch',
    'HubgateHigh5xxRatio',
    'HubgateHighLatency',
    'HubgateUploadFailureRatioHigh',
    'HubgateLoginFailuresSpike',
    'HubgateGcFailed',
    'HubgateGcNotRun',
    'HubgateStorageAlmostFull',
    'HubgateDown',
    // issue 13: workspaces above 90% of their storage quota
    'HubgateWorkspacesNearQuota',
    'HubgateAuditEventsDropped',
  ];

  it('defines every alert the issue asks for, once', () => {
    const names = alerts.map((a) => a.alert!);
    expect([...names].sort()).toEqual([...EXPECTED].sort());
  });

  (promtoolAvailable ? it : it.skip)('pass `promtool check rules`', () => {
    const out = execFileSync('promtool', ['check', 'rules', rulesPath], { encoding: 'utf8', stdio: 'pipe' });
    expect(out).toMatch(/SUCCESS/);
  });

  (promtoolAvailable ? it : it.skip)(
    'pass `promtool test rules`',
    () => {
      const res = spawnSync('promtool', ['test', 'rules', path.basename(testsPath)], {
        cwd: path.dirname(testsPath),
        encoding: 'utf8',
      });
      if (res.status !== 0) throw new Error(`promtool test rules failed:\n${res.stdout}\n${res.stderr}`);
      expect(res.stdout).toMatch(/SUCCESS/);
    },
    120_000,
  );

  it.each(alerts.map((a) => [a.alert!, a] as const))('%s has severity, summary, description and a runbook', (_name, a) => {
    expect(['critical', 'warning', 'info']).toContain(a.labels?.severity);
    expect(a.annotations?.summary).toBeTruthy();
    expect(a.annotations?.description).toBeTruthy();
    expect(a.annotations?.runbook_url).toMatch(/^docs\/operations\.md#[a-z0-9-]+$/);
  });

  it.each(alerts.map((a) => [a.alert!] as const))('%s has a firing and a non-firing promtool case', (name) => {
    const cases = promtoolTests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.alertname === name);
    expect(cases.some((c) => (c.exp_alerts ?? []).length > 0)).toBe(true);
    expect(cases.some((c) => (c.exp_alerts ?? []).length === 0)).toBe(true);
  });

  it('every runbook_url anchor is a heading in docs/operations.md', () => {
    const doc = fs.readFileSync(opsPath, 'utf8');
    const anchors = new Set(
      doc
        .split('\n')
        .filter((l) => /^#{1,6} /.test(l))
        .map((l) => anchorOf(l.replace(/^#+ /, ''))),
    );
    const missing = alerts.map((a) => a.annotations!.runbook_url.split('#')[1]).filter((a) => !anchors.has(a));
    expect(missing).toEqual([]);
    // And the anchor is the alert name, so operators can find the section from the alert alone.
    for (const a of alerts) expect(a.annotations!.runbook_url).toBe(`docs/operations.md#${a.alert!.toLowerCase()}`);
  });

  it('docs/operations.md lists every metric hubgate exports in its metrics table', async () => {
    const doc = fs.readFileSync(opsPath, 'utf8');
    const m = createMetrics({ defaultMetrics: false });
    new AuditTrail({ registry: m.registry, sink: () => undefined });
    const names = ((await m.registry.getMetricsAsJSON()) as unknown as { name: string }[]).map((x) => x.name);
    expect(names.filter((n) => !doc.includes(`| \`${n}\` |`))).toEqual([]);
  });

  it('uses only metrics hubgate exports (plus Prometheus `up`)', async () => {
    const m = createMetrics({ defaultMetrics: false });
    new AuditTrail({ registry: m.registry, sink: () => undefined }); // the audit webhook's metrics
    const exported = new Set<string>();
    for (const metric of (await m.registry.getMetricsAsJSON()) as unknown as { name: string; type: string }[]) {
      exported.add(metric.name);
      if (metric.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(metric.name + s);
    }
    const used = new Set(rules.flatMap((r) => r.expr.match(/\bhubgate_[a-z0-9_]+/g) ?? []));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
  });
});
