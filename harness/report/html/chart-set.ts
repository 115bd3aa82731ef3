import type { ChartConfiguration } from 'chart.js';
import type {} from 'chartjs-plugin-annotation';
import { html, type SafeHtml } from './safe-html.ts';

/** A Chart.js configuration as plain JSON (no callbacks): it is embedded in the page and handed to `new Chart` as is. */
export type ChartSpec = ChartConfiguration;

/**
 * The charts of one page: each section asks for a canvas and gives its configuration; the page
 * embeds every configuration once, and its boot script draws each canvas from it.
 */
export class ChartSet {
  readonly #specs = new Map<string, ChartSpec>();

  /** The figure of a chart; `id` names it in the page (data-chart) and in the browser test. */
  figure(id: string, title: string, spec: ChartSpec): SafeHtml {
    if (this.#specs.has(id)) throw new Error(`chart ${id} added twice`);
    this.#specs.set(id, { ...spec, options: { animation: false, responsive: true, maintainAspectRatio: false, ...spec.options } });
    return html`<figure class="chart"><figcaption>${title}</figcaption><div class="chart-box"><canvas data-chart="${id}" role="img" aria-label="${title}"></canvas></div><noscript><p class="muted">This chart needs JavaScript; its numbers are in the table beside it.</p></noscript></figure>`;
  }

  /** Every chart's configuration by id, for the page's embedded data. */
  specs(): Record<string, ChartSpec> {
    return Object.fromEntries(this.#specs);
  }
}
