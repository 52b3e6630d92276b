/**
 * RetentionService at the domain level: who may read and change a workspace's retention, the policy it sends to
 * Harbor (create, then update), disabling, starting runs, the run list and a run's details, and its refusals.
 *
 * Workspaces and permissions are the real WorkspacesService over the FakeHarbor (test/unit/domain/workspaces.kit);
 * Harbor's retention API is an in-memory stand-in made of the recorded real-Harbor exchanges R01–R27
 * (test/fixtures/harbor/retention): ids as a fresh install hands them out (projects 2 and 3, policy 3, executions 2
 * and 3), bodies, tasks, task log, refusals and messages are the recorded ones. Harbor's errors reach the service
 * as the Harbor adapter makes them (STYLE.md: a 400 → invalid with Harbor's message, a 5xx → 502).
 * Each test names, in a comment, the bugs planted by hand in the service that it was seen to catch.
 */
import { AppError } from '../../../src/domain/errors';
import { RETENTION_DRY_RUN_NOTE, RETENTION_GC_NOTE, RetentionService, type RetentionDeps, type RetentionPolicy } from '../../../src/domain/retention.service';
import { ERROR_TABLE } from '../../../src/http/errors';
import { createLogger } from '../../../src/observability/logger';
import type { Coordination } from '../../../src/ports/coordination';
import type { HarborPoliciesPort, HarborRetentionExecution, HarborRetentionPolicy, HarborRetentionRule, HarborRetentionTask } from '../../../src/ports/harbor-policies';
import { FakeHarbor } from '../../support/fake-harbor';
import { rejection, replayed } from '../adapters/harbor.kit';
import { admin, alice, bob, services, teamA } from '../domain/workspaces.kit';

const rec = (n: number) => replayed('retention', `R${String(n).padStart(2, '0')}`);
const harborMessage = (n: number) => (rec(n).response as { errors: { message: string }[] }).errors[0].message;

/** The workspaces of the recorded scenario: projects 2 (public here, so that team B sees it) and 3. */
const WS = 'issue13-ret';
const WS_X = 'issue13-ret-x';
/** Go's zero time: what Harbor shows as the end of a run or task not finished yet (as the Harbor double does). */
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** The recorded scenario's policy (R05, read back as R10): the newest push of `app`, pulls within 7 days, `latest` and `v2`. */
const SCENARIO: RetentionPolicy = { rules: [{ images: 'app', keepLatestPushed: 1 }, { images: '**', keepPulledWithinDays: 7 }], protected: ['latest', 'v2'], schedule: null };

/** What the adapter makes of Harbor's 400 (R04, R08, R11) and of its 500 (R12). */
const harbor400 = (message: string) => new AppError('invalid', message, { upstreamStatus: 400 });
const harbor500 = () => new AppError('upstream_unavailable', 'upstream unavailable: Harbor failed to handle the request', { upstreamStatus: 500 });

type Call = [string, ...unknown[]];

/**
 * Harbor 2.5.5's retention API in memory, on the FakeHarbor's projects: one policy per project through its
 * `metadata.retention_id` (R02, R06), a second creation refused (R08), a cron of other than 5 or 6 fields refused
 * with the policy id used up all the same (R04, R05, R11), zero values left out on reading back (R07), an unknown
 * policy id a 500 (R12), executions and tasks listed newest first with Harbor's paging (R15, R16, R20, R21).
 */
class RetentionHarbor extends FakeHarbor implements HarborPoliciesPort {
  policies = new Map<number, HarborRetentionPolicy>();
  /** Executions by policy id; tasks by execution id; task logs by `execution/task`. */
  executions = new Map<number, HarborRetentionExecution[]>();
  tasks = new Map<number, HarborRetentionTask[]>();
  logs = new Map<string, string>();
  /** The retention calls in order, with their arguments (and the retention lock, see world()). */
  log: Call[] = [];
  /** A run just started is listed at once, or (false) only a moment later. */
  listsNewRuns = true;
  /** Executions or tasks Harbor still counts but no longer lists (its count and its page are two queries). */
  staleCount = 0;
  private nextPolicy = 3; // R03 and R04 used up 1 and 2 on the recorded fresh install (R05 got 3)
  private nextExecution = 2;

  async projectLogs(): Promise<never> {
    throw new Error('not used by the retention service');
  }
  async createRetention(policy: HarborRetentionPolicy): Promise<number> {
    this.log.push(['createRetention', structuredClone(policy)]);
    await new Promise((r) => setImmediate(r)); // a round trip: other requests go on meanwhile
    const id = this.nextPolicy++;
    this.checkCron(policy.trigger.settings.cron);
    const project = [...this.projects.values()].find((p) => p.project_id === policy.scope.ref)!;
    if (project.metadata.retention_id) throw harbor400(`bad request: project ${project.project_id} already has retention policy ${project.metadata.retention_id}`);
    this.policies.set(id, { ...structuredClone(policy), id });
    project.metadata.retention_id = String(id);
    return id;
  }
  async getRetention(id: number): Promise<HarborRetentionPolicy> {
    this.log.push(['getRetention', id]);
    const p = this.policies.get(id);
    if (!p) throw harbor500();
    const readBack = ({ disabled, params, ...r }: HarborRetentionRule): HarborRetentionRule => ({ ...r, ...(disabled ? { disabled } : {}), ...(params && Object.keys(params).length ? { params } : {}) });
    return structuredClone({ ...p, rules: p.rules.map(readBack) });
  }
  async updateRetention(id: number, policy: HarborRetentionPolicy): Promise<void> {
    this.log.push(['updateRetention', id, structuredClone(policy)]);
    if (!this.policies.has(id)) throw harbor500();
    this.checkCron(policy.trigger.settings.cron);
    this.policies.set(id, { ...structuredClone(policy), id });
  }
  async startRetention(id: number, dryRun: boolean): Promise<number> {
    this.log.push(['startRetention', id, dryRun]);
    if (!this.policies.has(id)) throw harbor500();
    const e: HarborRetentionExecution = { ...(dryRun ? { dry_run: true } : {}), end_time: ZERO_TIME, id: this.nextExecution++, policy_id: id, start_time: '2026-12-04T16:51:50.105417Z', status: 'Running', trigger: 'MANUAL' };
    if (this.listsNewRuns) this.executions.set(id, [...(this.executions.get(id) ?? []), e]);
    return e.id;
  }
  async listRetentionExecutions(id: number, page: number, pageSize: number) {
    this.log.push(['listRetentionExecutions', id, page, pageSize]);
    return this.page([...(this.executions.get(id) ?? [])], page, pageSize);
  }
  async listRetentionTasks(id: number, executionId: number, page: number, pageSize: number) {
    this.log.push(['listRetentionTasks', id, executionId, page, pageSize]);
    return this.page([...(this.tasks.get(executionId) ?? [])], page, pageSize);
  }
  async retentionTaskLog(id: number, executionId: number, taskId: number): Promise<string | null> {
    this.log.push(['retentionTaskLog', id, executionId, taskId]);
    return this.logs.get(`${executionId}/${taskId}`) ?? null;
  }

  /** The recorded runs of policy 3: the dry run (execution 2: R15, R16, R17) and the real run (execution 3: R20, R21). */
  seedRecordedRuns(): void {
    this.executions.set(3, rec(20).response);
    this.tasks.set(2, rec(16).response);
    this.tasks.set(3, rec(21).response);
    this.logs.set('2/2', rec(17).response); // app's; the recording has none of web's task (3): unknown, null
    this.nextExecution = 4;
  }
  /** Calls of one operation, without its name. */
  asked(op: string): unknown[][] {
    return this.log.filter((c) => c[0] === op).map((c) => c.slice(1));
  }

  private page<T extends { id: number }>(all: T[], page: number, pageSize: number) {
    const sorted = all.sort((a, b) => b.id - a.id);
    return { items: structuredClone(sorted.slice((page - 1) * pageSize, page * pageSize)), total: sorted.length + this.staleCount };
  }
  private checkCron(cron: string): void {
    const fields = cron.split(/\s+/).filter(Boolean).length;
    if (cron && fields !== 5 && fields !== 6) throw harbor400(`invalid cron ${cron}: Expected 5 or 6 fields, found ${fields}: ${cron}`);
  }
}

/** web:1.0's digest, as the real run's deletion names it in the project log (R23). */
const WEB_DIGEST = (rec(23).response as { resource: string }[]).find((l) => l.resource.startsWith('issue13-ret/web:sha256:'))!.resource.split(':').slice(1).join(':');
/**
 * The dry run's task log of web (not recorded): R17's (app's) with web's one candidate, 1.0 pushed at 16:51:23 (R23),
 * as the table's only row, to be deleted (the pull rule alone covers web, and it was never pulled).
 */
function webLog(): string {
  const lines = (rec(17).response as string).replace(/issue13-ret\/app/g, 'issue13-ret/web').replace('Load 5 candidates', 'Load 1 candidates').split('\n');
  const old = lines.find((l) => l.includes('| old '))!;
  const row = old.replace(/sha256:[0-9a-f]{64}/, WEB_DIGEST).replace('| old    |', '| 1.0    |').replace(/16:51:14/g, '16:51:23');
  return lines.filter((l) => !l.startsWith('| sha256:') || l === old).map((l) => (l === old ? row : l)).join('\n');
}

/** Executions shaped as the recorded real run (R20), ids 1..n. */
const executions = (n: number): HarborRetentionExecution[] => Array.from({ length: n }, (_, i) => ({ ...rec(20).response[0], id: i + 1 }));
/** Tasks shaped as the recorded app task (R21) of execution `e`, one per image `img-1`..`img-n`. */
const tasksOf = (e: number, n: number): HarborRetentionTask[] => Array.from({ length: n }, (_, i) => ({ ...rec(21).response[1], id: i + 1, execution_id: e, repository: `img-${i + 1}` }));

/** The workspaces of the scenario (team A's), the service, and what it logged. */
async function world() {
  const harbor = new RetentionHarbor();
  const { workspaces, coordination } = services(harbor);
  await workspaces.create(alice, { name: WS, projectId: teamA.id, access: 'public' });
  await workspaces.create(alice, { name: WS_X, projectId: teamA.id, access: 'private' });
  const lock: Coordination = {
    shared: () => coordination.shared(),
    withLock: (name, fn, o) =>
      coordination.withLock(
        name,
        async (held) => {
          harbor.log.push(['locked', name]);
          try {
            return await fn(held);
          } finally {
            harbor.log.push(['released', name]);
          }
        },
        o,
      ),
  };
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('debug', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const deps: RetentionDeps = { harbor, workspaces, coordination: lock, logger };
  return { harbor, retention: new RetentionService(deps), deps, lines };
}

/** A refusal as the caller gets it: kind, the status and code of the error table, the message. */
async function refusal(p: Promise<unknown>) {
  const e = await rejection(p);
  if (!(e instanceof AppError)) throw e;
  return { kind: e.kind, status: ERROR_TABLE[e.kind].status, code: ERROR_TABLE[e.kind].code, message: e.message };
}
const refused = (kind: keyof typeof ERROR_TABLE, message: string) => ({ kind, ...ERROR_TABLE[kind], message });

/** R05's rules as the service writes SCENARIO: its `always` rule once per image pattern, `app` first. */
function scenarioRules(): HarborRetentionRule[] {
  const [pushed, pulled, always] = rec(5).body.rules as HarborRetentionRule[];
  const alwaysApp = { ...always, scope_selectors: { repository: [{ ...always.scope_selectors.repository[0], pattern: 'app' }] } };
  return [pushed, pulled, alwaysApp, always];
}

describe('the stand-in answers as the recorded Harbor', () => {
  // guards the stand-in, not the service: it fails with the stand-in's read-back keeping empty params, its
  // "already has" check dropped, or its cron check counting characters.
  it('create → id 3 and retention_id (R05, R06), read back without zero values (R07), second policy and bad crons refused (R04, R08, R11), unknown id 500 (R12)', async () => {
    const { harbor } = await world();
    expect((await harbor.findProject(WS))?.metadata.retention_id).toBe(rec(2).response.metadata.retention_id);
    await expect(harbor.createRetention(rec(5).body)).resolves.toBe(3);
    expect((await harbor.findProject(WS))?.metadata.retention_id).toBe(rec(6).response.metadata.retention_id);
    expect(await harbor.getRetention(3)).toEqual(rec(7).response);
    const refusedAs = (n: number) => ({ kind: 'invalid', upstreamStatus: rec(n).reply[0], message: harborMessage(n) });
    await expect(harbor.createRetention(rec(4).body)).rejects.toMatchObject(refusedAs(4));
    await expect(harbor.createRetention(rec(8).body)).rejects.toMatchObject(refusedAs(8));
    await expect(harbor.updateRetention(3, rec(11).body)).rejects.toMatchObject(refusedAs(11));
    await harbor.updateRetention(3, rec(9).body);
    expect(await harbor.getRetention(3)).toEqual(rec(10).response);
    await expect(harbor.getRetention(999999)).rejects.toMatchObject({ kind: 'upstream_unavailable', upstreamStatus: rec(12).reply[0] });
  });
});

describe('RetentionService: who may read and change', () => {
  // planted: manage() dropped from each method in turn (6 bugs); `relation !== 'manage'` → `=== 'view'` kept out
  // (equivalent: a caller who got the workspace has manage or view); the 403 message with another wording.
  it('a member of another project sees the public workspace but gets 403 on every retention method; Harbor is not asked', async () => {
    const { harbor, retention } = await world();
    const no = refused('forbidden', `only members of the owning project can manage retention of workspace "${WS}"`);
    expect(await refusal(retention.get(bob, WS))).toEqual(no);
    expect(await refusal(retention.set(bob, WS, SCENARIO))).toEqual(no);
    expect(await refusal(retention.disable(bob, WS))).toEqual(no);
    expect(await refusal(retention.start(bob, WS, true))).toEqual(no);
    expect(await refusal(retention.runs(bob, WS, 1, 10))).toEqual(no);
    expect(await refusal(retention.run(bob, WS, 2))).toEqual(no);
    expect(harbor.log).toEqual([]);
  });

  // planted: the relation check flipped (`=== 'manage'`): members and cloud admins refused.
  it('members of the owning project and cloud admins read and change it', async () => {
    const { retention } = await world();
    expect(await retention.set(alice, WS, SCENARIO)).toEqual({ ...SCENARIO, enabled: true });
    expect(await retention.get(admin, WS)).toEqual({ ...SCENARIO, enabled: true });
    await retention.disable(admin, WS);
    expect(await retention.get(alice, WS)).toEqual({ rules: [], protected: [], schedule: null, enabled: false });
  });

  // planted: checkPolicy() before manage() in set (a viewer learns why the policy is wrong).
  it('another project gets 404 for a private workspace, and 403 before any check of the policy it sends', async () => {
    const { harbor, retention } = await world();
    expect(await refusal(retention.get(bob, WS_X))).toEqual(refused('not_found', `workspace "${WS_X}" not found`));
    expect(await refusal(retention.set(bob, WS_X, SCENARIO))).toEqual(refused('not_found', `workspace "${WS_X}" not found`));
    expect(await refusal(retention.set(bob, WS, { rules: [{ images: 'app' }], protected: [], schedule: null }))).toEqual(
      refused('forbidden', `only members of the owning project can manage retention of workspace "${WS}"`),
    );
    expect(harbor.log).toEqual([]);
  });

  // planted: `if (!project) throw notFound(…)` dropped from policyId() and from write() (each: a TypeError instead).
  it('a workspace gone from Harbor after the permission check: 404 naming it, nothing written', async () => {
    const { harbor, deps } = await world();
    const retention = new RetentionService({ ...deps, workspaces: { get: async () => ({ relation: 'manage' }) as never } });
    const gone = refused('not_found', 'workspace "ghost" not found');
    expect(await refusal(retention.get(alice, 'ghost'))).toEqual(gone);
    expect(await refusal(retention.set(alice, 'ghost', SCENARIO))).toEqual(gone);
    expect(await refusal(retention.disable(alice, 'ghost'))).toEqual(gone);
    expect(await refusal(retention.start(alice, 'ghost', false))).toEqual(gone);
    expect(await refusal(retention.runs(alice, 'ghost', 1, 10))).toEqual(gone);
    expect(await refusal(retention.run(alice, 'ghost', 2))).toEqual(gone);
    expect(harbor.log).toEqual([
      ['locked', 'retention:ghost'],
      ['released', 'retention:ghost'],
    ]);
  });
});

describe('RetentionService: get and set', () => {
  // planted: `enabled: false` → true for a workspace without policy; the early return dropped (getRetention(null)).
  it('no policy yet: nothing kept, no schedule, disabled; Harbor has nothing to read', async () => {
    const { harbor, retention } = await world();
    expect(await retention.get(alice, WS)).toEqual({ rules: [], protected: [], schedule: null, enabled: false });
    expect(harbor.log).toEqual([]);
  });

  // planted: algorithm 'or' → 'and'; `cron: policy.schedule ?? ''` → `?? '* * * * *'`; scope ref project_id → 1;
  // createRetention → updateRetention(existing…) when `existing === null` (`!==`); the lock dropped from write().
  it('the first set creates Harbor\'s policy under the workspace\'s lock: the recorded body (R05) with an `always` rule per image pattern', async () => {
    const { harbor, retention } = await world();
    expect(await retention.set(alice, WS, SCENARIO)).toEqual({ ...SCENARIO, enabled: true });
    expect(harbor.log.filter((c) => c[0] !== 'getRetention')).toEqual([
      ['locked', `retention:${WS}`],
      ['createRetention', { ...rec(5).body, rules: scenarioRules() }],
      ['released', `retention:${WS}`],
    ]);
    expect((await harbor.findProject(WS))?.metadata.retention_id).toBe(rec(6).response.metadata.retention_id);
  });

  // planted: `{ ...body, id: existing }` → `body` (no id); update → create when a policy exists (R08 refusal);
  // the schedule dropped from the trigger on update.
  it('a later set updates that policy (PUT with its id): the recorded update (R09), schedule and all', async () => {
    const { harbor, retention } = await world();
    await retention.set(alice, WS, SCENARIO);
    harbor.log = [];
    const daily = { ...SCENARIO, schedule: '0 0 3 * * *' };
    expect(await retention.set(alice, WS, daily)).toEqual({ ...daily, enabled: true });
    expect(harbor.asked('createRetention')).toEqual([]);
    expect(harbor.asked('updateRetention')).toEqual([[3, { ...rec(9).body, rules: scenarioRules(), id: 3 }]]);
  });

  // planted: set returns `{ ...policy, enabled: true }` instead of reading Harbor back (duplicates and all).
  it('set answers what Harbor now holds, read back (a repeated protected pattern once)', async () => {
    const { retention } = await world();
    const repeated: RetentionPolicy = { rules: [{ images: 'team/*', keepPushedWithinDays: 30, keepLatestPulled: 2 }], protected: ['latest', 'latest'], schedule: '0 30 2 * * 0' };
    expect(await retention.set(alice, WS, repeated)).toEqual({ rules: [{ images: 'team/*', keepLatestPulled: 2, keepPushedWithinDays: 30 }], protected: ['latest'], schedule: '0 30 2 * * 0', enabled: true });
  });

  // planted: checkPolicy() dropped from set.
  it('a policy the service refuses (keeps nothing, twice the same images, protection without rules): 400, Harbor not asked', async () => {
    const { harbor, retention } = await world();
    expect(await refusal(retention.set(alice, WS, { rules: [{ images: 'app' }], protected: [], schedule: null }))).toEqual(
      refused('invalid', 'rule for images "app" keeps nothing: give keepLatestPushed, keepLatestPulled, keepPushedWithinDays or keepPulledWithinDays'),
    );
    expect(await refusal(retention.set(alice, WS, { rules: [{ images: 'a', keepLatestPushed: 1 }, { images: 'a', keepLatestPulled: 1 }], protected: [], schedule: null }))).toEqual(
      refused('invalid', 'two rules for images "a": merge them into one'),
    );
    expect(await refusal(retention.set(alice, WS, { rules: [], protected: ['latest'], schedule: null }))).toEqual(refused('invalid', 'protected versions need at least one rule'));
    expect(harbor.log).toEqual([]);
  });

  // planted: write() swallowing Harbor's error (try/catch around create and update).
  it("Harbor's refusal of a schedule reaches the caller as Harbor worded it (R04 on create, R11 on update); nothing changes", async () => {
    const { retention } = await world();
    expect(await refusal(retention.set(alice, WS, { ...SCENARIO, schedule: '* * *' }))).toEqual(refused('invalid', harborMessage(4)));
    expect(await retention.get(alice, WS)).toEqual({ rules: [], protected: [], schedule: null, enabled: false });
    await retention.set(alice, WS, SCENARIO);
    expect(await refusal(retention.set(alice, WS, { ...SCENARIO, schedule: 'every day' }))).toEqual(refused('invalid', harborMessage(11)));
    expect(await retention.get(alice, WS)).toEqual({ ...SCENARIO, enabled: true });
  });

  // planted: the lock dropped from write(): both read "no policy", the second create is refused (R08).
  it('two first sets at once: the lock makes the second one an update of the policy the first created', async () => {
    const { harbor, retention } = await world();
    const daily = { ...SCENARIO, schedule: '0 0 3 * * *' };
    await Promise.all([retention.set(alice, WS, SCENARIO), retention.set(admin, WS, daily)]);
    expect(harbor.log.filter((c) => c[0] !== 'getRetention').map((c) => c[0])).toEqual(['locked', 'createRetention', 'released', 'locked', 'updateRetention', 'released']);
    expect(await retention.get(alice, WS)).toEqual({ ...daily, enabled: true });
  });

  // planted: retentionIdOf's `^` or `$` dropped ("3x" / "x3" read as an id, Harbor answers 500); `raw &&` dropped is
  // equivalent (undefined does not match the pattern either).
  it('a retention_id that is not a number is no policy', async () => {
    const { harbor, retention } = await world();
    await retention.set(alice, WS, SCENARIO);
    for (const odd of ['3x', 'x3', '']) {
      harbor.projects.get(WS)!.metadata.retention_id = odd;
      expect(await retention.get(alice, WS)).toEqual({ rules: [], protected: [], schedule: null, enabled: false });
    }
    expect(harbor.asked('getRetention')).toEqual([[3]]);
  });

  // planted: get catching Harbor's failure (answering "disabled" instead).
  it("a policy id Harbor no longer knows: Harbor's 500 (R12) reaches the caller as 502", async () => {
    const { harbor, retention } = await world();
    harbor.projects.get(WS)!.metadata.retention_id = '999999';
    expect(await refusal(retention.get(alice, WS))).toEqual(refused('upstream_unavailable', 'upstream unavailable: Harbor failed to handle the request'));
  });
});

describe('RetentionService: disable', () => {
  // planted: the early return for "no policy" dropped (an empty policy created).
  it('without a policy: nothing is written', async () => {
    const { harbor, retention } = await world();
    await expect(retention.disable(alice, WS)).resolves.toBeUndefined();
    expect(harbor.log).toEqual([]);
    expect(harbor.projects.get(WS)!.metadata).toEqual({ public: 'true' });
  });

  // planted: disable writing a schedule; the write dropped. (Writing protected patterns is equivalent: no rule carries them.)
  it('with a policy: Harbor keeps it, emptied (no rules, no schedule); it reads back disabled and cannot run', async () => {
    const { harbor, retention } = await world();
    await retention.set(alice, WS, { ...SCENARIO, schedule: '0 0 3 * * *' });
    harbor.log = [];
    await retention.disable(alice, WS);
    expect(harbor.log.filter((c) => c[0] !== 'getRetention')).toEqual([
      ['locked', `retention:${WS}`],
      ['updateRetention', 3, { ...rec(5).body, rules: [], id: 3 }],
      ['released', `retention:${WS}`],
    ]);
    expect(await retention.get(alice, WS)).toEqual({ rules: [], protected: [], schedule: null, enabled: false });
    expect(await refusal(retention.start(alice, WS, true))).toEqual(refused('conflict', `workspace "${WS}" has no retention policy: set one first (PUT …/retention)`));
  });
});

describe('RetentionService: start', () => {
  // planted: `policy.rules.length === 0` → `!== 0`; the condition dropped (a disabled policy runs); message reworded.
  it('no policy, or a disabled one: 409 naming the workspace; Harbor starts nothing', async () => {
    const { harbor, retention } = await world();
    const none = refused('conflict', `workspace "${WS}" has no retention policy: set one first (PUT …/retention)`);
    expect(await refusal(retention.start(alice, WS, false))).toEqual(none);
    await retention.set(alice, WS, SCENARIO);
    await retention.disable(alice, WS);
    expect(await refusal(retention.start(alice, WS, false))).toEqual(none);
    expect(harbor.asked('startRetention')).toEqual([]);
  });

  // planted: dryRun passed as `true` always / negated; `if (found)` flipped; the notes swapped in noteFor();
  // finishedAt of Go's zero time kept; trigger `=== 'SCHEDULE'` flipped.
  it('passes the dry-run flag through and answers the new run as Harbor lists it', async () => {
    const { harbor, retention } = await world();
    await retention.set(alice, WS, SCENARIO);
    const running = { status: 'Running', startedAt: '2026-12-04T16:51:50.105417Z', finishedAt: null, trigger: 'manual', counts: { images: 0, total: 0, retained: 0, removed: 0 } };
    expect(await retention.start(alice, WS, true)).toEqual({ id: 2, dryRun: true, ...running, note: `${RETENTION_DRY_RUN_NOTE} ${RETENTION_GC_NOTE}` });
    expect(await retention.start(alice, WS, false)).toEqual({ id: 3, dryRun: false, ...running, note: RETENTION_GC_NOTE });
    expect(harbor.asked('startRetention')).toEqual([
      [3, true],
      [3, false],
    ]);
  });

  // planted: the log line's fields (run id, dry_run) changed; the line dropped.
  it('logs the start with workspace, run and dry-run flag', async () => {
    const { retention, lines } = await world();
    await retention.set(alice, WS, SCENARIO);
    await retention.start(alice, WS, true);
    expect(lines.filter((l) => l.msg === 'retention run started').map(({ workspace, run, dry_run }) => ({ workspace, run, dry_run }))).toEqual([{ workspace: WS, run: 2, dry_run: true }]);
  });

  describe('a run Harbor does not list yet', () => {
    beforeEach(() => {
      jest.useFakeTimers({ now: new Date('2026-12-04T16:51:37.044Z'), doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'queueMicrotask'] });
    });
    afterEach(() => jest.useRealTimers());

    // planted: `if (found)` → `if (!found)`; this answer with status 'Running', trigger 'schedule', dryRun fixed to
    // false, or the garbage-collection note alone.
    it('is answered as pending, started now, with nothing counted', async () => {
      const { harbor, retention } = await world();
      await retention.set(alice, WS, SCENARIO);
      harbor.listsNewRuns = false;
      const pending = { trigger: 'manual', status: 'Pending', startedAt: '2026-12-04T16:51:37.044Z', finishedAt: null, counts: { images: 0, total: 0, retained: 0, removed: 0 } };
      expect(await retention.start(alice, WS, true)).toEqual({ id: 2, dryRun: true, ...pending, note: `${RETENTION_DRY_RUN_NOTE} ${RETENTION_GC_NOTE}` });
      expect(await retention.start(alice, WS, false)).toEqual({ id: 3, dryRun: false, ...pending, note: RETENTION_GC_NOTE });
    });
  });
});

describe('RetentionService: the runs', () => {
  async function recorded() {
    const w = await world();
    await w.retention.set(alice, WS, SCENARIO);
    w.harbor.seedRecordedRuns();
    w.harbor.log = [];
    return w;
  }
  const realRun = { id: 3, dryRun: false, trigger: 'manual', status: 'Success', startedAt: '2026-12-04T16:51:41.624233Z', finishedAt: '2026-12-04T16:51:42Z', counts: { images: 2, total: 6, retained: 4, removed: 2 }, note: RETENTION_GC_NOTE };
  const dryRun = { id: 2, dryRun: true, trigger: 'manual', status: 'Success', startedAt: '2026-12-04T16:51:37.044724Z', finishedAt: '2026-12-04T16:51:41Z', counts: { images: 2, total: 6, retained: 4, removed: 2 }, note: `${RETENTION_DRY_RUN_NOTE} ${RETENTION_GC_NOTE}` };

  // planted: page or pageSize not echoed (1, 20); the early return dropped (listRetentionExecutions(null…)).
  it('no policy: an empty page with the garbage-collection note; Harbor not asked', async () => {
    const { harbor, retention } = await world();
    expect(await retention.runs(alice, WS, 3, 5)).toEqual({ items: [], total: 0, page: 3, pageSize: 5, note: RETENTION_GC_NOTE });
    expect(harbor.log).toEqual([]);
  });

  // planted: removed = total + retained; images = tasks.length + 1; retained summed from `total`; dryRun
  // `dry_run === false`; every run's note without the dry-run part; the list's note with it.
  it('the recorded runs (R20 with the tasks R16, R21): newest first, counts summed over the tasks, notes per kind', async () => {
    const { retention } = await recorded();
    expect(await retention.runs(alice, WS, 1, 10)).toEqual({ items: [realRun, dryRun], total: 2, page: 1, pageSize: 10, note: RETENTION_GC_NOTE });
  });

  // planted: Harbor asked for page 1 / another size; the total of the page instead of Harbor's.
  it("Harbor's paging: page and size passed on, Harbor's total", async () => {
    const { harbor, retention } = await recorded();
    expect(await retention.runs(alice, WS, 2, 1)).toEqual({ items: [dryRun], total: 2, page: 2, pageSize: 1, note: RETENTION_GC_NOTE });
    expect(harbor.asked('listRetentionExecutions')).toEqual([[3, 2, 1]]);
    expect(harbor.asked('listRetentionTasks')).toEqual([[3, 2, 1, 100]]);
  });

  // planted: trigger `=== 'SCHEDULE'` → `!==`; the `0001-` test dropped from summary() and from taskView(); an absent
  // end_time read (`!e.end_time.startsWith`: a TypeError); a task's absent start_time left undefined (`?? null` dropped).
  it('a scheduled run still going: trigger schedule, no end (absent or Go\'s zero time), nor for its tasks', async () => {
    const { harbor, retention } = await recorded();
    const scheduled: HarborRetentionExecution = { ...rec(20).response[0], id: 4, trigger: 'SCHEDULE', status: 'Running', end_time: ZERO_TIME };
    const noEnd: HarborRetentionExecution = { ...scheduled, id: 5, end_time: undefined };
    harbor.executions.set(3, [...rec(20).response, scheduled, noEnd]);
    const going = { dryRun: false, trigger: 'schedule', status: 'Running', startedAt: '2026-12-04T16:51:41.624233Z', finishedAt: null, counts: { images: 0, total: 0, retained: 0, removed: 0 }, note: RETENTION_GC_NOTE };
    expect((await retention.runs(alice, WS, 1, 2)).items).toEqual([
      { id: 5, ...going },
      { id: 4, ...going },
    ]);
    const [web, app] = rec(21).response as HarborRetentionTask[];
    harbor.tasks.set(4, [
      { ...web, id: 7, execution_id: 4, status: 'Pending', start_time: undefined, end_time: undefined, total: 0, retained: 0 },
      { ...app, id: 6, execution_id: 4, status: 'Running', end_time: ZERO_TIME, total: 0, retained: 0 },
    ]);
    expect((await retention.run(alice, WS, 4)).tasks).toEqual([
      { image: 'app', status: 'Running', total: 0, retained: 0, removed: 0, startedAt: '2026-12-04T16:51:41Z', finishedAt: null },
      { image: 'web', status: 'Pending', total: 0, retained: 0, removed: 0, startedAt: null, finishedAt: null },
    ]);
  });

  // planted: tasks sorted the other way / not sorted; a task's removed = retained - total; its startedAt dropped;
  // the log read for the wrong task (execution id for task id); parseTaskLog given the run id as image.
  it('a recorded dry run in detail (R15, R16, R17): its tasks by image, what a real run would remove', async () => {
    const { harbor, retention } = await recorded();
    harbor.logs.set('2/3', webLog());
    const t = { status: 'Success', startedAt: '2026-12-04T16:51:37Z', finishedAt: '2026-12-04T16:51:41Z' };
    const old = { image: 'app', digest: 'sha256:2e1243d24f13652c7145af6bfb8b70122823a684313114e82b8651f555684359', tags: ['old'], pushedAt: '2026-12-04T16:51:14.000Z', pulledAt: null };
    const web = { image: 'web', digest: WEB_DIGEST, tags: ['1.0'], pushedAt: '2026-12-04T16:51:23.000Z', pulledAt: null };
    expect(await retention.run(alice, WS, 2)).toEqual({
      ...dryRun,
      tasks: [
        { image: 'app', total: 5, retained: 4, removed: 1, ...t },
        { image: 'web', total: 1, retained: 0, removed: 1, ...t },
      ],
      removedVersions: [web, old],
    });
    expect(harbor.asked('retentionTaskLog')).toEqual([
      [3, 2, 3],
      [3, 2, 2],
    ]);
  });

  // planted: `if (log)` dropped (parseTaskLog(null) throws); the skip of tasks that removed nothing dropped or flipped.
  it("only tasks that removed something have their log read; a log Harbor no longer has adds nothing", async () => {
    const { harbor, retention } = await recorded();
    const [web, app] = rec(16).response as HarborRetentionTask[];
    harbor.tasks.set(2, [{ ...web, retained: 1 }, app]);
    const detail = await retention.run(alice, WS, 2);
    expect(detail.removedVersions.map((v) => `${v.image}:${v.tags.join(',')}`)).toEqual(['app:old']);
    expect(harbor.asked('retentionTaskLog')).toEqual([[3, 2, 2]]);
    harbor.tasks.set(2, [web]);
    harbor.log = [];
    expect((await retention.run(alice, WS, 2)).removedVersions).toEqual([]);
    expect(harbor.asked('retentionTaskLog')).toEqual([[3, 2, 3]]);
  });

  // planted: `!e` dropped (a TypeError for an unknown run); the 404 message reworded; runs looked up without a
  // policy (`id === null ? null :` dropped). (`id === null ||` dropped is equivalent: without a policy there is no
  // run to find.)
  it('an unknown run, or any run without a policy: 404 naming run and workspace', async () => {
    const { retention } = await recorded();
    expect(await refusal(retention.run(alice, WS, 99))).toEqual(refused('not_found', `retention run 99 of workspace "${WS}" not found`));
    const { harbor: none, retention: fresh } = await world();
    expect(await refusal(fresh.run(alice, WS, 2))).toEqual(refused('not_found', `retention run 2 of workspace "${WS}" not found`));
    // without a policy Harbor is not asked for runs of policy "null" (real Harbor: a 4xx/5xx, not this 404)
    expect(none.log).toEqual([]);
  });
});

describe('RetentionService: walking Harbor\'s pages', () => {
  async function withPolicy() {
    const w = await world();
    await w.retention.set(alice, WS, SCENARIO);
    w.harbor.log = [];
    return w;
  }
  const pagesAsked = (h: RetentionHarbor, op: string) => h.asked(op).map((c) => c[c.length - 2]);

  // planted: `items.length < 100` → `<= 100` (stops after a full page); pages of another size.
  it('a run on the third page of 100 is found, the pages asked in order', async () => {
    const { harbor, retention } = await withPolicy();
    harbor.executions.set(3, executions(250));
    expect((await retention.run(alice, WS, 30)).id).toBe(30);
    expect(harbor.asked('listRetentionExecutions')).toEqual([
      [3, 1, 100],
      [3, 2, 100],
      [3, 3, 100],
    ]);
  });

  // planted: `page * 100 >= total` → `>` (an empty third page asked); `items.every(e => e.id < runId)` dropped (the
  // pages walked for a run newer than all); `items.length < 100` dropped (a stale total walks on). `every` → `some`
  // is equivalent on Harbor's newest-first list.
  it('stops at the last page, at a page older than the run, and at a short page whatever total Harbor counts', async () => {
    const { harbor, retention } = await withPolicy();
    harbor.executions.set(3, executions(200));
    expect(await refusal(retention.run(alice, WS, 9999))).toEqual(refused('not_found', `retention run 9999 of workspace "${WS}" not found`));
    expect(pagesAsked(harbor, 'listRetentionExecutions')).toEqual([1]);
    harbor.executions.set(3, executions(200).filter((e) => e.id !== 50));
    harbor.executions.get(3)!.push({ ...executions(1)[0], id: 201 });
    harbor.log = [];
    expect(await refusal(retention.run(alice, WS, 50))).toEqual(refused('not_found', `retention run 50 of workspace "${WS}" not found`));
    expect(pagesAsked(harbor, 'listRetentionExecutions')).toEqual([1, 2]);
    harbor.executions.set(3, executions(150));
    harbor.staleCount = 100;
    harbor.log = [];
    expect(await refusal(retention.run(alice, WS, 0))).toEqual(refused('not_found', `retention run 0 of workspace "${WS}" not found`));
    expect(pagesAsked(harbor, 'listRetentionExecutions')).toEqual([1, 2]);
  });

  // planted: MAX_RUN_PAGES 50 → 49 or 51; `page <= MAX_RUN_PAGES` → `<`.
  it('looks at most 50 pages back: the run on page 50 is found, the one on page 51 is not', async () => {
    const { harbor, retention } = await withPolicy();
    harbor.executions.set(3, executions(5100));
    expect((await retention.run(alice, WS, 101)).id).toBe(101);
    expect(pagesAsked(harbor, 'listRetentionExecutions')).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    harbor.log = [];
    expect(await refusal(retention.run(alice, WS, 100))).toEqual(refused('not_found', `retention run 100 of workspace "${WS}" not found`));
    expect(pagesAsked(harbor, 'listRetentionExecutions')).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  // planted: tasks(): `items.length < 100` → `<= 100`; `out.length >= total` → `>` (an empty page asked);
  // `items.length < 100` dropped (a stale total walks on); pages of 50.
  it("a run's tasks are read page by page of 100 until Harbor's total or a short page", async () => {
    const { harbor, retention } = await withPolicy();
    harbor.executions.set(3, executions(2));
    harbor.tasks.set(2, tasksOf(2, 250));
    harbor.tasks.set(1, tasksOf(1, 200));
    const [newer, older] = (await retention.runs(alice, WS, 1, 10)).items;
    expect([newer.counts, older.counts]).toEqual([
      { images: 250, total: 1250, retained: 1000, removed: 250 },
      { images: 200, total: 1000, retained: 800, removed: 200 },
    ]);
    // the runs are summarised side by side: their calls interleave
    const pagesOf = (run: number) => harbor.asked('listRetentionTasks').filter((c) => c[1] === run);
    expect(pagesOf(2)).toEqual([
      [3, 2, 1, 100],
      [3, 2, 2, 100],
      [3, 2, 3, 100],
    ]);
    expect(pagesOf(1)).toEqual([
      [3, 1, 1, 100],
      [3, 1, 2, 100],
    ]);
    harbor.tasks.set(1, tasksOf(1, 150));
    harbor.staleCount = 100;
    harbor.log = [];
    expect((await retention.run(alice, WS, 1)).tasks.length).toBe(150);
    expect(harbor.asked('listRetentionTasks')).toEqual([
      [3, 1, 1, 100],
      [3, 1, 2, 100],
    ]);
  });

  // planted: MAX_RUN_PAGES 50 → 49 or 51; tasks()' `page <= MAX_RUN_PAGES` → `<`.
  it('reads at most 50 pages of tasks (5000)', async () => {
    const { harbor, retention } = await withPolicy();
    harbor.executions.set(3, executions(1));
    harbor.tasks.set(1, tasksOf(1, 5100).map((t) => ({ ...t, total: 1, retained: 1 })));
    expect((await retention.run(alice, WS, 1)).counts).toEqual({ images: 5000, total: 5000, retained: 5000, removed: 0 });
    expect(pagesAsked(harbor, 'listRetentionTasks')).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });
});
