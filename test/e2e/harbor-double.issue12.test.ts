/**
 * Replays test/fixtures/harbor/issue12 (exchanges recorded read-only on a real Harbor 2.5.5 with
 * test/harbor-double/issue12-scenario.mjs: session cookie and CSRF, the failed-login sleep and per-name lock, /v2 paths
 * through harbor-core and through Harbor's nginx) against the Harbor double playing both (`nginx: true`) with Harbor's
 * 1.5 s failed-login sleep, and requires every exchange to match. Skipped (with a message) when
 * ../shared/harbor-2.5.5/conformance or docker-registry is missing.
 */
import fs from 'fs';
import path from 'path';
import { startHarborDouble, HarborDouble } from '../harbor-double';
import { startRegistry, RunningRegistry } from '../support/registry';
import { requireFiles, requireTools } from '../support/tools';
import { runChild } from '../support/child';

const SCRIPT = path.resolve(__dirname, '../harbor-double/issue12-scenario.mjs');
const KIT = path.resolve(__dirname, '../../../shared/harbor-2.5.5/conformance/compare.mjs');
const FIXTURES = path.resolve(__dirname, '../fixtures/harbor/issue12');
const ready = [requireFiles('harbor-double issue12 exchanges', [KIT]), requireTools('harbor-double issue12 exchanges', ['docker-registry'])].every((c) => c.available);

const run = (args: string[]) => runChild(process.execPath, [SCRIPT, ...args], 60_000);

(ready ? describe : describe.skip)('Harbor double vs. the issue 12 exchanges recorded on Harbor 2.5.5 (cookies, failed logins, /v2 paths)', () => {
  let registry: RunningRegistry;
  let harbor: HarborDouble;
  const recorded = fs.readdirSync(FIXTURES).filter((f) => /^R\d+-.*\.json$/.test(f)).length;

  beforeAll(async () => {
    registry = await startRegistry();
    harbor = await startHarborDouble({ registryUrl: registry.url, nginx: true, wrongCredentialsDelayMs: 1500 });
  }, 30000);
  afterAll(async () => {
    await harbor?.close();
    await registry?.stop();
  });

  it('matches every exchange, through the core and the nginx listener, with the 1.5 s failed-login sleep', async () => {
    const { code, stdout, stderr } = await run(['--target', harbor.nginxUrl!, '--core', harbor.url, '--wrong-delay-ms', '1500']);
    const lines = stdout.trim().split('\n');
    if (code !== 0) console.error(`issue12 scenario exit ${code}\n${stdout}\n${stderr}`);
    expect(lines.filter((l) => /MISMATCH|not applicable/.test(l))).toEqual([]);
    expect(recorded).toBe(22);
    expect(lines[lines.length - 1]).toBe(`issue12 exchanges: ${recorded}/${recorded} match`);
    expect(code).toBe(0);
  }, 70000);

  it('without the sleep (the default) the timing exchanges are left out and the rest still match', async () => {
    const quick = await startHarborDouble({ registryUrl: registry.url, nginx: true });
    try {
      const { code, stdout } = await run(['--target', quick.nginxUrl!, '--core', quick.url]);
      const lines = stdout.trim().split('\n');
      expect(lines.filter((l) => /MISMATCH/.test(l))).toEqual([]);
      expect(lines.filter((l) => /not applicable/.test(l))).toHaveLength(4);
      expect(lines[lines.length - 1]).toBe(`issue12 exchanges: ${recorded - 4}/${recorded - 4} match`);
      expect(code).toBe(0);
    } finally {
      await quick.close();
    }
  }, 70000);
});
