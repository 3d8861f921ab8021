"""ByteTrack: associate every detection box, low scores included (Zhang et al. 2022, "ByteTrack:
Multi-Object Tracking by Associating Every Detection Box").

Detections are split into high (score > track_thresh) and low (low_thresh < score <= track_thresh).
Per frame:
 1. predict every track (DeepSORT's xyah Kalman filter; lost tracks with their height velocity zeroed);
 2. first association: active and lost tracks vs high detections on 1 - IoU (times the detection
    score with `fuse_score`), accepted up to `match_thresh`; a matched lost track is re-activated with
    its old id;
 3. second association: the active tracks left vs the low detections on 1 - IoU, accepted up to
    `second_match_thresh`; this recovers occluded objects whose detector scores dropped; active tracks
    still unmatched become lost;
 4. unconfirmed tracks (started last frame) vs the high detections left, up to
    `unconfirmed_match_thresh`; unmatched unconfirmed tracks are removed;
 5. a track starts at each remaining high detection scoring >= new_track_thresh (default
    track_thresh + 0.1); it is confirmed by a match in the next frame (immediately in frame 1);
 6. lost tracks are removed after `track_buffer` frames (scaled by frame_rate / 30) without a match;
    a tracked and a lost track overlapping with 1 - IoU < 0.15 are de-duplicated, keeping the longer one.
Reported: confirmed tracks matched in this frame. Defaults are the paper's MOT17 settings. Unlike the
reference code, unconfirmed tracks are also Kalman-predicted before matching (their velocity is zero,
so only the covariance differs).
"""

from __future__ import annotations

import numpy as np

from genvision_jax.tracking import assignment
from genvision_jax.tracking.kalman import DeepSortMotion
from genvision_jax.tracking.tracks import CONFIRMED, LOST, TENTATIVE, KalmanTracker, check_detections

DUPLICATE_IOU_DISTANCE = 0.15


class ByteTrack(KalmanTracker):
    """ByteTrack tracker. See the module docstring; `update(detections [N, 5])` (features are ignored).

    The `state` column holds TENTATIVE (unconfirmed), CONFIRMED (active) or LOST.
    """

    def __init__(self, track_thresh: float = 0.5, low_thresh: float = 0.1, new_track_thresh: float | None = None,
                 match_thresh: float = 0.8, second_match_thresh: float = 0.5, unconfirmed_match_thresh: float = 0.7,
                 track_buffer: int = 30, frame_rate: float = 30.0, fuse_score: bool = True,
                 matching: str = "hungarian"):
        if not 0.0 <= low_thresh < track_thresh:
            raise ValueError(f"need 0 <= low_thresh < track_thresh, got {low_thresh}, {track_thresh}")
        if matching not in assignment.METHODS:
            raise ValueError(f"unknown matching {matching!r}; choose one of {assignment.METHODS}")
        if track_buffer < 0 or frame_rate <= 0:
            raise ValueError(f"track_buffer must be >= 0 and frame_rate > 0, got {track_buffer}, {frame_rate}")
        self.track_thresh, self.low_thresh = float(track_thresh), float(low_thresh)
        self.new_track_thresh = float(track_thresh + 0.1 if new_track_thresh is None else new_track_thresh)
        self.match_thresh, self.second_match_thresh = float(match_thresh), float(second_match_thresh)
        self.unconfirmed_match_thresh = float(unconfirmed_match_thresh)
        self.max_time_lost = int(frame_rate / 30.0 * track_buffer)
        self.fuse_score, self.matching = bool(fuse_score), matching
        super().__init__(DeepSortMotion())

    def _associate(self, rows: np.ndarray, dets: np.ndarray, det_idx: np.ndarray, max_cost: float, fuse: bool):
        """Matches tracks `rows` to detections `det_idx`; returns (matched rows, matched det indices,
        unmatched rows, unmatched det indices)."""
        if len(rows) == 0 or len(det_idx) == 0:
            empty = np.zeros(0, np.int64)
            return empty, empty, rows, det_idx
        cost = assignment.iou_cost(self.boxes(rows), dets[det_idx, :4])
        if fuse:
            cost = 1.0 - (1.0 - cost) * dets[det_idx, 4][None, :]
        m, ur, uc = assignment.linear_assignment(cost, max_cost, self.matching)
        return rows[m[:, 0]], det_idx[m[:, 1]], rows[ur], det_idx[uc]

    def _apply_matches(self, rows: np.ndarray, dets: np.ndarray) -> None:
        t = self.tracks
        self._correct(rows, dets)
        t["hits"][rows] += 1
        t["time_since_update"][rows] = 0
        t["state"][rows] = CONFIRMED  # tracked, lost and unconfirmed tracks alike

    def update(self, detections, features=None) -> np.ndarray:
        dets, _ = check_detections(detections)
        self.frame += 1
        t = self.tracks
        scores = dets[:, 4]
        high = np.nonzero(scores > self.track_thresh)[0]
        low = np.nonzero((scores > self.low_thresh) & (scores <= self.track_thresh))[0]

        lost = t["state"] == LOST
        t["mean"][lost, 7] = 0.0
        self._predict()
        t["age"] += 1
        t["time_since_update"] += 1

        pool = np.nonzero(t["state"] != TENTATIVE)[0]
        rows1, dets1, left_pool, high_left = self._associate(pool, dets, high, self.match_thresh, self.fuse_score)
        left_active = left_pool[t["state"][left_pool] == CONFIRMED]
        rows2, dets2, still_left, _ = self._associate(left_active, dets, low, self.second_match_thresh, False)
        unconfirmed = np.nonzero(t["state"] == TENTATIVE)[0]
        rows3, dets3, unconfirmed_left, high_left = self._associate(
            unconfirmed, dets, high_left, self.unconfirmed_match_thresh, self.fuse_score)

        self._apply_matches(np.concatenate([rows1, rows2, rows3]), dets[np.concatenate([dets1, dets2, dets3])])
        t["state"][still_left] = LOST
        removed = np.zeros(len(t), bool)
        removed[unconfirmed_left] = True
        removed |= (t["state"] == LOST) & (self.frame - t["last_frame"] > self.max_time_lost)
        t.keep(~removed)

        fresh = high_left[scores[high_left] >= self.new_track_thresh]
        new = self._spawn(dets[fresh])
        t["hits"][new] = 1
        t["state"][new] = CONFIRMED if self.frame == 1 else TENTATIVE
        self._remove_duplicates()
        return self._output((t["state"] == CONFIRMED) & (t["time_since_update"] == 0))

    def _remove_duplicates(self) -> None:
        """Of a tracked and a lost track on the same object, keep the one tracked longer."""
        t = self.tracks
        tracked, lost = np.nonzero(t["state"] != LOST)[0], np.nonzero(t["state"] == LOST)[0]
        if len(tracked) == 0 or len(lost) == 0:
            return
        pairs = np.argwhere(assignment.iou_cost(self.boxes(tracked), self.boxes(lost)) < DUPLICATE_IOU_DISTANCE)
        if len(pairs) == 0:
            return
        p, q = tracked[pairs[:, 0]], lost[pairs[:, 1]]
        length_p = t["last_frame"][p] - t["start_frame"][p]
        length_q = t["last_frame"][q] - t["start_frame"][q]
        drop = np.zeros(len(t), bool)
        drop[np.where(length_p > length_q, q, p)] = True
        t.keep(~drop)
