import { AppError } from '../../../src/domain/errors';
import type { ImageListFilter } from '../../../src/domain/images.service';
import { captureLogger } from '../../support/capture-logger';
import { imageNameProblem } from '../../../src/domain/images.service';
import { statsOf } from '../../../src/domain/images.catalog';
import { alice, REGISTRY, root, seed, world } from './setup';

/**
 * The image service beyond the common paths: start-up warming and shutdown, partial Harbor failures in the detail,
 * long artifact lists, description errors, refusals of immutable versions and per-version failures, and the
 * update-time sorts.
 */
const all: ImageListFilter = { view: 'all', sort: 'name', page: 1, pageSize: 100 };
const names = (items: { workspace: string; image: string }[]) => items.map((i) => `${i.workspace}/${i.image}`);
const idle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};
async function waitFor(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 2));
  if (!ok()) throw new Error('condition not reached');
}
const CHILD_A = `sha256:${'a'.repeat(64)}`;
const CHILD_B = `sha256:${'b'.repeat(64)}`;
const immutable = (tag: string) => new AppError('precondition', `the tag ${tag} configured as immutable, cannot be deleted`);
const RULE = 'rule #3 (versions "v*" of images "**")';
const UNAVAILABLE = { code: 'UPSTREAM_UNAVAILABLE', reason: 'Harbor failed to delete it; try again' };

describe('start and shutdown', () => {
  it('warm() builds the image catalogue in the background: the first list walks nothing', async () => {
    const w = await world();
    seed(w.harbor);
    w.images.warm();
    await waitFor(() => w.harbor.calls.includes('listRepositoriesRange'));
    await idle();
    w.harbor.calls = [];
    expect((await w.images.list(alice, all)).total).toBe(4);
    expect(w.harbor.calls.filter((c) => c.startsWith('listRepositories'))).toEqual([]);
  });

  it('warm() that fails is logged; the first list builds the catalogue', async () => {
    const logger = captureLogger();
    const w = await world({ logger });
    seed(w.harbor);
    w.harbor.failNext('listRepositoriesAll');
    w.images.warm();
    await waitFor(() => logger.lines.length > 0);
    expect(logger.lines).toEqual([
      { level: 'warn', msg: 'could not build the image catalogue at start; the first list builds it', fields: { error: expect.objectContaining({ kind: 'upstream_unavailable', message: 'boom' }) } },
    ]);
    w.harbor.calls = [];
    expect((await w.images.list(alice, all)).total).toBe(4);
    expect(w.harbor.calls.filter((c) => c.startsWith('listRepositories'))).toEqual(['listRepositoriesAll', 'listRepositoriesRange']);
  });

  it('close() stops the background stats fill: only the rows shown have their stats read', async () => {
    const w = await world();
    seed(w.harbor);
    w.images.close();
    const page = await w.images.list(root, { ...all, pageSize: 2 });
    await idle();
    expect(page.items.map((i) => i.versionCount)).toEqual([3, 1]);
    expect(w.harbor.calls.filter((c) => c === 'listArtifacts')).toHaveLength(2);
    expect(w.images.statsFilled()).toBe(false);
  });
});

describe('image detail: edges', () => {
  it('a child of an index that cannot be read is logged and shown without a size', async () => {
    const logger = captureLogger();
    const w = await world({ logger });
    seed(w.harbor);
    w.harbor.failNext('getArtifact');
    const d = await w.images.get(alice, 'b-public', 'base');
    expect(d.versions[0].children!.map((c) => [c.digest, c.sizeBytes])).toEqual([
      [CHILD_A, null],
      [CHILD_B, 160],
    ]);
    expect(logger.lines).toEqual([
      { level: 'warn', msg: 'could not read a child artifact of an index', fields: { image: 'b-public/base', digest: CHILD_A, error: expect.objectContaining({ kind: 'upstream_unavailable' }) } },
    ]);
  });

  it('artifacts without a tag are listed apart with their size and push time', async () => {
    const w = await world();
    seed(w.harbor);
    w.harbor.addImage('a-private', 'app', [{ tags: [], digest: `sha256:${'c'.repeat(64)}`, size: 123, pushTime: '2026-01-04T00:00:00.000Z' }]);
    const d = await w.images.get(alice, 'a-private', 'app');
    expect(d.untagged).toEqual([{ digest: `sha256:${'c'.repeat(64)}`, sizeBytes: 123, pushedAt: '2026-01-04T00:00:00.000Z' }]);
    expect(d.versions.map((v) => v.tag)).toEqual(['v2', 'stable', 'v1']);
    expect(d.storageUsedBytes).toBe(623);
  });

  it('reads every page of a long artifact list once per digest; a Harbor failure is an error, not an empty image', async () => {
    const w = await world();
    seed(w.harbor);
    w.harbor.addImage(
      'a-private',
      'many',
      Array.from({ length: 130 }, (_, i) => ({ tags: [`t${String(i).padStart(3, '0')}`], size: 10, pushTime: '2026-01-01T00:00:00.000Z' })),
    );
    const list = w.harbor.listArtifacts.bind(w.harbor);
    // an artifact pushed between the two pages shifts the rows: the second page repeats the first page's last one
    const pages = jest.fn(async (p: string, r: string, q: { page?: number; pageSize?: number } = {}) => {
      const got = await list(p, r, q);
      return q.page === 2 ? { ...got, items: [(await list(p, r, { page: 1, pageSize: 100 })).items[99], ...got.items] } : got;
    });
    w.harbor.listArtifacts = pages;
    const d = await w.images.get(alice, 'a-private', 'many');
    expect(d.versionCount).toBe(130);
    expect(d.versions.map((v) => v.tag)).toEqual(Array.from({ length: 130 }, (_, i) => `t${String(i).padStart(3, '0')}`));
    expect(d.storageUsedBytes).toBe(1300);
    expect(pages.mock.calls).toEqual([
      ['a-private', 'many', { page: 1, pageSize: 100 }],
      ['a-private', 'many', { page: 2, pageSize: 100 }],
    ]);
    w.harbor.listArtifacts = list;
    w.harbor.failNext('listArtifacts');
    await expect(w.images.get(alice, 'a-private', 'app')).rejects.toMatchObject({ kind: 'upstream_unavailable', message: 'boom' });
  });
});

describe('description: Harbor refusals', () => {
  it('an image that is not in Harbor is 404 naming it; another Harbor failure is passed on as it is', async () => {
    const w = await world();
    seed(w.harbor);
    await expect(w.images.describe(alice, 'a-private', 'ghost', 'x')).rejects.toMatchObject({ kind: 'not_found', message: 'image "a-private/ghost" not found' });
    const timeout = new AppError('upstream_timeout', 'Harbor did not answer');
    w.harbor.failNext('updateRepositoryDescription', () => timeout);
    await expect(w.images.describe(alice, 'a-private', 'app', 'x')).rejects.toBe(timeout);
  });
});

describe('deleting: refusals of immutable versions', () => {
  it('an image with an immutable version: CONFLICT naming the version and the rule (not logged as a failure)', async () => {
    const logger = captureLogger();
    const asked: string[][] = [];
    const w = await world({ logger, immutableRule: async (ws, image, tag) => (asked.push([ws, image, tag]), RULE) });
    seed(w.harbor);
    w.harbor.failNext('deleteRepository', () => immutable('v1'));
    const r = await w.images.deleteImages(alice, [{ workspace: 'a-private', image: 'app' }]);
    expect(r.failed).toEqual([
      { workspace: 'a-private', image: 'app', code: 'CONFLICT', reason: `image "app" of workspace "a-private" cannot be deleted: its version "v1" is protected by immutable ${RULE}` },
    ]);
    expect(r.deleted).toEqual([]);
    expect(asked).toEqual([['a-private', 'app', 'v1']]);
    expect(logger.lines).toEqual([]);
  });

  it('without a rule lookup, or when it fails, the rule is named generically; other refusals keep their code', async () => {
    const plain = await world();
    seed(plain.harbor);
    plain.harbor.failNext('deleteRepository', () => immutable('v1'));
    plain.harbor.failNext('deleteTag', () => new AppError('precondition', 'precondition failed: retention'));
    expect((await plain.images.deleteImages(alice, [{ workspace: 'a-private', image: 'app' }])).failed).toEqual([
      { workspace: 'a-private', image: 'app', code: 'CONFLICT', reason: 'image "app" of workspace "a-private" cannot be deleted: its version "v1" is protected by immutable rule' },
    ]);
    expect((await plain.images.deleteVersions(alice, 'a-private', 'app', ['v1'])).failed).toEqual([{ tag: 'v1', code: 'PRECONDITION', reason: 'precondition failed: retention' }]);
    const failing = await world({ immutableRule: async () => Promise.reject(new Error('policies unreachable')) });
    seed(failing.harbor);
    failing.harbor.failNext('deleteArtifact', () => immutable('v2'));
    expect((await failing.images.deleteVersions(alice, 'a-private', 'app', ['v2'])).failed).toEqual([
      { tag: 'v2', code: 'CONFLICT', reason: 'version "app:v2" of workspace "a-private" cannot be deleted: protected by immutable rule' },
    ]);
  });

  it('versions: each version of a refused artifact is reported, the protected one and those sharing its image', async () => {
    const asked: string[] = [];
    const w = await world({ immutableRule: async (_ws, _image, tag) => (asked.push(tag), RULE) });
    seed(w.harbor);
    w.harbor.failNext('deleteArtifact', () => immutable('stable'));
    w.harbor.failNext('deleteTag', () => immutable('stable'));
    const both = await w.images.deleteVersions(alice, 'a-private', 'app', ['v1', 'stable']);
    expect(both.failed).toEqual([
      { tag: 'v1', code: 'CONFLICT', reason: `version "app:v1" of workspace "a-private" cannot be deleted (it shares its image with the protected version "stable"): protected by immutable ${RULE}` },
      { tag: 'stable', code: 'CONFLICT', reason: `version "app:stable" of workspace "a-private" cannot be deleted: protected by immutable ${RULE}` },
    ]);
    expect(both.deleted).toEqual([]);
    const one = await w.images.deleteVersions(alice, 'a-private', 'app', ['v1']);
    expect(one.failed).toEqual([
      { tag: 'v1', code: 'CONFLICT', reason: `version "app:v1" of workspace "a-private" cannot be deleted (it shares its image with the protected version "stable"): protected by immutable ${RULE}` },
    ]);
    expect(w.harbor.artifacts.get('a-private/app')!.map((a) => a.tags?.map((t) => t.name))).toEqual([['v1', 'stable'], ['v2']]);
    expect(asked).toEqual(['stable', 'stable', 'stable']); // the rule of the protected version is looked up
  });
});

describe('deleting versions: per-version failures', () => {
  it('a name that is no valid tag is not found without asking Harbor; a Harbor failure fails only its versions', async () => {
    const w = await world();
    seed(w.harbor);
    const v2 = w.harbor.artifacts.get('a-private/app')!.find((a) => a.tags?.some((t) => t.name === 'v2'))!.digest;
    w.harbor.calls = [];
    w.harbor.failNext('deleteTag');
    const r = await w.images.deleteVersions(alice, 'a-private', 'app', ['bad tag!', 'v1', 'v2']);
    expect(r.failed).toEqual([
      { tag: 'bad tag!', code: 'NOT_FOUND', reason: 'version "bad tag!" not found' },
      { tag: 'v1', ...UNAVAILABLE },
    ]);
    expect(r.deleted).toEqual([{ tag: 'v2', digest: v2, artifactDeleted: true }]);
    expect(w.harbor.calls.filter((c) => c.startsWith('delete'))).toEqual(['deleteTag', 'deleteArtifact']);
    w.harbor.failNext('deleteArtifact');
    expect((await w.images.deleteVersions(alice, 'a-private', 'app', ['v1', 'stable'])).failed).toEqual([
      { tag: 'v1', ...UNAVAILABLE },
      { tag: 'stable', ...UNAVAILABLE },
    ]);
  });
});

describe('image lists: update-time and pull sorts', () => {
  it('updated / -updated order by the repository update time, ties by name; pulls ascending', async () => {
    const w = await world();
    seed(w.harbor);
    w.harbor.addImage('a-public', 'app', [{ tags: ['1'] }]);
    w.harbor.addImage('a-private', 'web', [{ tags: ['1'] }]); // same image name as a-public/web, listed after it
    const times: Record<string, string> = {
      'a-private/app': '2026-01-02T00:00:00.000Z',
      'a-private/team/tool': '2026-01-01T00:00:00.000Z',
      'a-public/web': '2026-01-03T00:00:00.000Z',
      'a-public/app': '2026-01-02T00:00:00.000Z',
      'b-public/base': '2026-01-05T00:00:00.000Z',
    };
    for (const r of [...w.harbor.repos.values()].flat()) r.update_time = times[r.name] ?? '2026-01-09T00:00:00.000Z';
    expect(names((await w.images.list(alice, { ...all, sort: 'name' })).items)).toEqual(['a-private/app', 'a-public/app', 'b-public/base', 'a-private/team/tool', 'a-private/web', 'a-public/web']);
    expect(names((await w.images.list(alice, { ...all, sort: 'updated' })).items)).toEqual(['a-private/team/tool', 'a-private/app', 'a-public/app', 'a-public/web', 'b-public/base', 'a-private/web']);
    expect(names((await w.images.list(alice, { ...all, sort: '-updated' })).items)).toEqual(['a-private/web', 'b-public/base', 'a-public/web', 'a-private/app', 'a-public/app', 'a-private/team/tool']);
    expect(names((await w.images.list(alice, { ...all, sort: 'pulls' })).items)).toEqual(['a-public/app', 'b-public/base', 'a-private/team/tool', 'a-private/web', 'a-private/app', 'a-public/web']);
    expect(names((await w.images.list(alice, { ...all, sort: '-name' })).items)).toEqual(['a-public/web', 'a-private/web', 'a-private/team/tool', 'b-public/base', 'a-public/app', 'a-private/app']);
    // Harbor's library/hello comes first in the catalogue; a-private/hello, compared with it, goes before it
    w.harbor.addImage('a-private', 'hello', [{ tags: ['1'] }]);
    await w.images.invalidate(['a-private/hello']);
    expect(names((await w.images.list(root, { ...all, q: 'hello' })).items)).toEqual(['a-private/hello', 'library/hello']);
  });
});

describe('image detail: fields Harbor leaves out', () => {
  it('no OS/arch attributes, no manifest media type, a tag with Harbor\'s zero push time or no pull time, a child without platform', async () => {
    const w = await world();
    seed(w.harbor);
    const [app] = w.harbor.artifacts.get('a-private/team/tool')!;
    delete app.extra_attrs;
    delete app.manifest_media_type;
    app.tags![0].push_time = '0001-01-01T00:00:00Z';
    delete app.tags![0].pull_time;
    const tool = await w.images.get(alice, 'a-private', 'team/tool');
    expect(tool.versions).toEqual([
      {
        tag: '1.0',
        digest: app.digest,
        sizeBytes: 50,
        pushedAt: '2026-01-01T00:00:00.000Z',
        lastPulledAt: null,
        os: null,
        architecture: null,
        kind: 'image',
        mediaType: 'application/vnd.oci.image.config.v1+json',
        pullAddress: `${REGISTRY}/a-private/team/tool:1.0`,
        pullAddressByDigest: `${REGISTRY}/a-private/team/tool@${app.digest}`,
      },
    ]);
    delete app.media_type;
    app.tags![0].pull_time = '2026-02-01T10:00:00Z';
    expect((await w.images.get(alice, 'a-private', 'team/tool')).versions[0]).toMatchObject({ mediaType: null, lastPulledAt: '2026-02-01T10:00:00.000Z' });
    const [index] = w.harbor.artifacts.get('b-public/base')!;
    index.references![0].platform = null;
    index.references![1].platform = { os: 'linux', architecture: 'arm', variant: 'v7' };
    const base = await w.images.get(alice, 'b-public', 'base');
    expect(base.versions[0].children!.map((c) => [c.os, c.architecture, c.variant])).toEqual([
      [null, null, null],
      ['linux', 'arm', 'v7'],
    ]);
  });

  it('statsOf: a push time that cannot be read does not hide the others', () => {
    const at = '2026-03-01T00:00:00.000Z';
    const a = { digest: 'sha256:1', size: 5, push_time: 'not a time', tags: [{ name: 'x', push_time: at }] };
    const b = { digest: 'sha256:2', size: 7, push_time: at, tags: [{ name: 'y', push_time: '' }] };
    expect(statsOf([a, b] as never)).toEqual({ versionCount: 2, sizeBytes: 12, latestPushAt: at });
    expect(statsOf([b, a] as never)).toEqual({ versionCount: 2, sizeBytes: 12, latestPushAt: at });
  });
});

describe('requests refused before Harbor is asked', () => {
  it('bad names, counts and descriptions', async () => {
    const w = await world();
    seed(w.harbor);
    expect(imageNameProblem('ws', 'a'.repeat(253))).toBe('image name is too long (workspace/image at most 255 characters)');
    expect(imageNameProblem('ws', 'a'.repeat(252))).toBeUndefined();
    w.harbor.calls = [];
    await expect(w.images.get(alice, 'Bad_WS', 'UPPER')).rejects.toMatchObject({ kind: 'not_found', message: 'workspace "Bad_WS" not found' });
    await expect(w.images.describe(alice, 'a-private', 'app', 42 as never)).rejects.toMatchObject({ kind: 'invalid', message: 'description must be a string' });
    await expect(w.images.describe(alice, 'a-private', 'app', 'x'.repeat(10_001))).rejects.toMatchObject({ message: 'description must be at most 10000 characters' });
    const image = { workspace: 'a-private', image: 'app' };
    for (const n of [0, 101]) {
      await expect(w.images.deleteImages(alice, new Array(n).fill(image))).rejects.toMatchObject({ kind: 'invalid', message: 'give 1 to 100 images to delete' });
      await expect(w.images.deleteVersions(alice, 'a-private', 'app', new Array(n).fill('v1'))).rejects.toMatchObject({ kind: 'invalid', message: 'give 1 to 100 versions to delete' });
    }
    expect(w.harbor.calls).toEqual([]);
    // a bad name next to a good one of the same workspace: Harbor is asked about the good one only
    const mixed = await w.images.deleteImages(alice, [{ workspace: 'a-private', image: 'team/tool' }, { workspace: 'a-private', image: 'Bad Name' }]);
    expect(mixed.failed).toEqual([{ workspace: 'a-private', image: 'Bad Name', code: 'NOT_FOUND', reason: 'image "a-private/Bad Name" not found' }]);
    expect(mixed.deleted).toEqual([{ workspace: 'a-private', image: 'team/tool' }]);
    expect(w.harbor.calls.filter((c) => c.endsWith('Repository'))).toEqual(['getRepository', 'deleteRepository']);
    expect((await w.images.deleteImages(alice, new Array(100).fill(image))).deleted).toEqual([image]);
    await expect(w.images.deleteVersions(alice, 'a-private', 'app', ['v1'])).rejects.toMatchObject({ kind: 'not_found', message: 'image "a-private/app" not found' });
  });
});

describe('deleting images: how Harbor failures are reported', () => {
  it('timeouts, a misconfigured upstream and anything else each have their code; only such failures are logged', async () => {
    const logger = captureLogger();
    const w = await world({ logger });
    seed(w.harbor);
    const failures = [
      new AppError('upstream_timeout', 'timed out after 10000 ms'),
      new AppError('upstream_misconfigured', 'Harbor refused hubgate\'s credentials'),
      new AppError('internal', 'bug'),
      new Error('socket hang up'),
      new AppError('conflict', 'busy'),
    ];
    for (const e of failures) w.harbor.failNext('deleteRepository', () => e);
    const items = [
      { workspace: 'a-private', image: 'app' },
      { workspace: 'a-private', image: 'team/tool' },
      { workspace: 'a-public', image: 'web' },
      { workspace: 'b-public', image: 'base' },
      { workspace: 'a-private', image: 'app' },
    ];
    const root1 = await w.images.deleteImages(root, items.slice(0, 4));
    expect(root1.failed).toEqual([
      { workspace: 'a-private', image: 'app', code: 'UPSTREAM_TIMEOUT', reason: 'Harbor did not answer in time; try again' },
      { workspace: 'a-private', image: 'team/tool', code: 'UPSTREAM_MISCONFIGURED', reason: 'upstream misconfigured' },
      { workspace: 'a-public', image: 'web', ...UNAVAILABLE },
      { workspace: 'b-public', image: 'base', ...UNAVAILABLE },
    ]);
    expect((await w.images.deleteImages(root, items.slice(4))).failed).toEqual([{ workspace: 'a-private', image: 'app', code: 'CONFLICT', reason: 'busy' }]);
    expect(logger.lines.map((l) => [l.msg, l.fields!.image, (l.fields!.error as Error).message])).toEqual([
      ['image delete failed', 'a-private/app', 'timed out after 10000 ms'],
      ['image delete failed', 'a-private/team/tool', "Harbor refused hubgate's credentials"],
      ['image delete failed', 'a-public/web', 'bug'],
      ['image delete failed', 'b-public/base', 'socket hang up'],
    ]);
  });
});
