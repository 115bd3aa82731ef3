import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RedirectTemplate } from './redirect-template.ts';
import { Router, stripPathPrefix } from './router.ts';
import { startLoadBalancer } from './start-load-balancer.ts';
import { openWs, sendRequest, startTestUpstream, startWsUpstream, testConfig, type TestUpstream } from './test-upstream.ts';
import { UpstreamPool } from './upstream-pool.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

describe('stripPathPrefix', () => {
  it.each([
    ['/api/auth/namespaces', '?x=1', '/api', '/auth/namespaces?x=1'],
    ['/api/a%2Fb', '?q=%2F', '/api', '/a%2Fb?q=%2F'],
    ['/api/', '', '/api', '/'],
    ['/api', '?x', '/api', '/?x'],
    ['/apidocs', '', '/api', '/docs'],
    ['/other', '', '/api', '/other'],
  ])('%s%s minus %s is %s', (path, query, prefix, expected) => {
    expect(stripPathPrefix(path, query, prefix)).toBe(expected);
  });
});

describe('Router', () => {
  const config = testConfig({
    upstreams: { sfapi: { servers: [{ address: '127.0.0.1:1' }] } },
    listeners: [
      {
        name: 'l',
        bind: '127.0.0.1:0',
        routes: [
          { match: { regex: '\\.php$', ignore_case: true }, deny: true },
          { match: { exact: '/api' }, redirect: { status: 301, location: '/api/' } },
          { match: { prefix: '/api/' }, proxy: { upstream: 'sfapi', strip_prefix: '/api' } },
          { match: { prefix: '/static' }, proxy: { upstream: 'sfapi' } },
        ],
      },
    ],
  });
  const pools = new Map([['sfapi', new UpstreamPool('sfapi', config.upstreams['sfapi']!, config.timeouts)]]);
  const router = new Router(config.listeners[0]!.routes, pools, { preserveHost: false, forwarded: false });

  const match = (path: string) => router.match(path, 'GET', [])?.action;

  it('takes the first matching route, in config order', () => {
    expect(match('/api/x.PHP')?.kind).toBe('deny');
    expect(match('/api')?.kind).toBe('redirect');
    expect(match('/api/')).toMatchObject({ kind: 'proxy', stripPrefix: '/api' });
    expect(match('/staticfiles/a')).toMatchObject({ kind: 'proxy', stripPrefix: undefined });
    expect(match('/nothing')).toBeUndefined();
  });

  it('matches the raw path, never a decoded one', () => {
    expect(match('/x.ph%70')).toBeUndefined();
    expect(match('/%61pi/')).toBeUndefined();
  });
});

describe('RedirectTemplate', () => {
  it('renders every variable', () => {
    const t = RedirectTemplate.compile('{scheme}://{host}:{server_port}{path}{is_args}{query}|{http_host}|{request_uri}');
    const out = t.render({ scheme: 'https', host: 'a.example', http_host: 'A.example:8080', server_port: '8443', request_uri: '/p?q', path: '/p', query: 'q', is_args: '?' });
    expect(out).toBe('https://a.example:8443/p?q|A.example:8080|/p?q');
  });
});

describe('Router: header and method conditions', () => {
  const config = testConfig({
    upstreams: { a: { servers: [{ address: '127.0.0.1:1' }] }, b: { servers: [{ address: '127.0.0.1:2' }] } },
    listeners: [
      {
        name: 'l',
        bind: '127.0.0.1:0',
        routes: [
          { match: { prefix: '/api/', header: { name: 'X-Node-Name', present: true }, methods: ['GET', 'HEAD'] }, proxy: { upstream: 'a' } },
          { match: { prefix: '/api/', header: [{ name: 'x-env', value: 'canary' }, { name: 'Accept', prefix: 'application/json' }] }, proxy: { upstream: 'b' } },
          { match: { header: { name: 'User-Agent', regex: 'bot', ignore_case: true } }, deny: true },
          { match: { header: { name: 'X-Tenant', value: 'ACME', ignore_case: true } }, respond: { status: 200, body: 'acme' } },
          { match: { methods: ['DELETE'] }, respond: { status: 405 } },
          { match: { prefix: '/', header: { name: 'Authorization', present: false } }, redirect: { status: 302, location: '/login' } },
          { match: { prefix: '/' }, proxy: { upstream: 'a' } },
        ],
      },
    ],
  });
  const pools = new Map(Object.entries(config.upstreams).map(([name, u]) => [name, new UpstreamPool(name, u, config.timeouts)]));
  const router = new Router(config.listeners[0]!.routes, pools, { preserveHost: false, forwarded: false });
  /** Index of the matching route, -1 for none. */
  const index = (path: string, method: string, headers: string[] = []): number => {
    const route = router.match(path, method, headers);
    return route === undefined ? -1 : router.routes.indexOf(route);
  };

  it('needs every condition of a route (path, method, each header), first match wins', () => {
    expect(index('/api/x', 'GET', ['X-Node-Name', 'n1', 'Authorization', 'x'])).toBe(0);
    expect(index('/api/x', 'HEAD', ['x-node-name', ''])).toBe(0);
    // POST is not among route 0's methods; it falls through to the catch-all.
    expect(index('/api/x', 'POST', ['X-Node-Name', 'n1', 'Authorization', 'x'])).toBe(6);
    expect(index('/api/x', 'GET', ['X-Env', 'canary', 'Accept', 'application/json; q=1', 'Authorization', 'x'])).toBe(1);
    // Both header conditions must hold; header values are case-sensitive unless ignore_case.
    expect(index('/api/x', 'GET', ['X-Env', 'canary', 'Authorization', 'x'])).toBe(6);
    expect(index('/api/x', 'GET', ['X-Env', 'Canary', 'Accept', 'application/json', 'Authorization', 'x'])).toBe(6);
    expect(index('/other', 'GET', ['User-Agent', 'GoogleBot/2.1'])).toBe(2);
    expect(index('/other', 'GET', ['X-Tenant', 'acme'])).toBe(3);
    expect(index('/other', 'DELETE', ['Authorization', 'x'])).toBe(4);
    expect(index('/other', 'GET', [])).toBe(5);
    expect(index('/other', 'GET', ['Authorization', 'x'])).toBe(6);
  });

  it('matches a value against every field of that name', () => {
    expect(index('/api/x', 'GET', ['X-Env', 'prod', 'X-Env', 'canary', 'Accept', 'application/json', 'Authorization', 'x'])).toBe(1);
  });
});

describe('respond routes and header/method routing over real sockets', () => {
  async function upstream(): Promise<TestUpstream> {
    const u = await startTestUpstream();
    cleanups.push(() => u.close());
    return u;
  }

  it('answers /health itself (nginx `return 200 "healthy\\n"`), for GET and HEAD, keeping the connection', async () => {
    const up = await upstream();
    const lb = await startLoadBalancer(
      testConfig({
        upstreams: { web: { servers: [{ address: up.address }] } },
        listeners: [
          {
            name: 'web',
            bind: '127.0.0.1:0',
            routes: [
              { match: { exact: '/health' }, respond: { status: 200, body: 'healthy\n', headers: { 'Cache-Control': 'no-store' } } },
              { match: { exact: '/gone' }, respond: { status: 410, body: '{"error":"gone"}', headers: { 'Content-Type': 'application/json' } } },
              { match: { exact: '/empty' }, respond: { status: 204 } },
              { match: { prefix: '/' }, proxy: { upstream: 'web' } },
            ],
          },
        ],
      }),
    );
    cleanups.push(() => lb.close());
    const port = lb.listeners[0]!.port;
    const res = await sendRequest(port, '/health');
    expect(res).toMatchObject({ status: 200, body: 'healthy\n' });
    expect(res.headers).toMatchObject({ 'content-type': 'text/plain; charset=utf-8', 'content-length': '8', 'cache-control': 'no-store' });
    expect(await sendRequest(port, '/health', { method: 'HEAD' })).toMatchObject({ status: 200, body: '' });
    const gone = await sendRequest(port, '/gone');
    expect(gone).toMatchObject({ status: 410, body: '{"error":"gone"}' });
    expect(gone.headers['content-type']).toBe('application/json');
    const empty = await sendRequest(port, '/empty');
    expect(empty).toMatchObject({ status: 204, body: '' });
    expect(empty.headers['content-length']).toBeUndefined();
    expect(up.requests).toHaveLength(0);
    // Two requests on one keep-alive connection: the local answer does not close it.
    const both = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
      let text = '';
      socket.setEncoding('latin1').on('data', (t: string) => {
        text += t;
        if (text.split('healthy').length === 3) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
    });
    expect(both.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
  });

  it('routes by header and method, and answers respond routes to WebSocket upgrades too', async () => {
    const a = await startWsUpstream();
    const b = await upstream();
    cleanups.push(() => a.close());
    const lb = await startLoadBalancer(
      testConfig({
        upstreams: { a: { servers: [{ address: a.address }] }, b: { servers: [{ address: b.address }] } },
        listeners: [
          {
            name: 'web',
            bind: '127.0.0.1:0',
            routes: [
              { match: { exact: '/health' }, respond: { status: 200, body: 'ok' } },
              { match: { prefix: '/', header: { name: 'X-Node-Name', prefix: 'node1.' } }, proxy: { upstream: 'b' } },
              { match: { prefix: '/', methods: ['GET'] }, proxy: { upstream: 'a' } },
            ],
          },
        ],
      }),
    );
    cleanups.push(() => lb.close());
    const port = lb.listeners[0]!.port;
    expect((await sendRequest(port, '/x', { headers: { 'X-Node-Name': 'node1.example.com' } })).body).toBe(`${b.port} GET /x`);
    expect((await sendRequest(port, '/x')).body).toBe(`${a.port} GET /x`);
    expect((await sendRequest(port, '/x', { method: 'POST' })).status).toBe(404);
    const ws = await openWs(`ws://127.0.0.1:${port}/ws`);
    expect(ws.hello.port).toBe(a.port);
    ws.ws.close();
    await expect(openWs(`ws://127.0.0.1:${port}/health`)).rejects.toMatchObject({ status: 200 });
  });
});
