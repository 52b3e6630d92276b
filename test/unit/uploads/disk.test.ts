import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { AppError } from '../../../src/domain/errors';
import type { UploadHandle } from '../../../src/domain/uploads.service';
import { ERROR_TABLE } from '../../../src/http/errors';
import { dockerSave, layerTar } from '../../support/archives';
import { kit, member, pieces, stalled, type Kit } from './kit';

/**
 * Disk per upload and per replica: entries that are not layers are capped (they are stored as they are, never
 * compressed), each upload has its own spool limit (413), all uploads of the replica share a budget and the file
 * system keeps a reserve (507). Every refusal removes the spool and frees the slot.
 */

const answer = (e: unknown) => ERROR_TABLE[(e as AppError).kind];

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('console uploads: disk budgets', () => {
  let k: Kit;
  afterEach(() => k.close());

  async function begin(declaredBytes?: number): Promise<UploadHandle> {
    const { projectId } = await k.uploads.authorize(member(), 'ws');
    return k.uploads.start(member(), 'ws', { projectId, declaredBytes });
  }

  it('a gzip archive with a big non-layer entry (text, stored as it is): 413 PAYLOAD_TOO_LARGE before it is written, spool removed', async () => {
    k = kit({ maxOtherEntryBytes: 1024 * 1024 });
    const archive = gzipSync(dockerSave([{ layers: [layerTar()], refs: ['zeros:1'] }], { extra: [{ name: 'junk', data: Buffer.alloc(32 * 1024 * 1024, 'a') }] }));
    expect(archive.length).toBeLessThan(100 * 1024);
    const err = await k.upload(archive).catch((e: unknown) => e);
    expect(answer(err)).toEqual({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
    expect(err).toMatchObject({ reason: 'too_large', message: expect.stringMatching(/neither a layer/) });
    expect(k.spoolDirs()).toEqual([]);
    expect(k.uploads.active).toBe(0);
  });

  it('a big entry of zeros is no layer (an empty layer is at most one 10 KiB tar record): capped with 413, never compressed', async () => {
    k = kit({ maxOtherEntryBytes: 8 * 1024 * 1024 });
    const archive = gzipSync(dockerSave([{ layers: [layerTar()], refs: ['zeros:1'] }], { extra: [{ name: 'zeros', data: Buffer.alloc(48 * 1024 * 1024) }] }));
    const err = await k.upload(archive).catch((e: unknown) => e);
    expect(answer(err)).toEqual({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
    expect(err).toMatchObject({ reason: 'too_large' });
    expect(k.spoolDirs()).toEqual([]);
    // a real empty layer (the end-of-archive marker alone, as docker writes it) still uploads
    const empty = Buffer.alloc(1024);
    expect((await k.upload(dockerSave([{ layers: [empty], refs: ['empty:1'] }]))).state).toBe('succeeded');
  });

  it('an upload needing more spool than its own limit: 413 PAYLOAD_TOO_LARGE, spool removed', async () => {
    k = kit({ maxDiskBytes: 1024 * 1024 });
    const archive = dockerSave([{ layers: [layerTar({ r: randomBytes(2 * 1024 * 1024) })], refs: ['big:1'] }]);
    const err = await k.upload(pieces(archive, 64 * 1024)).catch((e: unknown) => e);
    expect(answer(err)).toEqual({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
    expect(err).toMatchObject({ reason: 'too_large', message: expect.stringMatching(/per-upload disk limit/) });
    expect(k.spoolDirs()).toEqual([]);
    expect(k.registry.tags()).toEqual([]);
  });

  it("uploads sharing the replica's budget: the one crossing it gets 507 INSUFFICIENT_STORAGE; a declared size over what is left is refused before reading", async () => {
    k = kit({ diskBudgetBytes: 3 * 1024 * 1024, streamLayers: false });
    // A holds ~2 MiB of spool and then stalls
    const a = await begin();
    const bigA = dockerSave([{ layers: [layerTar({ r: randomBytes(2 * 1024 * 1024) })], refs: ['a:1'] }]);
    const runA = k.uploads.run(a, stalled(pieces(bigA.subarray(0, bigA.length - 4096), 64 * 1024)), () => ({})).catch((e: unknown) => e);
    await until('A spooled', () => a.record.bytesReceived >= bigA.length - 4096);
    // A's spool is counted against the budget once written (in batches: the first MiB so far), not after a guessed pause
    await until('A past 1 MiB on disk', () => (a as unknown as { diskBytes: number }).diskBytes > 1024 * 1024);

    // declared 2 MiB while more than 1 of 3 MiB is used: refused up front, no slot taken
    await expect(begin(2 * 1024 * 1024)).rejects.toMatchObject({ kind: 'insufficient_storage', reason: 'no_space' });
    expect(k.uploads.active).toBe(1);

    // B without a declared size crosses the budget while spooling
    const b = await begin();
    const bigB = dockerSave([{ layers: [layerTar({ r: randomBytes(2 * 1024 * 1024) })], refs: ['b:1'] }]);
    const errB = await k.uploads.run(b, (async function* () { yield* pieces(bigB, 64 * 1024); })(), () => ({})).catch((e: unknown) => e);
    expect(answer(errB)).toEqual({ status: 507, code: 'INSUFFICIENT_STORAGE' });
    expect(b.record).toMatchObject({ state: 'failed', error: { kind: 'insufficient_storage', reason: 'no_space' } });
    expect(k.spoolDirs()).toHaveLength(1); // only A's

    a.abort((errB as AppError));
    await runA;
    expect(k.spoolDirs()).toEqual([]);
    expect(k.uploads.active).toBe(0);
    // budget free again
    expect((await k.upload(dockerSave([{ layers: [layerTar()], refs: ['c:1'] }]))).state).toBe('succeeded');
  });

  it('the spool file system below its free-space reserve: 507 before a byte is read', async () => {
    k = kit({ minFreeBytes: 2 ** 52 });
    await expect(begin()).rejects.toMatchObject({ kind: 'insufficient_storage', reason: 'no_space' });
    expect(k.uploads.active).toBe(0);
  });
});
