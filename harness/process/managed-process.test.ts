import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { isProcessAlive as alive } from '../netns/run-names.ts';
import { childFdLimit } from './fd-limit.ts';
import { ManagedProcess } from './managed-process.ts';

describe('ManagedProcess', () => {
  it('a child does not outlive an lbdrill killed with SIGKILL (parent-death signal)', async () => {
    // A parent that owns a long sleep through ManagedProcess, prints its pid, then waits.
    const script = [
      "import { ManagedProcess } from './harness/process/managed-process.ts';",
      "const p = new ManagedProcess({ command: 'sleep', args: ['60'], label: 'sleep' });",
      'console.log(p.pid);',
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
    const pid = Number(line.toString().trim());
    expect(alive(pid)).toBe(true);
    parent.kill('SIGKILL');
    await once(parent, 'exit');
    for (let i = 0; i < 100 && alive(pid); i++) await sleep(20);
    expect(alive(pid), `sleep (pid ${pid}) still running 2 s after its parent was killed`).toBe(false);
  });
});

describe('ManagedProcess open-file limit', () => {
  it('starts the child with childFdLimit() open files, soft and hard, as a service manager would', async () => {
    const limit = childFdLimit();
    expect(limit, 'this machine runs proxies through util-linux prlimit').toBeGreaterThan(0);
    const child = new ManagedProcess({ command: 'sh', args: ['-c', 'echo "$(ulimit -Sn) $(ulimit -Hn)"'], label: 'sh' });
    const line = await child.waitForLine(() => true, 5000);
    await child.stop();
    expect(line).toBe(`${limit} ${limit}`);
  });
});
