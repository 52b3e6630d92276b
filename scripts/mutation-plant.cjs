#!/usr/bin/env node
// Applies the mutants a StrykerJS report left alive (Survived, NoCoverage) to the CURRENT source, one at a time,
// runs a command after each, and restores the file: "killed" when the command fails, "ALIVE" when it passes. It is
// how survivors of an older run are checked against tests written since, without a whole Stryker run:
//
//   node scripts/mutation-plant.cjs <mutation.json> <file substring> -- <command …>
//   node scripts/mutation-plant.cjs reports/mutation/full/mutation.json gc.service -- npx jest test/unit/gc --silent
//
// A mutant is found by the text of its line in the report's source: a line that is gone, or now appears more than
// once, is SKIPped (apply that mutant by hand). The file is restored after every run, and on Ctrl-C.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

/**
 * The current source with `mutant` applied, or the reason it cannot be placed (exported for its test).
 * `reported` is the source the report was made for; positions are 1-based lines and columns, end exclusive.
 */
function applyMutant(current, reported, mutant) {
  const { start, end } = mutant.location;
  const old = reported.split('\n');
  const line = old[start.line - 1];
  if (line === undefined) return { skip: 'the line is not in the reported source' };
  const range =
    start.line === end.line
      ? line.slice(start.column - 1, end.column - 1)
      : [line.slice(start.column - 1), ...old.slice(start.line, end.line - 1), old[end.line - 1].slice(0, end.column - 1)].join('\n');
  const lines = current.split('\n');
  const at = lines.indexOf(line);
  if (at < 0) return { skip: 'its line is no longer in the source' };
  if (lines.indexOf(line, at + 1) >= 0) return { skip: 'its line appears more than once now' };
  const offset = lines.slice(0, at).reduce((n, l) => n + l.length + 1, 0) + start.column - 1;
  if (!current.startsWith(range, offset)) return { skip: 'the code after its line changed' };
  return { source: current.slice(0, offset) + (mutant.replacement ?? '') + current.slice(offset + range.length) };
}

function main(argv) {
  const sep = argv.indexOf('--');
  const [reportPath, only] = argv.slice(0, sep < 0 ? argv.length : sep);
  const command = sep < 0 ? [] : argv.slice(sep + 1);
  if (!reportPath || !only || command.length === 0) {
    console.error('usage: node scripts/mutation-plant.cjs <mutation.json> <file substring> -- <command …>');
    return 2;
  }
  const report = JSON.parse(readFileSync(reportPath, 'utf8'));
  const files = Object.entries(report.files).filter(([file]) => file.includes(only));
  if (files.length === 0) {
    console.error(`no file of the report matches "${only}"`);
    return 2;
  }
  for (const [file, entry] of files) {
    const abs = path.resolve(file);
    const current = readFileSync(abs, 'utf8');
    const restore = () => writeFileSync(abs, current);
    process.once('SIGINT', () => {
      restore();
      process.exit(130);
    });
    const counts = { killed: 0, alive: 0, skipped: 0 };
    const alive = entry.mutants.filter((m) => m.status === 'Survived' || m.status === 'NoCoverage');
    for (const m of alive) {
      const name = `${m.location.start.line}:${m.location.start.column} ${m.mutatorName} -> ${JSON.stringify(m.replacement ?? '').slice(0, 60)}`;
      const placed = applyMutant(current, entry.source, m);
      if (placed.skip) {
        counts.skipped++;
        console.log(`SKIP   ${name} (${placed.skip})`);
        continue;
      }
      writeFileSync(abs, placed.source);
      let run;
      try {
        run = spawnSync(command[0], command.slice(1), { stdio: 'ignore' });
      } finally {
        restore();
      }
      const killed = run.status !== 0;
      counts[killed ? 'killed' : 'alive']++;
      console.log(`${killed ? 'killed' : 'ALIVE '} ${name}`);
    }
    console.log(`## ${file}: ${counts.killed} killed, ${counts.alive} alive, ${counts.skipped} skipped`);
  }
  return 0;
}

module.exports = { applyMutant };
if (require.main === module) process.exitCode = main(process.argv.slice(2));
