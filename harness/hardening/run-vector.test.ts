import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type StartedBackend } from '../../fixtures/backend/index.ts';
import { FaultProxy } from '../faults/fault-proxy.ts';
import { runVector } from './run-vector.ts';
import { VECTORS } from './vectors.ts';

/** This file's loopback address; other suites use other 127.x.y.z. */
const HOST = '127.0.141.1';

/** Safe even relayed: the backend closes after an HTTP/1.0 request, which is all RFC 9112 §6.1 asks of TE-1.0. */
const SAFE_WHEN_RELAYED = new Set(['TE-1.0']);

/**
 * The judge against an LB that does not parse HTTP at all: a layer-4 relay (lbdrill's TCP fault
 * proxy with no toxic) in front of a real backend. Every vector's bytes reach the backend as
 * sent, so every vector must fail, with the bytes quoted: the checks can fail, also those no
 * proxy configuration here can break (smuggling.cl-te, smuggling.duplicate-cl).
 */
describe('runVector through a layer-4 relay', () => {
  let backend: StartedBackend;
  let relay: FaultProxy;
  beforeAll(async () => {
    backend = await startBackend({ id: 'relayed', host: HOST, port: 0 });
    backend.recordRawBytes(true);
    relay = await FaultProxy.start({ listenHost: HOST, upstreamHost: HOST, upstreamPort: backend.port, name: 'relayed' });
  });
  afterAll(async () => {
    await relay[Symbol.asyncDispose]();
    await backend.close();
  });

  let n = 0;
  for (const vector of VECTORS) {
    const want = SAFE_WHEN_RELAYED.has(vector.id) ? 'pass' : 'fail';
    it(`${vector.id}: ${want}, quoting what reached the backend`, async () => {
      const target = { endpoint: { host: HOST, port: relay.port, tls: false, serverName: 'www.example.com' }, backends: [backend], prefix: '/api/', nextId: () => `relay-${++n}` };
      const result = await runVector(target, vector, 'www.example.com');
      expect(result.verdict, result.reason).toBe(want);
      expect(result.reachedBackend).toContain(`/api/hardening/${vector.id}/`);
    }, 30_000);
  }
});
