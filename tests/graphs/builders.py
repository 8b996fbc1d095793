"""Large contexts for the drawing tests and the benchmark, written fast with the ORM's bulk_create.

A pipeline run that fans out: ``chains`` parallel chains of ``STEPS`` steps
(ExampleGen → Transform → Trainer → Evaluator → Pusher), each step reading the
previous step's main output and writing three artifacts (main output,
statistics, logs).  1,000 chains are 5,000 executions and 15,000 artifacts.
Every 97th execution failed.  ``tangle`` makes each step also read the main
output of a pseudo-randomly chosen step of an earlier chain, so that the
chains are no longer alike and little can be grouped (a slow layout).

Recording 5,000 executions through ``api.call`` would take minutes; these rows
are what those calls would write (nodes, events, attributions, associations),
so the drawing code cannot tell the difference.  Small writes in the tests go
through the services.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from django.db import transaction

from store.choices import ArtifactBaseType, ArtifactState, EventType, ExecutionState, TypeKind
from store.models import Artifact, Association, Attribution, Context, Event, Execution, Type

STEPS = ("ExampleGen", "Transform", "Trainer", "Evaluator", "Pusher")
OUTPUTS = {
    "ExampleGen": ("Examples", ArtifactBaseType.DATASET),
    "Transform": ("TransformGraph", ArtifactBaseType.UNSET),
    "Trainer": ("Model", ArtifactBaseType.MODEL),
    "Evaluator": ("ModelEvaluation", ArtifactBaseType.METRICS),
    "Pusher": ("PushedModel", ArtifactBaseType.MODEL),
}
SIDE_OUTPUTS = (("ExampleStatistics", ArtifactBaseType.STATISTICS), ("Logs", ArtifactBaseType.UNSET))
BATCH = 2000


@dataclass
class BigContext:
    context_id: int
    executions: int
    artifacts: int
    events: int
    type_ids: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _type(kind: int, name: str, base: int = 0) -> int:
    row, _ = Type.objects.get_or_create(kind=kind, name=name, version="", defaults={"base_type": base})
    return row.id


def build_context(chains: int, *, name: str = "fan-out-run", tangle: bool = False, seed: int = 7) -> BigContext:
    """Write one pipeline-run context of ``chains`` × 5 executions and 3 artifacts per execution; its ids."""
    started = time.monotonic()
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    with transaction.atomic():
        type_ids = {step: _type(TypeKind.EXECUTION, step) for step in STEPS}
        for output, base in [*OUTPUTS.values(), *SIDE_OUTPUTS]:
            type_ids[output] = _type(TypeKind.ARTIFACT, output, base)
        run_type = type_ids["PipelineRun"] = _type(TypeKind.CONTEXT, "PipelineRun")
        context = Context.objects.create(
            type_id=run_type, name=name, create_time_since_epoch=now, last_update_time_since_epoch=now
        )
        executions = [
            Execution(
                type_id=type_ids[step],
                name=f"{name}-{step}-{chain}",
                last_known_state=ExecutionState.FAILED if (chain * len(STEPS) + s) % 97 == 96 else ExecutionState.COMPLETE,
                create_time_since_epoch=now,
                last_update_time_since_epoch=now,
            )
            for chain in range(chains)
            for s, step in enumerate(STEPS)
        ]
        Execution.objects.bulk_create(executions, batch_size=BATCH)
        execution_ids = list(
            Execution.objects.filter(name__startswith=f"{name}-").order_by("id").values_list("id", flat=True)
        )
        # bulk_create on SQLite returns ids too, but reading them back works on every database.
        artifacts: list[Artifact] = []
        for chain in range(chains):
            for step in STEPS:
                main, base = OUTPUTS[step]
                artifacts.append(
                    Artifact(
                        type_id=type_ids[main],
                        uri=f"s3://pipelines/{name}/{chain}/{step}/{main}",
                        state=ArtifactState.LIVE,
                        create_time_since_epoch=now,
                        last_update_time_since_epoch=now,
                    )
                )
                for side, _ in SIDE_OUTPUTS:
                    artifacts.append(
                        Artifact(
                            type_id=type_ids[side],
                            uri=f"s3://pipelines/{name}/{chain}/{step}/{side}",
                            state=ArtifactState.LIVE,
                            create_time_since_epoch=now,
                            last_update_time_since_epoch=now,
                        )
                    )
        Artifact.objects.bulk_create(artifacts, batch_size=BATCH)
        artifact_ids = list(
            Artifact.objects.filter(uri__startswith=f"s3://pipelines/{name}/").order_by("id").values_list("id", flat=True)
        )
        events: list[Event] = []
        per_execution = 1 + len(SIDE_OUTPUTS)
        for index, execution_id in enumerate(execution_ids):
            outputs = artifact_ids[index * per_execution : (index + 1) * per_execution]
            for position, artifact_id in enumerate(outputs):
                events.append(
                    Event(
                        artifact_id=artifact_id,
                        execution_id=execution_id,
                        type=EventType.OUTPUT,
                        milliseconds_since_epoch=now,
                        path=[{"key": "out"}, {"index": position}],
                    )
                )
            position = index % len(STEPS)
            if position:
                previous_main = artifact_ids[(index - 1) * per_execution]
                events.append(
                    Event(artifact_id=previous_main, execution_id=execution_id, type=EventType.INPUT, milliseconds_since_epoch=now)
                )
            if tangle and index >= len(STEPS):
                other = rng.randrange(0, index - index % len(STEPS))
                if other != index - 1:
                    events.append(
                        Event(
                            artifact_id=artifact_ids[other * per_execution],
                            execution_id=execution_id,
                            type=EventType.INPUT,
                            milliseconds_since_epoch=now,
                        )
                    )
        Event.objects.bulk_create(events, batch_size=BATCH)
        Association.objects.bulk_create(
            [Association(context_id=context.id, execution_id=i) for i in execution_ids], batch_size=BATCH
        )
        Attribution.objects.bulk_create(
            [Attribution(context_id=context.id, artifact_id=i) for i in artifact_ids], batch_size=BATCH
        )
    return BigContext(
        context_id=context.id,
        executions=len(execution_ids),
        artifacts=len(artifact_ids),
        events=len(events),
        type_ids=type_ids,
        seconds=time.monotonic() - started,
    )
