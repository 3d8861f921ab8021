"""mixture2d: per-mode means and std match the stored centers and std; metadata; balance."""

import itertools

import numpy as np
import pytest

from genvision_jax.data import get_source
from genvision_jax.data.datasets import mixture2d

NUM_TRAIN = 20_000


@pytest.mark.parametrize("mixture, num_modes, std", [("ring8", 8, 0.02), ("grid25", 25, 0.05)])
def test_modes_match_stored_centers_and_std(data_dir, mixture, num_modes, std):
    source = get_source("mixture2d", "train", data_dir=data_dir, mixture=mixture,
                        num_train=NUM_TRAIN, num_test=100)
    records = source.__getitems__(range(len(source)))
    points = np.stack([r["point"] for r in records])
    modes = np.array([r["label"] for r in records])
    assert points.shape == (NUM_TRAIN, 2) and points.dtype == np.float32

    centers = source.metadata["centers"]
    assert centers.shape == (num_modes, 2) and source.metadata["std"] == std
    assert np.array_equal(centers, mixture2d.MIXTURES[mixture].centers)
    if mixture == "ring8":
        assert np.allclose(np.linalg.norm(centers, axis=1), 2.0)
        assert np.allclose(np.sort(np.arctan2(centers[:, 1], centers[:, 0]) % (2 * np.pi)),
                           np.arange(8) * np.pi / 4, atol=1e-6)
    else:
        grid = set(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2))
        assert set(map(tuple, centers.tolist())) == grid

    counts = np.bincount(modes, minlength=num_modes)
    expected = NUM_TRAIN / num_modes
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    for k in range(num_modes):
        mean = points[modes == k].mean(0)
        assert np.all(np.abs(mean - centers[k]) < 5 * std / np.sqrt(counts[k])), (k, mean)
    offsets = points - centers[modes]
    assert np.allclose(offsets.std(0), std, rtol=0.03)
    assert abs(np.corrcoef(offsets.T)[0, 1]) < 0.03  # Isotropic.
    # Every point is nearest to its own mode's center.
    nearest = np.argmin(np.linalg.norm(points[:, None] - centers[None], axis=2), axis=1)
    assert np.array_equal(nearest, modes)


def test_splits_differ_and_sampling_is_deterministic():
    ring = mixture2d.MIXTURES["ring8"]
    a, ma = mixture2d.sample(ring, 1000, [mixture2d.SEED, 0])
    b, mb = mixture2d.sample(ring, 1000, [mixture2d.SEED, 0])
    c, _ = mixture2d.sample(ring, 1000, [mixture2d.SEED, 1])
    assert np.array_equal(a, b) and np.array_equal(ma, mb) and not np.allclose(a, c)


def test_bad_mixture_name(tmp_path):
    with pytest.raises(ValueError, match=r"mixture='ring9'.*'ring8', 'grid25'"):
        get_source("mixture2d", "train", data_dir=str(tmp_path), mixture="ring9")
