"""One evaluator for every generative family: FID, KID, precision/recall/density/coverage and IS of
generator samples against a real dataset split, in-loop and at the end of training.

    evaluator = GenerativeEvaluator("digits", dataset_images("digits", "train", image_size=32),
                                    num_samples=2000, batch_size=200, metrics=("fid", "kid"))
    result = evaluator(lambda i: generate(batch=i))     # i-th batch of samples in [-1, 1], fixed latents
    result["fid"], result["kid"], result["protocol"]

The real split's statistics come from the on-disk cache of `metrics.reference` (computed once per
split and extractor); its features are kept in memory only when KID or precision/recall need them.
Samples are scored batch by batch, so only their statistics (and, for KID/PR, their features) are
kept. Every result carries the protocol: extractor and weights, sample counts, real split, metric
settings.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from genvision_jax.errors import ConfigError, UserError
from genvision_jax.metrics.features import FeatureExtractor, get_feature_extractor
from genvision_jax.metrics.fid import FeatureStats, compute_fid
from genvision_jax.metrics.image_sources import ImageSet
from genvision_jax.metrics.inception_score import inception_score
from genvision_jax.metrics.kid import kid
from genvision_jax.metrics.prdc import prdc
from genvision_jax.metrics.reference import reference_features, reference_stats

METRICS = ("fid", "kid", "prdc", "is")


@dataclasses.dataclass
class GenerativeEvaluator:
    """Scores generators against `real` with the feature extractor `extractor` (a registry name).

    Args:
      extractor: `get_feature_extractor` name, e.g. 'digits', 'shapes', 'inception:PATH'.
      real: the real images (a dataset split; its statistics are cached on disk).
      num_samples: generated images per evaluation.
      batch_size: images the sample function returns per call.
      metrics: any of 'fid', 'kid', 'prdc' (precision/recall/density/coverage), 'is'.
      sample_shape: (H, W, C) of the samples, checked against the extractor now rather than later.
    """

    extractor: str
    real: ImageSet
    num_samples: int
    batch_size: int
    metrics: Sequence[str] = ("fid",)
    sample_shape: tuple[int, int, int] | None = None
    kid_subset_size: int = 1000
    kid_subsets: int = 100
    prdc_k: int = 3
    seed: int = 0

    def __post_init__(self):
        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown:
            raise ConfigError(f"unknown generative metric(s) {unknown}; valid: {list(METRICS)}")
        if self.num_samples < 1 or self.batch_size < 1:
            raise ConfigError(f"num_samples ({self.num_samples}) and batch_size ({self.batch_size}) must be >= 1")
        features = self.features  # loads now: an unknown or unreadable extractor is a config error here
        if self.sample_shape is not None:
            try:
                features.validate(np.zeros((1, *self.sample_shape), np.float32))
            except ValueError as e:
                raise ConfigError(f"feature extractor {self.extractor!r} cannot score samples of shape "
                                  f"{tuple(self.sample_shape)}: {e}") from None

    @functools.cached_property
    def features(self) -> FeatureExtractor:
        return _extractor(self.extractor, "features")

    @functools.cached_property
    def real_stats(self) -> FeatureStats:
        return reference_stats(self.features, self.real)

    @functools.cached_property
    def real_features(self) -> np.ndarray:
        return reference_features(self.features, self.real)

    def __call__(self, sample: Callable[[int], np.ndarray], protocol: Mapping[str, Any] | None = None) -> dict:
        """Scores `num_samples` images from `sample(i)` (batch i, [batch_size, H, W, C] in [-1, 1]).

        Returns {'fid', 'kid', 'kid_std', 'precision', 'recall', 'density', 'coverage', 'inception_score',
        'inception_score_std' (those asked for), 'protocol': {metric: its protocol}}.
        """
        keep = "kid" in self.metrics or "prdc" in self.metrics
        fake = FeatureStats(self.features.feature_dim, {**self.features.protocol(), "source": "generator"})
        fake_features, logits = [], []
        n, bs = self.num_samples, self.batch_size
        for i in range(-(-n // bs)):
            images = np.asarray(sample(i))[: n - i * bs]
            feats = self.features(images)
            fake.update(feats)
            if keep:
                fake_features.append(feats)
            if "is" in self.metrics:
                logits.append(_extractor(self.extractor, "logits")(images))
        setting = {"num_samples": n, "sample_batch_size": bs, **dict(protocol or {})}
        out: dict[str, Any] = {"protocol": {}}
        if "fid" in self.metrics:
            fid = compute_fid(self.real_stats, fake, setting)
            out["fid"], out["protocol"]["fid"] = fid["fid"], fid["protocol"]
        if keep:
            fake_features = np.concatenate(fake_features)
            base = {**self.features.protocol(), **setting, "real": self.real.description}
        if "kid" in self.metrics:
            k = kid(self.real_features, fake_features, subset_size=self.kid_subset_size,
                    num_subsets=self.kid_subsets, seed=self.seed, protocol=base)
            out["kid"], out["kid_std"], out["protocol"]["kid"] = k["kid_mean"], k["kid_std"], k["protocol"]
        if "prdc" in self.metrics:
            p = prdc(self.real_features, fake_features, k=self.prdc_k, protocol=base)
            out.update({key: p[key] for key in ("precision", "recall", "density", "coverage")})
            out["protocol"]["prdc"] = p["protocol"]
        if "is" in self.metrics:
            s = inception_score(np.concatenate(logits), protocol=setting)
            out["inception_score"], out["inception_score_std"] = s["is_mean"], s["is_std"]
            out["protocol"]["is"] = s["protocol"]
        return out

    def real_fid(self, other: ImageSet) -> dict:
        """FID of another real set (e.g. the test split) against the reference: the scale of the numbers."""
        return compute_fid(self.real_stats, reference_stats(self.features, other),
                           {"fake_is": other.description})


@functools.lru_cache(maxsize=8)
def _extractor(name: str, output: str) -> FeatureExtractor:
    try:
        return get_feature_extractor(name, output=output)
    except UserError:
        raise
    except (ValueError, FileNotFoundError) as e:
        raise ConfigError(f"feature extractor {name!r}: {e}") from None


def scores_for_log(result: Mapping[str, Any], prefix: str = "", suffix: str = "") -> dict[str, float]:
    """The scalar values of an evaluator result (no protocol), keys renamed, for metrics.jsonl."""
    return {f"{prefix}{k}{suffix}": float(v) for k, v in result.items() if k != "protocol"}
