"""Image sets for the metrics CLI: folders, .npz files and dataset splits."""

import numpy as np
import pytest
from PIL import Image

from genvision_jax.metrics.image_sources import (as_uint8_images, dataset_images, npz_images,
                                                 open_images, parse_dataset_spec)


def _write(folder, name, array, mode=None):
    folder.mkdir(exist_ok=True)
    Image.fromarray(array, mode).save(folder / name)


def test_folder_sorted_gray_and_rgb(tmp_path):
    rng = np.random.default_rng(0)
    gray = [rng.integers(0, 256, (6, 5), dtype=np.uint8) for _ in range(3)]
    for name, img in zip(("b.png", "a.png", "c.bmp"), gray):
        _write(tmp_path / "gray", name, img)
    (tmp_path / "gray" / "notes.txt").write_text("not an image")
    images = open_images(str(tmp_path / "gray"))
    assert list(images.names) == ["a.png", "b.png", "c.bmp"] and len(images) == 3
    x = np.concatenate(list(images.batches(2)))
    assert x.dtype == np.uint8 and x.shape == (3, 6, 5, 1)
    np.testing.assert_array_equal(x[:, :, :, 0], [gray[1], gray[0], gray[2]])  # lossless, sorted
    assert images.description["image_shape"] == [6, 5, 1] and images.dataset is None
    rgba = rng.integers(0, 256, (4, 4, 4), dtype=np.uint8)
    _write(tmp_path / "rgba", "x.png", rgba)
    np.testing.assert_array_equal(open_images(str(tmp_path / "rgba")).read(0, 1)[0], rgba[..., :3])


def test_folder_errors(tmp_path):
    _write(tmp_path / "mixed", "a.png", np.zeros((4, 4), np.uint8))
    _write(tmp_path / "mixed", "b.png", np.zeros((5, 4), np.uint8))
    with pytest.raises(ValueError, match=r"b.png is \(5, 4, 1\), but .*a.png is \(4, 4, 1\)"):
        open_images(str(tmp_path / "mixed")).read(0, 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        open_images(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="neither a folder, an .npz file"):
        open_images(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="asked for 3 images but"):
        open_images(str(tmp_path / "mixed")).take(3)


def test_npz_keys_dtypes_and_take(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", labels=np.arange(5), images=x)
    np.savez(tmp_path / "b.npz", x / 255.0)  # the only array; floats in [0, 1]
    np.savez(tmp_path / "c.npz", x=x, y=x)
    a, b = npz_images(tmp_path / "a.npz"), open_images(str(tmp_path / "b.npz"))
    np.testing.assert_array_equal(a.read(0, 5), x)
    np.testing.assert_array_equal(b.read(0, 5), x)  # round(255 * x / 255) is exact
    assert b.description["key"] == "arr_0"
    first = a.take(2)
    assert len(first) == 2 and first.description["num_images"] == 2
    np.testing.assert_array_equal(np.concatenate(list(first.batches(10))), x[:2])
    with pytest.raises(ValueError, match=r"holds arrays \['x', 'y'\]; name the images 'images'"):
        npz_images(tmp_path / "c.npz")


@pytest.mark.parametrize("x, match", [
    (np.zeros((2, 4, 4, 3)) - 0.5, r"must be in \[0, 1\], got values in \[-0.5, -0.5\] \(for \[-1, 1\]"),
    (np.zeros((2, 4, 4, 2), np.uint8), r"\[N, H, W, 1\|3\], got shape \(2, 4, 4, 2\)"),
    (np.zeros((2, 4, 4, 3), np.int16), "must be uint8 or float in"),
    (np.full((2, 4, 4), np.nan), "NaN or Inf"),
])
def test_array_validation(x, match):
    with pytest.raises(ValueError, match=match):
        as_uint8_images(x, "test")


def test_gray_arrays_get_a_channel_and_floats_are_quantized():
    x = as_uint8_images(np.array([[[0.0, 0.5, 1.0]]]), "t")
    assert x.shape == (1, 1, 3, 1) and x.ravel().tolist() == [0, 128, 255]


@pytest.mark.parametrize("spec, expected", [
    ("tfds:digits:test", ("digits", {}, "test")),
    ("tfds:digits", ("digits", {}, "train")),
    ("tfds:shapes/32x32:test", ("shapes", {"image_size": 32}, "test")),
    ("tfds:cifar10", ("tfds:cifar10", {}, "train")),
    ("tfds:cifar10:test", ("tfds:cifar10", {}, "test")),
    ("tfds:cifar10:3.0.2", ("tfds:cifar10:3.0.2", {}, "train")),
    ("tfds:celeb_a/x:2.1.0:validation", ("tfds:celeb_a/x:2.1.0", {}, "validation")),
])
def test_parse_dataset_spec(spec, expected):
    assert parse_dataset_spec(spec) == expected


def test_parse_dataset_spec_errors():
    with pytest.raises(ValueError, match="configs are '<S>x<S>', got '32x64'"):
        parse_dataset_spec("tfds:shapes/32x64")
    with pytest.raises(ValueError, match="no dataset name"):
        parse_dataset_spec("tfds::test")


def test_dataset_split_and_missing_catalog_dataset(tmp_path):
    images = dataset_images("digits", "test", image_size=32)
    assert len(images) == 300 and images.dataset == {"dataset": "digits/32x32/1.0.0", "split": "test"}
    x = images.read(10, 14)
    assert x.shape == (4, 32, 32, 1) and x.dtype == np.uint8 and x.max() > 128
    assert images.take(50).dataset["num_samples"] == 50
    with pytest.raises(FileNotFoundError, match="never downloads"):
        open_images("tfds:cifar10:test", data_dir=str(tmp_path))
