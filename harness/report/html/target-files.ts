import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TargetReport } from '../run-report.ts';

/** A target's files the report links to, relative to the report directory. */
export interface TargetFiles {
  configs: string[];
  logs: string[];
}

const CONFIG = /\.(conf|cfg|ya?ml|map|lst)$/;

/**
 * The rendered config (the main file first, then every other config file of the tree) and the
 * proxy's logs under run/<target>/; keys, certificates and sockets are not linked.
 */
export async function targetFiles(reportDir: string, target: TargetReport): Promise<TargetFiles> {
  const dir = `run/${target.name}`;
  let names: string[];
  try {
    names = (await readdir(join(reportDir, dir), { recursive: true })).map((n) => `${dir}/${n.split('\\').join('/')}`).sort();
  } catch {
    names = [];
  }
  const configs = names.filter((n) => CONFIG.test(n) && n !== target.rendered);
  return { configs: [...(target.rendered ? [target.rendered] : []), ...configs], logs: names.filter((n) => n.endsWith('.log')) };
}
