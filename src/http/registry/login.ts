import { createHash } from 'node:crypto';
import { AppError } from '../../domain/errors';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { VerifiedLogins, type BasicCredentials } from './auth';
import type { LoginThrottle } from './throttle';

/**
 * One registry login, as the token endpoint and Basic-auth `/v2` requests both do it:
 * recently verified → accepted at once; blocked username/address → 429; not a hubgate username (Harbor's admin,
 * Harbor robots, `robot$…`) → refused; otherwise checked against Harbor-held state by `verify`.
 */
/** Runs fn while holding a named lock (Coordination.withLock: across replicas while Redis is up). */
export type LoginLock = <T>(name: string, fn: () => Promise<T>, opts?: { ttlMs?: number; waitMs?: number }) => Promise<T>;

export interface LoginDeps {
  /**
   * Serialises the password checks of one (username, address) pair — across replicas with Coordination.withLock —
   * so N parallel wrong logins cost at most the throttle's limit of checks, and N parallel right ones one check.
   * Without it, they are serialised in this process only.
   */
  lock?: LoginLock;
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

  private readonly localChains = new Map<string, Promise<unknown>>();

  /** fn, one at a time per name: under the shared lock when there is one, else in this process. */
  private serialised<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (this.deps.lock) return this.deps.lock(name, fn, { ttlMs: 30_000, waitMs: 15_000 });
    const prev = this.localChains.get(name) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.localChains.set(name, tail);
    void tail.then(() => {
      if (this.localChains.get(name) === tail) this.localChains.delete(name);
    });
    return run;
  }

  async login(creds: BasicCredentials, address: string | undefined): Promise<LoginResult> {
    if (this.deps.verified.has(creds)) return { ok: true, robotName: this.robotName(creds.username), cached: true };
    // One (username, address) pair at a time: the throttle's read-check-count cycle below cannot interleave with
    // itself, so parallel wrong guesses are counted before the next one is checked.
    const name = `registry-login:${createHash('sha256').update(creds.username).update('\0').update(address ?? '').digest('hex').slice(0, 32)}`;
    try {
      return await this.serialised(name, () => this.checkOnce(creds, address));
    } catch (e) {
      if (e instanceof AppError && e.kind === 'conflict') {
        return { ok: false, status: 429, code: 'TOO_MANY_REQUESTS', message: 'too many concurrent logins for this user; try again in a few seconds', retryAfterSeconds: 5 };
      }
      throw e;
    }
  }

  private async checkOnce(creds: BasicCredentials, address: string | undefined): Promise<LoginResult> {
    const { throttle, verified, metrics, logger } = this.deps;
    // A login verified while this one waited its turn.
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
    await throttle.success(creds.username, address);
    return { ok: true, robotName: this.robotName(creds.username), cached: false };
  }

  /** Harbor refused credentials hubgate accepted (rotated meanwhile, or changed in Harbor): stop vouching for them. */
  forget(creds: BasicCredentials): void {
    this.deps.verified.forget(creds);
  }
}
