"""Feature extractors for generative metrics: any Flax model's `apply` turned into images -> [n, d].

A `FeatureExtractor` bundles a pure batch function `apply_fn(params, images) -> features` with its
params, the sha256 of the weights file and the input it expects, so every statistic computed
with it carries the protocol (`FeatureExtractor.protocol`). Inputs are validated on the host before
they reach the network: silent mistakes such as uint8 images or [0, 1] scaling are the commonest
reason FID numbers are not comparable.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from genvision_jax.metrics.fid import FeatureStats


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

    `apply_fn(params, images[B, H, W, C]) -> [B, d]` must be pure and jit-able; the last batch is
    padded to `batch_size` so only one shape is ever compiled.
    """

    name: str
    apply_fn: Callable[[Any, jax.Array], jax.Array]
    params: Any
    weights_sha256: str
    input_spec: InputSpec
    batch_size: int = 256

    @functools.cached_property
    def batch_features(self) -> Callable[[Any, jax.Array], jax.Array]:
        """The jitted pure batch function (params, images[B,H,W,C]) -> features[B, d]."""
        return jax.jit(self.apply_fn)

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
        n = x.shape[0]
        out = []
        for start in range(0, n, self.batch_size):
            batch = x[start:start + self.batch_size]
            valid = batch.shape[0]
            if valid < self.batch_size:
                batch = np.concatenate(
                    [batch, np.zeros((self.batch_size - valid, *batch.shape[1:]), batch.dtype)])
            out.append(np.asarray(self.batch_features(self.params, batch))[:valid])
        if not out:
            return np.zeros((0, self.feature_dim), np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)


def stats_from_images(extractor: FeatureExtractor, images_iterable,
                      meta: Mapping[str, Any] | None = None) -> FeatureStats:
    """Streams image batches through `extractor` into FeatureStats (features are never buffered).

    `images_iterable` yields arrays [n, H, W, C] (or dicts with an 'image' entry, as pipelines do);
    a single 4-D array is treated as one batch. `meta` (e.g. dataset and split) is added to the
    extractor's protocol in the statistics' metadata.
    """
    if hasattr(images_iterable, "shape") and len(images_iterable.shape) == 4:
        images_iterable = [images_iterable]
    stats = FeatureStats(extractor.feature_dim, {**extractor.protocol(), **dict(meta or {})})
    for batch in images_iterable:
        if isinstance(batch, Mapping):
            batch = batch["image"]
        stats.update(extractor(batch))
    return stats


def load_digits_extractor(weights_dir=None, batch_size: int = 256) -> FeatureExtractor:
    """The shipped 32x32 digits classifier's 128-d penultimate features as a FeatureExtractor."""
    from genvision_jax.models.recognizers import digits_classifier

    model, params, info = digits_classifier.load_pretrained(weights_dir)

    def apply_fn(params, images):
        return model.apply({"params": params}, images, return_features=True)

    size = info["input_spec"]
    return FeatureExtractor(
        name=f"{info['name']}/{info['feature_layer']}",
        apply_fn=apply_fn,
        params=params,
        weights_sha256=info["sha256"],
        input_spec=InputSpec(**size),
        batch_size=batch_size,
    )
