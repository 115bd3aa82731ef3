import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLbdrillError } from '../errors.ts';
import { REPO_ROOT } from '../paths.ts';
import { parseK6Summary, readK6Summary } from './k6-summary.ts';
import { renderK6Markdown } from './k6-markdown.ts';
import type { RunReport } from '../report/run-report.ts';

/**
 * fixtures/k6/summary-export.json is a `k6 run --summary-export` file in the format k6 documents
 * (k6.io/docs/results-visualization/end-of-test-summary, "Summary export to a JSON file": one
 * object per metric, aggregates flat, a threshold `true` when crossed), with the shape of the
 * expected export in k6's own js/summary_test.go. The numbers (and the check's id) are written
 * by hand to look like a 200 req/s, 8 s run of the api-slow-then-unhealthy scenario's script,
 * not recorded from one: k6 cannot be installed here.
 */
const FIXTURE = join(REPO_ROOT, 'fixtures', 'k6', 'summary-export.json');

describe("k6's summary export", () => {
  it('is read into requests, rate, failures, latency and thresholds', async () => {
    const summary = await readK6Summary(FIXTURE);
    expect(summary).toMatchObject({ requests: 1600, reqPerSec: 199.3214, failedRequests: 13, failedRate: 0.008125, non2xx: 13, droppedIterations: 4 });
    expect(summary.latencyMs).toMatchObject({ med: 1.9012, 'p(95)': 61.0441, 'p(99)': 612.3318, max: 5002.1177, count: 1600 });
    expect(summary.thresholds).toEqual([
      { metric: 'http_req_duration', expression: 'p(99)<=500', crossed: true },
      { metric: 'http_req_failed', expression: 'rate<=0.01', crossed: false },
      { metric: 'lbdrill_failed_requests', expression: 'count<=400', crossed: false },
    ]);
  });

  it('a file without the metrics lbdrill reads is one line naming the field', () => {
    const raw = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { metrics: Record<string, unknown> };
    delete raw.metrics['http_reqs'];
    expect(() => parseK6Summary(raw, 'x.json')).toThrow(/^k6 summary x\.json: metrics\.http_reqs: Required$/);
    // handleSummary()'s format (values nested) is not --summary-export's
    expect(() => parseK6Summary({ metrics: { http_reqs: { values: { count: 1, rate: 1 } } } }, 'y.json')).toThrow(/metrics\.http_reqs\.count/);
  });

  it('a file that is not JSON is an lbdrill error naming it', async () => {
    const err = await readK6Summary(join(import.meta.dirname, 'k6-summary.ts')).catch((e: unknown) => e);
    expect(isLbdrillError(err, 'LBDRILL_ERR_BACKEND')).toBe(true);
    expect((err as Error).message).toMatch(/^k6 summary .*k6-summary\.ts: /);
  });

  it("lands in summary.md as one row per scenario and target, crossed thresholds marked", async () => {
    const k6 = { ...(await readK6Summary(FIXTURE)), exitCode: 99, script: 's.ts', summaryFile: 's.json', log: 's.log' };
    const report = { results: [{ check: 'scenario.api-slow-then-unhealthy', target: 'haproxy', evidence: { k6 } }, { check: 'prefix.strip', target: 'haproxy', evidence: {} }] } as unknown as RunReport;
    const md = renderK6Markdown(report);
    expect(md).toContain('## Load through k6');
    expect(md).toContain('| scenario.api-slow-then-unhealthy | haproxy | 1600 | 199.3 | 13 (0.81%) | 4 | 61.0 ms | 612.3 ms | ✗ `http_req_duration p(99)<=500`<br>✓ `http_req_failed rate<=0.01`');
    expect(renderK6Markdown({ results: [] } as unknown as RunReport)).toBe('');
  });
});
