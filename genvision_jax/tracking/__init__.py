"""Multi-object tracking by detection: Kalman filters, assignment, SORT / DeepSORT / ByteTrack, MOTChallenge I/O.

    tracker = make_tracker("bytetrack")                       # or "sort", "deepsort" (feature_dim=...)
    for frame, dets, feats in frames:                         # dets [N, 5] (x1, y1, x2, y2, score)
        tracks = tracker.update(dets, feats)                  # [K, 6] (x1, y1, x2, y2, id, score)

Everything here runs in numpy on the host except `kalman.BatchedKalman` (jit + vmap), and imports
nothing of the project above it. Metrics are in `genvision_jax.metrics.mot`; the ReID network in
`genvision_jax.models.recognizers.reid`, its training in `genvision_jax.tasks.reid`. CLIs:
`python -m genvision_jax.tasks.tracking run|evaluate`.
"""

from __future__ import annotations

import inspect

from genvision_jax.errors import ConfigError, UnknownNameError
from genvision_jax.tracking.bytetrack import ByteTrack
from genvision_jax.tracking.deepsort import DeepSORT
from genvision_jax.tracking.sort import SORT
from genvision_jax.tracking.tracks import track_sequence

TRACKERS = {"sort": SORT, "deepsort": DeepSORT, "bytetrack": ByteTrack}


class TrackerParameterError(ConfigError, TypeError):
    """A tracker parameter the tracker does not have."""


def make_tracker(name: str, **params):
    """A tracker by name with keyword parameters; unknown names or parameters raise errors naming them."""
    if name not in TRACKERS:
        raise UnknownNameError(f"unknown tracker {name!r}; choose one of {sorted(TRACKERS)}")
    valid = list(inspect.signature(TRACKERS[name]).parameters)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise TrackerParameterError(f"unknown parameter(s) {unknown} for tracker {name!r}; valid: {valid}")
    return TRACKERS[name](**params)


def limit_blas_threads(num_threads: int = 1):
    """Caps this process's BLAS thread pool (returns the threadpoolctl limiter).

    The trackers run many small matrix products on the host. On a busy machine a BLAS thread pool
    only adds waiting: a 1100x64 @ 64x15 product took 27 ms with OpenBLAS's 2 threads under load and
    0.1 ms with 1. The CLIs, the experiment and the benchmark call this at start-up.
    """
    from threadpoolctl import threadpool_limits  # pylint: disable=g-import-not-at-top

    return threadpool_limits(num_threads, user_api="blas")


__all__ = ["TRACKERS", "ByteTrack", "DeepSORT", "SORT", "limit_blas_threads", "make_tracker", "track_sequence"]
