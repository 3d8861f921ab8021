"""Instant-NGP's radiance field, after Müller et al. 2022, "Instant Neural
Graphics Primitives with a Multiresolution Hash Encoding", §5.4 and App. E.

InstantNGPField:
    HashEncoding(x) [L·F = 32] → density MLP (1 hidden layer × 64, ReLU) → 16 values h; h_0 is
    log-space density (σ = exp(h_0), computed as `common.trunc_exp`, capped at e^15; 'softplus'
    selectable), h_1..15 are geometry features (`geo_features`).
    Colour MLP (2 hidden × 64, ReLU) on [h (all 16 values, as the paper states), SH_{l≤3}(d) (16
    coefficients, the paper's "degree 4")] → 3 → sigmoid.
    Differences from the CUDA original: flax Dense layers carry biases (tiny-cuda-nn's fused MLPs have
    none), float32 throughout.
The occupancy grid that skips its empty space is `genvision_jax.rendering.occupancy`.
"""

from __future__ import annotations


import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.models.fields.common import (
    Bounds,
    check_field_inputs,
    density_activation,
    zero_outside,
)
from genvision_jax.models.fields.encoding import HashEncoding, spherical_harmonics


class InstantNGPField(nn.Module):
    """points [..., 3], viewdirs [..., 3] (unit), times (ignored) → (rgb [..., 3] ∈ [0,1], density [...] ≥ 0)."""

    bounds: Bounds = 1.0
    hash_levels: int = 16
    hash_features: int = 2
    hash_log2_size: int = 19
    hash_min_res: int = 16
    hash_max_res: int = 2048
    density_hidden: int = 64
    geo_features: int = 15
    color_hidden: int = 64
    color_layers: int = 2
    sh_degree: int = 3
    density_activation: str = "exp"

    def setup(self):
        self.encoding = HashEncoding(
            self.bounds, self.hash_levels, self.hash_features, self.hash_log2_size, self.hash_min_res,
            self.hash_max_res,
        )
        self.density_hidden_layer = nn.Dense(self.density_hidden)
        self.density_out = nn.Dense(1 + self.geo_features)
        self.color_hidden_layers = [nn.Dense(self.color_hidden) for _ in range(self.color_layers)]
        self.color_out = nn.Dense(3)

    def _geometry(self, points: jax.Array) -> tuple[jax.Array, jax.Array]:
        """→ (density [...] ≥ 0, zero outside the box; density-MLP outputs h [..., 1 + geo_features])."""
        h = self.density_out(nn.relu(self.density_hidden_layer(self.encoding(points))))
        density = density_activation(self.density_activation)(h[..., 0])
        return zero_outside(density, points, self.bounds), h

    def density(self, points: jax.Array) -> jax.Array:
        """points [..., 3] → density [...]; for the occupancy grid (`apply(..., method='density')`)."""
        return self._geometry(points)[0]

    def __call__(self, points: jax.Array, viewdirs: jax.Array, times: jax.Array | None = None):
        del times  # static scene
        viewdirs = check_field_inputs(points, viewdirs, None, "InstantNGPField")
        density, h = self._geometry(points)
        c = jnp.concatenate([h, spherical_harmonics(viewdirs, self.sh_degree)], axis=-1)
        for layer in self.color_hidden_layers:
            c = nn.relu(layer(c))
        return nn.sigmoid(self.color_out(c)), density
