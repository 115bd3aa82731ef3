import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { extname, join } from 'node:path';
import { ContentType, type Attachment } from 'allure-js-commons';
import { FileSystemWriter, ReporterRuntime } from 'allure-js-commons/sdk/reporter';
import type { RunReport } from '../run-report.ts';
import { evidenceAttachments, targetAttachments, type AttachmentFile } from './allure-attachments.ts';
import { ALLURE_CATEGORIES, allureEnvironment } from './allure-environment.ts';
import { allureTestResult } from './allure-test-result.ts';
import { checkTimings } from './check-timing.ts';

/** The directory inside a report dir that `allure generate` reads. */
export const ALLURE_RESULTS_DIR = 'allure-results';

/**
 * Allure's results for a finished run, in <reportDir>/allure-results: one test per check × target
 * with its evidence, timeline, logs and rendered config attached, plus environment.properties and
 * categories.json. Written afresh each time, so a reused report dir holds only this run.
 */
export function writeAllureResults(reportDir: string, report: RunReport): void {
  const resultsDir = join(reportDir, ALLURE_RESULTS_DIR);
  rmSync(resultsDir, { recursive: true, force: true });
  const writer = new FileSystemWriter({ resultsDir });
  const runtime = new ReporterRuntime({ writer, environmentInfo: allureEnvironment(report), categories: [...ALLURE_CATEGORIES] });

  // A target's logs and timelines are shared by all its tests: each file is copied once and referenced by all.
  const sources = new Map<string, string>();
  const attach = (file: AttachmentFile): Attachment => {
    let source = sources.get(file.path);
    if (source === undefined) {
      source = `${randomUUID()}-attachment${extname(file.path) || '.txt'}`;
      writer.writeAttachmentFromPath(source, file.path);
      sources.set(file.path, source);
    }
    return { name: file.name, source, type: file.type };
  };

  const perTarget = new Map(report.targets.map((t) => [t.name, targetAttachments(reportDir, t)]));
  const timings = checkTimings(report);
  for (const result of report.results) {
    const timing = timings.get(result)!;
    const evidence = `${randomUUID()}-attachment.json`;
    writer.writeAttachment(evidence, Buffer.from(JSON.stringify(result.evidence, null, 2) + '\n'));
    const attachments = [
      { name: 'evidence', source: evidence, type: ContentType.JSON },
      ...evidenceAttachments(reportDir, result).map(attach),
      ...(perTarget.get(result.target) ?? []).map(attach),
    ];
    const uuid = runtime.startTest({ ...allureTestResult(report, result, timing), attachments });
    runtime.stopTest(uuid, { stop: timing.stop });
    runtime.writeTest(uuid);
  }
  runtime.writeEnvironmentInfo();
  runtime.writeCategoriesDefinitions();
}
