#!/usr/bin/env bash
# Run ml-metadata 1.17.1's own test suite against our gRPC server.
#
#   scripts/conformance.sh [--database-url URL] [--keep] [-- PYTEST_ARGS...]
#
# The suite (ml_metadata/metadata_store/metadata_store_test.py with its
# conftest.py, unmodified, from the installed wheel) talks to
# `manage.py grpcserver` through ml-metadata's own gRPC client.  ml-metadata
# needs protobuf<5 and the project's .venv has protobuf 7, so the suite runs in
# a separate venv, .venv-mlmd/, created here once (a stamp file records its
# pins; change them and it is rebuilt).
#
#   --database-url URL  serve this DATABASE_URL (default: a fresh SQLite file
#                       in a temporary directory)
#   --keep              keep the temporary directory (server log, JUnit XML)
#   -- ARGS             passed to pytest, e.g. -- -k put_artifacts -x
#
# Environment: MLMD_PYTHON picks the interpreter for .venv-mlmd (ml-metadata
# 1.17.1 ships wheels for CPython 3.9-3.11); MLMD_CONFORMANCE_TIMEOUT bounds the
# pytest run in seconds (default 1800).
#
# Exit status: pytest's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MLMD_VENV="$ROOT/.venv-mlmd"
SITE_PYTHON="$ROOT/.venv/bin/python"
DESELECT_FILE="$ROOT/scripts/conformance_deselect.txt"
# Pinned so every machine runs the same suite with the same client.
REQUIREMENTS=(ml-metadata==1.17.1 protobuf==4.25.9 grpcio==1.85.3 absl-py==1.4.0 pytest==9.2.0)

database_url=""
keep=0
pytest_extra=()

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --database-url) database_url="${2:?--database-url needs a URL}"; shift 2 ;;
    --database-url=*) database_url="${1#*=}"; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; pytest_extra=("$@"); break ;;
    *) echo "conformance: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

log() { echo "conformance: $*" >&2; }

# An interpreter ml-metadata 1.17.1 has wheels for.
pick_python() {
  local candidate
  for candidate in "${MLMD_PYTHON:-}" python3 python3.11 python3.10 python3.9; do
    [[ -n "$candidate" ]] && command -v "$candidate" >/dev/null || continue
    if "$candidate" -c 'import sys; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, 11)))'; then
      echo "$candidate"
      return 0
    fi
  done
  log "ml-metadata 1.17.1 needs CPython 3.9-3.11; none found (set MLMD_PYTHON)."
  return 1
}

ensure_mlmd_venv() {
  local stamp="$MLMD_VENV/.conformance-stamp" want python
  want="${REQUIREMENTS[*]}"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$MLMD_VENV/bin/python" ]]; then
    return 0
  fi
  python="$(pick_python)"
  log "creating $MLMD_VENV with $("$python" --version 2>&1): $want"
  rm -rf "$MLMD_VENV"
  "$python" -m venv "$MLMD_VENV"
  # (This machine's pip config names index folders that may not exist: drop those warnings.)
  "$MLMD_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; } >&2
  [[ ${PIPESTATUS[0]} -eq 0 ]] || { log "installing ${REQUIREMENTS[*]} failed"; rm -rf "$MLMD_VENV"; exit 2; }
  echo "$want" >"$stamp"
}

server_pid=""
workdir=""

cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ -n "$workdir" ]]; then
    if [[ $keep -eq 1 ]]; then log "kept $workdir"; else rm -rf "$workdir"; fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Start `manage.py grpcserver` on a port the OS picks, in this shell (so that
# cleanup knows its pid).
start_server() {
  (
    cd "$ROOT"
    # The suite cannot send a bearer token: never inherit one.
    exec env -u MLMD_GRPC_TOKEN -u MLMD_GRPC_TOKEN_FILE DATABASE_URL="$database_url" PYTHONUNBUFFERED=1 \
      "$SITE_PYTHON" manage.py grpcserver --host 127.0.0.1 --port 0
  ) >"$workdir/server.log" 2>&1 &
  server_pid=$!
}

# Print the port once the server has logged it and answers SERVING.
wait_for_port() {
  local log_file="$workdir/server.log" port=""
  for _ in $(seq 1 240); do
    port="$(sed -n 's/.*Serving ml_metadata\.MetadataStoreService on 127\.0\.0\.1:\([0-9][0-9]*\) (.*/\1/p' "$log_file" | head -n 1)"
    [[ -n "$port" ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
      log "the server exited before listening:"; cat "$log_file" >&2; return 1
    fi
    sleep 0.5
  done
  if [[ -z "$port" ]]; then
    log "the server did not start within 120 s:"; cat "$log_file" >&2; return 1
  fi
  if ! (cd "$ROOT" && "$SITE_PYTHON" -m store.grpc.probe --target "127.0.0.1:$port" --timeout 60); then
    log "the server never reported SERVING:"; cat "$log_file" >&2; return 1
  fi
  echo "$port"
}

deselect_args() {
  local suite_file="$1" name
  while IFS= read -r name || [[ -n "$name" ]]; do
    name="${name%%#*}"; name="${name//[[:space:]]/}"
    [[ -n "$name" ]] && printf -- '--deselect\n%s::MetadataStoreTest::%s\n' "$suite_file" "$name"
  done <"$DESELECT_FILE"
}

summarize() {
  "$MLMD_VENV/bin/python" - "$1" <<'PY'
import sys
import xml.etree.ElementTree as ET

counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    outcome = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), None)
    counts[{"failure": "failed", "error": "errors", "skipped": "skipped", None: "passed"}[outcome]] += 1
# The plain "N passed, N failed, N skipped" form (errors count as failed), so
# that tools reading a run's closing line understand it.
print(f"conformance: {counts['passed']} passed, {counts['failed'] + counts['errors']} failed, "
      f"{counts['skipped']} skipped")
PY
}

main() {
  [[ -x "$SITE_PYTHON" ]] || { log "$SITE_PYTHON is missing: set up the project first (scripts/setup.sh)."; exit 2; }
  ensure_mlmd_venv
  workdir="$(mktemp -d "${TMPDIR:-/tmp}/mlmd-conformance.XXXXXX")"
  [[ -n "$database_url" ]] || database_url="sqlite:///$workdir/mlmd.sqlite3"

  local suite_dir suite_file port
  suite_dir="$("$MLMD_VENV/bin/python" -c 'import os, ml_metadata.metadata_store as m; print(os.path.dirname(m.__file__))')"
  suite_file="$suite_dir/metadata_store_test.py"
  [[ -f "$suite_file" && -f "$suite_dir/conftest.py" ]] || { log "no test suite in $suite_dir"; exit 2; }

  start_server
  port="$(wait_for_port)"
  log "server on 127.0.0.1:$port (log: $workdir/server.log); running $suite_file"
  log "deselected (broken in the suite itself, see $(basename "$DESELECT_FILE")): $(grep -cv '^[[:space:]]*\(#\|$\)' "$DESELECT_FILE") tests"

  local -a args
  mapfile -t args < <(deselect_args metadata_store_test.py)
  local code=0
  (
    # Run from the suite's own folder: its conftest.py adds the --grpc_* options and
    # node ids read metadata_store_test.py::MetadataStoreTest::<test>.  `-c /dev/null`
    # keeps the project's pytest.ini (an ancestor of .venv-mlmd) out; nothing is
    # written there (no cache, no bytecode; the JUnit XML goes to the temp dir).
    cd "$suite_dir"
    PYTHONDONTWRITEBYTECODE=1 timeout --signal=TERM "${MLMD_CONFORMANCE_TIMEOUT:-1800}" \
      "$MLMD_VENV/bin/python" -m pytest metadata_store_test.py \
      --rootdir "$suite_dir" -c /dev/null -p no:cacheprovider -q -rfE --tb=line \
      --junitxml "$workdir/junit.xml" \
      --use_grpc_backend --grpc_host 127.0.0.1 --grpc_port "$port" \
      "${args[@]}" "${pytest_extra[@]}"
  ) || code=$?

  if [[ -f "$workdir/junit.xml" ]]; then summarize "$workdir/junit.xml"; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    log "the server died during the run:"; tail -n 50 "$workdir/server.log" >&2
    [[ $code -ne 0 ]] || code=1
  fi
  exit "$code"
}

main
