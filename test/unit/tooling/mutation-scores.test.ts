/**
 * docs/mutation-scores.json against the code: every guarded file (stryker.guarded.config.mjs) has a recorded
 * Stryker run of exactly its current source (same SHA-256), at 90 % or more, with no mutant left alive (an
 * equivalent one is marked in the source and never run). Changing a guarded file therefore means running its
 * mutation test and recording it (scripts/mutation-record.cjs; docs/testing.md) before it can land.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../../..');
const config = fs.readFileSync(path.join(root, 'stryker.guarded.config.mjs'), 'utf8');
const list = /export const guarded = \[([^\]]*)\]/.exec(config);
const guarded = [...(list?.[1] ?? '').matchAll(/'([^']+)'/g)].map((m) => m[1]);
const recorded = JSON.parse(fs.readFileSync(path.join(root, 'docs/mutation-scores.json'), 'utf8')) as { file: string; sha256: string; score: number | null; alive: unknown[] }[];
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(path.join(root, file))).digest('hex');

describe('mutation scores of the guarded files', () => {
  it('the guarded list is read from stryker.guarded.config.mjs (12 files)', () => {
    expect(guarded).toHaveLength(12);
    expect(guarded).toContain('src/domain/credentials.service.ts');
  });

  it.each(guarded)('%s: its recorded run is of the current source, at 90 %% or more, nothing left alive', (file) => {
    const entry = recorded.find((e) => e.file === file);
    expect({ file: entry?.file, current: entry?.sha256 === sha256(file) }).toStrictEqual({ file, current: true });
    expect(entry!.score).toBeGreaterThanOrEqual(90);
    expect(entry!.alive).toStrictEqual([]);
  });
});
