/**
 * The compose topology's `certs` service: a CA and HAProxy's certificate for the names the game
 * day reaches it by, written where the haproxy service and the deployment file read them.
 *   node --import tsx examples/seed-001/make-certs.ts DIR
 * Writes DIR/ca.pem (the deployment file's `lb.ca`) and DIR/haproxy.pem (certificate + key,
 * HAProxy's `crt`). A pair still valid for a week is kept: HAProxy may already have started with it.
 */
import { X509Certificate } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CertificateAuthority } from '../../harness/tls/certificate-authority.ts';

const NAMES = ['localhost', '127.0.0.1', 'haproxy'];
const VALIDITY_MS = 90 * 24 * 3600_000;
const KEEP_IF_VALID_FOR_MS = 7 * 24 * 3600_000;

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: make-certs.ts DIR\n');
  process.exit(2);
}

async function validUntil(file: string): Promise<number> {
  try {
    return Date.parse(new X509Certificate(await readFile(file)).validTo);
  } catch {
    return 0;
  }
}

const [caUntil, serverUntil] = await Promise.all([validUntil(join(dir, 'ca.pem')), validUntil(join(dir, 'haproxy.pem'))]);
if (Math.min(caUntil, serverUntil) > Date.now() + KEEP_IF_VALID_FOR_MS) {
  process.stdout.write(`kept the CA and certificate in ${dir} (valid until ${new Date(serverUntil).toISOString()})\n`);
} else {
  const ca = await CertificateAuthority.create('lbdrill seed-001 game-day CA', VALIDITY_MS);
  const issued = await ca.issue(NAMES);
  await writeFile(join(dir, 'ca.pem'), ca.certPem);
  // HAProxy waits for haproxy.pem: it appears whole (rename), never half written.
  const temp = join(dir, '.haproxy.pem.tmp');
  await writeFile(temp, issued.certPem + issued.keyPem, { mode: 0o600 });
  await rename(temp, join(dir, 'haproxy.pem'));
  process.stdout.write(`new CA and certificate for ${NAMES.join(', ')} in ${dir}\n`);
}
