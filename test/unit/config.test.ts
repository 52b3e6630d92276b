import fs, { mkdtempSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, ConfigError, loadConfig } from '../../src/config';
import { signingMaterial } from '../harbor-double/keys';

const base = {
  HARBOR_URL: 'http://harbor.local',
  HARBOR_ADMIN_PASSWORD: 'Harbor12345',
  OIDC_ISSUER: 'https://kc.example.com/realms/platform',
  OIDC_AUDIENCE: 'hubgate',
  HUBGATE_CREDENTIAL_SECRET: 'c'.repeat(32),
};

const problem = (env: Record<string, string>): string => {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).name).toBe('ConfigError');
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('configuration', () => {
  it('HUBGATE_CREDENTIAL_SECRET_PREVIOUS: none by default; retired secrets (32+) or key fingerprints, comma-separated', () => {
    expect(loadConfig(base).credentials.previous).toEqual([]);
    expect(loadConfig({ ...base, HUBGATE_CREDENTIAL_SECRET_PREVIOUS: ` ${'p'.repeat(32)} ,0123456789abcdef,` }).credentials.previous).toEqual(['p'.repeat(32), '0123456789abcdef']);
    expect(problem({ ...base, HUBGATE_CREDENTIAL_SECRET_PREVIOUS: `${'p'.repeat(32)},old-and-short` })).toBe(
      'configuration: HUBGATE_CREDENTIAL_SECRET_PREVIOUS entry 2 is neither a secret of at least 32 characters nor a 16-hex-digit key fingerprint',
    );
    expect(problem({ ...base, HUBGATE_CREDENTIAL_SECRET_PREVIOUS: 'c'.repeat(32) })).toBe(
      'configuration: HUBGATE_CREDENTIAL_SECRET_PREVIOUS must not contain the current HUBGATE_CREDENTIAL_SECRET',
    );
  });

  it('HUBGATE_CREDENTIAL_KEY_GRACE_SECONDS: 90 by default, 3..86400', () => {
    expect(loadConfig(base).credentials.keyGraceSeconds).toBe(90);
    expect(loadConfig({ ...base, HUBGATE_CREDENTIAL_KEY_GRACE_SECONDS: '3' }).credentials.keyGraceSeconds).toBe(3);
    expect(problem({ ...base, HUBGATE_CREDENTIAL_KEY_GRACE_SECONDS: '2' })).toMatch(/^configuration: HUBGATE_CREDENTIAL_KEY_GRACE_SECONDS must be between 3 and 86400/);
  });

  it('HUBGATE_REGISTRY_HEAD_POOL: on by default, false turns it off, anything else is refused', () => {
    expect(loadConfig(base).network.headPool).toBe(true);
    expect(loadConfig({ ...base, HUBGATE_REGISTRY_HEAD_POOL: 'false' }).network.headPool).toBe(false);
    expect(problem({ ...base, HUBGATE_REGISTRY_HEAD_POOL: 'maybe' })).toMatch(/^configuration: HUBGATE_REGISTRY_HEAD_POOL /);
  });

  it('loads with defaults and is frozen', () => {
    const c = loadConfig(base);
    expect(c.port).toBe(8080);
    expect(c.harbor.robotPrefix).toBe('robot$');
    expect(c.oidc.jwksUrl).toBe('https://kc.example.com/realms/platform/protocol/openid-connect/certs');
    expect(c.registryHost).toBe('127.0.0.1:8080');
    expect(c.registryInsecure).toBe(true);
    expect(Object.isFrozen(c.harbor)).toBe(true);
  });

  it.each([
    ['HARBOR_URL', { ...base, HARBOR_URL: '' }, /HARBOR_URL is required/],
    ['HARBOR_URL', { ...base, HARBOR_URL: 'ftp://x' }, /HARBOR_URL must be an http\(s\) URL/],
    ['HARBOR_ADMIN_PASSWORD', { ...base, HARBOR_ADMIN_PASSWORD: '' }, /HARBOR_ADMIN_PASSWORD is required.*no default/],
    ['HARBOR_ADMIN_PASSWORD', { ...base, HARBOR_ADMIN_PASSWORD: ' \t ' }, /^configuration: HARBOR_ADMIN_PASSWORD is required but not set \(secrets have no default\)$/],
    ['HUBGATE_CREDENTIAL_SECRET', { ...base, HUBGATE_CREDENTIAL_SECRET: ' '.repeat(40) }, /^configuration: HUBGATE_CREDENTIAL_SECRET is required but not set \(secrets have no default\)$/],
    ['HUBGATE_CREDENTIAL_SECRET', { ...base, HUBGATE_CREDENTIAL_SECRET: 'short' }, /HUBGATE_CREDENTIAL_SECRET must be at least 32/],
    ['HUBGATE_PORT', { ...base, HUBGATE_PORT: 'eighty' }, /HUBGATE_PORT must be an integer/],
    ['HUBGATE_PORT', { ...base, HUBGATE_PORT: '70000' }, /HUBGATE_PORT must be between/],
    ['OIDC_AUDIENCE', { ...base, OIDC_AUDIENCE: '' }, /OIDC_AUDIENCE is required/],
    ['OIDC_ALGORITHMS', { ...base, OIDC_ALGORITHMS: 'RS256,none' }, /OIDC_ALGORITHMS has unsupported algorithm "none"/],
    ['OIDC_ALGORITHMS', { ...base, OIDC_ALGORITHMS: 'HS256' }, /OIDC_ALGORITHMS has unsupported algorithm "HS256"/],
    ['OIDC_ADMIN_ROLE_SOURCE', { ...base, OIDC_ADMIN_ROLE_SOURCE: 'group' }, /OIDC_ADMIN_ROLE_SOURCE/],
    ['REDIS_URL', { ...base, REDIS_URL: 'localhost:6379' }, /REDIS_URL must start with redis:\/\//],
    ['HUBGATE_REGISTRY_INSECURE', { ...base, HUBGATE_REGISTRY_INSECURE: 'maybe' }, /HUBGATE_REGISTRY_INSECURE must be true or false/],
    ['LOG_LEVEL', { ...base, LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    ['HUBGATE_REGISTRY_HOST', { ...base, HUBGATE_REGISTRY_HOST: 'https://hub' }, /HUBGATE_REGISTRY_HOST must be a host/],
  ])('names %s when it is wrong', (_v, env, message) => {
    expect(problem(env as Record<string, string>)).toMatch(message);
  });

  it('registry front: anonymous pulls off and login throttling on by default; settings are read and checked', () => {
    expect(loadConfig(base).registryFront).toEqual({
      allowAnonymousPull: false,
      loginMaxFailures: 10,
      loginMaxFailuresPerAddress: 50,
      loginFailureWindowSeconds: 300,
      loginBlockSeconds: 300,
      loginCacheSeconds: 30,
    });
    const c = loadConfig({
      ...base,
      HUBGATE_ALLOW_ANONYMOUS_PULL: 'true',
      HUBGATE_LOGIN_MAX_FAILURES: '3',
      HUBGATE_LOGIN_MAX_FAILURES_PER_ADDRESS: '20',
      HUBGATE_LOGIN_FAILURE_WINDOW_SECONDS: '60',
      HUBGATE_LOGIN_BLOCK_SECONDS: '600',
      HUBGATE_LOGIN_CACHE_SECONDS: '0',
    });
    expect(c.registryFront).toEqual({
      allowAnonymousPull: true,
      loginMaxFailures: 3,
      loginMaxFailuresPerAddress: 20,
      loginFailureWindowSeconds: 60,
      loginBlockSeconds: 600,
      loginCacheSeconds: 0,
    });
    expect(Object.isFrozen(c.registryFront)).toBe(true);
    expect(problem({ ...base, HUBGATE_ALLOW_ANONYMOUS_PULL: 'sometimes' })).toMatch(/HUBGATE_ALLOW_ANONYMOUS_PULL must be true or false/);
    expect(problem({ ...base, HUBGATE_LOGIN_MAX_FAILURES: '0' })).toMatch(/HUBGATE_LOGIN_MAX_FAILURES must be between/);
    expect(problem({ ...base, HUBGATE_LOGIN_BLOCK_SECONDS: 'ten' })).toMatch(/HUBGATE_LOGIN_BLOCK_SECONDS must be an integer/);
    expect(problem({ ...base, HUBGATE_LOGIN_CACHE_SECONDS: '3600' })).toMatch(/HUBGATE_LOGIN_CACHE_SECONDS must be between 0 and 300/);
  });

  it('never echoes a secret value in an error', () => {
    const msg = problem({ ...base, HUBGATE_CREDENTIAL_SECRET: 'tiny-secret' });
    expect(msg).not.toContain('tiny-secret');
  });

  it('URLs must parse and be http(s)', () => {
    expect(problem({ ...base, HARBOR_URL: 'harbor.local' })).toBe('configuration: HARBOR_URL must be an http(s) URL, got "harbor.local"');
    expect(problem({ ...base, OIDC_ISSUER: 'ftp://kc.example.com' })).toBe('configuration: OIDC_ISSUER must be an http(s) URL, got "ftp://kc.example.com"');
  });

  it.each([
    ['ftp://hook:s3cr3t-pw@audit.example.com/x', 'ftp://***@audit.example.com/x'],
    ['hook:s3cr3t-pw@audit.example.com', '***@audit.example.com'],
    ['ftp://s3cr3t-pw@audit.example.com', 'ftp://***@audit.example.com'],
    ['s3cr3t-pw@audit.example.com/a@b', '***@audit.example.com/a@b'],
    ['ftp://audit.example.com/p?u=a@b', 'ftp://audit.example.com/p?u=a@b'],
  ])('a refused URL is shown without its user info: %s', (given, shown) => {
    for (const name of ['HARBOR_URL', 'HUBGATE_AUDIT_WEBHOOK_URL']) {
      const msg = problem({ ...base, [name]: given });
      expect(msg).toBe(`configuration: ${name} must be an http(s) URL, got "${shown}"`);
      expect(msg).not.toContain('s3cr3t');
    }
  });

  it('HUBGATE_CREDENTIAL_USERNAME_PREFIX: lower-case letters and digits, optionally ending in - or .', () => {
    expect(loadConfig({ ...base, HUBGATE_CREDENTIAL_USERNAME_PREFIX: 'team7.' }).credentials.usernamePrefix).toBe('team7.');
    for (const bad of ['Hg-', 'hg_', '-hg', 'hg--']) {
      expect(problem({ ...base, HUBGATE_CREDENTIAL_USERNAME_PREFIX: bad })).toBe(
        'configuration: HUBGATE_CREDENTIAL_USERNAME_PREFIX must be lower-case letters and digits, optionally ending in "-" or "."',
      );
    }
  });

  it('HUBGATE_REGISTRY_PROXY_ENGINE: node (default) or http-proxy-middleware', () => {
    expect(loadConfig(base).network.proxyEngine).toBe('node');
    expect(loadConfig({ ...base, HUBGATE_REGISTRY_PROXY_ENGINE: 'http-proxy-middleware' }).network.proxyEngine).toBe('http-proxy-middleware');
    expect(problem({ ...base, HUBGATE_REGISTRY_PROXY_ENGINE: 'nginx' })).toBe('configuration: HUBGATE_REGISTRY_PROXY_ENGINE must be node or http-proxy-middleware, got "nginx"');
  });

  it('HUBGATE_TRUSTED_PROXIES: addresses, CIDRs within the family\'s bits, or proxy-addr\'s names; none by default', () => {
    expect(loadConfig(base).network.trustedProxies).toEqual([]);
    expect(loadConfig({ ...base, HUBGATE_TRUSTED_PROXIES: ' loopback, 10.0.0.0/8 ,,192.168.1.7,fd00::/128,linklocal,uniquelocal,10.1.2.3/32,::1' }).network.trustedProxies).toEqual([
      'loopback',
      '10.0.0.0/8',
      '192.168.1.7',
      'fd00::/128',
      'linklocal',
      'uniquelocal',
      '10.1.2.3/32',
      '::1',
    ]);
    for (const bad of ['10.0.0.0/33', 'fd00::/129', '10.0.0.0/8/1', '10.0.0.0/x', '10.0.0.0/', 'proxy.local', 'Loopback', '10.0.0.0/1234', '10.0.0.0/0008']) {
      expect(problem({ ...base, HUBGATE_TRUSTED_PROXIES: `loopback,${bad}` })).toBe(
        `configuration: HUBGATE_TRUSTED_PROXIES must list addresses, CIDRs or loopback/linklocal/uniquelocal, got "${bad}"`,
      );
    }
  });

  describe('HARBOR_TOKEN_CERT_FILE: Harbor\'s token service certificate(s)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hubgate-config-cert-'));
    const file = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };

    it('none by default', () => {
      const c = loadConfig(base);
      expect(c.registryFront.tokenCertificatePem).toBeUndefined();
      expect(c.registryFront.tokenCertificateFile).toBeUndefined();
    });

    it('a PEM with one or more certificates: read as it is, and where it came from', () => {
      const pem = signingMaterial().certPem;
      const one = file('one.pem', pem);
      expect(loadConfig({ ...base, HARBOR_TOKEN_CERT_FILE: one }).registryFront).toMatchObject({ tokenCertificatePem: pem, tokenCertificateFile: one });
      const two = file('two.pem', `${pem}\n${pem}`);
      expect(loadConfig({ ...base, HARBOR_TOKEN_CERT_FILE: two }).registryFront.tokenCertificatePem).toBe(`${pem}\n${pem}`);
    });

    it('refuses a file that cannot be read, holds no certificate, or one that does not parse', () => {
      const missing = join(dir, 'missing.pem');
      expect(problem({ ...base, HARBOR_TOKEN_CERT_FILE: missing })).toBe(`configuration: HARBOR_TOKEN_CERT_FILE cannot be read (ENOENT): ${missing}`);
      const key = file('key.pem', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n');
      expect(problem({ ...base, HARBOR_TOKEN_CERT_FILE: key })).toBe(`configuration: HARBOR_TOKEN_CERT_FILE holds no PEM certificate: ${key}`);
      const broken = file('broken.pem', `${signingMaterial().certPem}\n-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`);
      expect(problem({ ...base, HARBOR_TOKEN_CERT_FILE: broken })).toBe(`configuration: HARBOR_TOKEN_CERT_FILE holds a certificate that cannot be parsed: ${broken}`);
    });
  });
});

/** What `base` loads to: every default as .env.example documents it. */
const defaults = (): Config => ({
  port: 8080,
  host: '0.0.0.0',
  logLevel: 'info',
  registryHost: '127.0.0.1:8080',
  publicUrl: 'http://127.0.0.1:8080',
  registryInsecure: true,
  harbor: { url: 'http://harbor.local', adminUsername: 'admin', adminPassword: 'Harbor12345', timeoutMs: 10000, retries: 2, robotPrefix: 'robot$', healthPollMs: 15000 },
  oidc: {
    issuer: 'https://kc.example.com/realms/platform',
    jwksUrl: 'https://kc.example.com/realms/platform/protocol/openid-connect/certs',
    audience: 'hubgate',
    algorithms: ['RS256'],
    clockToleranceSeconds: 30,
    jwksCooldownMs: 30000,
    claims: { userId: 'sub', username: 'preferred_username', projects: 'projects', adminRole: 'cloud-admin', adminRoleSource: 'realm' },
  },
  redisUrl: undefined,
  lockQuarantineMs: 15000,
  adoptUnownedAfterSeconds: 600,
  credentials: { secret: 'c'.repeat(32), previous: [], keyGraceSeconds: 90, usernamePrefix: 'hg-' },
  reservedWorkspaces: ['library'],
  catalogTtlSeconds: 300,
  shutdownTimeoutMs: 30000,
  images: { cacheTtlSeconds: 15, harborConcurrency: 32, statsMaxAgeSeconds: 86400, statsFillConcurrency: 4, fullSyncSeconds: 3600, warmOnStart: true },
  uploads: {
    maxBytes: 2147483648,
    maxExpandedBytes: 8589934592,
    tmpDir: tmpdir(),
    compressLayers: true,
    gzipLevel: 6,
    maxConcurrent: 4,
    progressTtlSeconds: 86400,
    chunkBytes: 0,
    maxEntries: 100000,
    maxMetadataBytes: 4194304,
    maxOtherEntryBytes: 67108864,
    maxDiskBytes: 2684354560,
    diskBudgetBytes: 4294967296,
    minFreeBytes: 268435456,
    idleTimeoutMs: 60000,
  },
  audit: { webhook: undefined, attributionDays: 30 },
  gc: { allowMembers: false, windowHours: 2 },
  console: { enabled: true, dir: undefined, oidcIssuer: 'https://kc.example.com/realms/platform', clientId: 'hubgate', scope: 'openid profile' },
  policies: { defaultQuotaBytes: undefined, quotaPollSeconds: 60 },
  registryFront: { allowAnonymousPull: false, loginMaxFailures: 10, loginMaxFailuresPerAddress: 50, loginFailureWindowSeconds: 300, loginBlockSeconds: 300, loginCacheSeconds: 30 },
  network: { trustedProxies: [], upstreamIdleTimeoutMs: 120000, clientIdleTimeoutMs: 120000, headersTimeoutMs: 20000, maxConnectionsPerAddress: 256, proxyEngine: 'node', headPool: true },
});

/** Every optional setting, each away from its default (some padded with blanks, which are trimmed). */
const everySetting = {
  HUBGATE_PORT: ' 9090 ',
  HUBGATE_HOST: ' 127.0.0.1 ',
  LOG_LEVEL: 'debug',
  HUBGATE_PUBLIC_URL: 'https://hub.example.com//',
  HUBGATE_REGISTRY_HOST: 'registry.example.com:5000',
  HUBGATE_REGISTRY_INSECURE: 'YES',
  HUBGATE_CATALOG_TTL_SECONDS: '60',
  HUBGATE_SHUTDOWN_TIMEOUT_MS: '5000',
  HUBGATE_RESERVED_WORKSPACES: ' library , base,,infra ',
  HARBOR_ADMIN_USERNAME: 'hubgate-admin',
  HARBOR_TIMEOUT_MS: '20000',
  HARBOR_RETRIES: '0',
  HARBOR_ROBOT_PREFIX: 'bot+',
  HARBOR_HEALTH_POLL_MS: '5000',
  OIDC_JWKS_URL: 'https://sso.example.com/keys/',
  OIDC_ALGORITHMS: ' ES256 , EdDSA,',
  OIDC_CLOCK_TOLERANCE_SECONDS: '5',
  OIDC_JWKS_COOLDOWN_MS: '1000',
  OIDC_CLAIM_USER_ID: 'uid',
  OIDC_CLAIM_USERNAME: 'user.name',
  OIDC_CLAIM_PROJECTS: 'ctx.projects',
  OIDC_ADMIN_ROLE: 'admins',
  OIDC_ADMIN_ROLE_SOURCE: 'client:hubgate',
  REDIS_URL: 'rediss://cache.example.com:6380/2',
  HUBGATE_LOCK_QUARANTINE_MS: '20000',
  HUBGATE_ADOPT_UNOWNED_AFTER_SECONDS: '60',
  HUBGATE_CREDENTIAL_SECRET_PREVIOUS: 'fedcba9876543210',
  HUBGATE_CREDENTIAL_KEY_GRACE_SECONDS: '120',
  HUBGATE_CREDENTIAL_USERNAME_PREFIX: 'reg.',
  HUBGATE_IMAGES_CACHE_TTL_SECONDS: '0',
  HUBGATE_IMAGES_HARBOR_CONCURRENCY: '8',
  HUBGATE_IMAGES_STATS_MAX_AGE_SECONDS: '3600',
  HUBGATE_IMAGES_STATS_FILL_CONCURRENCY: '2',
  HUBGATE_IMAGES_FULL_SYNC_SECONDS: '0',
  HUBGATE_IMAGES_WARM_ON_START: 'off',
  HUBGATE_GC_ALLOW_MEMBERS: 'on',
  HUBGATE_GC_WINDOW_HOURS: '0',
  HUBGATE_CONSOLE_ENABLED: 'false',
  HUBGATE_CONSOLE_DIR: '/srv/console',
  HUBGATE_CONSOLE_OIDC_ISSUER: 'https://login.example.com/realms/x',
  HUBGATE_CONSOLE_OIDC_CLIENT_ID: 'console',
  HUBGATE_CONSOLE_OIDC_SCOPE: 'openid profile email',
  HUBGATE_DEFAULT_WORKSPACE_QUOTA: '10GiB',
  HUBGATE_QUOTA_POLL_SECONDS: '300',
  HUBGATE_AUDIT_WEBHOOK_URL: 'https://audit.example.com/events/',
  HUBGATE_AUDIT_WEBHOOK_TOKEN: 'audit-token',
  HUBGATE_AUDIT_WEBHOOK_BATCH_SIZE: '10',
  HUBGATE_AUDIT_WEBHOOK_QUEUE_MAX: '100',
  HUBGATE_AUDIT_WEBHOOK_MAX_ATTEMPTS: '3',
  HUBGATE_AUDIT_WEBHOOK_TIMEOUT_MS: '1000',
  HUBGATE_ACTIVITY_ATTRIBUTION_DAYS: '7',
  HUBGATE_UPLOAD_MAX_BYTES: '1048576',
  HUBGATE_UPLOAD_MAX_EXPANDED_BYTES: '4194304',
  HUBGATE_UPLOAD_TMP_DIR: '/var/spool/hubgate',
  HUBGATE_UPLOAD_COMPRESS_LAYERS: 'no',
  HUBGATE_UPLOAD_GZIP_LEVEL: '9',
  HUBGATE_UPLOAD_MAX_CONCURRENT: '2',
  HUBGATE_UPLOAD_PROGRESS_TTL_SECONDS: '600',
  HUBGATE_UPLOAD_CHUNK_BYTES: '5242880',
  HUBGATE_UPLOAD_MAX_ENTRIES: '5000',
  HUBGATE_UPLOAD_MAX_METADATA_BYTES: '65536',
  HUBGATE_UPLOAD_MAX_OTHER_ENTRY_BYTES: '16777216',
  HUBGATE_UPLOAD_MAX_DISK_BYTES: '3145728',
  HUBGATE_UPLOAD_DISK_BUDGET_BYTES: '6291456',
  HUBGATE_UPLOAD_MIN_FREE_BYTES: '0',
  HUBGATE_UPLOAD_IDLE_TIMEOUT_SECONDS: '30',
  HUBGATE_ALLOW_ANONYMOUS_PULL: '1',
  HUBGATE_LOGIN_MAX_FAILURES: '3',
  HUBGATE_LOGIN_MAX_FAILURES_PER_ADDRESS: '20',
  HUBGATE_LOGIN_FAILURE_WINDOW_SECONDS: '60',
  HUBGATE_LOGIN_BLOCK_SECONDS: '600',
  HUBGATE_LOGIN_CACHE_SECONDS: '0',
  HUBGATE_TRUSTED_PROXIES: 'loopback',
  HUBGATE_UPSTREAM_IDLE_TIMEOUT_MS: '30000',
  HUBGATE_CLIENT_IDLE_TIMEOUT_MS: '45000',
  HUBGATE_HEADERS_TIMEOUT_MS: '10000',
  HUBGATE_MAX_CONNECTIONS_PER_ADDRESS: '0',
  HUBGATE_REGISTRY_PROXY_ENGINE: 'http-proxy-middleware',
  HUBGATE_REGISTRY_HEAD_POOL: '0',
};

const WEBHOOK = { HUBGATE_AUDIT_WEBHOOK_URL: 'https://audit.example.com/events' };

describe('configuration: every setting', () => {
  it('without optional settings, every default is the documented one', () => {
    expect(loadConfig(base)).toStrictEqual(defaults());
  });

  it('a blank value (spaces, tabs) counts as not set', () => {
    const blank = Object.fromEntries([...Object.keys(everySetting), 'HARBOR_TOKEN_CERT_FILE'].map((k) => [k, ' \t ']));
    expect(loadConfig({ ...base, ...blank })).toStrictEqual(defaults());
  });

  it('every setting is read from its own variable, trimmed; URLs lose trailing slashes; secrets are taken as they are', () => {
    const env = {
      ...everySetting,
      HARBOR_URL: 'https://harbor.example.com/',
      HARBOR_ADMIN_PASSWORD: ' pass word ',
      OIDC_ISSUER: 'https://sso.example.com/realms/x/',
      OIDC_AUDIENCE: ' gateway ',
      HUBGATE_CREDENTIAL_SECRET: 's'.repeat(40),
    };
    expect(loadConfig(env)).toStrictEqual({
      port: 9090,
      host: '127.0.0.1',
      logLevel: 'debug',
      registryHost: 'registry.example.com:5000',
      publicUrl: 'https://hub.example.com',
      registryInsecure: true,
      harbor: { url: 'https://harbor.example.com', adminUsername: 'hubgate-admin', adminPassword: ' pass word ', timeoutMs: 20000, retries: 0, robotPrefix: 'bot+', healthPollMs: 5000 },
      oidc: {
        issuer: 'https://sso.example.com/realms/x',
        jwksUrl: 'https://sso.example.com/keys',
        audience: 'gateway',
        algorithms: ['ES256', 'EdDSA'],
        clockToleranceSeconds: 5,
        jwksCooldownMs: 1000,
        claims: { userId: 'uid', username: 'user.name', projects: 'ctx.projects', adminRole: 'admins', adminRoleSource: 'client:hubgate' },
      },
      redisUrl: 'rediss://cache.example.com:6380/2',
      lockQuarantineMs: 20000,
      adoptUnownedAfterSeconds: 60,
      credentials: { secret: 's'.repeat(40), previous: ['fedcba9876543210'], keyGraceSeconds: 120, usernamePrefix: 'reg.' },
      reservedWorkspaces: ['library', 'base', 'infra'],
      catalogTtlSeconds: 60,
      shutdownTimeoutMs: 5000,
      images: { cacheTtlSeconds: 0, harborConcurrency: 8, statsMaxAgeSeconds: 3600, statsFillConcurrency: 2, fullSyncSeconds: 0, warmOnStart: false },
      uploads: {
        maxBytes: 1048576,
        maxExpandedBytes: 4194304,
        tmpDir: '/var/spool/hubgate',
        compressLayers: false,
        gzipLevel: 9,
        maxConcurrent: 2,
        progressTtlSeconds: 600,
        chunkBytes: 5242880,
        maxEntries: 5000,
        maxMetadataBytes: 65536,
        maxOtherEntryBytes: 16777216,
        maxDiskBytes: 3145728,
        diskBudgetBytes: 6291456,
        minFreeBytes: 0,
        idleTimeoutMs: 30000,
      },
      audit: {
        webhook: { url: 'https://audit.example.com/events', token: 'audit-token', batchSize: 10, queueMax: 100, maxAttempts: 3, timeoutMs: 1000 },
        attributionDays: 7,
      },
      gc: { allowMembers: true, windowHours: 0 },
      console: { enabled: false, dir: '/srv/console', oidcIssuer: 'https://login.example.com/realms/x', clientId: 'console', scope: 'openid profile email' },
      policies: { defaultQuotaBytes: 10737418240, quotaPollSeconds: 300 },
      registryFront: { allowAnonymousPull: true, loginMaxFailures: 3, loginMaxFailuresPerAddress: 20, loginFailureWindowSeconds: 60, loginBlockSeconds: 600, loginCacheSeconds: 0 },
      network: {
        trustedProxies: ['loopback'],
        upstreamIdleTimeoutMs: 30000,
        clientIdleTimeoutMs: 45000,
        headersTimeoutMs: 10000,
        maxConnectionsPerAddress: 0,
        proxyEngine: 'http-proxy-middleware',
        headPool: false,
      },
    });
  });

  it.each<[string, number, number, (c: Config) => number, Record<string, string>?]>([
    ['HUBGATE_PORT', 0, 65535, (c) => c.port],
    ['HUBGATE_CATALOG_TTL_SECONDS', 0, 3600, (c) => c.catalogTtlSeconds],
    ['HUBGATE_SHUTDOWN_TIMEOUT_MS', 0, 3_600_000, (c) => c.shutdownTimeoutMs],
    ['HARBOR_TIMEOUT_MS', 100, 600_000, (c) => c.harbor.timeoutMs],
    ['HARBOR_RETRIES', 0, 10, (c) => c.harbor.retries],
    ['HARBOR_HEALTH_POLL_MS', 1000, 3_600_000, (c) => c.harbor.healthPollMs],
    ['OIDC_CLOCK_TOLERANCE_SECONDS', 0, 600, (c) => c.oidc.clockToleranceSeconds],
    ['OIDC_JWKS_COOLDOWN_MS', 0, 3_600_000, (c) => c.oidc.jwksCooldownMs],
    ['HUBGATE_LOCK_QUARANTINE_MS', 0, 600_000, (c) => c.lockQuarantineMs],
    ['HUBGATE_ADOPT_UNOWNED_AFTER_SECONDS', 0, 2_678_400, (c) => c.adoptUnownedAfterSeconds],
    ['HUBGATE_CREDENTIAL_KEY_GRACE_SECONDS', 3, 86400, (c) => c.credentials.keyGraceSeconds],
    ['HUBGATE_IMAGES_CACHE_TTL_SECONDS', 0, 3600, (c) => c.images.cacheTtlSeconds],
    ['HUBGATE_IMAGES_HARBOR_CONCURRENCY', 1, 64, (c) => c.images.harborConcurrency],
    ['HUBGATE_IMAGES_STATS_MAX_AGE_SECONDS', 0, 2_592_000, (c) => c.images.statsMaxAgeSeconds],
    ['HUBGATE_IMAGES_STATS_FILL_CONCURRENCY', 1, 64, (c) => c.images.statsFillConcurrency],
    ['HUBGATE_IMAGES_FULL_SYNC_SECONDS', 0, 604_800, (c) => c.images.fullSyncSeconds],
    ['HUBGATE_GC_WINDOW_HOURS', 0, 8760, (c) => c.gc.windowHours],
    ['HUBGATE_QUOTA_POLL_SECONDS', 5, 86400, (c) => c.policies.quotaPollSeconds],
    ['HUBGATE_AUDIT_WEBHOOK_BATCH_SIZE', 1, 1000, (c) => c.audit.webhook?.batchSize ?? NaN, WEBHOOK],
    ['HUBGATE_AUDIT_WEBHOOK_QUEUE_MAX', 1, 1_000_000, (c) => c.audit.webhook?.queueMax ?? NaN, WEBHOOK],
    ['HUBGATE_AUDIT_WEBHOOK_MAX_ATTEMPTS', 1, 100, (c) => c.audit.webhook?.maxAttempts ?? NaN, WEBHOOK],
    ['HUBGATE_AUDIT_WEBHOOK_TIMEOUT_MS', 100, 120_000, (c) => c.audit.webhook?.timeoutMs ?? NaN, WEBHOOK],
    ['HUBGATE_ACTIVITY_ATTRIBUTION_DAYS', 1, 3650, (c) => c.audit.attributionDays],
    ['HUBGATE_UPLOAD_MAX_BYTES', 1024, 2 ** 50, (c) => c.uploads.maxBytes],
    ['HUBGATE_UPLOAD_MAX_EXPANDED_BYTES', 1024, 2 ** 50, (c) => c.uploads.maxExpandedBytes],
    ['HUBGATE_UPLOAD_GZIP_LEVEL', 1, 9, (c) => c.uploads.gzipLevel],
    ['HUBGATE_UPLOAD_MAX_CONCURRENT', 1, 1000, (c) => c.uploads.maxConcurrent],
    ['HUBGATE_UPLOAD_PROGRESS_TTL_SECONDS', 60, 2_592_000, (c) => c.uploads.progressTtlSeconds],
    ['HUBGATE_UPLOAD_CHUNK_BYTES', 0, 2 ** 31, (c) => c.uploads.chunkBytes],
    ['HUBGATE_UPLOAD_MAX_ENTRIES', 10, 10_000_000, (c) => c.uploads.maxEntries],
    ['HUBGATE_UPLOAD_MAX_METADATA_BYTES', 1024, 2 ** 31, (c) => c.uploads.maxMetadataBytes],
    ['HUBGATE_UPLOAD_MAX_OTHER_ENTRY_BYTES', 8_388_608, 2 ** 50, (c) => c.uploads.maxOtherEntryBytes],
    ['HUBGATE_UPLOAD_MAX_DISK_BYTES', 1_048_576, 2 ** 50, (c) => c.uploads.maxDiskBytes],
    ['HUBGATE_UPLOAD_DISK_BUDGET_BYTES', 1_048_576, 2 ** 50, (c) => c.uploads.diskBudgetBytes],
    ['HUBGATE_UPLOAD_MIN_FREE_BYTES', 0, 2 ** 50, (c) => c.uploads.minFreeBytes],
    ['HUBGATE_UPLOAD_IDLE_TIMEOUT_SECONDS', 5, 3600, (c) => c.uploads.idleTimeoutMs / 1000],
    ['HUBGATE_LOGIN_MAX_FAILURES', 1, 1_000_000, (c) => c.registryFront.loginMaxFailures],
    ['HUBGATE_LOGIN_MAX_FAILURES_PER_ADDRESS', 1, 1_000_000, (c) => c.registryFront.loginMaxFailuresPerAddress],
    ['HUBGATE_LOGIN_FAILURE_WINDOW_SECONDS', 1, 86400, (c) => c.registryFront.loginFailureWindowSeconds],
    ['HUBGATE_LOGIN_BLOCK_SECONDS', 1, 86400, (c) => c.registryFront.loginBlockSeconds],
    ['HUBGATE_LOGIN_CACHE_SECONDS', 0, 300, (c) => c.registryFront.loginCacheSeconds],
    ['HUBGATE_UPSTREAM_IDLE_TIMEOUT_MS', 1000, 3_600_000, (c) => c.network.upstreamIdleTimeoutMs],
    ['HUBGATE_CLIENT_IDLE_TIMEOUT_MS', 1000, 3_600_000, (c) => c.network.clientIdleTimeoutMs],
    ['HUBGATE_HEADERS_TIMEOUT_MS', 1000, 300_000, (c) => c.network.headersTimeoutMs],
    ['HUBGATE_MAX_CONNECTIONS_PER_ADDRESS', 0, 1_000_000, (c) => c.network.maxConnectionsPerAddress],
  ])('%s: an integer from %d to %d, both ends included', (name, min, max, read, extra = {}) => {
    const env = { ...base, ...extra };
    expect(read(loadConfig({ ...env, [name]: String(min) }))).toBe(min);
    expect(read(loadConfig({ ...env, [name]: String(max) }))).toBe(max);
    expect(problem({ ...env, [name]: String(min - 1) })).toBe(`configuration: ${name} must be between ${min} and ${max}, got ${min - 1}`);
    expect(problem({ ...env, [name]: String(max + 1) })).toBe(`configuration: ${name} must be between ${min} and ${max}, got ${max + 1}`);
  });

  it('HUBGATE_UPLOAD_TMP_DIR: the OS temp dir by default', () => {
    const temp = jest.spyOn(os, 'tmpdir').mockReturnValue('/var/tmp/hubgate-spool');
    try {
      expect(loadConfig(base).uploads.tmpDir).toBe('/var/tmp/hubgate-spool');
    } finally {
      temp.mockRestore();
    }
  });

  it('HUBGATE_UPLOAD_IDLE_TIMEOUT_SECONDS is given in seconds and kept in milliseconds', () => {
    expect(loadConfig({ ...base, HUBGATE_UPLOAD_IDLE_TIMEOUT_SECONDS: '7' }).uploads.idleTimeoutMs).toBe(7000);
  });

  it('an integer is digits with an optional minus sign, nothing before or after', () => {
    expect(loadConfig({ ...base, HARBOR_RETRIES: '\t007 ' }).harbor.retries).toBe(7);
    for (const bad of ['x1', '1x', '1.5', '1e3', '+1', '0x10', '1 000', '--1']) {
      expect(problem({ ...base, HARBOR_RETRIES: bad })).toBe(`configuration: HARBOR_RETRIES must be an integer, got "${bad}"`);
    }
  });

  it.each(['HUBGATE_REGISTRY_INSECURE', 'HUBGATE_IMAGES_WARM_ON_START', 'HUBGATE_UPLOAD_COMPRESS_LAYERS', 'HUBGATE_GC_ALLOW_MEMBERS', 'HUBGATE_CONSOLE_ENABLED', 'HUBGATE_ALLOW_ANONYMOUS_PULL', 'HUBGATE_REGISTRY_HEAD_POOL'])(
    '%s: 1/true/yes/on or 0/false/no/off in any case, nothing else',
    (name) => {
      const value = (v: string): unknown => {
        const c = loadConfig({ ...base, [name]: v });
        return {
          HUBGATE_REGISTRY_INSECURE: c.registryInsecure,
          HUBGATE_IMAGES_WARM_ON_START: c.images.warmOnStart,
          HUBGATE_UPLOAD_COMPRESS_LAYERS: c.uploads.compressLayers,
          HUBGATE_GC_ALLOW_MEMBERS: c.gc.allowMembers,
          HUBGATE_CONSOLE_ENABLED: c.console.enabled,
          HUBGATE_ALLOW_ANONYMOUS_PULL: c.registryFront.allowAnonymousPull,
          HUBGATE_REGISTRY_HEAD_POOL: c.network.headPool,
        }[name];
      };
      for (const yes of ['1', 'true', 'TRUE', 'Yes', ' on ']) expect(value(yes)).toBe(true);
      for (const no of ['0', 'false', 'False', 'NO', ' off ']) expect(value(no)).toBe(false);
      for (const bad of ['xtrue', 'truex', '10', 'nofalse', 'falsey', '00', 'y', 'enabled']) {
        expect(problem({ ...base, [name]: bad })).toBe(`configuration: ${name} must be true or false, got "${bad}"`);
      }
    },
  );

  it('HUBGATE_PUBLIC_URL: http://127.0.0.1:<port> by default; sets the registry host and whether it is insecure', () => {
    expect(loadConfig({ ...base, HUBGATE_PORT: '9000' })).toMatchObject({ publicUrl: 'http://127.0.0.1:9000', registryHost: '127.0.0.1:9000', registryInsecure: true });
    expect(loadConfig({ ...base, HUBGATE_PUBLIC_URL: 'https://hub.example.com:8443///' })).toMatchObject({
      publicUrl: 'https://hub.example.com:8443',
      registryHost: 'hub.example.com:8443',
      registryInsecure: false,
    });
    expect(loadConfig({ ...base, HUBGATE_PUBLIC_URL: 'http://hub.example.com' })).toMatchObject({ registryHost: 'hub.example.com', registryInsecure: true });
    expect(loadConfig({ ...base, HUBGATE_PUBLIC_URL: 'https://hub.example.com', HUBGATE_REGISTRY_INSECURE: 'true' }).registryInsecure).toBe(true);
    expect(problem({ ...base, HUBGATE_PUBLIC_URL: 'hub.example.com' })).toBe('configuration: HUBGATE_PUBLIC_URL must be an http(s) URL, got "hub.example.com"');
  });

  it('the console issuer and client id follow OIDC_ISSUER and OIDC_AUDIENCE unless set; a bad console issuer is named', () => {
    expect(loadConfig({ ...base, OIDC_ISSUER: 'https://sso.example.com/realms/y/', OIDC_AUDIENCE: 'api' }).console).toMatchObject({
      oidcIssuer: 'https://sso.example.com/realms/y',
      clientId: 'api',
    });
    expect(problem({ ...base, HUBGATE_CONSOLE_OIDC_ISSUER: 'sso.example.com' })).toBe('configuration: HUBGATE_CONSOLE_OIDC_ISSUER must be an http(s) URL, got "sso.example.com"');
    expect(problem({ ...base, OIDC_JWKS_URL: 'file:///keys.json' })).toBe('configuration: OIDC_JWKS_URL must be an http(s) URL, got "file:///keys.json"');
  });

  it('required settings without a value are named', () => {
    const { OIDC_AUDIENCE: _audience, ...noAudience } = base;
    expect(problem(noAudience)).toBe('configuration: OIDC_AUDIENCE is required but not set');
    const { OIDC_ISSUER: _issuer, ...noIssuer } = base;
    expect(problem(noIssuer)).toBe('configuration: OIDC_ISSUER is required but not set');
  });

  it('secrets: required even when the variable is absent, length checked, never echoed', () => {
    const { HARBOR_ADMIN_PASSWORD: _password, ...noPassword } = base;
    expect(problem(noPassword)).toBe('configuration: HARBOR_ADMIN_PASSWORD is required but not set (secrets have no default)');
    const { HUBGATE_CREDENTIAL_SECRET: _secret, ...noSecret } = base;
    expect(problem(noSecret)).toBe('configuration: HUBGATE_CREDENTIAL_SECRET is required but not set (secrets have no default)');
    expect(problem({ ...base, HUBGATE_CREDENTIAL_SECRET: 'k'.repeat(31) })).toBe('configuration: HUBGATE_CREDENTIAL_SECRET must be at least 32 characters long');
    expect(loadConfig({ ...base, HUBGATE_CREDENTIAL_SECRET: 'k'.repeat(32) }).credentials.secret).toBe('k'.repeat(32));
  });

  it('OIDC_ALGORITHMS: any of the asymmetric algorithms, comma-separated; the refusal lists them', () => {
    const all = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
    expect(loadConfig({ ...base, OIDC_ALGORITHMS: all.join(',') }).oidc.algorithms).toEqual(all);
    expect(problem({ ...base, OIDC_ALGORITHMS: 'RS256,HS256' })).toBe(
      'configuration: OIDC_ALGORITHMS has unsupported algorithm "HS256" (allowed: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)',
    );
  });

  it('OIDC_ADMIN_ROLE_SOURCE: exactly realm or client:<clientId>', () => {
    for (const ok of ['realm', 'client:x', 'client:hubgate-console']) {
      expect(loadConfig({ ...base, OIDC_ADMIN_ROLE_SOURCE: ok }).oidc.claims.adminRoleSource).toBe(ok);
    }
    for (const bad of ['group', 'Realm', 'xrealm', 'realmx', 'client:', 'client', 'myclient:x']) {
      expect(problem({ ...base, OIDC_ADMIN_ROLE_SOURCE: bad })).toBe(`configuration: OIDC_ADMIN_ROLE_SOURCE must be "realm" or "client:<clientId>", got "${bad}"`);
    }
  });

  it('REDIS_URL: redis:// or rediss://; a refusal does not echo the URL (it may carry a password)', () => {
    expect(loadConfig({ ...base, REDIS_URL: ' redis://cache:6379 ' }).redisUrl).toBe('redis://cache:6379');
    expect(loadConfig({ ...base, REDIS_URL: 'rediss://cache:6380' }).redisUrl).toBe('rediss://cache:6380');
    for (const bad of ['http://:hunter2@redis://cache', 'cache:6379', 'redis:/cache', 'REDIS://:hunter2@cache']) {
      expect(problem({ ...base, REDIS_URL: bad })).toBe('configuration: REDIS_URL must start with redis:// or rediss://');
    }
  });

  it('HUBGATE_CREDENTIAL_USERNAME_PREFIX: hg- by default; the separator is optional', () => {
    expect(loadConfig({ ...base, HUBGATE_CREDENTIAL_USERNAME_PREFIX: 'hg' }).credentials.usernamePrefix).toBe('hg');
    expect(loadConfig({ ...base, HUBGATE_CREDENTIAL_USERNAME_PREFIX: 'team7-' }).credentials.usernamePrefix).toBe('team7-');
  });

  it('HUBGATE_CREDENTIAL_SECRET_PREVIOUS: a fingerprint is exactly 16 lower-case hex digits; entries are never echoed', () => {
    for (const bad of ['x0123456789abcdef', '0123456789abcdefx', '0123456789ABCDEF', '0123456789abcde']) {
      const msg = problem({ ...base, HUBGATE_CREDENTIAL_SECRET_PREVIOUS: `0123456789abcdef,${bad}` });
      expect(msg).toBe('configuration: HUBGATE_CREDENTIAL_SECRET_PREVIOUS entry 2 is neither a secret of at least 32 characters nor a 16-hex-digit key fingerprint');
    }
  });

  it('HUBGATE_DEFAULT_WORKSPACE_QUOTA: bytes or a size with a unit; a bad one is named', () => {
    expect(loadConfig({ ...base, HUBGATE_DEFAULT_WORKSPACE_QUOTA: '10GB' }).policies.defaultQuotaBytes).toBe(10_000_000_000);
    expect(loadConfig({ ...base, HUBGATE_DEFAULT_WORKSPACE_QUOTA: ' 512 ' }).policies.defaultQuotaBytes).toBe(512);
    expect(problem({ ...base, HUBGATE_DEFAULT_WORKSPACE_QUOTA: 'lots' })).toBe(
      'configuration: HUBGATE_DEFAULT_WORKSPACE_QUOTA value "lots" is not a size: use bytes or a number with KiB, MiB, GiB, TiB (1024) or KB, MB, GB, TB (1000)',
    );
  });

  it('LOG_LEVEL: debug, info, warn or error', () => {
    for (const level of ['debug', 'info', 'warn', 'error']) expect(loadConfig({ ...base, LOG_LEVEL: level }).logLevel).toBe(level);
    expect(problem({ ...base, LOG_LEVEL: 'loud' })).toBe('configuration: LOG_LEVEL must be one of debug, info, warn, error, got "loud"');
  });

  it('HUBGATE_AUDIT_WEBHOOK_URL: the webhook with its defaults; no credentials in the URL, and they are not echoed', () => {
    expect(loadConfig({ ...base, ...WEBHOOK }).audit.webhook).toStrictEqual({
      url: 'https://audit.example.com/events',
      token: undefined,
      batchSize: 50,
      queueMax: 10000,
      maxAttempts: 5,
      timeoutMs: 5000,
    });
    for (const bad of ['https://hook@audit.example.com/events', 'https://:hunter2@audit.example.com/events', 'https://hook:hunter2@audit.example.com/events']) {
      expect(problem({ ...base, HUBGATE_AUDIT_WEBHOOK_URL: bad })).toBe(
        'configuration: HUBGATE_AUDIT_WEBHOOK_URL must not contain credentials: put a bearer token in HUBGATE_AUDIT_WEBHOOK_TOKEN',
      );
    }
  });

  it('HARBOR_TOKEN_CERT_FILE: a read failure without an error code still names the file', () => {
    const read = jest.spyOn(fs, 'readFileSync').mockImplementationOnce(() => {
      throw new Error('unreadable');
    });
    try {
      expect(problem({ ...base, HARBOR_TOKEN_CERT_FILE: '/etc/harbor/token.crt' })).toBe('configuration: HARBOR_TOKEN_CERT_FILE cannot be read (error): /etc/harbor/token.crt');
    } finally {
      read.mockRestore();
    }
  });
});
