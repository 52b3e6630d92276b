// Helpers the exchange scenarios share (live-scenario, live-policies, retention-scenario, issue12-scenario): the
// shared conformance tool, the command-line options, a status check that fails the recording loudly, the rewrite
// that lets a replay against another host compare with what was recorded, and the record-or-compare run itself.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const KIT = path.resolve(HERE, '../../../shared/harbor-2.5.5/conformance');
/** The shared conformance tool (../shared/harbor-2.5.5/conformance): its client library and its comparison. */
export const lib = await import(path.join(KIT, 'lib.mjs'));
export const cmp = await import(path.join(KIT, 'compare.mjs'));

/** `--name value` options of this process (`def` when absent). */
export function option(name, def) {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
}

/** The answer, when its status is one of `ok`; else an error naming the step and the start of the body. */
export async function must(res, what, ...ok) {
  if (!ok.includes(res.status)) throw new Error(`${what}: status ${res.status} ${res.buf.toString('utf8').slice(0, 200)}`);
  return res;
}

/** Rewrites the replay target's origin and host (of `client.base`) in a string to the recorded URL's. */
export function hostNormFor(recUrl, client) {
  const rec = new URL(recUrl);
  const tgt = new URL(client.base);
  return (s) => (typeof s === 'string' ? s.split(`${tgt.protocol}//${tgt.host}`).join(rec.origin).split(tgt.host).join(rec.host) : s);
}

/** The request body as the recording format holds it: null, the JSON value sent, or a described Buffer. */
function sentBody(r) {
  if (r.body == null) return { body: null };
  return Buffer.isBuffer(r.body) ? lib.describeBody(r.body, cmp.headerOf(r.headers, 'content-type')) : { body: r.body };
}

/**
 * One scenario run over numbered exchanges (`<prefix>NN-<slug>.json`): with `recordDir` each exchange is written
 * in the recording format (Authorization shown as the credential's label, bodies described); otherwise it is
 * compared with its file in `fixturesDir` (the request as sent, then what `compare(recorded)` finds) and tallied.
 * `finish(exit)` ends the process: the tool error's code, or (replaying) `<name> exchanges: N/M match` and 0 only
 * when every compared exchange matched.
 */
export function exchangeRun({ name, prefix, recordDir, fixturesDir }) {
  let counted = 0;
  let failed = 0;
  if (recordDir) fs.mkdirSync(recordDir, { recursive: true });
  const pad = (n) => `${prefix}${String(n).padStart(2, '0')}`;
  const file = (n, step) => `${pad(n)}-${step.slug}.json`;
  return {
    recording: Boolean(recordDir),
    /** Prints why exchange `n` is not compared on this target. */
    skip(n, step, why) {
      console.log(`${pad(n)} ${step.slug}: ${why}`);
    },
    /** Writes exchange `n` (request `r`, answer `res`); `note` ends the printed line. */
    record(n, step, r, res, note = '') {
      const sent = sentBody(r);
      const reqHeaders = { ...res.reqHeaders };
      for (const k of Object.keys(reqHeaders)) if (k.toLowerCase() === 'authorization') reqHeaders[k] = r.auth.label;
      const d = lib.describeBody(res.buf, cmp.headerOf(res.headers, 'content-type'));
      const doc = {
        title: step.title,
        notes: step.notes,
        request: { method: r.method, url: res.url, headers: reqHeaders, body: sent.body, ...(sent.raw !== undefined ? { raw: sent.raw } : {}) },
        response: { status: res.status, status_text: res.statusMessage, headers: res.headers, body: d.body, ...(d.raw !== undefined ? { raw: d.raw } : {}) },
        elapsed_ms: res.elapsed_ms,
      };
      fs.writeFileSync(path.join(recordDir, file(n, step)), JSON.stringify(doc, null, 2) + '\n');
      console.log(`${pad(n)} ${step.slug}: recorded ${res.status}${note}`);
    },
    /** Compares exchange `n` with its recording: the request as sent, then `compare(recorded)` (a list of differences). */
    compare(n, step, r, res, compare) {
      const rec = JSON.parse(fs.readFileSync(path.join(fixturesDir, file(n, step)), 'utf8'));
      const diffs = [...cmp.checkRequest(rec.request, { method: r.method, url: res.url, authLabel: r.auth?.label, body: sentBody(r).body }), ...compare(rec)];
      counted += 1;
      if (diffs.length) failed += 1;
      console.log(`${pad(n)} ${step.slug}: ${diffs.length ? `MISMATCH ${diffs.slice(0, 3).join('; ')}${diffs.length > 3 ? ` (+${diffs.length - 3} more)` : ''}` : 'ok'}`);
    },
    finish(exit) {
      if (exit) process.exit(exit);
      if (recordDir) return;
      console.log(`${name} exchanges: ${counted - failed}/${counted} match`);
      process.exit(failed ? 1 : 0);
    },
  };
}
