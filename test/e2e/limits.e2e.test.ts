/* eslint-disable @typescript-eslint/no-explicit-any -- assertions over loosely typed JSON answers */
/**
 * Workspace policies end to end (issue 13): the storage quota and immutable versions through hubgate's API, real
 * skopeo pushes through hubgate's registry front, and console uploads — against the Harbor double in front of a real
 * docker-registry, or a real Harbor 2.5.5 (`npm run test:harbor -- test/e2e/limits.e2e.test.ts`). Also the
 * permission matrix of every new endpoint for a cloud admin, a member of the owning project, and a member of
 * another project (public and private workspace).
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildImage, clientOrSkip, run, startStack, tempDir, type ProjectCredentials, type Stack, apiCall } from '../support/clients';
import { dockerSave, layerTar } from '../support/archives';
import { expectAnswered, expectRefused } from '../support/refusals';

jest.setTimeout(180_000);

const need = ['skopeo', 'docker-registry'].map(clientOrSkip);
for (const n of need) if (!n.available) console.warn(n.reason);
const d = need.every((n) => n.available) ? describe : describe.skip;

d('workspace policies through hubgate: storage quota and immutable versions', () => {
  let stack: Stack;
  let work: string;
  let a: ProjectCredentials;
  let alice: string;
  let bobby: string;
  let admin: string;

  const api = (token: string, method: string, p: string, body?: unknown, raw?: { type: string; data: Buffer }) => apiCall(stack.url, token, method, p, body, raw);
  const refused = (r: { status: number; body: any }, status: number, code: string, message: string | RegExp) => {
    expect({ status: r.status, code: r.body?.errors?.[0]?.code }).toEqual({ status, code });
    if (typeof message === 'string') expect(r.body.errors[0].message).toBe(message);
    else expect(r.body.errors[0].message).toMatch(message);
  };
  const push = (creds: ProjectCredentials, layout: string, dest: string) =>
    run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `${creds.username}:${creds.password}`, `oci:${layout}:latest`, `docker://${stack.host}/${dest}`]);
  const tagsOf = async (ws: string, image: string): Promise<string[]> => {
    const r = await api(admin, 'GET', `/workspaces/${ws}/images/${image}`);
    return r.status === 404 ? [] : (r.body.versions as any[]).map((v) => v.tag).sort();
  };

  beforeAll(async () => {
    stack = await startStack({ HUBGATE_QUOTA_POLL_SECONDS: '5' });
    work = tempDir('policies-e2e');
    a = await stack.project('pol-a', [
      { name: 'pol-own', access: 'private' },
      { name: 'pol-pub', access: 'public' },
      { name: 'pol-up', access: 'private' },
    ]);
    await stack.project('pol-b', [{ name: 'pol-other', access: 'private' }]);
    const project = (id: string) => ({ id, name: id.toUpperCase(), department: 'dep' });
    alice = await stack.idp.memberToken({ sub: 'user-pol-a', username: 'user-pol-a', projects: [project('pol-a')] });
    bobby = await stack.idp.memberToken({ sub: 'user-pol-b', username: 'user-pol-b', projects: [project('pol-b')] });
    admin = await stack.idp.adminToken({ sub: 'root', username: 'root' });
  });
  afterAll(async () => {
    await stack?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('permission matrix of every policy endpoint: admin, owning member, other project (public, private)', async () => {
    const q = '/workspaces/pol-pub/quota';
    // read: everyone who sees the workspace; another project's private workspace does not exist for them
    expect((await api(admin, 'GET', q)).status).toBe(200);
    expect((await api(alice, 'GET', q)).body).toMatchObject({ workspace: 'pol-pub', limitBytes: null, usedPercent: null });
    expect((await api(bobby, 'GET', q)).status).toBe(200);
    refused(await api(bobby, 'GET', '/workspaces/pol-own/quota'), 404, 'NOT_FOUND', 'workspace "pol-own" not found');
    // set and clear: cloud admins only
    const set = await api(admin, 'PUT', q, { limit: '1.5GiB' });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ workspace: 'pol-pub', limitBytes: 1610612736, limit: '1.5 GiB', usedPercent: 0 });
    for (const [who, ws, status, code, message] of [
      [alice, 'pol-pub', 403, 'FORBIDDEN', 'only cloud admins can change the storage quota of workspace "pol-pub"'],
      [bobby, 'pol-pub', 403, 'FORBIDDEN', 'only cloud admins can change the storage quota of workspace "pol-pub"'],
      [bobby, 'pol-own', 404, 'NOT_FOUND', 'workspace "pol-own" not found'],
    ] as const) {
      refused(await api(who, 'PUT', `/workspaces/${ws}/quota`, { limit: 1024 }), status, code, message);
      refused(await api(who, 'DELETE', `/workspaces/${ws}/quota`), status, code, message);
    }
    expect((await api(admin, 'GET', q)).body.limitBytes).toBe(1610612736);
    const cleared = await api(admin, 'DELETE', q);
    expect(cleared.body).toMatchObject({ limitBytes: null, limit: null, usedPercent: null });

    // rules: read by everyone who sees the workspace; managed by the owning project (and cloud admins)
    const r = '/workspaces/pol-pub/immutable-rules';
    const byAlice = await api(alice, 'POST', r, { tags: 'v*' });
    expect(byAlice.status).toBe(201);
    expect(byAlice.body).toMatchObject({ tags: 'v*', images: '**', enabled: true });
    expect(byAlice.headers.location).toBe(`/api/v1/workspaces/pol-pub/immutable-rules/${byAlice.body.id}`);
    const byAdmin = await api(admin, 'POST', r, { tags: 'rel-{a,b}', images: 'team/**' });
    expect(byAdmin.status).toBe(201);
    refused(await api(alice, 'POST', r, { tags: 'v*' }), 409, 'CONFLICT', 'workspace "pol-pub" already has an immutable rule for versions "v*" of images "**"');
    for (const who of [admin, alice, bobby]) {
      const list = await api(who, 'GET', r);
      expect(list.status).toBe(200);
      expect(list.body.items.map((x: any) => `${x.tags}@${x.images}`)).toEqual(['v*@**', 'rel-{a,b}@team/**']);
    }
    const notMine = 'only members of the owning project can change the immutable versions of workspace "pol-pub"';
    refused(await api(bobby, 'POST', r, { tags: 'x*' }), 403, 'FORBIDDEN', notMine);
    refused(await api(bobby, 'DELETE', `${r}/${byAlice.body.id}`), 403, 'FORBIDDEN', notMine);
    refused(await api(bobby, 'GET', '/workspaces/pol-own/immutable-rules'), 404, 'NOT_FOUND', 'workspace "pol-own" not found');
    refused(await api(bobby, 'POST', '/workspaces/pol-own/immutable-rules', { tags: 'x*' }), 404, 'NOT_FOUND', 'workspace "pol-own" not found');
    refused(await api(bobby, 'DELETE', '/workspaces/pol-own/immutable-rules/1'), 404, 'NOT_FOUND', 'workspace "pol-own" not found');
    refused(await api(alice, 'POST', r, { tags: 'v* ; rm' }), 400, 'BAD_REQUEST', /^tags must be a pattern of 1–255 characters/);
    refused(await api(alice, 'POST', r, { tags: 'v*', extra: 1 }), 400, 'BAD_REQUEST', 'body: unknown field "extra"');
    expect((await api(admin, 'DELETE', `${r}/${byAdmin.body.id}`)).status).toBe(200);
    expect((await api(alice, 'DELETE', `${r}/${byAlice.body.id}`)).body).toEqual({ workspace: 'pol-pub', id: byAlice.body.id, deleted: true });
    refused(await api(alice, 'DELETE', `${r}/${byAlice.body.id}`), 404, 'NOT_FOUND', `immutable rule ${byAlice.body.id} of workspace "pol-pub" not found`);
    refused(await api(alice, 'DELETE', `${r}/abc`), 404, 'NOT_FOUND', 'immutable rule abc not found');
    expect((await api(alice, 'GET', r)).body.items).toEqual([]);
    // bad limits
    refused(await api(admin, 'PUT', q, { limit: '10 parsecs' }), 400, 'BAD_REQUEST', /^limit "10 parsecs" is not a size/);
    refused(await api(admin, 'PUT', q, { limit: 0 }), 400, 'BAD_REQUEST', /^body\.limit/);
    refused(await api(admin, 'PUT', q, {}), 400, 'BAD_REQUEST', "body must have required property 'limit'");
  });

  it('quota: a skopeo push over the limit is refused with Harbor\'s message; views show limit, used, percent', async () => {
    const small = await buildImage(path.join(work, 'small'), { layers: [{ bytes: 2000 }], label: 'small' });
    const big = await buildImage(path.join(work, 'big'), { layers: [{ bytes: 200_000 }], label: 'big' });
    const r0 = await push(a, small.dir, 'pol-own/app:1');
    expect(r0.code).toBe(0);
    const used = (await api(alice, 'GET', '/workspaces/pol-own/quota')).body.usedBytes as number;
    expect(used).toBeGreaterThan(2000);
    const limit = used + 50_000;
    expect((await api(admin, 'PUT', '/workspaces/pol-own/quota', { limit })).status).toBe(200);

    const mark = stack.logs.length;
    const over = await push(a, big.dir, 'pol-own/big:1');
    // Harbor refuses the blob's completing PUT: 403 DENIED, printed by skopeo as "denied: adding … upper limit of …"
    expectRefused(over, /denied: adding [\d.]+ KiB of storage resource, which when updated to current usage of [\d.]+ (KiB|B) will exceed the configured upper limit of [\d.]+ KiB\./);
    expectAnswered(stack.logs, mark, 403);
    expect(await tagsOf('pol-own', 'big')).toEqual([]);

    const quota = (await api(alice, 'GET', '/workspaces/pol-own/quota')).body;
    expect(quota).toMatchObject({ workspace: 'pol-own', limitBytes: limit, usedBytes: used });
    expect(quota.usedPercent).toBe(Math.round((used / limit) * 1000) / 10);
    const ws = (await api(alice, 'GET', '/workspaces/pol-own')).body;
    expect(ws).toMatchObject({ storageLimitBytes: limit, storageUsedBytes: used, storageUsedPercent: quota.usedPercent });
    const img = (await api(alice, 'GET', '/workspaces/pol-own/images/app')).body;
    expect(img.workspaceQuota).toEqual({ limitBytes: limit, usedBytes: used, usedPercent: quota.usedPercent });

    // the gauges (polled every 5 s here): a workspace with a quota, none above 90 % yet; then one at 100 %
    const gauges = async () => {
      const text = await (await fetch(`${stack.url}/metrics`)).text();
      const v = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      return { withQuota: v('hubgate_workspaces_with_quota'), nearlyFull: v('hubgate_workspaces_over_quota_threshold') };
    };
    const waitFor = async (want: { withQuota: number; nearlyFull: number }) => {
      const deadline = Date.now() + 30_000;
      let seen = await gauges();
      while ((seen.withQuota !== want.withQuota || seen.nearlyFull !== want.nearlyFull) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        seen = await gauges();
      }
      expect(seen).toEqual(want);
    };
    await waitFor({ withQuota: 1, nearlyFull: 0 });
    expect((await api(admin, 'PUT', '/workspaces/pol-own/quota', { limit: used })).body.usedPercent).toBe(100);
    await waitFor({ withQuota: 1, nearlyFull: 1 });

    // cleared: the same push goes through
    expect((await api(admin, 'DELETE', '/workspaces/pol-own/quota')).status).toBe(200);
    expect((await push(a, big.dir, 'pol-own/big:1')).code).toBe(0);
    expect(await tagsOf('pol-own', 'big')).toEqual(['1']);
  });

  it('quota: a console upload over the limit is a 413 naming the workspace, the limit and the usage; nothing tagged', async () => {
    const layer = layerTar({ 'data.bin': randomBytes(120_000) });
    const archive = dockerSave([{ layers: [layer], refs: ['tool:1'] }]);
    const used = (await api(alice, 'GET', '/workspaces/pol-up/quota')).body.usedBytes as number;
    expect((await api(admin, 'PUT', '/workspaces/pol-up/quota', { limit: '64KiB' })).status).toBe(200);
    const res = await api(alice, 'POST', '/workspaces/pol-up/uploads', undefined, { type: 'application/x-tar', data: archive });
    refused(res, 413, 'PAYLOAD_TOO_LARGE', new RegExp(`^storage quota of workspace "pol-up" exceeded: the upload needs [\\d.]+ KiB more, ${used === 0 ? '0 B' : '[\\d.]+ \\S+'} of 64\\.0 KiB are used; nothing was tagged$`));
    const rec = await api(alice, 'GET', `/uploads/${res.headers['x-upload-id']}`);
    expect(rec.body).toMatchObject({ state: 'failed', error: { reason: 'quota_exceeded' } });
    expect(await tagsOf('pol-up', 'tool')).toEqual([]);
    expect((await api(admin, 'PUT', '/workspaces/pol-up/quota', { limit: '10MiB' })).status).toBe(200);
    const ok = await api(alice, 'POST', '/workspaces/pol-up/uploads', undefined, { type: 'application/x-tar', data: archive });
    expect(ok.status).toBe(201);
    expect(await tagsOf('pol-up', 'tool')).toEqual(['1']);
  });

  it('immutable versions: overwrite by push and by upload, and delete through the API, are refused naming the rule', async () => {
    const one = await buildImage(path.join(work, 'one'), { layers: [{ bytes: 1500 }], label: 'one' });
    const two = await buildImage(path.join(work, 'two'), { layers: [{ bytes: 1600 }], label: 'two' });
    const rule = await api(alice, 'POST', '/workspaces/pol-own/immutable-rules', { tags: 'v*', images: 'rel/**' });
    expect(rule.status).toBe(201);
    const id = rule.body.id as number;
    // the first push of a protected version passes; a version no rule matches is overwritten freely
    expect((await push(a, one.dir, 'pol-own/rel/app:v1')).code).toBe(0);
    expect((await push(a, one.dir, 'pol-own/rel/app:dev')).code).toBe(0);
    expect((await push(a, two.dir, 'pol-own/rel/app:dev')).code).toBe(0);
    expect((await push(a, one.dir, 'pol-own/other:v1')).code).toBe(0);
    expect((await push(a, two.dir, 'pol-own/other:v1')).code).toBe(0);

    const mark = stack.logs.length;
    const over = await push(a, two.dir, 'pol-own/rel/app:v1');
    // Harbor answers the manifest PUT 412 PRECONDITION; skopeo prints Harbor's message
    expectRefused(over, /Failed to process request due to 'rel\/app:v1' configured as immutable\./);
    expectAnswered(stack.logs, mark, 412);
    const before = (await api(alice, 'GET', '/workspaces/pol-own/images/rel/app')).body.versions.find((v: any) => v.tag === 'v1').digest;
    expect(before).toBe((await api(alice, 'GET', '/workspaces/pol-own/images/rel/app')).body.versions.find((v: any) => v.tag === 'v1').digest);

    // console upload over the protected version: 409 naming the rule, nothing tagged (dev is not moved either)
    const devBefore = (await api(alice, 'GET', '/workspaces/pol-own/images/rel/app')).body.versions.find((v: any) => v.tag === 'dev').digest;
    const archive = dockerSave([{ layers: [layerTar()], refs: ['rel/app:dev', 'rel/app:v1'] }]);
    const res = await api(alice, 'POST', '/workspaces/pol-own/uploads', undefined, { type: 'application/x-tar', data: archive });
    refused(
      res,
      409,
      'CONFLICT',
      `version "rel/app:v1" of workspace "pol-own" is protected by immutable rule #${id} (versions "v*" of images "rel/**") and cannot be overwritten; nothing was tagged`,
    );
    const after = (await api(alice, 'GET', '/workspaces/pol-own/images/rel/app')).body.versions;
    expect(after.find((v: any) => v.tag === 'dev').digest).toBe(devBefore);
    expect(after.find((v: any) => v.tag === 'v1').digest).toBe(before);

    // delete through hubgate's API: the version stays, the answer names the rule
    const del = await api(alice, 'DELETE', '/workspaces/pol-own/images/rel/app/versions', { tags: ['v1'] });
    expect(del.status).toBe(200);
    expect(del.body.failed).toEqual([
      { tag: 'v1', code: 'CONFLICT', reason: `version "rel/app:v1" of workspace "pol-own" cannot be deleted: protected by immutable rule #${id} (versions "v*" of images "rel/**")` },
    ]);
    const delImage = await api(alice, 'DELETE', '/images', { items: [{ workspace: 'pol-own', image: 'rel/app' }] });
    expect(delImage.body.failed).toEqual([
      { workspace: 'pol-own', image: 'rel/app', code: 'CONFLICT', reason: `image "rel/app" of workspace "pol-own" cannot be deleted: its version "v1" is protected by immutable rule #${id} (versions "v*" of images "rel/**")` },
    ]);
    expect(await tagsOf('pol-own', 'rel/app')).toEqual(['dev', 'v1']);

    // the workspace itself is not deleted while it holds a protected version (nothing of it is deleted)
    refused(
      await api(alice, 'DELETE', '/workspaces/pol-own'),
      409,
      'CONFLICT',
      `workspace "pol-own" cannot be deleted: version "rel/app:v1" is protected by immutable rule #${id} (versions "v*" of images "rel/**"); remove the rule first`,
    );
    expect(await tagsOf('pol-own', 'other')).toEqual(['v1']);

    // rule removed: overwrite and delete work again
    expect((await api(alice, 'DELETE', `/workspaces/pol-own/immutable-rules/${id}`)).status).toBe(200);
    expect((await push(a, two.dir, 'pol-own/rel/app:v1')).code).toBe(0);
    const del2 = await api(alice, 'DELETE', '/workspaces/pol-own/images/rel/app/versions', { tags: ['v1'] });
    expect(del2.body.deleted.map((x: any) => x.tag)).toEqual(['v1']);
  });
});

d('HUBGATE_DEFAULT_WORKSPACE_QUOTA: the quota of new workspaces', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ HUBGATE_DEFAULT_WORKSPACE_QUOTA: '5MiB' });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('a workspace created through hubgate starts with the default limit; a cloud admin can change it', async () => {
    const admin = await stack.idp.adminToken({ sub: 'root', username: 'root' });
    const call = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`${stack.url}/api/v1${p}`, {
        method,
        headers: { Authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const created = await call('POST', '/workspaces', { name: 'pol-dflt', projectId: 'pol-d', department: 'dep' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ storageLimitBytes: 5 * 1024 * 1024, storageUsedBytes: 0, storageUsedPercent: 0 });
    expect((await call('GET', '/workspaces/pol-dflt/quota')).body).toEqual({ workspace: 'pol-dflt', limitBytes: 5242880, usedBytes: 0, usedPercent: 0, limit: '5.0 MiB', used: '0 B' });
    expect((await call('PUT', '/workspaces/pol-dflt/quota', { limit: '1GB' })).body).toMatchObject({ limitBytes: 1e9, limit: '953.7 MiB' });
    expect((await call('DELETE', '/workspaces/pol-dflt')).status).toBe(200);
  });
});
