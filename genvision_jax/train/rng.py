"""Named RNG streams.

Every random draw derives its key as `fold_in(fold_in(root, stream), step)`. No key lives in the train
state, so a run resumed at step k draws exactly the numbers an uninterrupted run draws at step k, on
any number of devices or hosts.
"""

import zlib

import jax


def stream_id(name: str) -> int:
    """A stable 31-bit integer for a stream name (crc32; Python's hash() is salted per process)."""
    if not name or not isinstance(name, str):
        raise ValueError(f"RNG stream name must be a non-empty string, got {name!r}")
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def stream_key(root: jax.Array, name: str, step) -> jax.Array:
    """Key for stream `name` at `step` (an int or a traced scalar) derived from the root key."""
    return jax.random.fold_in(jax.random.fold_in(root, stream_id(name)), step)


def root_key(seed: int) -> jax.Array:
    """The run's root key from `config.seed` (new-style typed key)."""
    return jax.random.key(int(seed))
