#!/usr/bin/env node
// Records GET /api/v2.0/repositories on a real Harbor 2.5.5 (read-only GETs; needs at least 3 repositories there) into
// test/fixtures/harbor/live/R01–R10, which test/e2e/images.catalog.e2e.test.ts replays against the double:
//   node test/harbor-double/live-repositories.mjs [--target http://127.0.0.1:8881] [--admin admin:Harbor12345]
// R01 lists every repository (the double is seeded from it); the other queries take their bounds from R01's rows.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const arg = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const base = arg('--target', 'http://127.0.0.1:8881');
if (!/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/.test(base)) throw new Error('loopback targets only');
const auth = 'Basic ' + Buffer.from(arg('--admin', 'admin:Harbor12345')).toString('base64');
const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'harbor', 'live');
const all = await (await fetch(`${base}/api/v2.0/repositories?sort=repository_id&page_size=100`, { headers: { Authorization: auth } })).json();
if (all.length < 3) throw new Error('need at least 3 repositories in the real Harbor');
const sec = (iso) => iso.slice(0, 19);
const mid = all[Math.floor(all.length / 2)];
const last = all.reduce((a, r) => (r.update_time > a ? r.update_time : a), '');
const later = new Date(Date.parse(sec(last) + 'Z') + 1000).toISOString().slice(0, 19);
const word = mid.name.split('/')[0].toUpperCase();
const enc = (q) => encodeURIComponent(q).replace(/%2F/g, '/');
const cases = [
  ['R01-repositories-all-by-id', 'sort=repository_id&page_size=100', 'every repository, by id (the seed of the double test)'],
  ['R02-repositories-page-size-too-big', 'page_size=101', 'page_size above 100: 422 in Harbor\'s envelope'],
  ['R03-repositories-update-time-from', `q=${enc(`update_time=[${sec(mid.update_time)}~]`)}&sort=-update_time&page_size=100`, 'range with a lower bound only (whole seconds, UTC, inclusive), newest first'],
  ['R04-repositories-update-time-from-later', `q=${enc(`update_time=[${later}~]`)}&page_size=100`, 'a lower bound after every row'],
  ['R05-repositories-update-time-to', `q=${enc(`update_time=[~${sec(mid.update_time)}]`)}&page_size=100`, 'an upper bound only: whole seconds, so rows later in that second are out'],
  ['R06-repositories-update-time-fraction', `q=${enc(`update_time=[${mid.update_time.slice(0, 23)}~]`)}&page_size=100`, 'fractional seconds are not a time for Harbor\'s q parser: the bound has no effect'],
  ['R07-repositories-name-fuzzy-case', `q=${enc(`name=~${word}`)}&page_size=100`, 'fuzzy match ignores case'],
  ['R08-repositories-id-range', `q=${enc(`repository_id=[${mid.id}~]`)}&page_size=100`, 'range on repository_id'],
  ['R09-repositories-sort-update-time-desc', 'sort=-update_time&page_size=2', 'newest update first, paged (Link rel=next)'],
  ['R10-repositories-sort-update-time-asc', 'sort=update_time&page_size=1', 'oldest update first'],
];
for (const [name, query, notes] of cases) {
  const url = `${base}/api/v2.0/repositories?${query}`;
  const res = await fetch(url, { headers: { Authorization: auth } });
  const text = await res.text();
  const headers = {};
  for (const [k, v] of res.headers) if (!/^(set-cookie|date|x-request-id)$/i.test(k)) headers[k] = v;
  const rec = {
    title: `GET /api/v2.0/repositories?${decodeURIComponent(query)}`,
    notes,
    request: { method: 'GET', url: url, headers: { Authorization: 'Basic <admin>' }, body: null },
    response: { status: res.status, headers, body: JSON.parse(text) },
  };
  fs.writeFileSync(path.join(OUT, `${name}.json`), JSON.stringify(rec, null, 2) + '\n');
  console.log(name, res.status, headers['x-total-count']);
}
