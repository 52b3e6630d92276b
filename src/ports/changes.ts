/**
 * A feed of changed names shared by every replica (Redis), so that one replica's write reaches the others as a
 * per-item invalidation instead of a "drop everything". Readers keep a cursor and ask for what was published
 * after it; the feed keeps the newest entries only, and says `reset` when it cannot account for everything
 * since the cursor (retention exceeded, Redis restarted or flushed), so the reader can fall back to a wider check.
 */
export interface FeedRead {
  /** Pass it to the next read. */
  cursor: string;
  /** Names published after the given cursor, oldest first (duplicates possible). */
  names: string[];
  /** Entries after the cursor may be missing: the reader must not rely on `names` being complete. */
  reset: boolean;
}

export interface ChangeFeed {
  /**
   * Publishes names to every reader (this replica included). While Redis is unreachable they are kept and
   * published once it is back (false = not shared yet).
   */
  publish(names: string[]): Promise<boolean>;
  /** What was published after `cursor`; without a cursor: nothing, and the current cursor to start from. */
  read(cursor: string | undefined): Promise<FeedRead>;
  close(): Promise<void>;
}
