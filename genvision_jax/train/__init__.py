"""Training substrate shared by every family: the run lifecycle, mesh and sharding, RNG streams,
optimizers, EMA, checkpoints, writers, results.json.

`train.run.Run` is the lifecycle a trainer calls top to bottom (big_vision style); the other modules
are its parts. Nothing here imports a model, a family or an experiment. Names are imported on first
use (PEP 562), so `genvision_jax.train.config` loads without JAX.
"""

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "Checkpointer": "checkpoint", "Run": "run", "ema_update": "ema", "make_optimizer": "optim",
    "stream_key": "rng", "batch_sharding": "sharding", "constrain_batch": "sharding", "make_mesh": "sharding",
    "replicated_sharding": "sharding", "to_global_batch": "sharding",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from genvision_jax.train.checkpoint import Checkpointer
    from genvision_jax.train.ema import ema_update
    from genvision_jax.train.optim import make_optimizer
    from genvision_jax.train.rng import stream_key
    from genvision_jax.train.run import Run
    from genvision_jax.train.sharding import (batch_sharding, constrain_batch, make_mesh, replicated_sharding,
                                              to_global_batch)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
