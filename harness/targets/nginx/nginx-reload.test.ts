import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isLbdrillError } from '../../errors.ts';
import { freePort } from '../../runner/ports.ts';
import { writeMapEntry } from '../../runtime/map-file.ts';
import { reloadNginx } from './nginx-reload.ts';

/*
 * reloadNginx against a real nginx master: SIGHUP, then new workers in /proc, the old ones
 * shutting down, and nginx's own notice lines; a config nginx rejects on reload is reported
 * with its [emerg] line while the old config keeps serving.
 */

const HOST = '127.0.0.1';

let dir: string;
const started: Master[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lbdrill-nginx-reload-'));
  chmodSync(dir, 0o755);
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop()));
});

/** An nginx master in the foreground, in its own process group (its workers go with it). */
class Master {
  readonly child: ChildProcess;
  readonly #exited: Promise<unknown>;
  constructor(args: string[]) {
    this.child = spawn('nginx', args, { detached: true, stdio: 'ignore' });
    this.#exited = once(this.child, 'exit');
  }
  get pid(): number | undefined {
    return this.child.pid;
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  async stop(): Promise<void> {
    if (this.running) process.kill(-this.pid!, 'SIGTERM');
    await this.#exited;
    try {
      process.kill(-this.pid!, 'SIGKILL');
    } catch {
      // the group is gone
    }
  }
}

async function listening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, HOST, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${HOST}:${port}`);
}
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** nginx answering `GET /` with the value its map gives the X-Node-Name header. */
async function startNginx(name: string): Promise<{ master: Master; port: number; mapFile: string; errorLog: string }> {
  const runDir = join(dir, name);
  mkdirSync(join(runDir, 'tmp'), { recursive: true });
  const port = await freePort(HOST);
  const mapFile = join(runDir, 'nodes.map');
  const errorLog = join(runDir, 'error.log');
  writeFileSync(mapFile, 'node-a.example.com master1;\n');
  writeFileSync(
    join(runDir, 'nginx.conf'),
    [
      `pid ${runDir}/nginx.pid;`,
      `error_log ${errorLog} notice;`,
      'worker_processes 2;',
      'events { worker_connections 64; }',
      'http {',
      '  access_log off;',
      `  client_body_temp_path ${runDir}/tmp;`,
      `  map $http_x_node_name $master { default none; include ${mapFile}; }`,
      `  server { listen ${HOST}:${port}; location / { return 200 "$master"; } }`,
      '}',
      '',
    ].join('\n'),
  );
  const master = new Master(['-p', runDir, '-c', join(runDir, 'nginx.conf'), '-g', 'daemon off;']);
  started.push(master);
  await listening(port);
  return { master, port, mapFile, errorLog };
}

function masterFor(port: number, node: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: HOST, port, path: '/', headers: { 'x-node-name': node }, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('reloadNginx', () => {
  it('SIGHUPs the master and resolves once new workers serve the rewritten map and the old ones are shutting down', async () => {
    const { master, port, mapFile, errorLog } = await startNginx('reload');
    expect(await masterFor(port, 'node-a.example.com')).toBe('master1');
    await writeMapEntry(mapFile, 'node-a.example.com', 'master2', 'nginx');
    // nginx read the map at start: the file alone changes nothing
    expect(await masterFor(port, 'node-a.example.com')).toBe('master1');
    const reload = await reloadNginx(master, errorLog);
    expect(reload.masterPid).toBe(master.pid);
    expect(reload.oldWorkers).toHaveLength(2);
    expect(reload.newWorkers).toHaveLength(2);
    expect(reload.newWorkers.filter((pid) => reload.oldWorkers.includes(pid))).toEqual([]);
    expect(reload.log.join('\n')).toMatch(/signal 1 \(SIGHUP\) received.*reconfiguring/);
    for (const pid of reload.newWorkers) expect(reload.log.join('\n')).toContain(`start worker process ${pid}`);
    // nginx waits 100 ms after starting the new workers before it tells the old ones to quit
    expect(reload.reloadMs).toBeGreaterThanOrEqual(100);
    // every new connection meets a new worker
    for (let i = 0; i < 10; i++) expect(await masterFor(port, 'node-a.example.com')).toBe('master2');
    expect(master.running).toBe(true);
  });

  it('a map nginx rejects on reload: [emerg] reported, the old config keeps serving', async () => {
    const { master, port, mapFile, errorLog } = await startNginx('rejected');
    writeFileSync(mapFile, 'node-a.example.com master2 extra words;\n');
    const err = await reloadNginx(master, errorLog).catch((e: unknown) => e);
    expect(isLbdrillError(err, 'LBDRILL_ERR_RUNTIME_API'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/nginx reload refused .*\[emerg\].*nodes\.map:1/);
    expect(await masterFor(port, 'node-a.example.com')).toBe('master1');
  });

  it('refuses a master that is not running', async () => {
    const { master, errorLog } = await startNginx('stopped');
    await master.stop();
    const err = await reloadNginx(master, errorLog).catch((e: unknown) => e);
    expect(isLbdrillError(err, 'LBDRILL_ERR_RUNTIME_API')).toBe(true);
  });
});
