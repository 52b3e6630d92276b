/**
 * The only reader of process.env. Validated at start: a bad or missing value stops the process with a
 * message naming the variable. Secrets have no defaults. Every setting is documented in .env.example.
 */
import { parseSize } from './domain/storage-units';
import { tmpdir } from 'node:os';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
export interface Config {
  port: number;
  host: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Registry host users push to and pull from (hubgate itself), e.g. `hub.ecns.io` or `127.0.0.1:8080`. */
  registryHost: string;
  /** External base URL of hubgate (scheme + host), used for the token realm and Location rewrites. */
  publicUrl: string;
  /** True when registryHost is served without TLS or with a self-signed certificate (adds `-k`, insecure hints). */
  registryInsecure: boolean;
  harbor: {
    url: string;
    adminUsername: string;
    adminPassword: string;
    timeoutMs: number;
    retries: number;
    robotPrefix: string;
    /** How often Harbor's health, identity and storage are polled for /readyz and the gauges. */
    healthPollMs: number;
  };
  oidc: {
    issuer: string;
    jwksUrl: string;
    audience: string;
    algorithms: string[];
    clockToleranceSeconds: number;
    jwksCooldownMs: number;
    claims: {
      userId: string;
      username: string;
      projects: string;
      adminRole: string;
      /** `realm` or `client:<clientId>`. */
      adminRoleSource: string;
    };
  };
  redisUrl?: string;
  /**
   * Ownership changes need the Redis lock (503 while Redis is unreachable). A Redis that restarted less than this
   * ago may still have lock holders from before its restart writing: required locks wait this out (HUBGATE_LOCK_QUARANTINE_MS).
   */
  lockQuarantineMs: number;
  /**
   * An existing Harbor project no platform project owns is adopted by a creation of that name only when it is
   * empty and older than this (a younger one may be another creation in flight or a failed one's leftover).
   */
  adoptUnownedAfterSeconds: number;
  credentials: {
    /** HMAC key from which per-project registry passwords are derived. */
    secret: string;
    /**
     * Retired credential secrets (or their 16-hex-digit key fingerprints): a robot whose password one of them set
     * gets its password re-set from `secret` when hubgate reads it. Only their fingerprints are used.
     */
    previous: string[];
    /**
     * With Redis: a credential key no replica has announced for this long (Redis answering) counts as retired.
     * Replicas announce every min(20 s, a third of it), kept three announcement periods.
     */
    keyGraceSeconds: number;
    usernamePrefix: string;
  };
  /** Harbor project names a workspace may never take over (pre-existing, not created by hubgate). */
  reservedWorkspaces: string[];
  /** Longest time a cached workspace catalogue is served (bounds staleness of changes made outside hubgate). */
  catalogTtlSeconds: number;
  /** On SIGTERM: how long in-flight requests (uploads, pulls) may take to finish before the process exits. */
  shutdownTimeoutMs: number;
  /** Image lists: how long the image catalogue may be served (bounds staleness of changes made outside hubgate). */
  images: { cacheTtlSeconds: number; harborConcurrency: number; statsMaxAgeSeconds: number; statsFillConcurrency: number; fullSyncSeconds: number; warmOnStart: boolean };
  /** Garbage collection: members may start it too; Harbor's GC window (hours) shown when a run does not report it. */
  gc: { allowMembers: boolean; windowHours: number };
  /** Workspace policies: storage quota of new workspaces (bytes; undefined = unlimited); quota gauges' poll interval. */
  policies: { defaultQuotaBytes?: number; quotaPollSeconds: number };
  /**
   * Audit events (one JSON line on stdout per state-changing API call) and their optional webhook: batched,
   * retried with backoff, bounded queue (see src/observability/audit.ts).
   */
  audit: {
    webhook?: { url: string; token?: string; batchSize: number; queueMax: number; maxAttempts: number; timeoutMs: number };
    /** How long console actions are remembered to attribute Harbor's "admin" rows in the activity view. */
    attributionDays: number;
  };
  /** Console uploads of image archives (see README "Console uploads"). */
  uploads: {
    maxBytes: number;
    maxExpandedBytes: number;
    tmpDir: string;
    compressLayers: boolean;
    gzipLevel: number;
    maxConcurrent: number;
    progressTtlSeconds: number;
    chunkBytes: number;
    /** Tar headers per archive (PAX and GNU long-name headers count). */
    maxEntries: number;
    /** PAX and GNU long-name metadata per archive, bytes. */
    maxMetadataBytes: number;
    /** Largest entry that is neither a layer nor gzip data (stored as it is). */
    maxOtherEntryBytes: number;
    /** Spool bytes one upload may write. */
    maxDiskBytes: number;
    /** Spool bytes all uploads of a replica may hold together (the Helm chart sizes /tmp from it). */
    diskBudgetBytes: number;
    /** Free space kept on the spool's file system. */
    minFreeBytes: number;
    /** An upload body silent this long is stopped (408). */
    idleTimeoutMs: number;
  };
  /** The web console at /console (README "Console"): on/off, where its built files are, how it signs in. */
  console: {
    enabled: boolean;
    /** Folder of the built console (index.html + hashed assets); undefined: the build next to the code. */
    dir?: string;
    /** Issuer URL the browser signs in at (default OIDC_ISSUER) and the public client id (default OIDC_AUDIENCE). */
    oidcIssuer: string;
    clientId: string;
    scope: string;
  };
  /** Registry front (`/v2`, `/service/token`): anonymous access and failed-login throttling. */
  registryFront: {
    /** Anonymous pulls of public workspaces (default false: every registry request needs project credentials). */
    allowAnonymousPull: boolean;
    /** Failed logins per username within the window before the username is blocked. */
    loginMaxFailures: number;
    /** Failed logins per client address within the window before the address is blocked. */
    loginMaxFailuresPerAddress: number;
    loginFailureWindowSeconds: number;
    loginBlockSeconds: number;
    /** How long a verified registry login is trusted before Harbor-held state is read again (0 = every time). */
    loginCacheSeconds: number;
    /** PEM of Harbor's token service certificate(s) (`HARBOR_TOKEN_CERT_FILE`): bearer tokens are checked by signature. */
    tokenCertificatePem?: string;
    /** Where the certificate came from (for the startup log), when set. */
    tokenCertificateFile?: string;
  };
  /** Connections: which proxies to trust for the client address, timeouts, per-address socket cap. */
  network: {
    /** proxy-addr trust list (CIDRs, addresses, or loopback/linklocal/uniquelocal); empty = the socket's peer. */
    trustedProxies: string[];
    /** An upstream (Harbor) exchange with no bytes either way for this long is cut (504 before a response). */
    upstreamIdleTimeoutMs: number;
    /** A client connection with no bytes either way for this long is closed. */
    clientIdleTimeoutMs: number;
    /** Time a client has to send a request's headers. */
    headersTimeoutMs: number;
    /** Open connections one peer address may hold (trusted proxies exempt; 0 = no cap). */
    maxConnectionsPerAddress: number;
    /** What streams registry exchanges: `node` (default, measured leaner) or `http-proxy-middleware` (fallback). */
    proxyEngine: 'node' | 'http-proxy-middleware';
    /** Bodiless HEADs on hubgate's own kept-alive socket pool (node engine, http Harbor URL); docs/registry.md. */
    headPool: boolean;
  };
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function reader(env: Env) {
  const raw = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const str = (name: string, def?: string): string => {
    const v = raw(name) ?? def;
    if (v === undefined) throw new ConfigError(name, 'is required but not set');
    return v;
  };
  const secret = (name: string, minLength = 1): string => {
    const v = env[name];
    // blank is unset, as for every setting; a secret that is set is kept byte for byte (spaces included)
    if (v === undefined || v.trim() === '') throw new ConfigError(name, 'is required but not set (secrets have no default)');
    if (v.length < minLength) throw new ConfigError(name, `must be at least ${minLength} characters long`);
    return v;
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const v = raw(name);
    if (v === undefined) return def;
    if (!/^-?\d+$/.test(v)) throw new ConfigError(name, `must be an integer, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
    return n;
  };
  const bool = (name: string, def: boolean): boolean => {
    const v = raw(name);
    if (v === undefined) return def;
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    throw new ConfigError(name, `must be true or false, got "${v}"`);
  };
  const url = (name: string, def?: string): string => {
    const v = str(name, def);
    // A URL may carry a password (`https://user:secret@host`, or `user:secret@host` without a scheme): the refusal
    // shows everything but the user info.
    const notUrl = () => new ConfigError(name, `must be an http(s) URL, got "${v.replace(/^([^/?#@]*?\/\/)?[^/?#@]*@/, '$1***@')}"`);
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      throw notUrl();
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw notUrl();
    return v.replace(/\/+$/, '');
  };
  const oneOf = <T extends string>(name: string, def: T, allowed: readonly T[]): T => {
    const v = raw(name) ?? def;
    if (!allowed.includes(v as T)) throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${v}"`);
    return v as T;
  };
  return { raw, str, secret, int, bool, url, oneOf };
}

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const r = reader(env);
  const port = r.int('HUBGATE_PORT', 8080, 0, 65535);
  const harborUrl = r.url('HARBOR_URL');
  const publicUrl = r.url('HUBGATE_PUBLIC_URL', `http://127.0.0.1:${port}`);
  const registryHost = r.str('HUBGATE_REGISTRY_HOST', new URL(publicUrl).host);
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(registryHost)) {
    throw new ConfigError('HUBGATE_REGISTRY_HOST', `must be a host or host:port, got "${registryHost}"`);
  }
  const issuer = r.url('OIDC_ISSUER');
  const algorithms = r
    .str('OIDC_ALGORITHMS', 'RS256')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  const allowedAlgs = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
  for (const a of algorithms) {
    if (!allowedAlgs.includes(a)) throw new ConfigError('OIDC_ALGORITHMS', `has unsupported algorithm "${a}" (allowed: ${allowedAlgs.join(', ')})`);
  }
  const adminRoleSource = r.str('OIDC_ADMIN_ROLE_SOURCE', 'realm');
  if (!/^(realm|client:.+)$/.test(adminRoleSource)) {
    throw new ConfigError('OIDC_ADMIN_ROLE_SOURCE', `must be "realm" or "client:<clientId>", got "${adminRoleSource}"`);
  }
  const redisUrl = r.raw('REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError('REDIS_URL', 'must start with redis:// or rediss://');
  }
  const robotPrefix = r.str('HARBOR_ROBOT_PREFIX', 'robot$');
  const usernamePrefix = r.str('HUBGATE_CREDENTIAL_USERNAME_PREFIX', 'hg-');
  if (!/^[a-z0-9]+[-.]?$/.test(usernamePrefix)) {
    throw new ConfigError('HUBGATE_CREDENTIAL_USERNAME_PREFIX', 'must be lower-case letters and digits, optionally ending in "-" or "."');
  }

  const credentialSecret = r.secret('HUBGATE_CREDENTIAL_SECRET', 32);

  const config: Config = {
    port,
    host: r.str('HUBGATE_HOST', '0.0.0.0'),
    logLevel: r.oneOf('LOG_LEVEL', 'info', ['debug', 'info', 'warn', 'error'] as const),
    registryHost,
    publicUrl,
    registryInsecure: r.bool('HUBGATE_REGISTRY_INSECURE', publicUrl.startsWith('http:')),
    harbor: {
      url: harborUrl,
      adminUsername: r.str('HARBOR_ADMIN_USERNAME', 'admin'),
      adminPassword: r.secret('HARBOR_ADMIN_PASSWORD'),
      timeoutMs: r.int('HARBOR_TIMEOUT_MS', 10000, 100, 600000),
      retries: r.int('HARBOR_RETRIES', 2, 0, 10),
      robotPrefix,
      healthPollMs: r.int('HARBOR_HEALTH_POLL_MS', 15000, 1000, 3600000),
    },
    oidc: {
      issuer,
      jwksUrl: r.url('OIDC_JWKS_URL', `${issuer}/protocol/openid-connect/certs`),
      audience: r.str('OIDC_AUDIENCE'),
      algorithms,
      clockToleranceSeconds: r.int('OIDC_CLOCK_TOLERANCE_SECONDS', 30, 0, 600),
      jwksCooldownMs: r.int('OIDC_JWKS_COOLDOWN_MS', 30000, 0, 3600000),
      claims: {
        userId: r.str('OIDC_CLAIM_USER_ID', 'sub'),
        username: r.str('OIDC_CLAIM_USERNAME', 'preferred_username'),
        projects: r.str('OIDC_CLAIM_PROJECTS', 'projects'),
        adminRole: r.str('OIDC_ADMIN_ROLE', 'cloud-admin'),
        adminRoleSource,
      },
    },
    redisUrl,
    lockQuarantineMs: r.int('HUBGATE_LOCK_QUARANTINE_MS', 15000, 0, 600000),
    adoptUnownedAfterSeconds: r.int('HUBGATE_ADOPT_UNOWNED_AFTER_SECONDS', 600, 0, 31 * 86400),
    credentials: {
      secret: credentialSecret,
      previous: previousCredentialSecrets(r.raw('HUBGATE_CREDENTIAL_SECRET_PREVIOUS'), credentialSecret),
      keyGraceSeconds: r.int('HUBGATE_CREDENTIAL_KEY_GRACE_SECONDS', 90, 3, 86400),
      usernamePrefix,
    },
    reservedWorkspaces: r
      .str('HUBGATE_RESERVED_WORKSPACES', 'library')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    catalogTtlSeconds: r.int('HUBGATE_CATALOG_TTL_SECONDS', 300, 0, 3600),
    shutdownTimeoutMs: r.int('HUBGATE_SHUTDOWN_TIMEOUT_MS', 30000, 0, 3600000),
    images: {
      cacheTtlSeconds: r.int('HUBGATE_IMAGES_CACHE_TTL_SECONDS', 15, 0, 3600),
      harborConcurrency: r.int('HUBGATE_IMAGES_HARBOR_CONCURRENCY', 32, 1, 64),
      statsMaxAgeSeconds: r.int('HUBGATE_IMAGES_STATS_MAX_AGE_SECONDS', 86400, 0, 30 * 86400),
      statsFillConcurrency: r.int('HUBGATE_IMAGES_STATS_FILL_CONCURRENCY', 4, 1, 64),
      fullSyncSeconds: r.int('HUBGATE_IMAGES_FULL_SYNC_SECONDS', 3600, 0, 7 * 86400),
      warmOnStart: r.bool('HUBGATE_IMAGES_WARM_ON_START', true),
    },
    uploads: {
      maxBytes: r.int('HUBGATE_UPLOAD_MAX_BYTES', 2 * 1024 ** 3, 1024, 2 ** 50),
      maxExpandedBytes: r.int('HUBGATE_UPLOAD_MAX_EXPANDED_BYTES', 8 * 1024 ** 3, 1024, 2 ** 50),
      tmpDir: r.str('HUBGATE_UPLOAD_TMP_DIR', tmpdir()),
      compressLayers: r.bool('HUBGATE_UPLOAD_COMPRESS_LAYERS', true),
      gzipLevel: r.int('HUBGATE_UPLOAD_GZIP_LEVEL', 6, 1, 9),
      maxConcurrent: r.int('HUBGATE_UPLOAD_MAX_CONCURRENT', 4, 1, 1000),
      progressTtlSeconds: r.int('HUBGATE_UPLOAD_PROGRESS_TTL_SECONDS', 86400, 60, 30 * 86400),
      chunkBytes: r.int('HUBGATE_UPLOAD_CHUNK_BYTES', 0, 0, 2 ** 31),
      maxEntries: r.int('HUBGATE_UPLOAD_MAX_ENTRIES', 100_000, 10, 10_000_000),
      maxMetadataBytes: r.int('HUBGATE_UPLOAD_MAX_METADATA_BYTES', 4 * 1024 ** 2, 1024, 2 ** 31),
      maxOtherEntryBytes: r.int('HUBGATE_UPLOAD_MAX_OTHER_ENTRY_BYTES', 64 * 1024 ** 2, 8 * 1024 ** 2, 2 ** 50),
      maxDiskBytes: r.int('HUBGATE_UPLOAD_MAX_DISK_BYTES', 2.5 * 1024 ** 3, 1024 ** 2, 2 ** 50),
      diskBudgetBytes: r.int('HUBGATE_UPLOAD_DISK_BUDGET_BYTES', 4 * 1024 ** 3, 1024 ** 2, 2 ** 50),
      minFreeBytes: r.int('HUBGATE_UPLOAD_MIN_FREE_BYTES', 256 * 1024 ** 2, 0, 2 ** 50),
      idleTimeoutMs: r.int('HUBGATE_UPLOAD_IDLE_TIMEOUT_SECONDS', 60, 5, 3600) * 1000,
    },
    audit: {
      webhook: r.raw('HUBGATE_AUDIT_WEBHOOK_URL')
        ? {
            url: webhookUrl(r.url('HUBGATE_AUDIT_WEBHOOK_URL')),
            token: r.raw('HUBGATE_AUDIT_WEBHOOK_TOKEN'),
            batchSize: r.int('HUBGATE_AUDIT_WEBHOOK_BATCH_SIZE', 50, 1, 1000),
            queueMax: r.int('HUBGATE_AUDIT_WEBHOOK_QUEUE_MAX', 10000, 1, 1_000_000),
            maxAttempts: r.int('HUBGATE_AUDIT_WEBHOOK_MAX_ATTEMPTS', 5, 1, 100),
            timeoutMs: r.int('HUBGATE_AUDIT_WEBHOOK_TIMEOUT_MS', 5000, 100, 120_000),
          }
        : undefined,
      attributionDays: r.int('HUBGATE_ACTIVITY_ATTRIBUTION_DAYS', 30, 1, 3650),
    },
    gc: {
      allowMembers: r.bool('HUBGATE_GC_ALLOW_MEMBERS', false),
      windowHours: r.int('HUBGATE_GC_WINDOW_HOURS', 2, 0, 8760),
    },
    console: {
      enabled: r.bool('HUBGATE_CONSOLE_ENABLED', true),
      dir: r.raw('HUBGATE_CONSOLE_DIR'),
      oidcIssuer: r.url('HUBGATE_CONSOLE_OIDC_ISSUER', issuer),
      clientId: r.str('HUBGATE_CONSOLE_OIDC_CLIENT_ID', r.str('OIDC_AUDIENCE')),
      scope: r.str('HUBGATE_CONSOLE_OIDC_SCOPE', 'openid profile'),
    },
    policies: {
      defaultQuotaBytes: defaultQuota(r.raw('HUBGATE_DEFAULT_WORKSPACE_QUOTA')),
      quotaPollSeconds: r.int('HUBGATE_QUOTA_POLL_SECONDS', 60, 5, 86400),
    },
    registryFront: {
      allowAnonymousPull: r.bool('HUBGATE_ALLOW_ANONYMOUS_PULL', false),
      loginMaxFailures: r.int('HUBGATE_LOGIN_MAX_FAILURES', 10, 1, 1000000),
      loginMaxFailuresPerAddress: r.int('HUBGATE_LOGIN_MAX_FAILURES_PER_ADDRESS', 50, 1, 1000000),
      loginFailureWindowSeconds: r.int('HUBGATE_LOGIN_FAILURE_WINDOW_SECONDS', 300, 1, 86400),
      loginBlockSeconds: r.int('HUBGATE_LOGIN_BLOCK_SECONDS', 300, 1, 86400),
      loginCacheSeconds: r.int('HUBGATE_LOGIN_CACHE_SECONDS', 30, 0, 300),
      ...tokenCertificate(r.raw('HARBOR_TOKEN_CERT_FILE')),
    },
    network: {
      trustedProxies: trustedProxies(r.raw('HUBGATE_TRUSTED_PROXIES')),
      upstreamIdleTimeoutMs: r.int('HUBGATE_UPSTREAM_IDLE_TIMEOUT_MS', 120_000, 1000, 3_600_000),
      clientIdleTimeoutMs: r.int('HUBGATE_CLIENT_IDLE_TIMEOUT_MS', 120_000, 1000, 3_600_000),
      headersTimeoutMs: r.int('HUBGATE_HEADERS_TIMEOUT_MS', 20_000, 1000, 300_000),
      maxConnectionsPerAddress: r.int('HUBGATE_MAX_CONNECTIONS_PER_ADDRESS', 256, 0, 1_000_000),
      proxyEngine: proxyEngine(r.str('HUBGATE_REGISTRY_PROXY_ENGINE', 'node')),
      headPool: r.bool('HUBGATE_REGISTRY_HEAD_POOL', true),
    },
  };
  return deepFreeze(config);
}

/** Reads and checks Harbor's token service certificate (PEM, one or more certificates). */
function tokenCertificate(file: string | undefined): { tokenCertificatePem?: string; tokenCertificateFile?: string } {
  if (!file) return {};
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError('HARBOR_TOKEN_CERT_FILE', `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}): ${file}`);
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) throw new ConfigError('HARBOR_TOKEN_CERT_FILE', `holds no PEM certificate: ${file}`);
  try {
    for (const b of blocks) new X509Certificate(b);
  } catch {
    throw new ConfigError('HARBOR_TOKEN_CERT_FILE', `holds a certificate that cannot be parsed: ${file}`);
  }
  return { tokenCertificatePem: pem, tokenCertificateFile: file };
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * HUBGATE_CREDENTIAL_SECRET_PREVIOUS: comma-separated retired credential secrets (at least 32 characters each) or
 * their key fingerprints (16 lower-case hex digits, as /readyz and the logs show them).
 */
function previousCredentialSecrets(value: string | undefined, current: string): string[] {
  const name = 'HUBGATE_CREDENTIAL_SECRET_PREVIOUS';
  const items = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const [i, item] of items.entries()) {
    if (item === current) throw new ConfigError(name, 'must not contain the current HUBGATE_CREDENTIAL_SECRET');
    if (!/^[0-9a-f]{16}$/.test(item) && item.length < 32) {
      throw new ConfigError(name, `entry ${i + 1} is neither a secret of at least 32 characters nor a 16-hex-digit key fingerprint`);
    }
  }
  return items;
}

function proxyEngine(value: string): 'node' | 'http-proxy-middleware' {
  if (value === 'node' || value === 'http-proxy-middleware') return value;
  throw new ConfigError('HUBGATE_REGISTRY_PROXY_ENGINE', `must be node or http-proxy-middleware, got "${value}"`);
}

/** HUBGATE_TRUSTED_PROXIES: comma-separated addresses, CIDRs or proxy-addr's names; checked here so a typo fails at start. */
function trustedProxies(value: string | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  for (const item of value.split(',').map((x) => x.trim()).filter(Boolean)) {
    const [addr, bits, extra] = item.split('/');
    const family = isIP(addr);
    const ok =
      PROXY_NAMES.has(item) ||
      (family !== 0 && extra === undefined && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))));
    if (!ok) throw new ConfigError('HUBGATE_TRUSTED_PROXIES', `must list addresses, CIDRs or loopback/linklocal/uniquelocal, got "${item}"`);
    out.push(item);
  }
  return out;
}

function deepFreeze<T>(o: T): Readonly<T> {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * HUBGATE_DEFAULT_WORKSPACE_QUOTA: empty = unlimited; else bytes or a size with a unit (src/domain/storage-units.ts).
 * `raw` comes from the reader, which already turns a blank value into undefined.
 */
function defaultQuota(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  try {
    return parseSize(raw, 'value');
  } catch (e) {
    throw new ConfigError('HUBGATE_DEFAULT_WORKSPACE_QUOTA', (e as Error).message);
  }
}

/** The audit webhook URL may not carry credentials (fetch refuses them, and they would sit in a URL): use the token. */
function webhookUrl(url: string): string {
  const u = new URL(url);
  if (u.username || u.password) throw new ConfigError('HUBGATE_AUDIT_WEBHOOK_URL', 'must not contain credentials: put a bearer token in HUBGATE_AUDIT_WEBHOOK_TOKEN');
  return url;
}
