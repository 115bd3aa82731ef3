/** Reconnect delays of a client: initialMs, doubling up to maxMs, each shortened by a seeded jitter. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Growth per failed attempt; default 2. */
  multiplier?: number;
  /**
   * Share of each delay that is random (0..1, default 0.5): the delay is drawn from
   * [base × (1 − jitter), base], so a fleet cut at once does not come back in lockstep.
   */
  jitter?: number;
}

/** Throws a RangeError naming the first bad field. */
export function checkBackoff(opts: BackoffOptions): void {
  if (!Number.isFinite(opts.initialMs) || opts.initialMs < 0) throw new RangeError(`backoff.initialMs must be >= 0, got ${opts.initialMs}`);
  if (!Number.isFinite(opts.maxMs) || opts.maxMs < opts.initialMs) throw new RangeError(`backoff.maxMs must be >= initialMs, got ${opts.maxMs}`);
  const m = opts.multiplier ?? 2;
  if (!Number.isFinite(m) || m < 1) throw new RangeError(`backoff.multiplier must be >= 1, got ${m}`);
  const j = opts.jitter ?? 0.5;
  if (!(j >= 0 && j <= 1)) throw new RangeError(`backoff.jitter must be in 0..1, got ${j}`);
}

/** Capped exponential backoff with seeded jitter. */
export class ExponentialBackoff {
  readonly #opts: Required<BackoffOptions>;
  readonly #random: () => number;

  constructor(opts: BackoffOptions, random: () => number) {
    checkBackoff(opts);
    this.#opts = { multiplier: 2, jitter: 0.5, ...opts };
    this.#random = random;
  }

  /** Delay before attempt number `attempt` (0 = the first retry after a cut or failure). */
  delayMs(attempt: number): number {
    const { initialMs, maxMs, multiplier, jitter } = this.#opts;
    // Past ~64 doublings the base is maxMs anyway; the cap keeps the power finite.
    const base = Math.min(maxMs, initialMs * multiplier ** Math.min(Math.max(0, attempt), 64));
    return Math.round(base * (1 - jitter * this.#random()));
  }
}
