/*
 * Addresses of the test hosts. The test range is an IPv4 /16 that must be unused on this
 * machine; a run claims one /24 block of it (the block's `unreachable` route is the claim),
 * and host i of the run gets the i-th /30 of the block: root side .4i+1, namespace side .4i+2.
 */

/** The private range test hosts live in unless told otherwise; checked to be unused before use. */
export const DEFAULT_TEST_RANGE = '10.251.0.0/16';

/** Hosts that fit one /24 block with one /30 each. */
export const MAX_HOSTS_PER_RUN = 64;

const BLOCKS_PER_RANGE = 256;

/** An IPv4 prefix as a 32-bit network number and a length. */
export interface Ipv4Prefix {
  network: number;
  length: number;
}

/** Both ends of one host's /30. */
export interface HostAddresses {
  /** the /30 itself, "10.251.7.4/30". */
  subnet: string;
  /** root namespace side of the veth: where backends listen. */
  rootAddress: string;
  /** namespace side of the veth: what the load balancer connects to. */
  hostAddress: string;
}

export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** Parses "a.b.c.d/n", "a.b.c.d" (a /32) or iproute2's "default" (0.0.0.0/0). */
export function parsePrefix(text: string): Ipv4Prefix | undefined {
  if (text === 'default') return { network: 0, length: 0 };
  const [address, lengthText, ...rest] = text.split('/');
  if (address === undefined || rest.length > 0) return undefined;
  const value = parseIpv4(address);
  const length = lengthText === undefined ? 32 : /^\d{1,2}$/.test(lengthText) ? Number(lengthText) : NaN;
  if (value === undefined || !(length >= 0 && length <= 32)) return undefined;
  return { network: value - (value % 2 ** (32 - length)), length };
}

/** True when the two prefixes share at least one address. */
export function overlaps(a: Ipv4Prefix, b: Ipv4Prefix): boolean {
  const shorter = Math.min(a.length, b.length);
  const size = 2 ** (32 - shorter);
  return Math.floor(a.network / size) === Math.floor(b.network / size);
}

/** True when `inner` lies entirely inside `outer`. */
export function contains(outer: Ipv4Prefix, inner: Ipv4Prefix): boolean {
  return inner.length >= outer.length && overlaps(outer, inner);
}

/** The address plan of one test range. */
export class AddressPlan {
  readonly range: Ipv4Prefix;
  readonly rangeText: string;

  constructor(testRange: string = DEFAULT_TEST_RANGE) {
    const range = parsePrefix(testRange);
    if (!range || range.length !== 16 || parseIpv4(testRange.split('/')[0] ?? '') !== range.network) {
      throw new Error(`testRange: expected an IPv4 /16 such as ${DEFAULT_TEST_RANGE}, got "${testRange}"`);
    }
    if (!isPrivate(range)) throw new Error(`testRange: ${testRange} is not inside a private (RFC 1918) range`);
    this.range = range;
    this.rangeText = `${formatIpv4(range.network)}/16`;
  }

  /** Block numbers to try, starting at `seed` so concurrent runs rarely contend for one. */
  blockOrder(seed: number): number[] {
    const start = ((seed % BLOCKS_PER_RANGE) + BLOCKS_PER_RANGE) % BLOCKS_PER_RANGE;
    return Array.from({ length: BLOCKS_PER_RANGE }, (_, k) => (start + k) % BLOCKS_PER_RANGE);
  }

  /** "10.251.7.0/24" for block 7. */
  block(block: number): string {
    return `${formatIpv4(this.range.network + block * 256)}/24`;
  }

  host(block: number, index: number): HostAddresses {
    if (!Number.isInteger(index) || index < 0 || index >= MAX_HOSTS_PER_RUN) throw new RangeError(`host index ${index} out of range`);
    const base = this.range.network + block * 256 + index * 4;
    return { subnet: `${formatIpv4(base)}/30`, rootAddress: formatIpv4(base + 1), hostAddress: formatIpv4(base + 2) };
  }
}

const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].map((p) => parsePrefix(p) as Ipv4Prefix);

function isPrivate(prefix: Ipv4Prefix): boolean {
  return PRIVATE_RANGES.some((range) => contains(range, prefix));
}
