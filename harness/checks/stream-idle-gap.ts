import { createHash } from 'node:crypto';
import { classifyError } from '../client/lb-client.ts';
import type { Check, CheckContext } from './check.ts';
import { fail, pass } from './check.ts';
import { delay, formatBytes, gatedBody } from './transfer.ts';
import { contractPool } from '../contracts/pools.ts';

const PART_BYTES = 64 * 1024;
/** Time allowed beyond the gap itself for each transfer to finish. */
const SLACK_MS = 30_000;

interface Leg {
  direction: 'download' | 'upload';
  ok: boolean;
  detail: string;
}

/** The backend sends a chunk, stays silent for the gap, then finishes the response. */
async function downloadLeg(ctx: CheckContext, gapMs: number): Promise<Leg> {
  const id = ctx.nextId();
  const started = performance.now();
  try {
    const res = await ctx.client.open(ctx.app, {
      path: `${contractPool(ctx).pathPrefix}blobs/lbdrill-idle-download`,
      headers: ctx.tag(id, { 'x-lbdrill-first-chunk': '1024', 'x-lbdrill-pause-ms': String(gapMs), 'x-lbdrill-rest': '1024' }),
      timeoutMs: gapMs + SLACK_MS,
    });
    let bytes = 0;
    for await (const chunk of res.body) bytes += (chunk as Buffer).length;
    const ok = res.statusCode < 300 && bytes === 2048;
    return { direction: 'download', ok, detail: `status ${res.statusCode}, ${bytes} of 2048 B after ${((performance.now() - started) / 1000).toFixed(1)} s` };
  } catch (err) {
    const e = classifyError(err);
    return { direction: 'download', ok: false, detail: `cut after ${((performance.now() - started) / 1000).toFixed(1)} s (${e.kind})` };
  }
}

/** The client sends part of the body, stays silent for the gap, then sends the rest. */
async function uploadLeg(ctx: CheckContext, gapMs: number): Promise<Leg> {
  const id = ctx.nextId();
  const parts = [Buffer.alloc(PART_BYTES, 0x41), Buffer.alloc(PART_BYTES, 0x42)];
  const sha = createHash('sha256').update(parts[0]!).update(parts[1]!).digest('hex');
  const started = performance.now();
  const res = await ctx.client.send(ctx.app, {
    method: 'PUT',
    path: `${contractPool(ctx).pathPrefix}blobs/lbdrill-idle-upload`,
    headers: ctx.tag(id, { 'content-type': 'application/octet-stream', 'content-length': String(2 * PART_BYTES) }),
    body: gatedBody(parts, [undefined, delay(gapMs)]),
    timeoutMs: gapMs + SLACK_MS,
  });
  const got = ctx.received(id);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const ok = res.status !== undefined && res.status < 300 && got?.bodySha256 === sha;
  const answer = res.status ?? res.error?.kind;
  return { direction: 'upload', ok, detail: `status ${answer}, backend got ${formatBytes(got?.bodyBytes ?? 0)} of ${formatBytes(2 * PART_BYTES)} after ${seconds} s` };
}

/** Transfers with a silent gap longer than common proxy timeouts complete, in both directions. */
export const streamIdleGap: Check = {
  id: 'stream.idle-gap',
  title: 'transfers with a long silent gap complete',
  severity: 'must',
  needs: ['streaming'],
  needsPool: true,
  background: true,
  async run(ctx) {
    const gapMs = ctx.settings.idleGapMs;
    const expected = `a download and an upload, each silent for ${gapMs / 1000} s mid-transfer, complete intact`;
    ctx.progress(`waiting out a ${gapMs / 1000} s silent gap in both directions`);
    const legs = await Promise.all([downloadLeg(ctx, gapMs), uploadLeg(ctx, gapMs)]);
    const evidence = { gapMs, legs };
    const broken = legs.filter((l) => !l.ok);
    if (broken.length === 0) return pass(expected, legs.map((l) => `${l.direction}: ${l.detail}`).join('; '), evidence);
    return fail(expected, broken.map((l) => `${l.direction} ${l.detail}`).join('; '), evidence);
  },
};
