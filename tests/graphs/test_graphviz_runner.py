"""Graphviz as a child process: a time limit, abandonment, and no orphan when its caller is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from lineage_ui import graphs

ROOT = Path(__file__).resolve().parents[2]


def slow_dot(nodes: int = 3000) -> str:
    """A graph ``dot`` needs far more than a second for (many crossings)."""
    edges = " ".join(f"n{i} -> n{(i * 7919) % nodes}; n{i} -> n{(i * 31) % nodes};" for i in range(nodes))
    return f"digraph {{ {edges} }}"


def test_svg_and_positions_from_one_layout() -> None:
    out = graphs.run_graphviz("digraph { a -> b; b -> c }", ["svg", "dot"])
    assert b"<svg" in out["svg"]
    assert b"pos=" in out["dot"]  # positions, so that a PNG needs no second layout
    png = graphs.render_positioned(out["dot"].decode(), "png")
    assert png.startswith(b"\x89PNG")


def test_a_layout_past_its_time_limit_is_killed() -> None:
    started = time.monotonic()
    with pytest.raises(graphs.LayoutTimeout):
        graphs.run_graphviz(slow_dot(), ["svg"], timeout=1)
    assert time.monotonic() - started < 10


def test_a_layout_can_be_abandoned() -> None:
    calls: list[float] = []

    def waiting(elapsed: float) -> bool:
        calls.append(elapsed)
        return len(calls) < 2

    with pytest.raises(graphs.LayoutCancelled):
        graphs.run_graphviz(slow_dot(), ["svg"], timeout=60, on_wait=waiting)
    assert len(calls) == 2


def test_errors_are_reported() -> None:
    with pytest.raises(graphs.DrawingError, match="Graphviz failed"):
        graphs.run_graphviz("digraph { oops", ["svg"])


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are a Linux feature")
def test_graphviz_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A worker killed mid-layout (SIGKILL, the OOM killer) leaves no ``dot`` running on."""
    marker = f"MLMD_TEST_MARKER={uuid.uuid4().hex}"
    script = tmp_path / "layout.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(ROOT)!r})
            from lineage_ui import graphs
            from tests.graphs.test_graphviz_runner import slow_dot
            print("started", flush=True)
            graphs.run_graphviz(slow_dot(), ["svg"], timeout=120)
            """
        )
    )
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    caller = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert caller.stdout is not None and caller.stdout.readline().strip() == b"started"
        deadline = time.monotonic() + 10
        while len(_processes_with(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_processes_with(marker)) >= 2, "dot did not start"
        os.kill(caller.pid, signal.SIGKILL)  # only the caller: its children are not signalled
        caller.wait()
        deadline = time.monotonic() + 10
        while _processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_with(marker) == []
    finally:
        if caller.poll() is None:
            os.killpg(caller.pid, signal.SIGKILL)
