import { describe, expect, test } from 'vitest';
import type { LbResponse } from '../client/lb-client.ts';
import type { DeployedBackendSpec } from './deployment.ts';
import { identifyBackend } from './identify-backend.ts';

const backends = ['backend-api-1', 'backend-api-2'].map((name, i): DeployedBackendSpec => ({ name, pool: 'api_pool', server: name, value: `s${i + 1}`, hooks: { stop: 'true', start: 'true' } }));

function response(headers: LbResponse['headers'], text = ''): LbResponse {
  return { status: 200, headers, text, durationMs: 1 };
}

describe('identifyBackend', () => {
  test('a header value is mapped to the backend whose value it is', () => {
    const identify = identifyBackend({ header: 'X-Served-By' }, backends);
    expect(identify(response({ 'x-served-by': 's2' }))).toBe('backend-api-2');
    expect(identify(response({}))).toBeNull();
  });

  test('a cookie is read from Set-Cookie among others', () => {
    const identify = identifyBackend({ cookie: 'SERVERID' }, backends);
    expect(identify(response({ 'set-cookie': ['lang=en; Path=/', 'SERVERID=s1; path=/; HttpOnly'] }))).toBe('backend-api-1');
    expect(identify(response({ 'set-cookie': 'SERVERIDX=s1' }))).toBeNull();
  });

  test('a body pattern yields its group; a value no backend has shows as ?VALUE', () => {
    const identify = identifyBackend({ body: '"node":\\s*"([^"]+)"' }, backends);
    expect(identify(response({}, '{"node": "s1"}'))).toBe('backend-api-1');
    expect(identify(response({}, '{"node": "s9"}'))).toBe('?s9');
  });
});
