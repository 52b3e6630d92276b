import axios from 'axios';
import nock from './nock';
import type { HarborCall } from '../../../adapters/harbor/harbor-http';
import { recordedReply } from '../../support/recorded';
import { ADMIN, API, BASE, PASSWORD, closeAdapters, harborScope, makeHttp, pending, rejection, startLocalHarbor } from './harbor.kit';

/**
 * The transport alone (adapters/harbor/harbor-http.ts), driven through createHarborHttp: how each Harbor status and
 * error envelope becomes an AppError, how network failures are classified, which calls are retried and what the log
 * says about them, what is scrubbed out of logs and errors, and the shape of requests and replies.
 */
beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1'); // the local stand-in for kept-alive connections
});
afterEach(() => {
  nock.cleanAll();
  closeAdapters();
  jest.restoreAllMocks();
});
afterAll(() => nock.enableNetConnect());

const getRobot: HarborCall = { operation: 'getRobot', method: 'GET', path: '/robots/1' };
const deleteRobot: HarborCall = { operation: 'deleteRobot', method: 'DELETE', path: '/robots/3' };
const fieldsOf = (c: HarborCall) => ({ operation: c.operation, method: c.method, path: c.path });
const envelope = (message: unknown, code: unknown = 'NOT_FOUND') => JSON.stringify({ errors: [{ code, message }] });
const JSON_TYPE = { 'Content-Type': 'application/json; charset=utf-8' };
const BASIC_TOKEN = Buffer.from(`${ADMIN}:${PASSWORD}`).toString('base64');

/** The error of `call` when Harbor answers it with `status` and `body` (no retries). */
async function answered(status: number, body: string, call: HarborCall = getRobot) {
  const { http, logger } = makeHttp({ retries: 0 });
  harborScope().intercept(`${API}${call.path}`, call.method).reply(status, body, JSON_TYPE);
  const e = await rejection(http.request(call));
  return { e, logger, got: { kind: e.kind, message: e.message, upstreamStatus: e.upstreamStatus } };
}

describe('Harbor 4xx → AppError', () => {
  test.each([
    [400, 'invalid', 'invalid request'],
    [403, 'forbidden', 'forbidden'],
    [404, 'not_found', 'not found'],
    [409, 'conflict', 'conflict'],
    [412, 'precondition', 'precondition failed'],
    [413, 'too_large', 'payload too large'],
    [422, 'invalid', 'invalid request'],
    [405, 'upstream_unavailable', 'upstream unavailable: Harbor answered 405'],
    [415, 'upstream_unavailable', 'upstream unavailable: Harbor answered 415'],
    [429, 'upstream_unavailable', 'upstream unavailable: Harbor answered 429'],
  ])('%i without a Harbor message → %s, "%s"', async (status, kind, message) => {
    expect((await answered(status, '')).got).toEqual({ kind, message, upstreamStatus: status });
  });

  test.each([
    [400, 'invalid'],
    [403, 'forbidden'],
    [404, 'not_found'],
    [409, 'conflict'],
    [412, 'precondition'],
    [413, 'too_large'],
    [422, 'invalid'],
  ])("%i with Harbor's message → %s with that message", async (status, kind) => {
    const message = 'robot account 0:ci-pusher already exists';
    expect((await answered(status, envelope(message, 'SOME_CODE'))).got).toEqual({ kind, message, upstreamStatus: status });
  });

  test("a status without a kind of its own keeps Harbor's message out of the error", async () => {
    const { got } = await answered(405, envelope('method not allowed here', 'METHOD_NOT_ALLOWED'));
    expect(got).toEqual({ kind: 'upstream_unavailable', message: 'upstream unavailable: Harbor answered 405', upstreamStatus: 405 });
  });

  test("422 refusing hubgate's own media type → upstream_unavailable naming the refusal (live L01)", async () => {
    const refusal = 'unsupported media type requested, only [text/plain] are available';
    const { got } = await answered(422, envelope(`validation failure list:\n${refusal}`, 422));
    expect(got).toEqual({
      kind: 'upstream_unavailable',
      message: `upstream unavailable: Harbor refused the request format (${refusal})`,
      upstreamStatus: 422,
    });
  });

  test('the same words under another status are an ordinary Harbor message', async () => {
    const message = 'validation failure list:\nunsupported media type requested, only [text/plain] are available';
    expect((await answered(400, envelope(message, 'BAD_REQUEST'))).got).toEqual({ kind: 'invalid', message, upstreamStatus: 400 });
  });

  test('a client error is logged at debug level with what Harbor said', async () => {
    const { logger } = await answered(404, recordedReply(79)[1], deleteRobot);
    expect(logger.lines).toStrictEqual([
      {
        level: 'debug',
        msg: 'harbor client error',
        fields: { ...fieldsOf(deleteRobot), status: 404, harbor_code: 'NOT_FOUND', harbor_message: 'robot 3 not found' },
      },
    ]);
  });
});

describe("Harbor's error envelope", () => {
  test.each([
    ['JSON null', 'null'],
    ['an object without errors', JSON.stringify({ code: 'NOT_FOUND', message: 'robot 1 not found' })],
    ['errors that is not an array', JSON.stringify({ errors: { code: 'NOT_FOUND', message: 'robot 1 not found' } })],
    ['an empty errors array', JSON.stringify({ errors: [] })],
    ['a null first error', JSON.stringify({ errors: [null, { code: 'NOT_FOUND', message: 'robot 1 not found' }] })],
    ['a blank message', envelope('  \n ')],
    ['a message that is not a string', envelope(404)],
    ['a body that is not JSON', '404 page not found\n'],
  ])('%s: the default message', async (_label, body) => {
    expect((await answered(404, body)).got).toEqual({ kind: 'not_found', message: 'not found', upstreamStatus: 404 });
  });

  test('the first error of several gives the message; a code that is not a string is left out of the log', async () => {
    const body = JSON.stringify({ errors: [{ code: 7, message: 'robot 1 not found' }, { code: 'OTHER', message: 'second' }] });
    const { got, logger } = await answered(404, body);
    expect(got.message).toBe('robot 1 not found');
    expect(logger.lines[0].fields).toStrictEqual({ ...fieldsOf(getRobot), status: 404, harbor_code: undefined, harbor_message: 'robot 1 not found' });
  });

  test('a text call reads the envelope of its error answer all the same', async () => {
    const gcLog: HarborCall = { operation: 'getGcLog', method: 'GET', path: '/system/gc/3/log', text: true };
    expect((await answered(404, envelope('gc 3 not found'), gcLog)).got).toEqual({ kind: 'not_found', message: 'gc 3 not found', upstreamStatus: 404 });
    expect((await answered(404, '404 page not found', gcLog)).got.message).toBe('not found');
  });
});

describe('network failures', () => {
  const TIMEOUT = { kind: 'upstream_timeout', message: 'upstream timeout: Harbor did not answer within 250 ms' };
  const UNREACHABLE = { kind: 'upstream_unavailable', message: 'upstream unavailable: Harbor is not reachable' };
  const failure = (message: string, props: Record<string, unknown>) => Object.assign(new Error(message), props);

  test.each([
    ['code ETIMEDOUT', failure('connect ETIMEDOUT 10.1.2.3:443', { code: 'ETIMEDOUT' }), TIMEOUT, 'ETIMEDOUT', 'connect ETIMEDOUT 10.1.2.3:443'],
    ['code ECONNABORTED', failure('read ECONNABORTED', { code: 'ECONNABORTED' }), TIMEOUT, 'ECONNABORTED', 'read ECONNABORTED'],
    ['a message about a timeout', new Error('Socket Timeout while reading'), TIMEOUT, 'UNKNOWN', 'Socket Timeout while reading'],
    ['code ECONNREFUSED', failure('connect ECONNREFUSED 10.1.2.3:443', { code: 'ECONNREFUSED' }), UNREACHABLE, 'ECONNREFUSED', 'connect ECONNREFUSED 10.1.2.3:443'],
    ['the code only on its cause', failure('fetch failed', { cause: { code: 'ECONNRESET' } }), UNREACHABLE, 'ECONNRESET', 'fetch failed'],
    ['ETIMEDOUT only on its cause', failure('fetch failed', { cause: { code: 'ETIMEDOUT' } }), TIMEOUT, 'ETIMEDOUT', 'fetch failed'],
    ['a code that is not a string', failure('socket hang up', { code: 104, cause: { code: 'ECONNRESET' } }), UNREACHABLE, 'ECONNRESET', 'socket hang up'],
    ['no code at all', new Error('socket hang up'), UNREACHABLE, 'UNKNOWN', 'socket hang up'],
    ['null', null, UNREACHABLE, 'UNKNOWN', 'null'],
    ['a bare string', 'boom', UNREACHABLE, 'UNKNOWN', 'boom'],
  ])('a failure with %s', async (_label, err, expected, code, text) => {
    jest.spyOn(axios.Axios.prototype, 'request').mockRejectedValue(err);
    const { http, logger, metrics } = makeHttp({ retries: 0, timeoutMs: 250 });
    const e = await rejection(http.request(getRobot));
    expect({ kind: e.kind, message: e.message }).toEqual(expected);
    const timedOut = expected === TIMEOUT;
    expect(logger.lines).toStrictEqual([
      { level: 'error', msg: timedOut ? 'harbor call timed out' : 'harbor unreachable', fields: { ...fieldsOf(getRobot), attempt: 1, error_code: code, error: text } },
    ]);
    const outcomes = (await metrics.harborRequests.get()).values.map((v) => `${v.labels.outcome} ${v.value}`);
    expect(outcomes).toEqual([timedOut ? 'timeout 1' : 'unreachable 1']);
  });

  test('secrets in a network error message are redacted in the log', async () => {
    jest.spyOn(axios.Axios.prototype, 'request').mockRejectedValue(new Error(`bad auth ${BASIC_TOKEN} for R0bot-Secret-Value-42`));
    const { http, logger } = makeHttp({ retries: 0 });
    await rejection(http.request({ ...getRobot, secrets: ['R0bot-Secret-Value-42'] }));
    expect(logger.lines[0].fields?.error).toBe('bad auth [redacted] for [redacted]');
  });
});

describe('retries', () => {
  test.each([
    ['GET', true],
    ['HEAD', true],
    ['PUT', true],
    ['DELETE', true],
    ['POST', false],
    ['PATCH', false],
  ] as const)('%s after a 5xx: retried %s', async (method, retried) => {
    const { http } = makeHttp({ retries: 3 });
    const scope = harborScope();
    scope.intercept(`${API}/robots/1`, method).reply(...recordedReply(214));
    scope.intercept(`${API}/robots/1`, method).reply(200, '');
    const call = http.request({ operation: 'op', method, path: '/robots/1' });
    if (retried) expect((await call).status).toBe(200);
    else expect((await rejection(call)).kind).toBe('upstream_unavailable');
    expect(pending(scope)).toHaveLength(retried ? 0 : 1);
  });

  const gone = { level: 'info', msg: 'harbor delete retried, resource already gone', fields: { ...fieldsOf(deleteRobot), status: 404 } };

  test('a DELETE retried after a 5xx that finds the resource gone (079) succeeded', async () => {
    const { http, logger } = makeHttp({ retries: 2 });
    const scope = harborScope();
    scope.delete(`${API}/robots/3`).reply(503, '');
    scope.delete(`${API}/robots/3`).reply(...recordedReply(79));
    const reply = await http.request(deleteRobot);
    expect(reply.status).toBe(404);
    expect(logger.lines).toStrictEqual([
      { level: 'warn', msg: 'harbor server error, retrying', fields: { ...fieldsOf(deleteRobot), status: 503, attempt: 1, harbor_code: undefined, harbor_message: undefined } },
      gone,
    ]);
  });

  test('a DELETE retried after a network failure that finds the resource gone succeeded', async () => {
    const { http, logger } = makeHttp({ retries: 2 });
    const scope = harborScope();
    scope.delete(`${API}/robots/3`).replyWithError('socket hang up');
    scope.delete(`${API}/robots/3`).reply(...recordedReply(79));
    expect((await http.request(deleteRobot)).status).toBe(404);
    expect(logger.lines).toStrictEqual([
      { level: 'warn', msg: 'harbor call failed, retrying', fields: { ...fieldsOf(deleteRobot), attempt: 1, error_code: 'UNKNOWN', error: 'socket hang up' } },
      gone,
    ]);
  });

  test('a 404 on the first DELETE attempt is not_found, and nothing is retried', async () => {
    const { http } = makeHttp({ retries: 2 });
    const scope = harborScope();
    scope.delete(`${API}/robots/3`).reply(...recordedReply(79));
    scope.delete(`${API}/robots/3`).reply(204, '');
    expect(await rejection(http.request(deleteRobot))).toMatchObject({ kind: 'not_found', message: 'robot 3 not found', upstreamStatus: 404 });
    expect(pending(scope)).toHaveLength(1);
  });

  test('a GET retried after a 5xx that then gets 404 is not_found', async () => {
    const { http } = makeHttp({ retries: 2 });
    const scope = harborScope();
    scope.get(`${API}/robots/1`).reply(503, '');
    scope.get(`${API}/robots/1`).reply(404, envelope('robot 1 not found'), JSON_TYPE);
    expect(await rejection(http.request(getRobot))).toMatchObject({ kind: 'not_found', message: 'robot 1 not found' });
  });

  test('a DELETE retried after a 5xx that then gets another 4xx fails with it', async () => {
    const { http } = makeHttp({ retries: 2 });
    const scope = harborScope();
    scope.delete(`${API}/robots/3`).reply(503, '');
    scope.delete(`${API}/robots/3`).reply(409, envelope('robot 3 is in use', 'CONFLICT'), JSON_TYPE);
    expect(await rejection(http.request(deleteRobot))).toMatchObject({ kind: 'conflict', message: 'robot 3 is in use', upstreamStatus: 409 });
  });

  test('network failures: a warning per retry with its 1-based attempt, then "harbor unreachable"', async () => {
    const { http, logger } = makeHttp({ retries: 1 });
    harborScope().get(`${API}/robots/1`).times(2).replyWithError('socket hang up');
    expect(await rejection(http.request(getRobot))).toMatchObject({ kind: 'upstream_unavailable', message: 'upstream unavailable: Harbor is not reachable' });
    const what = { ...fieldsOf(getRobot), error_code: 'UNKNOWN', error: 'socket hang up' };
    expect(logger.lines).toStrictEqual([
      { level: 'warn', msg: 'harbor call failed, retrying', fields: { ...what, attempt: 1 } },
      { level: 'error', msg: 'harbor unreachable', fields: { ...what, attempt: 2 } },
    ]);
  });

  test('backoff: the step doubles per attempt, is capped at 1 s, and adds up to 50 % jitter', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
    const timer = jest.spyOn(global, 'setTimeout');
    const { http } = makeHttp({ retries: 3, retryDelayMs: 300, timeoutMs: 5000 });
    harborScope().get(`${API}/robots/1`).times(3).reply(503, '').get(`${API}/robots/1`).reply(200, '');
    await http.request(getRobot);
    // every other timer of the call is its 5 s deadline
    const waits = timer.mock.calls.map((c) => c[1]).filter((ms) => ms !== 5000);
    expect(waits).toEqual([300 * 1.25, 600 * 1.25, 1000 * 1.25]);
  });
});

describe('secrets and long messages in logs and errors', () => {
  const robotSecret = 'R0bot-Secret-Value-42';

  test('the admin password, the Basic token and the call secrets become the redaction marker', async () => {
    const said = `db said ${PASSWORD}, auth ${BASIC_TOKEN}, robot ${robotSecret}`;
    const redacted = 'db said [redacted], auth [redacted], robot [redacted]';
    const { http, logger } = makeHttp({ retries: 0 });
    const scope = harborScope();
    scope.patch(`${API}/robots/1`).reply(500, envelope(said, 'UNKNOWN'), JSON_TYPE);
    scope.patch(`${API}/robots/1`).reply(400, envelope(said, 'BAD_REQUEST'), JSON_TYPE);
    const call: HarborCall = { operation: 'setRobotSecret', method: 'PATCH', path: '/robots/1', body: { secret: robotSecret }, secrets: [robotSecret] };
    await rejection(http.request(call));
    expect(await rejection(http.request(call))).toMatchObject({ kind: 'invalid', message: redacted });
    expect(logger.lines.map((l) => [l.level, l.fields?.harbor_message])).toEqual([
      ['error', redacted],
      ['debug', redacted],
    ]);
  });

  test('an empty secret leaves the message as it is', async () => {
    const { got } = await answered(400, envelope('name is required', 'BAD_REQUEST'), { ...getRobot, secrets: [''] });
    expect(got.message).toBe('name is required');
  });

  test.each([
    ['301 characters are cut to 300 and an ellipsis', 'x'.repeat(301), `${'x'.repeat(300)}…`],
    ['exactly 300 characters are kept', 'y'.repeat(300), 'y'.repeat(300)],
    ['a secret across the cut is redacted first', `${'z'.repeat(295)}${PASSWORD}`, `${'z'.repeat(295)}[reda…`],
  ])('%s', async (_label, message, logged) => {
    const { got, logger } = await answered(400, envelope(message, 'BAD_REQUEST'));
    expect(got.message).toBe(logged);
    expect(logger.lines[0].fields?.harbor_message).toBe(logged);
  });
});

describe('requests and replies', () => {
  test('X-Is-Resource-Name: true only for calls that name a project', async () => {
    const { http } = makeHttp();
    harborScope().matchHeader('x-is-resource-name', 'true').get(`${API}/projects/1234`).reply(200, '{}', JSON_TYPE);
    harborScope({ badheaders: ['x-is-resource-name'] }).get(`${API}/projects/1234`).reply(200, '{}', JSON_TYPE);
    const call: HarborCall = { operation: 'findProject', method: 'GET', path: '/projects/1234' };
    await http.request({ ...call, byName: true });
    await http.request(call);
    expect(nock.pendingMocks()).toEqual([]);
  });

  test('a text call returns the body untouched, even when it would parse as JSON', async () => {
    const { http } = makeHttp();
    const body = ' {"id": 3}\n';
    harborScope().get(`${API}/system/gc/3/log`).times(2).reply(200, body, JSON_TYPE);
    const call: HarborCall = { operation: 'getGcLog', method: 'GET', path: '/system/gc/3/log' };
    expect((await http.request({ ...call, text: true })).data).toBe(body);
    expect((await http.request(call)).data).toEqual({ id: 3 });
  });

  test('reply headers: lower-cased names, repeated values joined with ", "', async () => {
    const { http } = makeHttp();
    harborScope().get(`${API}/robots/1`).reply(200, '{}', { 'X-Total-Count': '7', 'Set-Cookie': ['a=1', 'b=2'] });
    const { headers } = await http.request(getRobot);
    expect([headers['x-total-count'], headers['set-cookie']]).toEqual(['7', 'a=1, b=2']);
  });

  test.each(['/', '///'])('a base URL ending in %s is Harbor all the same', async (slashes) => {
    const { http } = makeHttp({ baseUrl: `${BASE}${slashes}` });
    harborScope().get(`${API}/robots/1`).reply(200, '{}', JSON_TYPE);
    expect((await http.request(getRobot)).status).toBe(200);
  });

  test('calls share a kept-alive connection; close() ends it and the next call opens another', async () => {
    const ports: number[] = [];
    const local = await startLocalHarbor((req) => {
      ports.push(req.socket.remotePort ?? 0);
      return [200, '{}', JSON_TYPE];
    });
    nock.restore(); // nock's pass-through opens a connection of its own for every request
    try {
      const { http } = makeHttp({ baseUrl: local.url });
      await http.request(getRobot);
      await http.request(getRobot);
      http.close();
      await http.request(getRobot);
      expect(ports[1]).toBe(ports[0]);
      expect(ports[2]).not.toBe(ports[0]);
    } finally {
      nock.activate();
      await local.close();
    }
  });

  test('a finished call clears its deadline timer (it would hold the process for timeoutMs)', async () => {
    const set = jest.spyOn(global, 'setTimeout');
    const clear = jest.spyOn(global, 'clearTimeout');
    const { http } = makeHttp({ timeoutMs: 60_000 });
    harborScope().get(`${API}/robots/1`).reply(200, '{}', JSON_TYPE);
    await http.request(getRobot);
    const deadlines = set.mock.calls.flatMap((c, i) => (c[1] === 60_000 ? [set.mock.results[i].value] : []));
    expect(deadlines).not.toEqual([]);
    for (const t of deadlines) expect(clear).toHaveBeenCalledWith(t);
  });

  test('the duration histogram is in seconds', async () => {
    const { http, metrics } = makeHttp();
    harborScope().get(`${API}/robots/1`).delay(200).reply(200, '{}', JSON_TYPE);
    await http.request(getRobot);
    const sum = (await metrics.harborDuration.get()).values.find((v) => v.metricName === 'hubgate_harbor_request_duration_seconds_sum');
    expect(sum?.value).toBeGreaterThan(0.1);
    expect(sum?.value).toBeLessThan(10);
  });
});
