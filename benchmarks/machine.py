"""Timing helpers shared by the benchmark scripts: wall time with the share of the CPUs
that other processes used meanwhile (so contended samples can be set aside), and the CPU model."""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

CONTENDED = 0.03
"""Share of the CPUs used by other processes above which a sample is set aside."""


def busy_cpu_seconds() -> float | None:
    """CPU seconds that every process has spent so far, from /proc/stat (None elsewhere)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def timed(run: Callable[[], object]) -> tuple[float, float | None]:
    """Wall time of ``run()`` and the share of all CPUs that *other* processes used meanwhile."""
    busy, own, start = busy_cpu_seconds(), sum(os.times()[:2]), time.perf_counter()
    run()
    wall = time.perf_counter() - start
    busy_after, own_after = busy_cpu_seconds(), sum(os.times()[:2])
    if busy is None or busy_after is None:
        return wall, None
    slack = 2 / os.sysconf("SC_CLK_TCK")  # both counters tick in these units
    foreign = max(0.0, (busy_after - busy) - (own_after - own) - slack)
    return wall, foreign / (wall * (os.cpu_count() or 1))


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's word for it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(load_before: tuple[float, float, float], **versions: str) -> dict[str, object]:
    """Provenance of a run: package ``versions``, Python, threads, CPU and load before/after."""
    import torch

    return dict(
        versions, python=platform.python_version(), threads=torch.get_num_threads(), cpu=cpu_model(),
        cpu_count=os.cpu_count(), loadavg_before=load_before, loadavg_after=os.getloadavg(),
    )


def write_result(output: Path, result: dict[str, object]) -> None:
    """Write ``result`` with the current UTC date as indented JSON to ``output``."""
    result = dict(result, date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {output}")
