import { availableParallelism } from 'node:os';
import { Spool } from '../../../src/domain/uploads/spool';
import { dockerSave, layerTar } from '../../support/archives';
import { kit, type Kit } from './kit';

/** Layers are compressed on every CPU of the replica, and on two at least (one CPU still overlaps reading and compressing). */

jest.mock('node:os', () => ({ ...jest.requireActual<object>('node:os'), availableParallelism: jest.fn() }));
const cpus = availableParallelism as unknown as jest.Mock<number, []>;

describe('console uploads: parallel layer compression', () => {
  let k: Kit;
  afterEach(() => {
    jest.restoreAllMocks();
    k.close();
  });

  it.each([
    [1, 2],
    [2, 2],
    [8, 8],
  ])('%i CPU(s): %i compressions at once', async (n, parallel) => {
    cpus.mockReturnValue(n);
    const create = jest.spyOn(Spool, 'create');
    k = kit();
    expect((await k.upload(dockerSave([{ layers: [layerTar()], refs: ['app:1'] }]))).state).toBe('succeeded');
    expect(create.mock.calls.map(([o]) => o.parallel)).toEqual([parallel]);
  });
});
