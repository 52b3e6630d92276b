/**
 * The activity and retention routes (src/http/routes/policies.routes.ts) through createApp over recording stand-ins
 * of ActivityService and RetentionService: what each route passes to its service (caller, workspace, filters,
 * paging, policy, dry run, run id), what it answers (status, Location, X-Total-Count, body), its refusals in
 * Harbor's envelope, and that each service's routes are mounted only with that service. The services themselves
 * are tested in policies.test.ts and retention.service.test.ts; the whole path in e2e/policies.e2e.test.ts.
 */
import type { ActivityService } from '../../../src/domain/activity.service';
import type { RetentionService } from '../../../src/domain/retention.service';
import { AppError } from '../../../src/domain/errors';
import { answer, apiKit, envelope, recorder, type ApiKit } from '../http/app.kit';

const JSON_TYPE = 'application/json; charset=utf-8';
const ENTRY = { id: 1, time: '2026-12-04T16:00:00.000Z', operation: 'push', image: 'app', version: 'v1', digest: null, resourceType: 'artifact', actor: { kind: 'retention' } };
const POLICY = { rules: [{ images: 'app', keepLatestPushed: 1 }], protected: ['latest'], schedule: '0 0 3 * * *', enabled: true };
const RUN = { id: 9, dryRun: true, trigger: 'manual', status: 'Running' };

const activityStub = () => recorder<ActivityService>({ list: async () => ({ items: [ENTRY], total: 42, page: 2, pageSize: 5 }) });
const retentionStub = () =>
  recorder<RetentionService>({
    get: async () => POLICY,
    set: async (_p: unknown, _ws: string, policy: object) => ({ ...policy, enabled: true }),
    disable: async () => undefined,
    start: async (_p: unknown, ws: string) => {
      if (ws === 'bare') throw new AppError('conflict', 'workspace "bare" has no retention policy');
      return RUN;
    },
    runs: async () => ({ items: [RUN], total: 7, page: 1, pageSize: 10, note: 'n' }),
    run: async () => RUN,
  });

let k: ApiKit;
let activity: ReturnType<typeof activityStub>;
let retention: ReturnType<typeof retentionStub>;

beforeAll(async () => {
  activity = activityStub();
  retention = retentionStub();
  k = await apiKit({ activity: activity.service, retention: retention.service });
});
afterAll(() => k.close());
beforeEach(() => {
  activity.calls.length = 0;
  retention.calls.length = 0;
});

describe('activity', () => {
  it('passes the filters and paging (page_size as pageSize), answers the page with X-Total-Count', async () => {
    const res = await k.as('alice').get('/api/v1/workspaces/ws/activity?operation=push&image=app&version=v1&actorProject=proj-a&from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z&page=2&page_size=5');
    expect(answer(res)).toEqual({ status: 200, type: JSON_TYPE, body: { items: [ENTRY], total: 42, page: 2, pageSize: 5 } });
    expect(res.headers['x-total-count']).toBe('42');
    expect(activity.calls).toEqual([
      ['list', 'u-alice', 'ws', { operation: 'push', image: 'app', version: 'v1', actorProject: 'proj-a', from: '2026-12-01T00:00:00Z', to: '2026-12-02T00:00:00Z', page: 2, pageSize: 5 }],
    ]);
  });

  it('without a query: page 1 of 20', async () => {
    expect((await k.as('admin').get('/api/v1/workspaces/ws/activity')).status).toBe(200);
    expect(activity.calls).toEqual([['list', 'u-admin', 'ws', { page: 1, pageSize: 20 }]]);
  });

  it.each([
    ['operation=tagging', 'query.operation must be equal to one of the allowed values'],
    ['page_size=101', 'query.page_size must be <= 100'],
    ['page=0', 'query.page must be >= 1'],
    ['from=yesterday', 'query.from must match format "date-time"'],
    ['image=a,b', 'query.image must match pattern "^[^,=~\\[\\]{}]+$"'],
    ['user=bob', 'query: unknown field "user"'],
  ])('?%s: 400 naming the parameter, the service not asked', async (query, message) => {
    const res = await k.as('alice').get(`/api/v1/workspaces/ws/activity?${query}`);
    expect(answer(res)).toEqual(envelope(400, 'BAD_REQUEST', message));
    expect(activity.calls).toEqual([]);
  });
});

describe('retention policy', () => {
  it("GET answers the service's policy of the workspace", async () => {
    const res = await k.as('bob').get('/api/v1/workspaces/ws/retention');
    expect(answer(res)).toEqual({ status: 200, type: JSON_TYPE, body: POLICY });
    expect(retention.calls).toEqual([['get', 'u-bob', 'ws']]);
  });

  it('PUT passes the policy (protected and schedule defaulted) and answers what the service set', async () => {
    const res = await k.as('alice').put('/api/v1/workspaces/ws/retention').send({ rules: [{ images: '**', keepPulledWithinDays: 7 }] });
    const sent = { rules: [{ images: '**', keepPulledWithinDays: 7 }], protected: [], schedule: null };
    expect(answer(res)).toEqual({ status: 200, type: JSON_TYPE, body: { ...sent, enabled: true } });
    expect(retention.calls).toEqual([['set', 'u-alice', 'ws', sent]]);
  });

  it.each([
    ['no rules', {}, "body must have required property 'rules'"],
    ['a rule without images', { rules: [{ keepLatestPushed: 1 }] }, "body.rules.0 must have required property 'images'"],
    ['a negative count', { rules: [{ images: 'app', keepLatestPushed: -1 }] }, 'body.rules.0.keepLatestPushed must be >= 0'],
    ['an unknown field', { rules: [], keep: 1 }, 'body: unknown field "keep"'],
  ])('PUT with %s: 400, the service not asked', async (_what, body, message) => {
    const res = await k.as('alice').put('/api/v1/workspaces/ws/retention').send(body);
    expect(answer(res)).toEqual(envelope(400, 'BAD_REQUEST', message));
    expect(retention.calls).toEqual([]);
  });

  it('DELETE disables it: 204 without a body', async () => {
    const res = await k.as('alice').delete('/api/v1/workspaces/ws/retention');
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(res.headers['content-type']).toBeUndefined();
    expect(retention.calls).toEqual([['disable', 'u-alice', 'ws']]);
  });
});

describe('retention runs', () => {
  const runs = (ws = 'ws') => `/api/v1/workspaces/${ws}/retention/runs`;

  it('POST without a body starts a dry run: 202, Location of the run (workspace encoded), the run', async () => {
    const res = await k.as('alice').post(runs('a%2Fb'));
    expect(answer(res)).toEqual({ status: 202, type: JSON_TYPE, body: RUN });
    expect(res.headers.location).toBe('/api/v1/workspaces/a%2Fb/retention/runs/9');
    expect(retention.calls).toEqual([['start', 'u-alice', 'a/b', true]]);
  });

  it('POST with a JSON body: dryRun as sent, a dry run when left out', async () => {
    for (const body of [{ dryRun: false }, { dryRun: true }, {}]) expect((await k.as('alice').post(runs()).send(body)).status).toBe(202);
    expect(retention.calls).toEqual([
      ['start', 'u-alice', 'ws', false],
      ['start', 'u-alice', 'ws', true],
      ['start', 'u-alice', 'ws', true],
    ]);
  });

  it('POST with neither a body nor Content-Length (curl -X POST): a dry run too', async () => {
    const res = await k.bare('bob', 'POST', runs());
    expect({ status: res.status, body: res.body }).toEqual({ status: 202, body: RUN });
    expect(res.headers).toContain('\r\nLocation: /api/v1/workspaces/ws/retention/runs/9\r\n');
    expect(retention.calls).toEqual([['start', 'u-bob', 'ws', true]]);
  });

  it.each([
    ['a dryRun that is not a boolean', (t: ReturnType<ApiKit['as']>) => t.post(runs()).send({ dryRun: 'no' }), 'body.dryRun must be boolean'],
    ['an unknown field', (t: ReturnType<ApiKit['as']>) => t.post(runs()).send({ dry: true }), 'body: unknown field "dry"'],
    ['a body that is not JSON', (t: ReturnType<ApiKit['as']>) => t.post(runs()).type('text/plain').send('dry'), 'request body must be JSON (Content-Type: application/json)'],
    ['an empty chunked body (no type)', (t: ReturnType<ApiKit['as']>) => t.post(runs()).set('Transfer-Encoding', 'chunked'), 'request body must be JSON (Content-Type: application/json)'],
  ])('POST with %s: 400, no run started', async (_what, send, message) => {
    expect(answer(await send(k.as('alice')))).toEqual(envelope(400, 'BAD_REQUEST', message));
    expect(retention.calls).toEqual([]);
  });

  it("the service's refusal reaches the caller in Harbor's envelope", async () => {
    expect(answer(await k.as('alice').post(runs('bare')))).toEqual(envelope(409, 'CONFLICT', 'workspace "bare" has no retention policy'));
  });

  it('GET lists a page (default 1 of 10) with X-Total-Count', async () => {
    const res = await k.as('alice').get(runs());
    expect(answer(res)).toEqual({ status: 200, type: JSON_TYPE, body: { items: [RUN], total: 7, page: 1, pageSize: 10, note: 'n' } });
    expect(res.headers['x-total-count']).toBe('7');
    expect((await k.as('admin').get(`${runs()}?page=3&page_size=50`)).status).toBe(200);
    expect(retention.calls).toEqual([
      ['runs', 'u-alice', 'ws', 1, 10],
      ['runs', 'u-admin', 'ws', 3, 50],
    ]);
  });

  it.each([
    ['page_size=51', 'query.page_size must be <= 50'],
    ['page=0', 'query.page must be >= 1'],
    ['page=x', 'query.page must be integer'],
    ['status=Success', 'query: unknown field "status"'],
  ])('GET ?%s: 400, the service not asked', async (query, message) => {
    expect(answer(await k.as('alice').get(`${runs()}?${query}`))).toEqual(envelope(400, 'BAD_REQUEST', message));
    expect(retention.calls).toEqual([]);
  });

  it('GET run {id} answers the run', async () => {
    const res = await k.as('alice').get(`${runs()}/9`);
    expect(answer(res)).toEqual({ status: 200, type: JSON_TYPE, body: RUN });
    expect((await k.as('alice').get(`${runs()}/123456789012345`)).status).toBe(200);
    expect(retention.calls).toEqual([
      ['run', 'u-alice', 'ws', 9],
      ['run', 'u-alice', 'ws', 123456789012345],
    ]);
  });

  it.each(['abc', '9x', 'x9', '-9', '1234567890123456'])('GET run %s (not 1 to 15 digits): 404 naming it, the service not asked', async (id) => {
    expect(answer(await k.as('alice').get(`${runs()}/${id}`))).toEqual(envelope(404, 'NOT_FOUND', `retention run ${id} not found`));
    expect(retention.calls).toEqual([]);
  });
});

describe('the body schemas', () => {
  // The validators are compiled when the routes are built: this test builds its own app so that the routes are
  // built while it runs.
  it('PUT retention is checked against RetentionPolicy, POST runs against RetentionRunStart: each refuses the other', async () => {
    const own = retentionStub();
    const app = await apiKit({ retention: own.service });
    try {
      const put = await app.as('alice').put('/api/v1/workspaces/ws/retention').send({ dryRun: true });
      expect(answer(put)).toEqual(envelope(400, 'BAD_REQUEST', 'body must have required property \'rules\'; body: unknown field "dryRun"'));
      const post = await app.as('alice').post('/api/v1/workspaces/ws/retention/runs').send({ rules: [] });
      expect(answer(post)).toEqual(envelope(400, 'BAD_REQUEST', 'body: unknown field "rules"'));
      expect(own.calls).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

describe('each service mounts its own routes only', () => {
  it.each([
    ['activity', () => ({ activity: activityStub().service }), ['/retention', '/retention/runs', '/retention/runs/1'], ['/activity']],
    ['retention', () => ({ retention: retentionStub().service }), ['/activity'], ['/retention', '/retention/runs', '/retention/runs/1']],
  ])('with %s only', async (_which, deps, absent, present) => {
    const only = await apiKit(deps());
    try {
      for (const p of absent) expect(answer(await only.as('alice').get(`/api/v1/workspaces/ws${p}`))).toEqual(envelope(404, 'NOT_FOUND', `path /api/v1/workspaces/ws${p} was not found`));
      for (const p of present) expect((await only.as('alice').get(`/api/v1/workspaces/ws${p}`)).status).toBe(200);
    } finally {
      await only.close();
    }
  });
});
