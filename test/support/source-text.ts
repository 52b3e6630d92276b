import fs from 'node:fs';
import path from 'node:path';

/** The repository root, also from inside a StrykerJS sandbox (`<root>/.stryker-tmp/sandbox-…/`). */
export const projectRoot = path.resolve(__dirname, '../..').replace(/[\\/]\.stryker-tmp[\\/]sandbox-[^\\/]+$/, '');

/**
 * A source file's text as written, for tests that read code as text (which variables config.ts reads, which
 * operation ids a router names). In a StrykerJS sandbox the copy beside the test is instrumented — every literal
 * wrapped in `stryMutAct_…() ? … : …` — so it is read from the repository root instead.
 */
export function sourceText(relative: string): string {
  return fs.readFileSync(path.join(projectRoot, relative), 'utf8');
}
