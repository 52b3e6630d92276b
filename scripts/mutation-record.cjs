#!/usr/bin/env node
// Records what StrykerJS reports printed, per mutated file, in docs/mutation-scores.json: the SHA-256 of the source
// that was mutated, the counts by status, the score and every mutant left alive. Runs are made a file at a time on
// this machine (docs/testing.md), so the record is how a file's last score stays tied to the exact code it is for:
//
//   node scripts/mutation-record.cjs --commit <sha> reports/mutation/guarded/mutation.json [more reports …]
//
// A file's entry is replaced by the newest report given for it; other entries are kept.
//
//   node scripts/mutation-record.cjs --status
//
// prints, for every file the full run mutates (stryker.config.mjs), its recorded score and whether the record is
// for the source as it is now ('current'), for an older source ('stale') or missing; files with no runtime code
// (types only) are left out. Last line: the score over all recorded mutants, and over the current records alone.
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

/**
 * Where the full run stands (exported for its test): `files` maps each mutated file to the SHA-256 of its source
 * now, `null` for a file with no runtime code (nothing to mutate).
 */
function status(records, files) {
  const byFile = new Map(records.map((e) => [e.file, e]));
  const rows = [];
  const all = { detected: 0, valid: 0 };
  const current = { detected: 0, valid: 0 };
  for (const [file, hash] of [...files.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const e = byFile.get(file);
    if (!e && hash === null) continue;
    const state = !e ? 'missing' : e.sha256 === hash ? 'current' : 'stale';
    rows.push({ file, state, score: e ? e.score : null, commit: e ? e.commit : null, alive: e ? e.alive.length : null });
    if (!e) continue;
    const detected = e.killed + e.timeout;
    const valid = detected + e.survived + e.noCoverage;
    all.detected += detected;
    all.valid += valid;
    if (state === 'current') {
      current.detected += detected;
      current.valid += valid;
    }
  }
  const pct = (t) => (t.valid === 0 ? null : Math.round((t.detected / t.valid) * 10000) / 100);
  return { rows, score: pct(all), currentScore: pct(current), missing: rows.filter((r) => r.state === 'missing').length };
}

/** The files stryker.config.mjs mutates, each with the hash of its source (null: Stryker finds nothing to mutate). */
async function mutatedFiles(root) {
  const { execFileSync } = require('node:child_process');
  const { Instrumenter } = await import('@stryker-mutator/instrumenter');
  const quiet = () => false;
  const none = () => undefined;
  const logger = { isTraceEnabled: quiet, isDebugEnabled: quiet, isInfoEnabled: quiet, isWarnEnabled: quiet, isErrorEnabled: quiet, isFatalEnabled: quiet, trace: none, debug: none, info: none, warn: none, error: none, fatal: none };
  const instrumenter = new Instrumenter(logger);
  const config = readFileSync(path.join(root, 'stryker.config.mjs'), 'utf8');
  const excluded = new Set([...config.matchAll(/'!([^'*]+)'/g)].map((x) => x[1]));
  const listed = execFileSync('git', ['ls-files', 'src/**.ts', 'adapters/**.ts'], { cwd: root, encoding: 'utf8' }).split('\n');
  const files = new Map();
  for (const f of listed) {
    if (!f.endsWith('.ts') || excluded.has(f)) continue;
    const content = readFileSync(path.join(root, f), 'utf8');
    const { mutants } = await instrumenter.instrument([{ name: f, content, mutate: true }], { plugins: null, excludedMutations: [], ignorers: [] });
    files.set(f, mutants.length === 0 ? null : sha256(content));
  }
  return files;
}

async function printStatus(root) {
  const records = existsSync(RECORD) ? JSON.parse(readFileSync(RECORD, 'utf8')) : [];
  const s = status(records, await mutatedFiles(root));
  for (const r of s.rows) process.stdout.write(`${r.state.padEnd(8)}${r.score === null ? '      -' : `${r.score.toFixed(2).padStart(6)} %`}  ${r.commit ?? '-'}\t${r.alive ?? '-'} alive\t${r.file}\n`);
  process.stdout.write(`${s.rows.length} files, ${s.missing} not run yet; score of the recorded mutants ${s.score ?? '-'} %, of the current records ${s.currentScore ?? '-'} %\n`);
  return 0;
}

function main(argv) {
  if (argv[0] === '--status') return printStatus(path.join(__dirname, '..'));
  return recordReports(argv);
}

function recordReports(argv) {
  const args = [...argv];
  let commit;
  const at = args.indexOf('--commit');
  if (at >= 0) [, commit] = args.splice(at, 2);
  if (args.length === 0) {
    process.stderr.write('usage: node scripts/mutation-record.cjs [--commit <sha>] <mutation.json> [...] | --status\n');
    return 2;
  }
  const existing = existsSync(RECORD) ? JSON.parse(readFileSync(RECORD, 'utf8')) : [];
  const next = record(existing, args.map((f) => JSON.parse(readFileSync(f, 'utf8'))), commit);
  writeFileSync(RECORD, `${JSON.stringify(next, null, 2)}\n`);
  for (const e of next) process.stdout.write(`${e.file}\t${e.score === null ? '-' : `${e.score} %`}\t${e.alive.length} alive\n`);
  return 0;
}

if (require.main === module) {
  Promise.resolve(main(process.argv.slice(2))).then(
    (code) => (process.exitCode = code),
    (e) => {
      process.stderr.write(`${e.stack ?? e}\n`);
      process.exitCode = 1;
    },
  );
}

module.exports = { summarize, record, status, sha256, RECORD };
