/** The test renderer follows Go text/template and Helm where the chart relies on it. */
import { Renderer, TemplateError, mergeValues } from './helm-render';

const run = (tpl: string, data: unknown = {}) => {
  const r = new Renderer();
  return r.exec(r.parse(tpl), { dot: data, root: data });
};

describe('helm-render', () => {
  it('trims whitespace around {{- and -}} only', () => {
    expect(run('a  {{- "b" -}}  c')).toBe('abc');
    expect(run('a\n  {{- if true }}\n  x\n  {{- end }}\nb')).toBe('a\n  x\nb');
    expect(run('a {{/* comment */}} b')).toBe('a  b');
  });

  it('if / else if / else, with, range over lists and maps', () => {
    const d = { Values: { a: '', b: 'B', list: ['x', 'y'], map: { k2: 2, k1: 1 }, empty: {} } };
    expect(run('{{ if .Values.a }}A{{ else if .Values.b }}{{ .Values.b }}{{ else }}C{{ end }}', d)).toBe('B');
    expect(run('{{ with .Values.b }}[{{ . }}]{{ end }}{{ with .Values.empty }}no{{ else }}else{{ end }}', d)).toBe('[B]else');
    expect(run('{{ range .Values.list }}<{{ . }}>{{ end }}', d)).toBe('<x><y>');
    expect(run('{{ range .Values.map }}{{ . }}{{ end }}', d)).toBe('12');
  });

  it('define / include / template with $ as the data passed in', () => {
    expect(run('{{ define "n" }}[{{ .x }}|{{ $.x }}]{{ end }}{{ include "n" .v | upper }}{{ template "n" .v }}', { v: { x: 'q' } })).toBe('[Q|Q][q|q]');
  });

  it('pipelines, parentheses and the Sprig functions the chart uses', () => {
    expect(run('{{ "abc" | quote }} {{ printf "%s-%s" "a" ("b" | upper) }}')).toBe('"abc" a-B');
    expect(run('{{ "a\\nb" | nindent 2 }}')).toBe('\n  a\n  b');
    expect(run('{{ default "d" "" }}{{ default "d" "v" }}')).toBe('dv');
    expect(run('{{ "hubgate-" | trimSuffix "-" }}{{ "abcdef" | trunc 3 }}{{ "pw" | b64enc }}')).toBe('hubgateabccHc=');
    expect(run('{{ toYaml .m | nindent 2 }}', { m: { a: [1, 'x'] } })).toBe('\n  a:\n  - 1\n  - x'); // go-yaml style: lists not indented
    expect(run('{{ and 1 "" }}|{{ or "" "y" }}|{{ not 0 }}|{{ eq "a" "b" "a" }}')).toBe('|y|true|true');
    expect(run('{{ replace "x" "y" "axbx" }}{{ "axbx" | replace "x" "z" }}')).toBe('aybyazbz');
  });

  it('prints YAML numbers like Go prints float64, integers after int', () => {
    expect(run('{{ .n }} {{ .n | int }} {{ .s }} {{ mul .m 1000 }} {{ add 1 2 }}', { n: 1000000, s: 30000, m: 120 })).toBe('1e+06 1000000 30000 120000 3');
    expect(run('{{ .n | quote }}', { n: 2500000 })).toBe('"2.5e+06"');
    expect(() => run('{{ printf "%d" .n }}', { n: 7 })).toThrow(/non-integer/);
  });

  it('missing keys print empty; fields of missing values fail like Helm', () => {
    expect(run('[{{ .Values.nope }}]', { Values: {} })).toBe('[]');
    expect(() => run('{{ .Values.nope.deeper }}', { Values: {} })).toThrow(/nil pointer evaluating/);
  });

  it('required and fail stop the rendering with their message', () => {
    expect(() => run('{{ required "x is required" .x }}', { x: '' })).toThrow(/x is required/);
    expect(() => run('{{ fail "nope" }}')).toThrow(TemplateError);
  });

  it('rejects what it does not implement instead of guessing', () => {
    expect(() => run('{{ $x := 1 }}')).toThrow(TemplateError);
    expect(() => run('{{ lookup "v1" "Secret" "ns" "n" }}')).toThrow(/not defined/);
    expect(() => run('{{ if true }}unclosed')).toThrow(TemplateError);
  });

  it('merges values like Helm: maps deep, lists replaced, null deletes', () => {
    expect(mergeValues({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: null })).toEqual({ a: { b: 1, c: [3] } });
  });
});
