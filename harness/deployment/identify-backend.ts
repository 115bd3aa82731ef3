import type { LbResponse } from '../client/lb-client.ts';
import type { IdentifyBackend } from '../probe/probe-stream.ts';
import type { DeployedBackendSpec, IdentifyRule } from './deployment.ts';

function cookieValue(setCookie: string | string[] | undefined, name: string): string | undefined {
  for (const line of Array.isArray(setCookie) ? setCookie : setCookie === undefined ? [] : [setCookie]) {
    const [pair] = line.split(';', 1);
    const eq = pair!.indexOf('=');
    if (eq > 0 && pair!.slice(0, eq).trim() === name) return pair!.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Names the backend of a deployed pool's response by the deployment's rule (a header, a
 * Set-Cookie, or a body pattern's group), mapped to the backend's name through its `value`.
 * A value no backend has is returned as it came ("?VALUE"), so traffic to an unlisted server
 * shows in the report instead of vanishing.
 */
export function identifyBackend(rule: IdentifyRule, backends: readonly DeployedBackendSpec[]): IdentifyBackend {
  const byValue = new Map(backends.map((b) => [b.value, b.name]));
  const body = 'body' in rule ? new RegExp(rule.body) : undefined;
  const read = (res: LbResponse): string | undefined => {
    if ('header' in rule) {
      const v = res.headers[rule.header.toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    }
    if ('cookie' in rule) return cookieValue(res.headers['set-cookie'], rule.cookie);
    return body!.exec(res.text)?.[1];
  };
  return (res) => {
    const value = read(res);
    if (value === undefined || value === '') return null;
    return byValue.get(value) ?? `?${value}`;
  };
}

/** One line for the plan: how responses are told apart. */
export function describeIdentify(rule: IdentifyRule): string {
  if ('header' in rule) return `response header ${rule.header}`;
  if ('cookie' in rule) return `Set-Cookie ${rule.cookie}`;
  return `body pattern /${rule.body}/`;
}
