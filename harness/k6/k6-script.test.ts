import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../paths.ts';
import { loadProfile, profileNames } from '../profiles/profile.ts';
import { loadScenario } from '../scenarios/scenario.ts';
import { k6PlanFromProfile, k6PlanFromScenario } from './k6-plan.ts';
import { renderK6Script } from './render-k6-script.ts';

/** The exported scripts' compiler options (tsconfig.scripts.json), as tsc would read them. */
function scriptOptions(): ts.CompilerOptions {
  const file = join(import.meta.dirname, 'tsconfig.scripts.json');
  const { config } = ts.readConfigFile(file, ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, import.meta.dirname, undefined, file);
  expect(parsed.errors).toEqual([]);
  return parsed.options;
}

/**
 * tsc's diagnostics for scripts held in memory, as if they were files in the repository
 * (so `k6/http` resolves to node_modules/@types/k6): nothing is written to disk.
 */
function typecheck(scripts: Record<string, string>): string[] {
  const dir = join(REPO_ROOT, '.k6-typecheck');
  const files = new Map(Object.entries(scripts).map(([name, text]) => [join(dir, name), text]));
  const options = scriptOptions();
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
  host.readFile = (f) => files.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, onError) => (files.has(f) ? ts.createSourceFile(f, files.get(f)!, lang) : getSourceFile.call(host, f, lang, onError));
  const program = ts.createProgram([...files.keys()], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? `${d.file.fileName.replace(`${dir}/`, '')}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
}

const scenarioFiles = readdirSync(join(REPO_ROOT, 'scenarios')).filter((f) => f.endsWith('.yaml'));

describe('k6 scripts exported from profiles and scenarios', () => {
  it('type-check against @types/k6 for every bundled profile and scenario', async () => {
    const scripts: Record<string, string> = {};
    for (const name of profileNames()) scripts[`${name}.ts`] = renderK6Script(k6PlanFromProfile(loadProfile(name)));
    for (const f of scenarioFiles) {
      const scenario = await loadScenario(join(REPO_ROOT, 'scenarios', f));
      scripts[f.replace(/\.yaml$/, '.ts')] = renderK6Script(k6PlanFromScenario(scenario, loadProfile(scenario.profile)), { url: 'http://127.0.0.1:8080' });
    }
    expect(Object.keys(scripts).length).toBe(profileNames().length + scenarioFiles.length);
    expect(typecheck(scripts)).toEqual([]);
  }, 60_000);

  it('the type check catches a k6 API used wrongly', () => {
    const good = renderK6Script(k6PlanFromProfile(loadProfile('haproxy-role')));
    const wrongExecutor = good.replace("executor: 'constant-arrival-rate'", "executor: 'constant-rate'");
    const wrongCall = good.replace('failedRequests.add(1)', "failedRequests.add('one')");
    const wrongOption = good.replace("timeUnit: '1s'", 'timeUnit: 1');
    expect(wrongExecutor).not.toBe(good);
    expect(wrongCall).not.toBe(good);
    expect(wrongOption).not.toBe(good);
    const errors = typecheck({ 'executor.ts': wrongExecutor, 'call.ts': wrongCall, 'option.ts': wrongOption });
    for (const f of ['executor.ts', 'call.ts', 'option.ts']) expect(errors.some((e) => e.startsWith(`${f}:`)), `${f}: ${errors.join('\n')}`).toBe(true);
  }, 60_000);

  it('a scenario becomes its traffic and the thresholds k6 can judge', async () => {
    const scenario = await loadScenario(join(REPO_ROOT, 'scenarios', 'api-slow-then-unhealthy.yaml'));
    const plan = k6PlanFromScenario(scenario, loadProfile(scenario.profile));
    expect(plan).toMatchObject({ ratePerSec: 200, durationMs: 8000, maxInFlight: 64, timeoutMs: 5000, mix: [{ path: '/api/v1/ping', weight: 3 }, { path: '/api/v1/items', weight: 1 }] });
    // success_rate >= 0.99, p99 <= 500 ms, and fault 1: detect 2 s × 200 req/s + 0 errors after detection
    expect(plan.thresholds.map((t) => `${t.metric}: ${t.expression}`)).toEqual(['http_req_failed: rate<=0.01', 'http_req_duration: p(99)<=500', 'lbdrill_failed_requests: count<=400']);
    expect(plan.notExpressible.join('\n')).toMatch(/detect_ms\[1\][\s\S]*rejoin_ms\[1\]/);
    const script = renderK6Script(plan);
    expect(script).toContain("executor: 'constant-arrival-rate'");
    expect(script).toContain('rate: 200,');
    expect(script).toContain("duration: '8000ms'");
    expect(script).toContain("http_req_duration: [\"p(99)<=500\"]");
    expect(script).toContain("__ENV['LBDRILL_URL']");
  });

  it('a profile becomes its pools probe paths at its probe rate, the detect budget a bound on failed requests', () => {
    const plan = k6PlanFromProfile(loadProfile('haproxy-role'), { durationMs: 30_000 });
    expect(plan.mix.map((r) => r.path)).toEqual(['/api/v1/ping', '/stream/track-1']);
    expect(plan.thresholds).toEqual([expect.objectContaining({ metric: 'lbdrill_failed_requests', expression: 'count<=4000' })]);
    expect(plan.durationMs).toBe(30_000);
    const auth = k6PlanFromProfile(loadProfile('path-and-auth'));
    expect(auth.mix.find((r) => r.path === '/ping')?.basicAuth?.user).toBe('vip');
    expect(renderK6Script(auth)).toContain("import encoding from 'k6/encoding'");
  });
});
