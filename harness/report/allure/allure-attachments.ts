import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { ContentType } from 'allure-js-commons';
import type { CheckResult } from '../../checks/check.ts';
import type { TargetReport } from '../run-report.ts';

/** A file of the report dir to attach to a test, under the name Allure shows. */
export interface AttachmentFile {
  name: string;
  path: string;
  type: ContentType;
}

const CONFIG_FILE = /\.(conf|cfg|ya?ml)$/;
const LOG_FILE = /\.log$/;

function contentType(file: string): ContentType {
  if (file.endsWith('.csv')) return ContentType.CSV;
  if (file.endsWith('.json')) return ContentType.JSON;
  return ContentType.TEXT;
}

function file(name: string, path: string): AttachmentFile {
  return { name, path, type: contentType(path) };
}

/** Where a config tree's included files are rendered, at their path in the tree (run/<target>/files/…). */
const TREE_DIR = 'files';

/**
 * What every test of a target carries: its rendered config (the file report.json names first, the
 * files rendered beside it such as nginx's and Apache's site.conf, and a config tree's included
 * files under files/) and the proxy's logs in run/<target>/.
 */
export function targetAttachments(reportDir: string, target: TargetReport): AttachmentFile[] {
  const dir = target.rendered ? join(reportDir, dirname(target.rendered)) : join(reportDir, 'run', target.name);
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
  const rendered = target.rendered ? basename(target.rendered) : undefined;
  const top = files.filter((f) => !f.includes('/'));
  const configs = [...top.filter((f) => CONFIG_FILE.test(f)), ...files.filter((f) => f.startsWith(`${TREE_DIR}/`))].sort((a, b) => Number(b === rendered) - Number(a === rendered));
  const logs = top.filter((f) => LOG_FILE.test(f));
  return [...configs.map((f) => file(`rendered config ${f}`, join(dir, f))), ...logs.map((f) => file(`log ${f}`, join(dir, f)))];
}

function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/**
 * The artifacts a check's evidence names (failover-timeline.csv/.json, a scenario's CSV), found in
 * run/<target>/ by file name: evidence holds absolute paths of the run, and the report dir may have
 * moved since.
 */
export function evidenceAttachments(reportDir: string, result: CheckResult): AttachmentFile[] {
  const dir = join(reportDir, 'run', result.target);
  const named = new Set(
    strings(result.evidence)
      .filter((s) => s.includes('/') && ['.csv', '.json'].includes(extname(s)))
      .map((s) => basename(s)),
  );
  return [...named]
    .sort()
    .filter((f) => existsSync(join(dir, f)))
    .map((f) => file(f, join(dir, f)));
}
