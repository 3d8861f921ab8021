"""Association costs (IoU, GIoU, cosine, Mahalanobis) and thresholded assignment (Hungarian or greedy).

All costs are [N tracks, M detections] float64, lower is better. `linear_assignment` treats entries
above `max_cost` (and NaN/Inf, e.g. gated pairs) as forbidden.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from genvision_jax.tracking import boxes as box_ops
from genvision_jax.tracking.kalman import CHI2_95, MotionModel, gating_distance

METHODS = ("hungarian", "greedy")
_EMPTY_MATCHES = np.zeros((0, 2), np.int64)


def iou_cost(tracks_xyxy: np.ndarray, dets_xyxy: np.ndarray) -> np.ndarray:
    """1 - IoU, in [0, 1]."""
    return 1.0 - box_ops.iou_matrix(tracks_xyxy, dets_xyxy)


def giou_cost(tracks_xyxy: np.ndarray, dets_xyxy: np.ndarray) -> np.ndarray:
    """1 - GIoU, in [0, 2]: unlike 1 - IoU it keeps ranking boxes that do not overlap."""
    return 1.0 - box_ops.giou_matrix(tracks_xyxy, dets_xyxy)


def normalize(features: np.ndarray, name: str = "features") -> np.ndarray:
    """Rows scaled to unit L2 norm; raises ValueError on a zero or non-finite row."""
    features = np.asarray(features, np.float64)
    norms = np.linalg.norm(features, axis=-1, keepdims=True)
    if features.size and not np.all(np.isfinite(norms) & (norms > 0)):
        raise ValueError(f"{name}: every appearance feature needs a finite, non-zero norm")
    return features / np.where(norms > 0, norms, 1.0)


def cosine_cost(gallery: np.ndarray, det_features: np.ndarray, gallery_size: np.ndarray | None = None) -> np.ndarray:
    """Nearest-neighbour cosine distance [N, M]: min over each track's gallery of 1 - cos(g, f).

    gallery [N, D] (one feature per track, e.g. an EMA) or [N, B, D] whose first `gallery_size[i]`
    entries are track i's (DeepSORT's budgeted gallery). Inputs need not be normalized.
    """
    det = normalize(det_features, "detection features")
    gallery = np.asarray(gallery)
    if gallery.ndim == 2:
        return 1.0 - normalize(gallery, "track features") @ det.T
    if gallery_size is None:
        raise ValueError("cosine_cost: a [N, B, D] gallery needs gallery_size [N]")
    sizes = np.asarray(gallery_size)
    if len(sizes) != len(gallery) or np.any(sizes < 1) or np.any(sizes > gallery.shape[1]):
        raise ValueError(f"cosine_cost: gallery_size must be in [1, {gallery.shape[1]}] for each of the "
                         f"{len(gallery)} tracks")
    if len(gallery) == 0:
        return np.zeros((0, len(det)))
    valid = np.arange(gallery.shape[1])[None, :] < sizes[:, None]  # [N, B]
    entries = gallery[valid]  # [sum(sizes), D], grouped by track
    norms = np.linalg.norm(entries, axis=1)
    if not np.all(np.isfinite(norms) & (norms > 0)):
        raise ValueError("gallery features: every appearance feature needs a finite, non-zero norm")
    # Dividing the products by the norms is cheaper than normalizing a copy of the whole gallery.
    sims = (entries @ det.T.astype(entries.dtype)) / norms[:, None]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return 1.0 - np.maximum.reduceat(sims, starts, axis=0).astype(np.float64)


def mahalanobis_gate(model: MotionModel, mean: np.ndarray, cov: np.ndarray, dets_xyxy: np.ndarray,
                     only_position: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(squared Mahalanobis distances [N, M], admissible mask [N, M] at the chi-square 0.95 gate)."""
    z = model.to_measurement(dets_xyxy)
    d2 = gating_distance(model, mean, cov, z, only_position=only_position)
    return d2, d2 <= CHI2_95[2 if only_position else 4]


def linear_assignment(cost: np.ndarray, max_cost: float, method: str = "hungarian"
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match rows to columns, never through a pair with cost > `max_cost` (or NaN/Inf).

    "hungarian": the minimum-cost assignment where leaving a row and a column unmatched costs
    `max_cost` (forbidden entries are raised to just above it, as DeepSORT's `min_cost_matching` and
    ByteTrack's `lapjv(cost_limit=...)` do), solved with scipy's `linear_sum_assignment`.
    "greedy": repeatedly take the cheapest admissible pair (ties by row, then column index).

    Returns (matches int64 [K, 2] of (row, col), unmatched rows [N-K], unmatched cols [M-K]).
    """
    if method not in METHODS:
        raise ValueError(f"unknown assignment method {method!r}; choose one of {METHODS}")
    cost = np.asarray(cost, np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a [N, M] matrix, got shape {cost.shape}")
    n, m = cost.shape
    admissible = np.isfinite(cost) & (cost <= max_cost)
    if not admissible.any():
        return _EMPTY_MATCHES, np.arange(n), np.arange(m)
    if method == "hungarian":
        clamped = np.where(admissible, cost, max_cost + 1e-5)
        rows, cols = linear_sum_assignment(clamped)
        keep = admissible[rows, cols]
        rows, cols = rows[keep], cols[keep]
    else:
        cand_r, cand_c = np.nonzero(admissible)
        order = np.argsort(cost[cand_r, cand_c], kind="stable")
        taken_r, taken_c = set(), set()
        rows, cols = [], []
        for r, c in zip(cand_r[order].tolist(), cand_c[order].tolist()):
            if r not in taken_r and c not in taken_c:
                taken_r.add(r)
                taken_c.add(c)
                rows.append(r)
                cols.append(c)
        rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    matches = np.stack([rows, cols], axis=1).astype(np.int64)
    row_free, col_free = np.ones(n, bool), np.ones(m, bool)
    row_free[rows], col_free[cols] = False, False
    return matches, np.nonzero(row_free)[0], np.nonzero(col_free)[0]
