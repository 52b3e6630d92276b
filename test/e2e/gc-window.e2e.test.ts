/* eslint-disable @typescript-eslint/no-explicit-any -- assertions over loosely typed JSON answers */
/**
 * GC with stock Harbor's 2-hour time window (the Harbor double with `gcTimeWindowHours: 2`, as GC_TIME_WINDOW_HOURS
 * unset): a GC right after a delete frees nothing, and hubgate must say why — the window Harbor reports for the run
 * (not hubgate's own fallback setting, deliberately wrong here) and a note — instead of passing an empty run off as
 * the result. Once the deleted image's blobs are older than the window, the next run frees them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildImage, clientOrSkip, run, startStack, tempDir, type Stack } from '../support/clients';

jest.setTimeout(180_000);

const need = ['skopeo', 'docker-registry'].map(clientOrSkip);
for (const n of need) if (!n.available) console.warn(n.reason);
const d = need.every((n) => n.available) ? describe : describe.skip;

d('garbage collection with Harbor 2.5.5 stock 2 h time window', () => {
  let stack: Stack;
  let work: string;
  let admin: string;
  let alice: string;

  const api = async (token: string, method: string, p: string, body?: unknown) => {
    const res = await fetch(`${stack.url}/api/v1${p}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as any) : undefined };
  };
  const finished = async (id: number) => {
    for (;;) {
      const r = await api(admin, 'GET', `/gc/${id}`);
      if (r.body.finishedAt && r.body.result) return r.body;
      await new Promise((res) => setTimeout(res, 100));
    }
  };

  beforeAll(async () => {
    // hubgate's fallback window deliberately says 0: what the run reports must win
    stack = await startStack({ HUBGATE_GC_WINDOW_HOURS: '0' }, { gcTimeWindowHours: 2, gcDelayMs: 0 });
    work = tempDir('gc-window');
    admin = await stack.idp.adminToken({ sub: 'root', username: 'root' });
    alice = await stack.idp.memberToken({ sub: 'user-gcw', username: 'user-gcw', projects: [{ id: 'gcw', name: 'GCW', department: 'dep' }] });
  });
  afterAll(async () => {
    await stack?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('a GC right after a delete frees nothing and says why; after the window the next one frees the image', async () => {
    const creds = await stack.project('gcw', [{ name: 'gcw-own', access: 'private' }]);
    const img = await buildImage(path.join(work, 'big'), { layers: [{ bytes: 1_200_000 }, { bytes: 300_000 }], label: 'gc-window' });
    const pushed = await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `${creds.username}:${creds.password}`, `oci:${img.dir}:latest`, `docker://${stack.host}/gcw-own/big:v1`]);
    expect(pushed.code).toBe(0);
    expect((await api(alice, 'DELETE', '/images', { items: [{ workspace: 'gcw-own', image: 'big' }] })).status).toBe(200);

    const started = await api(admin, 'POST', '/gc', { dryRun: false });
    expect(started.status).toBe(202);
    expect(started.body.safetyWindowHours).toBe(2);
    expect(started.body.note).toContain('more than 2 hours before the garbage collection starts');
    const first = await finished(started.body.id);
    expect(first.status).toBe('Success');
    expect(first.safetyWindowHours).toBe(2);
    expect(first.result).toEqual({ kind: 'freed', freedBytes: 0, blobs: 0, manifests: 0 });
    expect(first.note).toContain('a run that frees nothing right after a delete has not failed');
    expect((await api(admin, 'GET', '/gc')).body.note).toContain('2 hours');

    // two hours and a bit later (the double's blob times moved back instead of waiting)
    for (const [digest, at] of stack.harbor.state.blobUpdated) stack.harbor.state.blobUpdated.set(digest, at - 2.1 * 3_600_000);
    const again = await api(admin, 'POST', '/gc', { dryRun: false });
    expect(again.status).toBe(202);
    const second = await finished(again.body.id);
    expect(second.result.kind).toBe('freed');
    expect(second.result.blobs).toBeGreaterThanOrEqual(3);
    expect(second.result.manifests).toBe(1);
    expect(second.result.freedBytes).toBe(1024 * 1024);
  });
});
