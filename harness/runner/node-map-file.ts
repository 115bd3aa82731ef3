import { readFileSync } from 'node:fs';
import type { NodeMapContract } from '../contracts/node-map.ts';
import type { Mapping } from '../targets/config-plan.ts';
import { companionCopy } from '../targets/config-text.ts';

/**
 * The node map a config really reads. The profile names one path per target (the bundled
 * config's); a user's config may keep its map elsewhere. When the config names no file at the
 * profile's path, the map is the one file the config reads (a `map`/`include` companion) that
 * holds every node name of the contract; with none or several such files the profile's path
 * stands, and route.map-runtime-update says the config names no such map.
 */
export function locateNodeMap(contract: NodeMapContract, mapped: readonly Mapping[]): NodeMapContract {
  const named = contract.map;
  const companions = mapped.filter((m) => m.companion === 'map' || m.companion === 'include');
  if (named === undefined || companions.length === 0 || companionCopy(mapped, named) !== undefined) return contract;
  const nodes = Object.keys(contract.entries);
  const holding = companions.filter((m) => {
    try {
      const text = readFileSync(m.to, 'utf8');
      return nodes.every((node) => text.includes(node));
    } catch {
      return false;
    }
  });
  return holding.length === 1 ? { ...contract, map: holding[0]!.from } : contract;
}
