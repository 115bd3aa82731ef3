import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describeValue, type LbConfig } from './config-schema.ts';
import { LbError } from './errors.ts';
import { PasswordHash } from './password-hash.ts';
import { parseMapFile } from './upstream-map.ts';

/*
 * Files a config names besides TLS material, read while the config is validated so a
 * missing or malformed one is a config error naming the field (and `--check` catches
 * it): map files (HAProxy `key value` lines) and htpasswd files (`user:hash` lines).
 * Paths are resolved against the config file's directory and stored absolute.
 */

function configError(field: string, problem: string, cause?: unknown): LbError {
  return new LbError('LB_ERR_CONFIG', `reference-lb config: ${field}: ${problem}`, { cause });
}

function readText(file: string, field: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw configError(field, `cannot read ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err);
  }
}

/** Parses htpasswd text: `user:hash` per line, `#` comments and blank lines ignored. */
export function parseHtpasswd(text: string): Map<string, string> {
  const users = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`line ${i + 1}: expected "<user>:<hash>"`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    try {
      PasswordHash.parse(hash);
    } catch (err) {
      throw new Error(`line ${i + 1}: user ${JSON.stringify(user)}: ${(err as Error).message}`);
    }
    if (users.has(user)) throw new Error(`line ${i + 1}: duplicate user ${JSON.stringify(user)}`);
    users.set(user, hash);
  });
  return users;
}

/**
 * Reads every map file into its map's `entries` and every `users_file` into its auth's
 * `users`, in place; checks map values name upstreams, and that groups name users and
 * every auth has at least one. Throws LbError(LB_ERR_CONFIG) with a one-line message.
 */
export function resolveConfigFiles(config: LbConfig, baseDir: string): void {
  const known = Object.keys(config.upstreams);
  for (const [name, map] of Object.entries(config.maps)) {
    if (map.file === undefined) continue;
    const field = `maps.${name}.file`;
    map.file = path.resolve(baseDir, map.file);
    let entries: Map<string, string>;
    try {
      entries = parseMapFile(readText(map.file, field));
    } catch (err) {
      if (err instanceof LbError) throw err;
      throw configError(field, `${map.file}: ${(err as Error).message}`, err);
    }
    for (const [key, value] of entries) {
      if (!Object.hasOwn(config.upstreams, value)) {
        throw configError(field, `key ${describeValue(key)}: unknown upstream ${describeValue(value)} (defined: ${known.join(', ') || 'none'})`);
      }
    }
    map.entries = Object.fromEntries(entries);
  }
  config.listeners.forEach((listener, i) => {
    listener.routes.forEach((route, j) => {
      const auth = route.auth;
      if (auth === undefined) return;
      const at = `listeners[${i}].routes[${j}].auth`;
      if (auth.users_file !== undefined) {
        auth.users_file = path.resolve(baseDir, auth.users_file);
        let fromFile: Map<string, string>;
        try {
          fromFile = parseHtpasswd(readText(auth.users_file, `${at}.users_file`));
        } catch (err) {
          if (err instanceof LbError) throw err;
          throw configError(`${at}.users_file`, `${auth.users_file}: ${(err as Error).message}`, err);
        }
        for (const [user, hash] of fromFile) {
          if (Object.hasOwn(auth.users, user)) throw configError(`${at}.users_file`, `user ${describeValue(user)} is also in users`);
          auth.users[user] = hash;
        }
      }
      if (Object.keys(auth.users).length === 0) throw configError(at, 'expected at least one user (users or users_file)');
      for (const [group, members] of Object.entries(auth.groups)) {
        members.forEach((m, k) => {
          if (!Object.hasOwn(auth.users, m)) throw configError(`${at}.groups.${group}[${k}]`, `unknown user ${describeValue(m)}`);
        });
      }
    });
  });
}
