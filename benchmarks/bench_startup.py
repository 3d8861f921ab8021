"""Startup: seconds from `python -m experiments.dcgan.main ... :tiny` to its first training step, on a cold and
on a warm compilation cache.

  python -m benchmarks.bench_startup [--repeats 3] [--out FILE]

Each run is a fresh process with a fresh workdir; the time is the run's own `run.first_step_s` in
results.json (seconds since the process started — interpreter start, imports, dataset reading, state
creation and the first step's compilation and dispatch). Cold: an empty compilation cache (the datasets
are prepared beforehand, once, as a user's first run would have done). Warm: the cache the cold run filled.
The load average before and after is recorded (the machine may be shared).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from genvision_jax.train.results import environment

CONFIG = "experiments/dcgan/configs/default.py:tiny"


def one_run(env: dict, workdir: Path) -> float:
    cmd = [sys.executable, "-m", "experiments.dcgan.main", "--config", CONFIG, "--workdir", str(workdir)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return float(json.loads((workdir / "results.json").read_text())["run"]["first_step_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/startup_dcgan_tiny.json")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    cold, warm = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        base = {**os.environ, "GENVISION_DATA_DIR": str(data)}
        one_run({**base, "GENVISION_CACHE_DIR": str(tmp / "prepare_cache")}, tmp / "prepare")  # datasets
        for i in range(args.repeats):
            env = {**base, "GENVISION_CACHE_DIR": str(tmp / f"cache{i}")}
            cold.append(one_run(env, tmp / f"cold{i}"))
            warm.append(one_run(env, tmp / f"warm{i}"))
    result = {
        "benchmark": "seconds from process start to the first training step of experiments.dcgan.main :tiny",
        "command": f"python -m experiments.dcgan.main --config {CONFIG} --workdir NEW_DIR",
        "cold_s": cold, "warm_s": warm,
        "cold_median_s": statistics.median(cold), "warm_median_s": statistics.median(warm),
        "target_warm_s": 10.0,
        "environment": environment(),
        "host": {"cpus": os.cpu_count(), "machine": platform.machine(),
                 "load_average_1min_before_after": [load_before, os.getloadavg()[0]]},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"cold {cold} (median {result['cold_median_s']:.1f} s), warm {warm} (median {result['warm_median_s']:.1f} s)")


if __name__ == "__main__":
    main()
