import fs from 'node:fs';
import path from 'node:path';
import { operationOf, parseResource } from '../../../src/domain/activity.service';
import { checkPolicy, fromHarbor, parseTaskLog, toHarborRules, type RetentionPolicy } from '../../../src/domain/retention.service';
import { openApiDocument } from '../../../src/http/openapi';
import type { ConsoleAction } from '../../../src/ports/console-actions';
import type { HarborAuditLog, HarborRetentionPolicy } from '../../../src/ports/harbor-policies';
import { AppError } from '../../../src/domain/errors';
import { runChild } from '../../support/child';
import { sourceText } from '../../support/source-text';
import { activityKit, auditRow, principal } from '../observability/activity.kit';

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

  it('protection: no `always` rule without protected versions; one pattern as it is, several as {a,b}; one `always` rule per image pattern even if two rules name it', () => {
    const keep = (images: string) => ({ images, keepLatestPushed: 2 });
    const shape = (p: RetentionPolicy) => toHarborRules(p).map((r) => `${r.template} ${r.scope_selectors.repository[0].pattern} ${r.tag_selectors[0].pattern}`);
    expect(shape({ rules: [keep('app')], protected: [], schedule: null })).toStrictEqual(['latestPushedK app **']);
    expect(shape({ rules: [keep('app')], protected: ['latest'], schedule: null })).toStrictEqual(['latestPushedK app **', 'always app latest']);
    expect(shape({ rules: [keep('app'), { images: 'app', keepLatestPulled: 1 }], protected: ['v*', 'latest'], schedule: null })).toStrictEqual([
      'latestPushedK app **',
      'latestPulledN app **',
      'always app {v*,latest}',
    ]);
  });

  describe('fromHarbor: rules made elsewhere, read as far as they fit', () => {
    const trigger = { kind: 'Schedule' as const, settings: { cron: '' } };
    const read = (rules: unknown[], more: Record<string, unknown> = { trigger }) => fromHarbor({ algorithm: 'or', scope: { level: 'project', ref: 2 }, rules, ...more } as unknown as HarborRetentionPolicy);
    const retain = (template: string, params: unknown, scope: unknown, tags: unknown, extra: Record<string, unknown> = {}) => ({ action: 'retain', template, params, scope_selectors: scope, tag_selectors: tags, ...extra });
    const repo = (pattern: string) => ({ repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern }] });
    const tag = (pattern: string) => [{ kind: 'doublestar', decoration: 'matches', pattern }];

    it('no rules list, no trigger, no settings or no cron: nothing kept, no schedule', () => {
      const none = { rules: [], protected: [], schedule: null };
      expect(fromHarbor({ algorithm: 'or', scope: { level: 'project', ref: 2 } } as unknown as HarborRetentionPolicy)).toStrictEqual(none);
      expect(read([], { trigger: { kind: 'Schedule' } })).toStrictEqual(none);
      expect(read([], { trigger: { kind: 'Schedule', settings: {} } })).toStrictEqual(none);
    });

    it('a rule without scope or repository selectors covers every image (**); a disabled rule is skipped', () => {
      expect(read([retain('latestPushedK', { latestPushedK: 3 }, undefined, tag('**'))]).rules).toStrictEqual([{ images: '**', keepLatestPushed: 3 }]);
      expect(read([retain('latestPushedK', { latestPushedK: 3 }, {}, tag('**'))]).rules).toStrictEqual([{ images: '**', keepLatestPushed: 3 }]);
      expect(read([retain('latestPushedK', { latestPushedK: 3 }, { repository: [] }, tag('**'))]).rules).toStrictEqual([{ images: '**', keepLatestPushed: 3 }]);
      expect(read([retain('latestPushedK', { latestPushedK: 3 }, repo('app'), undefined), retain('latestPulledN', { latestPulledN: 1 }, repo('app'), [])]).rules).toStrictEqual([
        { images: 'app', keepLatestPushed: 3, keepLatestPulled: 1 },
      ]);
      expect(read([retain('latestPushedK', { latestPushedK: 3 }, repo('app'), tag('**')), retain('latestPulledN', { latestPulledN: 1 }, repo('app'), tag('**'), { disabled: true })]).rules).toStrictEqual([
        { images: 'app', keepLatestPushed: 3 },
      ]);
    });

    it('`always` rules: their patterns protected (one, or the {a,b} list only when the braces enclose all of it; no tag selector = **); alone they keep nothing', () => {
      const always = (images: string, tags: unknown) => retain('always', {}, repo(images), tags);
      const keep = retain('latestPushedK', { latestPushedK: 1 }, repo('app'), tag('**'));
      expect(read([always('app', tag('latest')), keep])).toStrictEqual({ rules: [{ images: 'app', keepLatestPushed: 1 }], protected: ['latest'], schedule: null });
      expect(read([always('app', tag('v{1,2}')), always('app', tag('{a,b}x')), always('app', tag('{c,d}')), keep]).protected).toStrictEqual(['v{1,2}', '{a,b}x', 'c', 'd']);
      expect(read([always('app', undefined), keep]).protected).toStrictEqual(['**']);
      expect(read([always('app', []), keep]).protected).toStrictEqual(['**']);
      expect(read([always('other', tag('latest'))])).toStrictEqual({ rules: [], protected: ['latest'], schedule: null });
      // an image pattern first named by its `always` rule keeps that place
      const keepFor = (images: string) => retain('latestPushedK', { latestPushedK: 1 }, repo(images), tag('**'));
      expect(read([always('b', tag('latest')), keepFor('a'), keepFor('b')]).rules.map((r) => r.images)).toStrictEqual(['b', 'a']);
    });

    it('a keep-condition without a number is no condition', () => {
      expect(read([retain('latestPushedK', {}, repo('app'), tag('**'))]).rules).toStrictEqual([]);
      // no params at all: the same, not a TypeError
      expect(read([retain('latestPushedK', undefined, repo('app'), tag('**'))]).rules).toStrictEqual([]);
      expect(read([retain('latestPushedK', { latestPushedK: 'many' }, repo('app'), tag('**')), retain('nDaysSinceLastPull', { nDaysSinceLastPull: 7 }, repo('app'), tag('**'))]).rules).toStrictEqual([
        { images: 'app', keepPulledWithinDays: 7 },
      ]);
    });

    it('a rule of a template hubgate does not offer is passed over, even beside a known one for the same images', () => {
      const keep = retain('latestPushedK', { latestPushedK: 1 }, repo('app'), tag('**'));
      expect(read([keep, retain('dependency', { dependency: 5 }, repo('app'), tag('**'))]).rules).toStrictEqual([{ images: 'app', keepLatestPushed: 1 }]);
      expect(read([retain('dependency', { dependency: 5 }, repo('app'), tag('**')), keep]).rules).toStrictEqual([{ images: 'app', keepLatestPushed: 1 }]);
    });
  });

  describe('parseTaskLog: only well-formed DEL rows of the table', () => {
    const SHA = 'sha256:' + 'ab'.repeat(32);
    const row = (digest: string, tags: string, verdict = 'DEL', tail = ' |') =>
      `| ${digest} | ${tags} | image |        | 2026/12/04 16:51:14 | 2026/12/04 17:02:03 | 2026/12/04 16:51:14 | ${verdict}${tail}`;
    const removed = (tags: string[]) => ({ image: 'app', digest: SHA, tags, pushedAt: '2026-12-04T16:51:14.000Z', pulledAt: '2026-12-04T17:02:03.000Z' });

    it('tags split on commas, trimmed, empty ones dropped; no tag → none', () => {
      expect(parseTaskLog('app', [row(SHA, 'v1, latest'), row(SHA, 'a,,b,'), row(SHA, '')].join('\n'))).toStrictEqual([removed(['v1', 'latest']), removed(['a', 'b']), removed([])]);
    });

    it("times are Harbor's UTC whatever the gateway's time zone (a child process in New York time)", async () => {
      const module = path.resolve(__dirname, '../../../src/domain/retention.service');
      const script = `process.stdout.write(JSON.stringify(require(${JSON.stringify(module)}).parseTaskLog('app', process.argv[1])))`;
      const r = await runChild('env', ['TZ=America/New_York', process.execPath, '-r', 'ts-node/register/transpile-only', '-e', script, row(SHA, 'v1')], 60_000);
      expect({ code: r.code, stderr: r.stderr }).toStrictEqual({ code: 0, stderr: '' });
      expect(JSON.parse(r.stdout)).toStrictEqual([removed(['v1'])]);
    });

    it('a time cell that is not a date is no time (null), never an error that fails the whole run', () => {
      const odd = `| ${SHA} | v1 | image |        | yesterday | 2026/13/45 99:99:99 | 2026/12/04 16:51:14 | DEL |`;
      expect(parseTaskLog('app', odd)).toStrictEqual([{ image: 'app', digest: SHA, tags: ['v1'], pushedAt: null, pulledAt: null }]);
    });

    it('a row cut short, or whose digest is not exactly sha256:<64 hex>, is not a version', () => {
      const bad = [row(SHA, 'cut', 'DEL', ''), row(`x${SHA}`, 'prefixed'), row(`${SHA}0`, 'suffixed'), row('sha256:abc', 'short'), row(SHA, 'kept', 'RETAIN')];
      expect(parseTaskLog('app', [...bad, row(SHA, 'v1')].join('\n'))).toStrictEqual([removed(['v1'])]);
    });
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
  it('maps robots to projects, admin rows to the console user whose call was in flight (same image), jobservice to retention', async () => {
    const t0 = Date.parse('2026-12-04T16:00:00Z');
    const actions: ConsoleAction[] = [
      { start: t0, end: t0 + 300, userId: 'u1', username: 'alice', action: 'image_versions_delete', requestId: 'r1', image: 'app' },
      { start: t0 + 60_000, end: t0 + 61_000, userId: 'u2', username: 'carol', action: 'uploads_start', requestId: 'r2' },
    ];
    const { service } = activityKit(
      [
        auditRow(1, new Date(t0 + 100).toISOString(), 'delete', 'ws/app:sha256:' + 'a'.repeat(64), 'admin'),
        auditRow(2, new Date(t0 + 100).toISOString(), 'delete', 'ws/web:1.0', 'admin', 'tag'), // same time, other image: not alice's
        auditRow(3, new Date(t0 + 60_500).toISOString(), 'create', 'ws/team/tool:v1', 'admin'), // an upload (whole workspace)
        auditRow(4, new Date(t0 + 120_000).toISOString(), 'create', 'ws/app:v9', 'admin'), // nothing in flight
        auditRow(5, new Date(t0).toISOString(), 'pull', 'ws/app:v1', 'robot$hg-proj-a'),
        auditRow(6, new Date(t0).toISOString(), 'delete', 'ws/app:sha256:' + 'b'.repeat(64), 'harbor-jobservice'),
        auditRow(7, new Date(t0).toISOString(), 'create', 'ws/app:v2', 'robot$hg-gone'),
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
    const { service, calls } = activityKit([], []);
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
    const { service } = activityKit([], [], { relation: 'view' });
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
  const routes = sourceText('src/http/routes/policies.routes.ts');
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
