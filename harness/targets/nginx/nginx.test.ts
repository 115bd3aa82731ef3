import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isLbdrillError } from '../../errors.ts';
import { prepareTarget } from '../../runner/prepare-target.ts';
import { CertificateAuthority } from '../../tls/certificate-authority.ts';
import { nginxTarget } from './nginx.ts';

const TREE = fileURLToPath(new URL('../../../fixtures/trees/nginx-debian/', import.meta.url));

describe('nginx -t on a config tree, as lbdrill runs it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbdrill-nginx-tree-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a rejected included file is named in the message with its own line, not the run-dir copy', async () => {
    const tree = join(dir, 'etc-nginx');
    cpSync(TREE, tree, { recursive: true });
    writeFileSync(join(tree, 'conf.d', 'zz-typo.conf'), '# an operator typo\nproxy_buffer_sise 16k;\n');
    const configFile = join(tree, 'nginx.conf');
    const ca = await CertificateAuthority.create();
    const failure = await prepareTarget({ kind: nginxTarget, version: '1.22', spec: { name: 'nginx', configFile }, configFile, runDir: join(dir, 'run'), index: 0, ca }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isLbdrillError(failure, 'LBDRILL_ERR_CONFIG_REJECTED')).toBe(true);
    expect((failure as Error).message).toContain(`unknown directive "proxy_buffer_sise" in ${join(tree, 'conf.d', 'zz-typo.conf')}:2`);
  });
});
