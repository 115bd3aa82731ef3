import { LbdrillError } from '../errors.ts';

/** One profile file of an `extends` chain, base first. */
export interface ProfileLayer {
  file: string;
  raw: Record<string, unknown>;
}

type Entry = Record<string, unknown>;

function isMapping(v: unknown): v is Entry {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * `checks` merge by id: a child entry with an id the base has overrides its severity (and pool),
 * `severity: off` drops it, a new id is added at the end.
 */
function mergeChecks(base: unknown, child: unknown, file: string): Entry[] {
  const out = Array.isArray(base) ? (base as Entry[]).map((c) => ({ ...c })) : [];
  if (!Array.isArray(child)) throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${file}: checks: expected a list of { id, severity }`);
  for (const [i, entry] of (child as unknown[]).entries()) {
    if (!isMapping(entry) || typeof entry['id'] !== 'string') throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${file}: checks[${i}]: expected { id, severity }`);
    const at = out.findIndex((c) => c['id'] === entry['id']);
    if (entry['severity'] === 'off') {
      if (at < 0) throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${file}: checks[${i}]: "${entry['id']}" is off, but the profile it extends does not run it`);
      out.splice(at, 1);
    } else if (at >= 0) out[at] = { ...out[at], ...entry };
    else out.push(entry);
  }
  return out;
}

/** `pools` merge by name: a child entry overrides the fields it states, a new name is added at the end. */
function mergePools(base: unknown, child: unknown, file: string): Entry[] {
  const out = Array.isArray(base) ? (base as Entry[]).map((p) => ({ ...p })) : [];
  if (!Array.isArray(child)) throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${file}: pools: expected a list of pools`);
  for (const [i, entry] of (child as unknown[]).entries()) {
    if (!isMapping(entry) || typeof entry['name'] !== 'string') throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${file}: pools[${i}]: expected { name, probe_path, ... }`);
    const at = out.findIndex((p) => p['name'] === entry['name']);
    if (at >= 0) out[at] = { ...out[at], ...entry };
    else out.push(entry);
  }
  return out;
}

function deepMerge(base: unknown, child: unknown): unknown {
  if (!isMapping(base) || !isMapping(child)) return child;
  const out: Entry = { ...base };
  for (const [k, v] of Object.entries(child)) out[k] = deepMerge(base[k], v);
  return out;
}

/** The fields of an `extends` chain as one profile: the child's values win, mappings merge key by key. */
export function mergeProfiles(layers: readonly ProfileLayer[]): Entry {
  let merged: Entry = {};
  for (const { file, raw } of layers) {
    const next: Entry = { ...merged };
    for (const [key, value] of Object.entries(raw)) {
      if (key === 'extends') continue;
      if (key === 'checks') next[key] = mergeChecks(merged[key], value, file);
      else if (key === 'pools') next[key] = mergePools(merged[key], value, file);
      else next[key] = deepMerge(merged[key], value);
    }
    // An inheriting profile is a new contract: it names itself (or is named after its file).
    if (layers.length > 1 && raw === layers[layers.length - 1]!.raw && raw['name'] === undefined) delete next['name'];
    merged = next;
  }
  return merged;
}
