/** The Harbor double's own test hooks: fault injection, call log, reset (no registry needed). */
import http from 'http';
import { startHarborDouble, HarborDouble } from '../harbor-double';

const ADMIN = 'Basic ' + Buffer.from('admin:Harbor12345').toString('base64');

function get(url: string, opts: { method?: string; auth?: string; body?: unknown; timeoutMs?: number } = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const req = http.request(url, {
      method: opts.method ?? 'GET',
      headers: { ...(opts.auth ? { Authorization: opts.auth } : {}), ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}) },
    }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.setTimeout(opts.timeoutMs ?? 5000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

describe('Harbor double test hooks', () => {
  let harbor: HarborDouble;
  beforeAll(async () => {
    harbor = await startHarborDouble();
  });
  afterAll(async () => {
    await harbor.close();
  });

  it('injects a status once, then answers normally, and logs the calls', async () => {
    harbor.clearCalls();
    harbor.failNext('GET', /^\/api\/v2\.0\/projects$/, 503);
    const r1 = await get(`${harbor.url}/api/v2.0/projects`, { auth: ADMIN });
    expect(r1.status).toBe(503);
    expect(r1.headers['content-type']).toBe('application/json; charset=utf-8');
    const r2 = await get(`${harbor.url}/api/v2.0/projects`, { auth: ADMIN });
    expect(r2.status).toBe(200);
    expect(JSON.parse(r2.body).map((p: { name: string }) => p.name)).toEqual(['library']);
    expect(harbor.calls.map((c) => [c.method, c.url, c.status, c.principal])).toEqual([
      ['GET', '/api/v2.0/projects', 503, ''],
      ['GET', '/api/v2.0/projects', 200, 'admin'],
    ]);
  });

  it('injects connection resets and timeouts', async () => {
    harbor.failNext('*', '/api/v2.0/users/current', 'reset');
    await expect(get(`${harbor.url}/api/v2.0/users/current`, { auth: ADMIN })).rejects.toThrow();
    harbor.failNext('GET', '/api/v2.0/users/current', 'timeout');
    await expect(get(`${harbor.url}/api/v2.0/users/current`, { auth: ADMIN, timeoutMs: 300 })).rejects.toThrow('client timeout');
    const ok = await get(`${harbor.url}/api/v2.0/users/current`, { auth: ADMIN });
    expect(ok.status).toBe(200);
  });

  it('reset() returns to a fresh install', async () => {
    const c = await get(`${harbor.url}/api/v2.0/projects`, { method: 'POST', auth: ADMIN, body: { project_name: 'tmp1', metadata: { public: 'false' } } });
    expect(c.status).toBe(201);
    expect(c.headers.location).toBe('/api/v2.0/projects/2');
    await harbor.reset();
    const list = await get(`${harbor.url}/api/v2.0/projects`, { auth: ADMIN });
    expect(JSON.parse(list.body).map((p: { project_id: number; name: string }) => `${p.project_id}:${p.name}`)).toEqual(['1:library']);
    const again = await get(`${harbor.url}/api/v2.0/projects`, { method: 'POST', auth: ADMIN, body: { project_name: 'tmp2' } });
    expect(again.headers.location).toBe('/api/v2.0/projects/2');
  });

  it('answers /v2 with 503 when no registry is configured', async () => {
    const r = await get(`${harbor.url}/v2/library/x/tags/list`, { auth: ADMIN });
    expect(r.status).toBe(503);
  });
});
