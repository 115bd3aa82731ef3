import pc from 'picocolors';
import type { TargetPlan } from '../runner/plan-run.ts';
import { bindingLines } from './bindings-text.ts';

const FATE: Record<TargetPlan['checks'][number]['runs'], (s: string) => string> = {
  yes: pc.green,
  unsupported: pc.dim,
  'no pool': pc.red,
  'pool found by traffic': pc.yellow,
};

/** `lbdrill plan` for the terminal: per target, the bindings with their file:line, then each check's fate. */
export function renderPlan(profile: string, plans: readonly TargetPlan[]): string {
  const out: string[] = [];
  for (const plan of plans) {
    out.push(`${pc.bold(plan.target)}: ${plan.config} (profile ${profile})`);
    if (plan.skipped) {
      out.push(`  ${pc.yellow(plan.skipped)}`, '');
      continue;
    }
    out.push('  bindings:', ...bindingLines(plan.bindings).map((l) => `    ${l}`), '  checks:');
    for (const c of plan.checks) {
      const fate = FATE[c.runs](c.runs === 'yes' ? 'runs' : c.runs);
      out.push(`    ${c.severity.padEnd(6)} ${c.id.padEnd(36)} ${fate}${c.pool ? pc.dim(` on ${c.pool}`) : ''}${c.reason ? `: ${c.reason}` : ''}`);
    }
    out.push('');
  }
  return `${out.join('\n')}\n`;
}
