import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isLbdrillError } from '../errors.ts';
import { loadDeployment, MAX_PROBE_RATE_PER_SEC, parseDeployment } from './deployment.ts';

const FILE = '/srv/game-day/deployment.yaml';

function good(): Record<string, any> {
  return {
    name: 'seed-001',
    lb: { url: 'http://127.0.0.1:8080', probe: { path: '/api/v1/health', rate: 20 } },
    identify: { header: 'X-Served-By' },
    backends: [
      { name: 'backend-api-1', pool: 'api_pool', hooks: { stop: 'docker stop backend-api-1', start: 'docker start backend-api-1' } },
      { name: 'backend-api-2', pool: 'api_pool', server: 'api2', value: 'b2', hooks: { stop: 'docker stop backend-api-2', start: 'docker start backend-api-2', pause: 'docker pause backend-api-2', unpause: 'docker unpause backend-api-2' } },
    ],
    view: { haproxy: { socket: '../run/admin.sock' }, poll: '100ms' },
  };
}

function errorOf(raw: unknown): string {
  try {
    parseDeployment(raw, FILE);
  } catch (err) {
    expect(isLbdrillError(err, 'LBDRILL_ERR_DEPLOYMENT_INVALID')).toBe(true);
    const message = (err as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    return message;
  }
  throw new Error('accepted');
}

function without(path: string[], value?: unknown): Record<string, any> {
  const d = good();
  let at: any = d;
  for (const p of path.slice(0, -1)) at = at[p];
  if (value === undefined) delete at[path.at(-1)!];
  else at[path.at(-1)!] = value;
  return d;
}

describe('deployment file', () => {
  test('a good file: defaults filled, paths relative to the file, poll parsed', () => {
    const d = parseDeployment(good(), FILE);
    expect(d.lb).toEqual({ url: 'http://127.0.0.1:8080', insecure: false, probePath: '/api/v1/health', probeRatePerSec: 20 });
    expect(d.backends[0]).toMatchObject({ name: 'backend-api-1', server: 'backend-api-1', value: 'backend-api-1' });
    expect(d.backends[1]).toMatchObject({ server: 'api2', value: 'b2' });
    expect(d.view).toEqual({ kind: 'haproxy-socket', socket: '/srv/run/admin.sock' });
    expect(d.pollMs).toBe(100);
    expect(parseDeployment({ ...good(), view: 'none' }, FILE).view).toEqual({ kind: 'none' });
    expect(parseDeployment({ ...good(), view: { reference: { admin: 'http://127.0.0.1:9900', token_env: 'LB_TOKEN' } } }, FILE).view.kind).toBe('reference-admin');
  });

  test.each([
    ['lb.url', without(['lb', 'url'], 'ftp://x'), /^\/srv\/game-day\/deployment\.yaml: lb\.url: expected an http/],
    ['lb.probe.rate cap', without(['lb', 'probe', 'rate'], MAX_PROBE_RATE_PER_SEC + 1), /lb\.probe\.rate: at most 50 requests\/s/],
    ['lb.probe.path', without(['lb', 'probe', 'path'], 'health'), /lb\.probe\.path: must start with \//],
    ['lb.ca for https', without(['lb', 'url'], 'https://lb.staging:443'), /lb\.ca: an https:\/\/ LB needs a CA file/],
    ['lb.insecure on http', without(['lb', 'insecure'], true), /lb\.insecure: only for an https:\/\/ url/],
    ['identify two rules', without(['identify'], { header: 'X', cookie: 'Y' }), /identify: Unrecognized key.*'cookie'/],
    ['identify none', without(['identify'], {}), /identify: expected exactly one of header/],
    ['identify.body groups', without(['identify'], { body: 'served by \\S+' }), /identify: .*one group|identify\.body: needs exactly one capture group/],
    ['backends too few', without(['backends'], [good()['backends'][0]]), /backends: a failover drill needs at least 2 backends/],
    ['backends[0].hooks.start', without(['backends', '0', 'hooks', 'start']), /backends\[0\]\.hooks\.start: Required/],
    ['backends[1].hooks.unpause', without(['backends', '1', 'hooks', 'unpause']), /backends\[1\]\.hooks\.unpause: pause and unpause come together/],
    ['backends[0].hooks unknown', without(['backends', '0', 'hooks', 'reboot'], 'reboot'), /backends\[0\]\.hooks: Unrecognized key.*reboot/],
    ['backends[1].value duplicate', without(['backends', '1', 'value'], 'backend-api-1'), /backends\[1\]\.value: "backend-api-1" is also backends\[0\]'s/],
    ['backends[0].name', without(['backends', '0', 'name'], 'no spaces allowed'), /backends\[0\]\.name: expected a name/],
    ['view', without(['view'], { nginx: {} }), /view: expected none, or one of haproxy/],
    ['view.poll', without(['view', 'poll'], '10ms'), /view\.poll: at least 50ms/],
    ['unknown top-level key', { ...good(), extra: 1 }, /\(top level\): Unrecognized key.*extra/],
  ])('%s: one line naming the field', (_what, raw, expected) => {
    expect(errorOf(raw)).toMatch(expected);
  });

  test('lb.ca is read relative to the file; an unreadable one is named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbdrill-deployment-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), 'PEM');
      const d = good();
      d['lb'] = { url: 'https://127.0.0.1:8443', ca: 'ca.pem', probe: { path: '/' } };
      writeFileSync(join(dir, 'd.yaml'), JSON.stringify(d));
      expect(loadDeployment(join(dir, 'd.yaml')).lb).toMatchObject({ caPem: 'PEM', caFile: join(dir, 'ca.pem'), probeRatePerSec: 20 });
      d['lb'].ca = 'missing.pem';
      writeFileSync(join(dir, 'd.yaml'), JSON.stringify(d));
      expect(() => loadDeployment(join(dir, 'd.yaml'))).toThrow(/lb\.ca: cannot read .*missing\.pem: ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
