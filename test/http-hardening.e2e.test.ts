import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { VECTORS } from '../harness/hardening/vectors.ts';
import type { VectorResult } from '../harness/hardening/run-vector.ts';
import { brokenConfigs, expectCells, ROOT, runLbdrill } from './run-lbdrill.ts';

const TARGETS = ['reference', 'haproxy', 'nginx', 'apache'] as const;
/** The smuggling and parser checks of the profile (test/http-hardening-limits.e2e.test.ts has the others). */
const CHECKS = ['smuggling.cl-te', 'smuggling.te-obfuscated', 'smuggling.duplicate-cl', 'smuggling.chunk-framing', 'parsing.bare-lf-cr-nul', 'parsing.header-names', 'parsing.request-line', 'parsing.absolute-form', 'upgrade.h2c-stripped'] as const;
const only = CHECKS.flatMap((c) => ['--only', c]);
const broken = brokenConfigs('http-hardening').filter((b) => (CHECKS as readonly string[]).includes(b.check));

/**
 * The vectors each proxy lets through on its bundled config, as measured on the versions
 * installed here (nginx 1.22.1, HAProxy 2.6.12, Apache 2.4.71, the reference LB today), with
 * why. Every other vector passes. harness/hardening/README.md has the whole matrix.
 */
const FAILING_VECTORS: Record<(typeof TARGETS)[number], Record<string, string>> = {
  reference: {},
  haproxy: {
    'CH-LF': 'HAProxy 2.6.12 accepts a chunk ended by a bare LF (400 only in releases after 2024)',
    'NUL-val': 'HAProxy 2.6.12 forwards a NUL inside a header value',
    'name-underscore': 'HAProxy forwards Transfer_Encoding (underscore is tchar; no option drops it)',
    h2c: 'HAProxy 2.6.12 forwards Upgrade: h2c and HTTP2-Settings',
  },
  nginx: {
    'CH-LF': 'nginx 1.22.1 accepts a chunk ended by a bare LF (400 only since 1.29.4)',
    'reqline-fragment': 'nginx forwards a #fragment in the request-target as sent',
  },
  apache: {
    'name-underscore': 'Apache 2.4.71 forwards Transfer_Encoding (no directive drops it)',
  },
};

/** The check cells that fail because of those vectors: a limit of the proxy version, not of the config. */
const FINDINGS: Record<string, Record<string, 'fail'>> = Object.fromEntries(
  TARGETS.map((target) => [
    target,
    Object.fromEntries(Object.keys(FAILING_VECTORS[target]).map((id) => [VECTORS.find((v) => v.id === id)?.check ?? id, 'fail' as const])),
  ]),
);

describe('profile http-hardening, bundled configs', () => {
  it('every vector on the four targets comes out as measured', async () => {
    const run = await runLbdrill(['run', '--profile', 'http-hardening', ...TARGETS.flatMap((t) => ['--target', t]), ...only]);
    expect(run.report, run.stderr).toBeDefined();
    expectCells(run.report!, FINDINGS);
    for (const target of TARGETS) {
      const failing = run.report!.results
        .filter((r) => r.target === target)
        .flatMap((r) => (r.evidence.vectors as VectorResult[] | undefined) ?? [])
        .filter((v) => v.verdict === 'fail')
        .map((v) => v.vector);
      expect(`${target}: ${failing.sort().join(', ')}`).toBe(`${target}: ${Object.keys(FAILING_VECTORS[target]).sort().join(', ')}`);
    }
    expect(run.report!.results).toHaveLength(TARGETS.length * CHECKS.length);
  }, 170_000);
});

/** Passing cells with no broken config: the target has no switch that breaks the check, and why. */
const INEXPRESSIBLE: Record<string, string> = {
  'reference smuggling.cl-te': 'the reference LB has no parser switch (node llhttp strict, insecureHTTPParser not exposed)',
  'reference smuggling.te-obfuscated': 'the reference LB has no parser switch',
  'reference smuggling.duplicate-cl': 'the reference LB has no parser switch',
  'reference smuggling.chunk-framing': 'the reference LB has no parser switch',
  'reference parsing.bare-lf-cr-nul': 'the reference LB has no parser switch',
  'reference parsing.header-names': 'the reference LB has no switch that loosens its request gate (reference-lb/src/request-gate.ts)',
  'reference parsing.request-line': 'the reference LB has no switch that loosens its request gate',
  'reference parsing.absolute-form': 'the reference LB has no switch that loosens its request gate',
  'reference upgrade.h2c-stripped': 'the reference LB has no switch that loosens its request gate',
  'haproxy smuggling.cl-te': 'HAProxy 2.6 has no option that relaxes CL/TE handling',
  'haproxy smuggling.duplicate-cl': 'HAProxy 2.6 has no option that relaxes Content-Length parsing',
  'haproxy parsing.absolute-form': 'HAProxy 2.6 refuses an authority/Host mismatch in its parser, before any rule runs',
  'nginx smuggling.cl-te': 'nginx has no directive that relaxes CL/TE handling',
  'nginx smuggling.te-obfuscated': 'nginx has no directive that relaxes Transfer-Encoding parsing',
  'nginx smuggling.duplicate-cl': 'nginx has no directive that relaxes Content-Length parsing',
  'nginx parsing.bare-lf-cr-nul': 'nginx has no directive that lets bare CR or NUL through',
  'apache smuggling.cl-te': 'Apache has no directive that relaxes CL/TE handling',
  'apache smuggling.te-obfuscated': 'Apache has no directive that relaxes Transfer-Encoding parsing',
  'apache smuggling.duplicate-cl': 'Apache has no directive that relaxes Content-Length parsing',
  'apache parsing.request-line': 'measured: even with HttpProtocolOptions Unsafe, mod_proxy strips the #fragment and rebuilds the request-line',
  'apache parsing.bare-lf-cr-nul': 'measured: with HttpProtocolOptions Unsafe a bare-LF request is forwarded rebuilt with CRLF; CR and NUL still get 400',
};

describe('configs broken for exactly one http-hardening check fail it', () => {
  it('cover every cell that passes on the bundled configs, except those no directive can break', () => {
    const profile = parseYaml(readFileSync(join(ROOT, 'scenarios', 'profiles', 'http-hardening.yaml'), 'utf8')) as { checks: Array<{ id: string }> };
    const checks = profile.checks.map((c) => c.id).filter((id) => (CHECKS as readonly string[]).includes(id));
    expect(checks).toEqual([...CHECKS]);
    const cells = new Set(broken.map((b) => `${b.target} ${b.check}`));
    for (const b of broken) expect(FINDINGS[b.target]?.[b.check], `${b.target} ${b.check} already fails on the bundled config`).toBeUndefined();
    const missing = TARGETS.flatMap((t) => checks.filter((c) => FINDINGS[t]?.[c] === undefined && !cells.has(`${t} ${c}`) && INEXPRESSIBLE[`${t} ${c}`] === undefined).map((c) => `${t} ${c}`));
    expect(missing).toEqual([]);
    expect(Object.keys(INEXPRESSIBLE).filter((cell) => cells.has(cell))).toEqual([]);
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
