/**
 * The rules of the workspace activity feed (src/domain/activity.service.ts), one at a time: which audit operation is
 * which, how a resource name splits, Harbor's `q` for each filter, who may read the feed, when the console-action
 * store is asked and for which window, which console call an `admin` row is credited to (the window around the call,
 * the image, the nearest call, the narrowest on a tie) and how long robot → project lookups are reused.
 * Every service call runs inside its own test: Stryker's perTest coverage credits only what an `it()` body executes.
 */
import { operationOf, parseResource, type ActivityActor } from '../../../src/domain/activity.service';
import type { ConsoleAction } from '../../../src/ports/console-actions';
import type { HarborAuditLog } from '../../../src/ports/harbor-policies';
import { activityKit, auditRow, owner, principal, type ActivityKitOptions } from './activity.kit';

const firstPage = { page: 1, pageSize: 20 };
const T = Date.parse('2026-12-04T16:00:10Z');
const at = (offsetMs: number) => new Date(T + offsetMs).toISOString();

/** Who a row is shown as: the console user's name, `harbor:<name>`, `project:<name>` or `retention`. */
const who = (a: ActivityActor): string => {
  if (a.kind === 'user') return a.username;
  if (a.kind === 'harbor') return `harbor:${a.name}`;
  if (a.kind === 'project') return `project:${a.projectName}`;
  return a.kind;
};

const shownAs = async (rows: HarborAuditLog[], actions: ConsoleAction[], o?: ActivityKitOptions) => {
  const { service, recent } = activityKit(rows, actions, o);
  const page = await service.list(principal, 'ws', firstPage);
  return { actors: page.items.map((i) => who(i.actor)), recent };
};

describe('operations: what an audit row did', () => {
  it('on the project itself: create → workspace_create, delete → workspace_delete, anything else → other', () => {
    expect(['create', 'delete', 'pull', 'update'].map((operation) => operationOf({ operation, resource_type: 'project' }))).toEqual([
      'workspace_create',
      'workspace_delete',
      'other',
      'other',
    ]);
  });

  it('a create: of an artifact → push, of a tag → tag, of anything else (a repository) → other', () => {
    expect(['artifact', 'tag', 'repository'].map((type) => operationOf({ operation: 'create', resource_type: type }))).toEqual(['push', 'tag', 'other']);
  });

  it('a pull → pull, a delete of any resource → delete, an operation Harbor may add → other', () => {
    const rows = [
      ['pull', 'artifact'],
      ['delete', 'artifact'],
      ['delete', 'tag'],
      ['delete', 'repository'],
      ['update', 'artifact'],
    ];
    expect(rows.map(([operation, type]) => operationOf({ operation, resource_type: type }))).toEqual(['pull', 'delete', 'delete', 'delete', 'other']);
  });
});

describe('resource names: image, version, digest', () => {
  it('a digest after the colon is the digest, not a version', () => {
    const digest = `sha256:${'c'.repeat(64)}`;
    expect(parseResource('ws', `ws/team/app:${digest}`)).toEqual({ image: 'team/app', version: null, digest });
  });

  it('the reference is what follows the first colon, even right after the workspace: `ws/:v1` is version v1 of an unnamed image', () => {
    expect(parseResource('ws', 'ws/:v1')).toEqual({ image: '', version: 'v1', digest: null });
  });
});

describe("filters → Harbor's q", () => {
  const qFor = async (filters: { image?: string; from?: string; to?: string }) => {
    const { service, calls } = activityKit([], []);
    await service.list(principal, 'ws', { ...filters, ...firstPage });
    return calls.map((c) => c.q);
  };

  it('only `from`: op_time up to the end of 9999, in seconds (milliseconds dropped)', async () => {
    expect(await qFor({ from: '2026-12-01T08:15:30.250Z' })).toEqual(['op_time=[2026-12-01 08:15:30~9999-12-31 23:59:59]']);
  });

  it('only `to`: op_time from the epoch', async () => {
    expect(await qFor({ to: '2026-12-02T12:30:00Z' })).toEqual(['op_time=[1970-01-01 00:00:00~2026-12-02 12:30:00]']);
  });

  it('an image without a version: every version of it (resource=~ws/app)', async () => {
    expect(await qFor({ image: 'app' })).toEqual(['resource=~ws/app']);
  });
});

describe('who may read the feed', () => {
  it("a caller who only sees the workspace (another project's public one): 403 naming it, Harbor not asked", async () => {
    const { service, calls } = activityKit([], [], { relation: 'view' });
    await expect(service.list(principal, 'team-b-apps', firstPage)).rejects.toMatchObject({
      kind: 'forbidden',
      message: 'only members of the owning project can see the activity of workspace "team-b-apps"',
    });
    expect(calls).toEqual([]);
  });
});

describe('the console-action store', () => {
  it("is asked, for a page of admin rows, for the calls that ended from 5 s before the page's oldest row", async () => {
    const rows = [auditRow(1, at(10_000), 'create', 'ws/app:v2', 'admin'), auditRow(2, at(0), 'create', 'ws/app:v1', 'admin'), auditRow(3, at(20_000), 'delete', 'ws/app:v0', 'admin')];
    const { recent } = await shownAs(rows, []);
    expect(recent).toEqual([['ws', T - 5000]]);
  });

  it("looks back from the oldest admin row only, and a row whose time does not parse leaves the others' window intact", async () => {
    const rows = [
      auditRow(1, at(10_000), 'create', 'ws/app:v2', 'admin'),
      auditRow(2, 'not a time', 'create', 'ws/app:v1', 'admin'),
      auditRow(3, at(-60_000), 'pull', 'ws/app:v0', 'robot$hg-proj-a'),
    ];
    const { recent } = await shownAs(rows, []);
    expect(recent).toEqual([['ws', T + 10_000 - 5000]]);
  });

  it('is not asked for a page without an admin row (a robot, retention, a Harbor user)', async () => {
    const rows = [auditRow(1, at(0), 'pull', 'ws/app:v1', 'robot$hg-proj-a'), auditRow(2, at(0), 'delete', 'ws/app:v0', 'harbor-jobservice'), auditRow(3, at(0), 'delete', 'ws/app:v1', 'bob')];
    expect(await shownAs(rows, [])).toEqual({ actors: ['project:Team A', 'retention', 'harbor:bob'], recent: [] });
  });
});

describe('which console call an admin row is credited to', () => {
  /** A call by `user` from T+startMs to T+endMs, on `image` or (without) the whole workspace. */
  const call = (user: string, startMs: number, endMs: number, image?: string): ConsoleAction => ({
    start: T + startMs,
    end: T + endMs,
    userId: `u-${user}`,
    username: user,
    action: 'image_versions_delete',
    requestId: `r-${user}`,
    ...(image === undefined ? {} : { image }),
  });
  const adminRow = (offsetMs: number, resource = 'ws/app:v1', type = 'artifact') => auditRow(1, at(offsetMs), 'delete', resource, 'admin', type);

  it('a row from 2 s before the call started to 5 s after it ended is the call’s; a millisecond further is not', async () => {
    const rows = [adminRow(-2000), adminRow(-2001), adminRow(5300), adminRow(5301)];
    expect((await shownAs(rows, [call('carol', 0, 300)])).actors).toEqual(['carol', 'harbor:admin', 'carol', 'harbor:admin']);
  });

  it('an admin row whose time does not parse is credited to no call, while a row in the same page is', async () => {
    const rows = [adminRow(0), auditRow(2, 'not a time', 'delete', 'ws/app:v1', 'admin')];
    expect((await shownAs(rows, [call('carol', -100, 100)])).actors).toEqual(['carol', 'harbor:admin']);
  });

  it("only the admin's rows: a Harbor user acting during a console call stays himself", async () => {
    const rows = [adminRow(100), auditRow(2, at(100), 'delete', 'ws/app:v1', 'bob')];
    expect((await shownAs(rows, [call('carol', 0, 300)])).actors).toEqual(['carol', 'harbor:bob']);
  });

  it('a row on no image (the workspace itself) can be a call on any image; a row on another image cannot', async () => {
    const rows = [adminRow(100, 'ws', 'project'), adminRow(100, 'ws/web:v1')];
    expect((await shownAs(rows, [call('carol', 0, 300, 'app')])).actors).toEqual(['carol', 'harbor:admin']);
  });

  it.each([
    ['a call in flight beats one that ended 1 s before the row', [call('dave', -3000, -1000), call('carol', -100, 100)]],
    ['a call that ended 1 s before the row beats one that started 1.5 s after it', [call('carol', -3000, -1000), call('dave', 1500, 2000)]],
    ['a call that started 1 s after the row beats one that ended 1.5 s before it', [call('carol', 1000, 2000), call('dave', -3000, -1500)]],
    ['of two calls in flight, the narrower (listed second)', [call('dave', -1000, 1000), call('carol', -100, 50)]],
    ['of two calls in flight, the narrower (listed first)', [call('carol', -100, 50), call('dave', -1000, 1000)]],
    ['of two calls alike, the first listed (the store lists the newest first)', [call('carol', -100, 100), call('dave', -100, 100)]],
    ['a nearer wide call beats a farther narrow one', [call('carol', -1000, 1000), call('dave', -1500, -1400)]],
  ])('%s', async (_name, actions) => {
    expect((await shownAs([adminRow(0)], actions)).actors).toEqual(['carol']);
  });
});

describe('robot → project lookups', () => {
  /** The project name a robot row shows at T0+ms, on a lookup whose n-th read names the project "Team A (read n)". */
  const projectNamesOver = (ownersTtlMs?: number) => {
    const clock = { now: 1_000_000 };
    let reads = 0;
    const { service } = activityKit([auditRow(1, at(0), 'pull', 'ws/app:v1', 'robot$hg-proj-a')], [], {
      now: () => clock.now,
      ownersTtlMs,
      ownerRecords: async () => {
        reads += 1;
        return [{ ...owner, project: { ...owner.project, name: `Team A (read ${reads})` } }];
      },
    });
    return async (ms: number) => {
      clock.now = 1_000_000 + ms;
      return who((await service.list(principal, 'ws', firstPage)).items[0].actor);
    };
  };

  it('are reused for 30 s by default, then read again', async () => {
    const nameAt = projectNamesOver();
    const names = [await nameAt(0), await nameAt(29_999), await nameAt(30_000), await nameAt(59_999), await nameAt(60_000)];
    expect(names).toEqual(['project:Team A (read 1)', 'project:Team A (read 1)', 'project:Team A (read 2)', 'project:Team A (read 2)', 'project:Team A (read 3)']);
  });

  it('are reused for ownersTtlMs when it is given', async () => {
    const nameAt = projectNamesOver(1000);
    const names = [await nameAt(0), await nameAt(999), await nameAt(1000)];
    expect(names).toEqual(['project:Team A (read 1)', 'project:Team A (read 1)', 'project:Team A (read 2)']);
  });
});
