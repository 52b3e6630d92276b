/* eslint-disable @typescript-eslint/no-explicit-any -- assertions over loosely typed JSON answers */
/**
 * Issue 13 end to end: workspace activity (who pushed, pulled, deleted — mapped back to platform identities),
 * retention (dry run, run, history, what was removed) and audit events (stdout lines and the webhook), through
 * hubgate → the Harbor double (or, with `npm run test:harbor`, a real Harbor 2.5.5 and its jobservice) → skopeo.
 * Also the permission matrix of every new endpoint for a cloud admin, a member, and another project's member on a
 * public and on a private workspace.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { buildImage, clientOrSkip, CREDENTIAL_SECRET, HARBOR_ADMIN_PASSWORD, leakedSecrets, run, startStack, tempDir, type ProjectCredentials, type Stack, apiCall } from '../support/clients';

jest.setTimeout(240_000);

const need = ['skopeo', 'docker-registry'].map(clientOrSkip);
for (const n of need) if (!n.available) console.warn(n.reason);
const d = need.every((n) => n.available) ? describe : describe.skip;

d('activity, retention and audit events through hubgate', () => {
  let stack: Stack;
  let work: string;
  let a: ProjectCredentials;
  let b: ProjectCredentials;
  let alice: string;
  let bobby: string;
  let admin: string;
  let hook: http.Server;
  const batches: any[] = [];
  let hookFailuresLeft = 1;

  const api = (token: string, method: string, p: string, body?: unknown) => apiCall(stack.url, token, method, p, body);
  const skopeo = async (args: string[]) => {
    const r = await run('skopeo', args);
    if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')}: ${r.stderr}`);
  };
  const push = (creds: ProjectCredentials, layout: string, dest: string) =>
    skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `${creds.username}:${creds.password}`, `oci:${layout}:latest`, `docker://${stack.host}/${dest}`]);
  const pull = (creds: ProjectCredentials, src: string, layout: string) =>
    skopeo(['copy', '--src-tls-verify=false', '--src-creds', `${creds.username}:${creds.password}`, `docker://${stack.host}/${src}`, `oci:${layout}:x`]);
  const until = async <T>(what: string, fn: () => Promise<T | undefined>): Promise<T> => {
    for (let i = 0; i < 240; i++) {
      const v = await fn();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const finished = (token: string, ws: string, id: number) =>
    until(`run ${id}`, async () => {
      const r = await api(token, 'GET', `/workspaces/${ws}/retention/runs/${id}`);
      return r.status === 200 && !['Pending', 'Running', 'Scheduled'].includes(r.body.status) ? r.body : undefined;
    });

  beforeAll(async () => {
    // the audit webhook: answers 503 once (the batch is retried), then 200; records every batch it accepts
    hook = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (hookFailuresLeft-- > 0) {
          res.writeHead(503).end();
          return;
        }
        batches.push({ auth: req.headers.authorization, body: JSON.parse(Buffer.concat(chunks).toString()) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/audit`;
    stack = await startStack({ HUBGATE_AUDIT_WEBHOOK_URL: hookUrl, HUBGATE_AUDIT_WEBHOOK_TOKEN: 'collector-token-123456', HUBGATE_AUDIT_WEBHOOK_BATCH_SIZE: '5' });
    work = tempDir('policies-e2e');
    a = await stack.project('act-a', [
      { name: 'act-own', access: 'private' },
      { name: 'act-pub', access: 'public' },
    ]);
    b = await stack.project('act-b', [
      { name: 'act-other', access: 'private' },
      { name: 'act-bpub', access: 'public' },
    ]);
    const project = (id: string) => ({ id, name: id.toUpperCase(), department: 'dep' });
    alice = await stack.idp.memberToken({ sub: 'user-alice', username: 'alice', projects: [project('act-a')] });
    bobby = await stack.idp.memberToken({ sub: 'user-bobby', username: 'bobby', projects: [project('act-b')] });
    admin = await stack.idp.adminToken({ sub: 'root', username: 'root' });
  });
  afterAll(async () => {
    await stack?.close();
    await new Promise((r) => hook?.close(r));
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('permission matrix: owner members and cloud admins only; public of another project 403, private 404', async () => {
    const paths: [string, string, unknown?][] = [
      ['GET', 'activity'],
      ['GET', 'retention'],
      ['PUT', 'retention', { rules: [{ images: 'nothing-here', keepLatestPushed: 1 }] }],
      ['POST', 'retention/runs', { dryRun: true }],
      ['GET', 'retention/runs'],
      ['GET', 'retention/runs/ID'],
      ['DELETE', 'retention'],
    ];
    const cells: [string, string, string, number][] = [];
    for (const [method, p] of paths) {
      const okStatus = method === 'DELETE' ? 204 : method === 'POST' ? 202 : 200;
      cells.push(['alice', 'act-pub', `${method} ${p}`, okStatus]); // own project (public)
      cells.push(['bobby', 'act-pub', `${method} ${p}`, 403]); // another project's public workspace
      cells.push(['bobby', 'act-own', `${method} ${p}`, 404]); // another project's private workspace
      cells.push(['admin', 'act-bpub', `${method} ${p}`, okStatus]); // cloud admin, any workspace
      cells.push(['alice', 'no-such-ws', `${method} ${p}`, 404]);
    }
    const token: Record<string, string> = { alice, bobby, admin };
    // a run needs a policy (the PUT cells run before the POST cells); run ids: the one started in that workspace,
    // else one of act-pub's (a real run, of another workspace)
    const runIds: Record<string, number> = {};
    for (const [who, ws, call, status] of cells) {
      const [method, p] = call.split(' ');
      const body = paths.find(([m, q]) => m === method && q === p)?.[2];
      const res = await api(token[who], method, `/workspaces/${ws}/${p.replace('ID', String(runIds[ws] ?? runIds['act-pub'] ?? 1))}`, body);
      if (method === 'POST' && res.status === 202) runIds[ws] = res.body.id;
      expect({ who, ws, call, status: res.status }).toEqual({ who, ws, call, status });
      if (status >= 400) {
        expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(res.body.errors[0].code).toBe(status === 404 ? 'NOT_FOUND' : 'FORBIDDEN');
      }
    }
    // no 401 without a token, and the private 404 says nothing more than an absent workspace's
    expect((await fetch(`${stack.url}/api/v1/workspaces/act-own/activity`)).status).toBe(401);
    const hidden = await api(bobby, 'GET', '/workspaces/act-own/retention');
    const absent = await api(bobby, 'GET', '/workspaces/no-such-ws/retention');
    expect(hidden.body.errors[0].message.replace('act-own', 'X')).toBe(absent.body.errors[0].message.replace('no-such-ws', 'X'));
  });

  it('activity names the project for registry pushes and pulls, the platform user for console deletes', async () => {
    const one = await buildImage(path.join(work, 'one'), { layers: [{ bytes: 1500 }], label: 'one' });
    const two = await buildImage(path.join(work, 'two'), { layers: [{ bytes: 1600 }], label: 'two' });
    await push(a, one.dir, 'act-own/tmp:1');
    await push(a, two.dir, 'act-own/tmp:2');
    await pull(a, 'act-own/tmp:1', path.join(work, 'pulled'));
    const del = await api(alice, 'DELETE', '/workspaces/act-own/images/tmp/versions', { tags: ['2'] });
    expect(del.status).toBe(200);

    const all = await api(alice, 'GET', '/workspaces/act-own/activity');
    expect(all.status).toBe(200);
    const rows = all.body.items.filter((r: any) => r.image === 'tmp');
    const projectActor = { kind: 'project', projectId: 'act-a', projectName: 'ACT-A', department: 'dep', username: 'hg-act-a' };
    expect(rows.find((r: any) => r.operation === 'push' && r.version === '1')).toMatchObject({ resourceType: 'artifact', actor: projectActor });
    expect(rows.find((r: any) => r.operation === 'pull')).toMatchObject({ actor: projectActor });
    const deletes = rows.filter((r: any) => r.operation === 'delete');
    expect(deletes.length).toBeGreaterThan(0);
    for (const r of deletes) expect(r.actor).toMatchObject({ kind: 'user', userId: 'user-alice', username: 'alice' });
    expect(deletes[0].actor.requestId).toBe(del.headers['x-request-id']);

    // filters and paging: Harbor's, exact totals
    const pushes = await api(alice, 'GET', '/workspaces/act-own/activity?operation=push&image=tmp');
    expect(pushes.body.items.map((r: any) => r.version).sort()).toEqual(['1', '2']);
    expect(pushes.headers['x-total-count']).toBe('2');
    const byProject = await api(admin, 'GET', '/workspaces/act-own/activity?actorProject=act-a&page_size=1&page=2');
    expect(byProject.body).toMatchObject({ page: 2, pageSize: 1, total: 3 });
    expect(byProject.body.items).toHaveLength(1);
    const future = await api(alice, 'GET', '/workspaces/act-own/activity?from=2999-01-01T00:00:00Z');
    expect(future.body).toMatchObject({ items: [], total: 0 });
    const bad = await api(alice, 'GET', '/workspaces/act-own/activity?operation=tagging');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0]).toEqual({ code: 'BAD_REQUEST', message: expect.stringContaining('query.operation must be equal to one of the allowed values') });
  });

  it('retention: refuses bad policies, dry run first, then a run; history with counts; deletions show as retention', async () => {
    const tags = ['old', 'v1', 'v2', 'latest', 'dev'];
    for (const [i, t] of tags.entries()) {
      const img = await buildImage(path.join(work, `app-${t}`), { layers: [{ bytes: 1000 + i }], label: `app-${t}` });
      await push(a, img.dir, `act-own/app:${t}`);
      await new Promise((r) => setTimeout(r, 1100)); // push times one second apart (Harbor compares seconds)
    }
    await pull(a, 'act-own/app:v1', path.join(work, 'pulled-v1'));
    // Harbor writes pull times asynchronously (finding d: within ~10 s); the double models that
    await new Promise((r) => setTimeout(r, 12_000));

    const noPolicy = await api(alice, 'POST', '/workspaces/act-own/retention/runs', { dryRun: true });
    expect(noPolicy.status).toBe(409);
    expect(noPolicy.body.errors[0]).toEqual({ code: 'CONFLICT', message: expect.stringContaining('has no retention policy') });
    const keepsNothing = await api(alice, 'PUT', '/workspaces/act-own/retention', { rules: [{ images: 'app' }] });
    expect(keepsNothing.status).toBe(400);
    expect(keepsNothing.body.errors[0].message).toContain('keeps nothing');
    const badCron = await api(alice, 'PUT', '/workspaces/act-own/retention', { rules: [{ images: 'app', keepLatestPushed: 1 }], schedule: 'every day' });
    expect(badCron.status).toBe(400);
    expect(badCron.body.errors[0]).toEqual({ code: 'BAD_REQUEST', message: expect.stringContaining('invalid cron every day') });
    expect((await api(alice, 'GET', '/workspaces/act-own/retention')).body).toMatchObject({ enabled: false, rules: [] });

    const policy = { rules: [{ images: 'app', keepLatestPushed: 1, keepPulledWithinDays: 7 }], protected: ['latest', 'v2'], schedule: '0 0 3 * * *' };
    const set = await api(alice, 'PUT', '/workspaces/act-own/retention', policy);
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ ...policy, enabled: true });

    const dry = await api(alice, 'POST', '/workspaces/act-own/retention/runs');
    expect(dry.status).toBe(202);
    expect(dry.headers.location).toBe(`/api/v1/workspaces/act-own/retention/runs/${dry.body.id}`);
    const dryDone = await finished(alice, 'act-own', dry.body.id);
    expect(dryDone).toMatchObject({ dryRun: true, status: 'Success', counts: { images: 1, total: 5, retained: 4, removed: 1 } });
    expect(dryDone.removedVersions).toEqual([{ image: 'app', digest: expect.stringMatching(/^sha256:/), tags: ['old'], pushedAt: expect.any(String), pulledAt: null }]);
    expect(dryDone.note).toContain('garbage collection');
    const untouched = await api(alice, 'GET', '/workspaces/act-own/images/app');
    expect(untouched.body.versions.map((v: any) => v.tag).sort()).toEqual([...tags].sort());

    const real = await api(alice, 'POST', '/workspaces/act-own/retention/runs', { dryRun: false });
    expect(real.status).toBe(202);
    const realDone = await finished(alice, 'act-own', real.body.id);
    expect(realDone).toMatchObject({ dryRun: false, counts: { total: 5, retained: 4, removed: 1 } });
    const after = await api(alice, 'GET', '/workspaces/act-own/images/app');
    expect(after.body.versions.map((v: any) => v.tag).sort()).toEqual(['dev', 'latest', 'v1', 'v2']);

    const history = await api(alice, 'GET', '/workspaces/act-own/retention/runs');
    expect(history.headers['x-total-count']).toBe('2');
    expect(history.body.items.map((r: any) => [r.id, r.dryRun, r.counts.removed])).toEqual([
      [real.body.id, false, 1],
      [dry.body.id, true, 1],
    ]);
    expect(history.body.note).toContain('garbage collection');

    const removed = await api(alice, 'GET', '/workspaces/act-own/activity?operation=delete&image=app');
    expect(removed.body.items).toEqual([expect.objectContaining({ operation: 'delete', image: 'app', digest: dryDone.removedVersions[0].digest, actor: { kind: 'retention' } })]);

    // turning it off keeps the history and refuses runs
    expect((await api(alice, 'DELETE', '/workspaces/act-own/retention')).status).toBe(204);
    expect((await api(alice, 'GET', '/workspaces/act-own/retention')).body).toEqual({ rules: [], protected: [], schedule: null, enabled: false });
    expect((await api(alice, 'POST', '/workspaces/act-own/retention/runs', { dryRun: true })).status).toBe(409);
    expect((await api(alice, 'GET', '/workspaces/act-own/retention/runs')).body.total).toBe(2);
  });

  it('audit events: every state-changing call on stdout and at the webhook (retried), never a secret', async () => {
    const rotated = await stack.rotate('act-b');
    const audit = () => stack.logs.filter((l) => l.includes('"type":"audit"')).map((l) => JSON.parse(l));
    const put = audit().find((e) => e.action === 'retention_set' && e.status === 200 && e.target.workspace === 'act-own');
    expect(put).toMatchObject({
      type: 'audit',
      actor: { userId: 'user-alice', username: 'alice', cloudAdmin: false, projects: ['act-a'] },
      method: 'PUT',
      path: '/api/v1/workspaces/act-own/retention',
      target: { workspace: 'act-own' },
      outcome: 'success',
      clientAddress: '127.0.0.1',
      requestId: expect.any(String),
    });
    expect(audit().find((e) => e.action === 'image_versions_delete')).toMatchObject({ target: { workspace: 'act-own', image: 'tmp', tags: ['2'] }, outcome: 'success' });
    expect(audit().find((e) => e.actor?.username === 'bobby' && e.status === 404)).toMatchObject({ outcome: 'denied', errorCode: 'NOT_FOUND' });
    expect(audit().find((e) => e.action === 'credentials_rotate')).toMatchObject({ target: { projectId: 'act-b' }, outcome: 'success' });
    // reads are not audited
    expect(audit().some((e) => e.method === 'GET')).toBe(false);

    // the webhook got the same events, in batches of at most 5, after one refused attempt
    await until('webhook', async () => (batches.flatMap((x) => x.body.events).some((e: any) => e.action === 'credentials_rotate') ? true : undefined));
    expect(batches.every((x) => x.body.events.length <= 5 && x.auth === 'Bearer collector-token-123456')).toBe(true);
    const delivered = batches.flatMap((x) => x.body.events).map((e: any) => e.requestId);
    expect(new Set(delivered).size).toBe(delivered.length);
    expect(audit().map((e) => e.requestId).filter((id) => !delivered.includes(id))).toEqual([]);
    const metrics = await stack.metrics();
    expect(metrics).toMatch(/hubgate_audit_webhook_sent_total \d+/);
    expect(metrics).toContain('hubgate_audit_webhook_dropped_total{reason="queue_full"} 0');

    const secrets = [a.password, b.password, rotated.password, alice, bobby, admin, HARBOR_ADMIN_PASSWORD, CREDENTIAL_SECRET, 'collector-token-123456'];
    expect(leakedSecrets(stack.logs, secrets)).toEqual([]);
    expect(leakedSecrets(batches.map((x) => JSON.stringify(x.body)), secrets)).toEqual([]);
  });
});
