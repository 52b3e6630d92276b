/**
 * Workspace names (Harbor's project-name rule and length) and the registry username derived from a platform
 * project id: safe ids kept as they are, others a slug plus a hash of the id, so two ids never share a username.
 */
import { createHash } from 'node:crypto';
import { registryUsername, workspaceNameProblem } from '../../../src/domain/names';

const hash8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8);
const RULES = 'workspace name must be lower-case letters and digits, separated by single ".", "_" or "-" (Harbor project-name rules)';

describe('workspaceNameProblem', () => {
  it('accepts 1 to 255 characters of Harbor project-name rules, names the problem otherwise', () => {
    expect(workspaceNameProblem('a')).toBeUndefined();
    expect(workspaceNameProblem('a'.repeat(255))).toBeUndefined();
    expect(workspaceNameProblem('')).toBe('workspace name must be 1 to 255 characters');
    expect(workspaceNameProblem('a'.repeat(256))).toBe('workspace name must be 1 to 255 characters');
    expect(workspaceNameProblem('Team-a')).toBe(RULES);
    expect(workspaceNameProblem('team--a')).toBe(RULES);
  });
});

describe('registryUsername', () => {
  it('keeps a safe id of up to 40 characters as it is, after trimming blanks', () => {
    expect(registryUsername('p-', '  team-a  ')).toBe('p-team-a');
    expect(registryUsername('p-', 'a'.repeat(40))).toBe(`p-${'a'.repeat(40)}`);
  });

  it('a safe id of 41 characters: its first 30 and the hash of the whole id', () => {
    expect(registryUsername('p-', 'a'.repeat(41))).toBe(`p-${'a'.repeat(30)}-${hash8('a'.repeat(41))}`);
  });

  it('an unsafe id: lower-cased, each run of other characters one "-", none at the ends, then the hash of the trimmed id', () => {
    expect(registryUsername('p-', ' -Team_A..B-- ')).toBe(`p-team-a-b-${hash8('-Team_A..B--')}`);
    expect(registryUsername('robot-', 'ÄÖ x')).toBe(`robot-x-${hash8('ÄÖ x')}`);
  });

  it('an id with nothing to keep is the hash alone; ids that slug alike still differ', () => {
    expect(registryUsername('p-', '@@@')).toBe(`p-${hash8('@@@')}`);
    expect(registryUsername('p-', 'Team A')).not.toBe(registryUsername('p-', 'team-a'));
    expect(registryUsername('p-', 'Team A')).toBe(`p-team-a-${hash8('Team A')}`);
  });
});
