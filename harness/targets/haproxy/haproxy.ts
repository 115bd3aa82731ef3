import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runHere, spawnHere } from '../../process/managed-process.ts';
import { HaproxyRuntime } from './haproxy-runtime.ts';
import { RuntimeMapUpdater } from '../../runtime/runtime-map-updater.ts';
import { companionCopy } from '../config-text.ts';
import { haproxyDialect } from './haproxy-config.ts';
import { rejectedConfig, versionFrom } from '../proxy-messages.ts';
import type { RenderedTarget, TargetKind } from '../target-kind.ts';

const BINARY = 'haproxy';

/** `-f` for the main file and each further file, in order: HAProxy reads them as one config. */
function configArgs(target: RenderedTarget): string[] {
  return [target.mainFile, ...(target.rendered.extraMains ?? []).map((name) => join(target.runDir, name))].flatMap((file) => ['-f', file]);
}

/** HAProxy as a foreground child: `haproxy -f FILE [-f FILE2 ...] -db`. */
export const haproxyTarget: TargetKind = {
  name: 'haproxy',
  aptPackage: 'haproxy',
  bundledConfigName: 'haproxy.cfg',
  dialect: haproxyDialect,
  unsupported: {},
  severalConfigFiles: true,
  async runtimeEndpoint(runDir) {
    return { runtimeSocket: haproxySocketPath(runDir) };
  },
  async version(run = runHere) {
    try {
      const { output } = await run(BINARY, ['-v']);
      return versionFrom(output, /HAProxy version (\d+\.\d+\.\d+)/, 'haproxy');
    } catch {
      return undefined;
    }
  },
  async validate(target, run = runHere) {
    const { code, output } = await run(BINARY, ['-c', ...configArgs(target)]);
    if (code !== 0) throw rejectedConfig('haproxy', target, output, /\[(ALERT|EMERG)\]/);
  },
  runtime(process, target) {
    return new HaproxyRuntime(process, haproxySocketPath(target.runDir));
  },
  mapUpdater(map, { target, runtime }) {
    // `set map` names the map by the path HAProxy loaded it from: the run-dir copy.
    const file = companionCopy(target.rendered.mapped, map);
    if (file === undefined || runtime === undefined) return undefined;
    return new RuntimeMapUpdater(runtime, file, `set map ${file}, no reload`);
  },
  launch(target) {
    // The stats socket sits outside the run dir when the run dir's path is too long for a socket.
    const socketDir = dirname(haproxySocketPath(target.runDir));
    return { command: BINARY, args: [...configArgs(target), '-db'], label: 'haproxy', ...(socketDir === target.runDir ? {} : { mounts: [{ path: socketDir, readOnly: false }] }) };
  },
  spawn(target) {
    return spawnHere(this.launch(target), join(target.runDir, 'process.log'));
  },
};

/** Where the rendered config puts the stats socket: in the run dir, unless that path is too long for a unix socket (108 bytes). */
export function haproxySocketPath(runDir: string): string {
  const inRunDir = join(runDir, 'admin.sock');
  return inRunDir.length <= 100 ? inRunDir : join(tmpdir(), `lbdrill-${process.pid}-haproxy.sock`);
}
