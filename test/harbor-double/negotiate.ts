/**
 * Content negotiation as Harbor 2.5.5's generated API server does it (go-swagger v0.25 code, go-openapi/runtime
 * v0.19.20 `Context.BindValidRequest` + `NegotiateContentType`, go-openapi/errors v0.19.6), written from their
 * behaviour:
 * - a request WITH a body negotiates with its Content-Type as the fallback, so an Accept mismatch never fails it;
 * - a request without a body: no (or an empty/unparsable) Accept → the first `produces`; otherwise the best match
 *   of the Accept ranges (q > 0; exact, `type/*`, `* /*`) — none → `InvalidResponseFormat` (406) wrapped in a
 *   composite validation error, which Harbor's error handler sends as **422** `UNPROCESSABLE_ENTITY`
 *   "validation failure list:\nunsupported media type requested, only [text/plain] are available".
 * This runs after routing and before the handler (so before Harbor's own permission checks).
 */
import http from 'http';

interface Spec {
  value: string;
  q: number;
}

// RFC 2616 token characters (what go-openapi's header parser accepts), plus '/' for media ranges
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z/]+/;

function quality(s: string): [number, string] {
  if (s === '' || (s[0] !== '0' && s[0] !== '1')) return [-1, ''];
  let q = s[0] === '1' ? 1 : 0;
  let rest = s.slice(1);
  if (!rest.startsWith('.')) return [q, rest];
  rest = rest.slice(1);
  let i = 0;
  let n = 0;
  let d = 1;
  for (; i < rest.length && rest[i] >= '0' && rest[i] <= '9'; i++) {
    n = n * 10 + Number(rest[i]);
    d *= 10;
  }
  q += n / d;
  return [q, rest.slice(i)];
}

const skipSpace = (s: string) => s.replace(/^[ \t]+/, '');

/** go-openapi `header.ParseAccept` over every `Accept` header line. */
export function parseAccept(lines: readonly string[]): Spec[] {
  const specs: Spec[] = [];
  for (const line of lines) {
    let s = line;
    for (;;) {
      const m = TOKEN.exec(s);
      if (!m) break;
      s = s.slice(m[0].length);
      const spec: Spec = { value: m[0], q: 1 };
      s = skipSpace(s);
      if (s.startsWith(';')) {
        s = skipSpace(s.slice(1));
        while (!s.startsWith('q=') && s !== '' && !s.startsWith(',')) s = skipSpace(s.slice(1));
        if (s.startsWith('q=')) {
          [spec.q, s] = quality(s.slice(2));
          if (spec.q < 0) break;
        }
      }
      specs.push(spec);
      s = skipSpace(s);
      if (!s.startsWith(',')) break;
      s = skipSpace(s.slice(1));
    }
  }
  return specs;
}

/** go-openapi `NegotiateContentType`: the chosen offer, or `fallback` when nothing matches. */
export function negotiate(specs: readonly Spec[], offers: readonly string[], fallback: string): string {
  let best = fallback;
  let bestQ = -1;
  let bestWild = 3;
  for (const raw of offers) {
    const offer = raw.split(';')[0];
    if (specs.length === 0) return raw;
    for (const spec of specs) {
      if (spec.q === 0 || spec.q < bestQ) continue;
      if (spec.value === '*/*') {
        if (spec.q > bestQ || bestWild > 2) [bestQ, bestWild, best] = [spec.q, 2, raw];
      } else if (spec.value.endsWith('/*')) {
        if (offer.startsWith(spec.value.slice(0, -1)) && (spec.q > bestQ || bestWild > 1)) [bestQ, bestWild, best] = [spec.q, 1, raw];
      } else if (spec.value === offer && (spec.q > bestQ || bestWild > 0)) {
        [bestQ, bestWild, best] = [spec.q, 0, raw];
      }
    }
  }
  return best;
}

/** go-openapi `runtime.HasBody`, without the peek: a positive Content-Length, or a body without one (chunked). */
function hasBody(req: http.IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  if (cl !== undefined) return Number(cl) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

const acceptLines = (req: http.IncomingMessage): string[] =>
  req.headersDistinct?.accept ?? (req.headers.accept !== undefined ? [req.headers.accept] : []);

/**
 * The 422 message Harbor sends when a request WITH a body has a Content-Type the operation does not consume
 * (`runtime.ContentType` + `validateContentType`: no Content-Type means `application/octet-stream`; parameters and
 * case are ignored; `*\/*` and `type/*` in consumes match); null when it may go on. Checked before Accept.
 */
export function contentTypeProblem(req: http.IncomingMessage, consumes: readonly string[]): string | null {
  if (!hasBody(req) || consumes.length === 0) return null;
  const ct = req.headers['content-type'] || 'application/octet-stream';
  const mt = ct.split(';')[0].trim().toLowerCase();
  const allowed = consumes.map((c) => c.toLowerCase());
  if (allowed.includes(mt) || allowed.includes('*/*') || allowed.includes(`${mt.split('/')[0]}/*`)) return null;
  return `validation failure list:\nunsupported media type ${JSON.stringify(mt)}, only [${consumes.join(' ')}] are allowed`;
}

/** The 422 message Harbor sends when the request's Accept matches none of `produces`; null when it may go on. */
export function acceptProblem(req: http.IncomingMessage, produces: readonly string[]): string | null {
  if (hasBody(req) || produces.length === 0) return null;
  if (negotiate(parseAccept(acceptLines(req)), produces, '') !== '') return null;
  return `validation failure list:\nunsupported media type requested, only [${produces.join(' ')}] are available`;
}

const JSON_MIME = 'application/json';

/**
 * A text answer of an operation that produces `produces` (`text/plain` for ping and GC logs), formatted as
 * go-swagger's `Context.Respond` does: the response format is negotiated again over `produces` followed by the
 * API's default `application/json`, so `Accept: application/json, text/plain;q=0.5` gets `Content-Type:
 * application/json` and the text as a JSON string (Go's encoder: no HTML escaping, newline after) — seen on
 * Harbor 2.5.5 for `/ping` (`"Pong"\n`) and `/system/gc/{id}/log`.
 */
export function producedText(req: http.IncomingMessage, produces: readonly string[], text: string): { contentType: string; body: string } {
  const offers = [...produces.filter((p) => p !== JSON_MIME), JSON_MIME];
  const format = negotiate(parseAccept(acceptLines(req)), offers, '') || produces[0];
  if (format === JSON_MIME && !produces.includes(JSON_MIME)) {
    return { contentType: format, body: JSON.stringify(text).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029') + '\n' };
  }
  return { contentType: format, body: text };
}
