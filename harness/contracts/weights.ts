import type { UpstreamRef } from '../targets/config-plan.ts';
import type { Binding } from './binding.ts';

/** Server weights of a pool, by upstream address as written in the config. */
export type Weights = Readonly<Record<string, number>>;

/**
 * The weights a pool's traffic must follow: the config's own where it states any (a server without
 * one has the proxy's default, 1), else the profile's, in the order the config lists the primaries.
 */
export function bindWeights(pool: { name: string; configName: string; primaries: readonly UpstreamRef[] }, stated: readonly number[] | undefined, sourceFile: string): { weights: Weights | undefined; binding: Binding } {
  const what = `weights of ${pool.name}`;
  const primaries = pool.primaries;
  const written = primaries.filter((u) => u.weight !== undefined);
  if (written.length > 0) {
    const weights = Object.fromEntries(primaries.map((u) => [u.address, u.weight ?? 1]));
    return { weights, binding: { what, value: primaries.map((u) => `${u.name}=${u.weight ?? 1}`).join(' '), from: 'config', file: written[0]!.file ?? sourceFile, line: written[0]!.line } };
  }
  if (stated === undefined) return { weights: undefined, binding: { what, value: 'none', from: 'missing', detail: 'the config states no weights and the profile none' } };
  if (stated.length !== primaries.length) {
    return { weights: undefined, binding: { what, value: 'none', from: 'missing', detail: `the profile states ${stated.length} weights (${stated.join(':')}), ${pool.configName} has ${primaries.length} primaries and states none` } };
  }
  const weights = Object.fromEntries(primaries.map((u, i) => [u.address, stated[i]!]));
  return { weights, binding: { what, value: primaries.map((u, i) => `${u.name}=${stated[i]}`).join(' '), from: 'profile', detail: `the config states none: the profile's ${stated.join(':')} in server order` } };
}
