import { formatHostPort, parseHostPort } from './host-port.ts';

/** `up` takes traffic; `drain` finishes what it has but gets nothing new; `down` gets nothing. */
export type ServerState = 'up' | 'drain' | 'down';

/**
 * One upstream server and everything balancers and health logic know about it. The
 * balancer consults `state` and `weight`; health checks, passive ejection and the
 * admin API change them. Counters are per process.
 */
export class UpstreamServer {
  /** `host:port` as configured. */
  readonly address: string;
  /** Label for logs and the admin API; the address unless the config names the server. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Value for the Host header when the client's is not preserved. */
  readonly hostHeader: string;
  state: ServerState;
  /** Relative share of traffic; 1 until weighted balancing exists. */
  weight = 1;
  /** Requests currently in flight to this server (least-connections reads it). */
  active = 0;
  /** Requests ever sent, and how many of them failed at the connection level. */
  requests = 0;
  failures = 0;

  constructor(address: string, name: string = address, state: ServerState = 'up') {
    const hp = parseHostPort(address);
    if (!hp) throw new Error(`not host:port: ${address}`);
    this.address = address;
    this.name = name;
    this.host = hp.host;
    this.port = hp.port;
    this.hostHeader = formatHostPort(hp.host, hp.port);
    this.state = state;
  }

  /** May receive a new request. */
  get available(): boolean {
    return this.state === 'up';
  }

  /** Called when a request to this server starts. */
  onRequestStart(): void {
    this.active++;
    this.requests++;
  }

  /** Called exactly once per started request; `failed` when it ended in a connection-level error. */
  onRequestEnd(failed: boolean): void {
    this.active--;
    if (failed) this.failures++;
  }
}
