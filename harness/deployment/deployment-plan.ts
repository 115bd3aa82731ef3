import { formatMs } from '../duration.ts';
import type { FailoverSettings } from '../checks/check.ts';
import { MAX_PROBE_RATE_PER_SEC, type Deployment } from './deployment.ts';
import { describeIdentify } from './identify-backend.ts';

/** The drill on a deployed pool, as `--dry-run` prints it: victim, budgets, probe, view, and every command that would run. */
export function renderDeploymentPlan(deployment: Deployment, failover: FailoverSettings, pool: string, viewTitle: string): string {
  const members = deployment.backends.filter((b) => b.pool === pool);
  const victim = members[0]!;
  const lines = [
    `deployment ${deployment.name} (${deployment.file})`,
    `  LB:       ${deployment.lb.url}${deployment.lb.insecure ? ' (certificate not verified: insecure: true)' : deployment.lb.caFile ? ` (trusting ${deployment.lb.caFile})` : ''}`,
    `  probe:    GET ${deployment.lb.probePath} at ${failover.probeRatePerSec} req/s (cap ${MAX_PROBE_RATE_PER_SEC} req/s), backends told apart by ${describeIdentify(deployment.identify)}`,
    `  view:     ${viewTitle}`,
    `  pool:     ${pool}: ${members.map((b) => `${b.name} (server ${b.server}, answers as ${b.value})`).join(', ')}`,
    `  victim:   ${victim.name}`,
    `  budgets:  ${Object.entries(failover.budgetsMs).filter(([n]) => n === 'detect' || n === 'rejoin').map(([n, ms]) => `${n} ${formatMs(ms)} (${failover.budgetSources[n]})`).join('; ')}`,
    'commands, in order (each undo also runs on failure, Ctrl-C, and in the next run after a crash):',
    `  1. stop ${victim.name}:  ${victim.hooks.stop}`,
    `  2. start ${victim.name}: ${victim.hooks.start}`,
    'dry run: nothing was run and no request was sent.',
  ];
  return `${lines.join('\n')}\n`;
}
