import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CHECKS } from '../checks/registry.ts';
import { LbdrillError } from '../errors.ts';
import { describeZodError } from '../zod-message.ts';
import { REPO_ROOT } from '../paths.ts';

const PROFILE_DIR = join(REPO_ROOT, 'scenarios', 'profiles');

const profileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/),
    title: z.string(),
    source: z.string().optional(),
    configs: z.string(),
    checks: z
      .array(
        z
          .object({
            id: z.string().refine((id) => CHECKS.has(id), (id) => ({ message: `unknown check "${id}"` })),
            severity: z.enum(['must', 'should']),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

/** A profile: a contract as a list of checks with severities, and bundled configs per target. */
export type Profile = z.infer<typeof profileSchema> & { file: string; configDir: string };

export function profileNames(): string[] {
  return readdirSync(PROFILE_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();
}

export function loadProfile(name: string): Profile {
  const names = profileNames();
  if (!names.includes(name)) {
    throw new LbdrillError('LBDRILL_ERR_USAGE', `unknown profile "${name}" (known: ${names.join(', ')})`);
  }
  const file = join(PROFILE_DIR, `${name}.yaml`);
  const parsed = profileSchema.safeParse(parseYaml(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${file}: ${describeZodError(parsed.error)}`);
  return { ...parsed.data, file, configDir: resolve(REPO_ROOT, parsed.data.configs) };
}
