"""Process-level set-up: multi-host initialization and the persistent compilation cache."""

import logging
import os
from pathlib import Path

import jax

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(os.environ.get("GENVISION_CACHE_DIR", Path.home() / ".cache" / "genvision_jax"))


def enable_compilation_cache(cache_dir: str | os.PathLike | None = None, min_compile_time_s: float | None = None) -> Path:
    """Persist compiled XLA programs across runs (a re-run or resume skips most compile time); programs
    that compile faster than `min_compile_time_s` (default $GENVISION_CACHE_MIN_COMPILE_SECS, else 1 s)
    are not worth the disk read and stay uncached."""
    if min_compile_time_s is None:
        min_compile_time_s = float(os.environ.get("GENVISION_CACHE_MIN_COMPILE_SECS", 1.0))
    path = Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR / "jax_compilation_cache"
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_s))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None, local_cpu_devices: int | None = None) -> bool:
    """Call `jax.distributed.initialize` when asked for by arguments or the environment.

    Asked for when `coordinator_address` is given or `JAX_COORDINATOR_ADDRESS` is set (then
    `JAX_NUM_PROCESSES` / `JAX_PROCESS_ID` complete it). On TPU pods and SLURM/Open MPI clusters JAX
    discovers everything itself: set `GENVISION_DISTRIBUTED=1` to initialize with no arguments.
    On CPU, collectives across processes go through gloo.
    Must run before anything touches a JAX backend. Returns True when initialized.
    """
    env = os.environ
    if local_cpu_devices:  # before anything starts a backend
        jax.config.update("jax_num_cpu_devices", int(local_cpu_devices))
    coordinator_address = coordinator_address or env.get("JAX_COORDINATOR_ADDRESS")
    auto = env.get("GENVISION_DISTRIBUTED", "") not in ("", "0")
    if not coordinator_address and not auto:
        return False
    if jax.config.jax_platforms in (None, "", "cpu") or env.get("JAX_PLATFORMS") == "cpu":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {}
    if coordinator_address:
        kwargs = dict(
            coordinator_address=coordinator_address,
            num_processes=int(num_processes if num_processes is not None else env["JAX_NUM_PROCESSES"]),
            process_id=int(process_id if process_id is not None else env["JAX_PROCESS_ID"]),
        )
    jax.distributed.initialize(**kwargs)
    log.info("jax.distributed initialized: process %d of %d, %d local / %d global devices",
             jax.process_index(), jax.process_count(), jax.local_device_count(), jax.device_count())
    return True
