import type { PoolBinding } from '../checks/check.ts';
import type { Profile } from '../profiles/profile.ts';
import type { ConfigAnalysis, PoolHealth } from '../targets/config-plan.ts';
import type { Binding } from './binding.ts';
import { bindSticky, type StickyContract } from './sticky.ts';
import { bindWeights, type Weights } from './weights.ts';

/**
 * What a profile pool bound to a config pool brings with it, read from the config: its health check,
 * its weights (where the config or the profile states any) and, for the sticky pool, the cookie.
 * One rule for `lbdrill plan` and for a run.
 */
export function bindPoolContract(profile: Profile, role: string, configName: string, analysis: ConfigAnalysis, sourceFile: string): { bindings: Binding[]; sticky?: StickyContract; weights?: Weights } {
  const health = analysis.pools?.find((h) => h.pool === configName);
  const bindings = [healthBinding({ name: role, health }, sourceFile)];
  const primaries = analysis.upstreams.filter((u) => u.pool === configName && !u.backup);
  const stated = profile.pools.find((p) => p.name === role)?.weights;
  const weights = bindWeights({ name: role, configName, primaries }, stated, sourceFile);
  // A pool neither the config nor the profile weighs has no weights to report.
  if (!(weights.binding.from === 'missing' && stated === undefined)) bindings.push(weights.binding);
  const result: { bindings: Binding[]; sticky?: StickyContract; weights?: Weights } = { bindings, ...(weights.weights ? { weights: weights.weights } : {}) };
  if (profile.sticky && role === (profile.sticky.pool ?? profile.pools[0]?.name)) {
    const sticky = bindSticky(profile.sticky, health, sourceFile);
    bindings.push(sticky.binding);
    result.sticky = sticky.contract;
  }
  return result;
}

/** The pool's health check as the config writes it: what the LB checks, so faults aim at it. */
export function healthBinding(pool: Pick<PoolBinding, 'name' | 'health'>, sourceFile: string): Binding {
  const h: PoolHealth | undefined = pool.health;
  const what = `health check of ${pool.name}`;
  const a = h?.active;
  if (!a) {
    const passive = h?.passive ? `passive only: ${h.passive.maxFails} failures in ${h.passive.failTimeoutMs} ms` : 'none in the config';
    return { what, value: passive, from: h?.passive ? 'config' : 'missing', ...(h?.passive ? { file: sourceFile } : { detail: 'the LB notices a dead server only from live traffic' }) };
  }
  const request = a.path === undefined ? 'TCP connect' : `${a.method ?? 'GET'} ${a.path}`;
  const value = `${request}${a.port !== undefined ? ` on port ${a.port}` : ''} every ${a.intervalMs} ms, fall ${a.fall}, rise ${a.rise}${a.expectStatus ? `, expects ${a.expectStatus.min}-${a.expectStatus.max}` : ''}`;
  return { what, value, from: 'config', file: a.at?.file ?? sourceFile, ...(a.at ? { line: a.at.line } : {}) };
}
