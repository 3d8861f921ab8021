"""Metrics that judge generative and recognition models, each returned with its protocol.

Distribution metrics over features of a `FeatureExtractor`: FID (`compute_fid` over streamed
`FeatureStats`), KID (`kid`), Inception Score (`inception_score`), precision/recall and
density/coverage (`prdc`). Extractors by name: `get_feature_extractor`. Reference statistics of
dataset splits are cached (`reference_stats`). Command line: `python -m genvision_jax.metrics`.
"""

from genvision_jax.metrics.extractors.classifiers import load_digits_extractor, load_shapes_extractor
from genvision_jax.metrics.features import (
    FeatureExtractor,
    InputSpec,
    features_from_images,
    get_feature_extractor,
    scale_uint8,
    stats_from_images,
)
from genvision_jax.metrics.fid import FeatureStats, compute_fid, frechet_distance
from genvision_jax.metrics.image_sources import ImageSet, open_images
from genvision_jax.metrics.inception_score import inception_score
from genvision_jax.metrics.kid import kid
from genvision_jax.metrics.prdc import prdc
from genvision_jax.metrics.reference import image_stats, reference_stats

__all__ = [
    "FeatureExtractor",
    "FeatureStats",
    "ImageSet",
    "InputSpec",
    "compute_fid",
    "features_from_images",
    "frechet_distance",
    "get_feature_extractor",
    "image_stats",
    "inception_score",
    "kid",
    "load_digits_extractor",
    "load_shapes_extractor",
    "open_images",
    "prdc",
    "reference_stats",
    "scale_uint8",
    "stats_from_images",
]
