import { createHash } from 'node:crypto';
import { AppError } from '../../../src/domain/errors';
import { VerifiedLogins } from '../../../src/http/registry/auth';
import { BAD_LOGIN, NOT_A_HUBGATE_LOGIN, RegistryLogin, type LoginDeps } from '../../../src/http/registry/login';
import type { LoginThrottle } from '../../../src/http/registry/throttle';
import type { Logger } from '../../../src/observability/logger';
import { silentLogger } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';

/** One registry login: cache, throttle, hubgate-only usernames, Harbor down, and one check at a time per user+address. */
function setup(o: Partial<LoginDeps> & { good?: Record<string, string> } = {}) {
  const events: string[] = [];
  const throttle = {
    check: async () => undefined,
    failure: async (u: string | undefined, a: string | undefined) => {
      events.push(`failure ${u} ${a}`);
      return undefined;
    },
    success: async (u: string, a?: string) => {
      events.push(`success ${u} ${a}`);
    },
  } as unknown as LoginThrottle;
  const good = o.good ?? { 'hg-a': 'right' };
  let checks = 0;
  const deps: LoginDeps = {
    verify: async (u, p) => {
      checks++;
      events.push(`verify ${u}`);
      await new Promise((r) => setTimeout(r, 5));
      return good[u] === p ? { name: `robot$${u}` } : undefined;
    },
    usernamePrefix: 'hg-',
    robotPrefix: 'robot$',
    throttle,
    verified: new VerifiedLogins(60_000),
    logger: silentLogger,
    metrics: createMetrics(),
    ...o,
  };
  return { login: new RegistryLogin(deps), deps, events, checks: () => checks };
}

describe('registry login', () => {
  it('a right password: accepted, remembered (the next login is served from the cache), throttle told of the success', async () => {
    const { login, events, checks } = setup();
    expect(await login.login({ username: 'hg-a', password: 'right' }, '10.0.0.1')).toEqual({ ok: true, robotName: 'robot$hg-a', cached: false });
    expect(events).toEqual(['verify hg-a', 'success hg-a 10.0.0.1']);
    expect(await login.login({ username: 'hg-a', password: 'right' }, '10.0.0.1')).toEqual({ ok: true, robotName: 'robot$hg-a', cached: true });
    expect(checks()).toBe(1);
    login.forget({ username: 'hg-a', password: 'right' });
    expect((await login.login({ username: 'hg-a', password: 'right' }, '10.0.0.1')).ok).toBe(true);
    expect(checks()).toBe(2);
  });

  it('a wrong password: 401 UNAUTHORIZED with the standard message, counted as a failure', async () => {
    const { login, events } = setup();
    expect(await login.login({ username: 'hg-a', password: 'wrong' }, '10.0.0.2')).toEqual({ ok: false, status: 401, code: 'UNAUTHORIZED', message: BAD_LOGIN });
    expect(events).toEqual(['verify hg-a', 'failure hg-a 10.0.0.2']);
  });

  it("Harbor's admin, Harbor robots and other non-hubgate names are refused without asking Harbor, and counted", async () => {
    const { login, events } = setup({ good: { admin: 'x', 'hg-$x': 'x' } });
    for (const username of ['admin', 'robot$hg-a', 'hg-$x']) {
      expect(await login.login({ username, password: 'x' }, undefined)).toEqual({ ok: false, status: 401, code: 'UNAUTHORIZED', message: NOT_A_HUBGATE_LOGIN });
    }
    expect(events).toEqual(['failure admin undefined', 'failure robot$hg-a undefined', 'failure hg-$x undefined']);
  });

  it('a throttled user+address: 429 with Retry-After, Harbor not asked', async () => {
    const { login, deps, events } = setup();
    deps.throttle.check = async () => ({ scope: 'username', retryAfterSeconds: 42 }) as never;
    expect(await login.login({ username: 'hg-a', password: 'right' }, '10.0.0.3')).toEqual({
      ok: false,
      status: 429,
      code: 'TOO_MANY_REQUESTS',
      message: 'too many failed logins; try again in 42 seconds',
      retryAfterSeconds: 42,
    });
    expect(events).toEqual([]);
  });

  it('Harbor unavailable: 502 UPSTREAM_UNAVAILABLE, logged, not counted as a failed login', async () => {
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (m) => warnings.push(m) };
    const { login, events } = setup({
      logger,
      verify: async () => {
        throw new AppError('upstream_unavailable', 'down');
      },
    });
    expect(await login.login({ username: 'hg-a', password: 'right' }, '10.0.0.4')).toEqual({
      ok: false,
      status: 502,
      code: 'UPSTREAM_UNAVAILABLE',
      message: 'cannot check the login now: the registry backend is unavailable',
    });
    expect(warnings).toEqual(['registry login could not be checked: Harbor unavailable']);
    expect(events).toEqual([]);
  });

  it('the shared lock busy: 429 "too many concurrent logins", Retry-After 5; other lock errors pass through', async () => {
    const names: string[] = [];
    const busy = setup({
      lock: async (name) => {
        names.push(name);
        throw new AppError('conflict', 'busy');
      },
    });
    expect(await busy.login.login({ username: 'hg-a', password: 'right' }, '10.0.0.5')).toEqual({
      ok: false,
      status: 429,
      code: 'TOO_MANY_REQUESTS',
      message: 'too many concurrent logins for this user; try again in a few seconds',
      retryAfterSeconds: 5,
    });
    expect(names[0]).toMatch(/^registry-login:[0-9a-f]{32}$/);
    // the lock name depends on user and address
    await busy.login.login({ username: 'hg-a', password: 'right' }, '10.0.0.6');
    await busy.login.login({ username: 'hg-b', password: 'right' }, '10.0.0.5');
    await busy.login.login({ username: 'hg-a', password: 'right' }, undefined);
    expect(new Set(names).size).toBe(4);
    const broken = setup({
      lock: async () => {
        throw new AppError('unavailable', 'redis down');
      },
    });
    await expect(broken.login.login({ username: 'hg-a', password: 'right' }, '10.0.0.5')).rejects.toMatchObject({ kind: 'unavailable' });
  });

  it('without a shared lock, parallel logins of one user+address are checked one at a time: one Harbor check for ten right ones', async () => {
    const { login, checks } = setup();
    const results = await Promise.all(Array.from({ length: 10 }, () => login.login({ username: 'hg-a', password: 'right' }, '10.0.0.7')));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(checks()).toBe(1);
    expect(results.filter((r) => r.ok && !r.cached)).toHaveLength(1);
  });

  it('a failed check does not block the next one in the chain', async () => {
    let calls = 0;
    const { login } = setup({
      verify: async () => {
        calls++;
        if (calls === 1) throw new Error('boom');
        return { name: 'robot$hg-a' };
      },
    });
    const [a, b] = await Promise.all([login.login({ username: 'hg-a', password: 'p' }, 'x'), login.login({ username: 'hg-a', password: 'p' }, 'x')]);
    expect(a).toMatchObject({ ok: false, status: 502 });
    expect(b).toEqual({ ok: true, robotName: 'robot$hg-a', cached: false });
  });

  it('robotName is the robot prefix plus the username', () => {
    expect(setup().login.robotName('hg-team')).toBe('robot$hg-team');
  });

  it('a wrong password is counted in hubgate_login_failures_total as bad_credentials', async () => {
    const { login, deps } = setup();
    await login.login({ username: 'hg-a', password: 'wrong' }, '10.0.0.2');
    await login.login({ username: 'admin', password: 'x' }, '10.0.0.2');
    expect((await deps.metrics.loginFailures.get()).values.map((v) => [v.labels, v.value])).toEqual([
      [{ reason: 'bad_credentials' }, 1],
      [{ reason: 'unknown_user' }, 1],
    ]);
  });

  it('Harbor unavailable: the warning carries the error', async () => {
    const logged: [string, unknown][] = [];
    const down = new AppError('upstream_unavailable', 'down');
    const logger: Logger = { ...silentLogger, warn: (m, meta) => logged.push([m, meta]) };
    const { login } = setup({
      logger,
      verify: async () => {
        throw down;
      },
    });
    await login.login({ username: 'hg-a', password: 'right' }, '10.0.0.4');
    expect(logged).toEqual([['registry login could not be checked: Harbor unavailable', { error: down }]]);
  });

  it('the shared lock: named after sha256(user NUL address) (the same name on every replica and version), held 30 s at most, waited for 15 s at most', async () => {
    const calls: [string, unknown][] = [];
    const { login } = setup({
      lock: (name, fn, opts) => {
        calls.push([name, opts]);
        return fn();
      },
    });
    const name = (u: string, a: string) => `registry-login:${createHash('sha256').update(`${u}\0${a}`).digest('hex').slice(0, 32)}`;
    await login.login({ username: 'hg-a', password: 'wrong' }, '10.0.0.5');
    await login.login({ username: 'hg-a', password: 'wrong' }, undefined);
    // "hg-ab" from "c" and "hg-a" from "bc": the separator keeps them apart.
    await login.login({ username: 'hg-ab', password: 'wrong' }, 'c');
    await login.login({ username: 'hg-a', password: 'wrong' }, 'bc');
    const opts = { ttlMs: 30_000, waitMs: 15_000 };
    expect(calls).toEqual([
      [name('hg-a', '10.0.0.5'), opts],
      [name('hg-a', ''), opts],
      [name('hg-ab', 'c'), opts],
      [name('hg-a', 'bc'), opts],
    ]);
    expect(name('hg-ab', 'c')).not.toBe(name('hg-a', 'bc'));
  });

  it('a login the cache vouches for does not take the shared lock', async () => {
    let locks = 0;
    const { login } = setup({
      lock: (_name, fn) => {
        locks++;
        return fn();
      },
    });
    await login.login({ username: 'hg-a', password: 'right' }, '10.0.0.5');
    expect(await login.login({ username: 'hg-a', password: 'right' }, '10.0.0.5')).toEqual({ ok: true, robotName: 'robot$hg-a', cached: true });
    expect(locks).toBe(1);
  });

  it('without a shared lock: a login arriving after the first of two queued checks ended still waits for the second', async () => {
    const pending: (() => void)[] = [];
    let inFlight = 0;
    let most = 0;
    const { login } = setup({
      verify: async () => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise<void>((r) => pending.push(r));
        inFlight--;
        return undefined;
      },
    });
    const flush = () => new Promise((r) => setImmediate(r));
    const creds = { username: 'hg-a', password: 'wrong' };
    const first = login.login(creds, '10.0.0.8');
    const second = login.login(creds, '10.0.0.8');
    await flush();
    expect(pending).toHaveLength(1);
    pending.shift()!();
    await first;
    await flush();
    expect(pending).toHaveLength(1);
    const third = login.login(creds, '10.0.0.8');
    await flush();
    expect([pending.length, most]).toEqual([1, 1]);
    pending.shift()!();
    await second;
    await flush();
    pending.shift()!();
    await third;
    expect(most).toBe(1);
  });

  it('without a shared lock: a finished chain of checks is forgotten (no entry kept per user and address)', async () => {
    const { login } = setup();
    await Promise.all([login.login({ username: 'hg-a', password: 'wrong' }, '10.0.0.9'), login.login({ username: 'hg-b', password: 'wrong' }, '10.0.0.9')]);
    await new Promise((r) => setImmediate(r));
    expect(login['localChains'].size).toBe(0);
  });
});
