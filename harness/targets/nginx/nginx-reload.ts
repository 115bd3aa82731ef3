import { readdirSync, readFileSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { LbdrillError } from '../../errors.ts';
import { nowMs } from '../../probe/probe-stream.ts';

/** nginx parses the config, forks new workers, waits 100 ms, then tells the old ones to quit: well within this. */
const RELOAD_TIMEOUT_MS = 10_000;
const POLL_MS = 5;
/** error-log lines kept in the evidence. */
const LOG_LINES = 20;

/** What a graceful reload did, as lbdrill saw it in /proc and in nginx's error log. */
export type NginxReload = {
  /** SIGHUP to the master -> new workers running and every old worker shutting down or gone. */
  reloadMs: number;
  masterPid: number;
  /** workers serving before the reload, and those that replaced them. */
  oldWorkers: number[];
  newWorkers: number[];
  /** what nginx logged meanwhile ("signal 1 (SIGHUP) received ..., reconfiguring", "start worker process N", ...), when its error log is at notice level. */
  log: string[];
};

/** The nginx master process: lbdrill's ManagedProcess, or a pid read from nginx.pid. */
export interface NginxMaster {
  readonly pid: number | undefined;
  readonly running: boolean;
}

/** A child of the master: pid and process title ("nginx: worker process", "nginx: worker process is shutting down"). */
interface Child {
  pid: number;
  title: string;
}

/**
 * The master's children, by a scan of /proc (this kernel may lack /proc/<pid>/task/<pid>/children).
 * `parents` remembers each pid's parent across scans, so a poll reads only the stat of processes
 * it has not seen yet (pids are not reused within seconds: they wrap only at pid_max). Synchronous:
 * procfs reads come from memory, and a scan is over in a millisecond or two, where a thread-pool
 * round trip per file would delay the reload behind the probe traffic.
 */
function childrenOf(ppid: number, parents: Map<number, number>): Child[] {
  const found: Child[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      let parent = parents.get(pid);
      if (parent === undefined) {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        parents.set(pid, parent);
      }
      if (parent !== ppid) continue;
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
      found.push({ pid, title });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** A worker taking new connections: an old one that got the quit signal retitles itself "... is shutting down"; a zombie has no title. */
function serving(child: Child): boolean {
  return child.title.startsWith('nginx: worker process') && !child.title.includes('shutting down');
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

async function readFrom(file: string, offset: number): Promise<string[]> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      if (size <= offset) return [];
      const buffer = Buffer.alloc(size - offset);
      await handle.read(buffer, 0, buffer.length, offset);
      return buffer.toString('utf8').split('\n').filter((l) => l.trim() !== '');
    } finally {
      await handle.close();
    }
  } catch {
    return [];
  }
}

/**
 * Graceful reload of the nginx master lbdrill started (SIGHUP, what `nginx -s reload` sends),
 * confirmed from /proc: it resolves once new workers run and no old worker still takes new
 * connections, i.e. every new connection meets the new config. An `[emerg]` in the error log
 * (nginx rejected the new config and keeps the old one) or no new workers within 10 s throws
 * LBDRILL_ERR_RUNTIME_API.
 */
export async function reloadNginx(master: NginxMaster, errorLog: string | undefined): Promise<NginxReload> {
  const masterPid = master.pid;
  if (masterPid === undefined || !master.running) throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', 'nginx reload: the nginx master is not running');
  const parents = new Map<number, number>();
  const old = childrenOf(masterPid, parents).filter(serving).map((c) => c.pid);
  if (old.length === 0) throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `nginx reload: master ${masterPid} has no worker processes (master_process off?), so a reload cannot be confirmed`);
  const logFrom = errorLog ? await sizeOf(errorLog) : 0;
  const t0 = nowMs();
  process.kill(masterPid, 'SIGHUP');
  while (nowMs() - t0 < RELOAD_TIMEOUT_MS) {
    const children = childrenOf(masterPid, parents);
    const fresh = children.filter((c) => serving(c) && !old.includes(c.pid)).map((c) => c.pid);
    const stillServing = children.filter((c) => serving(c) && old.includes(c.pid));
    if (fresh.length > 0 && stillServing.length === 0) {
      const reloadMs = nowMs() - t0;
      const log = errorLog ? (await readFrom(errorLog, logFrom)).slice(0, LOG_LINES) : [];
      return { reloadMs: Math.round(reloadMs * 10) / 10, masterPid, oldWorkers: old, newWorkers: fresh, log };
    }
    if (errorLog) {
      const emerg = (await readFrom(errorLog, logFrom)).find((l) => l.includes('[emerg]'));
      if (emerg) throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `nginx reload refused (the old config keeps serving): ${emerg}`);
    }
    if (!master.running) throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `nginx reload: master ${masterPid} exited`);
    await sleep(POLL_MS);
  }
  const tail = errorLog ? (await readFrom(errorLog, logFrom)).slice(-3).join(' | ') : '';
  throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `nginx reload: no new workers replaced ${old.join(', ')} within ${RELOAD_TIMEOUT_MS / 1000} s${tail ? `: ${tail}` : ''}`);
}
