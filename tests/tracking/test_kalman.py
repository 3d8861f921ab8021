"""Kalman filters: equal to filterpy on random sequences (float64, 1e-9), batched numpy == per track ==
jit/vmap JAX path, Mahalanobis gating against its formula; box conversions and overlaps."""

import jax
import numpy as np
import pytest

from genvision_jax.tracking import boxes as box_ops
from genvision_jax.tracking.kalman import CHI2_95, BatchedKalman, DeepSortMotion, SortMotion, gating_distance

filterpy_kalman = pytest.importorskip("filterpy.kalman")

MODELS = {"sort": SortMotion(), "deepsort": DeepSortMotion()}


def random_box(rng):
    x1, y1 = rng.uniform(0, 500, 2)
    return np.array([x1, y1, x1 + rng.uniform(10, 80), y1 + rng.uniform(20, 160)])


def rel_err(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("seed", range(6))
def test_predict_update_equal_filterpy(name, seed):
    model, rng = MODELS[name], np.random.default_rng(seed)
    box = random_box(rng)
    mean, cov = model.initiate(np, model.to_measurement(box))
    kf = filterpy_kalman.KalmanFilter(dim_x=model.dim_x, dim_z=4)
    kf.F, kf.H = model.F.copy(), model.H.copy()
    kf.x, kf.P = mean.copy()[:, None], cov.copy()
    velocity = rng.normal(0, 3, 4)
    for _ in range(60):
        # Process noise at the state before the step (DeepSORT's Q depends on the box height).
        Q = model.Q if name == "sort" else model.process_noise(np, mean)
        if name == "sort" and kf.x[2, 0] + kf.x[6, 0] <= 0:  # SORT's area-velocity clamp, applied to filterpy
            kf.x[6, 0] = 0.0
        mean, cov = model.predict(np, mean, cov)
        kf.predict(Q=Q)
        assert rel_err(mean, kf.x[:, 0]) < 1e-9 and rel_err(cov, kf.P) < 1e-9
        if rng.random() < 0.75:  # some frames without a detection
            box = box + np.r_[velocity[:2], velocity[:2] + velocity[2:]] + rng.normal(0, 2, 4)
            box[2:] = np.maximum(box[2:], box[:2] + 5)
            z = model.to_measurement(box)
            R = model.measurement_noise(np, mean)
            mean, cov = model.update(np, mean, cov, z)
            kf.update(z[:, None], R=R)
            assert rel_err(mean, kf.x[:, 0]) < 1e-9 and rel_err(cov, kf.P) < 1e-9
    assert np.allclose(cov, cov.T, atol=1e-9 * np.abs(cov).max())  # Joseph form keeps it symmetric


@pytest.mark.parametrize("name", sorted(MODELS))
def test_batched_numpy_per_track_and_jax_paths_agree(name):
    model, rng = MODELS[name], np.random.default_rng(3)
    boxes = np.stack([random_box(rng) for _ in range(9)])
    mean, cov = model.initiate(np, model.to_measurement(boxes))
    for _ in range(3):  # get velocities and correlated covariances
        mean, cov = model.predict(np, mean, cov)
        boxes = boxes + rng.normal(2, 1, boxes.shape)
        mean, cov = model.update(np, mean, cov, model.to_measurement(boxes))
    z = model.to_measurement(boxes + rng.normal(0, 2, boxes.shape))
    pm, pc = model.predict(np, mean, cov)
    um, uc = model.update(np, pm, pc, z)
    for i in range(len(mean)):  # one track at a time, unbatched
        m1, c1 = model.predict(np, mean[i], cov[i])
        m2, c2 = model.update(np, m1, c1, z[i])
        assert rel_err(m1, pm[i]) < 1e-12 and rel_err(c2, uc[i]) < 1e-12 and rel_err(m2, um[i]) < 1e-12
    with jax.enable_x64(True):
        bk = BatchedKalman(model)
        jm, jc = bk.predict(mean, cov)
        jum, juc = bk.update(jm, jc, z)
        im, ic = bk.initiate(model.to_measurement(boxes))
        assert np.asarray(jm).dtype == np.float64
        assert rel_err(jm, pm) < 1e-9 and rel_err(jc, pc) < 1e-9
        assert rel_err(jum, um) < 1e-9 and rel_err(juc, uc) < 1e-9
        nm, nc = model.initiate(np, model.to_measurement(boxes))
        assert rel_err(im, nm) < 1e-12 and rel_err(ic, nc) < 1e-12
    # Default float32 JAX agrees to float32 precision.
    bk32 = BatchedKalman(model)
    jm32, _ = bk32.predict(mean.astype(np.float32), cov.astype(np.float32))
    assert np.asarray(jm32).dtype == np.float32 and rel_err(jm32, pm) < 1e-5


def test_gating_distance_matches_formula_and_chi2_table():
    assert CHI2_95[4] == pytest.approx(9.4877, abs=1e-4) and CHI2_95[2] == pytest.approx(5.9915, abs=1e-4)
    model, rng = DeepSortMotion(), np.random.default_rng(0)
    boxes = np.stack([random_box(rng) for _ in range(3)])
    mean, cov = model.initiate(np, model.to_measurement(boxes))
    mean, cov = model.predict(np, mean, cov)
    z = model.to_measurement(np.stack([random_box(rng) for _ in range(5)]))
    d2 = gating_distance(model, mean, cov, z)
    d2_pos = gating_distance(model, mean, cov, z, only_position=True)
    R = model.measurement_noise(np, mean)
    for i in range(3):
        S = model.H @ cov[i] @ model.H.T + R[i]
        for j in range(5):
            diff = z[j] - model.H @ mean[i]
            assert d2[i, j] == pytest.approx(diff @ np.linalg.solve(S, diff), rel=1e-10)
            assert d2_pos[i, j] == pytest.approx(diff[:2] @ np.linalg.solve(S[:2, :2], diff[:2]), rel=1e-10)
    # A measurement at the predicted position is at distance 0.
    assert gating_distance(model, mean, cov, mean[:, :4])[np.arange(3), np.arange(3)] == pytest.approx(0, abs=1e-12)


def test_sort_area_never_goes_negative():
    model = SortMotion()
    mean, cov = model.initiate(np, model.to_measurement(np.array([0.0, 0.0, 10.0, 10.0])))
    mean[6] = -150.0  # shrinking faster than the area allows
    m, _ = model.predict(np, mean, cov)
    assert m[6] == 0.0 and m[2] == pytest.approx(100.0)


def test_box_conversions_round_trip_and_overlaps():
    rng = np.random.default_rng(0)
    xyxy = np.stack([random_box(rng) for _ in range(20)])
    for fwd, back in ((box_ops.xyxy_to_xyah, box_ops.xyah_to_xyxy), (box_ops.xyxy_to_xysr, box_ops.xysr_to_xyxy),
                      (box_ops.xyxy_to_tlwh, box_ops.tlwh_to_xyxy)):
        np.testing.assert_allclose(back(fwd(xyxy)), xyxy, rtol=1e-12, atol=1e-9)
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 15.0, 10.0], [20.0, 0.0, 30.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    np.testing.assert_allclose(box_ops.iou_matrix(a, b), [[50 / 150, 0.0, 1.0]])
    # GIoU of the disjoint pair: IoU 0 minus (enclosing 300 - union 200) / 300.
    np.testing.assert_allclose(box_ops.giou_matrix(a, b), [[50 / 150, -1 / 3, 1.0]])
    np.testing.assert_allclose(box_ops.paired_iou(a, b[:1]), [50 / 150])
    with pytest.raises(ValueError, match=r"boxes must have shape \[N, 4\]"):
        box_ops.check_boxes(np.zeros((3, 5)))


def test_crop_resize_closed_forms():
    image = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    same = box_ops.crop_resize(image, np.array([[0, 0, 6, 4]]), (4, 6))
    np.testing.assert_allclose(same[0], image, atol=1e-4)
    # Halving: sample points fall between pixels, so each output pixel is the mean of a 2x2 block.
    half = box_ops.crop_resize(image, np.array([[0, 0, 6, 4]]), (2, 3))
    blocks = image.reshape(2, 2, 3, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(half[0], blocks, atol=1e-4)
