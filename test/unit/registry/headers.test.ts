import type { IncomingHttpHeaders } from 'node:http';
import { bearerChallenge, rewriteChallenge, rewriteLocation, rewriteResponseHeaders, sanitizeRequestHeaders, tokenRealm } from '../../../src/http/registry/headers';
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

  it('keeps relative Locations and foreign hosts (storage redirects) unchanged', () => {
    expect(rewriteLocation('/v2/a/b/blobs/uploads/uuid', PUBLIC, hosts)).toBe('/v2/a/b/blobs/uploads/uuid');
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

  it('does not forward cookies, hop-by-hop or forwarding headers to Harbor', () => {
    const h: IncomingHttpHeaders = { cookie: 'sid=1', 'x-forwarded-host': 'evil', 'x-forwarded-proto': 'https', forwarded: 'host=evil', te: 'trailers', range: 'bytes=0-1', 'content-type': 'application/octet-stream', authorization: 'Bearer x' };
    sanitizeRequestHeaders(h);
    expect(h).toEqual({ range: 'bytes=0-1', 'content-type': 'application/octet-stream', authorization: 'Bearer x' });
  });
});
