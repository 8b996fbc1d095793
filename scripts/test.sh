#!/usr/bin/env bash
# Run the whole test suite: prepare the checkout (scripts/setup.sh), check that
# no model change lacks a migration, then pytest.  Arguments go to pytest, e.g.
#   bash scripts/test.sh tests/admin -x
# The exit status is pytest's (0 all passed, 1 failures, 5 nothing collected, ...).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python

say() { printf 'test: %s\n' "$*"; }

bash scripts/setup.sh

say "checking that migrations match the models"
if ! "$PY" manage.py makemigrations --check --dry-run >/dev/null; then
    "$PY" manage.py makemigrations --check --dry-run || true
    say "FAILED: models changed without a migration (run: .venv/bin/python manage.py makemigrations)"
    exit 1
fi

say "running pytest"
status=0
"$PY" -m pytest -q --durations=10 --durations-min=1.0 "$@" || status=$?

# ---------------------------------------------------------------------------------
# LATER STEPS go here, each run only when pytest passed, keeping the first failure's status:
#   - ml-metadata's own conformance suite against our gRPC server (scripts/conformance.sh)
#   - the same pytest run on MariaDB (DATABASE_URL=mysql://...) when a server is available
# ---------------------------------------------------------------------------------

exit "$status"
