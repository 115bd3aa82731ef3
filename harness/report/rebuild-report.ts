import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { LbdrillError } from '../errors.ts';
import { describeZodError } from '../zod-message.ts';
import type { RunReport } from './run-report.ts';
import { writeReportFiles } from './write-report.ts';

/** The part of report.json the report files are rendered from (reports/README.md); anything else is kept as it is. */
const RunReportSchema = z
  .object({
    tool: z.literal('lbdrill'),
    version: z.string(),
    profile: z.string(),
    mode: z.enum(['quick', 'thorough']),
    seed: z.number(),
    startedAt: z.string(),
    durationMs: z.number(),
    exitCode: z.number(),
    targets: z.array(
      z.object({ name: z.string(), status: z.enum(['ran', 'skipped', 'crashed']), binary: z.string().nullable(), config: z.string().nullable(), bundled: z.boolean(), rendered: z.string().nullable(), mapped: z.array(z.object({ kind: z.string(), from: z.string(), to: z.string() }).passthrough()), bindings: z.array(z.object({ what: z.string(), value: z.string(), from: z.string() }).passthrough()) }).passthrough(),
    ),
    results: z.array(
      z.object({ check: z.string(), title: z.string(), target: z.string(), status: z.enum(['pass', 'fail', 'unsupported', 'error', 'skipped']), severity: z.enum(['must', 'should']), durationMs: z.number(), expected: z.string(), observed: z.string(), evidence: z.record(z.unknown()) }).passthrough(),
    ),
  })
  .passthrough();

/** Reads DIR/report.json; a missing directory or a file that is not a run's report is one line (exit 2). */
export async function readRunReport(dir: string): Promise<RunReport> {
  const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!isDir) throw new LbdrillError('LBDRILL_ERR_USAGE', `${dir} is not a directory: give the report directory a run wrote (it holds report.json)`);
  const file = join(dir, 'report.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new LbdrillError('LBDRILL_ERR_USAGE', `${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): is ${dir} a report directory?`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new LbdrillError('LBDRILL_ERR_USAGE', `${file} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = RunReportSchema.safeParse(json);
  if (!parsed.success) throw new LbdrillError('LBDRILL_ERR_USAGE', `${file} is not an lbdrill report: ${describeZodError(parsed.error)}`);
  // the file as written, not the schema's copy: fields this version does not know stay in it
  return json as RunReport;
}

/** `lbdrill report DIR`: report.html, summary.md and junit.xml written again from DIR/report.json. */
export async function rebuildReport(dir: string): Promise<RunReport> {
  const report = await readRunReport(dir);
  await writeReportFiles(dir, report);
  return report;
}
