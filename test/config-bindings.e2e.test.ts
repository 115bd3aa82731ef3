import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runLbdrill } from './run-lbdrill.ts';

/**
 * Faults aim at what the config's own health check asks for, and evidence says where a verdict
 * comes from. Each config here is a one-line variant of a committed one, written to a temp dir.
 */
const dir = mkdtempSync(join(tmpdir(), 'lbdrill-bindings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FAST = ['--time-scale', '0.1'];

function variant(name: string, from: string, replace: string, by: string): string {
  const text = readFileSync(join(ROOT, from), 'utf8');
  expect(text).toContain(replace);
  const file = join(dir, name);
  writeFileSync(file, text.replace(replace, by));
  return file;
}

describe("the health fault hits the config's own check", () => {
  it('HAProxy checking HEAD /login.php: a server failing that check is marked down and its sessions cut', async () => {
    const config = variant('head-check.cfg', 'fixtures/configs/operator/haproxy.cfg', 'option httpchk GET /api/v1/health', 'option httpchk HEAD /login.php');
    const run = await runLbdrill(['run', '--profile', 'haproxy-role', '--target', `haproxy=${config}`, '--only', 'failover.shutdown-sessions', ...FAST]);
    expect(run.report, run.stderr).toBeDefined();
    expect(run.report!.targets[0]!.bindings.find((b) => b.what === 'health check of api_pool')?.value).toMatch(/^HEAD \/login\.php every 5000 ms/);
    const r = run.report!.results[0]!;
    expect(r.status, r.observed).toBe('pass');
  }, 120_000);

  it('HAProxy checking GET / without passive ejection: errors on live traffic leave the check alone, so nothing ejects the server', async () => {
    const config = variant('root-check.cfg', 'fixtures/configs/operator/haproxy.cfg', 'option httpchk GET /api/v1/health', 'option httpchk GET /');
    const run = await runLbdrill(['run', '--profile', 'haproxy-role', '--target', `haproxy=${config}`, '--only', 'health.passive-ejection', ...FAST]);
    expect(run.report, run.stderr).toBeDefined();
    const r = run.report!.results[0]!;
    expect(r.status, r.observed).toBe('fail');
    expect(r.observed).toMatch(/kept receiving application requests/);
  }, 120_000);
});

describe('tls.terminate says where the refusal of TLS 1.0/1.1 comes from', () => {
  it("the bundled nginx config states no versions: the TLS library's defaults, named", async () => {
    const run = await runLbdrill(['run', '--profile', 'shakenfist-api', '--target', 'nginx', '--only', 'tls.terminate']);
    const r = run.report!.results[0]!;
    expect(r.status, r.observed).toBe('pass');
    expect(r.observed).toMatch(/refused by OpenSSL [\d.]+.*'s defaults: the config states no protocol versions/);
  }, 60_000);

  it('a config stating ssl_protocols: the config, with its line', async () => {
    const config = variant('protocols.conf', 'fixtures/configs/shakenfist-api/nginx.conf', '    ssl_certificate     /etc/ssl/certs/sf.example.com.crt;', '    ssl_certificate     /etc/ssl/certs/sf.example.com.crt; ssl_protocols TLSv1.2 TLSv1.3;');
    const run = await runLbdrill(['run', '--profile', 'shakenfist-api', '--target', `nginx=${config}`, '--only', 'tls.terminate']);
    const r = run.report!.results[0]!;
    expect(r.status, r.observed).toBe('pass');
    expect(r.observed).toMatch(/refused by the config: `ssl_protocols TLSv1\.2 TLSv1\.3;` \(line 23\)/);
  }, 60_000);
});
