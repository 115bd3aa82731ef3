import path from 'node:path';
import { parseDocument } from 'yaml';
import type { ZodIssue } from 'zod';
import { resolveConfigFiles } from './config-files.ts';
import { configSchema, describeValue, type LbConfig } from './config-schema.ts';
import { LbError } from './errors.ts';

const PREFIX = 'reference-lb config';

/** `['listeners', 0, 'bind']` -> `listeners[0].bind`. */
export function formatConfigPath(parts: readonly (string | number)[]): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out === '' ? '(top level)' : out;
}

function valueAt(root: unknown, parts: readonly (string | number)[]): unknown {
  let node = root;
  for (const part of parts) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[part];
  }
  return node;
}

/** One zod issue as `path: what was expected, got what`. */
function formatIssue(issue: ZodIssue, input: unknown): string {
  const got = valueAt(input, issue.path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = issue.keys[0] ?? '';
      return `${formatConfigPath([...issue.path, key])}: unknown field`;
    }
    case 'invalid_type':
      if (got === undefined) return `${formatConfigPath(issue.path)}: required`;
      return `${formatConfigPath(issue.path)}: expected ${issue.expected}, got ${describeValue(got)}`;
    case 'invalid_union':
      return `${formatConfigPath(issue.path)}: ${issue.message}, got ${describeValue(got)}`;
    case 'invalid_enum_value':
      return `${formatConfigPath(issue.path)}: expected one of ${issue.options.join(', ')}, got ${describeValue(got)}`;
    case 'too_small':
    case 'too_big':
    case 'invalid_string':
      return `${formatConfigPath(issue.path)}: ${issue.message.replace(/^String must/, 'must').replace(/^Number must/, 'must')}, got ${describeValue(got)}`;
    default:
      return `${formatConfigPath(issue.path)}: ${issue.message}`;
  }
}

/**
 * Parses and validates config text (YAML, or JSON which is YAML), and reads the map and
 * htpasswd files it names (config-files.ts). Relative paths resolve against the
 * directory of `sourceName`. Throws LbError(LB_ERR_CONFIG) whose
 * message is one line naming the field: `reference-lb config: listeners[0].bind: ...`.
 */
export function parseConfig(text: string, sourceName: string): LbConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const pos = yamlError.linePos?.[0];
    const where = pos ? `${sourceName}:${pos.line}:${pos.col}` : sourceName;
    const reason = (yamlError.message.split('\n')[0] ?? yamlError.code).replace(/ at line \d+, column \d+:?$/, '');
    throw new LbError('LB_ERR_CONFIG', `${PREFIX}: ${where}: ${reason}`, { cause: yamlError });
  }
  const input: unknown = doc.toJS();
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new LbError('LB_ERR_CONFIG', `${PREFIX}: (top level): expected a mapping, got ${describeValue(input ?? undefined)}`);
  }
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const first = result.error.issues[0];
    const line = first ? formatIssue(first, input) : 'invalid config';
    throw new LbError('LB_ERR_CONFIG', `${PREFIX}: ${line}`, { cause: result.error });
  }
  const config = result.data;
  const baseDir = path.dirname(path.resolve(sourceName));
  for (const listener of config.listeners) {
    if (listener.tls) {
      listener.tls.cert = path.resolve(baseDir, listener.tls.cert);
      listener.tls.key = path.resolve(baseDir, listener.tls.key);
    }
  }
  resolveConfigFiles(config, baseDir);
  return config;
}
