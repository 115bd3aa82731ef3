import { LbdrillError } from '../errors.ts';
import { seededRandom } from '../faults/seeded-random.ts';
import { LbClient } from './lb-client.ts';

/*
 * Where simulated users come from: 127.S.T.H with S in 170..199, T in 64..255 and H in
 * 1..254, one user per /24 (nginx's ip_hash keys on the first three octets of an IPv4
 * address). H varies too: HAProxy's map-based `balance source` takes the whole address modulo
 * the pool's total weight, so users sharing their last octet would all hash alike. Slots and
 * last octets are drawn at random (seeded), not counted up: a hash of consecutive addresses
 * (ip_hash: T and T+2 land alike on 2 servers) would tie users together, and the checks'
 * odds assume users independent of each other.
 * The block collides with no other address lbdrill uses: the shared client 127.0.9.9, the
 * per-source clients of source-clients.ts (second octets 60 to 160), the probe sources
 * (200 to 203), and the test backends 127.R.(10+target).n, whose third octet stays far
 * below 64.
 */
const FIRST_SECOND_OCTET = 170;
const SECOND_OCTETS = 30;
const FIRST_THIRD_OCTET = 64;
const THIRD_OCTETS = 192;
/** Distinct /24s in the block: the most users one check can have. */
export const USER_ADDRESSES = SECOND_OCTETS * THIRD_OCTETS;

/** The address of /24 number `slot` (0 <= slot < USER_ADDRESSES) of the users' block, last octet `host` (1..254). */
export function userAddress(slot: number, host: number): string {
  if (!Number.isSafeInteger(slot) || slot < 0 || slot >= USER_ADDRESSES) throw new LbdrillError('LBDRILL_ERR_INTERNAL', `user address slot ${slot} is outside 0..${USER_ADDRESSES - 1}`);
  if (!Number.isSafeInteger(host) || host < 1 || host > 254) throw new LbdrillError('LBDRILL_ERR_INTERNAL', `user address host ${host} is outside 1..254`);
  return `127.${FIRST_SECOND_OCTET + Math.floor(slot / THIRD_OCTETS)}.${FIRST_THIRD_OCTET + (slot % THIRD_OCTETS)}.${host}`;
}

/**
 * One simulated user: a loopback source address of its own, shared by its HTTP requests and
 * its WebSockets, as a browser's are. An LB that pins by client address sees one client per
 * user, so a check can tell that from cookie affinity.
 */
export class SimulatedUser implements AsyncDisposable {
  readonly index: number;
  /** source address of every connection of this user, e.g. 127.183.77.9 */
  readonly address: string;
  readonly #caPem: string;
  #http: LbClient | undefined;

  constructor(index: number, address: string, caPem: string) {
    this.index = index;
    this.address = address;
    this.#caPem = caPem;
  }

  /** The user's HTTP client (keep-alive connections from `address`), made on first use. */
  get http(): LbClient {
    this.#http ??= new LbClient({ ca: this.#caPem, localAddress: this.address });
    return this.#http;
  }

  async close(): Promise<void> {
    await this.#http?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * The users of one check, in distinct /24s. Which addresses they get is seeded by (seed,
 * purpose): the same run makes the same users, another seed lands them on other hash
 * buckets. Users of two checks running at once may share an address only by that draw;
 * nothing they judge depends on it (each check judges its own requests).
 */
export class SimulatedUsers implements AsyncDisposable {
  readonly users: readonly SimulatedUser[];

  constructor(options: { caPem: string; seed: number; purpose: string; count: number }) {
    const { count } = options;
    if (!Number.isSafeInteger(count) || count < 1 || count > USER_ADDRESSES) throw new LbdrillError('LBDRILL_ERR_INTERNAL', `simulated users: count must be in 1..${USER_ADDRESSES}, got ${count}`);
    const random = seededRandom(options.seed, 'simulated-users', options.purpose);
    // the first `count` steps of a Fisher-Yates shuffle: distinct /24s in random order
    const slots = Array.from({ length: USER_ADDRESSES }, (_, i) => i);
    for (let i = 0; i < count; i++) {
      const j = i + Math.floor(random() * (USER_ADDRESSES - i));
      [slots[i], slots[j]] = [slots[j]!, slots[i]!];
    }
    this.users = Object.freeze(Array.from({ length: count }, (_, i) => new SimulatedUser(i, userAddress(slots[i]!, 1 + Math.floor(random() * 254)), options.caPem)));
  }

  /** User i. */
  at(i: number): SimulatedUser {
    const user = this.users[i];
    if (!user) throw new LbdrillError('LBDRILL_ERR_INTERNAL', `simulated users: no user ${i} of ${this.users.length}`);
    return user;
  }

  /** User i's address: the `localAddress` of WebSocket client i of a fleet. */
  readonly addressOf = (i: number): string => this.at(i).address;

  async close(): Promise<void> {
    await Promise.allSettled(this.users.map((u) => u.close()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
