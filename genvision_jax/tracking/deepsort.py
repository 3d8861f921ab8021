"""DeepSORT: SORT with an appearance gallery and a matching cascade (Wojke et al. 2017, "Simple Online
and Realtime Tracking with a Deep Association Metric").

Per frame:
 1. predict every track (DeepSORT's xyah Kalman filter);
 2. matching cascade over confirmed tracks, most recently seen first (time since update 1, 2, ...,
    max_age): cost = nearest-neighbour cosine distance between the detection's embedding and the
    track's gallery of its last `nn_budget` embeddings, forbidden beyond the chi-square 0.95
    Mahalanobis gate of the track's Kalman prediction, accepted up to `max_cosine_distance`;
 3. IoU matching (accepting 1 - IoU <= max_iou_distance) of tentative tracks and tracks missed for
    exactly one frame against the detections left;
 4. tentative tracks become confirmed after `n_init` consecutive matches and are deleted at their first
    miss; confirmed tracks are deleted after more than `max_age` misses (the lost-track buffer: a track
    occluded for up to max_age frames is re-identified by appearance when it reappears);
 5. a track starts at each unmatched detection.
Reported: confirmed tracks matched in this frame or missed for one frame (the reference application's
output rule). Defaults are the paper's (max_age 70, n_init 3, max_cosine_distance 0.2, budget 100,
max_iou_distance 0.7).

`appearance="ema"` replaces the gallery by one exponential moving average per track,
e <- a e + (1 - a) f, renormalized (Du et al. 2023, "StrongSORT", a = 0.9): steadier long-term identity
for the cost of one feature per track. `appearance="none"` is DeepSORT without ReID: the cascade matches
on the squared Mahalanobis distance, accepted within the chi-square gate.
"""

from __future__ import annotations

import numpy as np

from genvision_jax.tracking import assignment
from genvision_jax.tracking.kalman import CHI2_95, DeepSortMotion
from genvision_jax.tracking.tracks import CONFIRMED, TENTATIVE, KalmanTracker, check_detections

APPEARANCE_MODES = ("gallery", "ema", "none")


class DeepSORT(KalmanTracker):
    """DeepSORT tracker. See the module docstring; `update(detections [N, 5], features [N, D])`.

    Args:
        feature_dim: embedding size D (needed unless appearance="none").
        max_cosine_distance, nn_budget, max_iou_distance, max_age, n_init: as in the paper.
        appearance: "gallery" (paper), "ema" or "none" (no ReID).
        ema_momentum: a of the EMA mode.
        min_score: detections scoring below this are ignored.
        matching: "hungarian" or "greedy" for every assignment step.
    """

    def __init__(self, feature_dim: int = 0, max_cosine_distance: float = 0.2, nn_budget: int = 100,
                 max_iou_distance: float = 0.7, max_age: int = 70, n_init: int = 3, appearance: str = "gallery",
                 ema_momentum: float = 0.9, min_score: float = 0.0, matching: str = "hungarian"):
        if appearance not in APPEARANCE_MODES:
            raise ValueError(f"unknown appearance mode {appearance!r}; choose one of {APPEARANCE_MODES}")
        if matching not in assignment.METHODS:
            raise ValueError(f"unknown matching {matching!r}; choose one of {assignment.METHODS}")
        if appearance != "none" and feature_dim < 1:
            raise ValueError(f"DeepSORT with appearance={appearance!r} needs feature_dim >= 1, got {feature_dim}")
        if nn_budget < 1 or max_age < 1 or n_init < 1:
            raise ValueError(f"nn_budget, max_age and n_init must be >= 1, got {nn_budget}, {max_age}, {n_init}")
        if not 0.0 <= ema_momentum < 1.0:
            raise ValueError(f"ema_momentum must be in [0, 1), got {ema_momentum}")
        self.feature_dim = int(feature_dim) if appearance != "none" else 0
        self.max_cosine_distance, self.nn_budget = float(max_cosine_distance), int(nn_budget)
        self.max_iou_distance, self.max_age, self.n_init = float(max_iou_distance), int(max_age), int(n_init)
        self.appearance, self.ema_momentum = appearance, float(ema_momentum)
        self.min_score, self.matching = float(min_score), matching
        self.needs_features = appearance != "none"
        d = self.feature_dim
        extra = {}
        if appearance == "gallery":
            extra = {"gallery": ((self.nn_budget, d), np.float32), "gallery_size": ((), np.int64),
                     "gallery_next": ((), np.int64)}
        elif appearance == "ema":
            extra = {"embedding": ((d,), np.float32)}
        super().__init__(DeepSortMotion(), extra)

    # ---------------------------------------------------------------------------------- features
    def _new_feature_columns(self, feats: np.ndarray) -> dict:
        n = len(feats)
        if self.appearance == "gallery":
            gallery = np.zeros((n, self.nn_budget, self.feature_dim), np.float32)
            gallery[:, 0] = feats
            return {"gallery": gallery, "gallery_size": np.ones(n, np.int64), "gallery_next": np.full(n, 1 % self.nn_budget, np.int64)}
        if self.appearance == "ema":
            return {"embedding": feats}
        return {}

    def _add_features(self, rows: np.ndarray, feats: np.ndarray) -> None:
        t = self.tracks
        if self.appearance == "gallery":  # ring buffer: the newest nn_budget embeddings
            nxt = t["gallery_next"][rows]
            t["gallery"][rows, nxt] = feats
            t["gallery_next"][rows] = (nxt + 1) % self.nn_budget
            t["gallery_size"][rows] = np.minimum(t["gallery_size"][rows] + 1, self.nn_budget)
        elif self.appearance == "ema":
            a = self.ema_momentum
            mixed = a * t["embedding"][rows] + (1 - a) * feats
            t["embedding"][rows] = assignment.normalize(mixed)

    def _cascade_cost(self, rows: np.ndarray, dets: np.ndarray, feats: np.ndarray | None) -> tuple[np.ndarray, float]:
        """Gated cost [len(rows), M] for the cascade and its acceptance threshold."""
        t = self.tracks
        d2, admissible = assignment.mahalanobis_gate(self.motion, t["mean"][rows], t["cov"][rows], dets[:, :4])
        if self.appearance == "none":
            return np.where(admissible, d2, np.inf), CHI2_95[4]
        if self.appearance == "gallery":
            cost = assignment.cosine_cost(t["gallery"][rows], feats, t["gallery_size"][rows])
        else:
            cost = assignment.cosine_cost(t["embedding"][rows], feats)
        return np.where(admissible, cost, np.inf), self.max_cosine_distance

    # ------------------------------------------------------------------------------------ update
    def update(self, detections, features=None) -> np.ndarray:
        if self.needs_features and features is None:
            raise ValueError("DeepSORT needs appearance features [N, D] with the detections "
                             "(or appearance='none' to track without ReID)")
        dets, feats = check_detections(detections, features if self.needs_features else None,
                                       self.feature_dim or None)
        keep = dets[:, 4] >= self.min_score
        dets = dets[keep]
        feats = assignment.normalize(feats[keep]).astype(np.float32) if feats is not None else None
        self.frame += 1
        t = self.tracks
        self._predict()
        t["age"] += 1
        t["time_since_update"] += 1

        # Matching cascade over confirmed tracks, by time since update.
        matches = []
        unmatched_dets = np.arange(len(dets))
        confirmed = np.nonzero(t["state"] == CONFIRMED)[0]
        if len(confirmed) and len(dets):
            cost, threshold = self._cascade_cost(confirmed, dets, feats)
            tsu = t["time_since_update"][confirmed]
            for level in np.unique(tsu[tsu <= self.max_age]):  # levels 1..max_age; empty ones change nothing
                if len(unmatched_dets) == 0:
                    break
                at_level = np.nonzero(tsu == level)[0]
                m, _, _ = assignment.linear_assignment(cost[np.ix_(at_level, unmatched_dets)], threshold,
                                                       self.matching)
                matches.append(np.stack([confirmed[at_level[m[:, 0]]], unmatched_dets[m[:, 1]]], axis=1))
                unmatched_dets = np.delete(unmatched_dets, m[:, 1])
        matched_rows = np.concatenate([m[:, 0] for m in matches]) if matches else np.zeros(0, np.int64)

        # IoU matching of tentative tracks and of tracks missed for exactly one frame.
        unmatched = np.ones(len(t), bool)
        unmatched[matched_rows] = False
        candidates = np.nonzero(unmatched & ((t["state"] == TENTATIVE) | (t["time_since_update"] == 1)))[0]
        if len(candidates) and len(unmatched_dets):
            m, _, _ = assignment.linear_assignment(
                assignment.iou_cost(self.boxes(candidates), dets[unmatched_dets, :4]), self.max_iou_distance,
                self.matching)
            matches.append(np.stack([candidates[m[:, 0]], unmatched_dets[m[:, 1]]], axis=1))
            unmatched_dets = np.delete(unmatched_dets, m[:, 1])
        matches = np.concatenate(matches) if matches else np.zeros((0, 2), np.int64)

        rows, cols = matches[:, 0], matches[:, 1]
        self._correct(rows, dets[cols])
        if feats is not None:
            self._add_features(rows, feats[cols])
        t["hits"][rows] += 1
        t["time_since_update"][rows] = 0
        t["state"][rows[(t["state"][rows] == TENTATIVE) & (t["hits"][rows] >= self.n_init)]] = CONFIRMED

        missed = np.ones(len(t), bool)
        missed[rows] = False
        dead = missed & ((t["state"] == TENTATIVE) | (t["time_since_update"] > self.max_age))
        t.keep(~dead)
        new_feats = self._new_feature_columns(feats[unmatched_dets]) if feats is not None else {}
        new = self._spawn(dets[unmatched_dets], **new_feats)
        t["hits"][new] = 1
        t["age"][new] = 1
        return self._output((t["state"] == CONFIRMED) & (t["time_since_update"] <= 1))
