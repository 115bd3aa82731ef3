import { describe, expect, it } from 'vitest';
import type { FailoverSettings } from '../checks/check.ts';
import { targetFailoverSettings } from './failover-settings.ts';

const scaled: FailoverSettings = {
  timeScale: 0.1,
  budgetsMs: { detect: 2000, rejoin: 1500, drain: 100 },
  budgetSources: { detect: 'profile p: 20s x time scale 0.1 = 2 s', rejoin: '--budget rejoin=1.5s', drain: 'profile p: 1s x time scale 0.1 = 100 ms' },
  probeRatePerSec: 200,
  probeSources: 1,
};

describe('targetFailoverSettings', () => {
  it('widens the budgets that wait on a passive window by what rounding added, and says so', () => {
    const got = targetFailoverSettings(scaled, [
      { kind: 'timing', from: 'fail_timeout=15s', to: 'fail_timeout=2s (1.5 s rounded up: nginx reads fail_timeout in whole seconds)', lengthenedMs: 500 },
      { kind: 'upstream', from: '10.0.0.11:8080', to: '127.1.0.1:4000' },
    ]);
    expect(got.budgetsMs).toEqual({ detect: 2500, rejoin: 1500, drain: 100 });
    expect(got.budgetSources['detect']).toBe('profile p: 20s x time scale 0.1 = 2 s, + 500 ms lbdrill\'s scaling added to the config\'s timings (fail_timeout=2s (1.5 s rounded up: nginx reads fail_timeout in whole seconds)) = 2.5 s');
    // set on the command line: as given
    expect(got.budgetSources['rejoin']).toBe('--budget rejoin=1.5s');
  });

  it('leaves the budgets alone when nothing was lengthened', () => {
    expect(targetFailoverSettings(scaled, [{ kind: 'timing', from: 'inter 5s', to: 'inter 500ms' }])).toBe(scaled);
  });
});
