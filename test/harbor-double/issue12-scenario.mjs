#!/usr/bin/env node
// Harbor 2.5.5 behaviours behind issue 12 that the shared recording does not hold, recorded with READ-ONLY requests
// only (GETs, failed logins under names that do not exist, anonymous token requests; writes only with credentials
// that cannot succeed): the session cookie on every answer and the CSRF check a replayed cookie triggers, the
// failed-login sleep and per-name lock, and how harbor-core and Harbor's nginx read /v2 paths (%2F, //, dot
// segments). One scenario, two uses:
//
//   record against a real Harbor (the kit in ../shared/harbor-2.5.5/real):
//     node test/harbor-double/issue12-scenario.mjs --record test/fixtures/harbor/issue12 \
//          --target http://127.0.0.1:8880 --core http://127.0.0.1:8881 [--admin admin:Harbor12345]
//   replay against the double (startHarborDouble({ nginx: true, wrongCredentialsDelayMs: 1500 })) or Harbor again:
//     node test/harbor-double/issue12-scenario.mjs --target NGINX_URL --core CORE_URL [--wrong-delay-ms 1500]
//
// Files use the recorded format (README of ../shared/harbor-2.5.5) and are compared with the shared conformance
// tool's compareExchange, plus what it leaves out and these exchanges are about: the cookies set (names and
// attributes), X-Harbor-Csrf-Token and Vary, and — with --wrong-delay-ms — the failed-login sleep (at least that long)
// and the lock (a second login under the same name, and another user's login, answered before the first).
// Without --wrong-delay-ms the timing exchanges are "not applicable". Loopback targets only.
// Last line: `issue12 exchanges: N/M match`; exit 0 only when all applicable ones match.
import fs from 'node:fs';
import http from 'node:http';
import { option, hostNormFor, exchangeRun, cmp } from './scenario-kit.mjs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { compareExchange, IdMap, headerOf } = cmp;

const opt = option;
const frontUrl = opt('target');
const coreUrl = opt('core');
const recordDir = opt('record');
const fixturesDir = opt('fixtures', path.resolve(HERE, '../fixtures/harbor/issue12'));
const delayMs = opt('wrong-delay-ms') ? Number(opt('wrong-delay-ms')) : undefined;
const [adminUser, adminPass] = opt('admin', 'admin:Harbor12345').split(':');
if (!frontUrl || !coreUrl) {
  console.error('usage: issue12-scenario.mjs --target NGINX_URL --core CORE_URL [--record DIR | --fixtures DIR] [--wrong-delay-ms N]');
  process.exit(2);
}
for (const u of [frontUrl, coreUrl]) {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(u).hostname)) {
    console.error(`refusing the non-loopback target ${u}`);
    process.exit(2);
  }
}

const UA = 'harbor-2.5.5-recorder/1.0 (node)';
const basic = (user, pass, label) => ({ header: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`, label });
const admin = basic(adminUser, adminPass, 'Basic <admin>');
// names that do not exist on any Harbor: their failed logins lock nothing anyone else uses
const nobody = basic('issue12-nobody', 'wrong-password-1', 'Basic <unknown user issue12-nobody, wrong password>');
const slow = basic('issue12-slow', 'wrong-password-1', 'Basic <unknown user issue12-slow, wrong password>');
const locked = basic('issue12-lock', 'wrong-password-1', 'Basic <unknown user issue12-lock, wrong password>');

/** A client that sends the path byte for byte (no URL normalisation), keep-alive like the shared tool's. */
function client(base) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const u = new URL(base);
  return {
    base,
    close: () => agent.destroy(),
    request({ method = 'GET', url, auth, headers = {}, body = null }) {
      const h = { 'User-Agent': UA, Connection: 'keep-alive', ...headers };
      let payload = null;
      if (body != null) {
        payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
        if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
      }
      if (payload || ['POST', 'PUT', 'PATCH'].includes(method)) h['Content-Length'] = String(payload ? payload.length : 0);
      if (auth) h.Authorization = auth.header;
      return new Promise((resolve, reject) => {
        const t0 = process.hrtime.bigint();
        const req = http.request({ host: u.hostname, port: u.port, method, path: url, headers: h, agent }, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const headersOut = {};
            for (let i = 0; i < res.rawHeaders.length; i += 2) {
              const k = res.rawHeaders[i], v = res.rawHeaders[i + 1];
              if (Object.prototype.hasOwnProperty.call(headersOut, k)) headersOut[k] = [].concat(headersOut[k], v);
              else headersOut[k] = v;
            }
            const reqHeaders = {};
            for (const name of req.getRawHeaderNames()) reqHeaders[name] = req.getHeader(name);
            resolve({
              status: res.statusCode, statusMessage: res.statusMessage, headers: headersOut, buf: Buffer.concat(chunks),
              elapsed_ms: Math.round(Number(process.hrtime.bigint() - t0) / 1e4) / 100, reqHeaders, url: `${base}${url}`, receivedAt: Date.now(), finishedAt: process.hrtime.bigint(),
            });
          });
          res.on('error', reject);
        });
        req.setTimeout(30000, () => req.destroy(new Error('no answer within 30 s')));
        req.on('error', reject);
        if (payload) req.write(payload);
        req.end();
      });
    },
  };
}
const front = client(frontUrl);
const core = client(coreUrl);

// ------------------------------------------------------------------ extra comparisons
const setCookies = (headers) => {
  const v = headers && Object.entries(headers).find(([k]) => k.toLowerCase() === 'set-cookie')?.[1];
  return v === undefined ? [] : [].concat(v);
};
/** name + attributes of each cookie set, values and expiry dates masked (`sid=<32 hex>; Path=/; HttpOnly`). */
const cookieShape = (headers) =>
  setCookies(headers)
    .map((c) => c.split(';').map((p) => p.trim()).map((p, i) => (i === 0 ? p.replace(/=.*/, (m) => (/^=[0-9a-f]{32}$/.test(m) ? '=<32 hex>' : '=<value>')) : p.replace(/^(Expires=).*/i, '$1<date>'))).join('; '))
    .sort();
function extraDiffs(rec, res) {
  const out = [];
  const a = JSON.stringify(cookieShape(rec.response.headers)), b = JSON.stringify(cookieShape(res.headers));
  if (a !== b) out.push(`Set-Cookie: expected ${a}, got ${b}`);
  for (const name of ['x-harbor-csrf-token', 'vary']) {
    const r = headerOf(rec.response.headers, name), t = headerOf(res.headers, name);
    if ((r === undefined) !== (t === undefined)) out.push(`header ${name}: ${r === undefined ? 'unexpected' : 'missing'}`);
    else if (name === 'vary' && r !== t) out.push(`header Vary: expected ${r}, got ${t}`);
  }
  return out;
}

// ------------------------------------------------------------------ the scenario
const manifest = { schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 2, digest: `sha256:${'4'.repeat(64)}` }, layers: [] };
const zero = `sha256:${'0'.repeat(64)}`;
const dotNote = 'harbor-core merges `//` but does not resolve dot segments: its v2 auth middleware cannot read the path and answers 401 "un-recognized request" with the decoded path (the first copy run through Go\'s fmt as a format string).';
const nginxNote = 'Harbor\'s nginx proxies /v2/ with a URI (proxy_pass http://core/v2/), so it decodes %XX, merges `//` and resolves dot segments before core sees the path.';

function scenario(sid) {
  const cookie = { Cookie: `sid=${sid}` };
  return [
    { slug: 'session-cookie-ping', via: 'nginx', title: 'GET /api/v2.0/ping -> 200 with Set-Cookie: sid=<32 hex>; Path=/; HttpOnly', notes: 'beego starts a session for every request that carries no sid cookie: every answer (REST, token service, /v2, errors) sets one. A gateway must neither pass it to its clients nor send it back.',
      req: { url: '/api/v2.0/ping' } },
    { slug: 'session-cookie-v2-anonymous', via: 'nginx', title: 'GET /v2/ without credentials -> 401 challenge, also with a session cookie', notes: 'The registry front sets it too.',
      req: { url: '/v2/' } },
    { slug: 'session-cookie-token', via: 'nginx', title: 'GET /service/token (anonymous, pull scope on library) -> 200, also with a session cookie', notes: 'The token service sets it too.',
      req: { url: '/service/token?service=harbor-registry&scope=repository:library/issue12-none:pull' } },
    { slug: 'session-replayed-get', via: 'nginx', title: 'GET /api/v2.0/users/current as admin WITH the sid cookie Harbor set -> 200, no new sid, but a CSRF cookie and token', notes: 'A request carrying sid counts as a UI request (session middleware), so gorilla/csrf runs: a safe method passes and gets X-Harbor-Csrf-Token, a _gorilla_csrf cookie and Vary: Cookie.',
      req: { url: '/api/v2.0/users/current', auth: admin, headers: cookie } },
    { slug: 'session-replayed-post', via: 'nginx', title: 'POST /api/v2.0/projects WITH the sid cookie (unknown user, wrong password) -> 403 "CSRF token invalid"', notes: 'Any unsafe method carrying sid without a matching X-Harbor-CSRF-Token is refused by the CSRF middleware BEFORE authentication (no 1.5 s sleep either): a gateway that replays Harbor\'s cookie loses every write, even with the right credentials. (Recorded with credentials that cannot succeed.)',
      req: { method: 'POST', url: '/api/v2.0/projects', auth: nobody, headers: cookie, body: { project_name: 'issue12-never', metadata: { public: 'false' } } } },
    { slug: 'session-replayed-v2-put', via: 'nginx', title: 'PUT /v2/library/issue12-none/manifests/v1 WITH the sid cookie (unknown user, wrong password) -> 403 "CSRF token invalid"', notes: 'The same on the registry front: /v2/ only skips the CSRF check for requests without a session.',
      req: { method: 'PUT', url: '/v2/library/issue12-none/manifests/v1', auth: nobody, headers: { ...cookie, 'Content-Type': manifest.mediaType }, body: manifest } },
    { slug: 'wrong-basic-delayed', via: 'nginx', timing: 'delayed', title: 'GET /api/v2.0/users/current, unknown user with a wrong password -> 401 after 1.5 s', notes: 'core/auth/authenticator.go: a failed password login sleeps frozenTime (1.5 s) — see elapsed_ms.',
      req: { url: '/api/v2.0/users/current', auth: slow } },
    { slug: 'wrong-basic-lock-first', via: 'nginx', timing: 'lock-first', title: 'GET /api/v2.0/users/current, unknown user issue12-lock, wrong password -> 401 after 1.5 s (locks the name)', notes: 'The failure also locks the name for 1.5 s (UserLock).',
      req: { url: '/api/v2.0/users/current', auth: locked } },
    { slug: 'wrong-basic-lock-same-name', via: 'nginx', timing: 'lock-same', title: '...300 ms later, the same name again -> 401 at once (answered before the first)', notes: 'While the name is locked a login under it fails at once, without checking the password and without the sleep.',
      req: { url: '/api/v2.0/users/current', auth: locked } },
    { slug: 'wrong-basic-lock-other-user', via: 'nginx', timing: 'lock-other', title: '...at the same time, admin with the right password -> 200 (answered before the first)', notes: 'The lock and the sleep are per name: other users are not held up.',
      req: { url: '/api/v2.0/users/current', auth: admin } },
    { slug: 'v2-encoded-slash-core', via: 'core', title: 'GET /v2/library%2Fissue12-none/tags/list through harbor-core -> 404 "repository library%2Fissue12-none not found"', notes: 'harbor-core keeps %2F inside the repository name.',
      req: { url: '/v2/library%2Fissue12-none/tags/list', auth: admin } },
    { slug: 'v2-encoded-slash-nginx', via: 'nginx', title: 'GET /v2/library%2Fissue12-none/tags/list through nginx -> 404 "repository library/issue12-none not found"', notes: nginxNote,
      req: { url: '/v2/library%2Fissue12-none/tags/list', auth: admin } },
    { slug: 'v2-double-slash-core', via: 'core', title: 'GET /v2//library//issue12-none/tags/list through harbor-core -> slashes merged', notes: 'harbor-core\'s mergeslash middleware.',
      req: { url: '/v2//library//issue12-none/tags/list', auth: admin } },
    { slug: 'v2-dot-segment-core', via: 'core', title: 'GET /v2/library/./issue12-none/tags/list through harbor-core -> 401 un-recognized request', notes: dotNote,
      req: { url: '/v2/library/./issue12-none/tags/list', auth: admin } },
    { slug: 'v2-dot-segment-nginx', via: 'nginx', title: 'GET /v2/library/./issue12-none/tags/list through nginx -> resolved', notes: nginxNote,
      req: { url: '/v2/library/./issue12-none/tags/list', auth: admin } },
    { slug: 'v2-encoded-dot-dot-core', via: 'core', title: 'GET /v2/library/x%2F..%2Fissue12-none/tags/list through harbor-core -> 401 un-recognized (decoded path in the message)', notes: dotNote,
      req: { url: '/v2/library/x%2F..%2Fissue12-none/tags/list', auth: admin } },
    { slug: 'v2-encoded-dot-dot-nginx', via: 'nginx', title: 'GET /v2/library/x%2F..%2Fissue12-none/tags/list through nginx -> decoded, then resolved', notes: nginxNote,
      req: { url: '/v2/library/x%2F..%2Fissue12-none/tags/list', auth: admin } },
    { slug: 'v2-double-encoded-slash-core', via: 'core', title: 'GET /v2/library%252Fissue12-none/tags/list through harbor-core -> 401 un-recognized, "%!F(MISSING)" in the message', notes: 'A % left after decoding: the path is un-recognized, and the decoded path used as a format string shows Go\'s %!F(MISSING).',
      req: { url: '/v2/library%252Fissue12-none/tags/list', auth: admin } },
    { slug: 'v2-above-root-nginx', via: 'nginx', title: 'GET /v2/../../x through nginx -> 400 (nginx\'s own page)', notes: 'A dot segment climbing above the root is refused by nginx itself.',
      req: { url: '/v2/../../x', auth: admin } },
    { slug: 'v2-dot-dot-to-api-nginx', via: 'nginx', title: 'GET /v2/../api/v2.0/ping through nginx -> 200 Pong', notes: 'nginx resolves the dot segment first: the request lands on the REST API, not on /v2 — a gateway must check the path it forwards, not the one it was sent.',
      req: { url: '/v2/../api/v2.0/ping' } },
    { slug: 'manifest-encoded-digest-unknown-repo-core', via: 'core', title: 'GET /v2/library/issue12-none/manifests/sha256%3A<zeros> through harbor-core -> 404 "repository … not found"', notes: 'Through core the encoded digest is a tag reference: an unknown repository is named.',
      req: { url: `/v2/library/issue12-none/manifests/${zero.replace(':', '%3A')}`, auth: admin } },
    { slug: 'manifest-encoded-digest-unknown-repo-nginx', via: 'nginx', title: 'GET /v2/library/issue12-none/manifests/sha256%3A<zeros> through nginx -> 404 "artifact …@sha256:… not found"', notes: 'Decoded by nginx it is a digest: looked up as an artifact, whatever the repository.',
      req: { url: `/v2/library/issue12-none/manifests/${zero.replace(':', '%3A')}`, auth: admin } },
  ];
}

// ------------------------------------------------------------------ run
const run = exchangeRun({ name: 'issue12', prefix: 'R', recordDir, fixturesDir });

let exit = 0;
try {
  const first = await front.request({ url: '/api/v2.0/ping' });
  const sid = /sid=([0-9a-f]+)/.exec(setCookies(first.headers).join(' '))?.[1] ?? 'none';
  const steps = scenario(sid);
  const results = new Map();
  // the lock steps run together: first, then (300 ms later) the same name and another user at once
  const lockIdx = ['lock-first', 'lock-same', 'lock-other'].map((t) => steps.findIndex((s) => s.timing === t));
  const ids = new IdMap();
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    const c = step.via === 'core' ? core : front;
    if (i === lockIdx[0]) {
      const p1 = c.request({ method: 'GET', ...step.req });
      await new Promise((r) => setTimeout(r, 300));
      const [p2, p3] = [front.request({ method: 'GET', ...steps[lockIdx[1]].req }), front.request({ method: 'GET', ...steps[lockIdx[2]].req })];
      const [r1, r2, r3] = await Promise.all([p1, p2, p3]);
      results.set(lockIdx[0], r1);
      results.set(lockIdx[1], r2);
      results.set(lockIdx[2], r3);
    } else if (!results.has(i)) results.set(i, await c.request({ method: 'GET', ...step.req }));
  }
  const lockRes = lockIdx.map((i) => results.get(i));
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    const n = i + 1;
    const r = { method: 'GET', ...step.req };
    const res = results.get(i);
    const c = step.via === 'core' ? core : front;
    if (run.recording) {
      run.record(n, step, r, res, ` (${res.elapsed_ms} ms)`);
      continue;
    }
    if (step.timing && delayMs === undefined) {
      run.skip(n, step, 'not applicable (needs --wrong-delay-ms)');
      continue;
    }
    run.compare(n, step, r, res, (rec) => {
      const diffs = [...compareExchange(rec, res, { ids, hostNorm: hostNormFor(rec.request.url, c) }), ...extraDiffs(rec, res)];
      if (step.timing === 'delayed' || step.timing === 'lock-first') {
        if (res.elapsed_ms < delayMs * 0.95) diffs.push(`answered after ${res.elapsed_ms} ms, before the failed-login sleep of ${delayMs} ms`);
      }
      if (step.timing === 'lock-same' || step.timing === 'lock-other') {
        if (!(res.finishedAt < lockRes[0].finishedAt)) diffs.push('answered after the first failed login (held up by it)');
      }
      return diffs;
    });
  }
} catch (e) {
  console.error(`issue12 scenario: TOOL ERROR ${e.stack ?? e}`);
  exit = 2;
} finally {
  front.close();
  core.close();
}
run.finish(exit);
