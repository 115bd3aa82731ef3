import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { connect as tlsConnect, type SecureVersion } from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLbError } from './errors.ts';
import { startLoadBalancer, type StartedLoadBalancer } from './start-load-balancer.ts';
import { rawHeader, startTestUpstream, testConfig, type TestUpstream } from './test-upstream.ts';
import { parseConfig } from './parse-config.ts';

describe('TLS termination', () => {
  let dir: string;
  let up: TestUpstream;
  let lb: StartedLoadBalancer;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'reference-lb-tls-'));
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', 'k.pem', '-out', 'c.pem'],
      { cwd: dir, stdio: 'ignore' },
    );
    up = await startTestUpstream();
    // Relative TLS paths resolve against the config file's directory.
    const file = path.join(dir, 'lb.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        upstreams: { sfapi: { keepalive: 4, servers: [{ address: up.address }] } },
        headers: { preserve_host: true, forwarded: true },
        listeners: [{ name: 'https', bind: '127.0.0.1:0', tls: { cert: 'c.pem', key: 'k.pem' }, routes: [{ match: { prefix: '/api/' }, proxy: { upstream: 'sfapi', strip_prefix: '/api' } }] }],
      }),
    );
    lb = await startLoadBalancer(parseConfig(readFileSync(file, 'utf8'), file));
  });

  afterAll(async () => {
    await lb?.close();
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('speaks TLS to the client and plain HTTP to the upstream', async () => {
    const listener = lb.listeners[0]!;
    expect(listener.tls).toBe(true);
    const res = await new Promise<{ status: number; body: string; authorized: boolean }>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: listener.port, path: '/api/auth/namespaces?x=1', servername: 'localhost', ca: readFileSync(path.join(dir, 'c.pem')), agent: false }, (r) => {
          let body = '';
          r.setEncoding('utf8').on('data', (t: string) => (body += t));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body, authorized: (r.socket as import('node:tls').TLSSocket).authorized }));
        })
        .on('error', reject);
    });
    expect(res).toEqual({ status: 200, body: `${up.port} GET /auth/namespaces?x=1`, authorized: true });
    expect(rawHeader(up.requests[0]!.rawHeaders, 'x-forwarded-proto')).toBe('https');
  });

  it('refuses TLS 1.0 and 1.1 by default, and accepts them only with min_version set that low', async () => {
    const offer = (port: number, version: SecureVersion): Promise<string> =>
      new Promise((resolve) => {
        const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(path.join(dir, 'c.pem')), minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' });
        socket.once('secureConnect', () => {
          resolve(String(socket.getProtocol()));
          socket.destroy();
        });
        socket.once('error', (err: NodeJS.ErrnoException) => resolve(`refused ${err.code}`));
      });
    const port = lb.listeners[0]!.port;
    expect([await offer(port, 'TLSv1'), await offer(port, 'TLSv1.1'), await offer(port, 'TLSv1.2')]).toEqual([
      'refused ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
      'refused ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
      'TLSv1.2',
    ]);
    const legacy = await startLoadBalancer(
      testConfig({ listeners: [{ name: 'https', bind: '127.0.0.1:0', tls: { cert: path.join(dir, 'c.pem'), key: path.join(dir, 'k.pem'), min_version: 'TLSv1' }, routes: [{ match: { prefix: '/' }, deny: true }] }] }),
    );
    try {
      expect(await offer(legacy.listeners[0]!.port, 'TLSv1.1')).toBe('TLSv1.1');
    } finally {
      await legacy.close();
    }
  });

  it('fails to start with LB_ERR_TLS naming the field when a key file is missing', async () => {
    const config = testConfig({ listeners: [{ name: 'https', bind: '127.0.0.1:0', tls: { cert: path.join(dir, 'c.pem'), key: '/nonexistent/k.pem' }, routes: [{ match: { prefix: '/' }, deny: true }] }] });
    const err = await startLoadBalancer(config).catch((e: unknown) => e);
    expect(isLbError(err, 'LB_ERR_TLS')).toBe(true);
    expect((err as Error).message).toBe('reference-lb config: listeners[0].tls.key: cannot read "/nonexistent/k.pem": ENOENT');
  });
});
