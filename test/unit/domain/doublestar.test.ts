import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { doublestar } from '../../../src/domain/doublestar';
import { projectRoot } from '../../support/source-text';

/** Answers of bmatcuk/doublestar v1.1.1 itself (Harbor 2.5.5's glob library), recorded by scripts/doublestar-truth. */
const recorded = readFileSync(join(projectRoot, 'test/fixtures/harbor/doublestar-v1.1.1.tsv'), 'utf8')
  .trimEnd()
  .split('\n')
  .map((line) => {
    const [pattern, name, matched, verdict] = line.split('\t');
    return { pattern, name, want: verdict === 'error' ? 'error' : matched === 'true' ? 'match' : 'miss' };
  });

describe('doublestar (Harbor 2.5.5 immutable and retention selectors)', () => {
  it('the recording holds matches, misses and malformed patterns in numbers', () => {
    const count = (w: string) => recorded.filter((r) => r.want === w).length;
    expect(count('match')).toBeGreaterThan(500);
    expect(count('miss')).toBeGreaterThan(2000);
    expect(count('error')).toBeGreaterThan(1000);
  });

  it('answers every recorded case as doublestar v1.1.1 does', () => {
    const wrong = recorded.filter((r) => doublestar(r.pattern, r.name) !== r.want).map((r) => `${JSON.stringify(r.pattern)} vs ${JSON.stringify(r.name)}: want ${r.want}, got ${doublestar(r.pattern, r.name)}`);
    expect(wrong).toEqual([]);
  });

  it.each([
    ['v*', 'v1.0', 'match'],
    ['*', 'team/app', 'miss'],
    ['**', 'team/app', 'match'],
    ['team/**', 'team', 'miss'],
    ['a/**/b', 'a/b', 'match'],
    ['rel-{a,b}', 'rel-b', 'match'],
    ['rel-{a,}', 'rel-', 'miss'],
    ['[!a]', '!', 'match'],
    ['[^a]', 'b', 'match'],
    ['v(1|2)', 'v1', 'miss'],
    ['a|b', 'a|b', 'match'],
    ['./x', 'x', 'miss'],
    ['x/', 'x', 'match'],
    ['\\*', '*', 'match'],
    ['v[', 'v1', 'error'],
    ['x[', 'v1', 'miss'],
    ['{a,b\\}', 'b}', 'error'],
    ['{\\\\\\\\', 'b11b', 'error'],
  ])('%j against %j: %s', (pattern, name, want) => {
    expect(doublestar(pattern, name)).toBe(want);
  });

  it('stops a runaway pattern with "unknown" instead of blocking the event loop', () => {
    // doublestar's own recursion is exponential here; the remembered sub-problems would be ~60,000 steps
    expect(doublestar(`${'*a'.repeat(120)}b`, 'a'.repeat(128))).toBe('unknown');
    expect(doublestar(`${'{a,b,*}'.repeat(30)}c`, 'ab'.repeat(60))).toBe('unknown');
    // remembered sub-problems keep a backtracking miss cheap (without them: ~3.8 million attempts)
    expect(doublestar(`${'*a'.repeat(6)}b`, 'a'.repeat(40))).toBe('miss');
    // a long but cheap pattern is answered
    expect(doublestar(`${'*a'.repeat(10)}b`, `${'a'.repeat(40)}b`)).toBe('match');
    expect(doublestar('?'.repeat(255), 'a'.repeat(255))).toBe('match');
  });
});
