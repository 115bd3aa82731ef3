import { afterEach, describe, expect, it } from 'vitest';
import { HeaderRules } from './header-rules.ts';
import { startLoadBalancer } from './start-load-balancer.ts';
import { deadAddress, openWs, sendRequest, startTestUpstream, startWsUpstream, testConfig } from './test-upstream.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** Seed 004's security headers (nginx add_header ... / HAProxy http-response set-header ...). */
const SECURITY = {
  set: {
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'X-XSS-Protection': '1; mode=block',
    'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
  },
};

describe('HeaderRules', () => {
  it('removes, then sets, then adds, block after block, case-insensitively', () => {
    const listener = HeaderRules.compile({ set: { 'X-Frame-Options': 'DENY' }, add: { Vary: 'Origin' }, remove: ['Server'] });
    const rules = HeaderRules.compile({ set: { 'x-frame-options': 'SAMEORIGIN' }, add: { 'Cache-Control': ['no-store', 'private'] }, remove: ['vary'] }, listener);
    const headers = ['Server', 'nginx', 'X-Frame-Options', 'ALLOW', 'Vary', 'Accept', 'Set-Cookie', 'a=1', 'x-frame-options', 'other', 'Set-Cookie', 'b=2'];
    rules!.apply(headers);
    expect(headers).toEqual(['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'x-frame-options', 'SAMEORIGIN', 'Cache-Control', 'no-store', 'Cache-Control', 'private']);
  });

  it('compiles to nothing when there is nothing to do', () => {
    expect(HeaderRules.compile(undefined)).toBeUndefined();
    expect(HeaderRules.compile({ set: {}, add: {}, remove: [] })).toBeUndefined();
  });
});

describe('response_headers on a listener and its routes', () => {
  it("puts seed 004's security headers on proxied, local and error responses; a route's rules come after the listener's", async () => {
    const up = await startTestUpstream((req, res) => {
      res.setHeader('X-Frame-Options', 'ALLOWALL');
      res.setHeader('X-Powered-By', 'FastAPI');
      res.end(`ok ${req.url}`);
    });
    cleanups.push(() => up.close());
    const dead = await deadAddress();
    const lb = await startLoadBalancer(
      testConfig({
        upstreams: { api: { servers: [{ address: up.address }] }, gone: { servers: [{ address: dead }] } },
        listeners: [
          {
            name: 'web',
            bind: '127.0.0.1:0',
            response_headers: SECURITY,
            routes: [
              { match: { exact: '/health' }, respond: { status: 200, body: 'healthy\n' } },
              { match: { prefix: '/gone/' }, proxy: { upstream: 'gone' } },
              { match: { prefix: '/static/' }, proxy: { upstream: 'api' }, response_headers: { add: { 'Cache-Control': 'public, immutable' }, remove: ['X-Powered-By', 'Strict-Transport-Security'] } },
              { match: { prefix: '/api/' }, proxy: { upstream: 'api' } },
            ],
          },
        ],
      }),
    );
    cleanups.push(() => lb.close());
    const port = lb.listeners[0]!.port;
    const security = {
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'x-xss-protection': '1; mode=block',
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
    };
    const api = await sendRequest(port, '/api/x');
    expect(api).toMatchObject({ status: 200, body: 'ok /api/x' });
    expect(api.headers).toMatchObject({ ...security, 'x-powered-by': 'FastAPI' });
    // `set` replaced the upstream's own X-Frame-Options rather than adding a second one.
    expect(api.rawHeaders.filter((h) => h.toLowerCase() === 'x-frame-options')).toHaveLength(1);
    for (const [path, status] of [
      ['/health', 200],
      ['/nowhere', 404],
      ['/gone/x', 502],
    ] as const) {
      const res = await sendRequest(port, path);
      expect([path, res.status]).toEqual([path, status]);
      expect(res.headers).toMatchObject(security);
    }
    const asset = await sendRequest(port, '/static/app.css');
    expect(asset.headers).toMatchObject({ 'x-frame-options': 'DENY', 'cache-control': 'public, immutable' });
    expect(asset.headers['x-powered-by']).toBeUndefined();
    expect(asset.headers['strict-transport-security']).toBeUndefined();
  });

  it('applies to the 101 of a WebSocket upgrade', async () => {
    const up = await startWsUpstream();
    cleanups.push(() => up.close());
    const lb = await startLoadBalancer(
      testConfig({
        upstreams: { ws: { servers: [{ address: up.address }] } },
        listeners: [{ name: 'web', bind: '127.0.0.1:0', response_headers: SECURITY, routes: [{ match: { prefix: '/' }, proxy: { upstream: 'ws' } }] }],
      }),
    );
    cleanups.push(() => lb.close());
    const ws = await openWs(`ws://127.0.0.1:${lb.listeners[0]!.port}/ws`);
    expect(ws.response.headers['x-content-type-options']).toBe('nosniff');
    ws.ws.close();
    await ws.closed;
  });
});
