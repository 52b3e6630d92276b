/**
 * WorkspacePoliciesService on its own: the storage quota (read, set, the gauges and their poll, the upload's
 * refusals) and the immutable versions (rules, their checks before an upload or a workspace deletion), over an
 * in-memory Harbor port and a workspace lookup stand-in. The end-to-end tests run the same paths against the Harbor
 * double; these pin every branch and message where the unit project (and so mutation testing) sees them.
 */
import { AppError, notFound } from '../../../src/domain/errors';
import type { Principal } from '../../../src/domain/principal';
import { ArchiveError } from '../../../src/domain/uploads/archive-error';
import { WorkspacePoliciesService, type PoliciesDeps } from '../../../src/domain/workspace-policies.service';
import type { Relation, Workspace, WorkspacesService } from '../../../src/domain/workspaces.service';
import { ERROR_TABLE } from '../../../src/http/errors';
import type { Level, Logger } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';
import type { HarborImmutableRule, HarborQuota, ImmutableRuleInput } from '../../../src/ports/harbor-limits';
import type { ListQuery } from '../../../src/ports/harbor';
import { rule } from './immutable-rule';

const teamA = { id: 'proj-a', name: 'Team A', department: 'dept-1' };
const alice: Principal = { userId: 'u-alice', username: 'alice', isCloudAdmin: false, projects: [teamA] };
const bob: Principal = { userId: 'u-bob', username: 'bob', isCloudAdmin: false, projects: [{ id: 'proj-b', name: 'Team B', department: 'dept-2' }] };
const admin: Principal = { userId: 'u-admin', username: 'root', isCloudAdmin: true, projects: [] };

/** Harbor project 7 is the workspace `team-a` of Team A; its quota row has id 70. */
const PROJECT_ID = 7;
const QUOTA_ID = 70;

type QuotaRow = HarborQuota & { projectId: number; projectName: string };

/**
 * The Harbor calls the service makes, in memory: quotas by project id, immutable rules by project, and each
 * repository's artifacts as their tag lists (null = untagged). Every call is written to `calls`; `failing` makes
 * a method throw the error given.
 */
class MemoryHarbor {
  quotas = new Map<number, HarborQuota>([[PROJECT_ID, { id: QUOTA_ID, hard: 4096, used: 796 }]]);
  quotaRows: QuotaRow[] = [];
  rules = new Map<string, HarborImmutableRule[]>();
  /** By full repository name (`team-a/app`), in Harbor's order. */
  artifacts = new Map<string, (string[] | null)[]>();
  /** The `total` Harbor reports for a repository when it differs from its list (pushes or deletions meanwhile). */
  totals = new Map<string, number>();
  failing = new Map<string, Error>();
  calls: string[] = [];
  private nextRule = 12;

  private enter(call: string): void {
    this.calls.push(call);
    const e = this.failing.get(call.split(' ')[0]);
    if (e) throw e;
  }

  async getProjectQuota(projectId: number): Promise<HarborQuota | null> {
    this.enter(`getProjectQuota ${projectId}`);
    const q = this.quotas.get(projectId);
    return q ? { ...q } : null;
  }
  async listQuotas(): Promise<QuotaRow[]> {
    this.enter('listQuotas');
    return this.quotaRows;
  }
  async setQuota(quotaId: number, hardBytes: number): Promise<void> {
    this.enter(`setQuota ${quotaId} ${hardBytes}`);
    for (const q of this.quotas.values()) if (q.id === quotaId) q.hard = hardBytes;
  }
  async listImmutableRules(project: string): Promise<HarborImmutableRule[]> {
    this.enter(`listImmutableRules ${project}`);
    return this.rules.get(project) ?? [];
  }
  async createImmutableRule(project: string, input: ImmutableRuleInput): Promise<number> {
    this.enter(`createImmutableRule ${project} ${input.tagPattern} ${input.repositoryPattern}`);
    const list = this.rules.get(project) ?? [];
    if (list.some((r) => r.tag_selectors?.[0]?.pattern === input.tagPattern && r.scope_selectors?.repository?.[0]?.pattern === input.repositoryPattern)) {
      throw new AppError('conflict', 'rule conflict', { upstreamStatus: 409 });
    }
    const id = this.nextRule++;
    this.rules.set(project, [...list, rule(id, input.tagPattern, input.repositoryPattern)]);
    return id;
  }
  async deleteImmutableRule(project: string, id: number): Promise<void> {
    this.enter(`deleteImmutableRule ${project} ${id}`);
    const list = this.rules.get(project) ?? [];
    if (!list.some((r) => r.id === id)) throw new AppError('not_found', `rule ${id} not found`, { upstreamStatus: 404 });
    this.rules.set(
      project,
      list.filter((r) => r.id !== id),
    );
  }
  async getArtifact(project: string, repository: string, reference: string) {
    this.enter(`getArtifact ${project} ${repository} ${reference}`);
    return (this.artifacts.get(`${project}/${repository}`) ?? []).some((tags) => tags?.includes(reference)) ? { digest: `sha256:${'a'.repeat(64)}` } : null;
  }
  async listAllRepositories(project: string) {
    this.enter(`listAllRepositories ${project}`);
    return [...this.artifacts.keys()].filter((name) => name.startsWith(`${project}/`)).map((name, i) => ({ id: i + 1, name }));
  }
  async listArtifacts(project: string, repository: string, query: ListQuery = {}) {
    this.enter(`listArtifacts ${project} ${repository} ${query.page}/${query.pageSize}`);
    const full = `${project}/${repository}`;
    const all = this.artifacts.get(full) ?? [];
    const size = query.pageSize ?? 10;
    const page = query.page ?? 1;
    const items = all.slice((page - 1) * size, page * size).map((tags, i) => ({ id: (page - 1) * size + i + 1, tags: tags && tags.map((name) => ({ name })) }));
    return { items, total: this.totals.get(full) ?? all.length };
  }
}

/** The workspace service's lookup: `team-a` only; Team A's members and cloud admins manage it, others view it. */
const workspaces: Pick<WorkspacesService, 'lookup'> = {
  async lookup(p: Principal, name: string): Promise<{ ws: Workspace; rel: Relation }> {
    if (name !== 'team-a') throw notFound(`workspace "${name}"`);
    const rel: Relation = p.isCloudAdmin || p.projects.some((x) => x.id === teamA.id) ? 'manage' : 'view';
    const at = '2026-12-01T00:00:00.000Z';
    return { ws: { name, access: 'public', project: teamA, harborProjectId: PROJECT_ID, createdAt: at, updatedAt: at, pullAddressPrefix: `hub.example.test/${name}` }, rel };
  },
};

function build() {
  const harbor = new MemoryHarbor();
  const logged: [Level, string, Record<string, unknown> | undefined][] = [];
  const at =
    (level: Level) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      logged.push([level, msg, fields]);
    };
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  const metrics = createMetrics({ defaultMetrics: false });
  const deps: PoliciesDeps = { harbor: harbor as unknown as PoliciesDeps['harbor'], workspaces: workspaces as WorkspacesService, logger, metrics };
  const gauges = async () => ({
    withQuota: (await metrics.workspacesWithQuota.get()).values.map((v) => v.value),
    nearQuota: (await metrics.workspacesNearQuota.get()).values.map((v) => v.value),
  });
  return { svc: new WorkspacePoliciesService(deps), harbor, logged, gauges };
}

/** How a refusal reaches the caller: status, Harbor-style code and message (and an upload's bounded reason). */
async function refusal(p: Promise<unknown>): Promise<Record<string, unknown>> {
  const e = await p.then(
    () => new Error('resolved instead of refusing'),
    (x: unknown) => x,
  );
  if (!(e instanceof AppError)) throw e;
  const out: Record<string, unknown> = { ...ERROR_TABLE[e.kind], message: e.message };
  if (e instanceof ArchiveError) out.reason = e.reason;
  return out;
}

const PATTERN_RULES = 'must be a pattern of 1–255 characters: letters, digits, "_", ".", "-", "/" and the wildcards * ** ? [ ] { , }';

describe('the quota', () => {
  it('reads the limit and usage of the workspace\'s own Harbor project, in bytes, percent and Harbor\'s units', async () => {
    const { svc, harbor } = build();
    harbor.quotas.set(8, { id: 80, hard: 1, used: 1 });
    expect(await svc.quota(bob, 'team-a')).toEqual({ workspace: 'team-a', limitBytes: 4096, usedBytes: 796, usedPercent: 19.4, limit: '4.0 KiB', used: '796 B' });
    expect(harbor.calls).toEqual(['getProjectQuota 7']);
  });

  it('without a limit (-1, or no quota row) the limit, its text and the percentage are null', async () => {
    const { svc, harbor } = build();
    harbor.quotas.set(PROJECT_ID, { id: QUOTA_ID, hard: -1, used: 1610612736 });
    expect(await svc.quota(alice, 'team-a')).toEqual({ workspace: 'team-a', limitBytes: null, usedBytes: 1610612736, usedPercent: null, limit: null, used: '1.5 GiB' });
    harbor.quotas.clear();
    expect(await svc.quota(alice, 'team-a')).toEqual({ workspace: 'team-a', limitBytes: null, usedBytes: 0, usedPercent: null, limit: null, used: '0 B' });
  });

  it('a hard limit of 0 (Harbor 2.5.5 refuses to set one: project driver Validate) would still read as a limit, not as "no limit"', async () => {
    const { svc, harbor } = build();
    harbor.quotas.set(PROJECT_ID, { id: QUOTA_ID, hard: 0, used: 0 });
    expect(await svc.quota(alice, 'team-a')).toEqual({ workspace: 'team-a', limitBytes: 0, usedBytes: 0, usedPercent: null, limit: '0 B', used: '0 B' });
  });

  it('only cloud admins set it: a member of the owning project gets 403 naming the workspace, and Harbor is not asked', async () => {
    const { svc, harbor, logged } = build();
    for (const p of [alice, bob]) {
      expect(await refusal(svc.setQuota(p, 'team-a', '10GiB'))).toEqual({ status: 403, code: 'FORBIDDEN', message: 'only cloud admins can change the storage quota of workspace "team-a"' });
    }
    expect(harbor.calls).toEqual([]);
    expect(logged).toEqual([]);
  });

  it('sets a size given with a unit or in bytes on the quota row, logs it, and answers the new quota', async () => {
    const { svc, harbor, logged } = build();
    expect(await svc.setQuota(admin, 'team-a', '10GiB')).toEqual({ workspace: 'team-a', limitBytes: 10737418240, usedBytes: 796, usedPercent: 0, limit: '10.0 GiB', used: '796 B' });
    expect(await svc.setQuota(admin, 'team-a', 2048)).toEqual({ workspace: 'team-a', limitBytes: 2048, usedBytes: 796, usedPercent: 38.9, limit: '2.0 KiB', used: '796 B' });
    expect(harbor.calls).toEqual(['getProjectQuota 7', 'setQuota 70 10737418240', 'getProjectQuota 7', 'getProjectQuota 7', 'setQuota 70 2048', 'getProjectQuota 7']);
    expect(logged).toEqual([
      ['info', 'workspace quota set', { workspace: 'team-a', limit_bytes: 10737418240 }],
      ['info', 'workspace quota set', { workspace: 'team-a', limit_bytes: 2048 }],
    ]);
  });

  it('null clears it: -1 to Harbor, logged as cleared with a null limit', async () => {
    const { svc, harbor, logged } = build();
    expect(await svc.setQuota(admin, 'team-a', null)).toEqual({ workspace: 'team-a', limitBytes: null, usedBytes: 796, usedPercent: null, limit: null, used: '796 B' });
    expect(harbor.calls).toEqual(['getProjectQuota 7', 'setQuota 70 -1', 'getProjectQuota 7']);
    expect(logged).toEqual([['info', 'workspace quota cleared', { workspace: 'team-a', limit_bytes: null }]]);
  });

  it('a size that is not one is refused (400) before Harbor is asked', async () => {
    const { svc, harbor } = build();
    expect(await refusal(svc.setQuota(admin, 'team-a', 'lots'))).toEqual({
      status: 400,
      code: 'BAD_REQUEST',
      message: 'limit "lots" is not a size: use bytes or a number with KiB, MiB, GiB, TiB (1024) or KB, MB, GB, TB (1000)',
    });
    expect(harbor.calls).toEqual([]);
  });

  it('a project without a quota row: 404 naming the workspace, nothing set or logged', async () => {
    const { svc, harbor, logged } = build();
    harbor.quotas.clear();
    expect(await refusal(svc.setQuota(admin, 'team-a', '1GiB'))).toEqual({ status: 404, code: 'NOT_FOUND', message: 'quota of workspace "team-a" not found' });
    expect(harbor.calls).toEqual(['getProjectQuota 7']);
    expect(logged).toEqual([]);
  });
});

describe('the quota gauges', () => {
  const row = (projectId: number, hard: number, used: number): QuotaRow => ({ id: projectId * 10, projectId, projectName: `p${projectId}`, hard, used });

  it('count workspaces with a limit above 0, and those using strictly more than 90 % of it', async () => {
    const { svc, harbor, gauges } = build();
    harbor.quotaRows = [
      row(1, -1, 10 ** 12), // no limit, however much is used
      row(2, 0, 0), // 0: not counted as a quota
      row(3, 1000, 900), // exactly 90 %: not yet nearly full
      row(4, 1000, 901),
      row(5, 4096, 796),
      row(6, 100, 100),
    ];
    expect(await svc.sampleQuotas()).toEqual({ limited: 4, nearlyFull: 2 });
    expect(await gauges()).toEqual({ withQuota: [4], nearQuota: [2] });
    harbor.quotaRows = [];
    expect(await svc.sampleQuotas()).toEqual({ limited: 0, nearlyFull: 0 });
    expect(await gauges()).toEqual({ withQuota: [0], nearQuota: [0] });
  });

  describe('polled on a fake clock', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('polls at once, then every intervalMs, until stopped', async () => {
      const { svc, harbor, gauges } = build();
      harbor.quotaRows = [row(3, 1000, 950)];
      const polls = () => harbor.calls.filter((c) => c === 'listQuotas').length;
      try {
        svc.startMonitor(60_000);
        expect(polls()).toBe(1);
        await jest.advanceTimersByTimeAsync(0);
        expect(await gauges()).toEqual({ withQuota: [1], nearQuota: [1] });
        await jest.advanceTimersByTimeAsync(59_999);
        expect(polls()).toBe(1);
        await jest.advanceTimersByTimeAsync(1);
        expect(polls()).toBe(2);
        harbor.quotaRows = [];
        await jest.advanceTimersByTimeAsync(120_000);
        expect(polls()).toBe(4);
        expect(await gauges()).toEqual({ withQuota: [0], nearQuota: [0] });
        svc.stopMonitor();
        await jest.advanceTimersByTimeAsync(600_000);
        expect(polls()).toBe(4);
      } finally {
        svc.stopMonitor();
      }
    });

    it('logs a failed poll at debug, except Harbor refusing hubgate\'s own credentials (said elsewhere)', async () => {
      const { svc, harbor, logged } = build();
      const down = new AppError('upstream_unavailable', 'Harbor answered 503');
      const plain = Object.assign(new Error('socket hang up'), { kind: 'upstream_misconfigured' });
      try {
        harbor.failing.set('listQuotas', down);
        svc.startMonitor(1000);
        await jest.advanceTimersByTimeAsync(0);
        harbor.failing.set('listQuotas', new AppError('upstream_misconfigured', 'Harbor refused the admin credentials'));
        await jest.advanceTimersByTimeAsync(1000);
        harbor.failing.set('listQuotas', plain); // not an AppError, whatever it carries
        await jest.advanceTimersByTimeAsync(1000);
        expect(harbor.calls).toEqual(['listQuotas', 'listQuotas', 'listQuotas']);
        expect(logged).toEqual([
          ['debug', 'quota metrics poll failed', { error: down }],
          ['debug', 'quota metrics poll failed', { error: plain }],
        ]);
      } finally {
        svc.stopMonitor();
      }
    });
  });
});

describe("the upload's quota refusals", () => {
  it('checkQuota: without a quota row or a limit the new bytes are not even counted', async () => {
    const { svc, harbor } = build();
    const count = jest.fn(async () => 10 ** 15);
    harbor.quotas.clear();
    await expect(svc.checkQuota('team-a', PROJECT_ID, count)).resolves.toBeUndefined();
    harbor.quotas.set(PROJECT_ID, { id: QUOTA_ID, hard: -1, used: 10 ** 12 });
    await expect(svc.checkQuota('team-a', PROJECT_ID, count)).resolves.toBeUndefined();
    expect(count).not.toHaveBeenCalled();
    expect(harbor.calls).toEqual(['getProjectQuota 7', 'getProjectQuota 7']);
  });

  it('checkQuota: used + new bytes may reach the limit exactly; one byte more is refused (413) with the sizes', async () => {
    const { svc } = build();
    await expect(svc.checkQuota('team-a', PROJECT_ID, async () => 3300)).resolves.toBeUndefined();
    expect(await refusal(svc.checkQuota('team-a', PROJECT_ID, async () => 3301))).toEqual({
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
      reason: 'quota_exceeded',
      message: 'storage quota of workspace "team-a" exceeded: the upload needs 3.2 KiB more, 796 B of 4.0 KiB are used; nothing was tagged',
    });
  });

  it('checkQuota: a hard limit of 0 (not settable in Harbor 2.5.5) would admit nothing', async () => {
    const { svc, harbor } = build();
    harbor.quotas.set(PROJECT_ID, { id: QUOTA_ID, hard: 0, used: 0 });
    expect((await refusal(svc.checkQuota('team-a', PROJECT_ID, async () => 1))).message).toBe(
      'storage quota of workspace "team-a" exceeded: the upload needs 1 B more, 0 B of 0 B are used; nothing was tagged',
    );
  });

  it("quotaRefusal quotes what Harbor refused to add, or says a blob when Harbor's message does not say", async () => {
    const { svc } = build();
    const harborSays = 'adding 8.0 KiB of storage resource, which when updated to current usage of 796 B will exceed the configured upper limit of 4.0 KiB.';
    expect(await refusal(Promise.reject(await svc.quotaRefusal('team-a', PROJECT_ID, harborSays)))).toEqual({
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
      reason: 'quota_exceeded',
      message: 'storage quota of workspace "team-a" exceeded: Harbor refused 8.0 KiB more, 796 B of 4.0 KiB are used; nothing was tagged',
    });
    expect((await svc.quotaRefusal('team-a', PROJECT_ID, 'quota exceeded')).message).toBe(
      'storage quota of workspace "team-a" exceeded: Harbor refused a blob more, 796 B of 4.0 KiB are used; nothing was tagged',
    );
  });

  it('quotaRefusal when Harbor cannot say the quota (failing, no row, no limit): "its limit" and what is known of the usage', async () => {
    const { svc, harbor } = build();
    const msg = (used: string) => `storage quota of workspace "team-a" exceeded: Harbor refused 1.0 MiB more, ${used} of its limit are used; nothing was tagged`;
    const harborSays = 'adding 1.0 MiB of storage resource, which when updated to current usage of 0 B will exceed the configured upper limit';
    harbor.failing.set('getProjectQuota', new AppError('upstream_unavailable', 'Harbor answered 503'));
    expect((await svc.quotaRefusal('team-a', PROJECT_ID, harborSays)).message).toBe(msg('0 B'));
    harbor.failing.clear();
    harbor.quotas.set(PROJECT_ID, { id: QUOTA_ID, hard: -1, used: 2048 });
    expect((await svc.quotaRefusal('team-a', PROJECT_ID, harborSays)).message).toBe(msg('2.0 KiB'));
    harbor.quotas.clear();
    expect((await svc.quotaRefusal('team-a', PROJECT_ID, harborSays)).message).toBe(msg('0 B'));
    harbor.quotas.set(PROJECT_ID, { id: QUOTA_ID, hard: 0, used: 0 });
    expect((await svc.quotaRefusal('team-a', PROJECT_ID, harborSays)).message).toBe(
      'storage quota of workspace "team-a" exceeded: Harbor refused 1.0 MiB more, 0 B of 0 B are used; nothing was tagged',
    );
  });
});

describe('immutable rules', () => {
  it('lists them for anyone who sees the workspace; a missing selector reads as an empty pattern', async () => {
    const { svc, harbor } = build();
    harbor.rules.set('team-a', [
      rule(3, 'v*'),
      rule(4, 'rel-{1,2}.*', 'team/**', { disabled: true }),
      rule(5, 'x', 'y', { tag_selectors: null, scope_selectors: null }),
      rule(6, 'x', 'y', { tag_selectors: [], scope_selectors: {} }),
      rule(7, 'x', 'y', { scope_selectors: { repository: [] } }),
    ]);
    expect(await svc.rules(bob, 'team-a')).toEqual({
      workspace: 'team-a',
      items: [
        { id: 3, tags: 'v*', images: '**', enabled: true },
        { id: 4, tags: 'rel-{1,2}.*', images: 'team/**', enabled: false },
        { id: 5, tags: '', images: '', enabled: true },
        { id: 6, tags: '', images: '', enabled: true },
        { id: 7, tags: 'x', images: '', enabled: true },
      ],
    });
    expect(harbor.calls).toEqual(['listImmutableRules team-a']);
  });

  it('adds a rule for the versions given, of all images (`**`) unless images are given, enabled', async () => {
    const { svc, harbor } = build();
    expect(await svc.addRule(alice, 'team-a', { tags: 'v*' })).toEqual({ id: 12, tags: 'v*', images: '**', enabled: true });
    expect(await svc.addRule(admin, 'team-a', { tags: 'release-{1,2}.*', images: 'team/**' })).toEqual({ id: 13, tags: 'release-{1,2}.*', images: 'team/**', enabled: true });
    expect(harbor.calls).toEqual(['createImmutableRule team-a v* **', 'createImmutableRule team-a release-{1,2}.* team/**']);
  });

  it('patterns: 1 to 255 of letters, digits, _ . - / and the wildcards; anything else is refused (400) before Harbor is asked', async () => {
    const { svc, harbor } = build();
    const every = 'Az09_.-/*?[a-c]{x,y}';
    expect(await svc.addRule(alice, 'team-a', { tags: every, images: every })).toEqual({ id: 12, tags: every, images: every, enabled: true });
    const longest = 'v'.repeat(255);
    expect(await svc.addRule(alice, 'team-a', { tags: longest })).toEqual({ id: 13, tags: longest, images: '**', enabled: true });
    harbor.calls = [];
    const bad: [{ tags: string; images?: string }, string][] = [
      [{ tags: '' }, 'tags'],
      [{ tags: 'v'.repeat(256) }, 'tags'],
      [{ tags: 'v1 ' }, 'tags'],
      [{ tags: ' v1' }, 'tags'],
      [{ tags: 'v$1' }, 'tags'],
      [{ tags: 42 as unknown as string }, 'tags'],
      [{ tags: 'v*', images: 'app;rm' }, 'images'],
      [{ tags: 'v*', images: '' }, 'images'],
    ];
    for (const [input, what] of bad) {
      expect(await refusal(svc.addRule(alice, 'team-a', input))).toEqual({ status: 400, code: 'BAD_REQUEST', message: `${what} ${PATTERN_RULES}` });
    }
    expect(harbor.calls).toEqual([]);
  });

  it('a rule Harbor already has: 409 naming its versions and images; other Harbor errors pass through unchanged', async () => {
    const { svc, harbor } = build();
    harbor.rules.set('team-a', [rule(3, 'v*', 'app')]);
    expect(await refusal(svc.addRule(alice, 'team-a', { tags: 'v*', images: 'app' }))).toEqual({
      status: 409,
      code: 'CONFLICT',
      message: 'workspace "team-a" already has an immutable rule for versions "v*" of images "app"',
    });
    const down = new AppError('upstream_unavailable', 'Harbor answered 503');
    harbor.failing.set('createImmutableRule', down);
    await expect(svc.addRule(alice, 'team-a', { tags: 'latest' })).rejects.toBe(down);
  });

  it('deletes a rule by id; an unknown id is 404 naming it and the workspace; other Harbor errors pass through', async () => {
    const { svc, harbor } = build();
    harbor.rules.set('team-a', [rule(3, 'v*'), rule(4, 'latest')]);
    await svc.deleteRule(alice, 'team-a', 3);
    expect(harbor.rules.get('team-a')?.map((r) => r.id)).toEqual([4]);
    expect(await refusal(svc.deleteRule(alice, 'team-a', 3))).toEqual({ status: 404, code: 'NOT_FOUND', message: 'immutable rule 3 of workspace "team-a" not found' });
    const down = new AppError('upstream_unavailable', 'Harbor answered 503');
    harbor.failing.set('deleteImmutableRule', down);
    await expect(svc.deleteRule(admin, 'team-a', 4)).rejects.toBe(down);
    expect(harbor.calls).toEqual(['deleteImmutableRule team-a 3', 'deleteImmutableRule team-a 3', 'deleteImmutableRule team-a 4']);
  });

  it('only the owning project (and cloud admins) manage them: a viewer gets 403 and Harbor is not asked', async () => {
    const { svc, harbor } = build();
    harbor.rules.set('team-a', [rule(3, 'v*')]);
    const message = 'only members of the owning project can change the immutable versions of workspace "team-a"';
    expect(await refusal(svc.addRule(bob, 'team-a', { tags: 'latest' }))).toEqual({ status: 403, code: 'FORBIDDEN', message });
    expect(await refusal(svc.deleteRule(bob, 'team-a', 3))).toEqual({ status: 403, code: 'FORBIDDEN', message });
    expect(harbor.calls).toEqual([]);
  });
});

describe("the upload's immutable check", () => {
  it('looks up only protected versions (the image without `workspace/`) and refuses one that exists (409)', async () => {
    const { svc, harbor } = build();
    harbor.rules.set('team-a', [rule(3, 'v*', 'team/**')]);
    harbor.artifacts.set('team-a/team/tool', [['v1', 'dev']]);
    const targets = [
      { repository: 'team-a/team/tool', tag: 'dev' }, // not protected
      { repository: 'team-a/app', tag: 'v1' }, // not an image the rule applies to
      { repository: 'team-a/team/tool', tag: 'v2' }, // protected, new
      { repository: 'team-a/team/tool', tag: 'v1' }, // protected, exists
    ];
    expect(await refusal(svc.checkImmutable('team-a', targets))).toEqual({
      status: 409,
      code: 'CONFLICT',
      reason: 'immutable_version',
      message: 'version "team/tool:v1" of workspace "team-a" is protected by immutable rule #3 (versions "v*" of images "team/**") and cannot be overwritten; nothing was tagged',
    });
    expect(harbor.calls).toEqual(['listImmutableRules team-a', 'getArtifact team-a team/tool v2', 'getArtifact team-a team/tool v1']);
  });

  it('a protected version that does not exist yet is fine; without rules no version is even looked up', async () => {
    const { svc, harbor } = build();
    harbor.artifacts.set('team-a/app', [['v1']]);
    await expect(svc.checkImmutable('team-a', [{ repository: 'team-a/app', tag: 'v1' }])).resolves.toBeUndefined();
    harbor.rules.set('team-a', [rule(3, 'v*')]);
    await expect(svc.checkImmutable('team-a', [{ repository: 'team-a/app', tag: 'v2' }])).resolves.toBeUndefined();
    expect(harbor.calls).toEqual(['listImmutableRules team-a', 'listImmutableRules team-a', 'getArtifact team-a app v2']);
  });

  it("Harbor's own refusal names the rule, or any immutable rule when the rules cannot be read or none matches", async () => {
    const { svc, harbor } = build();
    harbor.rules.set('team-a', [rule(3, 'v*', 'team/**')]);
    const refused = async (repository: string, tag: string) => refusal(Promise.reject(await svc.immutableRefusalFor('team-a', repository, tag)));
    expect(await refused('team-a/team/tool', 'v1')).toEqual({
      status: 409,
      code: 'CONFLICT',
      reason: 'immutable_version',
      message: 'version "team/tool:v1" of workspace "team-a" is protected by immutable rule #3 (versions "v*" of images "team/**") and cannot be overwritten; nothing was tagged',
    });
    expect((await refused('team-a/app', 'v1')).message).toBe('version "app:v1" of workspace "team-a" is protected by an immutable rule and cannot be overwritten; nothing was tagged');
    harbor.failing.set('listImmutableRules', new AppError('upstream_unavailable', 'Harbor answered 503'));
    expect(await refused('team-a/team/tool', 'v1')).toEqual({
      status: 409,
      code: 'CONFLICT',
      reason: 'immutable_version',
      message: 'version "team/tool:v1" of workspace "team-a" is protected by an immutable rule and cannot be overwritten; nothing was tagged',
    });
  });

  it('ruleFor describes the first rule protecting image:tag, else undefined', async () => {
    const { svc, harbor } = build();
    harbor.rules.set('team-a', [rule(3, 'v*', 'team/**'), rule(4, 'latest'), rule(5, 'v1', 'team/tool')]);
    expect(await svc.ruleFor('team-a', 'team/tool', 'v1')).toBe('rule #3 (versions "v*" of images "team/**")');
    expect(await svc.ruleFor('team-a', 'app', 'latest')).toBe('rule #4 (versions "latest" of images "**")');
    expect(await svc.ruleFor('team-a', 'app', 'v1')).toBeUndefined();
    expect(harbor.calls).toEqual(['listImmutableRules team-a', 'listImmutableRules team-a', 'listImmutableRules team-a']);
  });
});

describe('the first protected version (before a workspace deletion)', () => {
  /** `n` untagged artifacts. */
  const untagged = (n: number): null[] => Array.from({ length: n }, () => null);

  it('without rules, or with disabled ones only, lists nothing and finds nothing', async () => {
    const { svc, harbor } = build();
    harbor.artifacts.set('team-a/app', [['v1']]);
    expect(await svc.protectedVersion('team-a')).toBeUndefined();
    harbor.rules.set('team-a', [rule(3, 'v*', '**', { disabled: true })]);
    expect(await svc.protectedVersion('team-a')).toBeUndefined();
    expect(harbor.calls).toEqual(['listImmutableRules team-a', 'listImmutableRules team-a']);
  });

  it('names the first tagged version an enabled rule protects, image by image (the image without `workspace/`)', async () => {
    const { svc, harbor } = build();
    harbor.rules.set('team-a', [rule(2, '**', '**', { disabled: true }), rule(3, 'v*', 'team/**')]);
    harbor.artifacts.set('team-a/app', [['v1'], null]);
    harbor.artifacts.set('team-a/team/tool', [null, ['dev', 'v2'], ['v3']]);
    expect(await svc.protectedVersion('team-a')).toBe('version "team/tool:v2" is protected by immutable rule #3 (versions "v*" of images "team/**")');
    expect(harbor.calls).toEqual(['listImmutableRules team-a', 'listAllRepositories team-a', 'listArtifacts team-a app 1/100', 'listArtifacts team-a team/tool 1/100']);
  });

  it('none protected: undefined, after one page of each image', async () => {
    const { svc, harbor } = build();
    harbor.rules.set('team-a', [rule(3, 'v*')]);
    harbor.artifacts.set('team-a/app', [['dev'], null, ['latest']]);
    harbor.artifacts.set('team-a/web', []);
    expect(await svc.protectedVersion('team-a')).toBeUndefined();
    expect(harbor.calls).toEqual(['listImmutableRules team-a', 'listAllRepositories team-a', 'listArtifacts team-a app 1/100', 'listArtifacts team-a web 1/100']);
  });

  it('asks the next page of 100 while the page is full and Harbor counts more', async () => {
    const { svc, harbor } = build();
    harbor.rules.set('team-a', [rule(3, 'v*')]);
    harbor.artifacts.set('team-a/app', [...untagged(230), ['v1']]);
    expect(await svc.protectedVersion('team-a')).toBe('version "app:v1" is protected by immutable rule #3 (versions "v*" of images "**")');
    expect(harbor.calls.slice(2)).toEqual(['listArtifacts team-a app 1/100', 'listArtifacts team-a app 2/100', 'listArtifacts team-a app 3/100']);
    // a full first page and one more artifact: page 2 holds it
    harbor.artifacts.set('team-a/app', [...untagged(100), ['v1']]);
    harbor.calls = [];
    expect(await svc.protectedVersion('team-a')).toBe('version "app:v1" is protected by immutable rule #3 (versions "v*" of images "**")');
    expect(harbor.calls.slice(2)).toEqual(['listArtifacts team-a app 1/100', 'listArtifacts team-a app 2/100']);
  });

  it('stops at a short page even when Harbor counts more, and after a full page when Harbor counts no more', async () => {
    const { svc, harbor } = build();
    harbor.rules.set('team-a', [rule(3, 'v*')]);
    harbor.artifacts.set('team-a/app', untagged(99));
    harbor.totals.set('team-a/app', 500); // deleted meanwhile
    harbor.artifacts.set('team-a/web', untagged(100));
    expect(await svc.protectedVersion('team-a')).toBeUndefined();
    expect(harbor.calls.slice(2)).toEqual(['listArtifacts team-a app 1/100', 'listArtifacts team-a web 1/100']);
  });

  it('reads at most 1000 pages of an image', async () => {
    const { svc, harbor } = build();
    harbor.rules.set('team-a', [rule(3, 'v*')]);
    harbor.artifacts.set('team-a/app', []);
    const page = untagged(100).map((_, i) => ({ id: i + 1, tags: null }));
    const listArtifacts = jest.fn(async () => ({ items: page, total: 10 ** 9 }));
    harbor.listArtifacts = listArtifacts as unknown as MemoryHarbor['listArtifacts'];
    expect(await svc.protectedVersion('team-a')).toBeUndefined();
    expect(listArtifacts).toHaveBeenCalledTimes(1000);
    expect(listArtifacts).toHaveBeenLastCalledWith('team-a', 'app', { page: 1000, pageSize: 100 });
  });
});
