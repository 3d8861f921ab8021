"""FeatureExtractor: batching, input validation, streaming into FeatureStats."""

import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.metrics.features import FeatureExtractor, InputSpec, stats_from_images


def _toy_extractor(batch_size=4):
    # features = [mean over pixels, max over pixels, w * first pixel]: a known function of the input.
    def apply_fn(params, x):
        flat = x.reshape(x.shape[0], -1)
        return jnp.stack([flat.mean(1), flat.max(1), params["w"] * flat[:, 0]], axis=1)

    return FeatureExtractor(name="toy", apply_fn=apply_fn, params={"w": jnp.float32(2.0)},
                            weights_sha256="0" * 64, input_spec=InputSpec(8, 8, 1),
                            batch_size=batch_size)


def test_extractor_batches_and_padding_match_direct_computation():
    ex = _toy_extractor(batch_size=4)
    x = np.random.default_rng(0).uniform(-1, 1, size=(10, 8, 8, 1)).astype(np.float32)
    feats = ex(x)  # 3 batches, the last padded from 2 to 4
    flat = x.reshape(10, -1)
    expected = np.stack([flat.mean(1), flat.max(1), 2 * flat[:, 0]], axis=1)
    assert feats.shape == (10, 3) and feats.dtype == np.float32
    np.testing.assert_allclose(feats, expected, rtol=1e-6, atol=1e-6)
    assert ex.feature_dim == 3
    assert ex(np.zeros((0, 8, 8, 1), np.float32)).shape == (0, 3)


def test_extractor_accepts_float64_and_boundary_values():
    ex = _toy_extractor()
    x = np.full((2, 8, 8, 1), -1.0)
    x[1] = 1.0
    np.testing.assert_allclose(ex(x)[:, 0], [-1.0, 1.0])


@pytest.mark.parametrize("images, match", [
    (np.zeros((2, 8, 8), np.float32), r"expects images \[N,8,8,1\] float32 in \[-1, 1\]; got shape \(2, 8, 8\)"),
    (np.zeros((2, 8, 8, 3), np.float32), r"got shape \(2, 8, 8, 3\)"),
    (np.zeros((2, 16, 16, 1), np.float32), r"got shape \(2, 16, 16, 1\)"),
    (np.zeros((2, 8, 8, 1), np.uint8), r"got dtype uint8 \(scale uint8 images with x / 127.5 - 1\)"),
    (np.zeros((2, 8, 8, 1), np.int32), r"got dtype int32"),
    (np.full((2, 8, 8, 1), 1.5, np.float32), r"got values in \[1.5, 1.5\]"),
    (np.linspace(0, 255, 128, dtype=np.float32).reshape(2, 8, 8, 1), r"got values in \[0, 255\]"),
    (np.full((2, 8, 8, 1), np.nan, np.float32), r"NaN or Inf"),
])
def test_extractor_input_validation(images, match):
    with pytest.raises(ValueError, match=match):
        _toy_extractor()(images)


def test_stats_from_images_streams_batches_and_dicts():
    ex = _toy_extractor()
    rng = np.random.default_rng(1)
    batches = [rng.uniform(-1, 1, size=(n, 8, 8, 1)).astype(np.float32) for n in (5, 1, 7)]
    stats = stats_from_images(ex, ({"image": b} for b in batches), meta={"dataset": "toy"})
    feats = ex(np.concatenate(batches)).astype(np.float64)
    assert stats.count == 13
    np.testing.assert_allclose(stats.mean, feats.mean(0), atol=1e-10)
    np.testing.assert_allclose(stats.cov, np.cov(feats, rowvar=False), atol=1e-10)
    assert stats.meta["feature_extractor"] == "toy" and stats.meta["dataset"] == "toy"
    assert stats.meta["image_size"] == [8, 8] and stats.meta["feature_dim"] == 3
    single = stats_from_images(ex, np.concatenate(batches))  # one array = one batch
    np.testing.assert_allclose(single.cov, stats.cov, atol=1e-10)
