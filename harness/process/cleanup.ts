import { rmSync } from 'node:fs';

/**
 * Last line of defence against leaks. Everything lbdrill starts registers here; normal
 * code disposes its resources itself (`await using`), and this registry only acts when
 * the process is leaving anyway: on Ctrl-C, SIGTERM, an uncaught error or plain exit.
 */
const processGroups = new Set<number>();
const tempDirs = new Set<string>();
const asyncDisposers = new Set<() => Promise<void>>();
let installed = false;
let interrupted = false;

export function trackProcessGroup(pid: number): () => void {
  installHandlers();
  processGroups.add(pid);
  return () => processGroups.delete(pid);
}

export function trackTempDir(dir: string): () => void {
  installHandlers();
  tempDirs.add(dir);
  return () => tempDirs.delete(dir);
}

/** Registers an async undo (a fault, a route) that must run before lbdrill exits on a signal. */
export function trackDisposer(dispose: () => Promise<void>): () => void {
  installHandlers();
  asyncDisposers.add(dispose);
  return () => asyncDisposers.delete(dispose);
}

/** Synchronous sweep: safe inside process.on('exit'). */
export function killEverythingNow(): void {
  for (const pid of processGroups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  processGroups.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export function wasInterrupted(): boolean {
  return interrupted;
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  if (interrupted) {
    killEverythingNow();
    process.exit(130);
  }
  interrupted = true;
  process.stderr.write(`\nlbdrill: ${signal} received, stopping everything it started...\n`);
  const undo = [...asyncDisposers];
  asyncDisposers.clear();
  // Undo faults and routes first, with a bound so a stuck undo cannot keep us alive.
  await Promise.race([
    Promise.allSettled(undo.map((fn) => fn())),
    new Promise((resolve) => setTimeout(resolve, 3000).unref()),
  ]);
  killEverythingNow();
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.once('SIGINT', (s) => void onSignal(s));
  process.once('SIGTERM', (s) => void onSignal(s));
  process.once('SIGHUP', (s) => void onSignal(s));
  process.on('exit', killEverythingNow);
}
