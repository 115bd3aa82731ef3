import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import type { CheckContext } from './check.ts';

/** Slowest acceptable rate for a large transfer through a loopback LB; below it the transfer is cut. */
export const MIN_TRANSFER_BYTES_PER_SEC = 8 * 1024 * 1024;
/** Deadline floor for any transfer. */
const MIN_DEADLINE_MS = 30_000;

export const MiB = 1024 * 1024;

export function transferDeadlineMs(bytes: number): number {
  return Math.max(MIN_DEADLINE_MS, Math.ceil((bytes / MIN_TRANSFER_BYTES_PER_SEC) * 1000));
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * MiB) return `${(bytes / (1024 * MiB)).toFixed(bytes % (1024 * MiB) === 0 ? 0 : 1)} GiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(bytes % MiB === 0 ? 0 : 1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${bytes} B`;
}

/** A counter that reports progress about twice a second. */
export function progressCounter(ctx: CheckContext, verb: string, totalBytes: number): (bytes: number) => void {
  let seen = 0;
  let last = 0;
  return (bytes) => {
    seen += bytes;
    const now = performance.now();
    if (now - last > 500) {
      last = now;
      ctx.progress(`${verb} ${formatBytes(seen)} / ${formatBytes(totalBytes)}`);
    }
  };
}

/** Passes bytes through, reporting progress about twice a second. */
export function progressMeter(ctx: CheckContext, verb: string, totalBytes: number): Transform {
  const count = progressCounter(ctx, verb, totalBytes);
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      count(chunk.length);
      done(null, chunk);
    },
  });
}

/** Consumes a body, returning its length, sha256 and when the first `markBytes` had arrived. */
export async function digestBody(
  body: AsyncIterable<Buffer | string>,
  markBytes = 1,
  onBytes: (bytes: number) => void = () => undefined,
): Promise<{ bytes: number; sha256: string; markAtMs: number | undefined }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let markAtMs: number | undefined;
  for await (const chunk of body) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    hash.update(buf);
    bytes += buf.length;
    onBytes(buf.length);
    if (markAtMs === undefined && bytes >= markBytes) markAtMs = performance.timeOrigin + performance.now();
  }
  return { bytes, sha256: hash.digest('hex'), markAtMs };
}

/**
 * A request body that sends `parts` in order, waiting for `gates[i]` (if any) before
 * part i. Lets a check pause an upload mid-body and resume on an event.
 */
export function gatedBody(parts: Buffer[], gates: Array<Promise<void> | undefined>): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    for (let i = 0; i < parts.length; i++) {
      const gate = gates[i];
      if (gate) await gate;
      yield parts[i]!;
    }
  }
  return Readable.from(generate(), { objectMode: false });
}

/** A resolvable promise. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
