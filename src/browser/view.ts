/**
 * The page's result views as plain DOM (no framework): the pair's tokens, the completeness table and the table of
 * top neurons with their per-segment contributions. Each takes the element to fill and the numbers to show.
 */
import type { NigResult } from '../ig/engine.ts';
import { diverging, fmt, type RankedNeuron } from './heatmap.ts';

export const SEGMENTS = ['[CLS]', 'query', '[SEP]', 'passage', '[SEP]'] as const;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function row(cells: (string | number)[], head = false, leftCols = 0): HTMLTableRowElement {
  const tr = el('tr');
  cells.forEach((c, i) => tr.append(el(head ? 'th' : 'td', typeof c === 'number' ? fmt(c) : c, i < leftCols ? 'l' : undefined)));
  return tr;
}

/**
 * The pair's word pieces; segment 1 underlined. With `values` (one per token), each chip is coloured on the
 * diverging scale by value / max|value| and titled with the number.
 */
export function renderTokens(box: HTMLElement, ids: number[], typeIds: number[], vocab: (id: number) => string, special: Set<number>, values?: ArrayLike<number>): void {
  box.replaceChildren();
  let max = 0;
  if (values) for (let t = 0; t < ids.length; t++) max = Math.max(max, Math.abs(values[t]));
  ids.forEach((id, t) => {
    const chip = el('span', vocab(id), `tok${special.has(id) ? ' special' : ''}${typeIds[t] ? ' seg1' : ''}`);
    chip.title = `#${t} id ${id}`;
    if (values) {
      const v = values[t];
      const [r, g, b] = diverging(max > 0 ? v / max : 0);
      chip.style.background = `rgb(${r},${g},${b})`;
      chip.title += ` · NIG ${fmt(v)}`;
    }
    box.append(chip);
  });
}

/** F along the path and the completeness deltas: IG of the word embeddings, and NIG over each layer's output. */
export function renderCompleteness(table: HTMLTableElement, r: NigResult): void {
  const fx = r.F[r.steps], fb = r.F[0], dF = fx - fb;
  const rel = (d: number) => (dF !== 0 ? `${(Math.abs(d / dF) * 100).toPrecision(3)} %` : '–');
  table.replaceChildren(
    row(['quantity', 'value', '|δ| / |ΔF|'], true, 1),
    row([`F(x), input (target ${r.target})`, fx, ''], false, 1),
    row(["F(x′), baseline", fb, ''], false, 1),
    row(['ΔF = F(x) − F(x′)', dF, ''], false, 1),
    row(['δ embeddings: Σ IG(word embeddings) − ΔF', r.igDelta, rel(r.igDelta)], false, 1),
    ...r.hiddenDeltas.map((d, l) => row([`δ hidden ${l === 0 ? 'after embeddings' : `after layer ${l - 1}`}: Σ NIG − ΔF`, d, rel(d)], false, 1)),
  );
  const note = el('caption', `m = ${r.steps} steps, ${r.rule} rule, ${r.T} tokens, ${r.chunk} path points per pass. ` +
    'A full cut (embeddings, or a layer\'s whole output) satisfies completeness: δ → 0 as m grows. FFN neurons are not a full cut (the residual stream bypasses them).');
  note.style.captionSide = 'bottom';
  note.style.textAlign = 'left';
  note.className = 'muted';
  table.append(note);
}

/**
 * Top neurons by |NIG| with their contributions from each segment (segments are (5, L, F)); `onSelect` gets the
 * clicked neuron.
 */
export function renderTop(table: HTMLTableElement, top: RankedNeuron[], segments: Float32Array, L: number, F: number, onSelect: (n: RankedNeuron) => void): void {
  const head = el('thead');
  head.append(row(['#', 'layer', 'neuron', 'NIG', ...SEGMENTS.map((s) => `from ${s}`)], true));
  const body = el('tbody');
  top.forEach((n, i) => {
    const segs = SEGMENTS.map((_, s) => segments[s * L * F + n.layer * F + n.neuron]);
    const tr = row([String(i + 1), String(n.layer), String(n.neuron), n.value, ...segs]);
    const [r, g, b] = diverging(Math.sign(n.value) * 0.35);
    (tr.children[3] as HTMLElement).style.background = `rgb(${r},${g},${b})`;
    tr.addEventListener('click', () => {
      for (const x of body.querySelectorAll('tr.sel')) x.classList.remove('sel');
      tr.classList.add('sel');
      onSelect(n);
    });
    body.append(tr);
  });
  table.replaceChildren(head, body);
}
