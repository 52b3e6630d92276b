/**
 * Route rules the route suites pass through without reading them: every route with a JSON body validates it
 * before its service is called; GC run ids are 1–15 digits (anything else is a 404 naming it, the service never
 * asked); `POST /gc` without a body starts a normal run while an empty chunked or non-JSON body is refused; a
 * cloud admin acting on a project he is not in hands the service that project by id only; `GET /me` says who may
 * start GC; the workspace name reaches the quota service as given.
 *
 * Every request is sent inside its test (StrykerJS, coverageAnalysis perTest, credits only code that runs there).
 */
import request from 'supertest';
import type { CredentialsService } from '../../../src/domain/credentials.service';
import type { GcService } from '../../../src/domain/gc.service';
import type { ImagesService } from '../../../src/domain/images.service';
import type { WorkspacePoliciesService } from '../../../src/domain/workspace-policies.service';
import type { WorkspacesService } from '../../../src/domain/workspaces.service';
import { answer, apiKit, envelope, recorder, USER_ID, type ApiKit, type Caller } from './app.kit';

const send = (k: ApiKit, who: Caller, method: 'post' | 'patch' | 'put' | 'delete', path: string) =>
  request(k.app)[method](path).set('Authorization', `Bearer ${k.token(who)}`);

describe('a JSON body is validated before the service is asked', () => {
  const never = () => {
    throw new Error('the service must not be called');
  };
  const services = () => ({
    workspaces: recorder<WorkspacesService>({ create: never, update: never }),
    images: recorder<ImagesService>({ deleteImages: never, deleteVersions: never, update: never }),
    policies: recorder<WorkspacePoliciesService>({ setQuota: never, createImmutableRule: never }),
  });
  it.each([
    ['post', '/api/v1/workspaces'],
    ['patch', '/api/v1/workspaces/ws'],
    ['delete', '/api/v1/images'],
    ['delete', '/api/v1/workspaces/ws/images/app/versions'],
    ['patch', '/api/v1/workspaces/ws/images/app'],
    ['put', '/api/v1/workspaces/ws/quota'],
    ['post', '/api/v1/workspaces/ws/immutable-rules'],
  ] as const)('%s %s with a JSON array: 400 "body must be object", no service call', async (method, path) => {
    const s = services();
    const k = await apiKit({ workspaces: s.workspaces.service, images: s.images.service, policies: s.policies.service });
    try {
      const res = await send(k, 'alice', method, path).set('Content-Type', 'application/json').send('[]');
      expect(answer(res)).toEqual(envelope(400, 'BAD_REQUEST', 'body must be object'));
      expect([...s.workspaces.calls, ...s.images.calls, ...s.policies.calls]).toEqual([]);
    } finally {
      await k.close();
    }
  });
});

describe('garbage collection run ids', () => {
  it.each(['abc', '12abc', 'abc12', '1234567890123456', '-1', '1.5'])('GET /gc/%s: 404 naming it, the service not asked', async (id) => {
    const gc = recorder<GcService>({ get: async () => ({ id: 1 }), log: async () => '' });
    const k = await apiKit({ gc: gc.service });
    try {
      for (const path of [`/api/v1/gc/${id}`, `/api/v1/gc/${id}/log`]) {
        expect(answer(await k.as('admin').get(path))).toEqual(envelope(404, 'NOT_FOUND', `garbage collection ${id} not found`));
      }
      expect(gc.calls).toEqual([]);
    } finally {
      await k.close();
    }
  });

  it('1 and 15 digits are run ids, passed on as numbers', async () => {
    const gc = recorder<GcService>({ get: async (_p: unknown, id: number) => ({ id }), log: async () => 'log' });
    const k = await apiKit({ gc: gc.service });
    try {
      expect((await k.as('admin').get('/api/v1/gc/7')).body).toEqual({ id: 7 });
      expect((await k.as('admin').get('/api/v1/gc/123456789012345/log')).text).toBe('log');
      expect(gc.calls).toEqual([
        ['get', USER_ID.admin, 7],
        ['log', USER_ID.admin, 123456789012345],
      ]);
    } finally {
      await k.close();
    }
  });
});

describe('POST /gc and its body', () => {
  const started = () => recorder<GcService>({ start: async () => ({ id: 3 }) });

  it('no body at all: a normal run (not a dry run, untagged artifacts deleted)', async () => {
    const gc = started();
    const k = await apiKit({ gc: gc.service });
    try {
      const res = await k.bare('admin', 'POST', '/api/v1/gc');
      expect([res.status, res.body]).toEqual([202, { id: 3 }]);
      expect(gc.calls).toEqual([['start', USER_ID.admin, { dryRun: false, deleteUntagged: true }]]);
    } finally {
      await k.close();
    }
  });

  it.each([
    ['an empty chunked body', { 'Transfer-Encoding': 'chunked' }, Buffer.from('0\r\n\r\n')],
    ['a text body', { 'Content-Type': 'text/plain', 'Content-Length': '4' }, Buffer.from('gc!!')],
  ])('%s: 400 "request body must be JSON", no run', async (_what, headers, body) => {
    const gc = started();
    const k = await apiKit({ gc: gc.service });
    try {
      const text = await k.raw('admin', 'POST', '/api/v1/gc', { headers, body });
      expect(text.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
      expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toEqual({
        errors: [{ code: 'BAD_REQUEST', message: 'request body must be JSON (Content-Type: application/json)' }],
      });
      expect(gc.calls).toEqual([]);
    } finally {
      await k.close();
    }
  });
});

describe('who a route hands the services', () => {
  it('a cloud admin on a project he is not in: the project by its id only, no name or department made up', async () => {
    const creds = recorder<CredentialsService>({
      get: async () => ({ username: 'u', password: 'p', workspaces: [] }),
      rotate: async () => ({ username: 'u', password: 'p2', workspaces: [] }),
    });
    const k = await apiKit({ credentials: creds.service });
    try {
      expect((await k.as('admin').get('/api/v1/projects/p-77/credentials')).status).toBe(200);
      expect((await k.as('admin').post('/api/v1/projects/p-77/credentials/rotate')).status).toBe(200);
      const project = { id: 'p-77', name: '', department: '' };
      expect(creds.calls).toEqual([
        ['get', project],
        ['rotate', project],
      ]);
    } finally {
      await k.close();
    }
  });

  it('the quota service gets the workspace name of the path', async () => {
    const policies = recorder<WorkspacePoliciesService>({ quota: async () => ({ limit: null }), setQuota: async () => ({ limit: null }) });
    const k = await apiKit({ policies: policies.service });
    try {
      await k.as('alice').get('/api/v1/workspaces/team-a-apps/quota');
      await k.as('admin').delete('/api/v1/workspaces/team-a-apps/quota');
      expect(policies.calls).toEqual([
        ['quota', USER_ID.alice, 'team-a-apps'],
        ['setQuota', USER_ID.admin, 'team-a-apps', null],
      ]);
    } finally {
      await k.close();
    }
  });
});

describe('GET /me: who may start garbage collection', () => {
  it.each([
    [false, 'alice', false],
    [true, 'alice', true],
    [false, 'admin', true],
  ] as const)('members allowed %s, %s: mayRunGc %s', async (gcAllowMembers, who, may) => {
    const k = await apiKit({ gcAllowMembers });
    try {
      expect((await k.as(who).get('/api/v1/me')).body.mayRunGc).toBe(may);
    } finally {
      await k.close();
    }
  });

  it('members allowed, but a caller in no project: false', async () => {
    const k = await apiKit({ gcAllowMembers: true }, { aliceProjects: [] });
    try {
      expect((await k.as('alice').get('/api/v1/me')).body.mayRunGc).toBe(false);
    } finally {
      await k.close();
    }
  });
});
