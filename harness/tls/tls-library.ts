import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

let cached: Promise<string> | undefined;

/** "OpenSSL 3.0.17 1 Jul 2025": the system TLS library the proxies link, named in evidence where its defaults decide. */
export function systemTlsLibrary(): Promise<string> {
  cached ??= promisify(execFile)('openssl', ['version'], { timeout: 5_000 }).then(
    (r) => r.stdout.trim().replace(/ \(Library: .*\)$/, '') || 'the system TLS library',
    () => 'the system TLS library',
  );
  return cached;
}
