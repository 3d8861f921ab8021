"""Encodings of radiance fields: the Fourier encoding against its formula, the real SH basis against
scipy and by Monte-Carlo orthonormality, and the hash grid's level layout, index formulas (hand-computed
with Python integers) and trilinear interpolation (exact on linear tables)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from genvision_jax.models.fields import (
    FourierEncoding,
    HashEncoding,
    hash_grid_index,
    hash_grid_layout,
    positional_encoding,
    spatial_hash,
    spherical_harmonics,
)

X = np.array([[0.3, -0.7], [1.0, 0.05]], np.float32)  # [2, D=2]


def _reference_pe(x, freqs, include_input):
    rows = []
    for p in x:
        feats = list(p) if include_input else []
        for f in freqs:
            feats += [np.sin(f * np.pi * c) for c in p] + [np.cos(f * np.pi * c) for c in p]
        rows.append(feats)
    return np.array(rows)


@pytest.mark.parametrize("include_input", [True, False])
@pytest.mark.parametrize(
    "log_sampling, min_deg, freqs",
    [(True, 0, [1.0, 2.0, 4.0, 8.0]), (True, 1, [2.0, 4.0, 8.0, 16.0]), (False, 0, [1.0, 10 / 3, 17 / 3, 8.0])],
)
def test_positional_encoding_matches_formula(log_sampling, min_deg, freqs, include_input):
    out = positional_encoding(jnp.asarray(X), 4, min_deg, log_sampling, include_input)
    assert out.shape == (2, 2 * (2 * 4 + include_input))
    np.testing.assert_allclose(np.asarray(out), _reference_pe(X, freqs, include_input), atol=2e-6)


def test_fourier_encoding_output_dim_and_nerf_sizes():
    assert FourierEncoding(10).output_dim(3) == 63 and FourierEncoding(4).output_dim(3) == 27
    assert FourierEncoding(10, include_input=False).output_dim(3) == 60  # the paper's 60-d γ(x)
    enc = FourierEncoding(10)(jnp.zeros((5, 7, 3)))
    assert enc.shape == (5, 7, 63)
    assert positional_encoding(jnp.ones((4, 3)), 0).shape == (4, 3)  # L = 0: the input only


def _random_dirs(n, seed=0):
    d = np.random.default_rng(seed).normal(size=(n, 3))
    return (d / np.linalg.norm(d, axis=-1, keepdims=True)).astype(np.float32)


def test_spherical_harmonics_known_values():
    d = _random_dirs(6)
    sh = np.asarray(spherical_harmonics(jnp.asarray(d), 1))
    assert sh.shape == (6, 4)
    np.testing.assert_allclose(sh[:, 0], 0.28209479, rtol=1e-6)
    np.testing.assert_allclose(sh[:, 1:], 0.48860251 * d[:, [1, 2, 0]], rtol=1e-5, atol=1e-7)  # (y, z, x)


@pytest.mark.parametrize("degree", [0, 2, 3, 4])
def test_spherical_harmonics_match_scipy(degree):
    d = _random_dirs(64, seed=degree).astype(np.float64)
    theta, phi = np.arccos(d[:, 2]), np.arctan2(d[:, 1], d[:, 0])
    ref = []
    for l in range(degree + 1):
        for m in range(-l, l + 1):
            y = special.sph_harm_y(l, abs(m), theta, phi)  # complex, with the Condon–Shortley phase
            if m == 0:
                ref.append(y.real)
            else:  # real SH without the phase: √2 (−1)^m Re/Im Y_l^|m|
                ref.append(np.sqrt(2) * (-1) ** m * (y.real if m > 0 else y.imag))
    sh = np.asarray(spherical_harmonics(jnp.asarray(d, jnp.float32), degree))
    assert sh.shape == (64, (degree + 1) ** 2)
    np.testing.assert_allclose(sh, np.stack(ref, -1), atol=2e-5)


def test_spherical_harmonics_orthonormal_monte_carlo():
    n = 400_000
    sh = np.asarray(spherical_harmonics(jnp.asarray(_random_dirs(n, seed=1)), 4), np.float64)
    gram = 4 * np.pi * sh.T @ sh / n  # ∫ Y_i Y_j dΩ by Monte-Carlo
    np.testing.assert_allclose(gram, np.eye(25), atol=0.03)


def test_spherical_harmonics_rejects_degree():
    with pytest.raises(ValueError, match="degree"):
        spherical_harmonics(jnp.zeros((1, 3)), 5)


def test_hash_layout_resolutions_and_sizes():
    layout = hash_grid_layout(16, 19, 16, 2048)
    growth = 2 ** (7 / 15)  # exp((ln 2048 − ln 16)/15)
    np.testing.assert_array_equal(layout.resolutions, np.floor(16 * growth ** np.arange(16) + 1e-6))
    assert layout.resolutions[0] == 16 and layout.resolutions[-1] == 2048 and layout.resolutions[1] == 22
    # (N+1)^3 ≤ 2^19 for N ∈ {16, 22, 30, 42, 58}; N = 80 gives 81^3 = 531441 > 524288
    np.testing.assert_array_equal(layout.dense, np.arange(16) < 5)
    assert list(layout.sizes[:5]) == [17**3, 23**3, 31**3, 43**3, 59**3]
    assert layout.total == 17**3 + 23**3 + 31**3 + 43**3 + 59**3 + 11 * 2**19
    np.testing.assert_array_equal(layout.offsets[1:], np.cumsum(layout.sizes)[:-1])


def test_spatial_hash_hand_computed():
    vertices = [(0, 0, 0), (5, 0, 0), (0, 1, 0), (0, 0, 1), (1, 2, 3), (2047, 1000, 77)]
    expected = [((x * 1) ^ (y * 2654435761) ^ (z * 805459861)) % 2**19 for x, y, z in vertices]
    assert expected[:4] == [0, 5, 2654435761 % 2**19, 805459861 % 2**19]
    got = spatial_hash(jnp.asarray(vertices, jnp.int32), 19)
    assert np.asarray(got).tolist() == expected


def test_hash_grid_index_dense_and_hashed_levels():
    layout = hash_grid_layout(3, 10, 4, 16)  # N = 4, 8, 16: 125 and 729 ≤ 1024 dense; 17^3 hashed
    assert layout.dense.tolist() == [True, True, False]
    vertex = np.array([3, 1, 2])
    vertices = jnp.asarray(np.broadcast_to(vertex, (3, 1, 3)))  # [L, C=1, 3]
    got = np.asarray(hash_grid_index(layout, vertices))[:, 0]
    assert got[0] == 3 + 5 * 1 + 25 * 2
    assert got[1] == 125 + 3 + 9 * 1 + 81 * 2
    assert got[2] == 125 + 729 + ((3 * 1) ^ (1 * 2654435761) ^ (2 * 805459861)) % 1024
    # random vertices of every level land inside that level's slice of the table
    rng = np.random.default_rng(0)
    v = np.stack([rng.integers(0, n + 1, size=(500, 3)) for n in layout.resolutions], axis=0)[None]  # [1, L, 500, 3]
    idx = np.asarray(hash_grid_index(layout, jnp.asarray(v)))[0]  # [L, 500]
    for level in range(3):
        lo, size = layout.offsets[level], layout.sizes[level]
        assert idx[level].min() >= lo and idx[level].max() < lo + size


def test_hash_encoding_trilinear_reproduces_linear_function():
    bounds = ((-1.0, 0.0, 2.0), (1.0, 3.0, 3.0))
    enc = HashEncoding(
        bounds, num_levels=2, features_per_level=2, log2_table_size=12, base_resolution=5, max_resolution=9
    )
    layout = enc.layout
    assert layout.dense.all() and layout.resolutions.tolist() == [5, 9]
    a = np.array([[0.7, -1.3, 2.1], [-0.4, 0.9, 0.25]])  # feature f = a_f · u + c_f, u ∈ [0, 1]^3
    c = np.array([0.2, -0.5])
    table = np.zeros((layout.total, 2), np.float32)
    for level, n in enumerate(layout.resolutions):
        g = np.arange(n + 1)
        x, y, z = np.meshgrid(g, g, g, indexing="ij")
        index = layout.offsets[level] + x + (n + 1) * y + (n + 1) ** 2 * z  # the 1:1 dense index, by hand
        u = np.stack([x, y, z], -1) / n
        table[index.ravel()] = (u @ a.T + c).reshape(-1, 2)
    rng = np.random.default_rng(1)
    lo, hi = np.array(bounds[0]), np.array(bounds[1])
    points = (lo + rng.uniform(size=(300, 3)) * (hi - lo)).astype(np.float32)
    points[:3] = [lo, hi, [0.0, 3.0, 2.5]]  # corners and a point on a face
    out = np.asarray(enc.apply({"params": {"table": jnp.asarray(table)}}, jnp.asarray(points)))
    expected = ((points - lo) / (hi - lo)) @ a.T + c
    np.testing.assert_allclose(out, np.tile(expected, (1, 2)), atol=1e-5)  # both levels, F = 2 each


def test_hash_encoding_init_range_and_shape():
    enc = HashEncoding(1.0, num_levels=3, features_per_level=2, log2_table_size=8, base_resolution=2, max_resolution=12)
    variables = enc.init(jax.random.key(0), jnp.zeros((2, 5, 3)))
    table = np.asarray(variables["params"]["table"])
    assert table.shape == (enc.layout.total, 2) and enc.layout.total == 3**3 + 5**3 + 2**8  # N = 2, 4 dense; 12 hashed
    assert np.abs(table).max() <= 1e-4 and table.min() < 0 < table.max()
    assert enc.apply(variables, jnp.zeros((2, 5, 3))).shape == (2, 5, 6)
