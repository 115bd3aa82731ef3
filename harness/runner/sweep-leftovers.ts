import { readdirSync } from 'node:fs';
import { TestHosts } from '../netns/test-hosts.ts';
import { DEFAULT_STATE_DIR } from '../netns/run-journal.ts';

function journalsExist(): boolean {
  try {
    return readdirSync(DEFAULT_STATE_DIR).some((name) => name.endsWith('.json'));
  } catch {
    return false;
  }
}

/**
 * Removes what runs killed without cleaning up (SIGKILL, OOM) left on the machine: namespaces,
 * veths and claim routes of test hosts whose lbdrill is gone (their iptables rules live in the
 * namespaces and go with them), and says what it removed. Runs before a `--network netns` run,
 * and before any run while a journal of such objects exists; never touches a live run's objects.
 */
export async function sweepLeftovers(network: 'loopback' | 'netns', onMessage: (line: string) => void): Promise<void> {
  if (process.getuid?.() !== 0 || (network !== 'netns' && !journalsExist())) return;
  const { removed, leftovers } = await TestHosts.cleanupStale();
  if (removed.length > 0) onMessage(`removed what an earlier lbdrill run left behind (it ended without cleaning up): ${removed.join(', ')}`);
  if (leftovers.length > 0) onMessage(`could not remove what an earlier lbdrill run left behind: ${leftovers.join('; ')}`);
}
