"""synthetic_faces: records redraw from their attributes, identities are fixed across pictures and disjoint across
splits, every attribute changes the picture, worker processes draw the same bytes, bad configs are refused."""

import numpy as np
import pytest

from genvision_jax.data import face_drawing as fd
from genvision_jax.data import get_source
from genvision_jax.data.datasets import synthetic_faces
from genvision_jax.data.datasets.shapes import render_in_workers

SMALL = dict(num_train_identities=6, num_test_identities=3, images_per_identity=4)


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    return get_source("synthetic_faces", "train", data_dir=str(tmp_path_factory.mktemp("faces")), image_size=32,
                      **SMALL)


def test_records_redraw_from_their_attributes_and_identity_layout(train):
    assert len(train) == 24
    for i in (0, 5, 23):
        r = train[i]
        assert (int(r["identity"]), int(r["image_index"])) == (i // 4, i % 4)
        assert r["image"].shape == (32, 32, 3) and r["image"].dtype == np.uint8
        attrs = fd.sample_attributes("train", i // 4, i % 4)
        np.testing.assert_array_equal(fd.render(attrs, 32), r["image"])
    # Identity attributes are the same for every picture of an identity; nuisances differ.
    a, b = train[4], train[7]
    np.testing.assert_array_equal(a["identity_vector"], b["identity_vector"])
    assert a["skin_tone"] == b["skin_tone"] and a["eye_color"] == b["eye_color"]
    assert a["yaw"] != b["yaw"]
    assert not np.array_equal(train[0]["identity_vector"], train[4]["identity_vector"])


def test_splits_have_different_identities():
    train_ids = np.stack([fd.sample_identity("train", i)["identity_vector"] for i in range(50)])
    test_ids = np.stack([fd.sample_identity("test", i)["identity_vector"] for i in range(50)])
    distances = np.linalg.norm(train_ids[:, None] - test_ids[None], axis=-1)
    assert distances.min() > 0.05


@pytest.mark.parametrize("key,value", [("glasses", 1), ("hat", 1), ("mask", 1), ("smile", 1.0), ("age", 1.0),
                                       ("yaw", 30.0), ("hair_color", 5), ("hair_style", 0), ("light_strength", 0.35)])
def test_every_attribute_changes_the_picture(key, value):
    attrs = fd.sample_attributes("train", 3, 1)
    attrs.update({"glasses": np.int64(0), "hat": np.int64(0), "mask": np.int64(0), "smile": np.float32(0.0),
                  "age": np.float32(0.0), "yaw": np.float32(0.0), "hair_style": np.int64(1),
                  "light_strength": np.float32(0.0)})
    edited = dict(attrs, **{key: np.asarray(value, attrs[key].dtype)})
    if key == "hair_color":
        edited[key] = np.int64((int(attrs[key]) + 1) % len(fd.HAIR_COLORS))
    diff = np.abs(fd.render(edited, 64).astype(int) - fd.render(attrs, 64).astype(int))
    assert diff.max() > 30 and (diff.sum(-1) > 0).mean() > 0.002, key


def test_worker_processes_draw_the_same_images():
    images = list(render_in_workers("genvision_jax.data.face_drawing", ["test", "16", "3"], 16, 7, workers=2))
    for i, image in enumerate(images):
        np.testing.assert_array_equal(image, fd.render(fd.sample_attributes("test", i // 3, i % 3), 16))


def test_config_names_and_errors(tmp_path):
    assert synthetic_faces.make_builder(str(tmp_path), image_size=32).builder_config.name == "32x32"
    custom = synthetic_faces.make_builder(str(tmp_path), image_size=16, **SMALL).builder_config
    assert custom.name == "16x16_ids6_3_per4"
    with pytest.raises(ValueError, match=r"image_size=48"):
        synthetic_faces.make_builder(str(tmp_path), image_size=48)
    with pytest.raises(ValueError, match="num_identities"):
        synthetic_faces.make_builder(str(tmp_path), num_identities=3)
