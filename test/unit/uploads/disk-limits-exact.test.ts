import { statfs } from 'node:fs/promises';
import type { AppError } from '../../../src/domain/errors';
import { dockerSave, layerTar } from '../../support/archives';
import { freeSpace, kit, member, pieces, type Kit } from './kit';

/**
 * The disk limits at their edges: the free-space reserve counts the declared size, an upload may use exactly its
 * spool limit and the replica's budget, and the free space is asked again once exactly 64 MiB were written. With
 * layers stored as they are (compressLayers off), the spool holds exactly the archive's regular files.
 */

jest.mock('node:fs/promises', () => ({ ...jest.requireActual<object>('node:fs/promises'), statfs: jest.fn() }));
const statfsMock = statfs as unknown as jest.Mock<Promise<{ bavail: number; bsize: number }>, [string]>;

const MiB = 1024 * 1024;
const failure = (e: unknown) => ({ kind: (e as AppError).kind, message: (e as AppError).message });

/** Bytes of the regular files of a tar archive (what the spool writes when nothing is compressed). */
function fileBytes(tar: Buffer): number {
  let n = 0;
  for (let off = 0; off + 512 <= tar.length && tar[off] !== 0; ) {
    const size = parseInt(tar.subarray(off + 124, off + 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    if (tar[off + 156] === 0x30 || tar[off + 156] === 0) n += size;
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return n;
}

describe('console uploads: disk limits at their edges', () => {
  let k: Kit;
  afterEach(() => {
    k.close();
    statfsMock.mockReset();
  });

  it('the free-space reserve counts the declared size: exactly enough is accepted, one block less is a 507', async () => {
    const declaredBytes = 8 * MiB;
    k = kit({ minFreeBytes: 256 * MiB });
    statfsMock.mockResolvedValue(freeSpace(256 * MiB + declaredBytes));
    const h = await k.uploads.start(member(), 'ws', { projectId: 'p1', declaredBytes });
    await k.uploads.fail(h, new Error('test over'));
    statfsMock.mockResolvedValue(freeSpace(256 * MiB + declaredBytes - 4096));
    const err = await k.uploads.start(member(), 'ws', { projectId: 'p1', declaredBytes }).catch((e: unknown) => e);
    expect(failure(err)).toEqual({ kind: 'insufficient_storage', message: 'the upload spool of this replica is out of disk space; try again later' });
  });

  describe('an archive whose files take B bytes of spool', () => {
    const archive = dockerSave([{ layers: [layerTar({ big: Buffer.alloc(300_000, 'a') })], refs: ['app:1'] }]);
    const B = fileBytes(archive);
    const settings = { compressLayers: false, streamLayers: false };

    it.each([
      ['per-upload spool limit', 'maxDiskBytes', (n: number) => ({ kind: 'too_large', message: `the archive needs more than ${n} bytes of spool space (the per-upload disk limit)` })],
      [
        'replica budget',
        'diskBudgetBytes',
        (n: number) => ({ kind: 'insufficient_storage', message: `this replica's upload disk budget (${n} bytes) is used up by running uploads; try again later` }),
      ],
    ] as const)('uploads with a %s (%s) of B, and is refused at B - 1 naming the limit', async (_what, setting, refusal) => {
      statfsMock.mockResolvedValue(freeSpace(1024 * MiB));
      k = kit({ ...settings, [setting]: B });
      expect((await k.upload(archive)).state).toBe('succeeded');
      k.close();
      k = kit({ ...settings, [setting]: B - 1 });
      expect(failure(await k.upload(archive).catch((e: unknown) => e))).toEqual(refusal(B - 1));
    });
  });

  it('the free space is asked again when exactly 64 MiB were written', async () => {
    statfsMock.mockResolvedValue(freeSpace(1024 * MiB));
    const layer = layerTar({ big: Buffer.alloc(64 * MiB - 256 * 1024, 'a') });
    const build = (filler: number) => dockerSave([{ layers: [layer], refs: ['big:1'] }], { extra: [{ name: 'filler', data: Buffer.alloc(filler, 'f') }] });
    const archive = build(64 * MiB - fileBytes(build(0)));
    expect(fileBytes(archive)).toBe(64 * MiB);
    k = kit({ maxBytes: 128 * MiB, compressLayers: false, streamLayers: false });
    expect((await k.upload(pieces(archive, MiB))).state).toBe('succeeded');
    expect(statfsMock).toHaveBeenCalledTimes(2);
  });
});
