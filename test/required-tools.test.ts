import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/**
 * Every suite runs on CI's machine: `.ci/run` installs these. A suite never skips itself when one
 * is missing (a skipped test proves nothing); this test names what is missing and how to get it,
 * and the suites that need it fail with their own errors.
 */
const TOOLS: ReadonlyArray<{ command: string; args: string[]; apt: string; for: string; exitCode?: number }> = [
  { command: 'nginx', args: ['-v'], apt: 'nginx', for: 'the nginx target' },
  { command: 'haproxy', args: ['-v'], apt: 'haproxy', for: 'the HAProxy target' },
  { command: 'apache2', args: ['-v'], apt: 'apache2', for: 'the Apache target' },
  { command: 'openssl', args: ['version'], apt: 'openssl', for: 'password-hash cross-checks' },
  { command: 'docker-compose', args: ['version'], apt: 'docker-compose', for: 'the seed 001 compose topology (docker-compose.yml)' },
  { command: 'docker', args: ['--version'], apt: 'docker.io (the client is enough: Podman serves its API)', for: "the seed 001 deployment's hooks (docker stop/start)" },
  { command: 'podman', args: ['--version'], apt: 'podman runc', for: '--runtime container and the compose topology' },
  { command: 'debootstrap', args: ['--version'], apt: 'debootstrap', for: "lbdrill's local container images" },
  { command: 'ip', args: ['-V'], apt: 'iproute2', for: 'network namespaces (--network netns)' },
  { command: 'iptables', args: ['--version'], apt: 'iptables', for: 'partition faults in network namespaces' },
  { command: '/usr/bin/chromium', args: ['--version'], apt: 'chromium', for: 'the browser tests of report.html (test/report-html-browser.ts)' },
  { command: 'java', args: ['-version'], apt: 'default-jre-headless', for: 'allure-commandline (lbdrill report --allure)' },
  // wrk prints its version with the usage text and exits 1
  { command: 'wrk', args: ['--version'], apt: 'wrk', for: "the bench's wrk cell (test/bench-wrk.e2e.test.ts)", exitCode: 1 },
];

describe("the tools the suites drive are installed (as .ci/run installs them)", () => {
  it('none is missing', () => {
    const missing = TOOLS.filter((t) => spawnSync(t.command, t.args, { stdio: 'ignore' }).status !== (t.exitCode ?? 0)).map((t) => `${t.command} (apt-get install ${t.apt}; for ${t.for})`);
    expect(missing).toEqual([]);
  });
});
