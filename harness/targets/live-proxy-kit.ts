import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import { apacheDialect } from './apache/apache-config.ts';
import type { ConfigAnalysis, ConfigDialect, RenderPlan, RenderedConfig } from './config-plan.ts';
import { haproxyDialect } from './haproxy/haproxy-config.ts';
import { nginxDialect, nginxGlobalDirectives, nginxTempDirs } from './nginx/nginx-config.ts';

/*
 * Shared by the dialect tests (nginx, haproxy, apache): real backends, a real proxy
 * process started on the rendered config, requests through it, and proof its workers
 * are gone afterwards.
 */

import { freePort } from '../runner/ports.ts';
import { isProcessAlive as alive } from '../netns/run-names.ts';

export { freePort };

/** Line numbers (1-based) where two texts differ; both must have the same line count. */
export function changedLines(a: string, b: string): number[] {
  const la = a.split('\n');
  const lb = b.split('\n');
  expect(lb.length).toBe(la.length);
  return la.flatMap((line, i) => (line === lb[i] ? [] : [i + 1]));
}

export interface Backend {
  address: string;
  /** request paths in arrival order, health checks included. */
  paths: string[];
  /** every request with its method and arrival time (Date.now()), for health-check cadence. */
  requests: Array<{ method: string; path: string; atMs: number }>;
  server: Server;
}

/**
 * An HTTP backend on host:0 that answers every path (health paths included) 200 `backend <host>`,
 * after delayMs when given (requests whose path starts with delayPrefix, default all).
 */
export async function startBackend(host: string, options: { delayMs?: number; delayPrefix?: string } = {}): Promise<Backend> {
  const paths: string[] = [];
  const requests: Backend['requests'] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    requests.push({ method: req.method ?? '', path: req.url ?? '', atMs: Date.now() });
    const delayMs = (req.url ?? '').startsWith(options.delayPrefix ?? '') ? options.delayMs ?? 0 : 0;
    if (delayMs > 0) setTimeout(() => res.end(`backend ${host}`), delayMs);
    else res.end(`backend ${host}`);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { address: `${host}:${(server.address() as AddressInfo).port}`, paths, requests, server };
}

/** Sends one command to an HAProxy runtime API (stats socket) and returns the whole answer; HAProxy closes after one command. */
export function runtimeCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = connect(socketPath, () => socket.end(`${command}\n`));
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer to "${command}" on ${socketPath}`)));
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export function get(port: number, path: string, tls: boolean, host: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, path, headers: { host }, servername: host, rejectUnauthorized: false, timeout: 5000 };
    const req = (tls ? httpsRequest : httpRequest)(options, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** One plain-HTTP request to 127.0.0.1:port, with extra headers and a chosen source address (127.x.y.z). */
export function send(port: number, path: string, options: { headers?: Record<string, string>; localAddress?: string; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, headers: options.headers ?? {}, agent: false, timeout: options.timeoutMs ?? 5000, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function eventually<T>(what: () => Promise<T>, deadlineMs = 10_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await what();
    } catch (err) {
      if (Date.now() > until || (err as { final?: boolean }).final === true) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function childrenOf(pid: number): number[] {
  return readdirSync('/proc').flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return [];
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid ? [Number(entry)] : [];
    } catch {
      return [];
    }
  });
}

/** Starts the proxy, returns its pid and a stop() that SIGTERMs it and proves it and its workers are gone. */
export async function startProxy(command: string, args: string[], readyPort: number, env?: NodeJS.ProcessEnv): Promise<{ pid: number; stop(): Promise<void> }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid as number;
  const stop = async (): Promise<void> => {
    const workers = childrenOf(pid);
    if (alive(pid)) child.kill('SIGTERM');
    await exited;
    await eventually(async () => {
      const left = workers.filter(alive);
      if (left.length > 0) throw new Error(`still running: ${left.join(',')}`);
    });
    expect(alive(pid)).toBe(false);
  };
  try {
    await eventually(async () => {
      if (child.exitCode !== null) throw Object.assign(new Error(`${command} exited ${child.exitCode}: ${output}`), { final: true });
      await new Promise<void>((resolve, reject) => {
        const socket = connect(readyPort, '127.0.0.1', () => {
          socket.destroy();
          resolve();
        });
        socket.on('error', reject);
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid, stop };
}

export function makeCertificate(dir: string): RenderPlan['tls'] {
  const tls = { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), pemFile: join(dir, 'server.pem') };
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=sf.example.com', '-days', '1', '-keyout', tls.keyFile, '-out', tls.certFile], { stdio: 'ignore' });
  writeFileSync(tls.pemFile, readFileSync(tls.certFile, 'utf8') + readFileSync(tls.keyFile, 'utf8'));
  return tls;
}

/** The three proxies a bundled config is written for, with their dialects. */
export type ProxyName = 'haproxy' | 'nginx' | 'apache';

export const DIALECTS: Readonly<Record<ProxyName, ConfigDialect>> = { haproxy: haproxyDialect, nginx: nginxDialect, apache: apacheDialect };
const BINARIES: Readonly<Record<ProxyName, string>> = { haproxy: 'haproxy', nginx: 'nginx', apache: 'apache2' };

/** A bundled config rendered into its run dir and running under the real proxy. */
export interface RunningConfig {
  analysis: ConfigAnalysis;
  rendered: RenderedConfig;
  runDir: string;
  /** the loopback port the config's :80 listens on. */
  port: number;
  stop(): Promise<void>;
}

/**
 * Reads a bundled config (listening on :80, other listeners get free ports too) as the runner does, renders it into runDir
 * against `backends` (address as written -> test backend), writes every rendered file (companion
 * files included), checks the proxy accepts it and starts it.
 */
export async function runConfig(proxy: ProxyName, configFile: string, runDir: string, backends: ReadonlyMap<string, string>, plan: Partial<RenderPlan> = {}): Promise<RunningConfig> {
  mkdirSync(runDir, { recursive: true });
  chmodSync(runDir, 0o755);
  const dialect = DIALECTS[proxy];
  const source = readFileSync(configFile, 'utf8');
  const analysis = dialect.analyze(source, configFile);
  expect(analysis.listeners.map((l) => l.port)).toContain(80);
  const ports = new Map<number, number>();
  for (const l of analysis.listeners) if (!ports.has(l.port)) ports.set(l.port, await freePort());
  const port = ports.get(80) as number;
  const rendered = dialect.render(source, configFile, analysis, {
    runDir,
    upstreams: new Map(
      analysis.upstreams.map((u) => {
        const to = backends.get(u.address);
        if (to === undefined) throw new Error(`${configFile}:${u.line}: no test backend for ${u.address}`);
        return [u.address, to];
      }),
    ),
    ports,
    tls: makeCertificate(runDir),
    ...plan,
  });
  for (const [name, text] of Object.entries(rendered.files)) {
    mkdirSync(dirname(join(runDir, name)), { recursive: true });
    writeFileSync(join(runDir, name), text);
  }
  const main = join(runDir, rendered.main);
  let command: string[];
  let check: string[];
  let ok: string;
  // No APACHE_* environment: the generated Defines must be enough.
  const env = proxy === 'apache' ? { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } : process.env;
  if (proxy === 'haproxy') {
    check = ['-c', '-f', main];
    command = ['-f', main, '-db'];
    ok = 'Configuration file is valid';
  } else if (proxy === 'nginx') {
    for (const d of nginxTempDirs(runDir)) mkdirSync(d, { recursive: true });
    const args = ['-p', runDir, '-c', main, '-g', nginxGlobalDirectives(analysis, runDir)];
    check = ['-t', ...args];
    command = args;
    ok = 'test is successful';
  } else {
    const args = ['-d', '/etc/apache2', '-f', main];
    check = ['-t', ...args];
    command = [...args, '-DFOREGROUND'];
    ok = 'Syntax OK';
  }
  const checked = spawnSync(BINARIES[proxy], check, { encoding: 'utf8', env });
  expect(checked.stdout + checked.stderr).toContain(ok);
  const started = await startProxy(BINARIES[proxy], command, port, env);
  return { analysis, rendered, runDir, port, stop: started.stop };
}
