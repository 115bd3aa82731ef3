import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Binding } from '../contracts/binding.ts';
import { matchPools } from '../contracts/pools.ts';
import { bindPoolContract } from '../contracts/pool-contract.ts';
import { limitBindings, limitsFor } from '../contracts/limits.ts';
import { LbdrillError } from '../errors.ts';
import { trackTempDir } from '../process/cleanup.ts';
import type { Profile } from '../profiles/profile.ts';
import { TARGETS } from '../targets/registry.ts';
import { CertificateAuthority } from '../tls/certificate-authority.ts';
import { chooseEntryPoint } from './entry-point.ts';
import { planChecks } from './plan-checks.ts';
import { prepareTarget, type TargetSpec } from './prepare-target.ts';

/** What a run would do on one target: the bindings lbdrill can make from the config alone, and each check's fate. */
export interface TargetPlan {
  target: string;
  config: string;
  /** set when the target cannot run here (binary missing). */
  skipped?: string;
  bindings: Binding[];
  checks: Array<{ id: string; severity: string; pool?: string; runs: 'yes' | 'unsupported' | 'no pool' | 'pool found by traffic'; reason?: string }>;
}

/**
 * `lbdrill plan`: reads and maps each config, has the proxy check it, binds what the config states
 * (pools by name or --pool, their health checks, the sticky cookie, weights) and lists which checks
 * would run, without starting the LB. Pools no name matches are bound by traffic when the run starts.
 */
export async function planRun(options: { profile: Profile; targets: readonly TargetSpec[]; only?: string[]; skip?: string[]; pools?: Record<string, string> }): Promise<TargetPlan[]> {
  const { profile } = options;
  const planned = planChecks(profile, { ...(options.only ? { only: options.only } : {}), ...(options.skip ? { skip: options.skip } : {}) });
  const scratch = await mkdtemp(join(tmpdir(), 'lbdrill-plan-'));
  const untrack = trackTempDir(scratch);
  try {
    const ca = await CertificateAuthority.create();
    const plans: TargetPlan[] = [];
    for (const [index, spec] of options.targets.entries()) {
      const kind = TARGETS[spec.name];
      if (!spec.configFile && profile.configDir === undefined) throw new LbdrillError('LBDRILL_ERR_USAGE', `profile ${profile.name} has no bundled configs: give your own with --target ${spec.name}=FILE`);
      const config = spec.configFile ? resolve(spec.configFile) : join(profile.configDir!, kind.bundledConfigName);
      const version = await kind.version();
      if (!version) {
        plans.push({ target: spec.name, config, skipped: `${spec.name} is not installed (apt-get install ${kind.aptPackage})`, bindings: [], checks: [] });
        continue;
      }
      const prepared = await prepareTarget({ kind, version, spec, configFile: config, runDir: join(scratch, spec.name), index, ca });
      await prepared.testHosts?.dispose();
      const analysis = prepared.target.analysis;
      const matches = matchPools(profile.pools, analysis, config, options.pools ?? {}, profile.name);
      const bindings: Binding[] = matches.map((m) => m.binding);
      for (const m of matches) {
        if (m.configName !== undefined) bindings.push(...bindPoolContract(profile, m.name, m.configName, analysis, config).bindings);
      }
      const { app } = chooseEntryPoint(prepared.endpoints, analysis.listeners, matches, config);
      bindings.push(...limitBindings(app?.limits, profile.limits && limitsFor(profile.limits), config));
      const checks = planned.map((p) => {
        const base = { id: p.check.id, severity: p.severity, ...(p.pool !== undefined ? { pool: p.pool } : {}) };
        const unsupported = p.check.needs.map((f) => kind.unsupported[f]).find((r) => r !== undefined);
        if (unsupported) return { ...base, runs: 'unsupported' as const, reason: unsupported };
        const match = matches.find((m) => m.name === p.pool);
        if (p.check.needsPool && !match) return { ...base, runs: 'no pool' as const, reason: 'the profile declares no pool' };
        if (match && match.configName === undefined) return { ...base, runs: 'pool found by traffic' as const, reason: `the pool answering ${match.probePath}` };
        return { ...base, runs: 'yes' as const };
      });
      plans.push({ target: spec.name, config, bindings, checks });
    }
    return plans;
  } finally {
    await rm(scratch, { recursive: true, force: true });
    untrack();
  }
}
