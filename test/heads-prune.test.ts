/**
 * Head pruning and the report's Heads section on the demo's toy data (the planted model: 2 layers × 2 heads, and
 * two of its toy collections; needs nothing from ../shared): `attribute --dataset … --units ffn-pre,heads`, then
 * `prune --units heads` — a row per scheme and p with the head count max(1, ⌈p·L·H/100⌉), random rows of n = seeds,
 * every ranking a TREC run that `evaluate` scores as the table says —, then `report`, whose Heads section holds
 * L × H heatmaps of head conductance and of the head-gate gradient side by side with Spearman's ρ between them, the
 * top heads named L<l>.H<h> and the head-pruning curve. Bad inputs are one-line errors (exit 2).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.ts';
import { makePlantedBert } from '../src/toy/planted-bert.ts';
import { makeToyCollection } from '../src/toy/collection.ts';
import { writeJsonAtomic } from '../src/util/atomic.ts';
import { parseSafetensors, toFloat } from '../src/formats/safetensors.ts';

/** Ranks 1..n, ties given their mean rank. */
function ranks(x: readonly number[]): number[] {
  const o = [...x.keys()].sort((a, b) => x[a] - x[b]);
  const r = new Array<number>(x.length);
  for (let i = 0; i < o.length;) {
    let j = i;
    while (j + 1 < o.length && x[o[j + 1]] === x[o[i]]) j++;
    for (let k = i; k <= j; k++) r[o[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Spearman's ρ: Pearson's r of the ranks. */
function rho(a: readonly number[], b: readonly number[]): number {
  const [ra, rb] = [ranks(a), ranks(b)];
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const [ma, mb] = [mean(ra), mean(rb)];
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < ra.length; i++) { sab += (ra[i] - ma) * (rb[i] - mb); saa += (ra[i] - ma) ** 2; sbb += (rb[i] - mb) ** 2; }
  return sab / Math.sqrt(saa * sbb);
}

const S = suite('heads-prune');
const tmp = mkdtempSync(join(tmpdir(), 'hprune-'));
const cli = (args: string[]) => runCli(args);
const MODEL = join(tmp, 'model');
const CONFIG = join(tmp, 'datasets.json');
const TOY = [{ name: 'toy-in', group: 'in-domain', seed: 1, domain: 'in' }, { name: 'toy-ood-a', group: 'out-of-domain', seed: 2, domain: 'ood' }] as const;
const common = ['--model', MODEL, '--datasets-config', CONFIG, '--shared', tmp];
const attribute = (units: string, out: string, extra: string[] = []) => cli(['attribute', ...common, '--dataset', 'toy-in,toy-ood-a', '--units', units, '--steps', '4',
  '--per-query', '1', '--max-length', '128', '--out', out, ...extra]);

S.before(() => {
  makePlantedBert({ out: MODEL, seed: 1 });
  for (const t of TOY) makeToyCollection({ out: join(tmp, t.name), seed: t.seed, domain: t.domain });
  writeJsonAtomic(CONFIG, {
    version: 1,
    datasets: TOY.map((t) => ({ name: t.name, group: t.group, format: 'tsv', relThreshold: 2, unlisted: 'unjudged',
      files: { docs: `${t.name}/corpus.tsv`, queries: `${t.name}/queries.tsv`, qrels: `${t.name}/qrels.txt`, run: `${t.name}/run.txt` } })),
  });
});
S.after(() => rmSync(tmp, { recursive: true, force: true }));

S('prune --units heads: rows per scheme and p with the head counts, random rows of n = seeds, TREC runs that evaluate to the table', async () => {
  const run = join(tmp, 'run');
  let r = await attribute('ffn-pre,heads', run);
  assert.is(r.code, 0, r.stderr);
  const out = join(tmp, 'prune');
  r = await cli(['prune', ...common, '--run', run, '--units', 'heads', '--percents', '10,25,50', '--seeds', '5', '--schemes', 'fusion/all/rel,intersection/all/rel,dataset/toy-in/rel', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  assert.ok(!existsSync(join(out, 'pruning.json')), 'no FFN table');
  const doc = JSON.parse(readFileSync(join(out, 'pruning-heads.json'), 'utf8'));
  assert.is(doc.units, 'heads');
  const t = doc.table;
  assert.equal(t.baselines.map((b: { dataset: string }) => b.dataset), ['toy-in', 'toy-ood-a']);
  // 4 heads: 10% → at least one head, 25% → 1, 50% → 2 (an intersection can be smaller)
  const rows = t.rows as { dataset: string; scheme: string; p: number; units: number; ndcg10: { value: number; random: { n: number; mean: number; std: number } } }[];
  assert.is(rows.length, 2 * 3 * 3);
  for (const x of rows.filter((x) => x.scheme !== 'intersection/all/rel')) assert.is(x.units, x.p === 50 ? 2 : 1, `${x.scheme} at ${x.p}%`);
  for (const x of rows.filter((x) => x.scheme === 'intersection/all/rel')) assert.ok(x.units >= 0 && x.units <= (x.p === 50 ? 2 : 1), JSON.stringify(x));
  for (const x of rows) assert.is(x.ndcg10.random.n, 5);
  const runs = readdirSync(join(out, 'runs-heads'));
  assert.is(runs.length, 2 * (1 + 3 * 3 + 3 * 5)); // per dataset: unpruned, 3 p × 3 schemes, 3 p × 5 random sets
  const row = rows.find((x) => x.dataset === 'toy-ood-a' && x.scheme === 'fusion/all/rel' && x.p === 50)!;
  const file = join(out, 'runs-heads', runs.find((f) => f.startsWith('toy-ood-a.fusion_all_rel@50'))!);
  const ev = await cli(['evaluate', '--qrels', join(tmp, 'toy-ood-a', 'qrels.txt'), '--run', file, '--measures', 'ndcg_cut_10']);
  assert.is(ev.code, 0, ev.stderr);
  assert.is(ev.stdout.split('\n').find((l) => l.startsWith('ndcg_cut_10'))!.split('\t')[2], row.ndcg10.value.toFixed(4));
  // the head that carries the planted relevance signal (layer 1, head 0) is in the fused top half, and pruning it hurts more than random heads
  const base = t.baselines.find((b: { dataset: string }) => b.dataset === 'toy-ood-a').ndcg10;
  const one = rows.find((x) => x.dataset === 'toy-ood-a' && x.scheme === 'fusion/all/rel' && x.p === 25)!;
  assert.ok(base > 0.95 && one.ndcg10.value < base - 0.3, `unpruned ${base}, top head pruned ${one.ndcg10.value}`);
  assert.ok(one.ndcg10.value < one.ndcg10.random.mean - 0.2 && one.ndcg10.random.std > 0, JSON.stringify(one));
});

S('report: the Heads section — L × H heatmaps of head conductance and the head-gate gradient side by side with Spearman\'s ρ between the methods (checked against the aggregate\'s means), and within each, the top heads named, the head-pruning curve; the same in JSON and Markdown', async () => {
  const run = join(tmp, 'run'), rep = join(tmp, 'report');
  const r = await cli(['report', run, '--pruning-heads', join(tmp, 'prune', 'pruning-heads.json'), '--out', rep]);
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(readFileSync(join(rep, 'report.json'), 'utf8'));
  const h = j.heads;
  assert.is(h.layers, 2);
  assert.is(h.heads, 2);
  const C = 'head conductance', G = 'head-gate gradient', FUS = 'fusion of all datasets (relevant pairs)', IN = 'toy-in (relevant pairs)', OOD = 'toy-ood-a (relevant pairs)';
  // the two methods' fused maps first (side by side), then each dataset's
  assert.equal(h.maps.map((m: { name: string }) => m.name), [`${C}, ${FUS}`, `${G}, ${FUS}`, `${C}, ${IN}`, `${C}, ${OOD}`, `${G}, ${IN}`, `${G}, ${OOD}`]);
  for (const m of h.maps) assert.equal(m.values.map((row: number[]) => row.length), [2, 2]);
  // each map is the aggregate's means (<cell>.heads.mean, <cell>.gate.mean); the fusion the mean of the datasets' maps
  const agg = parseSafetensors(readFileSync(join(run, 'aggregate.safetensors')), 'aggregate');
  const mean = (cell: string, k: string) => Array.from(toFloat(agg.get(`${cell}.${k}.mean`)!, Float64Array));
  const flat = (m: { values: number[][] }) => m.values.flat();
  const fused: Record<string, number[]> = {};
  for (const [i, k, a, b] of [[0, 'heads', 2, 3], [1, 'gate', 4, 5]] as const) {
    const [mi, mo] = [mean('toy-in/rel', k), mean('toy-ood-a/rel', k)];
    assert.equal(flat(h.maps[a]), mi, `${k} toy-in`);
    assert.equal(flat(h.maps[b]), mo, `${k} toy-ood-a`);
    fused[k] = mi.map((x, u) => (x + mo[u]) / 2);
    flat(h.maps[i]).forEach((x, u) => assert.ok(Math.abs(x - fused[k][u]) < 1e-12, `${k} fusion`));
  }
  assert.ok(fused.gate.some((x, u) => Math.abs(x - fused.heads[u]) > 1e-6 * Math.max(...fused.heads.map(Math.abs))), 'the gate map is not the conductance map');
  // one ρ between the methods: Spearman over the 4 heads of the two fused maps, computed here from the aggregate
  assert.is(h.methods.length, 1);
  assert.equal([h.methods[0].a, h.methods[0].b], [`${C}, ${FUS}`, `${G}, ${FUS}`]);
  const want = rho(fused.heads, fused.gate);
  assert.ok(Number.isFinite(want) && want < 0.99, `the methods rank the heads differently here (ρ ${want})`);
  assert.ok(Math.abs(h.methods[0].spearman - want) < 1e-12, `ρ between methods ${h.methods[0].spearman}, direct ${want}`);
  // within a method: fusion ~ each dataset, dataset ~ dataset
  assert.equal(h.agreement.map((a: { a: string; b: string }) => `${a.a} ~ ${a.b}`), [
    `${C}, ${FUS} ~ ${C}, ${IN}`, `${C}, ${FUS} ~ ${C}, ${OOD}`, `${C}, ${IN} ~ ${C}, ${OOD}`,
    `${G}, ${FUS} ~ ${G}, ${IN}`, `${G}, ${FUS} ~ ${G}, ${OOD}`, `${G}, ${IN} ~ ${G}, ${OOD}`]);
  for (const a of h.agreement.slice(0, 3)) assert.ok(Math.abs(a.spearman - 1) < 1e-12, JSON.stringify(a)); // the datasets rank the 4 heads alike by conductance
  for (const a of h.agreement) assert.ok(Math.abs(a.spearman - rho(flat(h.maps.find((m: { name: string }) => m.name === a.a)), flat(h.maps.find((m: { name: string }) => m.name === a.b)))) < 1e-12, JSON.stringify(a));
  // the planted model passes its relevance signal through layer 1's head 0: the top head, by far
  assert.is(h.top.length, 4);
  assert.is(h.top[0].name, 'L1.H0');
  assert.ok(h.top[0].score > 2 * Math.abs(h.top[1].score), JSON.stringify(h.top));
  assert.match(h.note, /two methods side by side: head conductance .* and the head-gate gradient/);
  assert.is(h.pruning.rows.length, 18);
  const curve = h.pruningCurves.find((c: { dataset: string; measure: string }) => c.dataset === 'toy-ood-a' && c.measure === 'ndcg10');
  assert.equal(curve.random.map((x: { p: number; n: number }) => `${x.p}:${x.n}`), ['10:5', '25:5', '50:5']);
  assert.equal(curve.series.map((x: { name: string }) => x.name), ['fusion/all/rel', 'intersection/all/rel', 'dataset/toy-in/rel']);
  assert.is(j.pruning, null);
  const html = readFileSync(join(rep, 'report.html'), 'utf8');
  const sec = /<section id="heads">(.*?)<\/section>/s.exec(html)?.[1] as string;
  assert.ok(sec, "no heads section");
  const grids = sec.match(/<svg class="chart heatmap grid"[^]*?<\/svg>/g) ?? [];
  assert.is(grids.length, 6);
  for (const g of grids) assert.is((g.match(/<rect class="cell"/g) ?? []).length, 4);
  assert.match(grids[0]!, /<title>L1\.H0: /);
  assert.match(sec, /Spearman/);
  assert.match(sec, /<caption>rank agreement between the methods<\/caption>.*?<td class="l">head conductance, fusion of all datasets \(relevant pairs\)<\/td><td>head-gate gradient, fusion of all datasets \(relevant pairs\)<\/td><td>([-0-9.]+)<\/td>/s);
  assert.match(sec, /after pruning heads/);
  assert.match(sec, /<td class="l">1<\/td><td>L1\.H0<\/td>/);
  const md = readFileSync(join(rep, 'report.md'), 'utf8');
  assert.match(md, /## Heads/);
  assert.match(md, /### Rank agreement between the methods\n\n\| method \| method \| Spearman rho over heads \|/);
  assert.match(md, /### Head pruning/);
  assert.match(md, /\| 1 \| L1\.H0 \|/);
});

S('report refuses a head-pruning table given as --pruning and an FFN one given as --pruning-heads', async () => {
  const run = join(tmp, 'run');
  let r = await cli(['report', run, '--pruning', join(tmp, 'prune', 'pruning-heads.json'), '--out', join(tmp, 'rep-bad')]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /a pruning table of heads, given as --pruning; give it as --pruning-heads/);
  writeJsonAtomic(join(tmp, 'ffn.json'), { table: { rows: [], baselines: [] } });
  r = await cli(['report', run, '--pruning-heads', join(tmp, 'ffn.json'), '--out', join(tmp, 'rep-bad')]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /a pruning table of FFN units, given as --pruning-heads; give it as --pruning/);
});

S('prune --units heads refuses a run without head cells and a bad --units, in one line (exit 2)', async () => {
  const plain = join(tmp, 'plain');
  let r = await cli(['attribute', ...common, '--dataset', 'toy-in', '--steps', '2', '--per-query', '1', '--max-length', '128', '--out', plain]);
  assert.is(r.code, 0, r.stderr);
  const refuse = async (args: string[], msg: RegExp) => {
    r = await cli(['prune', ...common, '--run', plain, '--dataset', 'toy-in', '--out', join(tmp, 'bad'), ...args]);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, msg);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  };
  await refuse(['--units', 'heads'], /has no head cells \(attributed with --units ffn-pre\); to prune heads, attribute with --units ffn-pre,heads/);
  await refuse(['--units', 'ffn,heads'], /attribute with --units ffn-pre,heads/);
  await refuse(['--units', 'neurons'], /'neurons' is not one of: ffn, heads/);
  assert.ok(!existsSync(join(tmp, 'bad', 'runs')) && !existsSync(join(tmp, 'bad', 'runs-heads')), 'nothing pruned');
  // a run without head cells and a head-pruning table: refused; without one, the report has no Heads section
  r = await cli(['report', plain, '--pruning-heads', join(tmp, 'prune', 'pruning-heads.json'), '--out', join(tmp, 'rep-plain')]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /has no head cells to report; give the run attributed with --units ffn-pre,heads/);
  r = await cli(['report', plain, '--out', join(tmp, 'rep-plain')]);
  assert.is(r.code, 0, r.stderr);
  assert.is(JSON.parse(readFileSync(join(tmp, 'rep-plain', 'report.json'), 'utf8')).heads, null);
  assert.not.match(readFileSync(join(tmp, 'rep-plain', 'report.html'), 'utf8'), /<section id="heads">/);
});

S.run();
