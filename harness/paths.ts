import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

/** The lbdrill checkout (or installed package) root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

import { readFileSync } from 'node:fs';

/** lbdrill's version, from package.json. */
export const LBDRILL_VERSION = (JSON.parse(readFileSync(resolve(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
