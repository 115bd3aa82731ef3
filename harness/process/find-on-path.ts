import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The executable `command` names, as a shell would find it: a path (absolute or with a
 * slash) is taken as it is, a bare name is looked up in `PATH`. Undefined when there is none.
 */
export function findOnPath(command: string, path: string = process.env['PATH'] ?? ''): string | undefined {
  if (command.includes('/') || isAbsolute(command)) return isExecutableFile(command) ? resolve(command) : undefined;
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, command);
    if (isExecutableFile(file)) return file;
  }
  return undefined;
}
