"""How fast this machine runs the interpreter right now, for the benchmarks to print beside their numbers."""

from __future__ import annotations

import time


def machine_speed_ms() -> float:
    """A fixed pure-Python workload (two million additions), in milliseconds. The shared machines
    here slow down by 1.5-5x for minutes at a time; a run whose figure is far above another's
    measured a slower machine, not slower code (66-78 ms at this project's usual speed)."""
    start = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i
    return round((time.perf_counter() - start) * 1000, 1)
