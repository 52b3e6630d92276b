/**
 * Request paths as Harbor 2.5.5 sees them (seen on the real Harbor, test/fixtures/harbor/issue12/):
 *
 * - **Harbor's nginx** (`proxy_pass http://core/v2/;` — with a URI) normalises the path before passing it on:
 *   every `%XX` decoded (`%2F` becomes a separator, `%3A` a colon), `//` merged, `.` and `..` resolved (400 when
 *   `..` climbs above the root); the result is re-escaped only where it must be (`%`, `?`, `#`, space, controls,
 *   non-ASCII), so `%252F` reaches core as `%252F`. Only `/v2/`, `/api/`, `/service/` and `/c/` go to core.
 * - **harbor-core** merges `//` (its mergeslash middleware) but leaves `%2F` in a repository name alone, and does not
 *   resolve dot segments: a `/v2` path whose decoded form has one (or a `%` left after decoding) is "un-recognized"
 *   (401 from its v2 auth middleware, the decoded path in the message, formatted by Go's fmt as a format string).
 */

const CORE_PREFIXES = ['/v2/', '/api/', '/service/', '/c/'];

/** nginx's ngx_escape_uri(NGX_ESCAPE_URI) set, for the path it passes upstream. */
function nginxEscape(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    if (b <= 0x20 || b >= 0x7f || c === '%' || c === '?' || c === '#') out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
    else out += c;
  }
  return out;
}

/** Decodes every `%XX` to its byte; undefined when a `%` is not followed by two hex digits (nginx: 400). */
function decodeBytes(raw: string): Buffer | undefined {
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '%') {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      out.push(parseInt(hex, 16));
      i += 2;
    } else out.push(...Buffer.from(c, 'utf8'));
  }
  return Buffer.from(out);
}

/** Merges slashes and resolves dot segments; undefined when `..` climbs above the root. */
function resolveSegments(path: string): string | undefined {
  const segs = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i];
    const last = i === segs.length - 1;
    if (s === '' && !last) continue;
    if (s === '.') {
      if (last) out.push('');
      continue;
    }
    if (s === '..') {
      if (!out.length) return undefined;
      out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(s);
  }
  return '/' + out.join('/');
}

export type NginxVerdict = { kind: 'core'; path: string } | { kind: 'bad-request' } | { kind: 'not-core'; path: string };

/** What Harbor's nginx does with a raw request path (no query). */
export function nginxRoute(rawPath: string): NginxVerdict {
  const bytes = decodeBytes(rawPath);
  if (!bytes) return { kind: 'bad-request' };
  const resolved = resolveSegments(bytes.toString('latin1'));
  if (resolved === undefined) return { kind: 'bad-request' };
  const escaped = nginxEscape(Buffer.from(resolved, 'latin1'));
  if (!CORE_PREFIXES.some((p) => escaped.startsWith(p))) return { kind: 'not-core', path: escaped };
  return { kind: 'core', path: escaped };
}

/** The HTML nginx sends for its own 400/404 answers. */
export function nginxPage(status: 400 | 404): string {
  const title = status === 400 ? '400 Bad Request' : '404 Not Found';
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}

/** Go's fmt with `s` as the format string and no arguments (what core does with the path in this message). */
function goFormatNoArgs(s: string): string {
  return s.replace(/%([-+# 0]*\d*(?:\.\d+)?)([a-zA-Z%])/g, (_m, _flags, verb: string) => (verb === '%' ? '%' : `%!${verb}(MISSING)`));
}

export type CoreV2Verdict = { kind: 'ok'; path: string } | { kind: 'unrecognized'; message: string };

/** harbor-core's view of a `/v2` raw path: `//` merged; dot segments or a leftover `%` after decoding are un-recognized. */
export function coreV2Path(method: string, rawPath: string): CoreV2Verdict {
  const merged = rawPath.replace(/\/{2,}/g, '/');
  let decoded: string;
  try {
    decoded = decodeURIComponent(merged).replace(/\/{2,}/g, '/');
  } catch {
    decoded = merged;
  }
  const dot = decoded.split('/').some((s) => s === '.' || s === '..');
  if (dot || decoded.includes('%')) {
    const m = `un-recognized request: ${method} ${decoded}`;
    return { kind: 'unrecognized', message: `${goFormatNoArgs(m)}: ${m}` };
  }
  return { kind: 'ok', path: merged };
}
