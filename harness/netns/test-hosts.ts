import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LbdrillError } from '../errors.ts';
import { REPO_ROOT } from '../paths.ts';
import { trackDisposer } from '../process/cleanup.ts';
import { ManagedProcess } from '../process/managed-process.ts';
import { AddressPlan, DEFAULT_TEST_RANGE, MAX_HOSTS_PER_RUN, overlaps, parsePrefix, type HostAddresses } from './address-plan.ts';
import { cleanupStale, type StaleCleanupReport } from './cleanup-stale.ts';
import { FORWARDER_READY } from './host-forwarder.ts';
import { ROUTE_PROTO, claimRouteArgs, removeClaimRoute, removeLink, removeNamespace, removeSync } from './net-objects.ts';
import { DEFAULT_STATE_DIR, RunJournal } from './run-journal.ts';
import { isRootLinkName, linkAlias, namespaceName, nextProbeNamespace, nextRootLinkName, nextRunKey } from './run-names.ts';
import { CommandError, ipJson, mustRun, runCommand } from './system-command.ts';

/*
 * lbdrill's network-namespace mode: each backend sits behind its own test host (a namespace
 * with its own address and a veth to the root namespace), so a backend can be cut off at
 * the link or partitioned by a firewall, as on a real network.
 *
 *   LB (root ns) --> host address 10.251.b.(4i+2) --veth--> forwarder in namespace i
 *                --veth--> backend on 10.251.b.(4i+1) (root ns, lbdrill's own process)
 *
 * Safety: before any link exists the run claims its /24 with an `unreachable` route in the
 * root namespace, so while a link is down the host address resolves to that route (the
 * connect fails fast with EHOSTUNREACH) and never to the default route.
 */

const FORWARDER_SCRIPT = resolve(REPO_ROOT, 'harness/netns/host-forwarder.ts');
/** The veth end inside each namespace; names there only need to be unique per namespace. */
const HOST_IFNAME = 'host0';
const FORWARDER_READY_MS = 15_000;
const LINK_READY_MS = 5_000;
const POLL_MS = 20;
/** Bound on veth names to try when another process (same pid mod 10000) holds one. */
const LINK_NAME_ATTEMPTS = 20;

/** Whether this machine can run test hosts, and if not, why (the check reports `unsupported` with it). */
export type TestHostsAvailability = { ok: true } | { ok: false; reason: string };

/** Setup steps, in order, as passed to `onSetupStep`. */
export type SetupStep = 'route' | 'namespace' | 'veth' | 'up';

/** Options of `TestHosts.create`. */
export interface TestHostsOptions {
  /** hosts to create, 1..64. */
  count: number;
  /** lbdrill's run id, recorded in the run journal for people reading it. */
  runId?: string;
  /** unused private IPv4 /16 (default 10.251.0.0/16); the run claims one /24 of it. */
  testRange?: string;
  /** where run journals live (default /run/lbdrill/netns). */
  stateDir?: string;
  /** observes every setup step; a throw aborts setup as a crash would (tests use it to prove rollback). */
  onSetupStep?: (step: SetupStep, hostIndex: number) => void | Promise<void>;
}

/** One test host: a namespace whose address the load balancer connects to. */
export interface TestHost {
  readonly index: number;
  /** the namespace name. */
  readonly name: string;
  /** the namespace side of the veth: the address the load balancer uses for this backend. */
  readonly address: string;
  /** the root side of the veth: where this host's backend listens. */
  readonly backendAddress: string;
  /** the root-side veth. */
  readonly link: string;
  /**
   * Starts a forwarder in the namespace from `address:port` (0 picks one) to
   * `toAddress:toPort` (default `backendAddress`); resolves with the port it listens on.
   */
  forward(port: number, toPort: number, toAddress?: string): Promise<number>;
}

/** Leftovers of a teardown: empty when everything the run created is gone. */
export interface TestHostsDisposeReport {
  leftovers: string[];
}

interface HostState extends TestHost {
  readonly addresses: HostAddresses;
  readonly forwarders: ManagedProcess[];
  partitioned: boolean;
}

/** Every run not yet disposed, for the synchronous sweep on process exit. */
const liveRuns = new Set<TestHosts>();
let exitSweepInstalled = false;
let toolProbe: Promise<TestHostsAvailability> | undefined;

/** Started test hosts; dispose (or `await using`) removes every namespace, veth, rule, route and forwarder. */
export class TestHosts implements AsyncDisposable {
  readonly runKey: string;
  readonly plan: AddressPlan;
  readonly #journal: RunJournal;
  readonly #options: TestHostsOptions;
  readonly #hosts: HostState[] = [];
  readonly #untrack: () => void;
  #block: number | undefined;
  #disposed: Promise<TestHostsDisposeReport> | undefined;

  private constructor(runKey: string, plan: AddressPlan, journal: RunJournal, options: TestHostsOptions) {
    this.runKey = runKey;
    this.plan = plan;
    this.#journal = journal;
    this.#options = options;
    liveRuns.add(this);
    installExitSweep();
    this.#untrack = trackDisposer(async () => void (await this.dispose()));
  }

  /** Checks root, iproute2, iptables, namespaces and that the test range is unused, without leaving anything behind. */
  static async available(options: { testRange?: string } = {}): Promise<TestHostsAvailability> {
    if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' };
    if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root to create namespaces, veths and routes' };
    const tools = await (toolProbe ??= probeTools());
    if (!tools.ok) return tools;
    let plan: AddressPlan;
    try {
      plan = new AddressPlan(options.testRange ?? DEFAULT_TEST_RANGE);
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
    const conflict = await rangeConflict(plan);
    return conflict === undefined ? { ok: true } : { ok: false, reason: conflict };
  }

  /** Creates `count` hosts; on any failure removes what it had created and throws LBDRILL_ERR_FAULT. */
  static async create(options: TestHostsOptions): Promise<TestHosts> {
    if (!Number.isInteger(options.count) || options.count < 1 || options.count > MAX_HOSTS_PER_RUN) {
      throw new LbdrillError('LBDRILL_ERR_USAGE', `count: expected an integer 1..${MAX_HOSTS_PER_RUN}, got ${options.count}`);
    }
    const testRange = options.testRange ?? DEFAULT_TEST_RANGE;
    const availability = await TestHosts.available({ testRange });
    if (!availability.ok) throw new LbdrillError('LBDRILL_ERR_FAULT', `test hosts unavailable: ${availability.reason}`);
    const plan = new AddressPlan(testRange);
    const runKey = nextRunKey();
    const journal = new RunJournal(options.stateDir ?? DEFAULT_STATE_DIR, {
      runKey,
      pid: process.pid,
      runId: options.runId ?? runKey,
      testRange: plan.rangeText,
      route: null,
      namespaces: [],
      links: [],
    });
    const hosts = new TestHosts(runKey, plan, journal, options);
    try {
      await hosts.#setUp();
    } catch (err) {
      const { leftovers } = await hosts.dispose();
      const left = leftovers.length > 0 ? `; left behind: ${leftovers.join(', ')}` : '';
      throw new LbdrillError('LBDRILL_ERR_FAULT', `test hosts setup failed: ${(err as Error).message}${left}`, { cause: err });
    }
    return hosts;
  }

  /** Removes leftovers of runs whose process is gone (see `cleanupStale`). */
  static cleanupStale(runPrefix?: string, options?: { stateDir?: string }): Promise<StaleCleanupReport> {
    return cleanupStale(runPrefix, options);
  }

  get count(): number {
    return this.#hosts.length;
  }

  /** The claimed /24, "10.251.7.0/24". */
  get block(): string | undefined {
    return this.#block === undefined ? undefined : this.plan.block(this.#block);
  }

  host(index: number): TestHost {
    return this.#host(index);
  }

  /** Takes the host's link down: new connects fail fast (EHOSTUNREACH), established connections stall. */
  async linkDown(index: number): Promise<void> {
    const host = this.#host(index);
    await this.#fault(`link down ${host.link}`, () => mustRun('ip', ['link', 'set', 'dev', host.link, 'down']));
    try {
      await assertUnreachable(host.address);
    } catch (err) {
      // Never leave a link down while its address would leave through another route.
      await runCommand('ip', ['link', 'set', 'dev', host.link, 'up']);
      throw new LbdrillError('LBDRILL_ERR_FAULT', `link down ${host.link}: ${(err as Error).message}; link brought back up`, { cause: err });
    }
  }

  /** Brings the host's link back and resolves once traffic can flow (route and carrier on both ends). */
  async linkUp(index: number): Promise<void> {
    const host = this.#host(index);
    await this.#fault(`link up ${host.link}`, () => mustRun('ip', ['link', 'set', 'dev', host.link, 'up']));
    await this.#fault(`link up ${host.link}`, () => waitLinkReady(host));
  }

  /** Drops every packet entering or leaving the host inside its namespace: connects time out, established connections stall. */
  async partition(index: number): Promise<void> {
    const host = this.#host(index);
    if (host.partitioned) return;
    host.partitioned = true; // before the first rule, so a failure half-way still gets healed
    for (const rule of PARTITION_RULES) {
      await this.#fault(`partition ${host.name}`, () => mustRun('ip', ['netns', 'exec', host.name, 'iptables', '-w', '5', '-I', ...rule]));
    }
  }

  /** Deletes exactly the rules `partition` inserted. */
  async heal(index: number): Promise<void> {
    const host = this.#host(index);
    const left = await healHost(host);
    if (left.length > 0) throw new LbdrillError('LBDRILL_ERR_FAULT', `heal ${host.name}: ${left.join('; ')}`);
  }

  /** Tears everything down in reverse order; idempotent, tolerant of objects already gone, returns what could not be removed. */
  dispose(): Promise<TestHostsDisposeReport> {
    return (this.#disposed ??= this.#tearDown());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const { leftovers } = await this.dispose();
    if (leftovers.length > 0) {
      throw new LbdrillError('LBDRILL_ERR_FAULT', `test hosts ${this.runKey} left behind: ${leftovers.join('; ')} (cleanupStale removes them once this process exits)`);
    }
  }

  async #setUp(): Promise<void> {
    const step = async (name: SetupStep, index: number): Promise<void> => this.#options.onSetupStep?.(name, index);
    await this.#claimBlock();
    const block = this.#block as number;
    // Prove the claim catches the block before any link exists: a host address must never reach the default route.
    await assertUnreachable(this.plan.host(block, 0).hostAddress);
    await step('route', -1);
    for (let index = 0; index < this.#options.count; index += 1) {
      const name = namespaceName(this.runKey, index);
      const addresses = this.plan.host(block, index);
      this.#journal.update((r) => void r.namespaces.push(name)); // write-ahead: the name is ours alone
      await mustRun('ip', ['netns', 'add', name]);
      await step('namespace', index);
      await mustRun('ip', ['-n', name, 'link', 'set', 'dev', 'lo', 'up']);
      const link = await this.#addVeth(name);
      await mustRun('ip', ['addr', 'add', `${addresses.rootAddress}/30`, 'dev', link]);
      await mustRun('ip', ['-n', name, 'addr', 'add', `${addresses.hostAddress}/30`, 'dev', HOST_IFNAME]);
      this.#hosts.push(this.#hostState(index, name, link, addresses));
      await step('veth', index);
    }
    for (const host of this.#hosts) {
      await mustRun('ip', ['-n', host.name, 'link', 'set', 'dev', HOST_IFNAME, 'up']);
      await mustRun('ip', ['link', 'set', 'dev', host.link, 'up']);
    }
    for (const host of this.#hosts) await waitLinkReady(host);
    await step('up', -1);
  }

  /** Claims the first free /24 of the range: adding its unreachable route fails with EEXIST when another run holds it. */
  async #claimBlock(): Promise<void> {
    for (const block of this.plan.blockOrder(process.pid)) {
      const args = ['route', 'add', ...claimRouteArgs(this.plan.block(block))];
      const result = await runCommand('ip', args);
      if (result.code === 0) {
        this.#block = block;
        // Journalled only now: until it exists, a route for this block may be another run's.
        this.#journal.update((r) => void (r.route = this.plan.block(block)));
        return;
      }
      if (!result.stderr.includes('File exists')) throw new CommandError('ip', args, result);
    }
    throw new Error(`no free /24 block left in ${this.plan.rangeText}`);
  }

  /** Creates the veth pair with its far end directly inside the namespace, retrying names another process holds. */
  async #addVeth(namespace: string): Promise<string> {
    for (let attempt = 0; attempt < LINK_NAME_ATTEMPTS; attempt += 1) {
      const link = nextRootLinkName();
      const args = ['link', 'add', link, 'type', 'veth', 'peer', 'name', HOST_IFNAME, 'netns', namespace];
      const result = await runCommand('ip', args);
      if (result.code === 0) {
        // Journalled after creation: until then the name may be another process's. A crash in between
        // leaks nothing, since the far end lives in our namespace and deleting it deletes the pair.
        this.#journal.update((r) => void r.links.push(link));
        await mustRun('ip', ['link', 'set', 'dev', link, 'alias', linkAlias(namespace)]);
        return link;
      }
      if (!result.stderr.includes('File exists')) throw new CommandError('ip', args, result);
    }
    throw new Error(`no free veth name after ${LINK_NAME_ATTEMPTS} attempts`);
  }

  #hostState(index: number, name: string, link: string, addresses: HostAddresses): HostState {
    const forwarders: ManagedProcess[] = [];
    const forward = async (port: number, toPort: number, toAddress = addresses.rootAddress): Promise<number> => {
      if (this.#disposed) throw new LbdrillError('LBDRILL_ERR_FAULT', `test hosts ${this.runKey} are disposed`);
      const label = `forwarder ${name} ${addresses.hostAddress}:${port}`;
      const forwarder = new ManagedProcess({
        command: 'ip',
        args: [
          'netns', 'exec', name, process.execPath, '--import', 'tsx', FORWARDER_SCRIPT,
          '--listen', `${addresses.hostAddress}:${port}`, '--to', `${toAddress}:${toPort}`,
        ],
        cwd: REPO_ROOT,
        label,
      });
      forwarders.push(forwarder);
      try {
        const line = await forwarder.waitForLine((l) => FORWARDER_READY.test(l), FORWARDER_READY_MS);
        return Number(FORWARDER_READY.exec(line)?.[2]);
      } catch (err) {
        await forwarder.stop();
        forwarders.splice(forwarders.indexOf(forwarder), 1);
        const tail = forwarder.tail(5).join(' | ');
        throw new LbdrillError('LBDRILL_ERR_FAULT', `${label}: ${(err as Error).message}${tail ? ` (${tail})` : ''}`, { cause: err });
      }
    };
    return { index, name, link, addresses, address: addresses.hostAddress, backendAddress: addresses.rootAddress, forwarders, partitioned: false, forward };
  }

  #host(index: number): HostState {
    if (this.#disposed) throw new LbdrillError('LBDRILL_ERR_FAULT', `test hosts ${this.runKey} are disposed`);
    const host = this.#hosts[index];
    if (!host) throw new LbdrillError('LBDRILL_ERR_USAGE', `host ${index}: this run has hosts 0..${this.#hosts.length - 1}`);
    return host;
  }

  async #fault<T>(what: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (err) {
      throw new LbdrillError('LBDRILL_ERR_FAULT', `${what}: ${(err as Error).message}`, { cause: err });
    }
  }

  async #tearDown(): Promise<TestHostsDisposeReport> {
    const leftovers: string[] = [];
    await Promise.allSettled(this.#hosts.flatMap((host) => host.forwarders.map((f) => f.stop())));
    for (const host of [...this.#hosts].reverse()) leftovers.push(...(await healHost(host)));
    const { namespaces, links, route } = this.#journal.record;
    // Setup adds at most one link per namespace, in order: links[k] is the veth of namespaces[k].
    for (let k = links.length - 1; k >= 0; k -= 1) {
      const namespace = namespaces[k];
      const left = await removeLink(links[k] as string, namespace === undefined ? undefined : linkAlias(namespace));
      if (left) leftovers.push(left);
    }
    for (const namespace of [...namespaces].reverse()) {
      const left = await removeNamespace(namespace);
      if (left) leftovers.push(left);
    }
    if (route !== null) {
      const left = await removeClaimRoute(route);
      if (left) leftovers.push(left);
    }
    // The journal stays while something is left, so cleanupStale can finish the job after this process exits.
    if (leftovers.length === 0) this.#journal.remove();
    liveRuns.delete(this);
    this.#untrack();
    return { leftovers };
  }

  /** For process 'exit', where only synchronous work runs: kill forwarders, delete links, namespaces, route. */
  disposeSync(): void {
    // Also when an async dispose is still under way: on exit it will never finish.
    if (!liveRuns.has(this)) return;
    this.#disposed ??= Promise.resolve({ leftovers: [] });
    for (const forwarder of this.#hosts.flatMap((h) => h.forwarders)) {
      if (forwarder.pid === undefined) continue;
      try {
        process.kill(-forwarder.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const left = removeSync(this.#journal.record);
    if (left.length === 0) this.#journal.remove();
    liveRuns.delete(this);
    this.#untrack();
  }
}

/** Disposes every live run of this process; for the harness's cleanup registry. */
export async function disposeAllTestHosts(): Promise<TestHostsDisposeReport> {
  const reports = await Promise.all([...liveRuns].map((run) => run.dispose()));
  return { leftovers: reports.flatMap((r) => r.leftovers) };
}

/** `iptables -I/-D` arguments after the verb: everything in and out of the namespace's veth end. */
const PARTITION_RULES = [
  ['INPUT', '-i', HOST_IFNAME, '-j', 'DROP'],
  ['OUTPUT', '-o', HOST_IFNAME, '-j', 'DROP'],
];

/** Deletes the partition rules (each until none is left, bounded); a namespace already gone has none. */
async function healHost(host: HostState): Promise<string[]> {
  if (!host.partitioned) return [];
  const left: string[] = [];
  for (const rule of PARTITION_RULES) {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const check = await runCommand('ip', ['netns', 'exec', host.name, 'iptables', '-w', '5', '-C', ...rule]);
      if (check.code !== 0) break; // rule absent, or namespace gone (its rules went with it)
      const del = await runCommand('ip', ['netns', 'exec', host.name, 'iptables', '-w', '5', '-D', ...rule]);
      if (del.code !== 0) {
        left.push(`iptables rule in ${host.name} (${rule.join(' ')}): ${del.stderr.trim()}`);
        break;
      }
    }
  }
  if (left.length === 0) host.partitioned = false;
  return left;
}

/** Throws unless the kernel resolves `address` to an unreachable route (never the default route). */
async function assertUnreachable(address: string): Promise<void> {
  const result = await runCommand('ip', ['-j', 'route', 'get', address]);
  if (result.code !== 0 && result.stderr.includes('No route to host')) return;
  if (result.code === 0) {
    const [route] = JSON.parse(result.stdout) as Array<{ type?: string; dev?: string; gateway?: string }>;
    if (route?.type === 'unreachable') return;
    throw new Error(`${address} resolves to ${route?.gateway ? `via ${route.gateway} ` : ''}dev ${route?.dev ?? '?'}, not to the unreachable route`);
  }
  throw new CommandError('ip', ['-j', 'route', 'get', address], result);
}

/** Waits until the host address routes through its veth and both ends have carrier. */
async function waitLinkReady(host: HostState): Promise<void> {
  const deadline = performance.now() + LINK_READY_MS;
  for (;;) {
    const [route] = await ipJson<{ dev?: string }>(['route', 'get', host.address]).catch(() => []);
    const [root] = await ipJson<{ flags?: string[] }>(['link', 'show', 'dev', host.link]).catch(() => []);
    const [inner] = await ipJson<{ flags?: string[] }>(['-n', host.name, 'link', 'show', 'dev', HOST_IFNAME]).catch(() => []);
    if (route?.dev === host.link && root?.flags?.includes('LOWER_UP') && inner?.flags?.includes('LOWER_UP')) return;
    if (performance.now() > deadline) throw new Error(`${host.link} not passing traffic within ${LINK_READY_MS} ms`);
    await sleep(POLL_MS);
  }
}

/** Why the test range cannot be used, or undefined when it is free (only lbdrill's own objects inside it). */
async function rangeConflict(plan: AddressPlan): Promise<string | undefined> {
  const links = await ipJson<{ ifname: string; addr_info?: Array<{ local?: string }> }>(['-4', 'addr', 'show']);
  for (const link of links) {
    for (const { local } of link.addr_info ?? []) {
      const address = local === undefined ? undefined : parsePrefix(local);
      if (address && overlaps(plan.range, address) && !isRootLinkName(link.ifname)) {
        return `test range ${plan.rangeText} is in use: ${local} is an address of ${link.ifname}`;
      }
    }
  }
  // -N: numeric type and protocol (RTN_UNREACHABLE is 7), independent of /etc/iproute2 name tables.
  const routes = await ipJson<{ dst?: string; type?: string; dev?: string; protocol?: string; table?: string }>(['-N', '-4', 'route', 'show', 'table', 'all']);
  for (const route of routes) {
    const prefix = route.dst === undefined ? undefined : parsePrefix(route.dst);
    if (!prefix || prefix.length === 0 || !overlaps(plan.range, prefix)) continue;
    const where = `${route.dst}${route.dev ? ` dev ${route.dev}` : ''}${route.table ? ` table ${route.table}` : ''}`;
    if (prefix.length < plan.range.length) return `test range ${plan.rangeText} is in use: route ${where} covers it`;
    const ours = (route.type === '7' && route.protocol === ROUTE_PROTO) || (route.dev !== undefined && isRootLinkName(route.dev));
    if (!ours) return `test range ${plan.rangeText} is in use: route ${where} is not lbdrill's`;
  }
  return undefined;
}

/** One-time probe of the tools, in a throwaway namespace so the root namespace is never touched. */
async function probeTools(): Promise<TestHostsAvailability> {
  if ((await runCommand('ip', ['-V'])).code !== 0) return { ok: false, reason: 'iproute2 `ip` not found' };
  if ((await runCommand('iptables', ['-V'])).code !== 0) return { ok: false, reason: '`iptables` not found (needed for partition)' };
  const probe = nextProbeNamespace();
  const added = await runCommand('ip', ['netns', 'add', probe]);
  if (added.code !== 0) return { ok: false, reason: `network namespaces not permitted: ${added.stderr.trim()}` };
  try {
    const veth = await runCommand('ip', ['-n', probe, 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1']);
    if (veth.code !== 0) return { ok: false, reason: `veth pairs not available: ${veth.stderr.trim()}` };
    const rules = await runCommand('ip', ['netns', 'exec', probe, 'iptables', '-w', '5', '-S']);
    if (rules.code !== 0) return { ok: false, reason: `iptables does not work inside a namespace: ${rules.stderr.trim()}` };
    return { ok: true };
  } finally {
    await removeNamespace(probe);
  }
}

function installExitSweep(): void {
  if (exitSweepInstalled) return;
  exitSweepInstalled = true;
  // Signals run the async disposers registered with the cleanup registry; a plain exit or an
  // uncaught error only runs 'exit' handlers, so sweep what is still live here, synchronously.
  process.on('exit', () => {
    for (const run of [...liveRuns]) run.disposeSync();
  });
}
