#!/usr/bin/env node
// Merges StrykerJS incremental files (mutation-testing-report-schema JSON) into one, so that runs made one file or
// one folder at a time (`--mutate <file> --incremental --incrementalFile <own file>`) seed a whole run:
//
//   node scripts/mutation-merge.cjs reports/mutation/full/stryker-incremental.json a.json b.json ...
//   npm run test:mutation -- --incremental      # re-runs only what changed since those runs
//
// Each report numbers its tests from 0 and its mutants' coveredBy/killedBy name those numbers, so the tests are
// renumbered here by (test file, test name, location); a mutated file present in several inputs keeps the last one
// given (the newest run first in, the oldest last: pass them oldest first). Test files keep the last source seen.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');

/** Merges parsed reports; exported for its test. */
function mergeReports(reports) {
  if (reports.length === 0) throw new Error('nothing to merge');
  const out = { ...reports[reports.length - 1], files: {}, testFiles: {} };
  const ids = new Map(); // "file\0name\0line:col" -> new id
  const byFile = new Map(); // test file -> Map(key -> test)
  const idOf = (file, test) => {
    const at = test.location?.start ? `${test.location.start.line}:${test.location.start.column}` : '';
    const key = `${file}\0${test.name}\0${at}`;
    let id = ids.get(key);
    if (id === undefined) {
      id = String(ids.size);
      ids.set(key, id);
    }
    if (!byFile.has(file)) byFile.set(file, new Map());
    byFile.get(file).set(key, { ...test, id });
    return id;
  };
  for (const report of reports) {
    const renumber = new Map();
    for (const [file, tf] of Object.entries(report.testFiles ?? {})) {
      for (const t of tf.tests) renumber.set(t.id, idOf(file, t));
      out.testFiles[file] = { ...(out.testFiles[file] ?? {}), ...tf, tests: undefined };
    }
    const map = (list) => list?.map((id) => {
      const n = renumber.get(id);
      if (n === undefined) throw new Error(`test id ${id} is not among the report's tests`);
      return n;
    });
    for (const [file, f] of Object.entries(report.files)) {
      out.files[file] = { ...f, mutants: f.mutants.map((m) => ({ ...m, coveredBy: map(m.coveredBy), killedBy: map(m.killedBy) })) };
    }
  }
  for (const [file, tf] of Object.entries(out.testFiles)) tf.tests = [...(byFile.get(file)?.values() ?? [])];
  return out;
}

module.exports = { mergeReports };

if (require.main === module) {
  const [target, ...inputs] = process.argv.slice(2);
  if (!target || inputs.length === 0) {
    console.error('usage: node scripts/mutation-merge.cjs <output.json> <incremental.json>...');
    process.exit(2);
  }
  const merged = mergeReports(inputs.map((p) => JSON.parse(readFileSync(p, 'utf8'))));
  writeFileSync(target, JSON.stringify(merged));
  const mutants = Object.values(merged.files).reduce((n, f) => n + f.mutants.length, 0);
  console.log(`${target}: ${Object.keys(merged.files).length} mutated file(s), ${mutants} mutant(s), ${Object.keys(merged.testFiles).length} test file(s)`);
}
