"""KID against a direct numpy implementation of the unbiased MMD² estimator written here."""

import numpy as np
import pytest

from genvision_jax.metrics.kid import kid, mmd2_unbiased


def _direct_mmd2(x, y):
    """Unbiased MMD² term by term: k(a, b) = (a·b/d + 1)^3 over explicit index pairs."""
    d = x.shape[1]
    k = lambda a, b: (float(np.dot(a, b)) / d + 1.0) ** 3
    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2.0 * kxy


def _sets(seed, m=24, n=31, d=6, shift=0.5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, d)), rng.normal(size=(n, d)) * 1.3 + shift


def test_mmd2_matches_direct_sum():
    x, y = _sets(0)
    assert mmd2_unbiased(x, y) == pytest.approx(_direct_mmd2(x, y), rel=1e-12)


def test_kid_whole_set_is_the_estimator_itself():
    # subset_size >= both sample counts: each subset is a permutation of all points, and the
    # estimator does not depend on order.
    x, y = _sets(1, m=20, n=20)
    out = kid(x, y, subset_size=1000, num_subsets=3, seed=5)
    assert out["kid_mean"] == pytest.approx(_direct_mmd2(x, y), rel=1e-12)
    assert out["kid_std"] < 1e-12 * abs(out["kid_mean"]) + 1e-15
    p = out["protocol"]
    assert (p["subset_size"], p["subset_size_requested"], p["num_subsets"], p["seed"]) == (20, 1000, 3, 5)
    assert (p["n_real"], p["n_fake"], p["feature_dim"]) == (20, 20, 6)


def test_kid_subsets_follow_the_documented_sampling():
    x, y = _sets(2, m=40, n=35)
    out = kid(x, y, subset_size=10, num_subsets=7, seed=3, protocol={"feature_extractor": "toy"})
    rng = np.random.default_rng(3)
    values = []
    for _ in range(7):
        xi = rng.choice(40, 10, replace=False)
        yi = rng.choice(35, 10, replace=False)
        values.append(_direct_mmd2(x[xi], y[yi]))
    assert out["kid_mean"] == pytest.approx(np.mean(values), rel=1e-10)
    assert out["kid_std"] == pytest.approx(np.std(values), rel=1e-8)
    assert out["protocol"]["feature_extractor"] == "toy" and out["protocol"]["metric"] == "kid"


def test_kid_separates_distributions():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    far = rng.normal(size=(400, 16)) + 1.0
    same = kid(a, b, subset_size=100, num_subsets=20)
    diff = kid(a, far, subset_size=100, num_subsets=20)
    assert abs(same["kid_mean"]) < 3 * same["kid_std"]  # unbiased: centred on 0
    assert diff["kid_mean"] > 10 * diff["kid_std"] > 0


def test_kid_errors():
    x, y = _sets(5)
    with pytest.raises(ValueError, match="feature dims differ: real 6 vs fake 3"):
        kid(x, y[:, :3])
    with pytest.raises(ValueError, match="at least 2 real and 2 generated"):
        kid(x[:1], y)
    with pytest.raises(ValueError, match=r"real features must be \[n, d\]"):
        kid(x[0], y)
    with pytest.raises(ValueError, match="fake features contain NaN"):
        kid(x, np.full_like(y, np.nan))
