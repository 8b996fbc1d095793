"""Server TLS from MLMD's ``MetadataStoreServerConfig.ssl_config``.

MLMD puts the PEM text itself in ``server_key``, ``server_cert`` and
``custom_ca``; we accept that, and also a path to a PEM file, which is easier
to keep out of a config checked into a repository.  ``client_verify`` turns on
mutual TLS: clients must present a certificate signed by ``custom_ca``.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from store.proto import metadata_store_pb2 as pb


class TLSConfigError(ValueError):
    """The ssl_config cannot give working server credentials."""


def server_credentials(ssl: pb.MetadataStoreServerConfig.SSLConfig) -> grpc.ServerCredentials:
    key = _pem(ssl.server_key, "server_key")
    cert = _pem(ssl.server_cert, "server_cert")
    if not key or not cert:
        raise TLSConfigError("ssl_config needs both server_key and server_cert.")
    custom_ca = _pem(ssl.custom_ca, "custom_ca") if ssl.custom_ca else None
    if ssl.client_verify and not custom_ca:
        raise TLSConfigError("ssl_config.client_verify needs custom_ca to check client certificates against.")
    return grpc.ssl_server_credentials(
        [(key, cert)],
        root_certificates=custom_ca,
        require_client_auth=bool(ssl.client_verify),
    )


def _pem(value: str, field: str) -> bytes:
    """The PEM bytes of a field that holds either PEM text or a file path."""
    if not value or "-----BEGIN" in value:
        return value.encode()
    path = Path(value).expanduser()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TLSConfigError(f"ssl_config.{field} is neither PEM text nor a readable file: {exc}") from exc
