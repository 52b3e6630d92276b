/**
 * The Helm chart, without a helm binary: values.schema.json against values.yaml and the examples (ajv), every
 * `.Values` path a template uses exists in values.yaml, the templates render (test/unit/helm/helm-render.ts) into
 * YAML that parses and says what the issue asks for, and the PrometheusRule carries the plain rules file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import * as yaml from 'js-yaml';
import { renderChart, TemplateError, type RenderOptions } from './helm-render';
import { sourceText } from '../../support/source-text';

const root = path.resolve(__dirname, '../../..');
const chartDir = path.join(root, 'helm/hubgate');
const load = (p: string) => yaml.load(fs.readFileSync(path.join(root, p), 'utf8'), { schema: yaml.YAML11_SCHEMA }) as Record<string, unknown>;
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What an operator must give at install time; everything else comes from values.yaml. */
const REQUIRED: Record<string, unknown> = {
  config: { registryHost: 'hub.example.com', oidc: { issuer: 'https://keycloak.example.com/realms/platform', audience: 'hubgate' } },
  secrets: { harborAdminPassword: 'Harbor12345', credentialSecret: 'x'.repeat(40) },
};

function render(values: Record<string, unknown> = {}, opts: Omit<RenderOptions, 'values'> = {}) {
  return renderChart(chartDir, { ...opts, values: merge(REQUIRED, values) });
}
function merge(a: unknown, b: unknown): Record<string, unknown> {
  if (!isObj(a) || !isObj(b)) return (b === undefined ? a : b) as Record<string, unknown>;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = merge(out[k], v);
  return out;
}
const isObj = (v: unknown): v is Record<string, unknown> => Boolean(v) && typeof v === 'object' && !Array.isArray(v);
const find = (docs: Doc[], kind: string, name?: string): Doc => {
  const d = docs.find((x) => x.kind === kind && (name === undefined || x.metadata?.name === name));
  if (!d) throw new Error(`no ${kind}${name ? ` ${name}` : ''} rendered; kinds: ${docs.map((x) => x.kind).join(', ')}`);
  return d;
};

describe('values.schema.json', () => {
  const schema = JSON.parse(fs.readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8'));
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  const check = (values: unknown) => {
    const ok = validate(values);
    return ok ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  };

  it('accepts values.yaml', () => {
    expect(check(load('helm/hubgate/values.yaml'))).toEqual([]);
  });

  it.each(fs.readdirSync(path.join(chartDir, 'examples')).map((f) => [f]))('accepts examples/%s merged over values.yaml', (f) => {
    const merged = merge(load('helm/hubgate/values.yaml'), load(`helm/hubgate/examples/${f}`));
    expect(check(merged)).toEqual([]);
  });

  it('rejects typos, a short credential secret and a bad Harbor URL', () => {
    const base = load('helm/hubgate/values.yaml');
    expect(check(merge(base, { replicaCont: 3 }))).not.toEqual([]);
    expect(check(merge(base, { secrets: { credentialSecret: 'too-short' } }))).not.toEqual([]);
    expect(check(merge(base, { config: { harbor: { url: 'harbor-core' } } }))).not.toEqual([]);
    expect(check(merge(base, { config: { logLevel: 'verbose' } }))).not.toEqual([]);
  });

  it('retired credential secrets: secrets of 32+ characters or 16-hex-digit fingerprints, comma-separated', () => {
    const base = load('helm/hubgate/values.yaml');
    const prev = (v: string) => check(merge(base, { secrets: { credentialSecretPrevious: v } }));
    expect(prev('')).toEqual([]);
    expect(prev('y'.repeat(40))).toEqual([]);
    expect(prev(`0123456789abcdef, ${'y'.repeat(32)}`)).toEqual([]);
    expect(prev('short')).toEqual(['/secrets/credentialSecretPrevious must match pattern "' + schema.properties.secrets.properties.credentialSecretPrevious.pattern + '"']);
    expect(prev(`0123456789abcdef,short`)).not.toEqual([]);
  });
});

describe('values.yaml', () => {
  const values = load('helm/hubgate/values.yaml');

  it('has no secret with a default', () => {
    const secrets = values.secrets as Record<string, string>;
    expect(secrets.harborAdminPassword).toBe('');
    expect(secrets.credentialSecret).toBe('');
    expect(secrets.existingSecret).toBe('');
  });

  it('declares every .Values path the templates use', () => {
    const tdir = path.join(chartDir, 'templates');
    const missing: string[] = [];
    for (const f of fs.readdirSync(tdir)) {
      const text = fs.readFileSync(path.join(tdir, f), 'utf8');
      for (const m of text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        const keys = m[1].slice(1).split('.');
        let v: unknown = values;
        for (const k of keys) {
          if (!isObj(v) || !(k in v)) {
            missing.push(`${f}: .Values.${keys.join('.')}`);
            break;
          }
          v = v[k];
        }
      }
    }
    expect([...new Set(missing)]).toEqual([]);
  });

  it('defaults to harbor-helm service names for a release called "harbor"', () => {
    const config = values.config as { harbor: { url: string } };
    expect(config.harbor.url).toBe('http://harbor-core:80');
    const np = values.networkPolicy as Doc;
    expect(np.harbor.core).toEqual({ podLabels: { app: 'harbor', release: 'harbor', component: 'core' }, port: 8080 });
    expect(np.harbor.registry).toEqual({ podLabels: { app: 'harbor', release: 'harbor', component: 'registry' }, port: 5000 });
  });
});

describe('rendered chart (defaults + required values)', () => {
  const { docs, notes } = render();

  it('parses as YAML into Kubernetes objects with unique kind/name', () => {
    expect(docs.length).toBeGreaterThan(5);
    const ids = docs.map((d: Doc) => {
      expect(typeof d.apiVersion).toBe('string');
      expect(typeof d.kind).toBe('string');
      expect(d.metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      return `${d.kind}/${d.metadata.name}`;
    });
    expect(new Set(ids).size).toBe(ids.length);
    expect(docs.map((d: Doc) => d.kind).sort()).toEqual(
      ['ConfigMap', 'Deployment', 'Deployment', 'Ingress', 'NetworkPolicy', 'NetworkPolicy', 'PodDisruptionBudget', 'Secret', 'Service', 'Service', 'ServiceAccount'].sort(),
    );
    expect(notes).toContain('hub.example.com');
  });

  it('Deployment: ≥ 2 replicas, probes, non-root read-only container, envFrom ConfigMap and Secret, spread', () => {
    const dep = find(docs, 'Deployment', 'hubgate');
    expect(dep.spec.replicas).toBeGreaterThanOrEqual(2);
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toBe('hubgate:0.1.0');
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '2', memory: '1Gi' } });
    expect(c.envFrom).toEqual([{ configMapRef: { name: 'hubgate' } }, { secretRef: { name: 'hubgate' } }]);
    expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(pod.volumes[0].emptyDir.sizeLimit).toBe(String(5 * 1024 ** 3)); // the upload disk budget (4 GiB) + 1 GiB
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.topologySpreadConstraints[0]).toMatchObject({ topologyKey: 'kubernetes.io/hostname', maxSkew: 1 });
    // Replicas preferably on different nodes; the selector is hubgate's own pods (not the Redis ones).
    expect(pod.affinity).toEqual({
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: dep.spec.selector.matchLabels } },
          },
        ],
      },
    });
    expect(dep.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'hubgate', 'app.kubernetes.io/instance': 'hubgate', 'app.kubernetes.io/component': 'gateway' });
    expect(dep.spec.template.metadata.annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
    // selector must not catch the Redis pods
    expect(dep.spec.selector.matchLabels['app.kubernetes.io/component']).toBe('gateway');
  });

  it('grace period covers the preStop sleep plus the drain timeout given to hubgate', () => {
    const dep = find(docs, 'Deployment', 'hubgate');
    const pod = dep.spec.template.spec;
    const cm = find(docs, 'ConfigMap');
    const drainSeconds = Number(cm.data.HUBGATE_SHUTDOWN_TIMEOUT_MS) / 1000;
    const sleep = Number(pod.containers[0].lifecycle.preStop.exec.command[1]);
    expect(drainSeconds).toBe(30);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(drainSeconds + sleep);
    expect(() => render({ terminationGracePeriodSeconds: 30 })).toThrow(/terminationGracePeriodSeconds must be longer/);
  });

  it('the /tmp volume follows the upload disk budget (budget + 1 GiB), unless sized explicitly', () => {
    const sized = (values: Record<string, unknown>) => find(render(values).docs, 'Deployment', 'hubgate').spec.template.spec.volumes[0].emptyDir.sizeLimit;
    const cm = find(docs, 'ConfigMap').data as Record<string, string>;
    expect(Number(sized({}))).toBe(Number(cm.HUBGATE_UPLOAD_DISK_BUDGET_BYTES) + 1024 ** 3);
    expect(Number(cm.HUBGATE_UPLOAD_MAX_DISK_BYTES)).toBeLessThanOrEqual(Number(cm.HUBGATE_UPLOAD_DISK_BUDGET_BYTES));
    expect(sized({ config: { uploads: { diskBudgetBytes: 10 * 1024 ** 3 } } })).toBe(String(11 * 1024 ** 3));
    expect(sized({ tmpVolume: { sizeLimit: '20Gi' } })).toBe('20Gi');
  });

  it('ConfigMap and Secret hold every variable src/config.ts reads, secrets only in the Secret', () => {
    const configSrc = sourceText('src/config.ts');
    const read = [...configSrc.matchAll(/\br\.(?:str|int|bool|url|oneOf|secret|raw)\(\s*'([A-Z0-9_]+)'/g)].map((m) => m[1]);
    expect(read.length).toBeGreaterThan(15);
    const cm = find(docs, 'ConfigMap').data as Record<string, string>;
    const secret = find(docs, 'Secret').data as Record<string, string>;
    const secretKeys = ['HARBOR_ADMIN_PASSWORD', 'HUBGATE_AUDIT_WEBHOOK_TOKEN', 'HUBGATE_CREDENTIAL_SECRET', 'HUBGATE_CREDENTIAL_SECRET_PREVIOUS'];
    expect(Object.keys(secret).sort()).toEqual(secretKeys);
    // OIDC_JWKS_URL is derived from the issuer unless set.
    const optional = new Set(['OIDC_JWKS_URL']);
    const missing = read.filter((v) => !(v in cm) && !(v in secret) && !optional.has(v));
    expect(missing).toEqual([]);
    for (const k of secretKeys) expect(cm).not.toHaveProperty(k);
    for (const v of Object.values(cm)) expect(typeof v).toBe('string');
    expect(Buffer.from(secret.HUBGATE_CREDENTIAL_SECRET, 'base64').toString()).toBe('x'.repeat(40));
    expect(secret.HUBGATE_CREDENTIAL_SECRET_PREVIOUS).toBe('');
    const withPrevious = find(render({ secrets: { credentialSecretPrevious: 'z'.repeat(40) } }).docs, 'Secret').data as Record<string, string>;
    expect(Buffer.from(withPrevious.HUBGATE_CREDENTIAL_SECRET_PREVIOUS, 'base64').toString()).toBe('z'.repeat(40));
    expect(cm).toMatchObject({
      HARBOR_URL: 'http://harbor-core:80',
      HUBGATE_REGISTRY_HOST: 'hub.example.com',
      HUBGATE_PUBLIC_URL: 'https://hub.example.com',
      HUBGATE_PORT: '8080',
      HARBOR_TIMEOUT_MS: '10000',
      REDIS_URL: 'redis://hubgate-redis:6379/0',
    });
  });

  it('Ingress: registry host with TLS, nginx streaming annotations, only the public paths', () => {
    const ing = find(docs, 'Ingress');
    expect(ing.metadata.annotations).toMatchObject({
      'nginx.ingress.kubernetes.io/proxy-body-size': '0',
      'nginx.ingress.kubernetes.io/proxy-buffering': 'off',
      'nginx.ingress.kubernetes.io/proxy-request-buffering': 'off',
      'nginx.ingress.kubernetes.io/proxy-read-timeout': '1800',
      'nginx.ingress.kubernetes.io/proxy-send-timeout': '1800',
    });
    expect(ing.spec.tls).toEqual([{ hosts: ['hub.example.com'], secretName: 'hubgate-tls' }]);
    const rule = ing.spec.rules[0];
    expect(rule.host).toBe('hub.example.com');
    expect(rule.http.paths.map((p: Doc) => p.path)).toEqual(['/v2', '/service/token', '/api/v1', '/console']);
    expect(rule.http.paths[0].backend.service).toEqual({ name: 'hubgate', port: { name: 'http' } });
    expect(rule.http.paths[3].backend.service).toEqual({ name: 'hubgate', port: { name: 'http' } });
    // the console switched off: not routed either
    const off = find(render({ config: { console: { enabled: false } } }).docs, 'Ingress');
    expect(off.spec.rules[0].http.paths.map((p: Doc) => p.path)).toEqual(['/v2', '/service/token', '/api/v1']);
  });

  it('NetworkPolicy: egress only to DNS, Harbor core/registry, Redis and the OIDC issuer', () => {
    const np = find(docs, 'NetworkPolicy', 'hubgate');
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    const egress = np.spec.egress as Doc[];
    expect(egress).toHaveLength(5);
    const ports = egress.map((r) => r.ports.map((p: Doc) => p.port).join(','));
    expect(ports).toEqual(['53,53', '8080', '5000', '6379', '443']);
    expect(egress[1].to[0].podSelector.matchLabels).toEqual({ app: 'harbor', release: 'harbor', component: 'core' });
    expect(egress[1].to[0].namespaceSelector.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'harbor' });
    const redisNp = find(docs, 'NetworkPolicy', 'hubgate-redis');
    expect(redisNp.spec.ingress[0].from[0].podSelector.matchLabels['app.kubernetes.io/component']).toBe('gateway');
  });

  it('no Redis objects and no REDIS_URL when Redis is disabled and no URL is given', () => {
    const r = render({ redis: { enabled: false } });
    expect(r.docs.filter((d: Doc) => d.metadata.name.includes('redis'))).toEqual([]);
    expect(find(r.docs, 'ConfigMap').data).not.toHaveProperty('REDIS_URL');
    const external = render({ redis: { enabled: false, url: 'redis://redis.platform:6379/3' } });
    expect(find(external.docs, 'ConfigMap').data.REDIS_URL).toBe('redis://redis.platform:6379/3');
  });

  it('files/ rules are the plain rules file; PrometheusRule carries them with the prefix and GC threshold applied', () => {
    const plain = fs.readFileSync(path.join(root, 'deploy/prometheus/hubgate-alerts.yml'), 'utf8');
    const copy = fs.readFileSync(path.join(chartDir, 'files/hubgate-alerts.yml'), 'utf8');
    expect(copy).toBe(plain);

    const same = render({ prometheusRule: { enabled: true } });
    const pr = find(same.docs, 'PrometheusRule');
    expect(pr.spec).toEqual(yaml.load(plain));

    const tuned = render({ prometheusRule: { enabled: true, runbookUrlPrefix: 'https://git.example.com/hubgate/-/blob/main/', gcMaxAgeDays: 14 } });
    const rules = (find(tuned.docs, 'PrometheusRule').spec.groups as Doc[]).flatMap((g) => g.rules as Doc[]);
    expect(rules.find((r) => r.alert === 'HubgateGcNotRun')!.expr).toContain('> 14 * 86400');
    for (const r of rules) expect(r.annotations.runbook_url).toMatch(/^https:\/\/git\.example\.com\/hubgate\/-\/blob\/main\/docs\/operations\.md#/);
  });

  it('the plain rules file contains the exact text the chart rewrites', () => {
    const plain = fs.readFileSync(path.join(root, 'deploy/prometheus/hubgate-alerts.yml'), 'utf8');
    expect(plain.match(/> 7 \* 86400/g)).toHaveLength(1);
    expect(plain.match(/runbook_url: docs\//g)!.length).toBe(plain.match(/- alert: /g)!.length);
  });

  it('ServiceMonitor scrapes /metrics on the http port with job="hubgate"', () => {
    const sm = find(render({ serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } } }).docs, 'ServiceMonitor');
    expect(sm.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }]);
    expect(sm.spec.jobLabel).toBe('app.kubernetes.io/name');
    expect(sm.metadata.labels.release).toBe('kube-prometheus-stack');
  });

  it('HPA replaces the fixed replica count when autoscaling is on', () => {
    const r = render({ autoscaling: { enabled: true } });
    expect(find(r.docs, 'Deployment', 'hubgate').spec).not.toHaveProperty('replicas');
    expect(find(r.docs, 'HorizontalPodAutoscaler').spec).toMatchObject({ minReplicas: 2, maxReplicas: 10 });
  });

  it('names objects after the release', () => {
    const r = render({}, { releaseName: 'cis' });
    expect(find(r.docs, 'Deployment', 'cis-hubgate').spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'hubgate', 'app.kubernetes.io/instance': 'cis', 'app.kubernetes.io/component': 'gateway' });
    expect(find(r.docs, 'ConfigMap').data.REDIS_URL).toBe('redis://cis-hubgate-redis:6379/0');
  });
});

describe('secrets', () => {
  it('refuses to render without the secrets, naming the value', () => {
    const values = { ...REQUIRED, secrets: {} };
    expect(() => renderChart(chartDir, { values })).toThrow(/secrets\.harborAdminPassword is required/);
    expect(() => renderChart(chartDir, { values: { ...REQUIRED, secrets: { harborAdminPassword: 'p' } } })).toThrow(
      /secrets\.credentialSecret is required/,
    );
  });

  it('refuses to render without the registry host and the OIDC issuer', () => {
    expect(() => renderChart(chartDir, { values: { secrets: REQUIRED.secrets } })).toThrow(TemplateError);
    expect(() => renderChart(chartDir, { values: merge(REQUIRED, { config: { oidc: { issuer: '' } } }) })).toThrow(/config\.oidc\.issuer is required/);
  });

  it('with existingSecret: no Secret object, the pods read the named Secret', () => {
    const r = renderChart(chartDir, { values: { ...REQUIRED, secrets: { existingSecret: 'hubgate-secrets' } } });
    expect(r.docs.filter((d: Doc) => d.kind === 'Secret')).toEqual([]);
    const c = find(r.docs, 'Deployment', 'hubgate').spec.template.spec.containers[0];
    expect(c.envFrom[1]).toEqual({ secretRef: { name: 'hubgate-secrets' } });
  });
});

describe('examples/values-production.yaml', () => {
  const prod = load('helm/hubgate/examples/values-production.yaml');
  const { docs } = renderChart(chartDir, { values: prod, releaseName: 'hubgate', namespace: 'hubgate' });

  it('renders every optional object', () => {
    const kinds = new Set(docs.map((d: Doc) => d.kind));
    for (const k of ['HorizontalPodAutoscaler', 'ServiceMonitor', 'PrometheusRule', 'PodDisruptionBudget', 'NetworkPolicy', 'Ingress']) expect(kinds).toContain(k);
    expect(docs.filter((d: Doc) => d.kind === 'Secret')).toEqual([]);
  });

  it('Harbor-side NetworkPolicy admits only hubgate and Harbor itself to core and registry', () => {
    const np: Doc = docs.find((d: Doc) => d.kind === 'NetworkPolicy' && d.metadata.namespace === 'harbor')!;
    expect(np.spec.podSelector.matchExpressions).toEqual([{ key: 'component', operator: 'In', values: ['core', 'registry'] }]);
    expect(np.spec.ingress[0].from[0]).toEqual({
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'hubgate' } },
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'hubgate', 'app.kubernetes.io/instance': 'hubgate', 'app.kubernetes.io/component': 'gateway' } },
    });
    expect(np.spec.ingress[1].from[0].podSelector.matchLabels).toEqual({ app: 'harbor', release: 'harbor' });
  });

  it('keeps the grace period above the longer drain', () => {
    const dep = find(docs, 'Deployment', 'hubgate');
    expect(find(docs, 'ConfigMap').data.HUBGATE_SHUTDOWN_TIMEOUT_MS).toBe('120000');
    expect(dep.spec.template.spec.terminationGracePeriodSeconds).toBe(150);
    expect(find(docs, 'NetworkPolicy', 'hubgate').spec.egress.map((r: Doc) => r.ports[0].port)).toEqual([53, 8080, 5000, 6379, 443]);
  });
});
