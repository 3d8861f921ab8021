"""A small person-ReID embedding CNN for tracking, its batched embedder and its weight files.

Model: 3x3 convs (the first stride 1, the others stride 2) with GroupNorm and ReLU; the final map is
averaged into `num_parts` horizontal stripes (part pooling, Sun et al. 2018, "Beyond Part Models"), so
the embedding keeps where a colour is (top vs bottom) rather than only which colours occur; a dense
layer gives the feature, L2-normalised into the embedding. Crops default to 32x16 (height x width).
No batch statistics, so an embedding depends only on its crop. Training is the tracking family's
(`genvision_jax.tasks.reid`); the losses are in `genvision_jax.losses.metric_learning`, retrieval
metrics in `genvision_jax.metrics.retrieval`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from genvision_jax.errors import InputError, MissingInputError
from genvision_jax.nn import Conv
from genvision_jax.tracking.boxes import crop_resize

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


def to_model_input(crops) -> jax.Array:
    """uint8 (or 0..255 float) crops -> float32 in [-1, 1]."""
    return jnp.asarray(crops, jnp.float32) / 127.5 - 1.0


def architecture(model: ReIDNet) -> dict[str, Any]:
    """The fields that rebuild `model` (stored in weight files)."""
    return {"embedding_dim": model.embedding_dim, "widths": list(model.widths), "num_parts": model.num_parts}


def init_params(model: ReIDNet, crop_hw: tuple[int, int], key: jax.Array) -> Any:
    """Freshly initialized params (e.g. the untrained baseline)."""
    return jax.jit(model.init)(key, jnp.zeros((1, *crop_hw, 3)))["params"]


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


def save_reid(path, params, model: ReIDNet, crop_hw: Sequence[int], info: Mapping[str, Any] | None = None) -> Path:
    """Writes `path` (.msgpack params) and `path`.json (architecture, crop size, sha256, info)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = flax.serialization.to_bytes(params)
    path.write_bytes(blob)
    record = {"architecture": architecture(model), "crop_hw": list(crop_hw),
              "sha256": hashlib.sha256(blob).hexdigest(), "info": dict(info or {})}
    Path(f"{path}.json").write_text(json.dumps(record, indent=2, default=float) + "\n")
    return path


def load_reid(path) -> tuple[ReIDEmbedder, dict]:
    """Reads weights written by `save_reid`; checks the sha256 and the param shapes. -> (embedder, record)."""
    path = Path(path)
    meta = Path(f"{path}.json")
    if not path.is_file() or not meta.is_file():
        raise MissingInputError(f"ReID weights need {path} and {meta}")
    try:
        record = json.loads(meta.read_text())
        arch, crop_hw, sha = record["architecture"], tuple(record["crop_hw"]), record["sha256"]
        model = ReIDNet(embedding_dim=arch["embedding_dim"], widths=tuple(arch["widths"]),
                        num_parts=arch["num_parts"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise InputError(f"{meta} is not a ReID weights record ({type(e).__name__}: {e})") from None
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != sha:
        raise InputError(f"{path}: sha256 does not match the one recorded in {meta}")
    expected = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, *crop_hw, 3)))["params"]
    try:
        params = flax.serialization.msgpack_restore(blob)
    except Exception as e:  # noqa: BLE001 — msgpack raises several types for bad bytes
        raise InputError(f"{path} is not a msgpack parameter file ({type(e).__name__})") from None
    if jax.tree.map(lambda a: tuple(a.shape), params) != jax.tree.map(lambda a: tuple(a.shape), expected):
        raise InputError(f"{path}: weights do not match the architecture {arch}")
    return ReIDEmbedder(model, jax.tree.map(jnp.asarray, params), crop_hw), record
