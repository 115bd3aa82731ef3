import { connect, type PeerCertificate } from 'node:tls';
import type { Endpoint } from '../client/lb-client.ts';
import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { probeBackendRequest } from './header-probe.ts';

const HANDSHAKE_TIMEOUT_MS = 5000;

interface Handshake {
  protocol: string | null;
  cipher: string;
  subject: string;
  subjectAltName: string | undefined;
  issuer: string;
}

/** A TLS handshake that trusts lbdrill's CA only and verifies the server name. */
function handshake(endpoint: Endpoint, ca: string): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: endpoint.host, port: endpoint.port, servername: endpoint.serverName, ca, timeout: HANDSHAKE_TIMEOUT_MS });
    socket.once('secureConnect', () => {
      const cert: PeerCertificate = socket.getPeerCertificate();
      resolve({
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().name,
        subject: String(cert.subject?.CN ?? ''),
        subjectAltName: cert.subjectaltname,
        issuer: String(cert.issuer?.CN ?? ''),
      });
      socket.end();
    });
    socket.once('timeout', () => socket.destroy(new Error(`TLS handshake timed out after ${HANDSHAKE_TIMEOUT_MS} ms`)));
    socket.once('error', reject);
  });
}

/** HTTPS to the LB, verified against lbdrill's CA; plain HTTP from the LB to the backend. */
export const tlsTerminate: Check = {
  id: 'tls.terminate',
  title: 'TLS terminated at the LB, plain HTTP to the backend',
  severity: 'must',
  needs: ['tls-termination'],
  async run(ctx) {
    const expected = `TLS handshake for ${ctx.app.serverName} verified by lbdrill's CA, request reaches the plain-HTTP backend`;
    const tlsEndpoint = ctx.endpoints.find((e) => e.tls);
    if (!tlsEndpoint) return fail(expected, 'the config has no TLS listener', { listeners: ctx.endpoints });
    let hs: Handshake;
    try {
      hs = await handshake(tlsEndpoint, ctx.client.caPem);
    } catch (err) {
      return fail(expected, `TLS handshake on port ${tlsEndpoint.originalPort} failed: ${(err as Error).message}`, { port: tlsEndpoint.port });
    }
    const { recorded, status } = await probeBackendRequest(ctx, '/api/tls/terminate');
    const evidence = { ...hs, originalPort: tlsEndpoint.originalPort, status, backendPath: recorded?.rawPath ?? null };
    if (!recorded) return fail(expected, `handshake ok (${hs.protocol}) but the request did not reach a backend (client got ${status})`, evidence);
    return pass(expected, `${hs.protocol} ${hs.cipher}, certificate CN=${hs.subject} issued by ${hs.issuer}; backend got plain HTTP ${recorded.method} ${recorded.rawPath}`, evidence);
  },
};
