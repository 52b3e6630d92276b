import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { VerifiedLogins, type BasicCredentials } from './auth';
import type { LoginThrottle } from './throttle';

/**
 * One registry login, as the token endpoint and Basic-auth `/v2` requests both do it:
 * recently verified → accepted at once; blocked username/address → 429; not a hubgate username (Harbor's admin,
 * Harbor robots, `robot$…`) → refused; otherwise checked against Harbor-held state by `verify`.
 */
export interface LoginDeps {
  /** Checks a hubgate registry login against Harbor-held state (CredentialsService.verify). */
  verify: (username: string, password: string) => Promise<unknown>;
  usernamePrefix: string;
  robotPrefix: string;
  throttle: LoginThrottle;
  verified: VerifiedLogins;
  logger: Logger;
  metrics: Metrics;
}

export type LoginResult =
  | { ok: true; robotName: string; cached: boolean }
  | { ok: false; status: 401 | 429 | 502; code: string; message: string; retryAfterSeconds?: number };

export const BAD_LOGIN = 'unauthorized: incorrect username or password';
export const NOT_A_HUBGATE_LOGIN = "unauthorized: log in with your project's registry credentials (user name and password from the console)";

export class RegistryLogin {
  constructor(private readonly deps: LoginDeps) {}

  robotName(username: string): string {
    return this.deps.robotPrefix + username;
  }

  async login(creds: BasicCredentials, address: string | undefined): Promise<LoginResult> {
    const { throttle, verified, metrics, logger } = this.deps;
    if (verified.has(creds)) return { ok: true, robotName: this.robotName(creds.username), cached: true };

    const blocked = await throttle.check(creds.username, address);
    if (blocked) {
      metrics.loginThrottled.inc({ scope: blocked.scope });
      return {
        ok: false,
        status: 429,
        code: 'TOO_MANY_REQUESTS',
        message: `too many failed logins; try again in ${blocked.retryAfterSeconds} seconds`,
        retryAfterSeconds: blocked.retryAfterSeconds,
      };
    }

    // Only hubgate usernames: Harbor's admin, Harbor users and Harbor robots (`robot$…`) sent directly are refused,
    // so nothing reaches Harbor with an identity hubgate did not issue.
    if (!creds.username.startsWith(this.deps.usernamePrefix) || creds.username.includes('$')) {
      metrics.loginFailures.inc({ reason: 'unknown_user' });
      await throttle.failure(creds.username, address);
      return { ok: false, status: 401, code: 'UNAUTHORIZED', message: NOT_A_HUBGATE_LOGIN };
    }

    let robot: unknown;
    try {
      robot = await this.deps.verify(creds.username, creds.password);
    } catch (e) {
      logger.warn('registry login could not be checked: Harbor unavailable', { error: e });
      return { ok: false, status: 502, code: 'UPSTREAM_UNAVAILABLE', message: 'cannot check the login now: the registry backend is unavailable' };
    }
    if (!robot) {
      metrics.loginFailures.inc({ reason: 'bad_credentials' });
      await throttle.failure(creds.username, address);
      return { ok: false, status: 401, code: 'UNAUTHORIZED', message: BAD_LOGIN };
    }
    verified.remember(creds);
    await throttle.success(creds.username);
    return { ok: true, robotName: this.robotName(creds.username), cached: false };
  }

  /** Harbor refused credentials hubgate accepted (rotated meanwhile, or changed in Harbor): stop vouching for them. */
  forget(creds: BasicCredentials): void {
    this.deps.verified.forget(creds);
  }
}
