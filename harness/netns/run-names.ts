import { threadId } from 'node:worker_threads';

/*
 * Every namespace, veth and journal lbdrill creates carries its name prefix and the pid of
 * the process that owns it, so a sweep can tell leftovers of a dead run from the live
 * objects of a concurrent one, and never looks at anything without the prefix.
 */

/** Prefix of every network object lbdrill creates; a sweep never looks at anything else. */
export const NAME_PREFIX = 'lbd-';

/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1). */
export const MAX_IFNAME_LENGTH = 15;

/** Namespaces: "lbd-<pid>-<tag>-<host>" (and "lbd-<pid>-probe<n>" for the availability probe). */
const NAMESPACE = /^lbd-(\d+)-[A-Za-z0-9-]+$/;

/** Root-side veths: "lbd<pid mod 10000>v<n>"; their alias names the namespace, and with it the owner. */
const ROOT_LINK = /^lbd\d{1,4}v\d+$/;
const LINK_ALIAS = /^lbdrill (lbd-\d+-[A-Za-z0-9-]+)$/;

let runSequence = 0;
let linkSequence = threadId * 1000;
let probeSequence = 0;

/** A run key unique among live runs: pid, plus thread and sequence (vitest may run files in threads of one process). */
export function nextRunKey(): string {
  runSequence += 1;
  return `${NAME_PREFIX}${process.pid}-${threadId === 0 ? '' : `${threadId}t`}${runSequence}`;
}

export function namespaceName(runKey: string, index: number): string {
  return `${runKey}-${index}`;
}

export function nextProbeNamespace(): string {
  probeSequence += 1;
  return `${NAME_PREFIX}${process.pid}-probe${threadId}t${probeSequence}`;
}

/** The next root-side veth name to try; the caller retries with the next one when the kernel says it exists. */
export function nextRootLinkName(): string {
  linkSequence += 1;
  const name = `lbd${process.pid % 10_000}v${linkSequence}`;
  if (name.length > MAX_IFNAME_LENGTH) throw new Error(`veth name ${name} exceeds ${MAX_IFNAME_LENGTH} characters`);
  return name;
}

export function linkAlias(namespace: string): string {
  return `lbdrill ${namespace}`;
}

/** The pid owning a namespace name, or undefined when the name is not lbdrill's. */
export function namespaceOwner(name: string): number | undefined {
  const match = NAMESPACE.exec(name);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** The namespace a root-side veth belongs to, from its alias; undefined when the link is not lbdrill's. */
export function linkNamespace(name: string, alias: string | undefined): string | undefined {
  if (!ROOT_LINK.test(name) || alias === undefined) return undefined;
  return LINK_ALIAS.exec(alias)?.[1];
}

export function isRootLinkName(name: string): boolean {
  return ROOT_LINK.test(name);
}

/** True unless the process is known to be gone; a recycled pid keeps its objects (conservative). */
export function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
