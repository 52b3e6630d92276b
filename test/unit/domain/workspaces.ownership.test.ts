import { AppError } from '../../../src/domain/errors';
import { refusal } from '../../support/app-refusal';
import { CredentialsService } from '../../../src/domain/credentials.service';
import { FakeHarbor } from '../../support/fake-harbor';
import { alice, bob, services, teamA, teamB } from './workspaces.kit';

/**
 * Workspace ownership: which existing Harbor project a creation may adopt (only an empty one nobody owns, or its
 * own interrupted creation), and a delete that leaves nothing behind even when images arrive while it runs.
 */

const setup = () => services(new FakeHarbor());

/**
 * A Harbor project that existed before (older than HUBGATE_ADOPT_UNOWNED_AFTER_SECONDS): only such an unowned
 * project can be adopted — a younger one may be another request's creation in flight (workspaces.test.ts).
 */
function preexisting(harbor: FakeHarbor, name: string): void {
  harbor.projects.get(name)!.creation_time = new Date(Date.now() - 3600_000).toISOString();
}

/** The workspaces a team's credentials reach (none when the team has no credentials yet). */
async function reach(credentials: CredentialsService, team: typeof teamA): Promise<string[]> {
  const owners = await credentials.ownerRecords();
  return (owners.find((o) => o.project.id === team.id)?.workspaces ?? []).slice().sort();
}

describe('workspace creation: adopting an existing Harbor project', () => {
  it('an unowned Harbor project that holds images is not adopted: 409 "already taken", nothing granted', async () => {
    const { harbor, credentials, workspaces } = setup();
    await harbor.createProject({ name: 'loaded', public: false });
    preexisting(harbor, 'loaded');
    harbor.addRepository('loaded', 'someone/app');
    expect(await refusal(workspaces.create(alice, { name: 'loaded', projectId: teamA.id, access: 'private' }))).toEqual({
      kind: 'conflict',
      message: 'workspace name "loaded" is already taken',
    });
    expect(await reach(credentials, teamA)).toEqual([]);
    expect([...harbor.robots.values()].flatMap((r) => r.permissions.map((p) => p.namespace))).not.toContain('loaded');
    // the images are still there
    expect(harbor.repos.get('loaded')!.map((r) => r.name)).toEqual(['loaded/someone/app']);
  });

  it('an unowned empty Harbor project is adopted, its access set to what was asked', async () => {
    const { harbor, credentials, workspaces } = setup();
    await harbor.createProject({ name: 'empty', public: false });
    preexisting(harbor, 'empty');
    const ws = await workspaces.create(alice, { name: 'empty', projectId: teamA.id, access: 'public' });
    expect(ws).toMatchObject({ name: 'empty', access: 'public', relation: 'manage' });
    expect(harbor.projects.get('empty')!.metadata.public).toBe('true');
    expect((await credentials.get(teamA)).workspaces).toEqual(['empty']);
  });

  it('adopting with the access the project already has does not touch it', async () => {
    const { harbor, workspaces } = setup();
    await harbor.createProject({ name: 'same', public: true });
    preexisting(harbor, 'same');
    harbor.calls.length = 0;
    await workspaces.create(alice, { name: 'same', projectId: teamA.id, access: 'public' });
    expect(harbor.calls).not.toContain('setProjectPublic');
    expect(harbor.projects.get('same')!.metadata.public).toBe('true');
    // and a private one asked for private stays private
    await harbor.createProject({ name: 'same-private', public: false });
    preexisting(harbor, 'same-private');
    harbor.calls.length = 0;
    await workspaces.create(alice, { name: 'same-private', projectId: teamA.id, access: 'private' });
    expect(harbor.calls).not.toContain('setProjectPublic');
    expect(harbor.projects.get('same-private')!.metadata.public).toBe('false');
  });

  it("another project's workspace is never adopted (even empty): 409 already taken; the owner's own retry is idempotent", async () => {
    const { harbor, credentials, workspaces } = setup();
    await workspaces.create(bob, { name: 'bobs', projectId: teamB.id, access: 'private' });
    expect(await refusal(workspaces.create(alice, { name: 'bobs', projectId: teamA.id, access: 'private' }))).toEqual({
      kind: 'conflict',
      message: 'workspace name "bobs" is already taken',
    });
    expect(await reach(credentials, teamA)).toEqual([]);
    // bob creating it again: fine, same workspace, nothing duplicated
    await workspaces.create(bob, { name: 'bobs', projectId: teamB.id, access: 'private' });
    expect((await credentials.get(teamB)).workspaces).toEqual(['bobs']);
    expect(harbor.projects.has('bobs')).toBe(true);
  });

  it('a project that vanished between the conflict and the lookup: 409 "being created or deleted", try again', async () => {
    const { harbor, workspaces } = setup();
    harbor.failNext('createProject', () => new AppError('conflict', 'The project named ghost already exists'));
    expect(await refusal(workspaces.create(alice, { name: 'ghost', projectId: teamA.id, access: 'private' }))).toEqual({
      kind: 'conflict',
      message: 'workspace "ghost" is being created or deleted by another request; try again',
    });
  });

  it('a creation failing for another reason than a conflict is not turned into an adoption', async () => {
    const { harbor, workspaces } = setup();
    harbor.failNext('createProject', () => new AppError('upstream_unavailable', 'harbor down'));
    expect(await refusal(workspaces.create(alice, { name: 'down', projectId: teamA.id, access: 'private' }))).toEqual({
      kind: 'upstream_unavailable',
      message: 'harbor down',
    });
    expect(harbor.calls).not.toContain('findProject');
  });
});

describe('workspace delete: images pushed while deleting', () => {
  /** Makes the next `times` deleteProject calls find a freshly pushed repository (as if pushed during the delete). */
  function pushDuringDelete(harbor: FakeHarbor, project: string, times: number): { attempts: number } {
    const original = harbor.deleteProject.bind(harbor);
    const seen = { attempts: 0 };
    harbor.deleteProject = async (name: string) => {
      seen.attempts++;
      if (seen.attempts <= times) harbor.addRepository(project, `late-${seen.attempts}`);
      return original(name);
    };
    return seen;
  }

  it('a repository pushed during the delete is emptied again and the delete completes', async () => {
    const { harbor, workspaces } = setup();
    await workspaces.create(alice, { name: 'busy', projectId: teamA.id, access: 'private' });
    harbor.addRepository('busy', 'app');
    const seen = pushDuringDelete(harbor, 'busy', 1);
    expect(await workspaces.delete(alice, 'busy')).toEqual({ deletedImages: 2 });
    expect(seen.attempts).toBe(2);
    expect(harbor.projects.has('busy')).toBe(false);
  });

  it('pushes during two delete attempts: emptied twice, the third attempt deletes it', async () => {
    const { harbor, workspaces } = setup();
    await workspaces.create(alice, { name: 'busier', projectId: teamA.id, access: 'private' });
    const seen = pushDuringDelete(harbor, 'busier', 2);
    expect(await workspaces.delete(alice, 'busier')).toEqual({ deletedImages: 2 });
    expect(seen.attempts).toBe(3);
    expect(harbor.projects.has('busier')).toBe(false);
  });

  it('pushes during every attempt: gives up after three with the precondition error, the workspace still listed', async () => {
    const { harbor, workspaces } = setup();
    await workspaces.create(alice, { name: 'flood', projectId: teamA.id, access: 'private' });
    const seen = pushDuringDelete(harbor, 'flood', 100);
    expect(await refusal(workspaces.delete(alice, 'flood'))).toEqual({
      kind: 'precondition',
      message: 'precondition failed: the project contains repositories, can not be deleted',
    });
    expect(seen.attempts).toBe(3);
    expect(harbor.projects.has('flood')).toBe(true);
  });

  it('another failure of the project delete is not retried', async () => {
    const { harbor, workspaces } = setup();
    await workspaces.create(alice, { name: 'flaky', projectId: teamA.id, access: 'private' });
    harbor.failNext('deleteProject');
    harbor.calls.length = 0;
    expect((await refusal(workspaces.delete(alice, 'flaky'))).kind).toBe('upstream_unavailable');
    expect(harbor.calls.filter((c) => c === 'deleteProject')).toHaveLength(1);
  });
});
