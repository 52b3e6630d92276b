/**
 * scripts/mutation-record.cjs: a StrykerJS report summarised per file (hash of the mutated source, counts, score,
 * mutants left alive), and the record updated file by file.
 */
import { createHash } from 'node:crypto';

interface Mutant { id: string; status: string; mutatorName: string; replacement?: string; location: { start: { line: number; column: number } } }
interface Entry { source: string; mutants: Mutant[] }
interface Summary {
  file: string;
  sha256: string;
  commit: string | null;
  killed: number;
  timeout: number;
  survived: number;
  noCoverage: number;
  compileErrors: number;
  ignored: number;
  score: number | null;
  alive: { line: number; column: number; status: string; mutator: string; replacement: string }[];
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { summarize, record, status } = require('../../../scripts/mutation-record.cjs') as {
  summarize: (file: string, entry: Entry, commit?: string) => Summary;
  record: (existing: Summary[], reports: { files: Record<string, Entry> }[], commit?: string) => Summary[];
  status: (
    records: Summary[],
    files: Map<string, string | null>,
  ) => { rows: { file: string; state: string; score: number | null; commit: string | null; alive: number | null }[]; score: number | null; currentScore: number | null; missing: number };
};
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

const m = (status: string, line: number, mutatorName = 'ConditionalExpression', replacement = 'true', column = 3): Mutant => ({ id: `${line}:${column}:${status}`, status, mutatorName, replacement, location: { start: { line, column } } });

describe('mutation-record', () => {
  it('counts each status, scores detected / (detected + survived + no coverage), lists the live ones by place', () => {
    const entry: Entry = {
      source: 'const a = 1;\n',
      mutants: [
        m('Killed', 1),
        m('Killed', 2),
        m('Timeout', 3),
        m('Survived', 9, 'StringLiteral', '""'),
        m('NoCoverage', 4),
        m('Survived', 4, 'EqualityOperator', 'a !== b', 1),
        m('CompileError', 5),
        m('Ignored', 6),
        m('Ignored', 7),
      ],
    };
    expect(summarize('src/a.ts', entry, 'abc1234')).toStrictEqual({
      file: 'src/a.ts',
      sha256: createHash('sha256').update('const a = 1;\n').digest('hex'),
      commit: 'abc1234',
      killed: 2,
      timeout: 1,
      survived: 2,
      noCoverage: 1,
      compileErrors: 1,
      ignored: 2,
      // 3 detected of 6 valid
      score: 50,
      alive: [
        { line: 4, column: 1, status: 'Survived', mutator: 'EqualityOperator', replacement: 'a !== b' },
        { line: 4, column: 3, status: 'NoCoverage', mutator: 'ConditionalExpression', replacement: 'true' },
        { line: 9, column: 3, status: 'Survived', mutator: 'StringLiteral', replacement: '""' },
      ],
    });
  });

  it('rounds the score to two decimals; no commit is null; nothing run is a null score', () => {
    const third = summarize('f', { source: '', mutants: [m('Killed', 1), m('Killed', 2), m('Survived', 3)] });
    expect(third.score).toBe(66.67);
    expect(third.commit).toBeNull();
    expect(summarize('f', { source: '', mutants: [m('CompileError', 1), m('Ignored', 2)] }).score).toBeNull();
    expect(summarize('f', { source: '', mutants: [m('Timeout', 1)] }).score).toBe(100);
  });

  it('replaces the entries of the files reported, keeps the others, sorted by file', () => {
    const old = summarize('src/b.ts', { source: 'b', mutants: [m('Survived', 1)] }, 'old');
    const kept = summarize('src/c.ts', { source: 'c', mutants: [m('Killed', 1)] }, 'old');
    const next = record([kept, old], [{ files: { 'src/b.ts': { source: 'b2', mutants: [m('Killed', 1)] }, 'src/a.ts': { source: 'a', mutants: [] } } }], 'new');
    expect(next.map((e) => [e.file, e.commit, e.score])).toStrictEqual([
      ['src/a.ts', 'new', null],
      ['src/b.ts', 'new', 100],
      ['src/c.ts', 'old', 100],
    ]);
  });

  it('status: each mutated file current, stale or missing; files with nothing to mutate left out; scores over all records and over current ones', () => {
    const current = summarize('src/a.ts', { source: 'a', mutants: [m('Killed', 1), m('Timeout', 2), m('Survived', 3)] }, 'c1');
    const stale = summarize('src/b.ts', { source: 'b-old', mutants: [m('Killed', 1), m('NoCoverage', 2), m('Ignored', 3)] }, 'c0');
    const gone = summarize('src/deleted.ts', { source: 'x', mutants: [m('Survived', 1)] }, 'c0');
    const files = new Map<string, string | null>([
      ['src/b.ts', sha('b-new')],
      ['src/types.ts', null],
      ['src/new.ts', sha('n')],
      ['src/a.ts', sha('a')],
    ]);
    const s = status([stale, gone, current], files);
    expect(s.rows).toStrictEqual([
      { file: 'src/a.ts', state: 'current', score: 66.67, commit: 'c1', alive: 1 },
      { file: 'src/b.ts', state: 'stale', score: 50, commit: 'c0', alive: 1 },
      { file: 'src/new.ts', state: 'missing', score: null, commit: null, alive: null },
    ]);
    // 3 detected of 5 (the ignored mutant and the deleted file's record count for nothing)
    expect(s.score).toBe(60);
    expect(s.currentScore).toBe(66.67);
    expect(s.missing).toBe(1);
    expect(status([], new Map([['src/types.ts', null]]))).toStrictEqual({ rows: [], score: null, currentScore: null, missing: 0 });
  });
});
