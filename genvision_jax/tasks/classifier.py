"""Domain-classifier trainer: the 32x32 classifiers whose features define FID/KID/PR on the embedded
datasets, top to bottom: config → data → init → restore → loop → test accuracy → weight files.

    python -m experiments.domain_classifier.main --config experiments/domain_classifier/configs/default.py:digits \
        --workdir DIR        # DIR/digits_classifier_32.msgpack + .json (copy them to genvision_jax/weights)

Reads the dataset through `genvision_jax.data.get_source` at 32x32 (the resampling the generative
models are trained on), scales it as the pipelines do (`ScaleImage`), trains a `ConvClassifier` with
the dataset's recipe (`RECIPES`: augmentation, auxiliary attribute regression; architecture, steps
and rates in the config) and Adam with cosine decay, evaluates on the test split and writes
`<name>.msgpack` (the param tree, `flax.serialization.to_bytes`) and `<name>.json` (sha256, accuracy
and the full protocol). Deterministic given the seed: data order from `numpy.random.default_rng(seed)`,
init and augmentation from named streams of `jax.random.key(seed)`; a resumed run reads the same
batches (the step is the data position).
"""

from __future__ import annotations

import json
from typing import Any

import flax
import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from genvision_jax.data import get_source
from genvision_jax.data.transforms import ScaleImage
from genvision_jax.errors import ConfigError
from genvision_jax.models.recognizers import conv_classifier, digits_classifier, faces_classifier, shapes_classifier
from genvision_jax.train.run import Run
from genvision_jax.train.sharding import constrain_batch

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


def faces_attributes(records) -> np.ndarray:
    """Regression targets [N, 26] float32 in about [-1, 1] from `synthetic_faces` records: glasses, hat,
    mask (±1), smile, age, yaw / 35°, pitch / 15°, roll / 10°, skin tone, eye colour (scaled to [-1, 1]),
    lighting (strength · cos, sin of its angle / 0.35), hair style one-hot (5), background start and end
    and shirt colours (RGB / 127.5 - 1)."""
    rows = []
    for r in records:
        flags = [2.0 * float(r[k]) - 1.0 for k in ("glasses", "hat", "mask")]
        light = np.deg2rad(float(r["light_angle"]))
        scalars = [(float(r["smile"]) - 0.35) / 0.65, 2.0 * float(r["age"]) - 1.0, float(r["yaw"]) / 35.0,
                   float(r["pitch"]) / 15.0, float(r["roll"]) / 10.0, float(r["skin_tone"]) / 2.5 - 1.0,
                   float(r["eye_color"]) / 2.0 - 1.0,
                   float(r["light_strength"]) / 0.35 * np.cos(light), float(r["light_strength"]) / 0.35 * np.sin(light)]
        style = np.eye(5)[int(r["hair_style"])] * 2.0 - 1.0
        colours = np.concatenate([r["background"], r["background_end"], r["shirt_color"]]) / 127.5 - 1.0
        rows.append(np.concatenate([flags, scalars, style, colours]))
    return np.asarray(rows, np.float32)


# Per dataset: the classifier module (NAME, INPUT_SPEC), augmentation (recorded in the JSON, applied
# by `augment_fn`) and auxiliary regression targets; the architecture, schedule and rates of the
# shipped weights are the configs' (experiments/domain_classifier/configs/default.py).
# Digits are few (1,497 train images) and need shifts and small rotations. Shapes come in 60,000
# images that already vary in position, size, rotation and colour; there the features must also
# carry what the class does not (colours, size, position), or FID would not see a generator that
# gets colours wrong, so a linear head on the features regresses those attributes during training
# (weight `aux_weight`, dropped from the shipped weights).
RECIPES = {
    "digits": {
        "module": digits_classifier,
        "augmentation": {"max_shift_px": 2.0, "max_rotation_deg": 10.0, "interpolation": "bilinear",
                         "fill": "edge"},
        "augment_fn": lambda x, key: random_affine(x, key, 2.0, 10.0),
        "aux_targets": None,
        "resampling": "8x8 sklearn digits upsampled with PIL bicubic (genvision_jax.data.datasets.digits)",
    },
    "shapes": {
        "module": shapes_classifier,
        "augmentation": {},
        "augment_fn": None,
        "aux_targets": shapes_attributes,
        "aux_weight": 1.0,
        "aux_description": "linear head on the features regresses fill, background and gradient-end "
                           "colours, size and centre (12 targets in about [-1, 1]), squared error",
        "resampling": "rendered at 4x with PIL and box-filtered to 32x32 (genvision_jax.data.datasets.shapes)",
    },
    # Faces: the class is the hair colour; the features must also carry identity geometry, pose, expression,
    # accessories, lighting and colours, so the attribute regression is on (as for shapes).
    "synthetic_faces": {
        "module": faces_classifier,
        "label_key": "hair_color",
        "augmentation": {},
        "augment_fn": None,
        "aux_targets": faces_attributes,
        "aux_weight": 1.0,
        "aux_description": "linear head on the features regresses glasses, hat, mask, smile, age, yaw, pitch, "
                           "roll, skin tone, eye colour, lighting (2), hair style one-hot (5), background start and "
                           "end and shirt colours (26 targets in about [-1, 1]), squared error",
        "resampling": "rendered at 4x with PIL and box-filtered to 32x32 "
                      "(genvision_jax.data.datasets.synthetic_faces)",
    },
}


def load_split(dataset: str, split: str, aux_targets=None, label_key: str | None = None):
    """The whole split at 32x32 -> (images float32 [N, 32, 32, C] in [-1, 1], labels int32 [N],
    the TFDS full name with version), scaled as the GAN pipelines scale; with `aux_targets`
    (records -> [n, A]) also the targets float32 [N, A] as a fourth element."""
    source = get_source(dataset, split, image_size=IMAGE_SIZE)
    images, labels, aux = [], [], []
    for start in range(0, len(source), 4096):
        records = source.__getitems__(range(start, min(start + 4096, len(source))))
        images.extend(np.asarray(r["image"], np.uint8) for r in records)
        key = label_key or RECIPES.get(dataset, {}).get("label_key", "label")
        labels.extend(int(r[key]) for r in records)
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


def classifier_step_fn(model: conv_classifier.ConvClassifier, tx, augment_fn, aux_head, aux_weight: float, mesh):
    """(state, batch, rng) -> (state, metrics): softmax cross-entropy (+ `aux_weight` x the squared error of
    a linear head on the features to `batch['aux']`), the batch augmented on the device."""
    use_aux = aux_head is not None
    only_fc = lambda module, method_name: module.name == "fc"  # noqa: E731

    def step(state, batch, rng):
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

    return step


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, mesh=None) -> dict[str, Any]:
    """Adam (cosine decay to 0) on softmax cross-entropy, data-parallel over every device; then test
    accuracy and the weight files `<name>.msgpack` / `<name>.json` in the workdir.

    Epoch-wise permutations come from `default_rng(seed)`; init and augmentation keys from the streams
    'init' and 'augment' of the run's root key. The shipped weights drop the auxiliary head.
    """
    if config.dataset not in RECIPES:
        raise ConfigError(f"dataset={config.dataset!r} has no classifier recipe; choose one of {sorted(RECIPES)}")
    recipe = RECIPES[config.dataset]
    module, aux_targets = recipe["module"], recipe["aux_targets"]
    run = Run(config, workdir, mesh=mesh, batch_keys=("batch_size",))
    local_batch = run.local_batch("batch_size")
    aux_weight = float(config.aux_weight) if aux_targets is not None else 0.0
    if config.aux_weight and aux_targets is None:
        raise ConfigError(f"aux_weight={config.aux_weight}: dataset {config.dataset!r} has no auxiliary targets")
    train = load_split(config.dataset, "train", aux_targets if aux_weight else None)
    train_x, train_y, dataset_name = train[:3]
    aux = train[3] if aux_weight else None
    test_x, test_y, _ = load_split(config.dataset, "test")
    try:
        model = conv_classifier.ConvClassifier(**config.architecture.to_dict())
    except TypeError as e:
        raise ConfigError(f"architecture: {e}") from None

    # ------------------------------------------------------------------ data order, init, restore
    num_steps, batch_size = config.num_steps, config.batch_size
    order_rng = np.random.default_rng(config.seed)
    epochs = -(-max(num_steps, 1) * batch_size // len(train_x))
    order = np.concatenate([order_rng.permutation(len(train_x)) for _ in range(epochs)])
    offset = jax.process_index() * local_batch  # process p takes its slice of each global batch
    tx = optax.adam(optax.cosine_decay_schedule(config.learning_rate, max(num_steps, 1)))
    aux_head = nn.Dense(aux.shape[1]) if aux_weight else None

    def init_state(_):
        dummy = jnp.zeros((1, *train_x.shape[1:]))
        params = {"model": model.init(run.key("init", 0), dummy)["params"]}
        if aux_weight:
            params["aux"] = aux_head.init(run.key("init", 1), jnp.zeros((1, model.feature_dim)))["params"]
        return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))

    state = run.init(init_state)
    state = run.restore(state)
    augment_fn = recipe["augment_fn"] if config.augment else None
    train_step = jax.jit(classifier_step_fn(model, tx, augment_fn, aux_head, aux_weight, run.mesh), donate_argnums=0)

    # ------------------------------------------------------------------ loop
    for step in run.steps():
        start = (step - 1) * batch_size + offset
        idx = order[start:start + local_batch]
        batch = {"image": train_x[idx], "label": train_y[idx]}
        if aux_weight:
            batch["aux"] = aux[idx]
        state, metrics = train_step(state, run.global_batch(batch), run.key("augment", step - 1))
        run.record(step, metrics)
        run.checkpoint(step, state)

    # ------------------------------------------------------------------ eval and weight files
    with run.paused(state):
        params = jax.device_get(state.params["model"])
        test_accuracy = conv_classifier.accuracy(model, params, test_x, test_y)
        train_accuracy = conv_classifier.accuracy(model, params, train_x, train_y)
        info = weights_record(config, recipe, dataset_name, len(train_x), len(test_x), test_accuracy,
                              train_accuracy, run.train_time_s)
        if jax.process_index() == 0:
            weights_file = run.workdir / info["weights_file"]
            weights_file.write_bytes(flax.serialization.to_bytes(params))
            info["sha256"] = conv_classifier.file_sha256(weights_file)
            (run.workdir / f"{module.NAME}.json").write_text(json.dumps(info, indent=2) + "\n")
            print(f"test accuracy {test_accuracy:.4f}, train accuracy {train_accuracy:.4f}; wrote {weights_file} "
                  f"(sha256 {info['sha256']})", flush=True)
    metrics_out = {"test_accuracy": test_accuracy, "train_accuracy": train_accuracy,
                   "weights_sha256": info.get("sha256"), "train_time_s": run.train_time_s}
    protocol = {"dataset": info["dataset"], "test_split": "test", "n_test": int(len(test_x)),
                "accuracy": "top-1 over the whole test split", "seed": config.seed}
    return run.finish(metrics_out, protocol, state=state)


def weights_record(config, recipe, dataset_name: str, n_train: int, n_test: int, test_accuracy: float,
                   train_accuracy: float, train_time_s: float) -> dict:
    """The JSON written beside the weights: what they are and how they were made."""
    module = recipe["module"]
    architecture = config.architecture.to_dict()
    return {
        "name": module.NAME,
        "weights_file": f"{module.NAME}.msgpack",
        "architecture": architecture,
        "feature_dim": architecture["feature_dim"],
        "feature_layer": conv_classifier.FEATURE_LAYER,
        "features": "pre-activations of the dense layer 'fc' before ReLU and the classifier head",
        "input_spec": module.INPUT_SPEC,
        "dataset": {
            "name": dataset_name, "image_size": IMAGE_SIZE, "resampling": recipe["resampling"],
            "train_split": "train", "test_split": "test", "n_train": int(n_train), "n_test": int(n_test),
            "source": f"genvision_jax.data.get_source({config.dataset!r}, split, image_size={IMAGE_SIZE})",
            "scaling": "uint8 / 127.5 - 1 (genvision_jax.data.transforms.ScaleImage)",
        },
        "test_accuracy": test_accuracy,
        "train_accuracy": train_accuracy,
        "train_steps": config.num_steps,
        "batch_size": config.batch_size,
        "optimizer": {"name": "adam", "peak_learning_rate": config.learning_rate, "schedule": "cosine to 0"},
        "augmentation": recipe["augmentation"] if config.augment else {},
        **({"auxiliary_loss": {"weight": config.aux_weight, "targets": recipe["aux_description"]}}
           if config.aux_weight else {}),
        "seed": config.seed,
        "train_time_s": round(train_time_s, 1),
        "devices": {"kind": jax.devices()[0].device_kind, "count": jax.device_count()},
        "versions": {"jax": jax.__version__, "flax": flax.__version__, "optax": optax.__version__,
                     "numpy": np.__version__},
    }
