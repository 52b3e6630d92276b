import picomatch from 'picomatch';
import type { HarborImmutableRule } from '../ports/harbor-limits';

/**
 * Which immutable rule protects a version, decided the way Harbor 2.5.5 does (`src/pkg/immutable/match/rule/
 * match.go` at the tag): rules are tried in order; a disabled rule, or one without a repository or tag selector,
 * protects nothing; the first repository selector is matched against the image name (the repository without the
 * workspace), the first tag selector against the tag; `repoExcludes`/`excludes` invert; an empty pattern matches
 * everything. Patterns are bmatcuk/doublestar globs — `*` stops at `/`, `**` crosses it, `?`, `[…]`, `{a,b}` —
 * matched here with picomatch (dots not special, no extglobs, no negation), which agrees with doublestar on them;
 * the recorded exchanges (test/fixtures/harbor/live-policies P34–P37) pin the cases hubgate relies on.
 */
export function globMatch(pattern: string, value: string): boolean {
  if (pattern === '') return true;
  try {
    return picomatch.isMatch(value, pattern, { dot: true, noextglob: true, nonegate: true });
  } catch {
    return false;
  }
}

export function protectingRule(rules: readonly HarborImmutableRule[], image: string, tag: string): HarborImmutableRule | undefined {
  return rules.find((r) => {
    if (r.disabled) return false;
    const repoSel = r.scope_selectors?.repository?.[0];
    const tagSel = r.tag_selectors?.[0];
    if (!repoSel || !tagSel) return false;
    const repoHit = globMatch(repoSel.pattern, image) !== (repoSel.decoration === 'repoExcludes');
    const tagHit = globMatch(tagSel.pattern, tag) !== (tagSel.decoration === 'excludes');
    return repoHit && tagHit;
  });
}

/** `rule #3 (versions "v*" of images "**")` — how refusals name a rule. */
export function describeRule(r: HarborImmutableRule): string {
  return `rule #${r.id} (versions "${r.tag_selectors?.[0]?.pattern ?? ''}" of images "${r.scope_selectors?.repository?.[0]?.pattern ?? ''}")`;
}
