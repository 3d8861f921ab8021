"""Pieces shared by every radiance field: the scene box, input checks, density activations, and the
corner indices + weights of n-linear interpolation on a regular grid (used by the hash grid, TensoRF
and Plenoxels alike).

Field contract (one signature for all fields, chosen by config through `make_field`):
    field.apply(variables, points [..., 3], viewdirs [..., 3], times [..., 1] | None)
        -> (rgb [..., 3] in [0, 1], density [...] ≥ 0)
Points are world coordinates; `bounds` is ((xmin, ymin, zmin), (xmax, ymax, zmax)) or a scalar half
extent h (the cube [-h, h]^3). Every field treats the box as its support: density is exactly 0 at
points outside the closed box (rgb is still computed there, at the clamped point for grid fields),
so samples a ray marcher draws outside the scene cost nothing and gradients stay finite.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from genvision_jax.rendering.box import Bounds, box, inside_box, to_unit_cube, zero_outside  # noqa: F401


EXP_CLIP = 15.0  # exp density is capped at e^15 ≈ 3.3e6 (torch-ngp's trunc_exp clamps its gradient there)


def check_field_inputs(points: jax.Array, viewdirs: jax.Array, times: jax.Array | None, who: str) -> jax.Array:
    """Validate the field interface; returns viewdirs broadcast to points' shape (per-ray dirs are allowed)."""
    if points.ndim < 1 or points.shape[-1] != 3:
        raise ValueError(f"{who}: points must be [..., 3], got {tuple(points.shape)}")
    if viewdirs.shape[-1] != 3:
        raise ValueError(f"{who}: viewdirs must be [..., 3], got {tuple(viewdirs.shape)}")
    try:
        viewdirs = jnp.broadcast_to(viewdirs, points.shape)
    except ValueError:
        raise ValueError(f"{who}: viewdirs {tuple(viewdirs.shape)} do not broadcast to points {tuple(points.shape)}")
    if times is not None and tuple(times.shape) != tuple(points.shape[:-1]) + (1,):
        raise ValueError(
            f"{who}: times must be [..., 1] matching points {tuple(points.shape)}, got {tuple(times.shape)}"
        )
    return viewdirs


@jax.custom_jvp
def trunc_exp(x: jax.Array) -> jax.Array:
    """exp(min(x, 15)); its derivative is exp(min(x, 15)) everywhere (straight through the cap), so a
    density above the cap can still be pushed down and nothing overflows to inf."""
    return jnp.exp(jnp.minimum(x, EXP_CLIP))


@trunc_exp.defjvp
def _trunc_exp_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    y = trunc_exp(x)
    return y, y * dx


DENSITY_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
    "exp": trunc_exp,
}


def density_activation(name: str) -> Callable[[jax.Array], jax.Array]:
    if name not in DENSITY_ACTIVATIONS:
        raise ValueError(f"unknown density activation {name!r}; valid: {sorted(DENSITY_ACTIVATIONS)}")
    return DENSITY_ACTIVATIONS[name]


def corner_offsets(dims: int) -> np.ndarray:
    """int32 [2^dims, dims]: the 0/1 offsets of a cell's corners; corner c has bit k of c on axis k."""
    return ((np.arange(2**dims)[:, None] >> np.arange(dims)) & 1).astype(np.int32)


def grid_corners(u: jax.Array, num_vertices) -> tuple[jax.Array, jax.Array]:
    """Corners and weights of n-linear interpolation on a grid with vertices at integer coordinates.

    u: [..., d] continuous vertex coordinates; clamped to [0, V-1] (V = num_vertices, a scalar or an
       array broadcastable to u, e.g. one value per hash level), so points outside clamp to the border.
    → (corners int32 [..., 2^d, d], weights [..., 2^d]) with Σ weights = 1 and Σ w·corner = clamped u.
    The lower corner is floor(u) limited to V-2, so a point on the upper face interpolates with weight 1
    on the last vertex instead of reading past the grid.
    """
    d = u.shape[-1]
    top = jnp.asarray(num_vertices, u.dtype) - 1.0
    u = jnp.clip(u, 0.0, top)
    lower = jnp.clip(jnp.floor(u), 0.0, jnp.maximum(top - 1.0, 0.0))
    frac = u - lower  # in [0, 1]; carries the gradient w.r.t. the point
    bits = corner_offsets(d)  # [C, d]
    corners = lower.astype(jnp.int32)[..., None, :] + bits
    weights = jnp.prod(jnp.where(bits.astype(bool), frac[..., None, :], 1.0 - frac[..., None, :]), axis=-1)
    return corners, weights
