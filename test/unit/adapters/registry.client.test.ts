import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistryClient } from '../../../adapters/registry/registry.client';
import { silentLogger } from '../../../src/observability/logger';

/**
 * The /v2 paths hubgate's registry client sends, as the server receives them (raw, still percent-encoded).
 * Digests must arrive literally: Harbor core takes `sha256%3A<hex>` as a tag of that name (finding m).
 */
describe('registry client paths', () => {
  const DIGEST = 'sha256:' + 'ab'.repeat(32);
  let server: http.Server;
  let seen: string[];
  let client: ReturnType<typeof createRegistryClient>;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => {
        res.writeHead(req.method === 'PUT' ? 201 : 404, { 'Docker-Content-Digest': DIGEST, 'Content-Length': '0' });
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    client = createRegistryClient({ baseUrl: `http://127.0.0.1:${port}`, username: 'admin', password: 'pw', timeoutMs: 5000, retries: 0, logger: silentLogger });
  });
  beforeEach(() => {
    seen = [];
  });
  afterAll(async () => {
    client.close();
    await new Promise((r) => server.close(r));
  });

  test('manifest PUT by digest keeps the `:`; by tag unchanged', async () => {
    await client.putManifest('ws/team/app', DIGEST, 'application/vnd.oci.image.manifest.v1+json', Buffer.from('{}'));
    await client.putManifest('ws/team/app', 'v1.0_rc-1', 'application/vnd.oci.image.manifest.v1+json', Buffer.from('{}'));
    expect(seen).toEqual([`PUT /v2/ws/team/app/manifests/${DIGEST}`, 'PUT /v2/ws/team/app/manifests/v1.0_rc-1']);
  });

  test('blob HEAD by digest keeps the `:`', async () => {
    expect(await client.blobExists('ws/app', DIGEST)).toBe(false);
    expect(seen).toEqual([`HEAD /v2/ws/app/blobs/${DIGEST}`]);
  });

  test('references that are neither a tag nor a digest are refused before anything is sent', async () => {
    for (const bad of ['sha256%3Aab', '../x', 'a/b', 'sha256:../../x', '', '.v1']) {
      await expect(client.putManifest('ws/app', bad, 'x', Buffer.from('{}'))).rejects.toMatchObject({ kind: 'invalid' });
    }
    await expect(client.blobExists('ws/app', 'sha256:a/../b')).rejects.toMatchObject({ kind: 'invalid' });
    expect(seen).toEqual([]);
  });

  test('a refused reference is quoted in the message, cut at 80 characters', async () => {
    const long = 'x/'.repeat(60);
    await expect(client.putManifest('ws/app', long, 'x', Buffer.from('{}'))).rejects.toMatchObject({ kind: 'invalid', message: `not a tag or digest: ${JSON.stringify(long.slice(0, 80))}` });
    expect(seen).toEqual([]);
  });
});
