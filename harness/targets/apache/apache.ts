import { join } from 'node:path';
import { runHere, spawnHere } from '../../process/managed-process.ts';
import { FileMapUpdater } from '../../runtime/file-map-updater.ts';
import { companionCopy } from '../config-text.ts';
import { apacheDialect } from './apache-config.ts';
import { rejectedConfig, versionFrom } from '../proxy-messages.ts';
import type { RenderedTarget, TargetKind } from '../target-kind.ts';

const BINARY = 'apache2';
const SERVER_ROOT = '/etc/apache2';

function env(target: RenderedTarget): Record<string, string> {
  // apache2 reads nothing from Debian's envvars here: the generated main config defines
  // every ${VAR}; the lock dir variable keeps apache2's own start-up checks quiet.
  return { APACHE_RUN_DIR: target.runDir, APACHE_LOCK_DIR: target.runDir, APACHE_LOG_DIR: target.runDir };
}

/** Apache httpd as a foreground child: `apache2 -d DIR -f FILE -DFOREGROUND`. */
export const apacheTarget: TargetKind = {
  name: 'apache',
  aptPackage: 'apache2',
  bundledConfigName: 'apache.conf',
  dialect: apacheDialect,
  unsupported: {
    'server-queue': 'Apache BalancerMember max= caps connections per child process and has no queue with a length limit',
    slowstart: 'Apache mod_proxy_balancer has no slow start: a recovered member takes its full share at once',
    'shutdown-sessions': 'Apache has no way to cut the sessions of a member marked in error',
    'runtime-api': 'Apache\'s runtime control is the balancer-manager web form (nonce-protected); lbdrill does not drive it',
    'uri-hash': 'Apache mod_proxy_balancer has no URI hash (lbmethods: byrequests, bytraffic, bybusyness, heartbeat)',
    'rate-limit': 'stock Apache has no request rate limiting per client (mod_ratelimit limits bandwidth; mod_evasive and mod_qos are third-party)',
    'source-hash': 'Apache mod_proxy_balancer has no source-address affinity (no lbmethod hashes the client address)',
  },
  async version(run = runHere) {
    try {
      const { output } = await run(BINARY, ['-v']);
      return versionFrom(output, /Apache\/(\S+)/, 'apache2');
    } catch {
      return undefined;
    }
  },
  async validate(target, run = runHere) {
    const { code, output } = await run(BINARY, ['-t', '-d', SERVER_ROOT, '-f', target.mainFile], { env: env(target) });
    if (code !== 0) throw rejectedConfig('apache2', target, output, /AH\d+|Syntax error|Invalid command|Cannot load/);
  },
  launch: (target) => ({ command: BINARY, args: ['-d', SERVER_ROOT, '-f', target.mainFile, '-DFOREGROUND'], env: env(target), label: 'apache2' }),
  spawn(target) {
    return spawnHere(this.launch(target), join(target.runDir, 'process.log'));
  },
  // Apache has no API for maps; mod_rewrite stats a txt: RewriteMap on every lookup and drops its
  // cached entries when the mtime changed, so rewriting the file is the whole update (no reload).
  mapUpdater(map, { target }) {
    const file = companionCopy(target.rendered.mapped, map);
    if (file === undefined) return undefined;
    return new FileMapUpdater({ file, syntax: 'plain', title: `rewrite of ${file} (temp file + rename, new mtime; mod_rewrite re-reads a txt: RewriteMap when its mtime changes, no reload)` });
  },
};
