import { request } from 'node:http';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { getContainerRuntimeClient, type ContainerRuntimeClient } from 'testcontainers';
import { LbdrillError } from '../errors.ts';
import { REPO_ROOT } from '../paths.ts';
import { ManagedProcess } from '../process/managed-process.ts';

/** The Podman settings lbdrill's own engine runs with (runc, fixed ulimits, cgroupfs): see README.md beside it. */
export const CONTAINERS_CONF = join(REPO_ROOT, 'harness', 'container', 'containers.conf');
const PING_TIMEOUT_MS = 2_000;
const SERVICE_START_TIMEOUT_MS = 15_000;
const POLL_MS = 50;

/** Environment for every `podman` lbdrill runs (service, build, import): the repo's containers.conf. */
export function podmanEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CONTAINERS_CONF };
}

/** True when a Docker API answers `GET /_ping` at `dockerHost` (unix:///path or tcp://host:port). */
export function pingDockerApi(dockerHost: string): Promise<boolean> {
  let target: { socketPath: string } | { host: string; port: number };
  try {
    const url = new URL(dockerHost);
    if (url.protocol === 'unix:') target = { socketPath: url.pathname };
    else if (url.protocol === 'tcp:' || url.protocol === 'http:') target = { host: url.hostname, port: Number(url.port || 2375) };
    else return Promise.resolve(false);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const req = request({ ...target, path: '/_ping', timeout: PING_TIMEOUT_MS }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * The Docker API lbdrill's containers run on, for one run: DOCKER_HOST when it is set and answers,
 * else `podman system service` started here as a child of lbdrill (stopped with the engine).
 * testcontainers reads DOCKER_HOST once per process and keeps its client, so lbdrill's own
 * service always listens on the same socket path for this pid.
 */
export class ContainerEngine implements AsyncDisposable {
  readonly client: ContainerRuntimeClient;
  /** "DOCKER_HOST unix:///..." or "podman system service (started by lbdrill)". */
  readonly description: string;
  /** how long it took to have a working API (0 when DOCKER_HOST was there already). */
  readonly startMs: number;
  readonly #service: ManagedProcess | undefined;
  readonly #socket: string | undefined;
  /** DOCKER_HOST as it was before lbdrill pointed it at its own service, put back on dispose. */
  readonly #givenDockerHost: string | undefined;

  private constructor(client: ContainerRuntimeClient, description: string, startMs: number, own?: { service: ManagedProcess; socket: string; given: string | undefined }) {
    this.client = client;
    this.description = description;
    this.startMs = startMs;
    this.#service = own?.service;
    this.#socket = own?.socket;
    this.#givenDockerHost = own?.given;
  }

  /** Finds or starts the engine; LBDRILL_ERR_BINARY_MISSING when neither DOCKER_HOST nor podman works. */
  static async start(): Promise<ContainerEngine> {
    const t0 = performance.now();
    // Ryuk (testcontainers' reaper) is an image from Docker Hub; lbdrill removes its containers itself.
    process.env['TESTCONTAINERS_RYUK_DISABLED'] = 'true';
    const given = process.env['DOCKER_HOST'];
    const own = `unix://${ownSocket()}`;
    if (given !== undefined && given !== own && (await pingDockerApi(given))) {
      return new ContainerEngine(await getContainerRuntimeClient(), `DOCKER_HOST ${given}`, 0);
    }
    const socket = ownSocket();
    removeStaleSockets();
    let service: ManagedProcess;
    try {
      service = new ManagedProcess({ command: 'podman', args: ['system', 'service', '--time=0', `unix://${socket}`], env: podmanEnv(), label: 'podman system service' });
    } catch (err) {
      throw new LbdrillError('LBDRILL_ERR_BINARY_MISSING', `--runtime container needs a Docker API: DOCKER_HOST is ${given ?? 'not set'} and podman could not start (${(err as Error).message})`, { cause: err });
    }
    const deadline = performance.now() + SERVICE_START_TIMEOUT_MS;
    while (!(await pingDockerApi(own))) {
      if (!service.running || performance.now() > deadline) {
        await service.stop();
        const said = service.tail(2).join(' | ');
        const why = service.running ? `no answer on ${socket} within ${SERVICE_START_TIMEOUT_MS} ms${said ? `: ${said}` : ''}` : `it exited: ${said || `code ${service.exitCode}`}`;
        throw new LbdrillError('LBDRILL_ERR_BINARY_MISSING', `--runtime container needs a Docker API: DOCKER_HOST is ${given ?? 'not set'} and \`podman system service\` did not come up (${why}; apt-get install podman runc)`);
      }
      await sleep(POLL_MS);
    }
    process.env['DOCKER_HOST'] = own;
    try {
      const client = await getContainerRuntimeClient();
      return new ContainerEngine(client, `podman system service on ${socket} (started by lbdrill)`, Math.round(performance.now() - t0), { service, socket, given });
    } catch (err) {
      await service.stop();
      restoreDockerHost(given);
      throw new LbdrillError('LBDRILL_ERR_BINARY_MISSING', `testcontainers cannot use the Podman API on ${socket}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Stops lbdrill's own Podman service (the containers stay theirs to remove: conmon keeps them running). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#service === undefined) return;
    await this.#service.stop();
    if (this.#socket !== undefined) rmSync(this.#socket, { force: true });
    restoreDockerHost(this.#givenDockerHost);
  }
}

/** Children lbdrill starts later (a deployment's hooks) must not inherit a socket that is gone. */
function restoreDockerHost(given: string | undefined): void {
  if (given === undefined) delete process.env['DOCKER_HOST'];
  else process.env['DOCKER_HOST'] = given;
}

const SOCKET_NAME = /^lbdrill-podman-(\d+)\.sock$/;

/** The socket of this process's own Podman service. */
function ownSocket(): string {
  return join(tmpdir(), `lbdrill-podman-${process.pid}.sock`);
}

/** Sockets of services whose lbdrill is gone (a SIGKILL leaves the file; the service itself ends with its parent), and this pid's own. */
function removeStaleSockets(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(SOCKET_NAME.exec(name)?.[1]);
    if (pid === process.pid || (pid > 0 && !existsSync(`/proc/${pid}`))) rmSync(join(tmpdir(), name), { force: true });
  }
}
