import { describe, expect, it } from 'vitest';
import { CHECKS } from '../harness/checks/registry.ts';
import { loadProfile, profileNames } from '../harness/profiles/profile.ts';
import { brokenConfigs } from './run-lbdrill.ts';

/**
 * A check that cannot fail is a defect: every registered check must have at least one config,
 * broken for exactly that check, in a profile that runs it (the profile e2e tests then prove it
 * fails there). This guards the inventory; the e2e tests judge the files.
 */
/**
 * Checks no proxy here has a directive to break, proven failing another way: every vector of
 * theirs fails through a layer-4 relay in harness/hardening/run-vector.test.ts.
 */
const PROVEN_BY_RELAY: ReadonlySet<string> = new Set(['smuggling.cl-te', 'smuggling.duplicate-cl', 'parsing.bare-lf-cr-nul']);

describe('every check is proven both ways', () => {
  const profiles = profileNames().map((name) => ({ name, checks: new Set(loadProfile(name).checks.map((c) => c.id)), broken: brokenConfigs(name) }));

  it('each registered check has a broken config in a profile that lists it', () => {
    const unproven = [...CHECKS.keys()].filter((id) => !PROVEN_BY_RELAY.has(id) && !profiles.some((p) => p.checks.has(id) && p.broken.some((b) => b.check === id)));
    expect(unproven).toEqual([]);
  });

  it('each broken config names a check its profile runs (a typo would never be judged)', () => {
    const orphans = profiles.flatMap((p) => p.broken.filter((b) => !p.checks.has(b.check)).map((b) => `${p.name}/${b.target}/${b.file}`));
    expect(orphans).toEqual([]);
  });
});
