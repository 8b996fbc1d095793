"""How fast could any Python gRPC server on a durable SQLite file answer the workload's put_execution?

One command, from the repo root (any Python 3.9+; it only starts processes):

    python3 bench/floor.py [--repeat 3]

bench/run.py compares our server with ml-metadata.  This asks what part of our
put_execution time is ours to cut: it runs bench/workload.py's workload (without
the 5,000-step chain) through ml-metadata's client, each round on fresh SQLite
files, against

  mlmd-memory      ml-metadata's in-process store in memory (the 2x target's reference)
  ours             our gRPC server, recording for each PutExecution the SQL its
                   transaction ran (with parameters) and its answer
  sql-only         the same server, except that PutExecution runs just those recorded
                   statements in one transaction on a plain sqlite3 connection
                   (synchronous=FULL, as ours) and sends the recorded answer: what is
                   left of a put_execution once our Python work on it costs nothing
  sql-only-normal  the same with synchronous=NORMAL (no sync per commit)
  answer-only      PutExecution only sends the recorded answer (the workload stops after
                   that phase): ml-metadata's client and gRPC alone

(bench/floor_server.py is that server.)  Every other method runs our store as
usual.  The replay sees the same calls in the same order on a fresh database as
the recording did, so the ids in its statements are the ones the store gives.
``--cpus N`` keeps every server on CPU N, as ``grpcserver --cpus N``.

Prints the table and writes bench/results/floor.json and floor.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (
    BENCH,
    MLMD_PYTHON,
    RESULTS,
    ROOT,
    SITE_PYTHON,
    Server,
    ensure_mlmd_venv,
    git_revision,
    log,
    machine,
    write_results,
)
from workload import WORKLOAD_PHASES

TARGETS = ("mlmd-memory", "ours", "sql-only", "sql-only-normal", "answer-only")
SERVER_MODES = {
    "ours": ["record"],
    "sql-only": ["sql-only", "--synchronous", "FULL"],
    "sql-only-normal": ["sql-only", "--synchronous", "NORMAL"],
    "answer-only": ["answer-only"],
}
LABELS = {
    "mlmd-memory": "ml-metadata in memory, in-process",
    "ours": "ours, gRPC on a file",
    "sql-only": "the store's SQL only, gRPC on a file",
    "sql-only-normal": "the same, synchronous=NORMAL",
    "answer-only": "recorded answers only (no SQL)",
}


def run_target(target: str, args: argparse.Namespace, rundir: Path) -> dict[str, Any]:
    out = rundir / f"{target}.json"
    recording = rundir / "recording.pickle"
    command = [
        str(MLMD_PYTHON), str(BENCH / "workload.py"), "--api", "mlmd", "--no-long-traversal", "--long-chain", "0",
        "--artifacts", str(args.artifacts), "--executions", str(args.executions),
        "--read-passes", str(args.read_passes), "--out", str(out),
    ]
    server = None
    load_before = os.getloadavg()[0]
    try:
        if target == "mlmd-memory":
            command += ["--store", "mlmd-memory"]
        else:
            database = rundir / f"{target}.sqlite3"
            mode = SERVER_MODES[target]
            server = Server(
                f"sqlite:///{database}", rundir, ROOT, {"MLMD_SQLITE_SYNCHRONOUS": "FULL"},
                command=[
                    str(SITE_PYTHON), str(BENCH / "floor_server.py"), mode[0], str(database), str(recording), *mode[1:],
                    *(["--cpus", args.cpus] if args.cpus else []),
                ],
            )
            command += ["--store", "grpc", "--port", str(server.port)]
            if target == "answer-only":
                command += ["--until", "put_execution"]
        subprocess.run(command, cwd=ROOT, check=True, timeout=args.timeout)
    finally:
        if server is not None:
            server.stop()
    if target == "ours" and not recording.exists():
        raise RuntimeError(f"the recording server wrote no {recording}: {server.log_path.read_text()[-3000:]}")
    phases = json.loads(out.read_text())["phases"]
    whole = all(p in phases for p in WORKLOAD_PHASES)
    return {
        "target": target,
        "phases": phases,
        "put_execution_ms_per_call": phases["put_execution"] / args.executions * 1000,
        "workload_total": sum(phases[p] for p in WORKLOAD_PHASES) if whole else None,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    medians: dict[str, dict[str, float | None]] = {}
    for target in TARGETS:
        mine = [r for r in runs if r["target"] == target]
        totals = [r["workload_total"] for r in mine if r["workload_total"] is not None]
        medians[target] = {
            "put_execution_ms_per_call": statistics.median(r["put_execution_ms_per_call"] for r in mine),
            "workload_total": statistics.median(totals) if totals else None,
        }
    # Ratios per round, then their median: the rounds' loads differ.
    for target in TARGETS:
        ratios = []
        for round_number in {r["round"] for r in runs}:
            by_target = {r["target"]: r for r in runs if r["round"] == round_number}
            total = by_target[target]["workload_total"]
            if total is not None:
                ratios.append(total / by_target["mlmd-memory"]["workload_total"])
        medians[target]["vs_mlmd_memory"] = statistics.median(ratios) if ratios else None
    return medians


def tables(summary: dict[str, Any]) -> str:
    medians = summary["medians"]
    lines = [
        f"Medians of {summary['repeat']} rounds; {summary['executions']:,} put_execution calls, workload without the long chain"
        + (f"; servers kept on CPU {summary['cpus']}." if summary.get("cpus") else "."),
        "",
        "| target | put_execution, ms per call | workload, s | workload / ml-metadata in memory |",
        "|---|---:|---:|---:|",
    ]
    for target in TARGETS:
        row = medians[target]
        total = "—" if row["workload_total"] is None else f"{row['workload_total']:.2f}"
        ratio = "—" if row["vs_mlmd_memory"] is None else f"{row['vs_mlmd_memory']:.2f}"
        lines.append(f"| {LABELS[target]} | {row['put_execution_ms_per_call']:.2f} | {total} | {ratio} |")
    ms = {t: medians[t]["put_execution_ms_per_call"] for t in TARGETS}
    lines += [
        "",
        "One put_execution over gRPC, ms (differences of the medians above):",
        f"- ml-metadata's client and gRPC, with a server that does nothing: {ms['answer-only']:.2f}",
        f"- the store's SQL and its synced commit, as the server runs them: {ms['sql-only'] - ms['answer-only']:.2f}"
        f" (of which the sync per commit: {ms['sql-only'] - ms['sql-only-normal']:.2f})",
        f"- our Python work on the call around that SQL: {ms['ours'] - ms['sql-only']:.2f}",
        f"- for comparison, ml-metadata in memory, whole call in-process: {ms['mlmd-memory']:.2f}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3); the table shows medians")
    parser.add_argument("--read-passes", type=int, default=3, help="passes of each read phase per round")
    parser.add_argument("--artifacts", type=int, default=10_000)
    parser.add_argument("--executions", type=int, default=3_000)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one workload run may take")
    parser.add_argument("--cpus", help="keep the servers on these CPUs (grpcserver --cpus); default: where the OS puts them")
    parser.add_argument("--out", type=Path, default=RESULTS / "floor.json")
    args = parser.parse_args()
    ensure_mlmd_venv()

    (ROOT / "var").mkdir(exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    runs: list[dict[str, Any]] = []
    for round_number in range(args.repeat):
        rundir = Path(tempfile.mkdtemp(prefix="floor-", dir=ROOT / "var"))
        # ml-metadata first in even rounds, last in odd ones; the replays need ours' recording first.
        order = list(TARGETS) if round_number % 2 == 0 else [*TARGETS[1:], TARGETS[0]]
        try:
            for target in order:
                log(f"round {round_number + 1}/{args.repeat}: {target} (load {os.getloadavg()[0]:.1f})")
                run = run_target(target, args, rundir)
                run["round"] = round_number
                log(f"  {target}: put_execution {run['put_execution_ms_per_call']:.2f} ms per call")
                runs.append(run)
        finally:
            shutil.rmtree(rundir, ignore_errors=True)

    loads = [r["load_before"] for r in runs] + [r["load_after"] for r in runs]
    summary: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "revision": git_revision(),
        "machine": machine(),
        "load": {"min": min(loads), "max": max(loads), "median": statistics.median(loads)},
        "repeat": args.repeat,
        "executions": args.executions,
        "cpus": args.cpus,
        "runs": runs,
    }
    summary["medians"] = summarize(runs)
    text = tables(summary) + "\n"
    write_results(args.out, summary, text)


if __name__ == "__main__":
    main()
