#!/usr/bin/env node
// Harbor 2.5.5 tag retention and project logs, as hubgate uses them (issue 13): policy create/read/update,
// dry run and real run, executions, tasks and task logs, and what a run leaves in the project's audit log.
// One scenario, two uses (same mechanics as live-scenario.mjs):
//
//   record against a real Harbor (the kit in ../shared/harbor-2.5.5/real):
//     node test/harbor-double/retention-scenario.mjs --record test/fixtures/harbor/retention \
//          --target http://127.0.0.1:8981 [--admin admin:Harbor12345]
//   replay against a target (the double, or Harbor again) and compare with those files:
//     node test/harbor-double/retention-scenario.mjs --target URL [--fixtures test/fixtures/harbor/retention] [--pull-wait-ms N]
//
// --pull-wait-ms (default 12000): the wait after the pull, for Harbor's asynchronous pull-time write (a double
// that writes it at once can pass 0). Task logs (multi-line messages the shared comparison cannot read) are compared
// here: exact text once times are masked (same images, so same digests).
// Files use the recorded format (README of ../shared/harbor-2.5.5) and are compared with the shared conformance
// tool's compare.mjs (ids as a bijection, timestamps by format). The scenario creates project `issue13-ret`, pushes
// five versions as admin, runs retention, and finally deletes the project. Polls between steps are not recorded.
// Last line: `retention exchanges: N/M match`; exit 0 only when all match.
import { option, must, hostNormFor, exchangeRun, lib, cmp } from './scenario-kit.mjs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { basic, createClient, buildImage, json, header } = lib;
const { compareExchange, IdMap, headerOf } = cmp;

const opt = option;
const target = opt('target');
const recordDir = opt('record');
const fixturesDir = opt('fixtures', path.resolve(HERE, '../fixtures/harbor/retention'));
const [adminUser, adminPass] = opt('admin', 'admin:Harbor12345').split(':');
if (!target) {
  console.error('usage: retention-scenario.mjs --target URL [--record DIR | --fixtures DIR]');
  process.exit(2);
}

const front = createClient(target);
const admin = basic(adminUser, adminPass, 'Basic <admin>');
const PROJECT = 'issue13-ret';
const image = (n) => buildImage({ kind: 'docker', files: [{ name: `v${n}.txt`, content: `retention, version ${n}\n` }], config: { architecture: 'amd64', os: 'linux', config: {} } });
// pushed in this order, one second apart: app:old, app:v1, app:v2, app:latest, app:dev, web:1.0
const PUSHES = [['app', 'old', image(0)], ['app', 'v1', image(1)], ['app', 'v2', image(2)], ['app', 'latest', image(3)], ['app', 'dev', image(4)], ['web', '1.0', image(5)]];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function cleanup() {
  const repos = await front.request({ url: `/api/v2.0/projects/${PROJECT}/repositories?page_size=100`, auth: admin });
  for (const r of repos.status === 200 ? json(repos) : []) {
    const name = encodeURIComponent(encodeURIComponent(r.name.slice(PROJECT.length + 1)));
    await must(await front.request({ method: 'DELETE', url: `/api/v2.0/projects/${PROJECT}/repositories/${name}`, auth: admin }), `delete ${r.name}`, 200, 404);
  }
  await must(await front.request({ method: 'DELETE', url: `/api/v2.0/projects/${PROJECT}`, auth: admin }), 'delete project', 200, 403, 404);
  await must(await front.request({ method: 'DELETE', url: `/api/v2.0/projects/${PROJECT}-x`, auth: admin }), 'delete project', 200, 403, 404);
}
async function push(repo, tag, img) {
  for (const [digest, bytes] of [[img.layerDigest, img.layer], [img.configDigest, img.config]]) {
    const start = await must(await front.request({ method: 'POST', url: `/v2/${PROJECT}/${repo}/blobs/uploads/`, auth: admin }), `upload start ${repo}`, 202);
    const loc = new URL(header(start, 'location'), front.base);
    loc.searchParams.set('digest', digest);
    await must(await front.request({ method: 'PUT', url: loc.pathname + loc.search, auth: admin, headers: { 'Content-Type': 'application/octet-stream' }, body: bytes }), `upload ${repo}`, 201);
  }
  await must(await front.request({ method: 'PUT', url: `/v2/${PROJECT}/${repo}/manifests/${tag}`, auth: admin, headers: { 'Content-Type': img.manifestType }, body: img.manifest }), `manifest ${repo}:${tag}`, 201);
}
async function waitExecution(state) {
  for (let i = 0; i < 240; i++) {
    const l = json(await front.request({ url: `/api/v2.0/retentions/${state.policy}/executions?page=1&page_size=10`, auth: admin }));
    if (l[0] && !['Running', 'Pending', 'Scheduled', 'InProgress'].includes(l[0].status)) return;
    await sleep(500);
  }
  throw new Error('retention execution did not finish');
}

const selectorsAll = { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: '**' }] };
const rule = (template, params, tagPattern, repoPattern = '**') => ({
  disabled: false,
  action: 'retain',
  template,
  params,
  tag_selectors: [{ kind: 'doublestar', decoration: 'matches', pattern: tagPattern, extras: JSON.stringify({ untagged: false }) }],
  scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: repoPattern }] },
});
const policy = (state, cron) => ({
  algorithm: 'or',
  rules: [rule('latestPushedK', { latestPushedK: 1 }, '**', 'app'), rule('nDaysSinceLastPull', { nDaysSinceLastPull: 7 }, '**', '**'), rule('always', {}, '{latest,v2}', '**')],
  trigger: { kind: 'Schedule', settings: { cron } },
  scope: { level: 'project', ref: state.projectId },
});

// ------------------------------------------------------------------ the scenario
function scenario(state) {
  return [
    { slug: 'retention-metadatas', title: 'GET /api/v2.0/retentions/metadatas', notes: 'Rule templates, tag and repository selectors Harbor 2.5.5 offers (templates latestPushedK, latestPulledN, nDaysSinceLastPush, nDaysSinceLastPull, always; doublestar selectors).',
      req: () => ({ url: '/api/v2.0/retentions/metadatas', auth: admin }) },
    { slug: 'project-before-policy', title: `GET /api/v2.0/projects/${PROJECT} before any policy`, notes: 'No retention_id in metadata yet.',
      req: () => ({ url: `/api/v2.0/projects/${PROJECT}`, auth: admin }) },
    { slug: 'retention-create-unknown-template', title: `POST /api/v2.0/retentions with an unknown rule template (project ${PROJECT}-x)`, notes: 'Harbor 2.5.5 does not check the template name at creation: 201.',
      req: () => ({ method: 'POST', url: '/api/v2.0/retentions', auth: admin, body: { ...policy({ projectId: state.otherId }, ''), rules: [rule('keepEverything', {}, '**')] } }) },
    { slug: 'retention-create-bad-cron', title: 'POST /api/v2.0/retentions with an invalid cron', notes: '',
      req: () => ({ method: 'POST', url: '/api/v2.0/retentions', auth: admin, body: policy(state, '* * *') }) },
    { slug: 'retention-create', title: 'POST /api/v2.0/retentions (latestPushedK 1 on app, pulled within 7 days, always latest|v2; no cron)', notes: 'Created: 201, empty body, Location names the policy id.',
      req: () => ({ method: 'POST', url: '/api/v2.0/retentions', auth: admin, body: policy(state, '') }),
      after: (res) => { state.policy = Number(/(\d+)$/.exec(header(res, 'location'))?.[1]); } },
    { slug: 'project-after-policy', title: `GET /api/v2.0/projects/${PROJECT} after the policy`, notes: 'metadata.retention_id holds the policy id (a string).',
      req: () => ({ url: `/api/v2.0/projects/${PROJECT}`, auth: admin }) },
    { slug: 'retention-get', title: 'GET /api/v2.0/retentions/{id}', notes: 'The policy as stored: ids and priorities added to the rules.',
      req: () => ({ url: `/api/v2.0/retentions/${state.policy}`, auth: admin }) },
    { slug: 'retention-create-again', title: 'POST /api/v2.0/retentions again for the same project', notes: 'A project has one policy.',
      req: () => ({ method: 'POST', url: '/api/v2.0/retentions', auth: admin, body: policy(state, '') }) },
    { slug: 'retention-update-cron', title: 'PUT /api/v2.0/retentions/{id} with a daily cron', notes: 'Schedule: six-field cron.',
      req: () => ({ method: 'PUT', url: `/api/v2.0/retentions/${state.policy}`, auth: admin, body: policy(state, '0 0 3 * * *') }) },
    { slug: 'retention-get-after-update', title: 'GET /api/v2.0/retentions/{id} after the update', notes: '',
      req: () => ({ url: `/api/v2.0/retentions/${state.policy}`, auth: admin }) },
    { slug: 'retention-update-bad-cron', title: 'PUT /api/v2.0/retentions/{id} with an invalid cron', notes: '',
      req: () => ({ method: 'PUT', url: `/api/v2.0/retentions/${state.policy}`, auth: admin, body: policy(state, 'every day') }) },
    { slug: 'retention-get-unknown', title: 'GET /api/v2.0/retentions/999999', notes: '',
      req: () => ({ url: '/api/v2.0/retentions/999999', auth: admin }) },
    { slug: 'executions-empty', title: 'GET /api/v2.0/retentions/{id}/executions before any run', notes: '',
      req: () => ({ url: `/api/v2.0/retentions/${state.policy}/executions?page=1&page_size=10`, auth: admin }) },
    { slug: 'execution-dry-run', title: 'POST /api/v2.0/retentions/{id}/executions {"dry_run":true}', notes: 'Started: Location names the execution.',
      req: () => ({ method: 'POST', url: `/api/v2.0/retentions/${state.policy}/executions`, auth: admin, headers: { Accept: 'text/plain' }, body: { dry_run: true } }),
      after: async (res) => { state.dry = Number(/(\d+)$/.exec(header(res, 'location') ?? '')?.[1]); await waitExecution(state); } },
    { slug: 'executions-after-dry-run', title: 'GET /api/v2.0/retentions/{id}/executions after the dry run', notes: '',
      req: () => ({ url: `/api/v2.0/retentions/${state.policy}/executions?page=1&page_size=10`, auth: admin }),
      after: (res) => { state.dry = json(res)[0]?.id ?? state.dry; } },
    { slug: 'tasks-dry-run', title: 'GET /api/v2.0/retentions/{id}/executions/{eid}/tasks (dry run)', notes: 'One task per repository, with total and retained counts.',
      req: () => ({ url: `/api/v2.0/retentions/${state.policy}/executions/${state.dry}/tasks?page=1&page_size=10`, auth: admin }),
      after: (res) => { state.dryTasks = json(res).map((t) => t.id).sort((a, b) => a - b); } },
    { slug: 'task-log-dry-run', title: 'GET /api/v2.0/retentions/{id}/executions/{eid}/tasks/{tid} (first task of the dry run)', notes: 'The task log: a table of what was kept and what would be deleted.',
      textLog: true, req: () => ({ url: `/api/v2.0/retentions/${state.policy}/executions/${state.dry}/tasks/${state.dryTasks[0]}`, auth: admin, headers: { Accept: 'text/plain' } }) },
    { slug: 'artifacts-after-dry-run', title: `GET /api/v2.0/projects/${PROJECT}/repositories/app/artifacts after the dry run`, notes: 'Nothing deleted.',
      req: () => ({ url: `/api/v2.0/projects/${PROJECT}/repositories/app/artifacts?with_tag=true&page=1&page_size=10`, auth: admin }) },
    { slug: 'execution-run', title: 'POST /api/v2.0/retentions/{id}/executions {"dry_run":false}', notes: '',
      req: () => ({ method: 'POST', url: `/api/v2.0/retentions/${state.policy}/executions`, auth: admin, headers: { Accept: 'text/plain' }, body: { dry_run: false } }),
      after: async () => { await waitExecution(state); } },
    { slug: 'executions-after-run', title: 'GET /api/v2.0/retentions/{id}/executions after the real run', notes: 'Newest first.',
      req: () => ({ url: `/api/v2.0/retentions/${state.policy}/executions?page=1&page_size=10`, auth: admin }),
      after: (res) => { state.run = json(res)[0]?.id; } },
    { slug: 'tasks-run', title: 'GET /api/v2.0/retentions/{id}/executions/{eid}/tasks (real run)', notes: '',
      req: () => ({ url: `/api/v2.0/retentions/${state.policy}/executions/${state.run}/tasks?page=1&page_size=10`, auth: admin }) },
    { slug: 'artifacts-after-run', title: `GET /api/v2.0/projects/${PROJECT}/repositories/app/artifacts after the run`, notes: 'What the policy kept.',
      req: () => ({ url: `/api/v2.0/projects/${PROJECT}/repositories/app/artifacts?with_tag=true&page=1&page_size=10`, auth: admin }) },
    { slug: 'project-logs', title: `GET /api/v2.0/projects/${PROJECT}/logs after pushes, a pull and a retention run`, notes: 'How pushes, pulls and retention deletions appear in the project log.',
      req: () => ({ url: `/api/v2.0/projects/${PROJECT}/logs?page=1&page_size=20`, auth: admin }) },
    { slug: 'project-logs-filter-pull', title: `GET /api/v2.0/projects/${PROJECT}/logs?q=operation=pull`, notes: '',
      req: () => ({ url: `/api/v2.0/projects/${PROJECT}/logs?q=${encodeURIComponent('operation=pull')}&page=1&page_size=10`, auth: admin }) },
    { slug: 'project-logs-filter-resource', title: `GET /api/v2.0/projects/${PROJECT}/logs?q=resource=~${PROJECT}/web,resource_type=artifact`, notes: 'Fuzzy resource match plus exact resource_type.',
      req: () => ({ url: `/api/v2.0/projects/${PROJECT}/logs?q=${encodeURIComponent(`resource=~${PROJECT}/web,resource_type=artifact`)}&page=1&page_size=10`, auth: admin }) },
    { slug: 'project-logs-filter-time', title: `GET /api/v2.0/projects/${PROJECT}/logs?q=op_time=[2000-01-01 00:00:00~2000-01-02 00:00:00]`, notes: 'A time range in the past: nothing.',
      req: () => ({ url: `/api/v2.0/projects/${PROJECT}/logs?q=${encodeURIComponent('op_time=[2000-01-01 00:00:00~2000-01-02 00:00:00]')}&page=1&page_size=10`, auth: admin }) },
    { slug: 'project-logs-page-2', title: `GET /api/v2.0/projects/${PROJECT}/logs?page=2&page_size=3`, notes: 'Paging.',
      req: () => ({ url: `/api/v2.0/projects/${PROJECT}/logs?page=2&page_size=3`, auth: admin }) },
  ];
}

// A retention task log: status, content type, and the text with its times masked.
function compareLog(rec, res) {
  const mask = (t) => String(t).replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, '<time>').replace(/\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d/g, 'YYYY/MM/DD hh:mm:ss');
  const out = [];
  if (rec.response.status !== res.status) out.push(`status ${res.status}, recorded ${rec.response.status}`);
  const ct = headerOf(res.headers, 'content-type');
  if (headerOf(rec.response.headers, 'content-type') !== ct) out.push(`content-type ${ct}`);
  const got = mask(res.buf.toString('utf8')).split('\n');
  const want = mask(rec.response.body).split('\n');
  want.forEach((line, i) => {
    if (got[i] !== line && out.length < 3) out.push(`log line ${i + 1}: ${JSON.stringify(got[i])}, recorded ${JSON.stringify(line)}`);
  });
  if (got.length !== want.length) out.push(`log: ${got.length} lines, recorded ${want.length}`);
  return out;
}

// Task `job_id`s are random (the jobservice's): a 24-hex-digit id on the target stands for the recorded one.
function jobIdsAsRecorded(rec, res) {
  if (!Array.isArray(rec.response.body) || !rec.response.body.some((t) => t && typeof t.job_id === 'string')) return res;
  let body;
  try {
    body = JSON.parse(res.buf.toString('utf8'));
  } catch {
    return res;
  }
  if (!Array.isArray(body)) return res;
  body.forEach((t, i) => {
    const want = rec.response.body[i]?.job_id;
    if (t && /^[0-9a-f]{24}$/.test(t.job_id ?? '') && /^[0-9a-f]{24}$/.test(want ?? '')) t.job_id = want;
  });
  return { ...res, buf: Buffer.from(JSON.stringify(body) + '\n') };
}

// ------------------------------------------------------------------ run
const run = exchangeRun({ name: 'retention', prefix: 'R', recordDir, fixturesDir });

let exit = 0;
try {
  await cleanup();
  await must(await front.request({ method: 'POST', url: '/api/v2.0/projects', auth: admin, body: { project_name: PROJECT, metadata: { public: 'false' } } }), 'create project', 201);
  await must(await front.request({ method: 'POST', url: '/api/v2.0/projects', auth: admin, body: { project_name: `${PROJECT}-x`, metadata: { public: 'false' } } }), 'create project', 201);
  const idOf = async (name) => Number(json(await front.request({ url: `/api/v2.0/projects/${name}`, auth: admin })).project_id);
  const state = { projectId: await idOf(PROJECT), otherId: await idOf(`${PROJECT}-x`) };
  for (const [repo, tag, img] of PUSHES) {
    await push(repo, tag, img);
    await sleep(1100);
  }
  // one pull of app:v1 (a manifest GET): v1 is then "pulled within 7 days" — once Harbor has written the pull time,
  // which it does asynchronously (finding d: within ~10 s), so wait before the first retention run
  await must(await front.request({ url: `/v2/${PROJECT}/app/manifests/v1`, auth: admin, headers: { Accept: PUSHES[1][2].manifestType } }), 'pull', 200);
  await sleep(Number(opt('pull-wait-ms', '12000')));
  const ids = new IdMap();
  let n = 0;
  for (const step of scenario(state)) {
    n += 1;
    const r = { method: 'GET', ...step.req() };
    const res = await front.request(r);
    if (run.recording) run.record(n, step, r, res);
    else {
      run.compare(n, step, r, res, (rec) =>
        step.textLog ? compareLog(rec, res) : compareExchange(rec, jobIdsAsRecorded(rec, res), { ids, hostNorm: hostNormFor(rec.request.url, front) }),
      );
    }
    if (step.after) await step.after(res);
  }
  await cleanup();
} catch (e) {
  console.error(`retention scenario: TOOL ERROR ${e.stack ?? e}`);
  exit = 2;
} finally {
  front.close();
}
run.finish(exit);
