/**
 * What lbdrill read from the config under test (or took from the profile or the command line)
 * for one contract value, printed before the checks run and kept in report.json.
 */
export interface Binding {
  /** the contract value ("pool api_pool", "sticky cookie", "weights of api_pool"). */
  what: string;
  /** the value as bound ("be_api (3 servers)", "SRV insert indirect"). */
  value: string;
  /** where it came from: the config (file:line), the profile, a flag, or the traffic that proved it. */
  from: 'config' | 'profile' | 'flag' | 'traffic' | 'missing';
  /** file and line for `config`; the profile file for `profile`. */
  file?: string;
  line?: number;
  /** the flag, the request that proved it, or why it is missing. */
  detail?: string;
}

/** "file:line" for a binding's source, or what stands for it. */
export function bindingSource(b: Binding): string {
  if (b.from === 'config' && b.file !== undefined) return `${b.file}${b.line !== undefined ? `:${b.line}` : ''}`;
  return b.detail !== undefined ? `${b.from}: ${b.detail}` : b.from;
}
