"""Drive the real ml-metadata 1.17.1 library: build a realistic store, dump its answers, print its DDL.

Run with the interpreter of the ml-metadata venv (``.venv-mlmd/bin/python``,
see ``scripts/conformance.sh``), never with the project's ``.venv``: ml-metadata
needs protobuf<5.  The tests of ``import_mlmd``/``export_mlmd`` use it to
produce the source database and the reference answers they compare ours with::

    .venv-mlmd/bin/python scripts/mlmd_reference.py build PATH|MYSQL_URL [--runs N]
    .venv-mlmd/bin/python scripts/mlmd_reference.py dump PATH|MYSQL_URL  # in-process store
    .venv-mlmd/bin/python scripts/mlmd_reference.py dump --grpc HOST:PORT
    .venv-mlmd/bin/python scripts/mlmd_reference.py ddl PATH           # schema of an empty store, as JSON

``dump_store(store, pb)`` works on any object with ml-metadata's Python API,
so the tests call it in-process on ``store.metadata_store.MetadataStore`` too:
both sides are serialized by the same code, and the JSON documents must be
equal.
"""
from __future__ import annotations

import argparse
import base64
import json
import sqlite3
import sys
from typing import Any

# ---------------------------------------------------------------------------- dump


def _value(value: Any) -> Any:
    """A Value as JSON; proto values as type URL + base64 (their types are in no shared pool)."""
    from google.protobuf import json_format

    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "struct_value":
        return {"struct": json_format.MessageToDict(value.struct_value)}
    if which == "proto_value":
        return {"proto": [value.proto_value.type_url, base64.b64encode(value.proto_value.value).decode()]}
    if which == "double_value":
        return {"double": repr(value.double_value)}
    return {which: getattr(value, which)}


def _node(message: Any) -> dict[str, Any]:
    """Every field of a node, properties by name; unset optional fields are absent."""
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.name in ("properties", "custom_properties"):
            out[field.name] = {name: _value(v) for name, v in sorted(value.items())}
        elif field.name == "system_metadata":
            out[field.name] = base64.b64encode(value.SerializeToString()).decode()
        else:
            out[field.name] = value
    return out


def _type(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.name == "properties":
            out["properties"] = dict(sorted(value.items()))
        elif field.type == field.TYPE_MESSAGE:
            out[field.name] = value.SerializeToString().hex()
        else:
            out[field.name] = value
    return out


def _event(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.name == "path":
            out["path"] = [
                {"index": step.index} if step.WhichOneof("value") == "index" else {"key": step.key}
                for step in value.steps
            ]
        elif field.name == "system_metadata":
            out[field.name] = base64.b64encode(value.SerializeToString()).decode()
        else:
            out[field.name] = value
    return out


def _graph(graph: Any) -> dict[str, Any]:
    """A LineageGraph with every list in a canonical order (the API does not promise one)."""
    return {
        "artifact_types": sorted((_type(t) for t in graph.artifact_types), key=lambda t: t["id"]),
        "execution_types": sorted((_type(t) for t in graph.execution_types), key=lambda t: t["id"]),
        "context_types": sorted((_type(t) for t in graph.context_types), key=lambda t: t["id"]),
        "artifacts": sorted((_node(a) for a in graph.artifacts), key=lambda n: n["id"]),
        "executions": sorted((_node(e) for e in graph.executions), key=lambda n: n["id"]),
        "contexts": sorted((_node(c) for c in graph.contexts), key=lambda n: n["id"]),
        "events": sorted(
            (_event(e) for e in graph.events), key=lambda e: (e["artifact_id"], e["execution_id"], e["type"])
        ),
        "attributions": sorted([a.context_id, a.artifact_id] for a in graph.attributions),
        "associations": sorted([a.context_id, a.execution_id] for a in graph.associations),
    }


def _ids(method: Any, *args: Any) -> Any:
    """The ids a list call answers, or the error class it raises (ml-metadata answers some empty lists with NOT_FOUND)."""
    try:
        return [node.id for node in method(*args)]
    except Exception as exc:  # the error itself is the answer being compared
        return {"error": type(exc).__name__}


def dump_store(store: Any, pb: Any) -> dict[str, Any]:
    """The answers a client sees, as one JSON-able document.

    ``store`` has ml-metadata's ``MetadataStore`` API; ``pb`` is the
    ``metadata_store_pb2`` module that goes with it.
    """
    artifacts = store.get_artifacts()
    executions = store.get_executions()
    contexts = store.get_contexts()
    artifact_ids = [a.id for a in artifacts]
    doc: dict[str, Any] = {
        "artifact_types": [_type(t) for t in store.get_artifact_types()],
        "execution_types": [_type(t) for t in store.get_execution_types()],
        "context_types": [_type(t) for t in store.get_context_types()],
        "artifacts": [_node(a) for a in artifacts],
        "executions": [_node(e) for e in executions],
        "contexts": [_node(c) for c in contexts],
        "events_by_artifact_ids": [_event(e) for e in store.get_events_by_artifact_ids(artifact_ids)],
        "events_by_execution_ids": [_event(e) for e in store.get_events_by_execution_ids([e.id for e in executions])],
        "artifacts_by_context": {},
        "executions_by_context": {},
        "parent_contexts_by_context": {},
        "children_contexts_by_context": {},
        "contexts_by_artifact": {},
        "contexts_by_execution": {},
    }
    for context in contexts:
        key = str(context.id)
        doc["artifacts_by_context"][key] = _ids(store.get_artifacts_by_context, context.id)
        doc["executions_by_context"][key] = _ids(store.get_executions_by_context, context.id)
        doc["parent_contexts_by_context"][key] = _ids(store.get_parent_contexts_by_context, context.id)
        doc["children_contexts_by_context"][key] = _ids(store.get_children_contexts_by_context, context.id)
    for artifact in artifacts:
        doc["contexts_by_artifact"][str(artifact.id)] = _ids(store.get_contexts_by_artifact, artifact.id)
    for execution in executions:
        doc["contexts_by_execution"][str(execution.id)] = _ids(store.get_contexts_by_execution, execution.id)
    doc["lineage"] = {}
    for artifact in artifacts:
        if not (artifact.type == "Model" or artifact.name.endswith("raw")):
            continue
        options = pb.LineageSubgraphQueryOptions(max_num_hops=20)
        options.starting_artifacts.filter_query = f"id = {artifact.id}"
        doc["lineage"][str(artifact.id)] = _graph(store.get_lineage_subgraph(options))
    return doc


# ---------------------------------------------------------------------------- build


def connection_config(pb: Any, where: str, *, read_only: bool = False) -> Any:
    """An SQLite file path, or ``mysql://user:password@host:port/database[?unix_socket=PATH]``."""
    from urllib.parse import parse_qs, unquote, urlsplit

    config = pb.ConnectionConfig()
    if where.startswith("mysql://"):
        url = urlsplit(where)
        socket = parse_qs(url.query).get("unix_socket")
        if socket:  # ml-metadata takes a host or a socket, not both
            config.mysql.socket = socket[-1]
        else:
            config.mysql.host = url.hostname or "localhost"
            config.mysql.port = url.port or 3306
        config.mysql.user = unquote(url.username or "")
        config.mysql.password = unquote(url.password or "")
        config.mysql.database = url.path.strip("/")
        return config
    config.sqlite.filename_uri = where
    config.sqlite.connection_mode = (
        pb.SqliteMetadataSourceConfig.READONLY if read_only else pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return config


def build(path: str, runs: int) -> None:
    """A store like a few weeks of TFX-style pipeline runs, touching every feature the importer copies.

    Every property data type (declared and custom, incl. struct and proto),
    type versions, base types and external ids, event paths with keys and
    indexes, attributions, associations, parent contexts (run -> pipeline ->
    project), artifact states and a failed run.
    """
    from google.protobuf import struct_pb2, timestamp_pb2
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    store = metadata_store.MetadataStore(connection_config(pb, path))

    all_kinds = {"i": pb.INT, "d": pb.DOUBLE, "s": pb.STRING, "st": pb.STRUCT, "p": pb.PROTO, "b": pb.BOOLEAN}
    examples_t = store.put_artifact_type(
        pb.ArtifactType(
            name="Examples",
            properties={"span": pb.INT, "split_names": pb.STRING, "version": pb.INT},
            base_type=pb.ArtifactType.DATASET,
            description="Split tf.Examples",
            external_id="tfx.Examples",
        )
    )
    model_t = store.put_artifact_type(
        pb.ArtifactType(
            name="Model", properties={"accuracy": pb.DOUBLE, "framework": pb.STRING}, base_type=pb.ArtifactType.MODEL
        )
    )
    metrics_t = store.put_artifact_type(
        pb.ArtifactType(name="ModelEvaluation", version="v2", properties=all_kinds, base_type=pb.ArtifactType.METRICS)
    )
    stats_t = store.put_artifact_type(pb.ArtifactType(name="ExampleStatistics", base_type=pb.ArtifactType.STATISTICS))
    # An older version of a type, still holding artifacts.
    metrics_v1_t = store.put_artifact_type(pb.ArtifactType(name="ModelEvaluation", version="v1", properties={"i": pb.INT}))
    gen_t = store.put_execution_type(
        pb.ExecutionType(name="ExampleGen", properties={"input_base": pb.STRING}, base_type=pb.ExecutionType.PROCESS)
    )
    trainer_t = store.put_execution_type(
        pb.ExecutionType(name="Trainer", properties=all_kinds, base_type=pb.ExecutionType.TRAIN, version="1.4.0")
    )
    eval_t = store.put_execution_type(
        pb.ExecutionType(name="Evaluator", properties={"threshold": pb.DOUBLE}, base_type=pb.ExecutionType.EVALUATE)
    )
    project_t = store.put_context_type(pb.ContextType(name="project", properties={"owner": pb.STRING}))
    pipeline_t = store.put_context_type(
        pb.ContextType(name="pipeline", properties={"config": pb.STRUCT, "schedule": pb.STRING}, external_id="tfx.pipeline")
    )
    run_t = store.put_context_type(pb.ContextType(name="pipeline_run", properties=all_kinds))

    def struct(data: dict[str, Any]) -> struct_pb2.Struct:
        value = struct_pb2.Struct()
        value.update(data)
        return value

    def proto_any(seconds: int) -> Any:
        from google.protobuf import any_pb2

        wrapped = any_pb2.Any()
        wrapped.Pack(timestamp_pb2.Timestamp(seconds=seconds, nanos=7))
        return wrapped

    def fill_all(props: Any, n: int) -> None:
        # ml-metadata's MySQL schema keeps int_value in a 32-bit INT column; SQLite's is 64-bit.
        props["i"].int_value = (-(2**30) if path.startswith("mysql://") else -(2**40)) + n
        props["d"].double_value = 0.1 * n + 1e-12
        props["s"].string_value = f"value {n} – ünïcode ✓"
        props["st"].struct_value.CopyFrom(struct({"lr": 0.001 * (n + 1), "layers": [64, 32, n], "nested": {"ok": True}}))
        props["p"].proto_value.CopyFrom(proto_any(1_700_000_000 + n))
        props["b"].bool_value = n % 2 == 0

    project = pb.Context(type_id=project_t, name="churn-prediction", external_id="proj-1")
    project.properties["owner"].string_value = "data-science"
    [project_id] = store.put_contexts([project])
    pipeline = pb.Context(type_id=pipeline_t, name="churn_pipeline")
    pipeline.properties["config"].struct_value.CopyFrom(struct({"steps": ["gen", "train", "eval"], "retries": 3}))
    pipeline.properties["schedule"].string_value = "@daily"
    pipeline.custom_properties["tfx_version"].string_value = "1.14.0"
    [pipeline_id] = store.put_contexts([pipeline])
    store.put_parent_contexts([pb.ParentContext(child_id=pipeline_id, parent_id=project_id)])

    previous_model: int | None = None
    for run in range(runs):
        failed = run == runs - 1 and runs > 1
        ctx = pb.Context(type_id=run_t, name=f"churn_pipeline.run-{run:03d}", external_id=f"kfp-run-{run}")
        fill_all(ctx.properties, run)
        ctx.custom_properties["triggered_by"].string_value = "scheduler" if run % 2 else "alice"
        ctx.custom_properties["attempt"].int_value = 1
        [run_id] = store.put_contexts([ctx])
        store.put_parent_contexts([pb.ParentContext(child_id=run_id, parent_id=pipeline_id)])
        run_ctx = store.get_contexts_by_id([run_id])[0]
        pipe_ctx = store.get_contexts_by_id([pipeline_id])[0]

        # ExampleGen: one raw input (a REFERENCE artifact), two outputs along a keyed, indexed path.
        raw = pb.Artifact(type_id=examples_t, uri=f"gs://bucket/raw/{run}", name=f"run-{run}.raw", state=pb.Artifact.REFERENCE)
        raw.properties["span"].int_value = run
        examples = pb.Artifact(
            type_id=examples_t, uri=f"gs://bucket/examples/{run}", name=f"run-{run}.examples", state=pb.Artifact.LIVE
        )
        examples.properties["span"].int_value = run
        examples.properties["split_names"].string_value = '["train", "eval"]'
        examples.custom_properties["payload_format"].string_value = "FORMAT_TF_EXAMPLE"
        examples.custom_properties["is_external"].bool_value = False
        stats = pb.Artifact(type_id=stats_t, uri=f"gs://bucket/stats/{run}", state=pb.Artifact.LIVE)
        stats.custom_properties["num_examples"].int_value = 10_000 + run
        stats.custom_properties["histogram"].struct_value.CopyFrom(struct({"bins": [1, 2, 3], "name": "age"}))
        gen = pb.Execution(type_id=gen_t, name=f"run-{run}.ExampleGen", last_known_state=pb.Execution.COMPLETE)
        gen.properties["input_base"].string_value = "gs://bucket/raw"
        gen.custom_properties["cache_key"].string_value = f"abc{run}"

        def event(kind: int, *steps: Any) -> Any:
            ev = pb.Event(type=kind)
            for step in steps:
                if isinstance(step, int):
                    ev.path.steps.add().index = step
                else:
                    ev.path.steps.add().key = step
            return ev

        gen_id, (raw_id, examples_id, stats_id), _ = store.put_execution(
            gen,
            [
                (raw, event(pb.Event.INPUT, "input_base", 0)),
                (examples, event(pb.Event.OUTPUT, "examples", 0)),
                (stats, event(pb.Event.OUTPUT, "statistics", 0)),
            ],
            [run_ctx, pipe_ctx],
            reuse_context_if_already_exist=True,
        )

        # Trainer: warm-starts from the previous model; the last run fails.
        trainer = pb.Execution(
            type_id=trainer_t,
            name=f"run-{run}.Trainer",
            last_known_state=pb.Execution.FAILED if failed else pb.Execution.COMPLETE,
            external_id=f"trainer-{run}",
        )
        fill_all(trainer.properties, run + 10)
        trainer.custom_properties["error"].string_value = "OOM on worker-3" if failed else ""
        trainer.custom_properties["hparams"].struct_value.CopyFrom(struct({"epochs": run + 1, "opt": "adam"}))
        trainer.custom_properties["started"].proto_value.CopyFrom(proto_any(run))
        trainer.custom_properties["gpu"].bool_value = True
        trainer.custom_properties["loss"].double_value = float("1e-300") if run == 0 else 0.5 / (run + 1)
        inputs: list[Any] = [(store.get_artifacts_by_id([examples_id])[0], event(pb.Event.INPUT, "examples", 0))]
        if previous_model is not None:
            inputs.append((store.get_artifacts_by_id([previous_model])[0], event(pb.Event.INPUT, "base_model", 0)))
        if failed:
            # A pending output that never materialized.
            model = pb.Artifact(type_id=model_t, uri=f"gs://bucket/model/{run}", name=f"run-{run}.model", state=pb.Artifact.ABANDONED)
            inputs.append((model, event(pb.Event.PENDING_OUTPUT, "model", 0)))
        else:
            model = pb.Artifact(type_id=model_t, uri=f"gs://bucket/model/{run}", name=f"run-{run}.model", state=pb.Artifact.LIVE)
            model.properties["accuracy"].double_value = 0.80 + run / 100
            model.properties["framework"].string_value = "tensorflow"
            model.custom_properties["signature"].proto_value.CopyFrom(proto_any(42 + run))
            inputs.append((model, event(pb.Event.OUTPUT, "model", 0)))
        trainer_id, trainer_artifacts, _ = store.put_execution(
            trainer, inputs, [run_ctx, pipe_ctx], reuse_context_if_already_exist=True
        )
        model_id = trainer_artifacts[-1]
        if failed:
            continue
        previous_model = model_id

        # Evaluator: two outputs of two type versions.
        evaluator = pb.Execution(type_id=eval_t, name=f"run-{run}.Evaluator", last_known_state=pb.Execution.COMPLETE)
        evaluator.properties["threshold"].double_value = 0.75
        evaluation = pb.Artifact(type_id=metrics_t, uri=f"gs://bucket/eval/{run}", state=pb.Artifact.LIVE)
        fill_all(evaluation.properties, run + 20)
        evaluation.custom_properties["blessed"].bool_value = run % 2 == 0
        old_eval = pb.Artifact(type_id=metrics_v1_t, uri=f"gs://bucket/eval-v1/{run}", state=pb.Artifact.DELETED)
        old_eval.properties["i"].int_value = run
        store.put_execution(
            evaluator,
            [
                (store.get_artifacts_by_id([model_id])[0], event(pb.Event.INPUT, "model", 0)),
                (store.get_artifacts_by_id([examples_id])[0], event(pb.Event.INPUT, "examples", 1, "eval")),
                (evaluation, event(pb.Event.OUTPUT, "evaluation", 0)),
                (old_eval, event(pb.Event.OUTPUT, "evaluation_v1", 0)),
            ],
            [run_ctx, pipe_ctx],
            reuse_context_if_already_exist=True,
        )
        del raw_id, stats_id, gen_id, trainer_id

    # An event without a path, and a RUNNING execution outside any context.
    orphan = pb.Execution(type_id=gen_t, name="manual-ingest", last_known_state=pb.Execution.RUNNING)
    [orphan_id] = store.put_executions([orphan])
    loose = pb.Artifact(type_id=examples_t, uri="file:///tmp/manual", state=pb.Artifact.PENDING)
    [loose_id] = store.put_artifacts([loose])
    store.put_events([pb.Event(artifact_id=loose_id, execution_id=orphan_id, type=pb.Event.DECLARED_OUTPUT)])
    # A context only linked by attribution.
    [adhoc_id] = store.put_contexts([pb.Context(type_id=project_t, name="ad-hoc")])
    store.put_attributions_and_associations([pb.Attribution(context_id=adhoc_id, artifact_id=loose_id)], [])


# ---------------------------------------------------------------------------- ddl


def ddl(path: str) -> list[dict[str, Any]]:
    """What ml-metadata writes into a brand-new SQLite file: schema objects and seeded rows."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    del store
    connection = sqlite3.connect(path)
    try:
        schema = [
            {"type": t, "name": n, "table": tbl, "sql": sql}
            for t, n, tbl, sql in connection.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
            )
        ]
        rows = {
            "MLMDEnv": connection.execute("SELECT schema_version FROM MLMDEnv").fetchall(),
            "Type": connection.execute("SELECT id, name, version, type_kind FROM Type ORDER BY id").fetchall(),
        }
    finally:
        connection.close()
    return [{"schema": schema, "rows": rows}]


def _open(path: str | None, grpc_target: str | None) -> Any:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    if grpc_target:
        host, _, port = grpc_target.rpartition(":")
        client = pb.MetadataStoreClientConfig(host=host, port=int(port))
        return metadata_store.MetadataStore(client)
    assert path is not None
    return metadata_store.MetadataStore(connection_config(pb, path, read_only=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_build = commands.add_parser("build", help="create a realistic ml-metadata SQLite store at PATH")
    p_build.add_argument("path", help="an SQLite file, or mysql://user:password@host:port/database")
    p_build.add_argument("--runs", type=int, default=4)
    p_dump = commands.add_parser("dump", help="print the answers of a store as JSON")
    p_dump.add_argument("path", nargs="?", help="an SQLite file, or mysql://user:password@host:port/database")
    p_dump.add_argument("--grpc", metavar="HOST:PORT")
    p_ddl = commands.add_parser("ddl", help="print the schema ml-metadata creates in a new SQLite file at PATH")
    p_ddl.add_argument("path")
    args = parser.parse_args(argv)

    if args.command == "build":
        build(args.path, args.runs)
        return 0
    if args.command == "ddl":
        json.dump(ddl(args.path)[0], sys.stdout, indent=1)
        return 0
    if not args.path and not args.grpc:
        parser.error("dump needs PATH or --grpc HOST:PORT")
    from ml_metadata.proto import metadata_store_pb2 as pb

    store = _open(args.path, args.grpc)
    json.dump(dump_store(store, pb), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
