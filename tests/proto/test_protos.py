"""Tests for the MLMD-compatible protobuf definitions under store/proto."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import struct_pb2
from google.protobuf.message import Message

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from store.proto import metadata_store_pb2 as ms  # noqa: E402
from store.proto import metadata_store_service_pb2 as mss  # noqa: E402
from store.proto import metadata_store_service_pb2_grpc as mss_grpc  # noqa: E402

GEN_SCRIPT = REPO_ROOT / "scripts" / "gen_protos.py"


def _load_gen_protos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_protos", GEN_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_protos = _load_gen_protos()


# --------------------------------------------------------------------------
# (a) committed generated modules are in sync with the .proto sources
# --------------------------------------------------------------------------


def test_generated_modules_are_up_to_date() -> None:
    stale = gen_protos.find_stale()
    assert stale == [], (
        f"stale generated modules {stale}; run `python scripts/gen_protos.py`"
    )


def test_check_flag_fails_on_stale_file(tmp_path: Path) -> None:
    # Mirror the relevant part of the repo, then tamper with one generated file.
    (tmp_path / "scripts").mkdir()
    shutil.copy2(GEN_SCRIPT, tmp_path / "scripts" / "gen_protos.py")
    for rel in (*gen_protos.PROTO_FILES, *gen_protos.GENERATED_FILES):
        dest = tmp_path / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, dest)

    def run_check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(tmp_path / "scripts" / "gen_protos.py"), "--check"],
            capture_output=True,
            text=True,
        )

    clean = run_check()
    assert clean.returncode == 0, clean.stderr

    tampered = "store/proto/metadata_store_service_pb2_grpc.py"
    with open(tmp_path / tampered, "a") as fh:
        fh.write("# local edit\n")
    (tmp_path / "store/proto/metadata_store_pb2.pyi").unlink()

    stale = run_check()
    assert stale.returncode == 1
    assert tampered in stale.stderr
    assert "store/proto/metadata_store_pb2.pyi" in stale.stderr
    assert "store/proto/metadata_store_service_pb2.py\n" not in stale.stderr
    assert gen_protos.find_stale(tmp_path) == [
        "store/proto/metadata_store_pb2.pyi",
        tampered,
    ]


# --------------------------------------------------------------------------
# (b) the service exposes exactly MLMD 1.17.1's methods
# --------------------------------------------------------------------------

MLMD_1_17_1_METHODS = [
    "PutArtifactType",
    "PutExecutionType",
    "PutContextType",
    "PutTypes",
    "PutArtifacts",
    "PutExecutions",
    "PutEvents",
    "PutExecution",
    "PutLineageSubgraph",
    "PutContexts",
    "PutAttributionsAndAssociations",
    "PutParentContexts",
    "GetArtifactType",
    "GetArtifactTypesByID",
    "GetArtifactTypes",
    "GetExecutionType",
    "GetExecutionTypesByID",
    "GetExecutionTypes",
    "GetContextType",
    "GetContextTypesByID",
    "GetContextTypes",
    "GetArtifacts",
    "GetExecutions",
    "GetContexts",
    "GetArtifactsByID",
    "GetExecutionsByID",
    "GetContextsByID",
    "GetArtifactsByType",
    "GetExecutionsByType",
    "GetContextsByType",
    "GetArtifactByTypeAndName",
    "GetExecutionByTypeAndName",
    "GetContextByTypeAndName",
    "GetArtifactsByURI",
    "GetEventsByExecutionIDs",
    "GetEventsByArtifactIDs",
    "GetArtifactsByExternalIds",
    "GetExecutionsByExternalIds",
    "GetContextsByExternalIds",
    "GetArtifactTypesByExternalIds",
    "GetExecutionTypesByExternalIds",
    "GetContextTypesByExternalIds",
    "GetContextsByArtifact",
    "GetContextsByExecution",
    "GetParentContextsByContext",
    "GetChildrenContextsByContext",
    "GetParentContextsByContexts",
    "GetChildrenContextsByContexts",
    "GetArtifactsByContext",
    "GetExecutionsByContext",
    "GetLineageGraph",
    "GetLineageSubgraph",
]


def test_service_methods_match_mlmd() -> None:
    service = mss.DESCRIPTOR.services_by_name["MetadataStoreService"]
    assert service.full_name == "ml_metadata.MetadataStoreService"
    names = [m.name for m in service.methods]
    assert len(MLMD_1_17_1_METHODS) == 52
    assert len(names) == len(set(names))
    assert set(names) == set(MLMD_1_17_1_METHODS)
    for method in service.methods:
        # All MLMD methods are unary-unary, Request -> Response.
        assert method.input_type.full_name == f"ml_metadata.{method.name}Request"
        assert method.output_type.full_name == f"ml_metadata.{method.name}Response"
        assert not method.client_streaming and not method.server_streaming


def test_grpc_stub_paths() -> None:
    class _Channel:
        def __init__(self) -> None:
            self.paths: list[str] = []

        def unary_unary(self, path: str, **_: object) -> object:
            self.paths.append(path)
            return object()

    channel = _Channel()
    mss_grpc.MetadataStoreServiceStub(channel)
    assert sorted(channel.paths) == sorted(
        f"/ml_metadata.MetadataStoreService/{name}" for name in MLMD_1_17_1_METHODS
    )


# --------------------------------------------------------------------------
# (c) round trips against wire bytes produced by ml-metadata 1.17.1 itself
# --------------------------------------------------------------------------


def _artifact() -> Message:
    msg = ms.Artifact(id=1, type_id=2, uri="u", name="a", state=ms.Artifact.LIVE)
    msg.properties["p"].int_value = 5
    return msg


def _artifact_with_any() -> Message:
    msg = ms.Artifact(id=1)
    msg.system_metadata.Pack(ms.Value(int_value=1))
    return msg


def _value_struct() -> Message:
    struct = struct_pb2.Struct()
    struct["k"] = "v"
    return ms.Value(struct_value=struct)


def _event() -> Message:
    msg = ms.Event(artifact_id=3, execution_id=4, type=ms.Event.OUTPUT)
    msg.path.steps.add().key = "x"
    msg.path.steps.add().index = 0
    return msg


def _list_options() -> Message:
    order = ms.ListOperationOptions.OrderByField
    return ms.ListOperationOptions(
        max_result_size=10,
        order_by_field=order(field=order.CREATE_TIME, is_asc=False),
        next_page_token="t",
    )


def _parent_contexts_response() -> Message:
    msg = mss.GetParentContextsByContextsResponse()
    msg.contexts[5].parent_contexts.add(id=9)
    return msg


def _get_artifacts_by_type() -> Message:
    return mss.GetArtifactsByTypeRequest(
        type_name="T", type_version="v1", transaction_options=ms.TransactionOptions(tag="x")
    )


# Hex strings were produced by serializing the same messages with the
# reference ml_metadata 1.17.1 package (deterministic serialization).
WIRE_CASES: dict[str, tuple[Callable[[], Message], str]] = {
    "artifact": (_artifact, "080110021a017522070a01701202080530023a0161"),
    "artifact_any": (
        _artifact_with_any,
        "0801622b0a25747970652e676f6f676c65617069732e636f6d2f6d6c5f6d657461646174612e"
        "56616c756512020801",
    ),
    "value_double": (lambda: ms.Value(double_value=1.5), "11000000000000f83f"),
    "value_bool": (lambda: ms.Value(bool_value=True), "3001"),
    "value_struct": (_value_struct, "220a0a080a016b12031a0176"),
    "event": (_event, "080310041a090a031201780a0208002004"),
    # [packed = true] in MLMD ...
    "put_lineage_subgraph_response_packed": (
        lambda: mss.PutLineageSubgraphResponse(execution_ids=[1, 2, 300]),
        "0a040102ac02",
    ),
    "parent_contexts_request_packed": (
        lambda: mss.GetParentContextsByContextsRequest(context_ids=[7, 8]),
        "0a020708",
    ),
    # ... while plain proto2 repeated scalars stay unpacked.
    "put_artifacts_response_unpacked": (
        lambda: mss.PutArtifactsResponse(artifact_ids=[1, 2, 300]),
        "0801080208ac02",
    ),
    "list_operation_options": (_list_options, "080a1204080110001a0174"),
    "parent_contexts_response_map": (_parent_contexts_response, "1208080512040a020809"),
    "get_artifacts_by_type_request": (_get_artifacts_by_type, "0a01541202763122030a0178"),
}


@pytest.mark.parametrize("case", sorted(WIRE_CASES))
def test_wire_round_trip(case: str) -> None:
    build, hex_bytes = WIRE_CASES[case]
    msg = build()
    wire = bytes.fromhex(hex_bytes)
    assert msg.SerializeToString(deterministic=True) == wire
    parsed = type(msg).FromString(wire)
    assert parsed == msg
    assert parsed.SerializeToString(deterministic=True) == wire


def test_proto2_defaults_match_mlmd() -> None:
    opts = ms.ListOperationOptions()
    assert opts.max_result_size == 20
    assert opts.order_by_field.field == ms.ListOperationOptions.OrderByField.ID
    assert opts.order_by_field.is_asc is True
    assert ms.MigrationOptions().downgrade_to_schema_version == -1
    assert ms.LineageGraphQueryOptions().max_node_size == 20
    assert mss.PutArtifactTypeRequest().all_fields_match is True
    assert mss.GetArtifactsByIDRequest().populate_artifact_types is False
    # Defaults are not serialized and presence is tracked (proto2).
    assert opts.SerializeToString() == b""
    assert not opts.HasField("max_result_size")


def test_system_type_extension_option() -> None:
    def type_name(enum: object, value: str) -> str:
        options = enum.DESCRIPTOR.values_by_name[value].GetOptions()  # type: ignore[attr-defined]
        return options.Extensions[ms.system_type_extension].type_name

    assert type_name(ms.ArtifactType.SystemDefinedBaseType, "DATASET") == "mlmd.Dataset"
    assert type_name(ms.ArtifactType.SystemDefinedBaseType, "UNSET") == "unset_artifact_type"
    assert type_name(ms.ExecutionType.SystemDefinedBaseType, "DEPLOY") == "mlmd.Deploy"
    assert type_name(ms.ContextType.SystemDefinedBaseType, "UNSET") == "unset_context_type"


def test_descriptors_match_ml_metadata_1_17_1() -> None:
    """Our .proto files describe exactly the messages, fields and methods of ml-metadata 1.17.1.

    The fixture was dumped from the ml-metadata 1.17.1 package with
    scripts/dump_descriptors.py (in its own venv)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    fixture = Path(__file__).parent / "fixtures" / "mlmd_1_17_1_descriptors.json"
    result = subprocess.run(
        [sys.executable, str(root / "scripts" / "compare_proto_descriptors.py"), str(fixture)],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 difference(s)" in result.stdout
