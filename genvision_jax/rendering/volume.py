"""Volume rendering quadrature: per-sample density (or alpha) and colour along rays -> pixel values.

NeRF (Mildenhall et al. 2020, eq. 3) approximates the emission-absorption integral of Max (1995,
"Optical Models for Direct Volume Rendering") by treating density σ_i and colour c_i as constant on
each interval [t_i, t_{i+1}) of length δ_i:

    C = Σ_i T_i α_i c_i,   α_i = 1 − exp(−σ_i δ_i),   T_i = exp(−Σ_{j<i} σ_j δ_j) = Π_{j<i} (1 − α_j).

This is exact for piecewise-constant σ and c. Everything below is written in terms of the optical
depth τ_i = σ_i δ_i ≥ 0 of each interval: α_i = −expm1(−τ_i) keeps precision for tiny τ, and T_i is an
exclusive cumulative sum of τ exponentiated once (log space), which is exact at τ = 0 and gives T = 0
(not NaN) for τ = ∞. `volume_render` (from densities) and `alpha_composite` (from alphas, for models
that predict opacity directly) both call the same `_composite`.

Shapes: `...` are ray batch dims, S samples per ray, C channels (3 for RGB; any C works).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array

# Below this accumulated opacity a ray is treated as empty when normalizing depth by it.
_MIN_ACC_FOR_DEPTH = 1e-7


def _exclusive_cumsum(x: Array) -> Array:
    """[..., S] -> [..., S] with entry i = Σ_{j<i} x_j (entry 0 is exactly 0)."""
    return jnp.concatenate([jnp.zeros_like(x[..., :1]), jnp.cumsum(x[..., :-1], axis=-1)], axis=-1)


def _composite(values: Array, alpha: Array, optical_depth: Array, t: Array,
               background: Array | None, weight_threshold: float = 0.0) -> dict[str, Array]:
    """Shared quadrature. values [..., S, C], alpha/optical_depth/t [..., S] with α = 1 − exp(−τ)."""
    # T_i = exp(−Σ_{j<i} τ_j): exclusive cumsum, so T_0 = 1 exactly.
    transmittance = jnp.exp(-_exclusive_cumsum(optical_depth))
    weights = alpha * transmittance  # [..., S]
    if weight_threshold > 0:
        values = jnp.where((weights > weight_threshold)[..., None], values, 0.0)
    # Σ w = 1 − T_{S} mathematically; the min only guards against float rounding above 1.
    acc = jnp.minimum(jnp.sum(weights, axis=-1), 1.0)
    rgb = jnp.sum(weights[..., None] * values, axis=-2)
    if background is not None:
        rgb = rgb + (1.0 - acc)[..., None] * jnp.asarray(background, rgb.dtype)
    depth = jnp.sum(weights * t, axis=-1)
    # Expected termination depth given that the ray terminates; for (near-)empty rays the far sample.
    # Double `where` so neither branch produces 0/0 in the forward or backward pass.
    hit = acc > _MIN_ACC_FOR_DEPTH
    depth_normalized = jnp.where(hit, depth / jnp.where(hit, acc, 1.0), t[..., -1])
    depth_normalized = jnp.clip(depth_normalized, t[..., 0], t[..., -1])
    return dict(rgb=rgb, depth=depth, depth_normalized=depth_normalized, acc=acc, weights=weights,
                transmittance=transmittance)


def volume_render(rgb: Array, density: Array, t: Array, directions: Array,
                  background: Array | None = None, far_delta: float = 1e10,
                  deltas: Array | None = None, weight_threshold: float = 0.0) -> dict[str, Array]:
    """Render rays from densities (NeRF eq. 3). rgb [..., S, C], density [..., S] ≥ 0, t [..., S] sorted.

    directions [..., 3]: the ray directions the samples were taken along, o + t·d. Interval lengths
    δ_i = (t_{i+1} − t_i)·‖d‖ are in world units, so `density` is per unit world length whatever the
    normalization of d (as NeRF). The last interval has length far_delta·‖d‖ (1e10: "to infinity",
    so whatever is left of the ray is absorbed by the last sample; 0: the ray ends at t[..., -1]).
    background: None (black, as NeRF), [C] or [..., C]; composited with weight 1 − acc.
    deltas [..., S]: the interval each sample stands for, in ray-parameter units, instead of the
    spacing of t (samples spread over disjoint occupied segments of a ray, where the gap to the next
    sample is not the sample's interval; `far_delta` is then unused).

    Returns dict of
      rgb [..., C]            Σ_i w_i c_i + (1 − acc)·background
      depth [..., ]           Σ_i w_i t_i, NOT normalized by acc (NeRF's depth map; empty rays -> 0)
      depth_normalized [...]  Σ_i w_i t_i / acc, clipped to [t_0, t_{S-1}]; t_{S-1} where acc ≈ 0
      acc [...]               Σ_i w_i = 1 − T_S ∈ [0, 1], the opacity of the ray
      weights [..., S]        w_i = T_i α_i
      transmittance [..., S]  T_i = exp(−Σ_{j<i} σ_j δ_j), before sample i (T_0 = 1)
    t and depths are in ray-parameter units (world units when ‖d‖ = 1).
    """
    norm = jnp.linalg.norm(directions, axis=-1, keepdims=True)  # [..., 1]
    if deltas is None:
        far = jnp.full_like(t[..., :1], far_delta)
        deltas = jnp.concatenate([t[..., 1:] - t[..., :-1], far], axis=-1)
    elif deltas.shape != t.shape:
        raise ValueError(f"volume_render: deltas must have the shape of t {t.shape}, got {deltas.shape}")
    deltas = deltas * norm
    optical_depth = density * deltas
    alpha = -jnp.expm1(-optical_depth)
    return _composite(rgb, alpha, optical_depth, t, background, weight_threshold)


def alpha_composite(rgb: Array, alpha: Array, t: Array,
                    background: Array | None = None) -> dict[str, Array]:
    """Front-to-back compositing of per-sample opacities α ∈ [0, 1]: rgb [..., S, C], alpha/t [..., S].

    w_i = α_i Π_{j<i}(1 − α_j); same outputs as `volume_render` (t only enters the depths). For
    models that predict opacity rather than density (voxel grids, Gaussian splats). α = 1 is exact:
    everything behind it gets T = 0, with finite gradients.
    """
    opaque = alpha >= 1.0
    # −log(1 − α), routed around α = 1 so the unused branch never sees log(0) (its gradient is NaN).
    optical_depth = jnp.where(opaque, jnp.inf, -jnp.log1p(-jnp.where(opaque, 0.0, alpha)))
    return _composite(rgb, alpha, optical_depth, t, background)


def distortion_loss(bins: Array, weights: Array) -> Array:
    """Mip-NeRF 360 distortion loss (Barron et al. 2022, eq. 15): bins [..., S+1], weights [..., S] -> [...].

    L = Σ_{i,j} w_i w_j |m_i − m_j| + ⅓ Σ_i w_i² (s_{i+1} − s_i), m_i the bin midpoints: the exact value
    of ∫∫ w(u) w(v) |u − v| du dv for the step function w with mass w_i spread uniformly on bin i.
    Mip-NeRF 360 evaluates it on normalized distances s ∈ [0, 1]; pass whichever bins you mean.
    The double sum is computed in O(S) with prefix sums (midpoints are sorted):
    Σ_{i,j} w_i w_j |m_i − m_j| = 2 Σ_i w_i (m_i Σ_{j<i} w_j − Σ_{j<i} w_j m_j).
    """
    mid = 0.5 * (bins[..., 1:] + bins[..., :-1])
    width = bins[..., 1:] - bins[..., :-1]
    inter = 2.0 * jnp.sum(
        weights * (mid * _exclusive_cumsum(weights) - _exclusive_cumsum(weights * mid)), axis=-1)
    intra = jnp.sum(jnp.square(weights) * width, axis=-1) / 3.0
    return inter + intra
