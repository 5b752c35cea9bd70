/**
 * The report of the main job opens in headless Chromium with every plot drawn: the demo's report.html (built
 * here with few steps) is served from 127.0.0.1, and every inline SVG must have a size and drawn marks, with no
 * page errors. Leaves a screenshot in out/report.png.
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
  const r = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'demo', '--out', tmp, '--steps', '4'], { encoding: 'utf8', timeout: 600_000 });
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
      };
    });
    assert.ok(info.svgs.length >= 10, `${info.svgs.length} plots`);
    for (const s of info.svgs) assert.ok(s.w > 50 && s.h > 50 && s.marks > 2, `plot '${s.title}' not drawn: ${JSON.stringify(s)}`);
    for (const h of ['Datasets', 'Layer distribution of top units', 'Overlaps between schemes', 'Pruning']) assert.ok(info.sections.includes(h), `section ${h}`);
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
