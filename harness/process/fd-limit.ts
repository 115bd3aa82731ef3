/**
 * The open-file limit of the proxies lbdrill starts. On a real host a service manager sets it
 * (systemd LimitNOFILE=, HAProxy's unit asks for more than a login shell has); lbdrill gives each
 * child the hard limit of its own process as the soft limit too, explicitly, so a config sized for
 * production starts as far as this machine allows, and the renderers know that number
 * (RenderPlan.fdLimit) to lower what still does not fit. The hard limit itself is left alone: with
 * it raised to the kernel's ceiling, HAProxy without a `maxconn` would size itself for a million
 * connections.
 */
import { existsSync, readFileSync } from 'node:fs';

/** util-linux `prlimit --nofile=SOFT:HARD CMD` sets the limit and execs CMD (same pid). */
const PRLIMIT = '/usr/bin/prlimit';
const HAS_PRLIMIT = process.platform === 'linux' && existsSync(PRLIMIT);

let known: number | null | undefined;

/** The hard RLIMIT_NOFILE of this process ("Max open files  20000  20000  files" in /proc/self/limits); null when unknown or unlimited. */
function hardLimit(): number | null {
  try {
    const m = /^Max open files\s+\S+\s+(\d+)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** The open-file limit a child of lbdrill starts with; undefined where lbdrill cannot tell (then configs are left as written). */
export function childFdLimit(): number | undefined {
  known ??= HAS_PRLIMIT ? hardLimit() : null;
  return known ?? undefined;
}

/** The command line that runs `command` with the soft open-file limit raised to childFdLimit(). */
export function withFdLimit(command: string, args: readonly string[]): [string, string[]] {
  const limit = childFdLimit();
  return limit === undefined ? [command, [...args]] : [PRLIMIT, [`--nofile=${limit}:${limit}`, '--', command, ...args]];
}
