import { LbdrillError } from '../errors.ts';
import { findOnPath } from '../process/find-on-path.ts';

/** The k6 binary `--load k6` runs: K6_BIN when set, else `k6` on PATH; exit 2 when there is none. */
export function findK6(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env['K6_BIN'];
  if (configured !== undefined && configured !== '') {
    const bin = findOnPath(configured, env['PATH'] ?? '');
    if (bin === undefined) throw new LbdrillError('LBDRILL_ERR_BINARY_MISSING', `K6_BIN=${configured} is not an executable file`);
    return bin;
  }
  const bin = findOnPath('k6', env['PATH'] ?? '');
  if (bin === undefined) {
    throw new LbdrillError('LBDRILL_ERR_BINARY_MISSING', 'k6 not found on PATH; set K6_BIN to the k6 binary (https://grafana.com/docs/k6/latest/set-up/install-k6/), or leave out --load k6');
  }
  return bin;
}
