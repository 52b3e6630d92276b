import { API, BASE, nockedHarbor } from './harbor.kit';

/**
 * Paging in the Harbor adapter: the page number each list call sends, the total it reads from `X-Total-Count`,
 * and the walks over every page — walk() (listAllRepositories) and walkParallel() (listAllProjects): where they
 * stop, which pages they ask for, and which copy of a row that shifted between pages they keep.
 */
const setup = nockedHarbor();

/** `n` rows with ids from `from`, each named `<prefix>-<id>` (repositories and projects alike). */
const rows = (from: number, n: number, prefix = 'r') =>
  Array.from({ length: n }, (_, i) => ({ id: from + i, project_id: from + i, name: `${prefix}-${from + i}` }));
/** A list answer: the rows, and `X-Total-Count` when given. */
const listed = (items: unknown[], total?: string) =>
  [200, JSON.stringify(items), { 'Content-Type': 'application/json', ...(total === undefined ? {} : { 'X-Total-Count': total }) }] as [
    number,
    string,
    Record<string, string>,
  ];

test('a page number below 1 asks for page 1, a fractional one for the page below it', async () => {
  const { harbor, scope } = setup();
  for (const page of ['1', '1', '1', '2']) scope.get(`${API}/projects`).query({ page, page_size: '10' }).reply(...listed([], '0'));
  for (const page of [0, -3, 0.5, 2.9]) await harbor.listProjects({ page });
  expect(scope.pendingMocks()).toStrictEqual([]);
});

// The header when it is a number of rows (0 included, even beside rows); the rows counted when it is unusable.
test.each([
  ['absent', 2, undefined],
  ['not a number', 2, 'many'],
  ['negative', 2, '-5'],
  ['infinite', 2, 'Infinity'],
  ['0, with rows', 0, '0'],
  ['7', 7, '7'],
])('X-Total-Count %s → total %i', async (_label, total, header) => {
  const { harbor, scope } = setup();
  scope.get(`${API}/projects`).query(true).reply(...listed(rows(1, 2), header));
  expect(await harbor.listProjects({})).toStrictEqual({ items: rows(1, 2), total });
});

describe('walk() (listAllRepositories)', () => {
  const pageOf = (page: string) => ({ page, page_size: '100' });

  test('full pages until the total is reached: pages 1, 2 and a short 3', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/projects/p/repositories`).query(pageOf('1')).reply(...listed(rows(1, 100), '250'));
    scope.get(`${API}/projects/p/repositories`).query(pageOf('2')).reply(...listed(rows(101, 100), '250'));
    scope.get(`${API}/projects/p/repositories`).query(pageOf('3')).reply(...listed(rows(201, 50), '250'));
    expect((await harbor.listAllRepositories('p')).map((r) => r.id)).toStrictEqual(rows(1, 250).map((r) => r.id));
    expect(scope.pendingMocks()).toStrictEqual([]);
  });

  test('a short page ends the walk even when X-Total-Count claims more', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/projects/p/repositories`).query(pageOf('1')).reply(...listed(rows(1, 30), '500'));
    // page 2 answers if it is asked for, and the result would show it
    scope.get(`${API}/projects/p/repositories`).query(pageOf('2')).reply(...listed(rows(31, 5), '500'));
    expect(await harbor.listAllRepositories('p')).toHaveLength(30);
    expect(scope.pendingMocks()).toStrictEqual([`GET ${BASE}${API}/projects/p/repositories`]);
  });
});

describe('walkParallel() (listAllProjects)', () => {
  test('a short first page is the whole list, whatever X-Total-Count says: no other page is asked for', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/projects`).query({ page: '1', page_size: '100' }).reply(...listed(rows(1, 30, 'p'), '500'));
    scope.get(`${API}/projects`).query((q) => q.page !== '1').times(4).reply(...listed(rows(31, 5, 'p'), '500'));
    expect((await harbor.listAllProjects()).map((p) => p.project_id)).toStrictEqual(rows(1, 30).map((r) => r.id));
    expect(scope.pendingMocks()).toStrictEqual([`GET ${BASE}${API}/projects`]);
  });

  test('a row seen twice is kept once, as the earlier page showed it', async () => {
    const { harbor, scope } = setup();
    const first = rows(1, 100, 'p');
    const moved = { ...first[99], name: 'renamed-meanwhile' };
    scope.get(`${API}/projects`).query({ page: '1', page_size: '100' }).reply(...listed(first, '102'));
    scope.get(`${API}/projects`).query({ page: '2', page_size: '100' }).reply(...listed([moved, ...rows(101, 2, 'p')], '102'));
    const all = await harbor.listAllProjects();
    expect(all).toHaveLength(102);
    expect(all[99]).toStrictEqual(first[99]);
  });
});
