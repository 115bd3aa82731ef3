import { join } from 'node:path';
import { LbdrillError } from '../errors.ts';
import type { RenderedTarget } from './target-kind.ts';

/**
 * Turns a proxy checker's output into lbdrill's one-line error: the proxy's own words,
 * with each rendered copy's path replaced by the user's file it was rendered from (lines are the same).
 */
export function rejectedConfig(proxy: string, target: RenderedTarget, output: string, pattern: RegExp): LbdrillError {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const relevant = lines.filter((line) => pattern.test(line));
  let message = (relevant.length > 0 ? relevant : lines.slice(-2)).join(' | ').split(target.renderedSourceFile).join(target.sourceFile);
  for (const [copy, file] of Object.entries(target.rendered.copiesOf ?? {})) message = message.split(join(target.runDir, copy)).join(file);
  return new LbdrillError('LBDRILL_ERR_CONFIG_REJECTED', `${proxy} rejected ${target.sourceFile}: ${message || 'no message'}`);
}

/** First line of `cmd -v` style output matching a pattern, as "name/version". */
export function versionFrom(output: string, pattern: RegExp, name: string): string | undefined {
  const match = pattern.exec(output);
  return match?.[1] ? `${name}/${match[1]}` : undefined;
}
