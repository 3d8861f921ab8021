"""The shipped shapes classifier: identity, accuracy on held-out images, features; the training loop."""

import json

import numpy as np
import pytest

from genvision_jax.data import get_source
from genvision_jax.data.transforms import ScaleImage
from genvision_jax.metrics import compute_fid, get_feature_extractor, stats_from_images
from genvision_jax.models.recognizers import conv_classifier, shapes_classifier
from experiments.domain_classifier.configs.default import get_config
from genvision_jax.tasks.classifier import RECIPES, TrainState, classifier_step_fn, shapes_attributes

WEIGHTS = shapes_classifier.WEIGHTS_DIR
INFO = json.loads((WEIGHTS / f"{shapes_classifier.NAME}.json").read_text())


def _small_split(split, n=600):
    # A small variant of `shapes` 32x32: example i of a split is the same image in every variant
    # (attributes depend only on split and index), so these are the first n images of the full
    # split the classifier was evaluated on, without rendering 70,000 images here.
    kwargs = {"num_train": n, "num_test": n}
    source = get_source("shapes", split, image_size=32, **kwargs)
    records = source.__getitems__(range(len(source)))
    images = ScaleImage().map({"image": np.stack([r["image"] for r in records])})["image"]
    return images, np.asarray([r["label"] for r in records])


@pytest.fixture(scope="module")
def test_split():
    return _small_split("test")


def test_shipped_weights_identity_and_recipe():
    path = WEIGHTS / INFO["weights_file"]
    assert conv_classifier.file_sha256(path) == INFO["sha256"]
    assert path.stat().st_size < 1_000_000
    assert INFO["input_spec"] == shapes_classifier.INPUT_SPEC
    # The JSON records what the trainer's shapes config does (reproducible from its seed).
    config = get_config("shapes")
    assert INFO["architecture"] == {**config.architecture.to_dict(), "widths": list(config.architecture.widths)}
    assert (INFO["train_steps"], INFO["batch_size"]) == (config.num_steps, config.batch_size)
    assert INFO["augmentation"] == RECIPES["shapes"]["augmentation"] == {} and INFO["seed"] == config.seed == 0
    assert INFO["auxiliary_loss"]["weight"] == config.aux_weight
    assert INFO["dataset"]["name"] == "shapes/32x32/1.0.0" and INFO["test_accuracy"] >= 0.98


def test_architecture_mismatch_is_rejected(tmp_path):
    info = dict(INFO, architecture={**INFO["architecture"], "widths": [16, 32, 64, 32]})
    (tmp_path / f"{shapes_classifier.NAME}.json").write_text(json.dumps(info))
    (tmp_path / INFO["weights_file"]).write_bytes((WEIGHTS / INFO["weights_file"]).read_bytes())
    with pytest.raises(ValueError, match="weights do not match the architecture"):
        shapes_classifier.load_pretrained(tmp_path)


def test_accuracy_on_held_out_images(test_split):
    images, labels = test_split
    assert images.shape == (600, 32, 32, 3) and np.bincount(labels).tolist() == [100] * 6
    model, params, _ = shapes_classifier.load_pretrained()
    assert shapes_classifier.accuracy(model, params, images, labels) >= 0.97  # 99.04% on all 10,000


def test_features_and_fid_sanity(test_split):
    images, _ = test_split
    extractor = get_feature_extractor("shapes")
    feats = extractor(images[:50])
    assert feats.shape == (50, 128)
    np.testing.assert_allclose(extractor(images[7:8])[0], feats[7], rtol=1e-5, atol=1e-5)
    train_images, _ = _small_split("train")
    test_stats = stats_from_images(extractor, images)
    real = compute_fid(stats_from_images(extractor, train_images), test_stats)["fid"]
    # Generators' typical failures: right shapes in washed-out colours, or in the wrong places.
    # (Measured with the shipped weights: train vs test 11.3, gray 31.7, shifted 4 px 64, noise 2573.)
    gray = np.repeat(images.mean(axis=-1, keepdims=True), 3, axis=-1)
    shifted = np.roll(images, 4, axis=2)
    noise = np.random.default_rng(0).uniform(-1, 1, size=images.shape).astype(np.float32)
    fid = {name: compute_fid(stats_from_images(extractor, x), test_stats)["fid"]
           for name, x in (("gray", gray), ("shifted", shifted), ("noise", noise))}
    assert real < 0.1 * fid["noise"]
    assert fid["gray"] > 2 * real and fid["shifted"] > 3 * real


def test_shapes_attribute_targets():
    source = get_source("shapes", "test", image_size=32, num_train=600, num_test=600)
    records = source.__getitems__(range(12))
    targets = shapes_attributes(records)
    assert targets.shape == (12, 12) and targets.dtype == np.float32
    assert np.all(np.abs(targets) <= 1.0 + 1e-6)
    r = records[5]
    np.testing.assert_allclose(targets[5, :3], r["color"] / 127.5 - 1, rtol=1e-6)
    np.testing.assert_allclose(targets[5, 9:], [(r["size"] - 0.275) / 0.125, *(2 * r["center"] - 1)],
                               rtol=1e-5)


def test_step_learns_a_separable_task_with_auxiliary_targets():
    # Dark vs bright images with noise: the data-parallel step (8 devices) must reach 100 %; the
    # auxiliary head trains alongside and is kept apart from the classifier params.
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import optax

    from genvision_jax.train import make_mesh, to_global_batch

    rng = np.random.default_rng(0)
    labels = (np.arange(64) % 2).astype(np.int32)
    images = (np.where(labels, 0.5, -0.5)[:, None, None, None]
              + 0.2 * rng.normal(size=(64, 32, 32, 3))).clip(-1, 1).astype(np.float32)
    aux = images.mean(axis=(1, 2))  # [64, 3]
    model = conv_classifier.ConvClassifier(num_classes=2, widths=(8, 8, 8, 8), feature_dim=16,
                                           num_groups=4)
    mesh, tx, head = make_mesh(), optax.adam(1e-2), nn.Dense(3)
    params = {"model": model.init(jax.random.key(0), images[:1])["params"],
              "aux": head.init(jax.random.key(1), jnp.zeros((1, 16)))["params"]}
    state = TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))
    step = jax.jit(classifier_step_fn(model, tx, None, head, 1.0, mesh))
    for i in range(10):
        idx = np.arange(16) + 16 * (i % 4)
        batch = to_global_batch({"image": images[idx], "label": labels[idx], "aux": aux[idx]}, mesh)
        state, metrics = step(state, batch, jax.random.key(i))
    assert float(metrics["aux_mse"]) < 0.05
    assert set(state.params["model"]) == {"conv0", "conv1", "conv2", "conv3", "norm0", "norm1", "norm2", "norm3",
                                          "fc", "head"}
    assert conv_classifier.accuracy(model, jax.device_get(state.params["model"]), images, labels) == 1.0
