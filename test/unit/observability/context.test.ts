/** The per-request context (src/observability/context.ts): what code running for a request reads from it. */
import { currentContext, currentRequestId, runWithContext } from '../../../src/observability/context';

describe('request context', () => {
  it('currentRequestId: the request id of the context the code runs in, also after an await; none outside one', async () => {
    const ctx = { requestId: 'req-42', operation: 'workspace_quota_get' };
    const seen = await runWithContext(ctx, async () => {
      const before = currentRequestId();
      await new Promise((r) => setImmediate(r));
      return [before, currentRequestId(), currentContext()];
    });
    expect(seen).toEqual(['req-42', 'req-42', ctx]);
    expect([currentRequestId(), currentContext()]).toEqual([undefined, undefined]);
  });
});
