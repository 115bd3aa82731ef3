#!/usr/bin/env bash
# The deployed pool of examples/deployed-processes, run as plain processes with pid files
# (what docker/systemd would do on a real host). Hooks of deployment.yaml call it.
#   pool.sh up | down                    the whole pool: both backends, then HAProxy
#   pool.sh start|stop|kill NAME         one backend (backend-api-1, backend-api-2)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
state="${LBDRILL_EXAMPLE_STATE:-/tmp/lbdrill-deployed-processes}"
mkdir -p "$state"

address() {
  case "$1" in
    backend-api-1) echo 127.61.0.11:18081 ;;
    backend-api-2) echo 127.61.0.12:18082 ;;
    *) echo "unknown backend $1" >&2; exit 2 ;;
  esac
}

listening() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

start() {
  local name="$1" addr; addr="$(address "$1")"
  if [ -f "$state/$name.pid" ] && kill -0 "$(cat "$state/$name.pid")" 2>/dev/null; then echo "$name already runs"; return; fi
  cd "$repo"
  # output to a file: a hook's stdout must close when the hook ends; its own session, as a service
  # manager would start it, so that ending the hook (lbdrill stops a hook's process group) leaves it running
  setsid nohup node --import tsx fixtures/backend/main.ts --id "$name" --listen "$addr" --health-path /api/v1/health >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
  for _ in $(seq 100); do listening "$addr" && { echo "$name started (pid $(cat "$state/$name.pid")) on $addr"; return; }; sleep 0.1; done
  echo "$name did not listen on $addr within 10 s" >&2; exit 1
}

stop() {
  local name="$1" signal="${2:-TERM}" pid
  [ -f "$state/$name.pid" ] || { echo "$name is not running (no pid file)"; return; }
  pid="$(cat "$state/$name.pid")"
  kill "-$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || { rm -f "$state/$name.pid"; echo "$name stopped ($signal)"; return; }; sleep 0.1; done
  echo "$name (pid $pid) still runs 10 s after SIG$signal" >&2; exit 1
}

case "${1:-}" in
  start) start "$2" ;;
  stop) stop "$2" TERM ;;
  kill) stop "$2" KILL ;;
  up)
    start backend-api-1; start backend-api-2
    if [ -f "$state/haproxy.pid" ] && kill -0 "$(cat "$state/haproxy.pid")" 2>/dev/null; then echo "haproxy already runs"; exit 0; fi
    haproxy -f "$here/haproxy.cfg" -D -p "$state/haproxy.pid"
    for _ in $(seq 50); do listening 127.61.0.1:18080 && break; sleep 0.1; done
    echo "haproxy up (pid $(cat "$state/haproxy.pid")) on 127.61.0.1:18080" ;;
  down)
    [ -f "$state/haproxy.pid" ] && { kill "$(cat "$state/haproxy.pid")" 2>/dev/null || true; rm -f "$state/haproxy.pid"; }
    stop backend-api-1 TERM; stop backend-api-2 TERM
    # a backend whose pid file was lost (its start interrupted) still holds its address: end it by its command line
    for name in backend-api-1 backend-api-2; do pkill -f -- "--id $name --listen $(address "$name")" || true; done ;;
  *) echo "usage: pool.sh up|down|start NAME|stop NAME|kill NAME" >&2; exit 2 ;;
esac
