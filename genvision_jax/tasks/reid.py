"""ReID trainer for tracking, top to bottom: config → crops → init → restore → loop → ReID evaluation →
tracker benchmark → results.

Training (Hermans et al. 2017, "In Defense of the Triplet Loss for Person Re-Identification"; Luo et
al. 2019, "Bag of Tricks and a Strong Baseline for Deep Person Re-identification"): PK batches
(P identities x K crops), batch-hard triplet loss on cosine distance (margin 0.3) plus softmax
cross-entropy of an identity classifier on the feature; augmentation by horizontal flip, per-channel
colour gain/offset (cameras differ in colour response), shifts of up to 2 px and random erasing
(Zhong et al. 2020) as synthetic occlusion. Batches and their augmentation are a pure function of
(seed, step): numpy generators seeded by (seed, stream, step), so the step is the whole data position.

Crops come from two-camera synthetic MOT scenes (`genvision_jax.tasks.tracking.benchmark`); the trained
network is written as `reid.msgpack` (+ `.json`), evaluated by cross-camera retrieval and tracklet
association on held-out scenes (against the untrained network), and feeds DeepSORT in the tracker
benchmark of `config.benchmark` / `config.trackers`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Mapping

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from genvision_jax.errors import ConfigError
from genvision_jax.losses.metric_learning import batch_hard_triplet_loss
from genvision_jax.models.recognizers.reid import ReIDEmbedder, ReIDNet, init_params, save_reid, to_model_input
from genvision_jax.tasks.tracking import benchmark as bench
from genvision_jax.tracking import make_tracker, track_sequence
from genvision_jax.train import make_optimizer
from genvision_jax.train.rng import stream_id
from genvision_jax.train.run import Run
from genvision_jax.train.sharding import check_global_batch_size, constrain_batch
from genvision_jax.train.writers import save_image_grid


@flax.struct.dataclass
class ReIDState:
    step: jax.Array
    params: Any
    opt_state: Any


def pk_batch(labels: np.ndarray, p: int, k: int, seed: int, step: int) -> np.ndarray:
    """Indices [p * k] of a PK batch: p distinct identities, k crops each (with replacement if an
    identity has fewer). A pure function of (seed, step), so a resumed run draws the same batches."""
    classes, inverse = np.unique(labels, return_inverse=True)
    if len(classes) < p:
        raise ConfigError(f"a PK batch needs at least p={p} identities, the data has {len(classes)}")
    rng = np.random.default_rng([seed, step])
    members = np.split(np.argsort(inverse, kind="stable"), np.cumsum(np.bincount(inverse))[:-1])
    chosen = rng.choice(len(classes), p, replace=False)
    return np.concatenate([rng.choice(members[c], k, replace=len(members[c]) < k) for c in chosen])


def augment_params(rng: np.random.Generator, batch: int, max_shift: int = 2, colour: float = 0.2,
                   erase_prob: float = 0.5) -> dict[str, np.ndarray]:
    """Random augmentation parameters for `augment`, drawn on the host.

    Drawn with numpy rather than jax.random: on XLA:CPU every threefry call site costs seconds of
    compile time, and these are a few hundred numbers per step.
    """
    area = rng.uniform(0.02, 0.3, batch)
    aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3), batch))
    return {
        "flip": rng.random(batch) < 0.5,
        "gain": rng.uniform(1 - colour, 1 + colour, (batch, 3)).astype(np.float32),
        "offset": rng.uniform(-colour / 2, colour / 2, (batch, 3)).astype(np.float32),
        "shift": rng.integers(0, 2 * max_shift + 1, (batch, 2)).astype(np.int32),
        "erase": rng.random(batch) < erase_prob,
        "erase_hw": np.stack([np.sqrt(area * aspect), np.sqrt(area / aspect)], 1).astype(np.float32),  # fractions
        "erase_centre": rng.random((batch, 2)).astype(np.float32),  # fractions of (H, W)
        "erase_colour": rng.uniform(-1, 1, (batch, 3)).astype(np.float32),
    }


def augment(images: jax.Array, params: Mapping[str, jax.Array], max_shift: int = 2) -> jax.Array:
    """images [B, H, W, 3] in [-1, 1], with `augment_params`: horizontal flip, per-channel gain and
    offset (cameras differ in colour response), a shift of up to `max_shift` px (edge padding), and a
    random rectangle (2-30% of the area, aspect 0.3-3.3) painted one random colour (random erasing as
    synthetic occlusion)."""
    b, h, w, c = images.shape
    x = jnp.where(params["flip"][:, None, None, None], images[:, :, ::-1], images)
    x = jnp.clip((x + 1) * params["gain"][:, None, None, :] - 1 + params["offset"][:, None, None, :], -1.0, 1.0)
    if max_shift > 0:
        padded = jnp.pad(x, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)), mode="edge")
        x = jax.vmap(lambda im, s: jax.lax.dynamic_slice(im, (s[0], s[1], 0), (h, w, c)))(padded, params["shift"])
    yy = (jnp.arange(h) + 0.5)[None, :, None] / h
    xx = (jnp.arange(w) + 0.5)[None, None, :] / w
    centre, size = params["erase_centre"], params["erase_hw"]
    inside = ((jnp.abs(yy - centre[:, :1, None]) < size[:, :1, None] / 2) &
              (jnp.abs(xx - centre[:, 1:, None]) < size[:, 1:, None] / 2))
    erase = inside & params["erase"][:, None, None]
    return jnp.where(erase[..., None], params["erase_colour"][:, None, None, :], x)


def init_key(seed: int) -> jax.Array:
    """The initializers' key: an RBG key (threefry compiles for seconds per initializer on XLA:CPU),
    from a numpy generator of (seed, stream 'init')."""
    return jax.random.key(int(np.random.default_rng([seed, stream_id("init")]).integers(2**31)), impl="rbg")


def make_model(train: ml_collections.ConfigDict, num_classes: int = 0) -> ReIDNet:
    return ReIDNet(embedding_dim=train.embedding_dim, widths=tuple(train.widths), num_parts=train.num_parts,
                   num_classes=num_classes)


def reid_step_fn(model: ReIDNet, tx: optax.GradientTransformation, train: ml_collections.ConfigDict, mesh):
    """(state, batch) -> (state, metrics): batch-hard triplet + identity cross-entropy on augmented crops."""
    def step(state: ReIDState, batch):
        images = constrain_batch(augment(to_model_input(batch["image"]), batch["augment"], train.max_shift), mesh)

        def loss_fn(params):
            emb, logits = model.apply({"params": params}, images, return_logits=True)
            triplet, active = batch_hard_triplet_loss(emb, batch["label"], train.margin)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
            acc = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
            return triplet + train.id_loss_weight * ce, {"triplet_loss": triplet, "id_loss": ce,
                                                         "active_triplets": active, "id_accuracy": acc}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        return (ReIDState(state.step + 1, optax.apply_updates(state.params, updates), opt_state),
                {"loss": loss, **metrics})
    return step


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, mesh=None) -> dict[str, Any]:
    """Train the ReID network in `workdir` (resuming from its last checkpoint), evaluate it, run the tracker
    benchmark with it."""
    t = config.reid.train
    run = Run(config, workdir, mesh=mesh)
    local_batch = check_global_batch_size(t.p * t.k, run.mesh, "reid.train.p * reid.train.k")
    bench.check_levels(config)
    t0 = time.time()
    crops, raw_labels = bench.reid_training_set(config)
    classes, labels = np.unique(raw_labels, return_inverse=True)
    data_time = time.time() - t0
    model = make_model(t, num_classes=len(classes))
    tx = make_optimizer({"name": "adam", "learning_rate": t.learning_rate, "schedule": "cosine",
                         "decay_steps": max(config.num_steps, 1)})

    # ------------------------------------------------------------------ init and restore
    def init(key):
        params = model.init(key, jnp.zeros((1, *t.crop_hw, 3)), return_logits=True)["params"]
        return ReIDState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))

    state = run.init(init, key=init_key(config.seed))
    state = run.restore(state)
    train_step = jax.jit(reid_step_fn(model, tx, t, run.mesh), donate_argnums=0)
    local = slice(jax.process_index() * local_batch, (jax.process_index() + 1) * local_batch)

    # ------------------------------------------------------------------ loop
    for step in run.steps():
        idx = pk_batch(labels, t.p, t.k, config.seed, step - 1)
        aug = augment_params(np.random.default_rng([config.seed, stream_id("augment"), step - 1]), len(idx),
                             t.max_shift, t.colour_jitter, t.erase_prob)
        batch = run.global_batch({"image": crops[idx[local]], "label": labels[idx[local]].astype(np.int32),
                                  "augment": {k: v[local] for k, v in aug.items()}})
        state, metrics = train_step(state, batch)
        run.record(step, metrics)
        run.checkpoint(step, state)

    # ------------------------------------------------------------------ ReID evaluation, tracker benchmark
    with run.paused(state):
        embed_model = make_model(t)
        params = {k: v for k, v in jax.device_get(state.params).items() if k != "classifier"}
        info = {"num_identities": int(len(classes)), "num_crops": int(len(crops)), "steps": int(state.step),
                "seed": config.seed, "data_time_s": round(data_time, 1)}
        if jax.process_index() == 0:
            save_reid(run.workdir / "reid.msgpack", params, embed_model, t.crop_hw, info)
        embedder = ReIDEmbedder(embed_model, params, tuple(t.crop_hw))
        reid_eval = bench.evaluate_reid(config, embedder)
        untrained = ReIDEmbedder(embed_model, init_params(embed_model, tuple(t.crop_hw), init_key(config.seed)),
                                 tuple(t.crop_hw))
        reid_eval_untrained = bench.evaluate_reid(config, untrained)
        for name, e in (("trained", reid_eval), ("untrained", reid_eval_untrained)):
            print(f"ReID ({name}) cross-camera: rank-1 {e['rank1']:.3f}, mAP {e['mAP']:.3f}, tracklet association "
                  f"precision {e['association_precision']:.3f} recall {e['association_recall']:.3f}", flush=True)
        summary, per_sequence, figure_seq = bench.benchmark(config, embedder)
        claims = bench.check_claims(summary, list(config.benchmark.levels))
        table = bench.markdown_table(summary)
        if jax.process_index() == 0:
            _write_benchmark_outputs(run.workdir, config, embedder, per_sequence, table, figure_seq)
            print(table + json.dumps(claims, indent=2), flush=True)

    b = config.benchmark
    protocol = {
        "benchmark": "genvision_jax.data.mot_synthetic", "levels": list(b.levels),
        "level_parameters": {lv: bench.synth.LEVELS[lv] for lv in b.levels},
        "sequences_per_level": b.sequences_per_level, "frames_per_sequence": b.num_frames,
        "image_size": [b.width, b.height], "iou_threshold": b.iou_threshold,
        "metrics": "genvision_jax.metrics.mot (CLEAR/Identity equal to py-motmetrics 1.4; HOTA as TrackEval), "
                   "counts summed over the sequences of a level",
        "low_score_range": list(b.low_score_range),
        "fps": "frames / tracker seconds on the host (numpy, BLAS on one thread), best of timing_repeats runs per "
               "sequence on a shared machine; fps_with_reid adds cropping and embedding every detection once "
               "(rendering excluded)",
        "timing_repeats": b.timing_repeats,
        "reid": {**info, "crop_hw": list(t.crop_hw), "embedding_dim": embedder.dim,
                 "weights": "reid.msgpack in the workdir"},
        "seed": config.seed,
    }
    metrics = {"summary": summary, "claims": claims, "train_time_s": run.train_time_s,
               "reid": {k: v for k, v in reid_eval.items() if k != "pairs"},
               "reid_untrained": {k: v for k, v in reid_eval_untrained.items() if k != "pairs"}}
    return run.finish(metrics, protocol, state=state, table=table)


def _write_benchmark_outputs(workdir, config, embedder, per_sequence, table, figure_seq) -> None:
    """sequences.jsonl (every sequence x variant), table.md, frames_hardest.png (DeepSORT's boxes)."""
    with open(workdir / "sequences.jsonl", "w") as f:
        for row in per_sequence:
            f.write(json.dumps(row) + "\n")
    (workdir / "table.md").write_text(table)
    if figure_seq is None:
        return
    spec = config.trackers.get("deepsort", None)
    frames = np.linspace(1, figure_seq.num_frames, 4).astype(int)
    if spec is not None:
        feats, _ = bench.detection_features(figure_seq, embedder)
        tracker = make_tracker(spec.tracker, **bench.tracker_params(spec, embedder.dim))
        det = dataclasses.replace(figure_seq.detections, features=feats)
        rows = track_sequence(tracker, det.frames(1, figure_seq.num_frames))
        images = [bench.draw_tracks(figure_seq.render(f), rows[rows[:, 0] == f]) for f in frames]
    else:
        images = [figure_seq.render(f) for f in frames]
    save_image_grid(np.stack(images).astype(np.float32) / 127.5 - 1.0, workdir / "frames_hardest.png", nrow=2)
