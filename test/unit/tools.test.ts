/**
 * test/support/tools.ts: with CI=true a missing tool fails the test file (no silent skip); locally it is a skip
 * that says what is missing and which Debian package brings it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DEBIAN_PACKAGE, describeMissing, inCi, requireFiles, requireTools } from '../support/tools';

const root = path.resolve(__dirname, '../..');

/** Every .ts file under test/ (the tools the test files ask for are read from their source). */
function testSources(dir = path.join(root, 'test')): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? testSources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const only = (...present: string[]) => (bin: string) => (present.includes(bin) ? `/usr/bin/${bin}` : undefined);

describe('requireTools', () => {
  it('CI=true and a tool missing: throws, naming the tool and its Debian package', () => {
    expect(() => requireTools('edges e2e', ['skopeo', 'curl'], { env: { CI: 'true' }, lookup: only('skopeo') })).toThrow(
      'edges e2e: missing curl (Debian package curl) — CI=true, so this is a failure, not a skip (scripts/setup.sh installs them)',
    );
  });

  it('locally a tool missing: not available, and the printed reason names every missing tool', () => {
    const warned: string[] = [];
    const t = requireTools('clients e2e', ['ctr', 'podman', 'docker'], { env: {}, lookup: only('podman'), warn: (m) => warned.push(m) });
    expect(t).toEqual({ available: false, missing: ['ctr', 'docker'], reason: 'clients e2e: missing ctr (Debian package containerd), docker (Debian package docker.io)' });
    expect(warned).toEqual(['clients e2e: missing ctr (Debian package containerd), docker (Debian package docker.io) — skipped locally (run scripts/setup.sh as root to install)']);
  });

  it('everything installed: available, nothing printed, also under CI', () => {
    const warned: string[] = [];
    expect(requireTools('x', ['promtool'], { env: { CI: 'true' }, lookup: only('promtool'), warn: (m) => warned.push(m) })).toEqual({ available: true, missing: [], reason: '' });
    expect(warned).toEqual([]);
  });

  it('reads CI the way CI systems set it', () => {
    expect([inCi({ CI: 'true' }), inCi({ CI: '1' }), inCi({ CI: 'TRUE' })]).toEqual([true, true, true]);
    expect([inCi({}), inCi({ CI: '' }), inCi({ CI: 'false' }), inCi({ CI: '0' })]).toEqual([false, false, false, false]);
  });

  it('every tool the tests run has its Debian package listed (an unknown one says so)', () => {
    expect(describeMissing(['promtool', 'systemd-analyze', 'made-up'])).toBe('promtool (Debian package prometheus), systemd-analyze (Debian package systemd), made-up (Debian package unknown)');
  });

  it('every tool a test file asks for has its Debian package listed', () => {
    const quoted = (list: string) => [...list.matchAll(/'([^']+)'/g)].map((m) => m[1]);
    const asked = new Set<string>();
    for (const file of testSources()) {
      const src = fs.readFileSync(file, 'utf8');
      for (const m of src.matchAll(/clientOrSkip\('([^']+)'\)/g)) asked.add(m[1]);
      for (const m of src.matchAll(/\[([^\]]*)\]\.map\(clientOrSkip\)/g)) quoted(m[1]).forEach((b) => asked.add(b));
      for (const m of src.matchAll(/requireTools\([^,]+,\s*\[([^\]]*)\]/g)) quoted(m[1]).forEach((b) => asked.add(b));
    }
    expect([...asked].length).toBeGreaterThan(8);
    expect([...asked].filter((b) => !DEBIAN_PACKAGE[b])).toEqual([]);
  });

  it('every test file that starts a redis-server asks for it first (a missing one is a CI failure or a printed local skip, never a crash)', () => {
    const unasked = testSources()
      .filter((file) => file.endsWith('.test.ts') && file !== __filename && /\bstartRedis\(|console-stack/.test(fs.readFileSync(file, 'utf8')))
      .filter((file) => !/(requireTools\([^)]*|clientOrSkip\()['"]redis-server['"]|\[[^\]]*'redis-server'[^\]]*\]\.map\(clientOrSkip\)/.test(fs.readFileSync(file, 'utf8')));
    expect(unasked.map((f) => path.relative(root, f))).toEqual([]);
  });

  it('scripts/setup.sh installs every one of those Debian packages', () => {
    const setup = fs.readFileSync(path.join(root, 'scripts/setup.sh'), 'utf8');
    const listed = new Set(setup.match(/PACKAGES\+?=\(([^)]*)\)/g)!.flatMap((l) => l.replace(/^PACKAGES\+?=\(|\)$/g, '').split(/\s+/)).filter(Boolean));
    expect([...new Set(Object.values(DEBIAN_PACKAGE))].filter((p) => !listed.has(p))).toEqual([]);
  });
});

describe('requireFiles (what a suite reads from ../shared)', () => {
  const present = (...files: string[]) => (f: string) => files.includes(f);

  it('CI=true and a file missing: throws, naming the file', () => {
    expect(() => requireFiles('live exchanges', ['/s/compare.mjs', '/s/lib.mjs'], { env: { CI: 'true' }, exists: present('/s/lib.mjs') })).toThrow(
      'live exchanges: missing /s/compare.mjs (../shared/harbor-2.5.5 beside the clone) — CI=true, so this is a failure, not a skip',
    );
  });

  it('locally a file missing: not available, and the printed reason names every missing file', () => {
    const warned: string[] = [];
    const f = requireFiles('swagger table', ['/a', '/b', '/c'], { env: {}, exists: present('/b'), warn: (m) => warned.push(m) });
    expect(f).toEqual({ available: false, missing: ['/a', '/c'], reason: 'swagger table: missing /a, /c (../shared/harbor-2.5.5 beside the clone)' });
    expect(warned).toEqual(['swagger table: missing /a, /c (../shared/harbor-2.5.5 beside the clone) — skipped locally']);
  });

  it('every file there: available, nothing printed, also under CI; the real file system is asked by default', () => {
    const warned: string[] = [];
    expect(requireFiles('x', ['/a'], { env: { CI: 'true' }, exists: present('/a'), warn: (m) => warned.push(m) })).toEqual({ available: true, missing: [], reason: '' });
    expect(requireFiles('x', [__filename], { env: { CI: 'true' } })).toEqual({ available: true, missing: [], reason: '' });
    expect(requireFiles('x', [`${__filename}.absent`], { env: {}, warn: (m) => warned.push(m) }).available).toBe(false);
    expect(warned).toHaveLength(1);
  });

  it('no test file checks for ../shared on its own (each goes through requireFiles)', () => {
    const own = testSources().filter((file) => /existsSync\([A-Z_]*(KIT|SWAGGER|RUN_MJS|SHARED)[A-Z_]*\)/.test(fs.readFileSync(file, 'utf8')));
    expect(own.map((f) => path.relative(root, f))).toEqual([]);
  });
});
