import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { LbdrillError } from '../../errors.ts';
import { describeZodError } from '../../zod-message.ts';
import type { RunReport } from '../run-report.ts';

const STATUSES = ['pass', 'fail', 'unsupported', 'error', 'skipped'] as const;

/** The part of report.json a diff reads; the rest (mappings, bindings, deployment) passes through unread. */
const reportSchema = z
  .object({
    tool: z.literal('lbdrill'),
    profile: z.string(),
    mode: z.enum(['quick', 'thorough']),
    seed: z.number(),
    exitCode: z.number(),
    targets: z.array(z.object({ name: z.string(), status: z.enum(['ran', 'skipped', 'crashed']), config: z.string().nullable(), binary: z.string().nullable() }).passthrough()),
    results: z.array(
      z
        .object({
          check: z.string(),
          title: z.string(),
          target: z.string(),
          status: z.enum(STATUSES),
          severity: z.enum(['must', 'should']),
          expected: z.string(),
          observed: z.string(),
          evidence: z.record(z.unknown()),
        })
        .passthrough(),
    ),
  })
  .passthrough();

/** A report directory as read: where it is and its report.json. */
export interface LoadedReport {
  dir: string;
  report: RunReport;
}

/** Reads `<dir>/report.json`; a missing directory or file, bad JSON or a report of another shape is one line (exit 2). */
export async function loadReport(dir: string): Promise<LoadedReport> {
  const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!isDir) throw new LbdrillError('LBDRILL_ERR_USAGE', `${dir}: no such report directory`);
  const file = join(dir, 'report.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new LbdrillError('LBDRILL_ERR_USAGE', `${file}: missing (is ${dir} a report directory of lbdrill run?)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new LbdrillError('LBDRILL_ERR_USAGE', `${file}: not JSON (${(err as Error).message})`, { cause: err });
  }
  const parsed = reportSchema.safeParse(raw);
  if (!parsed.success) throw new LbdrillError('LBDRILL_ERR_USAGE', `${file}: not an lbdrill report: ${describeZodError(parsed.error)}`);
  return { dir, report: parsed.data as unknown as RunReport };
}
