import { API, nockedHarbor, operations } from './harbor.kit';

/**
 * Every adapter method reports its own operation id — the `operation` label of hubgate_harbor_requests_total and
 * of the log lines, and what picks the `Accept` a call is sent with (operations.ts) — one call each, answered by
 * a nock'ed Harbor with the smallest body the method accepts.
 */
const setup = nockedHarbor();

test('one call of each method: one count under its operation id', async () => {
  const { harbor, metrics, scope } = setup();
  const page = [200, '[]', { 'Content-Type': 'application/json', 'X-Total-Count': '0' }] as const;
  scope.get(`${API}/health`).reply(200, { status: 'healthy', components: [] });
  scope.get(`${API}/projects/1`).reply(200, { project_id: 1, name: 'p' });
  scope.post(`${API}/projects`).reply(201, '', { Location: '/api/v2.0/projects/5' });
  scope.put(`${API}/projects/5`).reply(200, '');
  scope.delete(`${API}/projects/p`).reply(200, '');
  scope.get(`${API}/projects`).query(true).times(2).reply(...page);
  scope.get(`${API}/projects/p/summary`).reply(200, {});
  scope.get(`${API}/projects/p/repositories`).query(true).times(2).reply(...page);
  scope.delete(`${API}/projects/p/repositories/app`).reply(200, '');
  scope.get(`${API}/projects/p/repositories/app`).reply(200, { name: 'p/app' });
  scope.put(`${API}/projects/p/repositories/app`).reply(200, '');
  scope.get(`${API}/projects/p/repositories/app/artifacts`).query(true).reply(...page);
  scope.get(`${API}/projects/p/repositories/app/artifacts/v1`).query({ with_tag: 'true', with_label: 'false', with_scan_overview: 'false' }).reply(200, { digest: 'sha256:a' });
  scope.delete(`${API}/projects/p/repositories/app/artifacts/sha256:a`).reply(200, '');
  scope.delete(`${API}/projects/p/repositories/app/artifacts/sha256:a/tags/v1`).reply(200, '');
  scope.get(`${API}/repositories`).query(true).times(2).reply(...page);
  scope.get(`${API}/robots`).query(true).reply(...page);
  scope.post(`${API}/robots`).reply(201, { id: 1, name: 'robot$x' });
  scope.get(`${API}/robots/1`).reply(200, { id: 1, name: 'robot$x' });
  scope.put(`${API}/robots/1`).reply(200, '');
  scope.patch(`${API}/robots/1`).reply(200, '');
  scope.delete(`${API}/robots/1`).reply(200, '');
  scope.post(`${API}/system/gc/schedule`).reply(201, '', { Location: '/api/v2.0/system/gc/9' });
  scope.get(`${API}/system/gc`).query(true).reply(...page);
  scope.get(`${API}/system/gc/9`).reply(200, { id: 9 });
  scope.get(`${API}/system/gc/9/log`).reply(200, 'log', { 'Content-Type': 'text/plain' });
  scope.get(`${API}/systeminfo/volumes`).reply(200, { storage: [{ total: 10, free: 5 }] });

  // currentUser() first: it confirms the admin identity, so no other identity check is counted
  await harbor.currentUser();
  await harbor.health();
  await harbor.getProjectById(1);
  await harbor.createProject({ name: 'p', public: false });
  await harbor.setProjectPublic(5, true);
  await harbor.deleteProject('p');
  await harbor.listProjects({});
  await harbor.listAllProjects();
  await harbor.projectSummary('p');
  await harbor.listRepositories('p', {});
  await harbor.listAllRepositories('p');
  await harbor.deleteRepository('p', 'app');
  await harbor.getRepository('p', 'app');
  await harbor.updateRepositoryDescription('p', 'app', 'text');
  await harbor.listArtifacts('p', 'app', {});
  await harbor.getArtifact('p', 'app', 'v1');
  await harbor.deleteArtifact('p', 'app', 'sha256:a');
  await harbor.deleteTag('p', 'app', 'sha256:a', 'v1');
  await harbor.listRepositoriesAll({});
  await harbor.listRepositoriesInIdRange(1, 2);
  await harbor.listRobots('hg-');
  await harbor.createRobot({ name: 'x' } as Parameters<typeof harbor.createRobot>[0]);
  await harbor.getRobot(1);
  await harbor.updateRobot({ id: 1, name: 'robot$x' } as Parameters<typeof harbor.updateRobot>[0]);
  await harbor.setRobotSecret(1, 'Secret-Value-123');
  await harbor.deleteRobot(1);
  await harbor.startGc({ dryRun: true, deleteUntagged: false });
  await harbor.listGcHistory(1, 10);
  await harbor.getGc(9);
  await harbor.getGcLog(9);
  await harbor.systemVolumes();
  expect(await operations(metrics)).toStrictEqual([
    'createProject success 1',
    'createRobot success 1',
    'currentUser success 1',
    'deleteArtifact success 1',
    'deleteProject success 1',
    'deleteRepository success 1',
    'deleteRobot success 1',
    'deleteTag success 1',
    'getArtifact success 1',
    'getGc success 1',
    'getGcLog success 1',
    'getProjectById success 1',
    'getRepository success 1',
    'getRobot success 1',
    'health success 1',
    'listAllProjects success 1',
    'listAllRepositories success 1',
    'listArtifacts success 1',
    'listGcHistory success 1',
    'listProjects success 1',
    'listRepositories success 1',
    'listRepositoriesAll success 1',
    'listRepositoriesRange success 1',
    'listRobots success 1',
    'projectSummary success 1',
    'setProjectPublic success 1',
    'setRobotSecret success 1',
    'startGc success 1',
    'systemVolumes success 1',
    'updateRepositoryDescription success 1',
    'updateRobot success 1',
  ]);
  expect(scope.pendingMocks()).toStrictEqual([]);
});
