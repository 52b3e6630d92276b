/**
 * Requests Node's HTTP parser refuses get Harbor's error envelope (not Node's bare status line with an empty body),
 * the connection is closed, and the server goes on serving. Raw sockets: no HTTP client would send these.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerMalformedRequests } from '../../../src/http/connections';
import { exchange } from '../../support/raw-http';

const parse = (answer: string) => {
  const [head, body] = answer.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: lines[0], headers, body: JSON.parse(body) as unknown };
};

describe('malformed requests', () => {
  let server: http.Server;
  let port: number;
  const refused: number[] = [];

  beforeAll(async () => {
    server = http.createServer((_req, res) => res.end('ok'));
    answerMalformedRequests(server, (status) => refused.push(status));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('Content-Length together with Transfer-Encoding (request smuggling): 400 BAD_REQUEST in the envelope, connection closed', async () => {
    const r = await exchange(port, 'DELETE /api/v1/x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{}{}\r\n0\r\n\r\n');
    const p = parse(r.answer);
    expect(p.status).toBe('HTTP/1.1 400 Bad Request');
    expect(p.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(p.headers.connection).toBe('close');
    expect(p.body).toEqual({ errors: [{ code: 'BAD_REQUEST', message: 'malformed HTTP request' }] });
    expect(r.closed).toBe(true);
  });

  it('a header name with a space: 400 in the envelope, nothing of the request echoed', async () => {
    const r = await exchange(port, 'GET /v2/ HTTP/1.1\r\nHost: h\r\nBad Header: secret-value\r\n\r\n');
    expect(parse(r.answer).body).toEqual({ errors: [{ code: 'BAD_REQUEST', message: 'malformed HTTP request' }] });
    expect(r.answer).not.toContain('secret-value');
  });

  it('headers over the size limit: 431 in the envelope', async () => {
    const r = await exchange(port, `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
    const p = parse(r.answer);
    expect(p.status).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(p.body).toEqual({ errors: [{ code: 'BAD_REQUEST', message: 'request headers too large' }] });
  });

  it('counts each refusal and keeps serving well-formed requests', async () => {
    expect(refused).toEqual([400, 400, 431]);
    const ok = await exchange(port, 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(ok.answer.startsWith('HTTP/1.1 200 OK')).toBe(true);
  });
});
