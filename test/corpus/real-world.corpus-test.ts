import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { ROOT, runLbdrill } from '../run-lbdrill.ts';

/**
 * fixtures/real-world: configs written by other people, each with the verdict of every check written
 * before it was first run (expected.yaml). The published bytes are third-party content and are not
 * committed: they are read from fixtures/real-world/<entry>/published or ../shared/real-configs/<entry>/published
 * (SOURCE.md says where they come from, with sha256s). A missing file fails its entry, naming it.
 * `npm run corpus` runs this; it is not part of `npm test` because a clean clone does not have the files.
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
  notes: z.array(z.string()).optional(),
  checks: z.record(z.object({ verdict: z.enum(['pass', 'fail', 'unsupported', 'not-run']), reason: z.string() })),
});

function publishedRoot(entry: string): string | undefined {
  return [join(DIR, entry), join(ROOT, '..', 'shared', 'real-configs', entry)].find((d) => existsSync(join(d, 'published')));
}

const entries = readdirSync(DIR, { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(DIR, d.name, 'expected.yaml')));

describe('configs from the wild: every verdict as written before the first run', () => {
  for (const { name } of entries) {
    const want = expectation.parse(parseYaml(readFileSync(join(DIR, name, 'expected.yaml'), 'utf8')));
    it(`${name}: ${want.target} against ${want.profile}`, async () => {
      const root = publishedRoot(name);
      expect(root, `${name}: the published files are not on disk (see ${name}/SOURCE.md)`).toBeDefined();
      const args = ['run', '--profile', want.profile, '--target', `${want.target}=${join(root!, want.config)}`];
      for (const [role, pool] of Object.entries(want.pools ?? {})) args.push('--pool', `${role}=${pool}`);
      if (want.time_scale !== undefined) args.push('--time-scale', String(want.time_scale));
      const run = await runLbdrill(args);
      expect(run.code, run.stderr.split('\n').slice(-3).join(' ')).toBe(want.exit_code);
      if (want.exit_code === 2) return;
      const got = Object.fromEntries(run.report!.results.map((r) => [r.check, `${r.status}: ${r.observed}`]));
      for (const [check, { verdict, reason }] of Object.entries(want.checks)) {
        expect(`${check} ${got[check]?.split(':')[0]}`, `expected because ${reason}; lbdrill said ${got[check]}`).toBe(`${check} ${verdict}`);
      }
    }, 600_000);
  }
});
