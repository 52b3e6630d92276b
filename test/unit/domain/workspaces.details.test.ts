import { AppError } from '../../../src/domain/errors';
import { refusal } from '../../support/app-refusal';
import type { Logger } from '../../../src/observability/logger';
import { silentLogger } from '../../../src/observability/logger';
import { FakeHarbor } from '../../support/fake-harbor';
import { admin, alice, bob, noCache, services, teamA, teamB } from './workspaces.kit';

const setup = (o: Parameters<typeof services>[1] = {}) => services(new FakeHarbor(), o);

afterEach(() => jest.restoreAllMocks());

describe('workspace details', () => {
  it('get(): image count, storage used and limit from the project summary; no quota means no limit', async () => {
    const { harbor, workspaces } = setup();
    await workspaces.create(alice, { name: 'sized', projectId: teamA.id, access: 'private' });
    const summary = jest.spyOn(harbor, 'projectSummary');
    summary.mockResolvedValueOnce({ repo_count: 3, quota: { hard: { storage: 1000 }, used: { storage: 7 } } });
    expect(await workspaces.get(alice, 'sized')).toMatchObject({ imageCount: 3, storageUsedBytes: 7, storageLimitBytes: 1000, storageUsedPercent: 0.7 });
    summary.mockResolvedValueOnce({ repo_count: 0, quota: { hard: { storage: 0 }, used: { storage: 0 } } });
    expect(await workspaces.get(alice, 'sized')).toMatchObject({ imageCount: 0, storageLimitBytes: 0, storageUsedPercent: null });
    summary.mockResolvedValueOnce({ repo_count: 1, quota: { hard: { storage: -1 }, used: { storage: 5 } } });
    expect(await workspaces.get(alice, 'sized')).toMatchObject({ imageCount: 1, storageUsedBytes: 5, storageLimitBytes: null });
    summary.mockResolvedValueOnce({} as never);
    expect(await workspaces.get(alice, 'sized')).toMatchObject({ imageCount: 0, storageUsedBytes: 0, storageLimitBytes: null });
  });

  it('get(): name, access, owner, Harbor id, times and the pull address prefix', async () => {
    const { harbor, workspaces } = setup();
    await workspaces.create(alice, { name: 'shown', projectId: teamA.id, access: 'private' });
    const hp = harbor.projects.get('shown')!;
    expect(await workspaces.get(alice, 'shown')).toEqual({
      name: 'shown',
      access: 'private',
      project: teamA,
      harborProjectId: hp.project_id,
      createdAt: hp.creation_time,
      updatedAt: hp.update_time,
      pullAddressPrefix: 'hub.example.test/shown',
      relation: 'manage',
      imageCount: 0,
      storageUsedBytes: 0,
      storageLimitBytes: null,
      storageUsedPercent: null,
    });
  });

  it('a Harbor project without metadata is private (not an error)', async () => {
    const { harbor, workspaces } = setup();
    await harbor.createProject({ name: 'bare', public: true });
    (harbor.projects.get('bare') as { metadata?: unknown }).metadata = undefined;
    expect((await workspaces.get(admin, 'bare')).access).toBe('private');
  });

  it('a private creation makes a private Harbor project, a public one a public project', async () => {
    const { harbor, workspaces } = setup();
    await workspaces.create(alice, { name: 'priv', projectId: teamA.id, access: 'private' });
    await workspaces.create(alice, { name: 'publ', projectId: teamA.id, access: 'public' });
    expect(harbor.projects.get('priv')!.metadata.public).toBe('false');
    expect(harbor.projects.get('publ')!.metadata.public).toBe('true');
  });
});

describe('workspace list', () => {
  it('the access filter keeps exactly the workspaces with that access', async () => {
    const { workspaces } = setup();
    await workspaces.create(alice, { name: 'a-pub', projectId: teamA.id, access: 'public' });
    await workspaces.create(alice, { name: 'a-priv', projectId: teamA.id, access: 'private' });
    expect((await workspaces.list(alice, { page: 1, pageSize: 10, access: 'public' })).items.map((w) => w.name)).toEqual(['a-pub']);
    expect((await workspaces.list(alice, { page: 1, pageSize: 10, access: 'private' })).items.map((w) => w.name)).toEqual(['a-priv']);
  });

  it('the name filter is case-insensitive', async () => {
    const { workspaces } = setup();
    await workspaces.create(alice, { name: 'frontend', projectId: teamA.id, access: 'private' });
    expect((await workspaces.list(alice, { page: 1, pageSize: 10, q: 'FRONT' })).items.map((w) => w.name)).toEqual(['frontend']);
  });
});

describe('workspace catalogue cache (per replica)', () => {
  it('served from memory for catalogTtlSeconds, read from Harbor again once they have passed', async () => {
    const { harbor, workspaces } = setup({ cache: noCache });
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    const reads = () => harbor.calls.filter((c) => c === 'listAllProjects').length;
    await workspaces.list(admin, { page: 1, pageSize: 10 });
    expect(reads()).toBe(1);
    await harbor.createProject({ name: 'outside', public: false });
    now += 2499;
    expect((await workspaces.list(admin, { page: 1, pageSize: 10 })).items.map((w) => w.name)).not.toContain('outside');
    expect(reads()).toBe(1);
    now += 2500; // past half the TTL: served as is, rebuilt in the background for the next request
    expect((await workspaces.list(admin, { page: 1, pageSize: 10 })).items.map((w) => w.name)).not.toContain('outside');
    await new Promise((r) => setImmediate(r));
    expect(reads()).toBe(2);
    expect((await workspaces.list(admin, { page: 1, pageSize: 10 })).items.map((w) => w.name)).toContain('outside');
    // without traffic in between, exactly the TTL is stale: read before answering
    await harbor.createProject({ name: 'later', public: false });
    now += 5000;
    expect((await workspaces.list(admin, { page: 1, pageSize: 10 })).items.map((w) => w.name)).toContain('later');
    expect(reads()).toBe(3);
  });

  it('a write through the service is visible at once (the cache is dropped)', async () => {
    const { workspaces } = setup({ cache: noCache });
    await workspaces.list(alice, { page: 1, pageSize: 10 });
    await workspaces.create(alice, { name: 'fresh', projectId: teamA.id, access: 'private' });
    expect((await workspaces.list(alice, { page: 1, pageSize: 10 })).items.map((w) => w.name)).toEqual(['fresh']);
  });
});

describe('workspace refusals, exactly', () => {
  it('an invalid name is simply not found, without asking Harbor', async () => {
    const { harbor, workspaces } = setup();
    harbor.calls.length = 0;
    expect(await refusal(workspaces.get(alice, 'Bad_Name!'))).toEqual({ kind: 'not_found', message: 'workspace "Bad_Name!" not found' });
    expect(harbor.calls).not.toContain('findProject');
  });

  it('absent and invisible look the same: 404 workspace "<name>" not found', async () => {
    const { workspaces } = setup();
    await workspaces.create(bob, { name: 'hidden', projectId: teamB.id, access: 'private' });
    expect(await refusal(workspaces.get(alice, 'hidden'))).toEqual({ kind: 'not_found', message: 'workspace "hidden" not found' });
    expect(await refusal(workspaces.get(alice, 'absent'))).toEqual({ kind: 'not_found', message: 'workspace "absent" not found' });
  });

  it("a viewer may not change another project's public workspace: 403 with the reason", async () => {
    const { workspaces } = setup();
    await workspaces.create(bob, { name: 'bob-pub', projectId: teamB.id, access: 'public' });
    expect(await refusal(workspaces.setAccess(alice, 'bob-pub', 'private'))).toEqual({
      kind: 'forbidden',
      message: 'only members of the owning project can change workspace "bob-pub"',
    });
  });

  it('creation: department mismatch, project not joined, admin without department, reserved name', async () => {
    const { workspaces } = setup();
    expect(await refusal(workspaces.create(alice, { name: 'x1', projectId: teamA.id, department: 'dept-2', access: 'private' }))).toEqual({
      kind: 'invalid',
      message: 'project "proj-a" belongs to department "dept-1", not "dept-2"',
    });
    expect(await refusal(workspaces.create(alice, { name: 'x2', projectId: teamB.id, access: 'private' }))).toEqual({
      kind: 'forbidden',
      message: 'you are not a member of project "proj-b"',
    });
    expect(await refusal(workspaces.create(admin, { name: 'x3', projectId: 'proj-z', access: 'private' }))).toEqual({
      kind: 'invalid',
      message: 'department is required when creating a workspace for a project you have not joined',
    });
    expect(await refusal(workspaces.create(alice, { name: 'library', projectId: teamA.id, access: 'private' }))).toEqual({
      kind: 'conflict',
      message: 'workspace name "library" is reserved',
    });
  });

  it('creation in a joined project with its own department named is fine', async () => {
    const { workspaces } = setup();
    expect((await workspaces.create(alice, { name: 'named', projectId: teamA.id, department: 'dept-1', access: 'private' })).project).toEqual(teamA);
  });

  it('a cloud admin creating for a project not joined: the project named as given, or by its id', async () => {
    const { workspaces } = setup();
    expect((await workspaces.create(admin, { name: 'adm1', projectId: 'proj-z', projectName: 'Zeta', department: 'dept-9', access: 'private' })).project).toEqual({
      id: 'proj-z',
      name: 'Zeta',
      department: 'dept-9',
    });
    expect((await workspaces.create(admin, { name: 'adm2', projectId: 'proj-y', department: 'dept-9', access: 'private' })).project).toEqual({
      id: 'proj-y',
      name: 'proj-y',
      department: 'dept-9',
    });
  });

  it('a failed rollback of a creation is logged as an error naming the workspace', async () => {
    const errors: [string, Record<string, unknown> | undefined][] = [];
    const logger: Logger = { ...silentLogger, error: (msg, fields) => errors.push([msg, fields]) };
    const { harbor, workspaces } = setup({ logger });
    harbor.failNext('createRobot');
    harbor.failNext('deleteProject');
    expect((await refusal(workspaces.create(alice, { name: 'stuck', projectId: teamA.id, access: 'private' }))).kind).toBe('upstream_unavailable');
    expect(errors).toEqual([[expect.stringContaining('rollback of workspace creation failed'), { workspace: 'stuck', error: expect.any(AppError) }]]);
  });
});
