import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { AppError } from '../../../src/domain/errors';
import type { Principal } from '../../../src/domain/principal';
import { UploadsService, type UploadSettings, type UploadsDeps } from '../../../src/domain/uploads.service';
import type { UploadRecord } from '../../../src/domain/uploads/progress';
import type { HarborPort } from '../../../src/ports/harbor';
import type { BlobPush, BlobWriter, RegistryPort } from '../../../src/ports/registry';
import type { CredentialsService } from '../../../src/domain/credentials.service';
import type { Cache } from '../../../src/ports/coordination';
import { MemoryCache } from '../../../adapters/redis/memory.cache';
import { createMetrics } from '../../../src/observability/metrics';
import { silentLogger } from '../../../src/observability/logger';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { errorHandler } from '../../../src/http/errors';
import { uploadsRoutes } from '../../../src/http/routes/uploads.routes';

/**
 * A registry in memory that behaves like distribution where uploads care: a blob is stored only when its bytes
 * hash to the digest given, a manifest only when every blob (or child manifest) it names is in the repository.
 */
export class MemoryRegistry implements RegistryPort {
  blobs = new Map<string, Map<string, Buffer>>();
  manifests = new Map<string, Map<string, { mediaType: string; body: Buffer; digest: string }>>();
  pushes: string[] = [];
  heads: string[] = [];
  /** Fails the next blob push with this error. */
  failBlob?: AppError;

  private repo<T>(m: Map<string, Map<string, T>>, r: string): Map<string, T> {
    if (!m.has(r)) m.set(r, new Map());
    return m.get(r)!;
  }

  async blobExists(repository: string, digest: string): Promise<boolean> {
    this.heads.push(`${repository}@${digest}`);
    return this.repo(this.blobs, repository).has(digest);
  }

  async pushBlob(repository: string, blob: BlobPush): Promise<void> {
    if (this.failBlob) {
      const e = this.failBlob;
      this.failBlob = undefined;
      throw e;
    }
    const chunks: Buffer[] = [];
    for await (const c of blob.open() as AsyncIterable<Buffer>) chunks.push(c);
    const body = Buffer.concat(chunks);
    const d = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (d !== blob.digest || body.length !== blob.size) throw new AppError('invalid', `registry refused blob upload: DIGEST_INVALID ${d} vs ${blob.digest}`);
    this.pushes.push(`${repository}@${d}`);
    this.repo(this.blobs, repository).set(d, body);
  }

  staged: string[] = [];
  aborted = 0;

  async openBlobUpload(repository: string): Promise<BlobWriter> {
    const chunks: Buffer[] = [];
    return {
      write: async (c) => {
        chunks.push(Buffer.from(c));
      },
      commit: async (digest) => {
        const body = Buffer.concat(chunks);
        const d = `sha256:${createHash('sha256').update(body).digest('hex')}`;
        if (d !== digest) throw new AppError('invalid', 'DIGEST_INVALID');
        this.staged.push(`${repository}@${d}`);
        this.repo(this.blobs, repository).set(d, body);
      },
      abort: () => {
        this.aborted++;
      },
    };
  }

  async mountBlob(repository: string, digest: string, from: string): Promise<boolean> {
    const b = this.blobs.get(from)?.get(digest);
    if (!b) return false;
    this.repo(this.blobs, repository).set(digest, b);
    return true;
  }

  async putManifest(repository: string, reference: string, mediaType: string, body: Buffer): Promise<string> {
    const m = JSON.parse(body.toString('utf8')) as { config?: { digest: string }; layers?: { digest: string }[]; manifests?: { digest: string }[] };
    const blobs = this.repo(this.blobs, repository);
    const mans = this.repo(this.manifests, repository);
    for (const d of [m.config?.digest, ...(m.layers ?? []).map((l) => l.digest)]) {
      if (d && !blobs.has(d)) throw new AppError('invalid', `registry refused manifest: MANIFEST_BLOB_UNKNOWN ${d}`);
    }
    for (const c of m.manifests ?? []) if (!mans.has(c.digest)) throw new AppError('invalid', `registry refused index: MANIFEST_UNKNOWN ${c.digest}`);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (reference.startsWith('sha256:') && reference !== digest) throw new AppError('invalid', 'DIGEST_INVALID');
    mans.set(reference, { mediaType, body, digest });
    mans.set(digest, { mediaType, body, digest });
    return digest;
  }

  tags(): string[] {
    const out: string[] = [];
    for (const [r, m] of this.manifests) for (const k of m.keys()) if (!k.startsWith('sha256:')) out.push(`${r}:${k}`);
    return out.sort();
  }

  blob(repository: string, digest: string): Buffer | undefined {
    return this.blobs.get(repository)?.get(digest);
  }
}

export const member = (projects = ['p1']): Principal => ({
  userId: 'u1',
  username: 'alice',
  isCloudAdmin: false,
  projects: projects.map((id) => ({ id, name: id, department: 'd1' })),
});

export interface Kit {
  uploads: UploadsService;
  registry: MemoryRegistry;
  /** The Harbor the service asks (only `findProject`); a test may replace it. */
  harbor: { findProject: HarborPort['findProject'] };
  tmp: string;
  metrics: ReturnType<typeof createMetrics>;
  invalidated: string[];
  /** The workspaces Harbor knows (mutable: a test may delete, re-create or re-own one mid-upload). */
  projects: Record<string, { public: boolean; owner: string; id?: number }>;
  /** Uploads `body` (as one or several chunks) into `ws`; resolves to the record or rejects with the AppError. */
  upload(body: Buffer | Buffer[], o?: { ws?: string; image?: string; tag?: string; p?: Principal; id?: string }): Promise<UploadRecord>;
  spoolDirs(): string[];
  close(): void;
}

/**
 * Workspaces: `ws` (private, project p1), `pub` (public, project p2), `other` (private, project p2). `deps` replaces
 * the in-memory progress cache, the silent logger or the cache invalidation, or adds workspace policies or a replica id.
 */
export function kit(settings: Partial<UploadSettings> = {}, deps: Partial<Pick<UploadsDeps, 'cache' | 'logger' | 'policies' | 'invalidate' | 'replica'>> = {}): Kit {
  const tmp = mkdtempSync(join(tmpdir(), 'hubgate-uploads-unit-'));
  const registry = new MemoryRegistry();
  const projects: Record<string, { public: boolean; owner: string; id?: number }> = {
    ws: { public: false, owner: 'p1' },
    pub: { public: true, owner: 'p2' },
    other: { public: false, owner: 'p2' },
  };
  const harbor: Kit['harbor'] = {
    findProject: async (name: string) =>
      projects[name] ? { project_id: projects[name].id ?? 1, name, metadata: { public: String(projects[name].public) }, creation_time: '', update_time: '' } : null,
  };
  const credentials = {
    ownerRecords: async () =>
      ['p1', 'p2'].map((id) => ({
        robotId: 1,
        username: `hg-${id}`,
        project: { id, name: id, department: 'd1' },
        workspaces: Object.entries(projects)
          .filter(([, v]) => v.owner === id)
          .map(([k]) => k),
      })),
  } as unknown as CredentialsService;
  const metrics = createMetrics({ defaultMetrics: false });
  const invalidated: string[] = [];
  const uploads = new UploadsService({
    harbor: harbor as unknown as HarborPort,
    credentials,
    registry,
    cache: deps.cache ?? new MemoryCache(),
    logger: deps.logger ?? silentLogger,
    policies: deps.policies,
    replica: deps.replica,
    metrics,
    registryHost: 'hub.test',
    sharedConfigured: false,
    shared: () => false,
    invalidate:
      deps.invalidate ??
      (async (w) => {
        invalidated.push(w);
      }),
    settings: {
      maxBytes: 64 * 1024 * 1024,
      maxExpandedBytes: 64 * 1024 * 1024,
      tmpDir: tmp,
      compressLayers: true,
      gzipLevel: 6,
      maxConcurrent: 4,
      progressTtlSeconds: 600,
      ...settings,
    },
  });
  return {
    uploads,
    registry,
    harbor,
    tmp,
    metrics,
    invalidated,
    projects,
    async upload(body, o = {}) {
      const p = o.p ?? member();
      const ws = o.ws ?? 'ws';
      const { projectId, harborProjectId } = await uploads.authorize(p, ws);
      const handle = await uploads.start(p, ws, { projectId, harborProjectId, id: o.id });
      const chunks = Array.isArray(body) ? body : [body];
      return uploads.run(handle, Readable.from(chunks, { objectMode: true }), () => ({ image: o.image, tag: o.tag }));
    },
    spoolDirs: () => readdirSync(tmp),
    close() {
      uploads.close();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/**
 * The shared store as the progress of uploads reaches it: the keys read (`reads`) and a copy of every record written
 * (`writes`, in order); `onWrite` sees each record as it is written.
 */
export function recordingCache(onWrite?: (rec: UploadRecord) => void): { cache: Cache; reads: string[]; writes: UploadRecord[] } {
  const inner = new MemoryCache();
  const reads: string[] = [];
  const writes: UploadRecord[] = [];
  const cache: Cache = {
    get: async <T,>(key: string) => {
      reads.push(key);
      return inner.get<T>(key);
    },
    set: async <T,>(key: string, value: T, ttlSeconds: number) => {
      const rec = structuredClone(value) as unknown as UploadRecord;
      writes.push(rec);
      onWrite?.(rec);
      await inner.set(key, value, ttlSeconds);
    },
    del: (...keys: string[]) => inner.del(...keys),
  };
  return { cache, reads, writes };
}

/** Yields `first`, then waits for ever (a client that stopped sending). */
export async function* stalled(first: Buffer[]): AsyncGenerator<Buffer> {
  for (const c of first) yield c;
  await new Promise(() => undefined);
}

/** Splits a buffer into pieces of `n` bytes (streams arrive in arbitrary pieces). */
/** A mocked statfs answer of `free` bytes (in 4 KiB blocks), for the disk tests that mock node:fs/promises. */
export const freeSpace = (free: number) => ({ bavail: free / 4096, bsize: 4096 });

export function pieces(b: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return out;
}

/**
 * An entry's or a body's pieces as an async iterable that counts how often it is pulled (`pulls`, also pulls after
 * the end); `onPull` runs at each pull, before it is answered.
 */
export function counted(parts: (Buffer | string)[], onPull?: (pull: number) => void): AsyncIterable<Buffer> & { pulls: number } {
  const src = {
    pulls: 0,
    [Symbol.asyncIterator]: () => {
      let i = 0;
      return {
        next: async (): Promise<IteratorResult<Buffer>> => {
          src.pulls++;
          onPull?.(src.pulls);
          return i < parts.length ? { done: false, value: Buffer.from(parts[i++]) } : { done: true, value: undefined };
        },
      };
    },
  };
  return src;
}

/**
 * The upload route as the API mounts it (Express, `/api/v1`, the error handler) over `k.uploads`, listening on
 * 127.0.0.1 with a member of the workspace's project already authenticated. For the hostile-archive corpus (its test
 * and its benchmark).
 */
export async function serveUploadRoute(k: Kit, principal: Principal = member()): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  app.use((req, _res, next) => {
    Object.assign(req, { principal });
    next();
  });
  app.use('/api/v1', uploadsRoutes(k.uploads));
  app.use(errorHandler(silentLogger));
  const server = http.createServer(app).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
