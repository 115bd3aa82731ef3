import { describe, expect, it } from 'vitest';
import type { ClientLimits } from '../targets/config-plan.ts';
import { effectiveLimit, limitBindings, limitsFor } from './limits.ts';

const contract = limitsFor({ header_timeout: '10s', body_timeout: '10s', header_bytes: 16_384, tolerance: '1500ms', encoded_slash: 'any-safe' });
const limits: ClientLimits = {
  headerTimeoutMs: { value: 60_000, at: { text: 'client_header_timeout 60s;', line: 22 }, source: 'client_header_timeout 60s' },
  bodyTimeoutMs: { value: null, source: 'no timeout client: HAProxy waits forever' },
  headerBytes: { value: 8192, scope: 'field', source: 'nginx default: large_client_header_buffers 4 8k' },
};

describe('the limits contract', () => {
  it('holds the LB to the config when it is stricter, to the profile when the config allows more or sets nothing', () => {
    expect(effectiveLimit({ value: 5000, source: '' }, contract.headerTimeoutMaxMs)).toEqual({ value: 5000, capped: false });
    expect(effectiveLimit(limits.headerTimeoutMs, contract.headerTimeoutMaxMs)).toEqual({ value: 10_000, capped: true });
    expect(effectiveLimit(limits.bodyTimeoutMs, contract.bodyTimeoutMaxMs)).toEqual({ value: 10_000, capped: true });
  });

  it('binds each limit to its line, or to the file with the default named, and says when it is above the profile', () => {
    expect(limitBindings(limits, contract, '/x/nginx.conf')).toEqual([
      { what: 'header read timeout', value: "60 s (client_header_timeout 60s), above the profile's 10 s", from: 'config', file: '/x/nginx.conf', line: 22 },
      { what: 'body read timeout', value: "none (no timeout client: HAProxy waits forever), above the profile's 10 s", from: 'config', file: '/x/nginx.conf', detail: "not set: the proxy's default" },
      { what: 'header size limit', value: '8192 B (nginx default: large_client_header_buffers 4 8k) per header line', from: 'config', file: '/x/nginx.conf', detail: "not set: the proxy's default" },
    ]);
    expect(limitBindings(undefined, contract, '/x/nginx.conf')).toEqual([]);
  });
});
