import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerEngine } from './container-engine.ts';
import { ContainerProcess, runInContainer } from './container-process.ts';
import { buildLocalImages, LOCAL_IMAGES } from './local-images.ts';

// Real Podman: the engine lbdrill starts itself, and the local node image (built when missing).
const IMAGE = LOCAL_IMAGES.node.name;
let engine: ContainerEngine;
let dir: string;

beforeAll(async () => {
  await buildLocalImages({ images: [LOCAL_IMAGES.node], onProgress: () => undefined });
  engine = await ContainerEngine.start();
  dir = mkdtempSync(join(tmpdir(), 'lbdrill-container-process-'));
}, 300_000);

afterAll(async () => {
  await engine?.[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
});

function start(script: string): ContainerProcess {
  return new ContainerProcess(engine, { image: IMAGE, target: 'reference', launch: { command: process.execPath, args: ['-e', script], label: 'node' }, mounts: [{ path: dir, readOnly: false }] }, { logFile: join(dir, 'process.log'), imageCheckMs: 0 });
}

async function labelledHere(): Promise<number> {
  return (await engine.client.container.dockerode.listContainers({ all: true, filters: { label: [`lbdrill.run=${process.pid}`] } })).length;
}

describe('ContainerProcess', () => {
  it("emits the container's lines, runs on the host network with the run dir at its own path, and is removed by stop()", async () => {
    const file = join(dir, 'written-inside');
    const lb = start(`require('fs').writeFileSync(${JSON.stringify(file)}, 'hi'); require('net').createServer().listen(0, '127.0.0.1', function () { console.log('ready ' + this.address().port); }); setInterval(() => {}, 1000);`);
    const line = await lb.waitForLine((l) => l.startsWith('ready '), 20_000);
    expect(readFileSync(file, 'utf8')).toBe('hi');
    const cost = await lb.startupCost();
    expect(cost?.image).toBe(IMAGE);
    expect(cost!.createMs).toBeGreaterThan(0);
    expect(lb.pid).toBeGreaterThan(1);
    // host networking: the port it bound inside is on this host's loopback
    const { createConnection } = await import('node:net');
    const port = Number(line.split(' ')[1]);
    await new Promise<void>((resolve, reject) => createConnection(port, '127.0.0.1').once('connect', function (this: import('node:net').Socket) { this.destroy(); resolve(); }).once('error', reject));
    expect(await labelledHere()).toBe(1);
    await lb.stop();
    expect(await labelledHere()).toBe(0);
    expect(lb.running).toBe(false);
    expect(lb.unexpectedExit).toBe(false);
    expect(readFileSync(join(dir, 'process.log'), 'utf8')).toContain('ready ');
  }, 60_000);

  it('reports a container that ends by itself as an unexpected exit with its code', async () => {
    const lb = start("console.error('giving up'); process.exit(3);");
    await new Promise((resolve) => lb.once('exit', resolve));
    expect(lb.unexpectedExit).toBe(true);
    expect(lb.exitCode).toBe(3);
    expect(lb.tail()).toContain('giving up');
    await lb.stop();
  }, 60_000);

  it('delivers a signal to the main process', async () => {
    const lb = start("process.on('SIGHUP', () => console.log('got SIGHUP')); console.log('up'); setInterval(() => {}, 1000);");
    await lb.waitForLine((l) => l === 'up', 20_000);
    await lb.signal('SIGHUP');
    await lb.waitForLine((l) => l === 'got SIGHUP', 10_000);
    await lb.stop();
  }, 60_000);

  it('a start that fails ends like a crash at start-up, with the engine saying why', async () => {
    const lb = new ContainerProcess(engine, { image: 'lbdrill/no-such-image:none', target: 'nginx', launch: { command: 'nginx', args: [], label: 'nginx' }, mounts: [] }, { logFile: join(dir, 'failed.log'), imageCheckMs: 0 });
    await new Promise((resolve) => lb.once('exit', resolve));
    expect(lb.running).toBe(false);
    expect(lb.tail().join(' ')).toMatch(/the container did not start/);
    expect(await lb.startupCost()).toBeUndefined();
    await lb.stop();
  }, 60_000);
});

describe('runInContainer', () => {
  it("returns the command's exit code and output, runs the first program of a name the image has, and removes the container", async () => {
    const ok = await runInContainer(engine, { image: IMAGE, target: 'reference', launch: { command: '/usr/bin/node', args: ['-e', 'console.log(process.version); process.exit(4)'], label: 'node' }, mounts: [] });
    expect(ok).toEqual({ code: 4, output: `${process.version}\n` });
    const missing = await runInContainer(engine, { image: IMAGE, target: 'apache', launch: { command: 'apache2', args: ['-v'], label: 'apache2' }, mounts: [] });
    expect(missing.code).toBe(127);
    expect(missing.output).toContain('the image has none of apache2 httpd on its PATH');
    expect(await labelledHere()).toBe(0);
  }, 60_000);
});
