import { connect, type PeerCertificate, type SecureVersion } from 'node:tls';
import type { Endpoint } from '../client/lb-client.ts';
import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { probeBackendRequest } from './header-probe.ts';
import { contractPool } from '../contracts/pools.ts';
import { systemTlsLibrary } from '../tls/tls-library.ts';

const HANDSHAKE_TIMEOUT_MS = 5000;

/**
 * Protocol versions the LB must refuse: TLS 1.0 and 1.1 are deprecated (RFC 8996), and seed 004
 * says so in both of its configs (`ssl_protocols TLSv1.2 TLSv1.3`, `no-tlsv10 no-tlsv11`). The client
 * offers each alone, with security level 0 ciphers, so only the LB's own settings can refuse it.
 */
const LEGACY_VERSIONS: readonly SecureVersion[] = ['TLSv1', 'TLSv1.1'];

interface Handshake {
  protocol: string | null;
  cipher: string;
  subject: string;
  subjectAltName: string | undefined;
  issuer: string;
}

/** A TLS handshake that trusts lbdrill's CA only and verifies the server name; `only` offers one legacy version alone. */
function handshake(endpoint: Endpoint, ca: string, only?: SecureVersion): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const legacy = only ? { minVersion: only, maxVersion: only, ciphers: 'DEFAULT@SECLEVEL=0' } : {};
    const socket = connect({ host: endpoint.host, port: endpoint.port, servername: endpoint.serverName, ca, timeout: HANDSHAKE_TIMEOUT_MS, ...legacy });
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

/** Whether the LB completed a handshake offering only `version`, and how it answered. */
async function legacyAccepted(endpoint: Endpoint, ca: string, version: SecureVersion): Promise<{ version: SecureVersion; accepted: boolean; detail: string }> {
  try {
    const hs = await handshake(endpoint, ca, version);
    return { version, accepted: true, detail: `accepted: ${hs.protocol} ${hs.cipher}` };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { version, accepted: false, detail: `refused: ${e.code ?? e.message}` };
  }
}

/** HTTPS to the LB, verified against lbdrill's CA, deprecated versions refused; plain HTTP from the LB to the backend. */
export const tlsTerminate: Check = {
  id: 'tls.terminate',
  title: 'TLS terminated at the LB (TLS 1.0/1.1 refused), plain HTTP to the backend',
  severity: 'must',
  needs: ['tls-termination'],
  needsPool: true,
  async run(ctx) {
    const expected = `TLS handshake for ${ctx.app.serverName} verified by lbdrill's CA, ${LEGACY_VERSIONS.join(' and ')} refused (RFC 8996), request reaches the plain-HTTP backend`;
    const tlsEndpoint = ctx.endpoints.find((e) => e.tls);
    if (!tlsEndpoint) return fail(expected, 'the config has no TLS listener', { listeners: ctx.endpoints });
    let hs: Handshake;
    try {
      hs = await handshake(tlsEndpoint, ctx.client.caPem);
    } catch (err) {
      return fail(expected, `TLS handshake on port ${tlsEndpoint.originalPort} failed: ${(err as Error).message}`, { port: tlsEndpoint.port });
    }
    const legacy = [];
    for (const version of LEGACY_VERSIONS) legacy.push(await legacyAccepted(tlsEndpoint, ctx.client.caPem, version));
    const { recorded, status } = await probeBackendRequest(ctx, `${contractPool(ctx).pathPrefix}tls/terminate`);
    // Credit where it is due: a refusal the config states holds on any host; one that comes from the TLS
    // library's defaults (OpenSSL 3 refuses TLS 1.0/1.1 at security level 1+) holds only where those defaults do.
    const stated = tlsEndpoint.tlsProtocols;
    const refusedBy = stated ? `the config: \`${stated.text}\` (${stated.file ? `${stated.file}:` : 'line '}${stated.line})` : `${await systemTlsLibrary()}'s defaults: the config states no protocol versions, so a host whose TLS library allows TLS 1.0/1.1 would accept them`;
    const evidence = { ...hs, legacy, refusedBy, configStatement: stated ?? null, originalPort: tlsEndpoint.originalPort, status, backendPath: recorded?.rawPath ?? null };
    const accepted = legacy.filter((l) => l.accepted);
    if (accepted.length > 0) return fail(expected, `the LB completes deprecated handshakes: ${accepted.map((l) => `${l.version} ${l.detail}`).join('; ')}`, evidence);
    if (!recorded) return fail(expected, `handshake ok (${hs.protocol}) but the request did not reach a backend (client got ${status})`, evidence);
    // One request shows one server; the config says how the LB speaks to every server of the pool.
    const pool = contractPool(ctx);
    const reencrypted = pool.primaries.concat(pool.backups).find((b) => b.upstream.tls);
    if (recorded.tls || reencrypted) {
      const server = reencrypted?.upstream ?? pool.primaries.find((b) => b.backend.id === recorded.backend)?.upstream;
      const where = server ? ` (${server.name} ${server.address}, ${server.file ? `${server.file}:` : 'line '}${server.line})` : '';
      return fail(expected, `the LB speaks TLS to a server of ${pool.configName}${where}: requests reach it re-encrypted, not as plain HTTP`, { ...evidence, backendTls: recorded.tls });
    }
    return pass(expected, `${hs.protocol} ${hs.cipher}, certificate CN=${hs.subject} issued by ${hs.issuer}; ${legacy.map((l) => `${l.version} ${l.detail}`).join(', ')}, refused by ${refusedBy}; backend got plain HTTP ${recorded.method} ${recorded.rawPath}`, evidence);
  },
};
