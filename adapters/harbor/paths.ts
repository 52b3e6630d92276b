import { invalid } from '../../src/domain/errors';

/**
 * Path segments for Harbor's REST API. Project names are encoded once. Repository names (without the
 * project) are encoded TWICE: Harbor's nginx decodes `%2F` back into a slash and the route then 404s, while
 * `%252F` reaches core as `%2F` and works both behind nginx and directly against core (recordings 158–162,
 * finding e). Digests keep their `:` (a legal path character, as in Harbor's own links).
 *
 * Empty names and dot segments are refused: `/projects/p/repositories/..` would be normalised to
 * `/projects/p` before it leaves the process, and a DELETE would then hit the project.
 */
function segment(what: string, value: string): string {
  if (value === '' || value === '.' || value === '..') throw invalid(`${what} must not be empty, "." or ".."`);
  return encodeURIComponent(value);
}

/** A numeric id as a path segment; anything but a non-negative safe integer is refused (400) before a call. */
export function idSegment(what: string, id: number): string {
  if (!Number.isSafeInteger(id) || id < 0) throw invalid(`${what} must be a non-negative integer`);
  return String(id);
}

export const projectPath = (project: string): string => `/projects/${segment('project name', project)}`;
export const projectIdPath = (id: number): string => `/projects/${idSegment('project id', id)}`;
export const robotPath = (id: number): string => `/robots/${idSegment('robot id', id)}`;
export const gcPath = (id: number): string => `/system/gc/${idSegment('GC id', id)}`;

export const repositoryPath = (project: string, repository: string): string => {
  const once = segment('repository name', repository);
  if (repository.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw invalid('repository name has an empty, "." or ".." component');
  }
  return `${projectPath(project)}/repositories/${encodeURIComponent(once)}`;
};

export const referenceSegment = (what: string, reference: string): string => segment(what, reference).replace(/%3A/gi, ':');

export const artifactPath = (project: string, repository: string, reference: string): string =>
  `${repositoryPath(project, repository)}/artifacts/${referenceSegment('artifact reference', reference)}`;

export const tagPath = (project: string, repository: string, digest: string, tag: string): string =>
  `${artifactPath(project, repository, digest)}/tags/${referenceSegment('tag', tag)}`;

/** The numeric id at the end of a `Location` header such as `/api/v2.0/projects/7`; undefined otherwise. */
export function idFromLocation(location: string | undefined): number | undefined {
  const m = location ? /\/(\d+)\/?$/.exec(location.split('?')[0]) : null;
  return m ? Number(m[1]) : undefined;
}
