import { z } from 'zod';
import { DrillProblem, type BackendBinding, type CheckContext, type PoolBinding } from '../checks/check.ts';
import type { ConfigAnalysis, PoolHealth } from '../targets/config-plan.ts';
import { LbdrillError } from '../errors.ts';
import type { Binding } from './binding.ts';

/** A pool as a profile states it: a role (its name), the paths that reach it, other names configs give it. */
export const poolSchema = z
  .object({
    /** the pool's role in the contract; a config pool of this name is bound to it. */
    name: z.string().min(1),
    /** a path the LB routes to this pool; a config pool that no name matches is found by sending it. */
    probe_path: z.string().startsWith('/'),
    /** the path prefix clients use for this pool ("/api/"): checks build their request paths under it. */
    path_prefix: z.string().startsWith('/').endsWith('/').default('/'),
    /** the path the contract's health checks use; the test backends answer it. */
    health_path: z.string().startsWith('/').optional(),
    /** other names configs use for this pool (nginx `default_pool` where HAProxy says `default`). */
    aliases: z.array(z.string().min(1)).default([]),
    /** the contract's server weights, in the order the config lists the pool's primaries; used when the config states none. */
    weights: z.array(z.number().int().min(1).max(256)).min(1).optional(),
  })
  .strict();

export type StatedPool = z.infer<typeof poolSchema>;

/** A profile pool matched to a config pool before the LB starts (by --pool or by name), or left to the traffic. */
export interface PoolMatch {
  name: string;
  probePath: string;
  pathPrefix: string;
  /** the config's pool; undefined until the traffic names it. */
  configName: string | undefined;
  binding: Binding;
}

/** Matches the profile's pools to the config's by --pool, then by name or alias; the rest are found by traffic once the LB runs. A --pool naming nothing is exit 2. */
export function matchPools(stated: readonly StatedPool[], analysis: ConfigAnalysis, sourceFile: string, overrides: Readonly<Record<string, string>>, profileName: string): PoolMatch[] {
  for (const name of Object.keys(overrides)) {
    if (!stated.some((p) => p.name === name)) {
      throw new LbdrillError('LBDRILL_ERR_USAGE', `--pool ${name}=...: profile ${profileName} has no pool "${name}" (pools: ${stated.map((p) => p.name).join(', ') || 'none'})`);
    }
  }
  const inConfig = [...new Set(analysis.upstreams.map((u) => u.pool))];
  return stated.map((p) => {
    const base = { name: p.name, probePath: p.probe_path, pathPrefix: p.path_prefix };
    const flagged = overrides[p.name];
    if (flagged !== undefined) {
      if (!inConfig.includes(flagged)) throw new LbdrillError('LBDRILL_ERR_USAGE', `--pool ${p.name}=${flagged}: ${sourceFile} has no pool "${flagged}" (pools in the file: ${inConfig.join(', ')})`);
      return { ...base, configName: flagged, binding: poolBinding(p.name, flagged, analysis, sourceFile, 'flag', `--pool ${p.name}=${flagged}`) };
    }
    const named = [p.name, ...p.aliases].find((n) => inConfig.includes(n));
    if (named !== undefined) return { ...base, configName: named, binding: poolBinding(p.name, named, analysis, sourceFile, 'config') };
    return { ...base, configName: undefined, binding: { what: `pool ${p.name}`, value: '?', from: 'traffic', detail: `the pool answering ${p.probe_path}, once the LB runs` } };
  });
}

function poolBinding(role: string, configName: string, analysis: ConfigAnalysis, sourceFile: string, from: 'config' | 'flag', detail?: string): Binding {
  const servers = analysis.upstreams.filter((u) => u.pool === configName);
  const first = servers[0];
  const primaries = servers.filter((u) => !u.backup).length;
  const value = `${configName} (${primaries} primar${primaries === 1 ? 'y' : 'ies'}${servers.length > primaries ? `, ${servers.length - primaries} backup` : ''})`;
  return { what: `pool ${role}`, value, from, file: first?.file ?? sourceFile, ...(first ? { line: first.line } : {}), ...(detail ? { detail } : {}) };
}

/** Builds a profile pool's binding from the config pool it was matched to: its servers as test backends, its health and persistence settings. */
export function poolFrom(match: PoolMatch, configName: string, analysis: ConfigAnalysis, backends: readonly BackendBinding[]): PoolBinding {
  // A server listed in several pools is one test backend; bind it to this pool's own line.
  const members = analysis.upstreams
    .filter((u) => u.pool === configName)
    .flatMap((u) => {
      const b = backends.find((x) => x.upstream.address === u.address);
      return b ? [{ ...b, upstream: u }] : [];
    });
  const health: PoolHealth | undefined = analysis.pools?.find((h) => h.pool === configName);
  return {
    name: match.name,
    configName,
    probePath: match.probePath,
    pathPrefix: match.pathPrefix,
    primaries: members.filter((b) => !b.upstream.backup),
    backups: members.filter((b) => b.upstream.backup),
    health,
  };
}

/** The pool this check acts on (the profile's check entry names it; default the profile's first), or a DrillProblem. */
export function contractPool(ctx: CheckContext): PoolBinding {
  if (!ctx.pool) throw new DrillProblem('the profile declares no pool for this check');
  return ctx.pool;
}

/** The profile pool named `name` as bound in this config, or a DrillProblem naming what is missing. */
export function poolNamed(ctx: CheckContext, name: string): PoolBinding {
  const pool = ctx.pools.find((p) => p.name === name);
  if (!pool) throw new DrillProblem(`the config under test has no pool for the profile's ${name}`);
  return pool;
}

/** Which bound pool a backend id belongs to (first match), or undefined. */
export function poolOf(ctx: CheckContext, backend: string | null): string | undefined {
  return ctx.pools.find((p) => [...p.primaries, ...p.backups].some((b) => b.backend.id === backend))?.name;
}
