/**
 * Digest references on /v2 as Harbor core sees them (finding m of ../shared/harbor-2.5.5/README.md): core takes a
 * manifest PUT's reference literally, so `sha256%3A<hex>` stores the manifest AND creates a tag named
 * `sha256%3A<hex>`; only a literal `sha256:<hex>` is a digest. The double reproduces that, and hubgate's registry
 * client (the upload push) must send digests literally. Needs docker-registry (CI=true: fails without it; locally skipped with a message).
 */
import { createHash, randomBytes } from 'crypto';
import http from 'http';
import { Readable } from 'stream';
import { createRegistryClient } from '../../adapters/registry/registry.client';
import { silentLogger } from '../../src/observability/logger';
import { startHarborDouble, HarborDouble } from '../harbor-double';
import { startRegistry, RunningRegistry } from '../support/registry';
import { requireTools } from '../support/tools';

const hasRegistry = requireTools('harbor-double references', ['docker-registry']).available;
const describeIf = hasRegistry ? describe : describe.skip;

const ADMIN = 'Basic ' + Buffer.from('admin:Harbor12345').toString('base64');
const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';
const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

function call(url: string, method: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { Authorization: ADMIN, ...(body ? { 'Content-Length': String(body.length) } : {}), ...headers } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A one-layer image whose blobs are already in `repository`; returns its manifest. */
async function image(client: ReturnType<typeof createRegistryClient>, repository: string): Promise<{ body: Buffer; digest: string }> {
  const layer = randomBytes(512);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  for (const b of [layer, config]) await client.pushBlob(repository, { digest: sha256(b), size: b.length, open: () => Readable.from([b]) });
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: SCHEMA2,
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: sha256(config) },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', size: layer.length, digest: sha256(layer) }],
  }));
  return { body, digest: sha256(body) };
}

describeIf('digest references on /v2 (Harbor core semantics)', () => {
  let registry: RunningRegistry;
  let harbor: HarborDouble;
  let client: ReturnType<typeof createRegistryClient>;

  beforeAll(async () => {
    registry = await startRegistry();
    harbor = await startHarborDouble({ registryUrl: registry.url });
    client = createRegistryClient({ baseUrl: harbor.url, username: 'admin', password: 'Harbor12345', timeoutMs: 10000, retries: 0, logger: silentLogger });
    const created = await call(`${harbor.url}/api/v2.0/projects`, 'POST', Buffer.from(JSON.stringify({ project_name: 'refs', metadata: { public: 'false' } })), { 'Content-Type': 'application/json' });
    expect(created.status).toBe(201);
  }, 30000);

  afterAll(async () => {
    client?.close();
    await harbor?.close();
    await registry?.stop();
  });

  const tagsOf = (repository: string) => {
    const repo = [...harbor.state.repositories.values()].find((r) => r.name === repository);
    return repo ? [...harbor.state.tags.values()].filter((t) => t.repositoryId === repo.id).map((t) => t.name).sort() : [];
  };

  it('the double: a PUT by `sha256%3A<hex>` stores the manifest and creates a tag with that literal name', async () => {
    const img = await image(client, 'refs/encoded');
    const encoded = img.digest.replace(':', '%3A');
    const put = await call(`${harbor.url}/v2/refs/encoded/manifests/${encoded}`, 'PUT', img.body, { 'Content-Type': SCHEMA2 });
    expect(put.status).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(img.digest);
    expect(tagsOf('refs/encoded')).toEqual([encoded]);
    const tags = await call(`${harbor.url}/v2/refs/encoded/tags/list`, 'GET');
    expect(JSON.parse(tags.body)).toEqual({ name: 'refs/encoded', tags: [encoded] });
  });

  it('the double: a PUT by a literal `sha256:<hex>` stores an untagged artifact', async () => {
    const img = await image(client, 'refs/literal');
    const put = await call(`${harbor.url}/v2/refs/literal/manifests/${img.digest}`, 'PUT', img.body, { 'Content-Type': SCHEMA2 });
    expect(put.status).toBe(201);
    expect(tagsOf('refs/literal')).toEqual([]);
    const repo = [...harbor.state.repositories.values()].find((r) => r.name === 'refs/literal')!;
    expect([...harbor.state.artifacts.values()].filter((a) => a.repositoryId === repo.id).map((a) => a.digest)).toEqual([img.digest]);
  });

  it("hubgate's registry client: push by digest, then by tag, leaves exactly the tag (no `sha256%3A…` tag)", async () => {
    const img = await image(client, 'refs/app');
    expect(await client.putManifest('refs/app', img.digest, SCHEMA2, img.body)).toBe(img.digest);
    expect(tagsOf('refs/app')).toEqual([]);
    expect(await client.putManifest('refs/app', 'v1', SCHEMA2, img.body)).toBe(img.digest);
    expect(tagsOf('refs/app')).toEqual(['v1']);
    const manifestPuts = harbor.calls.filter((c) => c.method === 'PUT' && c.url.startsWith('/v2/refs/app/manifests/')).map((c) => c.url);
    expect(manifestPuts).toEqual([`/v2/refs/app/manifests/${img.digest}`, '/v2/refs/app/manifests/v1']);
  });
});
