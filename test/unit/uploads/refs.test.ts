/**
 * Names found in an uploaded archive (src/domain/uploads/refs.ts): how a docker reference is split, which image of
 * the workspace it becomes, and the exact refusals of names and tags the registry would not take.
 */
import { ArchiveError } from '../../../src/domain/uploads/archive-error';
import { checkRepository, checkTag, imageFor, imageNameProblem, parseReference, tagProblem } from '../../../src/domain/uploads/refs';

const refusal = (fn: () => unknown): { reason: string; message: string } => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ArchiveError) return { reason: e.reason, message: e.message };
    throw e;
  }
  throw new Error('expected an ArchiveError');
};

describe('parseReference', () => {
  it.each([
    ['alpine', { path: 'alpine', domain: undefined, tag: undefined }],
    ['  alpine:3.18  ', { path: 'alpine', domain: undefined, tag: '3.18' }],
    ['alpine@sha256:0123abcd', { path: 'alpine', domain: undefined, tag: undefined }],
    ['alpine:3.18@sha256:0123abcd', { path: 'alpine', domain: undefined, tag: '3.18' }],
    ['@sha256:0123abcd', { path: '', domain: undefined, tag: undefined }],
    ['docker.io/library/alpine:3.18', { path: 'library/alpine', domain: 'docker.io', tag: '3.18' }],
    ['myhost:5000/team/app:v1', { path: 'team/app', domain: 'myhost:5000', tag: 'v1' }],
    ['myhost:5000/app', { path: 'app', domain: 'myhost:5000', tag: undefined }],
    ['localhost/app:1', { path: 'app', domain: 'localhost', tag: '1' }],
    ['team-a/app:v1', { path: 'team-a/app', domain: undefined, tag: 'v1' }],
    ['localhost', { path: 'localhost', domain: undefined, tag: undefined }],
    ['registry.example.test', { path: 'registry.example.test', domain: undefined, tag: undefined }],
  ])('%j → %j', (ref, expected) => {
    expect(parseReference(ref)).toStrictEqual(expected);
  });
});

describe('imageFor: the image of the workspace a reference becomes', () => {
  it.each([
    [{ path: 'library/alpine' }, 'alpine'],
    [{ path: 'library/alpine', domain: 'docker.io' }, 'alpine'],
    [{ path: 'library/alpine', domain: 'index.docker.io' }, 'alpine'],
    [{ path: 'library/alpine', domain: 'quay.io' }, 'library/alpine'],
    [{ path: 'library/alpine', domain: 'docker.io.example.test' }, 'library/alpine'],
    [{ path: 'libraryx/alpine' }, 'libraryx/alpine'],
    [{ path: 'team-a/app', domain: 'hub.example.test' }, 'app'],
    [{ path: 'team-a/tools/app' }, 'tools/app'],
    [{ path: 'team-ab/app' }, 'team-ab/app'],
    [{ path: 'team-a/' }, 'team-a/'],
    [{ path: 'team-a' }, 'team-a'],
  ])('%j in workspace team-a → %j', (ref, image) => {
    expect(imageFor(ref, 'team-a')).toBe(image);
  });
});

describe('names and tags the registry would refuse', () => {
  it('an empty image name', () => {
    expect(imageNameProblem('')).toBe('image name is empty');
    expect(refusal(() => checkRepository('team-a', ''))).toStrictEqual({ reason: 'invalid_name', message: 'image name is empty' });
  });

  it('a name with an upper-case part, cut at 140 characters and with unprintable characters replaced', () => {
    const long = `App/${'a'.repeat(150)}`;
    const rule = 'is not allowed: each "/"-separated part must be lower-case letters and digits, separated by ".", "_", "__" or "-"';
    expect(imageNameProblem(long)).toBe(`image name "${long.slice(0, 140)}…" ${rule}`);
    const exact = `A${'a'.repeat(139)}`;
    expect(imageNameProblem(exact)).toBe(`image name "${exact}" ${rule}`);
    expect(imageNameProblem('bad\u0001name\u00e9')).toBe(`image name "bad?name?" ${rule}`);
  });

  it('a repository (workspace/image) of 255 characters is taken, one of 256 is refused with its length named', () => {
    expect(checkRepository('team-a', 'a'.repeat(248))).toBe(`team-a/${'a'.repeat(248)}`);
    const repository = `team-a/${'a'.repeat(249)}`;
    expect(refusal(() => checkRepository('team-a', 'a'.repeat(249)))).toStrictEqual({
      reason: 'invalid_name',
      message: `repository "${repository.slice(0, 140)}…" is longer than 255 characters`,
    });
  });

  it('tags: up to 128 characters, not starting with "." or "-"', () => {
    const rule = 'is not allowed: up to 128 letters, digits, "_", "." and "-", not starting with "." or "-"';
    expect(checkTag(`v${'1'.repeat(127)}`)).toBe(`v${'1'.repeat(127)}`);
    expect(tagProblem('_ok.1-2')).toBeUndefined();
    expect(refusal(() => checkTag(`v${'1'.repeat(128)}`))).toStrictEqual({ reason: 'invalid_tag', message: `tag "v${'1'.repeat(128)}" ${rule}` });
    expect(tagProblem('-x')).toBe(`tag "-x" ${rule}`);
    expect(tagProblem('.x')).toBe(`tag ".x" ${rule}`);
  });
});
