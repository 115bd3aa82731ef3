import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { profileNames } from '../harness/profiles/profile.ts';
import type { RunReport } from '../harness/report/run-report.ts';
import { leftContainers } from './container-leftovers.ts';
import { expectCells, ROOT, runLbdrill } from './run-lbdrill.ts';

const FAST = ['--time-scale', '0.1'];
const ALL = ['reference', 'nginx', 'haproxy', 'apache'].flatMap((t) => ['--target', t]);
const CONTAINER = ['--runtime', 'container'];

/** Every cell as "target check status": what must be the same natively and in containers. */
function matrix(report: RunReport): string[] {
  return report.results.map((r) => `${r.target} ${r.check} ${r.status}`);
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * Profiles whose native suite asserts every bundled cell with expectCells and no findings: the same
 * shared assertion holds in containers. Every other profile keeps findings of its own (sticky-ws,
 * sysmanage), so its container matrix is compared with a native run of the same command instead.
 */
const PASS_OR_DECLARED = new Set(['haproxy-role', 'node-map-gateway', 'path-and-auth', 'shakenfist-api']);

describe('--runtime container: every profile, bundled configs, all four targets, same matrix as native', () => {
  for (const profile of profileNames()) {
    it(profile, async () => {
      const inContainers = await runLbdrill(['run', '--profile', profile, ...ALL, ...FAST, ...CONTAINER]);
      expect(inContainers.report, inContainers.stderr).toBeDefined();
      if (PASS_OR_DECLARED.has(profile)) {
        expectCells(inContainers.report!);
        expect(inContainers.code).toBe(0);
      } else {
        const native = await runLbdrill(['run', '--profile', profile, ...ALL, ...FAST]);
        expect(native.report, native.stderr).toBeDefined();
        const cells = Object.fromEntries(inContainers.report!.results.map((r) => [`${r.target} ${r.check}`, r.observed]));
        expect(matrix(inContainers.report!), JSON.stringify(cells, null, 1)).toEqual(matrix(native.report!));
        expect(inContainers.code).toBe(native.code);
      }
      for (const target of inContainers.report!.targets) {
        expect(target.status, target.reason).toBe('ran');
        expect(target.container?.image).toBe(`lbdrill/${target.name === 'reference' ? 'node' : target.name}:bookworm`);
        expect(target.container!.createMs).toBeGreaterThan(0);
        expect(target.container!.readyMs).toBeGreaterThanOrEqual(0);
      }
      expect(inContainers.stderr).toMatch(/haproxy: container lbdrill\/haproxy:bookworm: image check \d+ ms, create \d+ ms, ready \d+ ms/);
      expect(leftContainers()).toEqual([]);
    }, 340_000);
  }
});

describe('--runtime container on the other commands', () => {
  it('drill failover: the seed 001 drill on HAProxy in its container, with the LB reporting DOWN and UP', async () => {
    const run = await runLbdrill(['drill', 'failover', '--target', 'haproxy', ...FAST, ...CONTAINER]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const detect = run.report!.results.find((r) => r.check === 'failover.detect-within-budget')!;
    expect((detect.evidence['measurement'] as { detectSource: string }).detectSource).toBe('lb-event');
    expect(run.report!.targets[0]!.container?.image).toBe('lbdrill/haproxy:bookworm');
    expect(leftContainers()).toEqual([]);
  }, 120_000);

  it('targets: the version each image holds', async () => {
    // `targets` writes no report: run it without runLbdrill's --report-dir
    const run = { stdout: execFileSync(process.execPath, [join(ROOT, 'bin', 'lbdrill.mjs'), 'targets', ...CONTAINER], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 }) };
    expect(run.stdout).toMatch(/^haproxy +haproxy\/2\.\d+\.\d+ in lbdrill\/haproxy:bookworm$/m);
    expect(run.stdout).toMatch(/^nginx +nginx\/1\.\d+\.\d+ in lbdrill\/nginx:bookworm$/m);
    expect(run.stdout).toMatch(/^apache +apache2\/2\.4\.\d+ in lbdrill\/apache:bookworm$/m);
    expect(run.stdout).toMatch(/^reference +reference-lb\/\S+ in lbdrill\/node:bookworm$/m);
  }, 60_000);
});

describe('--runtime container: what cannot run says so in one line, exit 2', () => {
  const errorLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.trim() && !l.startsWith('lbdrill 0.') && !l.startsWith('containers: ') && !/: checking /.test(l));

  it('--image with a tag that is not there', async () => {
    const run = await runLbdrill(['run', '--profile', 'haproxy-role', '--target', 'haproxy', ...CONTAINER, '--image', 'haproxy=lbdrill/haproxy:no-such-tag']);
    expect(run.code, run.stderr).toBe(2);
    expect(errorLines(run.stderr)).toHaveLength(1);
    expect(errorLines(run.stderr)[0]).toMatch(/--image lbdrill\/haproxy:no-such-tag: not on this machine and could not be pulled \(.+\)/);
    expect(leftContainers()).toEqual([]);
  }, 120_000);

  it("a config the container's proxy rejects: HAProxy's own words at the user's line", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbdrill-container-rejected-'));
    dirs.push(dir);
    const config = join(dir, 'haproxy.cfg');
    const lines = readFileSync(join(ROOT, 'fixtures', 'configs', 'haproxy-role', 'haproxy.cfg'), 'utf8').split('\n');
    const at = lines.findIndex((l) => l.startsWith('backend ')) + 1;
    lines.splice(at, 0, '    no-such-keyword on');
    writeFileSync(config, lines.join('\n'));
    const run = await runLbdrill(['run', '--profile', 'haproxy-role', '--target', `haproxy=${config}`, ...CONTAINER]);
    expect(run.code, run.stderr).toBe(2);
    expect(errorLines(run.stderr)).toHaveLength(1);
    expect(errorLines(run.stderr)[0]).toMatch(new RegExp(`haproxy rejected ${config}: .*${config}:${at + 1}.*unknown keyword 'no-such-keyword'`));
    expect(leftContainers()).toEqual([]);
  }, 120_000);

  it('--image without --runtime container', async () => {
    const run = await runLbdrill(['run', '--profile', 'haproxy-role', '--target', 'haproxy', '--image', 'haproxy=haproxy:2.8']);
    expect(run.code).toBe(2);
    expect(errorLines(run.stderr)).toEqual(['lbdrill: --image needs --runtime container']);
  }, 60_000);
});
