/**
 * src/http/connections.ts on a plain Node server: the per-address connection cap (counted per peer before any byte
 * is read, trusted proxies exempt, released when a connection closes), and the clientError handler's cases that
 * write nothing (a reset, a socket that can no longer be written, a response already under way) or answer 408.
 */
import http from 'node:http';
import { PassThrough } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { answerMalformedRequests, capConnectionsPerAddress } from '../../../src/http/connections';
import { compileTrust } from '../../../src/http/registry/auth';
import { closedWith, connectRaw, exchange } from '../../support/raw-http';

describe('capConnectionsPerAddress', () => {
  let server: http.Server;
  let port: number;
  let count: (address: string) => number;
  let refused = 0;

  async function start(max: number, trusted: string[] = [], report = true) {
    server = http.createServer((_req, res) => res.end('ok'));
    const onRefused = report ? () => void refused++ : undefined;
    count = capConnectionsPerAddress(server, { max, trust: compileTrust(trusted), onRefused });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  }
  const serverSideClosed = () => new Promise<void>((r) => server.once('connection', (s: import('node:net').Socket) => s.once('close', () => r())));

  beforeEach(() => (refused = 0));
  afterEach(() => new Promise<void>((r) => server.close(() => r())));

  it('holds up to max connections per address, closes the next on arrival (nothing written) and reports it', async () => {
    await start(2);
    const a = await connectRaw(port);
    const b = await connectRaw(port);
    expect(await closedWith(await connectRaw(port))).toBe('');
    expect(refused).toBe(1);
    expect(count('127.0.0.1')).toBe(2);
    // the held connections are served
    expect((await exchange(port, 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n', a)).answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok$/);
    b.destroy();
    await new Promise((r) => setImmediate(r));
  });

  it('without a refusal callback it still closes the connection over the cap on arrival, unanswered', async () => {
    await start(1, [], false);
    const a = await connectRaw(port);
    const over = await exchange(port, 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    const held = count('127.0.0.1');
    a.destroy();
    expect(over).toEqual({ answer: '', closed: true });
    expect(held).toBe(1);
  });

  it('gives a slot back when a connection closes; forgets an address with none left', async () => {
    await start(1);
    const first = serverSideClosed();
    const a = await connectRaw(port);
    expect(count('127.0.0.1')).toBe(1);
    a.destroy();
    await first;
    expect(count('127.0.0.1')).toBe(0);
    const again = await exchange(port, 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(again.answer.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(refused).toBe(0);
  });

  it('counts down one closed connection at a time', async () => {
    await start(3);
    const closing = serverSideClosed();
    const a = await connectRaw(port);
    const b = await connectRaw(port);
    expect(count('127.0.0.1')).toBe(2);
    a.destroy();
    await closing;
    expect(count('127.0.0.1')).toBe(1);
    b.destroy();
  });

  it('exempts trusted proxies: not counted, never refused', async () => {
    await start(1, ['loopback']);
    const a = await connectRaw(port);
    const b = await exchange(port, 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(b.answer.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(count('127.0.0.1')).toBe(0);
    expect(refused).toBe(0);
    a.destroy();
  });

  it('max 0: no cap at all', async () => {
    await start(0);
    const a = await connectRaw(port);
    const b = await exchange(port, 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(b.answer.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(count('127.0.0.1')).toBe(0);
    expect(server.listenerCount('connection')).toBe(1); // Node's own
    a.destroy();
  });
});

describe('answerMalformedRequests: what is only destroyed, and the 408', () => {
  const server = http.createServer();
  const refused: number[] = [];
  answerMalformedRequests(server, (status) => refused.push(status));

  /** A socket stand-in: what was written to it, and whether it was destroyed. */
  function socket(opts: { writable?: boolean; headersSent?: boolean } = {}) {
    const s = new PassThrough();
    let written = '';
    s.on('data', (c: Buffer) => (written += c.toString()));
    if (opts.writable === false) Object.defineProperty(s, 'writable', { value: false });
    if (opts.headersSent !== undefined) Object.assign(s, { _httpMessage: { headersSent: opts.headersSent } });
    const destroy = jest.spyOn(s, 'destroy');
    return { s, written: () => written, destroyed: () => destroy.mock.calls.length };
  }
  const error = (code: string) => Object.assign(new Error(code), { code });

  beforeEach(() => (refused.length = 0));

  it.each([
    ['the client reset the connection', 'ECONNRESET', {}],
    ['the socket can no longer be written', 'HPE_INVALID_METHOD', { writable: false }],
    ['a response is already under way', 'HPE_INVALID_METHOD', { headersSent: true }],
  ] as const)('%s: destroyed, nothing written, not counted', async (_what, code, opts) => {
    const k = socket(opts);
    server.emit('clientError', error(code), k.s);
    await new Promise((r) => setImmediate(r));
    expect(k.destroyed()).toBe(1);
    expect(k.written()).toBe('');
    expect(refused).toEqual([]);
  });

  it('a request whose response has not started yet is answered', async () => {
    const k = socket({ headersSent: false });
    server.emit('clientError', error('HPE_INVALID_METHOD'), k.s);
    await new Promise((r) => setImmediate(r));
    expect(k.written().split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(refused).toEqual([400]);
  });

  it('headers that never finished (request timeout): 408 REQUEST_TIMEOUT in the envelope, connection closed', async () => {
    const k = socket();
    server.emit('clientError', error('ERR_HTTP_REQUEST_TIMEOUT'), k.s);
    await new Promise((r) => setImmediate(r));
    const body = '{"errors":[{"code":"REQUEST_TIMEOUT","message":"the request did not arrive in time"}]}\n';
    expect(k.written()).toBe(
      `HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(k.s.writableEnded).toBe(true);
    expect(refused).toEqual([408]);
  });

  it('without a refusal callback it still answers', async () => {
    const bare = http.createServer();
    answerMalformedRequests(bare);
    const k = socket();
    bare.emit('clientError', error('HPE_HEADER_OVERFLOW'), k.s);
    await new Promise((r) => setImmediate(r));
    expect(k.written().split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
  });
});
