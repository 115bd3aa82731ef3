import { join } from 'node:path';
import { ManagedProcess, runToCompletion } from '../process/managed-process.ts';
import { nginxDialect, nginxGlobalDirectives, nginxTempDirs } from './nginx-config.ts';
import { rejectedConfig, versionFrom } from './proxy-messages.ts';
import type { RenderedTarget, TargetKind } from './target-kind.ts';

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
    'runtime-map': 'nginx OSS reads a map only at start and on reload; lbdrill does not drive a reload for this check yet',
    'server-queue': 'nginx OSS has max_conns but no queue (the upstream `queue` directive is nginx Plus only): requests over the limit go to the next server or fail at once',
    'sticky-cookie': 'nginx OSS cannot insert a sticky cookie (`sticky cookie` is nginx Plus only)',
    'active-health-checks': 'nginx OSS has only passive health checks (`health_check` is nginx Plus only)',
    'runtime-api': 'nginx OSS has no runtime API; changes need a graceful reload',
    slowstart: 'nginx OSS has no slow start (`slow_start` is nginx Plus only)',
    'shutdown-sessions': 'nginx OSS has no action on a server marked failed: established connections to it stay open',
  },
  workDirs: (runDir) => nginxTempDirs(runDir),
  async version() {
    try {
      const { output } = await runToCompletion(BINARY, ['-v']);
      return versionFrom(output, /nginx\/(\S+)/, 'nginx');
    } catch {
      return undefined;
    }
  },
  async validate(target) {
    const { code, output } = await runToCompletion(BINARY, ['-t', ...args(target)]);
    if (code !== 0) throw rejectedConfig('nginx', target, output, /\[(emerg|alert|crit|error)\]/);
  },
  spawn(target) {
    return new ManagedProcess({ command: BINARY, args: args(target), label: 'nginx', logFile: join(target.runDir, 'process.log') });
  },
};
