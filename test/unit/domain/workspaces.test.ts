import { AppError } from '../../../src/domain/errors';
import { CredentialsService, parseMarker } from '../../../src/domain/credentials.service';
import { WorkspacesService, relation } from '../../../src/domain/workspaces.service';
import { silentLogger } from '../../../src/observability/logger';
import { createInProcessCoordination } from '../../../adapters/redis/redis.coordination';
import { FakeHarbor } from '../../support/fake-harbor';
import { admin, alice, bob, services, teamA, teamB } from './workspaces.kit';

const setup = () => services(new FakeHarbor());

const kind = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof AppError) return e.kind;
    throw e;
  }
};

describe('workspaces: the permission matrix', () => {
  it('relation(): own → manage, other public → view, other private → none, admin → manage', () => {
    const own = { access: 'private' as const, project: teamA };
    const pub = { access: 'public' as const, project: teamB };
    const priv = { access: 'private' as const, project: teamB };
    expect([relation(alice, own), relation(alice, pub), relation(alice, priv)]).toEqual(['manage', 'view', 'none']);
    expect([relation(admin, own), relation(admin, pub), relation(admin, priv)]).toEqual(['manage', 'manage', 'manage']);
    expect(relation(alice, { access: 'public', project: null })).toBe('none');
  });

  it('create / view / change / delete across own, other public and other private workspaces', async () => {
    const { workspaces } = setup();
    await workspaces.create(alice, { name: 'a-private', projectId: teamA.id, access: 'private' });
    await workspaces.create(bob, { name: 'b-public', projectId: teamB.id, access: 'public' });
    await workspaces.create(bob, { name: 'b-private', projectId: teamB.id, access: 'private' });

    // view
    expect((await workspaces.get(alice, 'a-private')).relation).toBe('manage');
    expect((await workspaces.get(alice, 'b-public')).relation).toBe('view');
    expect(await kind(workspaces.get(alice, 'b-private'))).toBe('not_found');
    // list
    const names = (await workspaces.list(alice, { page: 1, pageSize: 100 })).items.map((w) => w.name);
    expect(names).toEqual(['a-private', 'b-public']);
    expect((await workspaces.list(admin, { page: 1, pageSize: 100 })).items.map((w) => w.name)).toEqual(['a-private', 'b-private', 'b-public', 'library']);
    // change access level
    expect(await kind(workspaces.setAccess(alice, 'a-private', 'public'))).toBe('ok');
    expect(await kind(workspaces.setAccess(alice, 'b-public', 'private'))).toBe('forbidden');
    expect(await kind(workspaces.setAccess(alice, 'b-private', 'public'))).toBe('not_found');
    // create in a project not joined
    expect(await kind(workspaces.create(alice, { name: 'sneaky', projectId: teamB.id, access: 'private' }))).toBe('forbidden');
    // delete
    expect(await kind(workspaces.delete(alice, 'b-public'))).toBe('forbidden');
    expect(await kind(workspaces.delete(alice, 'b-private'))).toBe('not_found');
    expect(await kind(workspaces.delete(alice, 'a-private'))).toBe('ok');
    // cloud admin manages everything
    expect(await kind(workspaces.setAccess(admin, 'b-private', 'public'))).toBe('ok');
    expect(await kind(workspaces.delete(admin, 'b-private'))).toBe('ok');
  });

  it('filters and pages the list with a total', async () => {
    const { workspaces } = setup();
    for (let i = 0; i < 5; i++) await workspaces.create(alice, { name: `ws-${i}`, projectId: teamA.id, access: i % 2 ? 'public' : 'private' });
    await workspaces.create(bob, { name: 'other', projectId: teamB.id, access: 'public' });
    const page2 = await workspaces.list(alice, { page: 2, pageSize: 2 });
    expect(page2).toMatchObject({ total: 6, page: 2, pageSize: 2 });
    expect(page2.items.map((w) => w.name)).toEqual(['ws-1', 'ws-2']);
    expect((await workspaces.list(alice, { page: 1, pageSize: 10, access: 'public' })).total).toBe(3);
    expect((await workspaces.list(alice, { page: 1, pageSize: 10, department: 'dept-2' })).items.map((w) => w.name)).toEqual(['other']);
    expect((await workspaces.list(alice, { page: 1, pageSize: 10, projectId: teamA.id })).total).toBe(5);
    expect((await workspaces.list(alice, { page: 1, pageSize: 10, q: 's-3' })).items.map((w) => w.name)).toEqual(['ws-3']);
    expect((await workspaces.list(alice, { page: 9, pageSize: 10 })).items).toEqual([]);
  });

  it('refuses bad names, reserved names and taken names', async () => {
    const { workspaces } = setup();
    expect(await kind(workspaces.create(alice, { name: 'Bad_Name!', projectId: teamA.id, access: 'private' }))).toBe('invalid');
    expect(await kind(workspaces.create(alice, { name: 'library', projectId: teamA.id, access: 'private' }))).toBe('conflict');
    await workspaces.create(bob, { name: 'taken', projectId: teamB.id, access: 'private' });
    expect(await kind(workspaces.create(alice, { name: 'taken', projectId: teamA.id, access: 'private' }))).toBe('conflict');
    expect(await kind(workspaces.create(alice, { name: 'x', projectId: teamA.id, department: 'dept-2', access: 'private' }))).toBe('invalid');
  });

  it('deletes every image, then the workspace', async () => {
    const { workspaces, harbor } = setup();
    await workspaces.create(alice, { name: 'full', projectId: teamA.id, access: 'private' });
    harbor.addRepository('full', 'app');
    harbor.addRepository('full', 'team/app');
    expect(await workspaces.delete(alice, 'full')).toEqual({ deletedImages: 2 });
    expect(harbor.projects.has('full')).toBe(false);
    expect(await kind(workspaces.get(alice, 'full'))).toBe('not_found');
  });
});

describe('workspaces: nothing half-done', () => {
  it('rolls the Harbor project back when granting the credentials fails', async () => {
    const { workspaces, harbor } = setup();
    harbor.failNext('createRobot');
    expect(await kind(workspaces.create(alice, { name: 'half', projectId: teamA.id, access: 'private' }))).toBe('upstream_unavailable');
    expect(harbor.projects.has('half')).toBe(false);
    // and the retry succeeds from scratch
    expect(await kind(workspaces.create(alice, { name: 'half', projectId: teamA.id, access: 'private' }))).toBe('ok');
  });

  it('what a failed rollback leaves is adopted only once it is older than any creation in flight (never by another project meanwhile)', async () => {
    const { workspaces, harbor, credentials } = setup();
    harbor.failNext('createRobot');
    harbor.failNext('deleteProject');
    expect(await kind(workspaces.create(alice, { name: 'orphan', projectId: teamA.id, access: 'private' }))).toBe('upstream_unavailable');
    expect(harbor.projects.has('orphan')).toBe(true);
    // young and unowned: it may be another request's creation that has not granted it yet — nobody takes it
    expect(await kind(workspaces.create(bob, { name: 'orphan', projectId: teamB.id, access: 'private' }))).toBe('conflict');
    expect(await kind(workspaces.create(alice, { name: 'orphan', projectId: teamA.id, access: 'private' }))).toBe('conflict');
    harbor.projects.get('orphan')!.creation_time = new Date(Date.now() - 601_000).toISOString();
    await workspaces.create(alice, { name: 'orphan', projectId: teamA.id, access: 'public' });
    expect((await credentials.get(teamA)).workspaces).toEqual(['orphan']);
    expect(harbor.projects.get('orphan')!.metadata.public).toBe('true');
  });

  it('a retry of a delete that failed midway completes it', async () => {
    const { workspaces, harbor } = setup();
    await workspaces.create(alice, { name: 'mid', projectId: teamA.id, access: 'private' });
    harbor.addRepository('mid', 'one');
    harbor.addRepository('mid', 'two');
    harbor.failNext('deleteProject');
    expect(await kind(workspaces.delete(alice, 'mid'))).toBe('upstream_unavailable');
    expect(await kind(workspaces.delete(alice, 'mid'))).toBe('ok');
    expect(harbor.projects.has('mid')).toBe(false);
  });

  it('two replicas whose locks do not meet: a creation in flight is never adopted by another project creating the same name', async () => {
    // Two hubgate replicas over one Harbor, each with its own (in-process) locks — what a lost Redis lock amounts to.
    const { harbor, workspaces: one, credentials } = setup();
    const twoCoordination = createInProcessCoordination();
    const twoCredentials = new CredentialsService({ harbor, coordination: twoCoordination, logger: silentLogger, secret: 'x'.repeat(32), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
    const two = new WorkspacesService({
      harbor,
      credentials: twoCredentials,
      coordination: twoCoordination,
      cache: twoCoordination,
      logger: silentLogger,
      registryHost: 'hub.example.test',
      reserved: [],
      catalogTtlSeconds: 5,
    });
    harbor.latencyMs = 5;
    const names = Array.from({ length: 8 }, (_, i) => `same-${i}`);
    const outcomes = await Promise.all(
      names.flatMap((name) => [
        kind(one.create(alice, { name, projectId: teamA.id, access: 'private' })).then((k) => ({ name, who: teamA.id, k })),
        kind(two.create(bob, { name, projectId: teamB.id, access: 'private' })).then((k) => ({ name, who: teamB.id, k })),
      ]),
    );
    const records = await credentials.ownerRecords();
    for (const name of names) {
      const winners = outcomes.filter((o) => o.name === name && o.k === 'ok').map((o) => o.who);
      const losers = outcomes.filter((o) => o.name === name && o.k !== 'ok').map((o) => o.k);
      const holders = records.filter((r) => r.workspaces.includes(name)).map((r) => r.project.id);
      expect({ name, winners: winners.length, holders }).toEqual({ name, winners: 1, holders: winners });
      expect(losers).toEqual(['conflict']);
    }
  });

  it('a workspace deleted behind hubgate\'s back (its permission still listed) does not block the project\'s next creations', async () => {
    const { workspaces, harbor, credentials } = setup();
    harbor.strictPermissions = true; // Harbor 2.5.5: a robot PUT naming a deleted project is a 404
    await workspaces.create(alice, { name: 'kept', projectId: teamA.id, access: 'private' });
    await workspaces.create(alice, { name: 'vanishing', projectId: teamA.id, access: 'private' });
    harbor.projects.delete('vanishing'); // e.g. deleted in Harbor's UI between hubgate's read and write of the robot
    expect(await kind(workspaces.create(alice, { name: 'next', projectId: teamA.id, access: 'private' }))).toBe('ok');
    expect((await credentials.get(teamA)).workspaces.sort()).toEqual(['kept', 'next']);
  });

  it('a project whose every workspace went away behind hubgate\'s back: rotation is a 409 (no workspace), not Harbor\'s 400 for an empty robot', async () => {
    const { workspaces, harbor, credentials } = setup();
    await workspaces.create(alice, { name: 'only', projectId: teamA.id, access: 'private' });
    await harbor.deleteProject('only'); // Harbor drops (or hides) the robot's permission on it
    expect(await kind(credentials.rotate(teamA))).toBe('conflict');
    expect(await kind(workspaces.create(alice, { name: 'again', projectId: teamA.id, access: 'private' }))).toBe('ok');
    expect((await credentials.get(teamA)).workspaces).toEqual(['again']);
  });

  it('20 concurrent creations in one project all end in the project credentials', async () => {
    const { workspaces, harbor, credentials } = setup();
    harbor.latencyMs = 5;
    const names = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
    await Promise.all(names.map((name) => workspaces.create(alice, { name, projectId: teamA.id, access: 'private' })));
    const creds = await credentials.get(teamA);
    expect(creds.workspaces.sort()).toEqual([...names].sort());
    const robot = [...harbor.robots.values()][0];
    expect(harbor.robots.size).toBe(1);
    expect(robot.duration).toBe(-1);
    expect(parseMarker(robot.description)).toMatchObject({ project: teamA.id, department: 'dept-1' });
  });
});
