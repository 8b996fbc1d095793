"""A pipeline-shaped MLMD workload, timed phase by phase, for one store.

The same code runs under two interpreters and against five kinds of store:

* ``.venv-mlmd/bin/python`` (ml-metadata 1.17.1, protobuf 4): ml-metadata's own
  in-process store (``--store mlmd-sqlite`` on a file, ``mlmd-memory`` on its
  fake_database), or ml-metadata's gRPC client against a server
  (``--store grpc --port N``: ours, on SQLite or MariaDB);
* ``.venv/bin/python`` (this project): our in-process ``MetadataStore``
  (``--store ours-sqlite`` / ``ours-memory``).

It is written against ml-metadata's Python API only, and imports either
``ml_metadata`` or ``store`` for it (``--api``), so every store sees the same
calls with the same messages.  It is one run of one target; bench/run.py runs
all of them side by side and prints the table.

Phases (seconds each, in this order):

  types            register 3 node types + a context type
  put_artifacts    10,000 artifacts (3 properties + 1 custom), 100 per put_artifacts
  get_by_id        the 10,000 back by id, 100 ids per get_artifacts_by_id
  get_by_type      get_artifacts_by_type: all 10,000 in one call
  put_execution    3,000 put_execution (2 input artifacts, 1 new output, one context per 50)
  get_by_context   get_artifacts_by_context + get_executions_by_context for each of the 60 contexts
  filter_query     get_artifacts with a filter on two properties (paged by the client, 100 a page)
  chain45_build    a 45-step chain (45 put_execution)
  lineage45        get_lineage_subgraph upstream from its end, max_num_hops 90, 10 times
  chain5000_build  a 5,000-step chain: 50 put_lineage_subgraph of 100 steps each
  lineage5000      get_lineage_subgraph upstream from its end, max_num_hops 10,000: the whole
                   subgraph (the client asks for nodes, events, contexts, then re-reads the
                   nodes and their types: 6 calls).  Ours only: ml-metadata caps max_num_hops at 100.
  lineage5000_edges  the same traversal asking for the events only (field_mask_paths=["events"]):
                   one call, the 10,000 edges of the upstream graph

Each read phase (get_by_id, get_by_type, get_by_context, filter_query,
lineage45) runs ``--read-passes`` times (5) back to back, and its time is the
median pass: these phases last 0.1 to 0.6 s, and on a shared machine one pass
of the same code moves by 20% and more.  Every pass is kept in the JSON
(``passes``).  The writes run once: a second pass would write other data.

``--mode memory`` instead fills the store with ``--memory-artifacts`` artifacts
and runs a long read loop, sampling the server's resident memory (``--server-pid``).

Prints one JSON object on stdout (or to ``--out``).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

WORKLOAD_PHASES = [
    "types",
    "put_artifacts",
    "get_by_id",
    "get_by_type",
    "put_execution",
    "get_by_context",
    "filter_query",
    "chain45_build",
    "lineage45",
]
EXTRA_PHASES = ["chain5000_build", "lineage5000", "lineage5000_edges"]
READ_PHASES = ["get_by_id", "get_by_type", "get_by_context", "filter_query", "lineage45"]
PHASES = WORKLOAD_PHASES + EXTRA_PHASES

BATCH = 100
EXECUTIONS_PER_CONTEXT = 50
LINEAGE45_REPEAT = 10
FILTER = "properties.split.string_value = 'train' AND properties.size.int_value > 5000"


def _import_api(api: str) -> tuple[Any, Any]:
    if api == "mlmd":
        from ml_metadata import metadata_store  # type: ignore[import-not-found]
        from ml_metadata.proto import metadata_store_pb2  # type: ignore[import-not-found]
    else:
        # MLMD_BENCH_OURS_ROOT: measure another checkout of the store (bench/run.py --ours-root).
        sys.path.insert(0, os.environ.get("MLMD_BENCH_OURS_ROOT") or str(ROOT))
        from store import metadata_store
        from store.proto import metadata_store_pb2
    return metadata_store, metadata_store_pb2


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB, from /proc."""
    result = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                result[key] = int(value.split()[0])
    return result


class Workload:
    def __init__(
        self, mlmd: Any, pb: Any, store: Any, *, artifacts: int, executions: int, long_chain: int, read_passes: int = 1
    ) -> None:
        self.mlmd = mlmd
        self.pb = pb
        self.store = store
        self.n_artifacts = artifacts
        self.n_executions = executions
        self.long_chain = long_chain
        self.random = random.Random(20250101)
        self.read_passes = read_passes
        self.times: dict[str, float] = {}
        self.passes: dict[str, list[float]] = {}
        self.checks: dict[str, Any] = {}

    # ------------------------------------------------------------------ helpers

    def timed(self, phase: str, function: Any) -> Any:
        start = time.perf_counter()
        result = function()
        self.times[phase] = time.perf_counter() - start
        return result

    def timed_read(self, phase: str, function: Any) -> None:
        """A read phase: ``read_passes`` passes, the median one is its time."""
        passes = []
        for _ in range(self.read_passes):
            start = time.perf_counter()
            function()
            passes.append(time.perf_counter() - start)
        self.passes[phase] = passes
        self.times[phase] = statistics.median(passes)

    def dataset(self, i: int) -> Any:
        pb = self.pb
        artifact = pb.Artifact(type_id=self.dataset_type, uri=f"s3://bench/datasets/{i}", name=f"dataset-{i}")
        artifact.state = pb.Artifact.LIVE
        artifact.properties["split"].string_value = ("train", "eval", "test")[i % 3]
        artifact.properties["size"].int_value = i
        artifact.properties["score"].double_value = i / 7.0
        artifact.custom_properties["owner"].string_value = f"team-{i % 10}"
        return artifact

    def model(self, name: str, i: int) -> Any:
        pb = self.pb
        artifact = pb.Artifact(type_id=self.model_type, uri=f"s3://bench/models/{name}", name=name)
        artifact.state = pb.Artifact.LIVE
        artifact.properties["framework"].string_value = "tensorflow"
        artifact.properties["epochs"].int_value = i % 100
        artifact.properties["accuracy"].double_value = (i % 1000) / 1000.0
        artifact.custom_properties["run_tag"].string_value = f"tag-{i % 7}"
        return artifact

    def execution(self, name: str, i: int) -> Any:
        pb = self.pb
        execution = pb.Execution(type_id=self.trainer_type, name=name)
        execution.last_known_state = pb.Execution.COMPLETE
        execution.properties["learning_rate"].double_value = 0.001 * (1 + i % 10)
        execution.properties["steps"].int_value = 1000 + i
        execution.properties["optimizer"].string_value = "adam"
        execution.custom_properties["host"].string_value = f"worker-{i % 16}"
        return execution

    def event(self, kind: int, key: str, index: int) -> Any:
        event = self.pb.Event(type=kind)
        event.path.steps.add().key = key
        event.path.steps.add().index = index
        return event

    def upstream_options(self, artifact_id: int, hops: int) -> Any:
        pb = self.pb
        options = pb.LineageSubgraphQueryOptions(max_num_hops=hops, direction=pb.LineageSubgraphQueryOptions.UPSTREAM)
        options.starting_artifacts.filter_query = f"id = {artifact_id}"
        return options

    # ------------------------------------------------------------------ phases

    def run(self, *, long_chain_traversal: bool, until: str | None = None) -> None:
        """The phases in order; ``until``: stop after that phase."""
        steps = [
            ("types", self.timed, self.register_types),
            ("put_artifacts", self.timed, self.put_artifacts),
            ("get_by_id", self.timed_read, self.get_by_id),
            ("get_by_type", self.timed_read, self.get_by_type),
            ("put_execution", self.timed, self.put_executions),
            ("get_by_context", self.timed_read, self.get_by_context),
            ("filter_query", self.timed_read, self.filter_query),
            ("chain45_build", self.timed, lambda: self.build_chain_with_put_execution(45)),
            ("lineage45", self.timed_read, self.lineage45),
            ("chain5000_build", self.timed, lambda: self.build_chain_with_subgraphs(self.long_chain)),
        ]
        if long_chain_traversal:
            steps += [("lineage5000", self.timed, self.lineage_long), ("lineage5000_edges", self.timed, self.lineage_long_edges)]
        for phase, timer, function in steps:
            timer(phase, function)
            if phase == until:
                return

    def register_types(self) -> None:
        pb, store = self.pb, self.store
        dataset = pb.ArtifactType(name="Dataset")
        dataset.properties["split"] = pb.STRING
        dataset.properties["size"] = pb.INT
        dataset.properties["score"] = pb.DOUBLE
        model = pb.ArtifactType(name="Model")
        model.properties["framework"] = pb.STRING
        model.properties["epochs"] = pb.INT
        model.properties["accuracy"] = pb.DOUBLE
        trainer = pb.ExecutionType(name="Trainer")
        trainer.properties["learning_rate"] = pb.DOUBLE
        trainer.properties["steps"] = pb.INT
        trainer.properties["optimizer"] = pb.STRING
        run = pb.ContextType(name="PipelineRun")
        run.properties["pipeline"] = pb.STRING
        self.dataset_type = store.put_artifact_type(dataset)
        self.model_type = store.put_artifact_type(model)
        self.trainer_type = store.put_execution_type(trainer)
        self.run_type = store.put_context_type(run)
        # A second put of the same types (what every pipeline start does) returns the same ids.
        assert store.put_artifact_type(dataset) == self.dataset_type

    def put_artifacts(self) -> None:
        self.datasets: list[Any] = []
        for start in range(0, self.n_artifacts, BATCH):
            batch = [self.dataset(i) for i in range(start, min(start + BATCH, self.n_artifacts))]
            ids = self.store.put_artifacts(batch)
            for artifact, artifact_id in zip(batch, ids, strict=True):
                artifact.id = artifact_id
            self.datasets.extend(batch)

    def get_by_id(self) -> None:
        ids = [a.id for a in self.datasets]
        found = 0
        for start in range(0, len(ids), BATCH):
            found += len(self.store.get_artifacts_by_id(ids[start : start + BATCH]))
        assert found == len(ids), (found, len(ids))

    def get_by_type(self) -> None:
        found = self.store.get_artifacts_by_type("Dataset")
        assert len(found) == self.n_artifacts, len(found)
        assert len(found[0].properties) == 3 and len(found[0].custom_properties) == 1

    def put_executions(self) -> None:
        pb, store = self.pb, self.store
        self.context_ids: list[int] = []
        context = None
        for i in range(self.n_executions):
            if i % EXECUTIONS_PER_CONTEXT == 0:
                context = pb.Context(type_id=self.run_type, name=f"run-{i // EXECUTIONS_PER_CONTEXT}")
                context.properties["pipeline"].string_value = "bench"
            inputs = self.random.sample(self.datasets, 2)
            pairs = [(inputs[0], self.event(pb.Event.INPUT, "examples", 0)),
                     (inputs[1], self.event(pb.Event.INPUT, "examples", 1)),
                     (self.model(f"model-{i}", i), self.event(pb.Event.OUTPUT, "model", 0))]
            _, _, context_ids = store.put_execution(self.execution(f"train-{i}", i), pairs, [context])
            if not context.HasField("id"):
                context.id = context_ids[0]
                self.context_ids.append(context.id)

    def get_by_context(self) -> None:
        artifacts = executions = 0
        for context_id in self.context_ids:
            artifacts += len(self.store.get_artifacts_by_context(context_id))
            executions += len(self.store.get_executions_by_context(context_id))
        assert executions == self.n_executions, executions
        self.checks["artifacts_by_context"] = artifacts

    def filter_query(self) -> None:
        found = self.store.get_artifacts(list_options=self.mlmd.ListOptions(filter_query=FILTER))
        expected = sum(1 for i in range(self.n_artifacts) if i % 3 == 0 and i > 5000)
        assert len(found) == expected, (len(found), expected)
        self.checks["filter_query_matches"] = len(found)

    def build_chain_with_put_execution(self, steps: int) -> None:
        pb, store = self.pb, self.store
        context = pb.Context(type_id=self.run_type, name=f"chain-{steps}")
        current = self.model(f"chain{steps}-a0", 0)
        [current.id] = store.put_artifacts([current])
        for step in range(steps):
            output = self.model(f"chain{steps}-a{step + 1}", step)
            pairs = [(current, self.event(pb.Event.INPUT, "in", 0)), (output, self.event(pb.Event.OUTPUT, "out", 0))]
            _, artifact_ids, context_ids = store.put_execution(
                self.execution(f"chain{steps}-e{step}", step), pairs, [context]
            )
            context.id = context_ids[0]
            output.id = artifact_ids[1]
            current = output
        self.chain45_end = current.id

    def lineage45(self) -> None:
        for _ in range(LINEAGE45_REPEAT):
            graph = self.store.get_lineage_subgraph(self.upstream_options(self.chain45_end, 90))
            assert len(graph.artifacts) == 46 and len(graph.executions) == 45, (len(graph.artifacts), len(graph.executions))
            assert len(graph.events) == 90 and len(graph.contexts) == 1

    def build_chain_with_subgraphs(self, steps: int) -> None:
        pb, store = self.pb, self.store
        context = pb.Context(type_id=self.run_type, name=f"chain-{steps}")
        current = self.model(f"chain{steps}-a0", 0)
        [current.id] = store.put_artifacts([current])
        for start in range(0, steps, BATCH):
            count = min(BATCH, steps - start)
            executions = [self.execution(f"chain{steps}-e{start + k}", start + k) for k in range(count)]
            outputs = [self.model(f"chain{steps}-a{start + k + 1}", start + k) for k in range(count)]
            edges = []
            for k in range(count):
                edges.append((k, k, self.event(pb.Event.INPUT, "in", 0)))
                edges.append((k, k + 1, self.event(pb.Event.OUTPUT, "out", 0)))
            _, artifact_ids, context_ids = store.put_lineage_subgraph(executions, [current, *outputs], [context], edges)
            context.id = context_ids[0]
            current = outputs[-1]
            current.id = artifact_ids[-1]
        self.long_chain_end = current.id

    def lineage_long(self) -> None:
        steps = self.long_chain
        graph = self.store.get_lineage_subgraph(self.upstream_options(self.long_chain_end, 2 * steps))
        assert len(graph.artifacts) == steps + 1 and len(graph.executions) == steps, (
            len(graph.artifacts), len(graph.executions)
        )
        assert len(graph.events) == 2 * steps

    def lineage_long_edges(self) -> None:
        steps = self.long_chain
        graph = self.store.get_lineage_subgraph(self.upstream_options(self.long_chain_end, 2 * steps), ["events"])
        assert len(graph.events) == 2 * steps and not graph.artifacts, (len(graph.events), len(graph.artifacts))


def open_store(mlmd: Any, pb: Any, args: argparse.Namespace) -> Any:
    if args.store == "grpc":
        config = pb.MetadataStoreClientConfig(host=args.host, port=args.port)
        # Above gRPC's 4 MiB default: a 100,000-artifact get_artifacts_by_type answer is bigger.
        config.channel_arguments.max_receive_message_length = 512 * 1024 * 1024
        return mlmd.MetadataStore(config)
    config = pb.ConnectionConfig()
    if args.store.endswith("memory"):
        config.fake_database.SetInParent()
    else:
        config.sqlite.filename_uri = args.db
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return mlmd.MetadataStore(config)


def memory_run(workload: Workload, args: argparse.Namespace) -> dict[str, Any]:
    """Fill the store, then a long read loop; sample the server's RSS along the way."""
    pid = args.server_pid
    samples: list[dict[str, Any]] = [{"calls": 0, "stage": "start", **rss_kib(pid)}]
    workload.register_types()
    ids: list[int] = []
    start = time.perf_counter()
    for first in range(0, args.memory_artifacts, BATCH):
        batch = [workload.dataset(i) for i in range(first, min(first + BATCH, args.memory_artifacts))]
        ids.extend(workload.store.put_artifacts(batch))
        calls = first // BATCH + 1
        if calls % 100 == 0:
            samples.append({"calls": calls, "stage": "fill", **rss_kib(pid)})
    fill_seconds = time.perf_counter() - start
    after_fill = rss_kib(pid)
    rng = random.Random(7)
    start = time.perf_counter()
    for call in range(1, args.read_calls + 1):
        if call % 10 == 0:  # a paged, filtered list now and then, besides reads by id
            workload.store.get_artifacts(list_options=workload.mlmd.ListOptions(limit=100, filter_query=FILTER))
        else:
            workload.store.get_artifacts_by_id(rng.sample(ids, BATCH))
        if call % args.sample_every == 0:
            samples.append({"calls": call, "stage": "read", **rss_kib(pid)})
    read_seconds = time.perf_counter() - start
    by_type_start = time.perf_counter()
    everything = workload.store.get_artifacts_by_type("Dataset")
    by_type_seconds = time.perf_counter() - by_type_start
    assert len(everything) == args.memory_artifacts
    del everything
    after_by_type = rss_kib(pid)
    reads = [s["VmRSS"] for s in samples if s["stage"] == "read"]
    return {
        "artifacts": args.memory_artifacts,
        "fill_seconds": fill_seconds,
        "read_calls": args.read_calls,
        "read_seconds": read_seconds,
        "rss_after_fill_kib": after_fill["VmRSS"],
        "rss_read_first_kib": reads[0] if reads else None,
        "rss_read_last_kib": reads[-1] if reads else None,
        "rss_read_max_kib": max(reads) if reads else None,
        "get_all_by_type_seconds": by_type_seconds,
        "rss_after_get_all_by_type_kib": after_by_type["VmRSS"],
        "peak_kib": after_by_type["VmHWM"],
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", choices=("mlmd", "ours"), required=True)
    parser.add_argument("--store", choices=("mlmd-sqlite", "mlmd-memory", "ours-sqlite", "ours-memory", "grpc"), required=True)
    parser.add_argument("--db", help="SQLite file (in-process SQLite stores)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--server-pid", type=int, help="the gRPC server's pid, for its RSS")
    parser.add_argument("--artifacts", type=int, default=10_000)
    parser.add_argument("--executions", type=int, default=3_000)
    parser.add_argument("--long-chain", type=int, default=5_000)
    parser.add_argument("--no-long-traversal", action="store_true", help="skip lineage5000 (ml-metadata: 100-hop cap)")
    parser.add_argument("--read-passes", type=int, default=5, help="passes of each read phase; its time is the median pass")
    parser.add_argument("--until", choices=PHASES, help="stop after this phase")
    parser.add_argument("--mode", choices=("workload", "memory"), default="workload")
    parser.add_argument("--memory-artifacts", type=int, default=100_000)
    parser.add_argument("--read-calls", type=int, default=20_000)
    parser.add_argument("--sample-every", type=int, default=1_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    mlmd, pb = _import_api(args.api)
    store = open_store(mlmd, pb, args)
    workload = Workload(
        mlmd, pb, store, artifacts=args.artifacts, executions=args.executions, long_chain=args.long_chain,
        read_passes=args.read_passes,
    )
    result: dict[str, Any] = {"api": args.api, "store": args.store, "python": sys.version.split()[0]}
    if args.mode == "memory":
        result["memory"] = memory_run(workload, args)
    else:
        workload.run(long_chain_traversal=not args.no_long_traversal, until=args.until)
        result["phases"] = workload.times
        result["passes"] = workload.passes
        result["checks"] = workload.checks
        if args.server_pid:
            result["server_rss_kib"] = rss_kib(args.server_pid)
    result["client_max_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    text = json.dumps(result)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
