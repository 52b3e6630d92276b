import type { Readable } from 'node:stream';

/**
 * What hubgate needs from Harbor's registry API (`/v2`) to push images it assembled itself (console uploads).
 * Implemented by adapters/registry (node:http, hubgate's Harbor admin identity). `repository` is the full name
 * including the workspace (`team-a/app`). Every method throws AppError: invalid (the registry refused the
 * content; its message kept), forbidden (quota), not_found, upstream_misconfigured (Harbor refused hubgate's
 * identity), upstream_unavailable (refused, reset, 5xx) or upstream_timeout.
 */
export interface BlobPush {
  digest: string;
  size: number;
  /** Opens the content from the start; called again when an attempt fails and is retried. */
  open(): Readable;
  /** Bytes sent so far in the current attempt (for progress). */
  onProgress?(sent: number): void;
  /** Aborts the push: requests in flight are cut, no retry (the upload's client went away, shutdown). */
  signal?: AbortSignal;
}

/** A blob upload fed while its content is still being produced (`PATCH` with a streamed body). */
export interface BlobWriter {
  write(chunk: Buffer): Promise<void>;
  /** Finishes the upload (`PUT ?digest=`); the registry checks the digest. */
  commit(digest: string): Promise<void>;
  /**
   * Gives the upload up (the registry drops the session); also after a failed commit. A write still pending returns
   * at once, so a caller waiting on it is released. Never throws.
   */
  abort(): void;
}

export interface RegistryPort {
  /** `HEAD /v2/<repo>/blobs/<digest>`: true when Harbor already has it for this repository's project. */
  blobExists(repository: string, digest: string): Promise<boolean>;
  /**
   * Uploads one blob (`POST …/blobs/uploads/`, then one streamed `PUT ?digest=` or `PATCH` chunks + `PUT`) and
   * checks that the registry stored it under the expected digest.
   */
  pushBlob(repository: string, blob: BlobPush): Promise<void>;
  /** Starts a streamed blob upload into the repository. */
  openBlobUpload(repository: string): Promise<BlobWriter>;
  /** Cross-repository mount (`POST …/blobs/uploads/?mount=<digest>&from=<repo>`); false when the registry declined. */
  mountBlob(repository: string, digest: string, from: string): Promise<boolean>;
  /** `PUT /v2/<repo>/manifests/<reference>`; returns the digest the registry computed. */
  putManifest(repository: string, reference: string, mediaType: string, body: Buffer): Promise<string>;
}
