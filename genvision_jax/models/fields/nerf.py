"""The NeRF MLP, Mildenhall et al. 2020, "NeRF: Representing Scenes as Neural Radiance Fields for View
Synthesis", Fig. 7 (the architecture of the official code):

    γ(x) → [Dense 256 + ReLU] × 8, with γ(x) concatenated to the activation of layer 4 (0-based, i.e.
    the fifth layer's output, as in DeepSDF) so layer 5 takes 256 + |γ(x)| inputs
      → density head Dense 1 + activation (ReLU in the paper; softplus selectable)
      → feature Dense 256 (linear) ‖ γ(d) → Dense 128 + ReLU → Dense 3 + sigmoid = rgb.

γ is `positional_encoding` (with π, input included: 63-d for x with L=10, 27-d for d with L=4) on
box-normalised coordinates in [-1, 1]. The position encoder is configurable: 'fourier', 'none' (the
normalised xyz themselves) or 'hash' (Instant-NGP's HashEncoding, after which a small MLP suffices);
depth, width and skip layers are configurable so CPU configs can be small.

FreeNeRF (regularizers.freenerf_mask) multiplies the Fourier encodings by frequency masks; pass them as
`freq_masks=(position_mask, direction_mask)`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.models.fields.common import (
    Bounds,
    check_field_inputs,
    density_activation,
    to_unit_cube,
    zero_outside,
)
from genvision_jax.models.fields.encoding import FourierEncoding, HashEncoding

ENCODERS = ("none", "fourier", "hash")


class SkipMLP(nn.Module):
    """x [..., D] → [..., width] (or [..., out_features]): depth × (Dense(width) + ReLU); after layer i in
    `skips` the input x is concatenated to the activation (so layer i+1 reads width + D features)."""

    depth: int = 8
    width: int = 256
    skips: Sequence[int] = (4,)
    out_features: int | None = None
    out_kernel_init: Callable | None = None  # the output layer's kernel init (None: Dense's default)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.depth < 1 or self.width < 1:
            raise ValueError(f"SkipMLP: depth and width must be ≥ 1, got {self.depth}, {self.width}")
        bad = [s for s in self.skips if not 0 <= s <= self.depth - 2]
        if bad:
            raise ValueError(
                f"SkipMLP: skip layers {bad} out of range; a skip after layer i feeds layer i+1, so i must be "
                f"in 0..{self.depth - 2} for depth {self.depth}"
            )
        h = x
        for i in range(self.depth):
            h = nn.relu(nn.Dense(self.width, name=f"layer{i}")(h))
            if i in self.skips:
                h = jnp.concatenate([x, h], axis=-1)
        if self.out_features is not None:
            init = {} if self.out_kernel_init is None else {"kernel_init": self.out_kernel_init}
            h = nn.Dense(self.out_features, name="out", **init)(h)
        return h


def normalized_coords(points: jax.Array, bounds: Bounds) -> jax.Array:
    """World points → [-1, 1]^3 box coordinates (not clipped; the Fourier encoding is defined everywhere)."""
    return 2.0 * to_unit_cube(points, bounds) - 1.0


class NeRFMLP(nn.Module):
    """points [..., 3], viewdirs [..., 3], times (ignored) → (rgb [..., 3] ∈ [0,1], density [...] ≥ 0)."""

    bounds: Bounds = 1.0
    encoder: str = "fourier"
    pos_freqs: int = 10
    dir_freqs: int = 4
    depth: int = 8
    width: int = 256
    skips: Sequence[int] = (4,)
    view_width: int = 128
    density_activation: str = "relu"
    # encoder == 'hash' (Instant-NGP defaults)
    hash_levels: int = 16
    hash_features: int = 2
    hash_log2_size: int = 19
    hash_min_res: int = 16
    hash_max_res: int = 2048

    @nn.compact
    def __call__(
        self,
        points: jax.Array,
        viewdirs: jax.Array,
        times: jax.Array | None = None,
        *,
        freq_masks: tuple[jax.Array, jax.Array] | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        del times  # static scene
        viewdirs = check_field_inputs(points, viewdirs, None, "NeRFMLP")
        if self.encoder not in ENCODERS:
            raise ValueError(f"NeRFMLP: unknown encoder {self.encoder!r}; valid: {list(ENCODERS)}")
        if freq_masks is not None and self.encoder != "fourier":
            raise ValueError("NeRFMLP: freq_masks (FreeNeRF) need the 'fourier' encoder")
        act = density_activation(self.density_activation)

        if self.encoder == "hash":
            x_enc = HashEncoding(
                self.bounds, self.hash_levels, self.hash_features, self.hash_log2_size, self.hash_min_res,
                self.hash_max_res, name="hash",
            )(points)
        elif self.encoder == "fourier":
            x_enc = FourierEncoding(self.pos_freqs)(normalized_coords(points, self.bounds))
        else:
            x_enc = normalized_coords(points, self.bounds)
        d_enc = FourierEncoding(self.dir_freqs)(viewdirs)
        if freq_masks is not None:
            x_enc, d_enc = x_enc * freq_masks[0], d_enc * freq_masks[1]

        h = SkipMLP(self.depth, self.width, tuple(self.skips), name="trunk")(x_enc)
        density = act(nn.Dense(1, name="density")(h)[..., 0])
        feature = nn.Dense(self.width, name="feature")(h)
        h = nn.relu(nn.Dense(self.view_width, name="view")(jnp.concatenate([feature, d_enc], axis=-1)))
        rgb = nn.sigmoid(nn.Dense(3, name="rgb")(h))
        return rgb, zero_outside(density, points, self.bounds)
