import { rmSync } from 'node:fs';
import { ipJson, runCommand } from './system-command.ts';
import { removeClaimRoute, removeLink, removeNamespace } from './net-objects.ts';
import { DEFAULT_STATE_DIR, RunJournal } from './run-journal.ts';
import { NAME_PREFIX, isProcessAlive, linkNamespace, namespaceOwner } from './run-names.ts';

/** What a stale sweep removed and what it could not. */
export interface StaleCleanupReport {
  removed: string[];
  leftovers: string[];
}

/**
 * Removes test-host leftovers of lbdrill runs whose process is gone: first everything the
 * runs' journals list (the only record of their routes), then namespaces and veths found by
 * name. Objects of a live process, this one included, are never touched, nor is anything
 * without lbdrill's prefix. `runPrefix` narrows the sweep ("lbd-4242-" for one process).
 */
export async function cleanupStale(
  runPrefix: string = NAME_PREFIX,
  options: { stateDir?: string } = {},
): Promise<StaleCleanupReport> {
  if (!/^lbd-[A-Za-z0-9-]*$/.test(runPrefix)) throw new Error(`runPrefix: must start with "${NAME_PREFIX}", got "${runPrefix}"`);
  const stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
  const report: StaleCleanupReport = { removed: [], leftovers: [] };
  const note = (what: string, error: string | undefined): void => void (error ? report.leftovers.push(error) : report.removed.push(what));

  const journals = RunJournal.readAll(stateDir, NAME_PREFIX);
  // A block whose route a live run claims must keep it, even if a dead run's journal names the same block.
  const liveRoutes = new Set(journals.filter((j) => isProcessAlive(j.record.pid)).map((j) => j.record.route));
  for (const { file, record } of journals) {
    if (!record.runKey.startsWith(runPrefix) || isProcessAlive(record.pid)) continue;
    const before = report.leftovers.length;
    // Links are not removed by journal name: another process may hold that name by now. Deleting the
    // namespace deletes the pair; a root end that outlives it is found below by its alias.
    for (const namespace of record.namespaces) note(`namespace ${namespace}`, await removeNamespace(namespace));
    if (record.route !== null && !liveRoutes.has(record.route)) {
      note(`route unreachable ${record.route}`, await removeClaimRoute(record.route));
    }
    if (report.leftovers.length === before) rmSync(file, { force: true });
    else report.leftovers.push(`journal ${file} kept`);
  }

  const isStale = (name: string): boolean => {
    const owner = namespaceOwner(name);
    return name.startsWith(runPrefix) && owner !== undefined && !isProcessAlive(owner);
  };
  const namespaces = (await runCommand('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(isStale);
  for (const namespace of namespaces) note(`namespace ${namespace}`, await removeNamespace(namespace));

  const links = await ipJson<{ ifname: string; ifalias?: string }>(['link', 'show']);
  for (const { ifname, ifalias } of links) {
    const namespace = linkNamespace(ifname, ifalias);
    if (namespace !== undefined && isStale(namespace)) note(`link ${ifname}`, await removeLink(ifname, ifalias));
  }
  return report;
}
