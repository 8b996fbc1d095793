"""``--metadata_store_server_config_file``: serving the database an MLMD server config names."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
from google.protobuf import text_format

from store.grpc.config import ServerConfigError, load_server_config
from store.grpc.connection import database_settings
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from store.services.errors import InvalidArgument, Unimplemented
from tests.grpc.servers import run_to_exit, start_server


def _put_and_get_type(stub: object, name: str) -> int:
    request = svc.PutArtifactTypeRequest(artifact_type=pb.ArtifactType(name=name))
    type_id = stub.PutArtifactType(request, timeout=30).type_id  # type: ignore[attr-defined]
    fetched = stub.GetArtifactType(svc.GetArtifactTypeRequest(type_name=name), timeout=30)  # type: ignore[attr-defined]
    assert fetched.artifact_type.id == type_id
    return type_id


def _type_names(sqlite_file: Path) -> list[str]:
    with sqlite3.connect(sqlite_file) as connection:
        return [row[0] for row in connection.execute("SELECT name FROM store_type")]


def test_serves_the_sqlite_file_of_the_config_not_the_site_database(tmp_path: Path) -> None:
    store_file = tmp_path / "mlmd-from-config.db"
    config = tmp_path / "server_config.pbtxt"
    config.write_text(
        "connection_config {\n"
        "  sqlite {\n"
        f'    filename_uri: "{store_file}"\n'
        "    connection_mode: READWRITE_OPENCREATE\n"
        "  }\n"
        "}\n"
    )
    name = f"config-type-{uuid.uuid4()}"
    server = start_server(tmp_path, "--metadata_store_server_config_file", str(config))
    try:
        _put_and_get_type(server.stub(), name)
    finally:
        assert server.terminate() == 0, server.log()
    assert name in _type_names(store_file)
    site_file = tmp_path / "site.sqlite3"
    assert not site_file.exists() or name not in _safe_type_names(site_file)


def _safe_type_names(sqlite_file: Path) -> list[str]:
    try:
        return _type_names(sqlite_file)
    except sqlite3.OperationalError:  # no store tables at all
        return []


def test_data_survives_a_restart_on_the_same_file(tmp_path: Path) -> None:
    store_file = tmp_path / "kept.db"
    config = tmp_path / "server_config.pbtxt"
    config.write_text(f'connection_config {{ sqlite {{ filename_uri: "file:{store_file}" }} }}')
    name = f"kept-{uuid.uuid4()}"
    first = start_server(tmp_path / "first", "--metadata_store_server_config_file", str(config))
    try:
        type_id = _put_and_get_type(first.stub(), name)
    finally:
        first.terminate()
    second = start_server(tmp_path / "second", "--metadata_store_server_config_file", str(config))
    try:
        response = second.stub().GetArtifactType(svc.GetArtifactTypeRequest(type_name=name), timeout=30)
        assert response.artifact_type.id == type_id
    finally:
        second.terminate()


def test_fake_database_is_a_working_ephemeral_store(tmp_path: Path) -> None:
    config = tmp_path / "server_config.pbtxt"
    config.write_text("connection_config { fake_database {} }")
    server = start_server(tmp_path, "--metadata_store_server_config_file", str(config))
    try:
        _put_and_get_type(server.stub(), "ephemeral")
        ephemeral = server.log().split("over sqlite file:", 1)[1].split("?", 1)[0]
        assert Path(ephemeral).exists()
    finally:
        assert server.terminate() == 0
    assert not Path(ephemeral).exists()


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        ("connection_config { sqlite { filename_uri: ", "is not a MetadataStoreServerConfig in text format"),
        ("migration_options { downgrade_to_schema_version: 7 }", "downgrade_to_schema_version is not supported"),
    ],
)
def test_unusable_config_file_is_refused(tmp_path: Path, config_text: str, message: str) -> None:
    config = tmp_path / "server_config.pbtxt"
    config.write_text(config_text)
    with pytest.raises(ServerConfigError, match=message):
        load_server_config(config)


@pytest.mark.parametrize(
    ("config_text", "error", "message"),
    [
        ("mysql { host: 'db' }", InvalidArgument, "mysql.database is required"),
        ("postgresql { host: 'db' }", Unimplemented, "PostgreSQL is not supported"),
        ("", InvalidArgument, "names no database"),
    ],
)
def test_unusable_connection_config_is_refused(config_text: str, error: type[Exception], message: str) -> None:
    config = text_format.Parse(config_text, pb.ConnectionConfig())
    with pytest.raises(error, match=message):
        database_settings(config)


@pytest.mark.parametrize(
    ("sqlite_config", "name"),
    [
        ('filename_uri: "/data/m.db"', "file:/data/m.db?mode=rwc"),
        ('filename_uri: "/data/m.db" connection_mode: READONLY', "file:/data/m.db?mode=ro"),
        ('filename_uri: "/data/m.db" connection_mode: READWRITE', "file:/data/m.db?mode=rw"),
        ('filename_uri: "file:/data/m.db?cache=shared"', "file:/data/m.db?cache=shared&mode=rwc"),
        ('filename_uri: "file:/data/m.db?mode=ro"', "file:/data/m.db?mode=ro"),
    ],
)
def test_sqlite_connection_modes(sqlite_config: str, name: str) -> None:
    config = text_format.Parse(f"sqlite {{ {sqlite_config} }}", pb.ConnectionConfig())
    assert database_settings(config)["NAME"] == name


@pytest.mark.parametrize("sqlite_config", ["", 'filename_uri: ":memory:"'])
def test_an_in_memory_sqlite_config_is_one_private_file_for_every_thread(sqlite_config: str) -> None:
    # Each request thread has its own connection: per-connection in-memory databases would not share data.
    config = text_format.Parse(f"sqlite {{ {sqlite_config} }}", pb.ConnectionConfig())
    name = database_settings(config)["NAME"]
    assert name.startswith("file:/") and "mlmd-ephemeral-" in name and "memory" not in name


def test_read_only_sqlite_takes_no_write_lock() -> None:
    config = text_format.Parse('sqlite { filename_uri: "/data/m.db" connection_mode: READONLY }', pb.ConnectionConfig())
    options = database_settings(config)["OPTIONS"]
    assert options["transaction_mode"] == "DEFERRED"
    assert "journal_mode" not in options["init_command"]


def test_bad_config_stops_the_command_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "server_config.pbtxt"
    config.write_text("connection_config { mysql { host: 'db' } }")
    result = run_to_exit(tmp_path, "--metadata_store_server_config_file", str(config))
    assert result.returncode != 0
    assert "connection_config: connection_config.mysql.database is required" in result.stderr
    missing = run_to_exit(tmp_path, "--metadata_store_server_config_file", str(tmp_path / "nope.pbtxt"))
    assert missing.returncode != 0
    assert "nope.pbtxt" in missing.stderr
