import { EventEmitter } from 'node:events';
import net from 'node:net';
import { resetSocket } from './reset-socket.ts';
import { LbdrillError } from '../errors.ts';
import type { FaultStream } from './fault.ts';
import { seededRandom } from './seeded-random.ts';
import { createToxicStage, type ToxicHost, type ToxicSink, type ToxicStage } from './toxic-stage.ts';

/**
 * Bytes one stream of one connection may hold in its toxics (a latency queue, a blackhole)
 * before the proxy stops reading its source; beyond that TCP flow control pushes back on the
 * sender. Bounds memory to about 2 × this per connection, and caps a latency toxic's
 * throughput at this much per latency period.
 */
export const MAX_HELD_BYTES = 1024 * 1024;
/** After a toxic closes a connection with FIN, how long a peer may keep its own side open. */
const CLOSE_LINGER_MS = 2000;

/** Attributes of each toxic: toxiproxy's, named with their units. */
export interface ToxicAttributes {
  latency: { latencyMs: number; jitterMs: number };
  /** KB = 1000 bytes, as toxiproxy's `rate`. */
  bandwidth: { rateKbps: number };
  slow_close: { delayMs: number };
  /** 0: never close. */
  timeout: { timeoutMs: number };
  /** 0: reset at once. */
  reset_peer: { timeoutMs: number };
  slicer: { averageSizeBytes: number; sizeVariationBytes: number; delayUs: number };
  limit_data: { bytes: number };
}

/** toxiproxy's toxic names. */
export type ToxicType = keyof ToxicAttributes;

/** A toxic as toxiproxy's API takes it. */
export type ToxicSpec = {
  [T in ToxicType]: {
    type: T;
    stream: FaultStream;
    attributes: ToxicAttributes[T];
    /** share of connections the toxic applies to, 0..1; default 1. */
    toxicity?: number;
    /** unique per proxy; default `${type}_${stream}`, suffixed `_2`, `_3` when taken. */
    name?: string;
    /** seeds toxicity, jitter and slice sizes; default the proxy's seed. */
    seed?: number;
  };
}[ToxicType];

/** A toxic in effect on a proxy. */
export interface Toxic {
  readonly name: string;
  readonly spec: ToxicSpec;
  /** ordinals of the connections the toxic applies to, as toxicity decided, in the order it met them. */
  readonly hitConnections: readonly number[];
  /** stops the toxic on every connection; what it holds flows on at once, in order. Idempotent. */
  remove(): void;
}

/** Options of FaultProxy.start. */
export interface FaultProxyOptions {
  /** default 127.0.0.1. */
  listenHost?: string;
  /** 0 (the default) takes a free port. */
  listenPort?: number;
  upstreamHost: string;
  upstreamPort: number;
  /** seeds every random choice of the toxics; default 0. */
  seed?: number;
  /** the backend's name, for messages ("backend-api-1"). */
  name: string;
}

/** Events of FaultProxy.events. */
export interface FaultProxyEvents {
  /** a client connected; its ordinal (1-based, in accept order). */
  connection: [ordinal: number];
  /** both sockets of a connection are closed. */
  'connection-closed': [ordinal: number];
  /** the upstream connection failed; the client was reset. */
  'upstream-error': [ordinal: number, error: Error];
}

interface ActiveToxic {
  readonly name: string;
  readonly spec: ToxicSpec;
  readonly toxicity: number;
  readonly seed: number;
  readonly hits: number[];
  removed: boolean;
}


/** One direction of a connection: source socket -> toxics -> destination socket. */
class Link implements ToxicHost {
  readonly #connection: ProxyConnection;
  readonly #source: net.Socket;
  readonly #dest: net.Socket;
  readonly #terminal: ToxicSink;
  #entries: Array<{ toxic: ActiveToxic; stage: ToxicStage }> = [];
  #head: ToxicSink;
  #started = false;
  #paused = true;
  #cut = false;
  #disposed = false;

  constructor(connection: ProxyConnection, source: net.Socket, dest: net.Socket) {
    this.#connection = connection;
    this.#source = source;
    this.#dest = dest;
    this.#terminal = { write: (chunk) => void this.#write(chunk), end: () => this.#end() };
    this.#head = this.#terminal;
    source.pause();
    source.on('data', (chunk: Buffer) => this.#onData(chunk));
    source.on('end', () => {
      if (!this.#disposed && !this.#cut) this.#head.end();
    });
    dest.on('drain', () => this.flow());
  }

  get heldBytes(): number {
    let held = 0;
    for (const { stage } of this.#entries) held += stage.heldBytes;
    return held;
  }

  /** the upstream connection is up: let data flow. */
  start(): void {
    this.#started = true;
    this.flow();
  }

  #onData(chunk: Buffer): void {
    if (this.#disposed || this.#cut) return;
    // No toxic: hand the chunk to the socket as is.
    if (this.#head === this.#terminal) {
      if (!this.#write(chunk)) this.#pause();
      return;
    }
    this.#head.write(chunk);
    this.flow();
  }

  #write(chunk: Buffer): boolean {
    if (this.#dest.destroyed || this.#dest.writableEnded) return true;
    return this.#dest.write(chunk);
  }

  #end(): void {
    if (!this.#dest.destroyed && !this.#dest.writableEnded) this.#dest.end();
    if (this.#cut) this.#connection.close();
  }

  flow(): void {
    if (!this.#started || this.#disposed) return;
    const blocked = this.#dest.writableNeedDrain || this.heldBytes + this.#dest.writableLength >= MAX_HELD_BYTES;
    if (blocked) this.#pause();
    else if (this.#paused) {
      this.#paused = false;
      this.#source.resume();
    }
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#source.pause();
  }

  close(): void {
    this.#connection.close();
  }

  reset(): void {
    this.#connection.reset();
  }

  cut(): void {
    this.#cut = true;
  }

  append(toxic: ActiveToxic, stage: ToxicStage): void {
    if (this.#disposed) return;
    this.#entries.push({ toxic, stage });
    this.#relink();
    stage.start();
  }

  remove(toxic: ActiveToxic): void {
    const index = this.#entries.findIndex((entry) => entry.toxic === toxic);
    const [entry] = index >= 0 ? this.#entries.splice(index, 1) : [];
    if (!entry) return;
    this.#relink();
    // The removed stage still points at its old successor, so what it held goes on in order.
    entry.stage.flush();
    this.flow();
  }

  #relink(): void {
    this.#entries.forEach((entry, i) => (entry.stage.next = this.#entries[i + 1]?.stage ?? this.#terminal));
    this.#head = this.#entries[0]?.stage ?? this.#terminal;
  }

  /** stops every toxic and drops what they hold; whatever the source still sends is read and discarded. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const { stage } of this.#entries) stage.dispose();
    this.#entries = [];
    this.#head = this.#terminal;
    // Unread bytes would turn our close into an RST.
    if (!this.#source.destroyed) this.#source.resume();
  }
}

/** One client connection and its upstream connection. */
class ProxyConnection {
  readonly ordinal: number;
  readonly client: net.Socket;
  readonly server: net.Socket;
  readonly upstream: Link;
  readonly downstream: Link;
  /** settles when both sockets are closed. */
  readonly gone: Promise<void>;
  #state: 'open' | 'closing' | 'gone' = 'open';
  #lingerTimer: NodeJS.Timeout | undefined;

  constructor(ordinal: number, client: net.Socket, upstreamHost: string, upstreamPort: number, onUpstreamError: (err: Error) => void) {
    this.ordinal = ordinal;
    this.client = client;
    this.server = net.connect({ host: upstreamHost, port: upstreamPort, allowHalfOpen: true, noDelay: true });
    this.upstream = new Link(this, client, this.server);
    this.downstream = new Link(this, this.server, client);
    let connected = false;
    this.server.once('connect', () => {
      connected = true;
      this.upstream.start();
      this.downstream.start();
    });
    client.on('error', () => this.#propagateError(this.server));
    this.server.on('error', (err) => {
      if (!connected) onUpstreamError(err);
      this.#propagateError(client);
    });
    const closed = (socket: net.Socket): Promise<void> =>
      socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
    this.gone = Promise.all([closed(client), closed(this.server)]).then(() => {
      this.#state = 'gone';
      clearTimeout(this.#lingerTimer);
      this.upstream.dispose();
      this.downstream.dispose();
    });
  }

  link(stream: FaultStream): Link {
    return stream === 'upstream' ? this.upstream : this.downstream;
  }

  get heldBytes(): number {
    return this.upstream.heldBytes + this.downstream.heldBytes;
  }

  /** an RST (or any socket error) on one side resets the other. */
  #propagateError(other: net.Socket): void {
    if (this.#state === 'gone') return;
    this.#state = 'closing';
    this.upstream.dispose();
    this.downstream.dispose();
    resetSocket(other);
  }

  /** FIN to both peers after what is already written; what the toxics hold is dropped. */
  close(): void {
    if (this.#state !== 'open') return;
    this.#state = 'closing';
    this.upstream.dispose();
    this.downstream.dispose();
    for (const socket of [this.client, this.server]) {
      if (socket.connecting) socket.destroy();
      else if (!socket.destroyed && !socket.writableEnded) socket.end();
    }
    this.#lingerTimer = setTimeout(() => this.destroy(), CLOSE_LINGER_MS);
    this.#lingerTimer.unref();
  }

  /** RST to both peers. */
  reset(): void {
    if (this.#state === 'gone') return;
    this.#state = 'closing';
    this.upstream.dispose();
    this.downstream.dispose();
    resetSocket(this.client);
    resetSocket(this.server);
  }

  destroy(): void {
    this.upstream.dispose();
    this.downstream.dispose();
    this.client.destroy();
    this.server.destroy();
  }
}

/**
 * lbdrill's TCP fault proxy between the LB under test and one backend. It pumps both
 * directions with backpressure and half-close, passes an RST on to the other side, and
 * applies toxiproxy-style toxics (https://github.com/Shopify/toxiproxy#toxics) that can be
 * added and removed at any time and act on connections already open (the LB's pooled
 * keep-alive connections) as well as new ones. Use FaultProxy.start().
 *
 * Where it departs from toxiproxy, on purpose: `timeout` holds the data instead of dropping
 * it (removal lets it flow on intact); `reset_peer` starts its clock when it applies, not at
 * the first chunk, so idle pooled connections are reset too; `latency` delays the FIN like
 * data. close() destroys sockets: the peer sees a FIN, or an RST if it had unread bytes.
 */
export class FaultProxy implements AsyncDisposable {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  readonly seed: number;
  readonly events = new EventEmitter<FaultProxyEvents>();
  readonly #server: net.Server;
  readonly #connections = new Set<ProxyConnection>();
  readonly #toxics = new Map<string, ActiveToxic>();
  #accepted = 0;
  #closing: Promise<void> | undefined;

  private constructor(server: net.Server, options: FaultProxyOptions, host: string, port: number) {
    this.#server = server;
    this.name = options.name;
    this.host = host;
    this.port = port;
    this.upstreamHost = options.upstreamHost;
    this.upstreamPort = options.upstreamPort;
    this.seed = options.seed ?? 0;
    server.on('connection', (client) => this.#accept(client));
    // Accept errors (EMFILE) must not crash the run; the LB sees refused or stalled connects.
    server.on('error', () => undefined);
  }

  /** Listens and returns the running proxy. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const host = options.listenHost ?? '127.0.0.1';
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.listenPort ?? 0, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      throw new LbdrillError('LBDRILL_ERR_FAULT', `fault proxy for ${options.name} could not listen on ${host}:${options.listenPort ?? 0}: ${(err as Error).message}`, { cause: err });
    }
    const address = server.address() as net.AddressInfo;
    return new FaultProxy(server, options, host, address.port);
  }

  #disabled = false;

  /**
   * The host is gone, as for a killed backend behind it: stop listening (new connects are
   * refused, as they would be by the dead backend itself) and reset every open connection.
   * Without this a stopped backend would look "accepted, then reset" to the LB.
   */
  async disable(): Promise<void> {
    if (this.#disabled || this.#closing) return;
    this.#disabled = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const connection of [...this.#connections]) connection.reset();
    await closed;
  }

  /** Listens again on the same address after disable(). */
  async enable(): Promise<void> {
    if (!this.#disabled || this.#closing) return;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.port, this.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#disabled = false;
  }

  /** "host:port" the LB should use for this backend; IPv6 hosts are bracketed. */
  get address(): string {
    return this.host.includes(':') ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  /** connections open right now. */
  get connections(): number {
    return this.#connections.size;
  }

  /** connections accepted since start. */
  get accepted(): number {
    return this.#accepted;
  }

  /** bytes the toxics hold right now, over every connection. */
  get heldBytes(): number {
    let held = 0;
    for (const connection of this.#connections) held += connection.heldBytes;
    return held;
  }

  get toxics(): string[] {
    return [...this.#toxics.keys()];
  }

  /** Adds a toxic to every open connection (as its toxicity decides) and to every new one until removed. */
  addToxic(spec: ToxicSpec): Toxic {
    const toxicity = spec.toxicity ?? 1;
    if (!(toxicity >= 0 && toxicity <= 1)) {
      throw new LbdrillError('LBDRILL_ERR_FAULT', `${spec.type} on ${this.name}: toxicity ${toxicity} is not within 0..1`);
    }
    if (spec.name !== undefined && this.#toxics.has(spec.name)) {
      throw new LbdrillError('LBDRILL_ERR_FAULT', `${spec.type} on ${this.name}: a toxic named "${spec.name}" is already active`);
    }
    let name = spec.name ?? `${spec.type}_${spec.stream}`;
    for (let n = 2; this.#toxics.has(name); n += 1) name = `${spec.type}_${spec.stream}_${n}`;
    const toxic: ActiveToxic = { name, spec, toxicity, seed: spec.seed ?? this.seed, hits: [], removed: false };
    this.#toxics.set(name, toxic);
    for (const connection of this.#connections) this.#attach(toxic, connection);
    return {
      name,
      spec,
      hitConnections: toxic.hits,
      remove: () => this.#remove(toxic),
    };
  }

  #remove(toxic: ActiveToxic): void {
    if (toxic.removed) return;
    toxic.removed = true;
    this.#toxics.delete(toxic.name);
    for (const connection of this.#connections) connection.link(toxic.spec.stream).remove(toxic);
  }

  #attach(toxic: ActiveToxic, connection: ProxyConnection): void {
    // Per (seed, connection, toxic): a rerun hits the same connections whatever else runs.
    const random = seededRandom(toxic.seed, connection.ordinal, toxic.name);
    if (!(random() < toxic.toxicity)) return;
    toxic.hits.push(connection.ordinal);
    const link = connection.link(toxic.spec.stream);
    link.append(toxic, createToxicStage(toxic.spec, link, random));
  }

  #accept(client: net.Socket): void {
    if (this.#closing) {
      client.destroy();
      return;
    }
    this.#accepted += 1;
    const ordinal = this.#accepted;
    const connection = new ProxyConnection(ordinal, client, this.upstreamHost, this.upstreamPort, (err) =>
      this.events.emit('upstream-error', ordinal, err),
    );
    this.#connections.add(connection);
    void connection.gone.then(() => {
      this.#connections.delete(connection);
      this.events.emit('connection-closed', ordinal);
    });
    for (const toxic of this.#toxics.values()) this.#attach(toxic, connection);
    this.events.emit('connection', ordinal);
  }

  /** Stops listening and destroys every connection; settles once every socket is closed. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const listenerClosed = this.#disabled ? Promise.resolve() : new Promise<void>((resolve) => this.#server.close(() => resolve()));
      const connections = [...this.#connections];
      for (const connection of connections) connection.destroy();
      await Promise.all([listenerClosed, ...connections.map((connection) => connection.gone)]);
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
