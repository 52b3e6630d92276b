import { AppError } from '../../../src/domain/errors';
import type { Principal } from '../../../src/domain/principal';
import type { HarborProject } from '../../../src/ports/harbor';
import { kit, member, recordingCache, type Kit } from './kit';

/**
 * The doors of an upload: who may upload into a workspace (authorize), when a new upload is refused before it costs
 * anything (start), what its first record says, and who may read its progress (get).
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const refusal = (e: unknown) => ({ kind: (e as AppError).kind, message: (e as AppError).message, retryAfterSeconds: (e as AppError).retryAfterSeconds });
const person = (userId: string, projects: string[], isCloudAdmin = false): Principal => ({ ...member(projects), userId, isCloudAdmin });

describe('console uploads: who may upload into a workspace', () => {
  let k: Kit;
  afterEach(() => k.close());

  it('a name hubgate refuses is not found, without asking Harbor — even when Harbor has such a project', async () => {
    k = kit();
    k.projects.WS = { public: false, owner: 'p1' };
    const asked: string[] = [];
    const find = k.harbor.findProject;
    k.harbor.findProject = async (name) => (asked.push(name), find(name));
    const err = await k.uploads.authorize(member(), 'WS').catch((e: unknown) => e);
    expect(refusal(err)).toEqual({ kind: 'not_found', message: 'workspace "WS" not found', retryAfterSeconds: undefined });
    expect(asked).toEqual([]);
  });

  it('a workspace Harbor does not have: 404 naming it', async () => {
    k = kit();
    const err = await k.uploads.authorize(member(), 'nope').catch((e: unknown) => e);
    expect(refusal(err)).toEqual({ kind: 'not_found', message: 'workspace "nope" not found', retryAfterSeconds: undefined });
  });

  it('a public workspace of another project: 403 saying only its members can upload', async () => {
    k = kit();
    const err = await k.uploads.authorize(member(['p1']), 'pub').catch((e: unknown) => e);
    expect(refusal(err)).toEqual({
      kind: 'forbidden',
      message: 'only members of the owning project can upload to workspace "pub"',
      retryAfterSeconds: undefined,
    });
  });

  it('a Harbor project without metadata counts as private: its members upload, others do not see it', async () => {
    k = kit();
    // Harbor's JSON is not checked against the port's type: a project may arrive without `metadata`
    const bare = { project_id: 7, name: 'ws', creation_time: '', update_time: '' } as unknown as HarborProject;
    k.harbor.findProject = async (name) => (name === 'ws' ? bare : null);
    expect(await k.uploads.authorize(member(['p1']), 'ws')).toEqual({ projectId: 'p1', harborProjectId: 7 });
    const err = await k.uploads.authorize(member(['p2']), 'ws').catch((e: unknown) => e);
    expect(refusal(err)).toEqual({ kind: 'not_found', message: 'workspace "ws" not found', retryAfterSeconds: undefined });
  });
});

describe('console uploads: starting an upload', () => {
  let k: Kit;
  afterEach(() => k.close());

  it('the first record: receiving, nothing received, no layers or images, the declared size, this replica — written to the shared store at once', async () => {
    const store = recordingCache();
    k = kit({}, { cache: store.cache, replica: 'replica-a' });
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1', harborProjectId: 3, declaredBytes: 1234 });
    expect(h.record).toEqual({
      id: expect.stringMatching(UUID),
      workspace: 'ws',
      projectId: 'p1',
      userId: 'u1',
      state: 'receiving',
      bytesReceived: 0,
      bytesDeclared: 1234,
      layers: [],
      images: [],
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
      replica: 'replica-a',
    });
    expect(store.writes).toEqual([h.record]);
  });

  it('without a replica id the service names itself with a random UUID', async () => {
    k = kit();
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    expect(h.record.replica).toMatch(UUID);
    expect(h.record.bytesDeclared).toBeNull();
  });

  it('an id chosen by the server is not looked up in the store; one chosen by the client is, and a taken one is a 409 naming it', async () => {
    const store = recordingCache();
    k = kit({}, { cache: store.cache });
    await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    expect(store.reads).toEqual([]);
    await k.uploads.start(member(), 'ws', { projectId: 'p1', id: 'upload-0001' });
    expect(store.reads).toEqual(['upload:upload-0001']);
    const err = await k.uploads.start(member(), 'ws', { projectId: 'p1', id: 'upload-0001' }).catch((e: unknown) => e);
    expect(refusal(err)).toEqual({ kind: 'conflict', message: 'upload id "upload-0001" is already in use', retryAfterSeconds: undefined });
  });

  it('all slots taken: 429 at once — no store lookup of the id and no disk check (a declared size over the disk budget still gets 429)', async () => {
    const store = recordingCache();
    k = kit({ maxConcurrent: 1, diskBudgetBytes: 1000 }, { cache: store.cache });
    await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    const err = await k.uploads.start(member(), 'ws', { projectId: 'p1', id: 'upload-0002', declaredBytes: 5000 }).catch((e: unknown) => e);
    expect(refusal(err)).toEqual({ kind: 'rate_limited', message: 'this replica is already receiving 1 uploads; try again shortly', retryAfterSeconds: 10 });
    expect(store.reads).toEqual([]);
    expect(k.uploads.active).toBe(1);
  });

  it('two uploads racing for the last slot: the one that loses after the disk check gets the same 429 message', async () => {
    k = kit({ maxConcurrent: 1 });
    const results = await Promise.allSettled([k.uploads.start(member(), 'ws', { projectId: 'p1' }), k.uploads.start(member(), 'ws', { projectId: 'p1' })]);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => refusal(r.reason));
    expect(refused).toEqual([{ kind: 'rate_limited', message: 'this replica is already receiving 1 uploads; try again shortly', retryAfterSeconds: 10 }]);
  });

  it('after close(): running uploads are aborted with the shutdown reason, new ones get 503 with Retry-After 5', async () => {
    k = kit();
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1' });
    k.uploads.close();
    expect(h.signal.aborted).toBe(true);
    expect(h.signal.reason).toMatchObject({ kind: 'unavailable', reason: 'shutdown', message: 'hubgate is shutting down; send the archive again' });
    const err = await k.uploads.start(member(), 'ws', { projectId: 'p1' }).catch((e: unknown) => e);
    expect(refusal(err)).toEqual({ kind: 'unavailable', message: 'hubgate is shutting down; send the archive again', retryAfterSeconds: 5 });
  });
});

describe('console uploads: who may read the progress of an upload', () => {
  let k: Kit;
  afterEach(() => k.close());

  it('the uploader (even after leaving the project), members of the owning project and cloud admins; anyone else gets 404', async () => {
    k = kit();
    const { id } = (await k.uploads.start(member(['p1']), 'ws', { projectId: 'p1' })).record;
    for (const reader of [person('u1', []), person('u2', ['p1']), person('admin', [], true)]) {
      expect((await k.uploads.get(reader, id)).id).toBe(id);
    }
    const err = await k.uploads.get(person('u3', ['p2']), id).catch((e: unknown) => e);
    expect(refusal(err)).toEqual({ kind: 'not_found', message: `upload "${id}" not found`, retryAfterSeconds: undefined });
  });

  it.each([
    ['a path before a UUID-like tail', `x/${'a'.repeat(36)}`],
    ['a UUID-like head with a path after it', `${'a'.repeat(36)}/x`],
    ['a single dash', '-'],
    ['36 characters that are no hex digits', '.'.repeat(36)],
  ])('an id that is no upload id (%s) is not found without a look-up in the store', async (_what, id) => {
    const store = recordingCache();
    k = kit({}, { cache: store.cache });
    const err = await k.uploads.get(person('admin', [], true), id).catch((e: unknown) => e);
    expect(refusal(err)).toEqual({ kind: 'not_found', message: `upload "${id}" not found`, retryAfterSeconds: undefined });
    expect(store.reads).toEqual([]);
  });
});
