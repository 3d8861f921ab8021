"""Fréchet distance against scipy.linalg.sqrtm, and streaming feature statistics against numpy."""

import numpy as np
import pytest
import scipy.linalg

from genvision_jax.metrics.fid import FeatureStats, compute_fid, frechet_distance, psd_sqrt


def _reference_fid(mu1, s1, mu2, s2):
    """Float64 FID with scipy's general sqrtm of the (non-symmetric) product S1 S2."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def _random_spd(rng, d, rank=None, scale=1.0):
    a = rng.normal(size=(d, rank or 2 * d)) * scale
    return a @ a.T / a.shape[1]


@pytest.mark.parametrize("d", [1, 5, 64])
def test_frechet_matches_scipy_sqrtm(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d) + 0.5
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d, scale=2.0)
    value, info = frechet_distance(mu1, s1, mu2, s2)
    ref = _reference_fid(mu1, s1, mu2, s2)
    assert value == pytest.approx(ref, rel=1e-6)
    assert info["offset"] == 0.0 and info["n_eig_clipped"] == 0


def test_frechet_rank_deficient_matches_scipy():
    # 64-d covariances estimated from 20 and 30 samples: ranks 20 and 30, product singular.
    rng = np.random.default_rng(1)
    d = 64
    s1, s2 = _random_spd(rng, d, rank=20), _random_spd(rng, d, rank=30, scale=1.5)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    assert np.linalg.matrix_rank(s1 @ s2) == 20
    value, info = frechet_distance(mu1, s1, mu2, s2)
    ref = _reference_fid(mu1, s1, mu2, s2)
    assert value == pytest.approx(ref, rel=1e-6)
    assert info["min_eig_product"] > -1e-10  # only rounding-level negatives were clipped


def _spectrum_cov(rng, eigenvalues):
    q, _ = np.linalg.qr(rng.normal(size=(len(eigenvalues), len(eigenvalues))))
    return (q * eigenvalues) @ q.T


@pytest.mark.parametrize("smallest", [1e-9, 1e-12, 1e-15])
def test_frechet_near_singular_matches_scipy(smallest):
    # Eigenvalues spread log-uniformly from ~1 down to `smallest` (condition number up to 1e15):
    # rounding makes some eigenvalues of the product negative; their clipped part must stay tiny.
    rng = np.random.default_rng(int(-np.log10(smallest)))
    d = 64
    s1 = _spectrum_cov(rng, np.logspace(0, np.log10(smallest), d))
    s2 = _spectrum_cov(rng, np.logspace(0.5, np.log10(smallest), d))
    mu1, mu2 = 0.1 * rng.normal(size=d), 0.1 * rng.normal(size=d)
    value, info = frechet_distance(mu1, s1, mu2, s2)
    assert value == pytest.approx(_reference_fid(mu1, s1, mu2, s2), rel=1e-6)
    assert 0.0 <= info["trace_imag"] <= 1e-6 and info["trace_imag_rel"] <= 1e-7
    assert info["min_eig_product"] > -1e-12


def test_frechet_reports_imaginary_residual_of_indefinite_input():
    # A "covariance" with a negative eigenvalue -4 (e.g. statistics mixed up by a bug): the product
    # with the identity has eigenvalue -4, whose principal square root is 2i, so Tr sqrtm has
    # imaginary part 2, as scipy's complex sqrtm says too.
    s1 = np.diag([4.0, 1.0, 1.0])
    s2 = np.diag([1.0, 9.0, -4.0])
    value, info = frechet_distance(np.zeros(3), s1, np.zeros(3), s2)
    assert info["trace_imag"] == pytest.approx(np.imag(np.trace(scipy.linalg.sqrtm(s1 @ s2))), rel=1e-12)
    assert info["trace_imag"] == pytest.approx(2.0, rel=1e-12)
    assert info["n_eig_clipped"] == 1 and info["min_eig_product"] == pytest.approx(-4.0)
    assert info["min_eig_sigma1"] == 0.0  # sigma1 itself is PSD


def test_psd_sqrt_matches_scipy_sqrtm():
    rng = np.random.default_rng(3)
    s = _random_spd(rng, 48, rank=20)  # singular
    root, min_eig = psd_sqrt(s)
    np.testing.assert_allclose(root, root.T, rtol=0, atol=0)
    np.testing.assert_allclose(root @ root, s, rtol=0, atol=1e-12)
    np.testing.assert_allclose(root, np.real(scipy.linalg.sqrtm(s)), rtol=0, atol=1e-6)
    assert -1e-12 < min_eig <= 0.0


def test_frechet_equal_distributions_is_zero():
    rng = np.random.default_rng(2)
    for rank in (None, 10):  # full rank and rank-deficient
        s = _random_spd(rng, 32, rank=rank)
        mu = rng.normal(size=32)
        value, info = frechet_distance(mu, s, mu, s)
        assert 0.0 <= value <= 1e-6
        assert abs(info["raw"]) <= 1e-6


def test_frechet_one_dimensional_closed_form():
    # For 1-D Gaussians: (mu1 - mu2)^2 + (s1 - s2)^2 with s the standard deviations.
    mu1, mu2, sd1, sd2 = 0.3, -1.2, 2.0, 0.5
    value, _ = frechet_distance([mu1], [[sd1**2]], [mu2], [[sd2**2]])
    assert value == pytest.approx((mu1 - mu2) ** 2 + (sd1 - sd2) ** 2, rel=1e-12)


def test_frechet_diagonal_closed_form():
    # Commuting (diagonal) covariances: Tr((S1 S2)^{1/2}) = sum sqrt(a_i b_i).
    a, b = np.array([1.0, 4.0, 0.0, 9.0]), np.array([4.0, 1.0, 3.0, 0.0])
    value, _ = frechet_distance(np.zeros(4), np.diag(a), np.ones(4), np.diag(b))
    expected = 4.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert value == pytest.approx(expected, rel=1e-12)


def test_frechet_rejects_bad_shapes():
    with pytest.raises(ValueError, match="sigma2 has shape"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.zeros(2), np.eye(2) * np.nan, np.zeros(2), np.eye(2))


def _features(seed, n=500, d=16, offset=0.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d))
    return rng.normal(size=(n, d)) @ mix + offset + rng.normal(size=d)


def _stream(x, chunk_sizes):
    stats = FeatureStats(x.shape[1])
    start = 0
    for size in chunk_sizes:
        stats.update(x[start:start + size])
        start += size
    assert start == len(x)
    return stats


def test_stats_streamed_equal_numpy():
    x = _features(0)
    stats = _stream(x, [1, 0, 7, 100, 2, 290, 100])
    assert stats.count == 500
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=0, atol=1e-10)
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=0, atol=1e-10)


def test_stats_stable_with_large_offset():
    # |mean| = 1e4 >> std ~ 4: raw sums of x x^T would lose ~8 digits to cancellation here.
    x = _features(1, offset=1e4)
    stats = _stream(x, [13, 250, 237])
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=0, atol=1e-8)


def test_stats_merge_equals_concatenation_and_order_invariant():
    a, b, c = _features(2, n=50), _features(3, n=301), _features(4, n=2)
    sa, sb, sc = (FeatureStats(16).update(v) for v in (a, b, c))
    merged = sa.merge(sb).merge(sc)
    whole = np.concatenate([a, b, c])
    np.testing.assert_allclose(merged.mean, whole.mean(0), rtol=0, atol=1e-10)
    np.testing.assert_allclose(merged.cov, np.cov(whole, rowvar=False), rtol=0, atol=1e-10)
    other_order = sc.merge(sa.merge(sb))
    shuffled = _stream(np.random.default_rng(0).permutation(whole), [100, 253])
    for s in (other_order, shuffled):
        assert s.count == merged.count
        np.testing.assert_allclose(s.mean, merged.mean, rtol=0, atol=1e-12)
        np.testing.assert_allclose(s.cov, merged.cov, rtol=0, atol=1e-10)
    assert sa.count == 50  # merge does not mutate its inputs


def test_fid_of_distribution_with_itself_from_streamed_stats():
    # The same 300 features streamed in two different orders and chunkings, 64-d, one near-singular
    # direction: FID between the two statistics is 0 up to rounding.
    x = _features(9, n=300, d=64)
    x[:, 5] = x[:, 4] + 1e-7 * x[:, 3]
    a = _stream(x, [300])
    b = _stream(np.random.default_rng(1).permutation(x), [7, 93, 200])
    out = compute_fid(a, b)
    assert 0.0 <= out["fid"] <= 1e-6
    assert abs(out["sqrtm_info"]["raw"]) <= 1e-6


def test_stats_npz_round_trip(tmp_path):
    stats = FeatureStats(16, meta={"feature_extractor": "x", "image_size": 32}).update(_features(5))
    path = tmp_path / "stats.npz"
    stats.save(path)
    loaded = FeatureStats.load(path)
    assert loaded.count == stats.count and loaded.meta == stats.meta
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    np.testing.assert_array_equal(loaded.cov, stats.cov)


def test_stats_errors():
    stats = FeatureStats(4)
    with pytest.raises(ValueError, match=r"shape \[n, 4\]"):
        stats.update(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="at least 2"):
        stats.update(np.zeros((1, 4))).cov
    with pytest.raises(ValueError, match="different protocols"):
        FeatureStats(4, {"weights_sha256": "a"}).merge(FeatureStats(4, {"weights_sha256": "b"}))


def test_compute_fid_protocol_and_value():
    x, y = _features(6), _features(7)
    meta = {"feature_extractor": "toy", "weights_sha256": "abc", "image_size": 32}
    real, fake = FeatureStats(16, meta).update(x), FeatureStats(16, meta).update(y[:123])
    out = compute_fid(real, fake, protocol={"dataset": "toy/test"})
    ref = _reference_fid(x.mean(0), np.cov(x, rowvar=False), y[:123].mean(0), np.cov(y[:123], rowvar=False))
    assert out["fid"] == pytest.approx(ref, rel=1e-6)
    p = out["protocol"]
    assert (p["n_real"], p["n_fake"], p["feature_dim"]) == (500, 123, 16)
    assert p["weights_sha256"] == "abc" and p["dataset"] == "toy/test"
    with pytest.raises(ValueError, match="different protocols"):
        compute_fid(real, FeatureStats(16, {**meta, "image_size": 64}).update(y))
