import { canonicalRegistryPath, challengeScope, classify, isRegistryPath, OPERATION_IDS } from '../../../src/http/registry/operations';

const DIGEST = 'sha256:' + 'a'.repeat(64);

describe('registry operation table', () => {
  it.each([
    ['GET', '/v2/', 'v2_ping', undefined, undefined, undefined],
    ['GET', '/v2', 'v2_ping', undefined, undefined, undefined],
    ['GET', '/v2/_catalog', 'v2_catalog', undefined, undefined, undefined],
    ['GET', '/v2/alpha/app/tags/list', 'v2_tags', 'alpha/app', undefined, 'pull'],
    ['HEAD', '/v2/alpha/app/manifests/v1', 'v2_manifest', 'alpha/app', 'v1', 'pull'],
    ['GET', `/v2/alpha/app/manifests/${DIGEST}`, 'v2_manifest', 'alpha/app', DIGEST, 'pull'],
    ['PUT', '/v2/alpha/team/app/manifests/1.0', 'v2_manifest', 'alpha/team/app', '1.0', 'push'],
    ['DELETE', `/v2/alpha/app/manifests/${DIGEST}`, 'v2_manifest', 'alpha/app', DIGEST, 'delete'],
    ['GET', `/v2/alpha/app/blobs/${DIGEST}`, 'v2_blob', 'alpha/app', DIGEST, 'pull'],
    ['HEAD', `/v2/alpha/app/blobs/${DIGEST}`, 'v2_blob', 'alpha/app', DIGEST, 'pull'],
    ['DELETE', `/v2/alpha/app/blobs/${DIGEST}`, 'v2_blob', 'alpha/app', DIGEST, 'delete'],
    ['POST', '/v2/alpha/app/blobs/uploads/', 'v2_upload', 'alpha/app', undefined, 'push'],
    ['PATCH', '/v2/alpha/app/blobs/uploads/548c50a3-cffb-4ac0-9167-30ad1908c8ed', 'v2_upload', 'alpha/app', '548c50a3-cffb-4ac0-9167-30ad1908c8ed', 'push'],
    ['PUT', '/v2/alpha/app/blobs/uploads/548c50a3-cffb-4ac0-9167-30ad1908c8ed', 'v2_upload', 'alpha/app', '548c50a3-cffb-4ac0-9167-30ad1908c8ed', 'push'],
    // Operation keywords inside a repository name: the last one decides.
    ['GET', '/v2/alpha/manifests/x/manifests/latest', 'v2_manifest', 'alpha/manifests/x', 'latest', 'pull'],
    ['GET', `/v2/alpha/blobs/blobs/${DIGEST}`, 'v2_blob', 'alpha/blobs', DIGEST, 'pull'],
  ])('%s %s → %s', (method, path, id, repository, reference, access) => {
    const op = classify(method, path);
    expect(op.id).toBe(id);
    expect(op.repository).toBe(repository);
    expect(op.reference).toBe(reference);
    expect(op.access).toBe(access);
    expect(op.write).toBe(access === 'push' || access === 'delete');
  });

  it('names the token service and anything unknown under /v2 without a repository', () => {
    expect(classify('GET', '/service/token').id).toBe('token');
    expect(classify('GET', '/v2/Alpha/UPPER/manifests/x')).toEqual({ id: 'v2_other', write: false });
    expect(classify('GET', '/v2/alpha/app/referrers/x').id).toBe('v2_other');
  });

  it('ids never contain a repository or user (bounded label values)', () => {
    for (const id of OPERATION_IDS) expect(id).toMatch(/^(v2_[a-z]+|token)$/);
  });

  it('knows its paths', () => {
    expect(isRegistryPath('/v2')).toBe(true);
    expect(isRegistryPath('/v2/x')).toBe(true);
    expect(isRegistryPath('/service/token')).toBe(true);
    expect(isRegistryPath('/v2x')).toBe(false);
    expect(isRegistryPath('/api/v1/workspaces')).toBe(false);
    expect(isRegistryPath('/service/tokens')).toBe(false);
  });

  it('builds the scope a challenge names, as Harbor does', () => {
    expect(challengeScope(classify('HEAD', '/v2/alpha/app/manifests/v1'))).toBe('repository:alpha/app:pull');
    expect(challengeScope(classify('POST', '/v2/alpha/app/blobs/uploads/'))).toBe('repository:alpha/app:pull,push');
    expect(challengeScope(classify('DELETE', `/v2/alpha/app/manifests/${DIGEST}`))).toBe('repository:alpha/app:delete');
    expect(challengeScope(classify('GET', '/v2/_catalog'))).toBe('registry:catalog:*');
    expect(challengeScope(classify('GET', '/v2/'))).toBeUndefined();
  });
});

describe('registry path hygiene', () => {
  const HEX = 'b'.repeat(64);
  it.each([
    ['/v2/..%2fapi/v2.0/projects', 'percent-encoded'],
    ['/v2/%2e%2e/api/v2.0/projects', 'percent-encoded'],
    ['/v2/alpha%2fapp/tags/list', 'percent-encoded'],
    ['/v2/alpha/app/manifests/v1%00', 'percent-encoded'],
    ['/v2/alpha/app/manifests/%25', 'percent-encoded'],
    ['/v2/../api/v2.0/projects', 'dot segments'],
    ['/v2/./alpha/app/tags/list', 'dot segments'],
    ['/v2/alpha/app/blobs/uploads/..', 'dot segments'],
    ['/v2/alpha/app/tags/list/.', 'dot segments'],
    ['/v2/alpha//app/tags/list', 'empty path segments'],
    ['/v2//alpha/app/tags/list', 'empty path segments'],
    ['/v2/alpha/app/tags/list/', 'empty path segments'],
    ['/v2/alpha\\app/tags/list', 'characters'],
    ['/v2/alpha/app/manifests/v1;jsessionid=1', 'characters'],
    ['/v2/alpha/app/manifests/v 1', 'characters'],
    ['/v2/alpha/app/manifests/v\t1', 'characters'],
    ['/v2/alpha/app/manifests/vé', 'characters'],
  ])('refuses %s (%s)', (path, why) => {
    const r = canonicalRegistryPath(path);
    expect('problem' in r && r.problem).toContain(why);
  });

  it.each([
    ['/v2', '/v2'],
    ['/v2/', '/v2/'],
    ['/v2/_catalog', '/v2/_catalog'],
    ['/v2/alpha/app/blobs/uploads/', '/v2/alpha/app/blobs/uploads/'],
    [`/v2/alpha/app/manifests/sha256:${HEX}`, `/v2/alpha/app/manifests/sha256:${HEX}`],
    [`/v2/alpha/app/manifests/sha256%3A${HEX}`, `/v2/alpha/app/manifests/sha256:${HEX}`],
    [`/v2/alpha/app/blobs/sha256%3a${HEX}`, `/v2/alpha/app/blobs/sha256:${HEX}`],
    ['/v2/a.b/c-d/e_f/manifests/v1.0', '/v2/a.b/c-d/e_f/manifests/v1.0'],
  ])('keeps %s as %s', (path, canonical) => {
    expect(canonicalRegistryPath(path)).toEqual({ path: canonical });
  });
});
