import express from 'express';
import request from 'supertest';
import { AppError } from '../../../src/domain/errors';
import type { Principal } from '../../../src/domain/principal';
import { errorHandler } from '../../../src/http/errors';
import { auditCalls } from '../../../src/http/middleware/audit';
import { observe, op } from '../../../src/http/middleware/observe';
import { AuditTrail, type AuditEvent } from '../../../src/observability/audit';
import { silentLogger } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';

/**
 * The audit middleware as the API router mounts it (before authentication): one event per state-changing call,
 * written when the answer has been sent, whatever its outcome; reads are not audited. The routes here stand in for
 * the real ones: `x-user` plays the authenticated principal (absent: 401 as authentication answers), `?fail=` makes
 * the route fail with that error kind.
 */

const T0 = Date.parse('2026-12-05T12:00:00.000Z');
const root: Principal = { userId: 'u-root', username: 'root', isCloudAdmin: true, projects: [] };
const alice: Principal = { userId: 'u-alice', username: 'alice', isCloudAdmin: false, projects: [{ id: 'p1', name: 'P1', department: 'd' }, { id: 'p2', name: 'P2', department: 'd' }] };
const USERS: Record<string, Principal> = { root, alice };

function api(o: { observed?: boolean } = {}): { app: express.Express; events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  const trail = new AuditTrail({ sink: (l) => events.push(JSON.parse(l) as AuditEvent) });
  const router = express.Router();
  router.use(auditCalls(trail));
  router.use((req, _res, next) => {
    const who = req.headers['x-user'];
    if (typeof who !== 'string') return next(new AppError('unauthorized', 'a bearer token is required'));
    Object.assign(req, { principal: USERS[who] });
    next();
  });
  router.use(express.json());
  const answer = (status: number): express.RequestHandler => (req, res, next) => {
    const fail = req.query.fail;
    if (typeof fail === 'string') return next(new AppError(fail as AppError['kind'], `refused: ${fail}`));
    if (req.query.rid) res.setHeader('X-Request-Id', String(req.query.rid));
    res.status(status).json({});
  };
  router.post('/gc', op('gc_start'), answer(202));
  router.post('/gc/moved', op('gc_moved'), (_req, res) => res.redirect(303, '/api/v1/gc'));
  router.get('/gc', op('gc_list'), answer(200));
  router.delete('/workspaces/:ws/images/*image', op('image_delete'), answer(200));
  router.put('/workspaces/:ws/quota', op('workspace_quota_set'), answer(200));
  router.patch('/workspaces/:ws', op('workspace_update'), answer(200));
  const app = express();
  if (o.observed ?? true) app.use(observe(silentLogger, createMetrics({ defaultMetrics: false })));
  app.use('/api/v1', router);
  app.use((req, _res, next) => next(new AppError('not_found', `path ${req.path} was not found`)));
  app.use(errorHandler(silentLogger));
  return { app, events };
}

/** The event of the one call made, once its 'finish' has run. */
async function only(events: AuditEvent[]): Promise<AuditEvent> {
  for (let i = 0; i < 50 && events.length === 0; i++) await new Promise((r) => setImmediate(r));
  expect(events).toHaveLength(1);
  return events[0];
}

describe('audited API calls', () => {
  beforeEach(() => {
    jest.spyOn(Date, 'now').mockReturnValue(T0);
    jest.spyOn(performance, 'now').mockReturnValue(5000);
  });
  afterEach(() => jest.restoreAllMocks());

  it('a successful write: who, what, the operation id, the request id, the body fields that name the target', async () => {
    const { app, events } = api();
    const res = await request(app).post('/api/v1/gc').set('x-user', 'root').set('X-Request-Id', 'req-gc-1').send({ dryRun: true, note: 'x' });
    expect(res.status).toBe(202);
    expect(await only(events)).toEqual({
      type: 'audit',
      time: '2026-12-05T12:00:00.000Z',
      requestId: 'req-gc-1',
      clientAddress: '127.0.0.1',
      actor: { userId: 'u-root', username: 'root', cloudAdmin: true, projects: [] },
      action: 'gc_start',
      method: 'POST',
      path: '/api/v1/gc',
      target: { dryRun: true },
      outcome: 'success',
      status: 202,
      durationMs: 0,
    });
  });

  it('the duration is measured on the monotonic clock: a wall-clock step back during the call does not skew it', async () => {
    const monotonic = jest.spyOn(performance, 'now').mockReturnValue(1000.4);
    const wall = jest.spyOn(Date, 'now').mockReturnValue(T0);
    const events: AuditEvent[] = [];
    const app = express();
    app.use(auditCalls(new AuditTrail({ sink: (l) => events.push(JSON.parse(l) as AuditEvent) })));
    app.post('/gc', (_req, res) => {
      // while the call runs, 250.2 ms pass and the wall clock is set back a minute (an NTP step)
      monotonic.mockReturnValue(1250.6);
      wall.mockReturnValue(T0 - 60_000);
      res.status(202).json({});
    });
    expect((await request(app).post('/gc')).status).toBe(202);
    const e = await only(events);
    expect([e.time, e.durationMs]).toEqual(['2026-12-05T12:00:00.000Z', 250]);
  });

  it('a member: the projects they joined, by id; PUT, PATCH and DELETE are audited too, reads are not', async () => {
    const { app, events } = api();
    await request(app).get('/api/v1/gc').set('x-user', 'alice');
    await request(app).put('/api/v1/workspaces/ws/quota').set('x-user', 'alice').send({ limit: '1GiB' });
    await request(app).patch('/api/v1/workspaces/ws').set('x-user', 'alice').send({ access: 'public' });
    await request(app).delete('/api/v1/workspaces/ws/images/team/app').set('x-user', 'alice');
    for (let i = 0; i < 50 && events.length < 3; i++) await new Promise((r) => setImmediate(r));
    expect(events.map((e) => [e.method, e.action, e.path, e.target, e.actor])).toEqual([
      ['PUT', 'workspace_quota_set', '/api/v1/workspaces/ws/quota', { workspace: 'ws', limit: '1GiB' }, { userId: 'u-alice', username: 'alice', cloudAdmin: false, projects: ['p1', 'p2'] }],
      ['PATCH', 'workspace_update', '/api/v1/workspaces/ws', { workspace: 'ws', access: 'public' }, { userId: 'u-alice', username: 'alice', cloudAdmin: false, projects: ['p1', 'p2'] }],
      ['DELETE', 'image_delete', '/api/v1/workspaces/ws/images/team/app', { workspace: 'ws', image: 'team/app' }, { userId: 'u-alice', username: 'alice', cloudAdmin: false, projects: ['p1', 'p2'] }],
    ]);
  });

  it.each([
    ['no token', undefined, '', 401, 'denied', 'UNAUTHORIZED'],
    ['refused', 'alice', '?fail=forbidden', 403, 'denied', 'FORBIDDEN'],
    ['not found', 'alice', '?fail=not_found', 404, 'denied', 'NOT_FOUND'],
    ['a bad request', 'alice', '?fail=invalid', 400, 'failure', 'BAD_REQUEST'],
    ['a conflict', 'alice', '?fail=conflict', 409, 'failure', 'CONFLICT'],
    ['Harbor down', 'alice', '?fail=upstream_unavailable', 502, 'failure', 'UPSTREAM_UNAVAILABLE'],
  ])('%s: outcome and error code', async (_what, user, query, status, outcome, errorCode) => {
    const { app, events } = api();
    const req = request(app).post(`/api/v1/gc${query}`);
    const res = await (user ? req.set('x-user', user) : req).send({});
    expect(res.status).toBe(status);
    const e = await only(events);
    expect({ outcome: e.outcome, status: e.status, errorCode: e.errorCode, actor: e.actor === null ? null : e.actor.userId }).toEqual({
      outcome,
      status,
      errorCode,
      actor: user ? `u-${user}` : null,
    });
  });

  it('a redirect (3xx) is a success', async () => {
    const { app, events } = api();
    expect((await request(app).post('/api/v1/gc/moved').set('x-user', 'root')).status).toBe(303);
    expect(await only(events)).toMatchObject({ action: 'gc_moved', outcome: 'success', status: 303 });
  });

  it('a write to a path no route serves: action "unmatched", 404 denied', async () => {
    const { app, events } = api();
    expect((await request(app).post('/api/v1/nothing-here').set('x-user', 'root')).status).toBe(404);
    expect(await only(events)).toMatchObject({ action: 'unmatched', path: '/api/v1/nothing-here', outcome: 'denied', status: 404, errorCode: 'NOT_FOUND', target: {} });
  });

  it('an overlong path is cut to 1024 characters', async () => {
    const { app, events } = api();
    const long = `/workspaces/ws/images/${'a'.repeat(2000)}`;
    await request(app).delete(`/api/v1${long}`).set('x-user', 'root');
    const e = await only(events);
    expect(e.path).toBe(`/api/v1${long}`.slice(0, 1024));
    expect(e.path).toHaveLength(1024);
  });

  it('without the request context: the request id from the answer\'s header, else empty; the action unmatched', async () => {
    const { app, events } = api({ observed: false });
    await request(app).post('/api/v1/gc?rid=from-header').set('x-user', 'root').send({});
    await request(app).post('/api/v1/gc').set('x-user', 'root').send({});
    for (let i = 0; i < 50 && events.length < 2; i++) await new Promise((r) => setImmediate(r));
    expect(events.map((e) => [e.requestId, e.action])).toEqual([
      ['from-header', 'unmatched'],
      ['', 'unmatched'],
    ]);
  });
});
