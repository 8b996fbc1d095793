"""The bench's commands still run and still check the answers they time (issue #9).

Timings are never asserted here (the bench reports them, on a machine left
alone).  What is checked: ``bench/run.py``, the command the README documents,
runs the workload end to end against our in-process store on a file and in
memory, with the workload's own checks of every answer (executions per
context, filter matches, lineage sizes), and writes its JSON and tables; and
``bench/workload.py --until`` stops after the phase it names (bench/floor.py
relies on it); ``bench/write_path.py``, whose replays of the recorded statements
must store what the calls stored; and our gRPC server targets, through ml-metadata's client
(from ``.venv-mlmd``, which the run makes when missing, as the conformance step
does), one of them with the server kept on one CPU.  The ml-metadata stores
themselves run in the bench only.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from workload import PHASES  # noqa: E402

pytestmark = pytest.mark.slow


def _bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a bench script as the README does; it must succeed."""
    # The bench's stores are its own files, whatever database the test run uses.
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_bench_command_runs_the_whole_workload_and_writes_its_results(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    done = _bench(
        "run.py", "--repeat", "1", "--read-passes", "1", "--artifacts", "200", "--executions", "100",
        "--long-chain", "150", "--targets", "ours-sqlite,ours-memory", "--out", str(out),
    )
    summary = json.loads(out.read_text())
    assert summary["targets"] == ["ours-sqlite", "ours-memory"]
    for target in ("ours-sqlite", "ours-memory"):
        [run] = [r for r in summary["runs"] if r["target"] == target]
        assert set(run["phases"]) == set(PHASES)
        assert all(seconds > 0 for seconds in run["phases"].values())
        # Two datasets read per execution, one model written: the artifacts the 2 contexts hold.
        assert 100 < run["checks"]["artifacts_by_context"] <= 300
        assert summary["medians"][target]["workload_total"] == pytest.approx(run["workload_total"])
    tables = out.with_suffix(".md").read_text()
    assert "| **workload total** |" in tables
    assert "not judged (the target is for 5,000 steps): 150-step upstream lineage" in tables
    assert tables in done.stdout


def test_the_workload_stops_after_the_phase_it_is_told(tmp_path: Path) -> None:
    out = tmp_path / "until.json"
    _bench(
        "workload.py", "--api", "ours", "--store", "ours-memory", "--artifacts", "100", "--executions", "50",
        "--read-passes", "1", "--until", "put_execution", "--out", str(out),
    )
    phases = json.loads(out.read_text())["phases"]
    assert list(phases) == PHASES[: PHASES.index("put_execution") + 1]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's")
def test_the_grpc_targets_run_through_ml_metadatas_client_one_on_one_cpu(tmp_path: Path) -> None:
    out = tmp_path / "grpc.json"
    _bench(
        "run.py", "--repeat", "1", "--read-passes", "1", "--artifacts", "200", "--executions", "100",
        "--long-chain", "150", "--targets", "ours-grpc-sqlite,ours-grpc-1cpu", "--out", str(out),
    )
    summary = json.loads(out.read_text())
    runs = {r["target"]: r for r in summary["runs"]}
    assert set(runs) == {"ours-grpc-sqlite", "ours-grpc-1cpu"}
    for run in runs.values():
        assert set(run["phases"]) == set(PHASES)
        assert 100 < run["checks"]["artifacts_by_context"] <= 300
    cpu = max(os.sched_getaffinity(0))
    assert f", CPUs {cpu}) over sqlite" in runs["ours-grpc-1cpu"]["server"]
    assert "CPUs" not in runs["ours-grpc-sqlite"]["server"]
    tables = out.with_suffix(".md").read_text()
    assert "| phase | ours gRPC file | ours gRPC file, 1 CPU |" in tables


def test_the_write_path_command_replays_what_the_calls_ran() -> None:
    # The script itself refuses a replay that stores other rows than the calls did.
    done = _bench("write_path.py", "--calls", "60", "--artifacts", "100")
    lines = done.stdout.splitlines()
    [statements] = [line for line in lines if line.startswith("their ")]
    assert float(statements.split()[1]) >= 7  # execution, output, their properties, events, links
    for label in ("WAL pages appended per call", "on a plain sqlite3 connection", "through Django's transaction.atomic"):
        [line] = [line for line in lines if label in line]
        assert float(line.split(":")[-1].split()[0]) > 0, line
