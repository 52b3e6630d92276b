import { policiesMethods } from '../../../adapters/harbor/harbor-policies';
import { API, makeAdapter, nockedHarbor, operations, rejection, replayed } from './harbor.kit';

/** Project logs and tag retention in the Harbor adapter, replayed from test/fixtures/harbor/retention (R01–R27). */

const rec = (n: number) => replayed('retention', `R${String(n).padStart(2, '0')}`);

/** A fresh adapter whose admin identity check (009) is answered once, and its nock scope. */
const setup = nockedHarbor();

test('projectLogs: Harbor q and paging passed on, total from X-Total-Count (R25)', async () => {
  const { harbor, scope } = setup();
  const r = rec(25);
  scope.get(`${API}${r.path}`).query(r.query).matchHeader('x-is-resource-name', 'true').reply(...r.reply);
  const page = await harbor.projectLogs('issue13-ret', { page: 1, pageSize: 10, q: 'resource=~issue13-ret/web,resource_type=artifact' });
  expect(page).toEqual({ items: r.response, total: 2 });
  expect(scope.isDone()).toBe(true);
});

test('createRetention: the policy as sent, the id from Location (R05)', async () => {
  const { harbor, scope } = setup();
  const r = rec(5);
  scope.post(`${API}/retentions`, r.body).reply(...r.reply);
  await expect(harbor.createRetention(r.body)).resolves.toBe(3);
});

test('createRetention: a second policy → invalid with Harbor\'s message (R08)', async () => {
  const { harbor, scope } = setup();
  const r = rec(8);
  scope.post(`${API}/retentions`).reply(...r.reply);
  const e = await rejection(harbor.createRetention(r.body));
  expect(e).toMatchObject({ kind: 'invalid', message: expect.stringContaining('already has retention policy') });
});

test('getRetention and updateRetention (R10, R09); a bad cron → invalid (R11)', async () => {
  const { harbor, scope } = setup();
  scope.get(`${API}/retentions/3`).reply(...rec(10).reply);
  await expect(harbor.getRetention(3)).resolves.toEqual(rec(10).response);
  scope.put(`${API}/retentions/3`, rec(9).body).reply(...rec(9).reply);
  await expect(harbor.updateRetention(3, rec(9).body)).resolves.toBeUndefined();
  scope.put(`${API}/retentions/3`).reply(...rec(11).reply);
  expect(await rejection(harbor.updateRetention(3, rec(11).body))).toMatchObject({ kind: 'invalid', message: expect.stringContaining('invalid cron every day') });
});

test('createRetention and startRetention without Location → upstream_unavailable naming the id Harbor did not report', async () => {
  const { harbor, scope } = setup();
  scope.post(`${API}/retentions`).reply(201, '');
  scope.post(`${API}/retentions/3/executions`).reply(201, '');
  expect(await rejection(harbor.createRetention(rec(5).body))).toMatchObject({
    kind: 'upstream_unavailable',
    message: 'upstream unavailable: Harbor did not report the retention policy id',
  });
  expect(await rejection(harbor.startRetention(3, false))).toMatchObject({
    kind: 'upstream_unavailable',
    message: 'upstream unavailable: Harbor did not report the retention execution id',
  });
});

test('startRetention: POST {dry_run} with a text Accept, never retried, id from Location (R14)', async () => {
  const { harbor, scope } = setup();
  scope.post(`${API}/retentions/3/executions`, { dry_run: true }).matchHeader('accept', /text\/plain/).reply(...rec(14).reply);
  await expect(harbor.startRetention(3, true)).resolves.toBe(2);
  scope.post(`${API}/retentions/3/executions`).reply(502, 'bad gateway');
  expect(await rejection(harbor.startRetention(3, false))).toMatchObject({ kind: 'upstream_unavailable' });
  expect(scope.isDone()).toBe(true);
});

test('executions, tasks and a task log (R15, R16, R17); an unknown task log → null', async () => {
  const { harbor, scope } = setup();
  scope.get(`${API}/retentions/3/executions`).query({ page: '1', page_size: '100' }).reply(...rec(15).reply);
  await expect(harbor.listRetentionExecutions(3, 1, 100)).resolves.toEqual({ items: rec(15).response, total: 1 });
  scope.get(`${API}/retentions/3/executions/2/tasks`).query({ page: '1', page_size: '100' }).reply(...rec(16).reply);
  await expect(harbor.listRetentionTasks(3, 2, 1, 100)).resolves.toEqual({ items: rec(16).response, total: 2 });
  scope.get(`${API}/retentions/3/executions/2/tasks/2`).reply(...rec(17).reply);
  await expect(harbor.retentionTaskLog(3, 2, 2)).resolves.toBe(rec(17).response);
  scope.get(`${API}/retentions/3/executions/2/tasks/99`).reply(404, { errors: [{ code: 'NOT_FOUND', message: 'task 99 not found' }] });
  await expect(harbor.retentionTaskLog(3, 2, 99)).resolves.toBeNull();
});

test('ids are checked before any call, each named in its refusal; 0 is an id', async () => {
  const { harbor } = makeAdapter();
  expect(await rejection(harbor.getRetention(-1))).toMatchObject({ kind: 'invalid', message: 'retention id must be a non-negative integer' });
  expect(await rejection(harbor.retentionTaskLog(1, 1.5, 1))).toMatchObject({ kind: 'invalid', message: 'execution id must be a non-negative integer' });
  expect(await rejection(harbor.listRetentionTasks(1, -2, 1, 10))).toMatchObject({ kind: 'invalid', message: 'execution id must be a non-negative integer' });
  expect(await rejection(harbor.retentionTaskLog(1, 1, Number.NaN))).toMatchObject({ kind: 'invalid', message: 'task id must be a non-negative integer' });
  const { harbor: h0, scope } = setup();
  scope.get(`${API}/retentions/0`).reply(...rec(10).reply);
  await expect(h0.getRetention(0)).resolves.toEqual(rec(10).response);
});

test('a task log that happens to be JSON is kept as the text it is', async () => {
  const { harbor, scope } = setup();
  const log = '{"level":"info","msg":"retained"}';
  scope.get(`${API}/retentions/3/executions/2/tasks/2`).reply(200, log, { 'Content-Type': 'text/plain' });
  await expect(harbor.retentionTaskLog(3, 2, 2)).resolves.toBe(log);
});

test('retentionTaskLog turns whatever body its transport hands back into text: none → "", a number → its digits', async () => {
  const bodies: unknown[] = [null, undefined, 42];
  const methods = policiesMethods({
    call: async <T>() => ({ status: 200, data: bodies.shift() as T, headers: {} }),
    page: async () => ({ items: [], total: 0 }),
    absentAsNull: async (p) => p,
  });
  expect([await methods.retentionTaskLog(3, 2, 2), await methods.retentionTaskLog(3, 2, 2), await methods.retentionTaskLog(3, 2, 2)]).toStrictEqual(['', '', '42']);
});

test('each call is counted under its operation id (the metrics label, and the Accept it is sent with)', async () => {
  const { harbor, scope, metrics } = setup();
  scope.get(`${API}/projects/ws/logs`).query(true).reply(200, [], { 'X-Total-Count': '0' });
  scope.post(`${API}/retentions`).reply(...rec(5).reply);
  scope.get(`${API}/retentions/3`).reply(...rec(10).reply);
  scope.put(`${API}/retentions/3`).reply(200, '');
  scope.post(`${API}/retentions/3/executions`).reply(...rec(14).reply);
  scope.get(`${API}/retentions/3/executions`).query(true).reply(...rec(15).reply);
  scope.get(`${API}/retentions/3/executions/2/tasks`).query(true).reply(...rec(16).reply);
  scope.get(`${API}/retentions/3/executions/2/tasks/2`).reply(...rec(17).reply);
  await harbor.projectLogs('ws', { page: 1, pageSize: 10 });
  await harbor.createRetention(rec(5).body);
  const policy = await harbor.getRetention(3);
  await harbor.updateRetention(3, policy);
  await harbor.startRetention(3, true);
  await harbor.listRetentionExecutions(3, 1, 100);
  await harbor.listRetentionTasks(3, 2, 1, 100);
  await harbor.retentionTaskLog(3, 2, 2);
  expect(await operations(metrics)).toStrictEqual([
    'createRetention success 1',
    'currentUser success 1',
    'getRetention success 1',
    'listRetentionExecutions success 1',
    'listRetentionTasks success 1',
    'projectLogs success 1',
    'retentionTaskLog success 1',
    'startRetention success 1',
    'updateRetention success 1',
  ]);
});
