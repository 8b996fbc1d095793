#!/usr/bin/env bash
# A throwaway Redis server (the Celery broker) for development, tests and CI, on 127.0.0.1 only.
#
#   scripts/redis.sh start|stop|url|status [--port N] [--dir DIR]
#
#   start    install Debian's redis-server when missing (as root), start
#            redis-server in DIR (pid file, log, no persistence), wait until it
#            answers, print the REDIS_URL (the only line on stdout)
#   url      the same as start: prints the URL, starting the server if needed,
#            so that REDIS_URL=$(scripts/redis.sh url) always works
#   stop     shut the server down (the directory stays; nothing is saved in it)
#   status   exit 0 when the server answers, 1 when it does not
#
#   --port N    TCP port (default: the port of the previous start with this
#               directory, else a free one)
#   --dir DIR   where the pid file, log and port file live (default: var/redis)
#
# Environment: REDIS_PORT, REDIS_DIR (as the options).  Safe to run any number
# of times; no system service or file is touched apart from installing the package.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'redis: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command=${1:-}
[[ -n $command ]] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
shift

port=${REDIS_PORT:-}
dir=${REDIS_DIR:-$ROOT/var/redis}
while [[ $# -gt 0 ]]; do
    case "$1" in
        --port) port=${2:?--port needs a number}; shift 2 ;;
        --port=*) port=${1#*=}; shift ;;
        --dir) dir=${2:?--dir needs a directory}; shift 2 ;;
        --dir=*) dir=${1#*=}; shift ;;
        *) die "unknown argument $1 (see: $0 without arguments)" ;;
    esac
done
[[ -z $port || $port =~ ^[0-9]+$ ]] || die "--port $port is not a number"

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
pidfile=$dir/redis.pid
log=$dir/redis.log
portfile=$dir/port
[[ -n $port || ! -f $portfile ]] || port=$(cat "$portfile")

install_package() {
    command -v redis-server >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || die "redis-server is missing and there is no apt-get here; install Redis by hand"
    [[ $(id -u) -eq 0 ]] || die "redis-server is missing; install it as root: apt-get install redis-server"
    export DEBIAN_FRONTEND=noninteractive
    local out
    out=$(mktemp)
    say "installing redis-server"
    # The package lists are refreshed only when the ones on the machine do not have it.
    if ! apt-get install -y -qq --no-install-recommends redis-server >"$out" 2>&1; then
        if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server; } >"$out" 2>&1; then
            tail -n 20 "$out" >&2
            rm -f "$out"
            die "could not install redis-server"
        fi
    fi
    rm -f "$out"
}

free_port() {
    python3 - <<'EOF' 2>/dev/null || echo 16379
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
EOF
}

# PING over a plain TCP connection: needs neither redis-cli nor the Python client.
alive() {
    [[ -n $port ]] || return 1
    python3 - "$port" <<'EOF' >/dev/null 2>&1
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
    s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
EOF
}

print_url() { printf 'redis://127.0.0.1:%s/0\n' "$port"; }

start() {
    if alive; then
        print_url
        return
    fi
    install_package
    [[ -n $port ]] || port=$(free_port)
    printf '%s\n' "$port" >"$portfile"
    rm -f "$pidfile"
    # No snapshots, no append-only file: a broker for throwaway use; --daemonize detaches it.
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
        --pidfile "$pidfile" --logfile "$log" --save "" --appendonly no >/dev/null
    for _ in $(seq 100); do
        alive && break
        sleep 0.05
    done
    alive || die "redis-server did not answer on port $port; see $log"
    say "started on 127.0.0.1:$port (log $log)"
    print_url
}

stop() {
    local pid=""
    [[ -f $pidfile ]] && pid=$(cat "$pidfile")
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
        say "stopped (port ${port:-?})"
    fi
    rm -f "$pidfile"
}

case "$command" in
    start | url) start ;;
    stop) stop ;;
    status) alive ;;
    *) die "unknown command $command (start, stop, url or status)" ;;
esac
