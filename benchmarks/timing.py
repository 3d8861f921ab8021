"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time


def seconds(run, repeats: int) -> dict:
    """{'median', 'min', 'max'} seconds of `repeats` calls after one warm-up (and compiling) call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def compile_and_count(jitted, *args):
    """(compiled program, compile seconds, XLA's FLOP count or nan) of a jitted function for `args`."""
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return compiled, compile_s, float(cost.get("flops", float("nan"))) if cost else float("nan")
