"""Feature extractors for generative metrics: any Flax model's `apply` turned into images -> [n, d].

A `FeatureExtractor` bundles a pure batch function `apply_fn(params, images) -> features` with its
params, the sha256 of the weights file and the input it expects, so every statistic computed
with it carries the protocol (`FeatureExtractor.protocol`). Inputs are validated on the host before
they reach the network: silent mistakes such as uint8 images or [0, 1] scaling are the commonest
reason FID numbers are not comparable.

The batch function runs jitted over a `('data',)` mesh of the process's devices: each batch is split
along its leading axis, params are replicated. Features come back to the host, where statistics
accumulate in float64 (`FeatureStats`), so nothing but O(d²) numbers is kept for FID.

`get_feature_extractor('digits' | 'shapes' | 'inception:PATH[:legacy|clean]')` looks extractors up in
`FEATURE_EXTRACTORS`, where the modules of `genvision_jax.metrics.extractors` register them.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from genvision_jax.metrics.fid import FeatureStats
from genvision_jax.registry import Registry
from genvision_jax.train.sharding import batch_sharding, make_mesh, replicated_sharding


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """Images an extractor accepts: [N, height, width, channels] floats in [low, high]."""

    height: int
    width: int
    channels: int
    low: float = -1.0
    high: float = 1.0
    dtype: str = "float32"

    def describe(self) -> str:
        return (f"[N,{self.height},{self.width},{self.channels}] {self.dtype} "
                f"in [{self.low:g}, {self.high:g}]")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureExtractor:
    """images [N, H, W, C] -> features [N, d] (numpy float32), computed in fixed-size batches.

    `apply_fn(params, images[B, H, W, C]) -> [B, d]` must be pure, jit-able and per-example (no
    batch statistics), so features do not depend on batch composition or sharding. Each batch is
    padded to `global_batch_size` (`batch_size` rounded up to a multiple of the device count) so one
    shape is compiled. `mesh` defaults to a `('data',)` mesh over this process's devices.
    `resize` names the resizing protocol applied inside `apply_fn` ('none' for fixed-size networks;
    'legacy' or 'clean' for InceptionV3); it is part of the protocol.
    """

    name: str
    apply_fn: Callable[[Any, jax.Array], jax.Array]
    params: Any
    weights_sha256: str
    input_spec: InputSpec
    batch_size: int = 256
    resize: str = "none"
    mesh: Mesh | None = None

    @functools.cached_property
    def _mesh(self) -> Mesh:
        # Local devices: in a multi-process run each process extracts its own images' features.
        return self.mesh if self.mesh is not None else make_mesh(jax.local_devices())

    @property
    def global_batch_size(self) -> int:
        n_dev = self._mesh.devices.size
        return -(-self.batch_size // n_dev) * n_dev

    @functools.cached_property
    def batch_features(self) -> Callable[[Any, jax.Array], jax.Array]:
        """The jitted pure batch function (params, images[B,H,W,C]) -> features[B, d], with the
        batch split over the mesh's 'data' axis and params replicated."""
        mesh = self._mesh
        return jax.jit(self.apply_fn,
                       in_shardings=(replicated_sharding(mesh), batch_sharding(mesh, 4)),
                       out_shardings=batch_sharding(mesh, 2))

    @functools.cached_property
    def _replicated_params(self):
        return jax.device_put(self.params, replicated_sharding(self._mesh))

    @functools.cached_property
    def feature_dim(self) -> int:
        s = self.input_spec
        x = jax.ShapeDtypeStruct((1, s.height, s.width, s.channels), jnp.dtype(s.dtype))
        return int(jax.eval_shape(self.apply_fn, self.params, x).shape[-1])

    def protocol(self) -> dict:
        """Metadata that identifies features made by this extractor (stored with statistics)."""
        return {
            "feature_extractor": self.name,
            "weights_sha256": self.weights_sha256,
            "image_size": [self.input_spec.height, self.input_spec.width],
            "feature_dim": self.feature_dim,
            "resize": self.resize,
            "input_spec": self.input_spec.to_dict(),
        }

    def validate(self, images) -> np.ndarray:
        """Returns images as a float32 numpy array, or raises ValueError naming the problem."""
        spec = self.input_spec
        expected = f"{self.name} expects images {spec.describe()}"
        shape = tuple(np.shape(images))
        if len(shape) != 4 or shape[1:] != (spec.height, spec.width, spec.channels):
            raise ValueError(f"{expected}; got shape {shape}")
        dtype = np.dtype(images.dtype) if hasattr(images, "dtype") else np.asarray(images).dtype
        if not np.issubdtype(dtype, np.floating):
            hint = (" (scale uint8 images with x / 127.5 - 1)"
                    if dtype == np.uint8 and spec.low == -1.0 and spec.high == 1.0 else "")
            raise ValueError(f"{expected}; got dtype {dtype}{hint}")
        x = np.asarray(images, dtype=np.float32)
        if x.size:
            if not np.all(np.isfinite(x)):
                raise ValueError(f"{expected}; got NaN or Inf values")
            lo, hi = float(x.min()), float(x.max())
            if lo < spec.low or hi > spec.high:
                raise ValueError(f"{expected}; got values in [{lo:g}, {hi:g}]")
        return x

    def __call__(self, images) -> np.ndarray:
        x = self.validate(images)
        n, bs = x.shape[0], self.global_batch_size
        in_sharding = batch_sharding(self._mesh, 4)
        out = []
        for start in range(0, n, bs):
            batch = x[start:start + bs]
            valid = batch.shape[0]
            if valid < bs:
                batch = np.concatenate([batch, np.zeros((bs - valid, *batch.shape[1:]), batch.dtype)])
            feats = self.batch_features(self._replicated_params, jax.device_put(batch, in_sharding))
            out.append(np.asarray(feats)[:valid])
        if not out:
            return np.zeros((0, self.feature_dim), np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)


def scale_uint8(images, spec: InputSpec) -> np.ndarray:
    """uint8 images [N, H, W, C] (0..255) -> float32 in [spec.low, spec.high] with spec.channels.

    Gray images (C=1) are repeated to RGB when the extractor wants 3 channels (the usual practice for
    MNIST-like data with InceptionV3); RGB into a 1-channel extractor is an error, because any
    conversion to gray would be a choice the protocol does not record. Scaling for [-1, 1] is
    exactly `x / 127.5 - 1`, as the training pipelines' `ScaleImage`.
    """
    x = np.asarray(images)
    if x.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got dtype {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"expected images [N, H, W, C], got shape {x.shape}")
    if x.shape[-1] != spec.channels:
        if x.shape[-1] == 1 and spec.channels == 3:
            x = np.repeat(x, 3, axis=-1)
        else:
            raise ValueError(f"images have {x.shape[-1]} channels; the extractor expects "
                             f"{spec.describe()}")
    return x.astype(np.float32) / np.float32(255.0 / (spec.high - spec.low)) + np.float32(spec.low)


def _image_batches(images_iterable) -> Iterable:
    if hasattr(images_iterable, "shape") and len(images_iterable.shape) == 4:
        return [images_iterable]
    return (b["image"] if isinstance(b, Mapping) else b for b in images_iterable)


def stats_from_images(extractor: FeatureExtractor, images_iterable,
                      meta: Mapping[str, Any] | None = None) -> FeatureStats:
    """Streams image batches through `extractor` into FeatureStats (features are never buffered).

    `images_iterable` yields arrays [n, H, W, C] (or dicts with an 'image' entry, as pipelines do);
    a single 4-D array is treated as one batch. `meta` (e.g. dataset and split) is added to the
    extractor's protocol in the statistics' metadata.
    """
    stats = FeatureStats(extractor.feature_dim, {**extractor.protocol(), **dict(meta or {})})
    for batch in _image_batches(images_iterable):
        stats.update(extractor(batch))
    return stats


def features_from_images(extractor: FeatureExtractor, images_iterable) -> np.ndarray:
    """All features [N, d] float32 of the images (as `stats_from_images` takes them), for metrics
    that need individual features (KID, precision/recall, IS)."""
    parts = [extractor(batch) for batch in _image_batches(images_iterable)]
    if not parts:
        return np.zeros((0, extractor.feature_dim), np.float32)
    return np.concatenate(parts)


# ------------------------------------------------------------------------------------------------
# The registry: extractors register in genvision_jax/metrics/extractors/ (found on first lookup).
# ------------------------------------------------------------------------------------------------

OUTPUTS = ("features", "logits")
FEATURE_EXTRACTORS = Registry("feature extractor", discover="genvision_jax.metrics.extractors")


@functools.lru_cache(maxsize=8)
def get_feature_extractor(spec: str, *, output: str = "features",
                          batch_size: int = 256) -> FeatureExtractor:
    """Extractor by name: 'NAME[:ARGUMENT]', e.g. 'digits[:WEIGHTS_DIR]', 'shapes[:WEIGHTS_DIR]' or
    'inception:PATH[:legacy|clean]' (`FEATURE_EXTRACTORS.names()` lists them).

    `output` is 'features' (FID, KID, precision/recall) or 'logits' (Inception Score). The same
    arguments return the same extractor (memoized), so its weights load and its batch function
    compiles once per process.
    """
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; valid: {list(OUTPUTS)}")
    name, _, argument = spec.partition(":")
    return FEATURE_EXTRACTORS.get(name)(argument or None, output=output, batch_size=batch_size)
