import { pipeline } from 'node:stream';
import { payloadSha256, payloadStream } from '../../fixtures/backend/index.ts';
import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { formatBytes, MIN_TRANSFER_BYTES_PER_SEC, progressMeter, transferDeadlineMs } from './transfer.ts';
import { contractPool } from '../contracts/pools.ts';

/** A multi-hundred-MiB upload arrives whole (sha256 verified at the backend), no 413. */
export const streamUploadLarge: Check = {
  id: 'stream.upload-large',
  title: 'large upload streams through whole, no size limit',
  severity: 'must',
  needs: ['streaming'],
  needsPool: true,
  async run(ctx) {
    const size = ctx.settings.largeBytes;
    const deadlineMs = transferDeadlineMs(size);
    const expected = `${formatBytes(size)} PUT arrives whole at the backend (sha256 match), 2xx, within ${deadlineMs / 1000} s (>= ${formatBytes(MIN_TRANSFER_BYTES_PER_SEC)}/s)`;
    const id = ctx.nextId();
    const expectedSha = await payloadSha256(size, ctx.seed);
    const meter = progressMeter(ctx, 'uploading', size);
    const body = pipeline(payloadStream(size, ctx.seed), meter, () => undefined);
    const started = performance.now();
    const res = await ctx.client.send(ctx.app, {
      method: 'PUT',
      path: `${contractPool(ctx).pathPrefix}blobs/lbdrill-upload-large`,
      headers: ctx.tag(id, { 'content-type': 'application/octet-stream', 'content-length': String(size) }),
      body,
      timeoutMs: deadlineMs,
    });
    const seconds = (performance.now() - started) / 1000;
    const got = ctx.received(id);
    const evidence = {
      sizeBytes: size,
      status: res.status ?? null,
      error: res.error ?? null,
      backendBytes: got?.bodyBytes ?? null,
      backendSha256: got?.bodySha256 ?? null,
      expectedSha256: expectedSha,
      seconds: Number(seconds.toFixed(2)),
      mibPerSec: Number((size / (1024 * 1024) / seconds).toFixed(1)),
    };
    if (res.status === 413) return fail(expected, `413 Payload Too Large; backend got ${formatBytes(got?.bodyBytes ?? 0)}`, evidence);
    if (res.status === undefined) return fail(expected, `no response after ${seconds.toFixed(1)} s (${res.error?.kind}: ${res.error?.message}); backend got ${formatBytes(got?.bodyBytes ?? 0)}`, evidence);
    if (res.status >= 300) return fail(expected, `status ${res.status}; backend got ${formatBytes(got?.bodyBytes ?? 0)}`, evidence);
    if (!got || got.bodyBytes !== size || got.bodySha256 !== expectedSha) {
      return fail(expected, `backend got ${formatBytes(got?.bodyBytes ?? 0)} with sha256 ${got?.bodySha256?.slice(0, 12) ?? '-'}, expected ${expectedSha.slice(0, 12)}`, evidence);
    }
    return pass(expected, `${formatBytes(size)} arrived whole in ${seconds.toFixed(1)} s (${evidence.mibPerSec} MiB/s), status ${res.status}`, evidence);
  },
};
