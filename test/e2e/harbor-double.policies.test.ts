/**
 * Replays test/fixtures/harbor/live-policies (quota and immutable tag rule exchanges recorded on a real Harbor
 * 2.5.5 with test/harbor-double/live-policies.mjs) against the Harbor double and requires every one to match, with
 * the shared conformance tool's comparison. Skipped (with a message) when ../shared/harbor-2.5.5/conformance or
 * docker-registry is missing.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startHarborDouble, HarborDouble } from '../harbor-double';
import { startRegistry, RunningRegistry } from '../support/registry';
import { requireFiles, requireTools } from '../support/tools';
import { runChild } from '../support/child';

const SCRIPT = path.resolve(__dirname, '../harbor-double/live-policies.mjs');
const KIT = path.resolve(__dirname, '../../../shared/harbor-2.5.5/conformance/compare.mjs');
const FIXTURES = path.resolve(__dirname, '../fixtures/harbor/live-policies');
const ready = [requireFiles('harbor-double policy exchanges', [KIT]), requireTools('harbor-double policy exchanges', ['docker-registry'])].every((c) => c.available);

const run = (args: string[]) => runChild(process.execPath, [SCRIPT, ...args], 60_000);

(ready ? describe : describe.skip)('Harbor double vs. quota and immutable-rule exchanges recorded on Harbor 2.5.5', () => {
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

  it('matches every recorded exchange', async () => {
    const recorded = fs.readdirSync(FIXTURES).filter((f) => /^P\d+-.*\.json$/.test(f)).length;
    const { code, stdout, stderr } = await run(['--target', harbor.url]);
    const lines = stdout.trim().split('\n');
    if (code !== 0) console.error(`policy scenario exit ${code}\n${stdout}\n${stderr}`);
    expect(lines.filter((l) => /MISMATCH/.test(l))).toEqual([]);
    expect(recorded).toBeGreaterThanOrEqual(41);
    expect(lines[lines.length - 1]).toBe(`policy exchanges: ${recorded}/${recorded} match`);
    expect(code).toBe(0);
  }, 70000);

  it('the replay can fail: one recorded answer altered is a mismatch, named and counted, exit 1', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'policy-fixtures-'));
    try {
      const files = fs.readdirSync(FIXTURES).filter((f) => /^P\d+-.*\.json$/.test(f)).sort();
      for (const f of files) fs.copyFileSync(path.join(FIXTURES, f), path.join(dir, f));
      const altered = JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8')) as { response: { status: number } };
      const status = altered.response.status;
      altered.response.status = 599;
      fs.writeFileSync(path.join(dir, files[0]), JSON.stringify(altered));
      const { code, stdout } = await run(['--target', harbor.url, '--fixtures', dir]);
      const lines = stdout.trim().split('\n');
      expect(lines.filter((l) => /MISMATCH/.test(l))).toEqual([`${files[0].replace(/-.*/, '')} ${files[0].slice(4, -5)}: MISMATCH status: expected 599, got ${status}`]);
      expect(lines[lines.length - 1]).toBe(`policy exchanges: ${files.length - 1}/${files.length} match`);
      expect(code).toBe(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 70000);
});
