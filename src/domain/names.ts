import { createHash } from 'node:crypto';

/** Harbor 2.5.5 project-name rule (also a valid first path component of a distribution repository name). */
export const WORKSPACE_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export const WORKSPACE_NAME_MAX = 255;

export function workspaceNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > WORKSPACE_NAME_MAX) return `workspace name must be 1 to ${WORKSPACE_NAME_MAX} characters`;
  if (!WORKSPACE_NAME.test(name)) {
    return 'workspace name must be lower-case letters and digits, separated by single ".", "_" or "-" (Harbor project-name rules)';
  }
  return undefined;
}

/** Harbor robot names: lower case, digits, and single separators. Shell-safe by construction (no `$`). */
const ROBOT_SAFE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/**
 * The registry username of a platform project: `<prefix><project id>` when the id is already safe, otherwise a
 * slug of it plus a short hash, so that two ids never share a username.
 */
export function registryUsername(prefix: string, projectId: string): string {
  const id = projectId.trim();
  if (ROBOT_SAFE.test(id) && id.length <= 40) return `${prefix}${id}`;
  const slug = id
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    // runs are single dashes by now: one at either end at most
    .replace(/^-|-$/g, '')
    .slice(0, 30);
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  return `${prefix}${slug ? `${slug}-` : ''}${hash}`;
}
