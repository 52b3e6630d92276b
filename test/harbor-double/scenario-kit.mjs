// Helpers the exchange scenarios share (live-scenario, live-policies, retention-scenario, issue12-scenario): the
// command-line options, a status check that fails the recording loudly, and the rewrite that lets a replay
// against another host compare with what was recorded.

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
