/**
 * canonicalRegistryPath checks segments with regular expressions (no segment walk on the registry front's hot
 * path). A reference written here the long way — split into segments, refuse '.' and '..', then empty segments but
 * the trailing one of `/v2/` and `…/uploads/` (a path with both faults is refused for its dot segment) — must
 * agree with it on every path of a generated corpus of hostile and ordinary shapes.
 */
import { canonicalRegistryPath } from '../../../src/http/registry/operations';

function reference(path: string): { path: string } | { problem: string } {
  let p = path;
  if (p.includes('%')) {
    if (/%(?![3][Aa])/.test(p)) return { problem: 'percent-encoded characters other than ":" are not allowed in registry paths' };
    p = p.replace(/%3[Aa]/g, ':');
  }
  if (/[^\x21-\x7e]|[\\;]/.test(p)) return { problem: 'the path holds characters no registry path has' };
  const segments = p.split('/').slice(1);
  if (segments.some((s) => s === '.' || s === '..')) return { problem: 'dot segments are not allowed in registry paths' };
  for (let i = 0; i < segments.length; i++) {
    const trailingOk = i === segments.length - 1 && (i === 1 || segments[i - 1] === 'uploads');
    if (segments[i] === '' && !trailingOk) return { problem: 'empty path segments are not allowed in registry paths' };
  }
  return { path: p };
}

const PARTS = ['/', '//', '.', '..', '/.', '/..', 'a', 'app', '.hidden', 'v2', 'blobs', 'uploads', 'manifests', 'sha256', '%3A', '%2e', '%2F', ':', '-', '_', 'x.y', '...'];

/** A small deterministic generator (xorshift), so a failure names a reproducible path. */
function* corpus(n: number): Generator<string> {
  let x = 0x2545f491;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  for (let i = 0; i < n; i++) {
    let p = next() < 0.8 ? '/v2/' : '/v2';
    const len = 1 + Math.floor(next() * 8);
    for (let j = 0; j < len; j++) p += PARTS[Math.floor(next() * PARTS.length)];
    if (next() < 0.2) p += '/';
    yield p;
  }
}

describe('registry path hygiene: the regular expressions agree with the segment walk', () => {
  it('on 20,000 generated paths', () => {
    const differing: string[] = [];
    for (const p of corpus(20_000)) {
      if (JSON.stringify(canonicalRegistryPath(p)) !== JSON.stringify(reference(p))) differing.push(p);
    }
    expect(differing).toStrictEqual([]);
  });

  const percent = { problem: 'percent-encoded characters other than ":" are not allowed in registry paths' };
  it.each([
    ['/v2/a/b/manifests/sha256%3Aabc', { path: '/v2/a/b/manifests/sha256:abc' }],
    ['/v2/a/b/manifests/sha256%3aabc', { path: '/v2/a/b/manifests/sha256:abc' }],
    ['/v2/a/b/manifests/x%3B', percent],
    ['/v2/a/b/manifests/x%30', percent],
    ['/v2/a/b/manifests/x%3', percent],
    ['/v2/a/b/manifests/x%', percent],
    ['/v2/a%2Fb/manifests/x', percent],
    ['/v2/a/b/tags/list', { path: '/v2/a/b/tags/list' }],
    ['/v2/a/', { problem: 'empty path segments are not allowed in registry paths' }],
    ['/', { problem: 'empty path segments are not allowed in registry paths' }],
  ])('%s → %j', (p, outcome) => {
    expect(canonicalRegistryPath(p)).toStrictEqual(outcome);
  });

  it.each(['/v2/', '/v2/a/b/blobs/uploads/', '/v2/a/uploads/', '/v2/a/b/', '/v2/a/./b', '/v2/a/../b', '/v2/a//b', '/v2/.', '/v2/..', '/v2/a/.hidden', '/v2/a/b/manifests/sha256%3Aabc'])(
    '%s',
    (p) => {
      expect(canonicalRegistryPath(p)).toStrictEqual(reference(p));
    },
  );
});
