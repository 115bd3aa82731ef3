import { describe, expect, it } from 'vitest';
import { backendPath, underPrefix } from './backend-path.ts';

describe('backendPath: the path a lenient backend resolves', () => {
  it.each([
    ['/api/..%2fadmin', '/admin'],
    ['/api/%2e%2e/admin', '/admin'],
    ['/api/%2E%2E%2Fadmin', '/admin'],
    ['//admin', '/admin'],
    ['/api/..;/admin', '/admin'],
    ['/api;jsessionid=1/x', '/api/x'],
    ['/api\\..\\admin', '/admin'],
    ['/api/%5c..%5cadmin', '/admin'],
    ['/api/%c0%af../admin', '/admin'],
    ['/api/..%c0%afadmin', '/admin'],
    ['/api/%e0%80%af..%c0%afadmin', '/admin'],
    ['/api/%c0%ae%c0%ae/admin', '/admin'],
    ['/api/%00', '/api/'],
    ['/api/x%00/../../admin', '/api/x'],
    ['/api/../admin', '/admin'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/api/a%2Fb', '/api/a/b'],
    ['/api/./b/', '/api/b/'],
    ['/api/b/..', '/api/'],
    ['/api/x?y=/../../admin#z', '/api/x'],
    ['/api/%zz/%', '/api/%zz/%'],
    ['/api/caf%C3%A9', '/api/caf\u00c3\u00a9'],
    ['/', '/'],
  ])('%s -> %s', (sent, resolved) => {
    expect(backendPath(sent)).toBe(resolved);
  });
});

describe('underPrefix', () => {
  it('holds the prefix and what is below it, nothing beside it', () => {
    expect(underPrefix('/api/x', '/api/')).toBe(true);
    expect(underPrefix('/api/', '/api/')).toBe(true);
    expect(underPrefix('/api', '/api/')).toBe(true);
    expect(underPrefix('/apix', '/api/')).toBe(false);
    expect(underPrefix('/admin', '/api/')).toBe(false);
    expect(underPrefix('/admin', '/')).toBe(true);
  });
});
