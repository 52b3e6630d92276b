/**
 * test/support/tools.ts: with CI=true a missing tool fails the test file (no silent skip); locally it is a skip
 * that says what is missing and which Debian package brings it.
 */
import { describeMissing, inCi, requireTools } from '../support/tools';

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
});
