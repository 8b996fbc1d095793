#!/usr/bin/env bash
# Start everything on this machine: the web site (dashboard, admin, REST API),
# the MLMD gRPC server, Redis and a Celery worker, over the SQLite file in var/
# (or DATABASE_URL), with a demo loaded.  Ctrl-C stops what this script started.
#
# MLMD_HTTP_PORT   web site port (default 8000)
# MLMD_GRPC_PORT   gRPC port (default 8080)
# REDIS_URL        use this Redis instead of starting one on 127.0.0.1:6379
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
VAR=$ROOT/var
HTTP_PORT=${MLMD_HTTP_PORT:-8000}
GRPC_PORT=${MLMD_GRPC_PORT:-8080}
REDIS_PORT=6379

say() { printf 'run: %s\n' "$*"; }

bash scripts/setup.sh
mkdir -p "$VAR"

# --- stop what we start, whatever way we exit -----------------------------------------
started_pids=()
started_redis=0
cleanup() {
    trap - EXIT INT TERM
    local pid
    # ${a[@]+...}: an empty array is "unbound" to bash 3.2 (macOS) under set -u.
    # runserver's autoreloader serves from a child process of its own: stop that one too.
    if [[ -n ${site_pid:-} ]]; then
        pkill -TERM -P "$site_pid" 2>/dev/null || true
    fi
    for pid in ${started_pids[@]+"${started_pids[@]}"}; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in ${started_pids[@]+"${started_pids[@]}"}; do
        wait "$pid" 2>/dev/null || true
    done
    if ((started_redis)) && [[ -f $VAR/redis.pid ]]; then
        kill "$(cat "$VAR/redis.pid")" 2>/dev/null || true
    fi
    ((${#started_pids[@]} + started_redis)) && say "stopped background processes" || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

has_command() { "$PY" manage.py help "$1" >/dev/null 2>&1; }

# --- demo data and an admin account ---------------------------------------------------
if has_command load_demo; then
    say "loading the demo"
    "$PY" manage.py load_demo
fi

"$PY" manage.py collectstatic --noinput --verbosity 0

# The password is generated once and kept in var/admin-password (mode 600); an
# existing account keeps whatever password it has.
"$PY" manage.py shell --no-imports -c '
import secrets, sys
from pathlib import Path
from django.contrib.auth import get_user_model

path = Path("var/admin-password")
User = get_user_model()
user = User.objects.filter(username="admin").first()
if user is None or not path.exists():
    password = path.read_text().strip() if path.exists() and user is None else secrets.token_urlsafe(18)
    if user is None:
        User.objects.create_superuser("admin", "", password)
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    path.touch(mode=0o600)
    path.write_text(password + "\n")
' >/dev/null
ADMIN_PASSWORD=$(cat "$VAR/admin-password")

# --- Redis and a Celery worker -------------------------------------------------------------
redis_ping() { "$PY" -c 'import redis, sys; redis.Redis.from_url(sys.argv[1], socket_timeout=1).ping()' "$1" >/dev/null 2>&1; }
if [[ -n ${REDIS_URL:-} ]]; then
    redis_ping "$REDIS_URL" || say "warning: REDIS_URL=$REDIS_URL does not answer"
elif redis_ping "redis://127.0.0.1:$REDIS_PORT/0"; then
    export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    say "using the Redis already listening on 127.0.0.1:$REDIS_PORT"
elif command -v redis-server >/dev/null 2>&1; then
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
        --pidfile "$VAR/redis.pid" --logfile "$VAR/redis.log" --dir "$VAR"
    started_redis=1
    for _ in $(seq 50); do redis_ping "redis://127.0.0.1:$REDIS_PORT/0" && break; sleep 0.1; done
    if redis_ping "redis://127.0.0.1:$REDIS_PORT/0"; then
        export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
        say "started Redis on 127.0.0.1:$REDIS_PORT (log: var/redis.log)"
    else
        say "warning: Redis did not start (see var/redis.log); graphs will be drawn in the web process"
    fi
else
    say "no redis-server: graphs will be drawn in the web process"
fi

if [[ -n ${REDIS_URL:-} ]] && redis_ping "$REDIS_URL"; then
    # -B: this worker also runs the drawing sweep every minute (one per installation).
    "$ROOT/.venv/bin/celery" -A mlmdsite worker -B -s "$VAR/celerybeat-schedule" --loglevel INFO >"$VAR/celery.log" 2>&1 &
    celery_pid=$!
    started_pids+=("$celery_pid")
    say "started a Celery worker (log: var/celery.log)"
fi

# --- gRPC server ------------------------------------------------------------------------------
grpc_line="(not available yet)"
if has_command grpcserver; then
    "$PY" manage.py grpcserver --port "$GRPC_PORT" >"$VAR/grpcserver.log" 2>&1 &
    grpc_pid=$!
    started_pids+=("$grpc_pid")
    grpc_line="127.0.0.1:$GRPC_PORT (log: var/grpcserver.log)"
fi

# A process that dies at once (port taken, bad configuration) is reported here.
sleep 2
if [[ -n ${grpc_pid:-} ]] && ! kill -0 "$grpc_pid" 2>/dev/null; then
    grpc_line="FAILED to start, see var/grpcserver.log"
    say "warning: the gRPC server exited: $(tail -n 1 "$VAR/grpcserver.log" 2>/dev/null)"
fi
if [[ -n ${celery_pid:-} ]] && ! kill -0 "$celery_pid" 2>/dev/null; then
    say "warning: the Celery worker exited, see var/celery.log"
fi

# --- web site, in the foreground -----------------------------------------------------------------
cat <<EOF
run: ------------------------------------------------------------
run: dashboard  http://127.0.0.1:$HTTP_PORT/
run: admin      http://127.0.0.1:$HTTP_PORT/admin/   login: admin  password: $ADMIN_PASSWORD
run: REST API   http://127.0.0.1:$HTTP_PORT/api/v1/   docs: http://127.0.0.1:$HTTP_PORT/api/docs/
run:            a token: .venv/bin/python manage.py create_api_token admin   (header "Authorization: Token <key>")
run: gRPC       $grpc_line
run: Ctrl-C stops everything started here.
run: ------------------------------------------------------------
EOF
# Started in the background and waited for: bash runs a trap only once the foreground
# command has ended, so `kill <this script>` would otherwise leave everything running.
"$PY" manage.py runserver "127.0.0.1:$HTTP_PORT" &
site_pid=$!
started_pids+=("$site_pid")
site_status=0
wait "$site_pid" || site_status=$?
exit "$site_status"
