import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Endpoint } from '../client/lb-client.ts';
import { LbdrillError } from '../errors.ts';
import type { ConfigAnalysis, ListenerRef, Mapping, SourceFile, UpstreamRef } from '../targets/config-plan.ts';
import { childFdLimit } from '../process/fd-limit.ts';
import { TestHosts } from '../netns/test-hosts.ts';
import type { RenderedTarget, TargetKind, TargetName } from '../targets/target-kind.ts';
import type { CertificateAuthority, CertificateFiles } from '../tls/certificate-authority.ts';
import { freePort, portFreeOnAll } from './ports.ts';
import { loopbackBlock } from './loopback-block.ts';

/** A target as the user asked for it: `nginx` (bundled config) or `nginx=path/to/file`. */
export interface TargetSpec {
  name: TargetName;
  /** the user's own config file; undefined means the profile's bundled config. */
  configFile?: string;
}

/** A test backend standing in for one upstream address of the config. */
export interface BackendPlan {
  id: string;
  /** where the LB reaches the backend (the config's upstream address is mapped here). */
  host: string;
  port: number;
  upstream: UpstreamRef;
  /** network-namespace mode: index of the backend's own test host (the backend listens on its root side). */
  testHost?: number;
}

/** A target whose config has been mapped, rendered and accepted by the proxy's own checker. */
export interface PreparedTarget {
  kind: TargetKind;
  version: string;
  spec: TargetSpec;
  target: RenderedTarget;
  backends: BackendPlan[];
  endpoints: Endpoint[];
  certificate: CertificateFiles;
  mapped: Mapping[];
  /** network-namespace mode: one test host per backend; disposed when the target's run ends. */
  testHosts?: TestHosts;
}

/**
 * Loopback block for target number `index`: 127.R.(10+index).x, where R is this process's
 * claimed block, so that two lbdrill runs on one machine (parallel CI jobs) do not collide.
 */
async function backendHosts(index: number, count: number): Promise<string[]> {
  const run = await loopbackBlock();
  return Array.from({ length: count }, (_, i) => `127.${run}.${10 + index}.${i + 1}`);
}

function portOf(address: string): number {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return Number.isInteger(port) && port > 0 ? port : 80;
}

function backendId(upstream: UpstreamRef, n: number): string {
  const named = upstream.name !== upstream.address && /^[\w.-]+$/.test(upstream.name);
  return named ? upstream.name : `${upstream.pool}-${n + 1}`;
}

/**
 * The files a target's config path names, in the order the proxy reads them. HAProxy takes several
 * `-f`: a comma list (`global.cfg,backends.cfg`) or a directory (HAProxy's own `-f DIR` rule: its
 * `*.cfg` files in lexical order); every other target reads one file.
 */
async function readConfig(kind: TargetKind, spec: string): Promise<[SourceFile, ...SourceFile[]]> {
  const several = kind.severalConfigFiles === true;
  let paths = several ? spec.split(',').map((p) => resolve(p)) : [resolve(spec)];
  const dir = several && paths.length === 1 && (await stat(paths[0]!).then((s) => s.isDirectory(), () => false)) ? paths[0]! : undefined;
  if (dir !== undefined) {
    paths = (await readdir(dir)).filter((name) => name.endsWith('.cfg')).sort().map((name) => join(dir, name));
    if (paths.length === 0) throw new LbdrillError('LBDRILL_ERR_CONFIG_READ', `cannot read ${kind.name} config ${dir}: the directory has no *.cfg file`);
  }
  const files = await Promise.all(
    paths.map(async (path) => {
      try {
        return { path, content: await readFile(path, 'utf8') };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory (name the main config file)' : (err as Error).message;
        throw new LbdrillError('LBDRILL_ERR_CONFIG_READ', `cannot read ${kind.name} config ${path}: ${reason}`, { cause: err });
      }
    }),
  );
  return files as [SourceFile, ...SourceFile[]];
}

/**
 * Reads a config, maps what cannot exist here to test backends, loopback ports and
 * lbdrill's certificate, renders it into `runDir` and has the proxy check it.
 */
export async function prepareTarget(options: {
  kind: TargetKind;
  version: string;
  spec: TargetSpec;
  configFile: string;
  runDir: string;
  index: number;
  ca: CertificateAuthority;
  /** multiplies the config's health-check and failover durations (RenderPlan.timeScale). */
  timeScale?: number;
  /** `netns`: every backend on its own test host (namespace + veth), for link faults. */
  network?: 'loopback' | 'netns';
}): Promise<PreparedTarget> {
  const { kind } = options;
  const [{ path: sourceFile, content: source }, ...further] = await readConfig(kind, options.configFile);
  const analysis = kind.dialect.analyze(source, sourceFile, further);
  if (analysis.upstreams.length === 0) {
    throw new LbdrillError('LBDRILL_ERR_NO_UPSTREAMS', `${sourceFile} has no upstream servers: nothing for lbdrill to put backends behind (${kind.name})`);
  }

  // One backend per distinct upstream address; keep the production port when it is free
  // on every backend address, the way sf-api workers share :13000 on distinct hosts.
  // A server in several pools is one test backend, named after the first pool that lists it.
  const firstByAddress = new Map<string, UpstreamRef>();
  for (const u of analysis.upstreams) if (!firstByAddress.has(u.address)) firstByAddress.set(u.address, u);
  const distinct = [...firstByAddress.values()];
  if (options.network === 'netns') return prepareOnTestHosts(options, source, sourceFile, analysis, distinct);
  const hosts = await backendHosts(options.index, distinct.length);
  const ports = [...new Set(distinct.map((u) => portOf(u.address)))];
  const portMap = new Map<number, number>();
  for (const port of ports) {
    const keep = port >= 1024 && (await portFreeOnAll(port, hosts));
    portMap.set(port, keep ? port : await freePort(hosts[0]));
  }
  const backends: BackendPlan[] = distinct.map((upstream, n) => ({
    id: backendId(upstream, n),
    host: hosts[n]!,
    port: portMap.get(portOf(upstream.address))!,
    upstream,
  }));

  return renderAndValidate(options, source, sourceFile, analysis, backends);
}

type PrepareOptions = Parameters<typeof prepareTarget>[0];

/** Network-namespace mode: a test host per backend; the LB reaches each backend at its host's address, on the config's port. */
async function prepareOnTestHosts(options: PrepareOptions, source: string, sourceFile: string, analysis: ConfigAnalysis, distinct: UpstreamRef[]): Promise<PreparedTarget> {
  const testHosts = await TestHosts.create({ count: distinct.length, runId: `${options.kind.name}-${process.pid}` });
  try {
    const backends: BackendPlan[] = distinct.map((upstream, n) => ({ id: backendId(upstream, n), host: testHosts.host(n).address, port: portOf(upstream.address), upstream, testHost: n }));
    return { ...(await renderAndValidate(options, source, sourceFile, analysis, backends)), testHosts };
  } catch (err) {
    await testHosts.dispose();
    throw err;
  }
}

async function renderAndValidate(options: PrepareOptions, source: string, sourceFile: string, analysis: ConfigAnalysis, backends: BackendPlan[]): Promise<PreparedTarget> {
  const { kind, spec, runDir } = options;
  const { ports: listenPorts, addressPorts, endpoints } = await planListeners(analysis.listeners);

  await mkdir(runDir, { recursive: true });
  // Proxies drop privileges for their workers: the run dir must be readable by them.
  await chmod(runDir, 0o755);
  const serverNames = analysis.listeners.flatMap((l) => l.serverNames);
  const certificate = await options.ca.issueFiles(runDir, [...serverNames, 'localhost', '127.0.0.1']);
  await chmod(certificate.keyFile, 0o644);
  await chmod(certificate.pemFile, 0o644);

  const rendered = kind.dialect.render(source, sourceFile, analysis, {
    runDir,
    upstreams: new Map(backends.map((b) => [b.upstream.address, `${b.host}:${b.port}`])),
    ports: listenPorts,
    ...(addressPorts.size > 0 ? { addressPorts } : {}),
    tls: { certFile: certificate.certFile, keyFile: certificate.keyFile, pemFile: certificate.pemFile },
    ...(options.timeScale !== undefined && options.timeScale !== 1 ? { timeScale: options.timeScale } : {}),
    ...(await kind.runtimeEndpoint?.(runDir)),
    ...(childFdLimit() === undefined ? {} : { fdLimit: childFdLimit() }),
  });
  for (const [name, text] of Object.entries(rendered.files)) {
    const file = join(runDir, name);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
  }
  const sourceName = rendered.source ?? (rendered.files['site.conf'] !== undefined ? 'site.conf' : rendered.main);
  const target: RenderedTarget = {
    runDir,
    mainFile: join(runDir, rendered.main),
    sourceFile,
    renderedSourceFile: join(runDir, sourceName),
    analysis,
    rendered,
  };
  for (const dir of kind.workDirs?.(runDir) ?? []) {
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o777);
  }
  await kind.validate(target);
  return { kind, version: options.version, spec, target, backends, endpoints, certificate, mapped: rendered.mapped };
}

/**
 * A free loopback port for every socket the config listens on: one per written port, and one per
 * address where listeners on the same port name different addresses (two sockets in the proxy, each
 * with its own routing; one shared port would let the kernel pick between them).
 */
async function planListeners(listeners: readonly ListenerRef[]): Promise<{ ports: Map<number, number>; addressPorts: Map<string, number>; endpoints: Endpoint[] }> {
  const ports = new Map<number, number>();
  const addressPorts = new Map<string, number>();
  const groups = new Map<string, { originalPort: number; port: number; refs: ListenerRef[]; address?: string }>();
  for (const listener of listeners) {
    const onPort = listeners.filter((l) => l.port === listener.port);
    const split = new Set(onPort.map((l) => l.address)).size > 1 && listener.address !== undefined;
    const key = split ? `${listener.address}:${listener.port}` : String(listener.port);
    let group = groups.get(key);
    if (!group) {
      const port = await freePort();
      if (split) addressPorts.set(key, port);
      else ports.set(listener.port, port);
      group = { originalPort: listener.port, port, refs: [], ...(split ? { address: listener.address } : {}) };
      groups.set(key, group);
    }
    group.refs.push(listener);
  }
  const endpoints = [...groups.values()].map(({ originalPort, port, refs, address }): Endpoint => {
    const tlsProtocols = refs.find((l) => l.tls && l.tlsProtocols)?.tlsProtocols;
    const pools = [...new Set(refs.flatMap((l) => l.pools ?? []))];
    const limits = refs.find((l) => l.limits)?.limits;
    return {
      host: '127.0.0.1',
      port,
      tls: refs.some((l) => l.tls),
      serverName: refs.flatMap((l) => l.serverNames)[0] ?? 'localhost',
      originalPort,
      ...(address ? { originalAddress: address } : {}),
      ...(pools.length > 0 ? { pools } : {}),
      ...(tlsProtocols ? { tlsProtocols } : {}),
      ...(limits ? { limits } : {}),
    };
  });
  return { ports, addressPorts, endpoints };
}
