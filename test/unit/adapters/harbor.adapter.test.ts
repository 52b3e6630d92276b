import { bodyMatcher } from './nock';
import type { HarborProject, HarborRepository, HarborRobot, RobotCreate } from '../../../src/ports/harbor';
import { recorded, recordedBody, recordedReply } from '../../support/recorded';
import { API, harborScope, makeAdapter, nockedHarbor, rejection } from './harbor.kit';

/** Each method's happy path and Harbor's 4xx answers, replayed from the recorded Harbor 2.5.5 exchanges. */

/** A fresh adapter whose admin identity check (009) is answered once, and its nock scope. */
const setup = nockedHarbor();

describe('identity and health', () => {
  test('currentUser returns the admin as Harbor reports it (009)', async () => {
    const { harbor, scope } = setup();
    await expect(harbor.currentUser()).resolves.toEqual(recordedBody(9));
    expect(scope.isDone()).toBe(true);
  });

  test('health returns the component list (005)', async () => {
    const { harbor } = makeAdapter();
    harborScope().get(`${API}/health`).reply(...recordedReply(5));
    const h = await harbor.health();
    expect(h).toEqual(recordedBody(5));
  });
});

describe('projects', () => {
  test('findProject is an exact GET /projects/{name} with X-Is-Resource-Name (028)', async () => {
    const { harbor, scope } = setup();
    const ex = recorded(28);
    scope.get(`${API}${ex.request.apiPath}`).matchHeader('x-is-resource-name', 'true').reply(...recordedReply(28));
    const p = await harbor.findProject('alpha');
    expect(p).toEqual(ex.response.body);
    expect(scope.isDone()).toBe(true);
  });

  test('findProject: an unknown name answers 403 even to the admin (030) → null', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}${recorded(30).request.apiPath}`).reply(...recordedReply(30));
    await expect(harbor.findProject('nope')).resolves.toBeNull();
    expect(scope.isDone()).toBe(true);
  });

  test('findProject: 404 → null', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/projects/123`).matchHeader('x-is-resource-name', 'true').reply(...recordedReply(31));
    await expect(harbor.findProject('123')).resolves.toBeNull();
  });

  test('getProjectById (029) and unknown id → null (031)', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}${recorded(29).request.apiPath}`).reply(...recordedReply(29));
    scope.get(`${API}${recorded(31).request.apiPath}`).reply(...recordedReply(31));
    const p = (await harbor.getProjectById(2)) as HarborProject;
    expect(p.project_id).toBe(2);
    expect(p.name).toBe(recordedBody<HarborProject>(29).name);
    await expect(harbor.getProjectById(999999)).resolves.toBeNull();
  });

  test('createProject sends metadata.public as a string and returns the id from Location (013)', async () => {
    const { harbor, scope } = setup();
    const ex = recorded(13);
    scope.post(`${API}/projects`, bodyMatcher(ex.request.body)).reply(...recordedReply(13));
    const id = await harbor.createProject({ name: 'alpha', public: false });
    expect(id).toBe(Number(ex.response.headers.Location.split('/').pop()));
    expect(scope.isDone()).toBe(true);
  });

  test('createProject with a storage limit and public: true (018 shape)', async () => {
    const { harbor, scope } = setup();
    let sent: unknown;
    scope
      .post(`${API}/projects`, (b) => {
        sent = b;
        return true;
      })
      .reply(...recordedReply(18));
    await expect(harbor.createProject({ name: 'quota-ws', public: true, storageLimit: 1073741824 })).resolves.toBe(7);
    expect(sent).toEqual({ project_name: 'quota-ws', metadata: { public: 'true' }, storage_limit: 1073741824 });
  });

  test('createProject without Location falls back to an exact lookup', async () => {
    const { harbor, scope } = setup();
    scope.post(`${API}/projects`).reply(201, '');
    scope.get(`${API}/projects/alpha`).reply(...recordedReply(28));
    await expect(harbor.createProject({ name: 'alpha', public: false })).resolves.toBe(recordedBody<HarborProject>(28).project_id);
  });

  test('createProject without Location, and the lookup finds no such project (030) → upstream_unavailable', async () => {
    const { harbor, scope } = setup();
    scope.post(`${API}/projects`).reply(201, '');
    scope.get(`${API}/projects/alpha`).reply(...recordedReply(30));
    expect(await rejection(harbor.createProject({ name: 'alpha', public: false }))).toMatchObject({
      kind: 'upstream_unavailable',
      message: 'upstream unavailable: Harbor did not report the new project',
    });
  });

  test.each([
    [19, 'conflict'],
    [20, 'invalid'],
    [21, 'invalid'],
  ])('createProject: Harbor %i → %s with Harbor’s message', async (n, kind) => {
    const { harbor, scope } = setup();
    scope.post(`${API}/projects`).reply(...recordedReply(n));
    const e = await rejection(harbor.createProject({ name: 'x', public: false }));
    expect(e.kind).toBe(kind);
    expect(e.upstreamStatus).toBe(recorded(n).response.status);
    expect(e.message).toBe((recorded(n).response.body as { errors: { message: string }[] }).errors[0].message);
  });

  test('setProjectPublic PUTs the string metadata (035, 037)', async () => {
    const { harbor, scope } = setup();
    scope.put(`${API}${recorded(35).request.apiPath}`, bodyMatcher(recorded(35).request.body)).reply(...recordedReply(35));
    scope.put(`${API}/projects/2`, { metadata: { public: 'false' } }).reply(...recordedReply(35));
    await harbor.setProjectPublic(2, true);
    await harbor.setProjectPublic(2, false);
    expect(scope.isDone()).toBe(true);
  });

  test('deleteProject: 200 (039), then 403 for the now unknown name (040) is still success', async () => {
    const { harbor, scope } = setup();
    scope.delete(`${API}/projects/alpha-tmp`).matchHeader('x-is-resource-name', 'true').reply(...recordedReply(39));
    scope.delete(`${API}/projects/alpha-tmp`).reply(...recordedReply(40));
    scope.delete(`${API}/projects/gone`).reply(404, '');
    await expect(harbor.deleteProject('alpha-tmp')).resolves.toBeUndefined();
    await expect(harbor.deleteProject('alpha-tmp')).resolves.toBeUndefined();
    await expect(harbor.deleteProject('gone')).resolves.toBeUndefined();
    expect(scope.isDone()).toBe(true);
  });

  test('deleteProject with repositories → precondition with Harbor’s message (178)', async () => {
    const { harbor, scope } = setup();
    scope.delete(`${API}/projects/alpha`).reply(...recordedReply(178));
    const e = await rejection(harbor.deleteProject('alpha'));
    expect(e.kind).toBe('precondition');
    expect(e.message).toMatch(/contains repositories/);
  });

  test('listProjects passes paging and filters, total from X-Total-Count (024)', async () => {
    const { harbor, scope } = setup();
    const ex = recorded(24);
    scope.get(`${API}/projects`).query({ page: '1', page_size: '2', name: 'a', public: 'false' }).reply(...recordedReply(24));
    const page = await harbor.listProjects({ page: 1, pageSize: 2, name: 'a', public: false });
    expect(page.items).toEqual(ex.response.body);
    expect(page.total).toBe(Number(ex.response.headers['X-Total-Count']));
  });

  test('listProjects never asks for more than 100 (Harbor answers 422 above, 026) nor for "all" (0, 027)', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/projects`).query({ page: '1', page_size: '100' }).reply(...recordedReply(24));
    scope.get(`${API}/projects`).query({ page: '1', page_size: '1' }).reply(...recordedReply(24));
    await harbor.listProjects({ pageSize: 500 });
    await harbor.listProjects({ pageSize: 0 });
    expect(scope.isDone()).toBe(true);
  });

  test('listProjects: a bad q is invalid with Harbor’s message (215)', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/projects`).query(true).reply(...recordedReply(215));
    const e = await rejection(harbor.listProjects({ q: 'name' }));
    expect(e.kind).toBe('invalid');
    expect(e.message).toBe((recordedBody(215) as { errors: { message: string }[] }).errors[0].message);
  });

  test('listAllProjects walks pages of 100 until X-Total-Count is reached', async () => {
    const { harbor, scope } = setup();
    const shape = recordedBody<HarborProject[]>(24)[0];
    const make = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ ...shape, project_id: from + i, name: `p-${from + i}` }));
    const total = 230;
    for (const [page, from, n] of [
      [1, 1, 100],
      [2, 101, 100],
      [3, 201, 30],
    ]) {
      scope
        .get(`${API}/projects`)
        .query({ page: String(page), page_size: '100' })
        .reply(200, make(from, n), { 'X-Total-Count': String(total) });
    }
    const all = await harbor.listAllProjects();
    expect(all).toHaveLength(total);
    expect(new Set(all.map((p) => p.project_id)).size).toBe(total);
    expect(scope.isDone()).toBe(true);
  });

  test('listAllProjects reads the pages after the first in parallel, in page order, each project once when rows shift', async () => {
    const { harbor, scope } = setup();
    const shape = recordedBody<HarborProject[]>(24)[0];
    const make = (ids: number[]) => ids.map((id) => ({ ...shape, project_id: id, name: `p-${id}` }));
    const first = Array.from({ length: 100 }, (_, i) => i + 1);
    // Page 2 repeats project 100 (a project was deleted meanwhile) and the claimed total is never reached: the
    // pages up to the first page's total are still read (empty), page 2 answers last.
    scope.get(`${API}/projects`).query({ page: '1', page_size: '100' }).reply(200, make(first), { 'X-Total-Count': '500' });
    scope.get(`${API}/projects`).query({ page: '2', page_size: '100' }).delay(50).reply(200, make([100, 101]), { 'X-Total-Count': '500' });
    scope.get(`${API}/projects`).query({ page: '3', page_size: '100' }).reply(200, make([102]), { 'X-Total-Count': '500' });
    for (const page of ['4', '5']) scope.get(`${API}/projects`).query({ page, page_size: '100' }).reply(200, [], { 'X-Total-Count': '500' });
    const all = await harbor.listAllProjects();
    expect(all.map((p) => p.project_id)).toEqual([...first, 101, 102]);
    expect(scope.isDone()).toBe(true);
  });

  test('projectSummary (034); an unknown name → not_found', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}${recorded(34).request.apiPath}`).reply(...recordedReply(34));
    scope.get(`${API}/projects/nope/summary`).reply(...recordedReply(30));
    await expect(harbor.projectSummary('alpha')).resolves.toEqual(recordedBody(34));
    expect((await rejection(harbor.projectSummary('nope'))).kind).toBe('not_found');
  });
});

describe('calls that name a project', () => {
  test('Harbor\'s 403 for an unknown project name (030) → not_found "project NAME not found", upstreamStatus 403', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/projects/nope/summary`).reply(...recordedReply(30));
    scope.get(`${API}/projects/nope/repositories/app`).reply(...recordedReply(30));
    const e = await rejection(harbor.projectSummary('nope'));
    expect({ kind: e.kind, message: e.message, upstreamStatus: e.upstreamStatus }).toStrictEqual({
      kind: 'not_found',
      message: 'project nope not found',
      upstreamStatus: 403,
    });
    await expect(harbor.getRepository('nope', 'app')).resolves.toBeNull();
  });

  test('X-Is-Resource-Name goes with the calls that name a project, and with no other call', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/projects/alpha/repositories/app`).matchHeader('x-is-resource-name', 'true').reply(200, { id: 1, name: 'alpha/app' });
    await harbor.getRepository('alpha', 'app');
    const unnamed = harborScope({ badheaders: ['x-is-resource-name'] });
    unnamed.get(`${API}/projects/2`).reply(...recordedReply(29));
    unnamed.get(`${API}/projects`).query(true).reply(...recordedReply(24));
    unnamed.get(`${API}/robots/1`).reply(...recordedReply(55));
    await harbor.getProjectById(2);
    await harbor.listProjects({});
    await harbor.getRobot(1);
    expect([scope.pendingMocks(), unnamed.pendingMocks()]).toStrictEqual([[], []]);
  });
});

describe('repositories', () => {
  test('listRepositories (129)', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}${recorded(129).request.apiPath}`).query({ page: '1', page_size: '10' }).reply(...recordedReply(129));
    const page = await harbor.listRepositories('alpha');
    expect(page.items.map((r) => r.name)).toEqual(recordedBody<HarborRepository[]>(129).map((r) => r.name));
    expect(page.total).toBe(Number(recorded(129).response.headers['X-Total-Count']));
  });

  test('listAllRepositories: 100 of 100 in one page (131)', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/projects/bulk/repositories`).query({ page: '1', page_size: '100' }).reply(...recordedReply(131));
    const all = await harbor.listAllRepositories('bulk');
    expect(all).toHaveLength(recordedBody<unknown[]>(131).length);
    expect(scope.isDone()).toBe(true);
  });

  test('listRepositories of an unknown project → not_found', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/projects/nope/repositories`).query(true).reply(...recordedReply(30));
    expect((await rejection(harbor.listRepositories('nope'))).kind).toBe('not_found');
  });

  test('getRepository encodes a slash twice: team/app → team%252Fapp (160)', async () => {
    const { harbor, scope } = setup();
    const ex = recorded(160);
    expect(ex.request.apiPath).toContain('team%252Fapp');
    scope.get(`${API}${ex.request.apiPath}`).reply(...recordedReply(160));
    const repo = await harbor.getRepository('beta', 'team/app');
    expect(repo?.name).toBe('beta/team/app');
    expect(scope.isDone()).toBe(true);
  });

  test('getRepository: absent → null (142)', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}${recorded(142).request.apiPath}`).reply(...recordedReply(142));
    await expect(harbor.getRepository('alpha', 'nope')).resolves.toBeNull();
  });

  test('updateRepositoryDescription PUTs {"description"} (140)', async () => {
    const { harbor, scope } = setup();
    const ex = recorded(140);
    scope.put(`${API}${ex.request.apiPath}`, bodyMatcher(ex.request.body)).reply(...recordedReply(140));
    await harbor.updateRepositoryDescription('alpha', 'app', (ex.request.body as { description: string }).description);
    expect(scope.isDone()).toBe(true);
  });

  test('deleteRepository: slash name (180), already gone (172) is success', async () => {
    const { harbor, scope } = setup();
    scope.delete(`${API}${recorded(180).request.apiPath}`).reply(...recordedReply(180));
    scope.delete(`${API}${recorded(172).request.apiPath}`).reply(...recordedReply(172));
    await harbor.deleteRepository('beta', 'team/app');
    await harbor.deleteRepository('alpha', 'web');
    expect(scope.isDone()).toBe(true);
  });

  test('dot segments are refused before anything is sent (they would collapse onto the project path)', async () => {
    const { harbor } = makeAdapter();
    for (const bad of ['..', '.', 'team/..', '']) expect((await rejection(harbor.deleteRepository('alpha', bad))).kind).toBe('invalid');
    expect((await rejection(harbor.deleteProject('..'))).kind).toBe('invalid');
  });

  test('listRepositoriesAll: GET /repositories (137)', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/repositories`).query({ page: '1', page_size: '5' }).reply(...recordedReply(137));
    const page = await harbor.listRepositoriesAll({ pageSize: 5 });
    expect(page.items).toHaveLength(5);
    expect(page.total).toBe(Number(recorded(137).response.headers['X-Total-Count']));
  });

  test('listRepositoriesInIdRange: one id range, every row in one answer (page_size=0), open bounds left empty', async () => {
    const { harbor, scope } = setup();
    const rows = [{ id: 7, name: 'a/x', project_id: 2 }, { id: 9, name: 'b/y', project_id: 3 }];
    scope.get(`${API}/repositories`).query({ q: 'repository_id=[5~10]', page_size: '0' }).reply(200, rows, { 'X-Total-Count': '2' });
    scope.get(`${API}/repositories`).query({ q: 'repository_id=[~4]', page_size: '0' }).reply(200, [], { 'X-Total-Count': '0' });
    scope.get(`${API}/repositories`).query({ q: 'repository_id=[11~]', page_size: '0' }).reply(200, rows.slice(0, 1), { 'X-Total-Count': '3' });
    expect(await harbor.listRepositoriesInIdRange(5, 10)).toEqual({ items: rows, total: 2 });
    expect(await harbor.listRepositoriesInIdRange(undefined, 4)).toEqual({ items: [], total: 0 });
    // a shorter answer than its count is reported as such (the catalogue pages that range)
    expect(await harbor.listRepositoriesInIdRange(11, undefined)).toEqual({ items: rows.slice(0, 1), total: 3 });
    expect(scope.isDone()).toBe(true);
  });
});

describe('artifacts', () => {
  test('listArtifacts asks with_tag=true and returns the tags (143)', async () => {
    const { harbor, scope } = setup();
    const ex = recorded(143);
    scope.get(`${API}${ex.request.apiPath}`).query(ex.request.query).reply(...recordedReply(143));
    const page = await harbor.listArtifacts('alpha', 'app', { page: 1, pageSize: 10 });
    expect(page.total).toBe(1);
    expect(page.items[0].digest).toBe((ex.response.body as { digest: string }[])[0].digest);
    expect(page.items[0].tags?.map((t) => t.name).sort()).toEqual(['v1', 'v2']);
  });

  test('listArtifacts of a slash repository (163)', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}${recorded(163).request.apiPath}`).query(true).reply(...recordedReply(163));
    const page = await harbor.listArtifacts('beta', 'team/app');
    expect(page.items).toHaveLength(1);
  });

  test('getArtifact by tag with its tags (146); absent → null (148)', async () => {
    const { harbor, scope } = setup();
    const ex = recorded(146);
    scope.get(`${API}${ex.request.apiPath}`).query((q) => q.with_tag === 'true').reply(...recordedReply(146));
    scope.get(`${API}${recorded(148).request.apiPath}`).query(true).reply(...recordedReply(148));
    const a = await harbor.getArtifact('alpha', 'app', 'v1');
    expect(a?.digest).toBe((ex.response.body as { digest: string }).digest);
    expect(a?.tags?.some((t) => t.name === 'v1')).toBe(true);
    await expect(harbor.getArtifact('alpha', 'app', 'nope')).resolves.toBeNull();
  });

  test('deleteArtifact by digest; absent → not_found (169)', async () => {
    const { harbor, scope } = setup();
    const ex = recorded(169);
    const digest = ex.request.apiPath.split('/').pop()!;
    scope.delete(`${API}${ex.request.apiPath}`).reply(200, '');
    scope.delete(`${API}${ex.request.apiPath}`).reply(...recordedReply(169));
    await harbor.deleteArtifact('alpha', 'app', digest);
    const e = await rejection(harbor.deleteArtifact('alpha', 'app', digest));
    expect(e.kind).toBe('not_found');
    expect(e.message).toContain(digest);
  });

  test('deleteTag (154)', async () => {
    const { harbor, scope } = setup();
    const ex = recorded(154);
    const [, , , , , , digest, , tag] = ex.request.apiPath.split('/');
    expect(digest).toMatch(/^sha256:/);
    scope.delete(`${API}${ex.request.apiPath}`).reply(...recordedReply(154));
    await harbor.deleteTag('alpha', 'app', digest, tag);
    expect(scope.isDone()).toBe(true);
  });
});

describe('robots', () => {
  test('listRobots filters with q=name=~<text> and walks pages (052)', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/robots`).query({ q: 'name=~ci', page: '1', page_size: '100' }).reply(...recordedReply(52));
    const robots = await harbor.listRobots('ci');
    expect(robots.map((r) => r.name)).toEqual(recordedBody<HarborRobot[]>(52).map((r) => r.name));
  });

  test('listRobots keeps system robots only', async () => {
    const { harbor, scope } = setup();
    const body = recordedBody<HarborRobot[]>(53);
    body.push({ ...body[0], id: 99, name: 'robot$alpha+builder', level: 'project' });
    scope.get(`${API}/robots`).query({ page: '1', page_size: '100' }).reply(200, body, { 'X-Total-Count': String(body.length) });
    const robots = await harbor.listRobots('');
    expect(robots.map((r) => r.id)).toEqual(recordedBody<HarborRobot[]>(53).map((r) => r.id));
  });

  test('listRobots refuses filter text that would change the q expression', async () => {
    const { harbor } = makeAdapter();
    for (const text of ['a,level=project', 'a,b', 'a=b', 'a~b', 'a&b', 'a{b', 'a}b', 'a(b', 'a)b', 'a[b', 'a]b', 'a b', 'a\tb']) {
      expect(await rejection(harbor.listRobots(text))).toMatchObject({ kind: 'invalid', message: 'robot name filter contains characters Harbor cannot match' });
    }
  });

  test('getRobot (055); unknown → null (056)', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/robots/1`).reply(...recordedReply(55));
    scope.get(`${API}/robots/999999`).reply(...recordedReply(56));
    await expect(harbor.getRobot(1)).resolves.toEqual(recordedBody(55));
    await expect(harbor.getRobot(999999)).resolves.toBeNull();
  });

  test('createRobot returns id and name, never Harbor’s generated secret (041)', async () => {
    const { harbor, scope } = setup();
    const ex = recorded(41);
    const input = { ...(ex.request.body as RobotCreate & { secret?: string }) };
    delete input.secret;
    scope.post(`${API}/robots`, bodyMatcher(input)).reply(...recordedReply(41));
    const created = await harbor.createRobot(input);
    const body = ex.response.body as { id: number; name: string; secret: string };
    expect(created).toEqual({ id: body.id, name: body.name });
    expect(JSON.stringify(created)).not.toContain(body.secret);
  });

  test('createRobot: the id from the body or else from Location, the name from the body or else as asked; neither id → upstream_unavailable', async () => {
    const { harbor, scope } = setup();
    const input = recorded(41).request.body as RobotCreate;
    const json = { 'Content-Type': 'application/json' };
    scope.post(`${API}/robots`).reply(201, { id: 7, name: 'robot$as-harbor-named-it' });
    scope.post(`${API}/robots`).reply(201, { creation_time: '2026-11-26T13:52:51.228Z' }, { ...json, Location: '/api/v2.0/robots/8' });
    scope.post(`${API}/robots`).reply(201, 'null', { ...json, Location: '/api/v2.0/robots/9' });
    scope.post(`${API}/robots`).reply(201, { name: 'robot$x' });
    await expect(harbor.createRobot(input)).resolves.toStrictEqual({ id: 7, name: 'robot$as-harbor-named-it' });
    await expect(harbor.createRobot(input)).resolves.toStrictEqual({ id: 8, name: input.name });
    await expect(harbor.createRobot(input)).resolves.toStrictEqual({ id: 9, name: input.name });
    expect(await rejection(harbor.createRobot(input))).toMatchObject({
      kind: 'upstream_unavailable',
      message: 'upstream unavailable: Harbor did not report the new robot',
    });
  });

  test.each([
    [44, 'invalid'],
    [45, 'conflict'],
  ])('createRobot: Harbor %i → %s', async (n, kind) => {
    const { harbor, scope } = setup();
    scope.post(`${API}/robots`).reply(...recordedReply(n));
    expect((await rejection(harbor.createRobot(recorded(n).request.body as RobotCreate))).kind).toBe(kind);
  });

  test('updateRobot PUTs the whole body exactly as given (062)', async () => {
    const { harbor, scope } = setup();
    const ex = recorded(62);
    scope.put(`${API}/robots/1`, bodyMatcher(ex.request.body)).reply(...recordedReply(62));
    await harbor.updateRobot(ex.request.body as HarborRobot);
    expect(scope.isDone()).toBe(true);
  });

  test('setRobotSecret PATCHes {"secret"} (068); a weak one is invalid with Harbor’s message (071)', async () => {
    const { harbor, scope } = setup();
    scope.patch(`${API}/robots/1`, bodyMatcher(recorded(68).request.body)).reply(...recordedReply(68));
    scope.patch(`${API}/robots/1`, { secret: 'weak' }).reply(...recordedReply(71));
    await harbor.setRobotSecret(1, (recorded(68).request.body as { secret: string }).secret);
    const e = await rejection(harbor.setRobotSecret(1, 'weak'));
    expect(e.kind).toBe('invalid');
    expect(e.message).toMatch(/must longer than 8 chars/);
  });

  test('deleteRobot (078); unknown → not_found (079)', async () => {
    const { harbor, scope } = setup();
    scope.delete(`${API}/robots/3`).reply(...recordedReply(78));
    scope.delete(`${API}/robots/3`).reply(...recordedReply(79));
    await harbor.deleteRobot(3);
    expect((await rejection(harbor.deleteRobot(3))).kind).toBe('not_found');
  });
});

describe('garbage collection and storage', () => {
  test('startGc POSTs a Manual schedule and returns the id from Location (185)', async () => {
    const { harbor, scope } = setup();
    const ex = recorded(185);
    scope.post(`${API}/system/gc/schedule`, bodyMatcher(ex.request.body)).reply(...recordedReply(185));
    await expect(harbor.startGc({ dryRun: true, deleteUntagged: true })).resolves.toBe(
      Number(ex.response.headers.Location.split('/').pop()),
    );
  });

  test('startGc without Location → upstream_unavailable', async () => {
    const { harbor, scope } = setup();
    scope.post(`${API}/system/gc/schedule`).reply(201, '');
    expect(await rejection(harbor.startGc({ dryRun: true, deleteUntagged: false }))).toMatchObject({
      kind: 'upstream_unavailable',
      message: 'upstream unavailable: Harbor did not report the GC run id',
    });
  });

  test('listGcHistory (194)', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/system/gc`).query({ page: '1', page_size: '10' }).reply(...recordedReply(194));
    const page = await harbor.listGcHistory(1, 10);
    expect(page.total).toBe(Number(recorded(194).response.headers['X-Total-Count']));
    expect(page.items.map((r) => r.job_status)).toEqual((recordedBody(194) as { job_status: string }[]).map((r) => r.job_status));
  });

  test('listGcHistory passes its page and page size on', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/system/gc`).query({ page: '2', page_size: '25' }).reply(200, [], { 'X-Total-Count': '30' });
    await expect(harbor.listGcHistory(2, 25)).resolves.toStrictEqual({ items: [], total: 30 });
  });

  test('getGc (186); unknown → null (195)', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/system/gc/1`).reply(...recordedReply(186));
    scope.get(`${API}/system/gc/999999`).reply(...recordedReply(195));
    await expect(harbor.getGc(1)).resolves.toEqual(recordedBody(186));
    await expect(harbor.getGc(999999)).resolves.toBeNull();
  });

  test('getGcLog returns the plain text (190); unknown → null (196)', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/system/gc/1/log`).reply(...recordedReply(190));
    scope.get(`${API}/system/gc/999999/log`).reply(...recordedReply(196));
    await expect(harbor.getGcLog(1)).resolves.toBe(recordedBody(190));
    await expect(harbor.getGcLog(999999)).resolves.toBeNull();
  });

  test('getGcLog keeps a log that happens to be JSON as the text it is', async () => {
    const { harbor, scope } = setup();
    const log = '{"level":"info","msg":"gc done"}';
    scope.get(`${API}/system/gc/1/log`).reply(200, log, { 'Content-Type': 'text/plain' });
    await expect(harbor.getGcLog(1)).resolves.toBe(log);
  });

  test('systemVolumes tolerates {"storage":[{}]} (006) and reads the stock shape', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/systeminfo/volumes`).reply(...recordedReply(6));
    scope.get(`${API}/systeminfo/volumes`).reply(...recordedReply(6, { body: { storage: [{ total: 1000, free: 400 }] } }));
    await expect(harbor.systemVolumes()).resolves.toEqual({});
    await expect(harbor.systemVolumes()).resolves.toEqual({ total: 1000, free: 400 });
  });

  test('systemVolumes: a null body → {}', async () => {
    const { harbor, scope } = setup();
    scope.get(`${API}/systeminfo/volumes`).reply(200, 'null', { 'Content-Type': 'application/json' });
    await expect(harbor.systemVolumes()).resolves.toStrictEqual({});
  });
});
