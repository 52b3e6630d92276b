/**
 * Harbor 2.5.5's session cookie and CSRF check, as core's middleware chain applies them before authentication
 * (seen on the real Harbor, test/fixtures/harbor/issue12/):
 *
 * - beego gives every response to a request without a `sid` cookie a new session: `Set-Cookie: sid=<32 hex>;
 *   Path=/; HttpOnly` — REST, token service and `/v2` alike, errors included;
 * - a request that carries a `sid` cookie is a "UI" request for gorilla/csrf: a safe method (GET, HEAD, OPTIONS,
 *   TRACE) gets `X-Harbor-Csrf-Token` (plus a `_gorilla_csrf` cookie when it had none) and `Vary: Cookie` on success;
 *   any other method without a matching `X-Harbor-CSRF-Token` gets **403** `FORBIDDEN` "CSRF token invalid" before
 *   its credentials are even looked at. A gateway that keeps or replays Harbor's cookie therefore breaks every write.
 */
import http from 'http';
import { randomBytes } from 'crypto';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const CSRF_PATHS = /^\/(v2|api|service|c)(\/|$)/;

function cookies(req: http.IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

export interface SessionVerdict {
  /** The request carried a `sid` cookie. */
  carriesSession: boolean;
  /** Set when the request must be refused with 403 "CSRF token invalid". */
  csrfRefused: boolean;
}

export class Sessions {
  /** `_gorilla_csrf` cookie value -> the tokens handed out with it. */
  private tokens = new Map<string, Set<string>>();

  /** Adds the session/CSRF headers to `res` (merged into whatever the handler writes) and says whether to refuse. */
  apply(req: http.IncomingMessage, res: http.ServerResponse, method: string, rawPath: string): SessionVerdict {
    const jar = cookies(req);
    const carriesSession = jar.has('sid');
    const setCookies: string[] = [];
    if (!carriesSession) setCookies.push(`sid=${randomBytes(16).toString('hex')}; Path=/; HttpOnly`);
    let csrfRefused = false;
    if (carriesSession && CSRF_PATHS.test(rawPath)) {
      let secret = jar.get('_gorilla_csrf');
      if (!secret || !this.tokens.has(secret)) {
        secret = randomBytes(48).toString('base64url');
        this.tokens.set(secret, new Set());
        setCookies.push(`_gorilla_csrf=${secret}; Path=/; Expires=${new Date(Date.now() + 43_200_000).toUTCString()}; Max-Age=43200; HttpOnly; SameSite=Strict`);
      }
      const token = randomBytes(64).toString('base64');
      this.tokens.get(secret)!.add(token);
      res.setHeader('X-Harbor-Csrf-Token', token);
      if (!SAFE.has(method)) {
        const sent = req.headers['x-harbor-csrf-token'];
        const known = jar.get('_gorilla_csrf');
        csrfRefused = !(typeof sent === 'string' && known !== undefined && this.tokens.get(known)?.has(sent));
      }
      if (!csrfRefused) res.setHeader('Vary', 'Cookie');
    }
    if (setCookies.length) res.setHeader('Set-Cookie', setCookies);
    return { carriesSession, csrfRefused };
  }

  clear(): void {
    this.tokens.clear();
  }
}
