"""`fusion_barrier`: make XLA materialise an array instead of recomputing it inside its consumers.

XLA fuses cheap elementwise producers into their consumers, duplicating them per consumer element. For a
gather that is a trap: the whole chain that computes the gather's operands (e.g. a radiance field's ray
sampling, points along rays, the hash-grid indices) is re-evaluated for every gathered element, 16 levels
x 8 corners x 2 features times per point in the Instant-NGP encoding. `jax.lax.optimization_barrier` does
not stop this on XLA:CPU (the barrier is expanded away before fusion; it never reaches the compiled HLO).
A conditional is never fused through, so its operand and result are real buffers: `fusion_barrier`
routes the array through a `lax.cond` whose predicate XLA cannot fold: for floats `x[0] == x[0]` (false
only when that element is NaN; the false branch returns `x + 0`, identical except that -0.0 becomes
+0.0), for integers `(x[0] | 1) != 0` (always true). The value is always x. Measured on the CPU field race's hash-grid render pass (512 rays
x 32 samples): the table gather 92 -> 18 ms forward, 181 -> 52 ms forward+backward
(benchmarks/bench_hash_grid.py). Differentiable (the cotangent passes through the same cond).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def fusion_barrier(x: jax.Array) -> jax.Array:
    """x, materialised: XLA computes it once instead of fusing its producers into every consumer."""
    x = jnp.asarray(x)
    if x.size == 0:
        return x
    first = x.reshape(-1)[0]
    if jnp.issubdtype(x.dtype, jnp.inexact):
        keep = first == first  # False only for NaN
        other = lambda v: v + jnp.zeros((), v.dtype)
    elif jnp.issubdtype(x.dtype, jnp.integer):
        keep = (first | 1) != 0  # always True; XLA folds x == x for integers, not this
        other = lambda v: v | jnp.zeros((), v.dtype)
    else:
        raise TypeError(f"fusion_barrier: expected a float or integer array, got dtype {x.dtype}")
    return jax.lax.cond(keep, lambda v: v, other, x)
