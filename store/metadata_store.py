"""MLMD's Python API, in-process on this store.

``MetadataStore`` has the methods, arguments, defaults and return values of
``ml_metadata.metadata_store.MetadataStore`` (1.17), so code written for
ml-metadata runs after changing its imports::

    from store import metadata_store
    from store.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.fake_database.SetInParent()
    store = metadata_store.MetadataStore(config)

Each call builds the same request message ml-metadata's wrapper builds and runs
it through the store's request-level core (``store.services.api``), one
transaction per call, on a Django database alias private to this store object.
Errors arrive as ``store.errors`` exceptions, matched by MLMD status code;
ABORTED calls (a busy database) are retried like ml-metadata does.

Connections:

* ``fake_database``: an in-memory SQLite database private to the store object,
  gone when the store is closed or garbage collected.
* ``sqlite``: a file; ``connection_mode`` READONLY / READWRITE /
  READWRITE_OPENCREATE (the default).  The schema is created or upgraded when a
  writable store opens; a read-only store needs an up-to-date schema.
* ``mysql``: a MySQL/MariaDB server (needs the ``mysqlclient`` driver); the
  database is created unless ``skip_db_creation``.
* ``MetadataStoreClientConfig``: a remote MLMD gRPC server (ours or Google's).

A plain script needs no Django setup: if Django is not configured (and
``DJANGO_SETTINGS_MODULE`` is unset), a minimal configuration is installed on
first use (see ``store.standalone``).

Each store registers its own alias (``mlmd_<hex>``) in ``django.db.connections``
and drops it on ``close()``.  In tests under pytest-django, use a store
*without* a ``django_db`` mark and allow connections with
``django_db_blocker.unblock()``: Django's TestCase isolation refuses aliases
that are not in the test's ``databases`` ("Database threaded connections to
'mlmd_...' are not allowed").
"""
from __future__ import annotations

import contextlib
import dataclasses
import enum
import logging
import os
import random
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import grpc
from google.protobuf import message as _pb_message

from store import errors
from store.proto import metadata_store_pb2, metadata_store_service_pb2, metadata_store_service_pb2_grpc

logger = logging.getLogger(__name__)

_svc = metadata_store_service_pb2

# Page size used when looping over a list call (the same as ml-metadata's).
MAX_NUM_RESULT = 100

# LineageGraph fields a get_lineage_subgraph field mask may name.
_ARTIFACTS = "artifacts"
_ARTIFACT_TYPES = "artifact_types"
_EXECUTIONS = "executions"
_EXECUTION_TYPES = "execution_types"
_CONTEXTS = "contexts"
_CONTEXT_TYPES = "context_types"
_EVENTS = "events"
_ASSOCIATIONS = "associations"
_ATTRIBUTIONS = "attributions"

_SqliteMode = metadata_store_pb2.SqliteMetadataSourceConfig.ConnectionMode
_SQLITE_URI_MODES = {
    _SqliteMode.UNKNOWN: "rwc",
    _SqliteMode.READONLY: "ro",
    _SqliteMode.READWRITE: "rw",
    _SqliteMode.READWRITE_OPENCREATE: "rwc",
}


# --------------------------------------------------------------------------
# List options (ml-metadata's helpers)
# --------------------------------------------------------------------------


@enum.unique
class OrderByField(enum.Enum):
    """Fields list results can be ordered by."""

    CREATE_TIME = metadata_store_pb2.ListOperationOptions.OrderByField.Field.CREATE_TIME
    UPDATE_TIME = metadata_store_pb2.ListOperationOptions.OrderByField.Field.LAST_UPDATE_TIME
    ID = metadata_store_pb2.ListOperationOptions.OrderByField.Field.ID


@dataclasses.dataclass
class ListOptions:
    """How to list nodes.

    limit: the most results to return; all of them when None.
    order_by: the field to order by; the backend's order when None.
    is_asc: ascending (default) or descending ``order_by``.
    filter_query: an MLMD filter query (SQL-like boolean expression over node
      attributes and neighbours), e.g. ``"uri = 'path/to/data'"``.
    """

    limit: int | None = None
    order_by: OrderByField | None = None
    is_asc: bool = True
    filter_query: str | None = None


class ExtraOptions:
    """Accepted and ignored, as in the open-source ml-metadata."""

    def __init__(self, euc: Any = None) -> None:
        del euc


# --------------------------------------------------------------------------
# Errors raised while opening a store
# --------------------------------------------------------------------------


def _define_open_error(base: type[errors.StatusError]) -> type[errors.StatusError]:
    name = f"Open{base.__name__}"
    cls = type(
        name,
        (base, RuntimeError),
        {
            "__module__": __name__,
            "__qualname__": name,
            "__doc__": f"A store could not be opened ({base.__name__}); also a RuntimeError, as in ml-metadata.",
        },
    )
    globals()[name] = cls
    return cls


# ml-metadata raises RuntimeError when a store cannot be opened; ours are
# RuntimeError *and* the store.errors class of the status, so both catch it.
_OPEN_ERRORS = {code: _define_open_error(cls) for code, cls in errors._CODE_TO_EXCEPTION_CLASS.items()}


def _open_error(code: int, message: str) -> errors.StatusError:
    return _OPEN_ERRORS[code](message)


# --------------------------------------------------------------------------
# Database settings for a ConnectionConfig
# --------------------------------------------------------------------------


def sqlite_uri(filename_uri: str, connection_mode: int = _SqliteMode.READWRITE_OPENCREATE) -> str:
    """The SQLite URI for MLMD's ``filename_uri`` and ``connection_mode``.

    A plain path becomes ``file:/abs/path?mode=ro|rw|rwc``; a ``file:`` URI keeps
    its own parameters and gets ``mode`` only if it has none.
    """
    mode = _SQLITE_URI_MODES.get(connection_mode, "rwc")
    if filename_uri.startswith("file:"):
        base, _, query = filename_uri.partition("?")
        params = parse_qsl(query, keep_blank_values=True)
        if not any(key == "mode" for key, _ in params):
            params.append(("mode", mode))
        return f"{base}?{urlencode(params)}"
    path = os.path.abspath(filename_uri)
    return f"file:{quote(path)}?mode={mode}"


def _uri_mode(uri: str) -> str:
    _, _, query = uri.partition("?")
    return dict(parse_qsl(query)).get("mode", "rwc")


def _uri_path(uri: str) -> str | None:
    """The file a ``file:`` URI names, or None for an in-memory database."""
    from urllib.parse import unquote

    base, _, query = uri.partition("?")
    if dict(parse_qsl(query)).get("mode") == "memory":
        return None
    path = unquote(base[len("file:"):])
    if path.startswith("//"):  # file://host/path; only an empty host or localhost is valid
        path = path[2:]
        path = path[path.index("/"):] if "/" in path else ""
    return path or None


def sqlite_settings(uri: str) -> dict[str, Any]:
    """Django DATABASES settings for an SQLite URI (a read-only URI gets no WAL setup nor write locks)."""
    return _site_env().sqlite_database(uri)


def mysql_settings(config: metadata_store_pb2.MySQLDatabaseConfig) -> dict[str, Any]:
    """Django DATABASES settings for MLMD's ``MySQLDatabaseConfig``.

    The SSL options go to mysqlclient's ``ssl`` dict (``key``, ``cert``, ``ca``,
    ``capath``, ``cipher``); ``verify_server_cert`` asks for ``ssl_mode``
    VERIFY_IDENTITY (the server certificate and its host name are checked).
    """
    if not config.database:
        raise _open_error(errors.INVALID_ARGUMENT, "MySQLDatabaseConfig.database is required (the database name).")
    env = _site_env()
    ssl: dict[str, str] = {}
    extra: dict[str, str] = {}
    if config.HasField("ssl_options"):
        options = config.ssl_options
        for key in ("key", "cert", "ca", "capath", "cipher"):
            value = getattr(options, key)
            if value:
                ssl[key] = value
        if options.verify_server_cert:
            extra["ssl_mode"] = "VERIFY_IDENTITY"
    return env.mysql_database(
        host=config.host,
        port=config.port or None,
        name=config.database,
        user=config.user,
        password=config.password,
        socket=config.socket,
        ssl=ssl or None,
        extra=extra or None,
    )


def create_database_sql(name: str) -> str:
    """``CREATE DATABASE IF NOT EXISTS`` for a MySQL database name."""
    if "\x00" in name:
        raise _open_error(errors.INVALID_ARGUMENT, "MySQLDatabaseConfig.database may not contain NUL characters.")
    quoted = "`" + name.replace("`", "``") + "`"
    return f"CREATE DATABASE IF NOT EXISTS {quoted} CHARACTER SET utf8mb4"


def _site_env():
    from store.standalone import import_site_env

    return import_site_env()


# --------------------------------------------------------------------------
# Database aliases
# --------------------------------------------------------------------------

_registry_lock = threading.RLock()
_template_lock = threading.Lock()
_template: sqlite3.Connection | None = None
_template_sql: list[str] | None = None


def _replace_connection_settings(change: Any) -> None:
    """Apply ``change`` to a copy of ``connections.settings`` and swap the copy in.

    Django iterates that dict (``connections.all()``, ``close_old_connections``
    around every request, the test framework); swapping a new dict in, rather
    than resizing the one in use, never disturbs an iteration in another thread.
    """
    from django.db import connections

    with _registry_lock:
        updated = dict(connections.settings)
        change(updated)
        connections.__dict__["settings"] = updated  # the cached_property's value
        connections._settings = updated


def _register_alias(alias: str, db_settings: dict[str, Any]) -> None:
    """Make ``alias`` a database of ``django.db.connections``, usable from every thread."""
    from django.db import DEFAULT_DB_ALIAS, connections

    # Fill in Django's per-database defaults exactly as for settings.DATABASES.
    complete = connections.configure_settings(
        {DEFAULT_DB_ALIAS: {"ENGINE": "django.db.backends.dummy"}, alias: dict(db_settings)}
    )[alias]
    _replace_connection_settings(lambda databases: databases.__setitem__(alias, complete))


def _unregister_alias(alias: str, wrappers: Iterable[Any] = ()) -> None:
    """Close the alias's connections (in every thread we saw) and forget it."""
    from django.db import connections

    for wrapper in list(wrappers):
        _hard_close(wrapper)
    _replace_connection_settings(lambda databases: databases.pop(alias, None))
    with contextlib.suppress(AttributeError):
        del connections[alias]  # this thread's wrapper; other threads' go with their thread-locals


def _hard_close(wrapper: Any) -> None:
    """Close a Django connection even if it is another thread's or in memory.

    Django's SQLite backend ignores close() on in-memory databases and refuses
    to close another thread's connection; the raw DB-API connection does not.
    """
    raw = getattr(wrapper, "connection", None)
    if raw is None:
        return
    try:
        raw.close()
    except Exception:
        logger.debug("closing %s failed", wrapper.alias, exc_info=True)
    wrapper.connection = None


def _migrate(alias: str) -> None:
    from django.core.management import call_command

    call_command("migrate", database=alias, verbosity=0, interactive=False)


def _unapplied_migrations(alias: str, app_label: str | None = None) -> list[str]:
    """Migrations not yet applied on ``alias``: all apps, or ``app_label`` and its dependencies."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes(app_label))
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def _fake_template() -> sqlite3.Connection:
    """A migrated empty store kept in memory, copied into every new fake database."""
    global _template
    with _template_lock:
        if _template is None:
            alias = f"mlmd_template_{uuid.uuid4().hex}"
            name = f"file:{alias}?mode=memory&cache=shared"
            keeper = sqlite3.connect(name, uri=True, check_same_thread=False)
            try:
                _register_alias(alias, sqlite_settings(name))
                _migrate(alias)
                template = sqlite3.connect(":memory:", check_same_thread=False)
                keeper.backup(template)
            finally:
                from django.db import connections

                wrappers = [connections[alias]] if alias in connections.settings else []
                _unregister_alias(alias, wrappers)
                keeper.close()
            _template = template
        return _template


def _template_statements() -> list[str]:
    """The template store as SQL statements (schema and rows), without BEGIN/COMMIT."""
    global _template_sql
    template = _fake_template()
    with _template_lock:
        if _template_sql is None:
            _template_sql = [
                statement for statement in template.iterdump() if statement not in ("BEGIN TRANSACTION;", "COMMIT;")
            ]
        return _template_sql


def _initialize_empty_sqlite(uri: str) -> bool:
    """Give an empty SQLite database the current schema in one exclusive transaction.

    Creating the schema by running the migrations takes seconds; copying the
    migrated template takes milliseconds and gives the same database.  The
    exclusive lock makes it safe against another process initializing the same
    file: whoever comes second finds tables and leaves them alone.  Returns
    False when the database was not empty.
    """
    connection = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30, check_same_thread=False)
    try:
        # Most opens find a store: a plain read says so without taking a write lock.
        if connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            return False
        statements = _template_statements()
        connection.execute("BEGIN EXCLUSIVE")
        try:
            if connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                connection.execute("ROLLBACK")
                return False
            for statement in statements:
                connection.execute(statement)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return True
    finally:
        connection.close()


# --------------------------------------------------------------------------
# Backends: where a request goes
# --------------------------------------------------------------------------


class _DatabaseBackend:
    """Requests run in-process by the store's core on a private Django alias."""

    def __init__(self, config: metadata_store_pb2.ConnectionConfig) -> None:
        from store.standalone import ensure_django

        ensure_django()
        self.alias = f"mlmd_{uuid.uuid4().hex}"
        self.description = ""
        self.read_only = False
        self._keeper: sqlite3.Connection | None = None
        # Calls on a fake database are serialized: one shared-cache in-memory
        # database gives concurrent writers table locks, not busy waits.
        self._serial: threading.RLock | None = None
        self._wrappers: weakref.WeakSet = weakref.WeakSet()
        self._registered = False
        self._closed = False
        self._health_checks = False
        kind = config.WhichOneof("config")
        try:
            if kind == "fake_database":
                self._open_fake()
            elif kind == "sqlite":
                self._open_sqlite(config.sqlite)
            elif kind == "mysql":
                self._open_mysql(config.mysql)
            elif kind == "postgresql":
                raise _open_error(
                    errors.UNIMPLEMENTED, "PostgreSQL connections are not supported; use sqlite or mysql."
                )
            else:
                raise _open_error(
                    errors.INVALID_ARGUMENT,
                    "ConnectionConfig sets no database: set fake_database, sqlite or mysql.",
                )
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------

    def _register(self, db_settings: dict[str, Any]) -> None:
        _register_alias(self.alias, db_settings)
        self._registered = True

    def _track(self) -> Any:
        from django.db import connections

        wrapper = connections[self.alias]
        self._wrappers.add(wrapper)
        return wrapper

    def _open_fake(self) -> None:
        name = f"file:mlmd_fake_{uuid.uuid4().hex}?mode=memory&cache=shared"
        self.description = "fake database (in memory)"
        self._serial = threading.RLock()
        template = _fake_template()
        # The keeper holds the in-memory database open for the store's lifetime.
        self._keeper = sqlite3.connect(name, uri=True, check_same_thread=False)
        with _template_lock:
            template.backup(self._keeper)
        self._register(sqlite_settings(name))

    def _open_sqlite(self, config: metadata_store_pb2.SqliteMetadataSourceConfig) -> None:
        filename = config.filename_uri
        if filename in ("", ":memory:"):
            # SQLite's private temporary database: the same as a fake database.
            self._open_fake()
            return
        mode_number = config.connection_mode
        uri = sqlite_uri(filename, mode_number)
        mode = _uri_mode(uri)
        if mode == "memory":
            self._open_fake()
            return
        path = _uri_path(uri)
        mode_name = _SqliteMode.Name(mode_number) if mode_number in _SQLITE_URI_MODES else str(mode_number)
        self.description = f"SQLite database {path or uri!r}"
        self.read_only = mode == "ro"
        if path is not None and mode in ("ro", "rw") and not os.path.exists(path):
            raise _open_error(
                errors.NOT_FOUND,
                f"Cannot open SQLite database {path!r}: the file does not exist, and connection_mode="
                f"{mode_name} only opens existing files (use READWRITE_OPENCREATE to create it).",
            )
        if path is not None and mode == "rwc":
            parent = os.path.dirname(path) or "."
            if not os.path.isdir(parent):
                raise _open_error(
                    errors.NOT_FOUND,
                    f"Cannot create SQLite database {path!r}: the directory {parent!r} does not exist.",
                )
        self._register(sqlite_settings(uri))
        if not self.read_only:
            try:
                _initialize_empty_sqlite(uri)
            except sqlite3.Error as exc:
                raise _open_error(errors.FAILED_PRECONDITION, f"Cannot open the {self.description}: {exc}") from exc
        self._prepare_schema()

    def _open_mysql(self, config: metadata_store_pb2.MySQLDatabaseConfig) -> None:
        db_settings = mysql_settings(config)
        where = config.socket or f"{config.host or 'localhost'}:{config.port or 3306}"
        self.description = f"MySQL database {config.database!r} on {where}"
        self._health_checks = True
        if not config.skip_db_creation:
            self._create_mysql_database(db_settings)
        self._register(db_settings)
        self._prepare_schema()

    def _create_mysql_database(self, db_settings: dict[str, Any]) -> None:
        from django.core.exceptions import ImproperlyConfigured
        from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
        from django.db.utils import load_backend

        server = dict(db_settings, NAME="")
        server = connections.configure_settings({DEFAULT_DB_ALIAS: {}, "server": server})["server"]
        try:
            wrapper = load_backend(server["ENGINE"]).DatabaseWrapper(server, f"{self.alias}_server")
        except ImproperlyConfigured as exc:
            raise _open_error(
                errors.FAILED_PRECONDITION,
                f"MySQL connections need the mysqlclient driver (pip install mysqlclient): {exc}",
            ) from exc
        try:
            with wrapper.cursor() as cursor:
                cursor.execute(create_database_sql(db_settings["NAME"]))
        except DatabaseError as exc:
            raise _open_error(errors.UNAVAILABLE, f"Cannot create {self.description}: {exc}") from exc
        finally:
            wrapper.close()

    def _prepare_schema(self) -> None:
        """Create or upgrade the schema (writable) or check the store's tables are current (read-only)."""
        from django.core.exceptions import ImproperlyConfigured
        from django.db import DatabaseError

        self._track()
        try:
            if self.read_only:
                # Only the store's own tables matter to a reader; other apps'
                # migrations (admin, sessions...) depend on who created the file.
                missing = _unapplied_migrations(self.alias, "store")
                if missing:
                    state = "has no metadata store schema" if "store.0001_initial" in missing else (
                        "has an outdated metadata store schema"
                    )
                    raise _open_error(
                        errors.FAILED_PRECONDITION,
                        f"The {self.description} was opened READONLY but {state} ({len(missing)} migrations "
                        f"not applied, first {missing[0]}); open it once with READWRITE_OPENCREATE to create or "
                        "upgrade the schema.",
                    )
            elif _unapplied_migrations(self.alias):
                _migrate(self.alias)
        except ImproperlyConfigured as exc:
            raise _open_error(errors.FAILED_PRECONDITION, f"Cannot open the {self.description}: {exc}") from exc
        except DatabaseError as exc:
            # A server that cannot be reached is UNAVAILABLE; a file that is no database is the caller's to fix.
            code = errors.UNAVAILABLE if self._health_checks else errors.FAILED_PRECONDITION
            raise _open_error(code, f"Cannot open the {self.description}: {exc}") from exc

    # -- calls -----------------------------------------------------------

    def call(self, method_name: str, request: _pb_message.Message) -> _pb_message.Message:
        if self._closed:
            raise errors.make_exception(
                f"{method_name}: this MetadataStore ({self.description}) is closed.", errors.FAILED_PRECONDITION
            )
        if self.read_only and method_name.startswith("Put"):
            # What SQLite would say, but before any work and naming the cause.
            raise errors.make_exception(
                f"{method_name}: the {self.description} was opened with connection_mode=READONLY and "
                "cannot be written; open it with READWRITE or READWRITE_OPENCREATE.",
                errors.INTERNAL,
            )
        if self._serial is not None:
            with self._serial:
                return self._call(method_name, request)
        return self._call(method_name, request)

    def _call(self, method_name: str, request: _pb_message.Message) -> _pb_message.Message:
        from django.db import DatabaseError

        from store.db import using
        from store.services import api
        from store.services.errors import MetadataStoreError

        wrapper = self._track()
        if self._health_checks:
            # What Django does around each web request: drop a connection that
            # broke or outlived CONN_MAX_AGE, so a long-lived store reconnects.
            wrapper.close_if_unusable_or_obsolete()
        try:
            with using(self.alias):
                return api.call(method_name, request)
        except MetadataStoreError as exc:
            raise errors.make_exception(exc.message, exc.grpc_code.value[0]) from exc
        except DatabaseError as exc:
            # The core maps database errors itself; this keeps the contract if one slips through.
            text = str(exc).lower()
            code = errors.ABORTED if ("locked" in text or "deadlock" in text) else errors.INTERNAL
            raise errors.make_exception(f"{method_name}: {exc}", code) from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._registered:
            _unregister_alias(self.alias, self._wrappers)
            self._registered = False
        self._wrappers = weakref.WeakSet()
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None


class _GrpcBackend:
    """Requests sent to an MLMD gRPC server."""

    def __init__(self, config: metadata_store_pb2.MetadataStoreClientConfig) -> None:
        self.alias = None
        self.description = f"gRPC server {config.host}:{config.port}"
        self.read_only = False
        self._timeout = config.client_timeout_sec if config.HasField("client_timeout_sec") else None
        self._channel = self._make_channel(config)
        self._stub = metadata_store_service_pb2_grpc.MetadataStoreServiceStub(self._channel)

    @staticmethod
    def _make_channel(config: metadata_store_pb2.MetadataStoreClientConfig) -> grpc.Channel:
        target = f"{config.host}:{config.port}"
        options: list[tuple[str, Any]] = []
        arguments = config.channel_arguments
        if config.HasField("channel_arguments") and arguments.HasField("max_receive_message_length"):
            options.append(("grpc.max_receive_message_length", arguments.max_receive_message_length))
        else:
            # gRPC's 4 MiB default is the limit MLMD users keep hitting; the server bounds replies.
            options.append(("grpc.max_receive_message_length", -1))
        if config.HasField("channel_arguments") and arguments.HasField("http2_max_ping_strikes"):
            options.append(("grpc.http2.max_ping_strikes", arguments.http2_max_ping_strikes))
        if not config.HasField("ssl_config"):
            return grpc.insecure_channel(target, options=options)
        ssl = config.ssl_config
        credentials = grpc.ssl_channel_credentials(
            root_certificates=ssl.custom_ca.encode() if ssl.HasField("custom_ca") else None,
            private_key=ssl.client_key.encode() if ssl.HasField("client_key") else None,
            certificate_chain=ssl.server_cert.encode() if ssl.HasField("server_cert") else None,
        )
        return grpc.secure_channel(target, credentials, options=options)

    def call(self, method_name: str, request: _pb_message.Message) -> _pb_message.Message:
        method = getattr(self._stub, method_name)
        try:
            return method(request, timeout=self._timeout)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            details = exc.details() if hasattr(exc, "details") else None
            number = code.value[0] if code is not None else errors.UNKNOWN
            raise errors.make_exception(details or str(code or exc), number) from exc

    def close(self) -> None:
        self._channel.close()


# --------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------


def _as_our_proto(config: Any) -> Any:
    """Accept ml-metadata's own config messages too (same wire format)."""
    if isinstance(config, (metadata_store_pb2.ConnectionConfig, metadata_store_pb2.MetadataStoreClientConfig)):
        return config
    if isinstance(config, _pb_message.Message):
        name = config.DESCRIPTOR.full_name
        if name == "ml_metadata.ConnectionConfig":
            return metadata_store_pb2.ConnectionConfig.FromString(config.SerializeToString())
        if name == "ml_metadata.MetadataStoreClientConfig":
            return metadata_store_pb2.MetadataStoreClientConfig.FromString(config.SerializeToString())
    return config


class MetadataStore:
    """A store for the metadata (MLMD's Python API)."""

    # Mean wait before retrying an ABORTED call, in seconds (exponentially distributed).
    _retry_mean_delay_sec = 2.0

    def __init__(self, config: Any, enable_upgrade_migration: bool = False) -> None:
        """Open the store a config names.

        Args:
          config: ``metadata_store_pb2.ConnectionConfig`` (a database) or
            ``metadata_store_pb2.MetadataStoreClientConfig`` (a gRPC server).
          enable_upgrade_migration: accepted for ml-metadata compatibility; a
            writable database is always brought to the current schema.  Not
            allowed with a gRPC client config (the server owns its schema).
        """
        self._backend: _DatabaseBackend | _GrpcBackend | None = None
        config = _as_our_proto(config)
        self._config = config
        self._max_num_retries = 5
        if isinstance(config, metadata_store_pb2.ConnectionConfig):
            self._using_db_connection = True
            self._backend = _DatabaseBackend(config)
            if config.HasField("retry_options"):
                self._max_num_retries = config.retry_options.max_num_retries
            logger.debug("MetadataStore opened on %s (alias %s)", self._backend.description, self._backend.alias)
            return
        if not isinstance(config, metadata_store_pb2.MetadataStoreClientConfig):
            raise ValueError(
                "MetadataStore is expecting either proto.ConnectionConfig or proto.MetadataStoreClientConfig"
            )
        if enable_upgrade_migration:
            raise ValueError(
                "Upgrade migration is not allowed when using gRPC connection client. "
                "Upgrade needs to be performed on the server side."
            )
        self._using_db_connection = False
        self._backend = _GrpcBackend(config)
        logger.debug("MetadataStore connected to %s", self._backend.description)

    # -- lifetime (our additions) ------------------------------------------

    @property
    def database_alias(self) -> str | None:
        """The Django database alias this store runs on (None over gRPC)."""
        return self._backend.alias if self._backend is not None else None

    def close(self) -> None:
        """Release the connection; a fake database is discarded.  Idempotent."""
        backend = self._backend
        if backend is not None:
            backend.close()

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # Never raise from a finalizer (it may run at interpreter exit, modules half gone).
        with contextlib.suppress(Exception):
            self.close()

    @property
    def pipeline_asset(self) -> None:
        """None: pipeline assets exist only in Google's internal MLMD."""
        return None

    # -- plumbing ------------------------------------------------------------

    def _call(self, method_name: str, request: _pb_message.Message) -> Any:
        """Run one request, retrying ABORTED (a busy database) like ml-metadata."""
        if self._backend is None:
            raise errors.make_exception(f"{method_name}: the MetadataStore is not open.", errors.FAILED_PRECONDITION)
        attempts = max(1, self._max_num_retries)
        attempt = 1
        while True:
            try:
                return self._backend.call(method_name, request)
            except errors.AbortedError:
                if attempt >= attempts:
                    logger.error("%s failed after %d attempts.", method_name, attempts)
                    raise
                attempt += 1
                delay = random.expovariate(1.0 / self._retry_mean_delay_sec)
                logger.info("mlmd client retry of %s in %f secs", method_name, delay)
                time.sleep(delay)

    def _call_method_with_list_options(
        self,
        method_name: str,
        entity_field_name: str,
        request_without_list_options: _pb_message.Message,
        list_options: ListOptions | None = None,
        extra_options: ExtraOptions | None = None,
    ) -> list[Any]:
        """Page through a list call, honouring ListOptions (limit, order, filter)."""
        del extra_options
        request = request_without_list_options
        remaining: int | None = None
        if list_options is not None:
            if list_options.limit and list_options.limit < 1:
                raise errors.make_exception(
                    "Invalid list_options.limit value passed. list_options.limit is expected to be greater than 1",
                    errors.INVALID_ARGUMENT,
                )
            options = request.options
            options.max_result_size = MAX_NUM_RESULT
            options.order_by_field.is_asc = list_options.is_asc
            if list_options.limit:
                remaining = list_options.limit
            if list_options.order_by:
                options.order_by_field.field = list_options.order_by.value
            if list_options.filter_query:
                options.filter_query = list_options.filter_query
        results: list[Any] = []
        while True:
            if remaining and remaining < MAX_NUM_RESULT:
                # Ask for no more than is still wanted.
                request.options.max_result_size = remaining
            response = self._call(method_name, request)
            page = getattr(response, entity_field_name)
            results.extend(page)
            if remaining:
                remaining -= len(page)
                if remaining <= 0:
                    break
            if not response.next_page_token:
                break
            request.options.next_page_token = response.next_page_token
        return results

    # -- types ---------------------------------------------------------------

    def put_artifact_type(
        self,
        artifact_type: metadata_store_pb2.ArtifactType,
        can_add_fields: bool = False,
        can_omit_fields: bool = False,
        extra_options: ExtraOptions | None = None,
    ) -> int:
        """Inserts or updates an artifact type; returns its id.

        An existing type (same name and version) may gain properties only with
        ``can_add_fields`` and lose them only with ``can_omit_fields``; a
        changed property type is never allowed (AlreadyExistsError).
        """
        del extra_options
        request = _svc.PutArtifactTypeRequest(
            artifact_type=artifact_type, can_add_fields=can_add_fields, can_omit_fields=can_omit_fields
        )
        return self._call("PutArtifactType", request).type_id

    def put_execution_type(
        self,
        execution_type: metadata_store_pb2.ExecutionType,
        can_add_fields: bool = False,
        can_omit_fields: bool = False,
        extra_options: ExtraOptions | None = None,
    ) -> int:
        """Inserts or updates an execution type; returns its id (see put_artifact_type)."""
        del extra_options
        request = _svc.PutExecutionTypeRequest(
            execution_type=execution_type, can_add_fields=can_add_fields, can_omit_fields=can_omit_fields
        )
        return self._call("PutExecutionType", request).type_id

    def put_context_type(
        self,
        context_type: metadata_store_pb2.ContextType,
        can_add_fields: bool = False,
        can_omit_fields: bool = False,
        extra_options: ExtraOptions | None = None,
    ) -> int:
        """Inserts or updates a context type; returns its id (see put_artifact_type)."""
        del extra_options
        request = _svc.PutContextTypeRequest(
            context_type=context_type, can_add_fields=can_add_fields, can_omit_fields=can_omit_fields
        )
        return self._call("PutContextType", request).type_id

    def get_artifact_type(
        self, type_name: str, type_version: str | None = None, extra_options: ExtraOptions | None = None
    ) -> metadata_store_pb2.ArtifactType:
        """The artifact type with this name (and version); NotFoundError if none."""
        del extra_options
        request = _svc.GetArtifactTypeRequest(type_name=type_name)
        if type_version:
            request.type_version = type_version
        return self._call("GetArtifactType", request).artifact_type

    def get_execution_type(
        self, type_name: str, type_version: str | None = None, extra_options: ExtraOptions | None = None
    ) -> metadata_store_pb2.ExecutionType:
        """The execution type with this name (and version); NotFoundError if none."""
        del extra_options
        request = _svc.GetExecutionTypeRequest(type_name=type_name)
        if type_version:
            request.type_version = type_version
        return self._call("GetExecutionType", request).execution_type

    def get_context_type(
        self, type_name: str, type_version: str | None = None, extra_options: ExtraOptions | None = None
    ) -> metadata_store_pb2.ContextType:
        """The context type with this name (and version); NotFoundError if none."""
        del extra_options
        request = _svc.GetContextTypeRequest(type_name=type_name)
        if type_version:
            request.type_version = type_version
        return self._call("GetContextType", request).context_type

    def get_artifact_types(self, extra_options: ExtraOptions | None = None) -> list[metadata_store_pb2.ArtifactType]:
        """All artifact types."""
        del extra_options
        return list(self._call("GetArtifactTypes", _svc.GetArtifactTypesRequest()).artifact_types)

    def get_execution_types(
        self, extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.ExecutionType]:
        """All execution types."""
        del extra_options
        return list(self._call("GetExecutionTypes", _svc.GetExecutionTypesRequest()).execution_types)

    def get_context_types(self, extra_options: ExtraOptions | None = None) -> list[metadata_store_pb2.ContextType]:
        """All context types."""
        del extra_options
        return list(self._call("GetContextTypes", _svc.GetContextTypesRequest()).context_types)

    def get_artifact_types_by_id(
        self, type_ids: Iterable[int], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.ArtifactType]:
        """Artifact types with these ids (unknown ids are skipped)."""
        del extra_options
        request = _svc.GetArtifactTypesByIDRequest(type_ids=list(type_ids))
        return list(self._call("GetArtifactTypesByID", request).artifact_types)

    def get_execution_types_by_id(
        self, type_ids: Iterable[int], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.ExecutionType]:
        """Execution types with these ids (unknown ids are skipped)."""
        del extra_options
        request = _svc.GetExecutionTypesByIDRequest(type_ids=list(type_ids))
        return list(self._call("GetExecutionTypesByID", request).execution_types)

    def get_context_types_by_id(
        self, type_ids: Iterable[int], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.ContextType]:
        """Context types with these ids (unknown ids are skipped)."""
        del extra_options
        request = _svc.GetContextTypesByIDRequest(type_ids=list(type_ids))
        return list(self._call("GetContextTypesByID", request).context_types)

    def get_artifact_types_by_external_ids(
        self, external_ids: Iterable[str], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.ArtifactType]:
        """Artifact types with these external ids."""
        del extra_options
        request = _svc.GetArtifactTypesByExternalIdsRequest(external_ids=list(external_ids))
        return list(self._call("GetArtifactTypesByExternalIds", request).artifact_types)

    def get_execution_types_by_external_ids(
        self, external_ids: Iterable[str], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.ExecutionType]:
        """Execution types with these external ids."""
        del extra_options
        request = _svc.GetExecutionTypesByExternalIdsRequest(external_ids=list(external_ids))
        return list(self._call("GetExecutionTypesByExternalIds", request).execution_types)

    def get_context_types_by_external_ids(
        self, external_ids: Iterable[str], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.ContextType]:
        """Context types with these external ids."""
        del extra_options
        request = _svc.GetContextTypesByExternalIdsRequest(external_ids=list(external_ids))
        return list(self._call("GetContextTypesByExternalIds", request).context_types)

    # -- nodes: writes -----------------------------------------------------------

    def put_artifacts(
        self,
        artifacts: Sequence[metadata_store_pb2.Artifact],
        field_mask_paths: Sequence[str] | None = None,
        extra_options: ExtraOptions | None = None,
    ) -> list[int]:
        """Inserts (no id) or updates (id set) artifacts; returns their ids in order.

        With ``field_mask_paths``, an update only touches the named fields.
        """
        del extra_options
        request = _svc.PutArtifactsRequest(artifacts=list(artifacts))
        if field_mask_paths:
            request.update_mask.paths.extend(field_mask_paths)
        return list(self._call("PutArtifacts", request).artifact_ids)

    def put_executions(
        self,
        executions: Sequence[metadata_store_pb2.Execution],
        field_mask_paths: Sequence[str] | None = None,
        extra_options: ExtraOptions | None = None,
    ) -> list[int]:
        """Inserts or updates executions; returns their ids in order (see put_artifacts)."""
        del extra_options
        request = _svc.PutExecutionsRequest(executions=list(executions))
        if field_mask_paths:
            request.update_mask.paths.extend(field_mask_paths)
        return list(self._call("PutExecutions", request).execution_ids)

    def put_contexts(
        self,
        contexts: Sequence[metadata_store_pb2.Context],
        field_mask_paths: Sequence[str] | None = None,
        extra_options: ExtraOptions | None = None,
    ) -> list[int]:
        """Inserts or updates contexts; returns their ids in order (see put_artifacts)."""
        del extra_options
        request = _svc.PutContextsRequest(contexts=list(contexts))
        if field_mask_paths:
            request.update_mask.paths.extend(field_mask_paths)
        return list(self._call("PutContexts", request).context_ids)

    def put_events(
        self, events: Sequence[metadata_store_pb2.Event], extra_options: ExtraOptions | None = None
    ) -> None:
        """Inserts events; their artifacts and executions must exist."""
        del extra_options
        self._call("PutEvents", _svc.PutEventsRequest(events=list(events)))

    def put_execution(
        self,
        execution: metadata_store_pb2.Execution,
        artifact_and_events: Sequence[tuple[metadata_store_pb2.Artifact, metadata_store_pb2.Event | None]],
        contexts: Sequence[metadata_store_pb2.Context] | None,
        reuse_context_if_already_exist: bool = False,
        reuse_artifact_if_already_exist_by_external_id: bool = False,
        force_reuse_context: bool = False,
        force_update_time: bool = False,
        extra_options: ExtraOptions | None = None,
    ) -> tuple[int, list[int], list[int]]:
        """Atomically writes an execution, its artifacts and events, and links them to contexts.

        Returns (execution id, artifact ids, context ids).
        """
        del extra_options
        request = _svc.PutExecutionRequest(
            execution=execution,
            contexts=list(contexts) if contexts else [],
            options=_svc.PutExecutionRequest.Options(
                reuse_context_if_already_exist=reuse_context_if_already_exist,
                reuse_artifact_if_already_exist_by_external_id=reuse_artifact_if_already_exist_by_external_id,
                force_reuse_context=force_reuse_context,
                force_update_time=force_update_time,
            ),
        )
        for pair in artifact_and_events:
            if not pair:
                continue
            added = request.artifact_event_pairs.add(artifact=pair[0])
            if len(pair) == 2 and pair[1] is not None:
                added.event.CopyFrom(pair[1])
        response = self._call("PutExecution", request)
        return response.execution_id, list(response.artifact_ids), list(response.context_ids)

    def put_lineage_subgraph(
        self,
        executions: Sequence[metadata_store_pb2.Execution],
        artifacts: Sequence[metadata_store_pb2.Artifact],
        contexts: Sequence[metadata_store_pb2.Context],
        event_edges: Sequence[tuple[int | None, int | None, metadata_store_pb2.Event]],
        reuse_context_if_already_exist: bool = False,
        reuse_artifact_if_already_exist_by_external_id: bool = False,
        extra_options: ExtraOptions | None = None,
    ) -> tuple[list[int], list[int], list[int]]:
        """Atomically writes executions, artifacts, contexts and the events between them.

        ``event_edges`` are (execution index or None, artifact index or None,
        event); returns (execution ids, artifact ids, context ids).
        """
        del extra_options
        request = _svc.PutLineageSubgraphRequest(
            executions=list(executions),
            artifacts=list(artifacts),
            contexts=list(contexts),
            options=_svc.PutLineageSubgraphRequest.Options(
                reuse_context_if_already_exist=reuse_context_if_already_exist,
                reuse_artifact_if_already_exist_by_external_id=reuse_artifact_if_already_exist_by_external_id,
            ),
        )
        for execution_index, artifact_index, event in event_edges:
            edge = request.event_edges.add(event=event)
            if execution_index is not None:
                edge.execution_index = execution_index
            if artifact_index is not None:
                edge.artifact_index = artifact_index
        response = self._call("PutLineageSubgraph", request)
        return list(response.execution_ids), list(response.artifact_ids), list(response.context_ids)

    def put_attributions_and_associations(
        self,
        attributions: Sequence[metadata_store_pb2.Attribution],
        associations: Sequence[metadata_store_pb2.Association],
        extra_options: ExtraOptions | None = None,
    ) -> None:
        """Links artifacts (attributions) and executions (associations) to contexts; repeats are no-ops."""
        del extra_options
        request = _svc.PutAttributionsAndAssociationsRequest(
            attributions=list(attributions), associations=list(associations)
        )
        self._call("PutAttributionsAndAssociations", request)

    def put_parent_contexts(
        self, parent_contexts: Sequence[metadata_store_pb2.ParentContext], extra_options: ExtraOptions | None = None
    ) -> None:
        """Inserts parent-child links between existing contexts."""
        del extra_options
        self._call("PutParentContexts", _svc.PutParentContextsRequest(parent_contexts=list(parent_contexts)))

    # -- nodes: reads --------------------------------------------------------------

    def get_artifacts(
        self, list_options: ListOptions | None = None, extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Artifact]:
        """Artifacts, all of them or as ``list_options`` says."""
        del extra_options
        return self._call_method_with_list_options(
            "GetArtifacts", "artifacts", _svc.GetArtifactsRequest(), list_options
        )

    def get_executions(
        self, list_options: ListOptions | None = None, extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Execution]:
        """Executions, all of them or as ``list_options`` says."""
        del extra_options
        return self._call_method_with_list_options(
            "GetExecutions", "executions", _svc.GetExecutionsRequest(), list_options
        )

    def get_contexts(
        self, list_options: ListOptions | None = None, extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Context]:
        """Contexts, all of them or as ``list_options`` says."""
        del extra_options
        return self._call_method_with_list_options(
            "GetContexts", "contexts", _svc.GetContextsRequest(), list_options
        )

    def get_artifacts_by_id(
        self, artifact_ids: Iterable[int], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Artifact]:
        """Artifacts with these ids (unknown ids are skipped; not index-aligned)."""
        del extra_options
        request = _svc.GetArtifactsByIDRequest(artifact_ids=list(artifact_ids))
        return list(self._call("GetArtifactsByID", request).artifacts)

    def get_artifacts_and_types_by_artifact_ids(
        self, artifact_ids: Iterable[int], extra_options: ExtraOptions | None = None
    ) -> tuple[list[metadata_store_pb2.Artifact], list[metadata_store_pb2.ArtifactType]]:
        """Artifacts with these ids and the types they belong to."""
        del extra_options
        request = _svc.GetArtifactsByIDRequest(artifact_ids=list(artifact_ids), populate_artifact_types=True)
        response = self._call("GetArtifactsByID", request)
        return list(response.artifacts), list(response.artifact_types)

    def get_executions_by_id(
        self, execution_ids: Iterable[int], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Execution]:
        """Executions with these ids (unknown ids are skipped; not index-aligned)."""
        del extra_options
        request = _svc.GetExecutionsByIDRequest(execution_ids=list(execution_ids))
        return list(self._call("GetExecutionsByID", request).executions)

    def get_contexts_by_id(
        self, context_ids: Iterable[int], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Context]:
        """Contexts with these ids (unknown ids are skipped; not index-aligned)."""
        del extra_options
        request = _svc.GetContextsByIDRequest(context_ids=list(context_ids))
        return list(self._call("GetContextsByID", request).contexts)

    def get_artifacts_by_type(
        self, type_name: str, type_version: str | None = None, extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Artifact]:
        """Artifacts of a type ([] when the type does not exist)."""
        del extra_options
        request = _svc.GetArtifactsByTypeRequest(type_name=type_name)
        if type_version:
            request.type_version = type_version
        return list(self._call("GetArtifactsByType", request).artifacts)

    def get_executions_by_type(
        self, type_name: str, type_version: str | None = None, extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Execution]:
        """Executions of a type ([] when the type does not exist)."""
        del extra_options
        request = _svc.GetExecutionsByTypeRequest(type_name=type_name)
        if type_version:
            request.type_version = type_version
        return list(self._call("GetExecutionsByType", request).executions)

    def get_contexts_by_type(
        self, type_name: str, type_version: str | None = None, extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Context]:
        """Contexts of a type ([] when the type does not exist)."""
        del extra_options
        request = _svc.GetContextsByTypeRequest(type_name=type_name)
        if type_version:
            request.type_version = type_version
        return list(self._call("GetContextsByType", request).contexts)

    def get_artifact_by_type_and_name(
        self,
        type_name: str,
        artifact_name: str,
        type_version: str | None = None,
        extra_options: ExtraOptions | None = None,
    ) -> metadata_store_pb2.Artifact | None:
        """The artifact of this type with this name, or None."""
        del extra_options
        request = _svc.GetArtifactByTypeAndNameRequest(type_name=type_name, artifact_name=artifact_name)
        if type_version:
            request.type_version = type_version
        response = self._call("GetArtifactByTypeAndName", request)
        return response.artifact if response.HasField("artifact") else None

    def get_execution_by_type_and_name(
        self,
        type_name: str,
        execution_name: str,
        type_version: str | None = None,
        extra_options: ExtraOptions | None = None,
    ) -> metadata_store_pb2.Execution | None:
        """The execution of this type with this name, or None."""
        del extra_options
        request = _svc.GetExecutionByTypeAndNameRequest(type_name=type_name, execution_name=execution_name)
        if type_version:
            request.type_version = type_version
        response = self._call("GetExecutionByTypeAndName", request)
        return response.execution if response.HasField("execution") else None

    def get_context_by_type_and_name(
        self,
        type_name: str,
        context_name: str,
        type_version: str | None = None,
        extra_options: ExtraOptions | None = None,
    ) -> metadata_store_pb2.Context | None:
        """The context of this type with this name, or None."""
        del extra_options
        request = _svc.GetContextByTypeAndNameRequest(type_name=type_name, context_name=context_name)
        if type_version:
            request.type_version = type_version
        response = self._call("GetContextByTypeAndName", request)
        return response.context if response.HasField("context") else None

    def get_artifacts_by_uri(
        self, uri: str, extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Artifact]:
        """Artifacts with this uri."""
        del extra_options
        request = _svc.GetArtifactsByURIRequest(uris=[uri])
        return list(self._call("GetArtifactsByURI", request).artifacts)

    def get_artifacts_by_external_ids(
        self, external_ids: Iterable[str], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Artifact]:
        """Artifacts with these external ids."""
        del extra_options
        request = _svc.GetArtifactsByExternalIdsRequest(external_ids=list(external_ids))
        return list(self._call("GetArtifactsByExternalIds", request).artifacts)

    def get_executions_by_external_ids(
        self, external_ids: Iterable[str], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Execution]:
        """Executions with these external ids."""
        del extra_options
        request = _svc.GetExecutionsByExternalIdsRequest(external_ids=list(external_ids))
        return list(self._call("GetExecutionsByExternalIds", request).executions)

    def get_contexts_by_external_ids(
        self, external_ids: Iterable[str], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Context]:
        """Contexts with these external ids."""
        del extra_options
        request = _svc.GetContextsByExternalIdsRequest(external_ids=list(external_ids))
        return list(self._call("GetContextsByExternalIds", request).contexts)

    # -- contexts and relations ------------------------------------------------

    def get_contexts_by_artifact(
        self, artifact_id: int, extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Context]:
        """Contexts the artifact is attributed to."""
        del extra_options
        request = _svc.GetContextsByArtifactRequest(artifact_id=artifact_id)
        return list(self._call("GetContextsByArtifact", request).contexts)

    def get_contexts_by_execution(
        self, execution_id: int, extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Context]:
        """Contexts the execution is associated with."""
        del extra_options
        request = _svc.GetContextsByExecutionRequest(execution_id=execution_id)
        return list(self._call("GetContextsByExecution", request).contexts)

    def get_artifacts_by_context(
        self,
        context_id: int,
        list_options: ListOptions | None = None,
        extra_options: ExtraOptions | None = None,
    ) -> list[metadata_store_pb2.Artifact]:
        """Artifacts attributed to the context."""
        del extra_options
        request = _svc.GetArtifactsByContextRequest(context_id=context_id)
        return self._call_method_with_list_options("GetArtifactsByContext", "artifacts", request, list_options)

    def get_executions_by_context(
        self,
        context_id: int,
        list_options: ListOptions | None = None,
        extra_options: ExtraOptions | None = None,
    ) -> list[metadata_store_pb2.Execution]:
        """Executions associated with the context, newest first unless ``list_options`` says otherwise."""
        del extra_options
        if list_options is None:
            list_options = ListOptions(order_by=OrderByField.CREATE_TIME, is_asc=False)
        request = _svc.GetExecutionsByContextRequest(context_id=context_id)
        return self._call_method_with_list_options("GetExecutionsByContext", "executions", request, list_options)

    def get_parent_contexts_by_context(
        self, context_id: int, extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Context]:
        """Parents of a context."""
        del extra_options
        request = _svc.GetParentContextsByContextRequest(context_id=context_id)
        return list(self._call("GetParentContextsByContext", request).contexts)

    def get_children_contexts_by_context(
        self, context_id: int, extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Context]:
        """Children of a context."""
        del extra_options
        request = _svc.GetChildrenContextsByContextRequest(context_id=context_id)
        return list(self._call("GetChildrenContextsByContext", request).contexts)

    def get_events_by_execution_ids(
        self, execution_ids: Iterable[int], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Event]:
        """Events of these executions."""
        del extra_options
        request = _svc.GetEventsByExecutionIDsRequest(execution_ids=list(execution_ids))
        return list(self._call("GetEventsByExecutionIDs", request).events)

    def get_events_by_artifact_ids(
        self, artifact_ids: Iterable[int], extra_options: ExtraOptions | None = None
    ) -> list[metadata_store_pb2.Event]:
        """Events of these artifacts."""
        del extra_options
        request = _svc.GetEventsByArtifactIDsRequest(artifact_ids=list(artifact_ids))
        return list(self._call("GetEventsByArtifactIDs", request).events)

    # -- lineage -----------------------------------------------------------------

    def get_lineage_subgraph(
        self,
        query_options: metadata_store_pb2.LineageSubgraphQueryOptions,
        field_mask_paths: Sequence[str] | None = None,
        extra_options: ExtraOptions | None = None,
    ) -> metadata_store_pb2.LineageGraph:
        """The lineage subgraph around the starting nodes of ``query_options``.

        ``field_mask_paths`` names the LineageGraph fields to fill (all when
        empty).  As in ml-metadata, the subgraph's skeleton comes first and the
        node details and types are read by follow-up calls.
        """
        del extra_options
        paths = list(field_mask_paths) if field_mask_paths else [
            field.name for field in metadata_store_pb2.LineageGraph.DESCRIPTOR.fields
        ]
        request = _svc.GetLineageSubgraphRequest(lineage_subgraph_query_options=query_options)
        request.read_mask.paths.extend(path for path in paths if not path.endswith("_types"))
        skeleton = self._call("GetLineageSubgraph", request).lineage_subgraph

        graph = metadata_store_pb2.LineageGraph()
        if _ARTIFACTS in paths or _ARTIFACT_TYPES in paths:
            artifacts, artifact_types = self.get_artifacts_and_types_by_artifact_ids(
                artifact.id for artifact in skeleton.artifacts
            )
            if _ARTIFACTS in paths:
                graph.artifacts.extend(artifacts)
            if _ARTIFACT_TYPES in paths:
                graph.artifact_types.extend(artifact_types)
        if _EXECUTIONS in paths or _EXECUTION_TYPES in paths:
            executions = self.get_executions_by_id(execution.id for execution in skeleton.executions)
            if _EXECUTIONS in paths:
                graph.executions.extend(executions)
            if _EXECUTION_TYPES in paths:
                graph.execution_types.extend(
                    self.get_execution_types_by_id(sorted({execution.type_id for execution in executions}))
                )
        if _CONTEXTS in paths or _CONTEXT_TYPES in paths:
            contexts = self.get_contexts_by_id(context.id for context in skeleton.contexts)
            if _CONTEXTS in paths:
                graph.contexts.extend(contexts)
            if _CONTEXT_TYPES in paths:
                graph.context_types.extend(
                    self.get_context_types_by_id(sorted({context.type_id for context in contexts}))
                )
        if _EVENTS in paths:
            graph.events.extend(skeleton.events)
        if _ASSOCIATIONS in paths:
            graph.associations.extend(skeleton.associations)
        if _ATTRIBUTIONS in paths:
            graph.attributions.extend(skeleton.attributions)
        return graph


def downgrade_schema(config: metadata_store_pb2.ConnectionConfig, downgrade_to_schema_version: int) -> None:
    """ml-metadata's schema downgrade; not available here.

    ml-metadata downgrades its own SQL schema to an older library's version.
    This store keeps MLMD's data in its own (Django) schema, which no MLMD
    library version reads directly, so there is nothing to downgrade to: move
    data to another MLMD deployment through the API (or the gRPC server)
    instead.
    """
    del config
    if downgrade_to_schema_version < 0:
        raise errors.make_exception("downgrade_to_schema_version not specified", errors.INVALID_ARGUMENT)
    raise errors.make_exception(
        f"Cannot downgrade to MLMD schema_version {downgrade_to_schema_version}: this store does not use "
        "ml-metadata's SQL schema; copy the data through the MLMD API instead.",
        errors.UNIMPLEMENTED,
    )


__all__ = [
    "MAX_NUM_RESULT",
    "ExtraOptions",
    "ListOptions",
    "MetadataStore",
    "OrderByField",
    "downgrade_schema",
]
