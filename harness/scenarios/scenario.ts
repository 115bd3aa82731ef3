import { readFileSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDurationMs } from '../duration.ts';
import { LbdrillError } from '../errors.ts';
import { REPO_ROOT } from '../paths.ts';
import { validateFault } from '../faults/fault-controller.ts';
import { FAULT_TYPES } from '../faults/fault.ts';
import { TARGET_NAMES } from '../targets/target-kind.ts';
import { describeZodError } from '../zod-message.ts';

const duration = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const ms = typeof v === 'number' ? v : parseDurationMs(v);
    if (ms === undefined || ms < 0) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a duration like 500ms, 5s or 2m, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return ms;
  });

/** Metrics a scenario can assert on; computed from the probe stream and the fault timeline. */
export const METRICS = ['errors', 'success_rate', 'p50_latency_ms', 'p95_latency_ms', 'p99_latency_ms', 'detect_ms', 'rejoin_ms', 'errors_after_detect'] as const;
export type Metric = (typeof METRICS)[number];
/** Metrics measured per fault (the one named by `fault:`, by index in the timeline). */
export const PER_FAULT_METRICS: ReadonlySet<Metric> = new Set(['detect_ms', 'rejoin_ms', 'errors_after_detect']);

const stepSchema = z
  .object({
    at: duration,
    fault: z.enum(FAULT_TYPES, { errorMap: () => ({ message: `unknown fault (known: ${FAULT_TYPES.join(', ')})` }) }),
    /** backend name in the topology ("backend-api-1"): a server name of the config, or <pool>-<n>. */
    backend: z.string().min(1),
    /** undo at this time; default: the end of the run. */
    until: duration.optional(),
    stream: z.enum(['upstream', 'downstream']).optional(),
    toxicity: z.number().min(0).max(1).optional(),
    attributes: z.record(z.unknown()).optional(),
  })
  .strict();

const assertionSchema = z
  .object({
    metric: z.enum(METRICS, { errorMap: () => ({ message: `unknown metric (known: ${METRICS.join(', ')})` }) }),
    /** index into `timeline` for per-fault metrics. */
    fault: z.number().int().min(0).optional(),
    max: z.union([z.number(), z.string()]).optional(),
    min: z.union([z.number(), z.string()]).optional(),
  })
  .strict();

const scenarioSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/, 'expected lowercase letters, digits and dashes'),
    title: z.string().min(1),
    /** the profile whose pools, bundled configs and budgets the scenario uses. */
    profile: z.string().min(1),
    /** default targets; --target on the command line overrides. */
    targets: z.array(z.enum(TARGET_NAMES)).min(1).optional(),
    time_scale: z.number().positive().max(10).optional(),
    duration: duration,
    traffic: z
      .object({
        rate: z.number().int().min(1).max(2000).default(200),
        /** requests in flight at most; a send slot that finds the cap reached is skipped and counted. */
        concurrency: z.number().int().min(1).max(4096).default(256),
        /** per-request timeout. */
        timeout: duration.default(5000),
        /** weighted paths; default: the first pool's probe path. */
        mix: z.array(z.object({ path: z.string().startsWith('/'), weight: z.number().positive().default(1) }).strict()).min(1).optional(),
      })
      .strict()
      .default({}),
    /** steady state first: this many consecutive successes before the clock starts. */
    steady: z.number().int().min(0).max(10_000).default(50),
    timeline: z.array(stepSchema).default([]),
    assert: z.array(assertionSchema).min(1, 'a scenario needs at least one assertion (a run with no verdict proves nothing)'),
  })
  .strict();

/** A declarative drill: topology (a profile), traffic, a fault timeline, assertions with budgets. */
export type Scenario = z.infer<typeof scenarioSchema> & { file: string };
export type ScenarioStep = Scenario['timeline'][number];
export type ScenarioAssertion = Omit<z.infer<typeof assertionSchema>, 'max' | 'min'> & { max?: number; min?: number };

function bound(value: number | string | undefined, where: string): number | undefined {
  if (value === undefined || typeof value === 'number') return value;
  const ms = parseDurationMs(value);
  if (ms === undefined) throw new Error(`${where}: expected a number or a duration, got "${value}"`);
  return ms;
}

/** Validates a scenario object; every error is one line naming the field, prefixed with the file. */
export function parseScenario(raw: unknown, file: string): Scenario & { assertions: ScenarioAssertion[] } {
  const fail = (message: string): never => {
    throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${file}: ${message}`);
  };
  const parsed = scenarioSchema.safeParse(raw);
  if (!parsed.success) fail(describeZodError(parsed.error));
  const s = parsed.data!;
  s.timeline.forEach((step, i) => {
    const where = `timeline[${i}]`;
    try {
      validateFault({ type: step.fault, ...(step.attributes ? { attributes: step.attributes } : {}), ...(step.stream ? { stream: step.stream } : {}), ...(step.toxicity !== undefined ? { toxicity: step.toxicity } : {}) }, where);
    } catch (err) {
      fail((err as Error).message);
    }
    if (step.at >= s.duration) fail(`${where}.at: ${step.at} ms is not before the end of the run (duration ${s.duration} ms)`);
    if (step.until !== undefined && step.until > s.duration) fail(`${where}.until: ${step.until} ms is past the end of the run (duration ${s.duration} ms)`);
    if (step.until !== undefined && step.until <= step.at) fail(`${where}.until: must be after at (${step.at} ms)`);
  });
  const assertions = s.assert.map((a, i) => {
    const where = `assert[${i}]`;
    if (a.max === undefined && a.min === undefined) fail(`${where}: give max or min`);
    if (PER_FAULT_METRICS.has(a.metric)) {
      if (a.fault === undefined) fail(`${where}.fault: ${a.metric} is measured per fault: name the timeline index`);
      if (a.fault! >= s.timeline.length) fail(`${where}.fault: no timeline[${a.fault}] (the timeline has ${s.timeline.length} steps)`);
    }
    try {
      return { metric: a.metric, ...(a.fault !== undefined ? { fault: a.fault } : {}), ...(a.max !== undefined ? { max: bound(a.max, `${where}.max`)! } : {}), ...(a.min !== undefined ? { min: bound(a.min, `${where}.min`)! } : {}) };
    } catch (err) {
      return fail((err as Error).message);
    }
  });
  return { ...s, file, assertions };
}

/** The scenario files a profile lists (`scenarios:`, paths from the repository root), loaded: they run after its checks. */
export function loadProfileScenarios(profile: { scenarios: readonly string[] }): Promise<Array<Scenario & { assertions: ScenarioAssertion[] }>> {
  return Promise.all(profile.scenarios.map((f) => loadScenario(resolve(REPO_ROOT, f))));
}

/** Loads a scenario from YAML, or from a TypeScript/JavaScript module exporting it as default. */
export async function loadScenario(path: string): Promise<Scenario & { assertions: ScenarioAssertion[] }> {
  const file = resolve(path);
  let raw: unknown;
  try {
    if (['.ts', '.mts', '.js', '.mjs'].includes(extname(file))) {
      raw = ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
      if (raw === undefined) throw new Error('the module has no default export');
    } else {
      raw = parseYaml(readFileSync(file, 'utf8'));
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'ERR_MODULE_NOT_FOUND') throw new LbdrillError('LBDRILL_ERR_CONFIG_READ', `cannot read scenario ${path}: no such file`, { cause: err });
    throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${basename(file)}: ${e.message.split('\n')[0]}`, { cause: err });
  }
  return parseScenario(raw, path);
}
