/**
 * The storage-quota and immutable-rule routes (src/http/routes/limits.routes.ts) through createApp over a recording
 * stand-in of WorkspacePoliciesService: what each route passes to the service (caller, workspace, limit, rule),
 * what it answers (status, Location, body), and its refusals in Harbor's envelope (edge validation, rule ids).
 * The service itself is tested in policies.service.test.ts; the whole path against Harbor in e2e/limits.e2e.test.ts.
 */
import type { WorkspacePoliciesService } from '../../../src/domain/workspace-policies.service';
import { forbidden } from '../../../src/domain/errors';
import { answer, apiKit, envelope, recorder, type ApiKit } from '../http/app.kit';

const QUOTA = { workspace: 'ws', limitBytes: 4096, usedBytes: 796, usedPercent: 19.4, limit: '4.0 KiB', used: '796 B' };
const CLEARED = { workspace: 'ws', limitBytes: null, usedBytes: 796, usedPercent: null, limit: null, used: '796 B' };
const RULES = { workspace: 'ws', items: [{ id: 3, tags: 'v*', images: '**', enabled: true }] };

let k: ApiKit;
let policies: ReturnType<typeof recorder<WorkspacePoliciesService>>;

beforeAll(async () => {
  policies = recorder<WorkspacePoliciesService>({
    quota: async () => QUOTA,
    setQuota: async (_p: unknown, ws: string, limit: unknown) => {
      if (ws === 'theirs') throw forbidden('only cloud admins can change the storage quota of workspace "theirs"');
      return limit === null ? CLEARED : QUOTA;
    },
    rules: async () => RULES,
    addRule: async (_p: unknown, _ws: string, input: { tags: string; images: string }) => ({ id: 12, tags: input.tags, images: input.images, enabled: true }),
    deleteRule: async () => undefined,
  });
  k = await apiKit({ policies: policies.service });
});
afterAll(() => k.close());
beforeEach(() => {
  policies.calls.length = 0;
});

describe('storage quota', () => {
  it("GET answers the service's quota of the workspace, for the caller", async () => {
    const res = await k.as('bob').get('/api/v1/workspaces/ws/quota');
    expect(answer(res)).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: QUOTA });
    expect(policies.calls).toEqual([['quota', 'u-bob', 'ws']]);
  });

  it('PUT passes the limit as sent (a number, a size with a unit, null) and answers the new quota', async () => {
    for (const limit of [4096, '10GiB', null]) {
      const res = await k.as('admin').put('/api/v1/workspaces/ws/quota').send({ limit });
      expect(answer(res)).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: limit === null ? CLEARED : QUOTA });
    }
    expect(policies.calls).toEqual([
      ['setQuota', 'u-admin', 'ws', 4096],
      ['setQuota', 'u-admin', 'ws', '10GiB'],
      ['setQuota', 'u-admin', 'ws', null],
    ]);
  });

  it('DELETE clears the limit (null) and answers the quota', async () => {
    const res = await k.as('admin').delete('/api/v1/workspaces/ws/quota');
    expect(answer(res)).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: CLEARED });
    expect(policies.calls).toEqual([['setQuota', 'u-admin', 'ws', null]]);
  });

  it.each([
    ['no limit', {}, "body must have required property 'limit'"],
    ['a limit of 0', { limit: 0 }, 'body.limit must be >= 1; body.limit must be string; body.limit must be null; body.limit must match exactly one schema in oneOf'],
    ['an object', { limit: {} }, 'body.limit must be integer; body.limit must be string; body.limit must be null; body.limit must match exactly one schema in oneOf'],
    ['an unknown field', { limit: 1, extra: true }, 'body: unknown field "extra"'],
  ])('PUT with %s: 400 naming the field, the service not asked', async (_what, body, message) => {
    const res = await k.as('admin').put('/api/v1/workspaces/ws/quota').send(body);
    expect(answer(res)).toEqual(envelope(400, 'BAD_REQUEST', message));
    expect(policies.calls).toEqual([]);
  });

  it('PUT with a body that is not JSON: 400', async () => {
    const res = await k.as('admin').put('/api/v1/workspaces/ws/quota').type('text/plain').send('10GiB');
    expect(answer(res)).toEqual(envelope(400, 'BAD_REQUEST', 'request body must be JSON (Content-Type: application/json)'));
    expect(policies.calls).toEqual([]);
  });

  it("the service's refusal reaches the caller in Harbor's envelope (PUT and DELETE)", async () => {
    const message = 'only cloud admins can change the storage quota of workspace "theirs"';
    expect(answer(await k.as('alice').put('/api/v1/workspaces/theirs/quota').send({ limit: 1 }))).toEqual(envelope(403, 'FORBIDDEN', message));
    expect(answer(await k.as('alice').delete('/api/v1/workspaces/theirs/quota'))).toEqual(envelope(403, 'FORBIDDEN', message));
    expect(policies.calls).toEqual([
      ['setQuota', 'u-alice', 'theirs', 1],
      ['setQuota', 'u-alice', 'theirs', null],
    ]);
  });
});

describe('immutable rules', () => {
  it("GET answers the service's rules of the workspace", async () => {
    const res = await k.as('alice').get('/api/v1/workspaces/ws/immutable-rules');
    expect(answer(res)).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: RULES });
    expect(policies.calls).toEqual([['rules', 'u-alice', 'ws']]);
  });

  it('POST creates the rule (images default **): 201 with its Location and the rule', async () => {
    const res = await k.as('alice').post('/api/v1/workspaces/ws/immutable-rules').send({ tags: 'v*' });
    expect(answer(res)).toEqual({ status: 201, type: 'application/json; charset=utf-8', body: { id: 12, tags: 'v*', images: '**', enabled: true } });
    expect(res.headers.location).toBe('/api/v1/workspaces/ws/immutable-rules/12');
    const both = await k.as('admin').post('/api/v1/workspaces/ws/immutable-rules').send({ tags: 'rel-{a,b}', images: 'team/**' });
    expect(both.status).toBe(201);
    expect(policies.calls).toEqual([
      ['addRule', 'u-alice', 'ws', { tags: 'v*', images: '**' }],
      ['addRule', 'u-admin', 'ws', { tags: 'rel-{a,b}', images: 'team/**' }],
    ]);
  });

  it.each([
    ['no tags', {}, "body must have required property 'tags'"],
    ['empty tags', { tags: '' }, 'body.tags must NOT have fewer than 1 characters'],
    ['empty images', { tags: 'v*', images: '' }, 'body.images must NOT have fewer than 1 characters'],
    ['an unknown field', { tags: 'v*', extra: 1 }, 'body: unknown field "extra"'],
  ])('POST with %s: 400, the service not asked', async (_what, body, message) => {
    const res = await k.as('alice').post('/api/v1/workspaces/ws/immutable-rules').send(body);
    expect(answer(res)).toEqual(envelope(400, 'BAD_REQUEST', message));
    expect(policies.calls).toEqual([]);
  });

  it('DELETE removes rule {id} and answers what was deleted', async () => {
    const res = await k.as('alice').delete('/api/v1/workspaces/ws/immutable-rules/12');
    expect(answer(res)).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: { workspace: 'ws', id: 12, deleted: true } });
    expect(policies.calls).toEqual([['deleteRule', 'u-alice', 'ws', 12]]);
    // the longest id taken: 15 digits
    expect((await k.as('alice').delete('/api/v1/workspaces/ws/immutable-rules/123456789012345')).body).toEqual({ workspace: 'ws', id: 123456789012345, deleted: true });
  });

  it.each(['abc', '12a', 'a12', '-1', '1.5', '1234567890123456'])('DELETE rule %s (not 1 to 15 digits): 404 naming it, the service not asked', async (id) => {
    const res = await k.as('alice').delete(`/api/v1/workspaces/ws/immutable-rules/${id}`);
    expect(answer(res)).toEqual(envelope(404, 'NOT_FOUND', `immutable rule ${id} not found`));
    expect(policies.calls).toEqual([]);
  });
});
