/**
 * scripts/mutation-plant.cjs: the mutants a StrykerJS report left alive, put into the current source one at a
 * time (found by the text of their line), a command run after each, the file restored.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

interface Mutant { status: string; mutatorName: string; replacement?: string; location: { start: { line: number; column: number }; end: { line: number; column: number } } }
const script = path.resolve(__dirname, '../../../scripts/mutation-plant.cjs');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { applyMutant } = require(script) as { applyMutant: (current: string, reported: string, m: Mutant) => { source?: string; skip?: string } };

const REPORTED = ['const a = 1;', 'if (a > 0) go();', 'const b = [', '  1,', '];'].join('\n');
const at = (line: number, column: number, endLine: number, endColumn: number, replacement: string, status = 'Survived'): Mutant => ({
  status,
  mutatorName: 'X',
  replacement,
  location: { start: { line, column }, end: { line: endLine, column: endColumn } },
});

describe('mutation-plant: applyMutant', () => {
  it('replaces exactly the reported range, on the line where it is now', () => {
    const moved = `// a new first line\n${REPORTED}`;
    expect(applyMutant(moved, REPORTED, at(2, 5, 2, 10, 'a >= 0')).source).toBe(moved.replace('a > 0', 'a >= 0'));
    expect(applyMutant(REPORTED, REPORTED, at(1, 11, 1, 12, '2')).source).toBe(REPORTED.replace('= 1;', '= 2;'));
  });

  it('a range over several lines', () => {
    expect(applyMutant(REPORTED, REPORTED, at(3, 11, 5, 2, '[]')).source).toBe('const a = 1;\nif (a > 0) go();\nconst b = [];');
  });

  it('skips a mutant whose line is gone, now appears twice, or whose code changed after the line start', () => {
    expect(applyMutant('const a = 1;', REPORTED, at(2, 5, 2, 10, 'true'))).toEqual({ skip: 'its line is no longer in the source' });
    expect(applyMutant(`${REPORTED}\nif (a > 0) go();`, REPORTED, at(2, 5, 2, 10, 'true'))).toEqual({ skip: 'its line appears more than once now' });
    expect(applyMutant(REPORTED.replace('  1,\n];', '  2,\n];'), REPORTED, at(3, 11, 5, 2, '[]'))).toEqual({ skip: 'the code after its line changed' });
    expect(applyMutant(REPORTED, REPORTED, at(9, 1, 9, 2, 'x'))).toEqual({ skip: 'the line is not in the reported source' });
  });
});

describe('mutation-plant: the command', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plant-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs the command once per live mutant with it applied, reports killed / ALIVE / SKIP, and restores the file', () => {
    const source = 'export const limit = 10;\nexport const name = "x";\n';
    fs.mkdirSync(path.join(dir, 'src'));
    fs.writeFileSync(path.join(dir, 'src/f.ts'), source);
    const report = {
      files: {
        'src/f.ts': {
          source,
          mutants: [
            at(1, 22, 1, 24, '11'), // the "test" below fails on it: killed
            at(2, 21, 2, 24, '""', 'NoCoverage'), // passes: alive
            { ...at(1, 22, 1, 24, '12'), status: 'Killed' }, // already killed: not run
            at(7, 1, 7, 2, 'x'), // not placeable: skipped
          ],
        },
      },
    };
    fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify(report));
    const seen = path.join(dir, 'seen.txt');
    const check = `const fs=require('fs');const s=fs.readFileSync('src/f.ts','utf8');fs.appendFileSync(${JSON.stringify(seen)},s+'---\\n');process.exit(s.includes('limit = 10;')?0:1)`;
    const out = execFileSync(process.execPath, [script, 'report.json', 'f.ts', '--', process.execPath, '-e', check], { cwd: dir, encoding: 'utf8' });
    expect(out.split('\n')).toEqual([
      'killed 1:22 X -> "11"',
      'ALIVE  2:21 X -> "\\"\\""',
      'SKIP   7:1 X -> "x" (the line is not in the reported source)',
      '## src/f.ts: 1 killed, 1 alive, 1 skipped',
      '',
    ]);
    expect(fs.readFileSync(seen, 'utf8')).toBe('export const limit = 11;\nexport const name = "x";\n---\nexport const limit = 10;\nexport const name = "";\n---\n');
    expect(fs.readFileSync(path.join(dir, 'src/f.ts'), 'utf8')).toBe(source);
  });

  it('without a command or a matching file: usage, exit 2, nothing touched', () => {
    fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify({ files: {} }));
    const run = (args: string[]) => {
      try {
        execFileSync(process.execPath, [script, ...args], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
        return 0;
      } catch (e) {
        return (e as { status: number }).status;
      }
    };
    expect(run(['report.json', 'f.ts'])).toBe(2);
    expect(run(['report.json', 'f.ts', '--', 'true'])).toBe(2);
  });
});
