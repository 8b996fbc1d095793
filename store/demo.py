"""A realistic demo: runs of a TFX-shaped pipeline, recorded through the core.

ExampleGen → StatisticsGen → SchemaGen → Transform → Trainer → Evaluator →
Pusher, run several times under two experiments, each run a pipeline-run
context that is a child of its experiment; one run fails at the Trainer.
Everything is written with the same MLMD calls a pipeline makes, so the demo
exercises the real write path.  Loading it twice changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services import api

DEMO_MARKER = "demo:taxi"

ARTIFACT_TYPES: dict[str, tuple[int, dict[str, int]]] = {
    "Examples": (pb.ArtifactType.DATASET, {"span": pb.INT, "split_names": pb.STRING}),
    "ExampleStatistics": (pb.ArtifactType.STATISTICS, {"span": pb.INT}),
    "Schema": (pb.ArtifactType.UNSET, {}),
    "TransformGraph": (pb.ArtifactType.UNSET, {}),
    "Model": (pb.ArtifactType.MODEL, {"framework": pb.STRING}),
    "ModelEvaluation": (pb.ArtifactType.METRICS, {"accuracy": pb.DOUBLE, "blessed": pb.BOOLEAN}),
    "PushedModel": (pb.ArtifactType.UNSET, {"pushed_destination": pb.STRING}),
}
EXECUTION_TYPES: dict[str, tuple[int, dict[str, int]]] = {
    "ExampleGen": (pb.ExecutionType.PROCESS, {"input_base": pb.STRING}),
    "StatisticsGen": (pb.ExecutionType.PROCESS, {}),
    "SchemaGen": (pb.ExecutionType.PROCESS, {"infer_feature_shape": pb.BOOLEAN}),
    "Transform": (pb.ExecutionType.TRANSFORM, {"module_file": pb.STRING}),
    "Trainer": (pb.ExecutionType.TRAIN, {"train_steps": pb.INT, "learning_rate": pb.DOUBLE, "module_file": pb.STRING}),
    "Evaluator": (pb.ExecutionType.EVALUATE, {"threshold": pb.DOUBLE}),
    "Pusher": (pb.ExecutionType.DEPLOY, {"push_destination": pb.STRING}),
}
CONTEXT_TYPES: dict[str, dict[str, int]] = {
    "Experiment": {"note": pb.STRING, "owner": pb.STRING},
    "PipelineRun": {"pipeline_name": pb.STRING, "run_number": pb.INT},
}


@dataclass
class RunSpec:
    experiment: str
    number: int
    span: int
    train_steps: int
    learning_rate: float
    accuracy: float
    fails_at_trainer: bool = False


RUNS = [
    RunSpec("taxi-baseline", 1, span=1, train_steps=1000, learning_rate=0.01, accuracy=0.742),
    RunSpec("taxi-baseline", 2, span=2, train_steps=1000, learning_rate=0.01, accuracy=0.751),
    RunSpec("taxi-wide-deep", 3, span=2, train_steps=5000, learning_rate=0.005, accuracy=0.788),
    RunSpec("taxi-wide-deep", 4, span=3, train_steps=5000, learning_rate=0.02, accuracy=0.0, fails_at_trainer=True),
    RunSpec("taxi-wide-deep", 5, span=3, train_steps=8000, learning_rate=0.005, accuracy=0.803),
]

EXPERIMENT_NOTES = {
    "taxi-baseline": "Chicago taxi tip prediction, linear baseline.",
    "taxi-wide-deep": "Wide & deep model on the same data, tuning steps and learning rate.",
}


@dataclass
class DemoSummary:
    created: bool
    runs: int = 0
    executions: int = 0
    artifacts: int = 0
    contexts: list[str] = field(default_factory=list)


def _value(data: Any) -> pb.Value:
    value = pb.Value()
    if isinstance(data, bool):
        value.bool_value = data
    elif isinstance(data, int):
        value.int_value = data
    elif isinstance(data, float):
        value.double_value = data
    else:
        value.string_value = str(data)
    return value


def _register_types() -> dict[str, int]:
    ids: dict[str, int] = {}
    for name, (base, props) in ARTIFACT_TYPES.items():
        message = pb.ArtifactType(name=name, properties=props)
        if base:
            message.base_type = base
        ids[name] = api.call("PutArtifactType", svc.PutArtifactTypeRequest(artifact_type=message, can_add_fields=True)).type_id
    for name, (base, props) in EXECUTION_TYPES.items():
        message = pb.ExecutionType(name=name, properties=props)
        if base:
            message.base_type = base
        ids[name] = api.call(
            "PutExecutionType", svc.PutExecutionTypeRequest(execution_type=message, can_add_fields=True)
        ).type_id
    for name, props in CONTEXT_TYPES.items():
        message = pb.ContextType(name=name, properties=props)
        ids[name] = api.call("PutContextType", svc.PutContextTypeRequest(context_type=message, can_add_fields=True)).type_id
    return ids


def _context(type_id: int, name: str, properties: dict[str, Any]) -> pb.Context:
    return pb.Context(type_id=type_id, name=name, properties={k: _value(v) for k, v in properties.items()})


class _Run:
    """Records one pipeline run step by step, as an orchestrator would."""

    def __init__(self, ids: dict[str, int], spec: RunSpec, datasets: dict[int, int]) -> None:
        self.ids = ids
        self.spec = spec
        self.datasets = datasets
        self.executions = 0
        self.artifacts = 0
        self.contexts = [
            _context(ids["Experiment"], spec.experiment, {"note": EXPERIMENT_NOTES[spec.experiment], "owner": "ana"}),
            _context(
                ids["PipelineRun"], f"taxi-pipeline-run-{spec.number}", {"pipeline_name": "taxi", "run_number": spec.number}
            ),
        ]
        self.context_ids: list[int] = []

    def step(
        self,
        execution_type: str,
        properties: dict[str, Any],
        inputs: list[int],
        outputs: list[tuple[str, str, dict[str, Any]]],
        *,
        failed: bool = False,
    ) -> list[int]:
        execution = pb.Execution(
            type_id=self.ids[execution_type],
            name=f"run{self.spec.number}-{execution_type}",
            last_known_state=pb.Execution.FAILED if failed else pb.Execution.COMPLETE,
            properties={k: _value(v) for k, v in properties.items()},
        )
        execution.custom_properties["pipeline_run"].string_value = f"taxi-pipeline-run-{self.spec.number}"
        request = svc.PutExecutionRequest(execution=execution, contexts=self.contexts)
        request.options.reuse_context_if_already_exist = True
        for artifact_id in inputs:
            pair = request.artifact_event_pairs.add()
            pair.event.artifact_id = artifact_id
            pair.event.type = pb.Event.INPUT
        if not failed:
            for index, (type_name, uri, props) in enumerate(outputs):
                pair = request.artifact_event_pairs.add()
                pair.artifact.CopyFrom(
                    pb.Artifact(
                        type_id=self.ids[type_name],
                        uri=uri,
                        state=pb.Artifact.LIVE,
                        properties={k: _value(v) for k, v in props.items()},
                    )
                )
                pair.event.type = pb.Event.OUTPUT
                pair.event.path.steps.add().key = type_name.lower()
                pair.event.path.steps.add().index = index
        response = api.call("PutExecution", request)
        self.context_ids = list(response.context_ids)
        self.executions += 1
        self.artifacts += len(response.artifact_ids)
        return list(response.artifact_ids)

    def record(self) -> None:
        spec = self.spec
        root = f"gs://demo-bucket/taxi/run-{spec.number}"
        if spec.span in self.datasets:
            examples = self.datasets[spec.span]
        else:
            [examples] = self.step(
                "ExampleGen",
                {"input_base": f"gs://demo-bucket/taxi/raw/span-{spec.span}"},
                [],
                [("Examples", f"gs://demo-bucket/taxi/examples/span-{spec.span}", {"span": spec.span, "split_names": '["train", "eval"]'})],
            )
            self.datasets[spec.span] = examples
        [statistics] = self.step("StatisticsGen", {}, [examples], [("ExampleStatistics", f"{root}/statistics", {"span": spec.span})])
        [schema] = self.step("SchemaGen", {"infer_feature_shape": True}, [statistics], [("Schema", f"{root}/schema", {})])
        [graph] = self.step(
            "Transform", {"module_file": "taxi_utils.py"}, [examples, schema], [("TransformGraph", f"{root}/transform", {})]
        )
        trainer_properties = {
            "train_steps": spec.train_steps,
            "learning_rate": spec.learning_rate,
            "module_file": "taxi_utils.py",
        }
        if spec.fails_at_trainer:
            self.step("Trainer", trainer_properties, [examples, graph, schema], [], failed=True)
            return
        [model] = self.step(
            "Trainer", trainer_properties, [examples, graph, schema], [("Model", f"{root}/model", {"framework": "tensorflow"})]
        )
        blessed = spec.accuracy >= 0.75
        [evaluation] = self.step(
            "Evaluator",
            {"threshold": 0.75},
            [examples, model],
            [("ModelEvaluation", f"{root}/evaluation", {"accuracy": spec.accuracy, "blessed": blessed})],
        )
        if blessed:
            self.step(
                "Pusher",
                {"push_destination": "/serving/taxi"},
                [model, evaluation],
                [("PushedModel", f"/serving/taxi/{spec.number}", {"pushed_destination": "/serving/taxi"})],
            )


def load_demo() -> DemoSummary:
    """Record the demo runs unless they are already in the store."""
    ids = _register_types()
    existing = api.call(
        "GetContextByTypeAndName",
        svc.GetContextByTypeAndNameRequest(type_name="PipelineRun", context_name=f"taxi-pipeline-run-{RUNS[-1].number}"),
    )
    if existing.HasField("context"):
        return DemoSummary(created=False)
    summary = DemoSummary(created=True)
    datasets: dict[int, int] = {}
    experiment_ids: dict[str, int] = {}
    for spec in RUNS:
        run = _Run(ids, spec, datasets)
        run.record()
        experiment_id, run_id = run.context_ids
        experiment_ids[spec.experiment] = experiment_id
        api.call(
            "PutParentContexts",
            svc.PutParentContextsRequest(parent_contexts=[pb.ParentContext(child_id=run_id, parent_id=experiment_id)]),
        )
        summary.runs += 1
        summary.executions += run.executions
        summary.artifacts += run.artifacts
        summary.contexts.append(f"taxi-pipeline-run-{spec.number}")
    summary.contexts = list(experiment_ids) + summary.contexts
    return summary
