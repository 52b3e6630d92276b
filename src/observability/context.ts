import { AsyncLocalStorage } from 'node:async_hooks';

/** Per-request context: request id (forwarded to Harbor as X-Request-Id), operation id, caller. */
export interface RequestContext {
  requestId: string;
  operation?: string;
  user?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

export const runWithContext = <T>(ctx: RequestContext, fn: () => T): T => storage.run(ctx, fn);
export const currentContext = (): RequestContext | undefined => storage.getStore();
export const currentRequestId = (): string | undefined => storage.getStore()?.requestId;
