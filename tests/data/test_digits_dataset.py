"""digits: split sizes and balance, image format, fidelity to sklearn's originals, determinism."""

import filecmp
import os

import numpy as np
import pytest
from sklearn.datasets import load_digits

from genvision_jax.data import get_source
from genvision_jax.data.datasets import digits


def _all(source):
    records = source.__getitems__(range(len(source)))
    return {k: np.stack([r[k] for r in records]) for k in records[0]}


@pytest.fixture(scope="module")
def sklearn_digits():
    return load_digits()


def test_splits_cover_all_1797_stratified(data_dir, sklearn_digits):
    train = _all(get_source("digits", "train", data_dir=data_dir, image_size=32))
    test = _all(get_source("digits", "test", data_dir=data_dir, image_size=32))
    assert (len(train["label"]), len(test["label"])) == (1497, 300)
    assert np.array_equal(np.sort(np.concatenate([train["index"], test["index"]])), np.arange(1797))
    assert np.array_equal(np.bincount(test["label"]), np.full(10, 30))
    expected_train = np.bincount(sklearn_digits.target) - 30
    assert np.array_equal(np.bincount(train["label"]), expected_train)
    assert expected_train.min() >= 144 and expected_train.max() <= 153  # Balanced-ish.
    # Labels are sklearn's for the stored row index.
    assert np.array_equal(train["label"], sklearn_digits.target[train["index"]])


@pytest.mark.parametrize("size", [8, 16, 32])
def test_image_format(data_dir, size):
    record = get_source("digits", "test", data_dir=data_dir, image_size=size)[0]
    assert record["image"].shape == (size, size, 1) and record["image"].dtype == np.uint8
    assert record["label"].dtype == np.int64 and record["label"].shape == ()


def test_8x8_is_the_original_scaled(data_dir, sklearn_digits):
    test = _all(get_source("digits", "test", data_dir=data_dir, image_size=8))
    expected = np.rint(sklearn_digits.images[test["index"]] * 255 / 16).astype(np.uint8)
    assert np.array_equal(test["image"][..., 0], expected)


def test_32x32_block_mean_correlates_with_original(data_dir, sklearn_digits):
    test = _all(get_source("digits", "test", data_dir=data_dir, image_size=32))
    pooled = test["image"][..., 0].astype(np.float64).reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4))
    original = sklearn_digits.images[test["index"]]
    a = pooled.reshape(len(pooled), -1)
    b = original.reshape(len(original), -1)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    r = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    assert r.mean() > 0.97 and r.min() > 0.95
    # Interpolated (bicubic), not replicated: more grey levels than the original's 17.
    assert len(np.unique(test["image"])) > 100
    # Scale preserved: block means of the 0..255 image ~ 255/16 x the 0..16 original.
    assert abs(pooled.mean() / original.mean() - 255 / 16) < 0.05 * 255 / 16


def test_stratified_split_is_seeded():
    labels = np.repeat(np.arange(3), 10)
    train, test = digits.stratified_split(labels, 2, seed=0)
    again = digits.stratified_split(labels, 2, seed=0)[1]
    other = digits.stratified_split(labels, 2, seed=1)[1]
    assert np.array_equal(test, again) and not np.array_equal(test, other)
    assert np.array_equal(np.bincount(labels[test]), [2, 2, 2])
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 30


def test_two_preparations_are_byte_identical(data_dir, tmp_path):
    get_source("digits", "train", data_dir=data_dir, image_size=16)
    get_source("digits", "train", data_dir=str(tmp_path), image_size=16)
    a = os.path.join(data_dir, "digits", "16x16", "1.0.0")
    b = os.path.join(str(tmp_path), "digits", "16x16", "1.0.0")
    files = sorted(f for f in os.listdir(a) if "array_record" in f)
    assert len(files) == 2
    match, mismatch, errors = filecmp.cmpfiles(a, b, files + ["dataset_info.json"], shallow=False)
    assert not mismatch and not errors, (mismatch, errors)
