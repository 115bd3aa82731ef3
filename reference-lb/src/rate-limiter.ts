import type { IncomingMessage } from 'node:http';
import type { RateLimitConfig } from './config-schema.ts';

/** Keys whose bucket has drained are forgotten once there are more than this many (nginx evicts from its zone the same way). */
const SWEEP_ABOVE_KEYS = 1024;
/** ... but not more often than this. */
const SWEEP_EVERY_MS = 1000;
/** Hard cap on remembered keys: beyond it the oldest are dropped (like a full nginx zone). */
const MAX_KEYS = 1_000_000;

/** Prefix of an IPv4 client on a dual-stack listener (RFC 4291 §2.5.5.2). */
const V4_MAPPED = '::ffff:';

/** One key's state: `excess` in thousandths of a request, `last` in whole ms. */
interface Bucket {
  excess: number;
  last: number;
}

/** What `admit` decided: go now (0), go after this many ms (> 0), or refuse (-1). */
export const REFUSE = -1;

/** Where the key comes from. */
type KeySource = { kind: 'client_ip' } | { kind: 'header'; name: string };

/** Parses a rate limit `key`: `client_ip` or `header:<name>`; undefined when malformed. */
export function parseRateLimitKey(text: string): KeySource | undefined {
  if (text === 'client_ip') return { kind: 'client_ip' };
  const m = /^header:([!#$%&'*+\-.^_`|~0-9A-Za-z]+)$/.exec(text);
  return m ? { kind: 'header', name: (m[1] as string).toLowerCase() } : undefined;
}

/**
 * nginx's `limit_req` (ngx_http_limit_req_module), to the millisecond and the thousandth
 * of a request: each key has an `excess` that drains at `rate` and grows by one request
 * per admitted request. A request arriving `ms` after the key's last update computes
 * `excess = max(0, excess - rate * ms / 1000 + 1)`; above `burst` it is refused (and the
 * state is left alone), otherwise it is admitted and the state updated (`last` only when
 * `ms > 0`, as nginx). A key seen for the first time starts at excess 0. So after a quiet
 * spell a client may send `burst + 1` requests at once, and a client that keeps to `rate`
 * is never refused. With `nodelay` every admitted request goes at once; without, a
 * request with excess is held for `excess / rate` seconds (nginx's default, `delay=0`).
 * State is per process (with `workers: N`, per worker).
 */
export class RateLimiter {
  /** Status of a refused request (nginx `limit_req_status`, default 503). */
  readonly status: number;
  /** Requests per second x 1000 (nginx keeps the rate in these units too). */
  private readonly rate: number;
  /** burst x 1000. */
  private readonly burst: number;
  private readonly nodelay: boolean;
  private readonly key: KeySource;
  private readonly now: () => number;
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  /** `now` returns milliseconds on a monotonic clock (tests inject a fake one). */
  constructor(config: RateLimitConfig, now: () => number = () => performance.now()) {
    this.rate = Math.round(config.rate_per_sec * 1000);
    this.burst = config.burst * 1000;
    this.nodelay = config.nodelay;
    this.status = config.status;
    this.key = parseRateLimitKey(config.key) ?? { kind: 'client_ip' };
    this.now = now;
  }

  /** Decides for one request: 0 admit now, > 0 admit after that many ms, REFUSE. Requests without a key are not limited (as nginx). */
  admit(req: IncomingMessage): number {
    const key = this.keyOf(req);
    return key === undefined || key === '' ? 0 : this.admitKey(key);
  }

  /** The same for a key (tests call it directly). */
  admitKey(key: string): number {
    const now = Math.floor(this.now());
    const bucket = this.buckets.get(key);
    if (bucket === undefined) {
      this.remember(key, { excess: 0, last: now }, now);
      return 0;
    }
    let ms = now - bucket.last;
    // nginx's guard against a clock that went backwards.
    if (ms < -60_000) ms = 1;
    else if (ms < 0) ms = 0;
    // C integer arithmetic: rate * ms / 1000 truncates.
    let excess = bucket.excess - Math.trunc((this.rate * ms) / 1000) + 1000;
    if (excess < 0) excess = 0;
    if (excess > this.burst) return REFUSE;
    bucket.excess = excess;
    if (ms !== 0) bucket.last = now;
    if (this.nodelay || excess === 0) return 0;
    return Math.trunc((excess * 1000) / this.rate);
  }

  /** Keys remembered right now. */
  get size(): number {
    return this.buckets.size;
  }

  private keyOf(req: IncomingMessage): string | undefined {
    if (this.key.kind === 'client_ip') {
      const address = req.socket.remoteAddress;
      if (address === undefined) return undefined;
      return address.startsWith(V4_MAPPED) && address.includes('.', V4_MAPPED.length) ? address.slice(V4_MAPPED.length) : address;
    }
    const raw = req.rawHeaders;
    const name = this.key.name;
    for (let i = 0; i < raw.length; i += 2) {
      const field = raw[i] as string;
      if (field.length === name.length && field.toLowerCase() === name) return raw[i + 1];
    }
    return undefined;
  }

  private remember(key: string, bucket: Bucket, now: number): void {
    if (this.buckets.size >= SWEEP_ABOVE_KEYS && now - this.lastSweep >= SWEEP_EVERY_MS) {
      this.lastSweep = now;
      // A key drained a whole request below zero gets excess 0 on its next request, exactly
      // like a new key: forgetting it changes no decision.
      for (const [k, b] of this.buckets) if (b.excess - (this.rate * (now - b.last)) / 1000 <= -1000) this.buckets.delete(k);
    }
    if (this.buckets.size >= MAX_KEYS) this.buckets.delete(this.buckets.keys().next().value as string);
    this.buckets.set(key, bucket);
  }
}
