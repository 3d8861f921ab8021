"""cameras: pixel rays against hand-computed directions, look-at frames, camera paths, LLFF poses."""

import math

import numpy as np
import pytest

from genvision_jax.rendering import cameras
from genvision_jax.rendering.cameras import Intrinsics


def _np(x):
    return np.asarray(x, np.float64)


def test_intrinsics_from_fov_and_as_array():
    k = Intrinsics.from_fov(60, 100, math.pi / 2)  # tan(45 deg) = 1: fx = width / 2.
    assert k[:2] == (60, 100) and k[2:] == pytest.approx((50.0, 50.0, 50.0, 30.0), rel=1e-12)
    a = k.as_array()
    assert a.dtype == np.float32 and a.tolist() == [50.0, 50.0, 50.0, 30.0]
    half = k.resized(30, 50)
    assert half[:2] == (30, 50) and half[2:] == pytest.approx((25.0, 25.0, 25.0, 15.0), rel=1e-12)
    with pytest.raises(ValueError, match="fov_x_radians"):
        Intrinsics.from_fov(4, 4, 0.0)


def test_identity_camera_pixel_directions():
    k = Intrinsics(height=5, width=7, fx=10.0, fy=20.0, cx=3.5, cy=2.5)
    origins, directions = cameras.pixel_rays(np.eye(4), k)
    assert origins.shape == directions.shape == (5, 7, 3)
    assert np.all(_np(origins) == 0.0)
    np.testing.assert_allclose(_np(directions[2, 3]), [0.0, 0.0, -1.0], atol=1e-7)  # Center pixel.
    # Top-left pixel center (0.5, 0.5): ((0.5 - 3.5) / 10, -(0.5 - 2.5) / 20, -1).
    np.testing.assert_allclose(_np(directions[0, 0]), [-0.3, 0.1, -1.0], rtol=1e-6)
    # Bottom-right pixel center (6.5, 4.5): ((6.5 - 3.5) / 10, -(4.5 - 2.5) / 20, -1).
    np.testing.assert_allclose(_np(directions[4, 6]), [0.3, -0.1, -1.0], rtol=1e-6)
    # Camera z is -1 for every ray, so t is z-depth.
    assert np.all(_np(directions[..., 2]) == -1.0)


def test_pixels_and_translation_and_3x4():
    k = Intrinsics(height=4, width=6, fx=10.0, fy=20.0, cx=3.0, cy=2.0)
    c2w = np.concatenate([np.eye(3), [[1.0], [2.0], [3.0]]], axis=1)  # [3, 4]
    origins, directions = cameras.pixel_rays(c2w, k, pixels=np.array([[0.0, 0.0], [3.0, 2.0]]))
    assert directions.shape == (2, 3)
    np.testing.assert_allclose(_np(origins), [[1, 2, 3], [1, 2, 3]])
    np.testing.assert_allclose(_np(directions), [[-0.3, 0.1, -1.0], [0.0, 0.0, -1.0]], rtol=1e-6)
    np.testing.assert_allclose(_np(cameras.pixel_centers(4, 6)[1, 2]), [2.5, 1.5])


def test_look_at_frame_and_rotated_rays():
    c2w = _np(cameras.look_at([0.0, -4.0, 0.0], [0.0, 0.0, 0.0]))  # Looks along +y, z up.
    expected = np.array([[1, 0, 0, 0], [0, 0, -1, -4], [0, 1, 0, 0]], np.float64)
    np.testing.assert_allclose(c2w, expected, atol=1e-7)
    k = Intrinsics(height=5, width=7, fx=10.0, fy=20.0, cx=3.5, cy=2.5)
    origins, directions = cameras.pixel_rays(c2w, k)
    np.testing.assert_allclose(_np(origins[1, 1]), [0.0, -4.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(_np(directions[2, 3]), [0.0, 1.0, 0.0], atol=1e-7)
    # Top-left: camera (-0.3, 0.1, -1) -> -0.3 right + 0.1 up + 1 forward = (-0.3, 1, 0.1).
    np.testing.assert_allclose(_np(directions[0, 0]), [-0.3, 1.0, 0.1], rtol=1e-6)


def test_ray_through_projected_point_reaches_it_at_its_depth():
    eye, target = np.array([2.0, -3.0, 1.5]), np.array([0.2, 0.1, 0.3])
    c2w = _np(cameras.look_at(eye, target))
    rotation = c2w[:, :3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-6)
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-6)
    k = Intrinsics(height=20, width=30, fx=25.0, fy=27.0, cx=14.0, cy=11.0)
    point = np.array([0.5, -0.2, 0.8])
    q = rotation.T @ (point - eye)  # Camera coordinates; in front means q_z < 0.
    depth = -q[2]
    u, v = k.cx + k.fx * q[0] / depth, k.cy - k.fy * q[1] / depth
    origin, direction = cameras.pixel_rays(c2w, k, pixels=np.array([u, v]))
    np.testing.assert_allclose(_np(origin) + depth * _np(direction), point, atol=1e-5)
    # Per-ray intrinsics as arrays broadcast like the pixels.
    _, direction2 = cameras.pixel_rays(c2w, k.as_array(), pixels=np.array([u, v]))
    np.testing.assert_allclose(_np(direction2), _np(direction), atol=1e-7)


def test_batched_cameras():
    c2w = np.stack([np.eye(4), _np(cameras.to_homogeneous(cameras.look_at([0.0, -4.0, 0.0])))])
    k = Intrinsics(height=3, width=5, fx=4.0, fy=4.0, cx=2.5, cy=1.5)
    origins, directions = cameras.pixel_rays(c2w, k)
    assert origins.shape == directions.shape == (2, 3, 5, 3)
    np.testing.assert_allclose(_np(directions[0, 1, 2]), [0, 0, -1], atol=1e-7)
    np.testing.assert_allclose(_np(directions[1, 1, 2]), [0, 1, 0], atol=1e-7)
    # One camera per sampled pixel.
    _, d = cameras.pixel_rays(c2w, np.stack([k.as_array()] * 2), pixels=np.array([[2.5, 1.5]] * 2))
    np.testing.assert_allclose(_np(d), [[0, 0, -1], [0, 1, 0]], atol=1e-7)
    with pytest.raises(ValueError, match="c2w"):
        cameras.pixel_rays(np.eye(3), k)
    with pytest.raises(TypeError, match="Intrinsics"):
        cameras.pixel_rays(np.eye(4), k.as_array())


def test_viewdirs_and_normalize():
    d = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, -2.0], [0.0, 0.0, 0.0]])
    u = _np(cameras.viewdirs(d))
    np.testing.assert_allclose(u[:2], [[0.6, 0.8, 0.0], [0.0, 0.0, -1.0]], rtol=1e-6)
    assert np.all(np.isfinite(u[2])) and np.all(u[2] == 0.0)


def test_look_at_straight_down_is_a_valid_frame():
    c2w = _np(cameras.look_at([0.0, 0.0, 5.0], [0.0, 0.0, 0.0]))
    assert np.all(np.isfinite(c2w))
    np.testing.assert_allclose(c2w[:, :3].T @ c2w[:, :3], np.eye(3), atol=1e-6)
    np.testing.assert_allclose(c2w[:, 2], [0, 0, 1], atol=1e-6)  # Backward = up: looks down.
    assert np.linalg.det(c2w[:, :3]) == pytest.approx(1.0, abs=1e-6)


def _check_looks_at_origin(c2w, radius):
    eyes = c2w[:, :, 3]
    np.testing.assert_allclose(np.linalg.norm(eyes, axis=1), radius, rtol=1e-5)
    np.testing.assert_allclose(c2w[:, :, 2], eyes / radius, atol=1e-5)  # Backward = eye direction.
    np.testing.assert_allclose(np.linalg.det(c2w[:, :, :3]), 1.0, atol=1e-5)


def test_sphere_poses_spiral_and_random():
    c2w = _np(cameras.sphere_poses(400, 3.0))
    assert c2w.shape == (400, 3, 4)
    _check_looks_at_origin(c2w, 3.0)
    unit = c2w[:, :, 3] / 3.0
    assert unit[:, 2].min() > 0.0
    # Uniform by area on the hemisphere: E[z] = 1/2 (exactly for the spiral), E[x] = E[y] = 0.
    assert unit[:, 2].mean() == pytest.approx(0.5, abs=1e-5)
    assert np.all(np.abs(unit[:, :2].mean(0)) < 0.01)

    band = _np(cameras.sphere_poses(100, 2.0, elevation_deg=(10.0, 40.0), seed=3))
    _check_looks_at_origin(band, 2.0)
    elevation = np.degrees(np.arcsin(band[:, 2, 3] / 2.0))
    assert elevation.min() >= 10.0 - 1e-3 and elevation.max() <= 40.0 + 1e-3
    assert np.array_equal(band, _np(cameras.sphere_poses(100, 2.0, (10.0, 40.0), seed=3)))
    assert not np.allclose(band, _np(cameras.sphere_poses(100, 2.0, (10.0, 40.0), seed=4)))
    full = _np(cameras.sphere_poses(200, 1.0, hemisphere=False))
    assert full[:, 2, 3].min() < -0.9 and abs(full[:, 2, 3].mean()) < 1e-5
    with pytest.raises(ValueError, match="hemisphere"):
        cameras.sphere_poses(4, 1.0, elevation_deg=(-10.0, 10.0))


def test_turntable_poses():
    c2w = _np(cameras.turntable_poses(8, 4.0, elevation_deg=30.0))
    _check_looks_at_origin(c2w, 4.0)
    e = math.radians(30.0)
    np.testing.assert_allclose(c2w[0, :, 3], [4 * math.cos(e), 0.0, 4 * math.sin(e)], atol=1e-5)
    np.testing.assert_allclose(c2w[:, 2, 3], 4 * math.sin(e), atol=1e-5)
    azimuth = np.degrees(np.arctan2(c2w[:, 1, 3], c2w[:, 0, 3])) % 360.0
    np.testing.assert_allclose(azimuth, 45.0 * np.arange(8), atol=1e-3)
    np.testing.assert_allclose(c2w[:, 2, 0], 0.0, atol=1e-6)  # Horizon level: right is horizontal.


def _llff_row(down, right, backward, position, hwf, bounds):
    matrix = np.stack([down, right, backward, position, hwf], axis=1)  # [3, 5], columns.
    return np.concatenate([matrix.reshape(-1), bounds])


def test_llff_to_opengl_hand_computed():
    # Camera at (0, -4, 1) looking along +y with image right = +x: LLFF's down = -z, right = +x,
    # backward = -y; OpenGL columns (right, up, backward) = (+x, +z, -y).
    row = _llff_row([0, 0, -1], [1, 0, 0], [0, -1, 0], [0, -4, 1], [30, 40, 35], [1.5, 9.0])
    c2w, hwf, bounds = (_np(a) for a in cameras.llff_to_opengl(row[None]))
    expected = np.array([[1, 0, 0, 0], [0, 0, -1, -4], [0, 1, 0, 1]], np.float64)
    np.testing.assert_allclose(c2w[0], expected, atol=1e-7)
    np.testing.assert_allclose(c2w[0], _np(cameras.look_at([0, -4, 1], [0, 0, 1])), atol=1e-6)
    np.testing.assert_allclose(hwf[0], [30, 40, 35])
    np.testing.assert_allclose(bounds[0], [1.5, 9.0])
    with pytest.raises(ValueError, match=r"\[N, 17\]"):
        cameras.llff_to_opengl(np.zeros((2, 15)))


def test_recenter_poses_makes_the_average_pose_identity():
    eyes = np.array([[0.3, -4.0, 1.0], [-0.2, -3.8, 1.2], [0.1, -4.2, 0.8], [0.5, -3.9, 1.1]])
    c2w = _np(cameras.look_at(eyes, [0.0, 0.0, 0.5]))
    recentered = _np(cameras.recenter_poses(c2w))
    np.testing.assert_allclose(_np(cameras.average_pose(recentered)),
                               np.eye(4)[:3], atol=1e-5)
    # Relative poses are unchanged.
    h, r = _np(cameras.to_homogeneous(c2w)), _np(cameras.to_homogeneous(recentered))
    np.testing.assert_allclose(np.linalg.inv(h[0]) @ h[2], np.linalg.inv(r[0]) @ r[2], atol=1e-5)
