"""Plenoxels, Fridovich-Keil et al. 2022, "Plenoxels: Radiance Fields without Neural Networks" (§3).

A dense voxel grid (the paper's is sparse; dense keeps shapes static for XLA) with, at each vertex, a
density and 3·(deg+1)² spherical-harmonic coefficients (degree 2 → 9 per channel). A point reads the
trilinear interpolation of its cell's 8 vertices; vertex i of `resolution` sits at
lo + i·(hi − lo)/(resolution − 1), so values are exact at vertices and linear along grid lines.
    density = ReLU(σ(x))
    rgb     = sigmoid(Σ_k Y_k(d) · c_k(x))   per channel
The paper (and svox2) clamps the SH colour instead of a sigmoid; the sigmoid keeps rgb in [0, 1] with
a nonzero gradient everywhere, matching the other fields' contract. Initialisation as svox2: density
0.1, SH 0 (grey). Coarse-to-fine upsampling and pruning are trainer operations on the grids.

Regularizer: `total_variation` (eq. 4) per grid, combined by `plenoxel_tv` with separate weights for
density and SH.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.models.fields.common import Bounds, check_field_inputs, grid_corners, to_unit_cube, zero_outside
from genvision_jax.nn.fusion import fusion_barrier
from genvision_jax.models.fields.encoding import spherical_harmonics


def trilinear(grid: jax.Array, u: jax.Array) -> jax.Array:
    """grid [X, Y, Z, C], u [..., 3] continuous vertex coordinates (clamped to the grid) → [..., C]."""
    corners, w = grid_corners(u, jnp.asarray(grid.shape[:3]))  # [..., 8, 3], [..., 8]
    corners = fusion_barrier(corners)  # computed once, not per gathered value (nn/fusion.py)
    vals = grid[corners[..., 0], corners[..., 1], corners[..., 2]]  # [..., 8, C]
    return jnp.einsum("...c,...cd->...d", w, vals)


class PlenoxelField(nn.Module):
    """points [..., 3], viewdirs [..., 3] (unit), times (ignored) → (rgb [..., 3] ∈ [0,1], density [...] ≥ 0)."""

    bounds: Bounds = 1.0
    resolution: int = 128
    sh_degree: int = 2
    init_density: float = 0.1

    @nn.compact
    def __call__(self, points: jax.Array, viewdirs: jax.Array, times: jax.Array | None = None):
        del times  # static scene
        viewdirs = check_field_inputs(points, viewdirs, None, "PlenoxelField")
        if self.resolution < 2:
            raise ValueError(f"PlenoxelField: resolution must be ≥ 2, got {self.resolution}")
        r, k = self.resolution, (self.sh_degree + 1) ** 2
        density_grid = self.param("density", nn.initializers.constant(self.init_density), (r, r, r, 1), jnp.float32)
        sh_grid = self.param("sh", nn.initializers.zeros, (r, r, r, 3 * k), jnp.float32)
        u = to_unit_cube(points, self.bounds) * (r - 1)
        density = jax.nn.relu(trilinear(density_grid, u)[..., 0])
        coeffs = trilinear(sh_grid, u).reshape(*points.shape[:-1], 3, k)
        rgb = nn.sigmoid(jnp.einsum("...ck,...k->...c", coeffs, spherical_harmonics(viewdirs, self.sh_degree)))
        return rgb, zero_outside(density, points, self.bounds)


def total_variation(grid: jax.Array, squared: bool = False, eps: float = 1e-12) -> jax.Array:
    """Plenoxels eq. 4 on grid [X, Y, Z, C]: (1/|V|) Σ_{v,d} sqrt(Δx² + Δy² + Δz²) with forward
    differences Δ at every vertex v having all three forward neighbours ([X−1, Y−1, Z−1] of them),
    summed over the C channels. `squared=True` drops the sqrt (what svox2's code optimises). The
    sqrt form computes sqrt(s + eps) − sqrt(eps), so a constant grid gives exactly 0 with a finite
    gradient. The paper's additional scaling of Δ by 256/resolution is left to the loss weight."""
    dx = grid[1:, :-1, :-1] - grid[:-1, :-1, :-1]
    dy = grid[:-1, 1:, :-1] - grid[:-1, :-1, :-1]
    dz = grid[:-1, :-1, 1:] - grid[:-1, :-1, :-1]
    s = dx**2 + dy**2 + dz**2
    per_voxel = s if squared else jnp.sqrt(s + eps) - jnp.sqrt(eps)
    return jnp.sum(per_voxel) / (per_voxel.size // grid.shape[-1])


def plenoxel_tv(params, density_weight: float, sh_weight: float, squared: bool = False) -> jax.Array:
    """density_weight · TV(density grid) + sh_weight · TV(SH grid) of a PlenoxelField's params."""
    return density_weight * total_variation(params["density"], squared) + sh_weight * total_variation(
        params["sh"], squared
    )
