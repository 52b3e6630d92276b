import { AppError } from '../../../src/domain/errors';
import { dockerSave, layerTar, ociArchive } from '../../support/archives';
import { kit, type Kit } from './kit';

/**
 * "A failure never creates or moves a tag" for manifests: every manifest of every image (the one a tag will point
 * at included) is PUT by digest before the first tag, so a manifest the registry refuses fails the upload with no
 * tag created — not even for the images of the archive that were fine.
 */
describe('console uploads: every manifest by digest before any tag', () => {
  let k: Kit;
  let puts: string[];
  beforeEach(() => {
    k = kit();
    puts = [];
  });
  afterEach(() => k.close());

  /** Records every manifest PUT (`repo@digest` or `repo:tag`); refuses those `refuse` picks, as distribution would. */
  function watchManifests(refuse: (repository: string, reference: string) => boolean = () => false) {
    const original = k.registry.putManifest.bind(k.registry);
    k.registry.putManifest = async (repository, reference, mediaType, body) => {
      puts.push(reference.startsWith('sha256:') ? `${repository}@digest` : `${repository}:${reference}`);
      if (refuse(repository, reference)) throw new AppError('invalid', 'registry refused manifest: MANIFEST_INVALID');
      return original(repository, reference, mediaType, body);
    };
  }

  it('two images: both manifests go in by digest, then the tags', async () => {
    watchManifests();
    const rec = await k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:1'] }, { layers: [layerTar()], refs: ['two:1', 'two:latest'] }]));
    expect(rec.state).toBe('succeeded');
    expect(puts).toEqual(['ws/one@digest', 'ws/two@digest', 'ws/one:1', 'ws/two:1', 'ws/two:latest']);
    expect(k.registry.tags()).toEqual(['ws/one:1', 'ws/two:1', 'ws/two:latest']);
  });

  it("the last image's manifest refused by digest: the upload fails, no tag at all (the first image's neither)", async () => {
    watchManifests((repository) => repository === 'ws/two');
    const err = await k.upload(dockerSave([{ layers: [layerTar()], refs: ['one:1'] }, { layers: [layerTar()], refs: ['two:1'] }])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).kind).toBe('invalid');
    expect((err as AppError).message).toContain('MANIFEST_INVALID');
    expect(puts).toEqual(['ws/one@digest', 'ws/two@digest']);
    expect(k.registry.tags()).toEqual([]);
  });

  it('an OCI index: its child manifest and the index itself by digest, then the tag on the index', async () => {
    watchManifests();
    const rec = await k.upload(ociArchive([{ layers: [layerTar()], refs: ['idx:1'] }]));
    expect(rec.state).toBe('succeeded');
    const tagAt = puts.indexOf('ws/idx:1');
    expect(tagAt).toBe(puts.length - 1);
    expect(puts.slice(0, tagAt).every((p) => p === 'ws/idx@digest')).toBe(true);
    expect(tagAt).toBeGreaterThanOrEqual(1);
    const tagged = k.registry.manifests.get('ws/idx')!.get('1')!;
    // the tagged manifest went in by digest before the tag
    expect(k.registry.manifests.get('ws/idx')!.has(tagged.digest)).toBe(true);
    expect(rec.images).toEqual([expect.objectContaining({ repository: 'ws/idx', tag: '1', digest: tagged.digest })]);
  });

  it('the tagged (top) manifest refused by digest: the upload fails and the tag is not created', async () => {
    // the archive's one image: refuse the PUT of the manifest the tag would point at (its last digest PUT)
    let digestPuts = 0;
    const probe = kit();
    try {
      const count = probe.registry.putManifest.bind(probe.registry);
      probe.registry.putManifest = async (r, ref, mt, b) => {
        if (ref.startsWith('sha256:')) digestPuts++;
        return count(r, ref, mt, b);
      };
      await probe.upload(ociArchive([{ layers: [layerTar()], refs: ['top:1'] }]));
    } finally {
      probe.close();
    }
    let seen = 0;
    watchManifests((_r, reference) => reference.startsWith('sha256:') && ++seen === digestPuts);
    const err = await k.upload(ociArchive([{ layers: [layerTar()], refs: ['top:1'] }])).catch((e: unknown) => e);
    expect((err as AppError).kind).toBe('invalid');
    expect(puts.filter((p) => !p.endsWith('@digest'))).toEqual([]);
    expect(k.registry.tags()).toEqual([]);
  });
});
