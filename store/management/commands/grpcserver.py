"""``manage.py grpcserver``: serve MLMD's gRPC API (``ml_metadata.MetadataStoreService``).

By default over the site database (``DATABASE_URL``); with
``--metadata_store_server_config_file`` over the database that MLMD server
config names, like ml-metadata's own ``metadata_store_server``.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.checks import Tags
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, DatabaseError

from mlmdsite.env import envstr
from store.grpc import connection
from store.grpc.affinity import AffinityError, check_cpus, parse_cpu_list
from store.grpc.config import ServerConfigError, load_server_config
from store.grpc.server import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_PORT,
    DEFAULT_WORKERS,
    ServerOptions,
    ServerStartError,
    serve,
    token_from_environment,
)
from store.grpc.tls import TLSConfigError
from store.proto import metadata_store_pb2 as pb
from store.services.errors import MetadataStoreError


class Command(BaseCommand):
    help = "Serve the MLMD gRPC API (ml_metadata.MetadataStoreService) until SIGTERM/SIGINT."
    # Model checks only: the gRPC server must not refuse to start over a URL,
    # template or admin problem of the web site, which it never loads.
    requires_system_checks = (Tags.models,)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=DEFAULT_PORT,
            help=f"Port to listen on (default {DEFAULT_PORT}; 0 picks a free one).",
        )
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="Address to listen on (default 127.0.0.1; use 0.0.0.0 or [::] to accept remote clients).",
        )
        parser.add_argument(
            "--workers", type=_positive_int, default=DEFAULT_WORKERS, help="Request threads (default %(default)s)."
        )
        parser.add_argument(
            "--max-message-bytes",
            type=_positive_int,
            default=None,
            help="Largest request/response in bytes (default MLMD_GRPC_MAX_MESSAGE_BYTES, 64 MiB).",
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=DEFAULT_GRACE_SECONDS,
            help="Seconds in-flight requests get to finish at shutdown (default %(default)s).",
        )
        parser.add_argument(
            "--cpus",
            default=None,
            help="Keep the server's threads on these CPUs, in taskset's list syntax (1, 0,2 or 0-3); default"
            " MLMD_GRPC_CPUS, else wherever the OS puts them. One CPU answers sequential calls faster on a"
            " virtual machine (see the README's Performance section).",
        )
        _add_config_file_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            token = token_from_environment()
        except ImproperlyConfigured as exc:  # MLMD_GRPC_TOKEN_FILE names an unreadable file
            raise CommandError(str(exc)) from exc
        cpus = _cpus(options["cpus"])
        server_config = self._server_config(options["metadata_store_server_config_file"])
        alias = self._database_alias(server_config)
        server_options = ServerOptions(
            host=options["host"],
            port=options["port"],
            workers=options["workers"],
            grace_seconds=options["grace"],
            ssl_config=server_config.ssl_config if server_config and server_config.HasField("ssl_config") else None,
            token=token,
            max_message_bytes=options["max_message_bytes"] or settings.MLMD_GRPC_MAX_MESSAGE_BYTES,
            cpus=cpus,
        )
        try:
            serve(server_options, alias)
        except (ServerStartError, TLSConfigError) as exc:
            raise CommandError(str(exc)) from exc

    def _server_config(self, path: str | None) -> pb.MetadataStoreServerConfig | None:
        if not path:
            return None
        try:
            return load_server_config(path)
        except ServerConfigError as exc:
            raise CommandError(str(exc)) from exc

    def _database_alias(self, server_config: pb.MetadataStoreServerConfig | None) -> str:
        """The alias to serve, registered and migrated."""
        alias = DEFAULT_DB_ALIAS
        if server_config is not None and server_config.HasField("connection_config"):
            try:
                alias = connection.register_connection(server_config.connection_config)
            except MetadataStoreError as exc:
                raise CommandError(f"connection_config: {exc.message}") from exc
        try:
            connection.migrate_if_needed(alias)
        except DatabaseError as exc:
            raise CommandError(f"Cannot prepare the database {connection.describe(alias)}: {exc}") from exc
        return alias


def _add_config_file_argument(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--metadata_store_server_config_file",
        "--metadata-store-server-config-file",
        dest="metadata_store_server_config_file",
        default=None,
        help="MLMD MetadataStoreServerConfig in protobuf text format: connection_config replaces "
        "DATABASE_URL; ssl_config turns on TLS (client_verify: mutual TLS).",
    )


def _cpus(option: str | None) -> frozenset[int] | None:
    """The CPUs of ``--cpus``, else of MLMD_GRPC_CPUS; refused (naming the source) when unusable here."""
    source, text = ("--cpus", option) if option is not None else ("MLMD_GRPC_CPUS", envstr("MLMD_GRPC_CPUS"))
    if text is None or not text.strip():
        return None
    try:
        cpus = parse_cpu_list(text)
        check_cpus(cpus)
    except AffinityError as exc:
        raise CommandError(f"{source}: {exc}") from exc
    return cpus


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"{text} is not a positive integer")
    return value
