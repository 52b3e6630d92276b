import { loadConfig, type Config } from '../../src/config';
import { createLogger } from '../../src/observability/logger';
import { startServer, type RunningServer } from '../../src/server';
import { REAL_HARBOR } from './real-harbor';
import type { TestIdp } from './tokens';

/** Harbor's admin: the double's, or the real Harbor's in real-Harbor mode (HUBGATE_TEST_HARBOR_*, real-harbor.ts). */
export const ADMIN_PASSWORD = REAL_HARBOR?.adminPassword ?? 'Harbor12345';
export const ADMIN_USERNAME = REAL_HARBOR?.adminUsername ?? 'admin';
export const CREDENTIAL_SECRET = 'sandbox-credential-secret-0123456789abcdef';

/**
 * HUBGATE_TEST_REGISTRY_PROXY_ENGINE=http-proxy-middleware runs the end-to-end suites on the fallback proxy engine
 * (HUBGATE_REGISTRY_PROXY_ENGINE), with the double or a real Harbor; a suite's own setting still wins.
 */
export function engineUnderTest(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const engine = env.HUBGATE_TEST_REGISTRY_PROXY_ENGINE;
  return engine ? { HUBGATE_REGISTRY_PROXY_ENGINE: engine } : {};
}

/** A hubgate configuration pointing at a Harbor (the double, or the real one in real-Harbor mode) and a test identity provider. */
export function testConfig(opts: { harborUrl: string; idp: TestIdp; redisUrl?: string; env?: Record<string, string> }): Readonly<Config> {
  return loadConfig({
    HUBGATE_PORT: '0',
    HUBGATE_HOST: '127.0.0.1',
    HARBOR_URL: opts.harborUrl,
    HARBOR_ADMIN_USERNAME: ADMIN_USERNAME,
    HARBOR_ADMIN_PASSWORD: ADMIN_PASSWORD,
    HARBOR_TIMEOUT_MS: '5000',
    HARBOR_HEALTH_POLL_MS: '60000',
    OIDC_ISSUER: opts.idp.issuer,
    OIDC_JWKS_URL: opts.idp.jwksUrl,
    OIDC_AUDIENCE: opts.idp.audience,
    OIDC_ADMIN_ROLE: opts.idp.adminRole,
    HUBGATE_CREDENTIAL_SECRET: CREDENTIAL_SECRET,
    HUBGATE_SHUTDOWN_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'debug',
    // The suites start redis-server moments before hubgate: no restart quarantine for ownership changes (the
    // ownership fault suite sets its own).
    HUBGATE_LOCK_QUARANTINE_MS: '0',
    // Suites count and order Harbor calls from their first request on: catalogues are built by the first list.
    HUBGATE_IMAGES_WARM_ON_START: 'false',
    ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
    ...engineUnderTest(),
    ...opts.env,
  });
}

/** Starts hubgate in-process; every log line is kept in `logs` (tests scan them for secrets). */
export async function startHubgate(config: Readonly<Config>): Promise<RunningServer & { logs: string[] }> {
  const logs: string[] = [];
  const running = await startServer(config, { logger: createLogger('debug', (l) => logs.push(l)) });
  return { ...running, logs };
}
