import { createServer, type Server } from 'node:net';

/*
 * Test backends live on 127.R.(10+target).n. Two lbdrill processes on one machine must not share
 * R: each would find the production port free on the same addresses before either bound it. A
 * process claims R by listening on 127.R.0.1:CLAIM_PORT, which the kernel grants to one socket
 * only, and holds it until it exits (a SIGKILL releases it too, so nothing is left to sweep).
 */

/** Above Linux's default ephemeral range (32768..60999): no outgoing connection holds it, and freePort never hands it out. */
export const CLAIM_PORT = 65_123;
/** R runs over 1..250 (addresses 127.251+ are left to the rest of the machine). */
const BLOCKS = 250;

let claimed: Promise<number> | undefined;
/** The claim socket, referenced for the life of the process. */
let claimSocket: Server | undefined;

function tryListen(host: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL' ? resolve(undefined) : reject(err)));
    server.listen({ host, port: CLAIM_PORT, exclusive: true }, () => resolve(server.unref()));
  });
}

async function claim(): Promise<number> {
  const first = process.pid % BLOCKS;
  for (let i = 0; i < BLOCKS; i++) {
    const block = 1 + ((first + i) % BLOCKS);
    const socket = await tryListen(`127.${block}.0.1`);
    if (socket) {
      claimSocket = socket;
      return block;
    }
  }
  // every block taken (or the port held on the wildcard address by something else): the pid's block, as before claims
  return 1 + first;
}

/** This process's loopback block R (1..250), claimed once and kept until the process exits. */
export function loopbackBlock(): Promise<number> {
  claimed ??= claim();
  return claimed;
}

