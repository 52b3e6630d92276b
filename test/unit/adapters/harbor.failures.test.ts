import { inspect } from 'node:util';
import nock, { bodyMatcher } from './nock';
import { NOT_ADMIN_MESSAGE } from '../../../adapters/harbor/admin-identity';
import { AppError } from '../../../src/domain/errors';
import { runWithContext } from '../../../src/observability/context';
import type { HarborCurrentUser, HarborRobot } from '../../../src/ports/harbor';
import { recorded, recordedBody, recordedReply } from '../../support/recorded';
import {
  ADMIN,
  API,
  BASE,
  PASSWORD,
  adminAccepted,
  basic,
  closeAdapters,
  closedPortUrl,
  counter,
  harborScope,
  makeAdapter,
  pending,
  rejection,
  startLocalHarbor,
} from './harbor.kit';

/**
 * What the adapter does when Harbor or the network misbehaves: the admin identity (and Harbor's anonymous
 * fallback), 5xx, timeouts, refused and reset connections, retries, request ids, metrics, and secrets.
 */

const MISCONFIGURED = "upstream misconfigured: Harbor rejected hubgate's admin credentials";

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1'); // the local stand-ins for refused / reset connections
});
afterEach(() => {
  nock.cleanAll();
  closeAdapters();
});
afterAll(() => nock.enableNetConnect());

/** A clock the test moves. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('admin identity and the anonymous fallback', () => {
  test('wrong admin password: Harbor would list anonymously (012), the adapter fails with upstream_misconfigured', async () => {
    const { harbor } = makeAdapter();
    const scope = nock(BASE);
    // 011: /users/current refuses the wrong password (after Harbor's deliberate delay, shortened here).
    scope.get(`${API}/users/current`).delay(30).reply(...recordedReply(11));
    // 012: the very same credentials get a 200 with only public projects on /projects.
    scope.get(`${API}/projects`).query(true).reply(...recordedReply(12));
    const e = await rejection(harbor.listProjects({}));
    expect(e.kind).toBe('upstream_misconfigured');
    expect(e.message).toBe(MISCONFIGURED);
    expect(e.upstreamStatus).toBe(401);
    // The anonymous view was never even asked for.
    expect(pending(scope)).toEqual([expect.stringContaining(`${API}/projects`)]);
  });

  test('a refused identity fails fast for a while, then Harbor is asked again', async () => {
    const c = clock();
    const { harbor } = makeAdapter({ now: c.now, identityFailTtlMs: 5000 });
    const scope = harborScope();
    scope.get(`${API}/users/current`).reply(...recordedReply(11));
    expect((await rejection(harbor.listAllProjects())).kind).toBe('upstream_misconfigured');
    // No interceptor left: a second request to Harbor would come back as a 501, not as misconfigured.
    expect((await rejection(harbor.getRobot(1))).kind).toBe('upstream_misconfigured');
    c.advance(5001);
    adminAccepted(scope);
    scope.get(`${API}/robots/1`).reply(...recordedReply(55));
    await expect(harbor.getRobot(1)).resolves.toEqual(recordedBody(55));
  });

  test('a confirmed identity is trusted for the TTL, then checked again', async () => {
    const c = clock();
    const { harbor } = makeAdapter({ now: c.now, identityTtlMs: 30_000 });
    const scope = harborScope();
    const check = adminAccepted(scope, 2);
    scope.get(`${API}/robots/1`).times(3).reply(...recordedReply(55));
    await harbor.getRobot(1);
    c.advance(29_000);
    await harbor.getRobot(1);
    expect(check.calls()).toBe(1);
    c.advance(2_000);
    await harbor.getRobot(1);
    expect(check.calls()).toBe(2);
  });

  test('concurrent calls share one identity check', async () => {
    const { harbor } = makeAdapter();
    const scope = harborScope();
    const check = adminAccepted(scope, 3);
    scope.get(`${API}/robots/1`).times(3).reply(...recordedReply(55));
    await Promise.all([harbor.getRobot(1), harbor.getRobot(1), harbor.getRobot(1)]);
    expect(check.calls()).toBe(1);
  });

  test.each([
    ['not a system admin', { sysadmin_flag: false }],
    ['another user', { username: 'someone-else' }],
  ])('an identity that is %s is misconfigured too', async (_label, change) => {
    const { harbor } = makeAdapter();
    const scope = harborScope();
    scope.get(`${API}/users/current`).reply(...recordedReply(9, { body: { ...recordedBody<HarborCurrentUser>(9), ...change } }));
    const e = await rejection(harbor.listProjects({}));
    expect(e.kind).toBe('upstream_misconfigured');
  });

  test('an answer that is not our admin: upstream_misconfigured with the 200 it came with, again from the cache until failTtl ends', async () => {
    const c = clock();
    const { harbor } = makeAdapter({ now: c.now, identityFailTtlMs: 5000 });
    const scope = harborScope();
    scope.get(`${API}/users/current`).reply(...recordedReply(9, { body: { ...recordedBody<HarborCurrentUser>(9), sysadmin_flag: false } }));
    const notAdmin = { kind: 'upstream_misconfigured', message: NOT_ADMIN_MESSAGE, upstreamStatus: 200 };
    expect(await rejection(harbor.getRobot(1))).toMatchObject(notAdmin);
    c.advance(4999);
    // No interceptor left: asking Harbor would fail otherwise.
    expect(await rejection(harbor.getRobot(1))).toMatchObject(notAdmin);
  });

  test.each([
    ['an empty body', ''],
    ['a user without a name', { ...recordedBody<HarborCurrentUser>(9), username: undefined }],
    ['null', 'null'],
  ])('/users/current answering %s is not our admin (no TypeError)', async (_label, body) => {
    const { harbor } = makeAdapter();
    harborScope().get(`${API}/users/current`).reply(...recordedReply(9, { body }));
    const e = await rejection(harbor.getRobot(1));
    expect(e).toBeInstanceOf(AppError);
    expect(e).toMatchObject({ kind: 'upstream_misconfigured', message: NOT_ADMIN_MESSAGE, upstreamStatus: 200 });
  });

  test('an admin by its authentication role (admin_role_in_auth, e.g. an LDAP admin group) is our admin', async () => {
    const { harbor } = makeAdapter();
    const scope = harborScope();
    scope.get(`${API}/users/current`).reply(...recordedReply(9, { body: { ...recordedBody<HarborCurrentUser>(9), username: 'ADMIN', sysadmin_flag: false, admin_role_in_auth: true } }));
    scope.get(`${API}/robots/1`).reply(...recordedReply(55));
    await expect(harbor.getRobot(1)).resolves.toEqual(recordedBody(55));
  });

  test('the TTLs end exactly: at okUntil the identity is checked again; at the end of failTtl Harbor is asked again', async () => {
    const c = clock();
    const { harbor } = makeAdapter({ now: c.now, identityTtlMs: 30_000, identityFailTtlMs: 5000 });
    const scope = harborScope();
    const check = adminAccepted(scope);
    scope.get(`${API}/robots/1`).times(2).reply(...recordedReply(55));
    await harbor.getRobot(1);
    c.advance(30_000);
    scope.get(`${API}/users/current`).reply(...recordedReply(11));
    expect(await rejection(harbor.getRobot(1))).toMatchObject({ kind: 'upstream_misconfigured', message: MISCONFIGURED, upstreamStatus: 401 });
    expect(check.calls()).toBe(1);
    // cached refusal: a copy with the same kind, message and status
    c.advance(4999);
    expect(await rejection(harbor.getRobot(1))).toMatchObject({ kind: 'upstream_misconfigured', message: MISCONFIGURED, upstreamStatus: 401 });
    c.advance(1);
    const recheck = adminAccepted(scope);
    await expect(harbor.getRobot(1)).resolves.toEqual(recordedBody(55));
    expect(recheck.calls()).toBe(1);
    expect(pending(scope)).toEqual([]);
  });

  test('the identity check failing otherwise (500) is not remembered: the next call checks again', async () => {
    const c = clock();
    const { harbor } = makeAdapter({ now: c.now, retries: 0, identityFailTtlMs: 5000 });
    const scope = harborScope();
    scope.get(`${API}/users/current`).reply(...recordedReply(214));
    expect((await rejection(harbor.getRobot(1))).kind).toBe('upstream_unavailable');
    const recheck = adminAccepted(scope);
    scope.get(`${API}/robots/1`).reply(...recordedReply(55));
    await expect(harbor.getRobot(1)).resolves.toEqual(recordedBody(55));
    expect(recheck.calls()).toBe(1);
  });

  test('currentUser itself: 401 → upstream_misconfigured, never unauthorized', async () => {
    const { harbor } = makeAdapter();
    harborScope().get(`${API}/users/current`).reply(...recordedReply(10));
    const e = await rejection(harbor.currentUser());
    expect(e.kind).toBe('upstream_misconfigured');
    expect(e.message).toBe(MISCONFIGURED);
  });

  test('currentUser() refused (010) counts as a refused identity: the next call fails fast, without asking Harbor', async () => {
    const c = clock();
    const { harbor } = makeAdapter({ now: c.now, identityFailTtlMs: 5000 });
    harborScope().get(`${API}/users/current`).reply(...recordedReply(10));
    expect((await rejection(harbor.currentUser())).kind).toBe('upstream_misconfigured');
    // No interceptor left: asking Harbor again would fail as unreachable, not as misconfigured.
    expect(await rejection(harbor.getRobot(1))).toMatchObject({ kind: 'upstream_misconfigured', message: MISCONFIGURED });
  });

  test('currentUser() failing otherwise (500) is not remembered: the next call checks the identity and goes through', async () => {
    const { harbor } = makeAdapter({ retries: 0 });
    const scope = harborScope();
    scope.get(`${API}/users/current`).reply(...recordedReply(214));
    expect((await rejection(harbor.currentUser())).kind).toBe('upstream_unavailable');
    adminAccepted(scope);
    scope.get(`${API}/robots/1`).reply(...recordedReply(55));
    await expect(harbor.getRobot(1)).resolves.toEqual(recordedBody(55));
  });

  test('a 401 on any admin call (022) → upstream_misconfigured, and the identity is checked again next time', async () => {
    const c = clock();
    const { harbor } = makeAdapter({ now: c.now, identityFailTtlMs: 1000 });
    const scope = harborScope();
    adminAccepted(scope);
    scope.post(`${API}/projects`).reply(...recordedReply(22));
    const e = await rejection(harbor.createProject({ name: 'x', public: false }));
    expect(e.kind).toBe('upstream_misconfigured');
    c.advance(1001);
    const recheck = adminAccepted(scope);
    scope.get(`${API}/robots/1`).reply(...recordedReply(55));
    await harbor.getRobot(1);
    expect(recheck.calls()).toBe(1);
  });

  test('403 for a project name means "absent" only once the admin identity is confirmed', async () => {
    const c = clock();
    const { harbor } = makeAdapter({ now: c.now, identityTtlMs: 30_000 });
    const scope = harborScope();
    adminAccepted(scope);
    // The credentials break while the 403 is on its way: the cached check has expired by then.
    scope.get(`${API}/projects/nope`).reply(() => {
      c.advance(31_000);
      return recordedReply(30);
    });
    scope.get(`${API}/users/current`).reply(...recordedReply(11));
    const e = await rejection(harbor.findProject('nope'));
    expect(e.kind).toBe('upstream_misconfigured');
  });

  test('403 on a path that does not name a project stays forbidden', async () => {
    const { harbor } = makeAdapter();
    const scope = harborScope();
    adminAccepted(scope);
    scope.delete(`${API}/robots/5`).reply(...recordedReply(30));
    expect((await rejection(harbor.deleteRobot(5))).kind).toBe('forbidden');
  });
});

describe('Harbor status → error kind', () => {
  test.each([
    [400, 71, 'invalid'],
    [403, 30, 'forbidden'],
    [404, 79, 'not_found'],
    [409, 45, 'conflict'],
    [412, 178, 'precondition'],
    [422, 26, 'invalid'],
    [405, 26, 'upstream_unavailable'],
    [500, 214, 'upstream_unavailable'],
  ])('%i → %s', async (status, fixture, kind) => {
    const { harbor } = makeAdapter({ retries: 0 });
    const scope = harborScope();
    adminAccepted(scope);
    const [, body, headers] = recordedReply(fixture);
    scope.delete(`${API}/robots/7`).reply(status, body, headers);
    const e = await rejection(harbor.deleteRobot(7));
    expect(e.kind).toBe(kind);
    expect(e.upstreamStatus).toBe(status);
    if (kind === 'invalid' || kind === 'conflict' || kind === 'precondition') {
      expect(e.message).toBe((recordedBody(fixture) as { errors: { message: string }[] }).errors[0].message);
    }
  });

  test('5xx: Harbor’s details go to the log, never into the error (214 shape)', async () => {
    const { harbor, logger } = makeAdapter({ retries: 0 });
    const scope = harborScope();
    adminAccepted(scope);
    const detail = 'pq: relation "audit_log" does not exist';
    scope.get(`${API}/robots/1`).reply(...recordedReply(214, { body: { errors: [{ code: 'UNKNOWN', message: detail }] } }));
    const e = await rejection(harbor.getRobot(1));
    expect(e.kind).toBe('upstream_unavailable');
    expect(e.upstreamStatus).toBe(500);
    expect(e.message).not.toContain(detail);
    expect(logger.lines.some((l) => l.level === 'error' && l.fields?.harbor_message === detail)).toBe(true);
  });
});

describe('retries', () => {
  test('GET is retried after a 5xx and then succeeds', async () => {
    const { harbor, metrics } = makeAdapter({ retries: 2 });
    const scope = harborScope();
    adminAccepted(scope);
    scope.get(`${API}/robots/1`).reply(...recordedReply(214));
    scope.get(`${API}/robots/1`).reply(...recordedReply(55));
    await expect(harbor.getRobot(1)).resolves.toEqual(recordedBody(55));
    expect(await counter(metrics, 'getRobot', 'server_error')).toBe(1);
    expect(await counter(metrics, 'getRobot', 'success')).toBe(1);
  });

  test('GET gives up after 1 + retries attempts', async () => {
    const { harbor } = makeAdapter({ retries: 2 });
    const scope = harborScope();
    adminAccepted(scope);
    scope.get(`${API}/robots/1`).times(3).reply(...recordedReply(214));
    scope.get(`${API}/robots/1`).reply(...recordedReply(55));
    const e = await rejection(harbor.getRobot(1));
    expect(e.kind).toBe('upstream_unavailable');
    expect(e.upstreamStatus).toBe(500);
    expect(pending(scope)).toHaveLength(1); // the fourth answer was never asked for
  });

  test('PUT is retried (idempotent)', async () => {
    const { harbor } = makeAdapter({ retries: 1 });
    const scope = harborScope();
    adminAccepted(scope);
    const robot = recorded(62).request.body as HarborRobot;
    scope.put(`${API}/robots/1`, bodyMatcher(robot)).reply(503, '');
    scope.put(`${API}/robots/1`, bodyMatcher(robot)).reply(...recordedReply(62));
    await harbor.updateRobot(robot);
    expect(scope.isDone()).toBe(true);
  });

  type Harbor = ReturnType<typeof makeAdapter>['harbor'];
  test.each([
    ['POST', '/projects', (h: Harbor) => h.createProject({ name: 'alpha', public: false })],
    ['PATCH', '/robots/1', (h: Harbor) => h.setRobotSecret(1, 'N3w-Secret-Value')],
    ['POST', '/system/gc/schedule', (h: Harbor) => h.startGc({ dryRun: true, deleteUntagged: true })],
  ])('%s %s is never retried', async (method, path, run) => {
    const { harbor } = makeAdapter({ retries: 3 });
    const scope = harborScope();
    adminAccepted(scope);
    scope.intercept(`${API}${path}`, method).reply(...recordedReply(214));
    scope.intercept(`${API}${path}`, method).reply(201, '', { Location: '/api/v2.0/x/1' });
    const e = await rejection(run(harbor));
    expect(e.kind).toBe('upstream_unavailable');
    expect(e.upstreamStatus).toBe(500);
    expect(pending(scope)).toHaveLength(1); // the second answer was never asked for
  });

  test('connection reset: GET retried on a new connection', async () => {
    const harborLocal = await startLocalHarbor((req, hit) => {
      if (req.url === `${API}/users/current`) return recordedReply(9);
      return hit === 2 ? false : recordedReply(55);
    });
    try {
      const { harbor, metrics } = makeAdapter({ baseUrl: harborLocal.url, retries: 1 });
      await expect(harbor.getRobot(1)).resolves.toEqual(recordedBody(55));
      expect(harborLocal.hits).toEqual([`GET ${API}/users/current`, `GET ${API}/robots/1`, `GET ${API}/robots/1`]);
      expect(await counter(metrics, 'getRobot', 'unreachable')).toBe(1);
    } finally {
      await harborLocal.close();
    }
  });

  test("the adapter's close() ends its kept-alive connection to Harbor; the next call opens another", async () => {
    const ports: number[] = [];
    const harborLocal = await startLocalHarbor((req) => {
      ports.push(req.socket.remotePort ?? 0);
      return req.url === `${API}/users/current` ? recordedReply(9) : recordedReply(55);
    });
    nock.restore(); // nock's pass-through would open a connection of its own for every request
    try {
      const { harbor } = makeAdapter({ baseUrl: harborLocal.url });
      await harbor.getRobot(1);
      await harbor.getRobot(1);
      harbor.close();
      await harbor.getRobot(1);
      expect(harborLocal.hits).toEqual([`GET ${API}/users/current`, `GET ${API}/robots/1`, `GET ${API}/robots/1`, `GET ${API}/robots/1`]);
      expect(new Set(ports.slice(0, 3)).size).toBe(1);
      expect(ports[3]).not.toBe(ports[0]);
    } finally {
      nock.activate();
      await harborLocal.close();
    }
  });

  test('connection reset: POST is not retried → upstream_unavailable', async () => {
    const harborLocal = await startLocalHarbor((req) => (req.method === 'POST' ? false : recordedReply(9)));
    try {
      const { harbor } = makeAdapter({ baseUrl: harborLocal.url, retries: 3 });
      expect((await rejection(harbor.createRobot(recorded(41).request.body as never))).kind).toBe('upstream_unavailable');
      expect(harborLocal.hits.filter((h) => h.startsWith('POST'))).toHaveLength(1);
    } finally {
      await harborLocal.close();
    }
  });

  test('a DELETE whose answer was lost and whose retry finds nothing (079) succeeded', async () => {
    const harborLocal = await startLocalHarbor((req, hit) => {
      if (req.url === `${API}/users/current`) return recordedReply(9);
      return hit === 2 ? false : recordedReply(79);
    });
    try {
      const { harbor } = makeAdapter({ baseUrl: harborLocal.url, retries: 1 });
      await expect(harbor.deleteRobot(3)).resolves.toBeUndefined();
      expect(harborLocal.hits.filter((h) => h.startsWith('DELETE'))).toHaveLength(2);
    } finally {
      await harborLocal.close();
    }
  });
});

describe('timeouts and unreachable Harbor', () => {
  test('no answer within timeoutMs → upstream_timeout', async () => {
    const { harbor, metrics } = makeAdapter({ timeoutMs: 250, retries: 0 });
    const scope = harborScope();
    adminAccepted(scope);
    scope.get(`${API}/robots/1`).delay(700).reply(...recordedReply(55));
    // the answer would come at 700 ms and succeed: a timeout error is proof enough that it was not waited for
    const e = await rejection(harbor.getRobot(1));
    expect(e.kind).toBe('upstream_timeout');
    expect(await counter(metrics, 'getRobot', 'timeout')).toBe(1);
  });

  test('a GET that timed out is retried', async () => {
    const { harbor } = makeAdapter({ timeoutMs: 250, retries: 1 });
    const scope = harborScope();
    adminAccepted(scope);
    scope.get(`${API}/robots/1`).delay(700).reply(...recordedReply(55));
    scope.get(`${API}/robots/1`).reply(...recordedReply(55));
    await expect(harbor.getRobot(1)).resolves.toEqual(recordedBody(55));
  });

  test('connection refused → upstream_unavailable (502), after the retries', async () => {
    const { harbor, metrics } = makeAdapter({ baseUrl: await closedPortUrl(), retries: 1 });
    const e = await rejection(harbor.listProjects({}));
    expect(e.kind).toBe('upstream_unavailable');
    expect(await counter(metrics, 'currentUser', 'unreachable')).toBe(2);
  });

  test('health does not need the identity check and reports refused as unavailable', async () => {
    const { harbor } = makeAdapter({ baseUrl: await closedPortUrl(), retries: 0 });
    expect((await rejection(harbor.health())).kind).toBe('upstream_unavailable');
  });
});

describe('request ids, credentials, metrics', () => {
  test('the current request id is forwarded as X-Request-Id; none outside a request', async () => {
    const { harbor } = makeAdapter({ retries: 0 });
    const withId = harborScope().matchHeader('x-request-id', 'req-4711');
    adminAccepted(withId);
    withId.get(`${API}/robots/1`).reply(...recordedReply(55));
    await runWithContext({ requestId: 'req-4711' }, () => harbor.getRobot(1));
    expect(withId.isDone()).toBe(true);
    const withoutId = harborScope({ badheaders: ['x-request-id'] });
    withoutId.get(`${API}/robots/1`).reply(...recordedReply(55));
    await harbor.getRobot(1);
    expect(withoutId.isDone()).toBe(true);
  });

  test('every call carries hubgate’s admin Basic credentials', async () => {
    const { harbor } = makeAdapter();
    const scope = nock(BASE).matchHeader('authorization', basic(ADMIN, PASSWORD));
    adminAccepted(scope);
    scope.get(`${API}/robots/1`).reply(...recordedReply(55));
    await harbor.getRobot(1);
    expect(scope.isDone()).toBe(true);
  });

  test('metrics: requests by operation and outcome, and the duration histogram', async () => {
    const { harbor, metrics } = makeAdapter({ retries: 0 });
    const scope = harborScope();
    adminAccepted(scope);
    scope.get(`${API}/projects/alpha`).reply(...recordedReply(28));
    scope.get(`${API}/projects/nope`).reply(...recordedReply(30));
    scope.get(`${API}/robots/1`).reply(...recordedReply(214));
    await harbor.findProject('alpha');
    await harbor.findProject('nope');
    await rejection(harbor.getRobot(1));
    expect(await counter(metrics, 'currentUser', 'success')).toBe(1);
    expect(await counter(metrics, 'findProject', 'success')).toBe(1);
    expect(await counter(metrics, 'findProject', 'client_error')).toBe(1);
    expect(await counter(metrics, 'getRobot', 'server_error')).toBe(1);
    const hist = await metrics.harborDuration.get();
    const count = hist.values.find((v) => v.metricName === 'hubgate_harbor_request_duration_seconds_count' && v.labels.operation === 'findProject');
    expect(count?.value).toBe(2);
  });

  test('metrics: a refused admin identity counts as unauthorized', async () => {
    const { harbor, metrics } = makeAdapter();
    harborScope().get(`${API}/users/current`).reply(...recordedReply(11));
    await rejection(harbor.listProjects({}));
    expect(await counter(metrics, 'currentUser', 'unauthorized')).toBe(1);
  });
});

describe('secrets never reach logs or errors', () => {
  test('admin password, Basic token and robot secrets stay out of every log line and error', async () => {
    const robotSecret = 'R0bot-Secret-Value-42';
    const generated = (recorded(41).response.body as { secret: string }).secret;
    const { harbor, logger } = makeAdapter({ timeoutMs: 250, retries: 1 });
    const errors: unknown[] = [];
    const attempt = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        errors.push(e);
      }
    };

    // 1. Credentials refused (011), and a 401 on a normal call after a confirmed identity.
    const refusing = makeAdapter({ logger });
    harborScope().get(`${API}/users/current`).reply(...recordedReply(11));
    await attempt(refusing.harbor.listProjects({}));

    const scope = harborScope();
    adminAccepted(scope);
    // 2. Harbor echoes the admin password and the robot secret in error messages (5xx and 400).
    scope.get(`${API}/robots/1`).times(2).reply(...recordedReply(214, { body: { errors: [{ code: 'UNKNOWN', message: `db said ${PASSWORD}` }] } }));
    await attempt(harbor.getRobot(1));
    scope.patch(`${API}/robots/1`).reply(...recordedReply(71, { body: { errors: [{ code: 'BAD_REQUEST', message: `weak: ${robotSecret}` }] } }));
    await attempt(harbor.setRobotSecret(1, robotSecret));
    // 3. A timeout, then a robot creation whose answer carries Harbor's generated secret.
    scope.get(`${API}/robots/2`).times(2).delay(700).reply(...recordedReply(55));
    await attempt(harbor.getRobot(2));
    scope.post(`${API}/robots`).reply(...recordedReply(41));
    await harbor.createRobot(recorded(41).request.body as never);
    // 4. Refused and reset connections.
    await attempt(makeAdapter({ logger, baseUrl: await closedPortUrl(), retries: 0 }).harbor.getRobot(1));
    const reset = await startLocalHarbor((req) => (req.url === `${API}/users/current` ? recordedReply(9) : false));
    try {
      await attempt(makeAdapter({ logger, baseUrl: reset.url, retries: 0 }).harbor.setRobotSecret(1, robotSecret));
    } finally {
      await reset.close();
    }

    expect(errors).toHaveLength(6);
    // The scan only means something if the failures were logged.
    expect(logger.lines.filter((l) => l.level === 'error' || l.level === 'warn').length).toBeGreaterThanOrEqual(6);
    const haystack = [
      logger.text(),
      ...errors.map((e) => (e as Error).message),
      ...errors.map((e) => inspect(e, { depth: 10, showHidden: true })),
      ...errors.map((e) => JSON.stringify(e)),
    ].join('\n');
    for (const secret of [PASSWORD, Buffer.from(`${ADMIN}:${PASSWORD}`).toString('base64'), robotSecret, generated]) {
      expect(haystack).not.toContain(secret);
    }
  });
});
