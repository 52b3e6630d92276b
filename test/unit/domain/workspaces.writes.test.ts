import { AppError } from '../../../src/domain/errors';
import { refusal } from '../../support/app-refusal';
import { CredentialsService } from '../../../src/domain/credentials.service';
import { WorkspacesService } from '../../../src/domain/workspaces.service';
import type { Principal } from '../../../src/domain/principal';
import { createLogger, silentLogger } from '../../../src/observability/logger';
import type { Coordination, LockOptions } from '../../../src/ports/coordination';
import { createInProcessCoordination } from '../../../adapters/redis/redis.coordination';
import { FakeHarbor } from '../../support/fake-harbor';

/**
 * Workspace writes, exactly: the lock they hold, which existing Harbor project a creation may take over (and
 * which it rolls back when granting fails), access changes, refused deletions, and the log lines of the
 * failures that are logged rather than answered.
 */
const teamA = { id: 'proj-a', name: 'Team A', department: 'dept-1' };
const teamB = { id: 'proj-b', name: 'Team B', department: 'dept-2' };
const alice: Principal = { userId: 'u-alice', username: 'alice', isCloudAdmin: false, projects: [teamA] };
const bob: Principal = { userId: 'u-bob', username: 'bob', isCloudAdmin: false, projects: [teamB] };

function setup(o: { protectedVersion?: (ws: string) => Promise<string | undefined> } = {}) {
  const harbor = new FakeHarbor();
  const logs: string[] = [];
  // The credentials have their own coordination: the recorded locks are the workspace service's alone.
  const credentials = new CredentialsService({ harbor, coordination: createInProcessCoordination(), logger: silentLogger, secret: 'x'.repeat(32), usernamePrefix: 'hg-', robotPrefix: 'robot$' });
  const inner = createInProcessCoordination();
  const locks: [string, LockOptions | undefined][] = [];
  const coordination: Coordination = {
    withLock: (name, fn, opts) => {
      locks.push([name, opts]);
      return inner.withLock(name, fn, opts);
    },
    shared: () => inner.shared(),
  };
  const workspaces = new WorkspacesService({
    harbor,
    credentials,
    coordination,
    cache: inner,
    logger: createLogger('debug', (l) => logs.push(l)),
    registryHost: 'hub.example.test',
    reserved: ['library'],
    catalogTtlSeconds: 5,
    protectedVersion: o.protectedVersion,
  });
  const lines = () => logs.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { harbor, credentials, workspaces, locks, lines };
}

/** A Harbor project created outside hubgate `ageMs` before `now` (nobody's credentials list it). */
async function unowned(harbor: FakeHarbor, name: string, o: { public?: boolean; ageMs?: number; now?: number } = {}): Promise<number> {
  const id = await harbor.createProject({ name, public: o.public ?? false });
  harbor.projects.get(name)!.creation_time = new Date((o.now ?? Date.now()) - (o.ageMs ?? 3600_000)).toISOString();
  return id;
}

/** The workspaces a team's credentials reach. */
async function reach(credentials: CredentialsService, team: typeof teamA): Promise<string[]> {
  return ((await credentials.ownerRecords()).find((r) => r.project.id === team.id)?.workspaces ?? []).slice().sort();
}

afterEach(() => jest.restoreAllMocks());

describe('the workspace lock', () => {
  it('creation and deletion of a name both hold workspace:<name>, required across replicas', async () => {
    const { workspaces, locks } = setup();
    await workspaces.create(alice, { name: 'locked', projectId: teamA.id, access: 'private' });
    await workspaces.delete(alice, 'locked');
    const held = { ttlMs: 30000, waitMs: 60000, required: true };
    expect(locks).toEqual([
      ['workspace:locked', held],
      ['workspace:locked', held],
    ]);
  });
});

describe('creation over an existing Harbor project', () => {
  it('a failed grant after adopting a project does not delete it: only a project the request created is rolled back', async () => {
    const { harbor, credentials, workspaces } = setup();
    await unowned(harbor, 'adopted');
    harbor.failNext('createRobot');
    expect(await refusal(workspaces.create(alice, { name: 'adopted', projectId: teamA.id, access: 'private' }))).toEqual({ kind: 'upstream_unavailable', message: 'boom' });
    expect(harbor.projects.has('adopted')).toBe(true);
    expect(harbor.calls).not.toContain('deleteProject');
    expect(await reach(credentials, teamA)).toEqual([]);
  });

  it("other projects' credentials are cleared of the name only for a project the request created (not on a retry, not on an adoption)", async () => {
    const { harbor, credentials, workspaces } = setup();
    const release = jest.spyOn(credentials, 'releaseFromOthers');
    await workspaces.create(alice, { name: 'again', projectId: teamA.id, access: 'private' });
    expect(release.mock.calls).toEqual([['again', teamA]]);
    release.mockClear();
    expect(await workspaces.create(alice, { name: 'again', projectId: teamA.id, access: 'private' })).toMatchObject({ name: 'again', project: teamA, relation: 'manage' });
    await unowned(harbor, 'adopted');
    expect(await workspaces.create(alice, { name: 'adopted', projectId: teamA.id, access: 'private' })).toMatchObject({ name: 'adopted', project: teamA, relation: 'manage' });
    expect(release).not.toHaveBeenCalled();
  });

  it("a new workspace is taken out of another project's credentials that still list the name from an earlier workspace", async () => {
    const { harbor, credentials, workspaces } = setup();
    await workspaces.create(bob, { name: 'reused', projectId: teamB.id, access: 'private' });
    await workspaces.create(bob, { name: 'bobs', projectId: teamB.id, access: 'private' });
    harbor.projects.delete('reused'); // deleted in Harbor directly: Team B's robot still names it
    await workspaces.create(alice, { name: 'reused', projectId: teamA.id, access: 'private' });
    expect(await reach(credentials, teamA)).toEqual(['reused']);
    expect(await reach(credentials, teamB)).toEqual(['bobs']);
  });

  it("credentials for the project's other workspaces do not make an unowned young project its own: 409 being created", async () => {
    const { harbor, credentials, workspaces } = setup();
    await workspaces.create(alice, { name: 'mine', projectId: teamA.id, access: 'private' });
    await unowned(harbor, 'young', { ageMs: 1000 });
    expect(await refusal(workspaces.create(alice, { name: 'young', projectId: teamA.id, access: 'private' }))).toEqual({
      kind: 'conflict',
      message: 'workspace name "young" is taken (it is being created by another request)',
    });
    expect(await reach(credentials, teamA)).toEqual(['mine']);
  });

  it("a name listed by this and another project's credentials is not a retry of our own: 409 already taken", async () => {
    const { credentials, workspaces } = setup();
    await workspaces.create(alice, { name: 'both', projectId: teamA.id, access: 'private' });
    await credentials.grantWorkspace(teamB, 'both'); // e.g. left by a lost lock
    expect(await refusal(workspaces.create(alice, { name: 'both', projectId: teamA.id, access: 'private' }))).toEqual({
      kind: 'conflict',
      message: 'workspace name "both" is already taken',
    });
  });

  it('an unowned empty project is adopted from exactly adoptUnownedAfterSeconds (default 600) old, not a millisecond before', async () => {
    const { harbor, credentials, workspaces } = setup();
    const now = 1_700_000_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    await unowned(harbor, 'almost', { now, ageMs: 599_999 });
    await unowned(harbor, 'exactly', { now, ageMs: 600_000 });
    expect(await refusal(workspaces.create(alice, { name: 'almost', projectId: teamA.id, access: 'private' }))).toEqual({
      kind: 'conflict',
      message: 'workspace name "almost" is taken (it is being created by another request)',
    });
    expect(await workspaces.create(alice, { name: 'exactly', projectId: teamA.id, access: 'private' })).toMatchObject({ name: 'exactly', project: teamA });
    expect(await reach(credentials, teamA)).toEqual(['exactly']);
  });

  it('an adoption is logged (info) with the workspace and the adopting project', async () => {
    const { harbor, workspaces, lines } = setup();
    await unowned(harbor, 'found');
    await workspaces.create(alice, { name: 'found', projectId: teamA.id, access: 'private' });
    expect(lines()).toEqual([{ time: expect.any(String), level: 'info', msg: 'adopting an unowned empty Harbor project as a workspace', workspace: 'found', project: 'proj-a' }]);
  });

  it('a public project adopted as a private workspace is made private', async () => {
    const { harbor, workspaces } = setup();
    await unowned(harbor, 'was-public', { public: true });
    expect(await workspaces.create(alice, { name: 'was-public', projectId: teamA.id, access: 'private' })).toMatchObject({ name: 'was-public', access: 'private' });
    expect(harbor.projects.get('was-public')!.metadata.public).toBe('false');
  });

  it('a project without metadata (private) is adopted as a private workspace without changing it', async () => {
    const { harbor, workspaces } = setup();
    await unowned(harbor, 'bare');
    (harbor.projects.get('bare') as { metadata?: unknown }).metadata = undefined;
    expect(await workspaces.create(alice, { name: 'bare', projectId: teamA.id, access: 'private' })).toMatchObject({ name: 'bare', access: 'private', project: teamA });
    expect(harbor.calls).not.toContain('setProjectPublic');
  });

  it('a failed rollback of the grant is logged as a warning naming the workspace, and the project is still deleted', async () => {
    const { harbor, credentials, workspaces, lines } = setup();
    harbor.failNext('createRobot');
    jest.spyOn(credentials, 'revokeWorkspace').mockRejectedValueOnce(new AppError('upstream_unavailable', 'robot update failed'));
    expect(await refusal(workspaces.create(alice, { name: 'half', projectId: teamA.id, access: 'private' }))).toEqual({ kind: 'upstream_unavailable', message: 'boom' });
    expect(lines()).toEqual([
      {
        time: expect.any(String),
        level: 'warn',
        msg: 'rollback: could not take the workspace back out of the project credentials',
        workspace: 'half',
        error: { name: 'AppError', message: 'robot update failed' },
      },
    ]);
    expect(harbor.projects.has('half')).toBe(false);
  });
});

describe('access changes', () => {
  it('a public workspace made private is private in Harbor', async () => {
    const { harbor, workspaces } = setup();
    await workspaces.create(alice, { name: 'open', projectId: teamA.id, access: 'public' });
    expect(await workspaces.setAccess(alice, 'open', 'private')).toMatchObject({ name: 'open', access: 'private' });
    expect(harbor.projects.get('open')!.metadata.public).toBe('false');
  });

  it('setting the access a workspace already has does not update the Harbor project', async () => {
    const { harbor, workspaces } = setup();
    await workspaces.create(alice, { name: 'same', projectId: teamA.id, access: 'public' });
    harbor.calls.length = 0;
    expect(await workspaces.setAccess(alice, 'same', 'public')).toMatchObject({ name: 'same', access: 'public' });
    expect(harbor.calls).toEqual(['findProject', 'listRobots', 'findProject', 'listRobots', 'projectSummary']);
  });
});

describe('deletion', () => {
  it('a workspace holding a version an immutable rule protects is not deleted: 409 naming it, nothing touched', async () => {
    const rule = 'version "app:1.0" is protected by immutable rule 1 (repositories "**", tags "1.*")';
    const { harbor, credentials, workspaces } = setup({ protectedVersion: async (ws) => (ws === 'guarded' ? rule : undefined) });
    await workspaces.create(alice, { name: 'guarded', projectId: teamA.id, access: 'private' });
    await workspaces.create(alice, { name: 'free', projectId: teamA.id, access: 'private' });
    harbor.addRepository('guarded', 'app');
    harbor.calls.length = 0;
    expect(await refusal(workspaces.delete(alice, 'guarded'))).toEqual({
      kind: 'conflict',
      message: `workspace "guarded" cannot be deleted: ${rule}; remove the rule first`,
    });
    expect(harbor.calls).toEqual(['findProject', 'listRobots']);
    expect(harbor.repos.get('guarded')!.map((r) => r.name)).toEqual(['guarded/app']);
    expect(await reach(credentials, teamA)).toEqual(['free', 'guarded']);
    expect(await workspaces.delete(alice, 'free')).toEqual({ deletedImages: 0 });
  });

  it('a failed deletion that cannot give the workspace back to its project is logged as an error naming both', async () => {
    const { harbor, credentials, workspaces, lines } = setup();
    await workspaces.create(alice, { name: 'gone', projectId: teamA.id, access: 'private' });
    harbor.failNext('deleteProject');
    jest.spyOn(credentials, 'grantWorkspace').mockRejectedValueOnce(new AppError('upstream_unavailable', 'robot update failed'));
    expect(await refusal(workspaces.delete(alice, 'gone'))).toEqual({ kind: 'upstream_unavailable', message: 'boom' });
    expect(lines()).toEqual([
      {
        time: expect.any(String),
        level: 'error',
        msg: 'a failed deletion could not give the workspace back to its project',
        workspace: 'gone',
        project: 'proj-a',
        error: { name: 'AppError', message: 'robot update failed' },
      },
    ]);
  });
});
