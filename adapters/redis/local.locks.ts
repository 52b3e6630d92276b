import { AppError } from '../../src/domain/errors';

/** Message of the conflict a lock wait ends with. Says nothing about what was locked (names carry ids). */
export const LOCK_BUSY_MESSAGE = 'another operation on this resource is in progress; retry later';

export const lockBusy = (): AppError => new AppError('conflict', LOCK_BUSY_MESSAGE);

/**
 * Per-name mutexes inside this process. Waiters are served first come, first served; a waiter that is not
 * served within its waitMs leaves the queue with AppError conflict. An idle name holds no memory.
 */
export class LocalLocks {
  /** Present while the name is held; the array holds the waiters in arrival order. */
  private readonly queues = new Map<string, Array<() => void>>();

  /** Resolves to the release function (idempotent) once the caller holds the lock. */
  acquire(name: string, waitMs: number): Promise<() => void> {
    const queue = this.queues.get(name);
    if (!queue) {
      this.queues.set(name, []);
      return Promise.resolve(this.releaser(name));
    }
    if (waitMs <= 0) return Promise.reject(lockBusy());
    return new Promise((resolve, reject) => {
      const waiter = () => {
        clearTimeout(timer);
        resolve(this.releaser(name));
      };
      // a waiter still has its timer only while it is queued: serving it (releaser) clears the timer first
      const timer = setTimeout(() => {
        queue.splice(queue.indexOf(waiter), 1);
        reject(lockBusy());
      }, waitMs);
      queue.push(waiter);
    });
  }

  /** Names currently held (tests and diagnostics). */
  held(): number {
    return this.queues.size;
  }

  private releaser(name: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const queue = this.queues.get(name);
      const next = queue?.shift();
      if (next) next();
      else this.queues.delete(name);
    };
  }
}
