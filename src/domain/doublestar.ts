/**
 * Glob matching as Harbor 2.5.5 does it for immutable-tag and retention selectors: `bmatcuk/doublestar` v1.1.1's
 * `Match(pattern, name)` (the version pinned in Harbor's go.mod at the tag), quirks included, because a rule must
 * protect here exactly the versions it protects in Harbor.
 *
 * Written here rather than taken from npm: picomatch (used until now) loops forever on `{\\\\` (a brace followed by
 * two escaped backslashes — found by comparing it with doublestar on random patterns), reads `(a|b)` and even a bare `a|b` as
 * alternatives, drops a leading `./`, and keeps a trailing `/`; minimatch and micromatch differ the same ways.
 * Checked against the real library: test/unit/domain/doublestar.test.ts replays
 * test/fixtures/harbor/doublestar-v1.1.1.tsv, answers recorded from doublestar itself (scripts/doublestar-truth/).
 *
 * The semantics, as observed and documented by doublestar:
 * - pattern and name are split into components at `/` (a `/` right after a `\` does not split; a trailing `/`
 *   adds no empty component); a component `**` stands for any number of name components (none included) when more
 *   pattern follows, and for the rest of the name (at least one component) when it is last;
 * - in a component: `*` any run of characters (stops at `/`), `?` one character, `[a-z]`/`[^a-z]` classes (empty or
 *   malformed classes are errors), `{a,b}` alternatives (up to the first unescaped `}`; an empty last alternative
 *   is dropped), `\c` the character c; everything else, `(`, `|`, `!` and `.` included, stands for itself;
 * - a malformed pattern is an error where the matcher reaches it (a name that fails before that part is a plain
 *   miss); an error inside `{…}` ends the whole match, inside a `*` or `**` attempt it only fails that attempt.
 * - one known difference: after a `*`, doublestar steps through the name by the byte length of the character the
 *   `*` started at, so with multi-byte characters it skips positions; image names and tags are ASCII (the
 *   distribution spec's grammar), where both step one character at a time.
 *
 * Unlike doublestar's plain recursion (exponential on `*a*a*a…b`), every sub-problem is remembered, so one call
 * costs at most (pattern length)² × (name length) steps; a call that would need more than MAX_STEPS gives up with
 * `unknown` (no real pattern comes near: a hostile 255-character one stops after a few milliseconds).
 */

const FALSE = 0;
const TRUE = 1;
const ERROR = 2;
type Verdict = typeof FALSE | typeof TRUE | typeof ERROR;

/** Work bound of one match (sub-problems remembered); generous for real patterns of up to 255 characters. */
const MAX_STEPS = 20_000;

class TooMuchWork extends Error {}

/**
 * doublestar's answer for `name` against `pattern`: `match`, `miss`, or `error` for a malformed pattern (doublestar's
 * ErrBadPattern, where it returns one); `unknown` when the answer would cost more than MAX_STEPS.
 */
export function doublestar(pattern: string, name: string): 'match' | 'miss' | 'error' | 'unknown' {
  try {
    const v = new Matcher().path(split(pattern, '/'), split(name, '/'));
    return v === TRUE ? 'match' : v === ERROR ? 'error' : 'miss';
  } catch (e) {
    // Stryker disable next-line ConditionalExpression: equivalent, nothing else is thrown inside the matcher
    if (e instanceof TooMuchWork) return 'unknown';
    throw e;
  }
}

/** Split at each `sep` not right after a backslash; a trailing separator yields no empty last piece. */
function split(text: string, sep: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = indexUnescaped(text, sep, 0); i !== -1; i = indexUnescaped(text, sep, start)) {
    parts.push(text.slice(start, i));
    start = i + 1;
  }
  if (start < text.length || parts.length === 0) parts.push(text.slice(start));
  return parts;
}

/** Index of the first `ch` in `text` from `from` (0, or just after a separator, `[` or `{`) not right after a backslash, or -1. */
function indexUnescaped(text: string, ch: string, from: number): number {
  // Stryker disable next-line EqualityOperator: equivalent, text[text.length] is undefined and never `ch`
  for (let i = from; i < text.length; i++) if (text[i] === ch && text[i - 1] !== '\\') return i;
  return -1;
}

class Matcher {
  private steps = 0;
  private readonly memo = new Map<string, Verdict>();

  private remember(key: string, work: () => Verdict): Verdict {
    // Stryker disable next-line EqualityOperator: equivalent, one step more or less of a bound no real pattern nears
    if (++this.steps > MAX_STEPS) throw new TooMuchWork();
    const known = this.memo.get(key);
    if (known !== undefined) return known;
    const v = work();
    this.memo.set(key, v);
    return v;
  }

  /** Pattern components from `pi` against name components from `ni`. */
  path(pat: readonly string[], name: readonly string[], pi = 0, ni = 0): Verdict {
    return this.remember(`p${pi}:${ni}`, () => {
      if (pi === pat.length || ni === name.length) return pi === pat.length && ni === name.length ? TRUE : FALSE;
      if (pat[pi] === '**') {
        if (pi + 1 === pat.length) return TRUE;
        // Stryker disable next-line EqualityOperator: equivalent, pattern left against no name components is a miss
        for (let k = ni; k < name.length; k++) if (this.path(pat, name, pi + 1, k) === TRUE) return TRUE;
        return FALSE;
      }
      const one = this.component(pat[pi], name[ni], 0, ni);
      return one === TRUE ? this.path(pat, name, pi + 1, ni + 1) : one;
    });
  }

  /** One pattern component against name component `ni` (`name`) from `at`. */
  component(pattern: string, name: string, at: number, ni: number): Verdict {
    return this.remember(`c${ni}:${at}:${pattern}`, () => this.componentUncached(pattern, name, at, ni));
  }

  private componentUncached(pat: string, name: string, at: number, ni: number): Verdict {
    // Stryker disable next-line ConditionalExpression: equivalent, an empty pattern skips the loop and the checks after it give the same answer
    if (pat.length === 0) return at === name.length ? TRUE : FALSE;
    // An empty name part skips the loop; the checks after it then answer as doublestar's own base case does (its one
    // difference, a pattern of exactly `**`, never gets here: path() takes `**` parts itself).
    let p = 0;
    let n = at;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, past the pattern's end pat[p] is undefined and the step below answers FALSE, as the checks after the loop do
    while (p < pat.length && n < name.length) {
      const c = pat[p];
      if (c === '\\') {
        if (p + 1 === pat.length) return ERROR;
        if (pat[p + 1] !== name[n]) return FALSE;
        p += 2;
        n++;
      } else if (c === '*') {
        if (p + 1 === pat.length) return TRUE;
        const tail = pat.slice(p + 1);
        // every non-empty rest of the name; an error in one attempt only fails that attempt
        // Stryker disable next-line EqualityOperator: equivalent, a tail other than `*` never matches an empty rest, and `*` already matched at k < length
        for (let k = n; k < name.length; k++) if (this.component(tail, name, k, ni) === TRUE) return TRUE;
        return FALSE;
      } else if (c === '[') {
        const close = indexUnescaped(pat, ']', p + 1);
        if (close === -1) return ERROR;
        const hit = classMatch(pat.slice(p + 1, close), name[n]);
        if (hit !== TRUE) return hit;
        p = close + 1;
        n++;
      } else if (c === '{') {
        // Stryker disable next-line ArithmeticOperator: equivalent, searching from p - 1 finds at most a `}` right before this `{`, and the retry on the rest (an empty option) then finds the right one
        const close = indexUnescaped(pat, '}', p + 1);
        if (close === -1) return ERROR;
        const after = pat.slice(close + 1);
        for (const option of split(pat.slice(p + 1, close), ',')) {
          const v = this.component(option + after, name, n, ni);
          if (v !== FALSE) return v;
        }
        return FALSE;
      } else if (c === '?' || c === name[n]) {
        p++;
        n++;
      } else {
        return FALSE;
      }
    }
    if (p === pat.length && n === name.length) return TRUE;
    const left = pat.slice(p);
    // Stryker disable next-line ConditionalExpression: equivalent, the loop ends with pattern left only once the name is used up
    return (n === name.length && left === '*') || left === '**' ? TRUE : FALSE;
  }
}

/** A character class's inside (between `[` and `]`) against one character. */
function classMatch(cls: string, ch: string): Verdict {
  if (cls.length === 0) return ERROR;
  const negated = cls[0] === '^';
  let i = negated ? 1 : 0;
  let hit = false;
  // The inside never ends in a lone `\` (it would have escaped the closing `]`): an escape always has its character.
  const take = (): string => {
    const c = cls[i++];
    return c === '\\' ? cls[i++] : c;
  };
  // Stryker disable next-line EqualityOperator: equivalent, one more turn at the end reads undefined, which compares false with any character
  while (i < cls.length) {
    if (cls[i] === '-') return ERROR;
    const low = take();
    let high = low;
    if (cls[i] === '-') {
      i++;
      // `[a-]`, `[a--]`: a range needs its upper end
      if (i === cls.length || cls[i] === '-') return ERROR;
      high = take();
    }
    if (low <= ch && ch <= high) hit = true;
  }
  return hit === negated ? FALSE : TRUE;
}
