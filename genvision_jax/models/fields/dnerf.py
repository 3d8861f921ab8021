"""D-NeRF, Pumarola et al. 2021, "D-NeRF: Neural Radiance Fields for Dynamic Scenes", §4.

A deformation network Ψ_t(x, t) → Δx maps a point at time t ∈ [0, 1] to the canonical configuration
(the scene at t = 0) and a canonical field Ψ_x(x + Δx, d) → (rgb, σ) renders it. The paper defines
Ψ_t(x, 0) = 0; here Δx = where(t == 0, 0, Ψ_t(x, t)) per point (the official code's hard switch), so the
field at t = 0 is exactly the canonical field. Ψ_t is the NeRF trunk (8 × 256 ReLU, skip after layer 4)
on [γ(x), γ(t)] with γ = positional_encoding (10 frequencies for both, input included: 63 + 21) of
box-normalised x ∈ [-1, 1]^3, and a linear 3-d output in box-normalised units, scaled by the box's half
extent to world units. The canonical field is any field of this package (default NeRFMLP), queried
without times; points deformed out of the box get its outside behaviour (zero density).

The output layer's kernel starts uniform in ±`deformation_init` (1e-4, as Nerfies' warp field, Park et
al. 2021, §3.2), so training starts from Δx ≈ 0: the canonical field first fits the scene as a static
one and the motion is learned from there. With a default-initialized output (deformation_init=None)
Δx starts at up to about a box half-extent, and at the CPU learning rate 5e-3 the run diverged
(train PSNR 10.2 → 7.0 over 600 steps on the `dynamic` scene).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genvision_jax.models.fields.common import Bounds, box, check_field_inputs
from genvision_jax.models.fields.encoding import positional_encoding
from genvision_jax.models.fields.nerf import NeRFMLP, SkipMLP, normalized_coords


class DNeRFField(nn.Module):
    """points [..., 3], viewdirs [..., 3], times [..., 1] ∈ [0, 1] → (rgb [..., 3] ∈ [0,1], density [...])."""

    bounds: Bounds = 1.0
    canonical: nn.Module | None = None  # a field of this package; None → NeRFMLP(bounds)
    depth: int = 8
    width: int = 256
    skips: Sequence[int] = (4,)
    pos_freqs: int = 10
    time_freqs: int = 10
    deformation_init: float | None = 1e-4

    def deformation(self, points: jax.Array, times: jax.Array) -> jax.Array:
        """Δx [..., 3] in world units; exactly 0 where t == 0."""
        lo, hi = box(self.bounds)
        h = jnp.concatenate(
            [
                positional_encoding(normalized_coords(points, self.bounds), self.pos_freqs),
                positional_encoding(times, self.time_freqs),
            ],
            axis=-1,
        )
        init = None
        if self.deformation_init is not None:
            scale = self.deformation_init
            init = lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -scale, scale)  # noqa: E731
        delta = SkipMLP(self.depth, self.width, tuple(self.skips), out_features=3, out_kernel_init=init,
                        name="deformation")(h)
        return jnp.where(times == 0, 0.0, delta * (hi - lo) / 2)

    @nn.compact
    def __call__(self, points: jax.Array, viewdirs: jax.Array, times: jax.Array | None = None):
        viewdirs = check_field_inputs(points, viewdirs, times, "DNeRFField")
        if times is None:
            raise ValueError("DNeRFField: times [..., 1] are required (t = 0 is the canonical frame)")
        field = self.canonical if self.canonical is not None else NeRFMLP(bounds=self.bounds, name="canonical")
        return field(points + self.deformation(points, times), viewdirs, None)
