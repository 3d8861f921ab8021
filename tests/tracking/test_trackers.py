"""SORT, DeepSORT and ByteTrack: SORT equals an independent per-track filterpy implementation of the
reference algorithm; behaviours each tracker exists for (re-identification after occlusion, identity
through a crossing, low-score recovery, lost-track buffer); the update contract and its errors."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from genvision_jax.tracking import ByteTrack, DeepSORT, SORT, make_tracker, track_sequence

filterpy_kalman = pytest.importorskip("filterpy.kalman")


# ------------------------------------------------------------------------- SORT vs a reference SORT


class _RefTrack:
    """One SORT track as in the reference code: its own filterpy filter and counters."""

    def __init__(self, box, track_id):
        kf = filterpy_kalman.KalmanFilter(dim_x=7, dim_z=4)
        kf.F = np.eye(7) + np.eye(7, k=4)
        kf.H = np.eye(4, 7)
        kf.R[2:, 2:] *= 10.0
        kf.P[4:, 4:] *= 1000.0
        kf.P *= 10.0
        kf.Q[-1, -1] *= 0.01
        kf.Q[4:, 4:] *= 0.01
        kf.x[:4, 0] = _z(box)
        self.kf, self.id = kf, track_id
        self.time_since_update = self.hit_streak = 0

    def predict(self):
        if self.kf.x[6, 0] + self.kf.x[2, 0] <= 0:
            self.kf.x[6, 0] = 0.0
        self.kf.predict()
        if self.time_since_update > 0:
            self.hit_streak = 0
        self.time_since_update += 1
        return _box(self.kf.x[:, 0])

    def update(self, box):
        self.time_since_update = 0
        self.hit_streak += 1
        self.kf.update(_z(box)[:, None])


def _z(b):
    w, h = b[2] - b[0], b[3] - b[1]
    return np.array([b[0] + w / 2, b[1] + h / 2, w * h, w / h])


def _box(x):
    w = np.sqrt(x[2] * x[3])
    h = x[2] / w
    return np.array([x[0] - w / 2, x[1] - h / 2, x[0] + w / 2, x[1] + h / 2])


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def reference_sort(frames, max_age, min_hits, iou_threshold):
    tracks, out, next_id = [], [], 1
    for t, dets in enumerate(frames, start=1):
        preds = [tr.predict() for tr in tracks]
        matched_t, matched_d = set(), set()
        if tracks and len(dets):
            iou = np.array([[_iou(p, d) for d in dets] for p in preds])
            for r, c in zip(*linear_sum_assignment(-iou)):
                if iou[r, c] >= iou_threshold:
                    tracks[r].update(dets[c])
                    matched_t.add(r)
                    matched_d.add(c)
        for c in range(len(dets)):
            if c not in matched_d:
                tracks.append(_RefTrack(dets[c], next_id))
                next_id += 1
        rows = []
        for tr in tracks:
            if tr.time_since_update < 1 and (tr.hit_streak >= min_hits or t <= min_hits):
                rows.append([*_box(tr.kf.x[:, 0]), tr.id])
        out.append(np.array(rows).reshape(-1, 5))
        tracks = [tr for tr in tracks if tr.time_since_update <= max_age]
    return out


def separated_scene(rng, n_frames=60, n_objects=6):
    """Objects on well separated horizontal lanes (no ambiguous association), entering and leaving,
    with missed detections, so ages, streaks and deletions all get exercised."""
    frames = []
    start = rng.integers(1, n_frames // 2, n_objects)
    stop = start + rng.integers(5, n_frames, n_objects)
    x0, speed = rng.uniform(0, 100, n_objects), rng.uniform(-3, 3, n_objects)
    for t in range(1, n_frames + 1):
        dets = []
        for o in range(n_objects):
            if start[o] <= t <= stop[o] and rng.random() > 0.2:
                x = x0[o] + speed[o] * t + rng.normal(0, 1.0)
                y = 150.0 * o + rng.normal(0, 1.0)
                dets.append([x, y, x + 30 + rng.normal(0, 1), y + 60 + rng.normal(0, 1), 0.9])
        frames.append(np.array(dets).reshape(-1, 5))
    return frames


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_age,min_hits", [(1, 3), (5, 1), (3, 0)])
def test_sort_equals_reference_implementation(seed, max_age, min_hits):
    frames = separated_scene(np.random.default_rng(seed))
    ours = SORT(max_age=max_age, min_hits=min_hits, iou_threshold=0.3)
    ref = reference_sort([f[:, :4] for f in frames], max_age, min_hits, 0.3)
    for t, dets in enumerate(frames):
        out = ours.update(dets)
        want = ref[t][np.argsort(ref[t][:, 4])]
        got = out[np.argsort(out[:, 4])]
        assert got.shape == (len(want), 6)
        np.testing.assert_allclose(got[:, :5], want, rtol=1e-9, atol=1e-9)


def test_sort_greedy_equals_hungarian_without_ambiguity():
    frames = separated_scene(np.random.default_rng(11))
    a, b = SORT(matching="hungarian"), SORT(matching="greedy")
    for dets in frames:
        np.testing.assert_array_equal(a.update(dets), b.update(dets))


# ------------------------------------------------------------------------------ behaviours


def walk(x0, y, speed, frames, w=30.0, h=60.0, score=0.9):
    """Detections [1, 5] of one object moving horizontally, per frame."""
    return {t: np.array([[x0 + speed * t, y, x0 + speed * t + w, y + h, score]]) for t in frames}


def run(tracker, n_frames, per_frame_dets, per_frame_feats=None):
    outs = []
    for t in range(1, n_frames + 1):
        dets = per_frame_dets.get(t, np.zeros((0, 5)))
        feats = None if per_frame_feats is None else per_frame_feats.get(t, np.zeros((0, 4), np.float32))
        outs.append(tracker.update(dets, feats))
    return outs


def ids_at(outs, t):
    return sorted(outs[t - 1][:, 4].astype(int).tolist())


@pytest.mark.parametrize("appearance", ["gallery", "ema"])
def test_deepsort_reidentifies_after_long_occlusion(appearance):
    # Detected in frames 1-10, hidden in 11-30, back from 31 where constant velocity puts it.
    frames = [*range(1, 11), *range(31, 41)]
    dets = walk(0.0, 50.0, 2.0, frames)
    feats = {t: np.array([[1.0, 0.1, 0.0, 0.0]], np.float32) for t in frames}
    outs = run(DeepSORT(feature_dim=4, appearance=appearance), 40, dets, feats)
    assert ids_at(outs, 10) == [1] and ids_at(outs, 35) == [1]
    # SORT's reference settings forget it: a new id.
    sort_outs = run(SORT(), 40, dets)
    assert ids_at(sort_outs, 10) == [1] and ids_at(sort_outs, 35) == [2]


def test_appearance_keeps_identities_that_motion_swaps():
    # A (y=100) and B (y=112) walk side by side; both are hidden in frames 11-15, during which they swap
    # lanes. Motion (IoU or Mahalanobis) then prefers the swapped pairing; appearance does not.
    dets, feats = {}, {}
    fa, fb = np.array([1.0, 0.0, 0.0, 0.0], np.float32), np.array([0.0, 1.0, 0.0, 0.0], np.float32)
    for t in [*range(1, 11), *range(16, 31)]:
        ya, yb = (100.0, 112.0) if t <= 10 else (112.0, 100.0)
        dets[t] = np.array([[3.0 * t, ya, 3.0 * t + 30, ya + 60, 0.9], [3.0 * t, yb, 3.0 * t + 30, yb + 60, 0.9]])
        feats[t] = np.stack([fa, fb])

    def id_of_a(outs):  # the id reported on A's lane: y=100 in frame 10, y=112 in frame 30
        before = outs[9][np.argmin(np.abs(outs[9][:, 1] - 100)), 4]
        after = outs[29][np.argmin(np.abs(outs[29][:, 1] - 112)), 4]
        return int(before), int(after)

    for appearance in ("gallery", "ema"):
        before, after = id_of_a(run(DeepSORT(feature_dim=4, appearance=appearance), 30, dets, feats))
        assert before == after, appearance
    for tracker in (DeepSORT(appearance="none"), SORT(max_age=30), ByteTrack()):
        before, after = id_of_a(run(tracker, 30, dets))
        assert before != after, type(tracker).__name__  # the scenario does fool motion-only association


def test_bytetrack_recovers_low_score_detections():
    # Scores drop to 0.3 (partly occluded) in frames 11-20.
    dets = walk(0.0, 50.0, 2.0, range(1, 31))
    for t in range(11, 21):
        dets[t] = dets[t].copy()
        dets[t][0, 4] = 0.3
    byte = run(ByteTrack(), 30, dets)
    assert all(ids_at(byte, t) == [1] for t in range(1, 31))  # reported all along, one identity
    sort = run(SORT(min_score=0.5, max_age=1), 30, dets)
    assert all(len(sort[t - 1]) == 0 for t in range(11, 21))
    assert ids_at(sort, 25) == [2]


def test_bytetrack_lost_buffer_and_activation():
    gap_short = walk(0.0, 50.0, 2.0, [*range(1, 11), *range(16, 26)])
    outs = run(ByteTrack(track_buffer=30), 25, gap_short)
    assert ids_at(outs, 10) == [1] and ids_at(outs, 12) == [] and ids_at(outs, 20) == [1]  # re-activated
    gap_long = walk(0.0, 50.0, 0.0, [*range(1, 11), *range(51, 56)])
    outs = run(ByteTrack(track_buffer=30), 55, gap_long)
    assert ids_at(outs, 52) == [2]  # removed after 30 lost frames; a new track (confirmed on its 2nd frame)
    assert ids_at(outs, 51) == []
    # Frame 1 tracks are confirmed at once; later ones need a second detection; 0.55 < 0.6 never starts one.
    dets = {1: np.array([[0, 0, 30, 60, 0.9]]), 2: np.array([[0, 0, 30, 60, 0.9], [200, 0, 230, 60, 0.9],
                                                               [400, 0, 430, 60, 0.55]]),
            3: np.array([[0, 0, 30, 60, 0.9], [200, 0, 230, 60, 0.9], [400, 0, 430, 60, 0.55]])}
    outs = run(ByteTrack(), 3, dets)
    assert len(outs[0]) == 1 and len(outs[1]) == 1 and len(outs[2]) == 2


def test_track_sequence_format_and_contract():
    frames = [(t, d, None) for t, d in enumerate(separated_scene(np.random.default_rng(1), 20, 3), start=1)]
    rows = track_sequence(SORT(min_hits=0), frames)
    assert rows.shape[1] == 7 and np.all(np.diff(rows[:, 0]) >= 0)
    assert np.all(rows[:, 4:6] > 0)  # tlwh: positive sizes
    with pytest.raises(ValueError, match="consecutive"):
        track_sequence(SORT(), [(1, np.zeros((0, 5)), None), (3, np.zeros((0, 5)), None)])


def test_errors_are_named():
    with pytest.raises(ValueError, match=r"shape \[N, 5\]"):
        SORT().update(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        SORT().update(np.array([[0, 0, np.nan, 1, 1]]))
    with pytest.raises(ValueError, match="x2 >= x1"):
        ByteTrack().update(np.array([[10, 0, 5, 10, 0.9]]))
    with pytest.raises(ValueError, match="needs appearance features"):
        DeepSORT(feature_dim=4).update(np.array([[0, 0, 10, 10, 0.9]]))
    with pytest.raises(ValueError, match="dimension 3"):
        DeepSORT(feature_dim=4).update(np.array([[0, 0, 10, 10, 0.9]]), np.ones((1, 3)))
    with pytest.raises(ValueError, match="feature_dim"):
        DeepSORT()
    with pytest.raises(ValueError, match="unknown tracker"):
        make_tracker("kcf")
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['max_agee'\]"):
        make_tracker("sort", max_agee=3)
    # Without ReID DeepSORT runs on boxes alone.
    assert make_tracker("deepsort", appearance="none").update(np.array([[0, 0, 10, 10, 0.9]])).shape == (0, 6)
