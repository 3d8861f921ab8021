"""Test harness: JAX sees 8 CPU devices, so sharding code paths run as on a pod slice."""

import os

# Must happen before JAX initializes its backends.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_enable_x64", False)
