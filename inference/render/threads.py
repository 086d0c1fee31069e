"""Torch threads fitted to the load: how many cores other processes leave
this one right now (the render worker asks before each tile)."""

from __future__ import annotations

import os


def threads_for_load(configured: int, cpus: int, others_running: int | None) -> int:
    """Torch threads for the next tile: the configured count, but no more than
    the cores that other runnable processes leave free, and at least one.
    With a core taken by another process, a second thread stalls every
    parallel operation until the scheduler gives it a turn: on 2 busy cores
    a bf16 LIIF tile took 1.3 s with 2 threads and 0.06 s with 1."""
    if others_running is None:
        return configured
    return max(1, min(configured, cpus - max(0, others_running)))


def others_running() -> int | None:
    """Threads of other processes running or waiting for a CPU right now
    (Linux: /proc/stat's procs_running less this process's own); None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            total = next(int(line.split()[1]) for line in stat if line.startswith("procs_running"))
        own = 0
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat") as handle:
                    own += handle.read().rpartition(")")[2].split()[0] == "R"
            except OSError:
                continue
        return max(0, total - own)
    except (OSError, StopIteration, ValueError, IndexError):
        return None

