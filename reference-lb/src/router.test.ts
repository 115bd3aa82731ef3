import { describe, expect, it } from 'vitest';
import { RedirectTemplate } from './redirect-template.ts';
import { Router, stripPathPrefix } from './router.ts';
import { testConfig } from './test-upstream.ts';
import { UpstreamPool } from './upstream-pool.ts';

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

  it('takes the first matching route, in config order', () => {
    expect(router.match('/api/x.PHP')?.kind).toBe('deny');
    expect(router.match('/api')?.kind).toBe('redirect');
    expect(router.match('/api/')).toMatchObject({ kind: 'proxy', stripPrefix: '/api' });
    expect(router.match('/staticfiles/a')).toMatchObject({ kind: 'proxy', stripPrefix: undefined });
    expect(router.match('/nothing')).toBeUndefined();
  });

  it('matches the raw path, never a decoded one', () => {
    expect(router.match('/x.ph%70')).toBeUndefined();
    expect(router.match('/%61pi/')).toBeUndefined();
  });
});

describe('RedirectTemplate', () => {
  it('renders every variable', () => {
    const t = RedirectTemplate.compile('{scheme}://{host}:{server_port}{path}{is_args}{query}|{http_host}|{request_uri}');
    const out = t.render({ scheme: 'https', host: 'a.example', http_host: 'A.example:8080', server_port: '8443', request_uri: '/p?q', path: '/p', query: 'q', is_args: '?' });
    expect(out).toBe('https://a.example:8443/p?q|A.example:8080|/p?q');
  });
});
