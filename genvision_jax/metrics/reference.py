"""Reference feature statistics of dataset splits, cached as `.npz` under $GENVISION_CACHE_DIR.

Real-data statistics are the expensive, reusable half of FID. They are computed from the split's
features in one pass (`reference_features`: the images in chunks of whole extractor batches, then one
float64 update), so the same split always gives the same bits however it is read. A cached file is keyed by everything
that changes the numbers: dataset (TFDS full name with version) and split, how many images (the
first n in record order), and the extractor's protocol (name, weights sha256, image size, feature
dim, resize, input range). The key's sha256 names the file and the key itself is stored in it and
checked on load, so a stale or foreign file is recomputed rather than trusted. Files are written to
a temporary name and renamed, so concurrent processes never read half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from genvision_jax.metrics.features import FeatureExtractor, scale_uint8, stats_from_images
from genvision_jax.metrics.fid import FeatureStats
from genvision_jax.metrics.image_sources import ImageSet

CACHE_ENV = "GENVISION_CACHE_DIR"
SUBDIR = "reference_stats"


def cache_dir() -> Path:
    """`$GENVISION_CACHE_DIR/reference_stats`, else `~/.cache/genvision_jax/reference_stats`."""
    root = os.environ.get(CACHE_ENV) or os.path.join("~", ".cache", "genvision_jax")
    return Path(os.path.expanduser(root)) / SUBDIR


def reference_key(extractor: FeatureExtractor, images: ImageSet) -> dict:
    """What identifies the statistics of `images` (a dataset split) under `extractor`."""
    if images.dataset is None:
        raise ValueError(f"only dataset splits have cached reference statistics, not "
                         f"{images.description['source']}")
    return {
        "dataset": images.dataset["dataset"],
        "split": images.dataset["split"],
        "num_samples": len(images),
        "selection": "first num_samples in record order",
        "scaling": "uint8 -> [low, high] of input_spec (x / 127.5 - 1 for [-1, 1])",
        **extractor.protocol(),
    }


def cache_path(key: dict, directory: str | os.PathLike | None = None) -> Path:
    """`<directory>/<dataset>-<split>-<n>-<sha256(key)[:16]>.npz` (directory default `cache_dir()`)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    readable = re.sub(r"[^A-Za-z0-9.]+", "-", f"{key['dataset']}-{key['split']}-{key['num_samples']}")
    return (Path(directory) if directory is not None else cache_dir()) / f"{readable}-{digest}.npz"


def image_stats(extractor: FeatureExtractor, images: ImageSet, batch_size: int = 1024,
                meta: dict | None = None) -> FeatureStats:
    """Streams an ImageSet (uint8) through the extractor into float64 statistics."""
    batches = (scale_uint8(b, extractor.input_spec) for b in images.batches(batch_size))
    return stats_from_images(extractor, batches,
                             meta={"images": images.description, **dict(meta or {})})


def reference_features(extractor: FeatureExtractor, images: ImageSet, chunk_batches: int = 8) -> np.ndarray:
    """Features [n, d] of every image of the set (uint8 scaled as the pipelines scale), read in chunks
    of `chunk_batches` whole extractor batches, so each image meets the same batch at any chunk size."""
    chunk = chunk_batches * extractor.global_batch_size
    parts = [extractor(scale_uint8(b, extractor.input_spec)) for b in images.batches(chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, extractor.feature_dim), np.float32)


def reference_stats(extractor: FeatureExtractor, images: ImageSet, *,
                    directory: str | os.PathLike | None = None, refresh: bool = False) -> FeatureStats:
    """Statistics of a dataset split, from the cache when a file with the same key exists.

    Returns FeatureStats whose meta holds the key under 'reference_key' and, after a cache hit,
    the file under 'cache_file'.
    """
    key = reference_key(extractor, images)
    path = cache_path(key, directory)
    if path.is_file() and not refresh:
        stats = FeatureStats.load(path)
        if stats.meta.get("reference_key") == key:
            stats.meta["cache_file"] = str(path)
            return stats
    stats = FeatureStats(extractor.feature_dim, {**extractor.protocol(), "images": images.description,
                                                 "reference_key": key})
    stats.update(reference_features(extractor, images))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.npz")
    os.close(fd)
    try:
        stats.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return stats
