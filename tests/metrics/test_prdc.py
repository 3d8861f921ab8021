"""Precision/recall and density/coverage on constructed point sets, and vs a brute-force reference."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from genvision_jax.metrics.prdc import knn_sq_radii, prdc

# Ten real points on a line: with k=3 the radii are 3 at both ends and 2 inside (neighbours at
# distances 1, 1, 2); with k=2 they are 2 at the ends and 1 inside.
REAL = np.stack([np.arange(10.0), np.zeros(10)], axis=1)


def test_radii_on_a_line():
    np.testing.assert_allclose(np.sqrt(knn_sq_radii(REAL, 3)), [3] + [2] * 8 + [3])
    np.testing.assert_allclose(np.sqrt(knn_sq_radii(REAL, 2, block_size=3)), [2] + [1] * 8 + [2])


def test_precision_and_density_known_answer():
    fake = np.array([[2.5, 0.0],   # inside the balls of reals 0..4 (5 balls)
                     [4.0, 1.5],   # inside the balls of reals 3, 4, 5 (3 balls)
                     [20.0, 0.0],  # outside
                     [0.0, 2.9],   # only inside the ball of real 0 (radius 3)
                     [5.0, 2.5]])  # 2.5 from real 5 whose radius is 2: outside
    out = prdc(REAL, fake, k=3)
    assert out["precision"] == pytest.approx(3 / 5)
    assert out["density"] == pytest.approx((5 + 3 + 1) / (3 * 5))


def test_recall_and_coverage_known_answer():
    fake = np.array([[0.5, 0.0], [4.2, 0.0], [20.0, 0.0]])
    out = prdc(REAL, fake, k=2)
    # Fake radii (k=2 among the three fakes) are 19.5, 15.8, 19.5: the outlier inflates the fake
    # manifold over every real point, the weakness coverage was made for.
    assert out["recall"] == pytest.approx(1.0)
    assert out["precision"] == pytest.approx(2 / 3)
    # Balls containing fakes: 0.5 in those of reals 0, 1; 4.2 in those of reals 4, 5.
    assert out["density"] == pytest.approx(4 / (2 * 3))
    # Reals whose nearest fake is within their own radius: 0, 1, 4, 5.
    assert out["coverage"] == pytest.approx(4 / 10)
    p = out["protocol"]
    assert (p["nearest_k"], p["n_real"], p["n_fake"], p["feature_dim"]) == (2, 10, 3, 2)


def _brute_force(real, fake, k):
    r_real = np.sort(cdist(real, real), axis=1)[:, k]
    r_fake = np.sort(cdist(fake, fake), axis=1)[:, k]
    d_fr = cdist(fake, real)
    inside = d_fr <= r_real[None, :]
    return {"precision": inside.any(1).mean(),
            "recall": (cdist(real, fake) <= r_fake[None, :]).any(1).mean(),
            "density": inside.sum() / (k * len(fake)),
            "coverage": (d_fr.min(0) <= r_real).mean()}


@pytest.mark.parametrize("k", [3, 5])
def test_matches_brute_force_on_random_features(k):
    rng = np.random.default_rng(k)
    real = rng.normal(size=(300, 32)) + 5.0  # offset: centring must keep distances accurate
    fake = rng.normal(size=(211, 32)) * 1.2 + 5.3
    out = prdc(real, fake, k=k, block_size=64)  # several blocks, the last ones padded
    ref = _brute_force(real, fake, k)
    for key in ref:
        assert out[key] == pytest.approx(ref[key], abs=1e-12), key
    assert 0.2 < out["precision"] < 1 and 0.2 < out["recall"] < 1


def test_errors():
    with pytest.raises(ValueError, match="need 1 <= k < n; got k=3 for n=3"):
        prdc(REAL, REAL[:3], k=3)
    with pytest.raises(ValueError, match="feature dims differ"):
        prdc(REAL, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="real features contain NaN"):
        prdc(np.full((5, 2), np.nan), REAL)
