import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect } from 'vitest';
import { CHECKS } from '../harness/checks/registry.ts';
import type { RunReport } from '../harness/report/run-report.ts';
import { TARGETS } from '../harness/targets/registry.ts';
import type { TargetKind } from '../harness/targets/target-kind.ts';

export const ROOT = resolve(import.meta.dirname, '..');

/** Report dirs of this test file's runs: read by its tests, removed when the file is done. */
const reportDirs: string[] = [];
afterAll(() => {
  for (const dir of reportDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs the real CLI the way a user does, and returns exit code, output and report. A run that
 * outlives `killAfterMs` is killed (and then fails its test).
 */
export async function runLbdrill(args: string[], { killAfterMs = 170_000 }: { killAfterMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string; report?: RunReport; reportDir: string }> {
  const reportDir = mkdtempSync(join(tmpdir(), 'lbdrill-test-'));
  reportDirs.push(reportDir);
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'lbdrill.mjs'), ...args, '--report-dir', reportDir], {
    cwd: ROOT,
    env: { ...process.env, CI: 'true', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  clearTimeout(killer);
  let report: RunReport | undefined;
  try {
    report = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as RunReport;
  } catch {
    report = undefined;
  }
  return { code, stdout, stderr, report, reportDir };
}

/** A config broken for exactly one check: `fixtures/configs/<profile>/broken/<target>/<check-id>[~variant].<ext>`. */
export interface BrokenConfig {
  target: string;
  file: string;
  /** absolute path, for `--target <target>=<path>`. */
  path: string;
  check: string;
}

/** The broken configs of a profile; companion files next to them (maps, user lists) are not configs. */
export function brokenConfigs(profile: string): BrokenConfig[] {
  const dir = join(ROOT, 'fixtures', 'configs', profile, 'broken');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((target) =>
    readdirSync(join(dir, target))
      .filter((f) => /\.(conf|cfg|yaml)$/.test(f))
      .map((file) => ({ target, file, path: join(dir, target, file), check: file.replace(/\.(conf|cfg|yaml)$/, '').replace(/~.*$/, '') })),
  );
}

/** The reason a target gives for not expressing a feature the check needs, if it gives one. */
export function declaredUnsupported(target: string, check: string): string | undefined {
  const kind = (TARGETS as Readonly<Record<string, TargetKind>>)[target];
  return CHECKS.get(check)?.needs.map((f) => kind?.unsupported[f]).find((reason) => reason !== undefined);
}

/**
 * Asserts every cell of a run on bundled configs, should-checks included: `pass`, or
 * `unsupported` with the reason the target declares for a feature the check needs; `findings`
 * names the cells that fail for a known reason (a limit of the proxy, kept in the matrix).
 */
export function expectCells(report: RunReport, findings: Readonly<Record<string, Readonly<Record<string, 'fail'>>>> = {}): void {
  for (const r of report.results) {
    const declared = declaredUnsupported(r.target, r.check);
    const want = findings[r.target]?.[r.check] ?? (declared === undefined ? 'pass' : 'unsupported');
    expect(`${r.target} ${r.check} ${r.status}`, r.observed).toBe(`${r.target} ${r.check} ${want}`);
    if (want === 'unsupported') expect(r.observed).toBe(declared);
  }
}
