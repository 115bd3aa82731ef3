import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { LbdrillError } from '../errors.ts';
import { describeZodError } from '../zod-message.ts';

/**
 * k6's `--summary-export` file (k6 docs, "End-of-test summary" → "Summary export"): one
 * object per metric with its aggregates flat beside `thresholds`, where a threshold's value
 * is true when it was crossed (the "bad" value, as those docs warn). Counter: count, rate;
 * rate: value, passes, fails; trend: the summaryTrendStats (avg, med, p(95)...); gauge:
 * value, min, max. Only what lbdrill reads is required; k6 adds more.
 */
const metricSchema = z.object({ thresholds: z.record(z.boolean()).optional() }).catchall(z.unknown());
const counterSchema = metricSchema.extend({ count: z.number(), rate: z.number() });
const rateSchema = metricSchema.extend({ value: z.number(), passes: z.number(), fails: z.number() });
const trendSchema = metricSchema.catchall(z.number());

const summaryExportSchema = z.object({
  metrics: z
    .object({
      http_reqs: counterSchema,
      http_req_failed: rateSchema.optional(),
      http_req_duration: trendSchema,
      dropped_iterations: counterSchema.optional(),
      lbdrill_failed_requests: counterSchema.optional(),
    })
    .catchall(metricSchema),
});

/** A k6 threshold as the summary reports it. */
export interface K6ThresholdResult {
  metric: string;
  expression: string;
  crossed: boolean;
}

/** What lbdrill keeps of a k6 run (report.json: results[].evidence.k6, see reports/README.md). */
export interface K6LoadSummary {
  requests: number;
  reqPerSec: number;
  /** requests k6 counts as failed (error or status >= 400): its http_req_failed rate's `passes`. */
  failedRequests: number | null;
  failedRate: number | null;
  /** answers other than 2xx, as lbdrill counts errors (the exported script's own counter). */
  non2xx: number | null;
  /** arrivals k6 could not send because every VU was busy: the rate was not reached. */
  droppedIterations: number;
  /** http_req_duration statistics k6 exported (avg, med, p(90), p(95), p(99), max...), ms. */
  latencyMs: Record<string, number>;
  thresholds: K6ThresholdResult[];
}

/** Reads the summary k6 wrote with --summary-export; a file not in that format is one line naming the field. */
export function parseK6Summary(raw: unknown, file: string): K6LoadSummary {
  const parsed = summaryExportSchema.safeParse(raw);
  if (!parsed.success) throw new LbdrillError('LBDRILL_ERR_BACKEND', `k6 summary ${file}: ${describeZodError(parsed.error)}`);
  const m = parsed.data.metrics;
  const latency = Object.fromEntries(Object.entries(m.http_req_duration).filter((e): e is [string, number] => typeof e[1] === 'number'));
  // by metric name: k6 writes its metrics in no stated order
  const thresholds = Object.entries(m)
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([metric, value]) => Object.entries((value as z.infer<typeof metricSchema>).thresholds ?? {}).map(([expression, crossed]) => ({ metric, expression, crossed })));
  return {
    requests: m.http_reqs.count,
    reqPerSec: m.http_reqs.rate,
    failedRequests: m.http_req_failed?.passes ?? null,
    failedRate: m.http_req_failed?.value ?? null,
    non2xx: m.lbdrill_failed_requests?.count ?? null,
    droppedIterations: m.dropped_iterations?.count ?? 0,
    latencyMs: latency,
    thresholds,
  };
}

/** parseK6Summary of a file. */
export async function readK6Summary(file: string): Promise<K6LoadSummary> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new LbdrillError('LBDRILL_ERR_BACKEND', `k6 summary ${file}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  return parseK6Summary(raw, file);
}
