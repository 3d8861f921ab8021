"""SORT: Kalman prediction + IoU assignment (Bewley et al. 2016, "Simple Online and Realtime Tracking").

Per frame: predict every track; match tracks to detections on 1 - IoU (accepting IoU >= iou_threshold);
update matched tracks; start a track at every unmatched detection; drop tracks unmatched for more
than `max_age` frames. A track is reported in the frames it was matched once it has `min_hits`
consecutive matches after its first detection (or during the first `min_hits` frames of the
sequence). Defaults are the reference implementation's (max_age 1, min_hits 3, IoU 0.3).
"""

from __future__ import annotations

import numpy as np

from genvision_jax.tracking import assignment
from genvision_jax.tracking.kalman import SortMotion
from genvision_jax.tracking.tracks import KalmanTracker, check_detections

COSTS = {"iou": assignment.iou_cost, "giou": assignment.giou_cost}


class SORT(KalmanTracker):
    """SORT tracker. See the module docstring and `tracks` for the update contract.

    Args:
        max_age: frames a track survives without a match.
        min_hits: consecutive matches before a track is reported.
        iou_threshold: minimum IoU (GIoU with cost="giou") of an accepted match.
        min_score: detections scoring below this are ignored.
        matching: "hungarian" (optimal) or "greedy".
        cost: "iou" or "giou".
    """

    def __init__(self, max_age: int = 1, min_hits: int = 3, iou_threshold: float = 0.3, min_score: float = 0.0,
                 matching: str = "hungarian", cost: str = "iou"):
        if cost not in COSTS:
            raise ValueError(f"unknown SORT cost {cost!r}; choose one of {sorted(COSTS)}")
        if matching not in assignment.METHODS:
            raise ValueError(f"unknown matching {matching!r}; choose one of {assignment.METHODS}")
        if max_age < 0 or min_hits < 0:
            raise ValueError(f"max_age and min_hits must be >= 0, got {max_age}, {min_hits}")
        self.max_age, self.min_hits, self.iou_threshold = int(max_age), int(min_hits), float(iou_threshold)
        self.min_score, self.matching, self.cost = float(min_score), matching, cost
        super().__init__(SortMotion())

    def update(self, detections, features=None) -> np.ndarray:
        dets, _ = check_detections(detections)
        dets = dets[dets[:, 4] >= self.min_score]
        self.frame += 1
        t = self.tracks
        if len(t):
            self._predict()
            t["age"] += 1
            t["hit_streak"][t["time_since_update"] > 0] = 0
            t["time_since_update"] += 1
            t.keep(np.all(np.isfinite(t["mean"][:, :4]), axis=1))

        matches, _, unmatched = assignment.linear_assignment(
            COSTS[self.cost](self.boxes(), dets[:, :4]), 1.0 - self.iou_threshold, self.matching)
        rows, cols = matches[:, 0], matches[:, 1]
        self._correct(rows, dets[cols])
        t["time_since_update"][rows] = 0
        t["hits"][rows] += 1
        t["hit_streak"][rows] += 1
        self._spawn(dets[unmatched])

        report = (t["time_since_update"] < 1) & ((t["hit_streak"] >= self.min_hits) | (self.frame <= self.min_hits))
        out = self._output(report)
        t.keep(t["time_since_update"] <= self.max_age)
        return out
