import fs from 'node:fs';
import path from 'node:path';
import { ActivityService, operationOf, parseResource } from '../../../src/domain/activity.service';
import { checkPolicy, fromHarbor, parseTaskLog, toHarborRules, type RetentionPolicy } from '../../../src/domain/retention.service';
import { openApiDocument } from '../../../src/http/openapi';
import type { ConsoleAction } from '../../../src/ports/console-actions';
import type { HarborAuditLog } from '../../../src/ports/harbor-policies';
import type { Principal } from '../../../src/domain/principal';
import { AppError } from '../../../src/domain/errors';

const fixture = (name: string) => JSON.parse(fs.readFileSync(path.join(__dirname, '../../fixtures/harbor/retention', name), 'utf8'));

describe('retention policy ↔ Harbor rules', () => {
  const policy: RetentionPolicy = { rules: [{ images: 'app', keepLatestPushed: 1, keepPulledWithinDays: 7 }, { images: 'team/*', keepPushedWithinDays: 30 }], protected: ['latest', 'v*'], schedule: '0 0 3 * * *' };

  it('one retain rule per condition, scoped to the images; protected versions as an `always` rule per image pattern (never `**`)', () => {
    const rules = toHarborRules(policy);
    expect(rules.map((r) => [r.template, r.params, r.scope_selectors.repository[0].pattern, r.tag_selectors[0].pattern])).toEqual([
      ['latestPushedK', { latestPushedK: 1 }, 'app', '**'],
      ['nDaysSinceLastPull', { nDaysSinceLastPull: 7 }, 'app', '**'],
      ['nDaysSinceLastPush', { nDaysSinceLastPush: 30 }, 'team/*', '**'],
      ['always', {}, 'app', '{latest,v*}'],
      ['always', {}, 'team/*', '{latest,v*}'],
    ]);
    // the same selector shapes as the recorded policy (R05)
    const recorded = fixture('R05-retention-create.json').request.body.rules[0];
    expect(Object.keys(rules[0]).sort()).toEqual(Object.keys(recorded).sort());
    expect(rules[0].tag_selectors[0]).toEqual(recorded.tag_selectors[0]);
  });

  it('reads back what it wrote, and the recorded policy (R10)', () => {
    expect(fromHarbor({ algorithm: 'or', rules: toHarborRules(policy), trigger: { kind: 'Schedule', settings: { cron: '0 0 3 * * *' } }, scope: { level: 'project', ref: 2 } })).toEqual(policy);
    expect(fromHarbor(fixture('R10-retention-get-after-update.json').response.body)).toEqual({
      rules: [{ images: 'app', keepLatestPushed: 1 }, { images: '**', keepPulledWithinDays: 7 }],
      protected: ['latest', 'v2'],
      schedule: '0 0 3 * * *',
    });
    expect(fromHarbor({ algorithm: 'or', rules: [], trigger: { kind: 'Schedule', settings: { cron: '' } }, scope: { level: 'project', ref: 2 } })).toEqual({ rules: [], protected: [], schedule: null });
  });

  it('refuses rules that keep nothing, duplicate image patterns, protection without rules', () => {
    const msg = (p: RetentionPolicy) => {
      try {
        checkPolicy(p);
        return 'ok';
      } catch (e) {
        return `${(e as AppError).kind}: ${(e as AppError).message}`;
      }
    };
    expect(msg({ rules: [{ images: 'app' }], protected: [], schedule: null })).toMatch(/^invalid: rule for images "app" keeps nothing/);
    expect(msg({ rules: [{ images: 'a', keepLatestPushed: 1 }, { images: 'a', keepLatestPulled: 1 }], protected: [], schedule: null })).toMatch(/^invalid: two rules for images "a"/);
    expect(msg({ rules: [], protected: ['latest'], schedule: null })).toBe('invalid: protected versions need at least one rule');
    expect(msg({ rules: [{ images: '**', keepLatestPushed: 0 }], protected: [], schedule: null })).toBe('ok');
  });

  it('parses the task log table of the recorded dry run (R17): what would be removed', () => {
    const log = fixture('R17-task-log-dry-run.json').response.body as string;
    expect(parseTaskLog('app', log)).toEqual([
      { image: 'app', digest: 'sha256:2e1243d24f13652c7145af6bfb8b70122823a684313114e82b8651f555684359', tags: ['old'], pushedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/), pulledAt: null },
    ]);
    expect(parseTaskLog('app', log.replace(/RETAIN/g, 'DEL')).map((v) => v.tags[0])).toEqual(['dev', 'latest', 'v2', 'v1', 'old']);
    expect(parseTaskLog('app', log.replace(/RETAIN/g, 'DEL'))[3].pulledAt).not.toBeNull();
  });
});

describe('activity: Harbor rows → platform identities', () => {
  const owner = { robotId: 7, username: 'hg-proj-a', project: { id: 'proj-a', name: 'Team A', department: 'd1' }, workspaces: ['ws'] };
  const principal: Principal = { userId: 'u1', username: 'alice', isCloudAdmin: false, projects: [owner.project] };
  const row = (id: number, t: string, operation: string, resource: string, username: string, type = 'artifact'): HarborAuditLog => ({ id, op_time: t, operation, resource, resource_type: type, username });
  const build = (rows: HarborAuditLog[], actions: ConsoleAction[], relation: 'manage' | 'view' = 'manage') => {
    const calls: { q?: string; page?: number; pageSize?: number }[] = [];
    const service = new ActivityService({
      harbor: {
        projectLogs: async (_p, q) => {
          calls.push(q);
          return { items: rows, total: 42 };
        },
      },
      workspaces: { get: async () => ({ relation }) as never },
      credentials: { ownerRecords: async () => [owner], usernameFor: (p: string) => `hg-${p}`, robotNameFor: (u: string) => `robot$${u}` },
      consoleActions: { remember: async () => undefined, recent: async () => actions, close: async () => undefined },
      adminUsername: 'admin',
      robotPrefix: 'robot$',
    });
    return { service, calls };
  };

  it('maps robots to projects, admin rows to the console user whose call was in flight (same image), jobservice to retention', async () => {
    const t0 = Date.parse('2026-12-04T16:00:00Z');
    const actions: ConsoleAction[] = [
      { start: t0, end: t0 + 300, userId: 'u1', username: 'alice', action: 'image_versions_delete', requestId: 'r1', image: 'app' },
      { start: t0 + 60_000, end: t0 + 61_000, userId: 'u2', username: 'carol', action: 'uploads_start', requestId: 'r2' },
    ];
    const { service } = build(
      [
        row(1, new Date(t0 + 100).toISOString(), 'delete', 'ws/app:sha256:' + 'a'.repeat(64), 'admin'),
        row(2, new Date(t0 + 100).toISOString(), 'delete', 'ws/web:1.0', 'admin', 'tag'), // same time, other image: not alice's
        row(3, new Date(t0 + 60_500).toISOString(), 'create', 'ws/team/tool:v1', 'admin'), // an upload (whole workspace)
        row(4, new Date(t0 + 120_000).toISOString(), 'create', 'ws/app:v9', 'admin'), // nothing in flight
        row(5, new Date(t0).toISOString(), 'pull', 'ws/app:v1', 'robot$hg-proj-a'),
        row(6, new Date(t0).toISOString(), 'delete', 'ws/app:sha256:' + 'b'.repeat(64), 'harbor-jobservice'),
        row(7, new Date(t0).toISOString(), 'create', 'ws/app:v2', 'robot$hg-gone'),
      ],
      actions,
    );
    const page = await service.list(principal, 'ws', { page: 1, pageSize: 20 });
    expect(page.total).toBe(42);
    expect(page.items.map((i) => [i.id, i.operation, i.image, i.version, i.digest ? 'digest' : null, i.actor])).toEqual([
      [1, 'delete', 'app', null, 'digest', { kind: 'user', userId: 'u1', username: 'alice', requestId: 'r1' }],
      [2, 'delete', 'web', '1.0', null, { kind: 'harbor', name: 'admin' }],
      [3, 'push', 'team/tool', 'v1', null, { kind: 'user', userId: 'u2', username: 'carol', requestId: 'r2' }],
      [4, 'push', 'app', 'v9', null, { kind: 'harbor', name: 'admin' }],
      [5, 'pull', 'app', 'v1', null, { kind: 'project', projectId: 'proj-a', projectName: 'Team A', department: 'd1', username: 'hg-proj-a' }],
      [6, 'delete', 'app', null, 'digest', { kind: 'retention' }],
      [7, 'push', 'app', 'v2', null, { kind: 'project', projectId: null, projectName: null, department: null, username: 'hg-gone' }],
    ]);
  });

  it("filters become Harbor's q, paging is Harbor's", async () => {
    const { service, calls } = build([], []);
    await service.list(principal, 'ws', { operation: 'push', image: 'app', version: 'v1', actorProject: 'proj-a', from: '2026-12-01T00:00:00Z', to: '2026-12-02T12:30:00.000Z', page: 3, pageSize: 5 });
    await service.list(principal, 'ws', { operation: 'delete', version: 'v1', page: 1, pageSize: 20 });
    await service.list(principal, 'ws', { page: 1, pageSize: 20 });
    expect(calls).toEqual([
      { page: 3, pageSize: 5, q: 'operation=create,resource_type=artifact,resource=~ws/app:v1,username=robot$hg-proj-a,op_time=[2026-12-01 00:00:00~2026-12-02 12:30:00]' },
      { page: 1, pageSize: 20, q: 'operation=delete,resource=~:v1' },
      { page: 1, pageSize: 20, q: undefined },
    ]);
  });

  it("another project's public workspace: 403", async () => {
    const { service } = build([], [], 'view');
    await expect(service.list(principal, 'ws', { page: 1, pageSize: 20 })).rejects.toMatchObject({ kind: 'forbidden' });
  });

  it('resources and operations as Harbor writes them (exchanges 211-213, R23)', () => {
    expect(parseResource('ws', 'ws/team/app:v1')).toEqual({ image: 'team/app', version: 'v1', digest: null });
    expect(parseResource('ws', 'ws/app')).toEqual({ image: 'app', version: null, digest: null });
    expect(parseResource('ws', 'ws')).toEqual({ image: null, version: null, digest: null });
    expect(operationOf({ operation: 'create', resource_type: 'project' })).toBe('workspace_create');
    expect(operationOf({ operation: 'create', resource_type: 'tag' })).toBe('tag');
    expect(operationOf({ operation: 'delete', resource_type: 'repository' })).toBe('delete');
    for (const r of fixture('R23-project-logs.json').response.body as HarborAuditLog[]) expect(operationOf(r)).not.toBe('other');
  });
});

describe('OpenAPI: every new endpoint documented with an example', () => {
  const doc = openApiDocument({ version: 't', publicUrl: 'http://x' }) as { paths: Record<string, Record<string, any>> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  const routes = fs.readFileSync(path.join(__dirname, '../../../src/http/routes/policies.routes.ts'), 'utf8');
  const ops = [...routes.matchAll(/op\('([a-z_]+)'\)/g)].map((m) => m[1]);

  it.each(ops)('%s', (id) => {
    const found = Object.values(doc.paths).flatMap((p) => Object.values(p)).find((o) => o && o.operationId === id);
    expect(found).toBeDefined();
    const ok = Object.entries(found.responses as Record<string, { content?: Record<string, { example?: unknown }> }>).filter(([s]) => s.startsWith('2'));
    const examples = ok.flatMap(([, r]) => Object.values(r.content ?? {}).map((c) => c.example)).filter((e) => e !== undefined);
    const bodyExample = found.requestBody?.content?.['application/json']?.example;
    // a JSON example wherever there is a JSON body (a 204 has none), and a curl command for every endpoint
    const withContent = ok.filter(([, r]) => r.content).length;
    expect(examples.length).toBe(withContent);
    if (found.requestBody) expect(bodyExample).toBeDefined();
    expect(found['x-codeSamples'][0].source).toMatch(/^curl -s .*\$HUBGATE\/api\/v1\/workspaces\/team-a-apps\//);
  });
});
