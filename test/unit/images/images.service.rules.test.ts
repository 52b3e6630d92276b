import { AppError } from '../../../src/domain/errors';
import type { ImageListFilter } from '../../../src/domain/images.service';
import type { HarborRepository } from '../../../src/ports/harbor';
import type { FakeHarbor } from '../../support/fake-harbor';
import { alice, bob, root, seed, world } from './setup';

/**
 * The image service's rules, each asserted to the value: who sees an image as shared and with which relation
 * (tenant isolation), refusals and their exact messages, detail fields and their defaults, the catalogue re-reads
 * after writes through hubgate, batch delete bounds, order and per-item failures, and the catalogue's default
 * staleness bounds.
 */
const all: ImageListFilter = { view: 'all', sort: 'name', page: 1, pageSize: 100 };
const names = (items: { workspace: string; image: string }[]) => items.map((i) => `${i.workspace}/${i.image}`);
const idle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};
const UNAVAILABLE = { code: 'UPSTREAM_UNAVAILABLE', reason: 'Harbor failed to delete it; try again' };
const repoOf = (h: FakeHarbor, workspace: string, image: string) => h.repos.get(workspace)!.find((r) => r.name === `${workspace}/${image}`)!;
const artifactTagged = (h: FakeHarbor, name: string, tag: string) => h.artifacts.get(name)!.find((a) => a.tags?.some((t) => t.name === tag))!;

describe('who sees an image as shared, and with which relation', () => {
  it('lists: shared is a public workspace of a project the caller is not in; never a private one, never one without an owning project', async () => {
    const w = await world();
    seed(w.harbor);
    // root is in no project: it manages everything, and only the public workspaces of projects are shared with it
    const rows = (await w.images.list(root, all)).items.map((i) => [`${i.workspace}/${i.image}`, i.relation, i.shared]);
    expect(rows).toEqual([
      ['a-private/app', 'manage', false],
      ['b-public/base', 'manage', true],
      ['library/hello', 'manage', false],
      ['b-private/secret', 'manage', false],
      ['a-private/team/tool', 'manage', false],
      ['a-public/web', 'manage', true],
    ]);
    expect(names((await w.images.list(root, { ...all, view: 'shared' })).items)).toEqual(['b-public/base', 'a-public/web']);
    expect(names((await w.images.list(root, { ...all, view: 'own' })).items)).toEqual([]);
  });

  it('detail: members of the owning project manage (private or public); others view a public one as shared', async () => {
    const w = await world();
    seed(w.harbor);
    const seen = async (p: typeof alice, workspace: string, image: string) => {
      const d = await w.images.get(p, workspace, image);
      return [d.relation, d.shared];
    };
    expect(await seen(alice, 'a-private', 'app')).toEqual(['manage', false]);
    expect(await seen(alice, 'a-public', 'web')).toEqual(['manage', false]);
    expect(await seen(bob, 'a-public', 'web')).toEqual(['view', true]);
    expect(await seen(alice, 'b-public', 'base')).toEqual(['view', true]);
    // a cloud admin outside every project: shared only where the workspace is public and owned by a project
    expect(await seen(root, 'b-private', 'secret')).toEqual(['manage', false]);
    expect(await seen(root, 'b-public', 'base')).toEqual(['manage', true]);
    expect(await seen(root, 'library', 'hello')).toEqual(['manage', false]);
  });
});

describe('refusals and their messages', () => {
  it('an image name that is not a repository name is 404 naming it, before Harbor is asked', async () => {
    const w = await world();
    seed(w.harbor);
    w.harbor.calls = [];
    await expect(w.images.get(alice, 'a-private', 'UPPER')).rejects.toMatchObject({ kind: 'not_found', message: 'image "a-private/UPPER" not found' });
    await expect(w.images.describe(alice, 'a-private', 'a//b', 'x')).rejects.toMatchObject({ kind: 'not_found', message: 'image "a-private/a//b" not found' });
    await expect(w.images.deleteVersions(alice, 'a-private', '-app', ['v1'])).rejects.toMatchObject({ kind: 'not_found', message: 'image "a-private/-app" not found' });
    expect(w.harbor.calls).toEqual([]);
  });

  it('an image that is not in Harbor: 404 naming it, in the detail and per item of a batch delete', async () => {
    const w = await world();
    seed(w.harbor);
    await expect(w.images.get(alice, 'a-private', 'ghost')).rejects.toMatchObject({ kind: 'not_found', message: 'image "a-private/ghost" not found' });
    expect((await w.images.deleteImages(alice, [{ workspace: 'a-private', image: 'ghost' }])).failed).toEqual([
      { workspace: 'a-private', image: 'ghost', code: 'NOT_FOUND', reason: 'image "a-private/ghost" not found' },
    ]);
  });

  it('changing an image shared for viewing only is 403, saying why', async () => {
    const w = await world();
    seed(w.harbor);
    await expect(w.images.describe(bob, 'a-public', 'web', 'x')).rejects.toMatchObject({
      kind: 'forbidden',
      message: '"a-public/web" is shared with you for viewing and pulling only; only members of the owning project can change it',
    });
  });

  it('a description of exactly 10,000 characters is accepted', async () => {
    const w = await world();
    seed(w.harbor);
    const text = 'x'.repeat(10_000);
    expect((await w.images.describe(alice, 'a-private', 'app', text)).description).toBe(text);
  });
});

describe('image detail: fields', () => {
  it('pull count, description and the workspace quota as Harbor reports them', async () => {
    const w = await world();
    seed(w.harbor);
    jest.spyOn(w.harbor, 'projectSummary').mockResolvedValue({ repo_count: 2, quota: { hard: { storage: 1000 }, used: { storage: 250 } } });
    await w.harbor.updateRepositoryDescription('a-private', 'app', 'About app');
    expect(await w.images.get(alice, 'a-private', 'app')).toMatchObject({
      pullCount: 5,
      description: 'About app',
      workspaceQuota: { limitBytes: 1000, usedBytes: 250, usedPercent: 25 },
    });
  });

  it('no pull count and no description from Harbor, no quota on the workspace: 0, empty, no limit', async () => {
    const w = await world();
    seed(w.harbor);
    delete (repoOf(w.harbor, 'a-private', 'app') as Partial<HarborRepository>).pull_count;
    expect(await w.images.get(alice, 'a-private', 'app')).toMatchObject({
      pullCount: 0,
      description: '',
      workspaceQuota: { limitBytes: null, usedBytes: 0, usedPercent: null },
    });
  });

  it('OS and architecture only when Harbor gives them as non-empty text', async () => {
    const w = await world();
    seed(w.harbor);
    const [tool] = w.harbor.artifacts.get('a-private/team/tool')!;
    const platform = async () => {
      const [v] = (await w.images.get(alice, 'a-private', 'team/tool')).versions;
      return [v.os, v.architecture];
    };
    tool.extra_attrs = { os: '', architecture: 64 };
    expect(await platform()).toEqual([null, null]);
    tool.extra_attrs = { os: 7, architecture: '' };
    expect(await platform()).toEqual([null, null]);
    tool.extra_attrs = { os: 'windows', architecture: 'arm64' };
    expect(await platform()).toEqual(['windows', 'arm64']);
  });

  it('versions: newest push first, ties by tag, versions without a push time last', async () => {
    const w = await world();
    seed(w.harbor);
    const never = '0001-01-01T00:00:00Z';
    w.harbor.addImage('a-private', 'sorted', [
      { tags: ['b', 'a'], pushTime: '2026-01-02T00:00:00.000Z' },
      { tags: ['z'], pushTime: never },
      { tags: ['c'], pushTime: '2026-01-03T00:00:00.000Z' },
      { tags: ['y'], pushTime: never },
      { tags: ['d'], pushTime: '2026-01-01T00:00:00.000Z' },
    ]);
    const d = await w.images.get(alice, 'a-private', 'sorted');
    expect(d.versions.map((v) => [v.tag, v.pushedAt])).toEqual([
      ['c', '2026-01-03T00:00:00.000Z'],
      ['a', '2026-01-02T00:00:00.000Z'],
      ['b', '2026-01-02T00:00:00.000Z'],
      ['d', '2026-01-01T00:00:00.000Z'],
      ['y', null],
      ['z', null],
    ]);
  });

  it('a time Harbor sends as null is no time (not 1970); the artifact push time stands in for the tag\'s', async () => {
    const w = await world();
    seed(w.harbor);
    const [tool] = w.harbor.artifacts.get('a-private/team/tool')!;
    Object.assign(tool.tags![0], { push_time: null, pull_time: null });
    expect((await w.images.get(alice, 'a-private', 'team/tool')).versions[0]).toMatchObject({ pushedAt: '2026-01-01T00:00:00.000Z', lastPulledAt: null });
  });

  it('an artifact Harbor lists with an empty tag list is untagged, like one without tags', async () => {
    const w = await world();
    seed(w.harbor);
    const v2 = artifactTagged(w.harbor, 'a-private/app', 'v2');
    v2.tags = [];
    const d = await w.images.get(alice, 'a-private', 'app');
    expect(d.untagged).toEqual([{ digest: v2.digest, sizeBytes: 300, pushedAt: '2026-01-03T00:00:00.000Z' }]);
    expect(d.versions.map((v) => v.tag)).toEqual(['stable', 'v1']);
  });

  it('child artifacts are read for an index only, each once', async () => {
    const w = await world();
    seed(w.harbor);
    w.harbor.calls = [];
    await w.images.get(alice, 'a-private', 'app');
    expect(w.harbor.calls.filter((c) => c === 'getArtifact')).toEqual([]);
    await w.images.get(alice, 'b-public', 'base');
    expect(w.harbor.calls.filter((c) => c === 'getArtifact')).toEqual(['getArtifact', 'getArtifact']);
  });

  it('an image deleted between reading it and listing its artifacts shows no versions, not an error', async () => {
    const w = await world();
    seed(w.harbor);
    w.harbor.failNext('listArtifacts', () => new AppError('not_found', 'repository a-private/app not found'));
    expect(await w.images.get(alice, 'a-private', 'app')).toMatchObject({ versionCount: 0, versions: [], untagged: [], sizeBytes: 0, latestPushAt: null });
  });
});

describe('the image list right after writes through hubgate', () => {
  it('deleted images leave the very next list; each is re-read alone', async () => {
    const w = await world();
    seed(w.harbor);
    expect(names((await w.images.list(alice, all)).items)).toEqual(['a-private/app', 'b-public/base', 'a-private/team/tool', 'a-public/web']);
    const r = await w.images.deleteImages(alice, [{ workspace: 'a-private', image: 'app' }, { workspace: 'a-public', image: 'web' }]);
    expect(r.failed).toEqual([]);
    w.harbor.calls = [];
    expect(names((await w.images.list(alice, all)).items)).toEqual(['b-public/base', 'a-private/team/tool']);
    expect(w.harbor.calls.filter((c) => c !== 'listArtifacts')).toEqual(['getRepository', 'getRepository']);
  });

  it('a delete reported as failed is re-read too (Harbor may have deleted it before timing out)', async () => {
    const w = await world();
    seed(w.harbor);
    await w.images.list(alice, all);
    const del = w.harbor.deleteRepository.bind(w.harbor);
    w.harbor.deleteRepository = async (p: string, r: string) => {
      await del(p, r);
      throw new AppError('upstream_timeout', 'timed out after 10000 ms');
    };
    const r = await w.images.deleteImages(alice, [{ workspace: 'a-private', image: 'app' }]);
    expect(r).toMatchObject({ deleted: [], failed: [{ workspace: 'a-private', image: 'app', code: 'UPSTREAM_TIMEOUT' }] });
    expect(names((await w.images.list(alice, all)).items)).toEqual(['b-public/base', 'a-private/team/tool', 'a-public/web']);
  });

  it('a new description re-reads the image alone: its update time shows in the next list', async () => {
    const w = await world();
    seed(w.harbor);
    const repo = repoOf(w.harbor, 'a-private', 'app');
    repo.update_time = '2025-06-01T00:00:00.000Z';
    const row = async () => (await w.images.list(alice, { ...all, workspace: 'a-private', q: 'app' })).items[0].updatedAt;
    expect(await row()).toBe('2025-06-01T00:00:00.000Z');
    await w.images.describe(alice, 'a-private', 'app', 'new');
    expect(repo.update_time).not.toBe('2025-06-01T00:00:00.000Z');
    w.harbor.calls = [];
    expect(await row()).toBe(repo.update_time);
    expect(w.harbor.calls.filter((c) => c !== 'listArtifacts')).toEqual(['getRepository']);
  });

  it('deleting versions re-reads that image alone, not the whole catalogue', async () => {
    const w = await world();
    seed(w.harbor);
    await w.images.list(alice, all);
    await w.images.deleteVersions(alice, 'a-private', 'app', ['stable']);
    w.harbor.calls = [];
    expect((await w.images.list(alice, { ...all, workspace: 'a-private', q: 'app' })).items[0].versionCount).toBe(2);
    expect(w.harbor.calls.filter((c) => c !== 'listArtifacts')).toEqual(['getRepository']);
  });
});

describe('batch image deletes', () => {
  it.each([
    [8, 4],
    [2, 2],
  ])('with a Harbor concurrency of %i, at most %i deletes are in flight at once', async (concurrency, bound) => {
    const w = await world({ concurrency });
    const items = Array.from({ length: 6 }, (_, i) => ({ workspace: 'a-private', image: `img-${i}` }));
    for (const it of items) w.harbor.addImage(it.workspace, it.image, [{ tags: ['1'] }]);
    let inFlight = 0;
    let peak = 0;
    const del = w.harbor.deleteRepository.bind(w.harbor);
    w.harbor.deleteRepository = async (p: string, r: string) => {
      peak = Math.max(peak, ++inFlight);
      await idle();
      inFlight--;
      return del(p, r);
    };
    expect((await w.images.deleteImages(alice, items)).deleted).toEqual(items);
    expect(peak).toBe(bound);
  });

  it('each workspace\'s permission is checked once, whatever the number of its images', async () => {
    const w = await world();
    seed(w.harbor);
    w.harbor.calls = [];
    const r = await w.images.deleteImages(alice, [
      { workspace: 'a-private', image: 'app' },
      { workspace: 'a-public', image: 'web' },
      { workspace: 'a-private', image: 'team/tool' },
    ]);
    expect(r.deleted).toHaveLength(3);
    expect(w.harbor.calls.filter((c) => c === 'findProject')).toEqual(['findProject', 'findProject']);
  });

  it('Harbor refusals keep their meaning per item; an unknown error is Harbor failing, whatever it claims', async () => {
    const w = await world();
    seed(w.harbor);
    w.harbor.failNext('deleteRepository', () => new AppError('invalid', 'bad request: invalid repository name'));
    w.harbor.failNext('deleteRepository', () => Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:443'), { kind: 'not_found' }));
    const image = { workspace: 'a-private', image: 'app' };
    expect((await w.images.deleteImages(alice, [image])).failed).toEqual([{ ...image, code: 'BAD_REQUEST', reason: 'bad request: invalid repository name' }]);
    expect((await w.images.deleteImages(alice, [image])).failed).toEqual([{ ...image, ...UNAVAILABLE }]);
  });

  it('only Harbor\'s refusal (412) of an immutable version is a conflict; another failure that mentions one is not', async () => {
    const w = await world();
    seed(w.harbor);
    const text = 'the tag v1 configured as immutable, cannot be deleted';
    w.harbor.failNext('deleteRepository', () => new AppError('upstream_unavailable', text));
    w.harbor.failNext('deleteRepository', () => new Error(text));
    const image = { workspace: 'a-private', image: 'app' };
    expect((await w.images.deleteImages(alice, [image])).failed).toEqual([{ ...image, ...UNAVAILABLE }]);
    expect((await w.images.deleteImages(alice, [image])).failed).toEqual([{ ...image, ...UNAVAILABLE }]);
  });
});

describe('deleting versions', () => {
  it('exactly 100 versions are accepted in one request', async () => {
    const w = await world();
    seed(w.harbor);
    const gone = Array.from({ length: 99 }, (_, i) => `gone-${i}`);
    const r = await w.images.deleteVersions(alice, 'a-private', 'app', ['v1', ...gone]);
    expect(r.deleted).toEqual([{ tag: 'v1', digest: artifactTagged(w.harbor, 'a-private/app', 'stable').digest, artifactDeleted: false }]);
    expect(r.failed.map((f) => f.tag)).toEqual(gone);
  });

  it('a name that is no valid tag is refused even if Harbor lists such a tag; untagged artifacts are passed over', async () => {
    const w = await world();
    seed(w.harbor);
    w.harbor.addImage('a-private', 'app', [{ tags: ['Not a tag!'] }, { tags: [] }]);
    const v2 = artifactTagged(w.harbor, 'a-private/app', 'v2').digest;
    w.harbor.calls = [];
    const r = await w.images.deleteVersions(alice, 'a-private', 'app', ['Not a tag!', 'v2']);
    expect(r.failed).toEqual([{ tag: 'Not a tag!', code: 'NOT_FOUND', reason: 'version "Not a tag!" not found' }]);
    expect(r.deleted).toEqual([{ tag: 'v2', digest: v2, artifactDeleted: true }]);
    expect(w.harbor.calls.filter((c) => c.startsWith('delete'))).toEqual(['deleteArtifact']);
  });

  it('deleted versions are reported in the order asked, not in the order Harbor finished them', async () => {
    const w = await world();
    seed(w.harbor);
    const r = await w.images.deleteVersions(alice, 'a-private', 'app', ['stable', 'v2', 'v1']);
    expect(r.deleted.map((d) => [d.tag, d.artifactDeleted])).toEqual([
      ['stable', true],
      ['v2', true],
      ['v1', true],
    ]);
  });

  it('failed versions too: Harbor failures, unknown versions and invalid names in the order asked', async () => {
    const w = await world();
    seed(w.harbor);
    w.harbor.failNext('deleteArtifact', undefined, 2);
    const r = await w.images.deleteVersions(alice, 'a-private', 'app', ['v2', 'nope', 'stable', 'bad tag!', 'v1']);
    expect(r.failed.map((f) => [f.tag, f.code])).toEqual([
      ['v2', 'UPSTREAM_UNAVAILABLE'],
      ['nope', 'NOT_FOUND'],
      ['stable', 'UPSTREAM_UNAVAILABLE'],
      ['bad tag!', 'NOT_FOUND'],
      ['v1', 'UPSTREAM_UNAVAILABLE'],
    ]);
  });
});

describe('image lists: the same image name in two workspaces', () => {
  it('is ordered by workspace, in both directions, whichever Harbor lists first', async () => {
    const w = await world();
    seed(w.harbor);
    w.harbor.addImage('a-public', 'app', [{ tags: ['1'] }]);
    w.harbor.addImage('b-public', 'secret', [{ tags: ['1'] }]); // Harbor lists b-public's repositories before b-private's
    expect(names((await w.images.list(root, { ...all, q: 'app' })).items)).toEqual(['a-private/app', 'a-public/app']);
    expect(names((await w.images.list(root, { ...all, q: 'app', sort: '-name' })).items)).toEqual(['a-public/app', 'a-private/app']);
    expect(names((await w.images.list(root, { ...all, q: 'secret' })).items)).toEqual(['b-private/secret', 'b-public/secret']);
    expect(names((await w.images.list(root, { ...all, q: 'secret', sort: '-name' })).items)).toEqual(['b-public/secret', 'b-private/secret']);
  });
});

describe('catalogue defaults', () => {
  const start = Date.parse('2026-03-01T00:00:00.000Z');

  it('an image\'s stats are read again after a day, not before', async () => {
    let t = start;
    const w = await world({ now: () => t });
    seed(w.harbor);
    const read: string[] = [];
    const list = w.harbor.listArtifacts.bind(w.harbor);
    w.harbor.listArtifacts = async (p, r, q) => (read.push(`${p}/${r}`), list(p, r, q));
    const app = async () => (await w.images.list(alice, { ...all, workspace: 'a-private', q: 'app' })).items[0].versionCount;
    expect(await app()).toBe(3);
    await idle();
    read.length = 0;
    t += 0.79 * 86_400_000;
    expect(await app()).toBe(3);
    await idle();
    expect(read).toEqual([]);
    t += 0.22 * 86_400_000;
    expect(await app()).toBe(3);
    await idle();
    // read once again (the background fill re-reads the other day-old stats)
    expect(read.filter((n) => n === 'a-private/app')).toEqual(['a-private/app']);
  });

  it('the whole repository list is read again every hour', async () => {
    let t = start;
    const syncs: string[] = [];
    const w = await world({ now: () => t, onSync: (kind) => void syncs.push(kind) });
    seed(w.harbor);
    await w.images.list(alice, all);
    t += 3_599_000;
    await w.images.list(alice, all);
    await idle();
    expect(syncs).not.toContain('resync');
    t += 2_000;
    await w.images.list(alice, all);
    await idle();
    expect(syncs.filter((k) => k === 'resync')).toEqual(['resync']);
  });
});
