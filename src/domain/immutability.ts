import { doublestar } from './doublestar';
import type { HarborImmutableRule } from '../ports/harbor-limits';

/**
 * Which immutable rule protects a version, decided the way Harbor 2.5.5 does (`src/pkg/immutable/match/rule/
 * match.go` at the tag): rules are tried in order; a disabled rule, or one without a repository or tag selector,
 * protects nothing; the first repository selector is matched against the image name (the repository without the
 * workspace), the first tag selector against the tag; `repoExcludes`/`excludes` invert; an empty pattern matches
 * everything; a malformed pattern reached while matching ends the search with no rule protecting the tag (Harbor's
 * Match returns its error, and the tag controller then leaves the tag mutable). Patterns are bmatcuk/doublestar v1.1.1 globs — `*` stops at `/`, `**` crosses it, `?`, `[…]`, `{a,b}` —
 * matched by ./doublestar.ts, checked against the library itself; the recorded exchanges
 * (test/fixtures/harbor/live-policies P34–P37) pin the cases hubgate relies on.
 */
/** Does the doublestar `pattern` select `value`? An empty pattern selects everything (Harbor's selector does so). */
export function globMatch(pattern: string, value: string): boolean {
  return selects({ pattern }, value) === true;
}

/**
 * A selector's verdict on `value`, `excludes` decorations inverting it (no decoration, or any other, selects as is);
 * `undefined` when Harbor's matcher would fail on the pattern (malformed) — Harbor then calls no tag of the project
 * immutable — or when the answer is too costly to compute here (Harbor decides at the tag PUT).
 */
function selects(sel: { decoration?: string; pattern: string }, value: string): boolean | undefined {
  const verdict = sel.pattern === '' ? 'match' : doublestar(sel.pattern, value);
  if (verdict !== 'match' && verdict !== 'miss') return undefined;
  return (verdict === 'match') !== (sel.decoration === 'excludes' || sel.decoration === 'repoExcludes');
}

export function protectingRule(rules: readonly HarborImmutableRule[], image: string, tag: string): HarborImmutableRule | undefined {
  for (const r of rules) {
    if (r.disabled) continue;
    const repoSel = r.scope_selectors?.repository?.[0];
    const tagSel = r.tag_selectors?.[0];
    if (!repoSel || !tagSel) continue;
    const repoHit = selects(repoSel, image);
    if (repoHit === undefined) return undefined;
    if (!repoHit) continue;
    const tagHit = selects(tagSel, tag);
    if (tagHit === undefined) return undefined;
    if (tagHit) return r;
  }
  return undefined;
}

/** `rule #3 (versions "v*" of images "**")` — how refusals name a rule. */
export function describeRule(r: HarborImmutableRule): string {
  return `rule #${r.id} (versions "${r.tag_selectors?.[0]?.pattern ?? ''}" of images "${r.scope_selectors?.repository?.[0]?.pattern ?? ''}")`;
}
