/**
 * What becomes of an error on its way to the caller (src/http/errors.ts toAppError and the error handler), through
 * createApp where a request can cause it (a JSON body over 256 kB, a charset the parser refuses, a failure that
 * is not an AppError, a refusal with a wait) and directly where none can (a 4xx error without a message); the default message of
 * `forbidden()`; and the OpenAPI error responses' descriptions (src/http/openapi-errors.ts).
 */
import { AppError, forbidden } from '../../../src/domain/errors';
import type { WorkspacePoliciesService } from '../../../src/domain/workspace-policies.service';
import { toAppError } from '../../../src/http/errors';
import { errorResponses } from '../../../src/http/openapi-errors';
import { answer, apiKit, envelope, recorder, type ApiKit } from './app.kit';

describe('errors through the app', () => {
  let k: ApiKit;
  beforeAll(async () => {
    const failing = recorder<WorkspacePoliciesService>({
      quota: async () => {
        throw new Error('connect ECONNREFUSED 10.0.0.1:5432 password=hunter2');
      },
      setQuota: async () => {
        throw new AppError('rate_limited', 'too many quota changes', { retryAfterSeconds: 7 });
      },
    });
    k = await apiKit({ policies: failing.service });
  });
  afterAll(() => k.close());

  it('a JSON body over 256 kB: 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await k.as('admin').put('/api/v1/workspaces/ws/quota').send({ limit: 'x'.repeat(256 * 1024) });
    expect(answer(res)).toEqual(envelope(413, 'PAYLOAD_TOO_LARGE', 'request body too large'));
  });

  it("a charset the JSON parser refuses (its 415): 400 with the parser's message", async () => {
    const res = await k.as('admin').put('/api/v1/workspaces/ws/quota').set('Content-Type', 'application/json; charset=latin1').send('{"limit":1}');
    expect(answer(res)).toEqual(envelope(400, 'BAD_REQUEST', 'unsupported charset "LATIN1"'));
  });

  it('a refusal that says how long to wait: its status with Retry-After', async () => {
    const res = await k.as('admin').delete('/api/v1/workspaces/ws/quota');
    expect(answer(res)).toEqual(envelope(429, 'TOO_MANY_REQUESTS', 'too many quota changes'));
    expect(res.headers['retry-after']).toBe('7');
  });

  it('a failure that is not an AppError: 500 UNKNOWN with a generic message, none of its details', async () => {
    const res = await k.as('alice').get('/api/v1/workspaces/ws/quota');
    expect(answer(res)).toEqual(envelope(500, 'UNKNOWN', 'internal server error'));
  });
});

describe('toAppError', () => {
  it('keeps an AppError as it is', () => {
    const e = new AppError('conflict', 'taken');
    expect(toAppError(e)).toBe(e);
  });

  it.each([
    [400, 'bad thing', 'bad thing'],
    [499, 'odd thing', 'odd thing'],
    [400, undefined, 'bad request'],
  ])('an error with status %i and message %j: invalid, %j', (status, message, want) => {
    const e = toAppError({ status, message });
    expect([e.kind, e.message]).toEqual(['invalid', want]);
  });

  it.each([
    ['a 399', { status: 399, message: 'x' }],
    ['a 500', { status: 500, message: 'x' }],
    ['a status that is not a number', { status: '400', message: 'x' }],
    ['null', null],
    ['undefined', undefined],
    ['an Error', new Error('x')],
  ])('%s: internal, the original kept as the cause', (_what, err) => {
    const e = toAppError(err);
    expect([e.kind, e.message, e.cause]).toEqual(['internal', 'internal server error', err]);
  });
});

describe('domain errors', () => {
  it('forbidden() without a message says "forbidden"', () => {
    expect([forbidden().kind, forbidden().message]).toEqual(['forbidden', 'forbidden']);
    expect(forbidden('only owners').message).toBe('only owners');
  });
});

describe('OpenAPI error responses', () => {
  it("one per status, in Harbor's envelope: the operation's description, else the default one, else 'Error'", () => {
    const content = { 'application/json': { schema: { $ref: '#/components/schemas/Errors' } } };
    expect(errorResponses([404, 409, 418], { 409: 'A run is already going' })).toEqual({
      '404': { description: 'Not found (or not visible to the caller)', content },
      '409': { description: 'A run is already going', content },
      '418': { description: 'Error', content },
    });
  });
});
