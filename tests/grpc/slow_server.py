"""``manage.py`` with one deliberately slow MLMD method, for shutdown and deadline tests.

A real request has to be in flight when SIGTERM arrives or a deadline expires;
waiting on a large real request would make those tests depend on the machine's
speed.  This launcher wraps the core's ``api.call`` so that the method named by
``MLMD_TEST_SLOW_METHOD`` (default GetArtifactTypes) first prints
``slow call started`` and sleeps ``MLMD_TEST_SLOW_SECONDS`` (default 2), then
runs normally.  Everything else is the unmodified server.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmdsite.settings")

import django

django.setup()

from django.core.management import execute_from_command_line  # noqa: E402

from store.grpc import servicer  # noqa: E402

SLOW_METHOD = os.environ.get("MLMD_TEST_SLOW_METHOD", "GetArtifactTypes")
SLOW_SECONDS = float(os.environ.get("MLMD_TEST_SLOW_SECONDS", "2"))
_real_api_call = servicer._default_api_call


def _slow_api_call() -> servicer.ApiCall:
    call = _real_api_call()

    def slow(method: str, request: Any) -> Any:
        if method == SLOW_METHOD:
            print("slow call started", file=sys.stderr, flush=True)
            time.sleep(SLOW_SECONDS)
        return call(method, request)

    return slow


servicer._default_api_call = _slow_api_call

if __name__ == "__main__":
    execute_from_command_line(["manage.py", *sys.argv[1:]])
