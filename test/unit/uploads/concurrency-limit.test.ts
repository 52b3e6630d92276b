import { AppError } from '../../../src/domain/errors';
import type { UploadHandle } from '../../../src/domain/uploads.service';
import { ArchiveError } from '../../../src/domain/uploads/archive-error';
import { ERROR_TABLE } from '../../../src/http/errors';
import { kit, member, type Kit } from './kit';

/** The per-replica upload limit (`maxConcurrent`): one more upload than the limit is refused with 429 and Retry-After. */
describe('console uploads: per-replica concurrency limit', () => {
  let k: Kit;
  afterEach(() => k.close());

  async function begin(): Promise<UploadHandle> {
    const { projectId } = await k.uploads.authorize(member(), 'ws');
    return k.uploads.start(member(), 'ws', { projectId });
  }

  it('with maxConcurrent 2, a third upload gets 429 TOO_MANY_REQUESTS (rate_limited, retry after 10 s); a freed slot is usable again', async () => {
    k = kit({ maxConcurrent: 2 });
    const a = await begin();
    await begin();
    expect(k.uploads.active).toBe(2);
    const err = await begin().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).kind).toBe('rate_limited');
    expect(ERROR_TABLE[(err as AppError).kind].status).toBe(429);
    expect((err as AppError).retryAfterSeconds).toBe(10);
    expect((err as AppError).message).toBe('this replica is already receiving 2 uploads; try again shortly');
    expect(k.uploads.active).toBe(2);
    // one of them ends: its slot is free again
    await k.uploads.run(a, () => {
      throw new ArchiveError('bad_multipart', 'malformed multipart request');
    }, () => ({})).catch(() => undefined);
    expect(k.uploads.active).toBe(1);
    await begin();
    expect(k.uploads.active).toBe(2);
  });

  it('uploads started at the same moment cannot overshoot the limit (the slot is re-checked after the disk check)', async () => {
    k = kit({ maxConcurrent: 1 });
    const results = await Promise.allSettled([begin(), begin(), begin()]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused).toHaveLength(2);
    for (const r of refused) expect(r.reason).toMatchObject({ kind: 'rate_limited', retryAfterSeconds: 10 });
    expect(k.uploads.active).toBe(1);
  });

  it('below the limit every upload is accepted (the limit is not off by one)', async () => {
    k = kit({ maxConcurrent: 3 });
    await begin();
    await begin();
    await begin();
    expect(k.uploads.active).toBe(3);
    await expect(begin()).rejects.toMatchObject({ kind: 'rate_limited' });
  });
});
