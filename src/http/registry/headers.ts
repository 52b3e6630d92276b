import type { IncomingHttpHeaders } from 'node:http';

/**
 * Header rewrites between clients and Harbor. Harbor's `/v2` challenge realm is its configured external URL and
 * its upload `Location`s are absolute URLs built from the Host it was sent (README findings: 081, 082, 096,
 * 097), so both would send clients around hubgate. Everything else a client relies on
 * (`Docker-Content-Digest`, `Docker-Upload-UUID`, `Range`, `Content-Range`, `Content-Type`, `Content-Length`,
 * `Docker-Distribution-API-Version`, `ETag`, `Link`, …) passes unchanged.
 */

/** Service name Harbor's token service issues tokens for (and the registry expects). */
export const TOKEN_SERVICE = 'harbor-registry';

export const tokenRealm = (publicUrl: string): string => `${publicUrl}/service/token`;

/**
 * Rewrites the realm of every Bearer challenge in a `WWW-Authenticate` value to hubgate's token endpoint.
 * `Basic realm="harbor"` and an empty challenge (Harbor's answer for an unknown project) stay as they are.
 */
export function rewriteChallenge(value: string, realm: string): string {
  if (!/^\s*Bearer\s/i.test(value)) return value;
  const quoted = JSON.stringify(realm);
  if (/realm="[^"]*"/i.test(value)) return value.replace(/realm="[^"]*"/i, `realm=${quoted}`);
  // Stryker disable next-line Regex: '/realm=[^,\s]/i' in the check (not the replace) is equivalent (one such character follows iff one or more do); the other Regex mutants here are killed by headers.test.ts, applied by hand
  if (/realm=[^,\s]+/i.test(value)) return value.replace(/realm=[^,\s]+/i, `realm=${quoted}`);
  // Stryker disable next-line Regex: '/\s*Bearer\s+/i' (no ^) is equivalent: the first check means the value starts with a match, which a search finds first; the other Regex mutants here are killed by headers.test.ts, applied by hand
  return value.replace(/^\s*Bearer\s+/i, `Bearer realm=${quoted},`);
}

/**
 * Rewrites an absolute `Location` that points at Harbor (any scheme, one of `upstreamHosts`) to hubgate's public
 * URL, keeping path and query byte for byte. Relative locations and other hosts (e.g. a storage redirect to
 * S3) stay unchanged.
 */
export function rewriteLocation(value: string, publicUrl: string, upstreamHosts: readonly string[]): string {
  const m = /^(https?):\/\/([^/?#]+)(.*)$/i.exec(value);
  if (!m) return value;
  const host = m[2].toLowerCase();
  if (!upstreamHosts.some((h) => h.toLowerCase() === host)) return value;
  return publicUrl + (m[3] || '');
}

/** Builds the challenge hubgate sends itself (no credentials, or an unusable Authorization scheme). */
export function bearerChallenge(realm: string, scope?: string): string {
  return `Bearer realm=${JSON.stringify(realm)},service=${JSON.stringify(TOKEN_SERVICE)}${scope ? `,scope=${JSON.stringify(scope)}` : ''}`;
}

/**
 * Headers of a client request that must not reach Harbor: hop-by-hop headers, Harbor UI session cookies (a
 * Harbor session must never act on /v2 through hubgate) and forwarding headers that would make Harbor build
 * URLs for another host than the one we rewrite.
 */
const DROP_REQUEST = ['cookie', 'proxy-authorization', 'keep-alive', 'te', 'trailer', 'upgrade', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'forwarded'];

export function sanitizeRequestHeaders(headers: IncomingHttpHeaders): void {
  for (const h of DROP_REQUEST) delete headers[h];
}

/**
 * What becomes of one header line of Harbor's answer on its way to the client (`lowerName` in lower case):
 * `undefined` drops it (Harbor's session cookie), else the value to send — challenge realms and Harbor-absolute
 * Locations rewritten, everything else unchanged. The header object below and the HEAD pool's raw header lines
 * (proxy.ts) both go through it.
 */
export function rewriteResponseHeader(lowerName: string, value: string, realm: string, publicUrl: string, upstreamHosts: readonly string[]): string | undefined {
  if (lowerName === 'set-cookie') return undefined;
  if (lowerName === 'www-authenticate') return rewriteChallenge(value, realm);
  if (lowerName === 'location') return rewriteLocation(value, publicUrl, upstreamHosts);
  return value;
}

/** Applies the rewrites to an upstream response's headers (in place) and drops Harbor's session cookie. */
export function rewriteResponseHeaders(headers: IncomingHttpHeaders, publicUrl: string, upstreamHosts: readonly string[]): void {
  const realm = tokenRealm(publicUrl);
  const rewrite = (name: string, v: string) => rewriteResponseHeader(name, v, realm, publicUrl, upstreamHosts);
  const challenge: unknown = headers['www-authenticate'];
  if (typeof challenge === 'string') headers['www-authenticate'] = rewrite('www-authenticate', challenge);
  else if (Array.isArray(challenge)) (headers as Record<string, unknown>)['www-authenticate'] = challenge.map((c: string) => rewrite('www-authenticate', c));
  const location = headers.location;
  if (typeof location === 'string') headers.location = rewrite('location', location);
  delete headers['set-cookie'];
}
