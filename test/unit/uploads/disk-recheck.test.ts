import { statfs } from 'node:fs/promises';
import type { AppError } from '../../../src/domain/errors';
import { ERROR_TABLE } from '../../../src/http/errors';
import { dockerSave, layerTar } from '../../support/archives';
import { freeSpace, kit, member, pieces, type Kit } from './kit';

/**
 * The spool's file system as the upload sees it (statfs, mocked here so the free space is what the test says):
 * checked before reading and again after every 64 MiB an upload writes; a file system without statfs leaves the
 * replica's budget as the only limit.
 */

jest.mock('node:fs/promises', () => ({ ...jest.requireActual<object>('node:fs/promises'), statfs: jest.fn() }));
const statfsMock = statfs as unknown as jest.Mock<Promise<{ bavail: number; bsize: number }>, [string]>;

const MiB = 1024 * 1024;
const answer = (e: unknown) => ERROR_TABLE[(e as AppError).kind];

describe('console uploads: free space on the spool file system', () => {
  let k: Kit;
  afterEach(() => {
    k.close();
    statfsMock.mockReset();
  });

  it('no statfs there: the reserve cannot be checked, the upload starts; the budget still applies', async () => {
    statfsMock.mockRejectedValue(Object.assign(new Error('ENOSYS: function not implemented, statfs'), { code: 'ENOSYS' }));
    k = kit({ minFreeBytes: 2 ** 52, diskBudgetBytes: 10 * MiB });
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1', declaredBytes: 10 * MiB });
    expect(k.uploads.active).toBe(1);
    await k.uploads.fail(h, new Error('test over'));
    expect(statfsMock.mock.calls).toEqual([[k.tmp]]);
    const err = await k.uploads.start(member(), 'ws', { projectId: 'p1', declaredBytes: 10 * MiB + 1 }).catch((e: unknown) => e);
    expect(answer(err)).toEqual({ status: 507, code: 'INSUFFICIENT_STORAGE' });
    expect(err).toMatchObject({ reason: 'no_space', message: "this replica's upload disk budget (10485760 bytes) is used up by running uploads; try again later" });
  });

  it('free space is asked again after 64 MiB written: once for a 65 MiB layer', async () => {
    statfsMock.mockResolvedValue(freeSpace(1024 * MiB));
    k = kit({ maxBytes: 128 * MiB, compressLayers: false, streamLayers: false, minFreeBytes: 256 * MiB });
    const archive = dockerSave([{ layers: [layerTar({ big: Buffer.alloc(65 * MiB, 'a') })], refs: ['big:1'] }]);
    const rec = await k.upload(pieces(archive, MiB));
    expect(rec.state).toBe('succeeded');
    expect(statfsMock).toHaveBeenCalledTimes(2);
  });

  it('the file system filling up meanwhile: 507 at the next check, spool removed, slot freed', async () => {
    statfsMock.mockResolvedValueOnce(freeSpace(1024 * MiB)).mockResolvedValue(freeSpace(200 * MiB));
    k = kit({ maxBytes: 128 * MiB, compressLayers: false, streamLayers: false, minFreeBytes: 256 * MiB });
    const archive = dockerSave([{ layers: [layerTar({ big: Buffer.alloc(65 * MiB, 'a') })], refs: ['big:1'] }]);
    const err = await k.upload(pieces(archive, MiB)).catch((e: unknown) => e);
    expect(answer(err)).toEqual({ status: 507, code: 'INSUFFICIENT_STORAGE' });
    expect(err).toMatchObject({ reason: 'no_space', message: 'the upload spool of this replica is out of disk space; try again later' });
    expect(statfsMock).toHaveBeenCalledTimes(2);
    expect(k.spoolDirs()).toEqual([]);
    expect(k.uploads.active).toBe(0);
    expect(k.registry.pushes).toEqual([]);
  });
});
