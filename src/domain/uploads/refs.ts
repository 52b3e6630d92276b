import { ArchiveError } from './archive-error';

/**
 * Image names and tags: the distribution spec's grammar (what Harbor and docker accept), and how a name found in
 * an archive (`docker.io/library/alpine:3.18`, `hub.ecns.io/team-a/app:v1`, `app`) becomes a repository of the
 * target workspace.
 */
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const MAX_REPOSITORY = 255;

export function imageNameProblem(image: string): string | undefined {
  if (!image) return 'image name is empty';
  const bad = image.split('/').find((c) => !COMPONENT.test(c));
  if (bad !== undefined) {
    return `image name "${clip(image)}" is not allowed: each "/"-separated part must be lower-case letters and digits, separated by ".", "_", "__" or "-"`;
  }
  return undefined;
}

export function tagProblem(tag: string): string | undefined {
  if (!TAG.test(tag)) return `tag "${clip(tag)}" is not allowed: up to 128 letters, digits, "_", "." and "-", not starting with "." or "-"`;
  return undefined;
}

/** A name quoted in a message: unprintable characters as '?', cut at 140 characters (the '…' added after). */
const clip = (s: string) => {
  const printable = s.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 140 ? `${printable.slice(0, 140)}…` : printable;
};

export interface ArchiveRef {
  /** Repository path without the registry host, e.g. `library/alpine`, `team-a/app`. */
  path: string;
  domain?: string;
  tag?: string;
}

/** Splits a docker reference `[host[:port]/]path[:tag][@digest]`. */
export function parseReference(ref: string): ArchiveRef {
  let rest = ref.trim();
  const at = rest.indexOf('@');
  if (at >= 0) rest = rest.slice(0, at);
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  let domain: string | undefined;
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) domain = parts.shift();
  return { path: parts.join('/'), domain, tag };
}

/**
 * The image (repository inside the workspace) a reference from the archive maps to: the registry host is
 * dropped, Docker Hub's `library/` too, and a leading `<workspace>/` (an image pulled from this very service).
 */
export function imageFor(ref: ArchiveRef, workspace: string): string {
  let path = ref.path;
  if ((!ref.domain || ref.domain === 'docker.io' || ref.domain === 'index.docker.io') && path.startsWith('library/')) path = path.slice(8);
  if (path.startsWith(`${workspace}/`) && path.length > workspace.length + 1) path = path.slice(workspace.length + 1);
  return path;
}

export function checkRepository(workspace: string, image: string): string {
  const problem = imageNameProblem(image);
  if (problem) throw new ArchiveError('invalid_name', problem);
  const repository = `${workspace}/${image}`;
  if (repository.length > MAX_REPOSITORY) throw new ArchiveError('invalid_name', `repository "${clip(repository)}" is longer than ${MAX_REPOSITORY} characters`);
  return repository;
}

export function checkTag(tag: string): string {
  const problem = tagProblem(tag);
  if (problem) throw new ArchiveError('invalid_tag', problem);
  return tag;
}
