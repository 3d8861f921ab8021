"""Instant-NGP's occupancy grid for empty-space skipping (Müller et al. 2022, §5.4 and App. E).

OccupancyGrid (empty-space skipping): a flax.struct dataclass of a [R, R, R] density estimate and its
occupancy bits over the scene box, driven by pure functions:
    occupancy_init(resolution, bounds)            all cells occupied until the first update
    occupancy_update(grid, density_fn, key, step) every `update_every` steps (16 in the paper):
        d_cell ← max(decay · d_cell, σ(random point in the cell)), decay 0.95;
        occupied = d_cell > min(mean d, threshold)  (Instant-NGP thresholds at min(mean, 0.01)).
        Every cell is re-sampled at every update (the paper samples all cells for the first 256 steps
        and a subset later; sampling all keeps the shapes fixed).
    occupancy_query(grid, points) → bool, False outside the box
    mask_density(grid, points, density) → density · occupied
`threshold` is in density units; the paper's is an optical thickness 0.01 per minimal ray-marching
step δ, i.e. pass threshold = 0.01 / δ to match it. Under jit shapes are fixed, so masking densities
does not by itself skip any computation: it zeroes the empty samples' contribution (and gradient) so
a trainer can use the query to spend a fixed sample budget on occupied space (e.g. re-distribute
samples along each ray) or to skip whole ray chunks outside jit.
"""

from __future__ import annotations

from typing import Callable

import flax
import jax
import jax.numpy as jnp

from genvision_jax.rendering.box import Bounds, box, inside_box, to_unit_cube


@flax.struct.dataclass
class OccupancyGrid:
    density: jax.Array  # float32 [R, R, R]: decayed running max of sampled density per cell
    occupied: jax.Array  # bool [R, R, R]
    bounds: Bounds = flax.struct.field(pytree_node=False)

    @property
    def resolution(self) -> int:
        return self.density.shape[0]


def occupancy_init(resolution: int, bounds: Bounds) -> OccupancyGrid:
    """A grid of resolution^3 cells over the box; every cell occupied until the first update."""
    if resolution < 1:
        raise ValueError(f"occupancy grid resolution must be ≥ 1, got {resolution}")
    lo, hi = box(bounds)
    bounds = (tuple(float(v) for v in lo), tuple(float(v) for v in hi))  # hashable static field
    shape = (resolution,) * 3
    return OccupancyGrid(jnp.zeros(shape, jnp.float32), jnp.ones(shape, bool), bounds)


def cell_points(grid: OccupancyGrid, key: jax.Array) -> jax.Array:
    """One uniform random world point in every cell → [R, R, R, 3]."""
    r = grid.resolution
    lo, hi = box(grid.bounds)
    ijk = jnp.stack(jnp.meshgrid(*(jnp.arange(r, dtype=jnp.float32),) * 3, indexing="ij"), axis=-1)
    u = (ijk + jax.random.uniform(key, ijk.shape)) / r
    return lo + u * (hi - lo)


def occupancy_update(
    grid: OccupancyGrid,
    density_fn: Callable[[jax.Array], jax.Array],
    key: jax.Array,
    step: jax.Array | int,
    decay: float = 0.95,
    threshold: float = 0.01,
    update_every: int = 16,
) -> OccupancyGrid:
    """Instant-NGP's update when step % update_every == 0 (a lax.cond: the density queries only run
    then), otherwise the grid unchanged. density_fn: world points [M, 3] → density [M]."""

    def update(grid):
        points = cell_points(grid, key)
        sampled = density_fn(points.reshape(-1, 3)).reshape(grid.density.shape)
        density = jnp.maximum(decay * grid.density, jax.lax.stop_gradient(sampled).astype(jnp.float32))
        occupied = density > jnp.minimum(jnp.mean(density), threshold)
        return grid.replace(density=density, occupied=occupied)

    return jax.lax.cond(jnp.asarray(step) % update_every == 0, update, lambda g: g, grid)


def occupancy_query(grid: OccupancyGrid, points: jax.Array) -> jax.Array:
    """points [..., 3] → bool [...]: the point's cell is occupied (False outside the box)."""
    r = grid.resolution
    cell = jnp.clip(jnp.floor(to_unit_cube(points, grid.bounds) * r), 0, r - 1).astype(jnp.int32)
    return grid.occupied[cell[..., 0], cell[..., 1], cell[..., 2]] & inside_box(points, grid.bounds)


def mask_density(grid: OccupancyGrid, points: jax.Array, density: jax.Array) -> jax.Array:
    """density [...] with samples in empty cells set to 0 (no loss, no gradient from them)."""
    return jnp.where(occupancy_query(grid, points), density, 0.0)
