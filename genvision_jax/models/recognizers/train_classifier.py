"""Trains a 32x32 domain classifier whose features define FID/KID/PR on an embedded dataset.

    python -m genvision_jax.models.recognizers.train_classifier --dataset=digits --out_dir genvision_jax/weights
    python -m genvision_jax.models.recognizers.train_classifier --dataset=shapes --out_dir genvision_jax/weights

Reads the dataset through `genvision_jax.data.get_source` at 32x32 (the resampling the generative
models are trained on), scales it as the pipelines do (`ScaleImage`), trains a `ConvClassifier` with
the dataset's recipe (`RECIPES`: architecture, steps, augmentation, auxiliary attribute regression)
and Adam with cosine decay, evaluates on the test split and writes `<name>.msgpack` (the param tree,
`flax.serialization.to_bytes`) and `<name>.json` (sha256, accuracy and the full protocol).
Deterministic given the seed: data order from `numpy.random.default_rng(seed)`, init and
augmentation from named streams of `jax.random.key(seed)`.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Callable

import flax
import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from genvision_jax.data import get_source
from genvision_jax.data.transforms import ScaleImage
from genvision_jax.models.recognizers import conv_classifier, digits_classifier, shapes_classifier
from genvision_jax.train.rng import root_key, stream_key
from genvision_jax.train.sharding import (
    check_global_batch_size,
    constrain_batch,
    make_mesh,
    replicated_sharding,
    to_global_batch,
)

IMAGE_SIZE = 32


def affine_warp(images: jax.Array, angle: jax.Array, shift: jax.Array) -> jax.Array:
    """Rotates each image by angle[i] (radians, counter-clockwise as displayed) about its centre,
    then shifts it by shift[i] = (down, right) pixels. images [N, H, W, C], angle [N], shift [N, 2].

    Bilinear resampling with edge replication (the border is background).
    """
    _, h, w, _ = images.shape
    yy, xx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                          indexing="ij")
    cy, cx = (h - 1) / 2, (w - 1) / 2

    def warp_one(image, theta, t):
        # Inverse map: output pixel p samples the input at R(theta)^T (p - c - t) + c.
        cos, sin = jnp.cos(theta), jnp.sin(theta)
        dy, dx = yy - cy - t[0], xx - cx - t[1]
        src_y = cos * dy + sin * dx + cy
        src_x = -sin * dy + cos * dx + cx
        warp_channel = lambda c: jax.scipy.ndimage.map_coordinates(c, [src_y, src_x], order=1,
                                                                   mode="nearest")
        return jax.vmap(warp_channel, in_axes=-1, out_axes=-1)(image)

    return jax.vmap(warp_one)(images, angle, shift)


def random_affine(images: jax.Array, key: jax.Array, max_shift: float, max_rotation_deg: float):
    """Per-example rotation by U(±max_rotation_deg) and shift by U(±max_shift) px (affine_warp)."""
    n = images.shape[0]
    k_rot, k_shift = jax.random.split(key)
    angle = jnp.deg2rad(max_rotation_deg) * jax.random.uniform(k_rot, (n,), minval=-1, maxval=1)
    shift = max_shift * jax.random.uniform(k_shift, (n, 2), minval=-1, maxval=1)
    return affine_warp(images, angle, shift)


def shapes_attributes(records) -> np.ndarray:
    """Regression targets [N, 12] float32 in about [-1, 1] from `shapes` records: fill colour,
    background start and end colours (RGB / 127.5 - 1), size ((s - 0.275) / 0.125, s in
    [0.15, 0.40]) and centre (2 c - 1)."""
    rows = []
    for r in records:
        colours = np.concatenate([r["color"], r["background"], r["background_end"]]) / 127.5 - 1.0
        rows.append(np.concatenate([colours, [(r["size"] - 0.275) / 0.125], 2.0 * r["center"] - 1.0]))
    return np.asarray(rows, np.float32)


# Per dataset: the classifier module (NAME, INPUT_SPEC), architecture, default schedule,
# augmentation (recorded in the JSON, applied by `augment_fn`) and auxiliary regression targets.
# Digits are few (1,497 train images) and need shifts and small rotations. Shapes come in 60,000
# images that already vary in position, size, rotation and colour; there the features must also
# carry what the class does not (colours, size, position), or FID would not see a generator that
# gets colours wrong, so a linear head on the features regresses those attributes during training
# (weight `aux_weight`, dropped from the shipped weights).
RECIPES = {
    "digits": {
        "module": digits_classifier,
        "architecture": {"num_classes": 10, "widths": [16, 32, 64, 64], "feature_dim": 128,
                         "num_groups": 8},
        "num_steps": 600, "batch_size": 64, "learning_rate": 2e-3,
        "augmentation": {"max_shift_px": 2.0, "max_rotation_deg": 10.0, "interpolation": "bilinear",
                         "fill": "edge"},
        "augment_fn": lambda x, key: random_affine(x, key, 2.0, 10.0),
        "aux_targets": None,
        "resampling": "8x8 sklearn digits upsampled with PIL bicubic (genvision_jax.data.digits)",
    },
    "shapes": {
        "module": shapes_classifier,
        "architecture": {"num_classes": 6, "widths": [16, 32, 64, 64], "feature_dim": 128,
                         "num_groups": 8},
        "num_steps": 2400, "batch_size": 64, "learning_rate": 2e-3,
        "augmentation": {},
        "augment_fn": None,
        "aux_targets": shapes_attributes,
        "aux_weight": 1.0,
        "aux_description": "linear head on the features regresses fill, background and gradient-end "
                           "colours, size and centre (12 targets in about [-1, 1]), squared error",
        "resampling": "rendered at 4x with PIL and box-filtered to 32x32 (genvision_jax.data.shapes)",
    },
}


def load_split(dataset: str, split: str, aux_targets=None):
    """The whole split at 32x32 -> (images float32 [N, 32, 32, C] in [-1, 1], labels int32 [N],
    the TFDS full name with version), scaled as the GAN pipelines scale; with `aux_targets`
    (records -> [n, A]) also the targets float32 [N, A] as a fourth element."""
    source = get_source(dataset, split, image_size=IMAGE_SIZE)
    images, labels, aux = [], [], []
    for start in range(0, len(source), 4096):
        records = source.__getitems__(range(start, min(start + 4096, len(source))))
        images.extend(np.asarray(r["image"], np.uint8) for r in records)
        labels.extend(int(r["label"]) for r in records)
        if aux_targets is not None:
            aux.append(aux_targets(records))
    images = ScaleImage().map({"image": np.stack(images)})["image"]
    out = (images, np.asarray(labels, np.int32), source.name)
    return out if aux_targets is None else (*out, np.concatenate(aux))


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: dict
    opt_state: optax.OptState


def fit(model: conv_classifier.ConvClassifier, train_x: np.ndarray, train_y: np.ndarray, *,
        augment_fn: Callable[[jax.Array, jax.Array], jax.Array] | None, seed: int, num_steps: int,
        batch_size: int, learning_rate: float, log_every: int = 100,
        aux_targets: np.ndarray | None = None, aux_weight: float = 1.0) -> dict:
    """Adam (cosine decay to 0) on softmax cross-entropy, data-parallel over every device.

    train_x float32 [N, 32, 32, C] in [-1, 1], train_y int [N]. With `aux_targets` [N, A], a linear
    head on the features (the dense layer 'fc' pre-activations) adds `aux_weight` times the mean
    squared error to those targets. Epoch-wise permutations come from `default_rng(seed)`; init
    and augmentation keys from the streams 'init' and 'augment' of `root_key(seed)`. Returns the
    classifier's trained params on the host (without the auxiliary head).
    """
    mesh = make_mesh()
    local_batch = check_global_batch_size(batch_size, mesh)
    replicated = replicated_sharding(mesh)
    order_rng = np.random.default_rng(seed)
    epochs = -(-num_steps * batch_size // len(train_x))
    order = np.concatenate([order_rng.permutation(len(train_x)) for _ in range(epochs)])
    offset = jax.process_index() * local_batch  # process p takes its slice of each global batch

    root = root_key(seed)
    tx = optax.adam(optax.cosine_decay_schedule(learning_rate, num_steps))
    use_aux = aux_targets is not None
    aux_head = nn.Dense(aux_targets.shape[1]) if use_aux else None
    only_fc = lambda module, method_name: module.name == "fc"

    def init_state():
        dummy = jnp.zeros((1, *train_x.shape[1:]))
        params = {"model": model.init(stream_key(root, "init", 0), dummy)["params"]}
        if use_aux:
            params["aux"] = aux_head.init(stream_key(root, "init", 1),
                                          jnp.zeros((1, model.feature_dim)))["params"]
        return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))

    state = jax.jit(init_state, out_shardings=replicated)()

    @functools.partial(jax.jit, donate_argnums=0)
    def train_step(state, batch, rng):
        images = batch["image"] if augment_fn is None else augment_fn(batch["image"], rng)
        images = constrain_batch(images, mesh)

        def loss_fn(params):
            # One forward pass gives the logits and, captured on the way, the features.
            logits, captured = model.apply({"params": params["model"]}, images,
                                           capture_intermediates=only_fc, mutable=["intermediates"])
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
            aux_mse = jnp.zeros(())
            if use_aux:
                features = captured["intermediates"]["fc"]["__call__"][0]
                pred = aux_head.apply({"params": params["aux"]}, features)
                aux_mse = jnp.mean(jnp.square(pred - batch["aux"]))
            accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
            return loss + aux_weight * aux_mse, (accuracy, aux_mse)

        (loss, (acc, aux_mse)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new_state = TrainState(step=state.step + 1, params=params, opt_state=opt_state)
        return new_state, {"loss": loss, "train_accuracy": acc, "aux_mse": aux_mse}

    start = time.time()
    for step in range(num_steps):
        idx = order[step * batch_size + offset: step * batch_size + offset + local_batch]
        batch = {"image": train_x[idx], "label": train_y[idx]}
        if use_aux:
            batch["aux"] = aux_targets[idx]
        batch = to_global_batch(batch, mesh)
        state, metrics = train_step(state, batch, stream_key(root, "augment", step))
        if (step + 1) % log_every == 0 or step + 1 == num_steps:
            m = jax.device_get(metrics)
            print(f"step {step + 1}/{num_steps}  loss {m['loss']:.4f}  "
                  f"train acc {m['train_accuracy']:.3f}"
                  + (f"  aux mse {m['aux_mse']:.4f}" if use_aux else "")
                  + f"  {time.time() - start:.1f}s", flush=True)
    return jax.device_get(state.params["model"])


_DATASET = flags.DEFINE_enum("dataset", None, sorted(RECIPES), "Embedded dataset to train on.")
_OUT_DIR = flags.DEFINE_string("out_dir", "genvision_jax/weights", "Where to write the weights and JSON.")
_SEED = flags.DEFINE_integer("seed", 0, "Root seed (init, data order, augmentation).")
_STEPS = flags.DEFINE_integer("num_steps", None, "Training steps (default: the dataset's recipe).")
_BATCH = flags.DEFINE_integer("batch_size", None, "Global batch size (default: the recipe's).")
_LR = flags.DEFINE_float("learning_rate", None, "Peak Adam learning rate (default: the recipe's).")
_LOG_EVERY = flags.DEFINE_integer("log_every", 100, "Log the training loss every N steps.")


def main(argv):
    del argv
    if _DATASET.value is None:
        raise app.UsageError(f"--dataset is required; one of {sorted(RECIPES)}")
    dataset = _DATASET.value
    recipe = RECIPES[dataset]
    module = recipe["module"]
    out_dir, seed = Path(_OUT_DIR.value), _SEED.value
    num_steps = _STEPS.value or recipe["num_steps"]
    batch_size = _BATCH.value or recipe["batch_size"]
    learning_rate = _LR.value or recipe["learning_rate"]

    aux_targets, aux = recipe["aux_targets"], None
    train = load_split(dataset, "train", aux_targets)
    train_x, train_y, dataset_name = train[:3]
    if aux_targets is not None:
        aux = train[3]
    test_x, test_y, _ = load_split(dataset, "test")
    print(f"{dataset} {IMAGE_SIZE}x{IMAGE_SIZE}: train {len(train_x)}, test {len(test_x)}")

    model = conv_classifier.ConvClassifier(**recipe["architecture"])
    start = time.time()
    params = fit(model, train_x, train_y, augment_fn=recipe["augment_fn"], seed=seed,
                 num_steps=num_steps, batch_size=batch_size, learning_rate=learning_rate,
                 log_every=_LOG_EVERY.value, aux_targets=aux, aux_weight=recipe.get("aux_weight", 0.0))
    train_time = time.time() - start

    test_accuracy = conv_classifier.accuracy(model, params, test_x, test_y)
    train_accuracy = conv_classifier.accuracy(model, params, train_x, train_y)
    print(f"test accuracy {test_accuracy:.4f}  train accuracy {train_accuracy:.4f}")

    out_dir.mkdir(parents=True, exist_ok=True)
    weights_file = f"{module.NAME}.msgpack"
    (out_dir / weights_file).write_bytes(flax.serialization.to_bytes(params))
    info = {
        "name": module.NAME,
        "weights_file": weights_file,
        "sha256": conv_classifier.file_sha256(out_dir / weights_file),
        "architecture": recipe["architecture"],
        "feature_dim": recipe["architecture"]["feature_dim"],
        "feature_layer": conv_classifier.FEATURE_LAYER,
        "features": "pre-activations of the dense layer 'fc' before ReLU and the classifier head",
        "input_spec": module.INPUT_SPEC,
        "dataset": {
            "name": dataset_name,
            "image_size": IMAGE_SIZE,
            "resampling": recipe["resampling"],
            "train_split": "train",
            "test_split": "test",
            "n_train": int(len(train_x)),
            "n_test": int(len(test_x)),
            "source": f"genvision_jax.data.get_source({dataset!r}, split, image_size={IMAGE_SIZE})",
            "scaling": "uint8 / 127.5 - 1 (genvision_jax.data.transforms.ScaleImage)",
        },
        "test_accuracy": test_accuracy,
        "train_accuracy": train_accuracy,
        "train_steps": num_steps,
        "batch_size": batch_size,
        "optimizer": {"name": "adam", "peak_learning_rate": learning_rate, "schedule": "cosine to 0"},
        "augmentation": recipe["augmentation"],
        **({"auxiliary_loss": {"weight": recipe["aux_weight"], "targets": recipe["aux_description"]}}
           if aux_targets is not None else {}),
        "seed": seed,
        "train_time_s": round(train_time, 1),
        "devices": {"kind": jax.devices()[0].device_kind, "count": jax.device_count()},
        "versions": {"jax": jax.__version__, "flax": flax.__version__, "optax": optax.__version__,
                     "numpy": np.__version__},
    }
    (out_dir / f"{module.NAME}.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote {out_dir / weights_file}  sha256 {info['sha256']}")


if __name__ == "__main__":
    app.run(main)
