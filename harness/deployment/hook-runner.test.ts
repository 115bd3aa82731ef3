import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { isLbdrillError } from '../errors.ts';
import type { DeployedBackendSpec } from './deployment.ts';
import { HookRunner } from './hook-runner.ts';
import { recoverHookJournals } from './recover-hook-journals.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'lbdrill-hooks-'));
  dirs.push(d);
  return d;
}

/** A backend whose hooks append to a log file, so the test sees what ran and in which order. */
function backend(dir: string, overrides: Partial<DeployedBackendSpec['hooks']> = {}): DeployedBackendSpec {
  const log = join(dir, 'ran.log');
  const hook = (name: string) => `echo ${name} >> ${log}`;
  return { name: 'backend-api-1', pool: 'api_pool', server: 'backend-api-1', value: 'backend-api-1', hooks: { stop: hook('stop'), start: hook('start'), kill: hook('kill'), pause: hook('pause'), unpause: hook('unpause'), ...overrides } };
}

const ran = (dir: string) => (existsSync(join(dir, 'ran.log')) ? readFileSync(join(dir, 'ran.log'), 'utf8').trim().split('\n') : []);

describe('HookRunner', () => {
  test('a hook and its own undo: recorded with exit status, time and duration; the journal holds the undo only while it is due', async () => {
    const dir = scratch();
    const b = backend(dir);
    const journalDir = join(dir, 'journal');
    await using hooks = new HookRunner({ deploymentFile: 'd.yaml', journalDir });
    await hooks.run(b, 'stop');
    expect(hooks.pending).toEqual([{ backend: 'backend-api-1', hook: 'stop', undo: 'start', command: b.hooks.start }]);
    expect(JSON.parse(readFileSync(hooks.journalFile, 'utf8')).pending).toHaveLength(1);
    await hooks.run(b, 'start');
    expect(hooks.pending).toEqual([]);
    expect(ran(dir)).toEqual(['stop', 'start']);
    expect(hooks.records.map((r) => [r.hook, r.exitCode, r.purpose])).toEqual([['stop', 0, 'fault'], ['start', 0, 'undo']]);
    expect(hooks.records[0]!.startedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(hooks.records[0]!.durationMs).toBeGreaterThanOrEqual(0);
  });

  test('dispose undoes what is pending (start after kill, unpause after pause), newest first, and removes the journal', async () => {
    const dir = scratch();
    const b = backend(dir);
    let journal = '';
    {
      await using hooks = new HookRunner({ deploymentFile: 'd.yaml', journalDir: join(dir, 'journal') });
      journal = hooks.journalFile;
      await hooks.run(b, 'kill');
      await hooks.run(b, 'pause');
    }
    expect(ran(dir)).toEqual(['kill', 'pause', 'unpause', 'start']);
    expect(existsSync(journal)).toBe(false);
  });

  test('a failing hook throws LBDRILL_ERR_HOOK_FAILED with its output, and its undo still runs', async () => {
    const dir = scratch();
    const b = backend(dir, { stop: `echo stop >> ${join(dir, 'ran.log')}; echo "no such container" >&2; exit 3` });
    let failure: unknown;
    {
      await using hooks = new HookRunner({ deploymentFile: 'd.yaml', journalDir: join(dir, 'journal') });
      failure = await hooks.run(b, 'stop').catch((err: unknown) => err);
      expect(hooks.failure).toBe(failure);
    }
    expect(isLbdrillError(failure, 'LBDRILL_ERR_HOOK_FAILED')).toBe(true);
    expect((failure as Error).message).toMatch(/^hook stop of backend-api-1 failed \(exit 3\): .*: no such container$/);
    expect(ran(dir)).toEqual(['stop', 'start']);
  });

  test('a journal left by a dead process is undone by the next run, which says so; a live one is left alone', async () => {
    const dir = scratch();
    const journalDir = join(dir, 'journal');
    const b = backend(dir);
    const dead = spawnSync('bash', ['-c', 'echo $$']).stdout.toString().trim();
    const file = join(journalDir, `hooks-${dead}-dead.json`);
    const live = join(journalDir, `hooks-${process.pid}-live.json`);
    {
      await using hooks = new HookRunner({ deploymentFile: 'd.yaml', journalDir });
      await hooks.run(b, 'stop');
      const record = JSON.parse(readFileSync(hooks.journalFile, 'utf8'));
      writeFileSync(file, JSON.stringify({ ...record, runKey: `hooks-${dead}-dead`, pid: Number(dead) }));
      writeFileSync(live, JSON.stringify({ ...record, runKey: `hooks-${process.pid}-live` }));
      await hooks.run(b, 'start');
    }
    const lines: string[] = [];
    const records = await recoverHookJournals({ journalDir, log: (l) => lines.push(l) });
    expect(lines[0]).toMatch(new RegExp(`^found the hook journal of an earlier run \\(pid ${dead}, d.yaml\\) that ended without undoing 1 hook\\(s\\): undoing them now$`));
    expect(lines[1]).toMatch(/^ {2}start backend-api-1 \(after its stop\): echo start >> .* -> exit 0 in \d+ ms$/);
    expect(records.map((r) => [r.hook, r.purpose, r.exitCode])).toEqual([['start', 'recovery', 0]]);
    expect(ran(dir)).toEqual(['stop', 'start', 'start']);
    expect(readdirSync(journalDir)).toEqual([`hooks-${process.pid}-live.json`]);
  });
});
