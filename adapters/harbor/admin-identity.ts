import { AppError } from '../../src/domain/errors';
import type { HarborCurrentUser } from '../../src/ports/harbor';

/**
 * Confirms that Harbor accepts hubgate's admin identity before hubgate believes any answer.
 *
 * Harbor does not refuse wrong Basic credentials on most endpoints: it carries on ANONYMOUSLY (recordings
 * 011–012), so `GET /projects` with a wrong password is a 200 that lists only public projects. Only
 * `GET /users/current` says 401. The adapter therefore asks this guard before every call; the answer is cached
 * for `ttlMs` (a success) or `failTtlMs` (a refusal — each refused call costs Harbor's 1.5 s penalty, so a
 * misconfigured hubgate must not pay it on every request). Concurrent callers share one check.
 */
export interface AdminIdentityOptions {
  username: string;
  /** `GET /users/current` as hubgate's admin (throws AppError upstream_misconfigured on 401). */
  fetchCurrentUser: () => Promise<HarborCurrentUser & { admin_role_in_auth?: boolean }>;
  ttlMs: number;
  failTtlMs: number;
  now: () => number;
}

export const NOT_ADMIN_MESSAGE = "upstream misconfigured: hubgate's Harbor identity is not a Harbor system administrator";

export class AdminIdentity {
  private okUntil = 0;
  private failure?: { until: number; error: AppError };
  private inflight?: Promise<void>;

  constructor(private readonly opts: AdminIdentityOptions) {}

  /** Resolves when the admin identity is (recently) confirmed; throws upstream_misconfigured otherwise. */
  async ensure(): Promise<void> {
    const now = this.opts.now();
    if (now < this.okUntil) return;
    if (this.failure && now < this.failure.until) throw copy(this.failure.error);
    this.inflight ??= this.check().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /** Record what `GET /users/current` said, wherever it was called from. Throws when it is not our admin. */
  observe(user: HarborCurrentUser & { admin_role_in_auth?: boolean }): void {
    const isOurAdmin =
      typeof user?.username === 'string' &&
      user.username.toLowerCase() === this.opts.username.toLowerCase() &&
      (user.sysadmin_flag === true || user.admin_role_in_auth === true);
    if (isOurAdmin) {
      this.okUntil = this.opts.now() + this.opts.ttlMs;
      this.failure = undefined;
      return;
    }
    this.fail(new AppError('upstream_misconfigured', NOT_ADMIN_MESSAGE, { upstreamStatus: 200 }));
  }

  /** Record a refusal (401) so that callers fail fast for a little while. */
  refused(error: AppError): void {
    this.okUntil = 0;
    this.failure = { until: this.opts.now() + this.opts.failTtlMs, error };
  }

  private fail(error: AppError): never {
    this.refused(error);
    throw copy(error);
  }

  private async check(): Promise<void> {
    let user: HarborCurrentUser;
    try {
      user = await this.opts.fetchCurrentUser();
    } catch (e) {
      // Only a refusal is cached; timeouts and outages are retried by the next caller.
      if (e instanceof AppError && e.kind === 'upstream_misconfigured') this.refused(e);
      throw e;
    }
    this.observe(user);
  }
}

/** A fresh error per caller, so stacks point at the caller and nobody mutates a shared instance. */
const copy = (e: AppError): AppError => new AppError(e.kind, e.message, { upstreamStatus: e.upstreamStatus });
