"""The pytest side of the ml-metadata client writers: start them, release them, check the store.

The writers (``put_executions.py``, ``race.py`` beside this file) run under
``.venv-mlmd/bin/python`` against a real ``grpcserver`` and speak JSON lines:
each prints ``{"ready": true}`` once connected, then makes its next step when
it reads a line on stdin.  ``Writers.release`` writes that line to all of them
at once and collects one answer from each, so the writers start each step
together.

The checks read the server's database through ``Query`` (a function running
one SELECT), so the same checks serve the server's SQLite file and MariaDB.
"""
from __future__ import annotations

import json
import os
import queue
import sqlite3
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from tests.grpc.servers import REPO_ROOT, ServerProcess, running

CLIENTS = Path(__file__).resolve().parent
MLMD_PYTHON = REPO_ROOT / ".venv-mlmd" / "bin" / "python"
# A writer that stays silent this long is stuck: the test fails instead of hanging.
ANSWER_TIMEOUT = 600.0
# What ``store.services.retry`` logs (the server logs ``store`` at INFO) each time it runs a transaction again.
SERVER_RETRY = "retrying a transaction"

# ``with serving(tmp_dir, ...) as server:`` a grpcserver, stopped when the block ends, even on failure.
serving = contextmanager(running)

Query = Callable[[str], Sequence[tuple[Any, ...]]]


def require_mlmd_client() -> Path:
    """The ml-metadata venv's interpreter; skip without it (fail in CI, which must run these)."""
    if MLMD_PYTHON.exists():
        return MLMD_PYTHON
    reason = f"{MLMD_PYTHON} is missing: scripts/conformance.sh creates it"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class _Writer:
    number: int
    process: subprocess.Popen[str]
    stderr_path: Path
    answers: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def read_answers(self, stdout: IO[str]) -> None:
        for line in stdout:
            self.answers.put(line)
        self.answers.put(None)

    def answer(self, deadline: float) -> dict[str, Any]:
        try:
            line = self.answers.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"writer {self.number} gave no answer in {ANSWER_TIMEOUT:.0f} s:\n{self.stderr()}")
        if line is None:
            self.process.wait(10)
            pytest.fail(f"writer {self.number} exited with {self.process.returncode}:\n{self.stderr()}")
        return json.loads(line)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]


class Writers:
    """Writer processes (``start``), released together step by step (``release``)."""

    def __init__(self) -> None:
        self.writers: list[_Writer] = []

    def start(self, script: str, params: Sequence[dict[str, Any]], tmp_dir: Path) -> None:
        python = require_mlmd_client()
        tmp_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        for number, writer_params in enumerate(params):
            stderr_path = tmp_dir / f"writer-{number}.stderr"
            with stderr_path.open("w") as stderr:
                process = subprocess.Popen(
                    [str(python), str(CLIENTS / script), json.dumps({**writer_params, "writer": number})],
                    cwd=CLIENTS,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                )
            writer = _Writer(number, process, stderr_path)
            self.writers.append(writer)
            threading.Thread(target=writer.read_answers, args=(process.stdout,), daemon=True).start()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + ANSWER_TIMEOUT
        for writer in self.writers:
            assert writer.answer(deadline) == {"ready": True}

    def release(self) -> tuple[list[dict[str, Any]], float]:
        """Start every writer's next step at once; their answers (by writer) and the seconds to the last one."""
        started = time.perf_counter()
        for writer in self.writers:
            assert writer.process.stdin is not None
            try:
                writer.process.stdin.write("go\n")
                writer.process.stdin.flush()
            except BrokenPipeError:
                pytest.fail(f"writer {writer.number} is gone:\n{writer.stderr()}")
        deadline = time.monotonic() + ANSWER_TIMEOUT
        answers = [writer.answer(deadline) for writer in self.writers]
        return answers, time.perf_counter() - started

    def close(self) -> None:
        """Closing stdin tells a writer to stop; one that does not is killed."""
        for writer in self.writers:
            if writer.process.stdin is not None and not writer.process.stdin.closed:
                with suppress(BrokenPipeError):
                    writer.process.stdin.close()
        for writer in self.writers:
            try:
                writer.process.wait(30)
            except subprocess.TimeoutExpired:
                writer.process.kill()
                writer.process.wait()


@contextmanager
def writers(script: str, params: Sequence[dict[str, Any]], tmp_dir: Path) -> Iterator[Writers]:
    """Writer processes, connected and waiting for their first start line."""
    pool = Writers()
    try:
        pool.start(script, params, tmp_dir)
        pool.wait_ready()
        yield pool
    finally:
        pool.close()


def register_types(server: ServerProcess) -> dict[str, int]:
    """The types the writers use, put through our own generated stub."""
    stub = server.stub()
    return {
        "execution_type": stub.PutExecutionType(
            svc.PutExecutionTypeRequest(execution_type=pb.ExecutionType(name="Trainer"))
        ).type_id,
        "artifact_type": stub.PutArtifactType(
            svc.PutArtifactTypeRequest(artifact_type=pb.ArtifactType(name="Model"))
        ).type_id,
        "context_type": stub.PutContextType(
            svc.PutContextTypeRequest(context_type=pb.ContextType(name="PipelineRun"))
        ).type_id,
    }


def sqlite_query(server: ServerProcess) -> Query:
    """A read-only SELECT on the SQLite file of a server from ``tests.grpc.servers``."""
    path = server.log_path.parent / "site.sqlite3"

    def query(sql: str) -> Sequence[tuple[Any, ...]]:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            return connection.execute(sql).fetchall()

    return query


def _connection(server: ServerProcess) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": server.port}


def _pairs(rows: Sequence[tuple[Any, ...]]) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in rows]


def _duplicates(values: Sequence[Any]) -> list[Any]:
    return [value for value, n in Counter(values).items() if n > 1]


# Item 1: distinct writes ------------------------------------------------------------------------


def distinct_writes(
    server: ServerProcess, count: int, calls: int, tmp_dir: Path, query: Query, figure: Callable[[str], None]
) -> None:
    """``count`` ml-metadata clients x ``calls`` put_execution, all distinct; reports the figure, checks the store.

    Every acknowledged id must be stored once, nothing unacknowledged stored,
    and no call may fail after the client's own ABORTED retries.
    """
    types = register_types(server)
    params = [{**_connection(server), **types, "calls": calls} for _ in range(count)]
    with writers("put_executions.py", params, tmp_dir) as pool:
        results, elapsed = pool.release()

    failures = [failure for result in results for failure in result["failures"]]
    acks = [ack for result in results for ack in result["acks"]]
    aborted = sum(result["aborted"] for result in results)
    executions = [ack["execution"] for ack in acks]
    artifacts = [artifact for ack in acks for artifact in ack["artifacts"]]
    contexts = [context for ack in acks for context in ack["contexts"]]
    duplicates = len(_duplicates(executions)) + len(_duplicates(artifacts)) + len(_duplicates(contexts))
    summary = (
        f"{count} writers x {calls} put_execution (2 artifacts, 2 events, 1 context each):"
        f" {len(acks)} acknowledged in {elapsed:.1f} s ({len(acks) / elapsed:.0f} calls/s),"
        f" {len(failures)} failed, {duplicates} duplicate ids, {aborted} ABORTED retried by the client,"
        f" {server.log().count(SERVER_RETRY)} transactions retried by the server"
    )
    figure(summary)
    codes = Counter(failure["code"] for failure in failures)
    assert failures == [], f"failed calls by status {dict(codes)}, first ones: {failures[:3]}"
    assert len(acks) == count * calls
    assert duplicates == 0
    assert all(len(ack["artifacts"]) == 2 and len(ack["contexts"]) == 1 for ack in acks)

    # Exactly the acknowledged rows are stored: nothing lost, nothing twice, nothing extra.
    stored_executions = [row[0] for row in query("SELECT id FROM store_execution")]
    assert sorted(stored_executions) == sorted(executions)
    stored_artifacts = [row[0] for row in query("SELECT id FROM store_artifact")]
    assert sorted(stored_artifacts) == sorted(artifacts)
    stored_contexts = [row[0] for row in query("SELECT id FROM store_context")]
    assert sorted(stored_contexts) == sorted(contexts)
    events = _pairs(query("SELECT artifact_id, execution_id FROM store_event"))
    assert sorted(events) == sorted((a, ack["execution"]) for ack in acks for a in ack["artifacts"])
    associations = _pairs(query("SELECT context_id, execution_id FROM store_association"))
    assert sorted(associations) == sorted((ack["contexts"][0], ack["execution"]) for ack in acks)
    attributions = _pairs(query("SELECT context_id, artifact_id FROM store_attribution"))
    assert sorted(attributions) == sorted((ack["contexts"][0], a) for ack in acks for a in ack["artifacts"])


# Item 2: same-key races -------------------------------------------------------------------------

PHASES = ("context", "external_id", "type", "reuse")


@dataclass
class Races:
    """What ``run_races`` saw: every writer's outcome per phase and round, and the stored rows."""

    writers: int
    rounds: int
    outcomes: dict[str, dict[int, list[dict[str, Any]]]]
    seconds: dict[str, float]
    server_retries: dict[str, int]
    tables: dict[str, list[tuple[Any, ...]]]


def run_races(server: ServerProcess, count: int, rounds: int, tmp_dir: Path, query: Query) -> Races:
    """``count`` ml-metadata clients race for the same key, ``rounds`` fresh keys per phase.

    One set of processes runs every phase (starting them costs more than a round).
    """
    types = register_types(server)
    schedule = [[phase, round_] for phase in PHASES for round_ in range(rounds)]
    params = [{**_connection(server), **types, "schedule": schedule} for _ in range(count)]
    outcomes: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(dict)
    seconds: dict[str, float] = defaultdict(float)
    server_retries: dict[str, int] = {}
    with writers("race.py", params, tmp_dir) as pool:
        for phase in PHASES:
            retried_before = server.log().count(SERVER_RETRY)
            for round_ in range(rounds):
                answers, elapsed = pool.release()
                assert {(a["phase"], a["round"]) for a in answers} == {(phase, round_)}, answers
                outcomes[phase][round_] = answers
                seconds[phase] += elapsed
            server_retries[phase] = server.log().count(SERVER_RETRY) - retried_before
    tables = {
        "executions": "SELECT id, name FROM store_execution",
        "artifacts": "SELECT id, uri, external_id FROM store_artifact",
        "contexts": "SELECT id, name FROM store_context",
        "types": "SELECT id, name, version FROM store_type",
        "type_properties": "SELECT type_id, name FROM store_typeproperty",
        "events": "SELECT artifact_id, execution_id FROM store_event",
        "associations": "SELECT context_id, execution_id FROM store_association",
        "attributions": "SELECT context_id, artifact_id FROM store_attribution",
    }
    return Races(count, rounds, dict(outcomes), dict(seconds), server_retries, {name: list(query(sql)) for name, sql in tables.items()})


def _phase_rows(races: Races, phase: str) -> tuple[dict[str, int], dict[str, tuple[int, str | None]]]:
    """The stored executions (name -> id) and artifacts (uri -> id, external_id) the phase's writers made."""
    executions = {name: int(i) for i, name in races.tables["executions"] if name.startswith(f"{phase}-")}
    artifacts = {
        uri: (int(i), external_id or None)
        for i, uri, external_id in races.tables["artifacts"]
        if uri.startswith(f"mem://{phase}-")
    }
    return executions, artifacts


def _report(races: Races, phase: str, summary: str, figure: Callable[[str], None]) -> None:
    answers = [a for by_round in races.outcomes[phase].values() for a in by_round]
    codes = Counter("OK" if a["ok"] else a["code"] for a in answers)
    aborted = sum(a["aborted"] for a in answers)
    figure(
        f"{races.writers} writers x {races.rounds} rounds in {races.seconds[phase]:.1f} s: {summary};"
        f" answers {dict(sorted(codes.items()))}, {aborted} ABORTED retried by the client,"
        f" {races.server_retries[phase]} transactions retried by the server"
    )


def check_one_winner(races: Races, phase: str, figure: Callable[[str], None]) -> None:
    """No reuse flag: per round exactly one writer succeeds, every other gets ALREADY_EXISTS
    (never INTERNAL or UNKNOWN), and only the winner's rows are stored."""
    rounds = races.outcomes[phase]
    single = sum(1 for answers in rounds.values() if sum(a["ok"] for a in answers) == 1)
    # Winners spread over the writers show that they really raced (a release in
    # writer order that served them one by one would let writer 0 win every round).
    spread = len({a["writer"] for answers in rounds.values() for a in answers if a["ok"]})
    _report(races, phase, f"{single} of {len(rounds)} rounds had exactly one winner ({spread} writers won)", figure)
    winners: dict[int, dict[str, Any]] = {}
    for round_, answers in rounds.items():
        won = [a for a in answers if a["ok"]]
        lost = [a for a in answers if not a["ok"]]
        assert len(won) == 1, f"{phase} round {round_}: {len(won)} writers succeeded: {answers[:3]}..."
        assert [a["code"] for a in lost] == ["ALREADY_EXISTS"] * (races.writers - 1), (phase, round_, lost)
        winners[round_] = won[0]
    assert sorted(winners) == list(range(races.rounds))
    assert spread > 1, "the same writer won every round: the writers were not released together"

    if phase == "type":
        by_key = defaultdict(list)
        for i, name, version in races.tables["types"]:
            if name.startswith("race-type-"):
                by_key[(name, version)].append(int(i))
        assert by_key == {(f"race-type-{r}", "v1"): [w["type"]] for r, w in winners.items()}
        properties = defaultdict(set)
        for type_id, name in races.tables["type_properties"]:
            properties[int(type_id)].add(name)
        for w in winners.values():
            assert properties[w["type"]] == {f"by_w{w['writer']}"}, "the stored type is not the winner's"
        return

    # put_execution: the winner's execution, artifact, event (and context) are stored; a loser's nothing.
    executions, artifacts = _phase_rows(races, phase)
    assert executions == {w["tag"]: w["execution"] for w in winners.values()}, "a losing call left an execution"
    assert {uri: i for uri, (i, _) in artifacts.items()} == {
        f"mem://{w['tag']}": w["artifacts"][0] for w in winners.values()
    }, "a losing call left an artifact"
    phase_executions = set(executions.values())
    events = sorted(pair for pair in _pairs(races.tables["events"]) if pair[1] in phase_executions)
    assert events == sorted((w["artifacts"][0], w["execution"]) for w in winners.values())
    if phase == "external_id":
        stored = {external_id: i for i, external_id in artifacts.values() if external_id}
        assert stored == {f"race-artifact-{r}": w["artifacts"][0] for r, w in winners.items()}
        return
    names = [(name, int(i)) for i, name in races.tables["contexts"] if name.startswith("race-context-")]
    assert _duplicates([name for name, _ in names]) == []
    assert dict(names) == {f"race-context-{r}": w["contexts"][0] for r, w in winners.items()}
    associations = [p for p in _pairs(races.tables["associations"]) if p[1] in phase_executions]
    assert sorted(associations) == sorted((w["contexts"][0], w["execution"]) for w in winners.values())
    winner_artifacts = {w["artifacts"][0] for w in winners.values()}
    attributions = [p for p in _pairs(races.tables["attributions"]) if p[1] in winner_artifacts]
    assert sorted(attributions) == sorted((w["contexts"][0], w["artifacts"][0]) for w in winners.values())


def check_reuse(races: Races, figure: Callable[[str], None]) -> None:
    """``reuse_context_if_already_exist``: every writer succeeds, and all of a round share one context."""
    rounds = races.outcomes["reuse"]
    shared = sum(1 for answers in rounds.values() if len({a["contexts"][0] for a in answers if a["ok"]}) == 1)
    _report(races, "reuse", f"{shared} of {len(rounds)} rounds gave every writer one and the same context", figure)
    answers = [a for by_round in rounds.values() for a in by_round]
    failed = [a for a in answers if not a["ok"]]
    assert failed == [], f"{len(failed)} calls failed, first ones: {failed[:3]}"
    contexts = {name: int(i) for i, name in races.tables["contexts"] if name.startswith("race-reuse-")}
    names = [name for _, name in races.tables["contexts"] if name.startswith("race-reuse-")]
    assert _duplicates(names) == []
    assert sorted(contexts) == sorted(f"race-reuse-{r}" for r in range(races.rounds))
    for round_, by_round in rounds.items():
        assert {a["contexts"][0] for a in by_round} == {contexts[f"race-reuse-{round_}"]}, (round_, by_round)

    executions, artifacts = _phase_rows(races, "reuse")
    assert executions == {a["tag"]: a["execution"] for a in answers}
    assert len(artifacts) == len(answers)
    context_ids = set(contexts.values())
    associations = Counter(c for c, _ in _pairs(races.tables["associations"]) if c in context_ids)
    assert associations == dict.fromkeys(context_ids, races.writers)
    attributions = Counter(c for c, _ in _pairs(races.tables["attributions"]) if c in context_ids)
    assert attributions == dict.fromkeys(context_ids, races.writers)


class RaceChecks:
    """The same-key race checks, for a test class in a module that provides a ``races`` fixture."""

    def test_new_context_name_one_writer_wins_the_rest_already_exists(
        self, races: Races, figure: Callable[[str], None]
    ) -> None:
        check_one_winner(races, "context", figure)

    def test_artifact_external_id_one_writer_wins_the_rest_already_exists(
        self, races: Races, figure: Callable[[str], None]
    ) -> None:
        check_one_winner(races, "external_id", figure)

    def test_new_type_name_and_version_one_writer_wins_the_rest_already_exists(
        self, races: Races, figure: Callable[[str], None]
    ) -> None:
        check_one_winner(races, "type", figure)

    def test_reusing_a_new_context_by_name_every_writer_gets_the_one_context(
        self, races: Races, figure: Callable[[str], None]
    ) -> None:
        check_reuse(races, figure)
