import { payloadSha256 } from '../../fixtures/backend/index.ts';
import { classifyError } from '../client/lb-client.ts';
import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { digestBody, formatBytes, MIN_TRANSFER_BYTES_PER_SEC, progressCounter, transferDeadlineMs } from './transfer.ts';
import { contractPool } from '../contracts/pools.ts';

/** A multi-hundred-MiB download arrives whole at the client (sha256 verified). */
export const streamDownloadLarge: Check = {
  id: 'stream.download-large',
  title: 'large download streams through whole',
  severity: 'must',
  needs: ['streaming'],
  needsPool: true,
  async run(ctx) {
    const size = ctx.settings.largeBytes;
    const deadlineMs = transferDeadlineMs(size);
    const expected = `${formatBytes(size)} GET arrives whole at the client (sha256 match) within ${deadlineMs / 1000} s (>= ${formatBytes(MIN_TRANSFER_BYTES_PER_SEC)}/s)`;
    const id = ctx.nextId();
    const expectedSha = await payloadSha256(size, ctx.seed);
    const started = performance.now();
    let status: number | undefined;
    let digest: { bytes: number; sha256: string } | undefined;
    try {
      const res = await ctx.client.open(ctx.app, {
        path: `${contractPool(ctx).pathPrefix}blobs/lbdrill-download-large`,
        headers: ctx.tag(id, { 'x-lbdrill-download': String(size), 'x-lbdrill-seed': String(ctx.seed) }),
        timeoutMs: deadlineMs,
      });
      status = res.statusCode;
      digest = await digestBody(res.body, 1, progressCounter(ctx, 'downloading', size));
    } catch (err) {
      const e = classifyError(err);
      const seconds = (performance.now() - started) / 1000;
      return fail(expected, `transfer cut after ${seconds.toFixed(1)} s (${e.kind}: ${e.message})`, { sizeBytes: size, status: status ?? null, error: e });
    }
    const seconds = (performance.now() - started) / 1000;
    const evidence = {
      sizeBytes: size,
      status,
      clientBytes: digest.bytes,
      clientSha256: digest.sha256,
      expectedSha256: expectedSha,
      seconds: Number(seconds.toFixed(2)),
      mibPerSec: Number((digest.bytes / (1024 * 1024) / seconds).toFixed(1)),
    };
    if (status >= 300) return fail(expected, `status ${status}`, evidence);
    if (digest.bytes !== size || digest.sha256 !== expectedSha) {
      return fail(expected, `client got ${formatBytes(digest.bytes)} with sha256 ${digest.sha256.slice(0, 12)}, expected ${expectedSha.slice(0, 12)}`, evidence);
    }
    return pass(expected, `${formatBytes(size)} arrived whole in ${seconds.toFixed(1)} s (${evidence.mibPerSec} MiB/s)`, evidence);
  },
};
