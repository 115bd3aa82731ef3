import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { ROOT, runLbdrill } from './run-lbdrill.ts';

/**
 * fixtures/real-world: configs written by other people, committed byte for byte under their own
 * licences, each with the verdict of every check written before it was first run (expected.yaml).
 * Every row is run as its expected.yaml says and every verdict and the exit code asserted; a row's
 * failure lists all its disagreements, each with the reason the verdict was expected.
 */
const DIR = join(ROOT, 'fixtures', 'real-world');

const expectation = z.object({
  profile: z.string(),
  target: z.enum(['nginx', 'haproxy', 'apache', 'reference']),
  config: z.string(),
  pools: z.record(z.string()).optional(),
  time_scale: z.number().optional(),
  exit_code: z.number().int(),
  exit_reason: z.string().optional(),
  /** the proxy's own words in lbdrill's one-line refusal, for rows the proxy rejects (exit 2). */
  proxy_says: z.string().optional(),
  notes: z.array(z.string()).optional(),
  checks: z.record(z.object({ verdict: z.enum(['pass', 'fail', 'unsupported', 'not-run']), reason: z.string() })),
});

const entries = readdirSync(DIR, { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(DIR, d.name, 'expected.yaml')));

describe('configs from the wild: every verdict as written before the first run', () => {
  for (const { name } of entries) {
    const want = expectation.parse(parseYaml(readFileSync(join(DIR, name, 'expected.yaml'), 'utf8')));
    it(`${name}: ${want.target} against ${want.profile}`, async () => {
      const args = ['run', '--profile', want.profile, '--target', `${want.target}=${join(DIR, name, want.config)}`];
      for (const [role, pool] of Object.entries(want.pools ?? {})) args.push('--pool', `${role}=${pool}`);
      if (want.time_scale !== undefined) args.push('--time-scale', String(want.time_scale));
      const run = await runLbdrill(args);
      expect(run.code, run.stderr.split('\n').slice(-3).join(' ')).toBe(want.exit_code);
      if (want.exit_code === 2) {
        expect(run.stderr.trim().split('\n').at(-1)).toContain(want.proxy_says);
        return;
      }
      const got = new Map(run.report!.results.map((r) => [r.check, r]));
      const disagreements = Object.entries(want.checks).flatMap(([check, { verdict, reason }]) => {
        const r = got.get(check);
        return r?.status === verdict ? [] : [`${check}: expected ${verdict} because ${reason}; lbdrill said ${r ? `${r.status}: ${r.observed}` : 'nothing'}`];
      });
      expect(disagreements).toEqual([]);
    }, 600_000);
  }
});
