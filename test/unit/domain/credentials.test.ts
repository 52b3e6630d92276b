import { AppError } from '../../../src/domain/errors';
import { CredentialsService, parseMarker } from '../../../src/domain/credentials.service';
import { registryUsername } from '../../../src/domain/names';
import { silentLogger } from '../../../src/observability/logger';
import { createInProcessCoordination } from '../../../adapters/redis/redis.coordination';
import { FakeHarbor } from '../../support/fake-harbor';

const team = { id: 'proj-a', name: 'Team A', department: 'dept-1' };

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
    await expect(credentials.get(team)).rejects.toMatchObject({ kind: 'conflict' });
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
    expect(parseMarker(robot.description)).toEqual({ v: 1, project: 'proj-a', name: 'Team A', department: 'dept-1', gen: 1 });
  });

  it('are the same from another instance (no local state) and differ with another key', async () => {
    const { harbor, credentials } = setup();
    await credentials.grantWorkspace(team, 'ws1');
    const again = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: 's'.repeat(32), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    expect((await again.get(team)).password).toBe((await credentials.get(team)).password);
    const other = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: 't'.repeat(32), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    expect((await other.get(team)).password).not.toBe((await credentials.get(team)).password);
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
