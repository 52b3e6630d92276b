#!/usr/bin/env node
// Exchanges seen live on Harbor 2.5.5 for workspace policies (issue 13): storage quota at project creation and
// enforcement on blob upload, blob mount and manifest PUT; immutable tag rules (create, list, push over an
// immutable tag, delete of an immutable tag/artifact/repository through the REST API and the registry).
// Same two uses as live-scenario.mjs:
//
//   record against a freshly reset real Harbor (the kit in ../shared/harbor-2.5.5/real, `reset.sh`; harbor-core
//   directly; a Harbor that has seen the scenario's 8 KiB blob before answers P07 from the registry instead):
//     node test/harbor-double/live-policies.mjs --record test/fixtures/harbor/live-policies --target http://127.0.0.1:8881
//   replay against a target (the double, or Harbor again) and compare with those files:
//     node test/harbor-double/live-policies.mjs --target URL [--fixtures test/fixtures/harbor/live-policies]
//
// Compared with the shared conformance tool's compare.mjs. Last line: `policy exchanges: N/M match`.
import { option, must, hostNormFor, exchangeRun, lib, cmp } from './scenario-kit.mjs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { basic, createClient, buildImage, json, header, pseudoRandom, sha256 } = lib;
const { compareExchange, IdMap } = cmp;

const opt = option;
const target = opt('target');
const recordDir = opt('record');
const fixturesDir = opt('fixtures', path.resolve(HERE, '../fixtures/harbor/live-policies'));
const [adminUser, adminPass] = opt('admin', 'admin:Harbor12345').split(':');
if (!target) {
  console.error('usage: live-policies.mjs --target URL [--record DIR | --fixtures DIR]');
  process.exit(2);
}

const client = createClient(target);
const admin = basic(adminUser, adminPass, 'Basic <admin>');
const QP = 'issue13-quota';
const IP = 'issue13-immu';
const OTHER = 'issue13-other';
const GP = 'issue16-glob';
const small = buildImage({ kind: 'docker', files: [{ name: 'q.txt', content: 'quota, issue 13\n' }], config: { architecture: 'amd64', os: 'linux', config: {} } });
const v1 = buildImage({ kind: 'docker', files: [{ name: 'r.txt', content: 'release 1\n' }], config: { architecture: 'amd64', os: 'linux', config: {} } });
const v2 = buildImage({ kind: 'docker', files: [{ name: 'r.txt', content: 'release 2\n' }], config: { architecture: 'amd64', os: 'linux', config: {} } });
const big = pseudoRandom(8192, 'issue13');
const bigDigest = sha256(big);

// ------------------------------------------------------------------ unrecorded steps
const res2json = (res) => (res.status === 200 ? json(res) : undefined);
async function cleanupProject(p) {
  const rules = res2json(await client.request({ url: `/api/v2.0/projects/${p}/immutabletagrules`, auth: admin })) ?? [];
  for (const r of rules) await client.request({ method: 'DELETE', url: `/api/v2.0/projects/${p}/immutabletagrules/${r.id}`, auth: admin });
  const repos = res2json(await client.request({ url: `/api/v2.0/projects/${p}/repositories?page_size=100`, auth: admin })) ?? [];
  for (const r of repos) {
    const name = encodeURIComponent(encodeURIComponent(r.name.slice(p.length + 1)));
    await must(await client.request({ method: 'DELETE', url: `/api/v2.0/projects/${p}/repositories/${name}`, auth: admin }), `delete ${r.name}`, 200, 404);
  }
  await must(await client.request({ method: 'DELETE', url: `/api/v2.0/projects/${p}`, auth: admin }), `delete project ${p}`, 200, 403, 404);
}
async function cleanup() {
  for (const p of [QP, IP, OTHER, GP]) await cleanupProject(p);
}
async function pushBlob(repo, digest, bytes) {
  const start = await must(await client.request({ method: 'POST', url: `/v2/${repo}/blobs/uploads/`, auth: admin }), `upload start ${repo}`, 202);
  const loc = new URL(header(start, 'location'), client.base);
  loc.searchParams.set('digest', digest);
  await must(await client.request({ method: 'PUT', url: loc.pathname + loc.search, auth: admin, headers: { 'Content-Type': 'application/octet-stream' }, body: bytes }), `upload ${repo}`, 201);
}
async function pushBlobs(repo, img) {
  await pushBlob(repo, img.layerDigest, img.layer);
  await pushBlob(repo, img.configDigest, img.config);
}
const ctx = {};
async function projectIds(name) {
  const p = json(await must(await client.request({ url: `/api/v2.0/projects/${name}`, auth: admin }), `get ${name}`, 200));
  const q = json(await must(await client.request({ url: `/api/v2.0/quotas?reference=project&reference_id=${p.project_id}`, auth: admin }), `quota of ${name}`, 200));
  return { id: p.project_id, quota: q[0].id };
}
async function startUpload(repo) {
  const start = await must(await client.request({ method: 'POST', url: `/v2/${repo}/blobs/uploads/`, auth: admin }), `upload start ${repo}`, 202);
  return new URL(header(start, 'location'), client.base);
}

const rule = (tag, repo = '**', extra = {}) => ({
  disabled: false, action: 'immutable', template: 'immutable_template',
  tag_selectors: [{ kind: 'doublestar', decoration: 'matches', pattern: tag }],
  scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: repo }] },
  ...extra,
});

// ------------------------------------------------------------------ the scenario
function scenario() {
  const mt = (img) => ({ 'Content-Type': img.manifestType });
  return [
    // ---- quota
    { slug: 'project-create-storage-limit', title: `POST /api/v2.0/projects ("${QP}", storage_limit 4096) -> 201`, notes: 'storage_limit in bytes is the quota\'s hard limit from creation on.',
      req: () => ({ method: 'POST', url: '/api/v2.0/projects', auth: admin, body: { project_name: QP, metadata: { public: 'false' }, storage_limit: 4096 } }) },
    { slug: 'project-create-storage-limit-invalid', title: `POST /api/v2.0/projects (storage_limit -5) -> 400`, notes: 'A negative limit other than -1 is refused at creation.',
      req: () => ({ method: 'POST', url: '/api/v2.0/projects', auth: admin, body: { project_name: `${QP}-bad`, metadata: { public: 'false' }, storage_limit: -5 } }) },
    { setup: async () => { Object.assign(ctx, { q: await projectIds(QP) }); } },
    { slug: 'quota-list-by-project', title: `GET /api/v2.0/quotas?reference=project&reference_id=<id> -> hard 4096, used 0`, notes: 'One quota per project.',
      req: () => ({ url: `/api/v2.0/quotas?reference=project&reference_id=${ctx.q.id}`, auth: admin }) },
    { setup: async () => { await pushBlobs(`${QP}/app`, small); } },
    { slug: 'quota-manifest-put-fits', title: `PUT /v2/${QP}/app/manifests/v1 -> 201`, notes: 'Within the limit.',
      req: () => ({ method: 'PUT', url: `/v2/${QP}/app/manifests/v1`, auth: admin, headers: mt(small), body: small.manifest }) },
    { slug: 'quota-get-used', title: 'GET /api/v2.0/quotas/<id> -> used = layer + config + manifest', notes: 'used.storage is the sum of the project\'s unique blob sizes.',
      req: () => ({ url: `/api/v2.0/quotas/${ctx.q.quota}`, auth: admin }) },
    { setup: async () => { ctx.loc = await startUpload(`${QP}/big`); ctx.loc.searchParams.set('digest', bigDigest); } },
    { slug: 'quota-blob-put-exceeds', title: `PUT <upload>?digest=<8 KiB blob> -> 403 DENIED`, notes: 'The blob upload\'s completing PUT is refused once the blob would take the project over its limit; go-humanize sizes in the message.',
      req: () => ({ method: 'PUT', url: ctx.loc.pathname + ctx.loc.search, auth: admin, headers: { 'Content-Type': 'application/octet-stream' }, body: big }) },
    { slug: 'quota-head-denied-blob', title: `HEAD /v2/${QP}/big/blobs/<8 KiB blob> -> 404`, notes: 'Nothing of the refused blob is left in the project.',
      req: () => ({ method: 'HEAD', url: `/v2/${QP}/big/blobs/${bigDigest}`, auth: admin }) },
    { slug: 'project-create-other', title: `POST /api/v2.0/projects ("${OTHER}", unlimited) -> 201`, notes: 'Source of a cross-project mount.',
      req: () => ({ method: 'POST', url: '/api/v2.0/projects', auth: admin, body: { project_name: OTHER, metadata: { public: 'false' } } }) },
    { setup: async () => { await pushBlob(`${OTHER}/src`, bigDigest, big); } },
    { slug: 'quota-blob-mount-exceeds', title: `POST /v2/${QP}/big/blobs/uploads/?mount=<8 KiB blob>&from=${OTHER}/src -> 403 DENIED`, notes: 'A cross-repository mount counts like an upload.',
      req: () => ({ method: 'POST', url: `/v2/${QP}/big/blobs/uploads/?mount=${bigDigest}&from=${OTHER}/src`, auth: admin }) },
    { setup: async () => {
      await pushBlobs(`${QP}/app`, v1);
      const used = json(await client.request({ url: `/api/v2.0/quotas/${ctx.q.quota}`, auth: admin })).used.storage;
      await must(await client.request({ method: 'PUT', url: `/api/v2.0/quotas/${ctx.q.quota}`, auth: admin, body: { hard: { storage: used } } }), 'lower quota', 200);
    } },
    { slug: 'quota-manifest-put-exceeds', title: `PUT /v2/${QP}/app/manifests/v2 with the limit at the current usage -> 403 DENIED`, notes: 'The manifest itself is counted too: its blobs fit, the manifest does not.',
      req: () => ({ method: 'PUT', url: `/v2/${QP}/app/manifests/v2`, auth: admin, headers: mt(v1), body: v1.manifest }) },
    { slug: 'quota-update-unlimited', title: 'PUT /api/v2.0/quotas/<id> {"hard":{"storage":-1}} -> 200', notes: '-1 = no limit.',
      req: () => ({ method: 'PUT', url: `/api/v2.0/quotas/${ctx.q.quota}`, auth: admin, body: { hard: { storage: -1 } } }) },
    { slug: 'quota-update-zero', title: 'PUT /api/v2.0/quotas/<id> {"hard":{"storage":0}} -> ?', notes: 'Whether 0 is a limit.',
      req: () => ({ method: 'PUT', url: `/api/v2.0/quotas/${ctx.q.quota}`, auth: admin, body: { hard: { storage: 0 } } }) },
    { slug: 'quota-get-after-zero', title: 'GET /api/v2.0/quotas/<id> after the 0 update', notes: 'What 0 became.',
      req: () => ({ url: `/api/v2.0/quotas/${ctx.q.quota}`, auth: admin }) },
    { slug: 'quota-update-missing-storage', title: 'PUT /api/v2.0/quotas/<id> {"hard":{}} -> ?', notes: 'An empty hard map.',
      req: () => ({ method: 'PUT', url: `/api/v2.0/quotas/${ctx.q.quota}`, auth: admin, body: { hard: {} } }) },
    { slug: 'quota-update-not-found', title: 'PUT /api/v2.0/quotas/999999 -> 404', notes: '',
      req: () => ({ method: 'PUT', url: '/api/v2.0/quotas/999999', auth: admin, body: { hard: { storage: 100 } } }) },
    // ---- immutability
    { slug: 'project-create-immu', title: `POST /api/v2.0/projects ("${IP}") -> 201`, notes: '',
      req: () => ({ method: 'POST', url: '/api/v2.0/projects', auth: admin, body: { project_name: IP, metadata: { public: 'false' } } }) },
    { slug: 'immu-rules-empty', title: `GET /api/v2.0/projects/${IP}/immutabletagrules -> []`, notes: '',
      req: () => ({ url: `/api/v2.0/projects/${IP}/immutabletagrules`, auth: admin }) },
    { slug: 'immu-rule-create', title: `POST /api/v2.0/projects/${IP}/immutabletagrules (tags v*, repos **) -> 201`, notes: 'Location names the rule id.',
      req: () => ({ method: 'POST', url: `/api/v2.0/projects/${IP}/immutabletagrules`, auth: admin, body: rule('v*') }) },
    { slug: 'immu-rule-create-duplicate', title: `POST the same rule again -> ?`, notes: 'Duplicate rules.',
      req: () => ({ method: 'POST', url: `/api/v2.0/projects/${IP}/immutabletagrules`, auth: admin, body: rule('v*') }) },
    { slug: 'immu-rule-create-repo-scoped', title: `POST /api/v2.0/projects/${IP}/immutabletagrules (tags rel-{a,b}, repos team/**) -> 201`, notes: 'Braces and a repository scope.',
      req: () => ({ method: 'POST', url: `/api/v2.0/projects/${IP}/immutabletagrules`, auth: admin, body: rule('rel-{a,b}', 'team/**') }) },
    { slug: 'immu-rule-create-no-selectors', title: `POST a rule without tag_selectors -> ?`, notes: 'Validation.',
      req: () => ({ method: 'POST', url: `/api/v2.0/projects/${IP}/immutabletagrules`, auth: admin, body: { disabled: false, action: 'immutable', template: 'immutable_template', scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: '**' }] } } }) },
    { slug: 'immu-rules-list', title: `GET /api/v2.0/projects/${IP}/immutabletagrules -> the rules`, notes: 'Shape of a stored rule.',
      req: () => ({ url: `/api/v2.0/projects/${IP}/immutabletagrules`, auth: admin }) },
    { slug: 'immu-rules-unknown-project', title: 'GET /api/v2.0/projects/issue13-nope/immutabletagrules -> ?', notes: '',
      req: () => ({ url: '/api/v2.0/projects/issue13-nope/immutabletagrules', auth: admin }) },
    { setup: async () => { await pushBlobs(`${IP}/app`, v1); await pushBlobs(`${IP}/app`, v2); await pushBlobs(`${IP}/team/x`, v1); await pushBlobs(`${IP}/team/x`, v2); } },
    { slug: 'immu-push-first', title: `PUT /v2/${IP}/app/manifests/v1 (first push of a protected tag) -> 201`, notes: 'Rules only protect existing tags.',
      req: () => ({ method: 'PUT', url: `/v2/${IP}/app/manifests/v1`, auth: admin, headers: mt(v1), body: v1.manifest }) },
    { slug: 'immu-push-overwrite', title: `PUT /v2/${IP}/app/manifests/v1 (another manifest) -> 412`, notes: 'Overwriting an immutable tag.',
      req: () => ({ method: 'PUT', url: `/v2/${IP}/app/manifests/v1`, auth: admin, headers: mt(v2), body: v2.manifest }) },
    { slug: 'immu-push-same', title: `PUT /v2/${IP}/app/manifests/v1 (the same manifest again) -> ?`, notes: 'Re-pushing identical content.',
      req: () => ({ method: 'PUT', url: `/v2/${IP}/app/manifests/v1`, auth: admin, headers: mt(v1), body: v1.manifest }) },
    { slug: 'immu-push-unprotected', title: `PUT /v2/${IP}/app/manifests/dev twice with different manifests -> 201`, notes: 'A tag no rule matches.',
      req: () => ({ method: 'PUT', url: `/v2/${IP}/app/manifests/dev`, auth: admin, headers: mt(v1), body: v1.manifest }) },
    { slug: 'immu-push-unprotected-again', title: `PUT /v2/${IP}/app/manifests/dev (another manifest) -> 201`, notes: '',
      req: () => ({ method: 'PUT', url: `/v2/${IP}/app/manifests/dev`, auth: admin, headers: mt(v2), body: v2.manifest }) },
    { slug: 'immu-artifact-tags', title: `GET /api/v2.0/projects/${IP}/repositories/app/artifacts/v1?with_immutable_status=true`, notes: 'The immutable flag per tag.',
      req: () => ({ url: `/api/v2.0/projects/${IP}/repositories/app/artifacts/v1?with_immutable_status=true`, auth: admin }) },
    { slug: 'immu-tag-delete', title: `DELETE /api/v2.0/projects/${IP}/repositories/app/artifacts/v1/tags/v1 -> ?`, notes: 'Deleting an immutable tag.',
      req: () => ({ method: 'DELETE', url: `/api/v2.0/projects/${IP}/repositories/app/artifacts/v1/tags/v1`, auth: admin }) },
    { slug: 'immu-artifact-delete', title: `DELETE /api/v2.0/projects/${IP}/repositories/app/artifacts/v1 -> ?`, notes: 'Deleting the artifact an immutable tag points to.',
      req: () => ({ method: 'DELETE', url: `/api/v2.0/projects/${IP}/repositories/app/artifacts/v1`, auth: admin }) },
    { slug: 'immu-manifest-delete', title: `DELETE /v2/${IP}/app/manifests/<digest of v1> -> ?`, notes: 'Through the registry API.',
      req: () => ({ method: 'DELETE', url: `/v2/${IP}/app/manifests/${v1.manifestDigest}`, auth: admin }) },
    { slug: 'immu-repo-delete', title: `DELETE /api/v2.0/projects/${IP}/repositories/app -> ?`, notes: 'Deleting the repository that holds an immutable tag.',
      req: () => ({ method: 'DELETE', url: `/api/v2.0/projects/${IP}/repositories/app`, auth: admin }) },
    { slug: 'immu-scoped-push-first', title: `PUT /v2/${IP}/team/x/manifests/rel-a -> 201`, notes: '',
      req: () => ({ method: 'PUT', url: `/v2/${IP}/team/x/manifests/rel-a`, auth: admin, headers: mt(v1), body: v1.manifest }) },
    { slug: 'immu-scoped-push-overwrite', title: `PUT /v2/${IP}/team/x/manifests/rel-a (another manifest) -> 412`, notes: 'Brace pattern, repository team/** matches team/x.',
      req: () => ({ method: 'PUT', url: `/v2/${IP}/team/x/manifests/rel-a`, auth: admin, headers: mt(v2), body: v2.manifest }) },
    { slug: 'immu-push-to-scope-outside', title: `PUT /v2/${IP}/app/manifests/rel-a twice -> 201`, notes: 'team/** does not match app.',
      req: () => ({ method: 'PUT', url: `/v2/${IP}/app/manifests/rel-a`, auth: admin, headers: mt(v1), body: v1.manifest }) },
    { slug: 'immu-push-to-scope-outside-again', title: `PUT /v2/${IP}/app/manifests/rel-a (another manifest) -> 201`, notes: '',
      req: () => ({ method: 'PUT', url: `/v2/${IP}/app/manifests/rel-a`, auth: admin, headers: mt(v2), body: v2.manifest }) },
    { setup: async () => {
      const rules = json(await client.request({ url: `/api/v2.0/projects/${IP}/immutabletagrules`, auth: admin }));
      ctx.rule = rules.find((r) => r.tag_selectors[0].pattern === 'v*').id;
    } },
    { slug: 'immu-rule-disable', title: `PUT /api/v2.0/projects/${IP}/immutabletagrules/<id> {"disabled":true,...} -> 200`, notes: 'Disabling a rule.',
      req: () => ({ method: 'PUT', url: `/api/v2.0/projects/${IP}/immutabletagrules/${ctx.rule}`, auth: admin, body: { ...rule('v*'), id: ctx.rule, disabled: true } }) },
    { slug: 'immu-push-after-disable', title: `PUT /v2/${IP}/app/manifests/v1 (another manifest) after disabling -> 201`, notes: 'A disabled rule protects nothing.',
      req: () => ({ method: 'PUT', url: `/v2/${IP}/app/manifests/v1`, auth: admin, headers: mt(v2), body: v2.manifest }) },
    { slug: 'immu-rule-delete', title: `DELETE /api/v2.0/projects/${IP}/immutabletagrules/<id> -> 200`, notes: '',
      req: () => ({ method: 'DELETE', url: `/api/v2.0/projects/${IP}/immutabletagrules/${ctx.rule}`, auth: admin }) },
    { slug: 'immu-rule-delete-again', title: `DELETE /api/v2.0/projects/${IP}/immutabletagrules/<id> again -> ?`, notes: '',
      req: () => ({ method: 'DELETE', url: `/api/v2.0/projects/${IP}/immutabletagrules/${ctx.rule}`, auth: admin }) },
    // ---- doublestar v1.1.1 as Harbor's matcher uses it (issue 16): malformed patterns, no groups
    { slug: 'project-create-glob', title: `POST /api/v2.0/projects ("${GP}") -> 201`, notes: '',
      req: () => ({ method: 'POST', url: '/api/v2.0/projects', auth: admin, body: { project_name: GP, metadata: { public: 'false' } } }) },
    { slug: 'glob-rule-create-malformed', title: `POST /api/v2.0/projects/${GP}/immutabletagrules (tags "v[") -> 201`, notes: 'Harbor stores a pattern doublestar cannot parse.',
      req: () => ({ method: 'POST', url: `/api/v2.0/projects/${GP}/immutabletagrules`, auth: admin, body: rule('v[') }) },
    { slug: 'glob-rule-create-after-malformed', title: `POST /api/v2.0/projects/${GP}/immutabletagrules (tags v*) -> 201`, notes: 'A valid rule after the malformed one.',
      req: () => ({ method: 'POST', url: `/api/v2.0/projects/${GP}/immutabletagrules`, auth: admin, body: rule('v*') }) },
    { setup: async () => { await pushBlobs(`${GP}/app`, v1); await pushBlobs(`${GP}/app`, v2); } },
    { slug: 'glob-push-first', title: `PUT /v2/${GP}/app/manifests/v1 -> 201`, notes: '',
      req: () => ({ method: 'PUT', url: `/v2/${GP}/app/manifests/v1`, auth: admin, headers: mt(v1), body: v1.manifest }) },
    { slug: 'glob-push-overwrite-malformed-first', title: `PUT /v2/${GP}/app/manifests/v1 (another manifest) -> 201`, notes: 'doublestar fails on "v[" (ErrBadPattern) before the v* rule is tried: Harbor\'s matcher returns the error and the tag controller leaves the tag mutable.',
      req: () => ({ method: 'PUT', url: `/v2/${GP}/app/manifests/v1`, auth: admin, headers: mt(v2), body: v2.manifest }) },
    { setup: async () => {
      const rules = json(await client.request({ url: `/api/v2.0/projects/${GP}/immutabletagrules`, auth: admin }));
      ctx.malformed = rules.find((r) => r.tag_selectors[0].pattern === 'v[').id;
    } },
    { slug: 'glob-rule-delete-malformed', title: `DELETE /api/v2.0/projects/${GP}/immutabletagrules/<id of "v["> -> 200`, notes: '',
      req: () => ({ method: 'DELETE', url: `/api/v2.0/projects/${GP}/immutabletagrules/${ctx.malformed}`, auth: admin }) },
    { slug: 'glob-push-overwrite-valid-only', title: `PUT /v2/${GP}/app/manifests/v1 (another manifest) -> 412`, notes: 'Without the malformed rule, v* protects v1.',
      req: () => ({ method: 'PUT', url: `/v2/${GP}/app/manifests/v1`, auth: admin, headers: mt(v1), body: v1.manifest }) },
    { slug: 'glob-rule-create-group', title: `POST /api/v2.0/projects/${GP}/immutabletagrules (tags "rc(1|2)") -> 201`, notes: 'Parentheses and a bar: plain characters in doublestar.',
      req: () => ({ method: 'POST', url: `/api/v2.0/projects/${GP}/immutabletagrules`, auth: admin, body: rule('rc(1|2)') }) },
    { slug: 'glob-rule-create-bar', title: `POST /api/v2.0/projects/${GP}/immutabletagrules (tags "latest|edge") -> 201`, notes: '',
      req: () => ({ method: 'POST', url: `/api/v2.0/projects/${GP}/immutabletagrules`, auth: admin, body: rule('latest|edge') }) },
    { slug: 'glob-push-group-first', title: `PUT /v2/${GP}/app/manifests/rc1 -> 201`, notes: '',
      req: () => ({ method: 'PUT', url: `/v2/${GP}/app/manifests/rc1`, auth: admin, headers: mt(v1), body: v1.manifest }) },
    { slug: 'glob-push-group-overwrite', title: `PUT /v2/${GP}/app/manifests/rc1 (another manifest) -> 201`, notes: '"rc(1|2)" matches only the tag spelled rc(1|2).',
      req: () => ({ method: 'PUT', url: `/v2/${GP}/app/manifests/rc1`, auth: admin, headers: mt(v2), body: v2.manifest }) },
    { slug: 'glob-push-bar-first', title: `PUT /v2/${GP}/app/manifests/latest -> 201`, notes: '',
      req: () => ({ method: 'PUT', url: `/v2/${GP}/app/manifests/latest`, auth: admin, headers: mt(v1), body: v1.manifest }) },
    { slug: 'glob-push-bar-overwrite', title: `PUT /v2/${GP}/app/manifests/latest (another manifest) -> 201`, notes: '"latest|edge" is not an alternative.',
      req: () => ({ method: 'PUT', url: `/v2/${GP}/app/manifests/latest`, auth: admin, headers: mt(v2), body: v2.manifest }) },
    { slug: 'glob-rule-create-brace-backslashes', title: `POST /api/v2.0/projects/${GP}/immutabletagrules (tags "{" + 4 backslashes) -> 201`, notes: 'The pattern picomatch never returned from; doublestar: an unclosed brace, ErrBadPattern.',
      req: () => ({ method: 'POST', url: `/api/v2.0/projects/${GP}/immutabletagrules`, auth: admin, body: rule('{\\\\\\\\') }) },
    { slug: 'glob-push-after-brace-first', title: `PUT /v2/${GP}/app/manifests/x1 -> 201`, notes: '',
      req: () => ({ method: 'PUT', url: `/v2/${GP}/app/manifests/x1`, auth: admin, headers: mt(v1), body: v1.manifest }) },
    { slug: 'glob-push-after-brace-overwrite', title: `PUT /v2/${GP}/app/manifests/x1 (another manifest) -> 201`, notes: 'No earlier rule matches x1; the brace rule errors, so the tag stays mutable.',
      req: () => ({ method: 'PUT', url: `/v2/${GP}/app/manifests/x1`, auth: admin, headers: mt(v2), body: v2.manifest }) },
  ];
}

// ------------------------------------------------------------------ run
const run = exchangeRun({ name: 'policy', prefix: 'P', recordDir, fixturesDir });

let exit = 0;
try {
  await cleanup();
  const ids = new IdMap();
  const ruleIds = new IdMap();
  let n = 0;
  for (const step of scenario()) {
    if (step.setup) {
      await step.setup();
      continue;
    }
    n += 1;
    const r = { method: 'GET', ...step.req() };
    const res = await client.request(r);
    if (run.recording) {
      run.record(n, step, r, res, ` ${res.buf.toString('utf8').slice(0, 300)}`);
      continue;
    }
    // compare.mjs files every id under a /projects/ path as a project id; rule ids get their own map
    const idMap = r.url.includes('/immutabletagrules') ? ruleIds : ids;
    run.compare(n, step, r, res, (rec) => compareExchange(rec, res, { ids: idMap, hostNorm: hostNormFor(rec.request.url, client) }));
  }
  await cleanup();
} catch (e) {
  console.error(`policy scenario: TOOL ERROR ${e.stack ?? e}`);
  exit = 2;
} finally {
  client.close();
}
run.finish(exit);
