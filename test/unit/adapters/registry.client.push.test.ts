import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createRegistryClient } from '../../../adapters/registry/registry.client';
import { silentLogger } from '../../../src/observability/logger';

/**
 * Blob pushes as the registry sees them: a failed attempt is restarted from byte 0 (retries), and chunked mode sends
 * contiguous, inclusive `Content-Range`s the way distribution checks them (a gap or overlap is a 416 there).
 */
describe('registry client blob push', () => {
  const content = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz'); // 36 bytes
  const digest = 'sha256:' + createHash('sha256').update(content).digest('hex');
  let server: http.Server;
  let base: string;
  let seen: string[];
  /** Status for the next monolithic PUT attempts (shifted per attempt); 201 once empty. */
  let putStatuses: number[];
  /** Bytes the "registry" holds for the open upload session. */
  let received: Buffer;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        const range = req.headers['content-range'];
        seen.push(`${req.method} ${req.url?.split('?')[0]}${range ? ` ${range}` : ''} ${body.length}`);
        if (req.method === 'POST') {
          received = Buffer.alloc(0);
          res.writeHead(202, { Location: '/v2/ws/app/blobs/uploads/session-1?_state=s', 'Content-Length': '0' });
          return res.end();
        }
        if (req.method === 'PATCH') {
          // distribution: the range must start where the session ends and span exactly the body (inclusive end)
          const m = /^(\d+)-(\d+)$/.exec(String(range ?? ''));
          if (!m || Number(m[1]) !== received.length || Number(m[2]) - Number(m[1]) + 1 !== body.length) {
            res.writeHead(416, { 'Content-Length': '0' });
            return res.end();
          }
          received = Buffer.concat([received, body]);
          res.writeHead(202, { Location: '/v2/ws/app/blobs/uploads/session-1?_state=t', Range: `0-${received.length - 1}`, 'Content-Length': '0' });
          return res.end();
        }
        if (req.method === 'PUT') {
          const status = putStatuses.shift() ?? 201;
          if (status !== 201) {
            res.writeHead(status, { 'Content-Length': '0' });
            return res.end();
          }
          received = Buffer.concat([received, body]);
          const got = 'sha256:' + createHash('sha256').update(received).digest('hex');
          res.writeHead(got === digest ? 201 : 400, { 'Docker-Content-Digest': got, 'Content-Length': '0' });
          return res.end();
        }
        res.writeHead(405, { 'Content-Length': '0' });
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => {
    seen = [];
    putStatuses = [];
    received = Buffer.alloc(0);
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  const blob = (opens: { n: number }) => ({
    digest,
    size: content.length,
    open: () => {
      opens.n++;
      return Readable.from([content.subarray(0, 10), content.subarray(10)]);
    },
  });

  test('a blob push the registry fails with 503 is restarted from byte 0 and succeeds on the retry', async () => {
    const client = createRegistryClient({ baseUrl: base, username: 'admin', password: 'pw', timeoutMs: 5000, retries: 2, logger: silentLogger });
    putStatuses = [503];
    const opens = { n: 0 };
    try {
      await client.pushBlob('ws/app', blob(opens));
    } finally {
      client.close();
    }
    expect(opens.n).toBe(2);
    expect(seen).toEqual([
      'POST /v2/ws/app/blobs/uploads/ 0',
      'PUT /v2/ws/app/blobs/uploads/session-1 36',
      'POST /v2/ws/app/blobs/uploads/ 0',
      'PUT /v2/ws/app/blobs/uploads/session-1 36',
    ]);
  });

  test('with retries: 0 the first 503 is the answer (upstream_unavailable), no second attempt', async () => {
    const client = createRegistryClient({ baseUrl: base, username: 'admin', password: 'pw', timeoutMs: 5000, retries: 0, logger: silentLogger });
    putStatuses = [503];
    const opens = { n: 0 };
    try {
      await expect(client.pushBlob('ws/app', blob(opens))).rejects.toMatchObject({ kind: 'upstream_unavailable', upstreamStatus: 503 });
    } finally {
      client.close();
    }
    expect(opens.n).toBe(1);
  });

  test('chunked mode sends contiguous inclusive Content-Ranges (0-15, 16-31, 32-35) and a final empty PUT', async () => {
    const client = createRegistryClient({ baseUrl: base, username: 'admin', password: 'pw', timeoutMs: 5000, retries: 0, chunkBytes: 16, logger: silentLogger });
    const progress: number[] = [];
    try {
      await client.pushBlob('ws/app', { ...blob({ n: 0 }), onProgress: (n) => progress.push(n) });
    } finally {
      client.close();
    }
    expect(seen).toEqual([
      'POST /v2/ws/app/blobs/uploads/ 0',
      'PATCH /v2/ws/app/blobs/uploads/session-1 0-15 16',
      'PATCH /v2/ws/app/blobs/uploads/session-1 16-31 16',
      'PATCH /v2/ws/app/blobs/uploads/session-1 32-35 4',
      'PUT /v2/ws/app/blobs/uploads/session-1 0',
    ]);
    expect(received.equals(content)).toBe(true);
    expect(progress).toEqual([16, 32, 36]);
  });
});
