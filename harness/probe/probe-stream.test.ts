import { describe, expect, it } from 'vitest';
import type { Endpoint, LbClient, LbResponse } from '../client/lb-client.ts';
import { ProbeStream } from './probe-stream.ts';

const endpoint: Endpoint = { host: '127.0.0.1', port: 1, tls: false, serverName: 'localhost', originalPort: 80 };

/** A client whose answers the test releases by hand. */
function heldClient(): { client: LbClient; release: () => void; sent: () => number } {
  const waiting: Array<(res: LbResponse) => void> = [];
  let sent = 0;
  const client = {
    send: () => {
      sent++;
      return new Promise<LbResponse>((resolve) => waiting.push(resolve));
    },
  } as unknown as LbClient;
  const release = () => {
    for (const resolve of waiting.splice(0)) resolve({ status: 200, headers: { 'x-lbdrill-backend': 'b1' }, text: '', durationMs: 1 });
  };
  return { client, release, sent: () => sent };
}

describe('ProbeStream.answered', () => {
  it('resolves true once every request sent so far has its answer', async () => {
    const { client, release, sent } = heldClient();
    const probe = ProbeStream.start({ client, endpoint, ratePerSec: 1000, path: () => '/p', timeoutMs: 1000 });
    await new Promise((r) => setTimeout(r, 20));
    expect(sent()).toBeGreaterThan(0);
    const answered = probe.answered(5_000);
    release();
    expect(await answered).toBe(true);
    const stopping = probe.stop();
    release();
    await stopping;
  });

  it('gives up with false after its bound when an answer never comes, and sending goes on meanwhile', async () => {
    const { client, release, sent } = heldClient();
    const probe = ProbeStream.start({ client, endpoint, ratePerSec: 1000, path: () => '/p', timeoutMs: 1000 });
    await new Promise((r) => setTimeout(r, 10));
    const before = sent();
    expect(await probe.answered(50)).toBe(false);
    expect(sent()).toBeGreaterThan(before);
    release();
    const stopping = probe.stop();
    release();
    await stopping;
  });
});
