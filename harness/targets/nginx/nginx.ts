import { basename, join } from 'node:path';
import { runHere, spawnHere } from '../../process/managed-process.ts';
import { FileMapUpdater } from '../../runtime/file-map-updater.ts';
import { reloadNginx } from './nginx-reload.ts';
import { ConfigLineRemover } from '../../runtime/server-remover.ts';
import { companionCopy } from '../config-text.ts';
import { nginxDialect, nginxGlobalDirectives, nginxTempDirs } from './nginx-config.ts';
import { rejectedConfig, versionFrom } from '../proxy-messages.ts';
import type { RenderedTarget, TargetKind } from '../target-kind.ts';

const BINARY = 'nginx';

function args(target: RenderedTarget): string[] {
  return ['-p', target.runDir, '-c', target.mainFile, '-g', nginxGlobalDirectives(target.analysis, target.runDir)];
}

/** nginx (OSS) as a foreground child: `nginx -p DIR -c FILE -g 'daemon off;'`. */
export const nginxTarget: TargetKind = {
  name: 'nginx',
  aptPackage: 'nginx',
  bundledConfigName: 'nginx.conf',
  dialect: nginxDialect,
  unsupported: {
    'server-queue': 'nginx OSS has max_conns but no queue (the upstream `queue` directive is nginx Plus only): requests over the limit go to the next server or fail at once',
    'sticky-cookie': 'nginx OSS cannot insert a sticky cookie (`sticky cookie` is nginx Plus only)',
    'active-health-checks': 'nginx OSS has only passive health checks (`health_check` is nginx Plus only)',
    'runtime-api': 'nginx OSS has no runtime API; changes need a graceful reload',
    slowstart: 'nginx OSS has no slow start (`slow_start` is nginx Plus only)',
    'shutdown-sessions': 'nginx OSS has no action on a server marked failed: established connections to it stay open',
  },
  workDirs: (runDir) => nginxTempDirs(runDir),
  async version(run = runHere) {
    try {
      const { output } = await run(BINARY, ['-v']);
      return versionFrom(output, /nginx\/(\S+)/, 'nginx');
    } catch {
      return undefined;
    }
  },
  async validate(target, run = runHere) {
    const { code, output } = await run(BINARY, ['-t', ...args(target)]);
    if (code !== 0) throw rejectedConfig('nginx', target, output, /\[(emerg|alert|crit|error)\]/);
  },
  launch: (target) => ({ command: BINARY, args: args(target), label: 'nginx' }),
  spawn(target) {
    return spawnHere(this.launch(target), join(target.runDir, 'process.log'));
  },
  // nginx OSS reads a map only at start and on reload: the updater rewrites the included map file and reloads.
  mapUpdater(map, { process, target }) {
    const file = companionCopy(target.rendered.mapped, map);
    if (file === undefined) return undefined;
    return new FileMapUpdater({ file, syntax: 'nginx', title: `graceful reload (SIGHUP) after rewriting ${file}`, reload: () => reloadNginx(process, errorLog(target)) });
  },
  // nginx OSS has no runtime API for upstream membership: a server leaves by config edit and reload.
  serverRemover({ process, target }) {
    const file = target.renderedSourceFile;
    return new ConfigLineRemover({ file, title: `server line commented out of ${file}, then a graceful reload (SIGHUP)`, reload: () => reloadNginx(process, errorLog(target)) });
  },
};

/** Where the running nginx writes its error log: the generated main config's or `-g`'s, else the config's own, mapped into the run dir. */
function errorLog(target: RenderedTarget): string {
  const own = target.rendered.mapped.find((m) => m.kind === 'path' && m.companion === undefined && /^error.*\.log$/.test(basename(m.to)));
  return own?.to ?? join(target.runDir, 'error.log');
}
