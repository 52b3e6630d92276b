import { canonicalRegistryPath, challengeScope, classify } from '../../../src/http/registry/operations';

/** Registry front classification, exactly (no stray keys), and path hygiene edge cases. */
describe('registry operations, exactly', () => {
  it('the token endpoint is never a write, whatever the method', () => {
    expect(classify('POST', '/service/token')).toStrictEqual({ id: 'token', write: false });
    expect(classify('GET', '/service/token')).toStrictEqual({ id: 'token', write: false });
  });

  it('routes without repository or reference carry no such keys', () => {
    expect(classify('GET', '/v2/')).toStrictEqual({ id: 'v2_ping', write: false });
    expect(classify('GET', '/v2/_catalog')).toStrictEqual({ id: 'v2_catalog', write: false });
    expect(classify('GET', '/v2/team/app/tags/list')).toStrictEqual({ id: 'v2_tags', repository: 'team/app', access: 'pull', write: false });
  });

  it('unknown /v2 paths: a write unless GET or HEAD', () => {
    expect(classify('GET', '/v2/x/y/z/unknown')).toStrictEqual({ id: 'v2_other', write: false });
    expect(classify('HEAD', '/v2/x/y/z/unknown')).toStrictEqual({ id: 'v2_other', write: false });
    expect(classify('POST', '/v2/x/y/z/unknown')).toStrictEqual({ id: 'v2_other', write: true });
    expect(classify('DELETE', '/v2/x/y/z/unknown')).toStrictEqual({ id: 'v2_other', write: true });
  });

  it('challenge scopes need both a repository and an access', () => {
    expect(challengeScope({ id: 'v2_other', write: false })).toBeUndefined();
    expect(challengeScope({ id: 'v2_tags', repository: 'a/b', write: false })).toBeUndefined();
    expect(challengeScope({ id: 'v2_manifest', access: 'pull', write: false })).toBeUndefined();
    expect(challengeScope({ id: 'v2_manifest', repository: 'a/b', access: 'pull', write: false })).toBe('repository:a/b:pull');
  });

  it('path hygiene: "%" only as %3A, an empty segment only at the end of /v2/ or .../uploads/', () => {
    expect(canonicalRegistryPath('/v2/a/manifests/sha256%3Aab')).toEqual({ path: '/v2/a/manifests/sha256:ab' });
    expect(canonicalRegistryPath('/v2/a/manifests/sha256%3aab')).toEqual({ path: '/v2/a/manifests/sha256:ab' });
    expect(canonicalRegistryPath('/v2/a/manifests/x%41')).toEqual({ problem: 'percent-encoded characters other than ":" are not allowed in registry paths' });
    expect(canonicalRegistryPath('/v2/a/blobs/uploads/')).toEqual({ path: '/v2/a/blobs/uploads/' });
    expect(canonicalRegistryPath('/v2/')).toEqual({ path: '/v2/' });
    expect(canonicalRegistryPath('/v2/a/tags/list/')).toEqual({ problem: 'empty path segments are not allowed in registry paths' });
    expect(canonicalRegistryPath('/v2/a//b')).toEqual({ problem: 'empty path segments are not allowed in registry paths' });
    expect(canonicalRegistryPath('/v2/a/..')).toEqual({ problem: 'dot segments are not allowed in registry paths' });
  });
});
