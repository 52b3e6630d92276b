import { AppError } from '../../../src/domain/errors';
import { mapLimit } from '../../../src/domain/concurrency';
import { statsOf } from '../../../src/domain/images.catalog';
import type { ImageListFilter } from '../../../src/domain/images.service';
import { alice, bob, downCache, REGISTRY, root, seed, teamA, world } from './setup';

const all: ImageListFilter = { view: 'all', sort: 'name', page: 1, pageSize: 100 };
const names = (items: { workspace: string; image: string }[]) => items.map((i) => `${i.workspace}/${i.image}`);

describe('image lists: who sees what (SPEC matrix)', () => {
  it('a member sees own images (private and public) and shared ones, never other private ones', async () => {
    const w = await world();
    seed(w.harbor);
    const own = await w.images.list(alice, { ...all, view: 'own' });
    expect(names(own.items).sort()).toEqual(['a-private/app', 'a-private/team/tool', 'a-public/web']);
    expect(own.items.every((i) => i.relation === 'manage' && !i.shared)).toBe(true);
    const shared = await w.images.list(alice, { ...all, view: 'shared' });
    expect(names(shared.items)).toEqual(['b-public/base']);
    expect(shared.items[0]).toMatchObject({ relation: 'view', shared: true, access: 'public' });
    const every = await w.images.list(alice, all);
    expect(every.total).toBe(4);
    expect(names(every.items)).not.toContain('b-private/secret');
    // bob's view is the mirror image
    expect(names((await w.images.list(bob, { ...all, view: 'shared' })).items).sort()).toEqual(['a-public/web']);
  });

  it('a cloud admin sees everything, including Harbor projects hubgate did not create', async () => {
    const w = await world();
    seed(w.harbor);
    const page = await w.images.list(root, all);
    expect(names(page.items).sort()).toEqual(['a-private/app', 'a-private/team/tool', 'a-public/web', 'b-private/secret', 'b-public/base', 'library/hello']);
    expect(page.items.every((i) => i.relation === 'manage')).toBe(true);
  });

  it('rows carry pull address, version count, latest push, pull count and size', async () => {
    const w = await world();
    seed(w.harbor);
    const { items } = await w.images.list(alice, { ...all, workspace: 'a-private', q: 'app' });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      workspace: 'a-private',
      image: 'app',
      pullAddress: `${REGISTRY}/a-private/app`,
      versionCount: 3,
      latestPushAt: '2026-01-03T00:00:00.000Z',
      pullCount: 5,
      sizeBytes: 500,
      project: teamA,
    });
  });

  it('filters by project and department, searches by name, sorts and pages with totals', async () => {
    const w = await world();
    seed(w.harbor);
    expect(names((await w.images.list(root, { ...all, projectId: 'proj-b' })).items).sort()).toEqual(['b-private/secret', 'b-public/base']);
    expect(names((await w.images.list(root, { ...all, department: 'dept-1' })).items).sort()).toEqual(['a-private/app', 'a-private/team/tool', 'a-public/web']);
    expect(names((await w.images.list(root, { ...all, q: 'TOOL' })).items)).toEqual(['a-private/team/tool']);
    expect(names((await w.images.list(alice, { ...all, sort: '-pulls' })).items).slice(0, 2)).toEqual(['a-public/web', 'a-private/app']);
    expect(names((await w.images.list(alice, { ...all, sort: '-name' })).items)).toEqual(['a-public/web', 'a-private/team/tool', 'b-public/base', 'a-private/app']);
    const p1 = await w.images.list(alice, { ...all, pageSize: 3, page: 1 });
    const p2 = await w.images.list(alice, { ...all, pageSize: 3, page: 2 });
    const p3 = await w.images.list(alice, { ...all, pageSize: 3, page: 3 });
    expect([p1.total, p2.total, p3.total]).toEqual([4, 4, 4]);
    expect([p1.items.length, p2.items.length, p3.items.length]).toEqual([3, 1, 0]);
    expect(new Set([...names(p1.items), ...names(p2.items)]).size).toBe(4);
  });

  it('an empty platform is an empty page, not an error', async () => {
    const w = await world();
    const page = await w.images.list(alice, all);
    expect(page).toEqual({ items: [], total: 0, page: 1, pageSize: 100 });
  });
});

describe('the image catalogue', () => {
  it('reads the platform-wide repository list in one id range per 1,000 repositories and answers warm lists without Harbor', async () => {
    const w = await world();
    for (let i = 0; i < 250; i++) w.harbor.addImage('a-private', `img-${String(i).padStart(3, '0')}`, [{ tags: ['1'] }]);
    w.harbor.calls = [];
    const page = await w.images.list(alice, { ...all, pageSize: 10 });
    expect(page.total).toBe(250);
    // one walk of GET /repositories (newest id and count, then one id range), no per-workspace lists; stats of the 10 rows shown
    expect(w.harbor.calls.filter((c) => c === 'listRepositoriesAll')).toHaveLength(1);
    expect(w.harbor.calls.filter((c) => c === 'listRepositoriesRange')).toHaveLength(1);
    expect(w.harbor.calls.filter((c) => c === 'listRepositories')).toEqual([]);
    expect(w.harbor.calls.filter((c) => c === 'listArtifacts').length).toBeGreaterThanOrEqual(10);
    w.harbor.calls = [];
    const again = await w.images.list(alice, { ...all, pageSize: 10 });
    expect(again.items).toEqual(page.items);
    expect(w.harbor.calls.filter((c) => c !== 'listArtifacts')).toEqual([]);
    while (!w.images.statsFilled()) await new Promise((r) => setTimeout(r, 5)); // the background stats fill
    w.harbor.calls = [];
    const third = await w.images.list(alice, { ...all, pageSize: 10, page: 20 });
    expect(third.items).toHaveLength(10);
    expect(w.harbor.calls).toEqual([]);
  });

  it('invalidate(names) makes a change of those images visible at once; without it the list stays until the next sync', async () => {
    const w = await world();
    seed(w.harbor);
    await w.images.list(alice, all);
    w.harbor.addImage('a-private', 'newcomer', [{ tags: ['1'] }]);
    expect(names((await w.images.list(alice, all)).items)).not.toContain('a-private/newcomer');
    w.harbor.calls = [];
    await w.images.invalidate(['a-private/newcomer']);
    expect(names((await w.images.list(alice, all)).items)).toContain('a-private/newcomer');
    // one GET of that repository (and its stats), no walk
    expect(w.harbor.calls.filter((c) => c !== 'listArtifacts')).toEqual(['getRepository']);
  });

  it('the catalogue does not depend on the cache: with it down, lists are served and invalidations still apply here', async () => {
    const w = await world({ cache: downCache });
    seed(w.harbor);
    expect((await w.images.list(alice, all)).total).toBe(4);
    w.harbor.addImage('a-private', 'newcomer', [{ tags: ['1'] }]);
    await w.images.invalidate(['a-private/newcomer']);
    expect(names((await w.images.list(alice, all)).items)).toContain('a-private/newcomer');
  });

  it('a workspace created after the catalogue was built shows its pushed images; a deleted one disappears', async () => {
    const w = await world();
    seed(w.harbor);
    await w.images.list(alice, all);
    await w.workspaces.create(alice, { name: 'a-late', projectId: teamA.id, access: 'private' });
    w.harbor.addImage('a-late', 'fresh', [{ tags: ['1'] }]);
    await w.images.invalidate(['a-late/fresh']); // what the registry front does after the push
    expect(names((await w.images.list(alice, all)).items)).toContain('a-late/fresh');
    await w.harbor.deleteRepository('a-late', 'fresh');
    await w.workspaces.delete(alice, 'a-late');
    expect(names((await w.images.list(alice, all)).items)).not.toContain('a-late/fresh');
  });

  it('a Harbor failure while building is an error, not an empty list', async () => {
    const w = await world();
    seed(w.harbor);
    w.harbor.failNext('listRepositoriesAll');
    await expect(w.images.list(alice, all)).rejects.toMatchObject({ kind: 'upstream_unavailable' });
    expect((await w.images.list(alice, all)).total).toBe(4);
  });

  it('statsOf counts tags, distinct artifact sizes and the latest push; mapLimit keeps order and bounds concurrency', async () => {
    expect(statsOf([])).toEqual({ versionCount: 0, sizeBytes: 0, latestPushAt: null });
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 3, 2, 4], 2, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 30, 20, 40]);
    expect(peak).toBe(2);
  });
});

describe('image detail', () => {
  it('shows versions with digest, size, times, OS/arch and pull addresses; an index shows its children', async () => {
    const w = await world();
    seed(w.harbor);
    await w.harbor.updateRepositoryDescription('b-public', 'base', '# Base\n\n*bold*');
    const d = await w.images.get(alice, 'b-public', 'base');
    expect(d).toMatchObject({ workspace: 'b-public', image: 'base', relation: 'view', shared: true, description: '# Base\n\n*bold*', versionCount: 1 });
    expect(d.versions[0]).toMatchObject({ tag: 'multi', kind: 'index', pullAddress: `${REGISTRY}/b-public/base:multi`, lastPulledAt: null });
    expect(d.versions[0].children).toEqual([
      { digest: `sha256:${'a'.repeat(64)}`, os: 'linux', architecture: 'amd64', variant: null, sizeBytes: 150, pullAddress: `${REGISTRY}/b-public/base@sha256:${'a'.repeat(64)}` },
      { digest: `sha256:${'b'.repeat(64)}`, os: 'linux', architecture: 'arm64', variant: null, sizeBytes: 160, pullAddress: `${REGISTRY}/b-public/base@sha256:${'b'.repeat(64)}` },
    ]);
    const app = await w.images.get(alice, 'a-private', 'app');
    expect(app.versions.map((v) => v.tag)).toEqual(['v2', 'stable', 'v1']);
    expect(app.versions[0]).toMatchObject({ os: 'linux', architecture: 'amd64', kind: 'image', sizeBytes: 300, pushedAt: '2026-01-03T00:00:00.000Z' });
    expect(app.storageUsedBytes).toBe(500);
    expect(app.pullCountNote).toMatch(/HEAD/);
  });

  it('other projects\' private images, unknown images and bad names are all 404', async () => {
    const w = await world();
    seed(w.harbor);
    for (const [ws, img] of [['b-private', 'secret'], ['a-private', 'nope'], ['nope', 'app'], ['a-private', '../x'], ['a-private', 'UPPER']]) {
      await expect(w.images.get(alice, ws, img)).rejects.toMatchObject({ kind: 'not_found' });
    }
    await expect(w.images.get(root, 'b-private', 'secret')).resolves.toMatchObject({ image: 'secret' });
  });
});

describe('description', () => {
  it('owners set Markdown (returned raw); shared viewers get 403; others 404; too long is invalid', async () => {
    const w = await world();
    seed(w.harbor);
    const md = '# Title\n\n<script>x</script> `code`';
    expect((await w.images.describe(alice, 'a-private', 'app', md)).description).toBe(md);
    await expect(w.images.describe(alice, 'b-public', 'base', 'x')).rejects.toMatchObject({ kind: 'forbidden' });
    await expect(w.images.describe(alice, 'b-private', 'secret', 'x')).rejects.toMatchObject({ kind: 'not_found' });
    await expect(w.images.describe(alice, 'a-private', 'app', 'x'.repeat(10_001))).rejects.toMatchObject({ kind: 'invalid' });
  });
});

describe('deleting', () => {
  it('batch image delete reports each item: deleted, forbidden (shared), not found (private of others, absent)', async () => {
    const w = await world();
    seed(w.harbor);
    const r = await w.images.deleteImages(alice, [
      { workspace: 'a-private', image: 'app' },
      { workspace: 'b-public', image: 'base' },
      { workspace: 'b-private', image: 'secret' },
      { workspace: 'a-private', image: 'ghost' },
      { workspace: 'a-private', image: 'team/tool' },
    ]);
    expect(r.deleted).toEqual([
      { workspace: 'a-private', image: 'app' },
      { workspace: 'a-private', image: 'team/tool' },
    ]);
    expect(r.failed.map((f) => [f.workspace, f.image, f.code])).toEqual([
      ['b-public', 'base', 'FORBIDDEN'],
      ['b-private', 'secret', 'NOT_FOUND'],
      ['a-private', 'ghost', 'NOT_FOUND'],
    ]);
    expect(r.note).toMatch(/garbage collection/);
    expect(r.note).toMatch(/2 hours/);
    expect(await w.harbor.getRepository('a-private', 'app')).toBeNull();
    expect(await w.harbor.getRepository('b-public', 'base')).not.toBeNull();
    expect(names((await w.images.list(alice, all)).items)).toEqual(['b-public/base', 'a-public/web'].sort((a, b) => (a.split('/')[1] < b.split('/')[1] ? -1 : 1)));
  });

  it('a Harbor failure on one item fails that item only, with a reason', async () => {
    const w = await world();
    seed(w.harbor);
    w.harbor.failNext('deleteRepository', () => new AppError('upstream_unavailable', 'boom'));
    const r = await w.images.deleteImages(alice, [{ workspace: 'a-private', image: 'app' }, { workspace: 'a-public', image: 'web' }]);
    expect(r.deleted).toHaveLength(1);
    expect(r.failed).toHaveLength(1);
    expect(r.failed[0].code).toBe('UPSTREAM_UNAVAILABLE');
    expect(r.failed[0].reason).not.toMatch(/boom/);
  });

  it('deleting versions removes tags, and the artifact once no tag is left on it', async () => {
    const w = await world();
    seed(w.harbor);
    const r = await w.images.deleteVersions(alice, 'a-private', 'app', ['v1', 'v2', 'nope']);
    expect(r.deleted).toEqual([
      { tag: 'v1', digest: expect.any(String), artifactDeleted: false },
      { tag: 'v2', digest: expect.any(String), artifactDeleted: true },
    ]);
    expect(r.failed).toEqual([{ tag: 'nope', code: 'NOT_FOUND', reason: 'version "nope" not found' }]);
    const after = await w.images.get(alice, 'a-private', 'app');
    expect(after.versions.map((v) => v.tag)).toEqual(['stable']);
    expect(w.harbor.calls).toContain('deleteTag');
    // the last tag of that artifact: the artifact goes too
    const r2 = await w.images.deleteVersions(alice, 'a-private', 'app', ['stable']);
    expect(r2.deleted).toEqual([{ tag: 'stable', digest: expect.any(String), artifactDeleted: true }]);
    expect((await w.images.get(alice, 'a-private', 'app')).versions).toEqual([]);
    expect(w.harbor.artifacts.get('a-private/app')).toEqual([]);
  });

  it('version deletes: shared → 403, others\' private → 404, for the whole request', async () => {
    const w = await world();
    seed(w.harbor);
    await expect(w.images.deleteVersions(alice, 'b-public', 'base', ['multi'])).rejects.toMatchObject({ kind: 'forbidden' });
    await expect(w.images.deleteVersions(alice, 'b-private', 'secret', ['x'])).rejects.toMatchObject({ kind: 'not_found' });
    await expect(w.images.deleteVersions(root, 'b-private', 'secret', ['x'])).resolves.toMatchObject({ deleted: [{ tag: 'x', artifactDeleted: true }] });
  });

  it('a delete through hubgate shows in the very next list (cache invalidated)', async () => {
    const w = await world();
    seed(w.harbor);
    expect((await w.images.list(alice, { ...all, workspace: 'a-private', q: 'app' })).items[0].versionCount).toBe(3);
    await w.images.deleteVersions(alice, 'a-private', 'app', ['stable']);
    expect((await w.images.list(alice, { ...all, workspace: 'a-private', q: 'app' })).items[0].versionCount).toBe(2);
  });
});
