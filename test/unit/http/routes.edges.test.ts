/**
 * Route branches no other unit test reaches: credentials of a project with no workspace yet (the commands name a
 * placeholder workspace), and `POST /gc` with neither a body nor a Content-Length (what `curl -X POST` sends).
 */
import type { CredentialsService } from '../../../src/domain/credentials.service';
import type { GcService } from '../../../src/domain/gc.service';
import { registryInstructions } from '../../../src/domain/registry-instructions';
import { teamA } from '../domain/workspaces.kit';
import { apiKit, recorder, type ApiKit } from './app.kit';

const RUN = { id: 17, status: 'pending', dryRun: false, deleteUntagged: true };

let k: ApiKit;
let credentials: ReturnType<typeof recorder<CredentialsService>>;
let gc: ReturnType<typeof recorder<GcService>>;

beforeAll(async () => {
  const none = async () => ({ username: 'hg-proj-a', password: 'pw-1', workspaces: [] });
  credentials = recorder<CredentialsService>({ get: none, rotate: none });
  gc = recorder<GcService>({ start: async () => RUN });
  k = await apiKit({ credentials: credentials.service, gc: gc.service, registryInsecure: false });
});
afterAll(() => k.close());

it.each([
  ['GET', '/api/v1/projects/proj-a/credentials', 'get'],
  ['POST', '/api/v1/projects/proj-a/credentials/rotate', 'rotate'],
])('%s %s of a project with no workspace: the commands name WORKSPACE', async (method, path, call) => {
  credentials.calls.length = 0;
  const res = method === 'GET' ? await k.as('alice').get(path) : await k.as('alice').post(path);
  expect(res.status).toBe(200);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.body).toEqual({
    registry: 'hub.example.test',
    username: 'hg-proj-a',
    password: 'pw-1',
    workspaces: [],
    ...registryInstructions({ registry: 'hub.example.test', username: 'hg-proj-a', password: 'pw-1', workspace: 'WORKSPACE', insecure: false }),
  });
  expect(res.body.docker.push).toBe('docker push hub.example.test/WORKSPACE/IMAGE:VERSION');
  expect(credentials.calls).toEqual([[call, teamA]]);
});

it('POST /gc with neither a body nor a Content-Length: a normal run (not dry, untagged deleted), 202 with its Location', async () => {
  const res = await k.bare('admin', 'POST', '/api/v1/gc');
  expect({ status: res.status, body: res.body }).toEqual({ status: 202, body: RUN });
  expect(res.headers).toContain('\r\nLocation: /api/v1/gc/17\r\n');
  expect(gc.calls).toEqual([['start', 'u-admin', { dryRun: false, deleteUntagged: true }]]);
});
