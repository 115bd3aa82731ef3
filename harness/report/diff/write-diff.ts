import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderDiffHtml } from './diff-html.ts';
import { renderDiffMarkdown } from './diff-markdown.ts';
import type { ReportDiff } from './diff-reports.ts';

/** The diff's files in `dir`: diff.md (the PR comment), diff.json (everything compared), diff.html (self-contained page). */
export async function writeDiffFiles(dir: string, diff: ReportDiff): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'diff.md'), renderDiffMarkdown(diff));
  await writeFile(join(dir, 'diff.json'), JSON.stringify(diff, null, 2) + '\n');
  await writeFile(join(dir, 'diff.html'), renderDiffHtml(diff));
}
