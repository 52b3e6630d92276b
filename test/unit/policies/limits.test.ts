/* eslint-disable @typescript-eslint/no-explicit-any -- an in-memory stand-in for the Harbor port */
/**
 * Workspace policies, domain level: size units, Harbor's doublestar rule matching (the cases recorded on the real
 * Harbor in test/fixtures/harbor/live-policies P34–P37 and Harbor's matcher rules), the setting, and the refusals
 * an upload gets (with an in-memory Harbor port).
 */
import { formatSize, parseSize } from '../../../src/domain/storage-units';
import { describeRule, globMatch, protectingRule } from '../../../src/domain/immutability';
import { ConfigError, loadConfig } from '../../../src/config';
import { WorkspacePoliciesService } from '../../../src/domain/workspace-policies.service';
import { ArchiveError } from '../../../src/domain/uploads/archive-error';
import { createMetrics } from '../../../src/observability/metrics';
import { silentLogger } from '../../../src/observability/logger';
import { rule } from './immutable-rule';

describe('sizes', () => {
  it('reads bytes, IEC units as 1024 and SI units as 1000, decimals when whole', () => {
    expect(parseSize(4096)).toBe(4096);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('10GiB')).toBe(10 * 1024 ** 3);
    expect(parseSize('10 gib')).toBe(10 * 1024 ** 3);
    expect(parseSize('10GB')).toBe(10e9);
    expect(parseSize('1.5GiB')).toBe(1610612736);
    expect(parseSize('500MB')).toBe(500e6);
    expect(parseSize('1KiB')).toBe(1024);
    expect(parseSize('1kB')).toBe(1000);
    expect(parseSize('2PiB')).toBe(2 * 1024 ** 5);
    expect(parseSize('7B')).toBe(7);
  });

  it('refuses anything else with a message naming the value', () => {
    expect(() => parseSize('10 parsecs', 'limit')).toThrow('limit "10 parsecs" is not a size: use bytes or a number with KiB, MiB, GiB, TiB (1024) or KB, MB, GB, TB (1000)');
    expect(() => parseSize('-1GiB', 'limit')).toThrow('limit "-1GiB" is not a size');
    expect(() => parseSize('', 'limit')).toThrow('limit "" is not a size');
    expect(() => parseSize(0, 'limit')).toThrow('limit must be a whole number of bytes, at least 1 (got 0)');
    expect(() => parseSize('0.5B', 'limit')).toThrow('limit must be a whole number of bytes, at least 1 (got "0.5B")');
    expect(() => parseSize(1.5, 'limit')).toThrow('limit must be a whole number of bytes');
    expect(() => parseSize('99999PiB', 'limit')).toThrow('limit must be a whole number of bytes');
  });

  it('calls the value "size" in its refusals unless told what it is', () => {
    expect(() => parseSize('lots')).toThrow('size "lots" is not a size: use bytes or a number with KiB, MiB, GiB, TiB (1024) or KB, MB, GB, TB (1000)');
    expect(() => parseSize(0)).toThrow('size must be a whole number of bytes, at least 1 (got 0)');
  });

  it('takes a number as bytes as it is: no unit parsing, no rounding', () => {
    expect(() => parseSize(-5, 'limit')).toThrow('limit must be a whole number of bytes, at least 1 (got -5)');
    expect(() => parseSize(1e21, 'limit')).toThrow('limit must be a whole number of bytes, at least 1 (got 1e+21)');
    expect(() => parseSize(1.0000001, 'limit')).toThrow('limit must be a whole number of bytes, at least 1 (got 1.0000001)');
  });

  it('rounds away the floating-point noise of a decimal times a unit (1.001 × 1000 is 1000.9999999999999)', () => {
    expect(parseSize('1.001KB')).toBe(1001);
  });

  it('accepts one byte, the smallest size', () => {
    expect(parseSize(1)).toBe(1);
    expect(parseSize('1B')).toBe(1);
  });

  it('writes sizes as Harbor does (binary, one decimal)', () => {
    expect(formatSize(796)).toBe('796 B');
    expect(formatSize(1023)).toBe('1023 B');
    expect(formatSize(1024)).toBe('1.0 KiB');
    expect(formatSize(8192)).toBe('8.0 KiB');
    expect(formatSize(1610612736)).toBe('1.5 GiB');
  });

  it('names every binary unit up to EiB, and stays in EiB past it', () => {
    expect(formatSize(5 * 1024 ** 2)).toBe('5.0 MiB');
    expect(formatSize(2.5 * 1024 ** 4)).toBe('2.5 TiB');
    expect(formatSize(3 * 1024 ** 5)).toBe('3.0 PiB');
    expect(formatSize(1024 ** 6)).toBe('1.0 EiB');
    expect(formatSize(1024 ** 7)).toBe('1024.0 EiB');
  });
});

describe('HUBGATE_DEFAULT_WORKSPACE_QUOTA', () => {
  const base = { HARBOR_URL: 'http://harbor.local', HARBOR_ADMIN_PASSWORD: 'x', OIDC_ISSUER: 'https://kc/realms/p', OIDC_AUDIENCE: 'hubgate', HUBGATE_CREDENTIAL_SECRET: 'c'.repeat(32) };
  it('is unlimited by default and when empty; sizes with units otherwise', () => {
    expect(loadConfig(base).policies).toEqual({ defaultQuotaBytes: undefined, quotaPollSeconds: 60 });
    expect(loadConfig({ ...base, HUBGATE_DEFAULT_WORKSPACE_QUOTA: ' ' }).policies.defaultQuotaBytes).toBeUndefined();
    expect(loadConfig({ ...base, HUBGATE_DEFAULT_WORKSPACE_QUOTA: '10GiB', HUBGATE_QUOTA_POLL_SECONDS: '30' }).policies).toEqual({ defaultQuotaBytes: 10 * 1024 ** 3, quotaPollSeconds: 30 });
  });
  it('a bad value stops the start naming the variable', () => {
    let err: unknown;
    try {
      loadConfig({ ...base, HUBGATE_DEFAULT_WORKSPACE_QUOTA: 'lots' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe(
      'configuration: HUBGATE_DEFAULT_WORKSPACE_QUOTA value "lots" is not a size: use bytes or a number with KiB, MiB, GiB, TiB (1024) or KB, MB, GB, TB (1000)',
    );
  });
});

describe('immutable rule matching (Harbor 2.5.5 doublestar semantics)', () => {
  it('globs: * stops at /, ** crosses it, braces, classes, ?; empty matches everything; dots are not special', () => {
    expect(globMatch('v*', 'v1.0')).toBe(true);
    expect(globMatch('v*', 'release-v1')).toBe(false);
    expect(globMatch('*', 'team/app')).toBe(false);
    expect(globMatch('**', 'team/app')).toBe(true);
    expect(globMatch('team/**', 'team/x')).toBe(true);
    expect(globMatch('team/**', 'app')).toBe(false);
    expect(globMatch('rel-{a,b}', 'rel-a')).toBe(true);
    expect(globMatch('rel-{a,b}', 'rel-c')).toBe(false);
    expect(globMatch('1.[0-2]', '1.1')).toBe(true);
    expect(globMatch('1.[0-2]', '1.3')).toBe(false);
    expect(globMatch('v?', 'v1')).toBe(true);
    expect(globMatch('v?', 'v10')).toBe(false);
    expect(globMatch('*', '.hidden')).toBe(true);
    expect(globMatch('', 'anything/at/all')).toBe(true);
    expect(globMatch('!(x)', 'x')).toBe(false);
  });

  it('first enabled rule whose repository and tag selectors both match; disabled or selector-less rules protect nothing', () => {
    const rules = [
      rule(1, 'v*', '**', { disabled: true }),
      rule(2, 'v*', 'team/**'),
      rule(3, 'x', '**', { tag_selectors: null }),
      rule(4, 'rel-*', '**', { scope_selectors: {} }),
      rule(6, 'v*', 'app', { scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoExcludes', pattern: 'app' }] } }),
      rule(5, 'latest', '**', { tag_selectors: [{ kind: 'doublestar', decoration: 'excludes', pattern: 'latest' }] }),
    ];
    expect(protectingRule(rules, 'team/x', 'v1')?.id).toBe(2);
    expect(protectingRule(rules, 'app', 'v1')?.id).toBe(5);
    expect(protectingRule(rules, 'app', 'x')?.id).toBe(5);
    expect(protectingRule(rules, 'app', 'latest')).toBeUndefined();
    expect(protectingRule(rules, 'other', 'v2')?.id).toBe(6);
    expect(protectingRule(rules, 'other', 'rel-1')?.id).toBe(5);
    expect(describeRule(rules[1])).toBe('rule #2 (versions "v*" of images "team/**")');
  });

  it('doublestar has no extglobs and no leading-! negation: such patterns are literal text and match no tag', () => {
    expect(globMatch('@(v1|v2)', 'v1')).toBe(false);
    expect(globMatch('+(v)1', 'vv1')).toBe(false);
    expect(globMatch('!v1', 'v2')).toBe(false);
    expect(globMatch('!v1', '!v1')).toBe(true);
  });

  it('doublestar has no groups: ( ) and | are plain characters (picomatch read them as alternatives)', () => {
    expect(globMatch('v(1|2)', 'v1')).toBe(false);
    expect(globMatch('v(1|2)', 'v(1|2)')).toBe(true);
    expect(globMatch('v1|latest', 'latest')).toBe(false);
    expect(protectingRule([rule(7, 'v1|latest')], 'app', 'latest')).toBeUndefined();
  });

  it('a malformed pattern reached while matching ends the search with no rule protecting the tag, as in Harbor', () => {
    // Harbor's Match returns doublestar's ErrBadPattern; the tag controller then calls the tag mutable
    expect(protectingRule([rule(8, 'v['), rule(9, 'v*')], 'app', 'v1')).toBeUndefined();
    expect(protectingRule([rule(8, 'v*', 'a{pp'), rule(9, 'v*')], 'app', 'v1')).toBeUndefined();
    // …but a rule whose bad part is never reached is a plain miss, and the next rule still counts
    expect(protectingRule([rule(8, 'x['), rule(9, 'v*')], 'app', 'v1')?.id).toBe(9);
    // an excluding selector does not turn the error into "selected"
    expect(protectingRule([rule(10, 'v*', '**', { tag_selectors: [{ kind: 'doublestar', decoration: 'excludes', pattern: 'v[' }] })], 'app', 'v1')).toBeUndefined();
    expect(protectingRule([rule(11, 'v*', 'a[', { scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoExcludes', pattern: 'a[' }] } })], 'app', 'v1')).toBeUndefined();
  });

  it('a pattern too costly to decide leaves the tag to Harbor (no rule reported); a cheap later rule is not reached', () => {
    const hostile = `${'*a'.repeat(120)}b`;
    expect(protectingRule([rule(12, hostile), rule(13, 'v*')], 'app', `v${'a'.repeat(127)}`)).toBeUndefined();
    expect(protectingRule([rule(13, 'v*'), rule(12, hostile)], 'app', `v${'a'.repeat(127)}`)?.id).toBe(13);
  });

  it('an empty pattern selects every tag and every image, as the doublestar selector of Harbor does', () => {
    expect(protectingRule([rule(16, '', '')], 'team/app', 'anything')?.id).toBe(16);
    expect(protectingRule([rule(17, '', '**', { tag_selectors: [{ kind: 'doublestar', decoration: 'excludes', pattern: '' }] })], 'app', 'v1')).toBeUndefined();
  });

  it('a rule Harbor lists without a scope selector protects nothing', () => {
    expect(protectingRule([rule(9, 'v*', '**', { scope_selectors: null }), rule(10, 'v*')], 'app', 'v1')?.id).toBe(10);
  });

  it('describes a rule with a missing selector by an empty pattern', () => {
    expect(describeRule(rule(11, 'v*', '**', { tag_selectors: null }))).toBe('rule #11 (versions "" of images "**")');
    expect(describeRule(rule(12, 'v*', '**', { tag_selectors: [] }))).toBe('rule #12 (versions "" of images "**")');
    expect(describeRule(rule(13, 'v*', '**', { scope_selectors: null }))).toBe('rule #13 (versions "v*" of images "")');
    expect(describeRule(rule(14, 'v*', '**', { scope_selectors: {} }))).toBe('rule #14 (versions "v*" of images "")');
    expect(describeRule(rule(15, 'v*', '**', { scope_selectors: { repository: [] } }))).toBe('rule #15 (versions "v*" of images "")');
  });
});

describe('WorkspacePoliciesService refusals for uploads', () => {
  const harbor: any = {
    quota: { id: 9, hard: 4096, used: 796 },
    rules: [rule(3, 'v*')],
    existing: new Set(['app:v1']),
    async getProjectQuota() {
      return this.quota;
    },
    async listImmutableRules() {
      return this.rules;
    },
    async getArtifact(_ws: string, image: string, tag: string) {
      return this.existing.has(`${image}:${tag}`) ? { digest: 'sha256:x' } : null;
    },
  };
  const svc = new WorkspacePoliciesService({ harbor, workspaces: {} as never, logger: silentLogger, metrics: createMetrics({ defaultMetrics: false }) });

  it('quota: refuses when used + new bytes exceed the limit (413 quota_exceeded), passes when they fit or without a limit', async () => {
    const err = await svc.checkQuota('ws', 1, async () => 3301).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveError);
    expect(err).toMatchObject({ kind: 'too_large', reason: 'quota_exceeded', message: 'storage quota of workspace "ws" exceeded: the upload needs 3.2 KiB more, 796 B of 4.0 KiB are used; nothing was tagged' });
    await expect(svc.checkQuota('ws', 1, async () => 3300)).resolves.toBeUndefined();
    const asked = jest.fn(async () => 10 ** 12);
    harbor.quota = { id: 9, hard: -1, used: 796 };
    await expect(svc.checkQuota('ws', 1, asked)).resolves.toBeUndefined();
    expect(asked).not.toHaveBeenCalled();
    harbor.quota = { id: 9, hard: 4096, used: 796 };
    const late = await svc.quotaRefusal('ws', 1, 'DENIED: adding 8.0 KiB of storage resource, which when updated to current usage of 796 B will exceed the configured upper limit of 4.0 KiB.');
    expect(late.message).toBe('storage quota of workspace "ws" exceeded: Harbor refused 8.0 KiB more, 796 B of 4.0 KiB are used; nothing was tagged');
  });

  it('immutable: refuses an existing protected version (409 immutable_version naming the rule), not a new one or an unprotected one', async () => {
    const err = await svc.checkImmutable('ws', [{ repository: 'ws/app', tag: 'dev' }, { repository: 'ws/app', tag: 'v1' }]).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'conflict', reason: 'immutable_version', message: 'version "app:v1" of workspace "ws" is protected by immutable rule #3 (versions "v*" of images "**") and cannot be overwritten; nothing was tagged' });
    await expect(svc.checkImmutable('ws', [{ repository: 'ws/app', tag: 'v2' }, { repository: 'ws/app', tag: 'dev' }])).resolves.toBeUndefined();
    expect((await svc.immutableRefusalFor('ws', 'ws/app', 'v9')).message).toBe('version "app:v9" of workspace "ws" is protected by immutable rule #3 (versions "v*" of images "**") and cannot be overwritten; nothing was tagged');
  });
});
