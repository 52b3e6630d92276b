/* eslint-disable @typescript-eslint/no-explicit-any -- assertions over loosely typed JSON answers */
/**
 * Images and GC end to end: skopeo pushes OCI layouts through hubgate's registry front → Harbor double → a real
 * docker-registry; then list / detail / describe / delete versions and images / GC through hubgate's API.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildImage, buildIndex, clientOrSkip, leakedSecrets, run, startStack, tempDir, type ProjectCredentials, type Stack, apiCall } from '../support/clients';

jest.setTimeout(180_000);

const need = ['skopeo', 'docker-registry'].map(clientOrSkip);
for (const n of need) if (!n.available) console.warn(n.reason);
const d = need.every((n) => n.available) ? describe : describe.skip;

d('images and garbage collection through hubgate', () => {
  let stack: Stack;
  let work: string;
  let a: ProjectCredentials;
  let b: ProjectCredentials;
  let alice: string;
  let bobby: string;
  let admin: string;

  const api = (token: string, method: string, p: string, body?: unknown) => apiCall(stack.url, token, method, p, body);
  const push = async (creds: ProjectCredentials, layout: string, dest: string, all = false) => {
    const r = await run('skopeo', ['copy', ...(all ? ['--all'] : []), '--dest-tls-verify=false', '--dest-creds', `${creds.username}:${creds.password}`, `oci:${layout}:latest`, `docker://${stack.host}/${dest}`]);
    expect(r.code).toBe(0);
  };

  beforeAll(async () => {
    stack = await startStack();
    work = tempDir('images-e2e');
    a = await stack.project('img-a', [
      { name: 'img-own', access: 'private' },
      { name: 'img-pub', access: 'public' },
    ]);
    b = await stack.project('img-b', [{ name: 'img-other', access: 'private' }]);
    const project = (id: string) => ({ id, name: id.toUpperCase(), department: 'dep' });
    alice = await stack.idp.memberToken({ sub: 'user-img-a', username: 'user-img-a', projects: [project('img-a')] });
    bobby = await stack.idp.memberToken({ sub: 'user-img-b', username: 'user-img-b', projects: [project('img-b')] });
    admin = await stack.idp.adminToken({ sub: 'root', username: 'root' });
  });
  afterAll(async () => {
    await stack?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('lists, details, describes, deletes and collects garbage', async () => {
    const app = await buildImage(path.join(work, 'app'), { layers: [{ bytes: 4000 }, { bytes: 6000 }], label: 'app' });
    const tool = await buildImage(path.join(work, 'tool'), { layers: [{ bytes: 3000 }], label: 'tool' });
    const multi = await buildIndex(path.join(work, 'multi'), [
      { layers: [{ bytes: 2000 }], architecture: 'amd64', label: 'm1' },
      { layers: [{ bytes: 2100 }], architecture: 'arm64', label: 'm2' },
    ]);
    const secret = await buildImage(path.join(work, 'secret'), { layers: [{ bytes: 1000 }], label: 'secret' });
    await push(a, app.dir, 'img-own/app:v1');

    // the list is cached now; every later push goes through the registry front, which invalidates it
    const first = await api(alice, 'GET', '/images?view=own');
    expect(first.status).toBe(200);
    expect(first.body.total).toBe(1);
    await push(a, app.dir, 'img-own/app:v2');
    await push(a, tool.dir, 'img-own/team/tool:1.0');
    await push(a, multi.dir, 'img-pub/multi:1', true);
    await push(b, secret.dir, 'img-other/secret:1');

    const own = await api(alice, 'GET', '/images?view=own&sort=name');
    expect(own.headers['x-total-count']).toBe('3');
    expect(own.body.items.map((i: any) => `${i.workspace}/${i.image}`)).toEqual(['img-own/app', 'img-pub/multi', 'img-own/team/tool']);
    const appRow = own.body.items[0];
    expect(appRow).toMatchObject({ pullAddress: `${stack.host}/img-own/app`, versionCount: 2, relation: 'manage', shared: false });
    expect(appRow.sizeBytes).toBeGreaterThan(10_000);
    expect(Date.parse(appRow.latestPushAt)).toBeGreaterThan(Date.now() - 120_000);

    // shared view and the SPEC matrix for another project's member
    const shared = await api(bobby, 'GET', '/images?view=shared');
    expect(shared.body.items.map((i: any) => `${i.workspace}/${i.image}`)).toEqual(['img-pub/multi']);
    expect((await api(bobby, 'GET', '/images?page_size=100')).body.items.map((i: any) => i.workspace)).not.toContain('img-own');
    const hidden = await api(bobby, 'GET', '/workspaces/img-own/images/app');
    expect({ status: hidden.status, body: hidden.body }).toEqual({ status: 404, body: { errors: [{ code: 'NOT_FOUND', message: 'workspace "img-own" not found' }] } });
    const readOnly = await api(bobby, 'PATCH', '/workspaces/img-pub/images/multi', { description: 'x' });
    expect({ status: readOnly.status, body: readOnly.body }).toEqual({ status: 403, body: { errors: [{ code: 'FORBIDDEN', message: '"img-pub/multi" is shared with you for viewing and pulling only; only members of the owning project can change it' }] } });
    expect((await api(bobby, 'GET', '/workspaces/img-pub/images/multi')).status).toBe(200);
    expect((await api(admin, 'GET', '/images?page_size=100')).body.total).toBe(4);

    // detail; a pull (manifest GET) counts, an inspect by HEAD-only clients would not
    const inspect = await run('skopeo', ['inspect', '--tls-verify=false', '--creds', `${a.username}:${a.password}`, `docker://${stack.host}/img-own/app:v1`]);
    expect(inspect.code).toBe(0);
    const detail = await api(alice, 'GET', '/workspaces/img-own/images/app');
    expect(detail.status).toBe(200);
    expect(detail.body.versions.map((v: any) => v.tag).sort()).toEqual(['v1', 'v2']);
    // skopeo compresses the layers on push, so the pushed digest is Harbor's, the same for both tags
    const digest = detail.body.versions[0].digest as string;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(detail.body.versions[1].digest).toBe(digest);
    expect(detail.body.versions[0]).toMatchObject({ os: 'linux', architecture: 'amd64', kind: 'image', pullAddressByDigest: `${stack.host}/img-own/app@${digest}` });
    expect(detail.body.versions.find((v: any) => v.tag === 'v1').pullAddress).toBe(`${stack.host}/img-own/app:v1`);
    // Harbor counts pulls in batches (every 10 s by default; the double does the same): the pull shows up late.
    const deadline = Date.now() + 30_000;
    let pulls = detail.body.pullCount as number;
    while (pulls < 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      pulls = (await api(alice, 'GET', '/workspaces/img-own/images/app')).body.pullCount as number;
    }
    expect(pulls).toBe(1);
    expect(detail.body.storageUsedBytes).toBe(appRow.sizeBytes);
    const slash = await api(alice, 'GET', '/workspaces/img-own/images/team%2Ftool');
    expect(slash.body).toMatchObject({ image: 'team/tool', versionCount: 1 });

    // description: raw Markdown
    const md = '# App\n\nBuilt by **CI** <br> & enjoy';
    expect((await api(alice, 'PATCH', '/workspaces/img-own/images/app', { description: md })).body.description).toBe(md);
    expect((await api(bobby, 'GET', '/workspaces/img-pub/images/multi')).body.description).toBe('');

    // versions: v1 goes (artifact kept, v2 still points at it), then v2 (artifact deleted)
    const v1 = await api(alice, 'DELETE', '/workspaces/img-own/images/app/versions', { tags: ['v1', 'nope'] });
    expect(v1.status).toBe(200);
    expect(v1.body.deleted).toEqual([{ tag: 'v1', digest, artifactDeleted: false }]);
    expect(v1.body.failed).toEqual([{ tag: 'nope', code: 'NOT_FOUND', reason: expect.any(String) }]);
    expect(v1.body.note).toMatch(/garbage collection/);
    const v2 = await api(alice, 'DELETE', '/workspaces/img-own/images/app/versions', { tags: ['v2'] });
    expect(v2.body.deleted).toEqual([{ tag: 'v2', digest, artifactDeleted: true }]);
    expect((await api(alice, 'GET', '/images?view=own&q=app')).body.items[0].versionCount).toBe(0);

    // batch image delete with a partial failure
    const del = await api(alice, 'DELETE', '/images', { items: [{ workspace: 'img-own', image: 'team/tool' }, { workspace: 'img-other', image: 'secret' }, { workspace: 'img-pub', image: 'multi' }] });
    expect(del.status).toBe(200);
    expect(del.body.deleted).toEqual([
      { workspace: 'img-own', image: 'team/tool' },
      { workspace: 'img-pub', image: 'multi' },
    ]);
    expect(del.body.failed).toEqual([{ workspace: 'img-other', image: 'secret', code: 'NOT_FOUND', reason: expect.any(String) }]);
    expect((await api(alice, 'GET', '/images?view=own')).body.items.map((i: any) => i.image)).toEqual(['app']);
    expect((await api(admin, 'GET', '/images?workspace=img-other')).body.total).toBe(1);

    // GC: members may not; admin starts one; a second start while it runs is 409; status, freed space, log
    const memberGc = await api(alice, 'POST', '/gc', {});
    expect({ status: memberGc.status, body: memberGc.body }).toEqual({ status: 403, body: { errors: [{ code: 'FORBIDDEN', message: 'garbage collection is platform-wide: cloud administrators only' }] } });
    const started = await api(admin, 'POST', '/gc', { dryRun: false });
    expect(started.status).toBe(202);
    expect(started.headers.location).toBe(`/api/v1/gc/${started.body.id}`);
    expect(started.body.note).toMatch(/hour|at once/);
    const again = await api(admin, 'POST', '/gc', {});
    expect({ status: again.status, body: again.body }).toEqual({ status: 409, body: { errors: [{ code: 'CONFLICT', message: `garbage collection ${started.body.id} is still running; wait for it to finish` }] } });
    let status: any;
    for (let i = 0; i < 100; i++) {
      status = (await api(admin, 'GET', `/gc/${started.body.id}`)).body;
      if (status.finishedAt) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toMatchObject({ status: 'Success', dryRun: false, result: { kind: 'freed', freedBytes: expect.any(Number), blobs: expect.any(Number) } });
    expect(status.result.blobs).toBeGreaterThan(0);
    const log = await api(admin, 'GET', `/gc/${started.body.id}/log`);
    expect(log.status).toBe(200);
    expect(log.text).toContain('success to run gc');
    const history = await api(admin, 'GET', '/gc');
    expect(history.body).toMatchObject({ total: 1, running: false });
    expect(history.text).not.toContain('redis');
    const metrics = await stack.metrics();
    expect(metrics).toMatch(/hubgate_gc_last_status\{status="Success"\} 1/);

    expect(leakedSecrets(stack.logs, [a.password, b.password, alice, bobby, admin])).toEqual([]);
  });
});
