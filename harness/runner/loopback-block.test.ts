import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { afterAll, expect, it } from 'vitest';
import { ROOT } from '../../test/run-lbdrill.ts';
import { CLAIM_PORT, loopbackBlock } from './loopback-block.ts';

const held: Server[] = [];
afterAll(() => {
  for (const server of held.splice(0)) server.close();
});

function hold(block: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ host: `127.${block}.0.1`, port: CLAIM_PORT, exclusive: true }, () => resolve(server));
  });
}

/** Another process that claims its block, prints it, and keeps it until its stdin closes. */
async function claimer(): Promise<{ block: number; release: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', "const m = await import('./harness/runner/loopback-block.ts'); console.log(await m.loopbackBlock()); process.stdin.resume(); process.stdin.on('end', () => process.exit(0))"], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  return { block: Number(line.toString().trim()), release: async () => void (child.stdin.end(), await once(child, 'exit')) };
}

it('two processes never hold the same loopback block, whatever their pids', async () => {
  const mine = await loopbackBlock();
  expect(await loopbackBlock()).toBe(mine); // claimed once per process
  // leave exactly two blocks free: both claimers have to share them, one each
  const free: number[] = [];
  for (let block = 1; block <= 250; block++) {
    const server = await hold(block);
    if (!server) continue;
    if (free.length < 2) {
      free.push(block);
      await new Promise((r) => server.close(r));
    } else held.push(server);
  }
  expect(free).toHaveLength(2);
  const claimers = await Promise.all([claimer(), claimer()]);
  try {
    expect(claimers.map((c) => c.block).sort((a, b) => a - b)).toEqual(free);
  } finally {
    await Promise.all(claimers.map((c) => c.release()));
  }
});
