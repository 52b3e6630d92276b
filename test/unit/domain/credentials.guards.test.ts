/**
 * Per-project credentials at their edges: a lock lost before the robot is created, the announcement timer,
 * the /readyz detail with several keys, the exact 503 of a foreign key, the bound of the settle waits, the exact
 * Harbor calls of a create, and the life of a key taken for retired because no replica announced it.
 * Written for the Stryker survivors of `credentials.service.ts` (docs/testing.md).
 */
import { CredentialsService, formatMarker, keyFingerprint, parseMarker, WORKSPACE_ACCESS, type CredentialsDeps } from '../../../src/domain/credentials.service';
import { createLogger, silentLogger } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';
import { createInProcessCoordination, createRedisCoordination } from '../../../adapters/redis/redis.coordination';
import type { HarborRobot, RobotPermission } from '../../../src/ports/harbor';
import { AppError } from '../../../src/domain/errors';
import { FakeHarbor } from '../../support/fake-harbor';
import { mapCache } from '../../support/map-cache';

const team = { id: 'proj-a', name: 'Team A', department: 'dept-1' };
const teamB = { id: 'proj-b', name: 'Team B', department: 'dept-2' };
const SECRET = 's'.repeat(32);
const grant = (namespace: string): RobotPermission => ({ kind: 'project', namespace, access: [...WORKSPACE_ACCESS] });

function service(harbor: FakeHarbor, more: Partial<CredentialsDeps> = {}) {
  return new CredentialsService({
    harbor,
    coordination: createInProcessCoordination(),
    logger: silentLogger,
    secret: SECRET,
    usernamePrefix: 'hg-',
    robotPrefix: 'robot$',
    ...more,
  });
}

describe('creating the credentials (the first workspace)', () => {
  it('costs one search, the create, one search and read to find it, the secret, clearing the mark and the read-back', async () => {
    const harbor = new FakeHarbor();
    await service(harbor).grantWorkspace(team, 'ws1');
    expect(harbor.calls).toEqual(['listRobots', 'createRobot', 'listRobots', 'getRobot', 'setRobotSecret', 'updateRobot', 'getRobot']);
  });

  it('a lock that stops being trustworthy before the create: 503 "coordination … lost" with Retry-After, no robot created', async () => {
    const harbor = new FakeHarbor();
    const local = createInProcessCoordination();
    const lost = service(harbor, { coordination: { withLock: (name, fn, opts) => local.withLock(name, () => fn(() => false), opts), shared: () => true } });
    await expect(lost.grantWorkspace(team, 'ws1')).rejects.toMatchObject({
      kind: 'unavailable',
      message: 'coordination between the hubgate replicas was lost during the change; nothing more was written, try again',
      retryAfterSeconds: 5,
    });
    expect(harbor.calls).toEqual(['listRobots']);
    expect(harbor.robots.size).toBe(0);
  });
});

describe('announcing this replica\'s key (start, stop)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function announcing() {
    const sets: string[] = [];
    const cache = {
      get: async <T,>() => undefined as T | undefined,
      set: async (key: string) => void sets.push(key),
      del: async () => undefined,
    };
    return { sets, credentials: service(new FakeHarbor(), { liveKeys: cache, announceMs: 1000 }) };
  }

  it('announces at once and then every period; started twice, it still announces once per period, and stop() ends it', async () => {
    const { sets, credentials } = announcing();
    credentials.start();
    credentials.start();
    expect(sets).toEqual([`credential-key:${credentials.key}`]);
    await jest.advanceTimersByTimeAsync(1000);
    expect(sets).toHaveLength(2);
    credentials.stop();
    await jest.advanceTimersByTimeAsync(5000);
    expect(sets).toHaveLength(2);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('without a shared cache there is nothing to announce: no timer is started', () => {
    service(new FakeHarbor()).start();
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('a robot whose password another credential secret set', () => {
  it('is refused with 503 naming the project, its key and this replica\'s key, and what to fix', async () => {
    const harbor = new FakeHarbor();
    await service(harbor, { secret: 'o'.repeat(32) }).grantWorkspace(team, 'ws1');
    const me = service(harbor);
    await expect(me.get(team)).rejects.toMatchObject({
      kind: 'unavailable',
      message:
        `the registry password of project "proj-a" was set with another credential secret (key ${keyFingerprint('o'.repeat(32))}, this replica's key ${me.key}): ` +
        'this replica can neither show nor check it. The replicas disagree on HUBGATE_CREDENTIAL_SECRET, or the old secret is missing from HUBGATE_CREDENTIAL_SECRET_PREVIOUS',
    });
  });

  it('/readyz lists the foreign keys sorted, whatever order the robots were seen in', async () => {
    const harbor = new FakeHarbor();
    const [late, early] = ['p'.repeat(32), 'c'.repeat(32)];
    expect(keyFingerprint(late) > keyFingerprint(early)).toBe(true);
    await service(harbor, { secret: late }).grantWorkspace(team, 'ws1');
    await service(harbor, { secret: early }).grantWorkspace(teamB, 'ws2');
    const me = service(harbor);
    await me.ownerRecords(); // proj-a's robot (key of `late`) is seen first
    expect(me.keyStatus().detail).toMatch(new RegExp(`^2 project credential\\(s\\) carry a password set with another credential secret \\(key ${keyFingerprint(early)}, ${keyFingerprint(late)}; `));
  });

  it('/readyz lists every retired key found still in use, comma-separated, in the order they were found', async () => {
    const harbor = new FakeHarbor();
    const [first, second] = ['p'.repeat(32), 'c'.repeat(32)];
    await service(harbor, { secret: first }).grantWorkspace(team, 'ws1');
    await service(harbor, { secret: second }).grantWorkspace(teamB, 'ws2');
    const me = service(harbor, { previousSecrets: [first, second] });
    await me.get(team);
    await me.get(teamB);
    // Both retired keys come back on the robots they set: replicas still run with them.
    for (const [id, secret] of [[1, first], [2, second]] as const) {
      const robot = harbor.robots.get(id)!;
      robot.description = formatMarker({ ...parseMarker(robot.description)!, key: keyFingerprint(secret) });
    }
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(me.get(teamB)).rejects.toMatchObject({ kind: 'unavailable' });
    expect(me.keyStatus().detail).toMatch(
      new RegExp(`HUBGATE_CREDENTIAL_SECRET_PREVIOUS; retired key\\(s\\) ${keyFingerprint(first)}, ${keyFingerprint(second)} still in use by another replica$`),
    );
  });
});

describe('a change lost to a concurrent writer', () => {
  it('is retried, each attempt logged with its number, until it holds', async () => {
    const harbor = new FakeHarbor();
    const logs: string[] = [];
    const credentials = service(harbor, { logger: createLogger('debug', (l) => logs.push(l)) });
    await credentials.grantWorkspace(team, 'ws1');
    const stale = structuredClone(harbor.robots.get(1)!);
    const original = harbor.updateRobot.bind(harbor);
    let undone = 0;
    harbor.updateRobot = async (r: HarborRobot) => {
      await original(r);
      if (undone++ < 2) await original(structuredClone(stale)); // the first two PUTs are undone at once
    };
    await credentials.grantWorkspace(team, 'ws2');
    const lost = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 'warn');
    expect(lost.map((l) => [l.msg, l.robot_id, l.attempt])).toEqual([
      ['robot update lost to a concurrent writer; retrying', 1, 1],
      ['robot update lost to a concurrent writer; retrying', 1, 2],
    ]);
    expect(harbor.robots.get(1)!.permissions).toEqual([grant('ws1'), grant('ws2')]);
  });
});

describe('without a lock spanning replicas (settle waits)', () => {
  it('a change lost in every settle wait is redone three times, no more, and then left as written', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const harbor = new FakeHarbor();
    const credentials = service(harbor, { metrics, settleMs: 1 });
    await credentials.grantWorkspace(team, 'ws1');
    const stale = structuredClone(harbor.robots.get(1)!);
    const read = harbor.getRobot.bind(harbor);
    let looks = 0;
    harbor.getRobot = async (id: number) => {
      // The settle wait's look follows a PUT and its read-back: a stale replica has just PUT its old snapshot.
      if (harbor.calls.slice(-2).join() === 'updateRobot,getRobot') {
        looks++;
        harbor.robots.set(id, structuredClone(stale));
      }
      return read(id);
    };
    await credentials.grantWorkspace(team, 'ws2');
    expect(looks).toBe(3);
    expect((await metrics.registry.getSingleMetric('hubgate_robot_update_retries_total')!.get()).values[0]?.value).toBe(3);
    expect(harbor.robots.get(1)!.permissions).toEqual([grant('ws1'), grant('ws2')]);
  });
});

describe('without a lock spanning replicas: what a stale writer undoes in the settle wait is put back', () => {
  /** Harbor where, at the first settle look (the read right after a PUT's read-back), a stale replica PUTs `snapshot`. */
  function staleOnce(harbor: FakeHarbor, snapshot: () => HarborRobot) {
    const read = harbor.getRobot.bind(harbor);
    let looks = 0;
    harbor.getRobot = async (id: number) => {
      if (looks === 0 && harbor.calls.slice(-2).join() === 'updateRobot,getRobot') {
        looks++;
        harbor.robots.set(id, structuredClone(snapshot()));
      }
      return read(id);
    };
    return () => looks;
  }

  it('a rotation undone (the old generation PUT back): redone, and the password shown is the one Harbor holds', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const harbor = new FakeHarbor();
    const credentials = service(harbor, { metrics, settleMs: 1 });
    await credentials.grantWorkspace(team, 'ws1');
    const before = await credentials.get(team);
    const stale = structuredClone(harbor.robots.get(1)!);
    const looks = staleOnce(harbor, () => stale);
    const shown = await credentials.rotate(team);
    expect(looks()).toBe(1);
    expect(shown.password).not.toBe(before.password);
    expect(harbor.secrets.get(1)).toBe(shown.password);
    expect(parseMarker(harbor.robots.get(1)!.description)).toMatchObject({ gen: 2, key: keyFingerprint(SECRET) });
    expect(parseMarker(harbor.robots.get(1)!.description)!.pending).toBeUndefined();
    expect(await credentials.get(team)).toEqual(shown);
    expect(await credentials.verify('hg-proj-a', shown.password)).not.toBeNull();
    expect(await credentials.verify('hg-proj-a', before.password)).toBeNull();
    expect((await metrics.registry.getSingleMetric('hubgate_robot_update_retries_total')!.get()).values[0]?.value).toBe(1);
  });

  it('a settle look that finds what was written redoes nothing: one rotation, no retry, no second write', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const harbor = new FakeHarbor();
    const credentials = service(harbor, { metrics, settleMs: 1 });
    await credentials.grantWorkspace(team, 'ws1');
    harbor.calls.length = 0;
    const shown = await credentials.rotate(team);
    // rotate: find (search, read), under the lock find again, mark pending, secret, clear the mark, read-back, the
    // settle look; then get: find.
    expect(harbor.calls).toEqual(['listRobots', 'getRobot', 'listRobots', 'getRobot', 'updateRobot', 'setRobotSecret', 'updateRobot', 'getRobot', 'getRobot', 'listRobots', 'getRobot']);
    expect(harbor.secrets.get(1)).toBe(shown.password);
    expect((await metrics.registry.getSingleMetric('hubgate_robot_update_retries_total')!.get()).values[0]?.value).toBe(0);
  });

  it('a completed rotation whose pending mark is PUT back (same generation): redone, the mark cleared, the password unchanged', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const harbor = new FakeHarbor();
    const credentials = service(harbor, { metrics, settleMs: 1 });
    await credentials.grantWorkspace(team, 'ws1');
    // A rotation interrupted after its mark: generation 2, pending.
    const robot = harbor.robots.get(1)!;
    robot.description = formatMarker({ ...parseMarker(robot.description)!, gen: 2, pending: true });
    const interrupted = structuredClone(robot);
    const looks = staleOnce(harbor, () => interrupted);
    const shown = await credentials.get(team);
    expect(looks()).toBe(1);
    expect(parseMarker(harbor.robots.get(1)!.description)).toMatchObject({ gen: 2 });
    expect(parseMarker(harbor.robots.get(1)!.description)!.pending).toBeUndefined();
    expect(harbor.secrets.get(1)).toBe(shown.password);
    expect(shown.password).toBe(credentials.derivePassword(harbor.robots.get(1)!, 2));
    expect((await metrics.registry.getSingleMetric('hubgate_robot_update_retries_total')!.get()).values[0]?.value).toBe(1);
  });

  it('a heal undone (the description without a marker PUT back): redone, no 500, and the password shown works', async () => {
    const harbor = new FakeHarbor();
    const credentials = service(harbor, { settleMs: 1 });
    await credentials.grantWorkspace(team, 'ws1');
    // Someone cleared the description in Harbor's UI; a replica still holds that snapshot.
    harbor.robots.get(1)!.description = '';
    const stripped = structuredClone(harbor.robots.get(1)!);
    const looks = staleOnce(harbor, () => stripped);
    const shown = await credentials.get(team);
    expect(looks()).toBe(1);
    expect(harbor.secrets.get(1)).toBe(shown.password);
    expect(parseMarker(harbor.robots.get(1)!.description)).toMatchObject({ project: 'proj-a', gen: 1 });
    expect(shown.workspaces).toEqual(['ws1']);
  });

  it('a newer generation another replica wrote meanwhile is kept, not lowered', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const harbor = new FakeHarbor();
    const credentials = service(harbor, { metrics, settleMs: 1 });
    await credentials.grantWorkspace(team, 'ws1');
    const other = service(harbor);
    let rotated = false;
    const read = harbor.getRobot.bind(harbor);
    harbor.getRobot = async (id: number) => {
      if (!rotated && harbor.calls.slice(-2).join() === 'updateRobot,getRobot') {
        rotated = true;
        await other.rotate(team);
      }
      return read(id);
    };
    const shown = await credentials.rotate(team);
    expect(rotated).toBe(true);
    expect((await metrics.registry.getSingleMetric('hubgate_robot_update_retries_total')!.get()).values[0]?.value).toBe(0);
    expect(parseMarker(harbor.robots.get(1)!.description)!.gen).toBe(3);
    expect(harbor.secrets.get(1)).toBe(shown.password);
  });
});

describe('a key no replica announces (Redis shared, fake clock)', () => {
  const OLD = 'o'.repeat(32);
  const RETIRED = 'credential key announced by no replica: treated as retired, its robots get this key\'s passwords';
  let t: number;
  let clock: jest.SpyInstance;
  beforeEach(() => {
    t = 10_000_000;
    clock = jest.spyOn(Date, 'now').mockImplementation(() => t);
  });
  afterEach(() => clock.mockRestore());

  function world() {
    const harbor = new FakeHarbor();
    const entries = new Map<string, unknown>();
    const cache = mapCache(entries);
    const local = createInProcessCoordination();
    const logs: string[] = [];
    const replica = (secret: string, more: Partial<CredentialsDeps> = {}) =>
      service(harbor, {
        coordination: { withLock: local.withLock.bind(local), shared: () => true },
        liveKeys: cache,
        keyGraceMs: 1000,
        logger: createLogger('debug', (l) => logs.push(l)),
        secret,
        ...more,
      });
    const lines = () => logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    return { harbor, entries, replica, lines };
  }

  it("only a foreign key is looked up: a read or login of a robot set with this replica's key, or with a marker from before key fingerprints, reads no announcement", async () => {
    const w = world();
    const reads: string[] = [];
    const cache = mapCache(w.entries);
    const watched = { ...cache, get: async <T,>(key: string) => (reads.push(key), cache.get<T>(key)) };
    const me = w.replica(SECRET, { liveKeys: watched });
    await me.grantWorkspace(team, 'ws1');
    const { password } = await me.get(team);
    expect(await me.verify('hg-proj-a', password)).not.toBeNull();
    // A marker without a key (written before fingerprints): healed with this replica's key, nothing looked up.
    const remark = (key: string | undefined) => {
      const robot = w.harbor.robots.get(1)!;
      robot.description = formatMarker({ ...parseMarker(robot.description)!, key });
    };
    remark(undefined);
    expect((await me.get(team)).password).toBe(password);
    expect(await me.verify('hg-proj-a', password)).not.toBeNull();
    expect(reads).toEqual([]);
    // A foreign key is looked up, by a read and by a login.
    remark(keyFingerprint(OLD));
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(me.verify('hg-proj-a', password)).rejects.toMatchObject({ kind: 'unavailable' });
    expect(reads).toEqual([`credential-key:${keyFingerprint(OLD)}`, `credential-key:${keyFingerprint(OLD)}`]);
  });

  it('is taken for retired once, with one warning, however many announcement rounds follow', async () => {
    const w = world();
    await w.replica(OLD, { liveKeys: undefined }).grantWorkspace(team, 'ws1');
    const me = w.replica(SECRET);
    await me.announce();
    await me.ownerRecords(); // OLD met on proj-a's robot
    await me.announce(); // OLD unannounced since now
    t += 1000;
    for (let round = 0; round < 3; round++) await me.announce();
    expect(w.lines().filter((l) => l.msg === RETIRED)).toEqual([expect.objectContaining({ level: 'warn', key: keyFingerprint(OLD), own_key: me.key })]);
  });

  it('is never taken for retired by a replica whose own announcements have not got through', async () => {
    const w = world();
    await w.replica(OLD, { liveKeys: undefined }).grantWorkspace(team, 'ws1');
    const me = w.replica(SECRET); // never announces
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    t += 5000;
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    expect(w.lines().filter((l) => l.msg === RETIRED)).toEqual([]);
  });

  it('once found still in use after this replica replaced it, is never taken for retired again, even after it was announced again and then went silent', async () => {
    const w = world();
    const old = w.replica(OLD);
    await old.grantWorkspace(team, 'ws1');
    w.entries.clear(); // the replica with OLD is gone
    const me = w.replica(SECRET);
    await me.announce();
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    t += 1000;
    await me.get(team); // OLD retired (unannounced), proj-a's robot re-set with this key
    const robot = [...w.harbor.robots.values()][0] as HarborRobot;
    robot.description = formatMarker({ ...parseMarker(robot.description)!, key: keyFingerprint(OLD) }); // OLD is back
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    await old.announce();
    await me.announce(); // announced again: no longer retired
    w.entries.delete(`credential-key:${keyFingerprint(OLD)}`); // and gone again
    for (let round = 0; round < 3; round++) {
      t += 1000;
      await me.announce();
    }
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    expect(w.lines().filter((l) => l.msg === RETIRED)).toHaveLength(1);
  });
});

describe('a change whose lock stops being trustworthy half-way (503 "coordination … lost", nothing more written)', () => {
  const WRITES = ['createRobot', 'updateRobot', 'setRobotSecret', 'deleteRobot'];
  /** A lock that holds for the first `good` checks only. */
  async function rotateLosingLockAfter(good: number) {
    const harbor = new FakeHarbor();
    await service(harbor).grantWorkspace(team, 'ws1');
    const local = createInProcessCoordination();
    let checks = 0;
    const lost = service(harbor, { coordination: { withLock: (name, fn, opts) => local.withLock(name, () => fn(() => ++checks <= good), opts), shared: () => true } });
    harbor.calls.length = 0;
    await expect(lost.rotate(team)).rejects.toMatchObject({
      kind: 'unavailable',
      message: 'coordination between the hubgate replicas was lost during the change; nothing more was written, try again',
      retryAfterSeconds: 5,
    });
    return { writes: harbor.calls.filter((c) => WRITES.includes(c)), marker: parseMarker(harbor.robots.get(1)!.description) };
  }

  it('before the PUT: nothing is written', async () => {
    const { writes, marker } = await rotateLosingLockAfter(0);
    expect(writes).toEqual([]);
    expect(marker).toEqual({ v: 1, project: 'proj-a', name: 'Team A', department: 'dept-1', gen: 1, key: keyFingerprint(SECRET) });
  });

  it('before the secret is set: the new generation stays marked pending, no secret is set', async () => {
    const { writes, marker } = await rotateLosingLockAfter(1);
    expect(writes).toEqual(['updateRobot']);
    expect(marker).toMatchObject({ gen: 2, pending: true });
  });

  it('before the pending mark is cleared: the secret is set, the mark stays for the next touch', async () => {
    const { writes, marker } = await rotateLosingLockAfter(2);
    expect(writes).toEqual(['updateRobot', 'setRobotSecret']);
    expect(marker).toMatchObject({ gen: 2, pending: true });
  });

  it('a grant while Redis is configured but unreachable: 503, nothing written (the robot lock is required)', async () => {
    const harbor = new FakeHarbor();
    await service(harbor).grantWorkspace(team, 'ws1');
    const coordination = createRedisCoordination({ redisUrl: 'redis://127.0.0.1:1', commandTimeoutMs: 100 });
    try {
      harbor.calls.length = 0;
      await expect(service(harbor, { coordination }).grantWorkspace(team, 'ws2')).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining('redis unreachable') });
      expect(harbor.calls.filter((c) => WRITES.includes(c))).toEqual([]);
    } finally {
      await coordination.close();
    }
  });
});

describe('re-setting secrets other keys set (heals)', () => {
  it('a robot written before fingerprints is re-set and logged with old key "none"', async () => {
    const harbor = new FakeHarbor();
    await service(harbor).grantWorkspace(team, 'ws1');
    const robot = harbor.robots.get(1)!;
    const m = parseMarker(robot.description)!;
    delete m.key;
    robot.description = formatMarker(m);
    const logs: string[] = [];
    await service(harbor, { logger: createLogger('debug', (l) => logs.push(l)) }).get(team);
    expect(logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 'info')).toEqual([
      expect.objectContaining({ msg: 'project credentials re-set with this replica\'s credential secret', robot_id: 1, old_key: 'none', key: keyFingerprint(SECRET) }),
    ]);
  });

  it('every retired key replaced on a robot is remembered: an older one coming back after a newer one was replaced is left alone (503)', async () => {
    const harbor = new FakeHarbor();
    const [older, newer] = ['p'.repeat(32), 'c'.repeat(32)];
    await service(harbor, { secret: older }).grantWorkspace(team, 'ws1');
    const me = service(harbor, { previousSecrets: [older, newer] });
    await me.get(team); // replaces `older`
    const setKey = (secret: string) => {
      const robot = harbor.robots.get(1)!;
      robot.description = formatMarker({ ...parseMarker(robot.description)!, key: keyFingerprint(secret) });
    };
    setKey(newer); // a replica with `newer` wrote it
    await me.get(team); // replaces `newer`
    setKey(older); // and one with `older` still runs
    harbor.calls.length = 0;
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining(`key ${keyFingerprint(older)},`) });
    expect(harbor.calls).toEqual(['listRobots', 'getRobot']);
  });
});

describe('reading back a robot after a write', () => {
  it('a read-back whose marker a writer stripped meanwhile is a lost update: the marker is written again', async () => {
    const harbor = new FakeHarbor();
    const credentials = service(harbor);
    await credentials.grantWorkspace(team, 'ws1');
    const original = harbor.updateRobot.bind(harbor);
    let stripped = false;
    harbor.updateRobot = async (r: HarborRobot) => {
      await original(r);
      if (!stripped) {
        stripped = true;
        harbor.robots.get(r.id)!.description = 'edited in the Harbor UI';
      }
    };
    await credentials.grantWorkspace(team, 'ws2');
    expect(harbor.robots.get(1)!.permissions).toEqual([grant('ws1'), grant('ws2')]);
    expect(parseMarker(harbor.robots.get(1)!.description)).toEqual({ v: 1, project: 'proj-a', name: 'Team A', department: 'dept-1', gen: 1, key: keyFingerprint(SECRET) });
  });
});

describe('workspaces deleted in Harbor behind hubgate\'s back', () => {
  it('are left out even when another writer meanwhile made the change itself, and a system permission naming one stays', async () => {
    const harbor = new FakeHarbor();
    harbor.strictPermissions = true;
    for (const ws of ['ws1', 'ws2', 'ws3']) await harbor.createProject({ name: ws, public: false });
    const credentials = service(harbor);
    await credentials.grantWorkspace(team, 'ws1');
    await credentials.grantWorkspace(team, 'ws2');
    const system: RobotPermission = { kind: 'system', namespace: 'ws1', access: [{ resource: 'project', action: 'list' }] };
    harbor.robots.get(1)!.permissions.push(system);
    harbor.projects.delete('ws1');
    const original = harbor.updateRobot.bind(harbor);
    let refused = false;
    harbor.updateRobot = async (r: HarborRobot) => {
      try {
        await original(r);
      } catch (e) {
        if (!refused && e instanceof AppError) {
          refused = true;
          harbor.robots.get(1)!.permissions.push(grant('ws3')); // another replica's grant of ws3 got in meanwhile
        }
        throw e;
      }
    };
    await credentials.grantWorkspace(team, 'ws3');
    expect(refused).toBe(true);
    expect(harbor.robots.get(1)!.permissions).toEqual([grant('ws2'), system, grant('ws3')]);
  });
});
