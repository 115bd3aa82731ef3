import type net from 'node:net';

/**
 * Closes a TCP socket with an RST where that is safe, else destroys it.
 * Before the handshake there is no connection to reset. After end() libuv may have a
 * shutdown in flight: uv_tcp_close_reset then fails (EINVAL), node never closes the
 * handle, 'close' never comes and the process spins at exit. A plain destroy is safe there.
 */
export function resetSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting || socket.pending || socket.writableEnded) {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
