import { Command, InvalidArgumentError } from 'commander';
import { formatMs, parseDurationMs } from '../../harness/duration.ts';
import { ATTEMPT_TIMEOUT_MS, MAX_ATTEMPTS } from './idempotent-client.ts';
import { mib, RSS_GROWTH_BOUND_BYTES, runSoak, SOAK_CONFIG } from './run-soak.ts';

/*
 * npm run soak [-- --duration 10m --seed 1]: the reference LB under faults and traffic for
 * a while (not part of npm test). Exit 0 when no idempotent request was lost, no body was
 * wrong and the LB's RSS stayed within RSS_GROWTH_BOUND_BYTES after warm-up; 1 otherwise;
 * 2 for a bad argument.
 */
const program = new Command('soak')
  .description('soak the reference LB: probe and blob traffic under seeded backend faults, lost requests and RSS growth reported')
  .option('--duration <duration>', 'how long to run (e.g. 10m, 90s)', (v) => {
    const ms = parseDurationMs(v);
    if (ms === undefined || ms < 10_000) throw new InvalidArgumentError('expected a duration of at least 10s, such as 10m or 90s');
    return ms;
  }, 600_000)
  .option('--seed <n>', 'seed of the fault schedule and payloads', (v) => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a non-negative integer');
    return Number(v);
  }, 1)
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
  .configureOutput({ writeErr: (s) => process.stderr.write(s.split('\n')[0] + '\n') });
program.parse();
const { duration, seed } = program.opts<{ duration: number; seed: number }>();

const controller = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort());
const log = (line: string): void => console.log(`soak: ${line}`);
log(`${SOAK_CONFIG}, ${formatMs(duration)}; lost = an idempotent request none of whose ${MAX_ATTEMPTS} attempts got a complete response within ${formatMs(ATTEMPT_TIMEOUT_MS)}`);
try {
  const r = await runSoak({ durationMs: duration, seed, signal: controller.signal, progress: log });
  const t = r.tally;
  log(`ran ${formatMs(r.durationMs)}, ${r.faults.length} faults`);
  log(`requests answered ${t.answered}, of which after a retry ${t.retriedToAnswer}; lost ${t.lost}; corrupt bodies ${t.corrupt}`);
  log(`statuses ${[...t.statuses].sort(([a], [b]) => a - b).map(([s, c]) => `${s}: ${c}`).join(', ')}`);
  log(`attempts without an answer ${[...t.unanswered].map(([c, n]) => `${c}: ${n}`).join(', ') || 'none'}`);
  log(`LB RSS after warm-up ${mib(r.baselineRssBytes)}, at the end ${mib(r.endRssBytes)}, growth ${mib(r.growthBytes)} (bound ${mib(RSS_GROWTH_BOUND_BYTES)}); max ${mib(Math.max(...r.rss.map(([, b]) => b)))} over ${r.rss.length} samples`);
  for (const f of r.failures) log(`FAIL ${f}`);
  log(r.failures.length === 0 ? 'PASS' : 'FAIL');
  process.exit(r.failures.length === 0 ? 0 : 1);
} catch (err) {
  console.error(`soak: ${(err as Error).message}`);
  process.exit(1);
}
