/**
 * Harbor 2.5.5 behaviours the double reproduces so they cannot hide gateway bugs (issue 12): a robot PUT naming a
 * deleted project; ordinary Harbor users and project members (no registry needed).
 */
import http from 'http';
import { startHarborDouble, HarborDouble } from '../harbor-double';

const ADMIN = 'Basic ' + Buffer.from('admin:Harbor12345').toString('base64');

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function call(url: string, opts: { method?: string; auth?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const req = http.request(url, {
      method: opts.method ?? 'GET',
      agent: false,
      headers: { ...(opts.auth ? { Authorization: opts.auth } : {}), ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}), ...opts.headers },
    }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

const errorOf = (a: Answer) => (JSON.parse(a.body) as { errors: { code: string; message: string }[] }).errors[0];

describe('Harbor double: robot PUT naming a deleted project', () => {
  let harbor: HarborDouble;
  beforeAll(async () => {
    harbor = await startHarborDouble();
  });
  afterAll(async () => {
    await harbor.close();
  });

  it('answers 404 "project <name> not found" and changes nothing (Harbor rolls the request back)', async () => {
    for (const name of ['keep-a', 'gone-b']) {
      expect((await call(`${harbor.url}/api/v2.0/projects`, { method: 'POST', auth: ADMIN, body: { project_name: name, metadata: { public: 'false' } } })).status).toBe(201);
    }
    const perm = (ns: string) => ({ kind: 'project', namespace: ns, access: [{ resource: 'repository', action: 'pull' }] });
    const created = await call(`${harbor.url}/api/v2.0/robots`, { method: 'POST', auth: ADMIN, body: { name: 'ci', level: 'system', duration: -1, permissions: [perm('keep-a'), perm('gone-b')] } });
    expect(created.status).toBe(201);
    const id = JSON.parse(created.body).id as number;
    expect((await call(`${harbor.url}/api/v2.0/projects/gone-b`, { method: 'DELETE', auth: ADMIN })).status).toBe(200);

    const put = await call(`${harbor.url}/api/v2.0/robots/${id}`, {
      method: 'PUT',
      auth: ADMIN,
      body: { name: 'robot$ci', level: 'system', duration: -1, description: 'changed', disable: true, permissions: [perm('keep-a'), perm('gone-b')] },
    });
    expect(put.status).toBe(404);
    expect(errorOf(put)).toEqual({ code: 'NOT_FOUND', message: 'project gone-b not found' });
    const robot = harbor.state.robots.get(id)!;
    expect([robot.description, robot.disable, robot.permissions.map((p) => p.namespace)]).toEqual(['', false, ['keep-a', 'gone-b']]);

    const without = await call(`${harbor.url}/api/v2.0/robots/${id}`, {
      method: 'PUT',
      auth: ADMIN,
      body: { name: 'robot$ci', level: 'system', duration: -1, description: 'changed', permissions: [perm('keep-a')] },
    });
    expect(without.status).toBe(200);
    expect(harbor.state.robots.get(id)!.description).toBe('changed');
  });
});

describe('Harbor double: ordinary users and project members (from Harbor 2.5.5 sources)', () => {
  let harbor: HarborDouble;
  const carol = 'Basic ' + Buffer.from('carol:Carol-pass-1').toString('base64');
  beforeAll(async () => {
    harbor = await startHarborDouble();
  });
  afterAll(async () => {
    await harbor.close();
  });

  it('the admin creates a user and makes it a member; the user logs in with Basic and gets its role, nothing more', async () => {
    const weak = await call(`${harbor.url}/api/v2.0/users`, { method: 'POST', auth: ADMIN, body: { username: 'carol', password: 'weak', email: 'carol@example.com', realname: 'Carol' } });
    expect([weak.status, errorOf(weak)]).toEqual([400, { code: 'BAD_REQUEST', message: 'the password or secret must be longer than 8 chars with at least 1 uppercase letter, 1 lowercase letter and 1 number' }]);
    const anon = await call(`${harbor.url}/api/v2.0/users`, { method: 'POST', body: { username: 'carol', password: 'Carol-pass-1', email: 'carol@example.com', realname: 'Carol' } });
    expect(anon.status).toBe(401);
    const created = await call(`${harbor.url}/api/v2.0/users`, { method: 'POST', auth: ADMIN, body: { username: 'carol', password: 'Carol-pass-1', email: 'carol@example.com', realname: 'Carol' } });
    expect([created.status, created.headers.location]).toEqual([201, '/api/v2.0/users/2']);
    const me = await call(`${harbor.url}/api/v2.0/users/current`, { auth: carol });
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body)).toMatchObject({ user_id: 2, username: 'carol', sysadmin_flag: false });

    for (const name of ['team-a', 'team-b']) {
      expect((await call(`${harbor.url}/api/v2.0/projects`, { method: 'POST', auth: ADMIN, body: { project_name: name, metadata: { public: 'false' } } })).status).toBe(201);
    }
    const member = await call(`${harbor.url}/api/v2.0/projects/team-a/members`, { method: 'POST', auth: ADMIN, body: { role_id: 2, member_user: { username: 'carol' } } });
    expect([member.status, member.headers.location]).toEqual([201, '/api/v2.0/projects/team-a/members/2']);

    // her projects: the one she is a member of and the public library
    const projects = await call(`${harbor.url}/api/v2.0/projects`, { auth: carol });
    expect((JSON.parse(projects.body) as { name: string }[]).map((p) => p.name).sort()).toEqual(['library', 'team-a']);
    // a developer pulls and pushes, but does not delete; nothing at all in team-b; no system resources
    const token = async (repo: string) => {
      const t = await call(`${harbor.url}/service/token?service=harbor-registry&scope=repository:${repo}:pull,push,delete`, { auth: carol });
      return JSON.parse(t.body).token as string;
    };
    const claims = (tok: string) => JSON.parse(Buffer.from(tok.split('.')[1], 'base64url').toString('utf8'));
    expect(claims(await token('team-a/app'))).toMatchObject({ sub: 'carol', access: [{ type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] }] });
    expect(claims(await token('team-b/app')).access).toEqual([{ type: 'repository', name: 'team-b/app', actions: [] }]);
    expect((await call(`${harbor.url}/api/v2.0/robots`, { auth: carol })).status).toBe(403);
    expect((await call(`${harbor.url}/api/v2.0/users`, { auth: carol })).status).toBe(403);

    // a wrong password is an anonymous caller, as for admin
    expect((await call(`${harbor.url}/api/v2.0/users/current`, { auth: 'Basic ' + Buffer.from('carol:wrong').toString('base64') })).status).toBe(401);
  });
});
