"""``grpcserver --cpus``: the server's threads kept on chosen CPUs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from store.grpc.affinity import AffinityError, available_cpus, format_cpu_list, parse_cpu_list
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from tests.grpc.servers import REPO_ROOT, run_to_exit, running

linux_only = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's")


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("1", {1}), ("0,2", {0, 2}), ("0-3,6", {0, 1, 2, 3, 6}), (" 2 , 4-5 ", {2, 4, 5}), ("3-3", {3})],
)
def test_cpu_lists_in_tasksets_syntax(text: str, cpus: set[int]) -> None:
    assert parse_cpu_list(text) == cpus


@pytest.mark.parametrize("text", ["", "x", "1,", "-1", "3-1", "1-x", "1.5"])
def test_what_is_no_cpu_list_is_refused_by_name(text: str) -> None:
    with pytest.raises(AffinityError, match=re.escape(repr(text))):
        parse_cpu_list(text)


@pytest.mark.parametrize(("cpus", "text"), [({0}, "0"), ({0, 1, 2, 5}, "0-2,5"), ({1, 3, 4, 7}, "1,3-4,7")])
def test_cpu_sets_print_as_lists(cpus: set[int], text: str) -> None:
    assert format_cpu_list(frozenset(cpus)) == text
    assert parse_cpu_list(text) == cpus


def _thread_cpus(pid: int) -> dict[str, str]:
    """{thread id: Cpus_allowed_list} of every thread of ``pid``."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        status = (task / "status").read_text()
        found[task.name] = re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.MULTILINE)[1]  # type: ignore[index]
    return found


@linux_only
def test_every_thread_of_the_server_stays_on_the_given_cpu(tmp_path: Path) -> None:
    cpu = max(available_cpus())
    for server in running(tmp_path, "--cpus", str(cpu)):
        assert f", CPUs {cpu})" in server.log()
        stub = server.stub()
        # Calls start the request threads and grpcio's own: they must land on the CPU too.
        type_id = stub.PutArtifactType(svc.PutArtifactTypeRequest(artifact_type=pb.ArtifactType(name="d")), timeout=30).type_id
        assert stub.GetArtifactTypesByID(svc.GetArtifactTypesByIDRequest(type_ids=[type_id]), timeout=30).artifact_types
        threads = _thread_cpus(server.process.pid)
        assert len(threads) > 3, threads
        assert set(threads.values()) == {str(cpu)}, threads


@linux_only
def test_without_cpus_the_server_runs_where_the_os_puts_it(tmp_path: Path) -> None:
    for server in running(tmp_path):
        assert "CPUs" not in server.log()
        assert set(_thread_cpus(server.process.pid).values()) == {format_cpu_list(available_cpus())}


@linux_only
def test_the_environment_variable_sets_the_cpus(tmp_path: Path) -> None:
    cpu = min(available_cpus())
    for server in running(tmp_path, env={"MLMD_GRPC_CPUS": str(cpu)}):
        assert set(_thread_cpus(server.process.pid).values()) == {str(cpu)}


@linux_only
@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--cpus", "4096"), {}, "--cpus: CPU 4096 is not available to this process (available: "),
        (("--cpus", "one"), {}, "--cpus: 'one' is not a CPU list (like 1, 0,2 or 0-3)"),
        ((), {"MLMD_GRPC_CPUS": "0-"}, "MLMD_GRPC_CPUS: '0-' is not a CPU list"),
    ],
)
def test_unusable_cpus_stop_the_command_before_it_listens(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    result = run_to_exit(tmp_path, *args, env=env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Serving" not in result.stderr + result.stdout


@linux_only
def test_pinning_moves_threads_that_were_already_running() -> None:
    # A thread started before pin_process() must not stay behind on the old CPUs.
    cpu = max(available_cpus())
    script = f"""
import threading, time, os
from store.grpc.affinity import pin_process
stop = threading.Event()
early = threading.Thread(target=stop.wait)
early.start()
pin_process(frozenset({{{cpu}}}))
print(os.sched_getaffinity(early.native_id), os.sched_getaffinity(0))
stop.set()
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == [f"{{{cpu}}}", f"{{{cpu}}}"]
