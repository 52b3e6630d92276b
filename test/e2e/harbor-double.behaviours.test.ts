/**
 * Harbor 2.5.5 behaviours the double reproduces so they cannot hide gateway bugs (issue 12): a robot PUT naming a
 * deleted project, ... (no registry needed).
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
