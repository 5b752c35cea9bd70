/**
 * WGSL templates: one file per kernel family under shaders/, its variants named in a table beside the kernel's
 * description (src/kernels/<family>.ts, `defineVariants`), expanded where the WGSL is loaded (src/gpu/shaders.ts
 * `shaderSource`: from disk in Node, from the bundled text in the browser). Nothing expanded is kept on disk.
 *
 * A template is WGSL plus three things, each readable where it stands:
 *   {{expr}}            the value of expr, e.g. `@workgroup_size({{L}})`, `var acc{{t}} = vec4f(0.0);`
 *   //#if expr          the lines up to //#else or //#end when expr holds (//#else: the others)
 *   //#for v < expr     the lines up to //#end once per v = 0, 1, …, expr − 1 (unrolled code: accumulators
 *                       acc0, acc1, … kept in separate variables, which software WebGPU runs several times faster
 *                       than arrays)
 * A directive is a line of its own (leading spaces allowed, dropped with the line). expr is integer arithmetic and
 * logic over the variant's parameters and the enclosing loop variables: integers, true, false, ( ), unary ! and -,
 * * / % (integer division), + -, < <= > >=, == !=, &&, ||. An unknown name, a parameter the template never uses,
 * an unclosed block or `{{` left over is an error naming the line.
 *
 * Example (shaders/layernorm/layernorm_forward_cpu.wgsl, variants { sg8: { L: 8 }, sg4: { L: 4 } }):
 *   @compute @workgroup_size({{L}})
 *   …
 *   for (var c = lane; c < C4; c += {{L}}u) {
 *
 * Override constants stay what they are: values a pipeline picks per call (TRANS_B, HAS_BIAS, EPI, WG), one shader
 * module for all of them. A template parameter is for what changes the code's shape (lanes, rows, unrolled
 * accumulators, whether subgroups are enabled).
 */

export type TemplateValue = number | boolean;
export type TemplateValues = Readonly<Record<string, TemplateValue>>;

// ---------- expressions ----------
const TOKEN = /\s*(\d+|[A-Za-z_]\w*|&&|\|\||==|!=|<=|>=|[-+*/%<>!()])/y;
const BINARY: Record<string, [prec: number, f: (a: TemplateValue, b: TemplateValue) => TemplateValue]> = {
  '||': [1, (a, b) => !!a || !!b], '&&': [2, (a, b) => !!a && !!b],
  '==': [3, (a, b) => a === b], '!=': [3, (a, b) => a !== b],
  '<': [4, (a, b) => a < b], '<=': [4, (a, b) => a <= b], '>': [4, (a, b) => a > b], '>=': [4, (a, b) => a >= b],
  '+': [5, (a, b) => Number(a) + Number(b)], '-': [5, (a, b) => Number(a) - Number(b)],
  '*': [6, (a, b) => Number(a) * Number(b)], '%': [6, (a, b) => Number(a) % Number(b)],
  '/': [6, (a, b) => {
    if (Number(b) === 0) throw new Error('division by 0');
    return Math.trunc(Number(a) / Number(b));
  }],
};

/** The value of `expr` with `scope`'s names. */
function evaluate(expr: string, scope: ReadonlyMap<string, TemplateValue>): TemplateValue {
  const toks: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expr.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(expr);
    if (!m) {
      if (/^\s*$/.test(expr.slice(at))) break;
      throw new Error(`cannot read '${expr.slice(at).trim()}' in '${expr}'`);
    }
    toks.push(m[1]);
  }
  let i = 0;
  const primary = (): TemplateValue => {
    const t = toks[i++];
    if (t === undefined) throw new Error(`'${expr}' ends early`);
    if (t === '(') {
      const v = binary(0);
      if (toks[i++] !== ')') throw new Error(`')' missing in '${expr}'`);
      return v;
    }
    if (t === '!') return !primary();
    if (t === '-') return -Number(primary());
    if (/^\d/.test(t)) return Number(t);
    if (t === 'true' || t === 'false') return t === 'true';
    if (!/^[A-Za-z_]/.test(t)) throw new Error(`unexpected '${t}' in '${expr}'`);
    if (!scope.has(t)) throw new Error(`unknown name '${t}' (known: ${[...scope.keys()].join(', ') || 'none'})`);
    return scope.get(t)!;
  };
  const binary = (min: number): TemplateValue => {
    let left = primary();
    for (;;) {
      const op = BINARY[toks[i]];
      if (!op || op[0] <= min) return left;
      i++;
      left = op[1](left, binary(op[0]));
    }
  };
  const v = binary(0);
  if (i !== toks.length) throw new Error(`unexpected '${toks[i]}' in '${expr}'`);
  return v;
}

// ---------- blocks ----------
type Node =
  | { kind: 'text'; line: number; text: string }
  | { kind: 'if'; line: number; cond: string; then: Node[]; else: Node[] }
  | { kind: 'for'; line: number; v: string; count: string; body: Node[] };

const DIRECTIVE = /^\s*\/\/#(if|else|end|for)\b(.*)$/;

function parse(lines: string[], where: string): Node[] {
  const root: Node[] = [];
  // the open blocks: where their lines go now
  const stack: { node: Node | null; into: Node[] }[] = [{ node: null, into: root }];
  lines.forEach((text, n) => {
    const line = n + 1;
    const m = DIRECTIVE.exec(text);
    const top = stack[stack.length - 1];
    if (!m) { top.into.push({ kind: 'text', line, text }); return; }
    const [, word, rest] = m;
    const arg = rest.trim();
    if (word === 'if') {
      const node: Node = { kind: 'if', line, cond: arg, then: [], else: [] };
      top.into.push(node);
      stack.push({ node, into: node.then });
    } else if (word === 'for') {
      const f = /^([A-Za-z_]\w*)\s*<\s*(.+)$/.exec(arg);
      if (!f) throw new Error(`${where}:${line}: '//#for ${arg}' is not '//#for name < count'`);
      const node: Node = { kind: 'for', line, v: f[1], count: f[2], body: [] };
      top.into.push(node);
      stack.push({ node, into: node.body });
    } else if (word === 'else') {
      if (top.node?.kind !== 'if' || top.into !== top.node.then) throw new Error(`${where}:${line}: //#else outside an //#if`);
      top.into = top.node.else;
    } else {
      if (!top.node) throw new Error(`${where}:${line}: //#end with no open //#if or //#for`);
      stack.pop();
    }
  });
  if (stack.length > 1) throw new Error(`${where}:${stack[stack.length - 1].node!.line}: //#${stack[stack.length - 1].node!.kind} is never closed by //#end`);
  return root;
}

function render(nodes: Node[], scope: Map<string, TemplateValue>, where: string, out: string[]): void {
  const at = <T>(line: number, f: () => T): T => {
    try { return f(); } catch (e) { throw new Error(`${where}:${line}: ${(e as Error).message}`); }
  };
  for (const n of nodes) {
    if (n.kind === 'text') {
      const text = at(n.line, () => n.text.replace(/\{\{([^{}]*)\}\}/g, (_m, e: string) => String(evaluate(e, scope))));
      if (text.includes('{{') || text.includes('}}')) throw new Error(`${where}:${n.line}: an unmatched '{{' or '}}' in: ${n.text.trim()}`);
      out.push(text);
    } else if (n.kind === 'if') {
      render(at(n.line, () => evaluate(n.cond, scope)) ? n.then : n.else, scope, where, out);
    } else {
      const count = at(n.line, () => evaluate(n.count, scope));
      if (!Number.isInteger(count) || Number(count) < 0) throw new Error(`${where}:${n.line}: //#for ${n.v} < ${n.count}: the count is ${count}`);
      if (scope.has(n.v)) throw new Error(`${where}:${n.line}: //#for ${n.v} hides a name already in use`);
      for (let v = 0; v < Number(count); v++) {
        scope.set(n.v, v);
        render(n.body, scope, where, out);
      }
      scope.delete(n.v);
    }
  }
}

/** The names read anywhere in `nodes`' expressions (loop variables included). */
function namesIn(nodes: Node[], into = new Set<string>()): Set<string> {
  const add = (e: string) => { for (const m of e.matchAll(/[A-Za-z_]\w*/g)) into.add(m[0]); };
  for (const n of nodes) {
    if (n.kind === 'text') for (const m of n.text.matchAll(/\{\{([^{}]*)\}\}/g)) add(m[1]);
    else if (n.kind === 'if') { add(n.cond); namesIn(n.then, into); namesIn(n.else, into); }
    else { add(n.count); namesIn(n.body, into); }
  }
  return into;
}

/** The WGSL of one variant: `src` (the template at `where`, for messages) with `values` written in. */
export function expandTemplate(src: string, values: TemplateValues, where = 'template'): string {
  const out: string[] = [];
  const nodes = parse(src.split('\n'), where);
  render(nodes, new Map(Object.entries(values)), where, out);
  const named = namesIn(nodes); // every name the template's expressions read, taken branches or not
  const unused = Object.keys(values).filter((k) => !named.has(k));
  if (unused.length) throw new Error(`${where}: the variant's parameter${unused.length > 1 ? 's' : ''} ${unused.join(', ')} ${unused.length > 1 ? 'are' : 'is'} never used by the template`);
  return out.join('\n');
}

/** Whether `src` is a template (has a directive or a {{…}}): a description of it must name a variant. */
export function isTemplate(src: string): boolean {
  return /\{\{[^{}]*\}\}/.test(src) || src.split('\n').some((l) => DIRECTIVE.test(l));
}
