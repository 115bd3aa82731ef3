import { describe, expect, it } from 'vitest';
import { brokenConfigs, declaredUnsupported, expectCells, runLbdrill } from './run-lbdrill.ts';

/*
 * Profile http-hardening, its limits and path checks (issue 14): the four targets on the bundled
 * configs (5 s header and body read timeouts, a guard refusing ambiguous paths), then every config
 * broken for exactly one of these checks. Client timeouts are not time-scaled (lbdrill scales
 * health and failover timings only), so each slow-client cell takes its 5 s.
 */

const CHECKS = ['limits.header-size', 'path.prefix-escape', 'path.encoded-slash', 'limits.slowloris', 'limits.slow-body'] as const;
const TARGETS = ['reference', 'nginx', 'haproxy', 'apache'] as const;
const only = CHECKS.flatMap((c) => ['--only', c]);
const broken = brokenConfigs('http-hardening').filter((b) => (CHECKS as readonly string[]).includes(b.check));

/** Cells of the bundled configs that fail on a limit of the proxy, not of the config, and why. */
const FINDINGS: Record<string, Record<string, 'fail'>> = {};

/** Targets on which a config cannot be broken for a check, and why (the other cells each have a broken config). */
const INEXPRESSIBLE: Record<string, Record<string, string>> = {
  reference: {
    'path.encoded-slash': 'the reference LB never decodes a path: without the guard it forwards %2F as sent',
  },
};

describe('profile http-hardening, limits and path checks on the bundled configs', () => {
  it('every target passes, or fails for a reason of the proxy (FINDINGS)', async () => {
    const run = await runLbdrill(['run', '--profile', 'http-hardening', ...TARGETS.flatMap((t) => ['--target', t]), ...only]);
    expect(run.report, run.stderr).toBeDefined();
    expectCells(run.report!, FINDINGS);
    expect(run.report!.results).toHaveLength(CHECKS.length * TARGETS.length);
    // the binding lines name the config's limits with their lines
    const nginx = run.report!.targets.find((t) => t.name === 'nginx');
    expect(nginx?.bindings).toContainEqual(expect.objectContaining({ what: 'header read timeout', value: '5 s (client_header_timeout 5s)', line: 22 }));
  }, 170_000);
});

describe('configs broken for exactly one limits or path check fail it', () => {
  it('cover every cell that passes on the bundled configs, but those a target cannot break', () => {
    const cells = new Set(broken.map((b) => `${b.target} ${b.check}`));
    const missing = TARGETS.flatMap((t) => CHECKS.filter((c) => FINDINGS[t]?.[c] === undefined && INEXPRESSIBLE[t]?.[c] === undefined && !declaredUnsupported(t, c) && !cells.has(`${t} ${c}`)).map((c) => `${t} ${c}`));
    expect(missing).toEqual([]);
  });

  for (const { target, file, path, check } of broken) {
    it(`${target}: ${file} fails ${check}`, async () => {
      const run = await runLbdrill(['run', '--profile', 'http-hardening', '--target', `${target}=${path}`, '--only', check]);
      expect(run.report, run.stderr).toBeDefined();
      const result = run.report!.results.find((r) => r.check === check);
      expect(result?.status, JSON.stringify(result)).toBe('fail');
      expect(run.code).toBe(1);
    }, 120_000);
  }
});
