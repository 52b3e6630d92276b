/**
 * A small renderer for the subset of Helm (Go text/template + Sprig) that helm/hubgate uses, so the chart can be
 * rendered and its output parsed in unit tests without a helm binary.
 *
 * Supported: text with `{{- ... -}}` trimming, comments, `if` / `else if` / `else`, `with` (+ `else`), `range` over
 * lists and maps (dot = element), `define`, `template`, `include`, pipelines with `|`, parenthesised pipelines,
 * `$` (root data of the current template), fields (`.Values.a.b`, `.Files.Get "x"`), and the functions in FUNCS.
 * Not supported (a template using them fails loudly here): variables other than `$`, `:=`, `lookup`, `tpl`,
 * `.Capabilities`, most Sprig functions. Missing map keys print as "" (Helm's behaviour); a field of a missing
 * value is an error ("nil pointer evaluating"), as in Helm. Numbers from YAML print the way Go prints float64
 * (1000000 -> 1e+06), so a template that forgets `| int` on a large number is caught.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'js-yaml';

type Dict = Record<string, unknown>;

/** An integer produced by `int`/`int64`/`add` (prints as a plain integer, like Go's int64). */
class GoInt {
  constructor(readonly n: number) {}
}

// ---------------------------------------------------------------------------------------------- parse

type Term =
  | { k: 'lit'; v: unknown }
  | { k: 'field'; base: 'dot' | 'root'; path: string[] }
  | { k: 'ident'; name: string }
  | { k: 'paren'; pipe: Pipe };
type Command = Term[];
type Pipe = Command[];

type Node =
  | { t: 'text'; v: string }
  | { t: 'out'; pipe: Pipe }
  | { t: 'if'; branches: { cond: Pipe; body: Node[] }[]; otherwise?: Node[] }
  | { t: 'with'; pipe: Pipe; body: Node[]; otherwise?: Node[] }
  | { t: 'range'; pipe: Pipe; body: Node[]; otherwise?: Node[] }
  | { t: 'template'; name: string; pipe?: Pipe };

export class TemplateError extends Error {}

function lexExpr(src: string): string[] {
  const tokens: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)|\||-?\d+(?:\.\d+)?|\$?[A-Za-z_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\$[A-Za-z_0-9]*|\.|[A-Za-z_][A-Za-z0-9_]*)\s*/y;
  let pos = 0;
  while (pos < src.length) {
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m || m[0].length === 0) {
      if (/^\s*$/.test(src.slice(pos))) break;
      throw new TemplateError(`cannot parse expression near "${src.slice(pos, pos + 20)}" in {{${src}}}`);
    }
    tokens.push(m[1]);
    pos = re.lastIndex;
  }
  return tokens;
}

function parsePipe(tokens: string[], pos = 0, until?: string): [Pipe, number] {
  const pipe: Pipe = [];
  let cmd: Command = [];
  while (pos < tokens.length) {
    const tok = tokens[pos];
    if (tok === until) break;
    pos++;
    if (tok === '|') {
      if (!cmd.length) throw new TemplateError('empty command in pipeline');
      pipe.push(cmd);
      cmd = [];
    } else if (tok === '(') {
      const [inner, next] = parsePipe(tokens, pos, ')');
      if (tokens[next] !== ')') throw new TemplateError('unclosed (');
      cmd.push({ k: 'paren', pipe: inner });
      pos = next + 1;
    } else if (tok === ')') {
      throw new TemplateError('unexpected )');
    } else {
      cmd.push(termOf(tok));
    }
  }
  if (cmd.length) pipe.push(cmd);
  if (!pipe.length) throw new TemplateError('empty pipeline');
  return [pipe, pos];
}

function termOf(tok: string): Term {
  if (tok.startsWith('"')) return { k: 'lit', v: JSON.parse(tok) };
  if (tok.startsWith('`')) return { k: 'lit', v: tok.slice(1, -1) };
  if (/^-?\d/.test(tok)) return { k: 'lit', v: Number(tok) };
  if (tok === 'true' || tok === 'false') return { k: 'lit', v: tok === 'true' };
  if (tok === 'nil') return { k: 'lit', v: undefined };
  if (tok === '.') return { k: 'field', base: 'dot', path: [] };
  if (tok === '$') return { k: 'field', base: 'root', path: [] };
  if (tok.startsWith('$.')) return { k: 'field', base: 'root', path: tok.slice(2).split('.') };
  if (tok.startsWith('$')) throw new TemplateError(`variables other than $ are not supported: ${tok}`);
  if (tok.startsWith('.')) return { k: 'field', base: 'dot', path: tok.slice(1).split('.') };
  return { k: 'ident', name: tok };
}

interface Action {
  raw: string;
}

/** Splits a template into text and actions, applying `{{-` / `-}}` whitespace trimming. */
function tokenize(src: string): (string | Action)[] {
  const out: (string | Action)[] = [];
  const re = /\{\{(-\s)?([\s\S]*?)(\s-)?\}\}/g;
  let last = 0;
  let trimNext = false;
  for (let m = re.exec(src); m; m = re.exec(src)) {
    let text = src.slice(last, m.index);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (m[1]) text = text.replace(/\s+$/, '');
    if (text) out.push(text);
    const body = m[2].trim();
    if (!(body.startsWith('/*') && body.endsWith('*/'))) out.push({ raw: body });
    trimNext = Boolean(m[3]);
    last = re.lastIndex;
  }
  let tail = src.slice(last);
  if (trimNext) tail = tail.replace(/^\s+/, '');
  if (tail) out.push(tail);
  return out;
}

function parseTemplate(src: string, defines: Map<string, Node[]>): Node[] {
  const items = tokenize(src);
  let i = 0;
  const expr = (s: string) => parsePipe(lexExpr(s))[0];

  function block(): { nodes: Node[]; end: string } {
    const nodes: Node[] = [];
    while (i < items.length) {
      const it = items[i++];
      if (typeof it === 'string') {
        nodes.push({ t: 'text', v: it });
        continue;
      }
      const [kw, ...rest] = it.raw.split(/\s+/);
      const arg = it.raw.slice(kw.length).trim();
      if (kw === 'end' || kw === 'else') return { nodes, end: it.raw };
      if (kw === 'if') {
        const branches = [{ cond: expr(arg), body: [] as Node[] }];
        let otherwise: Node[] | undefined;
        for (;;) {
          const b = block();
          if (otherwise) otherwise = b.nodes;
          else branches[branches.length - 1].body = b.nodes;
          if (b.end === 'end') break;
          if (otherwise) throw new TemplateError('else after else');
          if (b.end === 'else') otherwise = [];
          else if (b.end.startsWith('else if ')) branches.push({ cond: expr(b.end.slice(8)), body: [] });
          else throw new TemplateError(`unexpected {{${b.end}}}`);
        }
        nodes.push({ t: 'if', branches, otherwise });
      } else if (kw === 'with' || kw === 'range') {
        if (kw === 'range' && arg.includes(':=')) throw new TemplateError('range with variables is not supported');
        const b = block();
        let otherwise: Node[] | undefined;
        if (b.end === 'else') {
          const e = block();
          if (e.end !== 'end') throw new TemplateError(`${kw}: expected end`);
          otherwise = e.nodes;
        } else if (b.end !== 'end') throw new TemplateError(`${kw}: unexpected {{${b.end}}}`);
        nodes.push({ t: kw, pipe: expr(arg), body: b.nodes, otherwise });
      } else if (kw === 'define') {
        const name = JSON.parse(rest[0]) as string;
        const b = block();
        if (b.end !== 'end') throw new TemplateError('define: expected end');
        defines.set(name, b.nodes);
      } else if (kw === 'template') {
        const m = /^("(?:[^"\\]|\\.)*")\s*(.*)$/.exec(arg);
        if (!m) throw new TemplateError(`bad template action: ${it.raw}`);
        nodes.push({ t: 'template', name: JSON.parse(m[1]) as string, pipe: m[2] ? expr(m[2]) : undefined });
      } else if (['block', 'break', 'continue'].includes(kw) || /^\$\w*\s*:?=/.test(it.raw)) {
        throw new TemplateError(`not supported by the test renderer: {{${it.raw}}}`);
      } else {
        nodes.push({ t: 'out', pipe: expr(it.raw) });
      }
    }
    return { nodes, end: '' };
  }

  const { nodes, end } = block();
  if (end) throw new TemplateError(`unexpected {{${end}}} at top level`);
  return nodes;
}

// ---------------------------------------------------------------------------------------------- evaluate

/** Go's %v for float64: shortest representation, exponent form when the exponent is < -4 or >= 6 (1e+06). */
function goFloat(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
  if (n === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(n)));
  if (exp < -4 || exp >= 6) {
    const [mant, e] = n.toExponential().split('e');
    const en = Number(e);
    return `${mant}e${en < 0 ? '-' : '+'}${String(Math.abs(en)).padStart(2, '0')}`;
  }
  return String(n);
}

function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (v instanceof GoInt) return String(v.n);
  if (typeof v === 'number') return goFloat(v);
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(str).join(' ')}]`;
  if (typeof v === 'object') {
    return `map[${Object.keys(v as Dict)
      .sort()
      .map((k) => `${k}:${str((v as Dict)[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (v instanceof GoInt) return v.n !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as Dict).length > 0;
  return true;
}

const num = (v: unknown): number => (v instanceof GoInt ? v.n : typeof v === 'number' ? v : Number(v ?? 0));
const plain = (v: unknown): unknown => (v instanceof GoInt ? v.n : v);

type Fn = (...args: unknown[]) => unknown;

interface Scope {
  dot: unknown;
  root: unknown;
}

export class Renderer {
  readonly defines = new Map<string, Node[]>();
  private readonly funcs: Record<string, Fn>;

  constructor() {
    const indent = (n: unknown, s: unknown) => {
      const pad = ' '.repeat(num(n));
      return pad + str(s).split('\n').join('\n' + pad);
    };
    this.funcs = {
      include: (name, data) => this.include(String(name), data),
      required: (msg, v) => {
        if (v === undefined || v === null || v === '') throw new TemplateError(`required: ${str(msg)}`);
        return v;
      },
      fail: (msg) => {
        throw new TemplateError(`fail: ${str(msg)}`);
      },
      default: (def, v) => (truthy(v) ? v : def),
      empty: (v) => !truthy(v),
      coalesce: (...args) => args.find(truthy),
      quote: (...args) => args.filter((a) => a !== undefined && a !== null).map((a) => JSON.stringify(str(a))).join(' '),
      squote: (...args) => args.filter((a) => a !== undefined && a !== null).map((a) => `'${str(a)}'`).join(' '),
      indent,
      nindent: (n, s) => '\n' + indent(n, s),
      toYaml: (v) => yaml.dump(plainDeep(v), { lineWidth: -1, noRefs: true, seqNoIndent: true }).replace(/\n$/, ''),
      toJson: (v) => JSON.stringify(plainDeep(v)),
      b64enc: (s) => Buffer.from(str(s)).toString('base64'),
      replace: (oldS, newS, s) => str(s).split(str(oldS)).join(str(newS)),
      trunc: (n, s) => str(s).slice(0, num(n)),
      trimSuffix: (suf, s) => (str(s).endsWith(str(suf)) ? str(s).slice(0, str(s).length - str(suf).length) : str(s)),
      trimPrefix: (pre, s) => (str(s).startsWith(str(pre)) ? str(s).slice(str(pre).length) : str(s)),
      trim: (s) => str(s).trim(),
      lower: (s) => str(s).toLowerCase(),
      upper: (s) => str(s).toUpperCase(),
      contains: (sub, s) => str(s).includes(str(sub)),
      hasPrefix: (pre, s) => str(s).startsWith(str(pre)),
      toString: (v: unknown) => str(v),
      printf: (fmt, ...args) => {
        let i = 0;
        return str(fmt).replace(/%([sdvq%])/g, (_m, verb: string) => {
          if (verb === '%') return '%';
          const a = args[i++];
          if (verb === 'd') {
            if (!(a instanceof GoInt)) throw new TemplateError(`printf %d of a non-integer (${str(a)}): Go prints %!d(float64=...)`);
            return String(a.n);
          }
          return verb === 'q' ? JSON.stringify(str(a)) : str(a);
        });
      },
      int: (v) => new GoInt(Math.trunc(num(v))),
      int64: (v) => new GoInt(Math.trunc(num(v))),
      add: (...args) => new GoInt(args.reduce<number>((s, a) => s + Math.trunc(num(a)), 0)),
      mul: (...args) => new GoInt(args.reduce<number>((s, a) => s * Math.trunc(num(a)), 1)),
      eq: (a, ...bs) => bs.some((b) => plain(a) === plain(b)),
      ne: (a, b) => plain(a) !== plain(b),
      lt: (a, b) => num(a) < num(b),
      le: (a, b) => num(a) <= num(b),
      gt: (a, b) => num(a) > num(b),
      ge: (a, b) => num(a) >= num(b),
      and: (...args) => args.find((a) => !truthy(a)) ?? args[args.length - 1],
      or: (...args) => args.find(truthy) ?? args[args.length - 1],
      not: (v) => !truthy(v),
      hasKey: (m, k) => Object.prototype.hasOwnProperty.call(m ?? {}, str(k)),
      list: (...args) => args,
      print: (...args) => args.map(str).join(''),
      sha256sum: (s) => createHash('sha256').update(str(s)).digest('hex'),
    };
  }

  /** Parses a template file; its `define`s become available to include/template. */
  parse(src: string): Node[] {
    return parseTemplate(src, this.defines);
  }

  include(name: string, data: unknown): string {
    const body = this.defines.get(name);
    if (!body) throw new TemplateError(`no template "${name}"`);
    return this.exec(body, { dot: data, root: data });
  }

  exec(nodes: Node[], scope: Scope): string {
    let out = '';
    for (const n of nodes) {
      switch (n.t) {
        case 'text':
          out += n.v;
          break;
        case 'out':
          out += str(this.evalPipe(n.pipe, scope));
          break;
        case 'template':
          out += this.include(n.name, n.pipe ? this.evalPipe(n.pipe, scope) : undefined);
          break;
        case 'if': {
          const hit = n.branches.find((b) => truthy(this.evalPipe(b.cond, scope)));
          if (hit) out += this.exec(hit.body, scope);
          else if (n.otherwise) out += this.exec(n.otherwise, scope);
          break;
        }
        case 'with': {
          const v = this.evalPipe(n.pipe, scope);
          if (truthy(v)) out += this.exec(n.body, { dot: v, root: scope.root });
          else if (n.otherwise) out += this.exec(n.otherwise, scope);
          break;
        }
        case 'range': {
          const v = this.evalPipe(n.pipe, scope);
          const items = Array.isArray(v)
            ? v
            : v && typeof v === 'object'
              ? Object.keys(v as Dict)
                  .sort()
                  .map((k) => (v as Dict)[k])
              : [];
          if (items.length) for (const item of items) out += this.exec(n.body, { dot: item, root: scope.root });
          else if (n.otherwise) out += this.exec(n.otherwise, scope);
          break;
        }
      }
    }
    return out;
  }

  private evalPipe(pipe: Pipe, scope: Scope): unknown {
    let value: unknown;
    pipe.forEach((cmd, i) => {
      value = this.evalCommand(cmd, scope, i === 0 ? [] : [value]);
    });
    return value;
  }

  private evalCommand(cmd: Command, scope: Scope, piped: unknown[]): unknown {
    const [head, ...rest] = cmd;
    const args = () => [...rest.map((t) => this.evalTerm(t, scope)), ...piped];
    if (head.k === 'ident') {
      const fn = this.funcs[head.name];
      if (!fn) throw new TemplateError(`function "${head.name}" not defined in the test renderer`);
      return fn(...args());
    }
    const v = this.evalTerm(head, scope);
    if (typeof v === 'function') return (v as Fn)(...args());
    if (rest.length || piped.length) throw new TemplateError('can\'t give argument to non-function');
    return v;
  }

  private evalTerm(t: Term, scope: Scope): unknown {
    switch (t.k) {
      case 'lit':
        return t.v;
      case 'paren':
        return this.evalPipe(t.pipe, scope);
      case 'ident': {
        const fn = this.funcs[t.name];
        if (!fn) throw new TemplateError(`function "${t.name}" not defined in the test renderer`);
        return fn();
      }
      case 'field': {
        let v: unknown = t.base === 'root' ? scope.root : scope.dot;
        const walked: string[] = [];
        for (const key of t.path) {
          if (v === undefined || v === null) {
            throw new TemplateError(`nil pointer evaluating interface {}.${key} (at .${walked.join('.')})`);
          }
          if (typeof v !== 'object') throw new TemplateError(`can't evaluate field ${key} in type ${typeof v}`);
          v = (v as Dict)[key];
          walked.push(key);
        }
        return v;
      }
    }
  }
}

function plainDeep(v: unknown): unknown {
  if (v instanceof GoInt) return v.n;
  if (Array.isArray(v)) return v.map(plainDeep);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v as Dict).map(([k, x]) => [k, plainDeep(x)]));
  return v;
}

// ---------------------------------------------------------------------------------------------- chart

/** Helm's value merge: maps merge recursively, anything else replaces; null deletes the key. */
export function mergeValues(base: unknown, over: unknown): unknown {
  if (over === undefined) return structuredClone(base);
  if (!isMap(base) || !isMap(over)) return structuredClone(over);
  const out: Dict = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = mergeValues(out[k], v);
  }
  return out;
}
const isMap = (v: unknown): v is Dict => Boolean(v) && typeof v === 'object' && !Array.isArray(v);

export interface RenderedChart {
  /** Rendered text by template file name (e.g. "deployment.yaml"); empty outputs included. */
  files: Record<string, string>;
  /** Every YAML document of every template, parsed as YAML 1.1 like Kubernetes does; empty documents dropped. */
  docs: Dict[];
  notes: string;
}

export interface RenderOptions {
  values?: Dict;
  releaseName?: string;
  namespace?: string;
}

export function renderChart(chartDir: string, opts: RenderOptions = {}): RenderedChart {
  // Helm and Kubernetes read YAML 1.1 (go-yaml): `off`, `yes` unquoted are booleans there.
  const chart = yaml.load(fs.readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8'), { schema: yaml.YAML11_SCHEMA }) as Dict;
  const defaults = yaml.load(fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'), { schema: yaml.YAML11_SCHEMA }) as Dict;
  const values = mergeValues(defaults, opts.values ?? {}) as Dict;
  const root = {
    Values: values,
    Release: { Name: opts.releaseName ?? 'hubgate', Namespace: opts.namespace ?? 'hubgate', Service: 'Helm', IsInstall: true, IsUpgrade: false },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
    Files: {
      Get: (p: unknown) => {
        const file = path.join(chartDir, String(p));
        return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
      },
    },
  };

  const r = new Renderer();
  const basePath = `${String(chart.name)}/templates`;
  Object.assign(root, { Template: { BasePath: basePath } });
  const tdir = path.join(chartDir, 'templates');
  const names = fs.readdirSync(tdir).sort();
  // Helpers first, so their defines exist before any template runs.
  const parsed = new Map<string, Node[]>();
  for (const n of [...names.filter((x) => x.startsWith('_')), ...names.filter((x) => !x.startsWith('_'))]) {
    try {
      const nodes = r.parse(fs.readFileSync(path.join(tdir, n), 'utf8'));
      parsed.set(n, nodes);
      // Like Helm, every file is also a named template: include (print $.Template.BasePath "/x.yaml") .
      r.defines.set(`${basePath}/${n}`, nodes);
    } catch (e) {
      throw new TemplateError(`${n}: ${(e as Error).message}`);
    }
  }
  const files: Record<string, string> = {};
  const docs: Dict[] = [];
  let notes = '';
  for (const [n, nodes] of parsed) {
    if (n.startsWith('_')) continue;
    let text: string;
    try {
      text = r.exec(nodes, { dot: root, root });
    } catch (e) {
      throw new TemplateError(`${n}: ${(e as Error).message}`);
    }
    files[n] = text;
    if (n === 'NOTES.txt') {
      notes = text;
      continue;
    }
    for (const d of yaml.loadAll(text, { filename: n, schema: yaml.YAML11_SCHEMA })) {
      if (d !== null && d !== undefined) docs.push(d as Dict);
    }
  }
  return { files, docs, notes };
}
