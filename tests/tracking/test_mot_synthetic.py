"""The synthetic MOT benchmark: determinism, visibility, the detector simulator, levels, rendering, cameras."""

import numpy as np
import pytest

from genvision_jax.data import mot_synthetic as synth
from genvision_jax.tracking.boxes import paired_iou, tlwh_to_xyxy
from genvision_jax.tracking.mot_io import read_mot


@pytest.fixture(scope="module")
def hard():
    return synth.make_sequence(synth.level_config("hard", num_frames=120), seed=5)


def test_deterministic_per_seed(hard):
    again = synth.make_sequence(synth.level_config("hard", num_frames=120), seed=5)
    np.testing.assert_array_equal(again.gt.tlwh, hard.gt.tlwh)
    np.testing.assert_array_equal(again.detections.tlwh, hard.detections.tlwh)
    np.testing.assert_array_equal(again.render(17), hard.render(17))
    other = synth.make_sequence(synth.level_config("hard", num_frames=120), seed=6)
    assert not np.array_equal(other.gt.tlwh[:10], hard.gt.tlwh[:10])


def test_visibility_closed_forms():
    cfg = synth.SceneConfig(width=100, height=100)
    occluder = np.array([[60.0, 0.0, 80.0, 100.0]])  # x0, y0, x1, y1
    boxes = np.array([
        [10.0, 10.0, 10.0, 20.0],   # alone
        [62.0, 10.0, 10.0, 20.0],   # wholly behind the occluder
        [30.0, 40.0, 10.0, 20.0],   # far (bottom at 60), its right half hidden by the next one
        [35.0, 45.0, 10.0, 20.0],   # near (bottom at 65): covers x 35-45, y 45-65
        [95.0, 80.0, 10.0, 10.0],   # half outside the image
    ])
    vis = synth.visibilities(cfg, occluder, boxes)
    # Box 2 spans x 30-40, y 40-60; the near box hides x 35-40, y 45-60: 75 of 200 px.
    np.testing.assert_allclose(vis, [1.0, 0.0, 125 / 200, 1.0, 0.5])


def test_ground_truth_and_detections(hard):
    gt, det, cfg = hard.gt, hard.detections, hard.config
    centre = gt.tlwh[:, :2] + gt.tlwh[:, 2:] / 2
    assert np.all((centre >= 0) & (centre < [cfg.width, cfg.height]))
    key = gt.frame * 10_000 + gt.id
    assert len(np.unique(key)) == len(key)  # one box per id and frame
    assert np.all((det.conf >= 0.01) & (det.conf <= 0.99))
    tp = hard.det_gt_id >= 0
    assert np.all(hard.det_visibility[tp] >= cfg.min_visibility)
    # Scores follow visibility (score = 0.1 + 0.85 v + noise, clipped).
    assert np.corrcoef(hard.det_visibility[tp], det.conf[tp])[0, 1] > 0.85
    # True detections sit on their objects.
    lookup = {(f, i): k for k, (f, i) in enumerate(zip(gt.frame, gt.id))}
    src = [lookup[(f, i)] for f, i in zip(det.frame[tp], hard.det_gt_id[tp])]
    iou = paired_iou(tlwh_to_xyxy(det.tlwh[tp]), tlwh_to_xyxy(gt.tlwh[src]))
    assert np.median(iou) > 0.7
    # False positives: Poisson(fp_per_frame) per frame; 120 frames, mean 1.0 -> 120 +- 3 sqrt(120).
    assert abs(np.sum(~tp) - cfg.fp_per_frame * cfg.num_frames) < 3 * np.sqrt(cfg.fp_per_frame * cfg.num_frames)
    # Objects move by at most the top speed (plus the perspective growth) per frame.
    for i in np.unique(gt.id)[:10]:
        rows = np.nonzero(gt.id == i)[0]
        step = np.abs(np.diff(gt.tlwh[rows, :2], axis=0))
        assert np.all(step <= cfg.speed_range[1] + 1.0)


def test_harder_levels_hide_more():
    stats = {}
    for level in ("easy", "hard"):
        seqs = [synth.make_sequence(synth.level_config(level, num_frames=80), seed=s) for s in (1, 2)]
        vis = np.concatenate([s.gt.vis for s in seqs])
        low = np.concatenate([(s.det_gt_id >= 0) & (s.detections.conf <= 0.5) for s in seqs])
        stats[level] = (vis.mean(), low.mean(), np.mean([len(s.gt) / 80 for s in seqs]))
    assert stats["hard"][0] < stats["easy"][0] - 0.1   # lower mean visibility
    assert stats["hard"][1] > stats["easy"][1]         # more low-score true detections
    assert stats["hard"][2] > stats["easy"][2]         # more objects per frame


def test_rendering_shows_each_identity_in_its_colours():
    seq = synth.make_sequence(synth.SceneConfig(num_frames=5, num_objects=3, num_occluders=0, pixel_noise=0.0),
                              seed=2)
    image = seq.render(1)
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    rows = np.nonzero((seq.gt.frame == 1) & (seq.gt.vis > 0.99))[0]
    assert len(rows)
    for r in rows:
        x, y, w, h = seq.gt.tlwh[r]
        ident = seq.gt.id[r] - 1
        # Lower body, away from the edges: exactly the identity's bottom colour (no noise, no colour shift).
        patch = image[int(y + 0.7 * h):int(y + 0.9 * h), int(x + 0.3 * w):int(x + 0.7 * w)]
        np.testing.assert_array_equal(patch.reshape(-1, 3).min(0), seq.appearance.bottom[ident])
        np.testing.assert_array_equal(patch.reshape(-1, 3).max(0), seq.appearance.bottom[ident])


def test_camera_pair_shares_identities():
    cfg = synth.level_config("medium", num_frames=150)
    a, b = synth.make_camera_pair(cfg, seed=4)
    assert a.appearance is b.appearance
    shared = np.intersect1d(a.gt.id, b.gt.id)
    assert len(shared) >= cfg.num_objects // 2
    assert not np.allclose(b.camera.gain, 1.0) and np.allclose(a.camera.gain, 1.0)
    assert not np.array_equal(a.gt.tlwh[:5], b.gt.tlwh[:5])  # different paths


def test_files_and_errors(tmp_path):
    seq = synth.make_sequence(synth.level_config("easy", 160, 120, num_frames=6), seed=0)
    d = synth.write_mot_sequence(seq, tmp_path, images=True)
    assert sorted(p.name for p in (d / "img1").iterdir()) == [f"{i:06d}.png" for i in range(1, 7)]
    back = read_mot(d / "gt" / "gt.txt")
    np.testing.assert_allclose(back.tlwh, seq.gt.tlwh, rtol=1e-9)
    np.testing.assert_allclose(back.vis, seq.gt.vis, rtol=1e-9)
    with pytest.raises(ValueError, match="unknown difficulty level"):
        synth.level_config("extreme")
    with pytest.raises(TypeError, match="unknown SceneConfig field"):
        synth.SceneConfig().replace(num_object=3)
    with pytest.raises(ValueError, match="num_frames and num_objects"):
        synth.make_sequence(synth.SceneConfig(num_frames=0), seed=0)
    with pytest.raises(ValueError, match="outside 1..6"):
        seq.render(7)
