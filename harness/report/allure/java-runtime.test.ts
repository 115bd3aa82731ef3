import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireJava } from './java-runtime.ts';

const empty = mkdtempSync(join(tmpdir(), 'lbdrill-nojava-'));
afterAll(() => rmSync(empty, { recursive: true, force: true }));

describe('the Java that allure-commandline needs', () => {
  it('is found on PATH (.ci/run installs default-jre-headless)', async () => {
    expect(await requireJava()).toMatch(/version "\d+/);
  });

  it('is missing when PATH has no java: one line naming the apt package', async () => {
    await expect(requireJava({ PATH: empty })).rejects.toMatchObject({ code: 'LBDRILL_ERR_BINARY_MISSING', message: 'the Allure site needs Java 8 or later and no java on PATH (apt-get install default-jre-headless)' });
  });

  it('is missing when JAVA_HOME points at a directory without bin/java, as allure’s launcher would use it', async () => {
    await expect(requireJava({ PATH: process.env.PATH, JAVA_HOME: empty })).rejects.toMatchObject({ code: 'LBDRILL_ERR_BINARY_MISSING', message: expect.stringContaining(`JAVA_HOME=${empty} has no bin/java`) });
  });
});
