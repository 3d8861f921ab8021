"""Trains the 32x32 digits classifier whose features define FID on the `digits` dataset.

    python -m genvision_jax.models.recognizers.train_digits_classifier --out_dir genvision_jax/weights --seed 0

Reads the project's `digits` dataset through `genvision_jax.data.get_source` (the same 32x32
resampling the GANs are trained on), trains with random affine augmentation (shifts, small
rotations) and Adam, evaluates on the test split and writes `digits_classifier_32.msgpack` (the
param tree, `flax.serialization.to_bytes`) and `digits_classifier_32.json` (sha256, accuracy and
the full protocol). Deterministic given the seed.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import flax
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from genvision_jax.data import get_source
from genvision_jax.data.transforms import ScaleImage
from genvision_jax.models.recognizers import digits_classifier
from genvision_jax.train.rng import root_key, stream_key
from genvision_jax.train.sharding import (
    check_global_batch_size,
    constrain_batch,
    make_mesh,
    replicated_sharding,
    to_global_batch,
)

_OUT_DIR = flags.DEFINE_string("out_dir", "genvision_jax/weights", "Where to write the weights and JSON.")
_SEED = flags.DEFINE_integer("seed", 0, "Root seed (init, data order, augmentation).")
_STEPS = flags.DEFINE_integer("num_steps", 600, "Training steps.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Global batch size.")
_LR = flags.DEFINE_float("learning_rate", 2e-3, "Peak Adam learning rate (cosine decay to 0).")
_LOG_EVERY = flags.DEFINE_integer("log_every", 100, "Log the training loss every N steps.")

DATASET = "digits"
IMAGE_SIZE = 32
ARCHITECTURE = {"num_classes": 10, "widths": [16, 32, 64, 64], "feature_dim": 128, "num_groups": 8}
AUGMENT = {"max_shift_px": 2.0, "max_rotation_deg": 10.0, "interpolation": "bilinear", "fill": "edge"}


def load_split(split: str) -> tuple[np.ndarray, np.ndarray, str]:
    """The whole `digits` split at 32x32 -> (images float32 [N, 32, 32, 1] in [-1, 1],
    labels int32 [N], the TFDS full name with version), scaled as the GAN pipelines scale."""
    source = get_source(DATASET, split, image_size=IMAGE_SIZE)
    records = [source[i] for i in range(len(source))]
    images = np.stack([np.asarray(r["image"], np.uint8) for r in records])
    labels = np.asarray([int(r["label"]) for r in records], np.int32)
    return ScaleImage().map({"image": images})["image"], labels, source.name


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


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: dict
    opt_state: optax.OptState


def main(argv):
    del argv
    out_dir = Path(_OUT_DIR.value)
    seed, num_steps, batch_size = _SEED.value, _STEPS.value, _BATCH.value

    # ---- mesh --------------------------------------------------------------------------------
    mesh = make_mesh()
    local_batch = check_global_batch_size(batch_size, mesh)
    replicated = replicated_sharding(mesh)

    # ---- data --------------------------------------------------------------------------------
    train_x, train_y, dataset_name = load_split("train")
    test_x, test_y, _ = load_split("test")
    print(f"digits {IMAGE_SIZE}x{IMAGE_SIZE}: train {len(train_x)}, test {len(test_x)}")
    # Epoch-wise permutations from the seed; process p takes its slice of each global batch.
    order_rng = np.random.default_rng(seed)
    epochs = -(-num_steps * batch_size // len(train_x))
    order = np.concatenate([order_rng.permutation(len(train_x)) for _ in range(epochs)])
    offset = jax.process_index() * local_batch

    # ---- init --------------------------------------------------------------------------------
    model = digits_classifier.DigitsClassifier(**ARCHITECTURE)
    root = root_key(seed)
    schedule = optax.cosine_decay_schedule(_LR.value, num_steps)
    tx = optax.adam(schedule)

    def init_state():
        params = model.init(stream_key(root, "init", 0), jnp.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1)))["params"]
        return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))

    state = jax.jit(init_state, out_shardings=replicated)()

    # ---- step --------------------------------------------------------------------------------
    @functools.partial(jax.jit, donate_argnums=0)
    def train_step(state, batch, rng):
        images = random_affine(batch["image"], rng, AUGMENT["max_shift_px"], AUGMENT["max_rotation_deg"])
        images = constrain_batch(images, mesh)

        def loss_fn(params):
            logits = model.apply({"params": params}, images)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
            return loss, jnp.mean(jnp.argmax(logits, -1) == batch["label"])

        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new_state = TrainState(step=state.step + 1, params=params, opt_state=opt_state)
        return new_state, {"loss": loss, "train_accuracy": acc}

    # ---- loop --------------------------------------------------------------------------------
    start = time.time()
    for step in range(num_steps):
        idx = order[step * batch_size + offset: step * batch_size + offset + local_batch]
        batch = to_global_batch({"image": train_x[idx], "label": train_y[idx]}, mesh)
        state, metrics = train_step(state, batch, stream_key(root, "augment", step))
        if (step + 1) % _LOG_EVERY.value == 0 or step + 1 == num_steps:
            m = jax.device_get(metrics)
            print(f"step {step + 1}/{num_steps}  loss {m['loss']:.4f}  "
                  f"train acc {m['train_accuracy']:.3f}  {time.time() - start:.1f}s", flush=True)
    train_time = time.time() - start

    # ---- eval & export -----------------------------------------------------------------------
    params = jax.device_get(state.params)
    test_accuracy = digits_classifier.accuracy(model, params, test_x, test_y)
    train_accuracy = digits_classifier.accuracy(model, params, train_x, train_y)
    print(f"test accuracy {test_accuracy:.4f}  train accuracy {train_accuracy:.4f}")

    out_dir.mkdir(parents=True, exist_ok=True)
    weights_file = f"{digits_classifier.NAME}.msgpack"
    (out_dir / weights_file).write_bytes(flax.serialization.to_bytes(params))
    info = {
        "name": digits_classifier.NAME,
        "weights_file": weights_file,
        "sha256": digits_classifier.file_sha256(out_dir / weights_file),
        "architecture": ARCHITECTURE,
        "feature_dim": ARCHITECTURE["feature_dim"],
        "feature_layer": digits_classifier.FEATURE_LAYER,
        "features": "pre-activations of the dense layer 'fc' before ReLU and the classifier head",
        "input_spec": digits_classifier.INPUT_SPEC,
        "dataset": {
            "name": dataset_name,
            "image_size": IMAGE_SIZE,
            "resampling": "8x8 sklearn digits upsampled with PIL bicubic (genvision_jax.data.digits)",
            "train_split": "train",
            "test_split": "test",
            "n_train": int(len(train_x)),
            "n_test": int(len(test_x)),
            "source": f"genvision_jax.data.get_source({DATASET!r}, split, image_size={IMAGE_SIZE})",
            "scaling": "uint8 / 127.5 - 1 (genvision_jax.data.transforms.ScaleImage)",
        },
        "test_accuracy": test_accuracy,
        "train_accuracy": train_accuracy,
        "train_steps": num_steps,
        "batch_size": batch_size,
        "optimizer": {"name": "adam", "peak_learning_rate": _LR.value, "schedule": "cosine to 0"},
        "augmentation": AUGMENT,
        "seed": seed,
        "train_time_s": round(train_time, 1),
        "devices": {"kind": jax.devices()[0].device_kind, "count": jax.device_count()},
        "versions": {"jax": jax.__version__, "flax": flax.__version__, "optax": optax.__version__,
                     "numpy": np.__version__},
    }
    (out_dir / f"{digits_classifier.NAME}.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote {out_dir / weights_file}  sha256 {info['sha256']}")


if __name__ == "__main__":
    app.run(main)
