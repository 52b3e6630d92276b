// Prints PATTERN<TAB>NAME cases for test/fixtures/harbor/doublestar-v1.1.1.tsv: hand-picked cases for each rule and
// quirk, then seeded random ones (the same every run; record.sh keeps every match and a sample of the misses).
// No tab or newline in any field.
'use strict';
const picked = [
  ['v*', 'v1.0'], ['v*', 'release-v1'], ['*', 'team/app'], ['**', 'team/app'], ['team/**', 'team'], ['team/**', 'team/x/y'],
  ['**/x', 'a/b/x'], ['**/x', 'x'], ['a/**/b', 'a/b'], ['a/**/b', 'a/x/y/b'], ['rel-{a,b}', 'rel-b'], ['rel-{a,}', 'rel-'],
  ['{}*', 'ab'], ['{*}', 'ab'], ['{a,{b,c}}', 'c'], ['1.[0-2]', '1.1'], ['[^0-2]', '3'], ['[!a]', 'b'], ['[!a]', '!'],
  ['[^]', 'x'], ['[]', 'x'], ['[a-]', 'a'], ['[-a]', 'a'], ['[\\]]', ']'], ['v[', 'v['], ['v{a', 'v{a'], ['v\\', 'v'],
  ['\\*', '*'], ['\\*', 'a'], ['v(1|2)', 'v1'], ['v(1|2)', 'v(1|2)'], ['a|b', 'a'], ['a|b', 'a|b'], ['@(v1|v2)', 'v1'],
  ['+(v)1', 'vv1'], ['!v1', 'v2'], ['!v1', '!v1'], ['./x', 'x'], ['x/', 'x'], ['*/', 'ab'], ['a\\/b', 'a/b'], ['*', ''],
  ['', ''], ['', 'a'], ['**', ''], ['a**', 'a'], ['a**', 'abc'], ['?', 'ab'], ['*.*', '.hidden'], ['*', '.'],
  ['{\\\\\\\\', 'b11b'], ['?{?\\\\\\\\', 'b11b'], ['{a\\,b,c}', 'a,b'], ['{a,b\\}', 'b}'], ['latest', 'latest'],
  ['[\\^a]', '\\'], ['[\\^a]', '^'], ['[a\\-z]', 'b'], ['[a\\-z]', '-'], ['[a-\\z]', 'b'], ['[a--]', 'a'], ['[a-]', 'b'],
  ['a][b]', 'a]b'], ['a}{b}', 'a}b'], ['x{**}', 'x'], ['x{*}', 'x'], ['x{*}', 'xy'], ['a**', 'a'], ['a**', 'ab/c'],
];
let seed = 20261205;
const rnd = (n) => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return Math.floor((seed / 2 ** 32) * n); };
const word = (alphabet, min, max) => { let s = ''; const len = min + rnd(max - min + 1); for (let i = 0; i < len; i++) s += alphabet[rnd(alphabet.length)]; return s; };
const families = [
  // pattern alphabet, name alphabet, pattern length, name length, count
  ['ab1/*?[]^!{},()|\\.-_', 'ab1.-_', [1, 8], [1, 6], 15000],
  ['ab*?[]^{},\\-', 'ab-^],\\', [1, 10], [0, 6], 15000],
  ['ab/*{},', 'ab/', [1, 10], [0, 8], 15000],
  ['ab/*?[]^!{},()|\\.-+@', 'ab/.()|!-{}[\\', [1, 8], [0, 5], 10000],
  ['ab*?{},[]', 'ab', [1, 6], [0, 4], 10000],
];
const seen = new Set();
const out = [];
const add = (p, n) => { const k = `${p}\t${n}`; if (!seen.has(k)) { seen.add(k); out.push(k); } };
for (const [p, n] of picked) add(p, n);
for (const [pa, na, [pl, ph], [nl, nh], count] of families) for (let i = 0; i < count; i++) add(word(pa, pl, ph), word(na, nl, nh));
module.exports = { picked: picked.map(([p, n]) => `${p}\t${n}`) };
if (require.main === module) process.stdout.write(`${out.join('\n')}\n`);
