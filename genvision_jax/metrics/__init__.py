"""Metrics that judge generative and recognition models, each returned with its protocol."""

from genvision_jax.metrics.features import (
    FeatureExtractor,
    InputSpec,
    load_digits_extractor,
    stats_from_images,
)
from genvision_jax.metrics.fid import FeatureStats, compute_fid, frechet_distance

__all__ = [
    "FeatureExtractor",
    "FeatureStats",
    "InputSpec",
    "compute_fid",
    "frechet_distance",
    "load_digits_extractor",
    "stats_from_images",
]
