"""Read MLMD's ``MetadataStoreServerConfig`` (protobuf text format), as MLMD's server does."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format

from store.proto import metadata_store_pb2 as pb


class ServerConfigError(ValueError):
    """The server config file cannot be read or does not parse."""


def load_server_config(path: str | Path) -> pb.MetadataStoreServerConfig:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ServerConfigError(f"Cannot read the server config {path}: {exc}") from exc
    config = pb.MetadataStoreServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise ServerConfigError(f"{path} is not a MetadataStoreServerConfig in text format: {exc}") from exc
    _check_migration_options(config)
    return config


def _check_migration_options(config: pb.MetadataStoreServerConfig) -> None:
    """Refuse what we cannot honour rather than silently doing something else.

    MLMD's ``downgrade_to_schema_version`` rewrites the schema for an older MLMD
    and exits; our schema is Django's, and downgrading it is ``manage.py
    migrate store <migration>``.  Upgrades always run (our migrations are
    additive), so ``enable_upgrade_migration`` needs no handling.
    """
    options = config.migration_options
    if config.HasField("migration_options") and options.downgrade_to_schema_version >= 0:
        raise ServerConfigError(
            "migration_options.downgrade_to_schema_version is not supported: this store's schema is "
            "managed by Django migrations (use `manage.py migrate store <migration>`)."
        )
