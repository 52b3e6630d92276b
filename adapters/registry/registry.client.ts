import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../../src/domain/errors';
import type { BlobPush, BlobWriter, RegistryPort } from '../../src/ports/registry';
import { currentRequestId } from '../../src/observability/context';
import type { Logger } from '../../src/observability/logger';

/**
 * Registry V2 client for pushes, talking to Harbor's `/v2` (core in front of distribution) as hubgate's Harbor
 * admin with Basic auth — Harbor accepts Basic on /v2 (recording 083), so there is no token round trip per
 * repository. hubgate checks the caller's workspace permission itself before it calls anything here.
 *
 * - Blobs: `POST /blobs/uploads/` → `Location`, then either one streamed `PUT <location>&digest=` with
 *   `Content-Length` (monolithic, default) or `PATCH` chunks of `chunkBytes` with `Content-Range` and a final empty
 *   `PUT`. The registry verifies the digest; the `Docker-Content-Digest` it answers is checked again here.
 *   A failed attempt (network error, 5xx, timeout) is restarted from byte 0 up to `retries` times (the caller's
 *   `open()` re-reads the spooled file).
 * - `Location`s are followed on HARBOR_URL's origin only (Harbor makes them absolute from the Host and
 *   `X-Forwarded-Proto` it was sent); one on another origin, or a session opened without one, is a 502-class
 *   failure, so the admin credentials never leave for another host.
 * - Timeouts are socket-idle timeouts (`timeoutMs`): a 2 GB layer may take minutes but never stalls silently.
 * - Errors become AppError in Harbor's terms; the admin password and its Basic token never appear in them.
 */
export interface RegistryClientOptions {
  /** Harbor base URL (same as HARBOR_URL); `/v2` is appended. */
  baseUrl: string;
  username: string;
  password: string;
  timeoutMs: number;
  retries: number;
  /** 0 = monolithic PUT; otherwise PATCH chunks of this many bytes. */
  chunkBytes?: number;
  logger: Logger;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const MAX_ERROR_BODY = 64 * 1024;
/** distribution's reference grammar: a tag, or `algorithm:encoded`. */
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const MISCONFIGURED = "upstream misconfigured: Harbor rejected hubgate's admin credentials on /v2";

export function createRegistryClient(opts: RegistryClientOptions): RegistryPort & { close(): void } {
  // Every path below is absolute (`/v2/...`): a path in the base URL would be replaced anyway.
  const base = new URL(opts.baseUrl);
  const lib = base.protocol === 'https:' ? https : http;
  const agent = new lib.Agent({ keepAlive: true });
  const basic = 'Basic ' + Buffer.from(`${opts.username}:${opts.password}`).toString('base64');
  const scrub = (s: string) => s.split(opts.password).join('[redacted]').split(basic).join('[redacted]').slice(0, 500);
  const chunkBytes = opts.chunkBytes ?? 0;

  const repoPath = (repository: string) => `/v2/${repository.split('/').map(encodeURIComponent).join('/')}`;
  /**
   * A manifest reference as a path segment, sent literally: Harbor core takes `sha256%3A<hex>` as a TAG of that
   * name (finding m) while `:` is legal in a path segment; tags never need encoding. Anything else is refused.
   */
  const referencePath = (reference: string) => {
    if (!TAG.test(reference) && !DIGEST.test(reference)) throw new AppError('invalid', `not a tag or digest: ${JSON.stringify(reference.slice(0, 80))}`);
    return reference;
  };

  function resolve(location: string): URL {
    return new URL(location, base);
  }

  /**
   * Where an upload session goes on: the registry's `Location` (absolute, following the Host we sent, or relative),
   * or `current` when a PATCH answer leaves it out. Only on the registry's own origin: the admin credentials are
   * sent nowhere else, whatever a misconfigured proxy or registry answers.
   */
  function sessionUrl(what: string, r: Reply, current?: URL): URL {
    const loc = r.headers.location;
    if (!loc) {
      if (current) return current;
      throw new AppError('upstream_unavailable', `registry opened ${what} without a Location header`);
    }
    const u = resolve(String(loc));
    if (u.origin !== base.origin) {
      throw new AppError('upstream_unavailable', `registry moved ${what} to another host (${u.origin}); hubgate sends its credentials to ${base.origin} only`);
    }
    return u;
  }

  /** One HTTP exchange. `body` may be a Buffer or a stream (piped with backpressure). */
  function exchange(method: string, url: URL, headers: http.OutgoingHttpHeaders, body?: Buffer | Readable, onSent?: (n: number) => void, signal?: AbortSignal): Promise<Reply> {
    return new Promise<Reply>((resolveReply, reject) => {
      const h: http.OutgoingHttpHeaders = { Authorization: basic, 'User-Agent': 'hubgate-uploads', ...headers };
      const rid = currentRequestId();
      if (rid) h['X-Request-Id'] = rid;
      if (Buffer.isBuffer(body)) h['Content-Length'] = body.length;
      const req = lib.request(url, { method, headers: h, agent, signal }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < MAX_ERROR_BODY) chunks.push(c.subarray(0, MAX_ERROR_BODY - size)); // the rest is read, not kept
          size += c.length;
        });
        res.on('end', () => resolveReply({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.setTimeout(opts.timeoutMs, () => req.destroy(Object.assign(new Error('registry request timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      if (body === undefined || Buffer.isBuffer(body)) {
        req.end(body);
        return;
      }
      let sent = 0;
      body.on('data', (c: Buffer) => {
        sent += c.length;
        onSent?.(sent);
      });
      // Backpressure both ways; a request that ends early (the registry answered, or went away) destroys the body,
      // and a body that fails aborts the request — its own error is the cause reported (not the abort's hang-up).
      body.once('error', reject);
      pipeline(body, req).catch(() => undefined);
    });
  }

  /** Translates a non-2xx registry answer (Harbor's or distribution's envelope) into an AppError. */
  function failure(what: string, r: Reply): AppError {
    let message = '';
    try {
      const j = JSON.parse(r.body.toString('utf8')) as { errors?: { code?: string; message?: string; detail?: unknown }[] };
      const e = j.errors?.[0];
      if (e) message = [e.code, e.message].filter((part) => typeof part === 'string' && part !== '').join(': ');
    } catch {
      message = r.body.toString('utf8').slice(0, 200);
    }
    message = scrub(message || `status ${r.status}`);
    if (r.status === 401) return new AppError('upstream_misconfigured', MISCONFIGURED, { upstreamStatus: 401 });
    if (r.status === 403) return new AppError('forbidden', `Harbor refused ${what}: ${message}`, { upstreamStatus: 403 });
    if (r.status === 404) return new AppError('not_found', `${what}: ${message}`, { upstreamStatus: 404 });
    if (r.status >= 400 && r.status < 500) return new AppError('invalid', `registry refused ${what}: ${message}`, { upstreamStatus: r.status });
    return new AppError('upstream_unavailable', `registry failed ${what} (status ${r.status})`, { upstreamStatus: r.status });
  }

  function networkError(what: string, e: unknown): AppError {
    if (e instanceof AppError) return e;
    const code = (e as { code?: string }).code ?? '';
    if (code === 'ETIMEDOUT') return new AppError('upstream_timeout', `registry timed out during ${what}`, { cause: e });
    return new AppError('upstream_unavailable', `registry unreachable during ${what} (${code || 'network error'})`, { cause: e });
  }

  const retryable = (e: unknown) => e instanceof AppError && (e.kind === 'upstream_unavailable' || e.kind === 'upstream_timeout');

  async function withRetries<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const err = networkError(what, e);
        if (!retryable(err) || attempt >= opts.retries) throw err;
        opts.logger.warn('registry call failed; retrying', { what, attempt: attempt + 1, kind: err.kind });
        await new Promise((r) => setTimeout(r, Math.min(2000, 200 * 2 ** attempt)));
      }
    }
  }

  async function pushOnce(repository: string, blob: BlobPush): Promise<void> {
    const what = `blob upload ${blob.digest}`;
    const start = await exchange('POST', resolve(`${repoPath(repository)}/blobs/uploads/`), {}, undefined, undefined, blob.signal);
    if (start.status !== 202) throw failure(what, start);
    let location = sessionUrl(what, start);
    // the stream ends destroyed either way: read to its end, or destroyed with the request that carried it
    const stream = blob.open();
    if (chunkBytes > 0 && blob.size > chunkBytes) {
      let offset = 0;
      for await (const chunk of chunked(stream, chunkBytes)) {
        const r = await exchange('PATCH', location, {
          'Content-Type': 'application/octet-stream',
          'Content-Length': chunk.length,
          'Content-Range': `${offset}-${offset + chunk.length - 1}`,
        }, chunk, undefined, blob.signal);
        if (r.status !== 202) throw failure(what, r);
        offset += chunk.length;
        blob.onProgress?.(offset);
        location = sessionUrl(what, r, location);
      }
      location.searchParams.set('digest', blob.digest);
      const done = await exchange('PUT', location, {}, undefined, undefined, blob.signal);
      return checkDone(what, done, blob.digest);
    }
    location.searchParams.set('digest', blob.digest);
    const done = await exchange('PUT', location, { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.size }, stream, blob.onProgress, blob.signal);
    return checkDone(what, done, blob.digest);
  }

  function checkDone(what: string, r: Reply, digest: string): void {
    if (r.status !== 201) throw failure(what, r);
    const got = r.headers['docker-content-digest'];
    if (got && got !== digest) throw new AppError('upstream_unavailable', `registry stored ${what} under ${String(got)}`);
  }

  async function openBlobUpload(repository: string): Promise<BlobWriter> {
    const what = `streamed blob upload to ${repository}`;
    const start = await exchange('POST', resolve(`${repoPath(repository)}/blobs/uploads/`), {}).catch((e) => {
      throw networkError(what, e);
    });
    if (start.status !== 202) throw failure(what, start);
    const location = sessionUrl(what, start);
    // one PATCH whose body is written as the content is produced (chunked transfer encoding, distribution's stream mode)
    let failed: unknown;
    const req = lib.request(location, {
      method: 'PATCH',
      agent,
      headers: { Authorization: basic, 'Content-Type': 'application/octet-stream', 'User-Agent': 'hubgate-uploads', ...(currentRequestId() ? { 'X-Request-Id': currentRequestId() } : {}) },
    });
    const reply = new Promise<Reply>((ok, ko) => {
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', ko);
      });
      req.on('error', (e) => {
        failed = e;
        ko(e);
      });
    });
    reply.catch(() => undefined);
    req.setTimeout(opts.timeoutMs, () => req.destroy(Object.assign(new Error('registry request timed out'), { code: 'ETIMEDOUT' })));
    const cancel = () => {
      req.destroy();
      void exchange('DELETE', location, {}).catch(() => undefined);
    };
    return {
      async write(chunk) {
        if (failed) throw networkError(what, failed);
        // keep up to a few MiB in flight (the caller's pieces are small); wait for the socket beyond that
        if (!req.write(chunk) && req.writableLength > 4 * 1024 * 1024) {
          await new Promise<void>((r) => {
            const done = () => {
              req.off('drain', done);
              req.off('close', done);
              r();
            };
            req.on('drain', done);
            req.on('close', done);
          });
        }
        if (failed) throw networkError(what, failed);
      },
      async commit(digest) {
        req.end();
        const patched = await reply.catch((e) => {
          throw networkError(what, e);
        });
        if (patched.status !== 202) throw failure(what, patched);
        const done = sessionUrl(what, patched, location);
        done.searchParams.set('digest', digest);
        const r = await exchange('PUT', done, {}).catch((e) => {
          throw networkError(what, e);
        });
        checkDone(what, r, digest);
      },
      abort: cancel,
    };
  }

  return {
    openBlobUpload,
    async mountBlob(repository, digest, from) {
      const u = resolve(`${repoPath(repository)}/blobs/uploads/`);
      u.searchParams.set('mount', digest);
      u.searchParams.set('from', from);
      return withRetries(`blob mount ${digest}`, async () => {
        const r = await exchange('POST', u, {});
        if (r.status === 201) return true;
        if (r.status === 202) {
          // the registry opened a normal upload session instead: close it again
          const session = r.headers.location ? resolve(String(r.headers.location)) : undefined;
          if (session?.origin === base.origin) await exchange('DELETE', session, {}).catch(() => undefined);
          return false;
        }
        throw failure(`blob mount ${digest}`, r);
      });
    },
    async blobExists(repository, digest) {
      return withRetries(`blob check ${digest}`, async () => {
        const r = await exchange('HEAD', resolve(`${repoPath(repository)}/blobs/${referencePath(digest)}`), {});
        if (r.status === 200) return true;
        if (r.status === 404) return false;
        throw failure(`blob check ${digest}`, r);
      });
    },
    async pushBlob(repository, blob) {
      // an aborted push (the uploader went away) is not retried: the abort's reason ends it
      await withRetries(`blob upload ${blob.digest}`, () => {
        blob.signal?.throwIfAborted();
        return pushOnce(repository, blob);
      });
    },
    async putManifest(repository, reference, mediaType, body) {
      const what = `manifest ${repository}:${reference}`;
      return withRetries(what, async () => {
        const r = await exchange('PUT', resolve(`${repoPath(repository)}/manifests/${referencePath(reference)}`), { 'Content-Type': mediaType }, body);
        if (r.status !== 201) throw failure(what, r);
        return String(r.headers['docker-content-digest'] ?? '');
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/** Re-chunks a stream into buffers of exactly `size` bytes (the last may be shorter). */
async function* chunked(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let have = 0;
  for await (const c of stream as AsyncIterable<Buffer>) {
    let buf = c;
    while (have + buf.length >= size) {
      const take = size - have;
      parts.push(buf.subarray(0, take));
      yield Buffer.concat(parts);
      parts = [];
      have = 0;
      buf = buf.subarray(take);
    }
    if (buf.length) {
      parts.push(buf);
      have += buf.length;
    }
  }
  if (have) yield Buffer.concat(parts);
}
