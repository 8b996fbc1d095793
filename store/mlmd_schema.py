"""ml-metadata's relational schema, version 10: read it, import it, write it.

ml-metadata 1.14 to 1.17 keep a store in the same tables (schema version 10,
recorded in ``MLMDEnv``).  This module knows that layout, so that a team can
bring years of metadata over (``manage.py import_mlmd``) and take it back
(``manage.py export_mlmd``) without the ml-metadata library, which pins an old
protobuf and ships wheels for few Pythons.

Facts about the layout, as ml-metadata 1.17.1 writes it (captured from files it
created; ``tests/importer`` checks them against the real library):

* All types live in ``Type`` (``type_kind`` 0 execution, 1 artifact,
  2 context).  A new store starts with nine *system types* (``mlmd.Dataset`` …
  ``mlmd.Deploy``); a type's ``base_type`` is a ``ParentType`` row pointing at
  one of them, found by name.  Our store keeps ``base_type`` as a column and
  has no system types.
* A struct value is a ``string_value`` of ``mlmd-struct::`` + base64 of the
  serialized ``google.protobuf.Struct``; a proto value is ``proto_value``
  holding base64 of the serialized ``google.protobuf.Any`` (base64 on MySQL
  too: ml-metadata encodes bytes the same way for both).  ``byte_value`` is
  never written.
* ``EventPath`` has no ordering column: a path's steps are its rows in
  insertion order.
* ``Artifact``/``Execution`` keep no ``system_metadata``; ``Type`` keeps
  ``input_type``/``output_type`` (JSON), which our store has no column for.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.db.models import Model, QuerySet, Subquery
from django.utils import timezone
from google.protobuf import message as pb_message

from store.choices import TypeKind
from store.db import atomic, current_connection
from store.models import (
    Association,
    Attribution,
    Event,
    MlmdImport,
    MlmdImportId,
    ParentContext,
    ParentType,
    Type,
    TypeProperty,
)
from store.proto import metadata_store_pb2 as pb
from store.services import node_messages, values
from store.services import nodes as node_services
from store.services.kinds import ARTIFACT, CONTEXT, EXECUTION, NodeKind

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 10

# ml-metadata's DDL for SQLite, statement by statement, exactly as 1.17.1 runs
# it on a new file (so sqlite_master of an exported file reads the same as one
# ml-metadata made).  SQLite creates ``sqlite_sequence`` itself with the first
# AUTOINCREMENT table.
SQLITE_SCHEMA: tuple[str, ...] = (
    "CREATE TABLE `Type` (    `id` INTEGER PRIMARY KEY AUTOINCREMENT,    `name` VARCHAR(255) NOT NULL,    `version` VARCHAR(255),    `type_kind` TINYINT(1) NOT NULL,    `description` TEXT,    `input_type` TEXT,    `output_type` TEXT,    `external_id` VARCHAR(255) UNIQUE )",
    "CREATE TABLE `TypeProperty` (    `type_id` INT NOT NULL,    `name` VARCHAR(255) NOT NULL,    `data_type` INT NULL,  PRIMARY KEY (`type_id`, `name`))",
    "CREATE TABLE `ParentType` (    `type_id` INT NOT NULL,    `parent_type_id` INT NOT NULL,  PRIMARY KEY (`type_id`, `parent_type_id`))",
    "CREATE TABLE `Artifact` (    `id` INTEGER PRIMARY KEY AUTOINCREMENT,    `type_id` INT NOT NULL,    `uri` TEXT,    `state` INT,    `name` VARCHAR(255),    `external_id` VARCHAR(255) UNIQUE,    `create_time_since_epoch` INT NOT NULL DEFAULT 0,    `last_update_time_since_epoch` INT NOT NULL DEFAULT 0,    UNIQUE(`type_id`, `name`)  )",
    "CREATE TABLE `ArtifactProperty` (    `artifact_id` INT NOT NULL,    `name` VARCHAR(255) NOT NULL,    `is_custom_property` TINYINT(1) NOT NULL,    `int_value` INT,    `double_value` DOUBLE,    `string_value` TEXT,    `byte_value` BLOB,    `proto_value` BLOB,    `bool_value` BOOLEAN,  PRIMARY KEY (`artifact_id`, `name`, `is_custom_property`))",
    "CREATE TABLE `Execution` (    `id` INTEGER PRIMARY KEY AUTOINCREMENT,    `type_id` INT NOT NULL,    `last_known_state` INT,    `name` VARCHAR(255),    `external_id` VARCHAR(255) UNIQUE,    `create_time_since_epoch` INT NOT NULL DEFAULT 0,    `last_update_time_since_epoch` INT NOT NULL DEFAULT 0,    UNIQUE(`type_id`, `name`)  )",
    "CREATE TABLE `ExecutionProperty` (    `execution_id` INT NOT NULL,    `name` VARCHAR(255) NOT NULL,    `is_custom_property` TINYINT(1) NOT NULL,    `int_value` INT,    `double_value` DOUBLE,    `string_value` TEXT,    `byte_value` BLOB,    `proto_value` BLOB,    `bool_value` BOOLEAN,  PRIMARY KEY (`execution_id`, `name`, `is_custom_property`))",
    "CREATE TABLE `Event` (    `id` INTEGER PRIMARY KEY AUTOINCREMENT,    `artifact_id` INT NOT NULL,    `execution_id` INT NOT NULL,    `type` INT NOT NULL,    `milliseconds_since_epoch` INT,    UNIQUE(`artifact_id`, `execution_id`, `type`)  )",
    "CREATE TABLE `EventPath` (    `event_id` INT NOT NULL,    `is_index_step` TINYINT(1) NOT NULL,    `step_index` INT,    `step_key` TEXT  )",
    "CREATE TABLE `MLMDEnv` (    `schema_version` INTEGER PRIMARY KEY  )",
    "CREATE TABLE `Context` (    `id` INTEGER PRIMARY KEY AUTOINCREMENT,    `type_id` INT NOT NULL,    `name` VARCHAR(255) NOT NULL,    `external_id` VARCHAR(255) UNIQUE,    `create_time_since_epoch` INT NOT NULL DEFAULT 0,    `last_update_time_since_epoch` INT NOT NULL DEFAULT 0,    UNIQUE(`type_id`, `name`)  )",
    "CREATE TABLE `ContextProperty` (    `context_id` INT NOT NULL,    `name` VARCHAR(255) NOT NULL,    `is_custom_property` TINYINT(1) NOT NULL,    `int_value` INT,    `double_value` DOUBLE,    `string_value` TEXT,    `byte_value` BLOB,    `proto_value` BLOB,    `bool_value` BOOLEAN,  PRIMARY KEY (`context_id`, `name`, `is_custom_property`))",
    "CREATE TABLE `ParentContext` (    `context_id` INT NOT NULL,    `parent_context_id` INT NOT NULL,  PRIMARY KEY (`context_id`, `parent_context_id`))",
    "CREATE TABLE `Association` (    `id` INTEGER PRIMARY KEY AUTOINCREMENT,    `context_id` INT NOT NULL,    `execution_id` INT NOT NULL,    UNIQUE(`context_id`, `execution_id`)  )",
    "CREATE TABLE `Attribution` (    `id` INTEGER PRIMARY KEY AUTOINCREMENT,    `context_id` INT NOT NULL,    `artifact_id` INT NOT NULL,    UNIQUE(`context_id`, `artifact_id`)  )",
    "CREATE INDEX `idx_artifact_uri`  ON `Artifact`(`uri`)",
    "CREATE INDEX `idx_artifact_create_time_since_epoch`  ON `Artifact`(`create_time_since_epoch`)",
    "CREATE INDEX `idx_artifact_last_update_time_since_epoch`  ON `Artifact`(`last_update_time_since_epoch`)",
    "CREATE INDEX `idx_event_execution_id`  ON `Event`(`execution_id`)",
    "CREATE INDEX `idx_parentcontext_parent_context_id`  ON `ParentContext`(`parent_context_id`)",
    "CREATE INDEX `idx_type_name`  ON `Type`(`name`)",
    "CREATE INDEX `idx_execution_create_time_since_epoch`  ON `Execution`(`create_time_since_epoch`)",
    "CREATE INDEX `idx_execution_last_update_time_since_epoch`  ON `Execution`(`last_update_time_since_epoch`)",
    "CREATE INDEX `idx_context_create_time_since_epoch`  ON `Context`(`create_time_since_epoch`)",
    "CREATE INDEX `idx_context_last_update_time_since_epoch`  ON `Context`(`last_update_time_since_epoch`)",
    "CREATE INDEX `idx_eventpath_event_id`  ON `EventPath`(`event_id`)",
    "CREATE INDEX `idx_artifact_property_int`  ON `ArtifactProperty`(`name`, `is_custom_property`, `int_value`)  WHERE `int_value` IS NOT NULL",
    "CREATE INDEX `idx_artifact_property_double`  ON `ArtifactProperty`(`name`, `is_custom_property`, `double_value`)  WHERE `double_value` IS NOT NULL",
    "CREATE INDEX `idx_artifact_property_string`  ON `ArtifactProperty`(`name`, `is_custom_property`, `string_value`)  WHERE `string_value` IS NOT NULL",
    "CREATE INDEX `idx_execution_property_int`  ON `ExecutionProperty`(`name`, `is_custom_property`, `int_value`)  WHERE `int_value` IS NOT NULL",
    "CREATE INDEX `idx_execution_property_double`  ON `ExecutionProperty`(`name`, `is_custom_property`, `double_value`)  WHERE `double_value` IS NOT NULL",
    "CREATE INDEX `idx_execution_property_string`  ON `ExecutionProperty`(`name`, `is_custom_property`, `string_value`)  WHERE `string_value` IS NOT NULL",
    "CREATE INDEX `idx_context_property_int`  ON `ContextProperty`(`name`, `is_custom_property`, `int_value`)  WHERE `int_value` IS NOT NULL",
    "CREATE INDEX `idx_context_property_double`  ON `ContextProperty`(`name`, `is_custom_property`, `double_value`)  WHERE `double_value` IS NOT NULL",
    "CREATE INDEX `idx_context_property_string`  ON `ContextProperty`(`name`, `is_custom_property`, `string_value`)  WHERE `string_value` IS NOT NULL",
    "CREATE INDEX `idx_type_external_id`  ON `Type`(`external_id`)",
    "CREATE INDEX `idx_artifact_external_id`  ON `Artifact`(`external_id`)",
    "CREATE INDEX `idx_execution_external_id`  ON `Execution`(`external_id`)",
    "CREATE INDEX `idx_context_external_id`  ON `Context`(`external_id`)",
)

# The system types a new ml-metadata store starts with, in the order (and so
# with the ids 1-9) ml-metadata creates them: (name, type kind, base type).
SYSTEM_TYPES: tuple[tuple[str, int, int], ...] = (
    ("mlmd.Dataset", TypeKind.ARTIFACT, pb.ArtifactType.DATASET),
    ("mlmd.Model", TypeKind.ARTIFACT, pb.ArtifactType.MODEL),
    ("mlmd.Metrics", TypeKind.ARTIFACT, pb.ArtifactType.METRICS),
    ("mlmd.Statistics", TypeKind.ARTIFACT, pb.ArtifactType.STATISTICS),
    ("mlmd.Train", TypeKind.EXECUTION, pb.ExecutionType.TRAIN),
    ("mlmd.Transform", TypeKind.EXECUTION, pb.ExecutionType.TRANSFORM),
    ("mlmd.Process", TypeKind.EXECUTION, pb.ExecutionType.PROCESS),
    ("mlmd.Evaluate", TypeKind.EXECUTION, pb.ExecutionType.EVALUATE),
    ("mlmd.Deploy", TypeKind.EXECUTION, pb.ExecutionType.DEPLOY),
)
_BASE_OF_SYSTEM_TYPE = {(name, kind): base for name, kind, base in SYSTEM_TYPES}
_SYSTEM_TYPE_OF_BASE = {(kind, base): name for name, kind, base in SYSTEM_TYPES}

STRUCT_PREFIX = "mlmd-struct::"


class MlmdSchemaError(Exception):
    """The source or target is not something this module can read or write; the message says what to do."""


class SchemaVersionError(MlmdSchemaError):
    """The source database has another schema version than 10."""


class UnsupportedValue(ValueError):
    """A property row no ml-metadata 1.17 client could read (for example only ``byte_value`` set)."""


# ---------------------------------------------------------------------------- values


def _text(raw: str | bytes) -> str:
    """A text column's value; bytes (a MySQL source) are UTF-8, else Latin-1 (see ``MlmdSource.mysql``)."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        data = bytes(raw)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    return raw


def decode_value(
    int_value: Any, double_value: Any, string_value: Any, byte_value: Any, proto_value: Any, bool_value: Any
) -> pb.Value | None:
    """The Value of one ml-metadata property row (None when the row holds no value).

    A string starting with ``mlmd-struct::`` whose rest decodes as a Struct is
    a struct, as ml-metadata itself reads it (so a plain string that happens to
    look like one comes back as a struct there too).
    """
    value = pb.Value()
    if int_value is not None:
        value.int_value = int(int_value)
    elif double_value is not None:
        value.double_value = float(double_value)
    elif string_value is not None:
        text = _text(string_value)
        if text.startswith(STRUCT_PREFIX):
            try:
                value.struct_value.ParseFromString(base64.b64decode(text[len(STRUCT_PREFIX) :], validate=True))
                return value
            except (binascii.Error, pb_message.DecodeError):
                value.Clear()
        value.string_value = text
    elif proto_value is not None:
        try:
            value.proto_value.ParseFromString(base64.b64decode(_text(proto_value), validate=True))
        except (binascii.Error, pb_message.DecodeError, UnicodeDecodeError) as exc:
            raise UnsupportedValue(f"proto_value is not base64 of a serialized google.protobuf.Any ({exc})") from exc
    elif bool_value is not None:
        value.bool_value = bool(bool_value)
    elif byte_value is not None:
        raise UnsupportedValue("only byte_value is set, which ml-metadata 1.17 never writes nor reads")
    else:
        return None
    return value


def encode_value(value: pb.Value) -> dict[str, Any]:
    """The ml-metadata columns of a Value (``byte_value`` stays NULL, as ml-metadata leaves it)."""
    columns: dict[str, Any] = {
        "int_value": None,
        "double_value": None,
        "string_value": None,
        "byte_value": None,
        "proto_value": None,
        "bool_value": None,
    }
    which = value.WhichOneof("value")
    if which == "struct_value":
        columns["string_value"] = STRUCT_PREFIX + base64.b64encode(value.struct_value.SerializeToString()).decode()
    elif which == "proto_value":
        columns["proto_value"] = base64.b64encode(value.proto_value.SerializeToString()).decode()
    elif which == "bool_value":
        columns["bool_value"] = int(value.bool_value)
    elif which is not None:
        columns[which] = getattr(value, which)
    return columns


# ---------------------------------------------------------------------------- the source


class MlmdSource:
    """A read-only connection to an ml-metadata database (an SQLite file or a MySQL database).

    Nothing here writes: SQLite is opened with ``mode=ro`` and
    ``PRAGMA query_only``, MySQL sessions are ``READ ONLY``.  Queries are
    written with ``?`` placeholders and backquoted names, which both engines
    accept once the placeholders are adapted.
    """

    def __init__(self, connection: Any, description: str, key: str, paramstyle: str, dialect: str) -> None:
        self.connection = connection
        self.description = description
        self.key = key
        self.paramstyle = paramstyle
        self.dialect = dialect

    @classmethod
    def sqlite(cls, path: str) -> MlmdSource:
        resolved = Path(path).expanduser().resolve()
        if not resolved.is_file():
            raise MlmdSchemaError(f"{path}: no such file")
        uri = resolved.as_uri() + "?mode=ro"
        try:
            connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
            connection.execute("PRAGMA query_only = ON")
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise MlmdSchemaError(f"{path} cannot be read as an SQLite database: {exc}") from exc
        key = hashlib.sha256(f"sqlite:{resolved}".encode()).hexdigest()
        return cls(connection, str(resolved), key, "qmark", "sqlite")

    @classmethod
    def mysql(cls, url: str) -> MlmdSource:
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb") or not parts.path.strip("/"):
            raise MlmdSchemaError(f"{redact_url(url)} is not a MySQL URL: use mysql://user:password@host:port/database")
        try:
            import MySQLdb
        except ImportError as exc:
            raise MlmdSchemaError(
                "Reading a MySQL source needs the mysqlclient driver, which is not installed: "
                ".venv/bin/pip install mysqlclient"
            ) from exc
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        kwargs: dict[str, Any] = {
            "host": parts.hostname or "localhost",
            "port": parts.port or 3306,
            "user": unquote(parts.username or ""),
            "passwd": unquote(parts.password or ""),
            "db": unquote(parts.path.strip("/")),
            # ml-metadata's client talks Latin-1 to the server, so the UTF-8 bytes it
            # sends are stored double-encoded and read back intact the same way.
            # Reading as it does (bytes, decoded as UTF-8 here) gives what its
            # clients see; ?charset=utf8mb4 reads a database written otherwise.
            "charset": query.get("charset", "latin1"),
            "use_unicode": False,
        }
        if "unix_socket" in query:
            kwargs["unix_socket"] = query["unix_socket"]
        try:
            connection = MySQLdb.connect(**kwargs)
            cursor = connection.cursor()
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.close()
        except MySQLdb.Error as exc:
            raise MlmdSchemaError(f"Cannot connect to {redact_url(url)}: {exc}") from exc
        where = f"{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"
        key = hashlib.sha256(f"mysql:{where}".encode()).hexdigest()
        return cls(connection, redact_url(url), key, "format", "mysql")

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.paramstyle == "format":
            sql = sql.replace("%", "%%").replace("?", "%s")
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, tuple(params))
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.fetch(sql, params)
        return rows[0][0] if rows else None

    def has_table(self, name: str) -> bool:
        if self.dialect == "sqlite":
            return bool(self.fetch("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))
        return bool(self.fetch("SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", (name,)))

    def path_order(self) -> str:
        """EventPath rows of one event in the order they were written (their steps' order)."""
        return "`event_id`, rowid" if self.dialect == "sqlite" else "`event_id`"

    def schema_version(self) -> int:
        """The source's schema version; refuses a database that is not an ml-metadata store."""
        if not self.has_table("MLMDEnv"):
            what = "Type table but no MLMDEnv" if self.has_table("Type") else "no MLMDEnv table"
            raise MlmdSchemaError(
                f"{self.description} is not an ml-metadata database ({what}); "
                "a store written by ml-metadata 0.13 or older must first be upgraded with ml-metadata "
                "(MetadataStore(config, enable_upgrade_migration=True))."
            )
        version = self.scalar("SELECT MAX(`schema_version`) FROM `MLMDEnv`")
        if version is None:
            raise MlmdSchemaError(f"{self.description}: MLMDEnv records no schema version")
        return int(version)

    def check_schema_version(self) -> int:
        version = self.schema_version()
        if version < SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.description} has ml-metadata schema version {version}; import_mlmd reads version "
                f"{SCHEMA_VERSION} (ml-metadata 1.14 to 1.17).  Upgrade a copy of it first: open it once with "
                "ml-metadata 1.14 or later and enable_upgrade_migration=True, e.g. "
                "metadata_store.MetadataStore(config, enable_upgrade_migration=True), then import the upgraded copy."
            )
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.description} has ml-metadata schema version {version}, newer than the version "
                f"{SCHEMA_VERSION} import_mlmd reads (ml-metadata 1.14 to 1.17).  Downgrade a copy of it with the "
                "ml-metadata release that wrote it: metadata_store.downgrade_schema(config, "
                f"downgrade_to_schema_version={SCHEMA_VERSION}), then import the downgraded copy."
            )
        return version

    def close(self) -> None:
        self.connection.close()


def redact_url(url: str) -> str:
    """A database URL without its password, for messages and records."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


# ---------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class _NodeTable:
    """How one node kind is laid out in ml-metadata's tables and in ours."""

    kind: NodeKind
    table: str
    columns: tuple[str, ...]  # after id and type_id
    entity: int

    @property
    def property_table(self) -> str:
        return f"{self.table}Property"

    @property
    def fk(self) -> str:
        return f"{self.kind.name}_id"


_NODE_TABLES = (
    _NodeTable(ARTIFACT, "Artifact", ("uri", "state", "name", "external_id"), MlmdImportId.ARTIFACT),
    _NodeTable(EXECUTION, "Execution", ("last_known_state", "name", "external_id"), MlmdImportId.EXECUTION),
    _NodeTable(CONTEXT, "Context", ("name", "external_id"), MlmdImportId.CONTEXT),
)
_TIME_COLUMNS = ("create_time_since_epoch", "last_update_time_since_epoch")
_VALUE_COLUMNS = ("int_value", "double_value", "string_value", "byte_value", "proto_value", "bool_value")
_ID_TABLES = ("Type", "Artifact", "Execution", "Context", "Event", "Attribution", "Association")

STEPS = ("types", "artifacts", "executions", "contexts", "events", "attributions", "associations", "parent_contexts")


def _q(name: str) -> str:
    return f"`{name}`"


# ---------------------------------------------------------------------------- import


@dataclass
class ImportOptions:
    """How ``import_database`` runs (see ``manage.py import_mlmd --help``)."""

    batch_size: int = 1000
    resume: bool = False
    sample_size: int = 10
    progress: bool | None = None  # None: progress bars only on a terminal
    mapping_file: str | None = None


@dataclass
class ImportResult:
    run: MlmdImport
    report: dict[str, Any]
    mapping_file: str | None


class ImportRefused(MlmdSchemaError):
    """The import cannot start or continue; this attempt wrote nothing."""


class _Progress:
    """A tqdm bar per step; by default only when the stream is a terminal."""

    def __init__(self, enabled: bool | None, stream: Any) -> None:
        self.enabled = enabled
        self.stream = stream

    def bar(self, label: str, total: int, initial: int = 0) -> Any:
        from tqdm import tqdm

        disable = None if self.enabled is None else not self.enabled
        return tqdm(total=total, initial=initial, desc=f"{label:<16}", unit="row", file=self.stream, disable=disable)


# Entity labels of the verification report, and the skip counters kept per entity.
_ENTITY_LABELS = {
    "Type": "types",
    "TypeProperty": "type properties",
    "ParentType": "parent types (incl. base types)",
    "Artifact": "artifacts",
    "ArtifactProperty": "artifact properties",
    "Execution": "executions",
    "ExecutionProperty": "execution properties",
    "Context": "contexts",
    "ContextProperty": "context properties",
    "Event": "events",
    "EventPath": "event path steps",
    "Attribution": "attributions",
    "Association": "associations",
    "ParentContext": "parent contexts",
}
_MAX_WARNINGS = 50


class MlmdImporter:
    """Copies an ml-metadata database into this store; one instance is one attempt.

    Steps run in dependency order (types, nodes, then the edges between them).
    Each batch is one transaction that also advances ``MlmdImport.progress``,
    so a resumed import starts right after the last committed batch.  When the
    store is empty the source ids are kept; otherwise the database assigns new
    ones and ``MlmdImportId`` records them, in the batch's transaction too.

    What a batch skipped (a property row no client could read, an edge to a
    missing node) is counted in ``progress["skipped"]`` with the batch, so an
    interrupted and resumed import reports exactly what an uninterrupted one
    does.
    """

    def __init__(
        self,
        source: MlmdSource,
        options: ImportOptions,
        *,
        log: Callable[[str], None] = print,
        progress_stream: Any = None,
    ) -> None:
        self.source = source
        self.options = options
        self.log = log
        self.bars = _Progress(options.progress, progress_stream or sys.stderr)
        self.run: MlmdImport | None = None
        self.max_ids: dict[str, int] = {}
        self.type_map: dict[int, int] = {}
        self.type_names: dict[int, str] = {}

    # -- hook: tests interrupt imports here ------------------------------------

    def batch_written(self, step: str, number: int) -> None:
        """Called inside each batch's transaction after its rows are written, before it commits."""

    # -- entry -----------------------------------------------------------------

    def run_import(self) -> ImportResult:
        version = self.source.check_schema_version()
        run = self._resume() if self.options.resume else self._start(version)
        self.run = run
        if run.preserve_ids:
            self.log("The store was empty: the source's ids are kept.")
        else:
            self.log("The store was not empty: rows get new ids, and the mapping is written at the end.")
        self._copy_types()
        for table in _NODE_TABLES:
            self._copy_nodes(table)
        self._copy_events()
        self._copy_links("attributions", "Attribution", "artifact_id", Attribution, MlmdImportId.ATTRIBUTION, ARTIFACT)
        self._copy_links("associations", "Association", "execution_id", Association, MlmdImportId.ASSOCIATION, EXECUTION)
        self._copy_parent_contexts()
        _reset_sequences()
        # Store the nodes' messages now, so that the store reads fast from the start
        # (and the verification's sample reads the stored messages).
        node_messages.fill_all(
            chunk=self.options.batch_size,
            bar=lambda kind, total: self.bars.bar(f"{kind.name} messages", total),
            kinds=[table.kind for table in _NODE_TABLES],
        )
        report = self.verify()
        mapping_file = None if run.preserve_ids else self._write_mapping()
        with atomic():
            if not MlmdImport.objects.filter(pk=run.pk, batches=run.batches).update(finished=timezone.now(), report=report):
                raise ImportRefused(f"Another process is importing {run.source} into this store; it will finish the import.")
        run.refresh_from_db()
        return ImportResult(run=run, report=report, mapping_file=mapping_file)

    # -- the resume record -------------------------------------------------------

    def _start(self, version: int) -> MlmdImport:
        previous = MlmdImport.objects.filter(source_key=self.source.key).order_by("-id").first()
        if previous is not None and previous.finished is None:
            raise ImportRefused(
                f"An import of {self.source.description} was interrupted (import #{previous.pk}, started "
                f"{previous.started:%Y-%m-%d %H:%M} UTC).  Run the same command with --resume to finish it."
            )
        if previous is not None:
            raise ImportRefused(
                f"{self.source.description} was already imported (import #{previous.pk}, finished "
                f"{previous.finished:%Y-%m-%d %H:%M} UTC); importing it again would copy every row a second time."
            )
        self.max_ids = self._max_ids()
        figures = self._figures(self.max_ids)
        preserve = not _store_has_data()
        if not preserve:
            self._preflight({})
        with atomic():
            run = MlmdImport.objects.create(
                source=self.source.description,
                source_key=self.source.key,
                schema_version=version,
                preserve_ids=preserve,
                bounds={"max_id": self.max_ids, **figures},
                progress={},
            )
        if preserve:
            _reserve_ids(self.max_ids)
        return run

    def _resume(self) -> MlmdImport:
        previous = MlmdImport.objects.filter(source_key=self.source.key).order_by("-id").first()
        if previous is None or previous.finished is not None:
            what = f"was imported completely (import #{previous.pk})" if previous else "has no interrupted import"
            raise ImportRefused(f"Nothing to resume: {self.source.description} {what}.")
        self.max_ids = {k: int(v) for k, v in previous.bounds["max_id"].items()}
        figures = self._figures(self.max_ids)
        if figures != {k: previous.bounds[k] for k in figures}:
            raise ImportRefused(
                f"{self.source.description} changed since import #{previous.pk} started: rows it covers were added, "
                "removed or updated, so the copy cannot be completed consistently.  Import the source into a new, "
                "empty store instead."
            )
        done = ", ".join(f"{step} up to {previous.progress[step]}" for step in STEPS if step in previous.progress)
        self.log(
            f"Resuming import #{previous.pk} of {previous.source} (started {previous.started:%Y-%m-%d %H:%M} UTC; "
            f"done: {done or 'nothing yet'})."
        )
        if not previous.preserve_ids:
            self.run = previous
            self._preflight(previous.progress)
        return previous

    def _max_ids(self) -> dict[str, int]:
        return {
            table: int(self.source.scalar(f"SELECT COALESCE(MAX(`id`), 0) FROM {_q(table)}") or 0) for table in _ID_TABLES
        }

    def _figures(self, max_ids: dict[str, int]) -> dict[str, Any]:
        """Counts and latest update times of the source rows the import covers (those up to ``max_ids``).

        They are the source side of the verification report, and a resume
        compares them to be sure the source did not change in between; rows
        written to the source after the import started are simply not part of it.
        """
        s = self.source
        b = max_ids
        counts: dict[str, int] = {}
        system = len(self._system_type_ids(b["Type"]))
        counts["Type"] = int(s.scalar("SELECT COUNT(*) FROM `Type` WHERE `id` <= ?", (b["Type"],))) - system
        counts["TypeProperty"] = int(s.scalar("SELECT COUNT(*) FROM `TypeProperty` WHERE `type_id` <= ?", (b["Type"],)))
        counts["ParentType"] = int(
            s.scalar(
                "SELECT COUNT(*) FROM `ParentType` WHERE `type_id` <= ? AND `parent_type_id` <= ?", (b["Type"], b["Type"])
            )
        )
        last_update: dict[str, int] = {}
        for table in _NODE_TABLES:
            top = b[table.table]
            counts[table.table] = int(s.scalar(f"SELECT COUNT(*) FROM {_q(table.table)} WHERE `id` <= ?", (top,)))
            counts[table.property_table] = int(
                s.scalar(f"SELECT COUNT(*) FROM {_q(table.property_table)} WHERE {_q(table.fk)} <= ?", (top,))
            )
            last_update[table.table] = int(
                s.scalar(
                    f"SELECT COALESCE(MAX(`last_update_time_since_epoch`), 0) FROM {_q(table.table)} WHERE `id` <= ?",
                    (top,),
                )
                or 0
            )
        events = "`id` <= ? AND `artifact_id` <= ? AND `execution_id` <= ?"
        event_params = (b["Event"], b["Artifact"], b["Execution"])
        counts["Event"] = int(s.scalar(f"SELECT COUNT(*) FROM `Event` WHERE {events}", event_params))
        counts["EventPath"] = int(
            s.scalar(f"SELECT COUNT(*) FROM `EventPath` WHERE `event_id` IN (SELECT `id` FROM `Event` WHERE {events})", event_params)
        )
        for link_table, node_fk, node_table in (("Attribution", "artifact_id", "Artifact"), ("Association", "execution_id", "Execution")):
            counts[link_table] = int(
                s.scalar(
                    f"SELECT COUNT(*) FROM {_q(link_table)} WHERE `id` <= ? AND `context_id` <= ? AND {_q(node_fk)} <= ?",
                    (b[link_table], b["Context"], b[node_table]),
                )
            )
        counts["ParentContext"] = int(
            s.scalar(
                "SELECT COUNT(*) FROM `ParentContext` WHERE `context_id` <= ? AND `parent_context_id` <= ?",
                (b["Context"], b["Context"]),
            )
        )
        return {"counts": counts, "last_update": last_update}

    def _system_type_ids(self, max_type_id: int) -> dict[int, int]:
        """{source id of a system type: the base type it stands for}."""
        found = {}
        for type_id, name, kind in self.source.fetch(
            "SELECT `id`, `name`, `type_kind` FROM `Type` WHERE `id` <= ? AND `name` LIKE 'mlmd.%'", (max_type_id,)
        ):
            base = _BASE_OF_SYSTEM_TYPE.get((_text(name), int(kind)))
            if base is not None:
                found[int(type_id)] = base
        return found

    def _advance(self, step: str, key: Any, skipped: dict[str, int] | None = None, warnings: Sequence[str] = ()) -> None:
        """Record a finished batch (call inside its transaction)."""
        assert self.run is not None
        progress = dict(self.run.progress)
        progress[step] = key
        if skipped:
            counters = dict(progress.get("skipped", {}))
            for name, count in skipped.items():
                counters[name] = counters.get(name, 0) + count
            progress["skipped"] = counters
        if warnings:
            progress["warnings"] = (list(progress.get("warnings", [])) + list(warnings))[:_MAX_WARNINGS]
        # The optimistic lock: when another process committed a batch meanwhile, this
        # batch's rows may be copies of its rows; raising rolls them back.
        advanced = MlmdImport.objects.filter(pk=self.run.pk, batches=self.run.batches).update(
            progress=progress, batches=self.run.batches + 1
        )
        if not advanced:
            raise ImportRefused(
                f"Another process is importing {self.run.source} into this store (import #{self.run.pk} moved on "
                "under this one); this process stopped without writing its batch."
            )
        self.run.progress = progress
        self.run.batches += 1

    def _record_ids(self, entity: int, pairs: Iterable[tuple[int, int]]) -> None:
        assert self.run is not None
        MlmdImportId.objects.bulk_create(
            [MlmdImportId(run=self.run, entity=entity, source_id=s, target_id=t) for s, t in pairs], batch_size=1000
        )

    def _mapped(self, entity: int, model: type[Model], source_ids: Iterable[int]) -> dict[int, int]:
        """{source id: store id} of the given source rows that are in the store."""
        assert self.run is not None
        ids = sorted(set(source_ids))
        result: dict[int, int] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            if self.run.preserve_ids:
                result.update((i, i) for i in model._default_manager.filter(id__in=chunk).values_list("id", flat=True))
            else:
                result.update(
                    MlmdImportId.objects.filter(run=self.run, entity=entity, source_id__in=chunk).values_list(
                        "source_id", "target_id"
                    )
                )
        return result

    # -- types -------------------------------------------------------------------

    def _source_types(self) -> tuple[list[dict[str, Any]], list[str]]:
        """The source's user types (properties, base type, other parents) and what cannot be kept of them."""
        top = self.max_ids["Type"]
        system = self._system_type_ids(top)
        notes: list[str] = []
        properties: dict[int, dict[str, int]] = defaultdict(dict)
        for type_id, name, data_type in self.source.fetch(
            "SELECT `type_id`, `name`, `data_type` FROM `TypeProperty` WHERE `type_id` <= ? ORDER BY `type_id`, `name`",
            (top,),
        ):
            properties[int(type_id)][_text(name)] = int(data_type or 0)
            if not data_type:
                notes.append(f"property {_text(name)!r} of type {type_id} has no data type; kept as UNKNOWN")
        parents: dict[int, list[int]] = defaultdict(list)
        for type_id, parent_id in self.source.fetch(
            "SELECT `type_id`, `parent_type_id` FROM `ParentType` WHERE `type_id` <= ? AND `parent_type_id` <= ? "
            "ORDER BY `type_id`, `parent_type_id`",
            (top, top),
        ):
            parents[int(type_id)].append(int(parent_id))
        types = []
        for raw_id, raw_name, version, kind, description, input_type, output_type, external_id in self.source.fetch(
            "SELECT `id`, `name`, `version`, `type_kind`, `description`, `input_type`, `output_type`, `external_id` "
            "FROM `Type` WHERE `id` <= ? ORDER BY `id`",
            (top,),
        ):
            type_id = int(raw_id)
            if type_id in system:
                continue
            name = _text(raw_name)
            bases = [system[p] for p in parents[type_id] if p in system]
            if len(bases) > 1:
                notes.append(f"type {name!r} (id {type_id}) has {len(bases)} base types; the first is kept")
            if input_type or output_type:
                notes.append(f"execution type {name!r} (id {type_id}) has input_type/output_type, which are not kept")
            types.append(
                {
                    "id": type_id,
                    "kind": int(kind),
                    "name": name,
                    "version": _text(version) if version is not None else "",
                    "description": _text(description) if description is not None else None,
                    "external_id": _text(external_id) if external_id else None,
                    "base_type": bases[0] if bases else 0,
                    "extra_bases": max(0, len(bases) - 1),
                    "properties": properties.get(type_id, {}),
                    "parents": [p for p in parents[type_id] if p not in system],
                }
            )
        return types, notes

    def _copy_types(self) -> None:
        """All types in one transaction (there are few): with their properties, base types and parents."""
        assert self.run is not None
        types, notes = self._source_types()
        self.type_names = {t["id"]: t["name"] for t in types}
        if self.run.progress.get("types") == "done":
            self.type_map = self._mapped(MlmdImportId.TYPE, Type, [t["id"] for t in types])
            return
        bar = self.bars.bar("types", len(types))
        with atomic():
            if self.run.preserve_ids:
                Type.objects.bulk_create(
                    [
                        Type(
                            id=t["id"],
                            kind=t["kind"],
                            name=t["name"],
                            version=t["version"],
                            description=t["description"],
                            external_id=t["external_id"],
                            base_type=t["base_type"],
                        )
                        for t in types
                    ]
                )
                self.type_map = {t["id"]: t["id"] for t in types}
                TypeProperty.objects.bulk_create(
                    [TypeProperty(type_id=t["id"], name=n, data_type=d) for t in types for n, d in t["properties"].items()]
                )
            else:
                self.type_map = {}
                for t in types:
                    stored = Type.objects.filter(kind=t["kind"], name=t["name"], version=t["version"]).first()
                    if stored is None:
                        stored = Type.objects.create(
                            kind=t["kind"],
                            name=t["name"],
                            version=t["version"],
                            description=t["description"],
                            external_id=t["external_id"],
                            base_type=t["base_type"],
                        )
                        declared: set[str] = set()
                    else:
                        declared = set(stored.properties.values_list("name", flat=True))
                        if t["external_id"] and not stored.external_id:
                            Type.objects.filter(pk=stored.pk).update(external_id=t["external_id"])
                        notes.append(f"type {t['name']!r} (source id {t['id']}) is merged into the store's type {stored.id}")
                    TypeProperty.objects.bulk_create(
                        [TypeProperty(type=stored, name=n, data_type=d) for n, d in t["properties"].items() if n not in declared]
                    )
                    self.type_map[t["id"]] = stored.id
                self._record_ids(MlmdImportId.TYPE, self.type_map.items())
            links = [
                ParentType(type_id=self.type_map[t["id"]], parent_id=self.type_map[p])
                for t in types
                for p in t["parents"]
                if p in self.type_map
            ]
            stored_links = set(
                ParentType.objects.filter(type_id__in=[link.type_id for link in links]).values_list("type_id", "parent_id")
            )
            ParentType.objects.bulk_create([link for link in links if (link.type_id, link.parent_id) not in stored_links])
            skipped = sum(t["extra_bases"] for t in types) + sum(
                1 for t in types for p in t["parents"] if p not in self.type_map
            )
            self.batch_written("types", 1)
            self._advance("types", "done", {"ParentType": skipped} if skipped else None, notes)
        bar.update(len(types))
        bar.close()

    def _preflight(self, progress: dict[str, Any]) -> None:
        """Refuse, before writing anything, a merge into a non-empty store that would clash with it.

        A source type is merged into a stored type of the same kind, name and
        version when their common properties have the same data types and their
        base types agree (its missing properties are added).  Nodes keep their
        names and external ids, which must still be free in the store.
        """
        types, _notes = self._source_types()
        problems: list[str] = []
        if progress.get("types") == "done":
            images = self._mapped(MlmdImportId.TYPE, Type, [t["id"] for t in types])
        else:
            images = {}
            for t in types:
                stored = Type.objects.filter(kind=t["kind"], name=t["name"], version=t["version"]).first()
                label = f"{TypeKind(t['kind']).label.lower()} {t['name']!r}" + (
                    f" version {t['version']!r}" if t["version"] else ""
                )
                if stored is not None:
                    images[t["id"]] = stored.id
                    declared = dict(stored.properties.values_list("name", "data_type"))
                    for name, data_type in t["properties"].items():
                        if name in declared and declared[name] != data_type:
                            problems.append(
                                f"{label}: property {name!r} has data type {data_type} in the source, "
                                f"{declared[name]} in the store"
                            )
                    if stored.base_type != t["base_type"]:
                        problems.append(f"{label}: base type {t['base_type']} in the source, {stored.base_type} in the store")
                    if t["external_id"] and stored.external_id and stored.external_id != t["external_id"]:
                        problems.append(
                            f"{label}: external_id {t['external_id']!r} in the source, {stored.external_id!r} in the store"
                        )
                if t["external_id"]:
                    clash = Type.objects.filter(kind=t["kind"], external_id=t["external_id"])
                    if stored is not None:
                        clash = clash.exclude(pk=stored.pk)
                    if clash.exists():
                        problems.append(f"{label}: external_id {t['external_id']!r} belongs to another type in the store")
        for table in _NODE_TABLES:
            kind = table.kind
            last = int(progress.get(f"{kind.name}s", 0))
            while len(problems) <= 50:
                rows = self.source.fetch(
                    f"SELECT `id`, `type_id`, `name`, `external_id` FROM {_q(table.table)} WHERE `id` > ? AND `id` <= ? "
                    "ORDER BY `id` LIMIT ?",
                    (last, self.max_ids[table.table], self.options.batch_size),
                )
                if not rows:
                    break
                last = int(rows[-1][0])
                by_type: dict[int, list[str]] = defaultdict(list)
                for _id, type_id, name, _external_id in rows:
                    if name is not None and int(type_id) in images:
                        by_type[images[int(type_id)]].append(_text(name))
                for type_id, names in by_type.items():
                    for name in kind.model.objects.filter(type_id=type_id, name__in=names).values_list("name", flat=True):
                        problems.append(f"{kind.name} {name!r}: the store already has one of that type and name")
                external_ids = [_text(row[3]) for row in rows if row[3]]
                for external_id in kind.model.objects.filter(external_id__in=external_ids).values_list("external_id", flat=True):
                    problems.append(f"{kind.name} external_id {external_id!r} is already used in the store")
        if problems:
            shown = "\n  ".join(problems[:20])
            more = f"\n  … and more ({len(problems)} found before stopping)" if len(problems) > 20 else ""
            raise ImportRefused(
                f"{self.source.description} cannot be merged into this store, which is not empty; "
                f"nothing was written by this attempt:\n  {shown}{more}"
            )

    # -- nodes -------------------------------------------------------------------

    def _copy_nodes(self, table: _NodeTable) -> None:
        assert self.run is not None
        kind = table.kind
        step = f"{kind.name}s"
        last = int(self.run.progress.get(step, 0))
        top = self.max_ids[table.table]
        done = int(self.source.scalar(f"SELECT COUNT(*) FROM {_q(table.table)} WHERE `id` <= ?", (min(last, top),)) or 0)
        bar = self.bars.bar(step, self.run.bounds["counts"][table.table], done)
        columns = ("id", "type_id", *table.columns, *_TIME_COLUMNS)
        select = ", ".join(_q(c) for c in columns)
        number = 0
        while True:
            rows = self.source.fetch(
                f"SELECT {select} FROM {_q(table.table)} WHERE `id` > ? AND `id` <= ? ORDER BY `id` LIMIT ?",
                (last, top, self.options.batch_size),
            )
            if not rows:
                break
            number += 1
            first, last = int(rows[0][0]), int(rows[-1][0])
            props, skipped, warnings = self._source_properties(table, first - 1, last)
            with atomic():
                self._write_nodes(table, columns, rows, props)
                self.batch_written(step, number)
                self._advance(step, last, {table.property_table: skipped} if skipped else None, warnings)
            bar.update(len(rows))
        bar.close()

    def _source_properties(
        self, table: _NodeTable, after: int, upto: int
    ) -> tuple[dict[int, list[tuple[str, bool, pb.Value]]], int, list[str]]:
        """Property values of the nodes with ids in (after, upto]; rows no client could read are skipped."""
        result: dict[int, list[tuple[str, bool, pb.Value]]] = defaultdict(list)
        skipped = 0
        warnings = []
        for row in self.source.fetch(
            f"SELECT {_q(table.fk)}, `name`, `is_custom_property`, {', '.join(_q(c) for c in _VALUE_COLUMNS)} "
            f"FROM {_q(table.property_table)} WHERE {_q(table.fk)} > ? AND {_q(table.fk)} <= ?",
            (after, upto),
        ):
            node_id, name, custom = int(row[0]), _text(row[1]), bool(row[2])
            try:
                value = decode_value(*row[3:])
            except UnsupportedValue as exc:
                value, reason = None, str(exc)
            else:
                reason = "it holds no value"
            if value is None:
                skipped += 1
                warnings.append(f"{table.kind.name} {node_id}: property {name!r} skipped: {reason}")
                continue
            result[node_id].append((name, custom, value))
        return result, skipped, warnings

    def _write_nodes(
        self, table: _NodeTable, columns: tuple[str, ...], rows: list[tuple[Any, ...]], props: dict[int, list[Any]]
    ) -> None:
        assert self.run is not None
        kind = table.kind
        instances = []
        for row in rows:
            data = {name: (_text(v) if isinstance(v, bytes) else v) for name, v in zip(columns, row, strict=True)}
            source_type = int(data.pop("type_id"))
            source_id = int(data.pop("id"))
            if source_type not in self.type_map:
                raise MlmdSchemaError(
                    f"{kind.name} {source_id} has type id {source_type}, which is no {kind.name} type of the source"
                )
            instance = kind.model(type_id=self.type_map[source_type], **data)
            if self.run.preserve_ids:
                instance.id = source_id
            instances.append(instance)
        created = _insert(kind.model, instances)
        id_map = {int(row[0]): obj.pk for row, obj in zip(rows, created, strict=True)}
        if not self.run.preserve_ids:
            self._record_ids(table.entity, id_map.items())
        kind.property_model.objects.bulk_create(
            [
                kind.property_model(**{kind.fk_id: id_map[node_id]}, name=name, is_custom=custom, **values.value_columns(value))
                for node_id, entries in props.items()
                for name, custom, value in entries
            ],
            batch_size=1000,
        )

    # -- edges -------------------------------------------------------------------

    def _copy_events(self) -> None:
        assert self.run is not None
        step = "events"
        last = int(self.run.progress.get(step, 0))
        where = "`id` <= ? AND `artifact_id` <= ? AND `execution_id` <= ?"
        params = (self.max_ids["Event"], self.max_ids["Artifact"], self.max_ids["Execution"])
        done = int(self.source.scalar(f"SELECT COUNT(*) FROM `Event` WHERE {where} AND `id` <= ?", (*params, last)) or 0)
        bar = self.bars.bar(step, self.run.bounds["counts"]["Event"], done)
        number = 0
        while True:
            rows = self.source.fetch(
                "SELECT `id`, `artifact_id`, `execution_id`, `type`, `milliseconds_since_epoch` FROM `Event` "
                f"WHERE `id` > ? AND {where} ORDER BY `id` LIMIT ?",
                (last, *params, self.options.batch_size),
            )
            if not rows:
                break
            number += 1
            first, last = int(rows[0][0]), int(rows[-1][0])
            paths: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for event_id, is_index, index, key in self.source.fetch(
                "SELECT `event_id`, `is_index_step`, `step_index`, `step_key` FROM `EventPath` "
                f"WHERE `event_id` >= ? AND `event_id` <= ? ORDER BY {self.source.path_order()}",
                (first, last),
            ):
                paths[int(event_id)].append({"index": int(index or 0)} if is_index else {"key": _text(key or "")})
            skipped: dict[str, int] = defaultdict(int)
            warnings: list[str] = []
            with atomic():
                artifacts = self._mapped(MlmdImportId.ARTIFACT, ARTIFACT.model, [int(r[1]) for r in rows])
                executions = self._mapped(MlmdImportId.EXECUTION, EXECUTION.model, [int(r[2]) for r in rows])
                kept: list[tuple[int, Event]] = []
                for raw_id, artifact_id, execution_id, event_type, millis in rows:
                    event_id = int(raw_id)
                    if int(artifact_id) not in artifacts or int(execution_id) not in executions:
                        skipped["Event"] += 1
                        skipped["EventPath"] += len(paths.get(event_id, ()))
                        warnings.append(f"event {event_id} skipped: it links a missing artifact or execution")
                        continue
                    if millis is None:
                        warnings.append(f"event {event_id} has no time; 0 is recorded")
                    event = Event(
                        artifact_id=artifacts[int(artifact_id)],
                        execution_id=executions[int(execution_id)],
                        type=int(event_type),
                        milliseconds_since_epoch=int(millis or 0),
                        path=paths.get(event_id),
                    )
                    if self.run.preserve_ids:
                        event.id = event_id
                    kept.append((event_id, event))
                created = _insert(Event, [event for _id, event in kept])
                if not self.run.preserve_ids:
                    self._record_ids(MlmdImportId.EVENT, ((i, e.pk) for (i, _e), e in zip(kept, created, strict=True)))
                self.batch_written(step, number)
                self._advance(step, last, skipped, warnings)
            bar.update(len(rows))
        bar.close()

    def _copy_links(
        self, step: str, table: str, node_fk: str, model: type[Model], entity: int, node_kind: NodeKind
    ) -> None:
        """Attributions or associations (context ↔ artifact or execution)."""
        assert self.run is not None
        last = int(self.run.progress.get(step, 0))
        node_table = "Artifact" if node_kind is ARTIFACT else "Execution"
        node_entity = MlmdImportId.ARTIFACT if node_kind is ARTIFACT else MlmdImportId.EXECUTION
        where = f"`id` <= ? AND `context_id` <= ? AND {_q(node_fk)} <= ?"
        params = (self.max_ids[table], self.max_ids["Context"], self.max_ids[node_table])
        done = int(self.source.scalar(f"SELECT COUNT(*) FROM {_q(table)} WHERE {where} AND `id` <= ?", (*params, last)) or 0)
        bar = self.bars.bar(step, self.run.bounds["counts"][table], done)
        number = 0
        while True:
            rows = self.source.fetch(
                f"SELECT `id`, `context_id`, {_q(node_fk)} FROM {_q(table)} WHERE `id` > ? AND {where} ORDER BY `id` LIMIT ?",
                (last, *params, self.options.batch_size),
            )
            if not rows:
                break
            number += 1
            last = int(rows[-1][0])
            with atomic():
                contexts = self._mapped(MlmdImportId.CONTEXT, CONTEXT.model, [int(r[1]) for r in rows])
                nodes = self._mapped(node_entity, node_kind.model, [int(r[2]) for r in rows])
                kept = []
                warnings = []
                for link_id, context_id, node_id in rows:
                    if int(context_id) not in contexts or int(node_id) not in nodes:
                        warnings.append(f"{table.lower()} {link_id} skipped: it links a missing node")
                        continue
                    link = model(context_id=contexts[int(context_id)], **{node_fk: nodes[int(node_id)]})
                    if self.run.preserve_ids:
                        link.id = int(link_id)
                    kept.append((int(link_id), link))
                created = _insert(model, [link for _id, link in kept])
                if not self.run.preserve_ids:
                    self._record_ids(entity, ((i, link.pk) for (i, _l), link in zip(kept, created, strict=True)))
                self.batch_written(step, number)
                self._advance(step, last, {table: len(warnings)} if warnings else None, warnings)
            bar.update(len(rows))
        bar.close()

    def _copy_parent_contexts(self) -> None:
        assert self.run is not None
        step = "parent_contexts"
        last = list(self.run.progress.get(step, [0, 0]))
        top = self.max_ids["Context"]
        done = int(
            self.source.scalar(
                "SELECT COUNT(*) FROM `ParentContext` WHERE `context_id` <= ? AND `parent_context_id` <= ? "
                "AND (`context_id` < ? OR (`context_id` = ? AND `parent_context_id` <= ?))",
                (top, top, last[0], last[0], last[1]),
            )
            or 0
        )
        bar = self.bars.bar(step, self.run.bounds["counts"]["ParentContext"], done)
        number = 0
        while True:
            rows = self.source.fetch(
                "SELECT `context_id`, `parent_context_id` FROM `ParentContext` "
                "WHERE `context_id` <= ? AND `parent_context_id` <= ? "
                "AND (`context_id` > ? OR (`context_id` = ? AND `parent_context_id` > ?)) "
                "ORDER BY `context_id`, `parent_context_id` LIMIT ?",
                (top, top, last[0], last[0], last[1], self.options.batch_size),
            )
            if not rows:
                break
            number += 1
            last = [int(rows[-1][0]), int(rows[-1][1])]
            with atomic():
                contexts = self._mapped(MlmdImportId.CONTEXT, CONTEXT.model, [int(i) for r in rows for i in r])
                kept = [(int(c), int(p)) for c, p in rows if int(c) in contexts and int(p) in contexts]
                warnings = [f"parent context {p} of {c} skipped: a context is missing" for c, p in rows if (int(c), int(p)) not in kept]
                ParentContext.objects.bulk_create(
                    [ParentContext(context_id=contexts[c], parent_id=contexts[p]) for c, p in kept], batch_size=1000
                )
                self.batch_written(step, number)
                self._advance(step, last, {"ParentContext": len(warnings)} if warnings else None, warnings)
            bar.update(len(rows))
        bar.close()

    # -- verification --------------------------------------------------------------

    def _images(self, model: type[Model], entity: int, table: str, field_name: str = "id") -> QuerySet[Any]:
        """Rows of ``model`` whose ``field_name`` refers to a copy of a source row (of ``table``)."""
        assert self.run is not None
        if self.run.preserve_ids:
            return model._default_manager.filter(**{f"{field_name}__lte": self.max_ids[table]})
        copies = MlmdImportId.objects.filter(run=self.run, entity=entity).values("target_id")
        return model._default_manager.filter(**{f"{field_name}__in": Subquery(copies)})

    def verify(self) -> dict[str, Any]:
        """Counts per entity in the source and in the store, and a sample of nodes compared field by field.

        The store side is counted from the store itself (the copies of source
        rows: ids up to the source's when they were kept, the recorded mapping
        otherwise), not from what the copy loop believes it wrote.
        """
        assert self.run is not None
        source_counts = self.run.bounds["counts"]
        types = self._images(Type, MlmdImportId.TYPE, "Type")
        type_ids = list(types.values_list("id", flat=True))
        source_types, _notes = self._source_types()
        declared = {(self.type_map.get(t["id"]), name) for t in source_types for name in t["properties"]}
        target: dict[str, int] = {
            "Type": len(type_ids),
            # A merged type may declare more properties than the source's: count the source's.
            "TypeProperty": sum(
                1 for pair in TypeProperty.objects.filter(type_id__in=type_ids).values_list("type_id", "name") if pair in declared
            ),
            "ParentType": types.exclude(base_type=0).count() + ParentType.objects.filter(type_id__in=type_ids).count(),
        }
        for table in _NODE_TABLES:
            kind = table.kind
            target[table.table] = self._images(kind.model, table.entity, table.table).count()
            target[table.property_table] = self._images(kind.property_model, table.entity, table.table, kind.fk_id).count()
        events = self._images(Event, MlmdImportId.EVENT, "Event")
        target["Event"] = events.count()
        steps = 0
        for path in events.exclude(path=None).values_list("path", flat=True).iterator(chunk_size=2000):
            steps += len(json.loads(path) if isinstance(path, str) else path)
        target["EventPath"] = steps
        target["Attribution"] = self._images(Attribution, MlmdImportId.ATTRIBUTION, "Attribution").count()
        target["Association"] = self._images(Association, MlmdImportId.ASSOCIATION, "Association").count()
        target["ParentContext"] = self._images(ParentContext, MlmdImportId.CONTEXT, "Context", "context_id").count()
        skipped = self.run.progress.get("skipped", {})
        rows = []
        for name, label in _ENTITY_LABELS.items():
            row = {"entity": label, "source": source_counts[name], "target": target[name], "skipped": skipped.get(name, 0)}
            row["ok"] = row["source"] == row["target"] + row["skipped"]
            rows.append(row)
        sample = self._compare_sample()
        return {
            "source": self.run.source,
            "schema_version": self.run.schema_version,
            "ids": "preserved" if self.run.preserve_ids else "remapped",
            "counts": rows,
            "sample": sample,
            "warnings": list(self.run.progress.get("warnings", [])),
            "ok": all(r["ok"] for r in rows) and not sample["mismatches"],
        }

    def _compare_sample(self) -> dict[str, Any]:
        """Up to ``sample_size`` nodes per kind, spread evenly over the ids, read from both sides and compared."""
        assert self.run is not None
        compared = 0
        mismatches: list[dict[str, Any]] = []
        wanted = max(0, self.options.sample_size)
        for table in _NODE_TABLES:
            kind = table.kind
            total = self.run.bounds["counts"][table.table]
            if not total or not wanted:
                continue
            n = min(wanted, total)
            ids = []
            for offset in sorted({(i * total) // n for i in range(n)}):
                found = self.source.scalar(
                    f"SELECT `id` FROM {_q(table.table)} WHERE `id` <= ? ORDER BY `id` LIMIT 1 OFFSET ?",
                    (self.max_ids[table.table], offset),
                )
                if found is not None:
                    ids.append(int(found))
            id_map = self._mapped(table.entity, kind.model, ids)
            expected = self._source_messages(table, ids, id_map)
            stored = {message.id: message for message in node_services.nodes_by_ids(kind, id_map.values())}
            for source_id in ids:
                compared += 1
                got = stored.get(id_map.get(source_id, -1))
                if got is None:
                    mismatches.append({"kind": kind.name, "source_id": source_id, "field": "*", "source": "present", "target": "missing"})
                    continue
                for name, source_value, target_value in _differences(expected[source_id], got):
                    mismatches.append(
                        {
                            "kind": kind.name,
                            "source_id": source_id,
                            "target_id": got.id,
                            "field": name,
                            "source": source_value,
                            "target": target_value,
                        }
                    )
        return {"compared": compared, "mismatches": mismatches}

    def _source_messages(self, table: _NodeTable, ids: Sequence[int], id_map: dict[int, int]) -> dict[int, Any]:
        """Source nodes as the store should answer them (the store's ids, the source's everything else)."""
        if not ids:
            return {}
        kind = table.kind
        columns = ("id", "type_id", *table.columns, *_TIME_COLUMNS)
        marks = ", ".join("?" for _ in ids)
        rows = self.source.fetch(f"SELECT {', '.join(_q(c) for c in columns)} FROM {_q(table.table)} WHERE `id` IN ({marks})", ids)
        props: dict[int, list[tuple[str, bool, pb.Value]]] = defaultdict(list)
        for node_id, name, custom, *raw in self.source.fetch(
            f"SELECT {_q(table.fk)}, `name`, `is_custom_property`, {', '.join(_q(c) for c in _VALUE_COLUMNS)} "
            f"FROM {_q(table.property_table)} WHERE {_q(table.fk)} IN ({marks})",
            ids,
        ):
            try:
                value = decode_value(*raw)
            except UnsupportedValue:
                continue
            if value is not None:
                props[int(node_id)].append((_text(name), bool(custom), value))
        result = {}
        for row in rows:
            data = {name: (_text(v) if isinstance(v, bytes) else v) for name, v in zip(columns, row, strict=True)}
            source_id = int(data["id"])
            message = kind.proto()
            message.id = id_map.get(source_id, -1)
            message.type_id = self.type_map.get(int(data["type_id"]), -1)
            message.type = self.type_names.get(int(data["type_id"]), "")
            for name in (*table.columns, *_TIME_COLUMNS):
                if data[name] is not None:
                    setattr(message, name, data[name])
            for name, custom, value in props[source_id]:
                (message.custom_properties if custom else message.properties)[name].CopyFrom(value)
            result[source_id] = message
        return result

    def _write_mapping(self) -> str:
        """The source → store id mapping, as a JSON file (streamed: it may be large); its path."""
        assert self.run is not None
        path = Path(self.options.mapping_file or f"mlmd-import-{self.run.pk}-id-mapping.json").resolve()
        with path.open("w", encoding="utf-8") as out:
            out.write('{"source": ' + json.dumps(self.run.source) + f', "import": {self.run.pk}')
            for entity, label in MlmdImportId.ENTITY_CHOICES:
                out.write(f', "{label}s": {{')
                pairs = (
                    MlmdImportId.objects.filter(run=self.run, entity=entity)
                    .order_by("source_id")
                    .values_list("source_id", "target_id")
                    .iterator(chunk_size=5000)
                )
                out.write(", ".join(f'"{source_id}": {target_id}' for source_id, target_id in pairs))
                out.write("}")
            out.write("}\n")
        return str(path)


def _comparable(message: Any) -> dict[str, Any]:
    """A node message as plain data, proto values as (type URL, bytes): no descriptor pool needed."""
    from google.protobuf import json_format

    out: dict[str, Any] = {}
    for descriptor, value in message.ListFields():
        if descriptor.name in ("properties", "custom_properties"):
            entries = {}
            for name, item in value.items():
                which = item.WhichOneof("value")
                if which == "struct_value":
                    entries[name] = {"struct_value": json_format.MessageToDict(item.struct_value)}
                elif which == "proto_value":
                    entries[name] = {"proto_value": [item.proto_value.type_url, base64.b64encode(item.proto_value.value).decode()]}
                else:
                    entries[name] = {which: getattr(item, which)}
            out[descriptor.name] = entries
        elif descriptor.name == "system_metadata":
            out[descriptor.name] = base64.b64encode(value.SerializeToString()).decode()
        else:
            out[descriptor.name] = value
    return out


def _differences(want: Any, got: Any) -> Iterator[tuple[str, Any, Any]]:
    """(field, source value, store value) for every field in which two node messages differ."""
    a, b = _comparable(want), _comparable(got)
    for name in sorted(set(a) | set(b)):
        if name in ("properties", "custom_properties"):
            pa, pb_ = a.get(name, {}), b.get(name, {})
            for key in sorted(set(pa) | set(pb_)):
                if pa.get(key) != pb_.get(key):
                    yield f"{name}.{key}", pa.get(key), pb_.get(key)
        elif a.get(name) != b.get(name):
            yield name, a.get(name), b.get(name)


def _store_has_data() -> bool:
    return any(
        model.objects.exists()
        for model in (Type, ARTIFACT.model, EXECUTION.model, CONTEXT.model, Event, Attribution, Association, ParentContext)
    )


def _insert(model: type[Model], instances: list[Any]) -> list[Any]:
    """Insert rows and learn the ids the database gave them (in one statement where the backend says them)."""
    if not instances:
        return []
    connection = current_connection()
    if all(obj.pk is not None for obj in instances) or connection.features.can_return_rows_from_bulk_insert:
        return model._default_manager.bulk_create(instances, batch_size=500)
    for obj in instances:
        obj.save(force_insert=True)
    return instances


_TABLE_MODELS: dict[str, type[Model]] = {
    "Type": Type,
    "Artifact": ARTIFACT.model,
    "Execution": EXECUTION.model,
    "Context": CONTEXT.model,
    "Event": Event,
    "Attribution": Attribution,
    "Association": Association,
}


def _reserve_ids(max_ids: dict[str, int]) -> None:
    """Move the store's id counters past the source's ids before copying them.

    Rows inserted with their own ids advance SQLite's and MySQL's counters
    anyway; reserving first also keeps a write that arrives during the import
    from taking an id that a later batch needs.
    """
    connection = current_connection()
    # MySQL's ALTER TABLE commits by itself: only SQLite's counters share a transaction.
    with (atomic() if connection.vendor == "sqlite" else contextlib.nullcontext()), connection.cursor() as cursor:
        for table, model in _TABLE_MODELS.items():
            top = int(max_ids.get(table, 0))
            if not top:
                continue
            name = model._meta.db_table
            if connection.vendor == "sqlite":
                cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [name])
                found = cursor.fetchone()
                if found is None:
                    cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [name, top])
                elif int(found[0]) < top:
                    cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [top, name])
            elif connection.vendor == "mysql":
                # DDL: MySQL commits here; there is nothing else in this transaction.
                cursor.execute(f"ALTER TABLE {connection.ops.quote_name(name)} AUTO_INCREMENT = {top + 1}")


def _reset_sequences() -> None:
    """On backends that keep sequences apart from the table (PostgreSQL), move them past the copied ids."""
    from django.core.management.color import no_style

    connection = current_connection()
    statements = connection.ops.sequence_reset_sql(no_style(), list(_TABLE_MODELS.values()))
    if statements:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


def import_database(source: MlmdSource, options: ImportOptions, **kwargs: Any) -> ImportResult:
    """Copy an ml-metadata database into the store of the current alias (see ``MlmdImporter``)."""
    return MlmdImporter(source, options, **kwargs).run_import()


# ---------------------------------------------------------------------------- export


@dataclass
class ExportReport:
    path: str
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def export_sqlite(path: str, *, batch_size: int = 1000, progress: bool | None = None, progress_stream: Any = None) -> ExportReport:
    """Write this store into a new ml-metadata schema-10 SQLite file.

    The file is built beside its destination and renamed into place when
    complete, so a failed export leaves nothing that looks like a store.  The
    store is read in one transaction: a consistent snapshot even while others
    write.
    """
    target = Path(path).expanduser().resolve()
    if target.exists():
        raise MlmdSchemaError(f"{target} exists; export_mlmd writes a new file (remove it or pick another name)")
    if not target.parent.is_dir():
        raise MlmdSchemaError(f"{target.parent} is not a directory")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    bars = _Progress(progress, progress_stream or sys.stderr)
    report = ExportReport(path=str(target))
    out = sqlite3.connect(partial, isolation_level=None)
    try:
        out.execute("BEGIN")
        for statement in SQLITE_SCHEMA:
            out.execute(statement)
        out.execute("INSERT INTO `MLMDEnv` (`schema_version`) VALUES (?)", (SCHEMA_VERSION,))
        with atomic():
            _export_types(out, report)
            for table in _NODE_TABLES:
                _export_nodes(out, table, report, batch_size, bars)
            _export_events(out, report, batch_size, bars)
            links: tuple[tuple[type[Model], str, str], ...] = (
                (Attribution, "Attribution", "artifact_id"),
                (Association, "Association", "execution_id"),
            )
            for model, link_table, node_fk in links:
                rows = model._default_manager.order_by("id").values_list("id", "context_id", node_fk)
                count = 0
                for chunk in _chunked(rows.iterator(chunk_size=batch_size), batch_size):
                    out.executemany(f"INSERT INTO {_q(link_table)} (`id`, `context_id`, {_q(node_fk)}) VALUES (?, ?, ?)", chunk)
                    count += len(chunk)
                report.counts[link_table] = count
            parents = list(ParentContext.objects.order_by("context_id", "parent_id").values_list("context_id", "parent_id"))
            out.executemany("INSERT INTO `ParentContext` (`context_id`, `parent_context_id`) VALUES (?, ?)", parents)
            report.counts["ParentContext"] = len(parents)
        out.execute("COMMIT")
    except BaseException:
        out.close()
        partial.unlink(missing_ok=True)
        raise
    out.close()
    try:
        os.link(partial, target)  # unlike a rename, never replaces a file that appeared meanwhile
    except FileExistsError as exc:
        raise MlmdSchemaError(f"{target} appeared while exporting; the export is left in {partial}") from exc
    partial.unlink()
    return report


def _export_types(out: sqlite3.Connection, report: ExportReport) -> None:
    types = list(Type.objects.order_by("id"))
    external_ids: dict[str, Type] = {}
    for row in types:
        if row.external_id and row.external_id in external_ids:
            other = external_ids[row.external_id]
            raise MlmdSchemaError(
                f"types {other.name!r} and {row.name!r} share external_id {row.external_id!r}; ml-metadata requires "
                "external ids unique across all types"
            )
        if row.external_id:
            external_ids[row.external_id] = row
        if (row.name, row.kind) in _BASE_OF_SYSTEM_TYPE:
            raise MlmdSchemaError(f"type {row.name!r} has the name of an ml-metadata system type; rename it before exporting")
    # ml-metadata finds system types by name, not id: they take 1-9 as in a new
    # store when those ids are free, else the ids after ours.
    used = {row.id for row in types}
    first = 1 if not used & set(range(1, len(SYSTEM_TYPES) + 1)) else max(used) + 1
    system_ids: dict[tuple[int, int], int] = {}
    for offset, (name, kind, base) in enumerate(SYSTEM_TYPES):
        out.execute("INSERT INTO `Type` (`id`, `name`, `version`, `type_kind`) VALUES (?, ?, NULL, ?)", (first + offset, name, kind))
        system_ids[(kind, base)] = first + offset
    out.executemany(
        "INSERT INTO `Type` (`id`, `name`, `version`, `type_kind`, `description`, `external_id`) VALUES (?, ?, ?, ?, ?, ?)",
        [(t.id, t.name, t.version or None, t.kind, t.description, t.external_id or None) for t in types],
    )
    properties = list(TypeProperty.objects.order_by("type_id", "name").values_list("type_id", "name", "data_type"))
    out.executemany("INSERT INTO `TypeProperty` (`type_id`, `name`, `data_type`) VALUES (?, ?, ?)", properties)
    parents = [(t.id, system_ids[(t.kind, t.base_type)]) for t in types if t.base_type and (t.kind, t.base_type) in system_ids]
    parents += list(ParentType.objects.order_by("type_id", "parent_id").values_list("type_id", "parent_id"))
    out.executemany("INSERT INTO `ParentType` (`type_id`, `parent_type_id`) VALUES (?, ?)", parents)
    report.counts.update({"Type": len(types), "TypeProperty": len(properties), "ParentType": len(parents)})


def _chunked(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _export_nodes(out: sqlite3.Connection, table: _NodeTable, report: ExportReport, batch_size: int, bars: _Progress) -> None:
    kind = table.kind
    columns = ("id", "type_id", *table.columns, *_TIME_COLUMNS)
    queryset = kind.model.objects.order_by("id")
    bar = bars.bar(f"{kind.name}s", queryset.count())
    insert = f"INSERT INTO {_q(table.table)} ({', '.join(_q(c) for c in columns)}) VALUES ({', '.join('?' for _ in columns)})"
    prop_columns = ("name", "is_custom", *values.VALUE_FIELDS, "proto_type_url")
    prop_insert = (
        f"INSERT INTO {_q(table.property_table)} ({_q(table.fk)}, `name`, `is_custom_property`, "
        f"{', '.join(_q(c) for c in _VALUE_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    nodes = properties = with_metadata = 0
    extra = ("system_metadata",) if kind.name != "context" else ()
    for chunk in _chunked(queryset.values_list(*columns, *extra).iterator(chunk_size=batch_size), batch_size):
        out.executemany(insert, [row[: len(columns)] for row in chunk])
        with_metadata += sum(1 for row in chunk if extra and row[-1])
        first, last = chunk[0][0], chunk[-1][0]
        prop_rows = []
        for node_id, *data in kind.property_model.objects.filter(
            **{f"{kind.fk_id}__gte": first, f"{kind.fk_id}__lte": last}
        ).order_by(kind.fk_id, "is_custom", "name").values_list(kind.fk_id, *prop_columns):
            row = SimpleNamespace(**dict(zip(prop_columns, data, strict=True)))
            value = pb.Value()
            values.fill_value(value, row)  # type: ignore[arg-type]
            encoded = encode_value(value)
            prop_rows.append((node_id, row.name, int(row.is_custom), *(encoded[c] for c in _VALUE_COLUMNS)))
        out.executemany(prop_insert, prop_rows)
        nodes += len(chunk)
        properties += len(prop_rows)
        bar.update(len(chunk))
    bar.close()
    report.counts[table.table] = nodes
    report.counts[table.property_table] = properties
    if with_metadata:
        report.warnings.append(f"{with_metadata} {kind.name}s have system_metadata, which ml-metadata's tables do not keep")


def _export_events(out: sqlite3.Connection, report: ExportReport, batch_size: int, bars: _Progress) -> None:
    queryset = Event.objects.order_by("id")
    bar = bars.bar("events", queryset.count())
    events = steps = 0
    for chunk in _chunked(
        queryset.values_list("id", "artifact_id", "execution_id", "type", "milliseconds_since_epoch", "path").iterator(chunk_size=batch_size),
        batch_size,
    ):
        out.executemany(
            "INSERT INTO `Event` (`id`, `artifact_id`, `execution_id`, `type`, `milliseconds_since_epoch`) VALUES (?, ?, ?, ?, ?)",
            [row[:5] for row in chunk],
        )
        path_rows: list[tuple[int, int, int | None, str | None]] = []
        for event_id, *_rest, stored in chunk:
            path = json.loads(stored) if isinstance(stored, str) else stored
            for step in path or []:
                if "index" in step:
                    path_rows.append((event_id, 1, int(step["index"]), None))
                else:
                    path_rows.append((event_id, 0, None, step["key"]))
        out.executemany("INSERT INTO `EventPath` (`event_id`, `is_index_step`, `step_index`, `step_key`) VALUES (?, ?, ?, ?)", path_rows)
        events += len(chunk)
        steps += len(path_rows)
        bar.update(len(chunk))
    bar.close()
    report.counts["Event"] = events
    report.counts["EventPath"] = steps
