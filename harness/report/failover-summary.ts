import Table from 'cli-table3';
import pc from 'picocolors';
import { formatMs } from '../duration.ts';
import type { FailoverMeasurement } from '../probe/failover-timeline.ts';
import type { RunReport } from './run-report.ts';

const DRILL_CHECKS = ['failover.detect-within-budget', 'failover.no-errors-after-detect', 'failover.rejoin-within-budget'] as const;

const WS_CHECK = 'sticky.ws-reconnect-after-failover';

/** The evidence of sticky.ws-reconnect-after-failover this table reads. */
interface WsEvidence {
  victim: string;
  cut: number;
  reconnectMs: { p50Ms: number; p95Ms: number; maxMs: number } | null;
  messages: { lost: number };
  clientsAfter: Record<string, number>;
}

function ms(value: number | null | undefined): string {
  return value === null || value === undefined ? '-' : formatMs(value);
}

/** The failover drill's numbers, one column per target, for the end of `lbdrill drill failover`. */
export function renderFailoverSummary(report: RunReport): string {
  const targets = report.targets.filter((t) => t.status !== 'skipped').map((t) => t.name);
  const table = new Table({ head: ['', ...targets], style: { head: ['bold'] } });
  const cell = (target: string, f: (m: FailoverMeasurement, id: string) => string) => {
    const r = report.results.find((x) => x.target === target && DRILL_CHECKS.includes(x.check as (typeof DRILL_CHECKS)[number]) && x.evidence['measurement']);
    return r ? f(r.evidence['measurement'] as FailoverMeasurement, r.check) : '-';
  };
  const status = (target: string, id: string) => {
    const r = report.results.find((x) => x.target === target && x.check === id);
    if (!r) return '-';
    const color = r.status === 'pass' ? pc.green : r.status === 'fail' ? pc.red : r.status === 'unsupported' ? pc.yellow : pc.magenta;
    return color(r.status === 'unsupported' ? `unsupported: ${r.observed}` : r.status);
  };
  const budgets = report.failover?.budgetsMs ?? {};
  /** " (budget 2.4 s)" where this target's budget differs from the run's (widened for what scaling added to its config). */
  const ownBudget = (target: string, name: string): string => {
    const r = report.results.find((x) => x.target === target && DRILL_CHECKS.includes(x.check as (typeof DRILL_CHECKS)[number]) && x.evidence['budgetsMs']);
    const own = (r?.evidence['budgetsMs'] as Record<string, number> | undefined)?.[name];
    return own === undefined || own === budgets[name] ? '' : pc.dim(` (budget ${ms(own)})`);
  };
  table.push(
    ['victim', ...targets.map((t) => cell(t, (m) => m.victim))],
    [`detect (budget ${ms(budgets['detect'])})`, ...targets.map((t) => cell(t, (m) => `${ms(m.detectMs)} ${pc.dim(m.detectSource === 'lb-event' ? 'LB DOWN report' : 'from traffic')}${ownBudget(t, 'detect')}`))],
    ['LB DOWN report', ...targets.map((t) => cell(t, (m) => ms(m.lbDownMs)))],
    ['client errors (first..last)', ...targets.map((t) => cell(t, (m) => (m.clientErrors === 0 ? '0' : `${m.clientErrors} (${ms(m.firstErrorMs)}..${ms(m.lastErrorMs)}) ${Object.entries(m.errorsByKind).map(([k, n]) => `${n}x${k}`).join(' ')}`)))],
    ['errors after detect', ...targets.map((t) => cell(t, (m) => String(m.errorsAfterDetect)))],
    [`rejoin (budget ${ms(budgets['rejoin'])})`, ...targets.map((t) => cell(t, (m) => `${ms(m.rejoinMs)}${ownBudget(t, 'rejoin')}`))],
    ['LB UP report', ...targets.map((t) => cell(t, (m) => ms(m.lbUpMs)))],
    ['resolution', ...targets.map((t) => cell(t, (m) => `±${ms(m.resolutionMs)}`))],
    ...DRILL_CHECKS.map((id) => [id, ...targets.map((t) => status(t, id))]),
  );
  const ws = (target: string) => report.results.find((x) => x.target === target && x.check === WS_CHECK);
  if (targets.some((t) => ws(t))) {
    const wsCell = (t: string, f: (e: WsEvidence) => string) => {
      const r = ws(t);
      if (!r) return '-';
      if (r.status === 'unsupported') return pc.yellow('unsupported');
      return r.evidence['cut'] === undefined ? '-' : f(r.evidence as unknown as WsEvidence);
    };
    table.push(
      ['WebSocket clients cut', ...targets.map((t) => wsCell(t, (e) => `${e.cut} on ${e.victim}`))],
      ['reconnect p50 / p95 / max', ...targets.map((t) => wsCell(t, (e) => (e.reconnectMs ? `${ms(e.reconnectMs.p50Ms)} / ${ms(e.reconnectMs.p95Ms)} / ${ms(e.reconnectMs.maxMs)}` : '-')))],
      ['messages lost', ...targets.map((t) => wsCell(t, (e) => String(e.messages.lost)))],
      ['clients per backend after', ...targets.map((t) => wsCell(t, (e) => Object.entries(e.clientsAfter).map(([b, n]) => `${b} ${n}`).join(', ')))],
      [WS_CHECK, ...targets.map((t) => status(t, WS_CHECK))],
    );
  }
  return table.toString();
}
