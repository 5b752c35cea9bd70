/**
 * The kernel descriptions (src/kernels/*.ts, `defineKernel`) against the WGSL they describe, without a GPU:
 * every exported description — a kernel's, or one variant's of a family's table (`defineVariants`: the family's
 * template expanded with the variant's values, src/gpu/template.ts) — is checked against its WGSL (after #include
 * resolution) — bindings (names,
 * order, group 0, var<uniform> vs var<storage>, read-only bindings never assigned to, read-write ones written),
 * entry points, and the `Params` struct (names, order, types, offsets by WGSL's layout rules computed here
 * independently; members named `_…` are padding the shader may keep, as long as no described field moves).
 * Every .wgsl file with an entry point is covered by a description (a template by its variants); every other one
 * is #included by one. The template expander: its blocks, loops, expressions, and the errors it names.
 * Then: a one-field drift, a swapped binding, a write to a read-only binding are each detected; the packer follows
 * WGSL's layout rules; packParams and dispatch refuse missing or extra names, naming the kernel.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dispatch, packParams, paramsLayout, defineKernel, defineVariants, kernelWgsl, type Kernel, type KernelDef } from '../src/gpu/pipelines.ts';
import { setShaderProvider, shaderSource } from '../src/gpu/shaders.ts';
import { expandTemplate, isTemplate } from '../src/gpu/template.ts';
import { kernelDescriptions } from './helpers/kernels.ts';
import type { GpuContext } from '../src/gpu/context.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SHADERS = join(ROOT, 'shaders');
const KERNELS = join(ROOT, 'src', 'kernels');
const read = (p: string) => readFileSync(join(SHADERS, p), 'utf8');
setShaderProvider((p) => readFileSync(join(SHADERS, p), 'utf8'));

// ---------- WGSL, parsed just enough ----------
interface WgslBinding { group: number; binding: number; address: string; name: string; type: string }
interface WgslMember { name: string; type: string; align?: number; size?: number }
interface Wgsl { path: string; src: string; entries: string[]; bindings: WgslBinding[]; structs: Map<string, WgslMember[]> }

const stripComments = (s: string) => s.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');

function parseWgsl(path: string, resolved: string): Wgsl {
  const src = stripComments(resolved);
  const entries = [...src.matchAll(/@compute\b[^{;]*?\bfn\s+(\w+)\s*\(/g)].map((m) => m[1]);
  const bindings = [...src.matchAll(/@group\((\d+)\)\s*@binding\((\d+)\)\s*var<([^>]+)>\s*(\w+)\s*:\s*([^;]+);/g)]
    .map((m) => ({ group: Number(m[1]), binding: Number(m[2]), address: m[3].replace(/\s+/g, ''), name: m[4], type: m[5].trim() }))
    .sort((a, b) => a.binding - b.binding);
  const structs = new Map<string, WgslMember[]>();
  for (const m of src.matchAll(/struct\s+(\w+)\s*\{([^}]*)\}/g)) {
    structs.set(m[1], [...m[2].matchAll(/((?:@\w+\(\s*\d+\s*\)\s*)*)(\w+)\s*:\s*([\w<>]+)/g)].map((f) => ({
      name: f[2], type: f[3],
      align: /@align\(\s*(\d+)/.exec(f[1]) ? Number(/@align\(\s*(\d+)/.exec(f[1])![1]) : undefined,
      size: /@size\(\s*(\d+)/.exec(f[1]) ? Number(/@size\(\s*(\d+)/.exec(f[1])![1]) : undefined,
    })));
  }
  return { path, src, entries, bindings, structs };
}

/** WGSL's uniform layout, written again here (not src/gpu/pipelines.ts's) so that the two check each other. */
const TYPE_LAYOUT: Record<string, [size: number, align: number]> = {
  u32: [4, 4], i32: [4, 4], f32: [4, 4],
  'vec2<u32>': [8, 8], 'vec2<i32>': [8, 8], 'vec2<f32>': [8, 8], vec2u: [8, 8], vec2i: [8, 8], vec2f: [8, 8],
  'vec3<u32>': [12, 16], 'vec3<i32>': [12, 16], 'vec3<f32>': [12, 16], vec3u: [12, 16], vec3i: [12, 16], vec3f: [12, 16],
  'vec4<u32>': [16, 16], 'vec4<i32>': [16, 16], 'vec4<f32>': [16, 16], vec4u: [16, 16], vec4i: [16, 16], vec4f: [16, 16],
};
function structLayout(members: WgslMember[]): { offsets: Map<string, number>; size: number; errors: string[] } {
  const offsets = new Map<string, number>();
  const errors: string[] = [];
  let end = 0, structAlign = 1;
  for (const m of members) {
    const tl = TYPE_LAYOUT[m.type];
    if (!tl) { errors.push(`Params.${m.name}: type ${m.type} is not one this test lays out`); continue; }
    const align = m.align ?? tl[1], size = m.size ?? tl[0];
    const off = Math.ceil(end / align) * align;
    offsets.set(m.name, off);
    end = off + size;
    structAlign = Math.max(structAlign, align);
  }
  return { offsets, size: Math.ceil(end / structAlign) * structAlign, errors };
}

/** The functions of `src`: each one's parameter list and body (braces matched). */
function functions(src: string): { params: string; body: string }[] {
  const out: { params: string; body: string }[] = [];
  for (const m of src.matchAll(/\bfn\s+\w+\s*\(([^{]*)\{/g)) { // params (builtins included) and return type
    let depth = 1, i = m.index! + m[0].length;
    for (; i < src.length && depth; i++) depth += src[i] === '{' ? 1 : src[i] === '}' ? -1 : 0;
    out.push({ params: m[1], body: src.slice(m.index! + m[0].length, i - 1) });
  }
  return out;
}

/**
 * Does `src` write the module-scope variable `name` (assignment, compound assignment, ++/--, an atomic write)?
 * Functions that declare their own `name` (a parameter, var, let) are skipped: there the name is another variable
 * (e.g. common/reduce.wgsl's loop counter `s`).
 */
function writes(src: string, name: string): boolean {
  const idx = String.raw`(?:\s*\[(?:[^\[\]]|\[[^\[\]]*\])*\])*(?:\.\w+)*`;
  const assign = new RegExp(String.raw`(?<![\w.])${name}${idx}\s*(?:=(?!=)|[-+*/%&|^]=|<<=|>>=|\+\+|--)`);
  const atomic = new RegExp(String.raw`\batomic(?:Store|Add|Sub|Max|Min|And|Or|Xor|Exchange|CompareExchangeWeak)\s*\(\s*&\s*${name}\b`);
  const shadows = new RegExp(String.raw`\b(?:var|let|const)\s+${name}\b|(?<![\w.])${name}\s*:(?!:)`);
  return functions(src).some((f) => !shadows.test(f.params) && !shadows.test(f.body) && (assign.test(f.body) || atomic.test(f.body)));
}

// ---------- the check ----------
/** Every way `def` and the parsed shader disagree (empty: they agree). */
function mismatches(def: KernelDef, w: Wgsl): string[] {
  const out: string[] = [];
  const want = Object.entries(def.bindings);
  const got = w.bindings;
  const fmt = (xs: string[]) => xs.join(', ');
  if (fmt(want.map(([n]) => n)) !== fmt(got.map((b) => b.name))) out.push(`bindings: description ${fmt(want.map(([n]) => n))}, shader ${fmt(got.map((b) => b.name))}`);
  got.forEach((b, i) => {
    if (b.group !== 0) out.push(`binding ${b.name}: @group(${b.group}), expected 0`);
    if (b.binding !== i) out.push(`binding ${b.name}: @binding(${b.binding}) where ${i} was expected (numbers run 0..n-1)`);
  });
  for (const [name, access] of want) {
    const b = got.find((x) => x.name === name);
    if (!b) continue;
    if (access === 'uniform' && b.address !== 'uniform') out.push(`binding ${name}: described as the uniform, declared var<${b.address}>`);
    if (access !== 'uniform' && !b.address.startsWith('storage')) out.push(`binding ${name}: described as storage '${access}', declared var<${b.address}>`);
    if (access === 'rw' && b.address !== 'storage,read_write') out.push(`binding ${name}: described as 'rw', declared var<${b.address}>`);
    if (access === 'read' && writes(w.src, name)) out.push(`binding ${name}: described as 'read', but the shader assigns to it`);
    if (access === 'rw' && !writes(w.src, name)) out.push(`binding ${name}: described as 'rw', but the shader never writes it (describe it as 'read')`);
  }
  if (fmt([...def.entries].sort()) !== fmt([...w.entries].sort())) out.push(`entry points: description ${fmt([...def.entries])}, shader ${fmt(w.entries)}`);

  const uni = got.find((b) => b.address === 'uniform');
  const members = uni ? w.structs.get(uni.type) : undefined;
  if (!members) { out.push(`no struct for the uniform${uni ? ` (${uni.type})` : ''}`); return out; }
  const named = members.filter((m) => !m.name.startsWith('_'));
  const fields = def.layout.fields;
  if (fmt(fields.map((f) => `${f.name}: ${f.type}`)) !== fmt(named.map((m) => `${m.name}: ${m.type}`))) {
    out.push(`Params: description { ${fmt(fields.map((f) => `${f.name}: ${f.type}`))} }, shader { ${fmt(named.map((m) => `${m.name}: ${m.type}`))} }`);
  }
  const lay = structLayout(members);
  out.push(...lay.errors);
  for (const f of fields) {
    const off = lay.offsets.get(f.name);
    if (off !== undefined && off !== f.offset) out.push(`Params.${f.name}: packed at byte ${f.offset}, the shader reads it at byte ${off}`);
  }
  if (lay.size > def.layout.bytes) out.push(`Params: the shader's struct is ${lay.size} bytes, the packed uniform ${def.layout.bytes}`);
  return out;
}

// ---------- what there is ----------
function wgslFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? wgslFiles(join(dir, e.name)) : e.name.endsWith('.wgsl') ? [join(dir, e.name)] : []));
}
const FILES = wgslFiles(SHADERS).map((f) => relative(SHADERS, f).split('\\').join('/')).sort();

const descriptions = kernelDescriptions;

const parsed = (path: string) => parseWgsl(path, shaderSource(path));

// ---------- the tests ----------
test('every kernel description matches its WGSL: bindings, intent, entry points, Params names/types/offsets', async () => {
  const defs = await descriptions();
  assert.ok(defs.length >= 20, `found only ${defs.length} descriptions in src/kernels`);
  const problems: string[] = [];
  for (const { where, def } of defs) {
    if (!FILES.includes(def.shader)) { problems.push(`${where}: shaders/${def.shader} does not exist`); continue; }
    let w: Wgsl;
    try { w = parseWgsl(def.shader, kernelWgsl(def)); } catch (e) { problems.push(`${where}: ${(e as Error).message}`); continue; }
    for (const m of mismatches(def, w)) problems.push(`${where} (shaders/${def.shader}${def.variant ? ` [${def.variant.name}]` : ''}): ${m}`);
  }
  assert.ok(problems.length === 0, `kernel descriptions disagree with their WGSL:\n  ${problems.join('\n  ')}`);
  // the CPU-class families and the GPU-class matmul are templates, every variant of their tables checked above
  const variants = defs.filter((d) => d.def.variant).map((d) => `${d.def.name}`);
  for (const v of ['matmul/matmul[v4_64x64x8_4x4]', 'matmul/matmul[f32_64x64x8_4x4]', 'matmul/matmul[sg_128x128x8_8x8]', 'matmul/matmul_cpu[sg8]', 'matmul/matmul_cpu[sg4]', 'matmul/matmul_cpu[nosg]', 'attention/attention_forward_cpu[sg4_g4]',
    'attention/attention_backward_q_cpu[sg8_g2]', 'attention/attention_backward_kv_cpu[sg4]', 'layernorm/layernorm_forward_cpu[sg4]', 'layernorm/layernorm_backward_cpu[sg8]']) {
    assert.ok(variants.includes(v), `${v} is not among the variants found: ${variants.join(', ')}`);
  }
});

test('templates and variants: a template is described only by variants, each variant names a template', async () => {
  const defs = await descriptions();
  const problems: string[] = [];
  for (const { where, def } of defs) {
    const tmpl = isTemplate(read(def.shader));
    if (tmpl && !def.variant) problems.push(`${where}: shaders/${def.shader} is a template; describe its variants (defineVariants)`);
    if (!tmpl && def.variant) problems.push(`${where}: variant ${def.variant.name} of shaders/${def.shader}, which is no template`);
  }
  assert.equal(problems, []);
  const templates = FILES.filter((f) => isTemplate(read(f)));
  assert.equal(templates, ['attention/attention_backward_kv_cpu.wgsl', 'attention/attention_backward_q_cpu.wgsl', 'attention/attention_forward_cpu.wgsl',
    'ig/conductance.wgsl', 'layernorm/layernorm_backward_cpu.wgsl', 'layernorm/layernorm_forward_cpu.wgsl', 'matmul/matmul.wgsl', 'matmul/matmul_cpu.wgsl']);
  assert.throws(() => shaderSource('matmul/matmul_cpu.wgsl'), /shaders\/matmul\/matmul_cpu\.wgsl is a template .*ask for one of its variants/);
});

test('every .wgsl file is covered: entry files by a description, include-only files by an #include', async () => {
  const described = new Set((await descriptions()).map((d) => d.def.shader));
  const raw = new Map(FILES.map((f) => [f, read(f)]));
  const included = new Set([...raw.values()].flatMap((s) => [...s.matchAll(/^#include "([^"]+)"/gm)].map((m) => m[1])));
  const uncovered = FILES.filter((f) => !described.has(f) && (parseWgsl(f, raw.get(f)!).entries.length > 0 || !included.has(f)));
  assert.equal(uncovered, [], `WGSL files with no kernel description in src/kernels (or, without an entry point, never #included): ${uncovered.join(', ')}`);
  for (const dir of new Set(FILES.map((f) => f.split('/')[0]))) {
    if (dir === 'common') continue; // includes only
    assert.ok(readdirSync(KERNELS).includes(`${dir}.ts`), `shaders/${dir}/ has no src/kernels/${dir}.ts`);
  }
});

// A parsed copy of one shader, and descriptions drifted one way each: every drift must be reported.
const ATTN = defineKernel({
  shader: 'attention/attention_forward.wgsl',
  bindings: { qkv: 'read', mask: 'read', out: 'rw', probs: 'rw', p: 'uniform' },
  params: { B: 'u32', T: 'u32', C: 'u32', NH: 'u32', HS: 'u32', scale: 'f32' },
});

test('the check passes a faithful copy and catches one-field drift, a swapped binding, a write to a read binding', () => {
  const w = parsed(ATTN.shader);
  assert.equal(mismatches(ATTN, w), []);
  const copy = (): Wgsl => ({ ...w, bindings: w.bindings.map((b) => ({ ...b })), structs: new Map([...w.structs].map(([k, v]) => [k, v.map((m) => ({ ...m }))])) });

  // the shader gains a padding word before `scale`: scale moves from byte 20 to 24
  const padded = copy();
  const ms = padded.structs.get('Params')!;
  ms.splice(5, 0, { name: '_p0', type: 'u32' });
  assert.match(mismatches(ATTN, padded).join('\n'), /Params\.scale: packed at byte 20, the shader reads it at byte 24/);
  // a field's type drifts
  const typed = copy();
  typed.structs.get('Params')![4].type = 'f32';
  assert.match(mismatches(ATTN, typed).join('\n'), /Params: description .*HS: u32.*shader .*HS: f32/);
  // the description loses or gains a field
  assert.ok(mismatches(defineKernel({ ...ATTN, params: { B: 'u32', T: 'u32', C: 'u32', NH: 'u32', scale: 'f32' } }), w).some((m) => m.startsWith('Params')));
  assert.ok(mismatches(defineKernel({ ...ATTN, params: { ...ATTN.params, extra: 'u32' } }), w).some((m) => m.startsWith('Params')));
  // two bindings swapped in the shader, or in the description
  const swapped = copy();
  [swapped.bindings[0].name, swapped.bindings[1].name] = [swapped.bindings[1].name, swapped.bindings[0].name];
  assert.match(mismatches(ATTN, swapped).join('\n'), /bindings: description qkv, mask, .* shader mask, qkv/);
  assert.ok(mismatches(defineKernel({ ...ATTN, bindings: { mask: 'read', qkv: 'read', out: 'rw', probs: 'rw', p: 'uniform' } }), w).length > 0);
  // a binding declared read-only in intent that the shader writes, and an 'rw' one it never writes
  const written = { ...w, src: `${w.src}\nfn oops() { qkv[0u] = 1.0; }` };
  assert.match(mismatches(ATTN, written).join('\n'), /binding qkv: described as 'read', but the shader assigns to it/);
  assert.match(mismatches(defineKernel({ ...ATTN, bindings: { ...ATTN.bindings, mask: 'rw' } }), w).join('\n'), /mask: described as 'rw', but the shader never writes it/);
  // the uniform declared as storage; a binding in another group
  const grouped = copy();
  grouped.bindings[2].group = 1;
  grouped.bindings[4].address = 'storage,read_write';
  const m = mismatches(ATTN, grouped).join('\n');
  assert.match(m, /binding out: @group\(1\)/);
  assert.match(m, /binding p: described as the uniform, declared var<storage,read_write>/);
});

test('writes(): assignments, compound assignments and atomics count; comparisons and reads do not', () => {
  const fn = (body: string) => `fn f(i: u32) { if (true) { ${body} } }`;
  for (const s of ['x[i] = 1.0;', 'x[a[i]] += 2.0;', 'x[i].y = 0;', 'x[i]++;', 'atomicAdd(&x[i], 1u);', 'x[i] <<= 1u;']) assert.ok(writes(fn(s), 'x'), s);
  for (const s of ['let y = x[i];', 'if (x[i] == 1.0) {}', 'if (x[i] <= y[0]) {}', 'z[x[i]] = 1.0;', 'ax[i] = 1.0;', 'p.x = 1;', 'atomicLoad(&x[i]);',
    'for (var x = 1u; x > 0u; x >>= 1u) {}']) assert.not.ok(writes(fn(s), 'x'), s);
  assert.not.ok(writes('fn f(x: u32) { x = 1u; }', 'x'), 'a parameter of that name');
  assert.not.ok(writes('fn f(@builtin(global_invocation_id) gid: vec3u, x: u32) -> u32 { x = 1u; return x; }', 'x'), 'a parameter after a builtin');
  assert.ok(writes('fn f(@builtin(global_invocation_id) gid: vec3u) -> u32 { x[0] = 1u; return 0u; }', 'x'), 'a builtin parameter list');
});

test('the packer follows WGSL layout rules; packs named fields where the shader reads them', () => {
  const lay = paramsLayout({ a: 'f32', b: 'vec3<f32>', c: 'f32', d: 'vec2<u32>' });
  assert.equal(lay.fields.map((f) => f.offset), [0, 16, 28, 32]);
  assert.is(lay.size, 48);
  assert.is(lay.bytes, 48);
  const seg = paramsLayout({ L: 'u32', T: 'u32', U: 'u32', sep1: 'u32', len: 'u32' });
  assert.equal([seg.size, seg.bytes], [20, 32]);
  assert.is(paramsLayout({ R: 'u32' }).bytes, 16, 'at least 16 bytes');

  const ab = packParams(ATTN, { B: 2, T: 67, C: 12, NH: 3, HS: 4, scale: 0.5 });
  assert.is(ab.byteLength, 32);
  assert.equal([...new Uint32Array(ab, 0, 5)], [2, 67, 12, 3, 4]);
  assert.is(new Float32Array(ab, 20, 1)[0], 0.5);
  const v = packParams(defineKernel({ shader: 'x.wgsl', bindings: { p: 'uniform' }, params: { i: 'i32', v: 'vec2<f32>' } }), { i: -3, v: [1.5, -2] });
  assert.is(new Int32Array(v, 0, 1)[0], -3);
  assert.equal([...new Float32Array(v, 8, 2)], [1.5, -2]);
});

test('packParams and dispatch refuse missing, extra or ill-typed names, naming the kernel', () => {
  const values = { B: 2, T: 67, C: 12, NH: 3, HS: 4, scale: 0.5 };
  const { HS: _hs, ...noHS } = values;
  assert.throws(() => packParams(ATTN, noHS as typeof values), /kernel attention\/attention_forward: .*missing HS/);
  assert.throws(() => packParams(ATTN, { ...values, extra: 1 } as typeof values), /kernel attention\/attention_forward: .*unknown extra/);
  assert.throws(() => packParams(ATTN, { ...values, T: -1 }), /Params\.T = -1 is not a u32/);
  assert.throws(() => packParams(ATTN, { ...values, T: 2.5 }), /Params\.T = 2.5 is not a u32/);

  // dispatch checks names before it touches the device
  const g = { device: {}, features: [], limits: { maxComputeWorkgroupsPerDimension: 65535 } } as unknown as GpuContext;
  const k = { key: 'k', label: 'k', def: ATTN, entry: 'main', pipeline: {}, layout: {} } as unknown as Kernel<typeof ATTN>;
  const view = { name: 'v', buffer: {} as GPUBuffer, offset: 0, size: 4 };
  const res = { qkv: view, mask: view, out: view, probs: view, p: {} as GPUBuffer };
  const { mask: _m, ...noMask } = res;
  assert.throws(() => dispatch(g, k, 'attn', noMask as typeof res, [1]), /attn: kernel attention\/attention_forward binds qkv, mask, out, probs, p; missing mask/);
  assert.throws(() => dispatch(g, k, 'attn', { ...res, bias: view } as typeof res, [1]), /kernel attention\/attention_forward .*unknown bias/);
  assert.throws(() => dispatch(g, k, 'attn', { ...res, p: view as unknown as GPUBuffer }, [1]), /uniform 'p' needs the buffer from createParams/);
});

test('expandTemplate: {{expr}}, //#if / //#else, //#for (nested), integer arithmetic; errors name the line', () => {
  const t = [
    '@workgroup_size({{L}})',
    '//#if SG',
    'enable subgroups;',
    '//#else',
    '// none',
    '//#end',
    '  //#for i < R / L',
    '  //#for j < 2',
    '  let a{{i}}_{{j}} = x[{{i * L + j}}u]; // {{i == 1 && j == 1}} {{-(L % 3)}} {{(R - 1) / L}}',
    '  //#end',
    '  //#end',
  ].join('\n');
  assert.is(expandTemplate(t, { L: 4, R: 8, SG: true }), [
    '@workgroup_size(4)', 'enable subgroups;',
    '  let a0_0 = x[0u]; // false -1 1', '  let a0_1 = x[1u]; // false -1 1', '  let a1_0 = x[4u]; // false -1 1', '  let a1_1 = x[5u]; // true -1 1',
  ].join('\n'));
  assert.is(expandTemplate(t, { L: 8, R: 8, SG: false }).split('\n').slice(0, 2).join('|'), '@workgroup_size(8)|// none');
  assert.is(expandTemplate('//#for i < N\n{{i}}\n//#end', { N: 0 }), '', 'a loop of 0');
  assert.throws(() => expandTemplate(t, { L: 4, R: 8 }, 'x.wgsl'), /x\.wgsl:2: unknown name 'SG'/);
  assert.throws(() => expandTemplate(t, { L: 4, R: 8, SG: true, EXTRA: 1 }, 'x.wgsl'), /x\.wgsl: the variant's parameter EXTRA is never used/);
  assert.throws(() => expandTemplate('//#if A\nx', { A: true }, 'y.wgsl'), /y\.wgsl:1: \/\/#if is never closed/);
  assert.throws(() => expandTemplate('x\n//#end', {}, 'y.wgsl'), /y\.wgsl:2: \/\/#end with no open/);
  assert.throws(() => expandTemplate('//#else', {}, 'y.wgsl'), /y\.wgsl:1: \/\/#else outside an \/\/#if/);
  assert.throws(() => expandTemplate('a {{L +}} b', { L: 1 }, 'y.wgsl'), /y\.wgsl:1: 'L \+' ends early/);
  assert.throws(() => expandTemplate('a {{L}', { L: 1 }, 'y.wgsl'), /y\.wgsl:1: an unmatched/);
  assert.throws(() => expandTemplate('//#for L < 2\n//#end', { L: 1 }, 'y.wgsl'), /hides a name/);
  assert.throws(() => expandTemplate('{{L / 0}}', { L: 1 }), /division by 0/);
  assert.ok(isTemplate('a {{L}}') && isTemplate('  //#if X') && !isTemplate('// plain { } WGSL'));
  // a table: one description per row, named after it, its WGSL the template expanded
  const tab = defineVariants({ shader: 'layernorm/layernorm_forward_cpu.wgsl', bindings: { a: 'read', p: 'uniform' }, params: { rows: 'u32' } }, { four: { L: 4 } });
  assert.is(tab.four.name, 'layernorm/layernorm_forward_cpu[four]');
  assert.match(kernelWgsl(tab.four), /@workgroup_size\(4\)/);
});

test('defineKernel: the uniform is last and alone', () => {
  assert.throws(() => defineKernel({ shader: 'a/b.wgsl', bindings: { p: 'uniform', x: 'read' }, params: {} }), /kernel a\/b: .* must end in exactly one uniform/);
  assert.throws(() => defineKernel({ shader: 'a/b.wgsl', bindings: { x: 'read' }, params: {} }), /must end in exactly one uniform/);
});

test.run();
