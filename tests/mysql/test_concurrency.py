"""Several writer processes against one MySQL/MariaDB database at once.

The writers are separate processes set up like separate servers (see
``workers``), calling the request-level core that gRPC, REST and the
in-process store all go through.  They start together at a barrier.
"""
from __future__ import annotations

import multiprocessing
import queue
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from store.models import Artifact, Association, Attribution, Context, Event, Execution, Type
from store.proto import metadata_store_pb2 as pb
from tests.mysql import workers
from tests.store.mlmd import artifact_type, context_type, execution_type, put_artifacts

WRITERS = 8
CALLS = 500
RUNS = 50
RACERS = 16
RACE_ROUNDS = 5
TIMEOUT = 900


def _run(
    target: Callable[..., None], args_for: Callable[[int, Any, Any, Any], tuple[Any, ...]], count: int
) -> tuple[list[dict[str, Any]], float]:
    """Start ``count`` processes, release them together, and collect one result from each.

    ``args_for(n, start, rounds, results)`` gives worker ``n``'s arguments: ``start``
    is the start line (the workers and this process), ``rounds`` a barrier of the
    workers only, for workers that go on in lockstep.  Returns the results (by
    worker) and the seconds from the release to the last result.
    """
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(count + 1)
    rounds = context.Barrier(count)
    results = context.Queue()
    processes = [
        context.Process(target=target, args=args_for(n, start, rounds, results), daemon=True) for n in range(count)
    ]
    for process in processes:
        process.start()
    try:
        start.wait(timeout=TIMEOUT)
        started = time.perf_counter()
        deadline = time.monotonic() + TIMEOUT
        collected: list[dict[str, Any]] = []
        while len(collected) < count:
            try:
                collected.append(results.get(timeout=1))
            except queue.Empty:
                failed = [(p.pid, p.exitcode) for p in processes if p.exitcode not in (None, 0)]
                assert not failed, f"workers (pid, exit code) {failed} died; see their output above"
                assert time.monotonic() < deadline, f"only {len(collected)} of {count} workers answered in {TIMEOUT} s"
        elapsed = time.perf_counter() - started
        for process in processes:
            process.join(timeout=60)
            assert process.exitcode == 0, f"worker pid {process.pid} exited with {process.exitcode}"
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
    return sorted(collected, key=lambda r: r["worker"]), elapsed


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[str], None]]:
    lines: list[str] = []
    yield lines.append
    with capsys.disabled():
        for line in lines:
            print(f"\n[mysql concurrency] {line}", end="")
        print()


@pytest.mark.slow
def test_writers_reusing_contexts_by_name_lose_nothing_and_duplicate_nothing(
    mysql_db: str, mysql_url: str, report: Callable[[str], None]
) -> None:
    ids = {
        "trainer": execution_type("Trainer", step=pb.INT),
        "model": artifact_type("Model", note=pb.STRING),
        "pipeline": context_type("Pipeline", note=pb.STRING),
        "run": context_type("PipelineRun", note=pb.STRING),
    }
    dataset_type = artifact_type("Dataset", note=pb.STRING)
    [ids["dataset"]] = put_artifacts(pb.Artifact(type_id=dataset_type, uri="s3://data/shared"))

    results, elapsed = _run(
        workers.put_executions, lambda n, start, _rounds, out: (mysql_url, n, CALLS, ids, RUNS, start, out), WRITERS
    )

    errors = [error for r in results for error in r["errors"]]
    retries = sum(r["retries"] for r in results)
    acks = [ack for r in results for ack in r["acks"]]
    per_writer = ", ".join(f"{r['elapsed']:.1f}" for r in results)
    report(
        f"{WRITERS} writers x {CALLS} PutExecution: {len(acks)} acknowledged in {elapsed:.1f} s"
        f" ({len(acks) / elapsed:.0f} calls/s; per writer {per_writer} s),"
        f" {retries} transparent retries, {len(errors)} failed calls"
    )
    assert errors == []
    assert len(acks) == WRITERS * CALLS

    # Every acknowledged write is there, once.
    execution_ids = [execution_id for execution_id, _, _, _ in acks]
    model_ids = [artifact_ids[0] for _, artifact_ids, _, _ in acks]
    assert len(set(execution_ids)) == len(execution_ids) == Execution.objects.count()
    assert set(Execution.objects.values_list("id", flat=True)) == set(execution_ids)
    assert set(Artifact.objects.filter(type_id=ids["model"]).values_list("id", flat=True)) == set(model_ids)
    assert len(set(model_ids)) == len(model_ids)
    assert Event.objects.count() == 2 * len(acks)
    assert Event.objects.filter(artifact_id=ids["dataset"], type=pb.Event.INPUT).count() == len(acks)

    # One context per name, and every writer was given that one.
    names = Counter(Context.objects.values_list("type_id", "name"))
    assert max(names.values()) == 1
    assert sorted(name for _, name in names) == sorted(["pipeline", *(f"run-{n}" for n in range(RUNS))])
    context_of: dict[str, set[int]] = defaultdict(set)
    for _, _, context_ids, run in acks:
        context_of["pipeline"].add(context_ids[0])
        context_of[run].add(context_ids[1])
    assert all(len(found) == 1 for found in context_of.values()), context_of
    stored = {name: context_id for context_id, name in Context.objects.values_list("id", "name")}
    assert {name: found.pop() for name, found in context_of.items()} == stored

    # Memberships: each execution in its two contexts, each artifact attributed once per context.
    assert Association.objects.count() == 2 * len(acks)
    associations = set(Association.objects.values_list("context_id", "execution_id"))
    for execution_id, _, context_ids, _ in acks:
        assert {(c, execution_id) for c in context_ids} <= associations
    attributions = Counter(Attribution.objects.values_list("context_id", "artifact_id"))
    assert max(attributions.values()) == 1
    assert (stored["pipeline"], ids["dataset"]) in attributions
    assert sum(1 for context_id, _ in attributions if context_id == stored["pipeline"]) == len(acks) + 1


@pytest.fixture(scope="module")
def races(mysql_url: str, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """16 processes in lockstep, five names per phase: creating a context, reusing a
    new context by name, registering a type.  One set of processes for the three
    phases (starting a process with Django costs more than the races themselves).

    Gives each phase's outcomes and what the database holds afterwards.
    """
    from store.db import using
    from tests.mysql.conftest import MYSQL, empty_store_tables

    phases = [(phase, [f"race-{phase}-{n}" for n in range(RACE_ROUNDS)]) for phase in ("create", "reuse", "type")]
    with django_db_blocker.unblock(), using(MYSQL):
        try:
            ids = {"context_type": context_type("Experiment"), "execution_type": execution_type("Step")}
            results, elapsed = _run(
                workers.race,
                lambda n, start, rounds, out: (mysql_url, n, ids, phases, start, rounds, out),
                RACERS,
            )
            stored = {
                "create": Counter(Context.objects.filter(name__startswith="race-create-").values_list("name", "id")),
                "reuse": Counter(Context.objects.filter(name__startswith="race-reuse-").values_list("name", "id")),
                "type": Counter(Type.objects.filter(name__startswith="race-type-").values_list("name", "id")),
            }
            associations = Association.objects.count()
        finally:
            empty_store_tables()
    outcomes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        for outcome in result["outcomes"]:
            outcomes[outcome["phase"]].append(outcome)
    yield {
        "names": dict(phases),
        "outcomes": outcomes,
        "stored": {phase: {name: i for (name, i) in rows} for phase, rows in stored.items()},
        "duplicates": {phase: [k for k, n in rows.items() if n > 1] for phase, rows in stored.items()},
        "associations": associations,
        "summary": f"{RACERS} processes x {RACE_ROUNDS} names x 3 phases in {elapsed:.1f} s,"
        f" {sum(r['retries'] for r in results)} transparent retries",
    }


def _by_name(outcomes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for outcome in outcomes:
        found[outcome["name"]].append(outcome)
    return found


def test_creating_the_same_context_at_once_one_wins_the_rest_already_exists(
    races: dict[str, Any], report: Callable[[str], None]
) -> None:
    report(races["summary"])
    tries_by_name = _by_name(races["outcomes"]["create"])
    assert sorted(tries_by_name) == sorted(races["names"]["create"])
    for name, tries in tries_by_name.items():
        winners = [t for t in tries if t["ok"]]
        losers = [t for t in tries if not t["ok"]]
        assert len(winners) == 1, (name, tries)
        assert len(losers) == RACERS - 1
        assert {t["code"] for t in losers} == {"ALREADY_EXISTS"}, (name, losers)
        assert races["stored"]["create"][name] == winners[0]["id"]
    assert races["duplicates"]["create"] == []


def test_reusing_the_same_new_context_at_once_gives_everyone_the_one_row(races: dict[str, Any]) -> None:
    assert [o for o in races["outcomes"]["reuse"] if not o["ok"]] == []
    for name, tries in _by_name(races["outcomes"]["reuse"]).items():
        assert len(tries) == RACERS
        assert {t["id"] for t in tries} == {races["stored"]["reuse"][name]}
    assert races["duplicates"]["reuse"] == []
    assert races["associations"] == RACERS * RACE_ROUNDS


def test_registering_the_same_type_at_once_gives_everyone_its_id(races: dict[str, Any]) -> None:
    """Pipeline processes starting together all put their types: MLMD answers a re-put with the id."""
    assert [o for o in races["outcomes"]["type"] if not o["ok"]] == []
    for name, tries in _by_name(races["outcomes"]["type"]).items():
        assert len(tries) == RACERS
        assert {t["id"] for t in tries} == {races["stored"]["type"][name]}
    assert races["duplicates"]["type"] == []
