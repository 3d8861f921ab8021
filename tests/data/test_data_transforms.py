"""Transforms: exact values of scaling, flipping, key selection and resizing."""

import numpy as np
import pytest

from genvision_jax.data import transforms as T


def test_scale_maps_0_to_minus_1_and_255_to_1():
    image = np.array([0, 255, 51, 204], np.uint8).reshape(2, 2, 1)
    out = T.ScaleImage().map({"image": image, "label": 3})
    assert out["image"].dtype == np.float32 and out["label"] == 3
    np.testing.assert_allclose(out["image"].ravel(), [-1.0, 1.0, -0.6, 0.6], atol=1e-7)
    with pytest.raises(TypeError, match="uint8"):
        T.ScaleImage().map({"image": out["image"]})


def test_flip_mirrors_width_and_all_keys_together():
    image = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    record = {"image": image, "target": image + 1, "label": 0}
    rng = np.random.default_rng(0)
    always = T.RandomFlip(keys=("image", "target"), probability=1.0).random_map(record, rng)
    assert np.array_equal(always["image"], image[:, ::-1]) and always["image"][0, 0, 0] == 9
    assert np.array_equal(always["target"], image[:, ::-1] + 1)
    never = T.RandomFlip(probability=0.0).random_map(record, rng)
    assert np.array_equal(never["image"], image)


def test_select_and_rename_keys():
    record = {"image": 1, "label": 2, "color": 3}
    assert T.SelectKeys(("label", "image")).map(record) == {"label": 2, "image": 1}
    assert T.RenameKeys({"label": "y"}).map(record) == {"image": 1, "y": 2, "color": 3}
    with pytest.raises(KeyError, match=r"\['size'\].*\['color', 'image', 'label'\]"):
        T.SelectKeys(("size",)).map(record)


def test_resize_area_is_block_mean_and_keeps_channels():
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    out = T.Resize(4, method="area").map({"image": image})["image"]
    expected = image.astype(float).reshape(4, 2, 4, 2, 3).mean(axis=(1, 3))
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    assert np.abs(out - expected).max() <= 1
    gray = T.Resize((2, 4), method="area").map({"image": image[..., :1]})["image"]
    assert gray.shape == (2, 4, 1)
    floats = T.Resize(4, method="area").map({"image": image.astype(np.float32)})["image"]
    np.testing.assert_allclose(floats, expected, atol=1e-4)
    assert T.Resize(8).map({"image": image})["image"] is image  # Already that size.
    with pytest.raises(ValueError, match="cubic"):
        T.Resize(4, method="cubic")
