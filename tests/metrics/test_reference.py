"""Cached reference statistics: keyed by dataset, split, sample count and extractor protocol."""

import dataclasses

import numpy as np
import pytest

from genvision_jax.metrics import load_digits_extractor
from genvision_jax.metrics.features import scale_uint8, stats_from_images
from genvision_jax.metrics.fid import FeatureStats
from genvision_jax.metrics.image_sources import dataset_images, npz_images
from genvision_jax.metrics.reference import cache_dir, cache_path, reference_key, reference_stats


@pytest.fixture(scope="module")
def extractor():
    return load_digits_extractor(batch_size=64)


@pytest.fixture(scope="module")
def digits_test():
    return dataset_images("digits", "test", image_size=32).take(120)


def test_cache_miss_then_hit_equals_direct_stats(extractor, digits_test, tmp_path):
    first = reference_stats(extractor, digits_test, directory=tmp_path)
    path = cache_path(reference_key(extractor, digits_test), tmp_path)
    assert path.is_file() and "cache_file" not in first.meta
    assert path.name.startswith("digits-32x32-1.0.0-test-120-")
    second = reference_stats(extractor, digits_test, directory=tmp_path)
    assert second.meta["cache_file"] == str(path)
    direct = stats_from_images(extractor, scale_uint8(digits_test.read(0, 120), extractor.input_spec))
    for s in (first, second):
        assert s.count == 120
        np.testing.assert_allclose(s.mean, direct.mean, rtol=0, atol=1e-9)
        np.testing.assert_allclose(s.cov, direct.cov, rtol=0, atol=1e-9)
    assert second.meta["reference_key"]["weights_sha256"] == extractor.weights_sha256


def test_key_changes_with_protocol(extractor, digits_test, tmp_path):
    key = reference_key(extractor, digits_test)
    assert key["dataset"] == "digits/32x32/1.0.0" and key["split"] == "test"
    assert key["num_samples"] == 120 and key["resize"] == "none"
    other_weights = dataclasses.replace(extractor, weights_sha256="0" * 64)
    variants = [reference_key(other_weights, digits_test),
                reference_key(extractor, digits_test.take(60)),
                reference_key(dataclasses.replace(extractor, resize="clean"), digits_test)]
    paths = {cache_path(k, tmp_path) for k in [key, *variants]}
    assert len(paths) == 4


def test_foreign_file_under_the_key_is_recomputed(extractor, digits_test, tmp_path):
    path = cache_path(reference_key(extractor, digits_test), tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FeatureStats(128, {"reference_key": {"dataset": "other"}}).update(np.ones((3, 128))).save(path)
    stats = reference_stats(extractor, digits_test, directory=tmp_path)
    assert stats.count == 120 and "cache_file" not in stats.meta
    assert FeatureStats.load(path).count == 120  # overwritten with the right statistics


def test_default_directory_and_non_dataset_error(extractor, tmp_path, monkeypatch):
    monkeypatch.setenv("GENVISION_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" / "reference_stats"
    np.savez(tmp_path / "x.npz", images=np.zeros((4, 32, 32, 1), np.uint8))
    with pytest.raises(ValueError, match="only dataset splits have cached reference statistics"):
        reference_stats(extractor, npz_images(tmp_path / "x.npz"))
