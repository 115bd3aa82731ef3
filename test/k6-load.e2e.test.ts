import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runLbdrill } from './run-lbdrill.ts';

/**
 * `lbdrill run SCENARIO --load k6`. k6 cannot be installed on this machine (no registry but
 * npm and apt; npm's `k6` is a placeholder), so K6_BIN points at a stand-in that records how
 * lbdrill called it and writes k6's documented --summary-export file
 * (fixtures/k6/summary-export.json, see harness/k6/k6-summary.test.ts), exiting 99 as
 * k6 does when a threshold was crossed. What is tested: lbdrill finds the binary, hands it the
 * exported script, the LB's URL, name and CA, and ingests the summary into the report.
 */
const SCENARIO = join(ROOT, 'scenarios', 'api-slow-then-unhealthy.yaml');
const dir = mkdtempSync(join(tmpdir(), 'lbdrill-fake-k6-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function withEnv<T>(env: Record<string, string | undefined>, run: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(env);
  return run().finally(() => set(saved));
}

describe('--load k6', () => {
  it('without a k6 binary: one line naming K6_BIN, exit 2, nothing started', async () => {
    const run = await withEnv({ K6_BIN: undefined, PATH: '/usr/bin:/bin' }, () => runLbdrill(['run', SCENARIO, '--target', 'reference', '--load', 'k6']));
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toMatch(/^lbdrill: k6 not found on PATH; set K6_BIN to the k6 binary/);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(run.reportDir, 'run'))).toBe(false);
  });

  it("a profile listing no scenario: --load k6 has no traffic to send, exit 2", async () => {
    const fake = join(dir, 'k6-unused');
    writeFileSync(fake, '#!/bin/sh\nexit 1\n');
    chmodSync(fake, 0o755);
    const run = await withEnv({ K6_BIN: fake }, () => runLbdrill(['run', '--profile', 'shakenfist-api', '--target', 'reference', '--load', 'k6']));
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe("lbdrill: --load k6 sends a scenario's traffic: give a scenario file (profile shakenfist-api lists none)");
  });

  it("runs the scenario's script on K6_BIN against the LB and puts k6's summary in report.json and summary.md", async () => {
    const calls = join(dir, 'calls.json');
    const fake = join(dir, 'k6');
    writeFileSync(
      fake,
      `#!/usr/bin/env node
const { copyFileSync, writeFileSync, readFileSync } = require('node:fs');
const args = process.argv.slice(2);
const script = args[args.length - 1];
writeFileSync(${JSON.stringify(calls)}, JSON.stringify({ args, url: process.env.LBDRILL_URL, resolve: process.env.LBDRILL_RESOLVE, ca: readFileSync(process.env.SSL_CERT_FILE, 'utf8'), script: readFileSync(script, 'utf8') }));
copyFileSync(${JSON.stringify(join(ROOT, 'fixtures', 'k6', 'summary-export.json'))}, args[args.indexOf('--summary-export') + 1]);
process.exit(99);
`,
    );
    chmodSync(fake, 0o755);
    const run = await withEnv({ K6_BIN: fake }, () => runLbdrill(['run', SCENARIO, '--target', 'reference', '--load', 'k6']));
    expect(run.stderr).not.toMatch(/internal error/);
    const result = run.report!.results.find((r) => r.check === 'scenario.api-slow-then-unhealthy')!;
    // the fixture's p(99) threshold was crossed: the scenario fails on it, and says so
    expect(result.status).toBe('fail');
    expect(result.observed).toMatch(/^k6 threshold\(s\) crossed: http_req_duration p\(99\)<=500; /);
    expect(run.code).toBe(1);
    expect(result.evidence['k6']).toMatchObject({ requests: 1600, failedRequests: 13, exitCode: 99, thresholds: expect.arrayContaining([{ metric: 'http_req_duration', expression: 'p(99)<=500', crossed: true }]) });

    const call = JSON.parse(readFileSync(calls, 'utf8')) as { args: string[]; url: string; resolve: string; ca: string; script: string };
    expect(call.args.slice(0, 2)).toEqual(['run', '--quiet']);
    expect(call.args).toContain('--summary-export');
    const listeners = run.report!.targets[0]!.listeners;
    expect(listeners.map((l) => `${l.tls ? 'https' : 'http'}://${l.serverName}:${l.port}`)).toContain(call.url);
    expect(call.resolve).toMatch(new RegExp(`^${new URL(call.url).hostname}=127\\.`));
    expect(call.ca).toBe(readFileSync(join(run.reportDir, 'ca.pem'), 'utf8'));
    expect(call.script).toContain("executor: 'constant-arrival-rate'");
    expect(call.script).toContain('rate: 200,');
    expect(existsSync(join(run.reportDir, 'run', 'reference', 'k6-api-slow-then-unhealthy.ts'))).toBe(true);

    const md = readFileSync(join(run.reportDir, 'summary.md'), 'utf8');
    expect(md).toContain('## Load through k6');
    expect(md).toMatch(/\| scenario\.api-slow-then-unhealthy \| reference \| 1600 \|/);
  });
});
