import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ChartSpec } from './chart-set.ts';
import { html, SafeHtml, scriptJson } from './safe-html.ts';

const require = createRequire(import.meta.url);

/**
 * Chart.js and its annotation plugin, as their own minified browser builds from node_modules:
 * inlined, so the page needs no network (a report opened from a CI artifact, offline).
 */
async function chartLibraries(): Promise<SafeHtml> {
  const chartJs = join(dirname(require.resolve('chart.js')), 'chart.umd.min.js');
  const annotation = join(dirname(require.resolve('chartjs-plugin-annotation')), 'chartjs-plugin-annotation.min.js');
  const code = await Promise.all([readFile(chartJs, 'utf8'), readFile(annotation, 'utf8')]);
  // "</script" cannot occur in them today; if a release ever has one, keep it inside the element
  return new SafeHtml(code.map((c) => `<script>${c.replace(/<\/script/gi, '<\\/script')}</script>`).join('\n'));
}

/** Draws every canvas from the embedded configurations; with JavaScript off nothing runs and the tables stand alone. */
const BOOT = `(() => {
  const specs = JSON.parse(document.getElementById('lbdrill-charts').textContent);
  Chart.register(window['chartjs-plugin-annotation']);
  for (const canvas of document.querySelectorAll('canvas[data-chart]')) new Chart(canvas, specs[canvas.dataset.chart]);
})();`;

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; color: #1b1f23; }
h1 { font-size: 1.5rem; margin: 0 0 .3rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #d0d7de; } h3 { margin-top: 1.4rem; }
code { font: 12px ui-monospace, monospace; } .muted { color: #6a737d; } .title { color: #444; font-size: 12px; font-weight: normal; }
nav a { margin-right: 1rem; }
.verdict { font-weight: 600; padding: .4rem .7rem; border-radius: 4px; display: inline-block; }
.verdict.ok { background: #dafbe1; } .verdict.bad { background: #ffebe9; }
table { border-collapse: collapse; margin: .6rem 0; } th, td { border: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; vertical-align: top; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
.scroll { overflow-x: auto; }
.matrix td.cell { min-width: 8rem; max-width: 32rem; }
.matrix tr.row-should th { font-style: italic; }
.badge { font-weight: 600; white-space: nowrap; }
.s-pass .badge { color: #116329; } .s-fail .badge { color: #cf222e; } .s-unsupported .badge { color: #9a6700; }
.s-error .badge { color: #8250df; } .s-skipped .badge, .s-none { color: #6a737d; }
td.s-pass { background: #f0fff4; } td.s-fail { background: #fff5f5; } td.s-unsupported { background: #fffbea; } td.s-error { background: #f6f0ff; } td.s-skipped { background: #f6f8fa; }
td.s-fail.sev-should { background: #fff8f0; } td.s-fail.sev-should .badge { color: #bc4c00; }
.sev { font-size: 11px; border-radius: 3px; padding: 0 .3rem; border: 1px solid; } .sev.must { color: #cf222e; } .sev.should { color: #6a737d; }
.legend { list-style: none; padding: 0; } .legend li { margin: .15rem 0; } .legend .cell { display: inline-block; min-width: 8rem; }
details summary { cursor: pointer; } dl { margin: .4rem 0; } dt { font-weight: 600; } dd { margin: 0 0 .3rem 0; }
pre.evidence { max-height: 24rem; overflow: auto; background: #f6f8fa; padding: .4rem; font-size: 11px; white-space: pre-wrap; word-break: break-word; }
.links { font-size: 12px; }
.swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin-right: .35rem; vertical-align: middle; }
figure.chart { margin: 1rem 0; } figcaption { font-weight: 600; } .chart-box { position: relative; height: 320px; max-width: 1100px; }
tr.missing td { color: #cf222e; } .problems { color: #cf222e; }
`;

/** The whole document: styles, the body, the charts' data and the libraries that draw them, in one file. */
export async function renderPage(title: string, body: SafeHtml, charts: Record<string, ChartSpec>): Promise<string> {
  const hasCharts = Object.keys(charts).length > 0;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><style>${new SafeHtml(STYLE)}</style></head>
<body>${body}
${hasCharts ? html`<script type="application/json" id="lbdrill-charts">${scriptJson(charts)}</script>
${await chartLibraries()}
<script>${new SafeHtml(BOOT)}</script>` : ''}
</body></html>
`.value;
}
