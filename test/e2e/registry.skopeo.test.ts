/**
 * skopeo through hubgate → Harbor double → real docker-registry: push, inspect, pull, re-push, a multi-arch
 * index, a layer over 200 MB, cross-project isolation, wrong / rotated / Harbor-own credentials, anonymous
 * refusal, and no secret in hubgate's logs or metrics.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildImage, buildIndex, clientOrSkip, fileDigest, leakedSecrets, run, startStack, tempDir, HARBOR_ADMIN_PASSWORD, type ProjectCredentials, type Stack } from '../support/clients';
import { expectAnswered, expectRefused } from '../support/refusals';

const skopeo = clientOrSkip('skopeo');
const registry = clientOrSkip('docker-registry');
const d = skopeo.available && registry.available ? describe : describe.skip;
if (!skopeo.available) console.warn(skopeo.reason);
if (!registry.available) console.warn(registry.reason);

jest.setTimeout(240_000);

d('registry pass-through with skopeo', () => {
  let stack: Stack;
  let a: ProjectCredentials;
  let b: ProjectCredentials;
  let work: string;
  const secrets: string[] = [];

  const creds = (c: ProjectCredentials) => `${c.username}:${c.password}`;
  const ref = (repo: string) => `docker://${stack.host}/${repo}`;
  const push = (c: ProjectCredentials | string, src: string, repo: string, extra: string[] = []) =>
    run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', typeof c === 'string' ? c : creds(c), ...extra, src, ref(repo)]);
  const pull = (c: ProjectCredentials | string, repo: string, dest: string, extra: string[] = []) =>
    run('skopeo', ['copy', '--src-tls-verify=false', '--src-creds', typeof c === 'string' ? c : creds(c), ...extra, ref(repo), dest]);
  const inspectRaw = (c: ProjectCredentials | string | undefined, repo: string) =>
    run('skopeo', ['inspect', '--raw', '--tls-verify=false', ...(c === undefined ? ['--no-creds'] : ['--creds', typeof c === 'string' ? c : creds(c)]), ref(repo)]);
  const del = (c: ProjectCredentials, repo: string) => run('skopeo', ['delete', '--tls-verify=false', '--creds', creds(c), ref(repo)]);

  beforeAll(async () => {
    stack = await startStack();
    work = tempDir('skopeo');
    a = await stack.project('proj-a', [
      { name: 'alpha', access: 'private' },
      { name: 'alpha-pub', access: 'public' },
    ]);
    b = await stack.project('proj-b', [
      { name: 'beta-priv', access: 'private' },
      { name: 'beta-pub', access: 'public' },
    ]);
    secrets.push(a.password, b.password);
  });

  afterAll(async () => {
    await stack?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('pushes, inspects and pulls an image with the project credentials', async () => {
    const img = await buildImage(path.join(work, 'one'), { layers: [{ bytes: 4096 }, { bytes: 70_000 }] });
    const pushed = await push(a, `oci:${img.dir}:latest`, 'alpha/app:v1', ['--preserve-digests']);
    expect(pushed.stderr).toBe('');
    expect(pushed.code).toBe(0);

    const raw = await inspectRaw(a, 'alpha/app:v1');
    expect(raw.code).toBe(0);
    const manifest = JSON.parse(raw.stdout) as { layers: { digest: string }[]; mediaType: string };
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(manifest.layers).toHaveLength(2);
    // --preserve-digests: the manifest in the registry is byte-identical to the one built here.
    const digest = await run('skopeo', ['inspect', '--format', '{{.Digest}}', '--tls-verify=false', '--creds', creds(a), ref('alpha/app:v1')]);
    expect(digest.stdout.trim()).toBe(img.manifest.digest);

    const out = path.join(work, 'one-pulled');
    const pulled = await pull(a, 'alpha/app:v1', `oci:${out}:v1`, ['--preserve-digests']);
    expect(pulled.code).toBe(0);
    for (const l of manifest.layers) {
      const file = path.join(out, 'blobs', 'sha256', l.digest.slice(7));
      expect(await fileDigest(file)).toBe(l.digest);
    }
  });

  it('re-pushes an existing tag: same image again, then a different image under the same tag', async () => {
    const first = await buildImage(path.join(work, 'rep1'), { layers: [{ bytes: 2048 }], label: 'first' });
    const second = await buildImage(path.join(work, 'rep2'), { layers: [{ bytes: 3000 }], label: 'second' });
    expect((await push(a, `oci:${first.dir}:latest`, 'alpha/re:1', ['--preserve-digests'])).code).toBe(0);
    expect((await push(a, `oci:${first.dir}:latest`, 'alpha/re:1', ['--preserve-digests'])).code).toBe(0);
    const again = await run('skopeo', ['inspect', '--format', '{{.Digest}}', '--tls-verify=false', '--creds', creds(a), ref('alpha/re:1')]);
    expect(again.stdout.trim()).toBe(first.manifest.digest);
    expect((await push(a, `oci:${second.dir}:latest`, 'alpha/re:1', ['--preserve-digests'])).code).toBe(0);
    const moved = await run('skopeo', ['inspect', '--format', '{{.Digest}}', '--tls-verify=false', '--creds', creds(a), ref('alpha/re:1')]);
    expect(moved.stdout.trim()).toBe(second.manifest.digest);
  });

  it('pushes and pulls a multi-arch index (OCI image index, two platforms)', async () => {
    const idx = await buildIndex(path.join(work, 'multi'), [
      { layers: [{ bytes: 1500 }], architecture: 'amd64' },
      { layers: [{ bytes: 1700 }], architecture: 'arm64' },
    ]);
    const pushed = await push(a, `oci:${idx.dir}:latest`, 'alpha/multi:1.0', ['--all', '--preserve-digests']);
    expect(pushed.code).toBe(0);
    const raw = await inspectRaw(a, 'alpha/multi:1.0');
    expect(raw.code).toBe(0);
    const index = JSON.parse(raw.stdout) as { mediaType: string; manifests: { digest: string; platform: { architecture: string } }[] };
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests.map((m) => m.platform.architecture).sort()).toEqual(['amd64', 'arm64']);
    expect(index.manifests.map((m) => m.digest).sort()).toEqual(idx.manifests.map((m) => m.digest).sort());

    const out = path.join(work, 'multi-pulled');
    const pulled = await pull(a, 'alpha/multi:1.0', `oci:${out}:1.0`, ['--all', '--preserve-digests']);
    expect(pulled.code).toBe(0);
    for (const m of idx.manifests) expect(fs.existsSync(path.join(out, 'blobs', 'sha256', m.digest.slice(7)))).toBe(true);
    // One platform only, by digest of its manifest.
    const arm = idx.manifests.find((m) => m.platform?.architecture === 'arm64')!;
    expect((await inspectRaw(a, `alpha/multi@${arm.digest}`)).code).toBe(0);
  });

  it('streams a layer over 200 MB both ways, byte for byte', async () => {
    const big = await buildImage(path.join(work, 'big'), { layers: [{ bytes: 210 * 1024 * 1024 }] });
    const pushed = await push(a, `oci:${big.dir}:latest`, 'alpha/big:1', ['--preserve-digests']);
    expect(pushed.stderr).toBe('');
    expect(pushed.code).toBe(0);
    fs.rmSync(big.dir, { recursive: true, force: true });
    const raw = JSON.parse((await inspectRaw(a, 'alpha/big:1')).stdout) as { layers: { digest: string; size: number }[] };
    expect(raw.layers[0].size).toBeGreaterThan(200 * 1024 * 1024);
    const out = path.join(work, 'big-pulled');
    const pulled = await pull(a, 'alpha/big:1', `oci:${out}:1`, ['--preserve-digests']);
    expect(pulled.code).toBe(0);
    const file = path.join(out, 'blobs', 'sha256', raw.layers[0].digest.slice(7));
    expect(fs.statSync(file).size).toBe(raw.layers[0].size);
    expect(await fileDigest(file)).toBe(raw.layers[0].digest);
    fs.rmSync(out, { recursive: true, force: true });
    const m = await stack.metrics();
    const bytes = (dir: string) => Number(new RegExp(`hubgate_registry_bytes_total\\{operation="(v2_upload|v2_blob)",direction="${dir}"\\} (\\d+)`).exec(m)?.[2] ?? 0);
    expect(bytes('in') + bytes('out')).toBeGreaterThan(0);
    expect(m).toMatch(/hubgate_registry_bytes_total\{operation="v2_upload",direction="in"\} (\d+)/);
    const uploaded = Number(/hubgate_registry_bytes_total\{operation="v2_upload",direction="in"\} (\d+)/.exec(m)![1]);
    expect(uploaded).toBeGreaterThan(200 * 1024 * 1024);
  });

  describe('isolation between projects', () => {
    beforeAll(async () => {
      const img = await buildImage(path.join(work, 'b'), { layers: [{ bytes: 1024 }], label: 'b' });
      expect((await push(b, `oci:${img.dir}:latest`, 'beta-pub/tool:1')).code).toBe(0);
      expect((await push(b, `oci:${img.dir}:latest`, 'beta-priv/secret:1')).code).toBe(0);
    });

    it("pulls B's public workspace with A's credentials", async () => {
      expect((await inspectRaw(a, 'beta-pub/tool:1')).code).toBe(0);
      expect((await pull(a, 'beta-pub/tool:1', `oci:${path.join(work, 'bpub')}:1`)).code).toBe(0);
    });

    it("cannot push to or delete in B's public workspace", async () => {
      const img = await buildImage(path.join(work, 'intruder'), { layers: [{ bytes: 512 }], label: 'intruder' });
      let mark = stack.logs.length;
      const pushed = await push(a, `oci:${img.dir}:latest`, 'beta-pub/tool:1');
      expectRefused(pushed, /unauthorized: unauthorized to access repository: beta-pub\/tool, action: push/);
      expectAnswered(stack.logs, mark, 401);
      mark = stack.logs.length;
      const deleted = await del(a, 'beta-pub/tool:1');
      expectRefused(deleted, /Failed to delete \/v2\/beta-pub\/tool\/manifests\/sha256:[0-9a-f]{64}: .*UNAUTHORIZED.*unauthorized to access repository: beta-pub\/tool, action: delete.*\(401 Unauthorized\)/);
      expectAnswered(stack.logs, mark, 401);
      // Still B's image.
      expect((await inspectRaw(b, 'beta-pub/tool:1')).code).toBe(0);
    });

    it("gets nothing at all from B's private workspace", async () => {
      const pullDenied = /unauthorized: unauthorized to access repository: beta-priv\/secret, action: pull/;
      let mark = stack.logs.length;
      expectRefused(await inspectRaw(a, 'beta-priv/secret:1'), pullDenied);
      expectAnswered(stack.logs, mark, 401);
      mark = stack.logs.length;
      expectRefused(await pull(a, 'beta-priv/secret:1', `oci:${path.join(work, 'bpriv')}:1`), pullDenied);
      expectAnswered(stack.logs, mark, 401);
      const img = await buildImage(path.join(work, 'intruder2'), { layers: [{ bytes: 512 }], label: 'intruder2' });
      mark = stack.logs.length;
      expectRefused(await push(a, `oci:${img.dir}:latest`, 'beta-priv/secret:2'), /exists in [^ ]+\/beta-priv\/secret: unauthorized: authentication required/);
      expectAnswered(stack.logs, mark, 401);
      mark = stack.logs.length;
      expectRefused(await run('skopeo', ['list-tags', '--tls-verify=false', '--creds', creds(a), ref('beta-priv/secret')]), pullDenied);
      expectAnswered(stack.logs, mark, 401);
      // B itself is fine.
      expect((await inspectRaw(b, 'beta-priv/secret:1')).code).toBe(0);
    });

    it('A pushes to and deletes in its own public workspace', async () => {
      const img = await buildImage(path.join(work, 'apub'), { layers: [{ bytes: 700 }], label: 'apub' });
      expect((await push(a, `oci:${img.dir}:latest`, 'alpha-pub/x:1', ['--preserve-digests'])).code).toBe(0);
      expect((await inspectRaw(b, 'alpha-pub/x:1')).code).toBe(0);
      expect((await run('skopeo', ['delete', '--tls-verify=false', '--creds', creds(a), `${ref('alpha-pub/x')}@${img.manifest.digest}`])).code).toBe(0);
      const gone = await inspectRaw(a, 'alpha-pub/x:1');
      expect(gone.code).toBe(1);
      expect(gone.stderr).toMatch(/reading manifest 1 in [^ ]+\/alpha-pub\/x: unknown: artifact alpha-pub\/x:1 not found/);
    });
  });

  describe('logins', () => {
    it('refuses a wrong password', async () => {
      const mark = stack.logs.length;
      const r = await inspectRaw(`${a.username}:${a.password}x`, 'alpha/app:v1');
      expectRefused(r, /unable to retrieve auth token: invalid username\/password: unauthorized: unauthorized: incorrect username or password/);
      expectAnswered(stack.logs, mark, 401, 'token');
      expect(await stack.metrics()).toMatch(/hubgate_login_failures_total\{reason="bad_credentials"\} [1-9]/);
    });

    it("refuses Harbor's own admin and robot credentials sent directly", async () => {
      const notOurs = /unable to retrieve auth token: invalid username\/password: unauthorized: unauthorized: log in with your project's registry credentials/;
      let mark = stack.logs.length;
      expectRefused(await inspectRaw(`admin:${HARBOR_ADMIN_PASSWORD}`, 'alpha/app:v1'), notOurs);
      expectAnswered(stack.logs, mark, 401, 'token');
      // The robot behind A's credentials, by its Harbor name, with the right secret.
      mark = stack.logs.length;
      expectRefused(await inspectRaw(`robot$${a.username}:${a.password}`, 'alpha/app:v1'), notOurs);
      expectAnswered(stack.logs, mark, 401, 'token');
      expect(await stack.metrics()).toMatch(/hubgate_login_failures_total\{reason="unknown_user"\} [1-9]/);
    });

    it('refuses anonymous access, even to a public workspace', async () => {
      const anonymous = /unauthorized: unauthorized: authentication required; log in with your project's registry credentials/;
      for (const repo of ['alpha/app:v1', 'beta-pub/tool:1']) {
        const mark = stack.logs.length;
        expectRefused(await inspectRaw(undefined, repo), anonymous);
        expectAnswered(stack.logs, mark, 401, 'token');
      }
    });

    it('a rotated-away password fails at once; the new one works', async () => {
      expect((await inspectRaw(a, 'alpha/app:v1')).code).toBe(0); // cached as verified
      const rotated = await stack.rotate('proj-a');
      secrets.push(rotated.password);
      expect(rotated.password).not.toBe(a.password);
      const rotatedAway = /unable to retrieve auth token: invalid username\/password: unauthorized: unauthorized: incorrect username or password/;
      let mark = stack.logs.length;
      expectRefused(await inspectRaw(a, 'alpha/app:v1'), rotatedAway);
      expectAnswered(stack.logs, mark, 401, 'token');
      mark = stack.logs.length;
      expectRefused(await push(a, `oci:${path.join(work, 'one')}:latest`, 'alpha/app:v9'), rotatedAway);
      expectAnswered(stack.logs, mark, 401, 'token');
      const fresh = await inspectRaw(rotated, 'alpha/app:v1');
      expect(fresh.code).toBe(0);
      a = rotated;
    });
  });

  it('logs and metrics carry operation ids only: no password, token, repository or user', async () => {
    // A token, to make sure it does not show up either.
    const t = await stack.request('GET', `/service/token?service=harbor-registry&scope=repository:alpha/app:pull`, {
      Authorization: `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`,
    });
    expect(t.status).toBe(200);
    const token = (JSON.parse(t.body.toString()) as { token: string }).token;
    expect(token.length).toBeGreaterThan(20);
    expect(leakedSecrets(stack.logs, [...secrets, token, HARBOR_ADMIN_PASSWORD])).toEqual([]);
    const registryLines = stack.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => typeof l.operation === 'string' && /^(v2_|token)/.test(l.operation as string));
    expect(registryLines.length).toBeGreaterThan(20);
    for (const l of registryLines) {
      const text = JSON.stringify(l);
      expect(text).not.toMatch(/alpha\/|beta-pub\/|beta-priv\/|hg-proj/);
    }
    const m = await stack.metrics();
    expect(m).toMatch(/hubgate_registry_requests_total\{operation="v2_manifest",method="PUT",status_class="2xx"\}/);
    expect(m).toMatch(/hubgate_registry_requests_total\{operation="token",method="GET",status_class="2xx"\}/);
    expect(m).toMatch(/hubgate_registry_request_duration_seconds_count\{operation="v2_blob"\}/);
    expect(m).not.toMatch(/alpha\/|beta-pub|hg-proj/);
    expect(leakedSecrets([m], [...secrets, token])).toEqual([]);
  });
});
