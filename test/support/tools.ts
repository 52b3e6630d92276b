/**
 * External tools the tests run (registry clients, docker-registry, redis-server, curl, promtool, …): no silent
 * skips.
 *
 * - With CI set (`.ci/run` exports CI=true) a missing tool throws at load time, so the test file fails ("Test
 *   suite failed to run") instead of skipping or passing an empty test. scripts/setup.sh installs every tool
 *   listed in DEBIAN_PACKAGE.
 * - Locally a missing tool skips the tests that need it and prints what is missing and which Debian package
 *   brings it.
 *
 *   const t = requireTools('registry edges e2e', ['skopeo', 'docker-registry']);
 *   (t.available ? describe : describe.skip)(…);
 *
 * Only this file decides; a test file never checks `process.env.CI` itself.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** The Debian package that brings each tool (scripts/setup.sh installs them all). */
export const DEBIAN_PACKAGE: Record<string, string> = {
  skopeo: 'skopeo',
  'docker-registry': 'docker-registry',
  'redis-server': 'redis-server',
  curl: 'curl',
  ctr: 'containerd',
  containerd: 'containerd',
  podman: 'podman',
  buildah: 'buildah',
  docker: 'docker.io',
  promtool: 'prometheus',
  'systemd-analyze': 'systemd',
  nginx: 'nginx-light',
  openssl: 'openssl',
  // the console's browser test (test/e2e/console.browser.test.ts), driven by playwright-core: no browser download
  chromium: 'chromium',
};

/** True when the tests run in CI (`.ci/run` sets CI=true); missing tools then fail the run. */
export function inCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

/** The binary's absolute path, or undefined when it is not on PATH. */
export function which(bin: string): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', bin], { encoding: 'utf8' });
  const p = (r.stdout ?? '').trim();
  return r.status === 0 && p ? p : undefined;
}

export interface ToolCheck {
  /** Every tool is installed. */
  available: boolean;
  /** The tools that are not. */
  missing: string[];
  /** What is missing and which Debian package brings it; '' when nothing is. */
  reason: string;
}

/** Describes the missing tools: "skopeo (Debian package skopeo), ctr (Debian package containerd)". */
export function describeMissing(missing: string[]): string {
  return missing.map((b) => `${b} (Debian package ${DEBIAN_PACKAGE[b] ?? 'unknown'})`).join(', ');
}

/**
 * Checks that `bins` are installed. Missing under CI: throws (the test file fails). Missing locally: prints
 * "<suite>: skipped — missing …" once and returns available: false, for the caller to skip exactly the tests that
 * need them. `lookup` is for the helper's own test.
 */
export function requireTools(suite: string, bins: string[], opts: { env?: NodeJS.ProcessEnv; lookup?: (bin: string) => string | undefined; warn?: (msg: string) => void } = {}): ToolCheck {
  const lookup = opts.lookup ?? which;
  const missing = bins.filter((b) => !lookup(b));
  return verdict(missing, () => `${suite}: missing ${describeMissing(missing)}`, 'scripts/setup.sh installs them', 'run scripts/setup.sh as root to install', opts);
}

/**
 * Checks that the files a suite reads from beside the clone exist (../shared/harbor-2.5.5: Harbor's swagger, the
 * conformance tool, the recorded timings; CI gets a copy of shared/ beside its clone). The same rule as
 * requireTools: missing under CI throws, missing locally prints "<suite>: missing …" and returns available: false.
 */
export function requireFiles(suite: string, files: string[], opts: { env?: NodeJS.ProcessEnv; exists?: (file: string) => boolean; warn?: (msg: string) => void } = {}): ToolCheck {
  const exists = opts.exists ?? existsSync;
  const missing = files.filter((f) => !exists(f));
  return verdict(missing, () => `${suite}: missing ${missing.join(', ')} (../shared/harbor-2.5.5 beside the clone)`, undefined, undefined, opts);
}

/** The one rule of both checks: nothing missing is available; missing under CI throws; missing locally is a printed skip. */
function verdict(missing: string[], describe: () => string, ciHint: string | undefined, localHint: string | undefined, opts: { env?: NodeJS.ProcessEnv; warn?: (msg: string) => void }): ToolCheck {
  if (!missing.length) return { available: true, missing, reason: '' };
  const reason = describe();
  if (inCi(opts.env)) throw new Error(`${reason} — CI=true, so this is a failure, not a skip${ciHint ? ` (${ciHint})` : ''}`);
  (opts.warn ?? console.warn)(`${reason} — skipped locally${localHint ? ` (${localHint})` : ''}`);
  return { available: false, missing, reason };
}
