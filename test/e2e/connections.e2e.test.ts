/**
 * Connection timeouts against the requests that legitimately wait: the client idle timeout
 * (HUBGATE_CLIENT_IDLE_TIMEOUT_MS) closes connections that stop moving, but a console upload whose body has
 * arrived and that now waits for hubgate to push it to a slow Harbor is not idle in that sense — it must get its
 * answer, however long Harbor takes. Harbor double with a slow manifest PUT, Debian docker-registry, in-process
 * hubgate with a 1 s client idle timeout.
 */
import http from 'node:http';
import net from 'node:net';
import { startStack, type Stack } from '../support/clients';
import { requireTools } from '../support/tools';
import { dockerSave, layerTar } from '../support/archives';
import { doubleOnly } from '../support/real-harbor';

jest.setTimeout(120_000);

const tools = requireTools('connections e2e', ['docker-registry']);
const d = tools.available ? describe : describe.skip;

function post(url: string, token: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/x-tar', 'Content-Length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

d('connections: idle timeouts never cut a request that is waiting on hubgate', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ HUBGATE_CLIENT_IDLE_TIMEOUT_MS: '1000' });
    await stack.project('conn-p', [{ name: 'conn-ws', access: 'private' }]);
  });

  afterAll(async () => {
    await stack?.close();
  });

  doubleOnly('slows Harbor down with the double latency model')('a console upload waiting 2.5 s on a slow Harbor manifest PUT gets its 201 with a 1 s client idle timeout', async () => {
    stack.harbor.setLatency({ operations: { 'v2:manifest:PUT': { baseMs: 2500 } } });
    try {
      const token = await stack.idp.memberToken({ sub: 'user-conn-p', username: 'user-conn-p', projects: [{ id: 'conn-p', name: 'CONN-P', department: 'dep' }] });
      const archive = dockerSave([{ layers: [layerTar()], refs: ['app:1'] }]);
      const r = await post(`${stack.url}/api/v1/workspaces/conn-ws/uploads`, token, archive);
      expect({ status: r.status, state: (JSON.parse(r.body) as { state?: string }).state }).toEqual({ status: 201, state: 'succeeded' });
    } finally {
      stack.harbor.setLatency(null);
    }
  });

  it('an idle keep-alive connection is closed after the client idle timeout', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const socketClosed = new Promise<number>((resolve) => {
      const req = http.get(`${stack.url}/healthz`, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const at = Date.now();
          req.socket?.once('close', () => resolve(Date.now() - at));
        });
      });
    });
    // Closed by hubgate (keep-alive / idle timeout ≤ 1 s here), not kept open for the default minutes.
    const after = await socketClosed;
    expect(after).toBeLessThan(10_000);
    agent.destroy();
  });

  it('a request Node cannot parse (Content-Length and Transfer-Encoding together) gets the error envelope, and the replica keeps serving', async () => {
    const u = new URL(stack.url);
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(u.port), u.hostname);
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(text));
      socket.write('DELETE /api/v1/workspaces/conn-ws/images/app/versions HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n');
    });
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ errors: [{ code: 'BAD_REQUEST', message: 'malformed HTTP request' }] });
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
  });
});
