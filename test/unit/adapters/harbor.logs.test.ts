import nock from './nock';
import { recordedReply } from '../../support/recorded';
import { API, adminAccepted, closeAdapters, closedPortUrl, harborScope, makeAdapter, rejection } from './harbor.kit';

/**
 * What an operator reads in the log about Harbor calls (adapters/harbor/harbor-http.ts): each attempt's line with
 * the operation, method, path, attempt number and what went wrong; one line per retry, one for the final failure;
 * and the error the caller gets.
 */
beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
afterEach(() => {
  nock.cleanAll();
  closeAdapters();
});
afterAll(() => nock.enableNetConnect());

const call = { operation: 'getRobot', method: 'GET', path: '/robots/1' };
const identity = { level: 'debug', msg: 'harbor call', fields: { operation: 'currentUser', method: 'GET', path: '/users/current', status: 200, attempt: 1 } };

test('a call that succeeds: one debug line with its status and attempt', async () => {
  const { harbor, logger } = makeAdapter();
  const scope = harborScope();
  adminAccepted(scope);
  scope.get(`${API}/robots/1`).reply(...recordedReply(55));
  await harbor.getRobot(1);
  expect(logger.lines).toStrictEqual([identity, { level: 'debug', msg: 'harbor call', fields: { ...call, status: 200, attempt: 1 } }]);
});

test('5xx: a warning per retry, then an error, each with the attempt and what Harbor said', async () => {
  const { harbor, logger } = makeAdapter({ retries: 1 });
  const scope = harborScope();
  adminAccepted(scope);
  scope.get(`${API}/robots/1`).times(2).reply(...recordedReply(214));
  const e = await rejection(harbor.getRobot(1));
  const said = { status: 500, harbor_code: 'UNKNOWN', harbor_message: 'internal server error' };
  expect(logger.lines).toStrictEqual([
    identity,
    { level: 'warn', msg: 'harbor server error, retrying', fields: { ...call, ...said, attempt: 1 } },
    { level: 'error', msg: 'harbor server error', fields: { ...call, ...said, attempt: 2 } },
  ]);
  expect(e).toMatchObject({ kind: 'upstream_unavailable', message: 'upstream unavailable: Harbor failed to handle the request', upstreamStatus: 500 });
});

test('no answer in time: a warning per retry, then "harbor call timed out"', async () => {
  const { harbor, logger } = makeAdapter({ timeoutMs: 200, retries: 1 });
  const scope = harborScope();
  adminAccepted(scope);
  scope.get(`${API}/robots/1`).times(2).delay(600).reply(...recordedReply(55));
  const e = await rejection(harbor.getRobot(1));
  const what = { error_code: 'DEADLINE', error: 'canceled' };
  expect(logger.lines).toStrictEqual([
    identity,
    { level: 'warn', msg: 'harbor call failed, retrying', fields: { ...call, ...what, attempt: 1 } },
    { level: 'error', msg: 'harbor call timed out', fields: { ...call, ...what, attempt: 2 } },
  ]);
  expect(e).toMatchObject({ kind: 'upstream_timeout', message: 'upstream timeout: Harbor did not answer within 200 ms' });
});

test('refused: "harbor unreachable"', async () => {
  const { harbor, logger } = makeAdapter({ baseUrl: await closedPortUrl(), retries: 0 });
  const e = await rejection(harbor.health());
  expect(logger.lines).toStrictEqual([
    {
      level: 'error',
      msg: 'harbor unreachable',
      fields: { operation: 'health', method: 'GET', path: '/health', attempt: 1, error_code: 'ECONNREFUSED', error: expect.stringMatching(/^connect ECONNREFUSED 127\.0\.0\.1:\d+$/) },
    },
  ]);
  expect(e).toMatchObject({ kind: 'upstream_unavailable', message: 'upstream unavailable: Harbor is not reachable' });
});

test('the admin credentials refused: one error line with the status', async () => {
  const { harbor, logger } = makeAdapter({ retries: 0 });
  const scope = harborScope();
  scope.get(`${API}/users/current`).reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized' }] });
  const e = await rejection(harbor.getRobot(1));
  expect(logger.lines).toStrictEqual([
    { level: 'error', msg: "harbor rejected hubgate's admin credentials", fields: { operation: 'currentUser', method: 'GET', path: '/users/current', status: 401 } },
  ]);
  expect(e).toMatchObject({ kind: 'upstream_misconfigured', message: "upstream misconfigured: Harbor rejected hubgate's admin credentials" });
});
