import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
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
