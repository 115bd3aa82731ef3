import type { FailoverSettings, VictimFault } from '../checks/check.ts';
import { formatMs, parseDurationMs } from '../duration.ts';
import { LbdrillError } from '../errors.ts';
import { BUDGET_NAMES, type BudgetName } from '../contracts/budgets.ts';
import type { Profile } from '../profiles/profile.ts';
import type { Mapping } from '../targets/config-plan.ts';

/** What the command line may say about failover timing. */
export interface FailoverOverrides {
  timeScale?: number;
  /** budgets as measured (real time, never scaled): detect -> 2000. */
  budgetsMs?: Partial<Record<BudgetName, number>>;
  probeRatePerSec?: number;
  /** profile pool name -> pool name in the user's config (--pool api_pool=my_backend). */
  pools?: Record<string, string>;
  /** how the drill takes the victim out (drill failover --fault); stop by default. */
  victimFault?: VictimFault;
}

/** Parses one `--budget name=duration`. */
export function parseBudget(text: string): [BudgetName, number] {
  const eq = text.indexOf('=');
  const name = text.slice(0, eq);
  if (eq < 0 || !(BUDGET_NAMES as readonly string[]).includes(name)) {
    throw new LbdrillError('LBDRILL_ERR_USAGE', `--budget "${text}": expected NAME=DURATION with NAME one of ${BUDGET_NAMES.join(', ')}`);
  }
  const ms = parseDurationMs(text.slice(eq + 1));
  if (ms === undefined || ms <= 0) throw new LbdrillError('LBDRILL_ERR_USAGE', `--budget "${text}": expected a duration like 500ms or 2s after "="`);
  return [name as BudgetName, ms];
}

/**
 * Budgets come from the profile (scaled with the intervals) or the command line (as
 * given), never from the config under test: a config with slower settings must fail.
 */
export function failoverSettings(profile: Profile, overrides: FailoverOverrides): FailoverSettings {
  const timeScale = overrides.timeScale ?? profile.failover.time_scale;
  const budgetsMs: Record<string, number> = {};
  const budgetSources: Record<string, string> = {};
  for (const [name, text] of Object.entries(profile.failover.budgets)) {
    if (text === undefined) continue;
    const ms = parseDurationMs(text)!;
    budgetsMs[name] = Math.round(ms * timeScale);
    budgetSources[name] = timeScale === 1 ? `profile ${profile.name}: ${text}` : `profile ${profile.name}: ${text} x time scale ${timeScale} = ${formatMs(budgetsMs[name]!)}`;
  }
  for (const [name, ms] of Object.entries(overrides.budgetsMs ?? {})) {
    budgetsMs[name] = ms;
    budgetSources[name] = `--budget ${name}=${formatMs(ms)}`;
  }
  return { timeScale, budgetsMs, budgetSources, probeRatePerSec: overrides.probeRatePerSec ?? profile.failover.probe_rate, probeSources: profile.failover.probe_sources, ...(overrides.victimFault && overrides.victimFault !== 'stop' ? { victimFault: overrides.victimFault } : {}) };
}

/** Budgets that wait on a passive retry window (nginx fail_timeout, Apache retry=): a longer window delays them one for one. */
const WINDOW_BOUND_BUDGETS: readonly string[] = ['detect', 'rejoin', 'reconnect'];

/**
 * One target's budgets. Time scaling may have to lengthen a timing of its config (nginx
 * fail_timeout and Apache retry= take whole seconds: 1.5 s becomes 2 s); the budgets that
 * wait on such a window are widened by exactly what lbdrill added, and say so. Budgets set
 * on the command line stay as given.
 */
export function targetFailoverSettings(failover: FailoverSettings, mapped: readonly Mapping[]): FailoverSettings {
  const lengthened = mapped.filter((m) => (m.lengthenedMs ?? 0) > 0);
  const slackMs = Math.max(0, ...lengthened.map((m) => m.lengthenedMs!));
  if (slackMs === 0) return failover;
  const budgetsMs = { ...failover.budgetsMs };
  const budgetSources = { ...failover.budgetSources };
  const why = [...new Set(lengthened.map((m) => m.to))].join('; ');
  for (const name of WINDOW_BOUND_BUDGETS) {
    const source = budgetSources[name];
    if (budgetsMs[name] === undefined || source === undefined || source.startsWith('--budget')) continue;
    budgetsMs[name] += slackMs;
    budgetSources[name] = `${source}, + ${formatMs(slackMs)} lbdrill's scaling added to the config's timings (${why}) = ${formatMs(budgetsMs[name]!)}`;
  }
  return { ...failover, budgetsMs, budgetSources };
}
