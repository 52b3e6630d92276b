/**
 * Harbor's session cookie (recorded on Harbor 2.5.5, test/fixtures/harbor/issue12 R01–R06): every Harbor answer sets
 * `sid`, and a request that sends it back is refused on every write with 403 "CSRF token invalid". hubgate must
 * never hand Harbor's cookie to registry clients or API callers, and never send a cookie to Harbor — neither one it
 * kept nor one a client sent (a browser-ish client, or one replaying what it got): registry reads, token requests,
 * pushes (skopeo and a raw manifest PUT carrying a cookie) and API calls all work, no answer sets a cookie, and the
 * Harbor double saw no `Cookie` header at all.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { buildImage, clientOrSkip, run, startStack, tempDir, type Stack } from '../support/clients';
import { REAL_HARBOR } from '../support/real-harbor';

jest.setTimeout(180_000);

const need = ['skopeo', 'docker-registry'].map(clientOrSkip);
for (const n of need) if (!n.available) console.warn(n.reason);
const d = need.every((n) => n.available) ? describe : describe.skip;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function send(base: string, method: string, p: string, headers: Record<string, string>, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const h = body === undefined ? headers : { ...headers, 'Content-Length': String(Buffer.byteLength(body)) };
    const req = http.request(`${base}${p}`, { method, headers: h, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

d("Harbor's session cookie never crosses hubgate", () => {
  let stack: Stack;
  let work: string;
  const answers: { what: string; a: Answer }[] = [];
  const through = async (what: string, method: string, p: string, headers: Record<string, string>, body?: Buffer | string) => {
    const a = await send(stack.url, method, p, headers, body);
    answers.push({ what, a });
    return a;
  };

  beforeAll(async () => {
    stack = await startStack();
    work = tempDir('harbor-session');
  });
  afterAll(async () => {
    await stack?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('registry and API traffic works, with and without a client cookie, and no cookie crosses in either direction', async () => {
    // Harbor (the double, like Harbor 2.5.5) sets a session on every answer: take one as a client would have it
    const direct = await send(stack.harbor.url, 'GET', '/api/v2.0/ping', {});
    const sid = /sid=[0-9a-f]{32}/.exec(String(direct.headers['set-cookie']))?.[0];
    expect(sid).toBeDefined();
    const cookie = { Cookie: `${sid}; _gorilla_csrf=replayed` };

    const member = await stack.idp.memberToken({ sub: 'user-hs', username: 'user-hs', projects: [{ id: 'hs', name: 'HS', department: 'dep' }] });
    const api = { Authorization: `Bearer ${member}`, 'Content-Type': 'application/json', ...cookie };
    expect((await through('create workspace', 'POST', '/api/v1/workspaces', api, JSON.stringify({ name: 'hs-ws', projectId: 'hs', access: 'private' }))).status).toBe(201);
    const cred = await through('credentials', 'GET', '/api/v1/projects/hs/credentials', api);
    expect(cred.status).toBe(200);
    const { username, password } = JSON.parse(cred.body.toString()) as { username: string; password: string };
    const basicAuth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

    const img = await buildImage(path.join(work, 'app'), { layers: [{ bytes: 5000 }], label: 'session' });
    const pushed = await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `${username}:${password}`, `oci:${img.dir}:latest`, `docker://${stack.host}/hs-ws/app:v1`]);
    expect(pushed.code).toBe(0);

    expect((await through('/v2/ with Basic and a cookie', 'GET', '/v2/', { Authorization: basicAuth, ...cookie })).status).toBe(200);
    const tok = await through('token with a cookie', 'GET', '/service/token?service=harbor-registry&scope=repository:hs-ws/app:pull,push', { Authorization: basicAuth, ...cookie });
    expect(tok.status).toBe(200);
    const bearer = { Authorization: `Bearer ${(JSON.parse(tok.body.toString()) as { token: string }).token}` };
    const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
    const manifest = await through('manifest GET with a cookie', 'GET', '/v2/hs-ws/app/manifests/v1', { ...bearer, Accept: accept, ...cookie });
    expect(manifest.status).toBe(200);
    // a write carrying the client's cookie: Harbor would refuse it (CSRF) if hubgate passed the cookie on
    const put = await through('manifest PUT with a cookie', 'PUT', '/v2/hs-ws/app/manifests/v2', { ...bearer, 'Content-Type': String(manifest.headers['content-type']), ...cookie }, manifest.body);
    expect(put.status).toBe(201);
    const withBasic = await through('manifest PUT, Basic, with a cookie', 'PUT', '/v2/hs-ws/app/manifests/v3', { Authorization: basicAuth, 'Content-Type': String(manifest.headers['content-type']), ...cookie }, manifest.body);
    expect(withBasic.status).toBe(201);
    const tags = await through('tags list', 'GET', '/v2/hs-ws/app/tags/list', bearer);
    expect((JSON.parse(tags.body.toString()) as { tags: string[] }).tags.sort()).toEqual(['v1', 'v2', 'v3']);
    const images = await through('images list', 'GET', '/api/v1/images?view=own', api);
    expect(images.status).toBe(200);
    const removed = await through('delete version', 'DELETE', '/api/v1/workspaces/hs-ws/images/app/versions', api, JSON.stringify({ tags: ['v3'] }));
    expect(removed.status).toBe(200);

    // nothing of Harbor's session reached a client...
    expect(answers.filter(({ a }) => a.headers['set-cookie'] !== undefined || a.headers['x-harbor-csrf-token'] !== undefined).map((x) => x.what)).toEqual([]);
    // ...and no cookie reached Harbor (the double records the Cookie header of every request)
    if (!REAL_HARBOR) {
      expect(stack.harbor.calls.length).toBeGreaterThan(10);
      expect(stack.harbor.calls.filter((c) => c.cookie !== undefined).map((c) => `${c.method} ${c.url}`)).toEqual([]);
    }
  });
});
