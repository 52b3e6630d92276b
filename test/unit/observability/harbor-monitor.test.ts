import { AppError } from '../../../src/domain/errors';
import { HarborMonitor } from '../../../src/observability/harbor-monitor';
import { createMetrics, type Metrics } from '../../../src/observability/metrics';
import { FakeHarbor } from '../../support/fake-harbor';
import { capturedLogger, metricValue, type LogEntry } from '../../support/observed';

/**
 * The Harbor monitor behind /readyz and the health gauges (docs/operations.md "Health endpoints"): ready when Harbor
 * answers and accepts hubgate's admin identity; degraded while Redis is configured and down, a Harbor component is
 * unhealthy or a soft check fails; Harbor asked at most once a second; a log line on every change of Harbor's state.
 */

const REDIS_DOWN = 'Redis unreachable: running degraded (locks and caches are per replica)';

const ADMIN = { user_id: 1, username: 'admin', sysadmin_flag: true };
const NOT_ADMIN = { user_id: 7, username: 'bob', sysadmin_flag: false };
const HEALTHY = { status: 'healthy', components: [{ name: 'core', status: 'healthy' }] };
const UNHEALTHY = { status: 'unhealthy', components: [{ name: 'core', status: 'healthy' }, { name: 'jobservice', status: 'unhealthy' }] };

/** What the fake Harbor answers next (an Error: the call fails with it). */
interface HarborState {
  user: typeof ADMIN | Error;
  health: typeof HEALTHY | Error;
  volumes: { total?: number; free?: number } | Error;
}

interface Setup {
  harbor: FakeHarbor;
  state: HarborState;
  monitor: HarborMonitor;
  metrics: Metrics;
  logs: LogEntry[];
  /** What the Redis probe answers next (undefined: Redis not configured). */
  redis: { up: 0 | 1 | undefined; probes: number };
  soft: { checks?: Record<string, { ok: boolean; detail?: string }> };
}

function setup(o: { intervalMs?: number; withSoft?: boolean; noVolumes?: boolean } = {}): Setup {
  const harbor = new FakeHarbor();
  const state: HarborState = { user: ADMIN, health: HEALTHY, volumes: { total: 1000, free: 400 } };
  const answer = async <T>(call: string, v: T | Error): Promise<T> => {
    harbor.calls.push(call);
    if (v instanceof Error) throw v;
    return v;
  };
  harbor.currentUser = () => answer('currentUser', state.user);
  harbor.health = () => answer('health', state.health);
  harbor.systemVolumes = () => answer('systemVolumes', state.volumes);
  if (o.noVolumes) Object.assign(harbor, { systemVolumes: undefined });
  const metrics = createMetrics({ defaultMetrics: false });
  const { logger, entries } = capturedLogger();
  const redis: Setup['redis'] = { up: 1, probes: 0 };
  const soft: Setup['soft'] = {};
  const monitor = new HarborMonitor({
    harbor,
    metrics,
    logger,
    redisUp: async () => {
      redis.probes++;
      return redis.up;
    },
    intervalMs: o.intervalMs ?? 15_000,
    soft: o.withSoft ? () => soft.checks ?? {} : undefined,
  });
  return {
    harbor,
    state,
    monitor,
    metrics,
    redis,
    soft,
    get logs() {
      return entries();
    },
  };
}

const gauge = (metrics: Metrics, name: string, component?: string) => metricValue(metrics, name, component === undefined ? {} : { component });


describe('HarborMonitor.check', () => {
  it('Harbor up, healthy, Redis up: ready, not degraded; the gauges say so; one info line', async () => {
    const s = setup();
    expect(await s.monitor.check()).toEqual({
      ready: true,
      degraded: false,
      checks: { harbor_admin: { ok: true }, harbor_health: { ok: true, detail: 'healthy' }, redis: { ok: true } },
    });
    expect(await gauge(s.metrics, 'hubgate_harbor_up')).toBe(1);
    expect(await gauge(s.metrics, 'hubgate_harbor_component_healthy', 'core')).toBe(1);
    expect(await gauge(s.metrics, 'hubgate_harbor_storage_total_bytes')).toBe(1000);
    expect(await gauge(s.metrics, 'hubgate_harbor_storage_free_bytes')).toBe(400);
    expect(await gauge(s.metrics, 'hubgate_redis_up')).toBe(1);
    expect(s.logs).toEqual([{ time: expect.any(String), level: 'info', msg: "Harbor reachable and accepting hubgate's admin identity" }]);
  });

  it('the admin identity is not a Harbor system administrator: not ready (never degraded), harbor_up 0, an error line', async () => {
    const s = setup();
    s.state.user = NOT_ADMIN;
    s.redis.up = 0;
    expect(await s.monitor.check()).toEqual({
      ready: false,
      degraded: false,
      checks: {
        harbor_admin: { ok: false, detail: 'Harbor user "bob" is not a system administrator' },
        harbor_health: { ok: true, detail: 'healthy' },
        redis: { ok: false, detail: REDIS_DOWN },
      },
    });
    expect(await gauge(s.metrics, 'hubgate_harbor_up')).toBe(0);
    expect(s.logs).toEqual([
      { time: expect.any(String), level: 'error', msg: 'Harbor not usable: hubgate is not ready', detail: 'Harbor user "bob" is not a system administrator' },
    ]);
  });

  it('Harbor refuses or cannot be reached: the error text is the detail', async () => {
    const s = setup();
    s.state.user = new AppError('upstream_misconfigured', "Harbor refused hubgate's admin credentials");
    const report = await s.monitor.check();
    expect(report.ready).toBe(false);
    expect(report.checks.harbor_admin).toEqual({ ok: false, detail: "Harbor refused hubgate's admin credentials" });
  });

  it('Redis configured and down: ready but degraded, redis_up 0', async () => {
    const s = setup();
    s.redis.up = 0;
    expect(await s.monitor.check()).toEqual({
      ready: true,
      degraded: true,
      checks: { harbor_admin: { ok: true }, harbor_health: { ok: true, detail: 'healthy' }, redis: { ok: false, detail: REDIS_DOWN } },
    });
    expect(await gauge(s.metrics, 'hubgate_redis_up')).toBe(0);
  });

  it('Redis not configured: no redis check, the gauge left alone', async () => {
    const s = setup();
    s.redis.up = undefined;
    s.metrics.redisUp.set(7);
    expect(await s.monitor.check()).toEqual({ ready: true, degraded: false, checks: { harbor_admin: { ok: true }, harbor_health: { ok: true, detail: 'healthy' } } });
    expect(await gauge(s.metrics, 'hubgate_redis_up')).toBe(7);
  });

  it('a Harbor component unhealthy: degraded, one gauge per component', async () => {
    const s = setup();
    s.state.health = UNHEALTHY;
    expect(await s.monitor.check()).toMatchObject({ ready: true, degraded: true, checks: { harbor_health: { ok: false, detail: 'unhealthy' } } });
    expect(await gauge(s.metrics, 'hubgate_harbor_component_healthy', 'core')).toBe(1);
    expect(await gauge(s.metrics, 'hubgate_harbor_component_healthy', 'jobservice')).toBe(0);
  });

  it('the health call fails: degraded, its error text as the detail', async () => {
    const s = setup();
    s.state.health = new AppError('upstream_unavailable', 'Harbor timed out');
    expect(await s.monitor.check()).toMatchObject({ ready: true, degraded: true, checks: { harbor_health: { ok: false, detail: 'Harbor timed out' } } });
  });

  it('storage: a side Harbor cannot measure or a failed call leaves the gauge at its last value; no call without systemVolumes', async () => {
    const s = setup();
    await s.monitor.check();
    s.state.volumes = { total: 2000 };
    await s.monitor.check();
    expect(await gauge(s.metrics, 'hubgate_harbor_storage_total_bytes')).toBe(2000);
    expect(await gauge(s.metrics, 'hubgate_harbor_storage_free_bytes')).toBe(400);
    s.state.volumes = { free: 300 };
    await s.monitor.check();
    expect(await gauge(s.metrics, 'hubgate_harbor_storage_total_bytes')).toBe(2000);
    expect(await gauge(s.metrics, 'hubgate_harbor_storage_free_bytes')).toBe(300);
    s.state.volumes = new AppError('upstream_unavailable', 'volumes unknown');
    expect((await s.monitor.check()).ready).toBe(true);
    expect(await gauge(s.metrics, 'hubgate_harbor_storage_total_bytes')).toBe(2000);
    expect(await gauge(s.metrics, 'hubgate_harbor_storage_free_bytes')).toBe(300);
    const bare = setup({ noVolumes: true });
    await bare.monitor.check();
    expect(bare.harbor.calls).toEqual(['currentUser', 'health']);
  });

  it('logs only when Harbor\'s state changes: up, up, down, down, up', async () => {
    const s = setup();
    await s.monitor.check();
    await s.monitor.check();
    s.state.user = NOT_ADMIN;
    await s.monitor.check();
    await s.monitor.check();
    s.state.user = ADMIN;
    await s.monitor.check();
    expect(s.logs.map((l) => `${l.level} ${l.msg}`)).toEqual([
      "info Harbor reachable and accepting hubgate's admin identity",
      'error Harbor not usable: hubgate is not ready',
      "info Harbor reachable and accepting hubgate's admin identity",
    ]);
  });
});

describe('HarborMonitor.readiness', () => {
  let now = 1_800_000_000_000;
  beforeEach(() => {
    jest.spyOn(Date, 'now').mockImplementation(() => now);
  });
  afterEach(() => jest.restoreAllMocks());

  it('asks Harbor at most once a second; Redis is probed live in between', async () => {
    const s = setup();
    const first = await s.monitor.readiness();
    expect(s.harbor.calls).toEqual(['currentUser', 'health', 'systemVolumes']);
    now += 999;
    s.redis.up = 0;
    expect(await s.monitor.readiness()).toEqual({ ...first, degraded: true, checks: { ...first.checks, redis: { ok: false, detail: REDIS_DOWN } } });
    s.redis.up = 1;
    expect(await s.monitor.readiness()).toEqual(first);
    expect(s.harbor.calls).toHaveLength(3);
    expect(s.redis.probes).toBe(3);
    now += 1;
    await s.monitor.readiness();
    expect(s.harbor.calls).toHaveLength(6);
  });

  it('between rounds without Redis configured: the last report as it was', async () => {
    const s = setup();
    s.redis.up = undefined;
    const first = await s.monitor.readiness();
    expect(await s.monitor.readiness()).toBe(first);
    expect(s.harbor.calls).toHaveLength(3);
  });

  it('between rounds: an unhealthy Harbor component keeps the report degraded with Redis back; not ready is never degraded', async () => {
    const s = setup();
    s.state.health = UNHEALTHY;
    await s.monitor.readiness();
    expect(await s.monitor.readiness()).toMatchObject({ ready: true, degraded: true, checks: { redis: { ok: true } } });
    const down = setup();
    down.state.user = NOT_ADMIN;
    await down.monitor.readiness();
    down.redis.up = 0;
    expect(await down.monitor.readiness()).toMatchObject({ ready: false, degraded: false, checks: { redis: { ok: false, detail: REDIS_DOWN } } });
    expect(down.harbor.calls).toHaveLength(3);
  });

  it('a failed soft check degrades a ready report, never a not-ready one; its checks join the report', async () => {
    const s = setup({ withSoft: true });
    s.soft.checks = { credential_key: { ok: true, detail: 'credential key 3f' } };
    expect(await s.monitor.readiness()).toMatchObject({ ready: true, degraded: false, checks: { harbor_admin: { ok: true }, credential_key: { ok: true, detail: 'credential key 3f' } } });
    // one of two soft checks failing is enough
    s.soft.checks = { credential_key: { ok: false, detail: 'credential key 3f; robots carry 9a' }, other: { ok: true } };
    expect(await s.monitor.readiness()).toMatchObject({ ready: true, degraded: true, checks: { credential_key: { ok: false, detail: 'credential key 3f; robots carry 9a' }, other: { ok: true } } });
    // Redis down degrades the report whatever the soft checks say
    s.soft.checks = { credential_key: { ok: true, detail: 'credential key 3f' } };
    s.redis.up = 0;
    expect(await s.monitor.readiness()).toMatchObject({ ready: true, degraded: true, checks: { credential_key: { ok: true }, redis: { ok: false } } });
    now += 1000;
    s.redis.up = 1;
    s.soft.checks = { credential_key: { ok: false, detail: 'credential key 3f; robots carry 9a' } };
    s.state.user = NOT_ADMIN;
    expect(await s.monitor.readiness()).toMatchObject({ ready: false, degraded: false, checks: { credential_key: { ok: false } } });
  });
});

describe('HarborMonitor.start', () => {
  afterEach(() => jest.useRealTimers());

  it('checks at once, then every interval until stopped', async () => {
    jest.useFakeTimers();
    const s = setup({ intervalMs: 5000 });
    s.monitor.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(s.harbor.calls.filter((c) => c === 'currentUser')).toHaveLength(1);
    expect(await gauge(s.metrics, 'hubgate_harbor_up')).toBe(1);
    s.state.user = NOT_ADMIN;
    await jest.advanceTimersByTimeAsync(4999);
    expect(s.harbor.calls.filter((c) => c === 'currentUser')).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(s.harbor.calls.filter((c) => c === 'currentUser')).toHaveLength(2);
    expect(await gauge(s.metrics, 'hubgate_harbor_up')).toBe(0);
    s.monitor.stop();
    await jest.advanceTimersByTimeAsync(20_000);
    expect(s.harbor.calls.filter((c) => c === 'currentUser')).toHaveLength(2);
  });

  it('a failing round (the Redis probe throws) is swallowed: nothing unhandled, the next round runs', async () => {
    jest.useFakeTimers();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    const harbor = new FakeHarbor();
    let probes = 0;
    const monitor = new HarborMonitor({
      harbor,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: capturedLogger().logger,
      redisUp: async () => {
        if (++probes === 1) throw new Error('probe broke');
        return 1;
      },
      intervalMs: 1000,
    });
    try {
      monitor.start();
      await jest.advanceTimersByTimeAsync(1000);
      monitor.stop();
      jest.useRealTimers();
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    expect(probes).toBe(2);
  });

  it('stopping a monitor that never started does nothing', () => {
    expect(() => setup().monitor.stop()).not.toThrow();
  });
});
