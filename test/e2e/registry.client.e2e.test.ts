/**
 * The registry client the uploads push with (adapters/registry/registry.client.ts) against a real distribution
 * 2.8.2 (Debian's docker-registry, what Harbor runs behind core), without Harbor in front: blobs pushed whole and
 * in PATCH chunks (distribution checks every Content-Range), streamed uploads committed and given up, mounts,
 * manifests by tag and by digest, and the registry's own refusals (wrong digest, unknown blob) as the client reports
 * them. Also run by Stryker (jest.stryker.config.js): it starts its own docker-registry.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createRegistryClient } from '../../adapters/registry/registry.client';
import { createLogger, silentLogger } from '../../src/observability/logger';
import { startRegistry, type RunningRegistry } from '../support/registry';
import { requireTools } from '../support/tools';
import { appError } from '../support/app-refusal';

const ready = requireTools('registry client e2e', ['docker-registry']).available;
const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const PASSWORD = 'registry-admin-secret-4711';


(ready ? describe : describe.skip)('registry client against distribution 2.8.2', () => {
  let registry: RunningRegistry;
  let n = 0;
  const repo = () => `ws/app${++n}`;
  const client = (o: Partial<Parameters<typeof createRegistryClient>[0]> = {}) =>
    createRegistryClient({ baseUrl: registry.url, username: 'admin', password: PASSWORD, timeoutMs: 5000, retries: 0, logger: silentLogger, ...o });
  /** GET a blob or manifest straight from the registry. */
  const get = async (path: string, accept?: string) => {
    const r = await fetch(`${registry.url}${path}`, { headers: accept ? { Accept: accept } : {} });
    return { status: r.status, body: Buffer.from(await r.arrayBuffer()), digest: r.headers.get('docker-content-digest') };
  };
  const blob = (content: Buffer, extra: { onProgress?: (n: number) => void } = {}) => ({ digest: digestOf(content), size: content.length, open: () => Readable.from([content]), ...extra });

  beforeAll(async () => {
    registry = await startRegistry({ tokenAuth: false });
  }, 30_000);
  afterAll(async () => {
    await registry?.stop();
  });

  it('a blob pushed whole is stored under its digest; progress reaches its size; blobExists sees it in that repository only', async () => {
    const c = client({ baseUrl: `${registry.url}//` });
    const content = randomBytes(300_000);
    const r = repo();
    const progress: number[] = [];
    expect(await c.blobExists(r, digestOf(content))).toBe(false);
    await c.pushBlob(r, blob(content, { onProgress: (x) => progress.push(x) }));
    expect(await get(`/v2/${r}/blobs/${digestOf(content)}`)).toMatchObject({ status: 200, body: content });
    expect(progress[progress.length - 1]).toBe(content.length);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(await c.blobExists(r, digestOf(content))).toBe(true);
    expect(await c.blobExists(repo(), digestOf(content))).toBe(false);
    c.close();
  });

  it('in PATCH chunks (distribution refuses a gap or an overlap in Content-Range): stored whole, progress per chunk', async () => {
    const c = client({ chunkBytes: 1000 });
    const content = randomBytes(2500);
    const r = repo();
    const progress: number[] = [];
    await c.pushBlob(r, blob(content, { onProgress: (x) => progress.push(x) }));
    expect(progress).toEqual([1000, 2000, 2500]);
    expect(await get(`/v2/${r}/blobs/${digestOf(content)}`)).toMatchObject({ status: 200, body: content });
    // a blob no larger than a chunk goes whole
    const small = randomBytes(1000);
    await c.pushBlob(r, blob(small));
    expect((await get(`/v2/${r}/blobs/${digestOf(small)}`)).body).toEqual(small);
    c.close();
  });

  it('content that does not hash to the digest given: refused by the registry, reported as invalid with its code', async () => {
    const c = client();
    const content = randomBytes(1000);
    const err = await appError(c.pushBlob(repo(), { ...blob(content), digest: digestOf(Buffer.from('other')) }));
    expect(err.kind).toBe('invalid');
    expect(err.message).toMatch(/^registry refused blob upload sha256:[0-9a-f]{64}: DIGEST_INVALID: provided digest did not match uploaded content$/);
    expect(err.message).not.toContain(PASSWORD);
    c.close();
  });

  it('a streamed upload: written as produced, committed under its digest; a wrong digest at commit is refused; abort never throws', async () => {
    const c = client();
    const r = repo();
    const parts = [randomBytes(100_000), randomBytes(5), randomBytes(70_000)];
    const w = await c.openBlobUpload(r);
    for (const p of parts) await w.write(p);
    await w.commit(digestOf(Buffer.concat(parts)));
    expect((await get(`/v2/${r}/blobs/${digestOf(Buffer.concat(parts))}`)).body).toEqual(Buffer.concat(parts));

    const bad = await c.openBlobUpload(r);
    await bad.write(Buffer.from('some bytes'));
    const err = await appError(bad.commit(digestOf(Buffer.from('other bytes'))));
    expect([err.kind, err.message]).toEqual(['invalid', `registry refused streamed blob upload to ${r}: DIGEST_INVALID: provided digest did not match uploaded content`]);

    const dropped = await c.openBlobUpload(r);
    await dropped.write(Buffer.from('never finished'));
    dropped.abort();
    dropped.abort(); // never throws, also twice
    c.close();
  });

  it('mount: true when the source repository has the blob, false (and no session left open) when it does not', async () => {
    const c = client();
    const from = repo();
    const to = repo();
    const content = randomBytes(5000);
    await c.pushBlob(from, blob(content));
    expect(await c.mountBlob(to, digestOf(content), from)).toBe(true);
    expect((await get(`/v2/${to}/blobs/${digestOf(content)}`)).body).toEqual(content);
    expect(await c.mountBlob(repo(), digestOf(randomBytes(10)), from)).toBe(false);
    c.close();
  });

  it('manifests by tag and by digest; one naming a blob the repository lacks is refused with the registry code; a bad reference never leaves', async () => {
    const c = client();
    const r = repo();
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    await c.pushBlob(r, blob(config));
    const mediaType = 'application/vnd.oci.image.manifest.v1+json';
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length }, layers: [] }));
    expect(await c.putManifest(r, 'v1', mediaType, body)).toBe(digestOf(body));
    expect(await c.putManifest(r, digestOf(body), mediaType, body)).toBe(digestOf(body));
    expect(await get(`/v2/${r}/manifests/v1`, mediaType)).toMatchObject({ status: 200, body, digest: digestOf(body) });

    const missing = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(Buffer.from('nope')), size: 4 }, layers: [] }));
    const err = await appError(c.putManifest(r, 'v2', mediaType, missing));
    expect(err.kind).toBe('invalid');
    expect(err.message).toMatch(new RegExp(`^registry refused manifest ${r}:v2: MANIFEST_BLOB_UNKNOWN: blob unknown to registry$`));

    const bad = await appError(c.putManifest(r, 'v1/../x', mediaType, body));
    expect([bad.kind, bad.message]).toEqual(['invalid', 'not a tag or digest: "v1/../x"']);
    c.close();
  });

  it('registry gone: connection refused after the retries, each retry logged with its attempt; never the password', async () => {
    const lines: string[] = [];
    const gone = await startRegistry({ tokenAuth: false });
    await gone.stop();
    const c = client({ baseUrl: gone.url, retries: 2, logger: createLogger('warn', (l) => lines.push(l)) });
    const err = await appError(c.blobExists('ws/x', digestOf(Buffer.from('x'))));
    expect([err.kind, err.message]).toEqual(['upstream_unavailable', `registry unreachable during blob check ${digestOf(Buffer.from('x'))} (ECONNREFUSED)`]);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>).map(({ msg, attempt, kind }) => ({ msg, attempt, kind }))).toEqual([
      { msg: 'registry call failed; retrying', attempt: 1, kind: 'upstream_unavailable' },
      { msg: 'registry call failed; retrying', attempt: 2, kind: 'upstream_unavailable' },
    ]);
    expect(lines.join('\n')).not.toContain(PASSWORD);
    c.close();
  }, 20_000);
});
