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
    ...registryInstructions({ registry: 'hub.example.test', username: 'hg-proj-a', password: 'pw-1', workspace: 'WORKSPACE', insecure: false, plainHttp: true }),
  });
  expect(res.body.docker.push).toBe('docker push hub.example.test/WORKSPACE/IMAGE:VERSION');
  // hubgate's public URL in the kit is http://: the registry is plain HTTP
  expect(res.body.containerd.push).toBe('ctr -n k8s.io image push --plain-http -u hg-proj-a:pw-1 hub.example.test/WORKSPACE/IMAGE:VERSION');
  expect(credentials.calls).toEqual([[call, teamA]]);
});

it('behind an https:// public URL with a certificate the nodes do not trust, the commands use -k and an https endpoint, never --plain-http', async () => {
  const none = async () => ({ username: 'hg-proj-a', password: 'pw-1', workspaces: ['team-a'] });
  const tls = await apiKit({ credentials: recorder<CredentialsService>({ get: none, rotate: none }).service, publicUrl: 'https://hub.example.test', registryInsecure: true });
  try {
    const res = await tls.as('alice').get('/api/v1/projects/proj-a/credentials');
    expect(res.status).toBe(200);
    expect([res.body.containerd.push, res.body.containerd.pull]).toEqual([
      'ctr -n k8s.io image push -k -u hg-proj-a:pw-1 hub.example.test/team-a/IMAGE:VERSION',
      'ctr -n k8s.io image pull -k -u hg-proj-a:pw-1 hub.example.test/team-a/IMAGE:VERSION',
    ]);
    expect(res.body.troubleshooting.containerd_config_toml.split('\n')[1]).toBe('  endpoint = ["https://hub.example.test"]');
  } finally {
    await tls.close();
  }
});

it('POST /gc with neither a body nor a Content-Length: a normal run (not dry, untagged deleted), 202 with its Location', async () => {
  const res = await k.bare('admin', 'POST', '/api/v1/gc');
  expect({ status: res.status, body: res.body }).toEqual({ status: 202, body: RUN });
  expect(res.headers).toContain('\r\nLocation: /api/v1/gc/17\r\n');
  expect(gc.calls).toEqual([['start', 'u-admin', { dryRun: false, deleteUntagged: true }]]);
});
