"""Input encodings of radiance fields: Fourier positional encoding, real spherical harmonics, and the
multiresolution hash encoding.

positional_encoding — Mildenhall et al. 2020, "NeRF", eq. 4:
    γ(p) = (sin(2^0 π p), cos(2^0 π p), ..., sin(2^{L-1} π p), cos(2^{L-1} π p)),
  applied to every coordinate. Convention here: WITH π (the paper's; the official NeRF code drops π and
  feeds unnormalised coordinates), so fields feed box-normalised coordinates in [-1, 1] and the lowest
  frequency spans the box once. Layout, each block D wide:
    [p (if include_input), sin(f_0 π p), cos(f_0 π p), sin(f_1 π p), cos(f_1 π p), ...]
  → D·(2L + include_input) features. Frequencies f_k: log spacing 2^{min_deg+k}, k = 0..L-1;
  linear spacing L evenly spaced values from 2^{min_deg} to 2^{min_deg+L-1} (the official code's
  `log_sampling=False`). The frequency-major layout is what `regularizers.freenerf_mask` masks.

spherical_harmonics — real SH Y_lm (orthonormal on the unit sphere), m = -l..l in order per band,
  without the Condon–Shortley phase: degree 1 is sqrt(3/4π)·(y, z, x). Degrees 0..4.

HashEncoding — Müller et al. 2022, "Instant Neural Graphics Primitives with a Multiresolution Hash
  Encoding", §3: L levels with resolutions N_l = floor(N_min · b^l), b = exp((ln N_max − ln N_min)/(L−1));
  a box-normalised point x ∈ [0,1]^3 lands in the cell of x·N_l whose 8 corner vertices (integer
  coordinates 0..N_l) index a table of F-dim features: 1:1 (x + (N+1)y + (N+1)^2 z) when
  (N_l+1)^3 ≤ T = 2^log2_table_size, else the spatial hash (x·1 ⊕ y·2654435761 ⊕ z·805459861) mod T
  (eq. 4); corner features are trilinearly interpolated and the L results concatenated. One flat
  table holds all levels (coarse levels only the (N_l+1)^3 entries they use, as in the paper's
  parameter count), initialised U(−1e-4, 1e-4). All levels and corners are one batched gather.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genvision_jax.models.fields.common import Bounds, grid_corners, to_unit_cube
from genvision_jax.nn.fusion import fusion_barrier

# --------------------------------------------------------------------------- Fourier features


def fourier_frequencies(num_freqs: int, min_deg: int = 0, log_sampling: bool = True) -> np.ndarray:
    """float32 [L] frequencies f_k (multiplied by π in the encoding)."""
    if num_freqs < 0:
        raise ValueError(f"num_freqs must be ≥ 0, got {num_freqs}")
    if log_sampling:
        return (2.0 ** np.arange(min_deg, min_deg + num_freqs)).astype(np.float32)
    return np.linspace(2.0**min_deg, 2.0 ** (min_deg + num_freqs - 1), num_freqs).astype(np.float32)


def positional_encoding(
    x: jax.Array, num_freqs: int, min_deg: int = 0, log_sampling: bool = True, include_input: bool = True
) -> jax.Array:
    """x [..., D] → [..., D·(2L + include_input)]: [x?, sin(f_0 π x), cos(f_0 π x), ...] (NeRF eq. 4, with π)."""
    freqs = jnp.asarray(np.pi * fourier_frequencies(num_freqs, min_deg, log_sampling), x.dtype)
    angles = x[..., None, :] * freqs[:, None]  # [..., L, D]
    feats = jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-2)  # [..., L, 2, D]
    feats = feats.reshape(*x.shape[:-1], 2 * num_freqs * x.shape[-1])
    return jnp.concatenate([x, feats], axis=-1) if include_input else feats


@dataclasses.dataclass(frozen=True)
class FourierEncoding:
    """Config of a positional encoding (hashable, so usable as a flax module attribute)."""

    num_freqs: int = 10
    min_deg: int = 0
    log_sampling: bool = True
    include_input: bool = True

    def __call__(self, x: jax.Array) -> jax.Array:
        return positional_encoding(x, self.num_freqs, self.min_deg, self.log_sampling, self.include_input)

    def output_dim(self, input_dim: int) -> int:
        return input_dim * (2 * self.num_freqs + int(self.include_input))


# --------------------------------------------------------------------------- spherical harmonics

SH_MAX_DEGREE = 4


def spherical_harmonics(dirs: jax.Array, degree: int) -> jax.Array:
    """Real SH basis of unit vectors dirs [..., 3] → [..., (degree+1)^2], bands l = 0..degree, m = -l..l."""
    if not 0 <= degree <= SH_MAX_DEGREE:
        raise ValueError(f"spherical_harmonics: degree must be in 0..{SH_MAX_DEGREE}, got {degree}")
    x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
    pi = np.pi
    out = [jnp.full_like(x, 0.5 * np.sqrt(1 / pi))]
    if degree >= 1:
        c1 = np.sqrt(3 / (4 * pi))
        out += [c1 * y, c1 * z, c1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        c2 = 0.5 * np.sqrt(15 / pi)
        out += [
            c2 * x * y,
            c2 * y * z,
            0.25 * np.sqrt(5 / pi) * (3 * zz - 1),
            c2 * x * z,
            0.25 * np.sqrt(15 / pi) * (xx - yy),
        ]
    if degree >= 3:
        out += [
            0.25 * np.sqrt(35 / (2 * pi)) * y * (3 * xx - yy),
            0.5 * np.sqrt(105 / pi) * x * y * z,
            0.25 * np.sqrt(21 / (2 * pi)) * y * (5 * zz - 1),
            0.25 * np.sqrt(7 / pi) * z * (5 * zz - 3),
            0.25 * np.sqrt(21 / (2 * pi)) * x * (5 * zz - 1),
            0.25 * np.sqrt(105 / pi) * z * (xx - yy),
            0.25 * np.sqrt(35 / (2 * pi)) * x * (xx - 3 * yy),
        ]
    if degree >= 4:
        out += [
            0.75 * np.sqrt(35 / pi) * x * y * (xx - yy),
            0.75 * np.sqrt(35 / (2 * pi)) * y * z * (3 * xx - yy),
            0.75 * np.sqrt(5 / pi) * x * y * (7 * zz - 1),
            0.75 * np.sqrt(5 / (2 * pi)) * y * z * (7 * zz - 3),
            (3 / 16) * np.sqrt(1 / pi) * (35 * zz * zz - 30 * zz + 3),
            0.75 * np.sqrt(5 / (2 * pi)) * x * z * (7 * zz - 3),
            (3 / 8) * np.sqrt(5 / pi) * (xx - yy) * (7 * zz - 1),
            0.75 * np.sqrt(35 / (2 * pi)) * x * z * (xx - 3 * yy),
            (3 / 16) * np.sqrt(35 / pi) * (xx * (xx - 3 * yy) - yy * (3 * xx - yy)),
        ]
    return jnp.stack(out, axis=-1)


# --------------------------------------------------------------------------- hash encoding

HASH_PRIMES = (1, 2654435761, 805459861)


class HashGridLayout(NamedTuple):
    """Static description of a multiresolution hash grid; numpy arrays of length L."""

    resolutions: np.ndarray  # int64 N_l: cells per axis (vertices 0..N_l)
    dense: np.ndarray  # bool: (N_l+1)^3 ≤ 2^log2_table_size → 1:1 indexing
    sizes: np.ndarray  # int64 table entries of the level: min((N_l+1)^3, 2^log2_table_size)
    offsets: np.ndarray  # int64 start of the level in the flat table
    log2_table_size: int

    @property
    def total(self) -> int:
        return int(self.sizes.sum())


def hash_grid_layout(
    num_levels: int, log2_table_size: int, base_resolution: int, max_resolution: int
) -> HashGridLayout:
    if num_levels < 1 or base_resolution < 1 or max_resolution < base_resolution:
        raise ValueError(
            f"hash grid needs num_levels ≥ 1 and 1 ≤ base_resolution ≤ max_resolution, got "
            f"{num_levels}, {base_resolution}, {max_resolution}"
        )
    if not 1 <= log2_table_size <= 30:
        raise ValueError(f"log2_table_size must be in 1..30, got {log2_table_size}")
    growth = np.exp((np.log(max_resolution) - np.log(base_resolution)) / max(num_levels - 1, 1))
    # floor(N_min · b^l); the 1e-6 keeps floating error from turning N_max = 2048 into 2047.
    res = np.floor(base_resolution * growth ** np.arange(num_levels) + 1e-6).astype(np.int64)
    dense_sizes = (res + 1) ** 3
    table = 2**log2_table_size
    dense = dense_sizes <= table
    sizes = np.where(dense, dense_sizes, table)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return HashGridLayout(res, dense, sizes, offsets, log2_table_size)


def spatial_hash(vertices: jax.Array, log2_table_size: int) -> jax.Array:
    """Instant-NGP eq. 4: integer vertices [..., 3] → (⊕_i x_i·π_i) mod 2^T, uint32 [...].

    Products wrap modulo 2^32, and since 2^T divides 2^32 the low T bits equal the exact product's."""
    v = vertices.astype(jnp.uint32)
    h = v[..., 0] * jnp.uint32(HASH_PRIMES[0])
    h = h ^ (v[..., 1] * jnp.uint32(HASH_PRIMES[1]))
    h = h ^ (v[..., 2] * jnp.uint32(HASH_PRIMES[2]))
    return h & jnp.uint32(2**log2_table_size - 1)


def hash_grid_index(layout: HashGridLayout, vertices: jax.Array) -> jax.Array:
    """Flat table rows of integer vertices [..., L, C, 3] (axis -3 = level) → int32 [..., L, C]."""
    side = jnp.asarray(layout.resolutions + 1, jnp.uint32)[:, None]  # [L, 1] vertices per axis
    v = vertices.astype(jnp.uint32)
    dense_index = v[..., 0] + side * (v[..., 1] + side * v[..., 2])  # wraps on hashed levels, unused there
    index = jnp.where(layout.dense[:, None], dense_index, spatial_hash(v, layout.log2_table_size))
    return (index + jnp.asarray(layout.offsets, jnp.uint32)[:, None]).astype(jnp.int32)


def _symmetric_uniform(scale: float):
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -scale, scale)

    return init


class HashEncoding(nn.Module):
    """World points [..., 3] → [..., L·F] multiresolution hash features (Müller et al. 2022 §3).

    Defaults are the paper's NeRF setting (L=16, F=2, T=2^19, N_min=16, N_max=2048). Points are
    normalised to [0,1]^3 with `bounds` and clamped, so outside points read the border features.
    """

    bounds: Bounds = 1.0
    num_levels: int = 16
    features_per_level: int = 2
    log2_table_size: int = 19
    base_resolution: int = 16
    max_resolution: int = 2048

    @property
    def layout(self) -> HashGridLayout:
        return hash_grid_layout(self.num_levels, self.log2_table_size, self.base_resolution, self.max_resolution)

    @nn.compact
    def __call__(self, points: jax.Array) -> jax.Array:
        layout = self.layout
        table = self.param("table", _symmetric_uniform(1e-4), (layout.total, self.features_per_level), jnp.float32)
        # Materialised: otherwise XLA re-runs the caller's sampling for every gathered table row.
        x = fusion_barrier(jnp.clip(to_unit_cube(points, self.bounds), 0.0, 1.0).reshape(-1, 3))
        res = jnp.asarray(layout.resolutions, x.dtype)[:, None]  # [L, 1]
        corners, weights = grid_corners(x[:, None, :] * res, res + 1)  # [N, L, 8, 3], [N, L, 8]
        index = fusion_barrier(hash_grid_index(layout, corners))  # [N, L, 8], computed once
        # One flat row gather: on XLA:CPU it beat `table[index]` (fwd 44 -> 25 ms, fwd+bwd 73 -> 60 ms,
        # 16 levels, 16,384 points; benchmarks/bench_hash_grid.py), same values.
        feats = jnp.take(table, index.reshape(-1), axis=0).reshape(*index.shape, self.features_per_level)
        out = jnp.einsum("nlc,nlcf->nlf", weights, feats)
        return out.reshape(*points.shape[:-1], self.num_levels * self.features_per_level)
