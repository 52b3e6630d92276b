import { API, nockedHarbor, operations, rejection, replayed } from './harbor.kit';
import { harborLimits } from '../../../adapters/harbor/harbor-limits';
import type { HarborReply } from '../../../adapters/harbor/harbor-http';

/**
 * Quotas and immutable-tag rules in the Harbor adapter (adapters/harbor/harbor-limits.ts), replayed from
 * test/fixtures/harbor/live-policies (P03–P40, recorded on a real Harbor 2.5.5).
 */
const rec = (n: number) => replayed('live-policies', `P${String(n).padStart(2, '0')}`);

/** A fresh adapter whose admin identity check (009) is answered once, and its nock scope. */
const setup = nockedHarbor();

const quotaRow = (id: number, name: string, hard?: number, used?: number) => ({
  id,
  ref: { id, name, owner_name: '' },
  ...(hard === undefined ? {} : { hard: { storage: hard } }),
  ...(used === undefined ? {} : { used: { storage: used } }),
});

describe('quotas', () => {
  test("getProjectQuota: the project's row, hard and used in bytes (P03)", async () => {
    const { harbor, scope } = setup();
    const r = rec(3);
    scope.get(`${API}${r.path}`).query(r.query).reply(...r.reply);
    await expect(harbor.getProjectQuota(2)).resolves.toEqual({ id: 2, hard: 4096, used: 0 });
    expect(scope.isDone()).toBe(true);
  });

  test('getProjectQuota: only a row whose ref is that project counts; none → null; hard missing = unlimited, used missing = 0', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/quotas`).query({ reference: 'project', reference_id: '5' }).reply(200, [quotaRow(4, 'other', 10, 1)]);
    await expect(harbor.getProjectQuota(5)).resolves.toBeNull();
    scope.get(`${API}/quotas`).query({ reference: 'project', reference_id: '5' }).reply(200, [quotaRow(4, 'other', 10, 1), quotaRow(5, 'mine')]);
    await expect(harbor.getProjectQuota(5)).resolves.toEqual({ id: 5, hard: -1, used: 0 });
    scope.get(`${API}/quotas`).query({ reference: 'project', reference_id: '5' }).reply(200, { not: 'a list' });
    await expect(harbor.getProjectQuota(5)).resolves.toBeNull();
    // a row without ref (not a project's) is passed over, not a TypeError
    scope.get(`${API}/quotas`).query({ reference: 'project', reference_id: '5' }).reply(200, [{ id: 3 }, quotaRow(5, 'mine', 7, 2)]);
    await expect(harbor.getProjectQuota(5)).resolves.toEqual({ id: 5, hard: 7, used: 2 });
    expect(scope.isDone()).toBe(true);
  });

  test('listQuotas: an answer that is not a list is no quotas, and no further page is asked for', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/quotas`).query({ reference: 'project', page: '1', page_size: '100' }).reply(200, { not: 'a list' }, { 'X-Total-Count': '500' });
    await expect(harbor.listQuotas()).resolves.toEqual([]);
    expect(scope.isDone()).toBe(true);
  });

  test('listQuotas: every page of 100 until a short page, or until X-Total-Count is reached', async () => {
    const { harbor, scope } = setup();
    const page = (from: number, n: number) => Array.from({ length: n }, (_, i) => quotaRow(from + i, `p${from + i}`, 1000, i));
    scope.get(`${API}/quotas`).query({ reference: 'project', page: '1', page_size: '100' }).reply(200, page(1, 100), { 'X-Total-Count': '150' });
    scope.get(`${API}/quotas`).query({ reference: 'project', page: '2', page_size: '100' }).reply(200, page(101, 50), { 'X-Total-Count': '150' });
    const all = await harbor.listQuotas();
    expect(all).toHaveLength(150);
    expect(all[149]).toEqual({ id: 150, hard: 1000, used: 49, projectId: 150, projectName: 'p150' });
    expect(scope.isDone()).toBe(true);

    // exactly 200 of 200: two full pages, no third request
    scope.get(`${API}/quotas`).query({ reference: 'project', page: '1', page_size: '100' }).reply(200, page(1, 100), { 'X-Total-Count': '200' });
    scope.get(`${API}/quotas`).query({ reference: 'project', page: '2', page_size: '100' }).reply(200, page(101, 100), { 'X-Total-Count': '200' });
    expect(await harbor.listQuotas()).toHaveLength(200);
    expect(scope.isDone()).toBe(true);

    // no total: a full page is followed by the next one; a row without ref is project 0, unnamed
    scope.get(`${API}/quotas`).query({ reference: 'project', page: '1', page_size: '100' }).reply(200, page(1, 100));
    scope.get(`${API}/quotas`).query({ reference: 'project', page: '2', page_size: '100' }).reply(200, [{ id: 900 }]);
    const untotalled = await harbor.listQuotas();
    expect(untotalled).toHaveLength(101);
    expect(untotalled[100]).toEqual({ id: 900, hard: -1, used: 0, projectId: 0, projectName: '' });
    expect(scope.isDone()).toBe(true);
  });

  test('listQuotas: at most 10 000 pages when Harbor keeps answering full pages without a total', async () => {
    const asked: unknown[] = [];
    const full = Array.from({ length: 100 }, () => quotaRow(1, 'p', 10, 1));
    const call = async <T>(c: { params?: Record<string, unknown> }): Promise<HarborReply<T>> => {
      asked.push(c.params?.page);
      return { status: 200, data: full as T, headers: {} };
    };
    const all = await harborLimits(call).listQuotas();
    expect(asked).toHaveLength(10_000);
    expect(asked[9_999]).toBe(10_000);
    expect(all).toHaveLength(1_000_000);
  });

  test('setQuota: PUT /quotas/{id} with hard.storage (P11); unknown id → not_found (P15); a bad id never leaves', async () => {
    const { harbor, scope } = setup();
    const ok = rec(11);
    scope.put(`${API}${ok.path}`, ok.body).reply(...ok.reply);
    await expect(harbor.setQuota(2, -1)).resolves.toBeUndefined();
    const missing = rec(15);
    scope.put(`${API}${missing.path}`, missing.body).reply(...missing.reply);
    expect(await rejection(harbor.setQuota(999999, 100))).toMatchObject({ kind: 'not_found' });
    for (const bad of [-1, 1.5, Number.NaN]) await expect(harbor.setQuota(bad, 1)).rejects.toMatchObject({ kind: 'invalid', message: 'quota id must be a non-negative integer' });
    expect(scope.isDone()).toBe(true);
  });
});

describe('immutable tag rules', () => {
  test('createImmutableRule: the body Harbor\'s UI sends, the id from Location (P18)', async () => {
    const { harbor, scope } = setup();
    const r = rec(18);
    scope.post(`${API}${r.path}`, r.body).reply(...r.reply);
    const body = r.body as { tag_selectors: { pattern: string }[]; scope_selectors: { repository: { pattern: string }[] } };
    await expect(
      harbor.createImmutableRule('issue13-immu', { tagPattern: body.tag_selectors[0].pattern, repositoryPattern: body.scope_selectors.repository[0].pattern }),
    ).resolves.toBe(1);
    expect(scope.isDone()).toBe(true);
  });

  test('createImmutableRule without a Location: the id of the listed rule with both patterns; none → 0', async () => {
    const { harbor, scope } = setup();
    const listed = rec(22);
    const rules = listed.response as { id: number; tag_selectors: { pattern: string }[]; scope_selectors: { repository: { pattern: string }[] } }[];
    const target = rules.find((x) => x.id === 3)!; // rel-{a,b} in team/**; the list also holds a rule without tag selectors (P21)
    const wanted = { tagPattern: target.tag_selectors[0].pattern, repositoryPattern: target.scope_selectors.repository[0].pattern };
    scope.post(`${API}${listed.path}`).reply(201, '');
    scope.get(`${API}${listed.path}`).reply(...listed.reply);
    await expect(harbor.createImmutableRule('issue13-immu', wanted)).resolves.toBe(target.id);
    // rule 1's tags (v*) with rule 3's repositories: neither rule
    scope.post(`${API}${listed.path}`).reply(201, '');
    scope.get(`${API}${listed.path}`).reply(...listed.reply);
    await expect(harbor.createImmutableRule('issue13-immu', { ...wanted, tagPattern: 'v*' })).resolves.toBe(0);
    expect(scope.isDone()).toBe(true);
  });

  test('createImmutableRule without a Location: listed rules with empty or missing selector lists are passed over, not a TypeError', async () => {
    const { harbor, scope } = setup();
    const listed = rec(22);
    const rules = listed.response as { id: number; tag_selectors: unknown; scope_selectors: { repository: unknown[] } }[];
    const v1 = rules.find((x) => x.id === 1)!; // v* in **
    const odd = [
      { ...v1, id: 8, tag_selectors: [] },
      { ...v1, id: 9, scope_selectors: { repository: [] } },
      { ...v1, id: 10, scope_selectors: {} },
      { ...v1, id: 11, scope_selectors: undefined },
      v1,
    ];
    scope.post(`${API}${listed.path}`).reply(201, '');
    scope.get(`${API}${listed.path}`).reply(200, odd);
    await expect(harbor.createImmutableRule('issue13-immu', { tagPattern: 'v*', repositoryPattern: '**' })).resolves.toBe(1);
    expect(scope.isDone()).toBe(true);
  });

  test('createImmutableRule: a duplicate → conflict with Harbor\'s message (P19)', async () => {
    const { harbor, scope } = setup();
    const r = rec(19);
    scope.post(`${API}${r.path}`).reply(...r.reply);
    expect(await rejection(harbor.createImmutableRule('issue13-immu', { tagPattern: 'v*', repositoryPattern: '**' }))).toMatchObject({
      kind: 'conflict',
      message: expect.stringContaining('immutable rule already exists'),
    });
  });

  test('listImmutableRules: the rules as Harbor lists them (P22); not a list → none', async () => {
    const { harbor, scope } = setup();
    const r = rec(22);
    scope.get(`${API}${r.path}`).reply(...r.reply);
    await expect(harbor.listImmutableRules('issue13-immu')).resolves.toEqual(r.response);
    scope.get(`${API}${r.path}`).reply(200, { rules: [] });
    await expect(harbor.listImmutableRules('issue13-immu')).resolves.toEqual([]);
  });

  test('deleteImmutableRule: DELETE by id (P40); a bad id never leaves', async () => {
    const { harbor, scope } = setup();
    const r = rec(40);
    scope.delete(`${API}${r.path}`).reply(...r.reply);
    await expect(harbor.deleteImmutableRule('issue13-immu', 1)).resolves.toBeUndefined();
    for (const bad of [-1, 2.5]) await expect(harbor.deleteImmutableRule('issue13-immu', bad)).rejects.toMatchObject({ kind: 'invalid', message: 'rule id must be a non-negative integer' });
    expect(scope.isDone()).toBe(true);
  });
});

/** One call of each method, in this order (quota 1, rule 7 of workspace ws). */
async function callEach(port: Pick<ReturnType<typeof harborLimits>, 'getProjectQuota' | 'listQuotas' | 'setQuota' | 'listImmutableRules' | 'createImmutableRule' | 'deleteImmutableRule'>): Promise<void> {
  await port.getProjectQuota(1);
  await port.listQuotas();
  await port.setQuota(1, 5);
  await port.listImmutableRules('ws');
  await port.createImmutableRule('ws', { tagPattern: 'v*', repositoryPattern: '**' });
  await port.deleteImmutableRule('ws', 7);
}

test('each call is counted under its operation id (the metrics label, and the Accept it is sent with)', async () => {
  const { harbor, scope, metrics } = setup();
  scope.get(`${API}/quotas`).query(true).times(2).reply(200, [quotaRow(1, 'p', 10, 1)]);
  scope.put(`${API}/quotas/1`).reply(200, '');
  scope.get(`${API}/projects/ws/immutabletagrules`).reply(200, []);
  scope.post(`${API}/projects/ws/immutabletagrules`).reply(201, '', { Location: '/api/v2.0/projects/ws/immutabletagrules/7' });
  scope.delete(`${API}/projects/ws/immutabletagrules/7`).reply(200, '');
  await callEach(harbor);
  expect(await operations(metrics)).toStrictEqual([
    'CreateImmuRule success 1',
    'DeleteImmuRule success 1',
    'ListImmuRules success 1',
    'currentUser success 1', // the admin identity check, once
    'listQuotas success 2',
    'updateQuota success 1',
  ]);
});

test('each call goes out with its HTTP method and path (what Harbor routes on; axios would read a missing method as GET)', async () => {
  const asked: string[] = [];
  const call = async <T>(c: { method: string; path: string }): Promise<HarborReply<T>> => {
    asked.push(`${c.method} ${c.path}`);
    return { status: 200, data: [] as T, headers: c.method === 'POST' ? { location: '/api/v2.0/projects/ws/immutabletagrules/7' } : {} };
  };
  const port = harborLimits(call);
  await callEach(port);
  expect(asked).toEqual([
    'GET /quotas',
    'GET /quotas',
    'PUT /quotas/1',
    'GET /projects/ws/immutabletagrules',
    'POST /projects/ws/immutabletagrules',
    'DELETE /projects/ws/immutabletagrules/7',
  ]);
});
