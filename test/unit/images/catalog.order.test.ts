import { ImageCatalog, type CatalogDeps, type CatalogRepo } from '../../../src/domain/images.catalog';
import type { HarborRepository } from '../../../src/ports/harbor';
import { silentLogger } from '../../../src/observability/logger';
import { createInProcessChangeFeed } from '../../../adapters/redis/change.feed';

/**
 * The catalogue keeps its sorted orders current as rows change (issue 15: a write must not re-sort 100,000 rows):
 * after every batch of changes each remembered order must equal a fresh sort of the catalogue's rows — both for a
 * few changes (placed one by one) and for many (merged in one pass).
 */
let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];

function fakeHarbor() {
  const repos = new Map<number, HarborRepository>();
  let nextId = 1;
  const add = (ws: string, image: string) => {
    const id = nextId++;
    repos.set(id, {
      id,
      project_id: Number(ws.slice(3)),
      name: `${ws}/${image}`,
      pull_count: Math.floor(random() * 20),
      artifact_count: 1,
      creation_time: '2026-01-01T00:00:00.000Z',
      update_time: `2026-01-01T00:00:${String(Math.floor(random() * 60)).padStart(2, '0')}.000Z`,
    });
    return id;
  };
  const port = {
    async listRepositoriesAll(q: { sort?: string; pageSize?: number } = {}) {
      const all = [...repos.values()].sort((a, b) => (q.sort === '-repository_id' ? b.id - a.id : a.id - b.id));
      return { items: structuredClone(all.slice(0, q.pageSize ?? 10)), total: all.length };
    },
    async listRepositoriesInIdRange(from?: number, to?: number) {
      const rows = [...repos.values()].filter((r) => (from === undefined || r.id >= from) && (to === undefined || r.id <= to));
      return { items: structuredClone(rows), total: rows.length };
    },
    async getRepository(project: string, repository: string) {
      const r = [...repos.values()].find((x) => x.name === `${project}/${repository}`);
      return r ? structuredClone(r) : null;
    },
    async listArtifacts() {
      return { items: [], total: 0 };
    },
  };
  return { repos, add, port };
}

const byName = (a: CatalogRepo, b: CatalogRepo) => (a.image < b.image ? -1 : a.image > b.image ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const orders: Record<string, (a: CatalogRepo, b: CatalogRepo) => number> = {
  name: byName,
  '-pulls': (a, b) => b.pullCount - a.pullCount || byName(a, b),
  updated: (a, b) => (a.updateTime < b.updateTime ? -1 : a.updateTime > b.updateTime ? 1 : 0) || byName(a, b),
};

const NAMES = ['app', 'tool', 'web', 'db', 'team/api', 'team/cli'];
/** `rows` images in 7 workspaces behind a fake Harbor (random names by default), and a catalogue over them. */
function seededCatalog(rows = 300, name: (i: number) => string = (i) => `${pick(NAMES)}-${i}`, deps: Partial<CatalogDeps> = {}) {
  const h = fakeHarbor();
  for (let i = 0; i < rows; i++) h.add(`ws-${i % 7}`, name(i));
  const catalog = new ImageCatalog({
    harbor: h.port as never,
    feed: createInProcessChangeFeed(),
    logger: silentLogger,
    syncSeconds: 3600,
    fullSyncSeconds: 0,
    statsMaxAgeSeconds: 0,
    concurrency: 4,
    fillConcurrency: 1,
    walkRangeRows: 50,
    now: () => 1_000_000,
    ...deps,
  });
  return { h, catalog };
}

describe('image catalogue: sorted orders stay sorted as rows change', () => {
  it.each([
    ['a few changes per write (placed one by one)', 3],
    ['many changes at once (merged)', 60],
  ])('%s', async (_title, perRound) => {
    const { h, catalog } = seededCatalog();
    const projects = new Set([0, 1, 2, 3, 4, 5, 6]);
    for (const [key, compare] of Object.entries(orders)) await catalog.repositories(projects, compare, key);
    for (let round = 0; round < 25; round++) {
      const changed: string[] = [];
      for (let k = 0; k < perRound; k++) {
        const ids = [...h.repos.keys()];
        const kind = random();
        if (kind < 0.15) {
          const id = pick(ids);
          changed.push(h.repos.get(id)!.name);
          h.repos.delete(id);
        } else if (kind < 0.3) {
          changed.push(h.repos.get(h.add(`ws-${Math.floor(random() * 7)}`, `${pick(NAMES)}-new-${round}-${k}`))!.name);
        } else {
          const r = h.repos.get(pick(ids))!;
          r.pull_count = Math.floor(random() * 20);
          r.update_time = `2026-01-01T00:01:${String(Math.floor(random() * 60)).padStart(2, '0')}.000Z`;
          changed.push(r.name);
        }
      }
      await catalog.invalidate(changed);
      for (const [key, compare] of Object.entries(orders)) {
        const got = await catalog.repositories(projects, compare, key);
        const want = [...h.repos.values()].map((r) => r.name);
        expect(got.map((r) => r.name).sort()).toEqual(want.sort());
        expect(got.map((r) => r.id)).toEqual([...got].sort(compare).map((r) => r.id));
      }
    }
    catalog.stop();
  });
});

describe('image catalogue: the first pages of an order not remembered yet', () => {
  it('are selected in one pass (no sort of the catalogue) and equal the same pages of a full sort, with filters and totals', async () => {
    const { h, catalog } = seededCatalog();
    const keep = (r: CatalogRepo) => r.image.includes('a');
    for (const [key, order] of Object.entries(orders)) {
      for (const projects of [new Set([0, 1, 2, 3, 4, 5, 6]), new Set([2, 5])]) {
        for (const filter of [undefined, keep]) {
          const want = [...h.repos.values()]
            .filter((r) => projects.has(r.project_id))
            .map((r) => ({ id: r.id, projectId: r.project_id, name: r.name, image: r.name.slice(r.name.indexOf('/') + 1), pullCount: r.pull_count ?? 0, artifactCount: 1, updateTime: r.update_time }))
            .filter((r) => !filter || filter(r))
            .sort(order)
            .map((r) => r.id);
          for (const [start, size] of [[0, 20], [0, 1], [20, 20], [37, 13], [0, 500], [290, 10]]) {
            let comparisons = 0;
            const counted = (a: CatalogRepo, b: CatalogRepo) => (comparisons++, order(a, b));
            const got = await catalog.page(projects, counted, key, start, size, filter);
            expect(got.total).toBe(want.length);
            expect(got.rows.map((r) => r.id)).toEqual(want.slice(start, start + size));
            // A full sort of 300 rows needs ~2,400 comparisons; one pass keeping the first 20 about 700.
            if (start + size <= 20) expect(comparisons).toBeLessThan(3 * h.repos.size);
          }
        }
      }
    }
    catalog.stop();
  });
});

describe('image catalogue: the stats fill lets the runtime collect its garbage', () => {
  const build = async (rows: number, compactMinRows: number) => {
    let calls = 0;
    const { catalog } = seededCatalog(rows, (i) => `app-${i}`, { fillConcurrency: 4, walkRangeRows: 500, compact: () => void calls++, compactMinRows });
    const page = await catalog.page(new Set([0, 1, 2, 3, 4, 5, 6]), byName, 'name', 0, 20);
    await catalog.statsFor(page.rows);
    while (!catalog.filled()) await new Promise((r) => setTimeout(r, 5));
    catalog.stop();
    return calls;
  };

  it('after every batch of 200 for a catalogue of at least compactMinRows rows, never for a smaller one', async () => {
    expect(await build(1000, 1000)).toBe(5);
    expect(await build(999, 1000)).toBe(0);
  });
});

describe('image catalogue: a feed that cannot account for what was missed (Redis flushed)', () => {
  it('re-reads every image stat in the background, not only those of the pages shown', async () => {
    const h = fakeHarbor();
    for (let i = 0; i < 120; i++) h.add(`ws-${i % 7}`, `app-${i}`);
    let artifactCalls = 0;
    const port = { ...h.port, listArtifacts: async () => (artifactCalls++, { items: [], total: 0 }) };
    let reset = false;
    const feed = {
      publish: async () => true,
      read: async (cursor?: string) => {
        const r = { cursor: reset ? 'epoch-2:0' : 'epoch-1:0', names: [], reset: reset && cursor === 'epoch-1:0' };
        return r;
      },
      close: async () => undefined,
    };
    const catalog = new ImageCatalog({
      harbor: port as never,
      feed,
      logger: silentLogger,
      syncSeconds: 3600,
      fullSyncSeconds: 0,
      statsMaxAgeSeconds: 0,
      concurrency: 4,
      fillConcurrency: 4,
      walkRangeRows: 50,
      now: () => 1_000_000,
    });
    const projects = new Set([0, 1, 2, 3, 4, 5, 6]);
    const first = await catalog.page(projects, byName, 'name', 0, 20);
    await catalog.statsFor(first.rows);
    while (!catalog.filled()) await new Promise((r) => setTimeout(r, 5));
    expect(artifactCalls).toBe(120);
    reset = true;
    const again = await catalog.page(projects, byName, 'name', 0, 20);
    await catalog.statsFor(again.rows);
    while (!catalog.filled()) await new Promise((r) => setTimeout(r, 5));
    expect(artifactCalls).toBe(240);
    catalog.stop();
  });
});
