import { writeFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { parseDurationMs } from '../duration.ts';
import { LbdrillError } from '../errors.ts';
import { loadProfile, profileNames } from '../profiles/profile.ts';
import { loadScenario } from '../scenarios/scenario.ts';
import { k6PlanFromProfile, k6PlanFromScenario } from './k6-plan.ts';
import { K6_ENV, renderK6Script } from './render-k6-script.ts';

function parseDuration(value: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined || ms < 1000) throw new InvalidArgumentError(`expected a duration of at least 1s, like 30s or 10m, got "${value}"`);
  return ms;
}

function parseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`expected a URL like https://lb.example.com, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`expected an http:// or https:// URL, got "${value}"`);
  return value;
}

/** Adds `lbdrill k6 ...` to the CLI: k6 scripts from lbdrill's contracts, for load beyond what one machine sends. */
export function registerK6Command(program: Command): void {
  const k6 = program.command('k6').description("k6 load scripts from a profile's or a scenario's traffic and budgets (README: k6).");
  k6.command('export')
    .description('Write a k6 script (TypeScript, typed against @types/k6): the traffic mix and rate of a profile or scenario, its budgets and assertions as k6 thresholds.')
    .option('-p, --profile <name|file>', `a bundled profile (${profileNames().join(', ')}) or your own profile file: its pools' probe paths at its probe rate`)
    .option('-s, --scenario <file>', "a scenario file (scenarios/*.yaml): its traffic, duration and assertions")
    .option('--url <url>', `the load balancer's base URL written into the script (${K6_ENV.url} overrides it when k6 runs)`, parseUrl)
    .option('--duration <time>', 'how long a profile\'s traffic runs (a scenario states its own)', parseDuration)
    .option('-o, --out <file>', 'where the script goes (default: stdout)')
    .addHelpText(
      'after',
      `
Examples:
  lbdrill k6 export --profile haproxy-role --out haproxy-role.k6.ts
  LBDRILL_URL=https://lb.example.com k6 run --summary-export summary.json haproxy-role.k6.ts
  lbdrill k6 export --scenario scenarios/api-slow-then-unhealthy.yaml --url http://10.0.0.5:8080 --out slow.k6.ts
  kubectl create configmap lbdrill-k6 --from-file=slow.k6.ts     # then a k6-operator TestRun with parallelism: 4 (README: k6)

k6 v0.57+ runs the .ts file as it is. Exit codes: 0 written, 2 bad flag, profile or scenario.`,
    )
    .action(async (opts: { profile?: string; scenario?: string; url?: string; duration?: number; out?: string }) => {
      if (!opts.profile === !opts.scenario) throw new LbdrillError('LBDRILL_ERR_USAGE', 'give one of --profile NAME or --scenario FILE');
      if (opts.scenario && opts.duration !== undefined) throw new LbdrillError('LBDRILL_ERR_USAGE', `--duration is for a profile: ${opts.scenario} states its own duration`);
      const plan = opts.scenario
        ? await loadScenario(opts.scenario).then((s) => k6PlanFromScenario(s, loadProfile(s.profile)))
        : k6PlanFromProfile(loadProfile(opts.profile!), { ...(opts.duration !== undefined ? { durationMs: opts.duration } : {}) });
      const script = renderK6Script(plan, { ...(opts.url ? { url: opts.url } : {}) });
      if (!opts.out) {
        process.stdout.write(script);
        return;
      }
      try {
        await writeFile(opts.out, script);
      } catch (err) {
        throw new LbdrillError('LBDRILL_ERR_USAGE', `cannot write ${opts.out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
      }
      process.stderr.write(`k6 script for ${plan.source}: ${opts.out} (${plan.thresholds.length} threshold(s); run: ${K6_ENV.url}=<lb url> k6 run ${opts.out})\n`);
    });
}
