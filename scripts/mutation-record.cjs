#!/usr/bin/env node
// Records what StrykerJS reports printed, per mutated file, in docs/mutation-scores.json: the SHA-256 of the source
// that was mutated, the counts by status, the score and every mutant left alive. Runs are made a file at a time on
// this machine (docs/testing.md), so the record is how a file's last score stays tied to the exact code it is for:
//
//   node scripts/mutation-record.cjs --commit <sha> reports/mutation/guarded/mutation.json [more reports …]
//
// A file's entry is replaced by the newest report given for it; other entries are kept.
'use strict';
const { createHash } = require('node:crypto');
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const RECORD = path.join(__dirname, '..', 'docs', 'mutation-scores.json');
const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/** One file of a report, summarised (exported for its test). */
function summarize(file, entry, commit) {
  const counts = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, CompileError: 0, RuntimeError: 0, Ignored: 0 };
  const alive = [];
  for (const m of entry.mutants) {
    counts[m.status] = (counts[m.status] ?? 0) + 1;
    if (m.status === 'Survived' || m.status === 'NoCoverage') {
      alive.push({ line: m.location.start.line, column: m.location.start.column, status: m.status, mutator: m.mutatorName, replacement: m.replacement ?? '' });
    }
  }
  alive.sort((x, y) => x.line - y.line || x.column - y.column || x.mutator.localeCompare(y.mutator));
  const detected = counts.Killed + counts.Timeout;
  const valid = detected + counts.Survived + counts.NoCoverage;
  return {
    file,
    sha256: sha256(entry.source),
    commit: commit ?? null,
    killed: counts.Killed,
    timeout: counts.Timeout,
    survived: counts.Survived,
    noCoverage: counts.NoCoverage,
    compileErrors: counts.CompileError,
    ignored: counts.Ignored,
    // Stryker's mutation score: detected / (detected + undetected), two decimals; null when nothing ran.
    score: valid === 0 ? null : Math.round((detected / valid) * 10000) / 100,
    alive,
  };
}

/** The record with every file of `reports` replaced by its newest summary (exported for its test). */
function record(existing, reports, commit) {
  const byFile = new Map(existing.map((e) => [e.file, e]));
  for (const report of reports) for (const [file, entry] of Object.entries(report.files)) byFile.set(file, summarize(file, entry, commit));
  return [...byFile.values()].sort((x, y) => x.file.localeCompare(y.file));
}

function main(argv) {
  const args = [...argv];
  let commit;
  const at = args.indexOf('--commit');
  if (at >= 0) [, commit] = args.splice(at, 2);
  if (args.length === 0) {
    process.stderr.write('usage: node scripts/mutation-record.cjs [--commit <sha>] <mutation.json> [...]\n');
    return 2;
  }
  const existing = existsSync(RECORD) ? JSON.parse(readFileSync(RECORD, 'utf8')) : [];
  const next = record(existing, args.map((f) => JSON.parse(readFileSync(f, 'utf8'))), commit);
  writeFileSync(RECORD, `${JSON.stringify(next, null, 2)}\n`);
  for (const e of next) process.stdout.write(`${e.file}\t${e.score === null ? '-' : `${e.score} %`}\t${e.alive.length} alive\n`);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { summarize, record, sha256, RECORD };
