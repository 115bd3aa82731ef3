import { readFile } from 'node:fs/promises';
import type { LbConfig } from './config-schema.ts';
import { LbError } from './errors.ts';
import { parseConfig } from './parse-config.ts';

/** Reads and validates a config file; throws LbError(LB_ERR_CONFIG_READ | LB_ERR_CONFIG). */
export async function loadConfig(file: string): Promise<LbConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new LbError('LB_ERR_CONFIG_READ', `reference-lb config: cannot read ${JSON.stringify(file)}: ${reason}`, { cause: err });
  }
  return parseConfig(text, file);
}
