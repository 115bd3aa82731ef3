import { runCommand, runCommandSync, type CommandResult } from './system-command.ts';

/*
 * Removal of the kernel objects a test-host run creates, each tolerant of the object being
 * gone already: the answer is "is it gone now?", checked by looking, not by parsing the
 * wording of iproute2's complaint.
 */

/** Routing protocol number that marks lbdrill's unreachable routes (iproute2 `proto`; unassigned by IANA/iproute2). */
export const ROUTE_PROTO = '251';

/** Arguments selecting exactly one of our claim routes: type, table, protocol and prefix. */
export function claimRouteArgs(block: string): string[] {
  return ['unreachable', block, 'table', 'main', 'proto', ROUTE_PROTO];
}

/** Removes one object; resolves with an error line when it is still there afterwards. */
type Remover = (name: string) => Promise<string | undefined>;

/** Deletes a root-side veth (and with it the far end); a link carrying another alias is someone else's and stays. */
export async function removeLink(name: string, expectedAlias?: string): Promise<string | undefined> {
  if (expectedAlias !== undefined) {
    const shown = await runCommand('ip', ['-j', 'link', 'show', 'dev', name]);
    if (shown.code !== 0) return undefined;
    const [link] = JSON.parse(shown.stdout) as Array<{ ifalias?: string }>;
    if (link?.ifalias !== undefined && link.ifalias !== expectedAlias) return undefined;
  }
  const result = await runCommand('ip', ['link', 'del', 'dev', name]);
  if (result.code === 0 || !(await linkExists(name))) return undefined;
  return `link ${name}: ${firstLine(result)}`;
}

export const removeNamespace: Remover = async (name) => {
  await killProcessesIn(name);
  const result = await runCommand('ip', ['netns', 'del', name]);
  if (result.code === 0 || !(await namespaceExists(name))) return undefined;
  return `namespace ${name}: ${firstLine(result)}`;
};

export const removeClaimRoute: Remover = async (block) => {
  const result = await runCommand('ip', ['route', 'del', ...claimRouteArgs(block)]);
  if (result.code === 0 || !(await claimRouteExists(block))) return undefined;
  return `route unreachable ${block}: ${firstLine(result)}`;
};

export async function linkExists(name: string): Promise<boolean> {
  return (await runCommand('ip', ['link', 'show', 'dev', name])).code === 0;
}

export async function namespaceExists(name: string): Promise<boolean> {
  const result = await runCommand('ip', ['netns', 'list']);
  return result.stdout.split('\n').some((line) => line.split(' ')[0] === name);
}

export async function claimRouteExists(block: string): Promise<boolean> {
  const result = await runCommand('ip', ['route', 'show', 'table', 'main', 'exact', block, 'type', 'unreachable', 'proto', ROUTE_PROTO]);
  return result.stdout.trim() !== '';
}

/** Processes inside a namespace lbdrill created are lbdrill's forwarders; a namespace holding one outlives `ip netns del`. */
async function killProcessesIn(namespace: string): Promise<void> {
  const result = await runCommand('ip', ['netns', 'pids', namespace]);
  for (const pid of parsePids(result.stdout)) killQuietly(pid);
}

/** Synchronous removal for process 'exit' handlers; returns the objects still present. */
export function removeSync(objects: { links: readonly string[]; namespaces: readonly string[]; route: string | null }): string[] {
  const left: string[] = [];
  for (const link of objects.links) {
    const result = runCommandSync('ip', ['link', 'del', 'dev', link]);
    if (result.code !== 0 && runCommandSync('ip', ['link', 'show', 'dev', link]).code === 0) left.push(`link ${link}`);
  }
  for (const namespace of objects.namespaces) {
    for (const pid of parsePids(runCommandSync('ip', ['netns', 'pids', namespace]).stdout)) killQuietly(pid);
    const result = runCommandSync('ip', ['netns', 'del', namespace]);
    if (result.code !== 0 && runCommandSync('ip', ['netns', 'list']).stdout.split('\n').some((l) => l.split(' ')[0] === namespace)) {
      left.push(`namespace ${namespace}`);
    }
  }
  if (objects.route !== null) {
    runCommandSync('ip', ['route', 'del', ...claimRouteArgs(objects.route)]);
    const shown = runCommandSync('ip', ['route', 'show', 'table', 'main', 'exact', objects.route, 'type', 'unreachable', 'proto', ROUTE_PROTO]);
    if (shown.stdout.trim() !== '') left.push(`route unreachable ${objects.route}`);
  }
  return left;
}

function parsePids(text: string): number[] {
  return text
    .split('\n')
    .filter((line) => /^\d+$/.test(line.trim()))
    .map(Number)
    .filter((pid) => pid > 1 && pid !== process.pid);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function firstLine(result: CommandResult): string {
  return result.stderr.trim().split('\n')[0] ?? `exit ${result.code}`;
}
