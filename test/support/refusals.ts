/**
 * Refusals assert the reason. A "denied" test must not pass on an unrelated failure (connection refused, a TLS
 * error, a 502, a missing repository): it checks the client's exit code, the error it printed (registry error
 * code and message, e.g. `unauthorized: unauthorized to access repository: beta-pub/tool, action: push`) and the
 * HTTP status hubgate answered, read from hubgate's own request log.
 *
 *   const mark = stack.logs.length;
 *   const r = await run('skopeo', [...]);
 *   expectRefused(r, /unauthorized: unauthorized to access repository: beta-pub\/tool, action: push/);
 *   expectAnswered(stack.logs, mark, 401);
 */
import type { RunResult } from './clients';

/** What unrelated failures print (Go's net/http and containers/image, curl, containerd); a refusal shows none. */
export const UNRELATED_FAILURE =
  /connection refused|dial tcp|no such host|i\/o timeout|connection reset|tls: |x509|server gave HTTP response to HTTPS client|bad gateway|service unavailable|\b50[0-4]\b|manifest unknown|name unknown|blob unknown|not found|context deadline exceeded|unexpected EOF/i;

/** The client's verdict: the last line it wrote on stderr (ctr and docker log the endpoints they tried before it). */
export function verdict(r: RunResult): string {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  return lines[lines.length - 1] ?? '';
}

/**
 * The client failed with exit code `code`, its verdict (the last stderr line) says `why`, and nothing in the verdict
 * points at an unrelated failure. Exit codes: skopeo, ctr and the docker CLI 1; podman and buildah 125.
 */
export function expectRefused(r: RunResult, why: RegExp, code = 1): void {
  const last = verdict(r);
  expect({ code: r.code, verdict: last }).toEqual({ code, verdict: expect.stringMatching(why) });
  expect(last).not.toMatch(UNRELATED_FAILURE);
}

export interface LoggedRequest {
  operation: string;
  method: string;
  status: number;
}

/** hubgate's request log lines (Stack.logs) from index `from` on. */
export function requestsSince(logs: string[], from: number): LoggedRequest[] {
  return logs
    .slice(from)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === 'request')
    .map((l) => ({ operation: String(l.operation), method: String(l.method), status: Number(l.status) }));
}

/**
 * Since `from`, hubgate answered the refusal itself: at least one request with `status` (on `operation` when
 * given), and no 5xx (an upstream failure is not a refusal).
 */
export function expectAnswered(logs: string[], from: number, status: number, operation?: string): void {
  const seen = requestsSince(logs, from);
  expect(seen.filter((r) => r.status >= 500)).toEqual([]);
  const refused = seen.filter((r) => r.status === status && (operation === undefined || r.operation === operation));
  if (!refused.length) throw new Error(`no ${status}${operation ? ` on ${operation}` : ''} among hubgate's answers since the mark: ${JSON.stringify(seen)}`);
}
