#!/usr/bin/env bash
# Prepare this checkout: system packages, the .venv, Python dependencies and the
# database schema.  Safe to run any number of times: a second run installs nothing.
#
# On Debian/Ubuntu, run as root to let it install graphviz and redis-server.
# On macOS: `brew install graphviz redis python@3.11` once, then this script.
#
# PYTHON   the interpreter that creates .venv (default: python3, 3.10 or newer)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=$ROOT/.venv
PY=$VENV/bin/python
STAMP=$VENV/.requirements.sha256

say() { printf 'setup: %s\n' "$*"; }

# --- system packages ------------------------------------------------------------
# command -> Debian package that provides it.  Graphviz's `dot` draws lineage
# graphs; redis-server is the Celery broker (optional: without it graphs are
# drawn in the web process).
missing=()
need_package() {  # need_package COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    command -v dpkg >/dev/null 2>&1 && dpkg -s "$2" >/dev/null 2>&1 && return 0
    missing+=("$2")
}
need_package dot graphviz
need_package redis-server redis-server
# mysqlclient (the MySQL/MariaDB driver) is built from source by pip: it needs the
# client library headers and pkg-config.
need_dpkg() {  # need_dpkg PACKAGE
    command -v dpkg >/dev/null 2>&1 || return 0
    dpkg -s "$1" >/dev/null 2>&1 || missing+=("$1")
}
need_dpkg pkg-config
need_dpkg libmariadb-dev
# The test suite also drives a real browser and a real MariaDB server.
if [[ ${MLMD_SETUP_TESTS:-0} == 1 ]]; then
    need_package chromium chromium
    need_package mariadbd mariadb-server
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x $PY ]]; then
    command -v "$PYTHON" >/dev/null 2>&1 || { say "error: $PYTHON not found (Python 3.10 or newer is needed)"; exit 1; }
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || { say "error: $("$PYTHON" -V 2>&1) is too old; Python 3.10 or newer is needed"; exit 1; }
    # Debian splits venv/ensurepip into python3-venv.
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
        missing+=("python3-venv")
    fi
fi

if ((${#missing[@]})); then
    if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        log=$(mktemp)
        if { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
            say "installed ${missing[*]}"
        else
            tail -n 5 "$log" | sed 's/^/setup:   /'
            say "warning: could not install ${missing[*]}; continuing without them"
        fi
        rm -f "$log"
    elif [[ $(uname -s) == Darwin ]]; then
        say "warning: missing ${missing[*]}; install with: brew install graphviz redis"
    else
        say "warning: missing ${missing[*]}; install them as root (apt-get install ${missing[*]})"
    fi
fi

# --- virtual environment and Python dependencies ----------------------------------
if [[ ! -x $PY ]]; then
    say "creating .venv with $("$PYTHON" -V 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi

sha256() { "$PY" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"; }
wanted=$(sha256 requirements.txt)
if [[ ! -f $STAMP || $(cat "$STAMP") != "$wanted" ]]; then
    say "installing Python dependencies (requirements.txt changed)"
    "$PY" -m pip install --quiet --disable-pip-version-check -r requirements.txt
    printf '%s\n' "$wanted" >"$STAMP"
else
    say "Python dependencies up to date"
fi

# --- database schema ------------------------------------------------------------------
say "migrating the database"
"$PY" manage.py migrate --noinput --verbosity 0
say "ready"
