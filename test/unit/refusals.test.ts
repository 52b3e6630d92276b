/**
 * test/support/refusals.ts: a "denied" assertion passes on the refusal it names and on nothing else. The refusal,
 * connection-refused and missing-repository lines are what skopeo printed through hubgate here; the TLS and 502
 * lines follow its wording for those failures.
 */
import { expectAnswered, expectRefused, requestsSince } from '../support/refusals';

const fatal = (msg: string) => ({ code: 1, stdout: '', stderr: `time="2026-12-04T14:08:54Z" level=fatal msg="${msg}"\n` });
const PUSH_DENIED = /unauthorized: unauthorized to access repository: beta-pub\/tool, action: push/;

describe('expectRefused', () => {
  it('passes on the refusal it names', () => {
    expect(() =>
      expectRefused(fatal('writing manifest: uploading manifest 1 to 127.0.0.1:42737/beta-pub/tool: unauthorized: unauthorized to access repository: beta-pub/tool, action: push'), PUSH_DENIED),
    ).not.toThrow();
  });

  it.each([
    ['connection refused', 'pinging container registry 127.0.0.1:1: Get \\"http://127.0.0.1:1/v2/\\": dial tcp 127.0.0.1:1: connect: connection refused'],
    ['a TLS error', 'pinging container registry 127.0.0.1:42737: Get \\"https://127.0.0.1:42737/v2/\\": http: server gave HTTP response to HTTPS client'],
    ['a 502', 'writing manifest: uploading manifest 1 to 127.0.0.1:42737/beta-pub/tool: received unexpected HTTP status: 502 Bad Gateway'],
    ['a missing repository', 'reading manifest 1 in 127.0.0.1:42737/alpha/nothing: unknown: artifact alpha/nothing:1 not found'],
    ['a refusal for another reason', 'unable to retrieve auth token: invalid username/password: unauthorized: unauthorized: incorrect username or password'],
  ])('fails on %s (every one a non-zero exit the old `not.toBe(0)` accepted)', (_what, msg) => {
    expect(() => expectRefused(fatal(msg), PUSH_DENIED)).toThrow();
  });

  it('fails on the right words with another exit code (a crash, a kill by the guard)', () => {
    const r = fatal('uploading manifest 1 to x/beta-pub/tool: unauthorized: unauthorized to access repository: beta-pub/tool, action: push');
    expect(() => expectRefused({ ...r, code: 128 }, PUSH_DENIED)).toThrow();
    expect(() => expectRefused({ ...r, code: 125 }, PUSH_DENIED, 125)).not.toThrow();
  });

  it('fails when the right words come with an unrelated failure', () => {
    expect(() => expectRefused(fatal('unauthorized: unauthorized to access repository: beta-pub/tool, action: push; then: connection reset by peer'), PUSH_DENIED)).toThrow();
  });
});

describe('expectAnswered', () => {
  const line = (operation: string, status: number) => JSON.stringify({ level: 'info', msg: 'request', operation, method: 'GET', status });
  const logs = [line('v2_manifest', 401), JSON.stringify({ msg: 'other' }), line('token', 200), line('v2_manifest', 401)];

  it('reads hubgate request lines from the mark on', () => {
    expect(requestsSince(logs, 1)).toEqual([
      { operation: 'token', method: 'GET', status: 200 },
      { operation: 'v2_manifest', method: 'GET', status: 401 },
    ]);
  });

  it('passes when hubgate answered the status (on the operation, when named)', () => {
    expect(() => expectAnswered(logs, 1, 401)).not.toThrow();
    expect(() => expectAnswered(logs, 1, 401, 'v2_manifest')).not.toThrow();
  });

  it('fails when hubgate never answered it (the client never reached hubgate), on another operation, or with a 5xx among the answers', () => {
    expect(() => expectAnswered(logs, logs.length, 401)).toThrow(/no 401 among hubgate's answers/);
    expect(() => expectAnswered(logs, 1, 401, 'token')).toThrow(/no 401 on token/);
    expect(() => expectAnswered([...logs, line('v2_blob', 502)], 0, 401)).toThrow();
  });
});
