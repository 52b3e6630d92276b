import type { HarborPort } from '../ports/harbor';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

const REDIS_DOWN = 'Redis unreachable: running degraded (locks and caches are per replica)';

export interface ReadinessReport {
  ready: boolean;
  degraded: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

/**
 * Polls Harbor (admin identity, component health, storage) for the gauges and for /readyz.
 * Readiness: Harbor reachable and accepting hubgate's admin identity. Redis down: ready, but degraded.
 */
export class HarborMonitor {
  private timer?: NodeJS.Timeout;
  private last?: { at: number; report: ReadinessReport };
  private wasUp?: boolean;

  constructor(
    private readonly deps: {
      harbor: HarborPort & { systemVolumes?: () => Promise<{ total?: number; free?: number }> };
      metrics: Metrics;
      logger: Logger;
      /** Probes Redis: undefined when not configured, else 1 (answered) or 0. */
      redisUp: () => Promise<0 | 1 | undefined>;
      intervalMs: number;
      /**
       * Checks that can only degrade readiness, never fail it, evaluated on every /readyz (in-process state, e.g.
       * the credential key agreement between replicas).
       */
      soft?: () => Record<string, { ok: boolean; detail?: string }>;
    },
  ) {}

  start(): void {
    const tick = () => void this.check().catch(() => undefined);
    tick();
    this.timer = setInterval(tick, this.deps.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** A fresh report, at most one Harbor round per second however often it is asked; soft checks always live. */
  async readiness(): Promise<ReadinessReport> {
    const report = await this.harborReadiness();
    const soft = this.deps.soft?.();
    if (!soft) return report;
    const degraded = report.degraded || (report.ready && Object.values(soft).some((c) => !c.ok));
    return { ...report, degraded, checks: { ...report.checks, ...soft } };
  }

  private async harborReadiness(): Promise<ReadinessReport> {
    if (!this.last || Date.now() - this.last.at >= 1000) return this.check();
    // Harbor's part from the last round; Redis is cheap to probe, so always live.
    const { report } = this.last;
    const redis = await this.deps.redisUp();
    if (redis === undefined) return report;
    const checks = { ...report.checks, redis: redis ? { ok: true } : { ok: false, detail: REDIS_DOWN } };
    return { ...report, checks, degraded: report.ready && (redis === 0 || !report.checks.harbor_health.ok) };
  }

  async check(): Promise<ReadinessReport> {
    const { harbor, metrics } = this.deps;
    const checks: ReadinessReport['checks'] = {};
    try {
      const me = await harbor.currentUser();
      checks.harbor_admin = me.sysadmin_flag
        ? { ok: true }
        : { ok: false, detail: `Harbor user "${me.username}" is not a system administrator` };
    } catch (e) {
      checks.harbor_admin = { ok: false, detail: (e as Error).message };
    }
    try {
      const health = await harbor.health();
      checks.harbor_health = { ok: health.status === 'healthy', detail: health.status };
      for (const c of health.components) metrics.harborComponentHealthy.set({ component: c.name }, c.status === 'healthy' ? 1 : 0);
    } catch (e) {
      checks.harbor_health = { ok: false, detail: (e as Error).message };
    }
    if (harbor.systemVolumes) {
      // A failed call leaves the storage gauges at their last value.
      const v = await harbor.systemVolumes().catch((): { total?: number; free?: number } => ({}));
      if (v.total !== undefined) metrics.storageTotalBytes.set(v.total);
      if (v.free !== undefined) metrics.storageFreeBytes.set(v.free);
    }
    const redis = await this.deps.redisUp();
    if (redis !== undefined) {
      metrics.redisUp.set(redis);
      checks.redis = redis ? { ok: true } : { ok: false, detail: REDIS_DOWN };
    }
    const up = checks.harbor_admin.ok;
    metrics.harborUp.set(up ? 1 : 0);
    if (up !== this.wasUp) {
      // Logged on every change (and at start): operators see at once that Harbor refuses hubgate's identity.
      if (up) this.deps.logger.info('Harbor reachable and accepting hubgate\'s admin identity');
      else this.deps.logger.error('Harbor not usable: hubgate is not ready', { detail: checks.harbor_admin.detail });
      this.wasUp = up;
    }
    const report: ReadinessReport = { ready: up, degraded: up && (redis === 0 || !checks.harbor_health.ok), checks };
    this.last = { at: Date.now(), report };
    return report;
  }
}
