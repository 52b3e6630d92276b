/**
 * Harbor's immutable tag rules (`/projects/{p}/immutabletagrules`) and their matching, as recorded on Harbor 2.5.5
 * (test/fixtures/harbor/live-policies, P16–P41) and read in `src/pkg/immutable/match/rule/match.go` and
 * `src/lib/selector/selectors/doublestar/selector.go` at the tag: a tag is immutable when some enabled rule's
 * first repository selector selects the repository (name without the project) and its first tag selector
 * selects the tag; a rule without either selects nothing; an empty pattern matches everything. Patterns are
 * bmatcuk/doublestar v1.1.1 globs (`*` stops at `/`, `**` crosses it, `?`, `[...]`, `{a,b}`), played here by the
 * gateway's own doublestar (src/domain/doublestar.ts, checked against the library itself); a pattern doublestar
 * refuses makes Harbor's matcher fail, and the tag controller then calls the tag mutable.
 */
import { doublestar } from '../../src/domain/doublestar';
import { Project, State } from './state';

export interface ImmutableSelector {
  kind: string;
  decoration: string;
  pattern: string;
  extras?: string;
}

export interface ImmutableRule {
  id: number;
  projectId: number;
  priority: number;
  disabled: boolean;
  action: string;
  template: string;
  params: Record<string, unknown> | null;
  tagSelectors: ImmutableSelector[] | null;
  scopeSelectors: Record<string, ImmutableSelector[]> | null;
}

/** A selector's verdict; `undefined` when doublestar fails on the pattern (Harbor's Match then returns an error). */
function selects(sel: ImmutableSelector, value: string): boolean | undefined {
  const verdict = sel.pattern === '' ? 'match' : doublestar(sel.pattern, value);
  if (verdict === 'error' || verdict === 'unknown') return undefined;
  const hit = verdict === 'match';
  return sel.decoration === 'excludes' || sel.decoration === 'repoExcludes' ? !hit : hit;
}

/** Is `tag` of `repo` (full name `project/…`) protected by one of the project's enabled rules? */
export function isImmutable(s: State, projectId: number, repo: string, tag: string): boolean {
  const short = repo.slice(repo.indexOf('/') + 1);
  for (const r of s.immutableRules.values()) {
    if (r.projectId !== projectId || r.disabled) continue;
    const repoSel = r.scopeSelectors?.repository?.[0];
    const tagSel = r.tagSelectors?.[0];
    if (!repoSel || !tagSel) continue;
    const repoHit = selects(repoSel, short);
    if (repoHit === undefined) return false;
    if (!repoHit) continue;
    const tagHit = selects(tagSel, tag);
    if (tagHit === undefined) return false;
    if (tagHit) return true;
  }
  return false;
}

function selectorOf(x: unknown): ImmutableSelector {
  const o = (x ?? {}) as Record<string, unknown>;
  const sel: ImmutableSelector = { kind: String(o.kind ?? ''), decoration: String(o.decoration ?? ''), pattern: String(o.pattern ?? '') };
  if (typeof o.extras === 'string' && o.extras) sel.extras = o.extras;
  return sel;
}

/** The rule as Harbor stores it (its JSON is also the uniqueness key: `tag_filter`, unique per project). */
export function parseRule(body: any, projectId: number): Omit<ImmutableRule, 'id'> {
  const scope: Record<string, ImmutableSelector[]> | null =
    body?.scope_selectors && typeof body.scope_selectors === 'object'
      ? Object.fromEntries(Object.entries(body.scope_selectors).map(([k, v]) => [k, Array.isArray(v) ? v.map(selectorOf) : []]))
      : null;
  return {
    projectId,
    priority: Number.isInteger(body?.priority) ? body.priority : 0,
    disabled: body?.disabled === true,
    action: typeof body?.action === 'string' ? body.action : '',
    template: typeof body?.template === 'string' ? body.template : '',
    params: body?.params && typeof body.params === 'object' ? body.params : null,
    tagSelectors: Array.isArray(body?.tag_selectors) ? body.tag_selectors.map(selectorOf) : null,
    scopeSelectors: scope,
  };
}

export function ruleKey(r: Omit<ImmutableRule, 'id'>): string {
  return JSON.stringify([r.projectId, r.priority, r.disabled, r.action, r.template, r.params, r.tagSelectors, r.scopeSelectors]);
}

/** Harbor's JSON of a rule: zero values of priority, disabled, params are left out (omitempty). */
export function ruleView(r: ImmutableRule): Record<string, unknown> {
  const sel = (x: ImmutableSelector) => ({ decoration: x.decoration, ...(x.extras ? { extras: x.extras } : {}), kind: x.kind, pattern: x.pattern });
  const v: Record<string, unknown> = { action: r.action };
  if (r.disabled) v.disabled = true;
  v.id = r.id;
  if (r.params && Object.keys(r.params).length) v.params = r.params;
  if (r.priority) v.priority = r.priority;
  v.scope_selectors = r.scopeSelectors ? Object.fromEntries(Object.entries(r.scopeSelectors).map(([k, xs]) => [k, xs.map(sel)])) : null;
  v.tag_selectors = r.tagSelectors ? r.tagSelectors.map(sel) : null;
  v.template = r.template;
  return v;
}

export function rulesOf(s: State, p: Project): ImmutableRule[] {
  return [...s.immutableRules.values()].filter((r) => r.projectId === p.id).sort((a, b) => a.id - b.id);
}

/** Harbor's refusal text for a push over an immutable tag (`src/server/middleware/immutable/errors.go`). */
export const pushRefusal = (repoShort: string, tag: string) => `Failed to process request due to '${repoShort}:${tag}' configured as immutable.`;
/** … and for deleting one (tag, artifact, manifest or repository delete: `src/controller/tag/controller.go`). */
export const deleteRefusal = (tag: string) => `the tag ${tag} configured as immutable, cannot be deleted`;
