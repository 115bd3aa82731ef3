import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { expect } from 'vitest';
import type { RunReport } from '../harness/report/run-report.ts';
import { ROOT } from './run-lbdrill.ts';

/** Debian's chromium (apt-get install chromium; .ci/run installs it): playwright-core drives it, downloads nothing. */
const CHROMIUM = '/usr/bin/chromium';

/** Where screenshots of the tested pages are kept (git-ignored with the rest of reports/). */
export const ARTIFACTS = join(ROOT, 'reports', 'test-artifacts');

/** A chart as the page drew it. */
export interface RenderedChart {
  id: string;
  type: string;
  xTitle: string | undefined;
  datasets: Array<{ label: string; points: number }>;
  /** pixels of the canvas something was drawn on. */
  paintedPixels: number;
}

async function withBrowser<T>(use: (browser: Browser) => Promise<T>): Promise<T> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    return await use(browser);
  } finally {
    await browser.close();
  }
}

/**
 * Opens DIR/report.html in headless Chromium and asserts what a reader relies on: no console
 * or page error, no request leaving the file (self-contained), a cell for every result with its
 * status, every chart drawn with data; and with JavaScript off, the matrix still whole. Keeps a
 * full-page screenshot as reports/test-artifacts/<name>.png. Returns the charts for more asserts.
 */
export async function expectReportHtmlWorks(reportDir: string, name: string): Promise<RenderedChart[]> {
  const report = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as RunReport;
  const url = pathToFileURL(join(reportDir, 'report.html')).href;
  return withBrowser(async (browser) => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      if (!r.url().startsWith('file:')) problems.push(`request off the file: ${r.url()}`);
    });
    await page.goto(url, { waitUntil: 'load' });
    const cells = await page.$$eval('td.cell[data-check]', (tds) => tds.map((td) => `${td.getAttribute('data-target')} ${td.getAttribute('data-check')} ${td.getAttribute('data-status')}`));
    expect(cells.sort()).toEqual(expect.arrayContaining(report.results.map((r) => `${r.target} ${r.check} ${r.status}`).sort()));
    const charts = await page.$$eval('canvas[data-chart]', (elements) => {
      // runs in the page: typed by hand, this project compiles without the DOM library
      type CanvasLike = { width: number; height: number; getAttribute(name: string): string | null; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } };
      type ChartLike = { config: { type: string }; data: { datasets: Array<{ label?: string; data: unknown[] }> }; options: { scales?: Record<string, { title?: { text?: string } }> } };
      const { Chart } = globalThis as unknown as { Chart: { getChart(canvas: CanvasLike): ChartLike | undefined } };
      const isPoint = (p: unknown) => p !== null && (typeof p === 'number' || (typeof p === 'object' && (p as { y: unknown }).y !== null));
      return (elements as unknown as CanvasLike[]).map((canvas) => {
        const chart = Chart.getChart(canvas);
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) painted++;
        return {
          id: canvas.getAttribute('data-chart')!,
          type: chart?.config.type ?? 'none',
          xTitle: chart?.options.scales?.['x']?.title?.text,
          datasets: chart?.data.datasets.map((d) => ({ label: d.label ?? '', points: d.data.filter(isPoint).length })) ?? [],
          paintedPixels: painted,
        };
      });
    });
    for (const c of charts) {
      expect(c.type, `chart ${c.id} was not drawn`).not.toBe('none');
      expect(c.paintedPixels, `chart ${c.id} is blank`).toBeGreaterThan(1000);
      expect(c.datasets.length, `chart ${c.id} has no series`).toBeGreaterThan(0);
      for (const d of c.datasets) expect(d.points, `chart ${c.id}, series ${d.label}: no data`).toBeGreaterThan(0);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    expect(problems).toEqual([]);

    // without JavaScript: the matrix is plain HTML
    const noJs = await browser.newContext({ javaScriptEnabled: false });
    try {
      const plain = await noJs.newPage();
      await plain.goto(url, { waitUntil: 'load' });
      const plainCells = await plain.$$eval('td.cell[data-check]', (tds) => tds.map((td) => `${td.getAttribute('data-target')} ${td.getAttribute('data-check')} ${td.getAttribute('data-status')}`));
      expect(plainCells.sort()).toEqual(cells);
      expect(await plain.locator('#matrix .legend li').count()).toBe(6);
    } finally {
      await noJs.close();
    }
    return charts;
  });
}
