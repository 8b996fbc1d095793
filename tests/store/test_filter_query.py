"""Tests of store.services.filter_query: MLMD filter queries compiled to the ORM.

The fixture builds a small metadata graph; each test runs a query and checks
the exact set of matching nodes (by fixture label, i.e. by id) and that no
row comes back twice.

Artifacts   name      type     uri                   state    contexts        properties
  train     train     Dataset  /data/train           LIVE     pipe, run_1     split='train' size=100 | note, score=0.9, flag=T
  eval      eval      Dataset  /data/eval_set        PENDING  run_1, run_2    split='eval'  size=20  | note, score=0.5, flag=F
  model     model_1   Model    s3://bucket/model%1   NULL     run_2           | score=0.95, `my prop`=7
  unnamed   NULL      Model    NULL                  DELETED  -               size='100' (a string)
Executions
  trainer_1 train_run_1 Trainer   COMPLETE  pipe, run_1   | epochs=10
  trainer_2 train_run_2 Trainer   FAILED    run_2
  transform transform   Transform NULL      -
Contexts: pipe (Pipeline), other (Pipeline 'other_pipe'), run_1 and run_2 (Run; owner alice/bob,
priority 1/2); run_1 -> pipe, run_2 -> pipe, run_2 -> other.
Events: train -INPUT-> trainer_1 -OUTPUT-> model; train, eval -INPUT-> trainer_2 -OUTPUT-> unnamed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.db import models

from store.choices import ArtifactState, EventType, ExecutionState, TypeKind
from store.models import (
    Artifact,
    ArtifactProperty,
    Association,
    Attribution,
    Context,
    ContextProperty,
    Event,
    Execution,
    ExecutionProperty,
    ParentContext,
    Type,
)
from store.services.errors import InvalidArgument
from store.services.filter_query import MAX_ALIASES, MAX_DEPTH, FilterQueryError, filter_nodes

pytestmark = pytest.mark.django_db

MODELS: dict[str, type[models.Model]] = {"artifact": Artifact, "execution": Execution, "context": Context}

ALL_ARTIFACTS = {"train", "eval", "model", "unnamed"}
ALL_EXECUTIONS = {"trainer_1", "trainer_2", "transform"}
ALL_CONTEXTS = {"pipe", "other", "run_1", "run_2"}


@dataclass
class World:
    nodes: dict[str, models.Model] = field(default_factory=dict)
    types: dict[str, Type] = field(default_factory=dict)

    def ids(self) -> dict[str, int]:
        return {
            **{label: node.pk for label, node in self.nodes.items()},
            **{f"type_{name}": t.pk for name, t in self.types.items()},
        }

    def run(self, kind: str, query: str, base: models.QuerySet | None = None) -> set[str]:
        """Labels of the nodes ``query`` matches; fails if a node comes back twice."""
        queryset = base if base is not None else MODELS[kind].objects.all()
        pks = list(filter_nodes(queryset, kind, query.format(**self.ids())).values_list("pk", flat=True))
        assert len(pks) == len(set(pks)), f"duplicate rows for {query!r}: {pks}"
        by_pk = {node.pk: label for label, node in self.nodes.items() if isinstance(node, MODELS[kind])}
        return {by_pk[pk] for pk in pks}


def _props(model: type[models.Model], owner: str, node: models.Model, values: dict[tuple[str, bool], object]) -> None:
    column = {int: "int_value", float: "double_value", str: "string_value", bool: "bool_value"}
    for (name, is_custom), value in values.items():
        model.objects.create(**{owner: node, "name": name, "is_custom": is_custom, column[type(value)]: value})


@pytest.fixture
def world() -> World:
    w = World()
    for kind, name in [
        (TypeKind.ARTIFACT, "Dataset"),
        (TypeKind.ARTIFACT, "Model"),
        (TypeKind.EXECUTION, "Trainer"),
        (TypeKind.EXECUTION, "Transform"),
        (TypeKind.CONTEXT, "Pipeline"),
        (TypeKind.CONTEXT, "Run"),
    ]:
        w.types[name] = Type.objects.create(kind=kind, name=name)
    t = w.types

    def artifact(label: str, **fields: object) -> Artifact:
        w.nodes[label] = Artifact.objects.create(**fields)
        return w.nodes[label]  # type: ignore[return-value]

    train = artifact(
        "train", type=t["Dataset"], name="train", uri="/data/train", state=ArtifactState.LIVE,
        external_id="ext-train", create_time_since_epoch=100, last_update_time_since_epoch=150,
    )
    eval_ = artifact(
        "eval", type=t["Dataset"], name="eval", uri="/data/eval_set", state=ArtifactState.PENDING,
        create_time_since_epoch=200, last_update_time_since_epoch=250,
    )
    model = artifact(
        "model", type=t["Model"], name="model_1", uri="s3://bucket/model%1", state=None,
        create_time_since_epoch=300, last_update_time_since_epoch=350,
    )
    unnamed = artifact(
        "unnamed", type=t["Model"], name=None, uri=None, state=ArtifactState.DELETED,
        create_time_since_epoch=400, last_update_time_since_epoch=400,
    )
    _props(ArtifactProperty, "artifact", train, {
        ("split", False): "train", ("size", False): 100,
        ("note", True): "hello world", ("score", True): 0.9, ("flag", True): True,
    })
    _props(ArtifactProperty, "artifact", eval_, {
        ("split", False): "eval", ("size", False): 20,
        ("note", True): "it's \"quoted\"", ("score", True): 0.5, ("flag", True): False,
    })
    _props(ArtifactProperty, "artifact", model, {("score", True): 0.95, ("my prop", True): 7})
    _props(ArtifactProperty, "artifact", unnamed, {("size", False): "100"})

    def execution(label: str, **fields: object) -> Execution:
        w.nodes[label] = Execution.objects.create(**fields)
        return w.nodes[label]  # type: ignore[return-value]

    trainer_1 = execution(
        "trainer_1", type=t["Trainer"], name="train_run_1", last_known_state=ExecutionState.COMPLETE,
        create_time_since_epoch=500,
    )
    trainer_2 = execution(
        "trainer_2", type=t["Trainer"], name="train_run_2", last_known_state=ExecutionState.FAILED,
        create_time_since_epoch=600,
    )
    execution("transform", type=t["Transform"], name="transform", last_known_state=None, create_time_since_epoch=700)
    _props(ExecutionProperty, "execution", trainer_1, {("epochs", True): 10})

    def context(label: str, **fields: object) -> Context:
        w.nodes[label] = Context.objects.create(**fields)
        return w.nodes[label]  # type: ignore[return-value]

    pipe = context("pipe", type=t["Pipeline"], name="pipe", create_time_since_epoch=10)
    other = context("other", type=t["Pipeline"], name="other_pipe", create_time_since_epoch=20)
    run_1 = context("run_1", type=t["Run"], name="run_1", create_time_since_epoch=30)
    run_2 = context("run_2", type=t["Run"], name="run_2", create_time_since_epoch=40)
    _props(ContextProperty, "context", run_1, {("owner", True): "alice", ("priority", False): 1})
    _props(ContextProperty, "context", run_2, {("owner", True): "bob", ("priority", False): 2})

    ParentContext.objects.create(context=run_1, parent=pipe)
    ParentContext.objects.create(context=run_2, parent=pipe)
    ParentContext.objects.create(context=run_2, parent=other)
    for art, ctx in [(train, pipe), (train, run_1), (eval_, run_1), (eval_, run_2), (model, run_2)]:
        Attribution.objects.create(artifact=art, context=ctx)
    for exe, ctx in [(trainer_1, pipe), (trainer_1, run_1), (trainer_2, run_2)]:
        Association.objects.create(execution=exe, context=ctx)
    for ms, (art, exe, etype) in enumerate([
        (train, trainer_1, EventType.INPUT),
        (model, trainer_1, EventType.OUTPUT),
        (train, trainer_2, EventType.INPUT),
        (eval_, trainer_2, EventType.INPUT),
        (unnamed, trainer_2, EventType.OUTPUT),
    ]):
        Event.objects.create(artifact=art, execution=exe, type=etype, milliseconds_since_epoch=1000 + ms)
    return w


# ---------------------------------------------------------------------------
# Blank queries and the API contract
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_blank_query_returns_the_queryset_unchanged(world: World, query: str) -> None:
    queryset = Artifact.objects.filter(type__name="Dataset")
    assert filter_nodes(queryset, "artifact", query) is queryset


def test_narrows_an_already_filtered_queryset(world: World) -> None:
    base = Artifact.objects.filter(type__name="Dataset")
    assert world.run("artifact", "contexts_a.name = 'run_2'", base) == {"eval"}
    assert world.run("artifact", "state IS NULL OR state = LIVE", base) == {"train"}


def test_keeps_the_querysets_database(world: World) -> None:
    base = Artifact.objects.using("default").filter(type__name="Dataset")
    qs = filter_nodes(base, "artifact", "contexts_a.name = 'run_2' OR properties.size.int_value = 100")
    assert qs.db == "default"
    assert set(qs.values_list("name", flat=True)) == {"train", "eval"}


def test_result_can_be_ordered_counted_and_sliced(world: World) -> None:
    qs = filter_nodes(Artifact.objects.all(), "artifact", "contexts_a.name LIKE '%' AND contexts_b.name LIKE '%'")
    # train and eval are in two contexts each: four joined rows apiece, one result row.
    assert qs.count() == 3
    newest_first = list(qs.order_by("-create_time_since_epoch").values_list("name", flat=True))
    assert newest_first == ["model_1", "eval", "train"]
    assert [a.name for a in qs.order_by("id")[1:3]] == ["eval", "model_1"]


def test_no_duplicate_rows_when_a_node_is_in_two_matching_contexts(world: World) -> None:
    query = "contexts_a.type = 'Run' OR contexts_a.type = 'Pipeline'"
    qs = filter_nodes(Artifact.objects.all(), "artifact", query)
    names = list(qs.values_list("name", flat=True))
    assert sorted(names) == ["eval", "model_1", "train"]
    assert qs.count() == 3
    executions = filter_nodes(Execution.objects.all(), "execution", "contexts_c.name IN ('pipe', 'run_1')")
    assert list(executions.values_list("name", flat=True)) == ["train_run_1"]


@pytest.mark.parametrize(("kind", "model"), [("artifact", Execution), ("context", Artifact), ("node", Artifact)])
def test_kind_and_model_must_agree(kind: str, model: type[models.Model]) -> None:
    with pytest.raises(ValueError):
        filter_nodes(model.objects.all(), kind, "id = 1")


# ---------------------------------------------------------------------------
# Attributes of the node itself
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("id = {train}", {"train"}),
        ("id != {train}", {"eval", "model", "unnamed"}),
        ("id IN ({train}, {model})", {"train", "model"}),
        ("id NOT IN ({train}, {model})", {"eval", "unnamed"}),
        ("type_id = {type_Dataset}", {"train", "eval"}),
        ("type = 'Model'", {"model", "unnamed"}),
        ("type != 'Model'", {"train", "eval"}),
        ("type IN ('Dataset', 'Nope')", {"train", "eval"}),
        ("name = 'train'", {"train"}),
        ('name = "train"', {"train"}),
        ("`name` = 'train'", {"train"}),
        ("name != 'train'", {"eval", "model"}),  # NULL name: neither equal nor different
        ("name <> 'train'", {"eval", "model"}),
        ("name IS NULL", {"unnamed"}),
        ("name IS NOT NULL", {"train", "eval", "model"}),
        ("name > 'model_1'", {"train"}),
        ("name >= 'model_1'", {"train", "model"}),
        ("name < 'model_1'", {"eval"}),
        ("name <= 'model_1'", {"eval", "model"}),
        ("external_id = 'ext-train'", {"train"}),
        ("external_id IS NULL", {"eval", "model", "unnamed"}),
        ("uri = 's3://bucket/model%1'", {"model"}),
        ("uri IS NULL", {"unnamed"}),
        ("create_time_since_epoch = 300", {"model"}),
        ("create_time_since_epoch != 300", {"train", "eval", "unnamed"}),
        ("create_time_since_epoch > 200", {"model", "unnamed"}),
        ("create_time_since_epoch >= 200", {"eval", "model", "unnamed"}),
        ("create_time_since_epoch < 200", {"train"}),
        ("create_time_since_epoch <= 200", {"train", "eval"}),
        ("create_time_since_epoch > -1", ALL_ARTIFACTS),
        ("create_time_since_epoch > 199.5", {"eval", "model", "unnamed"}),  # not truncated to 199
        ("create_time_since_epoch < 200.5", {"train", "eval"}),
        ("create_time_since_epoch = 200.0", {"eval"}),
        ("create_time_since_epoch IN (200.0, 300.5, 400)", {"eval", "unnamed"}),
        ("create_time_since_epoch NOT IN (200.0, 300.5)", {"train", "model", "unnamed"}),
        ("create_time_since_epoch >= 2e2", {"eval", "model", "unnamed"}),
        ("last_update_time_since_epoch < 300", {"train", "eval"}),
        ("last_update_time_since_epoch = 400", {"unnamed"}),
    ],
)
def test_artifact_attributes(world: World, query: str, expected: set[str]) -> None:
    assert world.run("artifact", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name LIKE 'model%'", {"model"}),
        ("name LIKE '_val'", {"eval"}),
        ("name LIKE '%'", {"train", "eval", "model"}),
        ("name NOT LIKE '%a%'", {"model"}),  # NULL name excluded
        ("NOT name LIKE '%a%'", {"model"}),
        ("uri LIKE '/data/%'", {"train", "eval"}),
        ("uri LIKE '%\\%%'", {"model"}),  # \% is a literal percent sign
        ("uri LIKE '%\\\\%%'", {"model"}),  # so is \\% (an escaped backslash in the string, then %)
        ("uri LIKE 's3://bucket/model\\%1'", {"model"}),
        ("uri LIKE 's3://bucket/model\\%2'", set()),
        ("uri LIKE '/data/eval\\_set'", {"eval"}),
        ("uri LIKE '/data/eval\\_s'", set()),
        ("uri NOT LIKE '/data/%'", {"model"}),
        ("name LIKE \"%' OR 1=1 --\"", set()),
        # LIKE ignores case on every backend (MLMD on SQLite); = does not.
        ("name LIKE 'MODEL%'", {"model"}),
        ("uri LIKE '/DATA/%'", {"train", "eval"}),
        ("name NOT LIKE 'TRAIN'", {"eval", "model"}),
        ("name = 'MODEL'", set()),
        ("name IN ('Model', 'TRAIN')", set()),
    ],
)
def test_like(world: World, query: str, expected: set[str]) -> None:
    assert world.run("artifact", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state = LIVE", {"train"}),
        ("state = live", {"train"}),
        ("state = 'LIVE'", {"train"}),
        ("state = 2", {"train"}),
        ("state != LIVE", {"eval", "model", "unnamed"}),  # MLMD: != on an enum also matches NULL
        ("NOT state = LIVE", {"eval", "unnamed"}),  # ... but NOT = does not
        ("state IN (LIVE, PENDING)", {"train", "eval"}),
        ("state IN (LIVE, 'pending')", {"train", "eval"}),
        ("state NOT IN (LIVE, PENDING)", {"model", "unnamed"}),  # NOT IN on an enum matches NULL
        ("NOT state IN (LIVE, PENDING)", {"unnamed"}),
        ("NOT state NOT IN (LIVE, PENDING)", {"train", "eval"}),
        ("NOT state != LIVE", {"train"}),
        ("state IS NULL", {"model"}),
        ("state IS NOT NULL", {"train", "eval", "unnamed"}),
        ("state > PENDING", {"train", "unnamed"}),
        ("state > 1", {"train", "unnamed"}),
        ("state <= LIVE", {"train", "eval"}),
    ],
)
def test_artifact_state(world: World, query: str, expected: set[str]) -> None:
    assert world.run("artifact", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("last_known_state = COMPLETE", {"trainer_1"}),
        ("last_known_state != COMPLETE", {"trainer_2", "transform"}),
        ("NOT last_known_state = COMPLETE", {"trainer_2"}),
        ("last_known_state IN (COMPLETE, FAILED)", {"trainer_1", "trainer_2"}),
        ("last_known_state NOT IN (COMPLETE)", {"trainer_2", "transform"}),
        ("last_known_state IS NULL", {"transform"}),
        ("type = 'Trainer'", {"trainer_1", "trainer_2"}),
        ("name LIKE 'train%'", {"trainer_1", "trainer_2"}),
        ("create_time_since_epoch >= 600", {"trainer_2", "transform"}),
        ("custom_properties.epochs.int_value >= 10", {"trainer_1"}),
        ("custom_properties.epochs.int_value IS NULL", {"trainer_2", "transform"}),
    ],
)
def test_execution_attributes(world: World, query: str, expected: set[str]) -> None:
    assert world.run("execution", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name = 'pipe'", {"pipe"}),
        ("type = 'Run'", {"run_1", "run_2"}),
        ("create_time_since_epoch > 15", {"other", "run_1", "run_2"}),
        ("custom_properties.owner.string_value = 'alice'", {"run_1"}),
        ("properties.priority.int_value > 1", {"run_2"}),
        ("properties.priority.int_value IS NULL", {"pipe", "other"}),
        ("external_id IS NULL", ALL_CONTEXTS),
    ],
)
def test_context_attributes(world: World, query: str, expected: set[str]) -> None:
    assert world.run("context", query) == expected


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("properties.size.int_value = 100", {"train"}),
        ("properties.size.int_value != 100", {"eval"}),  # unnamed's size is a string, model has none
        ("properties.size.int_value > 50", {"train"}),
        ("properties.size.int_value >= 20", {"train", "eval"}),
        ("properties.size.int_value < 50", {"eval"}),
        ("properties.size.int_value <= 20", {"eval"}),
        ("properties.size.int_value IN (20, 30)", {"eval"}),
        ("properties.size.int_value NOT IN (20, 30)", {"train"}),
        ("properties.size.int_value > 99.5", {"train"}),
        ("properties.size.int_value IS NULL", {"model", "unnamed"}),  # absent, or not an int
        ("properties.size.int_value IS NOT NULL", {"train", "eval"}),
        ("NOT properties.size.int_value IS NULL", {"train", "eval"}),
        ("NOT properties.size.int_value = 100", {"eval"}),
        ("properties.size.string_value = '100'", {"unnamed"}),
        ("properties.split.string_value IN ('train', 'eval')", {"train", "eval"}),
        ("properties.split.string_value NOT IN ('train')", {"eval"}),
        ("properties.split.string_value LIKE 't%'", {"train"}),
        ("properties.split.string_value NOT LIKE 't%'", {"eval"}),
        ("custom_properties.score.double_value > 0.9", {"model"}),
        ("custom_properties.score.double_value >= 0.9", {"train", "model"}),
        ("custom_properties.score.double_value = 0.5", {"eval"}),
        ("custom_properties.score.double_value < 1", {"train", "eval", "model"}),
        ("custom_properties.score.double_value != 0.5", {"train", "model"}),
        ("properties.score.double_value > 0", set()),  # score is a custom property
        ("custom_properties.size.int_value > 0", set()),  # size is a declared one
        ("custom_properties.note.string_value LIKE 'hello%'", {"train"}),
        ("custom_properties.note.string_value = 'it\\'s \"quoted\"'", {"eval"}),
        ('custom_properties.note.string_value = "it\'s \\"quoted\\""', {"eval"}),
        ("custom_properties.flag.bool_value = TRUE", {"train"}),
        ("custom_properties.flag.bool_value = false", {"eval"}),
        ("custom_properties.flag.bool_value != TRUE", {"eval"}),
        ("custom_properties.flag.bool_value IN (TRUE)", {"train"}),
        ("custom_properties.flag.bool_value", {"train"}),
        ("NOT custom_properties.flag.bool_value", {"eval"}),
        ("custom_properties.flag.bool_value IS NULL", {"model", "unnamed"}),
        ("custom_properties.`my prop`.int_value = 7", {"model"}),
        (
            "custom_properties.`my prop`.int_value IS NOT NULL AND custom_properties.`score`.double_value > 0.9",
            {"model"},
        ),
        # A property is a nullable value of its node: absent properties do not exclude the node.
        ("name = 'model_1' OR properties.size.int_value = 100", {"train", "model"}),
    ],
)
def test_properties(world: World, query: str, expected: set[str]) -> None:
    assert world.run("artifact", query) == expected


# ---------------------------------------------------------------------------
# Boolean structure: precedence, parentheses, three-valued logic, constants
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name = 'train' OR name = 'eval' AND state = PENDING", {"train", "eval"}),
        ("(name = 'train' OR name = 'eval') AND state = PENDING", {"eval"}),
        ("name = 'train' OR (name = 'eval' AND state = LIVE)", {"train"}),
        ("name = 'train' or name = 'eval'", {"train", "eval"}),
        ("NOT name = 'train' AND type = 'Dataset'", {"eval"}),
        # name = 'train' is UNKNOWN for unnamed and type = 'Dataset' FALSE: UNKNOWN AND FALSE is
        # FALSE, so the negation holds.
        ("NOT (name = 'train' AND type = 'Dataset')", {"eval", "model", "unnamed"}),
        # ... whereas UNKNOWN OR FALSE stays UNKNOWN.
        ("NOT (name = 'train' OR type = 'Dataset')", {"model"}),
        ("NOT name = 'train' OR name = 'train'", {"train", "eval", "model"}),
        ("NOT NOT name = 'train'", {"train"}),
        ("NOT (NOT (name = 'train'))", {"train"}),
        ("((((name = 'eval'))))", {"eval"}),
        ("(name = 'eval' OR name = 'train') AND (type = 'Model' OR state = LIVE)", {"train"}),
        ("name IS NOT NULL AND NOT (create_time_since_epoch > 200 OR create_time_since_epoch < 200)", {"eval"}),
        ("TRUE", ALL_ARTIFACTS),
        ("FALSE", set()),
        ("NOT TRUE", set()),
        ("NOT FALSE AND name = 'eval'", {"eval"}),
        ("FALSE OR name = 'eval'", {"eval"}),
        ("TRUE OR name = 'eval'", ALL_ARTIFACTS),
        ("name = \"train' OR '1'='1\"", set()),
    ],
)
def test_boolean_structure(world: World, query: str, expected: set[str]) -> None:
    assert world.run("artifact", query) == expected


# ---------------------------------------------------------------------------
# Joins: contexts_, events_, parent_contexts_, child_contexts_, artifacts_, executions_
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("contexts_a.name = 'run_1'", {"train", "eval"}),
        ("contexts_a.id = {pipe}", {"train"}),
        ("contexts_a.type = 'Run'", {"train", "eval", "model"}),
        ("contexts_a.type_id = {type_Pipeline}", {"train"}),
        ("contexts_a.create_time_since_epoch >= 40", {"eval", "model"}),
        ("contexts_a.external_id IS NULL", {"train", "eval", "model"}),
        # Same alias: the same context row.
        ("contexts_a.name = 'run_1' AND contexts_a.name = 'run_2'", set()),
        ("contexts_a.name = 'run_1' OR contexts_a.name = 'run_2'", {"train", "eval", "model"}),
        ("contexts_a.type = 'Run' AND contexts_a.name != 'run_1'", {"eval", "model"}),
        # Different aliases: independent joins.
        ("contexts_a.name = 'run_1' AND contexts_b.name = 'run_2'", {"eval"}),
        ("contexts_a.name = 'pipe' AND contexts_b.name = 'run_1'", {"train"}),
        ("contexts_x.name = 'pipe' AND contexts_y.name = 'run_1' AND contexts_z.name = 'run_2'", set()),
        # Some context is not 'pipe' (not: no context is 'pipe').
        ("NOT contexts_a.name = 'pipe'", {"train", "eval", "model"}),
        ("contexts_a.name != 'pipe' AND contexts_b.name = 'pipe'", {"train"}),
        # Inner joins: a node without contexts never matches a query mentioning one.
        ("name IS NULL OR contexts_a.name = 'pipe'", {"train"}),
        ("contexts_a.name IS NULL", set()),
        # Aliases mixed under OR/AND: a = run_2 and b = pipe are needed together.
        ("(contexts_a.name = 'run_1' OR contexts_b.name = 'pipe') AND contexts_a.name = 'run_2'", set()),
        ("(contexts_a.name = 'run_1' OR contexts_b.name = 'pipe') AND contexts_b.name = 'run_2'", {"eval"}),
        (
            "(contexts_a.name = 'pipe' OR contexts_b.name = 'run_2') AND "
            "(contexts_a.name = 'run_1' OR contexts_b.name = 'run_1')",
            {"train", "eval"},
        ),
        # Neighbour properties follow the same alias.
        ("contexts_a.custom_properties.owner.string_value = 'bob'", {"eval", "model"}),
        ("contexts_a.name = 'run_1' AND contexts_a.custom_properties.owner.string_value = 'bob'", set()),
        ("contexts_a.name = 'run_1' AND contexts_b.custom_properties.owner.string_value = 'bob'", {"eval"}),
        ("contexts_a.properties.priority.int_value IS NULL", {"train"}),
        ("contexts_a.properties.priority.int_value >= 1 AND NOT contexts_a.name = 'run_1'", {"eval", "model"}),
        # Constants next to joins.
        ("TRUE AND contexts_a.name = 'run_1'", {"train", "eval"}),
        ("FALSE AND contexts_a.name = 'run_1'", set()),
        ("FALSE OR contexts_a.name = 'run_2'", {"eval", "model"}),
        ("TRUE OR contexts_a.name = 'nope'", {"train", "eval", "model"}),  # still an inner join
        # Node attributes and properties mixed with joins.
        ("type = 'Dataset' AND (contexts_a.name = 'run_2' OR properties.size.int_value = 100)", {"train", "eval"}),
    ],
)
def test_artifact_contexts(world: World, query: str, expected: set[str]) -> None:
    assert world.run("artifact", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("events_e.type = INPUT", {"train", "eval"}),
        ("events_e.type = OUTPUT", {"model", "unnamed"}),
        ("events_e.type != INPUT", {"model", "unnamed"}),
        ("events_e.type IN (INPUT, 'output')", ALL_ARTIFACTS),
        ("events_e.execution_id = {trainer_2}", {"train", "eval", "unnamed"}),
        ("events_e.execution_id = {trainer_2} AND events_e.type = OUTPUT", {"unnamed"}),
        ("events_e.type = INPUT AND events_f.type = OUTPUT", set()),
        ("events_e.execution_id = {trainer_1} AND events_f.execution_id = {trainer_2}", {"train"}),
        ("events_e.execution_id = {trainer_1} AND events_e.execution_id = {trainer_2}", set()),
        ("events_e.milliseconds_since_epoch >= 1003", {"eval", "unnamed"}),
        ("events_e.type = INPUT AND contexts_c.name = 'run_2'", {"eval"}),
    ],
)
def test_artifact_events(world: World, query: str, expected: set[str]) -> None:
    assert world.run("artifact", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("contexts_c.name = 'run_1'", {"trainer_1"}),
        ("contexts_c.name = 'pipe' AND contexts_d.name = 'run_1'", {"trainer_1"}),
        ("contexts_c.name = 'pipe' AND contexts_c.name = 'run_1'", set()),
        ("contexts_c.custom_properties.owner.string_value = 'bob'", {"trainer_2"}),
        ("events_v.artifact_id = {train}", {"trainer_1", "trainer_2"}),
        ("events_v.type = OUTPUT AND events_v.artifact_id = {model}", {"trainer_1"}),
        ("events_v.type = INPUT AND events_w.artifact_id = {unnamed}", {"trainer_2"}),
        ("events_v.type = INPUT AND events_v.artifact_id = {unnamed}", set()),
        ("last_known_state = FAILED OR events_v.artifact_id = {model}", {"trainer_1", "trainer_2"}),
    ],
)
def test_execution_joins(world: World, query: str, expected: set[str]) -> None:
    assert world.run("execution", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("parent_contexts_p.name = 'pipe'", {"run_1", "run_2"}),
        ("parent_contexts_p.type = 'Pipeline'", {"run_1", "run_2"}),
        ("parent_contexts_p.name = 'pipe' AND parent_contexts_q.name = 'other_pipe'", {"run_2"}),
        ("parent_contexts_p.name = 'pipe' AND parent_contexts_p.name = 'other_pipe'", set()),
        ("name = 'other_pipe' OR parent_contexts_p.name = 'pipe'", {"run_1", "run_2"}),
        ("child_contexts_c.name = 'run_2'", {"pipe", "other"}),
        ("child_contexts_c.name = 'run_1' AND child_contexts_d.name = 'run_2'", {"pipe"}),
        ("child_contexts_c.name = 'run_1' AND child_contexts_c.name = 'run_2'", set()),
        ("child_contexts_c.custom_properties.owner.string_value = 'alice'", {"pipe"}),
        ("artifacts_a.uri LIKE '/data/%'", {"pipe", "run_1", "run_2"}),
        ("artifacts_a.state = LIVE", {"pipe", "run_1"}),
        ("artifacts_a.state != LIVE", {"run_1", "run_2"}),
        ("artifacts_a.name = 'train' AND artifacts_a.state = PENDING", set()),
        ("artifacts_a.name = 'train' AND artifacts_b.state = PENDING", {"run_1"}),
        ("artifacts_a.custom_properties.flag.bool_value = FALSE", {"run_1", "run_2"}),
        ("artifacts_a.properties.size.int_value IS NULL", {"run_2"}),
        ("executions_x.last_known_state = FAILED", {"run_2"}),
        ("executions_x.name LIKE 'train%'", {"pipe", "run_1", "run_2"}),
        ("executions_x.name = 'train_run_1' AND artifacts_a.name = 'eval'", {"run_1"}),
        ("executions_x.custom_properties.epochs.int_value = 10", {"pipe", "run_1"}),
        ("parent_contexts_p.name = 'pipe' AND artifacts_a.type = 'Model'", {"run_2"}),
    ],
)
def test_context_joins(world: World, query: str, expected: set[str]) -> None:
    assert world.run("context", query) == expected


def test_alias_names_are_free_words(world: World) -> None:
    assert world.run("artifact", "contexts_my_run_0.name = 'run_2' AND contexts_0.name = 'pipe'") == set()
    assert world.run("artifact", "contexts_my_run_0.name = 'run_2' AND contexts_0.name = 'run_1'") == {"eval"}


def test_alias_limit(world: World) -> None:
    allowed = " AND ".join(f"contexts_{i}.id > 0" for i in range(MAX_ALIASES))
    assert world.run("artifact", allowed) == {"train", "eval", "model"}
    with pytest.raises(FilterQueryError, match="neighbour aliases"):
        world.run("artifact", allowed + f" AND contexts_{MAX_ALIASES}.id > 0")


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "query", "position", "message"),
    [
        ("artifact", "name = 'train')", 14, "unexpected token ')'"),
        ("artifact", "name = 'train' AND (state = LIVE", 32, "unexpected end of query"),
        ("artifact", "name = ", 7, "unexpected end of query"),
        ("artifact", "name = 'train' AND", 18, "unexpected end of query"),
        ("artifact", "NOT", 3, "unexpected end of query"),
        ("artifact", "name 'train'", 5, "unexpected token \"'train'\""),
        ("artifact", "= 'train'", 0, "unexpected token '='"),
        ("artifact", "name == 'x'", 6, "unexpected token '='"),
        ("artifact", "name = 'train", 7, "unterminated string literal"),
        ("artifact", "`name = 'x'", 0, "unterminated back-quoted identifier"),
        ("artifact", "name = 'a' # comment", 11, "unexpected character '#'"),
        ("artifact", "id = 12abc", 5, "malformed number"),
        ("artifact", "id = 99999999999999999999", 5, "does not fit in 64 bits"),
        ("artifact", "id IN ()", 7, "unexpected token ')'"),
        ("artifact", "id IN (1, )", 10, "unexpected token ')'"),
        ("artifact", "id IN 1", 6, "unexpected token '1'"),
        ("artifact", "name = NULL", 7, "NULL cannot be compared"),
        ("artifact", "name IS 'x'", 8, "unexpected token \"'x'\""),
        ("artifact", "name NOT = 'x'", 9, "unexpected token '='"),
        ("artifact", "name LIKE 5", 10, "LIKE needs a quoted string pattern"),
        ("artifact", "id LIKE '1%'", 0, "LIKE needs a string attribute"),
        ("artifact", "foo = 1", 0, "unknown attribute 'foo'"),
        ("artifact", "last_known_state = COMPLETE", 0, "'last_known_state' is not an attribute of artifacts"),
        ("execution", "uri = 'x'", 0, "'uri' is not an attribute of executions"),
        ("execution", "state = LIVE", 0, "'state' is not an attribute of executions"),
        ("context", "uri = 'x'", 0, "'uri' is not an attribute of contexts"),
        ("artifact", "name.first = 'x'", 5, "'name' has no field 'first'"),
        ("artifact", "name = 1", 7, "cannot compare 'name' (a string) with an integer 1"),
        ("artifact", "id = 'x'", 5, "cannot compare 'id' (an integer) with a string"),
        ("artifact", "properties.size.int_value = '100'", 28, "cannot compare"),
        ("artifact", "custom_properties.flag.bool_value = 1", 36, "cannot compare"),
        ("artifact", "custom_properties.flag.bool_value < TRUE", 0, "only supports = and !="),
        ("artifact", "name = train", 7, "unexpected name 'train'"),
        ("artifact", "state = BOGUS", 8, "'BOGUS' is not a value of 'state'"),
        ("artifact", "state IN (LIVE, BOGUS)", 16, "'BOGUS' is not a value of 'state'"),
        ("execution", "last_known_state = LIVE", 19, "is not a value of 'last_known_state'"),
        ("artifact", "events_e.type = COMPLETE", 16, "is not a value of 'events_e.type'"),
        ("artifact", "name", 0, "'name' is a string, not a condition"),
        ("artifact", "properties.p.float_value = 1", 13, "unknown property value field 'float_value'"),
        ("artifact", "properties.p = 1", 0, "malformed property reference"),
        ("artifact", "properties.p.int_value.x = 1", 0, "malformed property reference"),
        ("artifact", "contexts_.name = 'x'", 0, "missing alias after 'contexts_'"),
        ("artifact", "contexts_a = 1", 0, "'contexts_a' needs an attribute"),
        ("artifact", "contexts_a.uri = 'x'", 11, "'uri' is not an attribute of contexts"),
        ("artifact", "contexts_a.bogus = 'x'", 11, "unknown attribute 'bogus'"),
        ("artifact", "parent_contexts_a.name = 'x'", 0, "parent_contexts_<alias> cannot be used when filtering"),
        ("artifact", "artifacts_a.name = 'x'", 0, "artifacts_<alias> cannot be used when filtering artifacts"),
        ("execution", "child_contexts_a.name = 'x'", 0, "cannot be used when filtering executions"),
        ("context", "contexts_a.name = 'x'", 0, "contexts_<alias> cannot be used when filtering contexts"),
        ("context", "events_a.type = INPUT", 0, "events_<alias> cannot be used when filtering contexts"),
        ("artifact", "events_e.artifact_id = 1", 9, "unknown event attribute 'artifact_id'"),
        ("execution", "events_e.execution_id = 1", 9, "unknown event attribute 'execution_id'"),
        ("artifact", "name = 'a' AND contexts_a.name = 'b' OR contexts_b.nme = 'c'", 51, "unknown attribute 'nme'"),
        ("artifact", "invalid syntax", 8, "unexpected token 'syntax'"),
    ],
)
def test_errors_name_the_problem_and_position(
    world: World, kind: str, query: str, position: int, message: str
) -> None:
    with pytest.raises(InvalidArgument) as excinfo:
        filter_nodes(MODELS[kind].objects.all(), kind, query)
    error = excinfo.value
    assert isinstance(error, FilterQueryError)
    assert error.position == position
    assert str(error).startswith("filter_query: ")
    assert message in str(error)
    assert f"at position {position}" in str(error)
    assert error.field == "filter_query"


def test_error_message_format(world: World) -> None:
    with pytest.raises(InvalidArgument) as excinfo:
        filter_nodes(Artifact.objects.all(), "artifact", "(name = 'a' OR id = 1))")
    assert str(excinfo.value) == "filter_query: unexpected token ')' at position 22 (no matching '(')"
    assert excinfo.value.http_status == 400


def test_nesting_limit(world: World) -> None:
    ok = "(" * MAX_DEPTH + "name = 'eval'" + ")" * MAX_DEPTH
    assert world.run("artifact", ok) == {"eval"}
    with pytest.raises(FilterQueryError, match="nested deeper"):
        world.run("artifact", "(" * (MAX_DEPTH + 1) + "name = 'eval'" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(FilterQueryError, match="nested deeper"):
        world.run("artifact", "NOT " * (MAX_DEPTH + 1) + "name = 'eval'")
