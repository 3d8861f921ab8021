"""The scene box: axis-aligned bounds given as a half extent or as (min corner, max corner).

`bounds` is ((xmin, ymin, zmin), (xmax, ymax, zmax)) or a scalar half extent h (the cube [-h, h]^3).
Fields give density 0 outside their box; the occupancy grid covers it.
"""

from __future__ import annotations

from typing import Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

Bounds = Union[float, Sequence[Sequence[float]]]


def box(bounds: Bounds) -> tuple[np.ndarray, np.ndarray]:
    """bounds (scalar half extent or ((xmin,ymin,zmin),(xmax,ymax,zmax))) → (lo [3], hi [3]) float32."""
    if np.ndim(bounds) == 0:
        h = float(bounds)
        if not h > 0:
            raise ValueError(f"bounds as a half extent must be > 0, got {bounds}")
        lo, hi = np.full(3, -h, np.float32), np.full(3, h, np.float32)
    else:
        arr = np.asarray(bounds, np.float32)
        if arr.shape != (2, 3):
            raise ValueError(f"bounds must be a scalar or ((xmin,ymin,zmin),(xmax,ymax,zmax)), got {bounds}")
        lo, hi = arr[0], arr[1]
    if not np.all(hi > lo):
        raise ValueError(f"bounds need max > min on every axis, got lo={lo.tolist()} hi={hi.tolist()}")
    return lo, hi


def to_unit_cube(points: jax.Array, bounds: Bounds) -> jax.Array:
    """World points [..., 3] → box coordinates [..., 3], 0 at the min corner and 1 at the max (not clipped)."""
    lo, hi = box(bounds)
    return (points - lo) / (hi - lo)


def inside_box(points: jax.Array, bounds: Bounds) -> jax.Array:
    """bool [...]: the point lies in the closed box."""
    lo, hi = box(bounds)
    return jnp.all((points >= lo) & (points <= hi), axis=-1)


def zero_outside(density: jax.Array, points: jax.Array, bounds: Bounds) -> jax.Array:
    """density [...] with 0 at points [..., 3] outside the box (a select, so no inf·0 in the gradient)."""
    return jnp.where(inside_box(points, bounds), density, 0.0)
