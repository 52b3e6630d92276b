import { AppError } from '../../../src/domain/errors';
import { CredentialsService, formatMarker, keyFingerprint, parseMarker } from '../../../src/domain/credentials.service';
import { createMetrics } from '../../../src/observability/metrics';
import { HarborMonitor } from '../../../src/observability/harbor-monitor';
import { registryUsername } from '../../../src/domain/names';
import { createLogger, silentLogger } from '../../../src/observability/logger';
import { createInProcessCoordination } from '../../../adapters/redis/redis.coordination';
import { FakeHarbor } from '../../support/fake-harbor';
import { mapCache } from '../../support/map-cache';

const team = { id: 'proj-a', name: 'Team A', department: 'dept-1' };
/** Fake timers for Date alone (timers and I/O stay real): only the clock is under the test's control. */
const ONLY_THE_CLOCK = {
  doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'],
} satisfies Parameters<typeof jest.useFakeTimers>[0];
afterEach(() => jest.useRealTimers());

function setup(secret = 's'.repeat(32)) {
  const harbor = new FakeHarbor();
  const credentials = new CredentialsService({
    harbor,
    coordination: createInProcessCoordination(),
    logger: silentLogger,
    secret,
    usernamePrefix: 'hg-',
    robotPrefix: 'robot$',
  });
  return { harbor, credentials };
}

describe('registry usernames', () => {
  it('are shell-safe and distinct for distinct project ids', () => {
    const ids = ['proj-a', 'Proj A', 'proj a', 'x/y$z', '42', 'ÄÖÜ', ''.padEnd(60, 'a')];
    const names = ids.map((id) => registryUsername('hg-', id));
    for (const n of names) expect(n).toMatch(/^hg-[a-z0-9]+(-[a-z0-9]+)*$/);
    expect(new Set(names).size).toBe(ids.length);
    expect(registryUsername('hg-', 'proj-a')).toBe('hg-proj-a');
  });
});

describe('per-project credentials', () => {
  it('are created with the first workspace and set as the robot secret in Harbor', async () => {
    const { harbor, credentials } = setup();
    await expect(credentials.get(team)).rejects.toMatchObject({
      kind: 'conflict',
      message: 'project "proj-a" has no workspace yet: its registry credentials are created with its first workspace',
    });
    await credentials.grantWorkspace(team, 'ws1');
    const c = await credentials.get(team);
    expect(c.username).toBe('hg-proj-a');
    expect(c.password).toMatch(/^[A-Za-z0-9]{35}$/);
    expect(c.password).toMatch(/[A-Z]/);
    expect(c.password).toMatch(/[a-z]/);
    expect(c.password).toMatch(/[0-9]/);
    const robot = [...harbor.robots.values()][0];
    expect(robot.name).toBe('robot$hg-proj-a');
    expect(harbor.secrets.get(robot.id)).toBe(c.password);
    expect(parseMarker(robot.description)).toEqual({ v: 1, project: 'proj-a', name: 'Team A', department: 'dept-1', gen: 1, key: keyFingerprint('s'.repeat(32)) });
  });

  it('are the same from another instance (no local state) and differ with another key', async () => {
    const { harbor, credentials } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    const again = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: 's'.repeat(32), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    expect((await again.get(team)).password).toBe((await credentials.get(team)).password);
    const other = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: 't'.repeat(32), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    // Another key cannot know the password: it says so (503) instead of showing one Harbor refuses.
    await expect(other.get(team)).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining('another credential secret') });
    const told = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: 't'.repeat(32), previousSecrets: ['s'.repeat(32)], usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    const first = await credentials.get(team);
    const healed = await told.get(team);
    expect(healed.password).not.toBe(first.password);
    expect(harbor.secrets.get([...harbor.robots.keys()][0])).toBe(healed.password);
    // Now the first key is the foreign one.
    await expect(credentials.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
  });

  it('a made-up registry username costs one robot search per 10 s, and never hides a project created here', async () => {
    const { harbor, credentials } = setup();
    const clock = jest.spyOn(Date, 'now');
    let t = 1_000_000;
    clock.mockImplementation(() => t);
    try {
      for (let i = 0; i < 20; i++) expect(await credentials.verify('hg-proj-a', 'whatever-password')).toBeNull();
      expect(harbor.calls.filter((c) => c === 'listRobots')).toHaveLength(1);
      t += 10_001;
      expect(await credentials.verify('hg-proj-a', 'whatever-password')).toBeNull();
      expect(harbor.calls.filter((c) => c === 'listRobots')).toHaveLength(2);
      // The project is created on this replica right after: its login works at once.
      await credentials.grantWorkspace(team, 'ws1');
      const c = await credentials.get(team);
      expect(await credentials.verify(c.username, c.password)).not.toBeNull();
    } finally {
      clock.mockRestore();
    }
  });

  it('rotation: the new password is set in Harbor, the old one stops verifying', async () => {
    const { harbor, credentials } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    const before = await credentials.get(team);
    const after = await credentials.rotate(team);
    expect(after.password).not.toBe(before.password);
    const robot = [...harbor.robots.values()][0];
    expect(harbor.secrets.get(robot.id)).toBe(after.password);
    expect(await credentials.verify('hg-proj-a', after.password)).not.toBeNull();
    expect(await credentials.verify('hg-proj-a', before.password)).toBeNull();
    expect(await credentials.verify('hg-proj-a', after.password.slice(0, -1))).toBeNull();
    expect(await credentials.verify('hg-nobody', after.password)).toBeNull();
    expect(robot.permissions.map((p) => p.namespace)).toEqual(['ws1']);
    expect(robot.duration).toBe(-1);
  });

  it('an interrupted rotation (secret not set) is completed by the next read', async () => {
    const { harbor, credentials } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    harbor.failNext('setRobotSecret', () => new AppError('upstream_timeout', 'slow'));
    await expect(credentials.rotate(team)).rejects.toMatchObject({ kind: 'upstream_timeout' });
    expect(parseMarker([...harbor.robots.values()][0].description)?.pending).toBe(true);
    const shown = await credentials.get(team);
    const robot = [...harbor.robots.values()][0];
    expect(harbor.secrets.get(robot.id)).toBe(shown.password);
    expect(parseMarker(robot.description)).toMatchObject({ gen: 2 });
    expect(parseMarker(robot.description)?.pending).toBeUndefined();
  });

  it('keeps every permission under concurrent grants even though Harbor PUT has no version check', async () => {
    const { harbor, credentials } = setup();
    harbor.latencyMs = 3;
    await Promise.all(Array.from({ length: 20 }, (_, i) => credentials.grantWorkspace(team, `w${i}`)));
    const robot = [...harbor.robots.values()][0];
    expect(robot.permissions.map((p) => p.namespace).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `w${i}`).sort());
  });

  it('detects a lost update by a writer that bypasses the lock and repairs it', async () => {
    const { harbor, credentials } = setup();
    await credentials.grantWorkspace(team, 'w1');
    const id = [...harbor.robots.keys()][0];
    const stale = structuredClone(harbor.robots.get(id)!);
    // A stale writer (another replica without a shared lock) PUTs its old snapshot right after our PUT.
    const original = harbor.updateRobot.bind(harbor);
    let injected = false;
    harbor.updateRobot = async (r) => {
      await original(r);
      if (!injected) {
        injected = true;
        await original(stale);
      }
    };
    await credentials.grantWorkspace(team, 'w2');
    expect(harbor.robots.get(id)!.permissions.map((p) => p.namespace).sort()).toEqual(['w1', 'w2']);
  });
});

/**
 * A changed HUBGATE_CREDENTIAL_SECRET (after a leak, or a replica deployed with another one). The robot's marker
 * carries the fingerprint of the key that set its secret; "Harbor accepts" means FakeHarbor holds that password.
 */
describe('a changed credential secret', () => {
  const OLD = 'o'.repeat(32);
  const NEW = 'n'.repeat(32);
  const STRAY = 'w'.repeat(32);

  function replica(harbor: FakeHarbor, secret: string, previousSecrets: string[] = [], extra: { mismatchTtlMs?: number } = {}) {
    const metrics = createMetrics({ defaultMetrics: false });
    const credentials = new CredentialsService({
      harbor,
      coordination: createInProcessCoordination(),
      logger: silentLogger,
      metrics,
      secret,
      previousSecrets,
      usernamePrefix: 'hg-',
      robotPrefix: 'robot$',
      ...extra,
    });
    const gauge = async () => (await metrics.registry.getSingleMetric('hubgate_credential_key_mismatch')!.get()).values[0]?.value;
    const heals = async () => (await metrics.registry.getSingleMetric('hubgate_credential_key_heals_total')!.get()).values[0]?.value;
    return { credentials, metrics, gauge, heals };
  }

  async function withOldKey() {
    const harbor = new FakeHarbor();
    const old = replica(harbor, OLD);
    await old.credentials.grantWorkspace(team, 'ws1');
    await old.credentials.grantWorkspace(team, 'ws2');
    const before = await old.credentials.get(team);
    const robot = () => [...harbor.robots.values()][0];
    return { harbor, old, before, robot };
  }

  it('heals on the next read when the old secret is listed as retired: the shown password is the one Harbor holds', async () => {
    const { harbor, before, robot } = await withOldKey();
    expect(harbor.secrets.get(robot().id)).toBe(before.password);
    const fresh = replica(harbor, NEW, [OLD]);
    const shown = await fresh.credentials.get(team);
    expect(shown.password).not.toBe(before.password);
    expect(harbor.secrets.get(robot().id)).toBe(shown.password);
    expect(await fresh.credentials.verify('hg-proj-a', shown.password)).not.toBeNull();
    expect(await fresh.credentials.verify('hg-proj-a', before.password)).toBeNull();
    // Nothing else moved: same generation, same workspaces; the marker names the new key.
    expect(parseMarker(robot().description)).toEqual({ v: 1, project: 'proj-a', name: 'Team A', department: 'dept-1', gen: 1, key: keyFingerprint(NEW) });
    expect(robot().permissions.map((p) => p.namespace)).toEqual(['ws1', 'ws2']);
    expect(await fresh.heals()).toBe(1);
    expect(fresh.credentials.keyStatus().ok).toBe(true);
    // A second read changes nothing more.
    harbor.calls.length = 0;
    expect((await fresh.credentials.get(team)).password).toBe(shown.password);
    expect(harbor.calls.filter((c) => c === 'setRobotSecret' || c === 'updateRobot')).toEqual([]);
  });

  it('a retired key may also be given as its fingerprint (what /readyz shows)', async () => {
    const { harbor, robot } = await withOldKey();
    const fresh = replica(harbor, NEW, [keyFingerprint(OLD)]);
    const shown = await fresh.credentials.get(team);
    expect(harbor.secrets.get(robot().id)).toBe(shown.password);
  });

  it('a robot written before fingerprints (no key in its marker) is adopted by the first read, with the new secret', async () => {
    const { harbor, robot, before } = await withOldKey();
    const m = parseMarker(robot().description)!;
    delete m.key;
    robot().description = formatMarker(m);
    const fresh = replica(harbor, NEW);
    const shown = await fresh.credentials.get(team);
    expect(harbor.secrets.get(robot().id)).toBe(shown.password);
    expect(shown.password).not.toBe(before.password);
    expect(parseMarker(robot().description)).toMatchObject({ gen: 1, key: keyFingerprint(NEW) });
  });

  it('rolling upgrade: an older replica (same secret) that rewrites markers without a key is not fought', async () => {
    const harbor = new FakeHarbor();
    const { credentials, heals } = replica(harbor, OLD);
    await credentials.grantWorkspace(team, 'ws1');
    const robot = () => [...harbor.robots.values()][0];
    const dropKey = () => {
      const m = parseMarker(robot().description)!;
      delete m.key;
      robot().description = formatMarker(m);
    };
    dropKey(); // written before fingerprints
    const password = (await credentials.get(team)).password; // adopted once: same secret, same password
    expect(await heals()).toBe(1);
    expect(parseMarker(robot().description)?.key).toBe(keyFingerprint(OLD));
    dropKey(); // an older replica rewrote it
    harbor.calls.length = 0;
    for (let i = 0; i < 3; i++) {
      expect((await credentials.get(team)).password).toBe(password);
      expect(await credentials.verify('hg-proj-a', password)).not.toBeNull();
      dropKey();
    }
    expect(harbor.calls.filter((c) => c === 'setRobotSecret')).toEqual([]);
    expect(harbor.secrets.get(robot().id)).toBe(password);
    expect(credentials.keyStatus().ok).toBe(true);
  });

  it('a login with the new derived password heals the robot; a wrong password changes nothing', async () => {
    const { harbor, before, robot } = await withOldKey();
    const fresh = replica(harbor, NEW, [OLD]);
    // The password the new key derives, computed without reading the credentials (which would heal).
    const newPassword = fresh.credentials.derivePassword(robot(), 1);
    const description = robot().description;
    harbor.calls.length = 0;
    for (const wrong of [before.password, newPassword.slice(0, -1), newPassword.slice(0, -1) + 'x', '', 'p'.repeat(35)]) {
      expect(await fresh.credentials.verify('hg-proj-a', wrong)).toBeNull();
    }
    expect(harbor.calls.filter((c) => c === 'setRobotSecret' || c === 'updateRobot' || c === 'createRobot')).toEqual([]);
    expect(robot().description).toBe(description);
    expect(harbor.secrets.get(robot().id)).toBe(before.password);

    const ok = await fresh.credentials.verify('hg-proj-a', newPassword);
    expect(ok?.name).toBe('robot$hg-proj-a');
    expect(harbor.secrets.get(robot().id)).toBe(newPassword);
    expect(parseMarker(robot().description)).toMatchObject({ gen: 1, key: keyFingerprint(NEW) });
    expect(await fresh.credentials.verify('hg-proj-a', before.password)).toBeNull();
  });

  it('a login completes an interrupted rotation only with the new password', async () => {
    const harbor = new FakeHarbor();
    const { credentials } = replica(harbor, NEW);
    await credentials.grantWorkspace(team, 'ws1');
    const old = await credentials.get(team);
    harbor.failNext('setRobotSecret', () => new AppError('upstream_timeout', 'slow'));
    await expect(credentials.rotate(team)).rejects.toMatchObject({ kind: 'upstream_timeout' });
    const robot = () => [...harbor.robots.values()][0];
    const next = credentials.derivePassword(robot(), 2);
    expect(await credentials.verify('hg-proj-a', old.password)).toBeNull();
    expect(parseMarker(robot().description)?.pending).toBe(true);
    expect(harbor.secrets.get(robot().id)).toBe(old.password);
    expect(await credentials.verify('hg-proj-a', next)).not.toBeNull();
    expect(harbor.secrets.get(robot().id)).toBe(next);
    expect(parseMarker(robot().description)?.pending).toBeUndefined();
  });

  it('concurrent reads and logins after a key change re-set the secret once', async () => {
    const { harbor, robot } = await withOldKey();
    harbor.latencyMs = 3;
    const fresh = replica(harbor, NEW, [OLD]);
    const password = fresh.credentials.derivePassword(robot(), 1);
    harbor.calls.length = 0;
    const results = await Promise.all([
      ...Array.from({ length: 8 }, () => fresh.credentials.get(team).then((c) => c.password)),
      ...Array.from({ length: 8 }, () => fresh.credentials.verify('hg-proj-a', password).then((r) => (r ? password : 'refused'))),
    ]);
    expect(new Set(results)).toEqual(new Set([password]));
    expect(harbor.calls.filter((c) => c === 'setRobotSecret')).toHaveLength(1);
    expect(harbor.secrets.get(robot().id)).toBe(password);
  });

  it('a replica with an unknown secret leaves the robot alone: 503 to show, check or rotate, /readyz degraded, gauge 1', async () => {
    const { harbor, before, robot, old } = await withOldKey();
    const stray = replica(harbor, STRAY);
    const description = robot().description;
    harbor.calls.length = 0;
    await expect(stray.credentials.get(team)).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining(`key ${keyFingerprint(OLD)}`) });
    // A login through it is neither accepted nor counted as wrong: it cannot judge.
    await expect(stray.credentials.verify('hg-proj-a', before.password)).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(stray.credentials.verify('hg-proj-a', stray.credentials.derivePassword(robot(), 1))).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(stray.credentials.rotate(team)).rejects.toMatchObject({ kind: 'unavailable' });
    // Workspaces still work through it; the secret and the key stay.
    await stray.credentials.grantWorkspace(team, 'ws3');
    expect(harbor.calls.filter((c) => c === 'setRobotSecret')).toEqual([]);
    expect(harbor.secrets.get(robot().id)).toBe(before.password);
    expect(parseMarker(robot().description)).toMatchObject({ gen: 1, key: keyFingerprint(OLD) });
    expect(parseMarker(description)?.key).toBe(keyFingerprint(OLD));
    // The fleet is not disturbed.
    expect(await old.credentials.verify('hg-proj-a', before.password)).not.toBeNull();
    expect((await old.credentials.get(team)).password).toBe(before.password);
    // Visible: readiness degraded (not down), the gauge counts the robot.
    const status = stray.credentials.keyStatus();
    expect(status.ok).toBe(false);
    expect(status.detail).toContain(keyFingerprint(OLD));
    expect(status.detail).toContain(keyFingerprint(STRAY));
    expect(await stray.gauge()).toBe(1);
    expect(old.credentials.keyStatus().ok).toBe(true);
    const monitor = new HarborMonitor({
      harbor,
      metrics: stray.metrics,
      logger: silentLogger,
      redisUp: async () => undefined,
      intervalMs: 60000,
      soft: () => ({ credential_key: stray.credentials.keyStatus() }),
    });
    const report = await monitor.readiness();
    expect(report).toMatchObject({ ready: true, degraded: true, checks: { credential_key: { ok: false } } });
  });

  it('a stray replica warns once per foreign key, not once per project, and counts every project', async () => {
    const harbor = new FakeHarbor();
    const old = replica(harbor, OLD);
    for (const id of ['p1', 'p2', 'p3']) await old.credentials.grantWorkspace({ id, name: id, department: 'd' }, `ws-${id}`);
    const logs: string[] = [];
    const metrics = createMetrics({ defaultMetrics: false });
    const stray = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: createLogger('debug', (l) => logs.push(l)), metrics, secret: STRAY, usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    expect((await stray.ownerRecords()).map((r) => r.project.id).sort()).toEqual(['p1', 'p2', 'p3']);
    await stray.ownerRecords();
    const warnings = logs.map((l) => JSON.parse(l) as { level: string; msg: string; key?: string }).filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ key: keyFingerprint(OLD), own_key: keyFingerprint(STRAY) });
    expect((await metrics.registry.getSingleMetric('hubgate_credential_key_mismatch')!.get()).values[0]?.value).toBe(3);
    expect(stray.keyStatus().detail).toMatch(/^3 project credential\(s\) carry a password set with another credential secret/);
  });

  it('a mismatch clears once the robot is seen with this key, or after the TTL', async () => {
    // only the clock is fake: the mismatch cannot expire early on a slow machine
    jest.useFakeTimers(ONLY_THE_CLOCK);
    const { harbor } = await withOldKey();
    const stray = replica(harbor, STRAY, [], { mismatchTtlMs: 50 });
    await expect(stray.credentials.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    jest.setSystemTime(Date.now() + 49);
    expect(stray.credentials.keyStatus().ok).toBe(false);
    jest.setSystemTime(Date.now() + 31);
    expect(stray.credentials.keyStatus().ok).toBe(true);
    expect(await stray.gauge()).toBe(0);
    await expect(stray.credentials.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    // The operator fixes it: the retired key is listed on a fixed replica, which heals; the stray sees its own key.
    const fixed = replica(harbor, STRAY, [OLD], { mismatchTtlMs: 60000 });
    const shown = await fixed.credentials.get(team);
    expect((await stray.credentials.get(team)).password).toBe(shown.password);
    expect(stray.credentials.keyStatus().ok).toBe(true);
  });

  it('two replicas each told the other key is retired do not ping-pong: at most one flip back, then both stay put and one reports it', async () => {
    const { harbor, robot } = await withOldKey();
    const a = replica(harbor, NEW, [OLD, STRAY]);
    const b = replica(harbor, STRAY, [OLD, NEW]);
    harbor.calls.length = 0;
    for (let round = 0; round < 10; round++) {
      await a.credentials.get(team).catch(() => undefined);
      await b.credentials.get(team).catch(() => undefined);
      await a.credentials.verify('hg-proj-a', a.credentials.derivePassword(robot(), 1)).catch(() => undefined);
      await b.credentials.verify('hg-proj-a', b.credentials.derivePassword(robot(), 1)).catch(() => undefined);
    }
    // OLD → NEW (a), NEW → STRAY (b), STRAY → NEW (a), then b sees NEW come back: contested, b stops.
    expect(harbor.calls.filter((c) => c === 'setRobotSecret').length).toBeLessThanOrEqual(3);
    const settled = parseMarker(robot().description)!.key;
    harbor.calls.length = 0;
    for (let round = 0; round < 5; round++) {
      await a.credentials.get(team).catch(() => undefined);
      await b.credentials.get(team).catch(() => undefined);
    }
    expect(harbor.calls.filter((c) => c === 'setRobotSecret')).toEqual([]);
    expect(parseMarker(robot().description)!.key).toBe(settled);
    // The replica whose key lost says so; the winner shows the password Harbor holds.
    const [winner, loser] = settled === keyFingerprint(NEW) ? [a, b] : [b, a];
    expect(harbor.secrets.get(robot().id)).toBe((await winner.credentials.get(team)).password);
    expect(loser.credentials.keyStatus().ok).toBe(false);
    expect(loser.credentials.keyStatus().detail).toContain('still in use by another replica');
    expect(await loser.gauge()).toBe(1);
  });
});

describe('a changed credential secret, with Redis: replicas announce their key', () => {
  const OLD = 'o'.repeat(32);
  const NEW = 'n'.repeat(32);
  const STRAY = 'w'.repeat(32);
  // Only the clock is fake (timers and I/O stay real): "time passes" is exact, so a slow or loaded machine cannot
  // stretch a step past the 40 ms grace period and heal a robot the test expects left alone.
  beforeEach(() => jest.useFakeTimers(ONLY_THE_CLOCK));
  afterEach(() => jest.useRealTimers());
  const sleep = async (ms: number) => jest.setSystemTime(Date.now() + ms);

  function sharedRedis() {
    const entries = new Map<string, unknown>();
    const state = { up: true };
    return {
      entries,
      state,
      cache: mapCache(entries, () => state.up),
    };
  }

  function replica(harbor: FakeHarbor, redis: ReturnType<typeof sharedRedis>, secret: string) {
    const local = createInProcessCoordination();
    return new CredentialsService({
      harbor,
      coordination: { withLock: local.withLock.bind(local), shared: () => redis.state.up },
      liveKeys: redis.cache,
      keyGraceMs: 40,
      logger: silentLogger,
      secret,
      usernamePrefix: 'hg-',
      robotPrefix: 'robot$',
    });
  }

  async function fleet() {
    const harbor = new FakeHarbor();
    const redis = sharedRedis();
    const old = replica(harbor, redis, OLD);
    await old.announce();
    await old.grantWorkspace(team, 'ws1');
    const before = await old.get(team);
    return { harbor, redis, old, before, robot: () => [...harbor.robots.values()][0] };
  }

  it('a secret changed on every replica heals without the list once no replica has announced the old key for the grace period', async () => {
    const { harbor, redis, before, robot } = await fleet();
    const fresh = replica(harbor, redis, NEW);
    await fresh.announce();
    // The old replica is still running (its key announced): not replaced, whatever the wait.
    await expect(fresh.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    await sleep(60);
    await fresh.announce();
    await expect(fresh.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    expect(harbor.secrets.get(robot().id)).toBe(before.password);
    // The last old replica is gone (its announcement expired): after the grace period the robot heals.
    redis.entries.delete(`credential-key:${keyFingerprint(OLD)}`);
    await fresh.announce();
    await expect(fresh.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    await sleep(60);
    await fresh.announce();
    const shown = await fresh.get(team);
    expect(harbor.secrets.get(robot().id)).toBe(shown.password);
    expect(parseMarker(robot().description)).toMatchObject({ gen: 1, key: keyFingerprint(NEW) });
    expect(fresh.keyStatus().ok).toBe(true);

    // A replica with the old key comes back and announces it: the key is live again and no longer replaced.
    const back = replica(harbor, redis, OLD);
    await back.announce();
    await fresh.announce();
    const teamB = { id: 'proj-b', name: 'B', department: 'd' };
    await back.grantWorkspace(teamB, 'wsb');
    const bPassword = (await back.get(teamB)).password;
    harbor.calls.length = 0;
    await sleep(60);
    await expect(fresh.get(teamB)).rejects.toMatchObject({ kind: 'unavailable' });
    expect(harbor.calls.filter((c) => c === 'setRobotSecret')).toEqual([]);
    expect(await back.verify('hg-proj-b', bPassword)).not.toBeNull();
  });

  it('a login with the new derived password heals too, once the old key is unannounced', async () => {
    const { harbor, redis, before, robot } = await fleet();
    redis.entries.clear();
    const fresh = replica(harbor, redis, NEW);
    await fresh.announce();
    const password = fresh.derivePassword(robot(), 1);
    await expect(fresh.verify('hg-proj-a', password)).rejects.toMatchObject({ kind: 'unavailable' });
    await sleep(60);
    expect(await fresh.verify('hg-proj-a', before.password)).toBeNull();
    expect(harbor.secrets.get(robot().id)).toBe(before.password);
    expect(await fresh.verify('hg-proj-a', password)).not.toBeNull();
    expect(harbor.secrets.get(robot().id)).toBe(password);
  });

  it('a stray replica never replaces a key the fleet announces, and nothing is replaced while Redis is down', async () => {
    const { harbor, redis, old, before, robot } = await fleet();
    const stray = replica(harbor, redis, STRAY);
    await stray.announce();
    for (let i = 0; i < 3; i++) {
      await sleep(30);
      await old.announce();
      await stray.announce();
      await expect(stray.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
      await expect(stray.verify('hg-proj-a', stray.derivePassword(robot(), 1))).rejects.toMatchObject({ kind: 'unavailable' });
    }
    // Redis down: the fleet's announcement cannot be seen, which proves nothing.
    redis.state.up = false;
    redis.entries.clear();
    for (let i = 0; i < 3; i++) {
      await sleep(30);
      await stray.announce();
      await expect(stray.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    }
    // Back up, the fleet announces again before the grace period is over.
    redis.state.up = true;
    await stray.announce();
    await stray.get(team).catch(() => undefined);
    await sleep(20);
    await old.announce();
    await sleep(30);
    await stray.announce();
    await expect(stray.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    expect(harbor.secrets.get(robot().id)).toBe(before.password);
    expect((await old.get(team)).password).toBe(before.password);
    expect(stray.keyStatus().ok).toBe(false);
  });
});

describe('key announcements (start, stop, announce)', () => {
  const sets: [string, unknown, number][] = [];
  const cache = {
    get: async () => undefined,
    set: async (k: string, v: unknown, ttl: number) => void sets.push([k, v, ttl]),
    del: async () => undefined,
  };
  const service = (more: Partial<ConstructorParameters<typeof CredentialsService>[0]> = {}) =>
    new CredentialsService({
      harbor: new FakeHarbor(),
      coordination: createInProcessCoordination(),
      logger: silentLogger,
      secret: 's'.repeat(32),
      usernamePrefix: 'hg-',
      robotPrefix: 'robot$',
      liveKeys: cache,
      ...more,
    });
  beforeEach(() => {
    sets.length = 0;
    jest.useFakeTimers();
  });
  afterEach(() => jest.useRealTimers());

  it('announces this key for 3 × the refresh interval (20 s by default: 60 s), at least 1 s', async () => {
    await service().announce();
    expect(sets).toEqual([[`credential-key:${keyFingerprint('s'.repeat(32))}`, 1, 60]]);
    await service({ announceMs: 5_000 }).announce();
    expect(sets[1][2]).toBe(15);
    await service({ announceMs: 100 }).announce();
    expect(sets[2][2]).toBe(1);
  });

  it('start() announces at once and then every interval, once however often it is called; stop() ends it', async () => {
    const s = service({ announceMs: 1_000 });
    s.start();
    s.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(sets).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(sets).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(2_000);
    expect(sets).toHaveLength(4);
    s.stop();
    await jest.advanceTimersByTimeAsync(5_000);
    expect(sets).toHaveLength(4);
    // Started again after a stop: announcing again.
    s.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(sets).toHaveLength(5);
    s.stop();
  });

  it('without a shared cache there is nothing to announce: start() sets no timer', async () => {
    const s = service({ liveKeys: undefined });
    s.start();
    expect(jest.getTimerCount()).toBe(0);
    await s.announce();
    expect(sets).toEqual([]);
  });
});
