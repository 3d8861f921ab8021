"""shapes: stored attributes agree with the pixels; balance, re-rendering, determinism, workers."""

import filecmp
import os

import numpy as np
import pytest

from genvision_jax.data import get_source
from genvision_jax.data.datasets import shapes
from genvision_jax.errors import ConfigError

NUM_TRAIN, NUM_TEST = 600, 120
# Circumradius-1 areas, from geometry (not from the module's polygons).
UNIT_AREA = {"circle": np.pi, "square": 2.0, "triangle": 3 * np.sqrt(3) / 4,
             "star": 5 * 0.45 * np.sin(np.pi / 5), "hexagon": 3 * np.sqrt(3) / 2,
             "ellipse": np.pi / 2}


def _load(data_dir, size, split="train"):
    source = get_source("shapes", split, data_dir=data_dir, image_size=size,
                        num_train=NUM_TRAIN, num_test=NUM_TEST)
    records = source.__getitems__(range(len(source)))
    return {k: np.stack([r[k] for r in records]) for k in records[0]}


@pytest.fixture(scope="module", params=[32, 64])
def train(request, data_dir):
    return request.param, _load(data_dir, request.param)


def _flat(data):
    return np.all(data["background"] == data["background_end"], axis=1)


def _alpha(image, background, color):
    """Coverage of each pixel, solved from image = background + alpha (color - background)."""
    d = color.astype(np.float64) - background
    return np.clip(((image - background.astype(np.float64)) @ d) / (d @ d), 0.0, 1.0)


def test_features_and_class_balance(data_dir, train):
    size, data = train
    assert data["image"].shape == (NUM_TRAIN, size, size, 3) and data["image"].dtype == np.uint8
    for key in ("color", "background", "background_end"):
        assert data[key].shape == (NUM_TRAIN, 3) and data[key].dtype == np.uint8
    assert data["center"].shape == (NUM_TRAIN, 2) and data["center"].dtype == np.float32
    assert np.array_equal(np.bincount(data["label"]), np.full(6, 100))
    test = _load(data_dir, size, "test")
    assert np.array_equal(np.bincount(test["label"]), np.full(6, 20))


def test_attribute_ranges(train):
    _, data = train
    size, (cx, cy) = data["size"], data["center"].T
    assert size.min() >= 0.15 and size.max() <= 0.40 and np.ptp(size) > 0.2
    assert np.all(cx >= size) and np.all(cx <= 1 - size) and np.all(cy >= size)
    assert np.all(cy <= 1 - size)
    period = np.array([shapes.ROTATION_PERIOD[s] for s in shapes.SHAPES])[data["label"]]
    assert np.all(data["rotation"] >= 0) and np.all(data["rotation"] <= period)
    assert np.all(data["rotation"][data["label"] == 0] == 0)  # Circles.
    assert 0.35 < _flat(data).mean() < 0.65  # About half the backgrounds are gradients.
    c = data["color"].astype(float)
    for key in ("background", "background_end"):
        assert np.linalg.norm(c - data[key], axis=1).min() >= 96


def test_center_pixel_has_fill_colour_and_corners_the_background(train):
    size, data = train
    n = np.arange(NUM_TRAIN)
    px = np.floor(data["center"] * size).astype(int)
    assert np.array_equal(data["image"][n, px[:, 1], px[:, 0]], data["color"])
    flat = _flat(data)
    for y, x in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        assert np.array_equal(data["image"][flat, y, x], data["background"][flat])
    # Gradients: the corner the direction points away from has `background`, the opposite corner
    # `background_end`, up to half a pixel of the gradient.
    grad = np.flatnonzero(~flat)
    phi = np.deg2rad(data["gradient_angle"][grad])
    x0 = np.where(np.cos(phi) > 0, 0, size - 1)
    y0 = np.where(np.sin(phi) > 0, 0, size - 1)
    start = data["background"][grad].astype(int)
    end = data["background_end"][grad].astype(int)
    tolerance = np.abs(end - start) / size + 1
    assert np.all(np.abs(data["image"][grad, y0, x0] - start) <= tolerance)
    assert np.all(np.abs(data["image"][grad, size - 1 - y0, size - 1 - x0] - end) <= tolerance)


def test_area_and_centroid_match_size_and_center(train):
    size, data = train
    errors = {name: [] for name in shapes.SHAPES}
    for i in np.flatnonzero(_flat(data)):
        alpha = _alpha(data["image"][i], data["background"][i], data["color"][i])
        name = shapes.SHAPES[data["label"][i]]
        expected_area = UNIT_AREA[name] * float(data["size"][i]) ** 2 * size**2
        errors[name].append(alpha.sum() / expected_area - 1)
        ys, xs = np.mgrid[:size, :size] + 0.5
        centroid = np.array([(alpha * xs).sum(), (alpha * ys).sum()]) / alpha.sum()
        assert np.all(np.abs(centroid - data["center"][i] * size) < 0.25), i
        # Anti-aliased: edge pixels are partially covered.
        assert np.sum((alpha > 0.1) & (alpha < 0.9)) >= 8, i
    for name, e in errors.items():
        assert abs(np.mean(e)) < 0.015, (name, np.mean(e))
        assert np.max(np.abs(e)) < (0.08 if size == 32 else 0.04), (name, np.max(np.abs(e)))


def test_rerendering_and_paired_resolutions(data_dir):
    small, large = _load(data_dir, 32), _load(data_dir, 64)
    for key in small:
        if key != "image":
            assert np.array_equal(small[key], large[key]), key
    for i in range(0, NUM_TRAIN, 37):
        attributes = shapes.sample_attributes("train", i)
        assert np.array_equal(shapes.render(attributes, 64), large["image"][i])
    halved = large["image"].astype(float).reshape(NUM_TRAIN, 32, 2, 32, 2, 3).mean(axis=(2, 4))
    assert np.abs(halved - small["image"]).mean() < 1.5


def test_two_preparations_are_byte_identical(data_dir, tmp_path):
    _load(data_dir, 32)
    _load(str(tmp_path), 32)
    rel = os.path.join("shapes", f"32x32_train{NUM_TRAIN}_test{NUM_TEST}", "1.0.0")
    a, b = os.path.join(data_dir, rel), os.path.join(str(tmp_path), rel)
    files = [f for f in os.listdir(a) if "array_record" in f] + ["dataset_info.json"]
    assert len(files) == 3
    _, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    assert not mismatch and not errors


def test_worker_processes_render_the_same_images():
    images = list(shapes.render_in_workers("genvision_jax.data.shape_drawing", ["test", "32"], 32, 7, workers=2))
    for i, image in enumerate(images):
        assert np.array_equal(image, shapes.render(shapes.sample_attributes("test", i), 32))


def test_config_names_and_errors(tmp_path):
    assert shapes.make_builder(str(tmp_path), image_size=32).builder_config.name == "32x32"
    custom = shapes.make_builder(str(tmp_path), num_train=10, num_test=5).builder_config
    assert (custom.name, custom.image_size) == ("64x64_train10_test5", 64)
    with pytest.raises(ValueError, match=r"image_size=48.*\[32, 64\]"):
        get_source("shapes", "train", data_dir=str(tmp_path), image_size=48)
    with pytest.raises(ValueError, match="num_train"):
        get_source("shapes", "train", data_dir=str(tmp_path), num_train=0)
    with pytest.raises(ConfigError, match=r"\['colour'\].*image_size"):
        get_source("shapes", "train", data_dir=str(tmp_path), colour=True)
    assert not os.listdir(tmp_path)  # Nothing generated for a bad config.
