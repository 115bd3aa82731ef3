import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../../reference-lb/src/index.ts';
import { LbdrillError } from '../../errors.ts';
import { LBDRILL_VERSION, REPO_ROOT } from '../../paths.ts';
import { spawnHere } from '../../process/managed-process.ts';
import { ReferenceRuntime } from './reference-runtime.ts';
import { freePort } from '../../runner/ports.ts';
import { RuntimeMapUpdater } from '../../runtime/runtime-map-updater.ts';
import { referenceDialect } from './reference-config.ts';
import type { TargetKind } from '../target-kind.ts';

const READY_TIMEOUT_MS = 15_000;
const MAIN = join(REPO_ROOT, 'reference-lb', 'src', 'main.ts');

/** lbdrill's own TypeScript reference LB, run as a separate process like any other target. */
export const referenceTarget: TargetKind = {
  name: 'reference',
  aptPackage: undefined,
  bundledConfigName: 'reference.yaml',
  dialect: referenceDialect,
  unsupported: {},
  async runtimeEndpoint() {
    return { runtimePort: await freePort() };
  },
  async version() {
    return `reference-lb/${LBDRILL_VERSION}`;
  },
  async validate(target) {
    try {
      parseConfig(readFileSync(target.mainFile, 'utf8'), target.sourceFile);
    } catch (err) {
      throw new LbdrillError('LBDRILL_ERR_CONFIG_REJECTED', `reference-lb rejected ${target.sourceFile}: ${(err as Error).message}`, { cause: err });
    }
  },
  launch(target) {
    // node_modules may be a link out of the checkout (a worktree sharing one): tsx is found through it.
    const modules = realpathSync(join(REPO_ROOT, 'node_modules'));
    const outside = modules.startsWith(`${REPO_ROOT}/`) ? [] : [{ path: modules, readOnly: true }];
    return { command: process.execPath, args: ['--import', 'tsx', MAIN, '--config', target.mainFile], cwd: REPO_ROOT, label: 'reference-lb', mounts: [{ path: REPO_ROOT, readOnly: true }, ...outside] };
  },
  spawn(target) {
    return spawnHere(this.launch(target), join(target.runDir, 'process.log'));
  },
  runtime(proc, target) {
    const config = parseConfig(readFileSync(target.mainFile, 'utf8'), target.sourceFile);
    if (!config.admin) return undefined;
    const colon = config.admin.bind.lastIndexOf(':');
    return new ReferenceRuntime(proc, { host: config.admin.bind.slice(0, colon), port: Number(config.admin.bind.slice(colon + 1)), token: config.admin.token });
  },
  mapUpdater(map, { target, runtime }) {
    const config = parseConfig(readFileSync(target.mainFile, 'utf8'), target.sourceFile);
    if (runtime === undefined || config.maps[map] === undefined) return undefined;
    return new RuntimeMapUpdater(runtime, map, `PUT /v1/maps/${map}/entries/<key>`);
  },
  async waitReady(proc) {
    try {
      await proc.waitForLine((line) => line.includes('"event":"ready"'), READY_TIMEOUT_MS);
    } catch (err) {
      throw new LbdrillError('LBDRILL_ERR_TARGET_START', `${(err as Error).message}: ${proc.tail(3).join(' | ')}`, { cause: err });
    }
  },
};
