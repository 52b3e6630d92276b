/**
 * Content negotiation (finding l of ../shared/harbor-2.5.5/README.md): Harbor's go-swagger server checks `Accept`
 * against each operation's `produces` before the handler runs and answers 422 when nothing matches. The double
 * does the same for every operation of swagger.yaml, and hubgate's adapter sends what each operation produces.
 * No registry needed.
 */
import http from 'http';
import { createHarborAdapter, type HarborAdapter } from '../../adapters/harbor/harbor.adapter';
import { startHarborDouble, HarborDouble } from '../harbor-double';
import { negotiate, parseAccept } from '../harbor-double/negotiate';

const ADMIN = 'Basic ' + Buffer.from('admin:Harbor12345').toString('base64');

function call(url: string, o: { method?: string; accept?: string | string[]; auth?: string | null; body?: unknown } = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const headers: http.OutgoingHttpHeaders = {};
    if (o.auth !== null) headers.Authorization = o.auth ?? ADMIN;
    if (o.accept !== undefined) headers.Accept = o.accept;
    if (payload) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': payload.length });
    const req = http.request(url, { method: o.method ?? 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const envelope = (only: string) =>
  JSON.stringify({ errors: [{ code: 'UNPROCESSABLE_ENTITY', message: `validation failure list:\nunsupported media type requested, only [${only}] are available` }] }) + '\n';

describe('Harbor double: content negotiation like go-swagger', () => {
  let harbor: HarborDouble;
  let adapter: HarborAdapter;
  let gcId: number;
  let api: string;

  beforeAll(async () => {
    harbor = await startHarborDouble({ gcDelayMs: 0 });
    api = `${harbor.url}/api/v2.0`;
    adapter = createHarborAdapter({ baseUrl: harbor.url, username: 'admin', password: 'Harbor12345', timeoutMs: 5000, retries: 0 });
    gcId = await adapter.startGc({ dryRun: true, deleteUntagged: true });
    for (let i = 0; i < 50 && (await adapter.getGc(gcId))?.job_status !== 'Success'; i++) await new Promise((r) => setTimeout(r, 20));
  });
  afterAll(async () => {
    adapter?.close();
    await harbor?.close();
  });

  it('GC log (produces text/plain): Accept application/json → 422 in Harbor\'s envelope', async () => {
    const r = await call(`${api}/system/gc/${gcId}/log`, { accept: 'application/json' });
    expect(r.status).toBe(422);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(r.body).toBe(envelope('text/plain'));
  });

  it.each([[undefined], ['*/*'], ['text/plain'], ['text/*'], ['text/plain;q=0.5, text/html'], ['']])('GC log with Accept %p → 200 text', async (accept) => {
    const r = await call(`${api}/system/gc/${gcId}/log`, { accept });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.body).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[INFO\] /);
  });

  it('an Accept that prefers JSON but allows text gets the text as a JSON string (as Harbor answers)', async () => {
    const text = await call(`${api}/system/gc/${gcId}/log`, { accept: 'text/plain' });
    for (const accept of ['application/json, text/plain;q=0.5', 'application/json;q=1, */*;q=0.1']) {
      const r = await call(`${api}/system/gc/${gcId}/log`, { accept });
      expect([r.status, r.headers['content-type'], r.body]).toEqual([200, 'application/json', JSON.stringify(text.body) + '\n']);
    }
    const pong = await call(`${api}/ping`, { accept: 'application/json, text/plain;q=0.5', auth: null });
    expect([pong.status, pong.headers['content-type'], pong.body]).toEqual([200, 'application/json', '"Pong"\n']);
  });

  it.each([['text/plain;q=0'], ['application/json'], ['text/html, application/xml']])('GC log with Accept %p → 422', async (accept) => {
    expect((await call(`${api}/system/gc/${gcId}/log`, { accept })).status).toBe(422);
  });

  it('negotiation comes before the handler: anonymous callers and unknown ids get the 422 too', async () => {
    expect((await call(`${api}/system/gc/${gcId}/log`, { accept: 'application/json', auth: null })).status).toBe(422);
    expect((await call(`${api}/system/gc/${gcId}/log`, { auth: null })).status).toBe(401);
    expect((await call(`${api}/system/gc/999999/log`, { accept: 'application/json' })).status).toBe(422);
    expect((await call(`${api}/system/gc/999999/log`, { accept: 'text/plain' })).status).toBe(404);
  });

  it('JSON operations refuse a non-JSON Accept; ping (text/plain) refuses JSON; unknown routes stay 404', async () => {
    const r = await call(`${api}/projects`, { accept: 'text/plain' });
    expect([r.status, r.body]).toEqual([422, envelope('application/json')]);
    expect((await call(`${api}/projects`, { accept: 'application/*' })).status).toBe(200);
    expect((await call(`${api}/projects/library`, { accept: 'application/json' })).status).toBe(200);
    expect((await call(`${api}/ping`, { accept: 'application/json', auth: null })).status).toBe(422);
    expect((await call(`${api}/ping`, { accept: 'text/plain', auth: null })).body).toBe('Pong');
    expect((await call(`${api}/nope`, { accept: 'text/plain' })).status).toBe(404);
  });

  it('a request with a body negotiates against its Content-Type: no 422 for Accept', async () => {
    const r = await call(`${api}/projects`, { method: 'POST', accept: 'text/plain', body: { project_name: 'negotiated', metadata: { public: 'false' } } });
    expect(r.status).toBe(201);
  });

  it('a body must be sent as a media type the operation consumes (application/json), checked before Accept', async () => {
    const raw = (headers: Record<string, string>, method = 'POST', url = `${api}/projects`, body: string | null = '{"project_name":"ct-x","metadata":{"public":"false"}}') =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(url, { method, headers: { Authorization: ADMIN, ...headers } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on('error', reject);
        req.end(body ?? undefined);
      });
    const text = await raw({ 'Content-Type': 'text/plain', Accept: 'text/plain' });
    expect(text.status).toBe(422);
    expect(JSON.parse(text.body).errors[0].message).toBe('validation failure list:\nunsupported media type "text/plain", only [application/json] are allowed');
    expect(JSON.parse((await raw({})).body).errors[0].message).toContain('"application/octet-stream"');
    expect((await raw({ 'Content-Type': 'Application/JSON; charset=utf-8' })).status).toBe(201);
    expect((await raw({ 'Content-Type': 'text/plain' }, 'DELETE', `${api}/robots/999999`, null)).status).toBe(404);
  });

  it("hubgate's adapter reads the GC log (it sends Accept: text/plain)", async () => {
    const log = await adapter.getGcLog(gcId);
    expect(log).toMatch(/Garbage Collection parameters/);
    await expect(adapter.getGcLog(999999)).resolves.toBeNull();
  });

  it('parses Accept as go-openapi does', () => {
    expect(parseAccept(['text/plain; level=1; q=0.5, application/json'])).toEqual([{ value: 'text/plain', q: 0.5 }, { value: 'application/json', q: 1 }]);
    expect(parseAccept(['text/plain;q=x, application/json'])).toEqual([]);
    expect(parseAccept(['a/b', 'c/d;q=0'])).toEqual([{ value: 'a/b', q: 1 }, { value: 'c/d', q: 0 }]);
    expect(negotiate(parseAccept(['application/json']), ['text/plain'], '')).toBe('');
    expect(negotiate(parseAccept(['application/json']), ['text/plain'], 'application/json')).toBe('application/json');
    expect(negotiate([], ['text/plain'], '')).toBe('text/plain');
  });
});
