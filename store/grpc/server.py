"""Build and run the MLMD gRPC server.

Transport concerns only: the threads that serve calls (store/grpc/engine.py),
message size limits, the standard health service, optional TLS and
bearer-token auth, and a shutdown that lets in-flight requests finish.  What a
request does is the servicer's business.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field
from types import FrameType

import grpc
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from grpc_health.v1 import health, health_pb2

from mlmdsite.env import envstr
from store.grpc import connection
from store.grpc.affinity import format_cpu_list, pin_process
from store.grpc.auth import BearerToken
from store.grpc.engine import CallServer, EngineError, method_paths
from store.grpc.pool import ConnectionStack
from store.grpc.servicer import SERVICE_NAME, ApiCall, MetadataStoreServicer
from store.grpc.tls import server_credentials
from store.proto import metadata_store_pb2 as pb

logger = logging.getLogger("store.grpc")

DEFAULT_PORT = 8080  # MLMD's server default
DEFAULT_WORKERS = 16
DEFAULT_GRACE_SECONDS = 30.0


class ServerStartError(RuntimeError):
    """The server could not be built or bound (bad TLS material, port in use)."""


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = DEFAULT_WORKERS
    max_message_bytes: int = field(default_factory=lambda: int(settings.MLMD_GRPC_MAX_MESSAGE_BYTES))
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    ssl_config: pb.MetadataStoreServerConfig.SSLConfig | None = None
    token: str | None = None
    # The CPUs the server's threads are kept on (store/grpc/affinity.py); None: wherever the OS puts them.
    cpus: frozenset[int] | None = None

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)


@dataclass
class StoreServer:
    """A bound (not yet started) server and the health service that reports on it."""

    server: CallServer
    health: health.HealthServicer
    port: int
    options: ServerOptions
    connections: ConnectionStack

    @property
    def address(self) -> str:
        return format_address(self.options.host, self.port)

    def start(self) -> None:
        self.server.start()
        for service in ("", SERVICE_NAME):
            self.health.set(service, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, let running ones finish within ``grace`` seconds."""
        grace = self.options.grace_seconds if grace is None else grace
        # Health checks answer NOT_SERVING first, so balancers drain us.
        self.health.enter_graceful_shutdown()
        # Calls past their grace are cancelled, but a handler cannot be interrupted:
        # this returns once every handler has ended its transaction.
        self.server.stop(grace)
        self.connections.close_all()


def format_address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def token_from_environment() -> str | None:
    """``MLMD_GRPC_TOKEN`` or the content of ``MLMD_GRPC_TOKEN_FILE``; None when unset or empty."""
    token = envstr("MLMD_GRPC_TOKEN")
    return token.strip() if token and token.strip() else None


def build_server(options: ServerOptions, alias: str = DEFAULT_DB_ALIAS, call: ApiCall | None = None) -> StoreServer:
    """A server for ``alias`` bound to ``options.address`` (port 0 picks a free one)."""
    token = BearerToken(options.token) if options.token else None
    servicer = MetadataStoreServicer(alias, call, lend_connections=True)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    handlers = {
        **method_paths(SERVICE_NAME, servicer.method_handlers()),
        **method_paths(health.SERVICE_NAME, _health_handlers(health_servicer)),
    }
    try:
        server = CallServer(
            handlers,
            options.workers,
            options=_channel_options(options),
            gate=token.refusal if token else None,
            thread_name_prefix="mlmd-grpc",
        )
    except EngineError as exc:
        raise ServerStartError(str(exc)) from exc
    port = _bind(server, options)
    assert servicer.connections is not None
    return StoreServer(server=server, health=health_servicer, port=port, options=options, connections=servicer.connections)


def _health_handlers(servicer: health.HealthServicer) -> dict[str, grpc.RpcMethodHandler]:
    """grpc.health.v1.Health: Check, and Watch in grpcio's non-blocking form."""
    request, response = health_pb2.HealthCheckRequest.FromString, health_pb2.HealthCheckResponse.SerializeToString
    return {
        "Check": grpc.unary_unary_rpc_method_handler(servicer.Check, request, response),
        "Watch": grpc.unary_stream_rpc_method_handler(servicer.Watch, request, response),
    }


def _channel_options(options: ServerOptions) -> list[tuple[str, int]]:
    return [
        # Above the limit gRPC itself answers RESOURCE_EXHAUSTED; the server keeps serving.
        ("grpc.max_receive_message_length", options.max_message_bytes),
        ("grpc.max_send_message_length", options.max_message_bytes),
        # Without this a second server on a busy port binds "successfully" and
        # steals half the connections of the first (Linux SO_REUSEPORT).
        ("grpc.so_reuseport", 0),
    ]


def _bind(server: CallServer, options: ServerOptions) -> int:
    credentials = server_credentials(options.ssl_config) if options.ssl_config is not None else None
    try:
        port = server.add_port(options.address, credentials)
    except EngineError as exc:
        raise ServerStartError(f"Cannot listen on {options.address}: {exc}") from exc
    if not port:  # the C core reports a failed bind as port 0
        raise ServerStartError(f"Cannot listen on {options.address} (address in use or not available).")
    return port


def serve(options: ServerOptions, alias: str = DEFAULT_DB_ALIAS) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully.

    Must run on the main thread (Python only delivers signals there).
    """
    if options.cpus:
        # Before grpcio starts its threads, so that they inherit the CPUs.
        pin_process(options.cpus)
    store_server = build_server(options, alias)
    store_server.start()
    logger.info("%s", _startup_line(store_server, alias))
    try:
        signum = _wait_for_stop_signal()
    except BaseException:
        store_server.stop(0)
        raise
    logger.info(
        "Received %s: finishing in-flight requests (up to %ss) and stopping.",
        signal.Signals(signum).name,
        options.grace_seconds,
    )
    store_server.stop()
    connections.close_all()
    logger.info("gRPC server stopped.")


def _startup_line(store_server: StoreServer, alias: str) -> str:
    options = store_server.options
    transport = "insecure"
    if options.ssl_config is not None:
        transport = "mTLS" if options.ssl_config.client_verify else "TLS"
    return (
        f"Serving {SERVICE_NAME} on {store_server.address} ({transport}, "
        f"bearer token {'required' if options.token else 'off'}, {options.workers} workers, "
        f"max message {options.max_message_bytes} bytes"
        f"{f', CPUs {format_cpu_list(options.cpus)}' if options.cpus else ''}) over {connection.describe(alias)}"
    )


def _wait_for_stop_signal() -> int:
    """Block until SIGTERM/SIGINT; a second signal then gets the default (immediate) behaviour."""
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        # A timed wait returns to the interpreter regularly, so the handler runs promptly.
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return received[0]
