/**
 * Replays test/fixtures/harbor/retention (tag retention and project logs, recorded on a real Harbor 2.5.5 with
 * test/harbor-double/retention-scenario.mjs) against the Harbor double in front of a real docker-registry and
 * requires every exchange to match: policies, dry run and run, executions, tasks with their counts, the task log
 * table, what a run deletes and how the project log names it (`harbor-jobservice`). Skipped (with a message) when
 * ../shared/harbor-2.5.5/conformance or docker-registry is missing.
 */
import path from 'path';
import { startHarborDouble, HarborDouble } from '../harbor-double';
import { startRegistry, RunningRegistry } from '../support/registry';
import { requireFiles, requireTools } from '../support/tools';
import { runChild } from '../support/child';

const SCRIPT = path.resolve(__dirname, '../harbor-double/retention-scenario.mjs');
const KIT = path.resolve(__dirname, '../../../shared/harbor-2.5.5/conformance/compare.mjs');
const ready = [requireFiles('harbor-double retention exchanges', [KIT]), requireTools('harbor-double retention exchanges', ['docker-registry'])].every((c) => c.available);

const run = (args: string[]) => runChild(process.execPath, [SCRIPT, ...args], 90_000);

(ready ? describe : describe.skip)('Harbor double vs. tag retention and project logs recorded on Harbor 2.5.5', () => {
  let registry: RunningRegistry;
  let harbor: HarborDouble;

  beforeAll(async () => {
    registry = await startRegistry();
    // pull times written at once (Harbor's ~10 s flush is what --pull-wait-ms waits out on the real one)
    harbor = await startHarborDouble({ registryUrl: registry.url, pullFlushMs: 0 });
  }, 30000);
  afterAll(async () => {
    await harbor?.close();
    await registry?.stop();
  });

  it('matches all 27 exchanges', async () => {
    const { code, stdout, stderr } = await run(['--target', harbor.url, '--pull-wait-ms', '0']);
    const lines = stdout.trim().split('\n');
    if (code !== 0) console.error(`retention scenario exit ${code}\n${stdout}\n${stderr}`);
    expect(lines.filter((l) => /MISMATCH/.test(l))).toEqual([]);
    expect(lines[lines.length - 1]).toBe('retention exchanges: 27/27 match');
    expect(code).toBe(0);
  }, 100000);
});
