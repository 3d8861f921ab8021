"""A small person-ReID embedding CNN for tracking, its losses, training, inference and retrieval metrics.

Model: 3x3 convs (the first stride 1, the others stride 2) with GroupNorm and ReLU; the final map is
averaged into `num_parts` horizontal stripes (part pooling, Sun et al. 2018, "Beyond Part Models"), so
the embedding keeps where a colour is (top vs bottom) rather than only which colours occur; a dense
layer gives the feature, L2-normalised into the embedding. Crops default to 32x16 (height x width).
No batch statistics, so an embedding depends only on its crop.

Training (Hermans et al. 2017, "In Defense of the Triplet Loss for Person Re-Identification"; Luo et
al. 2019, "Bag of Tricks and a Strong Baseline for Deep Person Re-identification"): PK batches
(P identities x K crops), batch-hard triplet loss on cosine distance (margin 0.3) plus softmax
cross-entropy of an identity classifier on the feature; augmentation by horizontal flip, per-channel
colour gain/offset (cameras differ in colour response), shifts of up to 2 px and random erasing
(Zhong et al. 2020) as synthetic occlusion. Steps are jitted over a ('data',) mesh; the state is
checkpointed with Orbax so an interrupted training resumes (batches and their augmentation are a pure
function of seed and step: numpy generators seeded by (seed, stream, step)).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import flax
import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from genvision_jax.nn import Conv
from genvision_jax.tracking.boxes import crop_resize
from genvision_jax.train import Checkpointer, make_mesh, make_optimizer
from genvision_jax.train.rng import stream_id
from genvision_jax.train.sharding import check_global_batch_size, constrain_batch, replicated_sharding, to_global_batch
from genvision_jax.train.writers import MetricWriter

CROP_HW = (32, 16)


class ReIDNet(nn.Module):
    """crops [N, H, W, 3] in [-1, 1] -> unit embeddings [N, embedding_dim] (and identity logits).

    H / 2^(len(widths) - 1) must be divisible by `num_parts`.
    """

    embedding_dim: int = 64
    widths: Sequence[int] = (16, 32, 64, 64)
    num_parts: int = 4
    num_groups: int = 8
    num_classes: int = 0  # > 0 adds the identity classifier used in training

    @nn.compact
    def __call__(self, x, return_logits: bool = False):
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"ReIDNet expects crops [N, H, W, 3], got shape {x.shape}")
        for i, width in enumerate(self.widths):
            x = Conv(width, 3, stride=1 if i == 0 else 2, padding=1, name=f"conv{i}")(x)
            x = nn.GroupNorm(num_groups=min(self.num_groups, width), name=f"norm{i}")(x)
            x = nn.relu(x)
        n, h, w, c = x.shape
        if h % self.num_parts:
            raise ValueError(f"final feature map height {h} is not divisible by num_parts={self.num_parts}")
        parts = x.reshape(n, self.num_parts, h // self.num_parts, w, c).mean(axis=(2, 3))  # [N, P, C]
        feature = nn.Dense(self.embedding_dim, name="embed")(parts.reshape(n, -1))
        embedding = feature / jnp.maximum(jnp.linalg.norm(feature, axis=-1, keepdims=True), 1e-12)
        if not return_logits:
            return embedding
        if self.num_classes < 1:
            raise ValueError("return_logits needs a model built with num_classes >= 1")
        return embedding, nn.Dense(self.num_classes, name="classifier")(feature)


def batch_hard_triplet_loss(embeddings: jax.Array, labels: jax.Array, margin: float = 0.3
                            ) -> tuple[jax.Array, jax.Array]:
    """Batch-hard triplet loss on cosine distance 1 - e_i . e_j (unit embeddings [B, D], labels [B]).

    Per anchor: max(0, d(hardest positive) - d(hardest negative) + margin), averaged over anchors that
    have both a positive and a negative in the batch. Returns (loss, fraction of anchors with loss > 0).
    """
    dist = 1.0 - embeddings @ embeddings.T
    same = labels[:, None] == labels[None, :]
    pos_mask = same & ~jnp.eye(len(labels), dtype=bool)
    hardest_pos = jnp.max(jnp.where(pos_mask, dist, -jnp.inf), axis=1)
    hardest_neg = jnp.min(jnp.where(same, jnp.inf, dist), axis=1)
    valid = pos_mask.any(axis=1) & (~same).any(axis=1)
    per_anchor = jnp.where(valid, jax.nn.relu(hardest_pos - hardest_neg + margin), 0.0)
    n_valid = jnp.maximum(valid.sum(), 1)
    return per_anchor.sum() / n_valid, (per_anchor > 0).sum() / n_valid


def pk_batch(labels: np.ndarray, p: int, k: int, seed: int, step: int) -> np.ndarray:
    """Indices [p * k] of a PK batch: p distinct identities, k crops each (with replacement if an
    identity has fewer). A pure function of (seed, step), so a resumed run draws the same batches."""
    classes, inverse = np.unique(labels, return_inverse=True)
    if len(classes) < p:
        raise ValueError(f"a PK batch needs at least p={p} identities, the data has {len(classes)}")
    rng = np.random.default_rng([seed, step])
    members = np.split(np.argsort(inverse, kind="stable"), np.cumsum(np.bincount(inverse))[:-1])
    chosen = rng.choice(len(classes), p, replace=False)
    return np.concatenate([rng.choice(members[c], k, replace=len(members[c]) < k) for c in chosen])


def to_model_input(crops) -> jax.Array:
    """uint8 (or 0..255 float) crops -> float32 in [-1, 1]."""
    return jnp.asarray(crops, jnp.float32) / 127.5 - 1.0


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


# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------


@flax.struct.dataclass
class ReIDState:
    step: jax.Array
    params: Any
    opt_state: Any


@dataclasses.dataclass(frozen=True)
class ReIDTrainConfig:
    """Training hyperparameters (defaults: the experiment's `cpu` scale)."""

    num_steps: int = 1500
    p: int = 16                     # identities per batch
    k: int = 4                      # crops per identity
    learning_rate: float = 3e-3     # Adam, cosine decay to 0
    margin: float = 0.3
    id_loss_weight: float = 1.0
    embedding_dim: int = 64
    widths: tuple[int, ...] = (16, 32, 64, 64)
    num_parts: int = 4
    crop_hw: tuple[int, int] = CROP_HW
    max_shift: int = 2
    colour_jitter: float = 0.2
    erase_prob: float = 0.5
    log_every: int = 100
    checkpoint_every: int = 500

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "ReIDTrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise KeyError(f"unknown ReID training key(s) {unknown}; valid: {sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def make_model(cfg: ReIDTrainConfig, num_classes: int = 0) -> ReIDNet:
    return ReIDNet(embedding_dim=cfg.embedding_dim, widths=tuple(cfg.widths), num_parts=cfg.num_parts,
                   num_classes=num_classes)


def _init_key(seed: int) -> jax.Array:
    # An RBG key for the initializers: threefry compiles for seconds per initializer on XLA:CPU.
    return jax.random.key(int(np.random.default_rng([seed, stream_id("init")]).integers(2**31)), impl="rbg")


def init_params(model: ReIDNet, crop_hw: tuple[int, int], seed: int) -> Any:
    """Freshly initialized params (e.g. the untrained baseline)."""
    return jax.jit(model.init)(_init_key(seed), jnp.zeros((1, *crop_hw, 3)))["params"]


@functools.lru_cache(maxsize=4)
def _training_functions(cfg: ReIDTrainConfig, num_classes: int, mesh) -> tuple[Callable, Callable]:
    """Jitted (init(key) -> ReIDState, train_step(state, batch) -> (state, metrics)); cached, so repeated
    trainings with one config (a resumed run, tests) compile once per process."""
    model = make_model(cfg, num_classes=num_classes)
    tx = make_optimizer({"name": "adam", "learning_rate": cfg.learning_rate, "schedule": "cosine",
                         "decay_steps": cfg.num_steps})

    def init(key):
        params = model.init(key, jnp.zeros((1, *cfg.crop_hw, 3)), return_logits=True)["params"]
        return ReIDState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))

    def train_step(state, batch):
        images = constrain_batch(augment(to_model_input(batch["image"]), batch["augment"], cfg.max_shift), mesh)

        def loss_fn(params):
            emb, logits = model.apply({"params": params}, images, return_logits=True)
            triplet, active = batch_hard_triplet_loss(emb, batch["label"], cfg.margin)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
            acc = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
            return triplet + cfg.id_loss_weight * ce, {"triplet_loss": triplet, "id_loss": ce,
                                                       "active_triplets": active, "id_accuracy": acc}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        return (ReIDState(state.step + 1, optax.apply_updates(state.params, updates), opt_state),
                {"loss": loss, **metrics})

    return (jax.jit(init, out_shardings=replicated_sharding(mesh)),
            jax.jit(train_step, donate_argnums=0))


def train_reid(crops: np.ndarray, labels: np.ndarray, cfg: ReIDTrainConfig, seed: int, workdir=None,
               mesh=None, log: Callable[[int, dict], None] | None = None) -> tuple[Any, dict]:
    """Trains on crops uint8 [N, h, w, 3] with identity labels [N]; returns (params without the
    classifier, info). With `workdir`, checkpoints go to workdir/ckpt, logged rows to workdir/metrics.jsonl
    (and TensorBoard), and a re-run resumes from the last checkpoint. `log(step, row)` sees every logged row."""
    crops = np.asarray(crops)
    if crops.dtype != np.uint8 or crops.ndim != 4 or tuple(crops.shape[1:]) != (*cfg.crop_hw, 3):
        raise ValueError(f"crops must be uint8 [N, {cfg.crop_hw[0]}, {cfg.crop_hw[1]}, 3], got {crops.dtype} "
                         f"{crops.shape}")
    classes, labels = np.unique(np.asarray(labels), return_inverse=True)
    if len(labels) != len(crops):
        raise ValueError(f"{len(crops)} crops but {len(labels)} labels")
    mesh = mesh or make_mesh()
    local_batch = check_global_batch_size(cfg.p * cfg.k, mesh)
    init, train_step = _training_functions(cfg, len(classes), mesh)
    state = init(_init_key(seed))
    ckpt = Checkpointer(Path(workdir) / "ckpt") if workdir is not None else None
    start = 0
    if ckpt is not None:
        replicated = replicated_sharding(mesh)
        abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), state)
        restored = ckpt.restore_latest(abstract)
        if restored is not None:
            start, state = restored[0], restored[1]
    writer = MetricWriter(workdir, resume_step=start) if workdir is not None else None

    offset = jax.process_index() * local_batch
    local = slice(offset, offset + local_batch)
    t0, history = time.time(), []
    try:
        for step in range(start, cfg.num_steps):
            idx = pk_batch(labels, cfg.p, cfg.k, seed, step)
            aug = augment_params(np.random.default_rng([seed, stream_id("augment"), step]), len(idx),
                                 cfg.max_shift, cfg.colour_jitter, cfg.erase_prob)
            batch = to_global_batch({"image": crops[idx[local]], "label": labels[idx[local]].astype(np.int32),
                                     "augment": {k: v[local] for k, v in aug.items()}}, mesh)
            state, metrics = train_step(state, batch)
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.num_steps:
                row = {k: float(v) for k, v in jax.device_get(metrics).items()}
                if not np.isfinite(row["loss"]):
                    raise FloatingPointError(f"ReID training: non-finite loss {row['loss']} at step {done}")
                history.append({"step": done, **row})
                if writer is not None:
                    writer.write_scalars(done, row)
                if log:
                    log(done, row)
            if ckpt is not None and (done % cfg.checkpoint_every == 0 or done == cfg.num_steps):
                # Batches are a function of (seed, step), so the step is the whole data position.
                ckpt.save(done, state, data_state={"seed": seed, "step": done}, config=dataclasses.asdict(cfg))
    finally:
        if ckpt is not None:
            ckpt.close()
            writer.close()
    params = {k: v for k, v in jax.device_get(state.params).items() if k != "classifier"}
    info = {"num_identities": int(len(classes)), "num_crops": int(len(crops)), "steps": cfg.num_steps,
            "resumed_from_step": int(start), "train_time_s": round(time.time() - t0, 1), "history": history,
            "config": dataclasses.asdict(cfg), "seed": seed}
    return params, info


# ------------------------------------------------------------------------------------------------
# Inference, files, retrieval metrics
# ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _embedding_function(embedding_dim: int, widths: tuple[int, ...], num_parts: int, num_groups: int) -> Callable:
    """jit(params, uint8 crops) -> embeddings, shared by every embedder of one architecture (compiled once)."""
    model = ReIDNet(embedding_dim=embedding_dim, widths=widths, num_parts=num_parts, num_groups=num_groups)
    return jax.jit(lambda p, x: model.apply({"params": p}, to_model_input(x)))


class ReIDEmbedder:
    """Embeds crops or image regions with fixed weights, in padded batches (few compiled shapes).

    embed_crops(uint8 [N, h, w, 3]) -> float32 [N, D]; embed(image uint8 [H, W, 3], boxes xyxy [N, 4]).
    """

    def __init__(self, model: ReIDNet, params, crop_hw: tuple[int, int] = CROP_HW, batch_size: int = 256):
        self.model, self.params, self.crop_hw = model, params, tuple(crop_hw)
        self.batch_size = int(batch_size)
        self.dim = model.embedding_dim
        self._apply = _embedding_function(model.embedding_dim, tuple(model.widths), model.num_parts, model.num_groups)

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops)
        if crops.ndim != 4 or tuple(crops.shape[1:]) != (*self.crop_hw, 3):
            raise ValueError(f"crops must be [N, {self.crop_hw[0]}, {self.crop_hw[1]}, 3], got {crops.shape}")
        out = []
        for start in range(0, len(crops), self.batch_size):
            chunk = crops[start:start + self.batch_size]
            size = min(self.batch_size, 32) if len(chunk) <= 32 else self.batch_size  # two compiled shapes
            padded = np.zeros((size, *chunk.shape[1:]), chunk.dtype)
            padded[:len(chunk)] = chunk
            out.append(np.asarray(self._apply(self.params, padded))[:len(chunk)])
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def embed(self, image: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        if len(boxes_xyxy) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self.embed_crops(crop_resize(image, boxes_xyxy, self.crop_hw))


def save_reid(path, params, cfg: ReIDTrainConfig, info: Mapping[str, Any] | None = None) -> Path:
    """Writes `path` (.msgpack params) and `path`.json (architecture, crop size, sha256, info)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = flax.serialization.to_bytes(params)
    path.write_bytes(blob)
    record = {"architecture": {"embedding_dim": cfg.embedding_dim, "widths": list(cfg.widths),
                               "num_parts": cfg.num_parts},
              "crop_hw": list(cfg.crop_hw), "sha256": hashlib.sha256(blob).hexdigest(), "info": dict(info or {})}
    Path(f"{path}.json").write_text(json.dumps(record, indent=2, default=float) + "\n")
    return path


def load_reid(path) -> tuple[ReIDEmbedder, dict]:
    """Reads weights written by `save_reid`; checks the sha256 and the param shapes. -> (embedder, record)."""
    path = Path(path)
    meta = Path(f"{path}.json")
    if not path.is_file() or not meta.is_file():
        raise FileNotFoundError(f"ReID weights need {path} and {meta}")
    record = json.loads(meta.read_text())
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != record["sha256"]:
        raise ValueError(f"{path}: sha256 does not match the one recorded in {meta}")
    arch = record["architecture"]
    model = ReIDNet(embedding_dim=arch["embedding_dim"], widths=tuple(arch["widths"]), num_parts=arch["num_parts"])
    crop_hw = tuple(record["crop_hw"])
    expected = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, *crop_hw, 3)))["params"]
    params = flax.serialization.msgpack_restore(blob)
    if jax.tree.map(lambda a: tuple(a.shape), params) != jax.tree.map(lambda a: tuple(a.shape), expected):
        raise ValueError(f"{path}: weights do not match the architecture {arch}")
    return ReIDEmbedder(model, jax.tree.map(jnp.asarray, params), crop_hw), record


def retrieval_metrics(query: np.ndarray, query_ids: np.ndarray, gallery: np.ndarray, gallery_ids: np.ndarray
                      ) -> dict[str, float]:
    """Rank-1 accuracy and mean average precision of cosine-similarity retrieval.

    query [Q, D], gallery [G, D] (unit or not); queries whose identity is absent from the gallery are
    skipped and counted.
    """
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    order = np.argsort(-(q @ g.T), axis=1, kind="stable")
    hits = np.asarray(gallery_ids)[order] == np.asarray(query_ids)[:, None]  # [Q, G] in rank order
    has = hits.any(axis=1)
    hits = hits[has]
    ranks = np.arange(1, hits.shape[1] + 1)
    precision_at_hit = np.cumsum(hits, axis=1) / ranks
    ap = (precision_at_hit * hits).sum(axis=1) / hits.sum(axis=1)
    return {"rank1": float(hits[:, 0].mean()) if len(hits) else float("nan"),
            "mAP": float(ap.mean()) if len(hits) else float("nan"),
            "num_queries": int(has.sum()), "num_skipped": int((~has).sum())}
