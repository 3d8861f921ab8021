"""A small CNN classifier for 32x32 images, and the shipped weights that make it a metric network.

Trained on an embedded dataset (`digits`, `shapes`; see `genvision_jax.tasks.classifier`), its penultimate
features (the pre-activations of the dense layer before the classifier) serve as the feature space
for FID, KID and precision/recall on that dataset, in the role Inception-v3's pool3 plays for natural
images (Heusel et al. 2017); its logits serve the Inception Score. There is no BatchNorm, so
features are a pure function of each input image; GroupNorm (Wu & He 2018, "Group Normalization")
normalises per example.

Shipped weights live in `genvision_jax/weights/<name>.msgpack` with `<name>.json`, which records the
sha256, architecture, input spec, dataset, accuracy and training recipe.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from genvision_jax.errors import MissingInputError
from genvision_jax.nn import Conv

FEATURE_LAYER = "fc_preact"  # what `return_features=True` returns; part of the metric's identity
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"


class ConvClassifier(nn.Module):
    """x [N, 32, 32, C] in [-1, 1] -> logits [N, num_classes] (or features [N, feature_dim]).

    3x3 convs of widths `widths`, the first with stride 1 and the others with stride 2
    (32 -> 16 -> 8 -> 4), each followed by GroupNorm and ReLU; the 4x4 map is flattened (so the
    features see where things are, not only which parts occur) into a dense layer of
    `feature_dim` units, then ReLU and a linear classifier. The features are the dense layer's
    pre-activations: after the ReLU about a third of the units are zero on every digit, which
    would leave FID a smaller, degenerate space. The defaults are the digits configuration.
    """

    num_classes: int = 10
    widths: Sequence[int] = (16, 32, 64, 64)
    feature_dim: int = 128
    num_groups: int = 8

    @nn.compact
    def __call__(self, x, *, return_features: bool = False):
        for i, width in enumerate(self.widths):
            x = Conv(width, (3, 3), stride=1 if i == 0 else 2, padding=1, name=f"conv{i}")(x)
            x = nn.GroupNorm(num_groups=self.num_groups, name=f"norm{i}")(x)
            x = nn.relu(x)
        x = x.reshape(x.shape[0], -1)
        features = nn.Dense(self.feature_dim, name="fc")(x)  # [N, feature_dim]
        if return_features:
            return features
        return nn.Dense(self.num_classes, name="head")(nn.relu(features))


def file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_pretrained(name: str, weights_dir=None):
    """Loads shipped weights `<name>.msgpack`: returns (model, params, info), info the JSON record.

    Checks the msgpack's sha256 against the JSON and the param tree against the architecture.
    """
    weights_dir = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    record = weights_dir / f"{name}.json"
    if not record.is_file():
        raise MissingInputError(f"no weights record {record} (train it with "
                                "`python -m experiments.domain_classifier.main`)")
    info = json.loads(record.read_text())
    blob = (weights_dir / info["weights_file"]).read_bytes()
    sha = hashlib.sha256(blob).hexdigest()
    if sha != info["sha256"]:
        raise ValueError(f"{weights_dir / info['weights_file']}: sha256 {sha} does not match "
                         f"the recorded {info['sha256']}")
    model = ConvClassifier(**info["architecture"])
    spec = info["input_spec"]
    dummy = jax.ShapeDtypeStruct((1, spec["height"], spec["width"], spec["channels"]), jnp.float32)
    expected = jax.eval_shape(model.init, jax.random.key(0), dummy)["params"]
    params = flax.serialization.msgpack_restore(blob)
    got_shapes = jax.tree.map(lambda a: tuple(a.shape), params)
    want_shapes = jax.tree.map(lambda a: tuple(a.shape), expected)
    if got_shapes != want_shapes:
        raise ValueError(f"weights do not match the architecture {info['architecture']}")
    return model, jax.tree.map(jnp.asarray, params), info


def predict(model: ConvClassifier, params, images, batch_size: int = 256) -> np.ndarray:
    """Class predictions [N] for float images [N, 32, 32, C] in [-1, 1], in fixed-size batches."""
    logits_fn = jax.jit(lambda p, x: jnp.argmax(model.apply({"params": p}, x), axis=-1))
    images = np.asarray(images, np.float32)
    preds = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        valid = len(batch)
        batch = np.pad(batch, ((0, batch_size - valid), (0, 0), (0, 0), (0, 0)))
        preds.append(np.asarray(logits_fn(params, batch))[:valid])
    return np.concatenate(preds)


def accuracy(model: ConvClassifier, params, images, labels) -> float:
    return float(np.mean(predict(model, params, images) == np.asarray(labels)))
