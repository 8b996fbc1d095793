"""Store data for the dashboard tests, written through the request-level core with real MLMD protos.

``record_pipeline`` records a small TFX-shaped pipeline: an experiment context
with runs as child contexts, each run ExampleGen → Trainer → Evaluator (the
second run's Trainer with other hyperparameters, an optional failed run), so a
test has datasets, models, a failed execution, parents and children to look at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services import api


def value(data: Any) -> pb.Value:
    result = pb.Value()
    if isinstance(data, bool):
        result.bool_value = data
    elif isinstance(data, int):
        result.int_value = data
    elif isinstance(data, float):
        result.double_value = data
    else:
        result.string_value = str(data)
    return result


def put_types() -> dict[str, int]:
    ids: dict[str, int] = {}
    artifact_types = {
        "Examples": (pb.ArtifactType.DATASET, {"span": pb.INT, "split": pb.STRING}),
        "Model": (pb.ArtifactType.MODEL, {"framework": pb.STRING}),
        "ModelEvaluation": (pb.ArtifactType.METRICS, {"accuracy": pb.DOUBLE}),
    }
    for name, (base, props) in artifact_types.items():
        message = pb.ArtifactType(name=name, properties=props, base_type=base)
        ids[name] = api.call("PutArtifactType", svc.PutArtifactTypeRequest(artifact_type=message)).type_id
    execution_types = {
        "ExampleGen": {"input_base": pb.STRING},
        "Trainer": {"learning_rate": pb.DOUBLE, "train_steps": pb.INT},
        "Evaluator": {},
    }
    for name, props in execution_types.items():
        message = pb.ExecutionType(name=name, properties=props)
        ids[name] = api.call("PutExecutionType", svc.PutExecutionTypeRequest(execution_type=message)).type_id
    for name, props in {"Experiment": {"owner": pb.STRING}, "PipelineRun": {"run_number": pb.INT}}.items():
        message = pb.ContextType(name=name, properties=props)
        ids[name] = api.call("PutContextType", svc.PutContextTypeRequest(context_type=message)).type_id
    return ids


def put_execution(
    type_id: int,
    name: str,
    *,
    inputs: list[int] = (),  # type: ignore[assignment]
    outputs: list[pb.Artifact] = (),  # type: ignore[assignment]
    contexts: list[pb.Context] = (),  # type: ignore[assignment]
    properties: dict[str, Any] | None = None,
    custom_properties: dict[str, Any] | None = None,
    state: Any = pb.Execution.COMPLETE,
) -> tuple[int, list[int], list[int]]:
    execution = pb.Execution(type_id=type_id, name=name, last_known_state=state)
    for key, data in (properties or {}).items():
        execution.properties[key].CopyFrom(value(data))
    for key, data in (custom_properties or {}).items():
        execution.custom_properties[key].CopyFrom(value(data))
    request = svc.PutExecutionRequest(execution=execution, contexts=list(contexts))
    request.options.reuse_context_if_already_exist = True
    for artifact_id in inputs:
        pair = request.artifact_event_pairs.add()
        pair.event.artifact_id = artifact_id
        pair.event.type = pb.Event.INPUT
    for index, artifact in enumerate(outputs):
        pair = request.artifact_event_pairs.add()
        pair.artifact.CopyFrom(artifact)
        pair.event.type = pb.Event.OUTPUT
        pair.event.path.steps.add().key = "out"
        pair.event.path.steps.add().index = index
    response = api.call("PutExecution", request)
    return response.execution_id, list(response.artifact_ids), list(response.context_ids)


def artifact(
    type_id: int, uri: str, *, name: str | None = None, state: Any = pb.Artifact.LIVE, **properties: Any
) -> pb.Artifact:
    message = pb.Artifact(type_id=type_id, uri=uri, state=state)
    if name:
        message.name = name
    for key, data in properties.items():
        message.properties[key].CopyFrom(value(data))
    return message


@dataclass
class Pipeline:
    """Ids of what ``record_pipeline`` wrote."""

    types: dict[str, int]
    experiment: int = 0
    runs: list[int] = field(default_factory=list)
    dataset: int = 0
    models: list[int] = field(default_factory=list)
    evaluations: list[int] = field(default_factory=list)
    trainers: list[int] = field(default_factory=list)
    evaluators: list[int] = field(default_factory=list)
    example_gen: int = 0
    failed: int = 0


def record_pipeline(*, runs: int = 2, failed_run: bool = True) -> Pipeline:
    ids = put_types()
    result = Pipeline(types=ids)
    experiment = pb.Context(type_id=ids["Experiment"], name="taxi-experiment")
    experiment.properties["owner"].string_value = "ana"
    first_run = pb.Context(type_id=ids["PipelineRun"], name="run-1")
    first_run.properties["run_number"].int_value = 1
    example_gen, (dataset,), context_ids = put_execution(
        ids["ExampleGen"],
        "examplegen-1",
        outputs=[artifact(ids["Examples"], "s3://data/taxi/span-1", name="taxi-span-1", span=1, split="train")],
        contexts=[experiment, first_run],
        properties={"input_base": "s3://raw/taxi"},
    )
    result.example_gen, result.dataset, result.experiment = example_gen, dataset, context_ids[0]
    for number in range(1, runs + 1):
        run = pb.Context(type_id=ids["PipelineRun"], name=f"run-{number}")
        run.properties["run_number"].int_value = number
        trainer, (model,), context_ids = put_execution(
            ids["Trainer"],
            f"trainer-{number}",
            inputs=[dataset],
            outputs=[
                artifact(ids["Model"], f"s3://models/taxi/{number}", name=f"model-{number}", framework="tensorflow")
            ],
            contexts=[experiment, run],
            properties={"learning_rate": 0.01 * number, "train_steps": 1000 * number},
            custom_properties={"seed": 42},
        )
        evaluator, (evaluation,), _ = put_execution(
            ids["Evaluator"],
            f"evaluator-{number}",
            inputs=[dataset, model],
            outputs=[artifact(ids["ModelEvaluation"], f"s3://eval/taxi/{number}", accuracy=0.7 + number / 100)],
            contexts=[experiment, run],
        )
        result.runs.append(context_ids[1])
        result.models.append(model)
        result.trainers.append(trainer)
        result.evaluations.append(evaluation)
        result.evaluators.append(evaluator)
    if failed_run:
        broken = pb.Context(type_id=ids["PipelineRun"], name=f"run-{runs + 1}")
        broken.properties["run_number"].int_value = runs + 1
        result.failed, _, context_ids = put_execution(
            ids["Trainer"],
            f"trainer-{runs + 1}",
            inputs=[dataset],
            contexts=[experiment, broken],
            properties={"learning_rate": 0.5, "train_steps": 10},
            state=pb.Execution.FAILED,
        )
        result.runs.append(context_ids[1])
    api.call(
        "PutParentContexts",
        svc.PutParentContextsRequest(
            parent_contexts=[pb.ParentContext(child_id=run_id, parent_id=result.experiment) for run_id in result.runs]
        ),
    )
    return result


def record_wide_context(executions: int, *, name: str = "wide-run") -> int:
    """A context of ``executions`` executions, each reading the previous one's output and writing one artifact."""
    ids = put_types()
    context = pb.Context(type_id=ids["PipelineRun"], name=name)
    previous: list[int] = []
    context_id = 0
    for number in range(executions):
        _, outputs, context_ids = put_execution(
            ids["Trainer"],
            f"{name}-step-{number}",
            inputs=previous,
            outputs=[artifact(ids["Model"], f"s3://wide/{name}/{number}")],
            contexts=[context],
            properties={"learning_rate": 0.1, "train_steps": number},
        )
        previous, context_id = outputs, context_ids[0]
    return context_id
