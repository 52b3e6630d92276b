import { GcService, parseGcLog, type GcDeps } from '../../../src/domain/gc.service';
import { AppError } from '../../../src/domain/errors';
import type { Principal } from '../../../src/domain/principal';
import type { HarborGcRun } from '../../../src/ports/harbor';
import { createMetrics, type Metrics } from '../../../src/observability/metrics';
import { createInProcessCoordination } from '../../../adapters/redis/redis.coordination';
import { FakeHarbor } from '../../support/fake-harbor';
import { refusal } from '../../support/app-refusal';
import { capturedLogger, metricValue, type LogEntry } from '../../support/observed';

/**
 * GcService against the fake Harbor, without HTTP: how a Harbor run becomes hubgate's view (parameters, trigger,
 * safety window, note), what `get` does when the log cannot be read, the log masking when the member's workspaces
 * cannot be listed, the start fallback when Harbor does not show the new run yet, and the gauges and their monitor.
 */

const admin: Principal = { userId: 'u-root', username: 'root', isCloudAdmin: true, projects: [] };
const alice: Principal = { userId: 'u-alice', username: 'alice', isCloudAdmin: false, projects: [{ id: 'proj-a', name: 'Team A', department: 'd' }] };

const STARTED = '2026-11-26T13:53:30Z';
const ENDED = '2026-11-26T13:55:00Z';
const FREED_LOG = '6 blobs and 3 manifests are actually deleted\nThe GC job actual frees up 3 MB space.';
const DRY_LOG = '6 blobs and 3 manifests eligible for deletion\nThe GC could free up 5 MB space, the size is a rough estimation.';

/** A Harbor 2.5.5 GC run as `GET /system/gc` lists it; the fields a test cares about override the rest. */
function harborRun(id: number, o: Partial<HarborGcRun> = {}): HarborGcRun {
  return {
    id,
    job_name: 'GARBAGE_COLLECTION',
    job_kind: 'MANUAL',
    job_parameters: JSON.stringify({ delete_untagged: true, dry_run: false, time_window: 2 }),
    job_status: 'Success',
    schedule: { type: 'Manual' },
    creation_time: STARTED,
    update_time: ENDED,
    ...o,
  };
}

interface Setup {
  harbor: FakeHarbor;
  gc: GcService;
  metrics: Metrics;
  logs: LogEntry[];
}

function setup(o: Partial<GcDeps> & { noMetrics?: boolean } = {}): Setup {
  const harbor = new FakeHarbor();
  const { logger, entries } = capturedLogger();
  const metrics = createMetrics({ defaultMetrics: false });
  const gc = new GcService({
    harbor,
    coordination: createInProcessCoordination(),
    logger,
    metrics: o.noMetrics ? undefined : metrics,
    allowMembers: false,
    defaultWindowHours: 5,
    ...o,
  });
  return {
    harbor,
    gc,
    metrics,
    get logs() {
      return entries();
    },
  };
}

const gauge = (metrics: Metrics, name: string, status?: string) => metricValue(metrics, name, status === undefined ? {} : { status });

/** Lets the promises the service started without waiting for them (metrics refresh) run to the end. */
const settle = () => new Promise((r) => setImmediate(r));

describe('parseGcLog: either line of a pair alone', () => {
  it.each([
    ['the freed space alone', 'The GC job actual frees up 2 MB space.', { kind: 'freed', freedBytes: 2 * 1024 * 1024, blobs: null, manifests: null }],
    ['the deleted counts alone', '4 blobs and 1 manifests are actually deleted', { kind: 'freed', freedBytes: null, blobs: 4, manifests: 1 }],
    ['what could be freed alone', 'The GC could free up 7 MB space', { kind: 'would_free', freedBytes: 7 * 1024 * 1024, blobs: null, manifests: null }],
    ['the eligible counts alone', '5 blobs and 2 manifests eligible for deletion', { kind: 'would_free', freedBytes: null, blobs: 5, manifests: 2 }],
    ['numbers of several digits (freed)', 'The GC job actual frees up 1234 MB space. 5678 blobs and 91 manifests are actually deleted', { kind: 'freed', freedBytes: 1234 * 1024 * 1024, blobs: 5678, manifests: 91 }],
    ['numbers of several digits (dry run)', 'The GC could free up 4321 MB space. 876 blobs and 54 manifests eligible for deletion', { kind: 'would_free', freedBytes: 4321 * 1024 * 1024, blobs: 876, manifests: 54 }],
  ])('%s', (_what, log, expected) => {
    expect(parseGcLog(log)).toEqual(expected);
  });
});

describe('GcService: a Harbor run as hubgate shows it', () => {
  it.each([
    ['parameters that are not JSON', { job_parameters: '{not json' }, { dryRun: false, deleteUntagged: false, safetyWindowHours: 5 }],
    ['no parameters at all', { job_parameters: undefined }, { dryRun: false, deleteUntagged: false, safetyWindowHours: 5 }],
    ['flags that are not booleans, a window that is text', { job_parameters: '{"dry_run":"true","delete_untagged":1,"time_window":"3"}' }, { dryRun: false, deleteUntagged: false, safetyWindowHours: 5 }],
    ['a negative window', { job_parameters: '{"dry_run":true,"delete_untagged":true,"time_window":-1}' }, { dryRun: true, deleteUntagged: true, safetyWindowHours: 5 }],
    ['a window of 0 hours', { job_parameters: '{"dry_run":false,"delete_untagged":true,"time_window":0}' }, { dryRun: false, deleteUntagged: true, safetyWindowHours: 0 }],
  ])('%s', async (_what, o, expected) => {
    const { harbor, gc } = setup();
    harbor.gcRuns.push(harborRun(1, o));
    const { items } = await gc.history(admin, 1, 10);
    expect(items).toEqual([{ id: 1, status: 'Success', trigger: 'manual', startedAt: STARTED, updatedAt: ENDED, finishedAt: ENDED, ...expected }]);
  });

  it.each([
    ['MANUAL', { type: 'Manual' }, 'manual'],
    ['MANUAL', undefined, 'manual'],
    ['SCHEDULE', { type: 'Manual' }, 'manual'],
    ['SCHEDULE', { type: 'Daily', cron: '0 0 0 * * *' }, 'schedule'],
    ['SCHEDULE', undefined, 'schedule'],
  ])('job_kind %s with schedule %j: trigger %s', async (kind, schedule, trigger) => {
    const { harbor, gc } = setup();
    harbor.gcRuns.push(harborRun(1, { job_kind: kind, schedule }));
    expect((await gc.history(admin, 1, 10)).items[0].trigger).toBe(trigger);
  });

  it.each([
    ['Pending', null, true],
    ['Running', null, true],
    ['Scheduled', null, true],
    ['Error', ENDED, false],
    ['Stopped', ENDED, false],
  ])('status %s: finishedAt %s, running %s', async (status, finishedAt, running) => {
    const { harbor, gc } = setup();
    harbor.gcRuns.push(harborRun(1, { job_status: status }));
    const h = await gc.history(admin, 1, 10);
    expect({ finishedAt: h.items[0].finishedAt, running: h.running }).toEqual({ finishedAt, running });
  });

  it('the note follows the window of the newest run: none, 1 hour (singular), the default when there is no run', async () => {
    const { harbor, gc } = setup();
    expect(await gc.history(admin, 1, 10)).toEqual({
      items: [],
      total: 0,
      page: 1,
      pageSize: 10,
      running: false,
      note:
        'Harbor only collects what was deleted more than 5 hours before the garbage collection starts (its safety window for pushes in progress). ' +
        'Images deleted more recently stay on disk until a later run: a run that frees nothing right after a delete has not failed.',
    });
    harbor.gcRuns.push(harborRun(1, { job_parameters: '{"time_window":1}' }));
    expect((await gc.history(admin, 1, 10)).note).toMatch(/^Harbor only collects what was deleted more than 1 hour before the garbage/);
    harbor.gcRuns.push(harborRun(2, { job_parameters: '{"time_window":0}' }));
    expect((await gc.history(admin, 1, 10)).note).toBe('This Harbor collects deleted images at once (no safety window).');
  });

  it('page_size 100 is accepted, 101 refused before Harbor is asked', async () => {
    const { harbor, gc } = setup();
    expect((await gc.history(admin, 1, 100)).pageSize).toBe(100);
    harbor.calls.length = 0;
    expect(await refusal(gc.history(admin, 1, 101))).toEqual({ kind: 'invalid', message: 'page_size must be at most 100' });
    expect(harbor.calls).toEqual([]);
  });

  it('members are refused everywhere unless allowed, and then only with a project', async () => {
    const { gc } = setup();
    const forbidden = { kind: 'forbidden', message: 'garbage collection is platform-wide: cloud administrators only' };
    expect(await refusal(gc.history(alice, 1, 10))).toEqual(forbidden);
    expect(await refusal(gc.log(alice, 1))).toEqual(forbidden);
    const allowed = setup({ allowMembers: true });
    expect((await allowed.gc.history(alice, 1, 10)).total).toBe(0);
    expect(await refusal(allowed.gc.history({ ...alice, projects: [] }, 1, 10))).toEqual(forbidden);
  });
});

describe('GcService.get', () => {
  it('a finished run whose log cannot be read: no result, a warning naming the run', async () => {
    const s = setup();
    s.harbor.gcRuns.push(harborRun(4));
    s.harbor.failNext('getGcLog', () => new AppError('upstream_unavailable', 'log store down'));
    const detail = await s.gc.get(admin, 4);
    expect(detail).toMatchObject({ id: 4, status: 'Success', finishedAt: ENDED, result: null });
    expect(s.logs.filter((l) => l.level === 'warn')).toEqual([
      { time: expect.any(String), level: 'warn', msg: 'could not read a GC log', gc_id: 4, error: expect.objectContaining({ message: 'log store down' }) },
    ]);
  });

  it('a finished run: the log summary as result (dry run: would_free); a log without one: no result', async () => {
    const { harbor, gc } = setup();
    harbor.gcRuns.push(harborRun(1, { job_parameters: '{"dry_run":true,"time_window":1}' }), harborRun(2));
    harbor.gcLogs.set(1, DRY_LOG);
    harbor.gcLogs.set(2, 'start to run gc in job.');
    expect(await gc.get(admin, 1)).toMatchObject({ dryRun: true, safetyWindowHours: 1, result: { kind: 'would_free', freedBytes: 5 * 1024 * 1024, blobs: 6, manifests: 3 } });
    expect((await gc.get(admin, 1)).note).toMatch(/more than 1 hour before/);
    expect((await gc.get(admin, 2)).result).toBeNull();
  });

  it('a running run: its log is not asked for', async () => {
    const { harbor, gc } = setup();
    harbor.gcRuns.push(harborRun(1, { job_status: 'Running' }));
    harbor.gcLogs.set(1, FREED_LOG);
    expect((await gc.get(admin, 1)).result).toBeNull();
    expect(harbor.calls).toEqual(['getGc']);
  });

  it('an unknown run: 404 naming it', async () => {
    const { gc } = setup();
    expect(await refusal(gc.get(admin, 9))).toEqual({ kind: 'not_found', message: 'garbage collection 9 not found' });
    expect(await refusal(gc.log(admin, 9))).toEqual({ kind: 'not_found', message: 'garbage collection 9 not found' });
  });
});

describe('GcService.log', () => {
  const LOG = [
    'ID-1 RepositoryName-a-private/app Digest-sha256:1',
    'ID-2 RepositoryName-b-private/secret Digest-sha256:2',
    '[1/2] delete the manifest with registry v2 API: a-private/app, application/vnd.oci.image.manifest.v1+json, sha256:1',
  ].join('\n');

  it('a member, when the workspaces they may see cannot be listed: every repository name is hidden', async () => {
    const { harbor, gc } = setup({ allowMembers: true });
    harbor.gcRuns.push(harborRun(1));
    harbor.gcLogs.set(1, LOG);
    expect(await gc.log(alice, 1)).toBe(
      ['ID-1 RepositoryName-<hidden> Digest-sha256:1', 'ID-2 RepositoryName-<hidden> Digest-sha256:2', '[1/2] delete the manifest with registry v2 API: <hidden>, application/vnd.oci.image.manifest.v1+json, sha256:1'].join('\n'),
    );
  });

  it('a cloud admin reads it unchanged (the member\'s lookup is not asked)', async () => {
    let asked = 0;
    const { harbor, gc } = setup({
      allowMembers: true,
      visibleWorkspaces: async () => {
        asked++;
        return new Set(['a-private']);
      },
    });
    harbor.gcRuns.push(harborRun(1));
    harbor.gcLogs.set(1, LOG);
    expect(await gc.log(admin, 1)).toBe(LOG);
    expect(asked).toBe(0);
    expect(await gc.log(alice, 1)).toBe(LOG.replace('RepositoryName-b-private/secret', 'RepositoryName-<hidden>'));
    expect(asked).toBe(1);
  });
});

describe('GcService.start', () => {
  afterEach(() => jest.useRealTimers());

  it('Harbor does not show the new run yet: a Pending run with the requested flags, the default window, started now', async () => {
    // only the clock is frozen; timers stay real (the start lock waits on them)
    jest.useFakeTimers({ now: Date.parse('2026-12-01T10:00:00.000Z'), doNotFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask', 'hrtime', 'performance'] });
    const s = setup();
    s.harbor.failNext('getGc', () => new AppError('upstream_unavailable', 'not yet'));
    const detail = await s.gc.start(admin, { dryRun: true, deleteUntagged: false });
    expect(detail).toEqual({
      id: 1,
      status: 'Pending',
      dryRun: true,
      deleteUntagged: false,
      trigger: 'manual',
      safetyWindowHours: 5,
      startedAt: '2026-12-01T10:00:00.000Z',
      updatedAt: '2026-12-01T10:00:00.000Z',
      finishedAt: null,
      result: null,
      note: expect.stringMatching(/^Harbor only collects what was deleted more than 5 hours before/),
    });
    expect(s.logs.filter((l) => l.msg === 'garbage collection started')).toEqual([
      { time: '2026-12-01T10:00:00.000Z', level: 'info', msg: 'garbage collection started', gc_id: 1, dry_run: true, user: 'u-root' },
    ]);
  });

  it("a start holds the cross-replica lock 'gc:start' (the same name on every replica), waiting at most 5 s for it", async () => {
    const inner = createInProcessCoordination();
    const locks: unknown[][] = [];
    const coordination = { ...inner, withLock: ((key: string, fn: () => Promise<unknown>, o?: unknown) => {
      locks.push([key, o]);
      return inner.withLock(key, fn, o as never);
    }) as typeof inner.withLock };
    const s = setup({ coordination });
    await s.gc.start(admin, { dryRun: false, deleteUntagged: false });
    expect(locks).toEqual([['gc:start', { waitMs: 5_000 }]]);
  });

  it('the gauge refresh after a start fails: the start still answers, nothing is left unhandled', async () => {
    const { harbor, gc } = setup();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const list = harbor.listGcHistory.bind(harbor);
      let lists = 0;
      harbor.listGcHistory = async (page, size) => {
        if (++lists === 2) throw new AppError('upstream_unavailable', 'Harbor down');
        return list(page, size);
      };
      expect((await gc.start(admin, { dryRun: false, deleteUntagged: true })).status).toBe('Running');
      await settle();
      await settle();
      expect(lists).toBe(2);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });

  it('a pending run blocks a start: 409 naming it and its state; Harbor is not asked to start', async () => {
    const { harbor, gc } = setup();
    harbor.gcRuns.push(harborRun(7, { job_status: 'Pending' }));
    expect(await refusal(gc.start(admin, { dryRun: false, deleteUntagged: false }))).toEqual({
      kind: 'conflict',
      message: 'garbage collection 7 is still pending; wait for it to finish',
    });
    expect(harbor.calls).toEqual(['listGcHistory']);
  });
});

describe('GcService gauges', () => {
  it('from the newest run: start time, one status set, success time, freed bytes from its log', async () => {
    const { harbor, gc, metrics } = setup();
    harbor.gcRuns.push(harborRun(1));
    harbor.gcLogs.set(1, FREED_LOG);
    await gc.refreshMetrics();
    expect(await gauge(metrics, 'hubgate_gc_last_run_timestamp_seconds')).toBe(1795701210);
    expect(await gauge(metrics, 'hubgate_gc_last_success_timestamp_seconds')).toBe(1795701300);
    expect(await gauge(metrics, 'hubgate_gc_last_freed_bytes')).toBe(3 * 1024 * 1024);
    for (const s of ['Pending', 'Running', 'Error', 'Stopped']) expect(await gauge(metrics, 'hubgate_gc_last_status', s)).toBe(0);
    expect(await gauge(metrics, 'hubgate_gc_last_status', 'Success')).toBe(1);
  });

  it('the log of a successful run is read once, however often the gauges are refreshed', async () => {
    const { harbor, gc } = setup();
    harbor.gcRuns.push(harborRun(1));
    harbor.gcLogs.set(1, FREED_LOG);
    await gc.refreshMetrics();
    await gc.refreshMetrics();
    expect(harbor.calls).toEqual(['listGcHistory', 'getGcLog', 'listGcHistory']);
  });

  it.each([
    ['a dry run (nothing freed)', { job_parameters: '{"dry_run":true}' }, DRY_LOG, []],
    ['a log that says what could be freed', {}, DRY_LOG, ['getGcLog', 'getGcLog']],
    ['a log without a summary', {}, 'success to run gc in job.', ['getGcLog', 'getGcLog']],
    ['a log with counts but no space', {}, '6 blobs and 3 manifests are actually deleted', ['getGcLog', 'getGcLog']],
  ])('%s: freed bytes keep their value (the log asked again next time unless a dry run)', async (_what, o, log, logCalls) => {
    const { harbor, gc, metrics } = setup();
    metrics.gcLastFreedBytes.set(42);
    harbor.gcRuns.push(harborRun(1, o));
    harbor.gcLogs.set(1, log);
    await gc.refreshMetrics();
    await gc.refreshMetrics();
    expect(await gauge(metrics, 'hubgate_gc_last_freed_bytes')).toBe(42);
    expect(harbor.calls.filter((c) => c === 'getGcLog')).toEqual(logCalls);
    expect(await gauge(metrics, 'hubgate_gc_last_success_timestamp_seconds')).toBe(1795701300);
  });

  it('a log that cannot be read: freed bytes keep their value, the next refresh tries again', async () => {
    const { harbor, gc, metrics } = setup();
    metrics.gcLastFreedBytes.set(42);
    harbor.gcRuns.push(harborRun(1));
    harbor.gcLogs.set(1, FREED_LOG);
    harbor.failNext('getGcLog');
    await gc.refreshMetrics();
    expect(await gauge(metrics, 'hubgate_gc_last_freed_bytes')).toBe(42);
    await gc.refreshMetrics();
    expect(await gauge(metrics, 'hubgate_gc_last_freed_bytes')).toBe(3 * 1024 * 1024);
  });

  it('a run that has not succeeded: no success time, no log; times Harbor writes unreadably are skipped', async () => {
    const { harbor, gc, metrics } = setup();
    metrics.gcLastRunTimestamp.set(11);
    metrics.gcLastSuccessTimestamp.set(12);
    harbor.gcRuns.push(harborRun(1, { job_status: 'Error', creation_time: 'yesterday' }));
    await gc.refreshMetrics();
    expect(await gauge(metrics, 'hubgate_gc_last_run_timestamp_seconds')).toBe(11);
    expect(await gauge(metrics, 'hubgate_gc_last_success_timestamp_seconds')).toBe(12);
    expect(await gauge(metrics, 'hubgate_gc_last_status', 'Error')).toBe(1);
    expect(harbor.calls).toEqual(['listGcHistory']);
    harbor.gcRuns.push(harborRun(2, { update_time: '' }));
    await gc.refreshMetrics();
    expect(await gauge(metrics, 'hubgate_gc_last_run_timestamp_seconds')).toBe(1795701210);
    expect(await gauge(metrics, 'hubgate_gc_last_success_timestamp_seconds')).toBe(12);
  });

  it('no run yet, or no metrics configured: nothing is set and no log is read', async () => {
    const { gc, metrics, harbor } = setup();
    metrics.gcLastRunTimestamp.set(11);
    await gc.refreshMetrics();
    expect(await gauge(metrics, 'hubgate_gc_last_run_timestamp_seconds')).toBe(11);
    const bare = setup({ noMetrics: true });
    bare.harbor.gcRuns.push(harborRun(1));
    await bare.gc.refreshMetrics();
    expect(bare.harbor.calls).toEqual(['listGcHistory']);
    expect(harbor.calls).toEqual(['listGcHistory']);
  });

  it('the history\'s first page refreshes the gauges from its newest run; other pages do not', async () => {
    const { harbor, gc, metrics } = setup();
    harbor.gcRuns.push(harborRun(1, { job_status: 'Error' }), harborRun(2, { job_status: 'Running' }));
    await gc.history(admin, 2, 1);
    await settle();
    expect((await metrics.gcLastStatus.get()).values).toEqual([]);
    await gc.history(admin, 1, 1);
    await settle();
    expect(await gauge(metrics, 'hubgate_gc_last_status', 'Running')).toBe(1);
    expect(await gauge(metrics, 'hubgate_gc_last_status', 'Error')).toBe(0);
  });

  describe('the monitor', () => {
    afterEach(() => jest.useRealTimers());

    it('polls at once and then every interval until stopped', async () => {
      jest.useFakeTimers();
      const { harbor, gc, metrics } = setup();
      harbor.gcRuns.push(harborRun(1, { job_status: 'Running' }));
      gc.startMonitor(30_000);
      await jest.advanceTimersByTimeAsync(0);
      expect(harbor.calls).toEqual(['listGcHistory']);
      expect(await gauge(metrics, 'hubgate_gc_last_status', 'Running')).toBe(1);
      harbor.gcRuns[0].job_status = 'Stopped';
      await jest.advanceTimersByTimeAsync(29_999);
      expect(harbor.calls).toEqual(['listGcHistory']);
      await jest.advanceTimersByTimeAsync(1);
      expect(harbor.calls).toEqual(['listGcHistory', 'listGcHistory']);
      expect(await gauge(metrics, 'hubgate_gc_last_status', 'Stopped')).toBe(1);
      gc.stopMonitor();
      await jest.advanceTimersByTimeAsync(60_000);
      expect(harbor.calls).toEqual(['listGcHistory', 'listGcHistory']);
    });

    it('a failed poll is logged at debug level, except when Harbor refuses hubgate\'s identity (readiness says that)', async () => {
      jest.useFakeTimers();
      const s = setup();
      s.harbor.failNext('listGcHistory', () => new AppError('upstream_misconfigured', 'admin refused'));
      s.harbor.failNext('listGcHistory', () => new AppError('upstream_unavailable', 'Harbor down'));
      s.gc.startMonitor(1000);
      await jest.advanceTimersByTimeAsync(0);
      expect(s.logs).toEqual([]);
      await jest.advanceTimersByTimeAsync(1000);
      expect(s.logs).toEqual([{ time: expect.any(String), level: 'debug', msg: 'GC metrics poll failed', error: expect.objectContaining({ message: 'Harbor down' }) }]);
      s.gc.stopMonitor();
    });

    it('stopping a monitor that never started does nothing', () => {
      const { gc } = setup();
      expect(() => gc.stopMonitor()).not.toThrow();
    });
  });
});
