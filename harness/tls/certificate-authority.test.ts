import { createServer } from 'node:https';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from './certificate-authority.ts';

function get(port: number, servername: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, servername, ca, path: '/', headers: { host: servername } }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('CertificateAuthority', () => {
  it('issues a server certificate its own CA verifies, and nothing else trusts', async () => {
    const ca = await CertificateAuthority.create();
    const other = await CertificateAuthority.create('someone else');
    const cert = await ca.issue(['sf.example.com', '127.0.0.1']);
    const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      expect(await get(port, 'sf.example.com', ca.certPem)).toBe('200');
      await expect(get(port, 'sf.example.com', other.certPem)).rejects.toThrow(/certificate/i);
      await expect(get(port, 'wrong.example.com', ca.certPem)).rejects.toThrow(/altnames|Hostname/i);
    } finally {
      server.close();
    }
  });
});
