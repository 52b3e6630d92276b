import type { Cache } from '../../ports/coordination';
import type { ErrorKind } from '../errors';

/**
 * Progress of console uploads, readable from every replica.
 *
 * The replica receiving an upload owns its record and keeps it in memory (the authority for its own GETs, and
 * all there is while Redis is down); every change is also written to the shared cache (`upload:<id>` in Redis)
 * — at most every `flushMs` while bytes stream in, at once on every state change, and as a heartbeat while
 * nothing else happens. A write lost during a Redis outage is repeated when Redis answers again. Another
 * replica reading a record whose heartbeat stopped (its owner died) reports it as failed instead of
 * "receiving" for ever. Records expire after `ttlSeconds`.
 */
export type UploadState = 'receiving' | 'verifying' | 'pushing' | 'succeeded' | 'failed';

export interface LayerProgress {
  repository: string;
  digest: string;
  size: number;
  label: string;
  state: 'pending' | 'uploading' | 'uploaded' | 'skipped';
  bytesSent: number;
}

export interface PushedImage {
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  /** `<registry host>/<repository>:<tag>` — what docker pull takes. */
  pullAddress: string;
}

export interface UploadRecord {
  id: string;
  workspace: string;
  /** Owning platform project of the workspace (members may read the progress). */
  projectId: string | null;
  userId: string;
  state: UploadState;
  bytesReceived: number;
  /** Content-Length of the request, when the client declared one. */
  bytesDeclared: number | null;
  /** gzip, none — detected from the content. */
  compression?: string;
  /** docker-save or oci, once known. */
  format?: string;
  layers: LayerProgress[];
  images: PushedImage[];
  /** Why it failed: the error kind (→ HTTP status), a bounded reason label and the message. */
  error?: { kind: ErrorKind; reason: string; message: string };
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  /** Replica handling the upload. */
  replica: string;
}

export interface ProgressOptions {
  ttlSeconds: number;
  /** This process' replica id. */
  replica: string;
  /** How often streaming progress is written to the shared cache. */
  flushMs?: number;
  /** A non-final record not updated for this long is reported as failed (its replica stopped). */
  staleAfterMs?: number;
  /** True when a shared cache exists at all (REDIS_URL set); enables re-sending writes lost in an outage. */
  sharedConfigured: boolean;
  /** True while the shared cache answers. */
  shared: () => boolean;
  now?: () => number;
}

interface Entry {
  rec: UploadRecord;
  flushedAt: number;
  synced: boolean;
  expiresAt: number;
  /** A throttled write waiting to go out. */
  trailing?: NodeJS.Timeout;
}

const KEY = (id: string) => `upload:${id}`;
const MAX_LOCAL = 1000;
export const isFinal = (s: UploadState) => s === 'succeeded' || s === 'failed';

export class ProgressStore {
  private readonly local = new Map<string, Entry>();
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(
    private readonly cache: Cache,
    private readonly opts: ProgressOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.timer = setInterval(() => void this.heartbeat(), Math.max(1000, Math.floor(this.staleAfterMs() / 4)));
    this.timer.unref();
  }

  private staleAfterMs(): number {
    return this.opts.staleAfterMs ?? 30_000;
  }

  close(): void {
    clearInterval(this.timer);
    for (const e of this.local.values()) clearTimeout(e.trailing);
  }

  /** Saves a record: always locally, and to the shared cache when forced or due. */
  async save(rec: UploadRecord, force = false): Promise<void> {
    const now = this.now();
    rec.updatedAt = new Date(now).toISOString();
    // Stryker disable next-line BooleanLiteral: equivalent, a new entry is due (flushedAt 0) and its flush sets synced
    const entry: Entry = this.local.get(rec.id) ?? { rec, flushedAt: 0, synced: false, expiresAt: 0 };
    entry.rec = rec;
    entry.expiresAt = now + this.opts.ttlSeconds * 1000;
    this.local.delete(rec.id);
    this.local.set(rec.id, entry);
    this.trim(now);
    const flushMs = this.opts.flushMs ?? 500;
    if (force || now - entry.flushedAt >= flushMs) await this.flush(entry, now);
    else if (!entry.trailing) {
      // throttled: make sure the latest state still goes out shortly (a stalled body must not hide progress)
      entry.trailing = setTimeout(() => void this.flush(entry, this.now()), flushMs - (now - entry.flushedAt));
      entry.trailing.unref();
    }
  }

  private async flush(entry: Entry, now: number): Promise<void> {
    clearTimeout(entry.trailing);
    entry.trailing = undefined;
    entry.flushedAt = now;
    await this.cache.set(KEY(entry.rec.id), entry.rec, this.opts.ttlSeconds);
    entry.synced = this.opts.shared();
  }

  private trim(now: number): void {
    for (const [id, e] of this.local) {
      if (this.local.size <= MAX_LOCAL && e.expiresAt > now) break;
      if (e.expiresAt <= now || isFinal(e.rec.state)) this.local.delete(id);
      if (this.local.size <= MAX_LOCAL) break;
    }
  }

  /** Heartbeat of running uploads, and re-sending of records the shared cache missed during an outage. */
  private async heartbeat(): Promise<void> {
    const now = this.now();
    for (const e of this.local.values()) {
      if (e.rec.replica !== this.opts.replica) continue;
      const running = !isFinal(e.rec.state);
      if (running && now - e.flushedAt >= this.staleAfterMs() / 4) {
        e.rec.updatedAt = new Date(now).toISOString();
        await this.flush(e, now);
      } else if (!e.synced && this.opts.sharedConfigured) {
        await this.flush(e, now);
      }
    }
  }

  /** True while the id names a record, here or in the shared cache; an expired local record no longer counts. */
  async exists(id: string): Promise<boolean> {
    return (await this.get(id)) !== undefined;
  }

  /** Whether this replica still holds the record in memory, expired or not (what trimming leaves; for tests). */
  holds(id: string): boolean {
    return this.local.has(id);
  }

  /** The record as this replica knows it (its own uploads) or as the shared cache has it. */
  async get(id: string): Promise<UploadRecord | undefined> {
    const mine = this.local.get(id);
    if (mine && mine.expiresAt > this.now()) return mine.rec;
    const shared = await this.cache.get<UploadRecord>(KEY(id));
    if (!shared) return undefined;
    if (!isFinal(shared.state) && shared.replica !== this.opts.replica && this.now() - Date.parse(shared.updatedAt) > this.staleAfterMs()) {
      return {
        ...shared,
        state: 'failed',
        error: {
          kind: 'upstream_unavailable',
          reason: 'replica_lost',
          message: 'the hubgate replica receiving this upload stopped before the upload finished; send the archive again',
        },
      };
    }
    return shared;
  }
}
