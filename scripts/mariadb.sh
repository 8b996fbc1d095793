#!/usr/bin/env bash
# A throwaway MariaDB server for development and CI, on 127.0.0.1 only.
#
#   scripts/mariadb.sh start|stop|restart|url|status [--port N] [--datadir DIR] [--wait-timeout S]
#                      [--ssl-dir DIR] [--fresh]
#
#   start     install Debian's mariadb-server when missing, create the data
#             directory on first use, start mysqld, create the database and
#             its user, print the DATABASE_URL (the only line on stdout)
#   url       the same as start: prints the URL, starting the server if needed,
#             so that DATABASE_URL=$(scripts/mariadb.sh url) always works
#   stop      shut the server down (the data directory stays; delete it to start afresh)
#   restart   stop, then start (picks up a changed --wait-timeout for good)
#   status    exit 0 when the server answers, 1 when it does not
#
#   --port N          TCP port (default: the port of the previous start with
#                     this data directory, else a free one)
#   --datadir DIR     where everything lives: data, socket, pid file, log
#                     (default: var/mariadb in the checkout)
#   --wait-timeout S  the server's wait_timeout in seconds: idle connections
#                     older than that are closed by the server (default 28800;
#                     a few seconds lets tests exercise stale connections).
#                     Given to a running server, it is applied with SET GLOBAL.
#   --ssl-dir DIR     TLS: the server presents DIR/server-cert.pem (key
#                     DIR/server-key.pem) and trusts client certificates signed
#                     by DIR/ca.pem; the user must then connect with such a
#                     client certificate (REQUIRE X509).  Read when mysqld
#                     starts (a running server keeps its own): restart to add
#                     or drop it.  Without it the user needs no TLS.
#   --fresh           drop the database first: start (or url) gives an empty one
#
# Environment: MARIADB_PORT, MARIADB_DATADIR, MARIADB_WAIT_TIMEOUT, MARIADB_SSL_DIR (as the
# options), MARIADB_DATABASE / MARIADB_USER / MARIADB_PASSWORD (default
# mlmd / mlmd / mlmd).  The user may create and drop any database (Django's test
# runner creates test_<name>; MLMD configs may create theirs).
#
# Safe to run any number of times.  Running as root, mysqld runs as root
# (--user=root) in its own data directory, listening on 127.0.0.1 and a socket
# in that directory only; no system service, file or account is touched apart
# from installing the packages.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'mariadb: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command=${1:-}
[[ -n $command ]] || { sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
shift

port=${MARIADB_PORT:-}
datadir=${MARIADB_DATADIR:-$ROOT/var/mariadb}
wait_timeout=${MARIADB_WAIT_TIMEOUT:-}
ssl_dir=${MARIADB_SSL_DIR:-}
database=${MARIADB_DATABASE:-mlmd}
user=${MARIADB_USER:-mlmd}
password=${MARIADB_PASSWORD:-mlmd}
fresh=0

while [[ $# -gt 0 ]]; do
    case "$1" in
        --port) port=${2:?--port needs a number}; shift 2 ;;
        --port=*) port=${1#*=}; shift ;;
        --datadir) datadir=${2:?--datadir needs a directory}; shift 2 ;;
        --datadir=*) datadir=${1#*=}; shift ;;
        --wait-timeout) wait_timeout=${2:?--wait-timeout needs seconds}; shift 2 ;;
        --wait-timeout=*) wait_timeout=${1#*=}; shift ;;
        --ssl-dir) ssl_dir=${2:?--ssl-dir needs a directory}; shift 2 ;;
        --ssl-dir=*) ssl_dir=${1#*=}; shift ;;
        --fresh) fresh=1; shift ;;
        *) die "unknown argument $1 (see: $0 without arguments)" ;;
    esac
done
[[ -z $port || $port =~ ^[0-9]+$ ]] || die "--port $port is not a number"
[[ -z $wait_timeout || $wait_timeout =~ ^[1-9][0-9]*$ ]] || die "--wait-timeout $wait_timeout is not a positive number of seconds"
[[ $database =~ ^[A-Za-z0-9_]+$ && $user =~ ^[A-Za-z0-9_]+$ ]] || die "MARIADB_DATABASE and MARIADB_USER take letters, digits and _ only"
[[ $password != *"'"* && $password != *"\\"* ]] || die "MARIADB_PASSWORD may not contain quotes or backslashes"

if [[ -n $ssl_dir ]]; then
    [[ -d $ssl_dir ]] || die "--ssl-dir $ssl_dir is not a directory"
    ssl_dir="$(cd "$ssl_dir" && pwd)"
    for pem in ca.pem server-cert.pem server-key.pem; do
        [[ -r $ssl_dir/$pem ]] || die "--ssl-dir $ssl_dir has no readable $pem"
    done
fi

mkdir -p "$datadir"
datadir="$(cd "$datadir" && pwd)"
data=$datadir/data
cnf=$datadir/my.cnf
pidfile=$datadir/mysqld.pid
log=$datadir/mysqld.log
portfile=$datadir/port
ssl_dir_file=$datadir/ssl-dir
# A Unix socket path may be at most 107 bytes; a deep checkout gets one in /tmp.
socket=$datadir/mysqld.sock
if ((${#socket} > 100)); then
    socket=/tmp/mariadb-$(printf '%s' "$datadir" | cksum | cut -d' ' -f1).sock
fi

if [[ $(id -u) -eq 0 ]]; then run_user=root; else run_user=$(id -un); fi

# --- packages ---------------------------------------------------------------------------
# mariadb-server for the server; libmariadb-dev and pkg-config let pip build mysqlclient.
install_packages() {
    local missing=() pkg
    command -v mariadbd >/dev/null 2>&1 || [[ -x /usr/sbin/mariadbd ]] || missing+=(mariadb-server)
    for pkg in libmariadb-dev pkg-config; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get here; install MariaDB by hand"
    [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}; install them as root: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    local out
    out=$(mktemp)
    say "installing ${missing[*]}"
    # The package lists are refreshed only when the ones on the machine do not have the packages.
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$out" 2>&1; then
        say "refreshing the package lists (apt-get update)"
        if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$out" 2>&1; then
            tail -n 20 "$out" >&2
            rm -f "$out"
            die "could not install ${missing[*]}"
        fi
    fi
    rm -f "$out"
}

server_binary() {
    if command -v mariadbd >/dev/null 2>&1; then command -v mariadbd; else echo /usr/sbin/mariadbd; fi
}

free_port() {
    python3 - <<'EOF' 2>/dev/null || echo 33306
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
EOF
}

# A process that exists and is not a zombie (a killed mysqld whose parent is gone
# may linger as one where nothing reaps it).
running() {
    local state
    [[ -n $1 ]] && kill -0 "$1" 2>/dev/null || return 1
    state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null || true)
    [[ $state != Z ]]
}

# The client as the administrator: root (or the invoking user) through the socket, no password.
admin() { mariadb --no-defaults --protocol=socket --socket="$socket" -u"$run_user" "$@"; }

alive() { mariadb-admin --no-defaults --protocol=socket --socket="$socket" -u"$run_user" --connect-timeout=2 ping >/dev/null 2>&1; }

write_config() {
    cat >"$cnf" <<EOF
# Written by scripts/mariadb.sh; rewritten at every start.
[mariadbd]
datadir=$data
socket=$socket
port=$port
bind-address=127.0.0.1
pid-file=$pidfile
log-error=$log
skip-name-resolve
character-set-server=utf8mb4
# The server's own default collation stays case-insensitive, as on most
# servers; the store's migrations make its tables case-sensitive themselves.
collation-server=utf8mb4_general_ci
default-storage-engine=InnoDB
wait_timeout=${wait_timeout:-28800}
interactive_timeout=${wait_timeout:-28800}
max_connections=300
innodb_buffer_pool_size=256M
innodb_log_file_size=64M
# A throwaway server: commits reach the OS at once but are flushed to disk
# once a second (a crash of the machine may lose the last second; a crash of
# mysqld loses nothing).
innodb_flush_log_at_trx_commit=2
skip-log-bin
EOF
    if [[ -n $ssl_dir ]]; then
        cat >>"$cnf" <<EOF
ssl-ca=$ssl_dir/ca.pem
ssl-cert=$ssl_dir/server-cert.pem
ssl-key=$ssl_dir/server-key.pem
EOF
    fi
}

start() {
    install_packages
    if alive; then
        if [[ -n $wait_timeout ]]; then
            admin -e "SET GLOBAL wait_timeout=$wait_timeout, GLOBAL interactive_timeout=$wait_timeout"
        fi
        [[ -f $portfile ]] && port=$(cat "$portfile")
        # The running server keeps the TLS setup it started with.
        ssl_dir=$(cat "$ssl_dir_file" 2>/dev/null || true)
        ensure_database
        print_url
        return
    fi
    # A pid file left by a crashed server is stale.
    if [[ -f $pidfile ]] && ! running "$(cat "$pidfile")"; then rm -f "$pidfile"; fi
    if [[ -f $pidfile ]]; then
        die "mysqld (pid $(cat "$pidfile")) runs with $datadir but does not answer on $socket; see $log"
    fi
    if [[ -z $port && -f $portfile ]]; then port=$(cat "$portfile"); fi
    if [[ -z $port ]]; then port=$(free_port); fi
    printf '%s\n' "$port" >"$portfile"
    if [[ -n $ssl_dir ]]; then printf '%s\n' "$ssl_dir" >"$ssl_dir_file"; else rm -f "$ssl_dir_file"; fi
    write_config
    if [[ ! -d $data/mysql ]]; then
        say "creating the data directory $data"
        rm -rf "$data"
        mkdir -p "$data"
        local out
        out=$(mktemp)
        if ! mariadb-install-db --defaults-file="$cnf" --user="$run_user" --auth-root-authentication-method=socket \
            --skip-test-db --skip-name-resolve >"$out" 2>&1; then
            tail -n 20 "$out" >&2
            rm -f "$out"
            die "mariadb-install-db failed"
        fi
        rm -f "$out"
    fi
    say "starting mysqld on 127.0.0.1:$port (socket $socket, log $log)"
    # setsid: the server outlives this script and is not killed with its terminal.
    setsid "$(server_binary)" --defaults-file="$cnf" --user="$run_user" </dev/null >>"$log" 2>&1 &
    local pid=$! waited=0
    until alive; do
        if ! running "$pid"; then
            tail -n 20 "$log" >&2
            die "mysqld exited while starting"
        fi
        ((waited < 600)) || { tail -n 20 "$log" >&2; die "mysqld did not answer within 60 s"; }
        sleep 0.1
        waited=$((waited + 1))
    done
    ensure_database
    print_url
}

ensure_database() {
    local require=NONE
    [[ -z $ssl_dir ]] || require=X509
    if ((fresh)); then admin -e "DROP DATABASE IF EXISTS \`$database\`"; fi
    admin <<EOF
CREATE DATABASE IF NOT EXISTS \`$database\` CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY '$password';
CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$password';
ALTER USER '$user'@'localhost' IDENTIFIED BY '$password';
ALTER USER '$user'@'%' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO '$user'@'localhost';
GRANT ALL PRIVILEGES ON *.* TO '$user'@'%';
ALTER USER '$user'@'localhost' REQUIRE $require;
ALTER USER '$user'@'%' REQUIRE $require;
EOF
}

print_url() {
    printf 'mysql://%s:%s@127.0.0.1:%s/%s\n' "$user" "$password" "$port" "$database"
}

stop() {
    if ! alive && [[ ! -f $pidfile ]]; then
        say "not running"
        return 0
    fi
    local pid=""
    [[ -f $pidfile ]] && pid=$(cat "$pidfile")
    if alive; then
        admin -e "SHUTDOWN" >/dev/null 2>&1 || { [[ -n $pid ]] && kill "$pid" 2>/dev/null; } || true
    elif [[ -n $pid ]]; then
        kill "$pid" 2>/dev/null || true
    fi
    local waited=0
    while running "$pid"; do
        ((waited < 600)) || die "mysqld (pid $pid) did not stop within 60 s"
        sleep 0.1
        waited=$((waited + 1))
    done
    rm -f "$pidfile"
    say "stopped"
}

case "$command" in
    start | url) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status)
        if alive; then say "running on 127.0.0.1:$(cat "$portfile" 2>/dev/null) (socket $socket)"; exit 0; fi
        say "not running"; exit 1 ;;
    *) die "unknown command $command (start, stop, restart, url, status)" ;;
esac
