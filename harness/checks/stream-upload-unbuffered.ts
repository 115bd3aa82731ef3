import { createHash } from 'node:crypto';
import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { deferred, formatBytes, gatedBody, MiB } from './transfer.ts';
import { contractPool } from '../contracts/pools.ts';

/** What the client sends before it pauses. */
const FIRST_PART_BYTES = 1 * MiB;
/** What it sends after the backend has shown it holds bytes (or the budget ran out). */
const SECOND_PART_BYTES = 1 * MiB;
/** The backend must hold bytes of the body within this long while the client waits. */
export const UPLOAD_HOLD_BUDGET_MS = 3000;
/**
 * Any byte held counts: a bounded prefetch (Apache reads 16 KiB before choosing how to
 * forward) is not buffering; spooling the whole body holds nothing until the end.
 */
const MIN_HELD_BYTES = 1;

function part(size: number, fill: number): Buffer {
  return Buffer.alloc(size, fill);
}

/** The LB forwards request body bytes as they arrive instead of spooling the whole body. */
export const streamUploadUnbuffered: Check = {
  id: 'stream.upload-unbuffered',
  title: 'request body streamed to the backend, not spooled',
  severity: 'must',
  needs: ['streaming'],
  needsPool: true,
  async run(ctx) {
    const expected = `backend holds body bytes within ${UPLOAD_HOLD_BUDGET_MS / 1000} s while the client pauses after ${formatBytes(FIRST_PART_BYTES)}`;
    const id = ctx.nextId();
    const parts = [part(FIRST_PART_BYTES, 0x61), part(SECOND_PART_BYTES, 0x62)];
    const sha = createHash('sha256').update(parts[0]!).update(parts[1]!).digest('hex');
    const resume = deferred();
    const total = FIRST_PART_BYTES + SECOND_PART_BYTES;
    const sentAt = performance.timeOrigin + performance.now();
    const response = ctx.client.send(ctx.app, {
      method: 'PUT',
      path: `${contractPool(ctx).pathPrefix}blobs/lbdrill-upload-unbuffered`,
      headers: ctx.tag(id, { 'content-type': 'application/octet-stream', 'content-length': String(total) }),
      body: gatedBody(parts, [undefined, resume.promise]),
      timeoutMs: 30_000,
    });
    const held = await ctx.waitBodyBytes(id, MIN_HELD_BYTES, UPLOAD_HOLD_BUDGET_MS);
    const heldBytes = held?.bodyBytes ?? 0;
    const heldAfterMs = held?.firstBodyByteAtMs !== undefined ? Math.round(held.firstBodyByteAtMs - sentAt) : null;
    resume.resolve();
    const res = await response;
    const got = ctx.received(id);
    const evidence = {
      pausedAfterBytes: FIRST_PART_BYTES,
      heldBytesAtBudget: heldBytes,
      firstByteAtBackendMs: heldAfterMs,
      status: res.status ?? res.error?.kind,
      finalBackendBytes: got?.bodyBytes ?? null,
      sha256Match: got?.bodySha256 === sha,
    };
    if (!held) {
      return fail(expected, `backend held 0 bytes after ${UPLOAD_HOLD_BUDGET_MS / 1000} s while the client waited; the LB spools the body`, evidence);
    }
    if (res.status === undefined || res.status >= 300 || got?.bodySha256 !== sha) {
      return fail(expected, `bytes streamed, but the upload did not complete intact (status ${evidence.status}, backend got ${formatBytes(got?.bodyBytes ?? 0)})`, evidence);
    }
    return pass(expected, `backend got its first body byte ${heldAfterMs} ms after the request began, while the client waited; upload completed intact`, evidence);
  },
};
