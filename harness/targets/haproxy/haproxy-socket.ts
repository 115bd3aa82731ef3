import net from 'node:net';
import { LbdrillError } from '../../errors.ts';
import type { LbServerState } from '../../runtime/lb-state-event.ts';

/** A stats socket command answers within this long on a healthy HAProxy. */
const SOCKET_TIMEOUT_MS = 5_000;

/** Sends one command on HAProxy's stats socket (one connection per command) and returns its answer. */
export function haproxySocketCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    let answer = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${SOCKET_TIMEOUT_MS} ms`)), SOCKET_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer.trim());
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(new LbdrillError('LBDRILL_ERR_RUNTIME_API', `HAProxy stats socket ${socketPath}: ${err.message}`, { cause: err }));
    });
  });
}

/** Every server of `show servers state`: "1" header, "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...". */
export function parseServersState(text: string): Array<{ pool: string; server: string; state: LbServerState }> {
  const rows: Array<{ pool: string; server: string; state: LbServerState }> = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7 || line.startsWith('#') || !/^\d+$/.test(f[0]!)) continue;
    const op = Number(f[5]);
    const admin = Number(f[6]);
    // srv_admin_state bits: 0x01 forced maint, 0x08 forced drain; srv_op_state 0 = stopped, 1 = starting
    // (up, ramping through `slowstart`), 2 = running, 3 = stopping (up, soft-stopped).
    const state: LbServerState = admin & 0x01 ? 'maint' : admin & 0x08 ? 'drain' : op === 0 ? 'down' : 'up';
    rows.push({ pool: f[1]!, server: f[3]!, state });
  }
  return rows;
}
