import { CHECKS } from '../checks/registry.ts';
import { LbdrillError } from '../errors.ts';
import type { Profile } from '../profiles/profile.ts';
import type { PlannedCheck } from './run-checks.ts';

/**
 * The profile's checks that run: `only` keeps the named ones, `skip` drops them (an id the profile
 * does not run is a usage error, exit 2); each check that acts on a pool gets the one its entry names,
 * else the profile's first.
 */
export function planChecks(profile: Profile, scope: { only?: readonly string[]; skip?: readonly string[] }): PlannedCheck[] {
  for (const [flag, ids] of [['--only', scope.only], ['--skip', scope.skip]] as const) {
    const stray = (ids ?? []).filter((id) => !profile.checks.some((c) => c.id === id));
    if (stray.length > 0) throw new LbdrillError('LBDRILL_ERR_USAGE', `${flag} ${stray.join(', ')}: profile ${profile.name} does not run ${stray.length > 1 ? 'these checks' : 'this check'} (it runs: ${profile.checks.map((c) => c.id).join(', ')})`);
  }
  return profile.checks
    .filter((c) => (!scope.only || scope.only.includes(c.id)) && !scope.skip?.includes(c.id))
    .map((c) => {
      const check = CHECKS.get(c.id)!;
      const pool = check.needsPool ? (c.pool ?? profile.pools[0]?.name) : undefined;
      return { check, severity: c.severity, ...(pool !== undefined ? { pool } : {}) };
    });
}
