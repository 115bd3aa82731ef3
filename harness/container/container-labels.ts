import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** Label naming the pid of the lbdrill process that made a container. */
export const LABEL_RUN = 'lbdrill.run';
/** That process's start time (clock ticks since boot, /proc/PID/stat field 22): a reused pid is not the same run. */
export const LABEL_RUN_START = 'lbdrill.run-start';
/** The host it ran on: only there can lbdrill tell whether that pid is still alive. */
export const LABEL_HOST = 'lbdrill.host';
/** The target the container runs ("nginx"), and what for ("lb" or "check"). */
export const LABEL_TARGET = 'lbdrill.target';
export const LABEL_ROLE = 'lbdrill.role';

/** Start time of process `pid`, or undefined when there is no such process. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; starttime is field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The labels of a container this lbdrill process makes for `target`. */
export function runLabels(target: string, role: 'lb' | 'check'): Record<string, string> {
  return {
    [LABEL_RUN]: String(process.pid),
    [LABEL_RUN_START]: processStartTime(process.pid) ?? '',
    [LABEL_HOST]: hostname(),
    [LABEL_TARGET]: target,
    [LABEL_ROLE]: role,
  };
}

/** Whether the run that labelled a container has ended (its pid gone, or now another process's). */
export function runEnded(labels: Readonly<Record<string, string>>): boolean {
  const pid = Number(labels[LABEL_RUN]);
  if (labels[LABEL_HOST] !== hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  const start = processStartTime(pid);
  return start === undefined || start !== labels[LABEL_RUN_START];
}
