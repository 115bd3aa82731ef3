import { bindingLines } from './bindings-text.ts';
import Table from 'cli-table3';
import pc from 'picocolors';
import type { CheckStatus } from '../checks/check.ts';
import type { RunEvent } from '../runner/run-checks.ts';
import type { RunReport } from './run-report.ts';

const COLOR: Record<CheckStatus, (s: string) => string> = {
  pass: pc.green,
  fail: pc.red,
  error: pc.magenta,
  unsupported: pc.yellow,
  skipped: pc.dim,
};

/**
 * Live progress on stderr: one rewritten status line on a terminal, a line per finished
 * check otherwise (CI logs). The final matrix goes to stdout.
 */
export class TerminalView {
  readonly #tty: boolean;
  readonly #out: NodeJS.WriteStream;
  readonly #started = performance.now();
  #status = '';
  #timer: NodeJS.Timeout | undefined;
  #lastPhase = '';

  constructor(out: NodeJS.WriteStream = process.stderr) {
    this.#out = out;
    this.#tty = Boolean(out.isTTY) && process.env.CI === undefined;
    if (this.#tty) this.#timer = setInterval(() => this.#draw(), 250).unref();
  }

  #elapsed(): string {
    return `${((performance.now() - this.#started) / 1000).toFixed(1)}s`;
  }

  #draw(): void {
    if (!this.#tty || !this.#status) return;
    const line = `${pc.dim(this.#elapsed().padStart(6))} ${this.#status}`;
    this.#out.write(`\r\x1b[2K${line.slice(0, (this.#out.columns ?? 120) + 20)}`);
  }

  #print(line: string): void {
    if (this.#tty) this.#out.write('\r\x1b[2K');
    this.#out.write(`${line}\n`);
    this.#draw();
  }

  message(line: string): void {
    this.#print(line);
  }

  onEvent = (event: RunEvent): void => {
    switch (event.type) {
      case 'target-start':
        this.#print(`${pc.bold(event.target)}: ${event.detail}`);
        break;
      case 'bindings':
        this.#print(`${pc.bold(event.target)}: bound the profile's contract to the config:`);
        for (const line of bindingLines(event.bindings)) this.#print(`  ${line.includes('← missing') ? pc.yellow(line) : line}`);
        break;
      case 'check-start':
        this.#status = `${event.target} ${pc.cyan(event.check)} …`;
        this.#draw();
        break;
      case 'check-progress':
        this.#status = `${event.target} ${pc.cyan(event.check)}: ${event.message}`;
        this.#draw();
        break;
      case 'drill-status': {
        const st = event.status;
        const share = Object.entries(st.lastSecond)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([backend, n]) => `${backend} ${String(n).padStart(3)}/s`)
          .join('  ');
        const errors = st.errors > 0 ? pc.red(`errors ${st.errors}`) : pc.green('errors 0');
        this.#status = `${event.target} ${pc.cyan(st.phase)} ${pc.dim(`+${(st.elapsedMs / 1000).toFixed(1)}s`)} | ${share || 'no traffic'} | ${errors}`;
        // Without a terminal (CI logs), one line per phase instead of a live line.
        if (!this.#tty && st.phase !== this.#lastPhase) this.#out.write(`  ${this.#status}\n`);
        this.#lastPhase = st.phase;
        this.#draw();
        break;
      }
      case 'check-done': {
        const r = event.result;
        const status = COLOR[r.status](r.status.padEnd(11));
        this.#status = '';
        this.#print(`  ${status} ${r.check.padEnd(28)} ${pc.dim(`${(r.durationMs / 1000).toFixed(1)}s`)}  ${r.status === 'pass' ? pc.dim(r.observed) : r.observed}`);
        break;
      }
    }
  };

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#tty) this.#out.write('\r\x1b[2K');
  }
}

/** The checks x targets matrix, coloured, for the end of a run. */
export function renderMatrix(report: RunReport): string {
  const targets = report.targets.map((t) => t.name);
  const table = new Table({
    head: ['check', 'sev', ...targets],
    style: { head: ['bold'] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  const checks = [...new Map(report.results.map((r) => [r.check, r])).values()];
  for (const c of checks) {
    table.push([
      c.check,
      c.severity,
      ...targets.map((t) => {
        const r = report.results.find((x) => x.check === c.check && x.target === t);
        return r ? COLOR[r.status](r.status) : '';
      }),
    ]);
  }
  const verdict = report.exitCode === 0 ? pc.green('PASS: every must-check passed') : pc.red('FAIL: a must-check failed');
  const skipped = report.targets.filter((t) => t.status === 'skipped').map((t) => `${t.name} skipped: ${t.reason}`);
  return [table.toString(), ...skipped.map((s) => pc.yellow(s)), `${verdict} (exit ${report.exitCode}, ${(report.durationMs / 1000).toFixed(1)} s)`].join('\n');
}
