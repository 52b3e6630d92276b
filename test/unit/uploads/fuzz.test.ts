import request from 'supertest';
import { ERROR_TABLE } from '../../../src/http/errors';
import { CORPUS_LIMITS, DEFAULT_PER_FAMILY, DEFAULT_SEED, hostileCorpus, makeHostile } from '../../support/hostile-archives';
import { kit, member, serveUploadRoute, type Kit } from './kit';

/**
 * The seeded corpus of hostile archives (test/support/hostile-archives.ts: a failure names its seed and replays).
 * Each is POSTed over HTTP to the real upload route (Express, the error handler) and must end in a 4xx in Harbor's
 * envelope whose code matches the progress record's, nothing tagged, the spool empty and the slot free, and the
 * process under 1 GiB after each (a bomb inflated in memory). What the corpus costs in event-loop delay and peak RSS
 * against a bare server reading the same bodies is a benchmark (`npm run bench -- hostile`), not an assertion here.
 */

const SEED = Number(process.env.HUBGATE_FUZZ_SEED ?? DEFAULT_SEED);
const PER_FAMILY = Number(process.env.HUBGATE_FUZZ_PER_FAMILY ?? DEFAULT_PER_FAMILY);

describe(`console uploads: seeded hostile-archive corpus (seed ${SEED})`, () => {
  let k: Kit;
  const cases = hostileCorpus(SEED, PER_FAMILY);
  const reasons = new Map<string, number>();
  let route: Awaited<ReturnType<typeof serveUploadRoute>>;

  beforeAll(async () => {
    k = kit(CORPUS_LIMITS);
    route = await serveUploadRoute(k);
  });
  afterAll(async () => {
    await route.close();
    k.close();
    process.stdout.write(`fuzz corpus: ${cases.length} archives; reasons ${JSON.stringify(Object.fromEntries(reasons))}\n`);
  });

  it('has at least 200 archives', () => {
    expect(cases.length).toBeGreaterThanOrEqual(200);
  });

  it.each(cases.map((c) => [`${c.family} (seed ${c.seed})`, c] as const))('%s → 4xx, nothing tagged, spool empty, slot free', async (_name, c) => {
    const { body, image } = makeHostile(c);
    const tagsBefore = k.registry.tags();
    const id = `fuzz-${Math.random().toString(36).slice(2, 12)}`;
    const res = await request(route.url)
      .post(`/api/v1/workspaces/ws/uploads?uploadId=${id}${image ? `&image=${image}` : ''}`)
      .set('Content-Type', 'application/octet-stream')
      .send(body);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers['x-upload-id']).toBe(id);
    // Harbor's envelope, and the same status and code in the progress record
    expect(res.body).toEqual({ errors: [{ code: expect.any(String), message: expect.any(String) }] });
    const rec = await k.uploads.get(member(), id);
    expect(rec.state).toBe('failed');
    const { status, code } = ERROR_TABLE[rec.error!.kind];
    expect([res.status, res.body.errors[0].code]).toEqual([status, code]);
    reasons.set(rec.error!.reason, (reasons.get(rec.error!.reason) ?? 0) + 1);
    // nothing tagged by this upload (compared with before it, so a case that wrongly succeeds fails alone)
    expect(k.registry.tags()).toEqual(tagsBefore);
    expect(k.spoolDirs()).toEqual([]);
    expect(k.uploads.active).toBe(0);
    expect(process.memoryUsage.rss()).toBeLessThan(1024 * 1024 * 1024);
  });

  it('nothing at all was tagged by the corpus', () => {
    expect(k.registry.tags()).toEqual([]);
  });

});
