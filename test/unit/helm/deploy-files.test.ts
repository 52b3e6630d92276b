/**
 * Deployment files outside the chart: Dockerfile, .dockerignore, Docker Compose beside Harbor's installer, the
 * systemd unit, and the Grafana dashboard (only metrics hubgate exports; every query parses, checked with promtool
 * when it is on PATH).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { createMetrics } from '../../../src/observability/metrics';
import { requireTools } from '../../support/tools';

const root = path.resolve(__dirname, '../../..');
const read = (p: string) => fs.readFileSync(path.join(root, p), 'utf8');
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Default drain timeout, as in src/config.ts. */
const DRAIN_MS = 30000;
const seconds = (d: string) => {
  const m = /^(\d+)(s|m)?$/.exec(d.trim());
  if (!m) throw new Error(`cannot read duration ${d}`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
};

describe('Dockerfile', () => {
  const df = read('Dockerfile');

  it('builds with npm ci && npm run build, runs node:20-bookworm-slim with production dependencies as non-root', () => {
    expect(df).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(df).toMatch(/^FROM \$\{NODE_IMAGE\} AS build$/m);
    expect(df).toMatch(/^RUN npm ci\b/m);
    expect(df).toMatch(/^RUN npm run build$/m);
    expect(df).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect(df).toMatch(/^USER node:node$/m);
    expect(df).toMatch(/^EXPOSE 8080$/m);
    expect(df).toMatch(/^CMD \["node", "dist\/src\/main\.js"\]$/m);
    // the runtime stage is the last one and copies the compiled code
    const stages = df.split(/^FROM /m).slice(1);
    expect(stages[stages.length - 1]).toMatch(/^\$\{NODE_IMAGE\} AS runtime/);
    expect(stages[stages.length - 1]).toMatch(/COPY --from=build .*\/app\/dist \.\/dist/);
  });

  it('the build output path matches package.json main and the build tsconfig', () => {
    const pkg = JSON.parse(read('package.json')) as { main: string; scripts: Record<string, string> };
    expect(pkg.main).toBe('dist/src/main.js');
    expect(pkg.scripts.build).toContain('tsconfig.build.json');
  });

  it('.dockerignore keeps local state and secrets out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const p of ['node_modules', 'dist', '.git', '.env', 'test']) expect(ignored).toContain(p);
    for (const needed of ['src', 'adapters', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      expect(ignored).not.toContain(needed);
    }
  });
});

describe('deploy/docker-compose.yml', () => {
  const compose = yaml.load(read('deploy/docker-compose.yml')) as Doc;
  const svc = compose.services.hubgate as Doc;

  it('joins Harbor installer\'s external network and reads an env file', () => {
    expect(compose.networks.harbor).toEqual({ external: true, name: 'harbor_harbor' });
    expect(svc.networks).toContain('harbor');
    expect(svc.env_file).toEqual(['${HUBGATE_ENV_FILE:-/etc/hubgate/hubgate.env}']);
    expect(svc.environment).not.toHaveProperty('HARBOR_ADMIN_PASSWORD');
    expect(svc.environment).not.toHaveProperty('HUBGATE_CREDENTIAL_SECRET');
    expect(read('deploy/hubgate.env.example')).toMatch(/^HARBOR_URL=http:\/\/core:8080$/m);
  });

  it('stops gracefully and runs hardened', () => {
    expect(seconds(svc.stop_grace_period)).toBeGreaterThan(DRAIN_MS / 1000);
    expect(svc.read_only).toBe(true);
    expect(svc.cap_drop).toEqual(['ALL']);
    expect(svc.security_opt).toContain('no-new-privileges:true');
    expect(svc.user).toBe('1000:1000');
    // Redis is private to hubgate
    expect(compose.services['hubgate-redis'].networks).toEqual(['hubgate']);
  });
});

describe('deploy/hubgate.service', () => {
  const unit = read('deploy/hubgate.service');
  const keys = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) keys.set(m[1], [...(keys.get(m[1]) ?? []), m[2]]);
  }
  const one = (k: string) => keys.get(k)?.[0];

  it('reads /etc/hubgate/hubgate.env, restarts on failure, waits for the drain', () => {
    expect(one('EnvironmentFile')).toBe('/etc/hubgate/hubgate.env');
    expect(one('Restart')).toBe('on-failure');
    expect(one('ExecStart')).toMatch(/node \/opt\/hubgate\/dist\/src\/main\.js$/);
    expect(seconds(one('TimeoutStopSec')!)).toBeGreaterThan(DRAIN_MS / 1000);
    expect(one('User')).toBe('hubgate');
  });

  it('is hardened, without options that break node', () => {
    for (const k of ['NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelTunables', 'RestrictAddressFamilies', 'SystemCallFilter', 'CapabilityBoundingSet']) {
      expect(keys.has(k)).toBe(true);
    }
    expect(one('ProtectSystem')).toBe('strict');
    expect(keys.has('MemoryDenyWriteExecute')).toBe(false);
  });

  const analyze = requireTools('deploy/hubgate.service (systemd-analyze verify)', ['systemd-analyze']).available;
  (analyze ? it : it.skip)('passes systemd-analyze verify', () => {
    const res = spawnSync('systemd-analyze', ['verify', path.join(root, 'deploy/hubgate.service')], { encoding: 'utf8' });
    // verify warns about the missing user/binary on a build machine; unknown keys and bad sections are what matter
    expect(res.stderr).not.toMatch(/Unknown (key|section)|Invalid|Failed to parse/i);
  });
});

describe('deploy/grafana/hubgate-dashboard.json', () => {
  const dash = JSON.parse(read('deploy/grafana/hubgate-dashboard.json')) as Doc;
  const panels = (dash.panels as Doc[]).flatMap((p) => [p, ...((p.panels as Doc[]) ?? [])]);
  const exprs: string[] = panels.flatMap((p) => ((p.targets as Doc[]) ?? []).map((t) => t.expr as string));

  it('has unique panel ids, a data source variable and a job variable', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const vars = (dash.templating.list as Doc[]).map((v) => v.name);
    expect(vars).toEqual(expect.arrayContaining(['datasource', 'job']));
    expect(dash.uid).toBe('hubgate-overview');
  });

  it('uses only metrics hubgate exports, and shows every hubgate metric', async () => {
    const m = createMetrics();
    const exported = new Set<string>();
    for (const metric of (await m.registry.getMetricsAsJSON()) as unknown as { name: string; type: string }[]) {
      exported.add(metric.name);
      if (metric.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(metric.name + s);
    }
    const used = new Set(exprs.flatMap((e) => e.match(/\b(hubgate|process|nodejs)_[a-z0-9_]+/g) ?? []));
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
    // every hubgate metric is on the dashboard (histograms through their _bucket series)
    const histograms = new Set([...exported].filter((n) => n.endsWith('_bucket')).map((n) => n.replace(/_bucket$/, '')));
    const hubgateMetrics = [...exported].filter((n) => n.startsWith('hubgate_') && !/_(sum|count|bucket)$/.test(n));
    const uncovered = hubgateMetrics.filter((n) => !used.has(histograms.has(n) ? `${n}_bucket` : n));
    expect(uncovered).toEqual([]);
  });

  const promtool = requireTools('dashboard queries (promtool check rules)', ['promtool']).available;
  (promtool ? it : it.skip)('every query parses (promtool check rules on recording rules made of them)', () => {
    const rules = exprs.map((e, i) => ({
      record: `dashboard:query_${i}`,
      expr: e.replace(/\$__rate_interval/g, '5m').replace(/\$job/g, '.*hubgate.*'),
    }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hubgate-dash-'));
    const file = path.join(dir, 'rules.yml');
    fs.writeFileSync(file, yaml.dump({ groups: [{ name: 'dashboard', rules }] }));
    const res = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    if (res.status !== 0) throw new Error(res.stdout + res.stderr);
    expect(res.stdout).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));
  });
});
