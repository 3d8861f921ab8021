"""Training substrate shared by every family: mesh, RNG streams, optimizers, EMA, checkpoints, logging.

The pieces are small and independent; an experiment's `main.py` wires them top to bottom (big_vision
style) so a reader sees config → mesh → data → init → restore → loop → eval in one place.
"""

from genvision_jax.train.checkpoint import Checkpointer
from genvision_jax.train.ema import ema_update
from genvision_jax.train.optim import make_optimizer
from genvision_jax.train.rng import stream_key
from genvision_jax.train.sharding import (
    batch_sharding,
    constrain_batch,
    make_mesh,
    replicated_sharding,
    to_global_batch,
)

__all__ = [
    "Checkpointer",
    "batch_sharding",
    "constrain_batch",
    "ema_update",
    "make_mesh",
    "make_optimizer",
    "replicated_sharding",
    "stream_key",
    "to_global_batch",
]
