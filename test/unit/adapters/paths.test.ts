/**
 * Harbor REST paths (adapters/harbor/paths.ts): names encoded as Harbor's nginx and core need them (project once,
 * repository twice, a digest's `:` kept), and every name or id that could make a path mean something else — empty,
 * `.`, `..`, a dot component in a repository, a negative or fractional id — refused (400) before any call:
 * `/projects/p/repositories/..` would be normalised to `/projects/p`, and a DELETE would hit the project.
 */
import { AppError } from '../../../src/domain/errors';
import { artifactPath, gcPath, idFromLocation, idSegment, projectIdPath, projectPath, repositoryPath, robotPath, tagPath } from '../../../adapters/harbor/paths';

const refusal = (f: () => unknown): { kind: string; message: string } => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return { kind: (e as AppError).kind, message: (e as AppError).message };
  }
  throw new Error('expected a refusal');
};

describe('Harbor paths', () => {
  it('encode a project name once, a repository name twice, and keep a digest or tag readable', () => {
    expect(projectPath('team a')).toBe('/projects/team%20a');
    expect(repositoryPath('p', 'team/app')).toBe('/projects/p/repositories/team%252Fapp');
    expect(artifactPath('p', 'app', 'sha256:abc')).toBe('/projects/p/repositories/app/artifacts/sha256:abc');
    expect(tagPath('p', 'app', 'sha256:abc', 'v1.0')).toBe('/projects/p/repositories/app/artifacts/sha256:abc/tags/v1.0');
    expect(artifactPath('p', 'app', 'a%3ab')).toBe('/projects/p/repositories/app/artifacts/a%253ab'); // only an encoded `:` comes back
  });

  it.each(['', '.', '..'])('refuse the project name %j', (name) => {
    expect(refusal(() => projectPath(name))).toEqual({ kind: 'invalid', message: 'project name must not be empty, "." or ".."' });
  });

  it.each(['', '.', '..'])('refuse the repository name %j, and a tag of that form', (name) => {
    expect(refusal(() => repositoryPath('p', name))).toEqual({ kind: 'invalid', message: 'repository name must not be empty, "." or ".."' });
    expect(refusal(() => tagPath('p', 'app', 'sha256:abc', name))).toEqual({ kind: 'invalid', message: 'tag must not be empty, "." or ".."' });
    expect(refusal(() => artifactPath('p', 'app', name))).toEqual({ kind: 'invalid', message: 'artifact reference must not be empty, "." or ".."' });
  });

  it.each(['a//b', 'a/./b', 'a/../b', '../x', 'x/..', 'a/', '/a'])('refuse a repository name with an empty or dot component: %j', (name) => {
    expect(refusal(() => repositoryPath('p', name))).toEqual({ kind: 'invalid', message: 'repository name has an empty, "." or ".." component' });
  });

  it('take ids that are non-negative safe integers, 0 included, and name the id they refuse', () => {
    expect([projectIdPath(0), robotPath(12), gcPath(345)]).toEqual(['/projects/0', '/robots/12', '/system/gc/345']);
    expect(idSegment('x', Number.MAX_SAFE_INTEGER)).toBe(String(Number.MAX_SAFE_INTEGER));
    for (const bad of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      expect(refusal(() => projectIdPath(bad))).toEqual({ kind: 'invalid', message: 'project id must be a non-negative integer' });
    }
    expect(refusal(() => robotPath(-1)).message).toBe('robot id must be a non-negative integer');
    expect(refusal(() => gcPath(-1)).message).toBe('GC id must be a non-negative integer');
  });

  it.each([
    ['/api/v2.0/projects/7', 7],
    ['/api/v2.0/robots/123/', 123],
    ['http://harbor/api/v2.0/retentions/3?x=/9', 3],
    ['/api/v2.0/projects/7a', undefined],
    ['/api/v2.0/projects/', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('idFromLocation(%j) is %j', (location, id) => {
    expect(idFromLocation(location)).toBe(id);
  });
});
