#!/usr/bin/env node
// Exchanges seen live on Harbor 2.5.5 that the shared recording (../shared/harbor-2.5.5/exchanges) does not hold:
// content negotiation (finding l) and digest references through harbor-core (finding m). One scenario, two uses:
//
//   record against a real Harbor (the kit in ../shared/harbor-2.5.5/real):
//     node test/harbor-double/live-scenario.mjs --record test/fixtures/harbor/live \
//          --target http://127.0.0.1:8880 --core http://127.0.0.1:8881 [--admin admin:Harbor12345]
//   replay against a target (the double, or Harbor again) and compare with those files:
//     node test/harbor-double/live-scenario.mjs --target URL [--core URL] [--fixtures test/fixtures/harbor/live]
//
// Files are written in the recorded format (README of ../shared/harbor-2.5.5) and compared with the shared
// conformance tool's own comparison (compare.mjs: ids as a bijection, timestamps by format, hosts normalised).
// Without --core every exchange goes to --target, which then plays harbor-core; exchanges marked `nginx` (Harbor's
// nginx decodes `%3A` first) are not applicable then. Requests go to loopback addresses only (lib.mjs refuses others).
// Last line: `live exchanges: N/M match`; exit 0 only when all applicable exchanges match.
import { option, must, hostNormFor, exchangeRun, lib, cmp } from './scenario-kit.mjs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { basic, createClient, buildImage, json, header } = lib;
const { compareExchange, IdMap } = cmp;

const opt = option;
const target = opt('target');
const coreUrl = opt('core');
const recordDir = opt('record');
const fixturesDir = opt('fixtures', path.resolve(HERE, '../fixtures/harbor/live'));
const [adminUser, adminPass] = opt('admin', 'admin:Harbor12345').split(':');
if (!target) {
  console.error('usage: live-scenario.mjs --target URL [--core URL] [--record DIR | --fixtures DIR]');
  process.exit(2);
}

const front = createClient(target);
const core = coreUrl ? createClient(coreUrl) : front;
const admin = basic(adminUser, adminPass, 'Basic <admin>');
const PROJECT = 'issue12-refs';
const img = buildImage({ kind: 'docker', files: [{ name: 'issue12.txt', content: 'digest references, issue 12\n' }], config: { architecture: 'amd64', os: 'linux', config: {} } });
const encoded = img.manifestDigest.replace(':', '%3A');

// ------------------------------------------------------------------ unrecorded steps
async function cleanup() {
  const repos = await front.request({ url: `/api/v2.0/projects/${PROJECT}/repositories?page_size=100`, auth: admin });
  for (const r of res2json(repos) ?? []) {
    const name = encodeURIComponent(encodeURIComponent(r.name.slice(PROJECT.length + 1)));
    await must(await front.request({ method: 'DELETE', url: `/api/v2.0/projects/${PROJECT}/repositories/${name}`, auth: admin }), `delete ${r.name}`, 200, 404);
  }
  await must(await front.request({ method: 'DELETE', url: `/api/v2.0/projects/${PROJECT}`, auth: admin }), 'delete project', 200, 403, 404);
}
const res2json = (res) => (res.status === 200 ? json(res) : undefined);
async function pushBlobs(client, repo) {
  for (const [digest, bytes] of [[img.layerDigest, img.layer], [img.configDigest, img.config]]) {
    const start = await must(await client.request({ method: 'POST', url: `/v2/${repo}/blobs/uploads/`, auth: admin }), `upload start ${repo}`, 202);
    const loc = new URL(header(start, 'location'), client.base);
    loc.searchParams.set('digest', digest);
    await must(await client.request({ method: 'PUT', url: loc.pathname + loc.search, auth: admin, headers: { 'Content-Type': 'application/octet-stream' }, body: bytes }), `upload ${repo}`, 201);
  }
}
async function gcId() {
  const list = await must(await front.request({ url: '/api/v2.0/system/gc?page_size=1', auth: admin }), 'gc history', 200);
  if (json(list).length) return json(list)[0].id;
  await must(await front.request({ method: 'POST', url: '/api/v2.0/system/gc/schedule', auth: admin, body: { schedule: { type: 'Manual' }, parameters: { delete_untagged: true, dry_run: true } } }), 'gc start', 201);
  for (let i = 0; i < 120; i++) {
    const l = json(await front.request({ url: '/api/v2.0/system/gc?page_size=1', auth: admin }));
    if (l[0] && l[0].job_status !== 'Running' && l[0].job_status !== 'Pending') return l[0].id;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('GC did not finish');
}

// ------------------------------------------------------------------ the scenario
// via: 'nginx' (Harbor's front door) or 'core' (harbor-core's own listener, what hubgate's Helm default uses)
function scenario(gc) {
  const json422 = 'go-swagger validates Accept against the operation\'s `produces` before the handler runs; no match -> InvalidResponseFormat inside a composite validation error, sent by Harbor as 422 UNPROCESSABLE_ENTITY.';
  const manifest = { 'Content-Type': img.manifestType };
  return [
    { slug: 'gc-log-accept-json', via: 'nginx', title: 'GET /api/v2.0/system/gc/{id}/log with Accept: application/json -> 422', notes: `The GC log produces text/plain. ${json422} This is what a client with a JSON-only Accept (hubgate's old default) gets.`,
      req: { url: `/api/v2.0/system/gc/${gc}/log`, auth: admin, headers: { Accept: 'application/json' } } },
    { slug: 'gc-log-accept-json-anonymous', via: 'nginx', title: 'GET /api/v2.0/system/gc/{id}/log without auth, Accept: application/json -> 422 (before the permission check)', notes: 'Negotiation runs before Harbor\'s handler, so even an anonymous caller gets 422 rather than 401.',
      req: { url: `/api/v2.0/system/gc/${gc}/log`, headers: { Accept: 'application/json' } } },
    { slug: 'gc-log-unknown-accept-json', via: 'nginx', title: 'GET /api/v2.0/system/gc/999999/log with Accept: application/json -> 422 (not 404)', notes: 'The unknown id is never looked up: validation fails first.',
      req: { url: '/api/v2.0/system/gc/999999/log', auth: admin, headers: { Accept: 'application/json' } } },
    { slug: 'gc-log-unknown-accept-text', via: 'nginx', title: 'GET /api/v2.0/system/gc/999999/log with Accept: text/plain -> 404', notes: 'With a matching Accept the handler runs and reports the unknown id.',
      req: { url: '/api/v2.0/system/gc/999999/log', auth: admin, headers: { Accept: 'text/plain' } } },
    { slug: 'ping-accept-json', via: 'nginx', title: 'GET /api/v2.0/ping with Accept: application/json -> 422', notes: `/ping produces text/plain. ${json422}`,
      req: { url: '/api/v2.0/ping', headers: { Accept: 'application/json' } } },
    { slug: 'ping-accept-json-then-text', via: 'nginx', title: 'GET /api/v2.0/ping with Accept: application/json, text/plain;q=0.5 -> 200 "Pong" as a JSON string', notes: 'The request passes (text/plain is acceptable), but the response format is negotiated again over produces + the API default application/json: JSON wins, and the text is sent JSON-encoded ("Pong" and a newline) with Content-Type application/json. The GC log behaves the same way.',
      req: { url: '/api/v2.0/ping', headers: { Accept: 'application/json, text/plain;q=0.5' } } },
    { slug: 'projects-list-accept-text', via: 'nginx', title: 'GET /api/v2.0/projects with Accept: text/plain -> 422', notes: `JSON operations refuse a non-JSON Accept the same way. ${json422}`,
      req: { url: '/api/v2.0/projects', auth: admin, headers: { Accept: 'text/plain' } } },
    { slug: 'project-create-accept-text', via: 'nginx', title: `POST /api/v2.0/projects ("${PROJECT}") with Accept: text/plain -> 201`, notes: 'A request WITH a body negotiates with its own Content-Type as the fallback, so Accept never fails it.',
      req: { method: 'POST', url: '/api/v2.0/projects', auth: admin, headers: { Accept: 'text/plain' }, body: { project_name: PROJECT, metadata: { public: 'false' } } } },
    { setup: async () => { await pushBlobs(core, `${PROJECT}/encoded`); await pushBlobs(core, `${PROJECT}/literal`); if (coreUrl) await pushBlobs(front, `${PROJECT}/nginx`); } },
    { slug: 'manifest-put-encoded-digest-core', via: 'core', title: `PUT /v2/${PROJECT}/encoded/manifests/sha256%3A<hex> through harbor-core -> 201`, notes: 'The digest reference with its ":" percent-encoded, sent to harbor-core directly (no nginx): distribution stores the manifest under its digest, but core takes the reference literally...',
      req: { method: 'PUT', url: `/v2/${PROJECT}/encoded/manifests/${encoded}`, auth: admin, headers: manifest, body: img.manifest } },
    { slug: 'manifest-put-tag-core', via: 'core', title: `PUT /v2/${PROJECT}/encoded/manifests/v1 through harbor-core (same manifest) -> 201`, notes: 'The usual second step of a push by digest: the tag.',
      req: { method: 'PUT', url: `/v2/${PROJECT}/encoded/manifests/v1`, auth: admin, headers: manifest, body: img.manifest } },
    { slug: 'tags-list-encoded-core', via: 'core', title: `GET /v2/${PROJECT}/encoded/tags/list -> a tag named "sha256%3A<hex>" beside v1`, notes: '...and creates a TAG named sha256%3A<hex>: the image now shows two tags, one of them garbage.',
      req: { url: `/v2/${PROJECT}/encoded/tags/list`, auth: admin } },
    { slug: 'artifact-tags-encoded', via: 'nginx', title: `GET /api/v2.0/projects/${PROJECT}/repositories/encoded/artifacts/<digest>/tags -> both tags`, notes: 'The same in the REST API.',
      req: { url: `/api/v2.0/projects/${PROJECT}/repositories/encoded/artifacts/${img.manifestDigest}/tags`, auth: admin } },
    { slug: 'manifest-put-literal-digest-core', via: 'core', title: `PUT /v2/${PROJECT}/literal/manifests/sha256:<hex> (literal ":") through harbor-core -> 201`, notes: 'A literal ":" is a digest reference: no tag.',
      req: { method: 'PUT', url: `/v2/${PROJECT}/literal/manifests/${img.manifestDigest}`, auth: admin, headers: manifest, body: img.manifest } },
    { slug: 'tags-list-literal-core', via: 'core', title: `GET /v2/${PROJECT}/literal/tags/list -> no tags`, notes: 'An untagged artifact.',
      req: { url: `/v2/${PROJECT}/literal/tags/list`, auth: admin } },
    { slug: 'manifest-put-encoded-digest-nginx', via: 'nginx', nginxOnly: true, title: `PUT /v2/${PROJECT}/nginx/manifests/sha256%3A<hex> through Harbor's nginx -> 201`, notes: 'Harbor\'s nginx (proxy_pass with a URI) decodes %3A before core sees the path...',
      req: { method: 'PUT', url: `/v2/${PROJECT}/nginx/manifests/${encoded}`, auth: admin, headers: manifest, body: img.manifest } },
    { slug: 'tags-list-encoded-nginx', via: 'nginx', nginxOnly: true, title: `GET /v2/${PROJECT}/nginx/tags/list -> no tags`, notes: '...so the same request through nginx stores an untagged artifact. Only a setup without nginx in front (core directly) shows the garbage tag.',
      req: { url: `/v2/${PROJECT}/nginx/tags/list`, auth: admin } },
    { slug: 'project-create-content-type-text', via: 'nginx', title: 'POST /api/v2.0/projects with a JSON body sent as Content-Type: text/plain -> 422', notes: 'go-swagger also checks a body\'s Content-Type against the operation\'s `consumes` (application/json everywhere in Harbor 2.5.5): InvalidContentType inside a composite validation error -> 422. Checked before Accept.',
      req: { method: 'POST', url: '/api/v2.0/projects', auth: admin, headers: { 'Content-Type': 'text/plain', Accept: 'text/plain' }, body: JSON.stringify({ project_name: `${PROJECT}-ct`, metadata: { public: 'false' } }) } },
    { slug: 'project-create-no-content-type-anonymous', via: 'nginx', title: 'POST /api/v2.0/projects with a body and no Content-Type, without auth -> 422 (+ Www-Authenticate: Basic realm="API")', notes: 'Without a Content-Type the body counts as application/octet-stream; as with every go-swagger validation error, a request without Basic credentials also gets the API realm challenge.',
      req: { method: 'POST', url: '/api/v2.0/projects', body: Buffer.from(JSON.stringify({ project_name: `${PROJECT}-ct`, metadata: { public: 'false' } })) } },
  ];
}

// ------------------------------------------------------------------ run
const run = exchangeRun({ name: 'live', prefix: 'L', recordDir, fixturesDir });

let exit = 0;
try {
  await cleanup();
  const gc = await gcId();
  const ids = new IdMap();
  let n = 0;
  for (const step of scenario(gc)) {
    if (step.setup) {
      await step.setup();
      continue;
    }
    n += 1;
    const client = step.via === 'core' ? core : front;
    if (!run.recording && step.nginxOnly && !coreUrl) {
      run.skip(n, step, "not applicable (needs Harbor's nginx in front of a separate core)");
      continue;
    }
    const r = { method: 'GET', ...step.req };
    const res = await client.request(r);
    if (run.recording) run.record(n, step, r, res);
    else run.compare(n, step, r, res, (rec) => compareExchange(rec, res, { ids, hostNorm: hostNormFor(rec.request.url, client) }));
  }
  await cleanup();
} catch (e) {
  console.error(`live scenario: TOOL ERROR ${e.stack ?? e}`);
  exit = 2;
} finally {
  front.close();
  if (core !== front) core.close();
}
run.finish(exit);
