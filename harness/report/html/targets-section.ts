import type { Binding } from '../../contracts/binding.ts';
import type { Mapping } from '../../targets/config-plan.ts';
import type { DeploymentReport, TargetReport } from '../run-report.ts';
import { html, type SafeHtml } from './safe-html.ts';

function source(b: Binding): SafeHtml {
  if (b.from === 'config' && b.file !== undefined) return html`<code>${b.file}${b.line !== undefined ? `:${b.line}` : ''}</code>`;
  return html`${b.from}`;
}

function bindings(list: readonly Binding[]): SafeHtml {
  if (list.length === 0) return html`<p class="muted">No contract values bound (the profile's checks need none from this config).</p>`;
  return html`<table class="numbers"><caption>What lbdrill read from the config (bindings)</caption><thead><tr><th>contract</th><th>bound to</th><th>from</th><th>detail</th></tr></thead><tbody>${list.map(
    (b) => html`<tr class="${b.from === 'missing' ? 'missing' : ''}"><td>${b.what}</td><td>${b.value}</td><td>${source(b)}</td><td>${b.detail ?? ''}</td></tr>`,
  )}</tbody></table>`;
}

function mappings(list: readonly Mapping[]): SafeHtml {
  if (list.length === 0) return html``;
  // open on demand: a config tree can have dozens, and the bindings above matter more
  return html`<details><summary>What lbdrill changed to run it here: ${list.length} mappings</summary><table class="numbers"><caption>Mappings, at lines of the user's files</caption><thead><tr><th>kind</th><th>from</th><th>to</th><th>where</th></tr></thead><tbody>${list.map(
    (m) => html`<tr><td>${m.kind}</td><td><code>${m.from}</code></td><td><code>${m.to}</code></td><td>${m.file ?? ''}${m.line !== undefined ? `${m.file ? ':' : 'line '}${m.line}` : ''}</td></tr>`,
  )}</tbody></table></details>`;
}

function target(t: TargetReport, color: string): SafeHtml {
  const what = t.status === 'skipped' ? html`skipped: ${t.reason ?? ''}` : html`${t.binary ?? ''} with ${t.bundled ? 'the bundled config' : 'the user config'} <code>${t.config ?? ''}</code>${t.container ? html` in <code>${t.container.image}</code>` : ''}`;
  return html`<article class="target" id="target-${t.name}"><h3><span class="swatch" style="background:${color}"></span>${t.name}</h3>
<p>${what}${t.status === 'crashed' ? html` — <b>crashed</b>: ${t.reason ?? ''}` : ''}</p>
${t.status === 'skipped' ? '' : html`${bindings(t.bindings)}${mappings(t.mapped)}`}</article>`;
}

function deployment(d: DeploymentReport): SafeHtml {
  return html`<article class="target"><h3>Deployed pool</h3><p><code>${d.file}</code>: ${d.url} probed at ${d.probeRatePerSec} req/s (cap ${d.probeRateCapPerSec}); the LB's view: ${d.view} (polled every ${d.pollMs} ms)</p>
<table class="numbers"><caption>Hook commands, in order</caption><thead><tr><th>started</th><th>hook</th><th>backend</th><th>command</th><th>exit</th><th>duration</th></tr></thead><tbody>${d.hooks.map(
    (h) => html`<tr><td>${h.startedAt}</td><td>${h.hook} (${h.purpose})</td><td>${h.backend}</td><td><code>${h.command}</code></td><td>${h.exitCode ?? h.signal ?? ''}</td><td>${h.durationMs} ms</td></tr>`,
  )}</tbody></table></article>`;
}

/** Every target: what ran, the bindings lbdrill read from its config and the mappings it made; the deployed pool's hooks. */
export function renderTargetsSection(targets: readonly TargetReport[], colors: Record<string, string>, deployed: DeploymentReport | undefined): SafeHtml {
  return html`<section id="targets"><h2>Targets, bindings and mappings</h2>${targets.map((t) => target(t, colors[t.name]!))}${deployed ? deployment(deployed) : ''}</section>`;
}
