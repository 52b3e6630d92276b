import type { IncomingHttpHeaders } from 'node:http';
import { bearerChallenge, rewriteChallenge, rewriteLocation, rewriteResponseHeader, rewriteResponseHeaders, sanitizeRequestHeaders, tokenRealm } from '../../../src/http/registry/headers';
import { upstreamHostsOf } from '../../../src/http/registry/proxy';

const PUBLIC = 'https://hub.ecns.io';
const REALM = tokenRealm(PUBLIC);

describe('WWW-Authenticate rewriting', () => {
  it("points Harbor's Bearer realm (its external URL) at hubgate, keeping service and scope", () => {
    // As recorded (081): the realm is Harbor's external URL, whatever Host was sent.
    expect(rewriteChallenge('Bearer realm="http://127.0.0.1:8880/service/token",service="harbor-registry"', REALM)).toBe(
      'Bearer realm="https://hub.ecns.io/service/token",service="harbor-registry"',
    );
    expect(rewriteChallenge('Bearer realm="https://harbor.internal/service/token",service="harbor-registry",scope="repository:a/b:pull"', REALM)).toBe(
      'Bearer realm="https://hub.ecns.io/service/token",service="harbor-registry",scope="repository:a/b:pull"',
    );
    expect(rewriteChallenge('bearer realm=http://x/service/token,service="harbor-registry"', REALM)).toBe('bearer realm="https://hub.ecns.io/service/token",service="harbor-registry"');
  });

  it('leaves Basic and empty challenges alone (084, 125)', () => {
    expect(rewriteChallenge('Basic realm="harbor"', REALM)).toBe('Basic realm="harbor"');
    expect(rewriteChallenge('', REALM)).toBe('');
  });

  it('rewrites only a challenge whose scheme is Bearer, leading whitespace allowed', () => {
    expect(rewriteChallenge('  Bearer realm="http://harbor-core/service/token",service="harbor-registry"', REALM)).toBe(
      '  Bearer realm="https://hub.ecns.io/service/token",service="harbor-registry"',
    );
    expect(rewriteChallenge('Basic realm="Bearer token"', REALM)).toBe('Basic realm="Bearer token"');
    expect(rewriteChallenge('XBearer realm="http://harbor-core/service/token"', REALM)).toBe('XBearer realm="http://harbor-core/service/token"');
  });

  it('replaces a quoted realm whole, commas and spaces inside the quotes included', () => {
    expect(rewriteChallenge('Bearer realm="http://harbor-core/token?a=1,b=2 c",service="harbor-registry"', REALM)).toBe(
      'Bearer realm="https://hub.ecns.io/service/token",service="harbor-registry"',
    );
    expect(rewriteChallenge('Bearer realm="",service="harbor-registry"', REALM)).toBe('Bearer realm="https://hub.ecns.io/service/token",service="harbor-registry"');
  });

  it('gives a Bearer challenge without a realm hubgate\'s realm first, keeping its parameters', () => {
    expect(rewriteChallenge('Bearer service="harbor-registry",scope="repository:a/b:pull"', REALM)).toBe(
      'Bearer realm="https://hub.ecns.io/service/token",service="harbor-registry",scope="repository:a/b:pull"',
    );
    expect(rewriteChallenge(' bearer   service="harbor-registry"', REALM)).toBe('Bearer realm="https://hub.ecns.io/service/token",service="harbor-registry"');
  });

  it("names hubgate's token endpoint under the public URL as the realm", () => {
    // REALM above is computed when the file loads; this pins the value itself, inside a test.
    expect(tokenRealm(PUBLIC)).toBe('https://hub.ecns.io/service/token');
    expect(tokenRealm('http://127.0.0.1:8443')).toBe('http://127.0.0.1:8443/service/token');
  });

  it("builds hubgate's own challenge", () => {
    expect(bearerChallenge(REALM, 'repository:a/b:pull')).toBe('Bearer realm="https://hub.ecns.io/service/token",service="harbor-registry",scope="repository:a/b:pull"');
    expect(bearerChallenge(REALM)).toBe('Bearer realm="https://hub.ecns.io/service/token",service="harbor-registry"');
  });
});

describe('Location rewriting', () => {
  const hosts = upstreamHostsOf('http://harbor-core', ['harbor.example.com']);
  const state = '_state=iGTGAcZVzry2WGzSkcWu%3D%3D';

  it('moves absolute upload Locations from Harbor to hubgate, path and query byte for byte (096, 097)', () => {
    expect(rewriteLocation(`http://harbor-core/v2/a/b/blobs/uploads/uuid?${state}`, PUBLIC, hosts)).toBe(`${PUBLIC}/v2/a/b/blobs/uploads/uuid?${state}`);
    expect(rewriteLocation(`https://harbor-core:443/v2/a/b/blobs/sha256:abc`, PUBLIC, hosts)).toBe(`${PUBLIC}/v2/a/b/blobs/sha256:abc`);
    expect(rewriteLocation(`https://HARBOR.example.com/v2/x`, PUBLIC, hosts)).toBe(`${PUBLIC}/v2/x`);
  });

  it('moves a bare Harbor URL (no path) to the public URL itself', () => {
    expect(rewriteLocation('http://harbor-core', PUBLIC, hosts)).toBe(PUBLIC);
  });

  it('keeps relative Locations and foreign hosts (storage redirects) unchanged', () => {
    expect(rewriteLocation('/v2/a/b/blobs/uploads/uuid', PUBLIC, hosts)).toBe('/v2/a/b/blobs/uploads/uuid');
    expect(rewriteLocation('/v2/a/b/blobs/uploads/uuid?next=http://harbor-core/v2/x', PUBLIC, hosts)).toBe('/v2/a/b/blobs/uploads/uuid?next=http://harbor-core/v2/x');
    expect(rewriteLocation('http://harbor-core/v2/x\nhttp://harbor-core/v2/y', PUBLIC, hosts)).toBe('http://harbor-core/v2/x\nhttp://harbor-core/v2/y');
    expect(rewriteLocation('https://s3.amazonaws.com/bucket/blob?X-Amz-Signature=1', PUBLIC, hosts)).toBe('https://s3.amazonaws.com/bucket/blob?X-Amz-Signature=1');
  });

  it('knows default ports of the Harbor URL', () => {
    expect(upstreamHostsOf('http://127.0.0.1:8880')).toEqual(['127.0.0.1:8880']);
    expect(upstreamHostsOf('https://harbor')).toEqual(['harbor', 'harbor:80', 'harbor:443']);
  });
});

describe('response and request header hygiene', () => {
  it('rewrites realm and Location, drops the session cookie, passes the rest unchanged', () => {
    const h: IncomingHttpHeaders = {
      'www-authenticate': 'Bearer realm="http://harbor-core/service/token",service="harbor-registry"',
      location: 'http://harbor-core/v2/a/b/blobs/uploads/u?_state=x',
      'set-cookie': ['sid=abc; Path=/; HttpOnly'],
      'docker-content-digest': 'sha256:1',
      'docker-upload-uuid': 'u',
      range: '0-1023',
      'content-type': 'application/vnd.oci.image.manifest.v1+json',
      'docker-distribution-api-version': 'registry/2.0',
      'content-length': '12',
    };
    rewriteResponseHeaders(h, PUBLIC, upstreamHostsOf('http://harbor-core'));
    expect(h).toEqual({
      'www-authenticate': `Bearer realm="${REALM}",service="harbor-registry"`,
      location: `${PUBLIC}/v2/a/b/blobs/uploads/u?_state=x`,
      'docker-content-digest': 'sha256:1',
      'docker-upload-uuid': 'u',
      range: '0-1023',
      'content-type': 'application/vnd.oci.image.manifest.v1+json',
      'docker-distribution-api-version': 'registry/2.0',
      'content-length': '12',
    });
  });

  it('an answer without challenge or Location gains neither header (no key, not even an undefined one)', () => {
    const h: IncomingHttpHeaders = { 'content-type': 'application/octet-stream', 'content-length': '3', 'set-cookie': ['sid=abc; Path=/'] };
    rewriteResponseHeaders(h, PUBLIC, upstreamHostsOf('http://harbor-core'));
    expect(Object.keys(h)).toEqual(['content-type', 'content-length']);
    expect(h).toStrictEqual({ 'content-type': 'application/octet-stream', 'content-length': '3' });
  });

  it('rewrites every line of a repeated WWW-Authenticate', () => {
    const h: IncomingHttpHeaders = {};
    (h as Record<string, unknown>)['www-authenticate'] = ['Basic realm="harbor"', 'Bearer realm="http://harbor-core/service/token",service="harbor-registry"'];
    rewriteResponseHeaders(h, PUBLIC, upstreamHostsOf('http://harbor-core'));
    expect(h).toEqual({ 'www-authenticate': ['Basic realm="harbor"', `Bearer realm="${REALM}",service="harbor-registry"`] });
  });

  it('one header line: challenge and Location rewritten, the session cookie dropped, any other header unchanged even when it holds a Harbor URL', () => {
    const hosts = upstreamHostsOf('http://harbor-core');
    const line = (name: string, value: string) => rewriteResponseHeader(name, value, REALM, PUBLIC, hosts);
    expect(line('www-authenticate', 'Bearer realm="http://harbor-core/service/token"')).toBe(`Bearer realm="${REALM}"`);
    expect(line('location', 'http://harbor-core/v2/a/b/blobs/uploads/u')).toBe(`${PUBLIC}/v2/a/b/blobs/uploads/u`);
    expect(line('set-cookie', 'sid=abc')).toBeUndefined();
    expect(line('content-location', 'http://harbor-core/v2/a/b/manifests/v1')).toBe('http://harbor-core/v2/a/b/manifests/v1');
  });

  it('does not forward cookies, hop-by-hop or forwarding headers to Harbor', () => {
    const h: IncomingHttpHeaders = { cookie: 'sid=1', 'x-forwarded-host': 'evil', 'x-forwarded-proto': 'https', forwarded: 'host=evil', te: 'trailers', range: 'bytes=0-1', 'content-type': 'application/octet-stream', authorization: 'Bearer x' };
    sanitizeRequestHeaders(h);
    expect(h).toEqual({ range: 'bytes=0-1', 'content-type': 'application/octet-stream', authorization: 'Bearer x' });
  });
});
