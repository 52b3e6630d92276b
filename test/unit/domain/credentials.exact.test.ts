/**
 * Per-project credentials, to the letter: the exact password derivation, which robot is whose, exactly which
 * permission a workspace grants and revokes, and which Harbor calls a read, a login or a repair costs (Harbor's PUT
 * replaces the whole robot without a version check, so a needless PUT is a needless chance to lose another
 * writer's change). Written for the Stryker survivors of `credentials.service.ts` (docs/testing.md).
 */
import { createHmac } from 'node:crypto';
import { AppError } from '../../../src/domain/errors';
import { CredentialsService, WORKSPACE_ACCESS, formatMarker, keyFingerprint, parseMarker, type CredentialsDeps } from '../../../src/domain/credentials.service';
import { MAX_RECENT_SECRETS, createLogger, registeredSecretCount, silentLogger } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';
import { createInProcessCoordination, createRedisCoordination } from '../../../adapters/redis/redis.coordination';
import type { HarborRobot, RobotPermission } from '../../../src/ports/harbor';
import { FakeHarbor } from '../../support/fake-harbor';
import { mapCache } from '../../support/map-cache';

const team = { id: 'proj-a', name: 'Team A', department: 'dept-1' };
const teamB = { id: 'proj-b', name: 'Team B', department: 'dept-2' };
const SECRET = 's'.repeat(32);
const WRITES = ['createRobot', 'updateRobot', 'setRobotSecret', 'deleteRobot'];

function setup(more: Partial<CredentialsDeps> = {}) {
  const harbor = new FakeHarbor();
  const logs: string[] = [];
  const credentials = new CredentialsService({
    harbor,
    coordination: createInProcessCoordination(),
    logger: createLogger('debug', (l) => logs.push(l)),
    secret: SECRET,
    usernamePrefix: 'hg-',
    robotPrefix: 'robot$',
    ...more,
  });
  const robotOf = (username: string) => [...harbor.robots.values()].find((r) => r.name === `robot$${username}`)!;
  const writes = () => harbor.calls.filter((c) => WRITES.includes(c));
  const lines = () => logs.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { harbor, credentials, robotOf, writes, lines };
}

const access = [...WORKSPACE_ACCESS];
const grant = (namespace: string): RobotPermission => ({ kind: 'project', namespace, access });
/** What an administrator may add to a robot in Harbor besides hubgate's workspaces. */
const systemPermission: RobotPermission = { kind: 'system', namespace: '/', access: [{ resource: 'project', action: 'list' }] };

describe('the derived password', () => {
  /** The derivation written out independently: HMAC-SHA256(secret, name \n id \n gen), 32 base-62 digits (least significant first), then "Hg7". */
  function reference(secret: string, robot: { id: number; name: string }, gen: number): string {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let n = BigInt('0x' + createHmac('sha256', secret).update(`${robot.name}\n${robot.id}\n${gen}`).digest('hex'));
    let digits = '';
    for (let i = 0; i < 32; i++, n /= 62n) digits += alphabet[Number(n % 62n)];
    return `${digits}Hg7`;
  }

  it('is the base-62 HMAC of robot name, id and generation: the same on every replica and every version', () => {
    const { credentials } = setup();
    const robot = { id: 7, name: 'robot$hg-proj-a' };
    // Pinned: a change here would make every replica of another version show and accept other passwords.
    expect(credentials.derivePassword(robot, 1)).toBe('gBD9VBrR0VgQcdbxQ1m0Q2MQXiNNTTy2Hg7');
    for (const gen of [1, 2, 9]) expect(credentials.derivePassword(robot, gen)).toBe(reference(SECRET, robot, gen));
    expect(credentials.derivePassword({ ...robot, id: 8 }, 1)).toBe(reference(SECRET, { ...robot, id: 8 }, 1));
  });

  it('joins the bounded set of recent secrets the logger masks, not the permanent one', () => {
    const { credentials } = setup();
    const logs: string[] = [];
    const log = createLogger('info', (l) => logs.push(l));
    const before = registeredSecretCount();
    let last = '';
    for (let id = 1; id <= MAX_RECENT_SECRETS + 40; id++) last = credentials.derivePassword({ id, name: 'robot$hg-many' }, 1);
    // However many projects and rotations a replica sees, the table walked for every log line stays bounded.
    expect(registeredSecretCount()).toBeLessThanOrEqual(before + MAX_RECENT_SECRETS);
    log.info(`an error quoting ${last} by mistake`);
    expect(logs[0]).toContain('an error quoting [redacted] by mistake');
    expect(logs[0]).not.toContain(last);
  });
});

describe('which robot is whose', () => {
  it('a project whose username is the start of another one\'s gets its own robot, whichever was created first', async () => {
    const { harbor, credentials, robotOf } = setup();
    const longer = { id: 'proj-ab', name: 'AB', department: 'd' };
    await credentials.grantWorkspace(longer, 'ws-ab');
    await credentials.grantWorkspace(team, 'ws-a');
    // Harbor's robot search matches by substring: "hg-proj-a" finds both robots.
    expect((await harbor.listRobots('hg-proj-a')).map((r) => r.name)).toEqual(['robot$hg-proj-ab', 'robot$hg-proj-a']);
    expect((await credentials.findRobot('hg-proj-a'))?.id).toBe(robotOf('hg-proj-a').id);
    expect((await credentials.get(team)).workspaces).toEqual(['ws-a']);
    expect((await credentials.get(longer)).workspaces).toEqual(['ws-ab']);
  });

  it('owner records: only robots named <robot prefix><username prefix>…, usernames without the robot prefix, project permissions only', async () => {
    const { harbor, credentials, robotOf } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    await credentials.grantWorkspace(team, 'ws2');
    // An administrator gave the robot a system permission in Harbor as well.
    const robot = robotOf('hg-proj-a');
    robot.permissions.push(structuredClone(systemPermission));
    // A robot outside hubgate's names whose description copies a hubgate marker (it contains "hg-"): not an owner.
    const copied = await harbor.createRobot({ name: 'ci-hg-proj-x', description: formatMarker({ v: 1, project: 'proj-x', name: 'X', department: 'd', gen: 1 }), level: 'system', duration: -1, disable: false, permissions: [grant('ws1')] });
    expect(copied.name).toBe('robot$ci-hg-proj-x');
    expect(await credentials.ownerRecords()).toEqual([
      { robotId: robot.id, username: 'hg-proj-a', project: { id: 'proj-a', name: 'Team A', department: 'dept-1' }, workspaces: ['ws1', 'ws2'] },
    ]);
    // The credentials shown list the workspaces, not the system permission.
    expect((await credentials.get(team)).workspaces).toEqual(['ws1', 'ws2']);
  });
});

describe('granting a workspace', () => {
  it('gives exactly the workspace access list, to the first workspace (robot created) and to every later one', async () => {
    const { credentials, robotOf } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws1')]);
    await credentials.grantWorkspace(team, 'ws2');
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws1'), grant('ws2')]);
    expect(access.map((a) => `${a.resource}:${a.action}`)).toEqual([
      'repository:pull', 'repository:push', 'repository:delete', 'repository:read', 'repository:list',
      'artifact:read', 'artifact:list', 'artifact:delete', 'tag:create', 'tag:delete', 'tag:list',
    ]);
  });

  it('granting a workspace the credentials already reach writes nothing', async () => {
    const { harbor, credentials, writes } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    harbor.calls.length = 0;
    await credentials.grantWorkspace(team, 'ws1');
    expect(writes()).toEqual([]);
  });
});

describe('only project permissions are workspaces (whatever a system permission\'s namespace says)', () => {
  // Harbor gives system permissions the namespace "/"; the kind is checked all the same, so a system permission
  // can never stand for a workspace grant, however Harbor's data changes.
  const foreign = (namespace: string): RobotPermission => ({ kind: 'system', namespace, access: [{ resource: 'project', action: 'list' }] });

  it('a grant adds the project permission even when another kind names the workspace', async () => {
    const { credentials, robotOf } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    robotOf('hg-proj-a').permissions.push(foreign('ws2'));
    await credentials.grantWorkspace(team, 'ws2');
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws1'), foreign('ws2'), grant('ws2')]);
  });

  it('a grant lost to a stale writer is redone even when another kind names the workspace', async () => {
    const { harbor, credentials, robotOf } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    robotOf('hg-proj-a').permissions.push(foreign('ws2'));
    const id = robotOf('hg-proj-a').id;
    const stale = structuredClone(harbor.robots.get(id)!);
    const original = harbor.updateRobot.bind(harbor);
    let injected = false;
    harbor.updateRobot = async (r: HarborRobot) => {
      await original(r);
      if (!injected) {
        injected = true;
        await original(stale);
      }
    };
    await credentials.grantWorkspace(team, 'ws2');
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws1'), foreign('ws2'), grant('ws2')]);
  });

  it('a revoke keeps a permission of another kind that names the workspace', async () => {
    const { credentials, robotOf } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    await credentials.grantWorkspace(team, 'ws2');
    robotOf('hg-proj-a').permissions.push(foreign('ws1'));
    await credentials.revokeWorkspace(team, 'ws1');
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws2'), foreign('ws1')]);
  });
});

describe('revoking a workspace', () => {
  async function granted() {
    const s = setup();
    await s.credentials.grantWorkspace(team, 'ws1');
    await s.credentials.grantWorkspace(team, 'ws2');
    s.robotOf('hg-proj-a').permissions.push(structuredClone(systemPermission));
    s.harbor.calls.length = 0;
    return s;
  }

  it('removes exactly that workspace\'s permission and keeps the others (a system permission too)', async () => {
    const { credentials, robotOf, writes } = await granted();
    await credentials.revokeWorkspace(team, 'ws1');
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws2'), systemPermission]);
    expect(writes()).toEqual(['updateRobot']);
  });

  it('a workspace the credentials do not reach: nothing is written', async () => {
    const { credentials, robotOf, writes } = await granted();
    await credentials.revokeWorkspace(team, 'ws9');
    expect(writes()).toEqual([]);
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws1'), grant('ws2'), systemPermission]);
    // Nor for a project without credentials.
    await credentials.revokeWorkspace(teamB, 'ws1');
    expect(writes()).toEqual([]);
  });

  it('the last workspace: the robot is deleted (Harbor refuses an empty list)', async () => {
    const { harbor, credentials, writes } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    harbor.calls.length = 0;
    await credentials.revokeWorkspace(team, 'ws1');
    expect(writes()).toEqual(['deleteRobot']);
    expect(harbor.robots.size).toBe(0);
  });

  it('waits for a grant of the same project being written (one lock per robot): both take effect', async () => {
    const { harbor, credentials, robotOf } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    const original = harbor.updateRobot.bind(harbor);
    let entered!: () => void;
    const inPut = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let first = true;
    harbor.calls.length = 0;
    harbor.updateRobot = async (r: HarborRobot) => {
      if (first) {
        first = false;
        entered();
        await gate;
      }
      return original(r);
    };
    const granting = credentials.grantWorkspace(team, 'ws2');
    await inPut; // the grant's PUT is under way
    const revoking = credentials.revokeWorkspace(team, 'ws1');
    await new Promise((r) => setImmediate(r));
    // The revoke has not even looked at the robot yet (it would have seen ws1 alone and deleted the robot).
    expect(harbor.calls).toEqual(['listRobots', 'getRobot']);
    release();
    await Promise.all([granting, revoking]);
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws2')]);
  });

  it('while the replicas cannot coordinate (Redis configured, unreachable): 503, nothing written', async () => {
    const coordination = createRedisCoordination({ redisUrl: 'redis://127.0.0.1:1', commandTimeoutMs: 100 });
    try {
      const { harbor, credentials, writes } = setup();
      await credentials.grantWorkspace(team, 'ws1');
      await credentials.grantWorkspace(team, 'ws2');
      harbor.calls.length = 0;
      const down = new CredentialsService({ harbor, coordination, logger: silentLogger, secret: SECRET, usernamePrefix: 'hg-', robotPrefix: 'robot$' });
      await expect(down.revokeWorkspace(team, 'ws1')).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining('redis unreachable') });
      expect(writes()).toEqual([]);
      // A rotation of credentials that do not exist is still a plain 404 (nothing to lock).
      await expect(down.rotate(teamB)).rejects.toMatchObject({ kind: 'not_found', message: 'credentials of project "proj-b" not found' });
    } finally {
      await coordination.close();
    }
  });

  it('a lock that stops being trustworthy before the write: 503 "coordination … lost", nothing written', async () => {
    const local = createInProcessCoordination();
    const { harbor, credentials, writes } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    await credentials.grantWorkspace(team, 'ws2');
    harbor.calls.length = 0;
    const lost = new CredentialsService({
      harbor,
      coordination: { withLock: (name, fn, opts) => local.withLock(name, () => fn(() => false), opts), shared: () => true },
      logger: silentLogger,
      secret: SECRET,
      usernamePrefix: 'hg-',
      robotPrefix: 'robot$',
    });
    await expect(lost.revokeWorkspace(team, 'ws1')).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining('coordination between the hubgate replicas was lost') });
    expect(writes()).toEqual([]);
  });
});

describe('a fresh workspace belongs to its creator alone (releaseFromOthers)', () => {
  it('another project\'s credentials that still list the name lose it, with a warning; the owner\'s and unrelated ones are untouched', async () => {
    const { credentials, robotOf, lines } = setup();
    const teamC = { id: 'proj-c', name: 'C', department: 'd' };
    await credentials.grantWorkspace(team, 'shared');
    await credentials.grantWorkspace(team, 'a-only');
    await credentials.grantWorkspace(teamB, 'shared');
    await credentials.grantWorkspace(teamB, 'b-only');
    await credentials.grantWorkspace(teamC, 'c-only');
    await credentials.releaseFromOthers('shared', team);
    expect(robotOf('hg-proj-a').permissions.map((p) => p.namespace)).toEqual(['shared', 'a-only']);
    expect(robotOf('hg-proj-b').permissions.map((p) => p.namespace)).toEqual(['b-only']);
    expect(robotOf('hg-proj-c').permissions.map((p) => p.namespace)).toEqual(['c-only']);
    expect(lines().filter((l) => l.level === 'warn')).toEqual([
      expect.objectContaining({
        msg: 'a new workspace was still listed by another project\'s credentials (left from an earlier workspace of that name); removed',
        workspace: 'shared',
        project: 'proj-b',
      }),
    ]);
  });
});

describe('showing credentials (get)', () => {
  it('settled credentials cost one robot search and one read; nothing is written', async () => {
    const { harbor, credentials } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    await credentials.get(team);
    harbor.calls.length = 0;
    await credentials.get(team);
    expect(harbor.calls).toEqual(['listRobots', 'getRobot']);
  });

  it('a robot whose hubgate marker was removed in Harbor gets it back, with this key\'s password', async () => {
    const { harbor, credentials, robotOf } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    robotOf('hg-proj-a').description = 'edited in the Harbor UI';
    const shown = await credentials.get(team);
    expect(harbor.secrets.get(robotOf('hg-proj-a').id)).toBe(shown.password);
    expect(parseMarker(robotOf('hg-proj-a').description)).toEqual({ v: 1, project: 'proj-a', name: 'Team A', department: 'dept-1', gen: 1, key: keyFingerprint(SECRET) });
  });

  it('completing an interrupted rotation sets the secret and then clears the mark: no PUT of an unchanged robot', async () => {
    const { harbor, credentials, robotOf, writes } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    harbor.failNext('setRobotSecret', () => new AppError('upstream_timeout', 'slow'));
    await expect(credentials.rotate(team)).rejects.toMatchObject({ kind: 'upstream_timeout' });
    harbor.calls.length = 0;
    const shown = await credentials.get(team);
    expect(writes()).toEqual(['setRobotSecret', 'updateRobot']);
    expect(harbor.secrets.get(robotOf('hg-proj-a').id)).toBe(shown.password);
  });

  it('a replica with another key, reading a robot that key left mid-rotation: 503, one read, nothing written', async () => {
    const { harbor, credentials, robotOf } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    harbor.failNext('setRobotSecret', () => new AppError('upstream_timeout', 'slow'));
    await expect(credentials.rotate(team)).rejects.toMatchObject({ kind: 'upstream_timeout' });
    const description = robotOf('hg-proj-a').description;
    const stray = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: 'w'.repeat(32), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    harbor.calls.length = 0;
    await expect(stray.get({ ...team, name: 'Team A renamed' })).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining('another credential secret') });
    expect(harbor.calls).toEqual(['listRobots', 'getRobot']);
    expect(robotOf('hg-proj-a').description).toBe(description);
  });

  it('with Redis: a read after the grace period heals a robot of an unannounced key without waiting for the next announcement round', async () => {
    const harbor = new FakeHarbor();
    const entries = new Map<string, unknown>();
    const cache = mapCache(entries);
    const local = createInProcessCoordination();
    const replica = (secret: string) =>
      new CredentialsService({
        harbor,
        coordination: { withLock: local.withLock.bind(local), shared: () => true },
        liveKeys: cache,
        keyGraceMs: 1000,
        logger: silentLogger,
        secret,
        usernamePrefix: 'hg-',
        robotPrefix: 'robot$',
      });
    const clock = jest.spyOn(Date, 'now');
    let t = 5_000_000;
    clock.mockImplementation(() => t);
    try {
      const old = replica('o'.repeat(32));
      await old.grantWorkspace(team, 'ws1');
      entries.clear(); // the last replica with the old key is gone
      const fresh = replica('n'.repeat(32));
      await fresh.announce();
      await expect(fresh.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
      t += 1000;
      const shown = await fresh.get(team);
      const robot = [...harbor.robots.values()][0];
      expect(harbor.secrets.get(robot.id)).toBe(shown.password);
      expect(parseMarker(robot.description)?.key).toBe(fresh.key);
    } finally {
      clock.mockRestore();
    }
  });
});

describe('rotating (rotate)', () => {
  it('without a lock spanning replicas: a robot deleted and re-created by another replica during the settle wait is left as that replica wrote it (no PUT of an unchanged robot)', async () => {
    const { harbor, credentials, robotOf, writes } = setup({ settleMs: 1 });
    await credentials.grantWorkspace(team, 'ws1');
    const oldId = robotOf('hg-proj-a').id;
    const other = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: SECRET, usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    const read = harbor.getRobot.bind(harbor);
    let afterSecret = 0;
    harbor.getRobot = async (id: number) => {
      // The rotation's read-back is the first read after the secret was set; the settle wait's look is the second.
      if (id === oldId && harbor.calls.includes('setRobotSecret') && ++afterSecret === 2) {
        harbor.robots.delete(oldId);
        await other.grantWorkspace(team, 'ws1');
        harbor.calls.length = 0;
      }
      return read(id);
    };
    harbor.calls.length = 0;
    const shown = await credentials.rotate(team);
    expect(afterSecret).toBe(2);
    expect(writes()).toEqual([]);
    expect(harbor.secrets.get(robotOf('hg-proj-a').id)).toBe(shown.password);
  });
});

describe('checking a registry login (verify)', () => {
  it('a username without the hubgate prefix is refused without asking Harbor', async () => {
    const { harbor, credentials } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    const { password } = await credentials.get(team);
    harbor.calls.length = 0;
    expect(await credentials.verify('admin', password)).toBeNull();
    expect(await credentials.verify('proj-a', password)).toBeNull();
    expect(harbor.calls).toEqual([]);
  });

  it('a made-up username is remembered as absent for 10 s exactly: at 10 000 ms Harbor is asked again', async () => {
    const { harbor, credentials } = setup();
    const clock = jest.spyOn(Date, 'now');
    let t = 1_000_000;
    clock.mockImplementation(() => t);
    try {
      expect(await credentials.verify('hg-nobody', 'x'.repeat(35))).toBeNull();
      t += 9_999;
      expect(await credentials.verify('hg-nobody', 'x'.repeat(35))).toBeNull();
      expect(harbor.calls.filter((c) => c === 'listRobots')).toHaveLength(1);
      t += 1;
      expect(await credentials.verify('hg-nobody', 'x'.repeat(35))).toBeNull();
      expect(harbor.calls.filter((c) => c === 'listRobots')).toHaveLength(2);
    } finally {
      clock.mockRestore();
    }
  });

  it('at most 10 000 absent usernames are remembered: the oldest is forgotten first', async () => {
    const { harbor, credentials } = setup();
    for (let i = 0; i <= 10_000; i++) await credentials.verify(`hg-made-up-${i}`, 'x');
    harbor.calls.length = 0;
    // 10 001 names seen: the first is forgotten (Harbor asked again), the second is still remembered.
    expect(await credentials.verify('hg-made-up-1', 'x')).toBeNull();
    expect(harbor.calls).toEqual([]);
    expect(await credentials.verify('hg-made-up-0', 'x')).toBeNull();
    expect(harbor.calls).toEqual(['listRobots']);
  });

  it('the right password on settled credentials: one robot search and one read, nothing written', async () => {
    const { harbor, credentials } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    const { password } = await credentials.get(team);
    harbor.calls.length = 0;
    expect((await credentials.verify('hg-proj-a', password))?.name).toBe('robot$hg-proj-a');
    expect(harbor.calls).toEqual(['listRobots', 'getRobot']);
  });

  it('a login that completes an interrupted rotation sets the secret and clears the mark: no PUT of an unchanged robot', async () => {
    const { harbor, credentials, robotOf, writes } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    harbor.failNext('setRobotSecret', () => new AppError('upstream_timeout', 'slow'));
    await expect(credentials.rotate(team)).rejects.toMatchObject({ kind: 'upstream_timeout' });
    const next = credentials.derivePassword(robotOf('hg-proj-a'), 2);
    harbor.calls.length = 0;
    expect(await credentials.verify('hg-proj-a', next)).not.toBeNull();
    expect(writes()).toEqual(['setRobotSecret', 'updateRobot']);
  });

  it('a robot whose marker names another project is never repaired through a login (the marker cannot say which robot to write)', async () => {
    const { harbor, credentials, robotOf, writes } = setup();
    await credentials.grantWorkspace(team, 'ws-a');
    await credentials.grantWorkspace(teamB, 'ws-b');
    const b = robotOf('hg-proj-b');
    // hg-proj-b's marker edited to name proj-a, with a rotation pending.
    b.description = formatMarker({ ...parseMarker(b.description)!, project: 'proj-a', pending: true });
    const aBefore = structuredClone(robotOf('hg-proj-a'));
    harbor.calls.length = 0;
    expect((await credentials.verify('hg-proj-b', credentials.derivePassword(b, 1)))?.name).toBe('robot$hg-proj-b');
    expect(writes()).toEqual([]);
    expect(robotOf('hg-proj-a')).toEqual(aBefore);
  });
});

describe('markers and key fingerprints', () => {
  it('a marker is "hubgate:" + JSON with v 1, a string project, an integer generation and, if any, a string key', () => {
    const ok = { v: 1, project: 'p', name: 'P', department: 'd', gen: 2 };
    expect(parseMarker(formatMarker(ok as never))).toEqual(ok);
    expect(formatMarker(ok as never)).toBe('hubgate:{"v":1,"project":"p","name":"P","department":"d","gen":2}');
    expect(parseMarker(formatMarker({ ...ok, key: 'abc' } as never))).toEqual({ ...ok, key: 'abc' });
    for (const bad of [
      undefined,
      '',
      'robot of team P',
      ` hubgate:${JSON.stringify(ok)}`,
      `Hubgate:${JSON.stringify(ok)}`,
      'hubgate:{not json',
      'hubgate:null',
      `hubgate:${JSON.stringify({ ...ok, v: 2 })}`,
      `hubgate:${JSON.stringify({ ...ok, v: '1' })}`,
      `hubgate:${JSON.stringify({ ...ok, project: 7 })}`,
      `hubgate:${JSON.stringify({ ...ok, gen: 1.5 })}`,
      `hubgate:${JSON.stringify({ ...ok, gen: '1' })}`,
      `hubgate:${JSON.stringify({ ...ok, key: 5 })}`,
    ]) {
      expect([bad, parseMarker(bad)]).toEqual([bad, undefined]);
    }
  });

  it('a key fingerprint is 16 hex digits of an HMAC under the secret (pinned: every replica must agree)', () => {
    expect(keyFingerprint(SECRET)).toBe(createHmac('sha256', SECRET).update('hubgate credential key fingerprint').digest('hex').slice(0, 16));
    expect(keyFingerprint(SECRET)).toMatch(/^[0-9a-f]{16}$/);
    expect(new CredentialsService({ harbor: new FakeHarbor(), coordination: createInProcessCoordination(), logger: silentLogger, secret: SECRET, usernamePrefix: 'hg-', robotPrefix: 'robot$' }).key).toBe(keyFingerprint(SECRET));
  });

  it('this replica\'s own secret listed as retired (as a secret or as its fingerprint) is not retired: its robots are left alone', async () => {
    for (const listed of [SECRET, keyFingerprint(SECRET)]) {
      const { harbor, credentials } = setup();
      await credentials.grantWorkspace(team, 'ws1');
      const same = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: SECRET, previousSecrets: [listed], usernamePrefix: 'hg-', robotPrefix: 'robot$' });
      harbor.calls.length = 0;
      await same.get(team);
      expect(harbor.calls).toEqual(['listRobots', 'getRobot']);
    }
  });

  it('only 16 lower-case hex digits are read as a fingerprint; anything else is a secret whose fingerprint is taken', async () => {
    const oldSecret = 'A1B2C3D4E5F6A7B8'; // 16 characters, but upper case: a secret, not a fingerprint
    const harbor = new FakeHarbor();
    const old = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: oldSecret, usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    await old.grantWorkspace(team, 'ws1');
    const fresh = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: SECRET, previousSecrets: [oldSecret], usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    const shown = await fresh.get(team);
    expect(harbor.secrets.get([...harbor.robots.keys()][0])).toBe(shown.password);
  });
});

describe('retired secrets that look partly like fingerprints', () => {
  it('a secret that ends or starts with 16 hex digits is still a secret: its fingerprint is taken, its robots heal', async () => {
    for (const oldSecret of ['retired-secret-x0123456789abcdef', '0123456789abcdef-retired-secret-x']) {
      const harbor = new FakeHarbor();
      const old = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: oldSecret, usernamePrefix: 'hg-', robotPrefix: 'robot$' });
      await old.grantWorkspace(team, 'ws1');
      const fresh = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: SECRET, previousSecrets: [oldSecret], usernamePrefix: 'hg-', robotPrefix: 'robot$' });
      const shown = await fresh.get(team);
      expect([oldSecret, harbor.secrets.get([...harbor.robots.keys()][0])]).toEqual([oldSecret, shown.password]);
    }
  });
});

describe('the read-modify-write of a robot (lockedMutate)', () => {
  it('workspaces deleted in Harbor behind hubgate\'s back are left out of the next write (Harbor refuses a PUT naming them), with a warning', async () => {
    const { harbor, credentials, robotOf, lines } = setup();
    harbor.strictPermissions = true;
    for (const ws of ['ws1', 'ws2', 'ws3']) await harbor.createProject({ name: ws, public: false });
    for (const ws of ['ws1', 'ws2']) await credentials.grantWorkspace(team, ws);
    harbor.projects.delete('ws1'); // deleted outside hubgate; the robot still lists it
    await credentials.grantWorkspace(team, 'ws3');
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws2'), grant('ws3')]);
    // A system permission is no workspace: never taken for a deleted one.
    robotOf('hg-proj-a').permissions.push(structuredClone(systemPermission));
    harbor.projects.delete('ws2');
    await harbor.createProject({ name: 'ws4', public: false });
    await credentials.grantWorkspace(team, 'ws4');
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws3'), systemPermission, grant('ws4')]);
    expect(lines().filter((l) => l.level === 'warn')).toEqual([
      expect.objectContaining({ msg: 'project credentials named deleted workspaces; left out', robot_id: robotOf('hg-proj-a').id, workspaces: ['ws1'] }),
      expect.objectContaining({ msg: 'project credentials named deleted workspaces; left out', robot_id: robotOf('hg-proj-a').id, workspaces: ['ws2'] }),
    ]);
  });

  it('every workspace deleted in Harbor: 409 "no workspace any more", the robot is not emptied', async () => {
    const { harbor, credentials, robotOf } = setup();
    harbor.strictPermissions = true;
    await harbor.createProject({ name: 'ws1', public: false });
    await credentials.grantWorkspace(team, 'ws1');
    harbor.projects.delete('ws1');
    await expect(credentials.rotate(team)).rejects.toMatchObject({
      kind: 'conflict',
      message: 'project "proj-a" has no workspace any more: its registry credentials come back with its next workspace',
    });
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws1')]);
  });

  it('a PUT refused for another reason is not taken for deleted workspaces: the error goes through', async () => {
    const { harbor, credentials, robotOf } = setup();
    for (const ws of ['ws1', 'ws2']) await harbor.createProject({ name: ws, public: false });
    await credentials.grantWorkspace(team, 'ws1');
    // A 404 while every workspace it names still exists (the robot itself went, say).
    harbor.failNext('updateRobot', () => new AppError('not_found', 'robot 1 not found'));
    await expect(credentials.grantWorkspace(team, 'ws2')).rejects.toMatchObject({ kind: 'not_found', message: 'robot 1 not found' });
    harbor.failNext('updateRobot', () => new AppError('upstream_unavailable', 'boom'));
    await expect(credentials.grantWorkspace(team, 'ws2')).rejects.toMatchObject({ kind: 'upstream_unavailable' });
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws1')]);
  });

  it('a PUT refused for another reason while a workspace was deleted: the error goes through, nothing is left out', async () => {
    const { harbor, credentials, robotOf } = setup();
    harbor.strictPermissions = true;
    for (const ws of ['ws1', 'ws2']) await harbor.createProject({ name: ws, public: false });
    await credentials.grantWorkspace(team, 'ws1');
    harbor.projects.delete('ws1');
    harbor.failNext('updateRobot', () => new AppError('upstream_unavailable', 'boom'));
    await expect(credentials.grantWorkspace(team, 'ws2')).rejects.toMatchObject({ kind: 'upstream_unavailable', message: 'boom' });
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws1')]);
  });

  it('a robot just created that Harbor\'s search does not show yet: the next attempt finds it', async () => {
    const { harbor, credentials, robotOf } = setup();
    const list = harbor.listRobots.bind(harbor);
    let lagging = 0;
    harbor.listRobots = async (q: string) => {
      // The search right after the create answers from before it.
      if (harbor.calls.at(-1) === 'createRobot' && lagging++ === 0) {
        harbor.calls.push('listRobots');
        return [];
      }
      return list(q);
    };
    await credentials.grantWorkspace(team, 'ws1');
    expect(lagging).toBe(1);
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws1')]);
    expect(harbor.robots.size).toBe(1);
  });

  it('a robot is created with hubgate\'s marker, system level, no expiry, enabled, with the first workspace', async () => {
    const { harbor, credentials } = setup();
    const inputs: unknown[] = [];
    const create = harbor.createRobot.bind(harbor);
    harbor.createRobot = async (input) => {
      inputs.push(structuredClone(input));
      return create(input);
    };
    await credentials.grantWorkspace(team, 'ws1');
    expect(inputs).toEqual([
      {
        name: 'hg-proj-a',
        description: formatMarker({ v: 1, project: 'proj-a', name: 'Team A', department: 'dept-1', gen: 1, pending: true, key: keyFingerprint(SECRET) }),
        level: 'system',
        duration: -1,
        disable: false,
        permissions: [grant('ws1')],
      },
    ]);
  });

  it('a rotation whose robot went between the look and the lock: 404, no robot created', async () => {
    const { harbor, credentials, writes } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    const get = harbor.getRobot.bind(harbor);
    let reads = 0;
    harbor.getRobot = async (id: number) => {
      const r = await get(id);
      if (++reads === 1) harbor.robots.delete(id); // deleted right after rotate() saw it
      return r;
    };
    harbor.calls.length = 0;
    await expect(credentials.rotate(team)).rejects.toMatchObject({ kind: 'not_found', message: 'credentials of project "proj-a" not found' });
    expect(writes()).toEqual([]);
  });

  it('a replica with another key granting a workspace on a robot that key left mid-rotation: the secret and the key are left alone', async () => {
    const { harbor, credentials, robotOf } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    harbor.failNext('setRobotSecret', () => new AppError('upstream_timeout', 'slow'));
    await expect(credentials.rotate(team)).rejects.toMatchObject({ kind: 'upstream_timeout' });
    const stray = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: 'w'.repeat(32), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    harbor.calls.length = 0;
    await stray.grantWorkspace(team, 'ws2');
    expect(harbor.calls.filter((c) => c === 'setRobotSecret')).toEqual([]);
    expect(parseMarker(robotOf('hg-proj-a').description)).toMatchObject({ gen: 2, pending: true, key: keyFingerprint(SECRET) });
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws1'), grant('ws2')]);
  });

  /** After the `n`-th PUT of the robot, a stale writer PUTs what the robot looked like after PUT number `snapshotAfter` (0: before). */
  function staleAfter(harbor: FakeHarbor, n: number, snapshotAfter: number) {
    const original = harbor.updateRobot.bind(harbor);
    let puts = 0;
    let snapshot: HarborRobot | undefined;
    harbor.updateRobot = async (r: HarborRobot) => {
      if (puts === 0 && snapshotAfter === 0) snapshot = structuredClone(harbor.robots.get(r.id)!);
      await original(r);
      puts++;
      if (puts === snapshotAfter) snapshot = structuredClone(harbor.robots.get(r.id)!);
      if (puts === n) await original(structuredClone(snapshot!));
    };
  }
  const retries = async (metrics: ReturnType<typeof createMetrics>) => (await metrics.registry.getSingleMetric('hubgate_robot_update_retries_total')!.get()).values[0]?.value;

  it('a rotation undone by a stale writer (the old generation back) is detected and redone', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const { harbor, credentials, robotOf } = setup({ metrics });
    await credentials.grantWorkspace(team, 'ws1');
    staleAfter(harbor, 2, 0); // after the rotation's second PUT, the robot as it was before the rotation
    const shown = await credentials.rotate(team);
    expect(await retries(metrics)).toBe(1);
    expect(harbor.secrets.get(robotOf('hg-proj-a').id)).toBe(shown.password);
    expect(parseMarker(robotOf('hg-proj-a').description)).toEqual({ v: 1, project: 'proj-a', name: 'Team A', department: 'dept-1', gen: 2, key: keyFingerprint(SECRET) });
  });

  it('a stale writer bringing back the "secret pending" mark is detected and the mark cleared again', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const { harbor, credentials, robotOf } = setup({ metrics });
    await credentials.grantWorkspace(team, 'ws1');
    staleAfter(harbor, 2, 1); // after the second PUT (mark cleared), the first PUT's robot (marked pending)
    await credentials.rotate(team);
    expect(await retries(metrics)).toBe(1);
    expect(parseMarker(robotOf('hg-proj-a').description)?.pending).toBeUndefined();
  });

  it('a heal undone by a stale writer (the retired key back on the marker) is detected; the key is then taken as still in use: 503', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const harbor = new FakeHarbor();
    const old = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: 'o'.repeat(32), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    await old.grantWorkspace(team, 'ws1');
    const fresh = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, metrics, secret: SECRET, previousSecrets: ['o'.repeat(32)], usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    // After the heal's second PUT, a stale writer puts back the robot with the old key's marker.
    staleAfter(harbor, 2, 0);
    await expect(fresh.get(team)).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining(`key ${keyFingerprint('o'.repeat(32))}`) });
    expect(await retries(metrics)).toBe(1);
    expect(fresh.keyStatus().detail).toContain('still in use by another replica');
  });

  it('without a lock spanning replicas: a change lost to a stale writer during the settle wait is redone and counted', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const { harbor, credentials, robotOf } = setup({ metrics, settleMs: 1 });
    await credentials.grantWorkspace(team, 'ws1');
    const id = robotOf('hg-proj-a').id;
    const stale = structuredClone(harbor.robots.get(id)!);
    const get = harbor.getRobot.bind(harbor);
    let reads = 0;
    harbor.getRobot = async (rid: number) => {
      // The settle wait's look (the third read of the grant): a stale replica has just PUT its old snapshot.
      if (++reads === 3) harbor.robots.set(id, structuredClone(stale));
      return get(rid);
    };
    await credentials.grantWorkspace(team, 'ws2');
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws1'), grant('ws2')]);
    expect(await retries(metrics)).toBe(1);
  });

  it('a writer that undoes every change: six attempts, each counted and logged, then 409 "too many concurrent changes"', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const { harbor, credentials, lines } = setup({ metrics });
    await credentials.grantWorkspace(team, 'ws1');
    const id = [...harbor.robots.keys()][0];
    const stale = structuredClone(harbor.robots.get(id)!);
    const original = harbor.updateRobot.bind(harbor);
    harbor.updateRobot = async (r: HarborRobot) => {
      await original(r);
      await original(structuredClone(stale));
    };
    await expect(credentials.grantWorkspace(team, 'ws2')).rejects.toMatchObject({
      kind: 'conflict',
      message: 'could not update the project credentials: too many concurrent changes, try again',
    });
    expect(lines().filter((l) => l.level === 'warn').map((l) => [l.msg, l.robot_id, l.attempt])).toEqual(
      [1, 2, 3, 4, 5, 6].map((attempt) => ['robot update lost to a concurrent writer; retrying', id, attempt]),
    );
    expect((await metrics.registry.getSingleMetric('hubgate_robot_update_retries_total')!.get()).values[0]?.value).toBe(6);
  });

  it('another replica creating the robot between this one\'s look and its create: the create\'s 409 means "go round again"', async () => {
    const { harbor, credentials, robotOf } = setup();
    const other = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: SECRET, usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    const create = harbor.createRobot.bind(harbor);
    let raced = false;
    harbor.createRobot = async (input) => {
      if (!raced) {
        raced = true;
        await other.grantWorkspace(team, 'ws-other');
      }
      return create(input);
    };
    await credentials.grantWorkspace(team, 'ws1');
    expect(robotOf('hg-proj-a').permissions).toEqual([grant('ws-other'), grant('ws1')]);
    expect(harbor.robots.size).toBe(1);
  });

  it('the marker carries the project\'s current name and department; an empty one keeps the recorded value (the id for a name never recorded)', async () => {
    const { credentials, robotOf } = setup();
    const marker = () => parseMarker(robotOf('hg-proj-a').description);
    await credentials.grantWorkspace({ id: 'proj-a', name: '', department: '' }, 'ws1');
    expect(marker()).toMatchObject({ name: 'proj-a', department: '' });
    await credentials.grantWorkspace(team, 'ws2');
    expect(marker()).toMatchObject({ name: 'Team A', department: 'dept-1' });
    await credentials.grantWorkspace({ id: 'proj-a', name: '', department: '' }, 'ws3');
    expect(marker()).toMatchObject({ name: 'Team A', department: 'dept-1' });
    await credentials.grantWorkspace({ id: 'proj-a', name: 'Renamed', department: 'dept-2' }, 'ws4');
    expect(marker()).toEqual({ v: 1, project: 'proj-a', name: 'Renamed', department: 'dept-2', gen: 1, key: keyFingerprint(SECRET) });
  });

  it('a heal is logged with the old and new key and counted; a rotation is counted as a rotation, not a heal', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const harbor = new FakeHarbor();
    const old = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: 'o'.repeat(32), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    await old.grantWorkspace(team, 'ws1');
    const logs: string[] = [];
    const fresh = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: createLogger('debug', (l) => logs.push(l)), metrics, secret: SECRET, previousSecrets: ['o'.repeat(32)], usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    await fresh.get(team);
    await fresh.rotate(team);
    const value = async (name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values[0]?.value;
    expect(await value('hubgate_credential_key_heals_total')).toBe(1);
    // A rotation of a robot a retired key set replaces that key too, but is a rotation, not a heal.
    await old.grantWorkspace(teamB, 'ws2');
    await fresh.rotate(teamB);
    expect(await value('hubgate_credential_key_heals_total')).toBe(1);
    expect(await value('hubgate_credential_rotations_total')).toBe(2);
    expect(logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 'info')).toEqual([
      expect.objectContaining({ msg: 'project credentials re-set with this replica\'s credential secret', robot_id: [...harbor.robots.keys()][0], old_key: keyFingerprint('o'.repeat(32)), key: keyFingerprint(SECRET) }),
    ]);
  });
});

describe('key standing over time (fake clock)', () => {
  const OLD = 'o'.repeat(32);
  let t: number;
  let clock: jest.SpyInstance;
  beforeEach(() => {
    t = 10_000_000;
    clock = jest.spyOn(Date, 'now').mockImplementation(() => t);
  });
  afterEach(() => clock.mockRestore());

  function world(more: Partial<CredentialsDeps> = {}) {
    const harbor = new FakeHarbor();
    const entries = new Map<string, unknown>();
    const up = { shared: true };
    // Like the Redis adapter: while Redis is down a read answers nothing and shared() is false.
    const cache = mapCache(entries, () => up.shared);
    const local = createInProcessCoordination();
    const logs: string[] = [];
    const replica = (secret: string, extra: Partial<CredentialsDeps> = {}) =>
      new CredentialsService({
        harbor,
        coordination: { withLock: local.withLock.bind(local), shared: () => up.shared },
        logger: createLogger('debug', (l) => logs.push(l)),
        secret,
        usernamePrefix: 'hg-',
        robotPrefix: 'robot$',
        ...more,
        ...extra,
      });
    const lines = () => logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    return { harbor, entries, cache, up, replica, lines, logs };
  }

  it('/readyz detail: this key when all agree; the foreign keys, sorted, and the count when not', async () => {
    const w = world();
    const a = w.replica(OLD);
    await a.grantWorkspace(team, 'ws1');
    const b = w.replica('b'.repeat(32));
    await b.grantWorkspace(teamB, 'ws2');
    const me = w.replica(SECRET);
    expect(me.keyStatus()).toEqual({ ok: true, detail: `credential key ${me.key}` });
    await me.ownerRecords();
    const keys = [keyFingerprint(OLD), keyFingerprint('b'.repeat(32))].sort();
    expect(me.keyStatus()).toEqual({
      ok: false,
      detail:
        `2 project credential(s) carry a password set with another credential secret (key ${keys.join(', ')}; this replica's key ${me.key}): ` +
        'this replica can neither show nor check them. The replicas disagree on HUBGATE_CREDENTIAL_SECRET, or a retired secret is missing from HUBGATE_CREDENTIAL_SECRET_PREVIOUS',
    });
  });

  it('a mismatch counts for exactly the TTL after the robot was last seen', async () => {
    const w = world({ mismatchTtlMs: 1000 });
    await w.replica(OLD).grantWorkspace(team, 'ws1');
    const me = w.replica(SECRET);
    await me.ownerRecords();
    t += 1000;
    expect(me.keyStatus().ok).toBe(false);
    t += 1;
    expect(me.keyStatus().ok).toBe(true);
  });

  it('a foreign key is warned about again once the TTL has passed, exactly', async () => {
    const w = world({ mismatchTtlMs: 1000 });
    await w.replica(OLD).grantWorkspace(team, 'ws1');
    const me = w.replica(SECRET);
    const warnings = () => w.lines().filter((l) => l.level === 'warn' && l.msg === 'project credentials set with another credential secret: not replaced (see /readyz)');
    await me.ownerRecords();
    t += 999;
    await me.ownerRecords();
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ robot_id: [...w.harbor.robots.keys()][0], key: keyFingerprint(OLD), own_key: me.key });
    t += 1;
    await me.ownerRecords();
    expect(warnings()).toHaveLength(2);
  });

  it('a key unannounced heals exactly at the grace period, counted from this replica\'s first announcement and from the key\'s first absence', async () => {
    const w = world({ liveKeys: undefined });
    await w.replica(OLD).grantWorkspace(team, 'ws1');
    const me = w.replica(SECRET, { liveKeys: w.cache, keyGraceMs: 1000 });
    await me.announce(); // announced since t
    t += 500;
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' }); // OLD absent since t + 500
    t += 500; // 1000 since the announcement, 500 since the absence
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    t += 499;
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    t += 1;
    await me.get(team);
    expect(parseMarker([...w.harbor.robots.values()][0].description)?.key).toBe(me.key);
    expect(w.lines().filter((l) => l.level === 'warn').at(-1)).toMatchObject({
      msg: 'credential key announced by no replica: treated as retired, its robots get this key\'s passwords',
      key: keyFingerprint(OLD),
      own_key: me.key,
    });
  });

  it('announcements that stop reaching Redis restart the grace period', async () => {
    const w = world({ liveKeys: undefined });
    await w.replica(OLD).grantWorkspace(team, 'ws1');
    const me = w.replica(SECRET, { liveKeys: w.cache, keyGraceMs: 1000 });
    await me.announce();
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    t += 900;
    w.up.shared = false;
    await me.announce(); // did not get through
    w.up.shared = true;
    await me.announce(); // announced again since t + 900
    t += 100;
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    t += 899;
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    t += 1;
    await me.get(team);
  });

  it('this replica\'s announcements breaking off restart its own grace period, even for a key long unannounced', async () => {
    const w = world({ liveKeys: undefined });
    await w.replica(OLD).grantWorkspace(team, 'ws1');
    const me = w.replica(SECRET, { liveKeys: w.cache, keyGraceMs: 1000, mismatchTtlMs: 100 });
    await me.announce();
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' }); // OLD unannounced since t
    t += 200;
    expect(me.keyStatus().ok).toBe(true); // the mismatch has expired
    w.up.shared = false;
    await me.announce(); // this announcement does not get through
    t += 700;
    w.up.shared = true;
    await me.announce(); // announcing again since t + 900
    t += 100; // OLD unannounced for 1000 ms, but this replica has announced for 100 ms only
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    t += 900;
    await me.get(team);
  });

  it('a key taken for retired that is announced again is no longer retired, with a warning', async () => {
    const w = world({ liveKeys: undefined });
    const old = w.replica(OLD, { liveKeys: w.cache });
    await old.grantWorkspace(team, 'ws1');
    const me = w.replica(SECRET, { liveKeys: w.cache, keyGraceMs: 1000 });
    await me.announce();
    await me.ownerRecords();
    await me.announce(); // OLD found unannounced
    t += 1000;
    await me.announce(); // OLD unannounced for the grace period: retired
    expect(w.lines().filter((l) => l.level === 'warn').at(-1)).toMatchObject({ msg: 'credential key announced by no replica: treated as retired, its robots get this key\'s passwords' });
    await old.grantWorkspace(teamB, 'ws2'); // proj-b's robot is set with OLD
    await old.announce();
    await me.announce();
    expect(w.lines().filter((l) => l.level === 'warn').at(-1)).toMatchObject({ msg: 'credential key announced again: no longer treated as retired', key: keyFingerprint(OLD), own_key: me.key });
    await expect(me.get(teamB)).rejects.toMatchObject({ kind: 'unavailable' });
  });

  it('a key the fleet keeps announcing is never taken for retired, however long', async () => {
    const w = world({ liveKeys: undefined });
    const old = w.replica(OLD, { liveKeys: w.cache });
    await old.grantWorkspace(team, 'ws1');
    const me = w.replica(SECRET, { liveKeys: w.cache, keyGraceMs: 1000 });
    for (let i = 0; i < 5; i++) {
      await old.announce();
      await me.announce();
      await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
      t += 1000;
    }
    expect(w.lines().filter((l) => l.msg === 'credential key announced by no replica: treated as retired, its robots get this key\'s passwords')).toEqual([]);
  });

  it('while Redis is down a key cannot be seen announced, which proves nothing: it is not taken for retired', async () => {
    const w = world({ liveKeys: undefined });
    const old = w.replica(OLD, { liveKeys: w.cache });
    await old.grantWorkspace(team, 'ws1');
    const me = w.replica(SECRET, { liveKeys: w.cache, keyGraceMs: 1000 });
    await old.announce();
    await me.announce();
    w.up.shared = false; // Redis goes down; no announcement round runs on this replica meanwhile
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    t += 2000;
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    w.up.shared = true;
    await old.announce();
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
  });

  it('a retired key found still in use (contested) is never taken for retired again, announced or not', async () => {
    const w = world({ liveKeys: undefined });
    await w.replica(OLD).grantWorkspace(team, 'ws1');
    const me = w.replica(SECRET, { liveKeys: w.cache, keyGraceMs: 1000, previousSecrets: [OLD] });
    await me.announce();
    await me.get(team); // replaced OLD
    const robot = [...w.harbor.robots.values()][0];
    robot.description = formatMarker({ ...parseMarker(robot.description)!, key: keyFingerprint(OLD) }); // OLD is back: contested
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    await me.announce();
    t += 1000;
    await me.announce();
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    expect(w.lines().filter((l) => l.msg === 'credential key announced by no replica: treated as retired, its robots get this key\'s passwords')).toEqual([]);
  });

  it('a robot seen with this key again leaves the mismatch gauge at once', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const w = world();
    await w.replica(OLD).grantWorkspace(team, 'ws1');
    const me = w.replica(SECRET, { metrics });
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    const gauge = async () => (await metrics.registry.getSingleMetric('hubgate_credential_key_mismatch')!.get()).values[0]?.value;
    expect(await gauge()).toBe(1);
    await w.replica(SECRET, { previousSecrets: [OLD] }).get(team); // another replica of this key heals it
    await me.get(team);
    expect(await gauge()).toBe(0);
  });

  it('rolling upgrade: a key-less marker coming back is reported as key "none", and not listed as a retired key in use', async () => {
    const w = world();
    const me = w.replica(SECRET);
    await me.grantWorkspace(team, 'ws1');
    const robot = () => [...w.harbor.robots.values()][0];
    const dropKey = () => {
      const m = parseMarker(robot().description)!;
      delete m.key;
      robot().description = formatMarker(m);
    };
    dropKey();
    await me.get(team); // adopted
    dropKey(); // an older replica rewrote it
    await me.get(team);
    expect(w.lines().filter((l) => l.level === 'error')).toEqual([expect.objectContaining({ robot_id: robot().id, key: 'none', own_key: me.key })]);
    expect(me.keyStatus()).toEqual({ ok: true, detail: `credential key ${me.key}` });
  });

  it('a replaced key that comes back is reported once, with the robot, the key and this key', async () => {
    const w = world();
    const old = w.replica(OLD);
    await old.grantWorkspace(team, 'ws1');
    const me = w.replica(SECRET, { previousSecrets: [OLD] });
    await me.get(team); // replaced OLD
    await old.rotate(team).catch(() => undefined); // refused: my key is foreign to it
    // OLD comes back on the robot (a replica still running with it wrote it).
    const robot = [...w.harbor.robots.values()][0];
    robot.description = formatMarker({ ...parseMarker(robot.description)!, key: keyFingerprint(OLD) });
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(me.get(team)).rejects.toMatchObject({ kind: 'unavailable' });
    const errors = w.lines().filter((l) => l.level === 'error');
    expect(errors).toEqual([
      expect.objectContaining({ msg: 'credential key disagreement: a key this replica replaced came back, another replica still uses it; not replacing it again', robot_id: robot.id, key: keyFingerprint(OLD), own_key: me.key }),
    ]);
    expect(me.keyStatus().detail).toContain(`retired key(s) ${keyFingerprint(OLD)} still in use by another replica`);
  });
});
