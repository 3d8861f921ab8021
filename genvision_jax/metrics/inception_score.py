"""Inception Score (IS) from classifier logits, over splits.

Salimans et al. 2016, "Improved Techniques for Training GANs", section 4:
IS = exp(E_x KL(p(y|x) || p(y))), with p(y|x) the classifier's softmax and p(y) its mean over the
images of a split. The N images are cut into `splits` contiguous parts (the original code's
boundaries k·N // splits, no shuffling); the result is the mean and standard deviation (ddof=0) of
the per-split scores. Computed in float64 from log-softmax, so no epsilon is needed in the logs.
It ranges from 1 (every image gets the same class distribution) to K (confident and balanced over
K classes).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from scipy.special import log_softmax, logsumexp


def inception_score(logits, *, splits: int = 10, protocol: Mapping[str, Any] | None = None) -> dict:
    """IS of logits [N, K] (finite). Returns {'is_mean', 'is_std', 'protocol'}."""
    z = np.asarray(logits, np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"logits must be [N, K] with K >= 2 classes, got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits contain NaN or Inf")
    n = z.shape[0]
    if splits < 1 or n < splits:
        raise ValueError(f"need 1 <= splits <= N; got splits={splits} for N={n} images")
    log_p = log_softmax(z, axis=1)  # log p(y|x)
    scores = []
    for k in range(splits):
        part = log_p[k * n // splits:(k + 1) * n // splits]
        log_marginal = logsumexp(part, axis=0) - np.log(part.shape[0])  # log p(y)
        kl = np.sum(np.exp(part) * (part - log_marginal), axis=1)
        scores.append(np.exp(kl.mean()))
    scores = np.asarray(scores)
    return {
        "is_mean": float(scores.mean()),
        "is_std": float(scores.std()),
        "protocol": {
            "metric": "is",
            **dict(protocol or {}),
            "splits": splits,
            "split_rule": "contiguous, boundaries k*N//splits, no shuffle",
            "num_classes": z.shape[1],
            "n_fake": n,
        },
    }
