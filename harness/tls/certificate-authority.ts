import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

// ECDSA P-256: every proxy under test accepts it and key generation takes milliseconds.
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const VALIDITY_MS = 2 * 24 * 3600 * 1000;

/** A server certificate issued by the run's CA, as PEM strings. */
export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  names: string[];
}

/** Files of an issued certificate written to disk, in the shapes the proxies want. */
export interface CertificateFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** certificate followed by key, for HAProxy's `crt`. */
  pemFile: string;
}

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64.replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(12))).toString('hex').replace(/^[89a-f]/, '1');
}

/**
 * lbdrill's own certificate authority, made fresh for every run. Its client trusts
 * exactly this CA, so a target that terminates TLS with anything else fails the check.
 */
export class CertificateAuthority {
  readonly certPem: string;
  readonly #keys: CryptoKeyPair;
  readonly #cert: x509.X509Certificate;
  readonly #validityMs: number;

  private constructor(cert: x509.X509Certificate, keys: CryptoKeyPair, validityMs: number) {
    this.#cert = cert;
    this.#keys = keys;
    this.#validityMs = validityMs;
    this.certPem = cert.toString('pem') + '\n';
  }

  /** A new CA; it and the certificates it issues are valid for `validityMs` (a run's two days by default). */
  static async create(commonName = 'lbdrill test CA', validityMs = VALIDITY_MS): Promise<CertificateAuthority> {
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=${commonName}, O=lbdrill`,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + validityMs),
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(cert, keys, validityMs);
  }

  /** Issues a server certificate for DNS names and IP addresses (first name becomes the CN). */
  async issue(names: readonly string[]): Promise<IssuedCertificate> {
    const unique = [...new Set(names.length > 0 ? names : ['localhost'])];
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${unique[0]}`,
      issuer: this.#cert.subject,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + this.#validityMs),
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: this.#keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(
          unique.map((name) => (isIP(name) ? { type: 'ip' as const, value: name } : { type: 'dns' as const, value: name })),
        ),
        await x509.AuthorityKeyIdentifierExtension.create(this.#keys.publicKey),
      ],
    });
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
    return { certPem: cert.toString('pem') + '\n', keyPem: toPem(pkcs8, 'PRIVATE KEY'), names: unique };
  }

  /** Issues a certificate and writes ca.pem, server.crt, server.key and server.pem into dir. */
  async issueFiles(dir: string, names: readonly string[]): Promise<CertificateFiles> {
    const issued = await this.issue(names);
    const files: CertificateFiles = {
      caFile: join(dir, 'ca.pem'),
      certFile: join(dir, 'server.crt'),
      keyFile: join(dir, 'server.key'),
      pemFile: join(dir, 'server.pem'),
    };
    await Promise.all([
      writeFile(files.caFile, this.certPem),
      writeFile(files.certFile, issued.certPem),
      writeFile(files.keyFile, issued.keyPem, { mode: 0o600 }),
      writeFile(files.pemFile, issued.certPem + issued.keyPem, { mode: 0o600 }),
    ]);
    return files;
  }
}
