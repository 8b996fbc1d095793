#!/usr/bin/env bash
# Run the whole test suite: prepare the checkout (scripts/setup.sh), check that
# no model change lacks a migration, then pytest.  Arguments go to pytest, e.g.
#   bash scripts/test.sh tests/admin -x
# The exit status is pytest's (0 all passed, 1 failures, 5 nothing collected, ...).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python

say() { printf 'test: %s\n' "$*"; }

MLMD_SETUP_TESTS=1 bash scripts/setup.sh

say "checking that migrations match the models"
if ! "$PY" manage.py makemigrations --check --dry-run >/dev/null; then
    "$PY" manage.py makemigrations --check --dry-run || true
    say "FAILED: models changed without a migration (run: .venv/bin/python manage.py makemigrations)"
    exit 1
fi

say "linting (ruff)"
"$PY" -m ruff check --quiet . || { say "FAILED: ruff found problems"; exit 1; }

status=0
step() {  # step NAME COMMAND...: run it, remember the first failure, keep going
    local name=$1; shift
    say "$name"
    "$@" || { local rc=$?; say "FAILED: $name (exit $rc)"; [[ $status -ne 0 ]] || status=$rc; }
}

# ml-metadata 1.17.1's own test suite, through its own client, against our gRPC server.
step "ml-metadata conformance suite on SQLite" bash scripts/conformance.sh

# MariaDB, the production backend: a throwaway server (scripts/mariadb.sh), the
# conformance suite and our whole suite again on it.  A server this run starts is
# stopped when the run ends (Ctrl-C included); one that was already running stays.
if ! bash scripts/mariadb.sh status >/dev/null 2>&1; then
    trap 'bash scripts/mariadb.sh stop >/dev/null 2>&1 || true' EXIT
fi
if mysql_url=$(bash scripts/mariadb.sh start >/dev/null && bash scripts/mariadb.sh url); then
    step "ml-metadata conformance suite on MariaDB" bash scripts/conformance.sh \
        --database-url "$(MARIADB_DATABASE=mlmd_conformance bash scripts/mariadb.sh url --fresh)"
    step "pytest on MariaDB" env DATABASE_URL="$mysql_url" "$PY" -m pytest -q --durations=5 --durations-min=5.0 "$@"
else
    say "FAILED: MariaDB could not be started"
    [[ $status -ne 0 ]] || status=1
fi

# Our own suite on SQLite last, so that its summary is the closing line.
# (tests/mysql ran above, against MariaDB.)
step "pytest on SQLite" "$PY" -m pytest -q --durations=10 --durations-min=1.0 --ignore=tests/mysql "$@"

exit "$status"
