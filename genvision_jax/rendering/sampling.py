"""Where to evaluate a radiance field along a ray: stratified and importance (inverse-CDF) sampling.

All functions are pure jax.numpy, batched over arbitrary leading dims `...` (rays), and safe under
`jit`/`vmap`. A ray is `o + t·d`; `t` is the ray parameter (distance in units of ‖d‖), sorted along
the last axis.

- `stratified_samples`: NeRF's coarse samples (Mildenhall et al. 2020, "NeRF", §4 eq. 2): `[near,
  far]` split into S equal bins, one uniform draw per bin (midpoints when not randomized); optionally
  equal bins in inverse depth ("lindisp", used for forward-facing scenes).
- `sample_pdf`: NeRF §5.2 hierarchical sampling: draws from the piecewise-constant pdf whose mass in
  bin i is proportional to the coarse weight w_i, by inverting its piecewise-linear CDF.
- `midpoints_to_bins`, `merge_samples`, `points_along_rays`: the glue of the coarse-to-fine pass.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

Array = jax.Array


def _unit_offsets(key: Array | None, batch_shape: Sequence[int], num: int, randomized: bool) -> Array:
    """Stratified positions in [0, 1): (i + u_i) / num, u_i ~ U[0, 1) if randomized else 0.5. [*batch, num]

    Sorted along the last axis by construction (sample i stays in [i/num, (i+1)/num)).
    """
    batch_shape = tuple(batch_shape)
    if randomized:
        if key is None:
            raise ValueError("randomized sampling needs a PRNG key")
        jitter = jax.random.uniform(key, batch_shape + (num,), jnp.float32)
    else:
        jitter = jnp.full(batch_shape + (num,), 0.5, jnp.float32)
    return (jnp.arange(num, dtype=jnp.float32) + jitter) / num


def stratified_samples(key: Array | None, near, far, num_samples: int, batch_shape: Sequence[int],
                       randomized: bool = True, lindisp: bool = False) -> Array:
    """Stratified samples along each ray (NeRF eq. 2). Returns t [*batch_shape, S], sorted.

    `near`, `far`: scalars or arrays broadcastable to `batch_shape` (e.g. [...] per ray).
    The S bins are equal in t, or with `lindisp` equal in disparity 1/t (needs near > 0), and sample i
    lies in bin i: uniformly within it (in the stratification variable) when `randomized`, at its
    midpoint otherwise (then `key` may be None).
    """
    batch_shape = tuple(batch_shape)
    near = jnp.broadcast_to(jnp.asarray(near, jnp.float32), batch_shape)[..., None]
    far = jnp.broadcast_to(jnp.asarray(far, jnp.float32), batch_shape)[..., None]
    s = _unit_offsets(key, batch_shape, num_samples, randomized)  # [*batch, S] in [0, 1)
    if lindisp:
        # Linear in disparity: 1/t = (1 - s)/near + s/far. Monotone in s, so bins map to bins.
        return 1.0 / ((1.0 - s) / near + s / far)
    return near * (1.0 - s) + far * s


def _batched_searchsorted(sorted_seq: Array, values: Array) -> Array:
    """Right-side searchsorted per leading index: sorted_seq [..., K], values [..., N] -> int32 [..., N]."""
    batch_shape = sorted_seq.shape[:-1]
    flat_seq = sorted_seq.reshape(-1, sorted_seq.shape[-1])
    flat_val = values.reshape(-1, values.shape[-1])
    idx = jax.vmap(lambda a, v: jnp.searchsorted(a, v, side="right"))(flat_seq, flat_val)
    return idx.reshape(batch_shape + values.shape[-1:]).astype(jnp.int32)


def sample_pdf(key: Array | None, bins: Array, weights: Array, num_samples: int,
               randomized: bool = True, eps: float = 1e-5) -> Array:
    """Inverse-CDF samples of the piecewise-constant pdf on `bins` (NeRF §5.2). t [..., num_samples].

    bins [..., S+1]: sorted bin edges. weights [..., S]: non-negative mass per bin (need not sum to 1;
    negative values are treated as 0).
    If the total weight of a ray is below `eps`, mass eps - Σw is spread evenly over the bins, so
    all-zero weights give one equal share per bin (uniform in t for equal-width bins) instead of 0/0;
    otherwise the pdf is exactly w/Σw.
    u is stratified on [0, 1) — (i + jitter)/N, jitter uniform when `randomized`, 0.5 otherwise
    (deterministic, evenly spaced) — so the returned t are sorted and within [bins[0], bins[-1]], and
    each bin receives its share of samples to within one (NeRF draws u i.i.d.; stratified u is
    Mip-NeRF's choice, Barron et al. 2021, and has lower variance). The result is wrapped in `stop_gradient`:
    the sample positions are not a function the network should be trained through (as in NeRF).
    """
    num_bins = weights.shape[-1]
    weights = jnp.maximum(weights.astype(jnp.float32), 0.0)
    total = jnp.sum(weights, axis=-1, keepdims=True)
    padding = jnp.maximum(eps - total, 0.0)
    weights = weights + padding / num_bins
    total = total + padding
    # CDF at the bin edges, pinned to exactly 0 and 1 at the ends so every u in [0, 1) lands in a bin.
    inner = jnp.minimum(1.0, jnp.cumsum(weights[..., :-1], axis=-1) / total)
    cdf = jnp.concatenate([jnp.zeros_like(total), inner, jnp.ones_like(total)], axis=-1)  # [..., S+1]

    u = _unit_offsets(key, weights.shape[:-1], num_samples, randomized)  # [..., N]
    # Bin of u: the last edge i with cdf[i] <= u ('right' skips bins of zero mass).
    idx = jnp.clip(_batched_searchsorted(cdf, u) - 1, 0, num_bins - 1)
    cdf_lo = jnp.take_along_axis(cdf, idx, axis=-1)
    cdf_hi = jnp.take_along_axis(cdf, idx + 1, axis=-1)
    bin_lo = jnp.take_along_axis(bins, idx, axis=-1)
    bin_hi = jnp.take_along_axis(bins, idx + 1, axis=-1)
    mass = cdf_hi - cdf_lo
    frac = jnp.where(mass > 0, (u - cdf_lo) / jnp.where(mass > 0, mass, 1.0), 0.0)
    t = bin_lo + jnp.clip(frac, 0.0, 1.0) * (bin_hi - bin_lo)
    # Clip against rounding so samples of consecutive bins never swap order or leave [bins[0], bins[-1]].
    return jax.lax.stop_gradient(jnp.clip(t, bin_lo, bin_hi))


def midpoints_to_bins(t: Array) -> Array:
    """Bin edges around sorted samples for the fine pass: t [..., S] -> bins [..., S+1].

    Inner edges are midpoints between neighbouring samples (as NeRF's hierarchical sampling); the
    outer edges are the first and last samples, so sample i lies in bin i and fine samples never leave
    the coarse range.
    """
    mid = 0.5 * (t[..., 1:] + t[..., :-1])
    return jnp.concatenate([t[..., :1], mid, t[..., -1:]], axis=-1)


def merge_samples(t_coarse: Array, t_fine: Array) -> Array:
    """Sorted union (with repeats) of two sample sets: [..., Sc], [..., Sf] -> [..., Sc + Sf]."""
    return jnp.sort(jnp.concatenate([t_coarse, t_fine], axis=-1), axis=-1)


def points_along_rays(origins: Array, directions: Array, t: Array) -> Array:
    """Points o + t·d: origins [..., 3], directions [..., 3], t [..., S] -> [..., S, 3]."""
    return origins[..., None, :] + t[..., :, None] * directions[..., None, :]
