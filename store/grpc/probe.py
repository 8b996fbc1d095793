"""Wait until a gRPC store answers its health check with SERVING.

Scripts and tests start the server in the background and must not send the
first request before it listens and has migrated its database:

    python -m store.grpc.probe --target 127.0.0.1:8080 --timeout 60

Exits 0 once SERVING, 1 on timeout.  Needs no Django settings.
"""

from __future__ import annotations

import argparse
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICE_NAME = "ml_metadata.MetadataStoreService"


def health_status(target: str, service: str = SERVICE_NAME, timeout: float = 2.0) -> int:
    """The health status of ``service`` at ``target``; UNKNOWN when unreachable."""
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout).status
        except grpc.RpcError:
            return health_pb2.HealthCheckResponse.UNKNOWN


def wait_until_serving(target: str, timeout: float = 60.0, service: str = SERVICE_NAME) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if health_status(target, service, timeout=min(2.0, max(0.1, deadline - time.monotonic()))) == (
            health_pb2.HealthCheckResponse.SERVING
        ):
            return True
        time.sleep(0.2)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="host:port of the gRPC server")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default %(default)s)")
    parser.add_argument("--service", default=SERVICE_NAME, help="health service name (default %(default)s)")
    args = parser.parse_args(argv)
    return 0 if wait_until_serving(args.target, args.timeout, args.service) else 1


if __name__ == "__main__":
    sys.exit(main())
