import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond !== undefined) return ticksPerSecond;
  try {
    ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    ticksPerSecond = 100; // USER_HZ on every Linux build that matters
  }
  return ticksPerSecond;
}

/**
 * CPU time (user + system, all threads) used so far by every process in each of the given
 * process groups, in milliseconds, from /proc/<pid>/stat (proc(5): fields 5 pgrp, 14 utime,
 * 15 stime). ManagedProcess starts each child as a group leader, so an nginx master and its
 * workers, or a reference LB and its cluster workers, count together. Linux only: an empty
 * map elsewhere.
 */
export async function groupCpuMs(groups: readonly number[]): Promise<Map<number, number>> {
  const wanted = new Set(groups);
  const totals = new Map<number, number>(groups.map((g) => [g, 0]));
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return new Map();
  }
  const msPerTick = 1000 / clockTicks();
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (pid) => {
        let stat: string;
        try {
          stat = await readFile(`/proc/${pid}/stat`, 'utf8');
        } catch {
          return; // gone meanwhile
        }
        // comm (field 2) may hold spaces and parentheses: fields after it start past the last ')'.
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const pgrp = Number(rest[2]);
        if (!wanted.has(pgrp)) return;
        const ticks = Number(rest[11]) + Number(rest[12]);
        totals.set(pgrp, (totals.get(pgrp) ?? 0) + ticks * msPerTick);
      }),
  );
  return totals;
}
