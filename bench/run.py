"""Run bench/workload.py against ml-metadata 1.17.1 and against this store, side by side, and print the table.

One command, from the repo root (any Python 3.9+; it only starts processes):

    python3 bench/run.py                 # 3 rounds of every target, medians
    python3 bench/run.py --repeat 5 --mariadb --memory

Targets, each run on a fresh database in var/bench-*/ (on disk, so that fsync costs what it costs):

  mlmd-sqlite       ml-metadata's in-process C++ store on an SQLite file      (.venv-mlmd)
  mlmd-memory       ml-metadata's in-process store on its fake_database       (.venv-mlmd)
  ours-grpc-sqlite  ml-metadata's gRPC client -> `manage.py grpcserver` on an SQLite file
  ours-grpc-normal  the same with MLMD_SQLITE_SYNCHRONOUS=NORMAL (no fsync per commit: safe from
                    a killed process, not from a power cut; see the README)
  ours-grpc-1cpu    ours-grpc-sqlite with the server kept on one CPU (MLMD_GRPC_CPUS=N, as
                    `grpcserver --cpus N`; N the highest CPU this process may use)
  ours-sqlite       our in-process MetadataStore on an SQLite file            (.venv)
  ours-memory       our in-process MetadataStore on fake_database             (.venv)
  ours-grpc-mariadb ml-metadata's gRPC client -> grpcserver on MariaDB        (--mariadb; scripts/mariadb.sh)

The reference side runs in .venv-mlmd (ml-metadata 1.17.1 with protobuf 4), the
venv scripts/conformance.sh makes; it is created here with the same pins when
missing.  Rounds go through the targets in a rotating order, so that a burst of
load on the machine does not land on one target only; the table shows medians.
Within a round, each read phase runs --read-passes times (5) and counts its
median pass (see bench/workload.py).

--memory adds a separate run: a fresh gRPC server on SQLite is filled with
100,000 artifacts, then read 20,000 times; its resident memory (VmRSS from
/proc/PID/status) is sampled every 1,000 calls.

Writes bench/results/latest.json (every run's figures, the medians, the
machine and its load) and bench/results/latest.md (the tables).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
SITE_PYTHON = ROOT / ".venv" / "bin" / "python"
MLMD_VENV = ROOT / ".venv-mlmd"
MLMD_PYTHON = MLMD_VENV / "bin" / "python"

sys.path.insert(0, str(BENCH))
from workload import EXTRA_PHASES, PHASES, READ_PHASES, WORKLOAD_PHASES  # noqa: E402

REFERENCE = ("mlmd-sqlite", "mlmd-memory")
DEFAULT_TARGETS = (
    "mlmd-sqlite", "mlmd-memory", "ours-grpc-sqlite", "ours-grpc-1cpu", "ours-grpc-normal", "ours-sqlite", "ours-memory"
)
LABELS = {
    "mlmd-sqlite": "MLMD file",
    "mlmd-memory": "MLMD memory",
    "ours-grpc-sqlite": "ours gRPC file",
    "ours-grpc-normal": "ours gRPC file, NORMAL",
    "ours-grpc-1cpu": "ours gRPC file, 1 CPU",
    "ours-sqlite": "ours file",
    "ours-memory": "ours memory",
    "ours-grpc-mariadb": "ours gRPC MariaDB",
}
# (ours, reference) pairs whose ratio the table shows.
RATIOS = (
    ("ours-grpc-sqlite", "mlmd-sqlite"),
    ("ours-grpc-sqlite", "mlmd-memory"),
    ("ours-grpc-1cpu", "mlmd-sqlite"),
    ("ours-grpc-1cpu", "mlmd-memory"),
    ("ours-grpc-normal", "mlmd-memory"),
    ("ours-sqlite", "mlmd-sqlite"),
    ("ours-memory", "mlmd-memory"),
    ("ours-grpc-mariadb", "mlmd-sqlite"),
)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- environment


def ensure_mlmd_venv() -> None:
    """.venv-mlmd with the pins of scripts/conformance.sh (the same venv, the same stamp)."""
    script = (ROOT / "scripts" / "conformance.sh").read_text()
    match = re.search(r"^REQUIREMENTS=\((.*)\)$", script, re.M)
    if not match:
        raise SystemExit("bench: cannot read the ml-metadata pins from scripts/conformance.sh")
    pins = match.group(1).split()
    stamp = MLMD_VENV / ".conformance-stamp"
    if MLMD_PYTHON.exists() and stamp.exists() and stamp.read_text().strip() == " ".join(pins):
        return
    python = os.environ.get("MLMD_PYTHON") or shutil.which("python3.11") or shutil.which("python3")
    log(f"creating {MLMD_VENV} ({' '.join(pins)})")
    shutil.rmtree(MLMD_VENV, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(MLMD_VENV)], check=True)
    subprocess.run([str(MLMD_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins], check=True)
    stamp.write_text(" ".join(pins) + "\n")


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    sqlite_version = subprocess.run(
        [str(SITE_PYTHON), "-c", "import sqlite3; print(sqlite3.sqlite_version)"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "sqlite": sqlite_version,
    }


def git_revision() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout
        return head + ("+changes" if dirty.strip() else "")
    except OSError:
        return "unknown"


# ---------------------------------------------------------------------------- the gRPC server


class Server:
    """`manage.py grpcserver` (or ``command``, which logs the same line once serving) on a free port, over ``database_url``."""

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        ours_root: Path,
        extra_env: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        self.log_path = workdir / f"grpcserver-{int(time.time() * 1000)}.log"
        env = dict(os.environ, DATABASE_URL=database_url, PYTHONUNBUFFERED="1", **(extra_env or {}))
        env.pop("MLMD_GRPC_TOKEN", None)
        env.pop("MLMD_GRPC_TOKEN_FILE", None)
        self.log_file = self.log_path.open("w")
        self.process = subprocess.Popen(
            command or [str(SITE_PYTHON), "manage.py", "grpcserver", "--host", "127.0.0.1", "--port", "0"],
            cwd=ours_root,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        self.startup_line = ""
        self.port = self._wait_for_port()

    def _wait_for_port(self) -> int:
        pattern = re.compile(r"Serving ml_metadata\.MetadataStoreService on 127\.0\.0\.1:(\d+) .*")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            match = pattern.search(self.log_path.read_text())
            if match:
                self.startup_line = match.group(0)  # how it runs: workers, CPUs, database
                return int(match.group(1))
            if self.process.poll() is not None:
                raise RuntimeError(f"the gRPC server exited: {self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError("the gRPC server did not start within 300 s")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


# ---------------------------------------------------------------------------- MariaDB


def mariadb_url() -> tuple[str | None, str]:
    """The URL of scripts/mariadb.sh's server, or (None, why not)."""
    script = ROOT / "scripts" / "mariadb.sh"
    if not script.exists():
        return None, "scripts/mariadb.sh does not exist"
    result = subprocess.run(["bash", str(script), "url"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    url = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0 or not url.startswith("mysql://"):
        return None, f"scripts/mariadb.sh url failed ({result.returncode}): {result.stderr.strip()[-300:]}"
    return url, ""


def _mysql(url: str, statement: str) -> None:
    """Run one statement on the server of ``url`` (its database not selected), with the project's driver."""
    code = (
        "import sys, MySQLdb\n"
        "from urllib.parse import urlsplit, unquote\n"
        "u = urlsplit(sys.argv[1])\n"
        "c = MySQLdb.connect(host=u.hostname, port=u.port or 3306, user=unquote(u.username or ''),"
        " password=unquote(u.password or ''))\n"
        "c.cursor().execute(sys.argv[2]); c.close()\n"
    )
    subprocess.run([str(SITE_PYTHON), "-c", code, url, statement], check=True)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


# ---------------------------------------------------------------------------- one run


def run_target(target: str, args: argparse.Namespace, workdir: Path, mariadb: str | None, round_number: int) -> dict[str, Any]:
    """One workload run on a fresh database; its JSON result."""
    rundir = Path(tempfile.mkdtemp(prefix=f"{target}-", dir=workdir))
    out = rundir / "result.json"
    common = [
        "--out", str(out),
        "--artifacts", str(args.artifacts),
        "--executions", str(args.executions),
        "--long-chain", str(args.long_chain),
        "--read-passes", str(args.read_passes),
    ]
    env = dict(os.environ, MLMD_BENCH_OURS_ROOT=str(args.ours_root), MLMD_SQLITE_SYNCHRONOUS="FULL")
    server: Server | None = None
    database = ""
    load_before = os.getloadavg()
    try:
        if target.startswith("mlmd-"):
            command = [str(MLMD_PYTHON), str(BENCH / "workload.py"), "--api", "mlmd", "--store", target, "--no-long-traversal"]
            if target == "mlmd-sqlite":
                command += ["--db", str(rundir / "mlmd.sqlite")]
        elif target in ("ours-sqlite", "ours-memory"):
            command = [str(SITE_PYTHON), str(BENCH / "workload.py"), "--api", "ours", "--store", target]
            if target == "ours-sqlite":
                command += ["--db", str(rundir / "ours.sqlite3")]
        else:
            # One CPU for ours-grpc-1cpu (grpcserver reads MLMD_GRPC_CPUS); none from the caller's shell elsewhere.
            extra_env = {"MLMD_GRPC_CPUS": str(max(os.sched_getaffinity(0))) if target == "ours-grpc-1cpu" else ""}
            if target in ("ours-grpc-sqlite", "ours-grpc-normal", "ours-grpc-1cpu"):
                url = f"sqlite:///{rundir / 'ours.sqlite3'}"
                extra_env["MLMD_SQLITE_SYNCHRONOUS"] = "NORMAL" if target == "ours-grpc-normal" else "FULL"
            else:
                assert mariadb is not None
                database = f"mlmd_bench_{os.getpid()}_{round_number}"
                _mysql(mariadb, f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
                url = with_database(mariadb, database)
            server = Server(url, rundir, args.ours_root, extra_env)
            command = [
                str(MLMD_PYTHON), str(BENCH / "workload.py"), "--api", "mlmd", "--store", "grpc",
                "--port", str(server.port), "--server-pid", str(server.pid),
            ]
        started = time.perf_counter()
        subprocess.run(command + common, cwd=ROOT, env=env, check=True, timeout=args.timeout)
        result = json.loads(out.read_text())
        result["wall_seconds"] = time.perf_counter() - started
        if server is not None:
            result["server"] = server.startup_line
    finally:
        if server is not None:
            server.stop()
        if database and mariadb:
            _mysql(mariadb, f"DROP DATABASE IF EXISTS `{database}`")
        if not args.keep:
            shutil.rmtree(rundir, ignore_errors=True)
    result["target"] = target
    result["round"] = round_number
    result["load_before"] = load_before
    result["load_after"] = os.getloadavg()
    phases = result["phases"]
    result["workload_total"] = sum(phases[p] for p in WORKLOAD_PHASES)
    return result


def memory_run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    rundir = Path(tempfile.mkdtemp(prefix="memory-", dir=workdir))
    out = rundir / "result.json"
    server = Server(f"sqlite:///{rundir / 'ours.sqlite3'}", rundir, args.ours_root)
    try:
        rss_idle = _rss(server.pid)
        subprocess.run(
            [
                str(MLMD_PYTHON), str(BENCH / "workload.py"), "--api", "mlmd", "--store", "grpc",
                "--port", str(server.port), "--server-pid", str(server.pid), "--mode", "memory",
                "--memory-artifacts", str(args.memory_artifacts), "--read-calls", str(args.read_calls),
                "--out", str(out),
            ],
            cwd=ROOT,
            check=True,
            timeout=args.timeout * 3,
        )
        result = json.loads(out.read_text())["memory"]
        result["rss_idle_kib"] = rss_idle["VmRSS"]
        result["database_bytes"] = sum(p.stat().st_size for p in rundir.glob("ours.sqlite3*"))
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(rundir, ignore_errors=True)
    return result


def _rss(pid: int) -> dict[str, int]:
    sys.path.insert(0, str(BENCH))
    from workload import rss_kib

    return rss_kib(pid)


# ---------------------------------------------------------------------------- the tables


def medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    by_target: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        figures = by_target.setdefault(run["target"], {})
        for phase, seconds in run["phases"].items():
            figures.setdefault(phase, []).append(seconds)
        figures.setdefault("workload_total", []).append(run["workload_total"])
        if "server_rss_kib" in run:
            figures.setdefault("server_rss_mib", []).append(run["server_rss_kib"]["VmRSS"] / 1024)
            figures.setdefault("server_peak_mib", []).append(run["server_rss_kib"]["VmHWM"] / 1024)
        figures.setdefault("client_max_rss_mib", []).append(run["client_max_rss_kib"] / 1024)
    return {target: {k: statistics.median(v) for k, v in figures.items()} for target, figures in by_target.items()}


def _cell(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if value < 10 else f"{value:.2f}"


def tables(summary: dict[str, Any]) -> str:
    med = summary["medians"]
    targets = [t for t in summary["targets"] if t in med]
    lines = [f"Seconds per phase (median of {summary['repeat']} rounds):", ""]
    header = ["phase", *(LABELS[t] for t in targets)]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * len(targets)) + "|")
    for phase in [*WORKLOAD_PHASES, "workload_total", *EXTRA_PHASES]:
        cells = []
        for target in targets:
            value = med[target].get(phase)
            if value is None and phase.startswith("lineage5000") and target in REFERENCE:
                cells.append("n/a (100-hop cap)")
            else:
                cells.append(_cell(value))
        name = "**workload total**" if phase == "workload_total" else phase
        lines.append("| " + " | ".join([name, *cells]) + " |")
    lines += ["", "Ratios ours / reference (below 1.0: ours is faster):", ""]
    pairs = [(o, r) for o, r in RATIOS if o in med and r in med]
    lines.append("| phase | " + " | ".join(f"{LABELS[o]} / {LABELS[r]}" for o, r in pairs) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * len(pairs)) + "|")
    for phase in [*WORKLOAD_PHASES, "workload_total", "chain5000_build"]:
        cells = []
        for ours, reference in pairs:
            a, b = med[ours].get(phase), med[reference].get(phase)
            cells.append(f"{a / b:.2f}" if a is not None and b else "—")
        name = "**workload total**" if phase == "workload_total" else phase
        lines.append("| " + " | ".join([name, *cells]) + " |")
    memory_rows = [(t, med[t]) for t in targets]
    lines += ["", "Memory (MiB, median): gRPC server after the workload (VmRSS / peak VmHWM); the workload process's peak:", ""]
    lines.append("| target | server RSS | server peak | client peak |")
    lines.append("|---|---:|---:|---:|")
    for target, figures in memory_rows:
        server = figures.get("server_rss_mib")
        peak = figures.get("server_peak_mib")
        lines.append(
            f"| {LABELS[target]} | {f'{server:.0f}' if server else '—'} | {f'{peak:.0f}' if peak else '—'}"
            f" | {figures['client_max_rss_mib']:.0f} |"
        )
    if summary.get("memory"):
        m = summary["memory"]
        reads = [s for s in m["samples"] if s["stage"] == "read"]
        lines += [
            "",
            f"gRPC server memory, {m['artifacts']:,} artifacts then {m['read_calls']:,} reads"
            f" (RSS MiB; database {m['database_bytes'] / 2**20:.0f} MiB on disk):",
            "",
            f"- idle after start: {m['rss_idle_kib'] / 1024:.0f}; after the {m['artifacts']:,} puts"
            f" ({m['fill_seconds']:.1f} s): {m['rss_after_fill_kib'] / 1024:.0f}",
            f"- during the reads, every {reads[1]['calls'] - reads[0]['calls'] if len(reads) > 1 else 0} calls: "
            + ", ".join(f"{s['VmRSS'] / 1024:.0f}" for s in reads),
            f"- first/last/max read sample: {m['rss_read_first_kib'] / 1024:.0f} / {m['rss_read_last_kib'] / 1024:.0f}"
            f" / {m['rss_read_max_kib'] / 1024:.0f}; reads took {m['read_seconds']:.1f} s",
            f"- after get_artifacts_by_type of all {m['artifacts']:,} in one call ({m['get_all_by_type_seconds']:.1f} s):"
            f" {m['rss_after_get_all_by_type_kib'] / 1024:.0f}, peak {m['peak_kib'] / 1024:.0f}",
        ]
    if summary.get("skipped"):
        lines += [""] + [f"skipped: {target}: {why}" for target, why in summary["skipped"].items()]
    loads = summary["load"]
    lines += [
        "",
        f"Machine: {summary['machine']['nproc']} CPUs ({summary['machine']['cpu']}), {summary['machine']['memory_gib']} GiB;"
        f" SQLite {summary['machine']['sqlite']}; load average during the runs {loads['min']:.1f}–{loads['max']:.1f}"
        f" (median {loads['median']:.1f}).",
    ]
    return "\n".join(lines)


# The targets judged as "our gRPC server on an SQLite file", and how their verdicts name them.
_GRPC_FILE_SERVERS = (("ours-grpc-sqlite", ""), ("ours-grpc-1cpu", ", server on 1 CPU"))


def check_targets(summary: dict[str, Any]) -> list[str]:
    """The issue's targets, each with its verdict."""
    med = summary["medians"]
    verdicts = []

    def ratio(ours: str, ref: str, phase: str) -> float | None:
        if ours in med and ref in med and med[ours].get(phase) and med[ref].get(phase):
            return med[ours][phase] / med[ref][phase]
        return None

    for server, how in _GRPC_FILE_SERVERS:
        total_file = ratio(server, "mlmd-sqlite", "workload_total")
        total_memory = ratio(server, "mlmd-memory", "workload_total")
        if total_file is not None:
            verdicts.append(
                f"{'met' if total_file <= 1.0 else 'MISSED'}: workload via gRPC on a file{how}"
                f" ≤ 1.0× ml-metadata on a file ({total_file:.2f}×)"
            )
        if total_memory is not None:
            verdicts.append(
                f"{'met' if total_memory <= 2.0 else 'MISSED'}: workload via gRPC on a file{how}"
                f" ≤ 2× ml-metadata in memory ({total_memory:.2f}×)"
            )
    normal_memory = ratio("ours-grpc-normal", "mlmd-memory", "workload_total")
    if normal_memory is not None:
        verdicts.append(
            f"{'met' if normal_memory <= 2.0 else 'MISSED'}: the same with synchronous=NORMAL ({normal_memory:.2f}×)"
        )
    for server, how in _GRPC_FILE_SERVERS:
        for phase in READ_PHASES:
            r = ratio(server, "mlmd-sqlite", phase)
            if r is not None:
                verdicts.append(f"{'met' if r <= 1.0 else 'MISSED'}: {phase} via gRPC{how} ≤ ml-metadata on a file ({r:.2f}×)")
    for target in ("ours-grpc-sqlite", "ours-sqlite", "ours-memory"):
        seconds = med.get(target, {}).get("lineage5000")
        if seconds is not None:
            steps = summary["workload"]["long_chain"]
            verdict = ("met" if seconds < 1.0 else "MISSED") if steps == 5_000 else "not judged (the target is for 5,000 steps)"
            verdicts.append(f"{verdict}: {steps:,}-step upstream lineage < 1 s on {target} ({seconds:.3f} s)")
    return verdicts


# ---------------------------------------------------------------------------- main


def write_results(out: Path, summary: dict[str, Any], text: str) -> None:
    """The summary as JSON at ``out``, the tables beside it (.md), and the tables on stdout."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    out.with_suffix(".md").write_text(text)
    print(text)
    log(f"wrote {out} and {out.with_suffix('.md')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every target (default 3); the table shows medians")
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help="comma-separated (default: all but MariaDB)")
    parser.add_argument("--read-passes", type=int, default=5, help="passes of each read phase per round (its median counts)")
    parser.add_argument("--mariadb", action="store_true", help="also ours-grpc-mariadb, on scripts/mariadb.sh's server")
    parser.add_argument("--memory", action="store_true", help="also the 100,000-artifact memory run")
    parser.add_argument("--artifacts", type=int, default=10_000)
    parser.add_argument("--executions", type=int, default=3_000)
    parser.add_argument("--long-chain", type=int, default=5_000)
    parser.add_argument("--memory-artifacts", type=int, default=100_000)
    parser.add_argument("--read-calls", type=int, default=20_000)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one workload run may take")
    parser.add_argument("--ours-root", type=Path, default=ROOT, help="checkout whose store is measured (default: this one)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--keep", action="store_true", help="keep the databases and server logs (var/bench-*/)")
    args = parser.parse_args()
    args.ours_root = args.ours_root.resolve()

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in LABELS]
    if unknown:
        raise SystemExit(f"bench: unknown targets {unknown}; choose from {sorted(LABELS)}")
    skipped: dict[str, str] = {}
    mariadb = None
    if args.mariadb and "ours-grpc-mariadb" not in targets:
        targets.append("ours-grpc-mariadb")
    if "ours-grpc-mariadb" in targets:
        mariadb, why = mariadb_url()
        if mariadb is None:
            skipped["ours-grpc-mariadb"] = why
            targets.remove("ours-grpc-mariadb")
            log(f"skipped: ours-grpc-mariadb: {why}")
    if any(t.startswith("mlmd-") or "grpc" in t for t in targets) or args.memory:
        ensure_mlmd_venv()

    (ROOT / "var").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-", dir=ROOT / "var"))
    runs: list[dict[str, Any]] = []
    started = datetime.datetime.now(datetime.UTC)
    try:
        for round_number in range(args.repeat):
            shift = round_number % len(targets)
            for target in targets[shift:] + targets[:shift]:
                log(f"round {round_number + 1}/{args.repeat}: {target} (load {os.getloadavg()[0]:.1f})")
                run = run_target(target, args, workdir, mariadb, round_number)
                log(f"  {target}: workload {run['workload_total']:.2f} s, " + ", ".join(f"{p} {s:.2f}" for p, s in run["phases"].items()))
                runs.append(run)
        memory = None
        if args.memory:
            log(f"memory run: {args.memory_artifacts:,} artifacts, {args.read_calls:,} reads")
            memory = memory_run(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    loads = [r["load_before"][0] for r in runs] + [r["load_after"][0] for r in runs]
    summary: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "revision": git_revision(),
        "ours_root": str(args.ours_root),
        "machine": machine(),
        "load": {"min": min(loads), "max": max(loads), "median": statistics.median(loads)},
        "repeat": args.repeat,
        "read_passes": args.read_passes,
        "targets": targets,
        "skipped": skipped,
        "workload": {
            "artifacts": args.artifacts,
            "executions": args.executions,
            "long_chain": args.long_chain,
            "phases": PHASES,
            "workload_total": WORKLOAD_PHASES,
        },
        "medians": medians(runs),
        "runs": runs,
        "memory": memory,
    }
    summary["targets_met"] = check_targets(summary)
    text = tables(summary) + "\n\nTargets:\n" + "\n".join(f"- {v}" for v in summary["targets_met"]) + "\n"
    write_results(args.out, summary, text)


if __name__ == "__main__":
    main()
