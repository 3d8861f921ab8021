"""The shipped digits classifier: file identity, accuracy, features and FID sanity; augmentation."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genvision_jax.metrics import compute_fid, load_digits_extractor, stats_from_images
from genvision_jax.models.recognizers import digits_classifier
from genvision_jax.tasks.classifier import affine_warp, load_split

WEIGHTS = digits_classifier.WEIGHTS_DIR
INFO = json.loads((WEIGHTS / f"{digits_classifier.NAME}.json").read_text())


@pytest.fixture(scope="module")
def test_split():
    images, labels, _ = load_split("digits", "test")
    return images, labels


@pytest.fixture(scope="module")
def extractor():
    return load_digits_extractor()


def test_shipped_weights_identity_and_size():
    path = WEIGHTS / INFO["weights_file"]
    assert digits_classifier.file_sha256(path) == INFO["sha256"]
    assert path.stat().st_size < 1_000_000
    assert INFO["input_spec"] == digits_classifier.INPUT_SPEC


def test_tampered_weights_are_rejected(tmp_path):
    for name in (INFO["weights_file"], f"{digits_classifier.NAME}.json"):
        (tmp_path / name).write_bytes((WEIGHTS / name).read_bytes())
    blob = bytearray((tmp_path / INFO["weights_file"]).read_bytes())
    blob[-1] ^= 1
    (tmp_path / INFO["weights_file"]).write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="does not match the recorded"):
        digits_classifier.load_pretrained(tmp_path)


def test_shipped_classifier_test_accuracy(test_split):
    images, labels = test_split
    assert len(images) == INFO["dataset"]["n_test"] and images.shape[1:] == (32, 32, 1)
    model, params, _ = digits_classifier.load_pretrained()
    acc = digits_classifier.accuracy(model, params, images, labels)
    assert acc >= INFO["test_accuracy"] - 1e-6
    assert acc >= 0.97


def test_features_shape_and_per_example_purity(extractor, test_split):
    images, _ = test_split
    feats = extractor(images[:40])
    assert feats.shape == (40, INFO["feature_dim"]) == (40, 128)
    # No batch statistics anywhere: an image's features do not depend on its batch mates.
    alone = extractor(images[3:4])
    np.testing.assert_allclose(alone[0], feats[3], rtol=1e-5, atol=1e-5)
    assert extractor.protocol()["weights_sha256"] == INFO["sha256"]
    assert extractor.name == f"{digits_classifier.NAME}/{digits_classifier.FEATURE_LAYER}"


def test_fid_real_vs_real_is_small_compared_with_noise(extractor, test_split):
    test_images, _ = test_split
    train_images, _, _ = load_split("digits", "train")
    test_stats = stats_from_images(extractor, test_images, meta={"split": "test"})
    train_stats = stats_from_images(extractor, train_images, meta={"split": "train"})
    noise = np.random.default_rng(0).uniform(-1, 1, size=test_images.shape).astype(np.float32)
    noise_stats = stats_from_images(extractor, noise)
    real = compute_fid(train_stats, test_stats)
    fake = compute_fid(test_stats, noise_stats)
    # Measured with the shipped weights: train vs test 4.8, test vs uniform noise 444.
    assert real["fid"] < 15.0
    assert fake["fid"] > 100.0
    assert real["fid"] / fake["fid"] < 0.05
    assert real["protocol"]["n_real"] == 1497 and real["protocol"]["n_fake"] == 300


def test_classifier_shapes_from_random_init():
    model = digits_classifier.DigitsClassifier()
    x = jnp.zeros((3, 32, 32, 1))
    params = model.init(jax.random.key(0), x)["params"]
    assert model.apply({"params": params}, x).shape == (3, 10)
    assert model.apply({"params": params}, x, return_features=True).shape == (3, 128)
    assert params["conv0"]["kernel"].shape == (3, 3, 1, 16)


def test_affine_warp_rotation_and_shift():
    img = np.random.default_rng(0).uniform(-1, 1, size=(1, 8, 8, 2)).astype(np.float32)
    rot = affine_warp(img, jnp.array([np.pi / 2]), jnp.zeros((1, 2)))
    np.testing.assert_allclose(rot[0], np.rot90(img[0], k=1), atol=1e-5)
    shifted = affine_warp(img, jnp.zeros(1), jnp.array([[2.0, -1.0]]))  # 2 down, 1 left
    expected = np.pad(img[0], ((2, 0), (0, 1), (0, 0)), mode="edge")[:8, 1:]
    np.testing.assert_allclose(shifted[0], expected, atol=1e-5)
    same = affine_warp(img, jnp.zeros(1), jnp.zeros((1, 2)))
    np.testing.assert_allclose(same, img, atol=1e-6)
