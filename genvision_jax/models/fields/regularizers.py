"""Sparse-view regularizers for radiance fields.

FreeNeRF — Yang et al. 2023, "FreeNeRF: Improving Few-shot Neural Rendering with Free Frequency
Regularization":
  * frequency regularization (§4.1, eq. 3): the positional encoding is multiplied by a mask whose
    visible part grows linearly with the step until `total_reg_steps` (a fraction of training chosen
    by the config), after which it is all ones. Counted in bands — band 0 the raw
    input (when included), band k ≥ 1 the k-th frequency's sin and cos — the visible extent after
    step t is p = B·t/T + 1 bands (B bands in all, p ≤ B): bands below ⌊p⌋ are 1, band ⌊p⌋ carries the
    fraction p − ⌊p⌋, the rest 0 (the official code's schedule, with sin and cos of one frequency
    revealed together). At step 0 only the raw input (or, without it, the lowest frequency) is seen.
    Layout matches `encoding.positional_encoding`.
  * occlusion regularization (§4.2, eq. 4): L_occ = (1/K) Σ_k m_k σ_k with m_k = 1 on the first M
    samples of each ray (the ones nearest the camera), penalising near-camera "floaters".

RegNeRF — Niemeyer et al. 2022, "RegNeRF: Regularizing Neural Radiance Fields for View Synthesis from
Sparse Inputs", eq. 4, depth smoothness on S×S patches rendered from unobserved views:
    L_DS = Σ_patches Σ_{i,j=1}^{S−1} (d_{i,j} − d_{i,j+1})² + (d_{i,j} − d_{i+1,j})²
  returned as its mean over patches and the (S−1)² positions (the official code's normalisation; the
  paper's sum is that times P·(S−1)²).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def freenerf_mask(
    num_freqs: int, step: jax.Array | int, total_reg_steps: int, dims: int = 3, include_input: bool = True
) -> jax.Array:
    """FreeNeRF frequency mask [dims·(2·num_freqs + include_input)] for `positional_encoding`; jit-safe in step."""
    if total_reg_steps < 1:
        raise ValueError(f"freenerf_mask: total_reg_steps must be ≥ 1, got {total_reg_steps}")
    bands = num_freqs + int(include_input)
    extent = jnp.minimum(bands * jnp.asarray(step, jnp.float32) / total_reg_steps + 1.0, float(bands))
    band_weight = jnp.clip(extent - jnp.arange(bands, dtype=jnp.float32), 0.0, 1.0)  # [B]
    # band 0 = input (dims entries) if included; every frequency band = sin block + cos block (2·dims).
    widths = [dims] * int(include_input) + [2 * dims] * num_freqs
    return jnp.repeat(band_weight, np.asarray(widths), total_repeat_length=sum(widths))


def occlusion_loss(density: jax.Array, reg_range: int) -> jax.Array:
    """FreeNeRF eq. 4: density [..., K] along rays (near → far) → mean over rays of (1/K) Σ_{k<M} σ_k."""
    k = density.shape[-1]
    mask = jnp.arange(k) < reg_range
    return jnp.mean(jnp.sum(jnp.where(mask, density, 0.0), axis=-1) / k)


def depth_smoothness_loss(depth_patches: jax.Array) -> jax.Array:
    """RegNeRF eq. 4: depth_patches [P, S, S] → mean over patches and (S−1)² pixels of the two squared
    forward differences."""
    if depth_patches.ndim != 3 or depth_patches.shape[1] != depth_patches.shape[2] or depth_patches.shape[1] < 2:
        raise ValueError(f"depth_smoothness_loss expects [P, S, S] with S ≥ 2, got {tuple(depth_patches.shape)}")
    d00 = depth_patches[:, :-1, :-1]
    return jnp.mean((d00 - depth_patches[:, :-1, 1:]) ** 2 + (d00 - depth_patches[:, 1:, :-1]) ** 2)
