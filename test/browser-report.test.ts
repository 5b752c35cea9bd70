/**
 * The report of the main job opens in headless Chromium with every plot drawn: the demo's report.html (built
 * here with few steps) is served from 127.0.0.1, every inline SVG must have a size and drawn marks, with no page
 * errors, and the paper's figures show their content (m = 8: at m = 4 the trapezoid under-integrates the steep OOD
 * detectors, the OOD check fails and the demo exits 1): Fig. 2 curves, Fig. 3 with the in-domain dataset left out
 * (the OOD neurons appear), Fig. 4, the named top neurons, the completeness table of every cut, and the
 * known-answer checks (all pass) beside their sections. Leaves a screenshot in out/report.png.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO } from './helpers/shared.ts';
import { ensureChromium, launchChromium, serve } from './helpers/browser.ts';

const S = suite('browser-report');
const tmp = mkdtempSync(join(tmpdir(), 'report-browser-'));

S('report.html: every plot drawn in Chromium, all sections present, no page errors', async () => {
  const chromium = ensureChromium();
  if (!chromium) {
    if (process.env.CI === 'true') assert.unreachable('Chromium is missing (CI=true)');
    return;
  }
  const r = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'demo', '--out', tmp, '--steps', '8'], { encoding: 'utf8', timeout: 600_000 });
  assert.is(r.status, 0, r.stderr);
  // (a favicon, so that the browser's own request for one is not a 404 in the page's console)
  const server = await serve([{ path: '/favicon.ico', body: new Uint8Array(0), type: 'image/x-icon' }, { prefix: '/', dir: tmp }]);
  const b = await launchChromium(chromium);
  try {
    await b.page.goto(`${server.origin}/report.html`, { waitUntil: 'load' });
    const info = await b.page.evaluate(() => {
      const svgs = [...document.querySelectorAll('svg')];
      return {
        sections: [...document.querySelectorAll('h2')].map((h) => h.textContent),
        svgs: svgs.map((s) => {
          const box = s.getBoundingClientRect();
          return { w: box.width, h: box.height, marks: s.querySelectorAll('rect, path, line, polyline, circle').length, title: s.querySelector('title, text')?.textContent ?? '' };
        }),
        external: [...document.querySelectorAll('script[src], link[href], img[src]')].length,
        headline: document.querySelector('#headline')?.textContent ?? '',
        checks: [...document.querySelectorAll('section .check')].map((c) => `${c.closest('section')!.id}:${c.getAttribute('data-role')}:${c.classList.contains('pass')}`),
        fig2: [...document.querySelectorAll('#fig2 svg')].map((s) => ({ lines: s.querySelectorAll('polyline').length, legend: [...s.querySelectorAll('title')].map((t) => t.textContent!).filter((t) => t.includes('∩') && !t.includes('%')) })),
        fig3: document.querySelector('#fig3')?.textContent ?? '',
        fig4: [...document.querySelectorAll('#layers svg')].map((s) => s.querySelector('title')?.textContent ?? ''),
        top: [...document.querySelectorAll('#top-neurons tbody tr')].map((tr) => [...tr.querySelectorAll('td')].slice(1, 3).map((td) => td.textContent)),
        completeness: [...document.querySelectorAll('#completeness tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
        hows: [...document.querySelectorAll('section')].filter((x) => x.id !== 'notes' && !x.querySelector(':scope > p.how')).map((x) => x.id),
      };
    });
    assert.match(info.headline, /^5\/5 planted neurons found/);
    assert.equal(info.checks, ['top-neurons:relevance:true', 'top-neurons:dead:true', 'fig3:shared:true', 'label-overlaps:nonrel:true', 'ood:ood:true']);
    assert.equal(info.hows, [], 'every section says what it shows');
    // Fig. 2: relevant and non-relevant panels, one line per pair (coinciding pairs merged into one legend entry)
    assert.is(info.fig2.length, 2);
    for (const f of info.fig2) {
      assert.ok(f.lines >= 1 && f.lines === f.legend.length, JSON.stringify(f));
      for (const pair of ['toy-in ∩ toy-ood-a', 'toy-in ∩ toy-ood-b', 'toy-ood-a ∩ toy-ood-b']) assert.ok(f.legend.join(' = ').includes(pair), `${pair} in ${JSON.stringify(f)}`);
    }
    // Fig. 3 with an exclusion: leaving the in-domain dataset out adds the OOD neurons to the intersection
    assert.match(info.fig3, /rel, all datasets, top 5%: L0\.7 L0\.23 L0\.41 L1\.12 L1\.58/);
    assert.match(info.fig3, /rel, all but toy-in, top 5%: L0\.7 L0\.23 L0\.30 L0\.41 L0\.50 L1\.12 L1\.58/);
    assert.ok(info.fig4.some((t) => t.startsWith('fusion/all/rel') && t.includes('top 1%')), JSON.stringify(info.fig4));
    // named top neurons with their planted role; the completeness of the embeddings and of every layer's output
    assert.equal(info.top.slice(0, 7).map((r) => r[1]).sort(), ['ood', 'ood', 'relevance', 'relevance', 'relevance', 'relevance', 'relevance']);
    assert.ok(info.top.every((r) => /^L[01]\.\d+$/.test(r[0]!)), JSON.stringify(info.top));
    assert.equal(info.completeness.map((r) => r[0]), ['word embeddings (IG)', 'embedding output (hidden state 0)', 'layer 0 output (hidden state 1)', 'layer 1 output (hidden state 2)']);
    for (const r of info.completeness) assert.ok(r[1] === '144' && Number(r[4]) > 0.3 && /^\d+\.\d\d%$/.test(r[5]!) && parseFloat(r[5]!) > 0, JSON.stringify(r));
    assert.ok(info.svgs.length >= 10, `${info.svgs.length} plots`);
    for (const s of info.svgs) assert.ok(s.w > 50 && s.h > 50 && s.marks > 2, `plot '${s.title}' not drawn: ${JSON.stringify(s)}`);
    for (const h of ['Known answers', 'Datasets', 'Top neurons', 'Fig. 2 — intersection between pairs of attribution schemes', 'Fig. 3 — intersection among all schemes, and with datasets left out',
      'Fig. 4 — layer distribution of the top units', 'Completeness of full cuts', 'Overlaps between schemes', 'Pruning']) assert.ok(info.sections.includes(h), `section ${h}`);
    assert.is(info.external, 0, 'self-contained');
    assert.equal(b.logs.filter((l) => l.startsWith('pageerror') || l.startsWith('error')), []);
    mkdirSync(join(REPO, 'out'), { recursive: true });
    await b.page.screenshot({ path: join(REPO, 'out', 'report.png'), fullPage: true });
  } finally {
    await b.close();
    await server.close();
  }
});

S.after(() => rmSync(tmp, { recursive: true, force: true }));
S.run();
