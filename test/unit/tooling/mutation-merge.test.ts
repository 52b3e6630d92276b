/**
 * scripts/mutation-merge.cjs: per-file StrykerJS incremental files merged into one that seeds a whole run. Each
 * report numbers its tests from 0; the merge must keep every mutant pointing at the same tests (by file and name).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { mergeReports } = require('../../../scripts/mutation-merge.cjs') as { mergeReports: (r: MutationReport[]) => MutationReport };

interface Test { id: string; name: string; location?: { start: { line: number; column: number } } }
interface Mutant { id: string; status: string; coveredBy?: string[]; killedBy?: string[] }
interface MutationReport {
  schemaVersion: string;
  files: Record<string, { source: string; mutants: Mutant[] }>;
  testFiles: Record<string, { source: string; tests: Test[] }>;
}

const at = (line: number) => ({ start: { line, column: 2 } });
const a: MutationReport = {
  schemaVersion: '1.0',
  files: { 'src/a.ts': { source: 'a', mutants: [{ id: '1', status: 'Killed', coveredBy: ['0', '1'], killedBy: ['1'] }] } },
  testFiles: {
    'test/x.test.ts': { source: 'x1', tests: [{ id: '0', name: 'x one', location: at(3) }] },
    'test/y.test.ts': { source: 'y1', tests: [{ id: '1', name: 'y one', location: at(5) }] },
  },
};
const b: MutationReport = {
  schemaVersion: '1.0',
  files: { 'src/b.ts': { source: 'b', mutants: [{ id: '1', status: 'Survived', coveredBy: ['0', '1'] }] } },
  testFiles: {
    'test/y.test.ts': { source: 'y1', tests: [{ id: '0', name: 'y one', location: at(5) }] },
    'test/z.test.ts': { source: 'z1', tests: [{ id: '1', name: 'z one', location: at(7) }] },
  },
};

/** The tests a mutant names, as "file › name", through the merged report's numbering. */
function named(r: MutationReport, file: string, field: 'coveredBy' | 'killedBy'): string[] {
  const byId = new Map<string, string>();
  for (const [f, tf] of Object.entries(r.testFiles)) for (const t of tf.tests) byId.set(t.id, `${f} › ${t.name}`);
  return (r.files[file].mutants[0][field] ?? []).map((id) => byId.get(id)!).sort();
}

describe('mutation-merge (per-file incremental files → one)', () => {
  it('keeps every mutant pointing at the same tests although each report numbered its tests from 0', () => {
    const m = mergeReports([a, b]);
    expect(Object.keys(m.files).sort()).toEqual(['src/a.ts', 'src/b.ts']);
    expect(named(m, 'src/a.ts', 'coveredBy')).toEqual(['test/x.test.ts › x one', 'test/y.test.ts › y one']);
    expect(named(m, 'src/a.ts', 'killedBy')).toEqual(['test/y.test.ts › y one']);
    expect(named(m, 'src/b.ts', 'coveredBy')).toEqual(['test/y.test.ts › y one', 'test/z.test.ts › z one']);
    expect(m.files['src/b.ts'].mutants[0].killedBy).toBeUndefined();
  });

  it('a test met in two reports is one test with one id', () => {
    const m = mergeReports([a, b]);
    expect(Object.values(m.testFiles).flatMap((tf) => tf.tests.map((t) => t.name)).sort()).toEqual(['x one', 'y one', 'z one']);
    const ids = Object.values(m.testFiles).flatMap((tf) => tf.tests.map((t) => t.id));
    expect(new Set(ids).size).toBe(3);
  });

  it('a file mutated in two reports keeps the later report; a test file keeps the later source', () => {
    const newer: MutationReport = {
      schemaVersion: '1.0',
      files: { 'src/a.ts': { source: 'a2', mutants: [{ id: '1', status: 'Survived', coveredBy: ['0'] }] } },
      testFiles: { 'test/x.test.ts': { source: 'x2', tests: [{ id: '0', name: 'x one', location: at(3) }] } },
    };
    const m = mergeReports([a, newer]);
    expect(m.files['src/a.ts']).toEqual({ source: 'a2', mutants: [{ id: '1', status: 'Survived', coveredBy: [m.testFiles['test/x.test.ts'].tests[0].id] }] });
    expect(m.testFiles['test/x.test.ts'].source).toBe('x2');
  });

  it('refuses a mutant naming a test its report does not have, and an empty list', () => {
    const broken: MutationReport = { ...a, files: { 'src/a.ts': { source: 'a', mutants: [{ id: '1', status: 'Killed', killedBy: ['9'] }] } } };
    expect(() => mergeReports([broken])).toThrow('test id 9 is not among the report\'s tests');
    expect(() => mergeReports([])).toThrow('nothing to merge');
  });
});
