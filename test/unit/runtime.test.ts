import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { MALLOC_ENV, mallocSettings, tuneGarbageCollector } from '../../src/runtime';

const root = path.resolve(__dirname, '../..');

/**
 * Runs a node child that grows its old generation to ~120 MB (the point where V8 starts incremental marking by
 * default) and returns the number of incremental-marking GC events it observed.
 */
function incrementalMarkingEvents(tune: boolean, extraArgs: string[] = []): number {
  const script = `
    ${tune ? `require(${JSON.stringify(path.join(root, 'src/runtime.ts'))}).tuneGarbageCollector();` : ''}
    const { PerformanceObserver, constants } = require('node:perf_hooks');
    let incremental = 0;
    new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) incremental++; }).observe({ entryTypes: ['gc'] });
    const keep = [];
    let rounds = 0;
    const step = () => {
      for (let k = 0; k < 20000; k++) keep.push({ k, s: 'v' + k + rounds, a: [k, rounds] });
      if (++rounds < 60) setImmediate(step); else setTimeout(() => console.log(JSON.stringify({ incremental, kept: keep.length })), 100);
    };
    step();
  `;
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', ...extraArgs, '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { incremental: number }).incremental;
}

describe('tuneGarbageCollector', () => {
  it('leaves an explicit command-line choice alone', () => {
    expect(tuneGarbageCollector(['--incremental-marking'])).toBe(false);
    expect(tuneGarbageCollector(['--no-incremental-marking'])).toBe(false);
    expect(tuneGarbageCollector(['--no_incremental_marking'])).toBe(false);
  });

  it('turns incremental marking off otherwise (V8 then never marks incrementally), and an explicit flag wins', () => {
    // The workload does mark incrementally under V8's default ...
    expect(incrementalMarkingEvents(false)).toBeGreaterThan(0);
    // ... and never once tuned ...
    expect(incrementalMarkingEvents(true)).toBe(0);
    // ... unless the operator started node with --incremental-marking: the function must not undo that.
    expect(incrementalMarkingEvents(true, ['--incremental-marking'])).toBeGreaterThan(0);
  }, 120_000);
});

describe('glibc malloc settings (MALLOC_ENV)', () => {
  const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');
  const entries = Object.entries(MALLOC_ENV);

  it('keeps 64 MiB at the top of the heap', () => {
    expect(MALLOC_ENV).toEqual({ MALLOC_TOP_PAD_: '67108864' });
  });

  it('is in the environment of every way hubgate is started', () => {
    const dockerfile = read('Dockerfile');
    const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    const unit = read('deploy/hubgate.service');
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start;
    const up = read('scripts/up.sh');
    const launch = up.indexOf('exec node');
    for (const [name, value] of entries) {
      // The image's runtime stage (Helm and docker compose run the image) ...
      expect(runtimeStage).toMatch(new RegExp(`^ENV [^]*?\\b${name}=${value}\\b`, 'm'));
      // ... the systemd unit, npm start (an operator's own value wins), and the quick start, before it launches.
      expect(unit).toMatch(new RegExp(`^Environment=${name}=${value}$`, 'm'));
      expect(start).toBe(`${name}=\${${name}:-${value}} node dist/src/main.js`);
      const exported = up.search(new RegExp(`^export ${name}="\\$\\{${name}:-${value}\\}"$`, 'm'));
      expect(exported).toBeGreaterThan(-1);
      expect(exported).toBeLessThan(launch);
    }
  });

  it("reports each variable as hubgate's value, an operator's value or unset", () => {
    expect(mallocSettings({ MALLOC_TOP_PAD_: '67108864' })).toEqual({ MALLOC_TOP_PAD_: '67108864' });
    expect(mallocSettings({ MALLOC_TOP_PAD_: '1048576' })).toEqual({ MALLOC_TOP_PAD_: "1048576 (operator's value)" });
    expect(mallocSettings({})).toEqual({ MALLOC_TOP_PAD_: 'unset' });
  });
});

describe('collectGarbageIfGrown', () => {
  /** In a child: makes ~`mb` MB of old-generation garbage, then asks with `budget` MB; what it answered and what was collected. */
  function ask(mb: number, budgets: number[]): { answers: boolean[]; majorGcs: number; freedMb: number } {
    const script = `
      const rt = require(${JSON.stringify(path.join(root, 'src/runtime.ts'))});
      rt.tuneGarbageCollector();
      const v8 = require('node:v8');
      const { PerformanceObserver, constants } = require('node:perf_hooks');
      let majorGcs = 0;
      new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorGcs++; }).observe({ entryTypes: ['gc'] });
      // Promoted garbage: kept across scavenges, then dropped.
      let keep = [];
      for (let k = 0; k < ${mb} * 10000; k++) keep.push({ k, s: 'v' + k, a: [k] });
      keep = null;
      setTimeout(() => {
        const before = v8.getHeapStatistics().used_heap_size;
        const gcsBefore = majorGcs;
        const answers = ${JSON.stringify(budgets)}.map((b) => rt.collectGarbageIfGrown(b * 1024 * 1024));
        const freedMb = (before - v8.getHeapStatistics().used_heap_size) / 1048576;
        setTimeout(() => console.log(JSON.stringify({ answers, majorGcs: majorGcs - gcsBefore, freedMb })), 50);
      }, 50);
    `;
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { answers: boolean[]; majorGcs: number; freedMb: number };
  }

  it('collects once the heap grew past the budget since the last collection, and not again until it grows again', () => {
    const r = ask(10, [16, 16]);
    expect(r.answers).toEqual([true, false]);
    expect(r.majorGcs).toBe(1);
    expect(r.freedMb).toBeGreaterThan(16);
  });

  it('leaves a heap that grew less than the budget alone', () => {
    const r = ask(10, [4096]);
    expect(r.answers).toEqual([false]);
    expect(r.majorGcs).toBe(0);
  });
});

/**
 * The same two functions in this process, with V8's answers stubbed (no flag is really set, no collection really
 * runs): which flag is set, when a collection is asked for, and how `gc` is obtained once and remembered.
 */
describe('in-process: flags set and collections asked for', () => {
  type RuntimeModule = typeof import('../../src/runtime');
  /** A fresh runtime module (no collection asked for yet, `gc` not looked up yet). */
  const freshRuntime = (): RuntimeModule => {
    let mod: RuntimeModule | undefined;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require('../../src/runtime') as RuntimeModule;
    });
    return mod!;
  };
  let used: number;
  let setFlags: jest.SpyInstance;
  let lookup: jest.SpyInstance;
  const collected: number[] = [];
  const fakeGc = () => {
    collected.push(used);
    used = 10;
  };

  beforeEach(() => {
    used = 0;
    collected.length = 0;
    setFlags = jest.spyOn(v8, 'setFlagsFromString').mockImplementation(() => undefined);
    jest.spyOn(v8, 'getHeapStatistics').mockImplementation(() => ({ used_heap_size: used }) as v8.HeapInfo);
    lookup = jest.spyOn(vm, 'runInNewContext').mockImplementation(() => fakeGc);
  });
  afterEach(() => jest.restoreAllMocks());

  it('tuneGarbageCollector turns incremental marking off when node was started without a choice', () => {
    expect(freshRuntime().tuneGarbageCollector(['--max-old-space-size=512', '--incremental-marking-x'])).toBe(true);
    expect(setFlags.mock.calls).toEqual([['--no-incremental-marking']]);
    setFlags.mockClear();
    expect(freshRuntime().tuneGarbageCollector(['--no-incremental-marking'])).toBe(false);
    expect(setFlags).not.toHaveBeenCalled();
  });

  it('tuneGarbageCollector: a choice anywhere among other options is left alone; an option that only ends in the flag is none', () => {
    const rt = freshRuntime();
    expect(rt.tuneGarbageCollector(['--max-old-space-size=512', '--incremental-marking', '--enable-source-maps'])).toBe(false);
    expect(setFlags).not.toHaveBeenCalled();
    expect(rt.tuneGarbageCollector(['--title=hubgate--no-incremental-marking'])).toBe(true);
    expect(setFlags.mock.calls).toEqual([['--no-incremental-marking']]);
  });

  it('MALLOC_ENV as the module defines it: 64 MiB at the top of the heap, the one variable mallocSettings reports', () => {
    const rt = freshRuntime();
    expect(rt.MALLOC_ENV).toEqual({ MALLOC_TOP_PAD_: '67108864' });
    expect(rt.mallocSettings({})).toEqual({ MALLOC_TOP_PAD_: 'unset' });
  });

  it('collects when the heap grew by more than the budget since the last collection, then measures from what is left', () => {
    const rt = freshRuntime();
    used = 100;
    expect(rt.collectGarbageIfGrown(100)).toBe(false); // grew by exactly the budget
    expect(collected).toEqual([]);
    used = 101;
    expect(rt.collectGarbageIfGrown(100)).toBe(true);
    expect(collected).toEqual([101]);
    // gc looked up once: the flag exposing it, then `gc` read in a fresh context
    expect(setFlags.mock.calls).toEqual([['--expose-gc']]);
    expect(lookup.mock.calls).toEqual([['gc']]);
    // 10 live after the collection: 110 is a growth of 100, 111 is over it
    used = 110;
    expect(rt.collectGarbageIfGrown(100)).toBe(false);
    used = 111;
    expect(rt.collectGarbageIfGrown(100)).toBe(true);
    expect(collected).toEqual([101, 111]);
    expect(lookup).toHaveBeenCalledTimes(1);
    expect(setFlags).toHaveBeenCalledTimes(1);
  });

  it('answers false, and stops asking V8, when `gc` cannot be had (not a function, or the lookup throws)', () => {
    lookup.mockImplementation(() => 'not a function');
    const rt = freshRuntime();
    used = 1000;
    expect(rt.collectGarbageIfGrown(1)).toBe(false);
    expect(rt.collectGarbageIfGrown(1)).toBe(false);
    expect(lookup).toHaveBeenCalledTimes(1);
    expect(collected).toEqual([]);

    lookup.mockReset().mockImplementation(() => {
      throw new ReferenceError('gc is not defined');
    });
    const other = freshRuntime();
    expect(other.collectGarbageIfGrown(1)).toBe(false);
    expect(other.collectGarbageIfGrown(1)).toBe(false);
    expect(lookup).toHaveBeenCalledTimes(1);
    expect(collected).toEqual([]);
  });
});
