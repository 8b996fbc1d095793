"""Keep the gRPC server's threads on chosen CPUs (``grpcserver --cpus``).

A call hops between the server's threads: grpcio's completion-queue thread
takes the request, a request thread runs it, the reply goes back through
grpcio.  When the scheduler spreads those threads over CPUs, every hop is a
cross-CPU wakeup, and on a virtual machine each of those costs far more than
on bare metal.  Held on one CPU, the threads hand the call over on that CPU.
The GIL runs one thread's Python at a time anyway, so what the server gives up
is the part of its work done outside the GIL (SQLite, protobuf) on other CPUs,
and the scheduler's freedom to move it away from a busy CPU.  Off by default.
"""

from __future__ import annotations

import contextlib
import os


class AffinityError(ValueError):
    """A CPU list that cannot be parsed or used on this machine."""


def parse_cpu_list(text: str) -> frozenset[int]:
    """CPU numbers in taskset's list syntax: ``"1"``, ``"0,2"``, ``"0-3,6"``."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise AffinityError(f"{text!r} is not a CPU list (like 1, 0,2 or 0-3)") from None
        if first < 0 or last < first:
            raise AffinityError(f"{text!r} is not a CPU list: {part!r} is no range of CPU numbers")
        cpus.update(range(first, last + 1))
    return frozenset(cpus)


def available_cpus() -> frozenset[int]:
    """The CPUs this process may run on, or an empty set where the OS does not say."""
    getter = getattr(os, "sched_getaffinity", None)
    return frozenset(getter(0)) if getter is not None else frozenset()


def check_cpus(cpus: frozenset[int]) -> None:
    """Refuse CPUs this process cannot be placed on, naming them and the ones it can."""
    if not hasattr(os, "sched_setaffinity"):
        raise AffinityError("--cpus needs sched_setaffinity, which this platform does not have (Linux does)")
    allowed = available_cpus()
    missing = sorted(cpus - allowed)
    if missing:
        raise AffinityError(
            f"CPU {', '.join(map(str, missing))} is not available to this process"
            f" (available: {format_cpu_list(allowed)})"
        )


def pin_process(cpus: frozenset[int]) -> None:
    """Put every thread of this process, and the threads it starts from now on, on ``cpus``.

    ``sched_setaffinity`` acts on one thread; a new thread inherits its
    creator's CPUs.  The threads that exist already (listed in /proc) are moved
    one by one, so a thread started at import time does not stay behind.
    """
    check_cpus(cpus)
    os.sched_setaffinity(0, cpus)
    try:
        threads = [int(name) for name in os.listdir("/proc/self/task")]
    except OSError:
        return
    for thread_id in threads:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.sched_setaffinity(thread_id, cpus)


def format_cpu_list(cpus: frozenset[int]) -> str:
    """``{0, 1, 2, 5}`` as ``"0-2,5"``."""
    ordered = sorted(cpus)
    ranges: list[str] = []
    start = previous = None
    for cpu in [*ordered, None]:
        if cpu is not None and previous is not None and cpu == previous + 1:
            previous = cpu
            continue
        if start is not None:
            ranges.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = cpu
    return ",".join(ranges)
