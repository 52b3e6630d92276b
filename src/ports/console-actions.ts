/**
 * Console actions reach Harbor under hubgate's admin identity, so Harbor's audit log names "admin" for them. To
 * show who really acted, hubgate remembers each successful console action per workspace (who, when, which image)
 * and matches Harbor's "admin" rows against them (src/domain/activity.service.ts). Stored in Redis, shared by the
 * replicas (adapters/redis/console-actions.store.ts); without Redis, in this process only.
 */
export interface ConsoleAction {
  /** Start and end of the API call (ms since the epoch): Harbor's rows fall inside. */
  start: number;
  end: number;
  userId: string;
  username: string;
  /** API operation id, e.g. `image_versions_delete`. */
  action: string;
  requestId: string;
  /** The image acted on; absent when the call covered the whole workspace (workspace delete, upload). */
  image?: string;
}

export interface ConsoleActionStore {
  remember(workspace: string, action: ConsoleAction): Promise<void>;
  /** Actions on the workspace that ended at or after `since` (ms), newest first. */
  recent(workspace: string, since: number): Promise<ConsoleAction[]>;
  close(): Promise<void>;
}
