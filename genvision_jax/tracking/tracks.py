"""What every Kalman tracker shares: live tracks as columns of arrays, detection checks, the output format.

Tracks are stored column-wise (one numpy array per attribute, one row per track), so a frame filters,
predicts and updates all tracks with a handful of array operations instead of a Python loop per track:
this is what keeps SORT above 1,000 frames per second on one CPU core.

Tracker contract (SORT, DeepSORT, ByteTrack):
    tracker.update(detections [N, 5] (x1, y1, x2, y2, score), features [N, D] | None)
        -> float64 [K, 6] (x1, y1, x2, y2, track_id, score), one row per reported track
    tracker.reset()
Track ids start at 1 and are never reused by a tracker instance.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from genvision_jax.errors import InputError
from genvision_jax.tracking import boxes as box_ops
from genvision_jax.tracking.kalman import MotionModel

TENTATIVE, CONFIRMED, LOST = 0, 1, 2


class TrackTable:
    """Equal-length columns, one row per live track. `table[name]` is the column array.

    Args:
        columns: name -> (trailing shape, dtype); e.g. mean=((8,), np.float64).
    """

    def __init__(self, columns: dict[str, tuple[tuple[int, ...], type]]):
        self._spec = dict(columns)
        self._cols = {name: np.zeros((0, *shape), dtype) for name, (shape, dtype) in self._spec.items()}

    def __len__(self) -> int:
        return len(self._cols["id"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self._cols[name]

    def __setitem__(self, name: str, value: np.ndarray) -> None:  # also `table[name] += 1`
        if len(value) != len(self):
            raise ValueError(f"column {name!r} needs {len(self)} rows, got {len(value)}")
        self._cols[name] = value

    def append(self, **values) -> np.ndarray:
        """Appends rows (every value has the same leading length; unset columns are zero); returns their indices."""
        unknown = sorted(set(values) - set(self._spec))
        if unknown:
            raise KeyError(f"unknown track column(s) {unknown}; columns: {sorted(self._spec)}")
        n = len(next(iter(values.values())))
        start = len(self)
        if n == 0:
            return np.zeros(0, np.int64)
        for name, (shape, dtype) in self._spec.items():
            new = values[name] if name in values else np.zeros((n, *shape), dtype)
            self._cols[name] = np.concatenate([self._cols[name], np.asarray(new, dtype).reshape(n, *shape)])
        return np.arange(start, start + n)

    def keep(self, mask: np.ndarray) -> None:
        """Drops the rows where `mask` is False."""
        if not np.all(mask):
            self._cols = {name: col[mask] for name, col in self._cols.items()}


def check_detections(detections, features=None, feature_dim: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """Validates one frame's detections -> (float64 [N, 5], float32 [N, D] or None).

    [N, 4] boxes get score 1. Raises ValueError naming the problem (shape, NaN/Inf, x2 < x1, feature
    rows or width).
    """
    dets = np.asarray(detections, np.float64)
    if dets.size == 0:
        dets = dets.reshape(0, 5)
    if dets.ndim != 2 or dets.shape[1] not in (4, 5):
        raise ValueError(f"detections must have shape [N, 5] (x1, y1, x2, y2, score) or [N, 4], got {dets.shape}")
    if dets.shape[1] == 4:
        dets = np.concatenate([dets, np.ones((len(dets), 1))], axis=1)
    if not np.all(np.isfinite(dets)):
        raise ValueError("detections contain NaN or Inf")
    if np.any(dets[:, 2] < dets[:, 0]) or np.any(dets[:, 3] < dets[:, 1]):
        raise ValueError("detections must be (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1")
    if features is None:
        return dets, None
    feats = np.asarray(features, np.float32)
    if feats.ndim != 2 or len(feats) != len(dets):
        raise ValueError(f"features must have shape [N={len(dets)}, D], got {feats.shape}")
    if feature_dim is not None and len(feats) and feats.shape[1] != feature_dim:
        raise ValueError(f"features have dimension {feats.shape[1]}, but this tracker's tracks have {feature_dim}")
    return dets, feats


class KalmanTracker:
    """Base: a motion model, a TrackTable with the common columns, a frame counter and an id counter."""

    needs_features = False

    def __init__(self, motion: MotionModel, extra_columns: dict | None = None):
        self.motion = motion
        self._extra_columns = dict(extra_columns or {})
        self.reset()

    def reset(self) -> None:
        dx = self.motion.dim_x
        self.tracks = TrackTable({
            "id": ((), np.int64), "mean": ((dx,), np.float64), "cov": ((dx, dx), np.float64),
            "state": ((), np.int8), "hits": ((), np.int64), "hit_streak": ((), np.int64),
            "age": ((), np.int64), "time_since_update": ((), np.int64), "score": ((), np.float64),
            "start_frame": ((), np.int64), "last_frame": ((), np.int64), **self._extra_columns,
        })
        self.frame = 0
        self._next_id = 1

    def _spawn(self, dets: np.ndarray, **columns) -> np.ndarray:
        """New tracks at detections [K, 5]; returns their row indices."""
        if len(dets) == 0:
            return np.zeros(0, np.int64)
        mean, cov = self.motion.initiate(np, self.motion.to_measurement(dets[:, :4]))
        ids = np.arange(self._next_id, self._next_id + len(dets))
        self._next_id += len(dets)
        frame = np.full(len(dets), self.frame)
        return self.tracks.append(id=ids, mean=mean, cov=cov, score=dets[:, 4], start_frame=frame,
                                  last_frame=frame, **columns)

    def _predict(self, rows: np.ndarray | slice = slice(None)) -> None:
        t = self.tracks
        t["mean"][rows], t["cov"][rows] = self.motion.predict(np, t["mean"][rows], t["cov"][rows])

    def _correct(self, rows: np.ndarray, dets: np.ndarray) -> None:
        """Kalman update of tracks `rows` with detections [len(rows), 5]; records score and frame."""
        if len(rows) == 0:
            return
        t = self.tracks
        z = self.motion.to_measurement(dets[:, :4])
        t["mean"][rows], t["cov"][rows] = self.motion.update(np, t["mean"][rows], t["cov"][rows], z)
        t["score"][rows] = dets[:, 4]
        t["last_frame"][rows] = self.frame

    def boxes(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Current xyxy boxes [K, 4] of tracks `rows` from the Kalman means."""
        return self.motion.to_xyxy(self.tracks["mean"][rows])

    def _output(self, mask: np.ndarray) -> np.ndarray:
        t = self.tracks
        rows = np.nonzero(mask)[0]
        return np.concatenate([self.boxes(rows), t["id"][rows, None].astype(np.float64), t["score"][rows, None]],
                              axis=1)


def track_sequence(tracker, frames: Iterable[tuple[int, np.ndarray, np.ndarray | None]]) -> np.ndarray:
    """Runs `tracker` over (frame number, detections [N, 5], features or None) in frame order.

    Frames must be consecutive and start at 1 or later (a frame without detections still has to be
    passed, with an empty array): trackers count time in frames. Returns MOTChallenge rows float64 [K, 7]
    (frame, id, left, top, w, h, score).
    """
    rows, previous = [], None
    for frame, dets, feats in frames:
        if frame < 1:
            raise InputError(f"frame {frame}: MOTChallenge frames start at 1 (the evaluator rejects frame {frame} too)")
        if previous is not None and frame != previous + 1:
            raise ValueError(f"frames must be consecutive: frame {frame} follows {previous}")
        previous = frame
        out = tracker.update(dets, feats)
        if len(out):
            tlwh = box_ops.xyxy_to_tlwh(out[:, :4])
            rows.append(np.column_stack([np.full(len(out), frame), out[:, 4], tlwh, out[:, 5]]))
    return np.concatenate(rows) if rows else np.zeros((0, 7))


def consecutive_frames(frame_ids: np.ndarray, first: int, last: int) -> Iterator[tuple[int, np.ndarray]]:
    """For each frame first..last, the row indices of `frame_ids` equal to it (empty if none)."""
    frame_ids = np.asarray(frame_ids)
    order = np.argsort(frame_ids, kind="stable")
    sorted_ids = frame_ids[order]
    bounds = np.searchsorted(sorted_ids, np.arange(first, last + 2))
    for i, frame in enumerate(range(first, last + 1)):
        yield frame, order[bounds[i]:bounds[i + 1]]
