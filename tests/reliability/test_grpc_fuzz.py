"""Issue #10 item 7: gRPC fuzzing of every RPC over a real ``grpcserver``.

Two kinds of input, both built by hypothesis (derandomized, a fixed number of
examples per RPC):

- well-typed requests, made from the method's input descriptor: every field
  by its declared type (ints negative and huge, strings unicode and empty,
  nested and repeated messages, enums with unknown values, oneofs, property
  maps with random ``Value`` oneofs and ``Struct`` values).  They are encoded
  on the wire from the descriptor, because a proto2 message object refuses an
  enum value its enum does not declare, while a newer client may send one;
  each is checked to parse as the method's request type before it is sent.
  Integer fields that name ids draw often from ids of rows put first, so
  many requests reach real rows;
- random bytes as the request frame, to every method path.

No answer may be INTERNAL or UNKNOWN, and the server answers its health check
after every RPC's batch.
"""
from __future__ import annotations

import struct
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from tests.grpc.servers import ServerProcess, running
from tests.reliability.conftest import sqlite_only

SERVICE = svc.DESCRIPTOR.services_by_name["MetadataStoreService"]
TYPED_EXAMPLES = 40
RAW_EXAMPLES = 8
MAX_DEPTH = 4
FORBIDDEN = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
NAMES = ("DataSet", "Trainer", "Experiment", "run-1", "", "ünïcødé ✓", "a" * 300)
# Filter queries (MLMD's filter syntax) valid and broken, for ``filter_query`` fields.
FILTERS = (
    "uri = 's3://d/0/1'",
    "type = 'DataSet' AND properties.day.int_value >= 1",
    "custom_properties.meta.string_value LIKE '%x%'",
    "contexts_a.name = 'exp-0' OR contexts_a.type = 'Experiment'",
    "events_0.type = INPUT",
    "parent_contexts_a.name = 'x'",
    "child_contexts_a.id IN (1, 2, 3)",
    "create_time_since_epoch > 0 AND name IS NULL",
    "NOT (id = 1)",
    "last_known_state = COMPLETE",
    "state = LIVE",
    "properties.day.int_value = 99999999999999999999",
    "uri = 'it''s'",
    "((((",
    "id = ",
    "name = \"x\"; DROP TABLE store_artifact; --",
    "properties.`weird name`.double_value < 1e308",
)

T = FieldDescriptor
_VARINT = {T.TYPE_INT64, T.TYPE_UINT64, T.TYPE_INT32, T.TYPE_UINT32, T.TYPE_BOOL, T.TYPE_ENUM}
_INT_RANGES = {
    T.TYPE_INT64: (-(2**63), 2**63 - 1),
    T.TYPE_UINT64: (0, 2**64 - 1),
    T.TYPE_INT32: (-(2**31), 2**31 - 1),
    T.TYPE_UINT32: (0, 2**32 - 1),
    T.TYPE_SINT64: (-(2**63), 2**63 - 1),
    T.TYPE_SINT32: (-(2**31), 2**31 - 1),
    T.TYPE_FIXED64: (0, 2**64 - 1),
    T.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    T.TYPE_FIXED32: (0, 2**32 - 1),
    T.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
}


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _encode(field: FieldDescriptor, value: Any) -> bytes:
    """One occurrence of ``field`` on the wire."""
    kind = field.type
    if kind in _VARINT:
        return _tag(field.number, 0) + _varint(int(value))
    if kind in (T.TYPE_SINT64, T.TYPE_SINT32):
        bits = 64 if kind == T.TYPE_SINT64 else 32
        return _tag(field.number, 0) + _varint((value << 1) ^ (value >> (bits - 1)))
    if kind == T.TYPE_DOUBLE:
        return _tag(field.number, 1) + struct.pack("<d", value)
    if kind in (T.TYPE_FIXED64, T.TYPE_SFIXED64):
        return _tag(field.number, 1) + struct.pack("<q" if kind == T.TYPE_SFIXED64 else "<Q", value)
    if kind == T.TYPE_FLOAT:
        return _tag(field.number, 5) + struct.pack("<f", value)
    if kind in (T.TYPE_FIXED32, T.TYPE_SFIXED32):
        return _tag(field.number, 5) + struct.pack("<i" if kind == T.TYPE_SFIXED32 else "<I", value)
    payload = value.encode() if kind == T.TYPE_STRING else value  # bytes and (encoded) messages
    return _tag(field.number, 2) + _varint(len(payload)) + payload


class RequestStrategies:
    """Hypothesis strategies for wire-encoded messages of any descriptor; ids drawn often from ``ids``."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self._made: dict[tuple[str, int], st.SearchStrategy[bytes]] = {}

    def message(self, descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[bytes]:
        if depth >= MAX_DEPTH:
            return st.just(b"")
        key = (descriptor.full_name, depth)
        if key not in self._made:
            self._made[key] = self._message(descriptor, depth)
        return self._made[key]

    def _message(self, descriptor: Descriptor, depth: int) -> st.SearchStrategy[bytes]:
        chosen_oneofs = [st.sampled_from([None, *oneof.fields]) for oneof in descriptor.oneofs]
        plain = [field for field in descriptor.fields if field.containing_oneof is None]
        return st.tuples(
            st.tuples(*chosen_oneofs),
            st.tuples(*[self._occurrences(field, depth) for field in plain]),
            st.tuples(*[self._occurrences(field, depth, single=True) for oneof in descriptor.oneofs for field in oneof.fields]),
        ).map(lambda parts: self._join(descriptor, *parts))

    @staticmethod
    def _join(descriptor: Descriptor, chosen: tuple[Any, ...], plain: tuple[bytes, ...], oneof_values: tuple[bytes, ...]) -> bytes:
        wanted = {field.full_name for field in chosen if field is not None}
        oneof_fields = [field for oneof in descriptor.oneofs for field in oneof.fields]
        picked = [data for field, data in zip(oneof_fields, oneof_values, strict=True) if field.full_name in wanted]
        return b"".join(plain) + b"".join(picked)

    def _occurrences(self, field: FieldDescriptor, depth: int, single: bool = False) -> st.SearchStrategy[bytes]:
        one = self._value(field, depth).map(lambda value: _encode(field, value))
        if field.is_repeated and not single:
            return st.lists(one, max_size=4 if depth < 2 else 2).map(b"".join)
        if single:
            return one
        # Inside a message, a field is mostly absent: requests that are valid but for one or two fields go deeper.
        present = st.booleans() if depth == 0 else st.sampled_from((False, False, True))
        return present.flatmap(lambda yes: one if yes else st.just(b""))

    def _value(self, field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
        kind = field.type
        if kind == T.TYPE_MESSAGE:
            return self.message(field.message_type, depth + 1)
        if kind == T.TYPE_ENUM:
            known = [value.number for value in field.enum_type.values]
            return st.one_of(st.sampled_from(known), st.integers(-(2**31), 2**31 - 1))
        if kind == T.TYPE_BOOL:
            return st.booleans()
        if kind in (T.TYPE_DOUBLE, T.TYPE_FLOAT):
            floats = st.floats(allow_nan=True, allow_infinity=True, width=64 if kind == T.TYPE_DOUBLE else 32)
            return st.one_of(floats, st.sampled_from([0.0, -0.0, 1e308, float("nan"), float("inf")]))
        if kind == T.TYPE_STRING and field.name == "filter_query":
            return st.one_of(st.sampled_from(FILTERS), st.text(max_size=40))
        if kind == T.TYPE_STRING:
            return st.one_of(st.sampled_from(NAMES), st.text(max_size=40))
        if kind == T.TYPE_BYTES:
            return st.binary(max_size=40)
        low, high = _INT_RANGES[kind]
        values = st.one_of(
            st.integers(low, high),
            st.integers(max(low, -3), min(high, 100)),
            st.sampled_from([v for v in (low, high, 0, -1, 2**31, 2**53 + 1) if low <= v <= high]),
        )
        if self.ids and (field.name.endswith("id") or field.name.endswith("ids") or field.name == "max_result_size"):
            return st.one_of(st.sampled_from(self.ids), st.sampled_from(self.ids), values)
        return values


def _seed(channel: grpc.Channel) -> list[int]:
    """A few types and nodes with edges, so random ids find real rows; their ids."""
    from store.proto import metadata_store_service_pb2_grpc as service_grpc

    stub = service_grpc.MetadataStoreServiceStub(channel)
    types = stub.PutTypes(
        svc.PutTypesRequest(
            artifact_types=[pb.ArtifactType(name="DataSet", properties={"day": pb.INT, "meta": pb.STRUCT})],
            execution_types=[pb.ExecutionType(name="Trainer", properties={"lr": pb.DOUBLE})],
            context_types=[pb.ContextType(name="Experiment", properties={"note": pb.STRING})],
        ),
        timeout=30,
    )
    ids = [*types.artifact_type_ids, *types.execution_type_ids, *types.context_type_ids]
    for n in range(3):
        request = svc.PutExecutionRequest(
            execution=pb.Execution(type_id=types.execution_type_ids[0], name=f"run-{n}", last_known_state=pb.Execution.COMPLETE),
            contexts=[pb.Context(type_id=types.context_type_ids[0], name=f"exp-{n}")],
        )
        for role in (pb.Event.INPUT, pb.Event.OUTPUT):
            pair = request.artifact_event_pairs.add()
            pair.artifact.CopyFrom(
                pb.Artifact(type_id=types.artifact_type_ids[0], uri=f"s3://d/{n}/{role}", properties={"day": pb.Value(int_value=n)})
            )
            pair.event.type = role
        answer = stub.PutExecution(request, timeout=30)
        ids += [answer.execution_id, *answer.artifact_ids, *answer.context_ids]
    return sorted(set(ids))


def _assert_serving(server: ServerProcess, health: health_pb2_grpc.HealthStub) -> None:
    assert server.process.poll() is None, server.log()[-5000:]
    assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status == health_pb2.HealthCheckResponse.SERVING


def _fuzz_settings(examples: int) -> Any:
    return hypothesis_settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def _send(call: Any, payload: bytes, statuses: Counter[str], failures: list[str], label: str) -> None:
    try:
        call(payload, timeout=60)
        statuses["OK"] += 1
    except grpc.RpcError as error:
        statuses[error.code().name] += 1
        if error.code() in FORBIDDEN:
            failures.append(f"{label}: {error.code().name} {error.details()!r} for {payload[:300]!r}")


def _fuzz_method(
    channel: grpc.Channel,
    method: MethodDescriptor,
    strategies: RequestStrategies,
    statuses: Counter[str],
    raw_statuses: Counter[str],
    failures: list[str],
) -> None:
    """Well-typed requests, then random bytes, to one method (raw frames: no client-side serializer)."""
    call = channel.unary_unary(f"/{SERVICE.full_name}/{method.name}", request_serializer=None, response_deserializer=None)
    request_class = message_factory.GetMessageClass(method.input_type)

    @_fuzz_settings(TYPED_EXAMPLES)
    @given(payload=strategies.message(method.input_type))
    def typed(payload: bytes) -> None:
        request_class.FromString(payload)  # well-typed: parses as the method's request
        _send(call, payload, statuses, failures, f"{method.name} (typed)")

    @_fuzz_settings(RAW_EXAMPLES)
    @given(payload=st.binary(max_size=200))
    def raw(payload: bytes) -> None:
        _send(call, payload, raw_statuses, failures, f"{method.name} (raw bytes)")

    typed()
    raw()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from running(tmp_path_factory.mktemp("grpc-fuzz"))


# The server runs on an SQLite file of its own whatever the default database is: one pass is enough.
@sqlite_only
@pytest.mark.slow
def test_random_requests_and_frames_to_every_rpc_never_answer_internal_or_unknown(
    server: ServerProcess, figure: Callable[[str], None]
) -> None:
    channel = server.channel(options=[("grpc.max_receive_message_length", -1)])
    health = health_pb2_grpc.HealthStub(channel)
    strategies = RequestStrategies(_seed(channel))
    statuses: Counter[str] = Counter()
    raw_statuses: Counter[str] = Counter()
    failures: list[str] = []
    started = time.monotonic()
    methods: list[MethodDescriptor] = list(SERVICE.methods)
    assert len(methods) == 52
    for method in methods:
        _fuzz_method(channel, method, strategies, statuses, raw_statuses, failures)
        _assert_serving(server, health)
    seconds = time.monotonic() - started
    typed_calls, raw_calls = sum(statuses.values()), sum(raw_statuses.values())
    figure(
        f"{len(methods)} RPCs: {typed_calls} well-typed calls {dict(sorted(statuses.items()))}, "
        f"{raw_calls} raw-byte calls {dict(sorted(raw_statuses.items()))} in {seconds:.1f} s; "
        f"{len(failures)} INTERNAL/UNKNOWN, server alive throughout"
    )
    assert typed_calls >= len(methods) * TYPED_EXAMPLES // 2
    assert raw_statuses["INVALID_ARGUMENT"] > 0  # frames that do not parse are refused as the client's error
    assert "Traceback" not in server.log(), server.log()[-5000:]
    assert not failures, "\n".join(failures[:30])
