"""Mode coverage on constructed samples with known answers."""

import numpy as np
import pytest

from genvision_jax.data.datasets.mixture2d import MIXTURES, sample
from genvision_jax.metrics.mode_coverage import mode_coverage


def test_true_mixture_covers_every_mode_with_high_quality():
    for name, mix in MIXTURES.items():
        x, _ = sample(mix, 2500, seed=1)
        r = mode_coverage(x, mix.centers, mix.std)
        assert r["modes_covered"] == len(mix.centers), name
        # Within 3σ in 2-D holds 1 - exp(-9/2) = 98.89% of a Gaussian's mass.
        assert abs(r["high_quality"] - (1 - np.exp(-4.5))) < 0.01
        assert r["kl_modes"] < 0.02


def test_collapsed_and_off_manifold_samples():
    mix = MIXTURES["grid25"]
    rng = np.random.default_rng(0)
    # 3 modes hit exactly (100 samples each), 25 samples on a 4th (fewer than 20 would not count), rest far away.
    x = np.concatenate([np.repeat(mix.centers[:3], 100, axis=0), np.repeat(mix.centers[3:4], 25, axis=0),
                        np.repeat(mix.centers[4:5], 19, axis=0), rng.uniform(10, 11, (56, 2))])
    r = mode_coverage(x, mix.centers, mix.std)
    assert r["modes_covered"] == 4
    np.testing.assert_allclose(r["high_quality"], 344 / 400)
    assert r["per_mode_counts"][:5] == [100, 100, 100, 25, 19] and sum(r["per_mode_counts"]) == 344
    # KL(p || uniform) with add-one smoothing, by hand.
    counts = np.array(r["per_mode_counts"], float)
    p = (counts + 1) / (counts.sum() + 25)
    np.testing.assert_allclose(r["kl_modes"], np.sum(p * np.log(p * 25)))


def test_radius_is_num_std_sigmas():
    c = np.zeros((1, 2))
    x = np.array([[0.149, 0.0], [0.151, 0.0]])  # 3σ = 0.15 for σ = 0.05
    r = mode_coverage(x, c, 0.05, min_count=1)
    assert r["high_quality"] == 0.5 and r["modes_covered"] == 1


def test_bad_input():
    with pytest.raises(ValueError, match="must agree in D"):
        mode_coverage(np.zeros((3, 3)), np.zeros((2, 2)), 0.1)
    with pytest.raises(ValueError, match="NaN or Inf"):
        mode_coverage(np.full((3, 2), np.nan), np.zeros((2, 2)), 0.1)
