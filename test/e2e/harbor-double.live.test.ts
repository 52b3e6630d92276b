/**
 * Replays test/fixtures/harbor/live (exchanges recorded on a real Harbor 2.5.5 with
 * test/harbor-double/live-scenario.mjs: content negotiation, digest references through harbor-core) against the
 * Harbor double and requires every applicable one to match, with the shared conformance tool's comparison.
 * Skipped (with a message) when ../shared/harbor-2.5.5/conformance or docker-registry is missing.
 */
import path from 'path';
import { startHarborDouble, HarborDouble } from '../harbor-double';
import { startRegistry, RunningRegistry } from '../support/registry';
import { requireFiles, requireTools } from '../support/tools';
import { runChild } from '../support/child';

const SCRIPT = path.resolve(__dirname, '../harbor-double/live-scenario.mjs');
const KIT = path.resolve(__dirname, '../../../shared/harbor-2.5.5/conformance/compare.mjs');
const ready = [requireFiles('harbor-double live exchanges', [KIT]), requireTools('harbor-double live exchanges', ['docker-registry'])].every((c) => c.available);

const run = (args: string[]) => runChild(process.execPath, [SCRIPT, ...args], 60_000);

(ready ? describe : describe.skip)('Harbor double vs. exchanges recorded live on Harbor 2.5.5 (negotiation, digest references)', () => {
  let registry: RunningRegistry;
  let harbor: HarborDouble;

  beforeAll(async () => {
    registry = await startRegistry();
    harbor = await startHarborDouble({ registryUrl: registry.url, gcDelayMs: 0 });
  }, 30000);
  afterAll(async () => {
    await harbor?.close();
    await registry?.stop();
  });

  it('matches every exchange that applies to a double playing harbor-core', async () => {
    const { code, stdout, stderr } = await run(['--target', harbor.url]);
    const lines = stdout.trim().split('\n');
    if (code !== 0) console.error(`live scenario exit ${code}\n${stdout}\n${stderr}`);
    expect(lines.filter((l) => /MISMATCH/.test(l))).toEqual([]);
    // the two nginx-only exchanges (Harbor's nginx decodes %3A) are all that may be left out
    expect(lines.filter((l) => /not applicable/.test(l))).toHaveLength(2);
    expect(lines[lines.length - 1]).toBe('live exchanges: 16/16 match');
    expect(code).toBe(0);
  }, 70000);

  it('matches all of them, the nginx ones included, with the double playing Harbor nginx and core (nginx: true)', async () => {
    const both = await startHarborDouble({ registryUrl: registry.url, gcDelayMs: 0, nginx: true });
    try {
      const { code, stdout, stderr } = await run(['--target', both.nginxUrl!, '--core', both.url]);
      const lines = stdout.trim().split('\n');
      if (code !== 0) console.error(`live scenario exit ${code}\n${stdout}\n${stderr}`);
      expect(lines.filter((l) => /MISMATCH|not applicable/.test(l))).toEqual([]);
      expect(lines[lines.length - 1]).toBe('live exchanges: 18/18 match');
      expect(code).toBe(0);
    } finally {
      await both.close();
    }
  }, 70000);
});
