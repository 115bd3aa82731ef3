import { CommanderError } from 'commander';
import { EXIT_CANNOT_RUN, isLbdrillError } from './errors.ts';
import { killEverythingNow } from './process/cleanup.ts';

/**
 * The end of a command line tool that failed: everything it started is stopped, then one
 * line on stderr (commander has printed its own for bad flags) and the exit code: 0 for
 * --help/--version, 2 when the run could not happen, 1 for a failure during it.
 */
export function exitOnCliFailure(err: unknown, program: string): never {
  killEverythingNow();
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
    process.exit(EXIT_CANNOT_RUN);
  }
  if (isLbdrillError(err)) {
    process.stderr.write(`${program}: ${err.message}\n`);
    process.exit(err.cannotRun ? EXIT_CANNOT_RUN : 1);
  }
  process.stderr.write(`${program}: internal error: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(EXIT_CANNOT_RUN);
}
