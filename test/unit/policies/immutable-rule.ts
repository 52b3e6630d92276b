import type { HarborImmutableRule } from '../../../src/ports/harbor-limits';

/** An immutable tag rule as Harbor 2.5.5 lists it (doublestar selectors), `extra` overriding any field. */
export const rule = (id: number, tags: string, images = '**', extra: Partial<HarborImmutableRule> = {}): HarborImmutableRule => ({
  id,
  action: 'immutable',
  template: 'immutable_template',
  tag_selectors: [{ kind: 'doublestar', decoration: 'matches', pattern: tags }],
  scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: images }] },
  ...extra,
});
