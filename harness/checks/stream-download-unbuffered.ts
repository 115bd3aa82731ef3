import { classifyError } from '../client/lb-client.ts';
import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { contractPool } from '../contracts/pools.ts';

const FIRST_CHUNK_BYTES = 1024;
/** How long the backend pauses after the first chunk: long enough to tell streaming from buffering. */
const PAUSE_MS = 3000;
/** The client must hold the first chunk within this long of the backend sending it. */
export const FIRST_CHUNK_BUDGET_MS = 1000;

/** The LB passes response bytes on as they come instead of buffering the response. */
export const streamDownloadUnbuffered: Check = {
  id: 'stream.download-unbuffered',
  title: 'response streamed to the client, not buffered',
  severity: 'must',
  needs: ['streaming'],
  needsPool: true,
  async run(ctx) {
    const expected = `client holds the backend's first ${FIRST_CHUNK_BYTES} B within ${FIRST_CHUNK_BUDGET_MS} ms while the backend pauses ${PAUSE_MS} ms`;
    const id = ctx.nextId();
    let firstAt: number | undefined;
    let bytes = 0;
    let status: number | undefined;
    try {
      const res = await ctx.client.open(ctx.app, {
        path: `${contractPool(ctx).pathPrefix}blobs/lbdrill-download-unbuffered`,
        headers: ctx.tag(id, { 'x-lbdrill-first-chunk': String(FIRST_CHUNK_BYTES), 'x-lbdrill-pause-ms': String(PAUSE_MS) }),
        timeoutMs: PAUSE_MS + 30_000,
      });
      status = res.statusCode;
      for await (const chunk of res.body) {
        bytes += (chunk as Buffer).length;
        if (firstAt === undefined && bytes >= FIRST_CHUNK_BYTES) firstAt = performance.timeOrigin + performance.now();
      }
    } catch (err) {
      const e = classifyError(err);
      return fail(expected, `response failed: ${e.kind} (${e.message})`, { error: e, bytes });
    }
    const sentAt = ctx.received(id)?.firstChunkSentAtMs;
    const lagMs = firstAt !== undefined && sentAt !== undefined ? Math.round(firstAt - sentAt) : undefined;
    const evidence = { status, totalBytes: bytes, backendPauseMs: PAUSE_MS, firstChunkLagMs: lagMs ?? null };
    if (status === undefined || status >= 300 || sentAt === undefined) return fail(expected, `status ${status}, backend did not stream a response`, evidence);
    if (lagMs === undefined) return fail(expected, `client got only ${bytes} B`, evidence);
    if (lagMs > FIRST_CHUNK_BUDGET_MS) return fail(expected, `first ${FIRST_CHUNK_BYTES} B reached the client ${lagMs} ms after the backend sent it (buffered until the backend resumed)`, evidence);
    return pass(expected, `first ${FIRST_CHUNK_BYTES} B reached the client ${lagMs} ms after the backend sent it`, evidence);
  },
};
