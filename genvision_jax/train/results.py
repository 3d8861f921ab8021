"""results.json: the run's numbers together with the protocol that produced them.

{metrics, protocol, config, environment (git commit, packages, devices, host), wall_time_s, run (resumed
from which step, training time, config changes accepted on resume)}.
"""

import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Mapping

import jax

_PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "grain", "tensorflow-datasets", "numpy")


def git_commit(repo_dir: str | os.PathLike | None = None) -> str | None:
    repo_dir = repo_dir or Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo_dir,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty else "")


def environment() -> dict[str, Any]:
    """Package versions, devices and host facts that a reader needs to compare numbers."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    devices = jax.devices()
    return {
        "cpu_model": cpu_model(),
        "git_commit": git_commit(),
        "packages": versions,
        "python": platform.python_version(),
        "platform": jax.default_backend(),
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "process_count": jax.process_count(),
        "host_cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


def cpu_model() -> str | None:
    """The host CPU's model name (Linux /proc/cpuinfo), since training numbers are exact per machine."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def write_results(workdir: str | os.PathLike, metrics: Mapping[str, Any], protocol: Mapping[str, Any],
                  config: Mapping[str, Any], wall_time_s: float, run: Mapping[str, Any] | None = None) -> Path:
    """Write `workdir/results.json` atomically (process 0 only); returns its path."""
    path = Path(workdir) / "results.json"
    if jax.process_index() != 0:
        return path
    doc = {
        "metrics": dict(metrics),
        "protocol": dict(protocol),
        "config": dict(config),
        "environment": environment(),
        "wall_time_s": round(float(wall_time_s), 3),
    }
    if run is not None:
        doc["run"] = dict(run)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True, default=_jsonable))
    os.replace(tmp, path)
    return path


def _jsonable(x):
    try:
        return x.item()
    except AttributeError:
        return str(x)
