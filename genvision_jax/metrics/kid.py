"""Kernel Inception Distance (KID): unbiased MMD² with a cubic polynomial kernel, over subsets.

Bińkowski, Sutherland, Arbel & Gretton 2018, "Demystifying MMD GANs", section 4 / appendix:
k(x, y) = (x·y / d + 1)^3 for d-dimensional features, and per subset of m real and m generated
features the unbiased estimator

    MMD²_u = sum_{i≠j} k(x_i, x_j) / (m(m-1)) + sum_{i≠j} k(y_i, y_j) / (m(m-1))
             - 2 sum_{i,j} k(x_i, y_j) / m².

KID is the mean over `num_subsets` subsets (default 100 of size 1000, as StyleGAN-ADA, clean-fid and
torch-fidelity), with the standard deviation over subsets. Unlike FID it is unbiased, so small
sample counts do not inflate it; it can be slightly negative when the distributions agree.
Computed in float64 on the host.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np

KERNEL = "(x.y/d + 1)^3"


def _check_features(name: str, x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} features must be [n, d], got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} features contain NaN or Inf")
    return x


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x_i, y_j) = (x_i·y_j / d + 1)^3 for x [m, d], y [n, d] -> [m, n], float64."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between samples x [m, d] and y [n, d] (m, n >= 2), polynomial kernel."""
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError(f"unbiased MMD² needs at least 2 samples per set, got {m} and {n}")
    k_xx, k_yy = polynomial_kernel(x, x), polynomial_kernel(y, y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * polynomial_kernel(x, y).mean())


def kid(real_features, fake_features, *, subset_size: int = 1000, num_subsets: int = 100,
        seed: int = 0, protocol: Mapping[str, Any] | None = None) -> dict:
    """KID between real [n_r, d] and generated [n_f, d] features.

    Each subset draws m = min(subset_size, n_r, n_f) indices without replacement from the real
    features, then m from the generated ones, with `numpy.random.default_rng(seed)` (in that order,
    subset after subset). Returns {'kid_mean', 'kid_std' (over subsets, ddof=0), 'protocol'}, the
    protocol holding `protocol` (e.g. the extractor's) plus m, subset count, seed and sample counts.
    """
    x = _check_features("real", real_features)
    y = _check_features("fake", fake_features)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dims differ: real {x.shape[1]} vs fake {y.shape[1]}")
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be >= 1, got {num_subsets}")
    m = min(subset_size, x.shape[0], y.shape[0])
    reduced = m < subset_size
    if reduced:
        warnings.warn(f"KID: {x.shape[0]} real and {y.shape[0]} generated samples are fewer than the subset size "
                      f"{subset_size}; subsets of {m} are used (recorded as protocol['subset_size_reduced'])",
                      stacklevel=2)
    if m < 2:
        raise ValueError(f"KID needs at least 2 real and 2 generated samples, got "
                         f"{x.shape[0]} and {y.shape[0]}")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_subsets):
        xi = rng.choice(x.shape[0], m, replace=False)
        yi = rng.choice(y.shape[0], m, replace=False)
        values.append(mmd2_unbiased(x[xi], y[yi]))
    values = np.asarray(values)
    return {
        "kid_mean": float(values.mean()),
        "kid_std": float(values.std()),
        "protocol": {
            "metric": "kid",
            **dict(protocol or {}),
            "kernel": KERNEL,
            "estimator": "unbiased MMD^2",
            "subset_size": m,
            "subset_size_requested": subset_size,
            "subset_size_reduced": reduced,
            "num_subsets": num_subsets,
            "subset_sampling": "numpy default_rng(seed).choice without replacement, real then fake",
            "seed": seed,
            "feature_dim": x.shape[1],
            "n_real": x.shape[0],
            "n_fake": y.shape[0],
        },
    }
