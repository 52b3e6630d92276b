/**
 * Ordinary Harbor users (not only admin and robots): someone with a Harbor account that is a member of a workspace's
 * Harbor project — a developer who can pull and push there in Harbor itself — must get nothing through hubgate. Only
 * identities hubgate issued pass its registry front: the user's Basic login (on `/v2`, on a manifest, on the token
 * endpoint) is refused without reaching Harbor, and Harbor's own token for that user, fetched around hubgate, is
 * refused too. Against a double that knew only admin and robots, a front that passed such logins on would have
 * looked safe (Harbor refused them); the double now grants them, as Harbor does.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { buildImage, clientOrSkip, run, startStack, tempDir, type ProjectCredentials, type Stack } from '../support/clients';
import { REAL_HARBOR } from '../support/real-harbor';

jest.setTimeout(180_000);

const need = ['skopeo', 'docker-registry'].map(clientOrSkip);
for (const n of need) if (!n.available) console.warn(n.reason);
// creates a Harbor user and a membership in the double (never on a shared real Harbor)
const d = need.every((n) => n.available) && !REAL_HARBOR ? describe : describe.skip;
if (REAL_HARBOR) console.warn('[real Harbor] registry.harbor-users: skipped, it creates a Harbor user (double only)');

const ADMIN = `Basic ${Buffer.from('admin:Harbor12345').toString('base64')}`;
const DAVE = `Basic ${Buffer.from('dave:Dave-pass-123').toString('base64')}`;
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

function request(base: string, method: string, p: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const h = body === undefined ? headers : { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) };
    const req = http.request(`${base}${p}`, { method, headers: h, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

d('ordinary Harbor users get nothing through hubgate', () => {
  let stack: Stack;
  let work: string;
  let creds: ProjectCredentials;

  beforeAll(async () => {
    stack = await startStack();
    work = tempDir('harbor-users');
    creds = await stack.project('hu', [{ name: 'hu-ws', access: 'private' }]);
    const img = await buildImage(path.join(work, 'app'), { layers: [{ bytes: 3000 }], label: 'users' });
    const pushed = await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `${creds.username}:${creds.password}`, `oci:${img.dir}:latest`, `docker://${stack.host}/hu-ws/app:v1`]);
    expect(pushed.code).toBe(0);
    // in Harbor: user dave, developer in the workspace's project
    const h = stack.harbor.url;
    expect((await request(h, 'POST', '/api/v2.0/users', { Authorization: ADMIN }, JSON.stringify({ username: 'dave', password: 'Dave-pass-123', email: 'dave@example.com', realname: 'Dave' }))).status).toBe(201);
    expect((await request(h, 'POST', '/api/v2.0/projects/hu-ws/members', { Authorization: ADMIN }, JSON.stringify({ role_id: 2, member_user: { username: 'dave' } }))).status).toBe(201);
  });
  afterAll(async () => {
    await stack?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("Harbor lets the member pull; hubgate refuses his login and Harbor's token for him", async () => {
    // Harbor itself: dave may pull the private workspace (so a front passing his login on would hand it out)
    const direct = await request(stack.harbor.url, 'GET', '/v2/hu-ws/app/manifests/v1', { Authorization: DAVE, Accept: ACCEPT });
    expect(direct.status).toBe(200);
    const harborToken = await request(stack.harbor.url, 'GET', '/service/token?service=harbor-registry&scope=repository:hu-ws/app:pull', { Authorization: DAVE });
    const token = (JSON.parse(harborToken.body) as { token: string }).token;
    expect((JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { access: { actions: string[] }[] }).access[0].actions).toEqual(['pull', 'push']);

    stack.harbor.clearCalls();
    const attempts = {
      'GET /v2/ (Basic)': await request(stack.url, 'GET', '/v2/', { Authorization: DAVE }),
      'GET manifest (Basic)': await request(stack.url, 'GET', '/v2/hu-ws/app/manifests/v1', { Authorization: DAVE, Accept: ACCEPT }),
      'GET tags (Basic)': await request(stack.url, 'GET', '/v2/hu-ws/app/tags/list', { Authorization: DAVE }),
      'token (Basic)': await request(stack.url, 'GET', '/service/token?service=harbor-registry&scope=repository:hu-ws/app:pull', { Authorization: DAVE }),
      "GET manifest (Harbor's token for dave)": await request(stack.url, 'GET', '/v2/hu-ws/app/manifests/v1', { Authorization: `Bearer ${token}`, Accept: ACCEPT }),
    };
    expect(Object.fromEntries(Object.entries(attempts).map(([k, v]) => [k, v.status]))).toEqual(Object.fromEntries(Object.keys(attempts).map((k) => [k, 401])));
    for (const k of ['GET /v2/ (Basic)', 'GET manifest (Basic)', 'token (Basic)']) {
      expect(attempts[k as keyof typeof attempts].body).toContain("log in with your project's registry credentials");
    }
    // none of it reached Harbor as dave (hubgate's own admin look-ups are all Harbor saw)
    expect(stack.harbor.calls.filter((c) => c.principal !== 'admin').map((c) => `${c.method} ${c.url} as ${c.principal || 'anonymous'}`)).toEqual([]);
    // the workspace's own credentials still pull
    const own = await request(stack.url, 'GET', '/v2/hu-ws/app/manifests/v1', { Authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`, Accept: ACCEPT });
    expect(own.status).toBe(200);
  });
});
