import * as fs from 'node:fs';
import * as path from 'node:path';
import nock from './nock';
import { AppError } from '../../../src/domain/errors';
import type { HarborRobot, RobotCreate } from '../../../src/ports/harbor';
import { matchOperation, pathSegments } from '../../../adapters/harbor/operations';
import { API, BASE, adminAccepted, closeAdapters, harborScope, makeAdapter } from './harbor.kit';

/**
 * Content negotiation: every call the adapter makes carries the `Accept` its Harbor operation produces
 * (swagger.yaml). go-swagger answers 422 when `Accept` matches none of them — `application/json` (the old
 * default) on `GET /system/gc/{id}/log`, which produces `text/plain` (finding l).
 */
beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  nock.cleanAll();
  closeAdapters();
});
afterAll(() => nock.enableNetConnect());

interface Seen {
  method: string;
  path: string;
  accept: string | undefined;
}

/** A Harbor that answers anything and records method, path and Accept of each request. */
function anyHarbor(): Seen[] {
  const seen: Seen[] = [];
  for (const method of ['get', 'head', 'post', 'put', 'patch', 'delete'] as const) {
    nock(BASE)
      .persist()
      .intercept(/.*/, method.toUpperCase())
      .reply(function (uri) {
        const accept = this.req.headers.accept;
        seen.push({ method: method.toUpperCase(), path: uri, accept: Array.isArray(accept) ? accept.join(', ') : accept });
        const path = uri.split('?')[0];
        if (path.endsWith('/users/current')) return [200, JSON.stringify({ user_id: 1, username: 'admin', sysadmin_flag: true }) + '\n', { 'Content-Type': 'application/json' }];
        if (path.endsWith('/log')) return [200, '2026-11-26T13:53:32Z [INFO] [/x.go:1]: done\n', { 'Content-Type': 'text/plain' }];
        if (method === 'post') return [201, JSON.stringify({ id: 5, name: 'robot$x' }) + '\n', { Location: `${API}/x/5`, 'Content-Type': 'application/json' }];
        if (method === 'get' && /\/(projects|repositories|artifacts|robots|gc)$/.test(path)) return [200, '[]\n', { 'Content-Type': 'application/json', 'X-Total-Count': '0' }];
        return [200, '{}\n', { 'Content-Type': 'application/json' }];
      });
  }
  return seen;
}

test('every adapter call sends the produces of its Harbor operation as Accept', async () => {
  const seen = anyHarbor();
  const { harbor } = makeAdapter({ retries: 0 });
  const digest = 'sha256:' + 'ab'.repeat(32);
  const robot = { id: 5, name: 'robot$x', level: 'system', duration: -1, permissions: [] } as unknown as HarborRobot;
  const calls: (() => Promise<unknown>)[] = [
    () => harbor.currentUser(),
    () => harbor.health(),
    () => harbor.findProject('alpha'),
    () => harbor.getProjectById(2),
    () => harbor.createProject({ name: 'alpha', public: false }),
    () => harbor.setProjectPublic(2, true),
    () => harbor.deleteProject('alpha'),
    () => harbor.listProjects({}),
    () => harbor.listAllProjects(),
    () => harbor.projectSummary('alpha'),
    () => harbor.listRepositories('alpha'),
    () => harbor.listAllRepositories('alpha'),
    () => harbor.deleteRepository('beta', 'team/app'),
    () => harbor.getRepository('beta', 'team/app'),
    () => harbor.updateRepositoryDescription('beta', 'team/app', 'x'),
    () => harbor.listRepositoriesAll(),
    () => harbor.listArtifacts('beta', 'team/app'),
    () => harbor.getArtifact('beta', 'team/app', digest),
    () => harbor.deleteArtifact('beta', 'team/app', digest),
    () => harbor.deleteTag('beta', 'team/app', digest, 'v1'),
    () => harbor.listRobots('ci'),
    () => harbor.getRobot(5),
    () => harbor.createRobot({ name: 'x', level: 'system', duration: -1, permissions: [] } as unknown as RobotCreate),
    () => harbor.updateRobot(robot),
    () => harbor.setRobotSecret(5, 'S3cret-S3cret-S3cret'),
    () => harbor.deleteRobot(5),
    () => harbor.startGc({ dryRun: true, deleteUntagged: true }),
    () => harbor.listGcHistory(1, 10),
    () => harbor.getGc(3),
    () => harbor.getGcLog(3),
    () => harbor.systemVolumes(),
  ];
  for (const c of calls) await c().catch(() => undefined);

  expect(seen.length).toBeGreaterThanOrEqual(calls.length);
  const problems: string[] = [];
  for (const s of seen) {
    const op = matchOperation(s.method, pathSegments(s.path.slice(API.length)));
    if (!op) problems.push(`${s.method} ${s.path}: no operation in swagger.yaml`);
    else if (s.accept !== op.produces.join(', ')) problems.push(`${s.method} ${s.path} (${op.id}): Accept ${s.accept}, produces ${op.produces.join(', ')}`);
  }
  expect(problems).toEqual([]);
  expect(seen.find((s) => s.path === `${API}/system/gc/3/log`)?.accept).toBe('text/plain');
  expect(seen.find((s) => s.path === `${API}/system/gc/3`)?.accept).toBe('application/json');
});

test("a 422 for hubgate's own Accept is Harbor and hubgate disagreeing (502-class), not the caller's 400 (live L01)", async () => {
  const live = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../fixtures/harbor/live/L01-gc-log-accept-json.json'), 'utf8'));
  const { harbor } = makeAdapter({ retries: 0 });
  const scope = harborScope();
  adminAccepted(scope);
  scope.get(`${API}/system/gc/3/log`).reply(live.response.status, JSON.stringify(live.response.body) + '\n', { 'Content-Type': live.response.headers['Content-Type'] });
  const e = await harbor.getGcLog(3).then(
    () => undefined,
    (err: unknown) => err as AppError,
  );
  expect(e).toBeInstanceOf(AppError);
  expect([e!.kind, e!.upstreamStatus]).toEqual(['upstream_unavailable', 422]);
  expect(e!.message).toContain('unsupported media type requested, only [text/plain] are available');
});
