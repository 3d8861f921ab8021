"""synthetic_scenes: depth against analytic intersections, alpha and background, view-dependent
specular, motion; the TFDS builder and load_split; the Blender and LLFF folder loaders."""

import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from genvision_jax.data import get_source, nerf_folders, scenes
from genvision_jax.data.datasets import synthetic_scenes
from genvision_jax.rendering import cameras
from genvision_jax.rendering.cameras import Intrinsics

_LIGHT = (scenes.DirectionalLight(direction=(1.0, 0.0, 1.0), color=(0.5, 0.5, 0.5)),)


def _rays_float64(c2w, k: Intrinsics):
    """Pixel-center rays computed here in float64, independently of `cameras.pixel_rays`."""
    c2w = np.asarray(c2w, np.float64)
    j, i = np.meshgrid(np.arange(k.width) + 0.5, np.arange(k.height) + 0.5, indexing="xy")
    local = np.stack([(j - k.cx) / k.fx, -(i - k.cy) / k.fy, -np.ones_like(j)], -1)
    return np.broadcast_to(c2w[:3, 3], local.shape), local @ c2w[:3, :3].T


def _sphere_t(origins, directions, center, radius):
    """Nearest root of |o + t d - c| = r by the quadratic formula, nan on a miss."""
    oc = origins - np.asarray(center, np.float64)
    a = np.sum(directions ** 2, -1)
    b = 2.0 * np.sum(oc * directions, -1)
    c = np.sum(oc ** 2, -1) - radius ** 2
    disc = b * b - 4 * a * c
    with np.errstate(invalid="ignore"):
        return np.where(disc >= 0, (-b - np.sqrt(disc)) / (2 * a), np.nan), disc / (4 * a * a)


def _project(c2w, k: Intrinsics, point):
    """Pixel (row, col) containing the image of a world point."""
    c2w = np.asarray(c2w, np.float64)
    q = c2w[:3, :3].T @ (np.asarray(point, np.float64) - c2w[:3, 3])
    u, v = k.cx + k.fx * q[0] / -q[2], k.cy - k.fy * q[1] / -q[2]
    return int(v), int(u)


def test_single_sphere_depth_alpha_and_background():
    sphere = scenes.Sphere(center=(0.1, -0.2, 0.0), radius=1.0,
                           material=scenes.Material(albedo=(0.6, 0.4, 0.2)))
    scene = scenes.Scene((sphere,), _LIGHT)
    c2w = np.asarray(cameras.look_at([0.5, -4.0, 2.0], [0.0, 0.0, 0.0]))
    k = Intrinsics.from_fov(24, 20, math.radians(45.0))
    white = scenes.render_view(scene, c2w, k, background="white")
    black = scenes.render_view(scene, c2w, k, background="black")
    assert white["rgb"].shape == (24, 20, 3) and white["depth"].shape == (24, 20)
    assert white["rgb"].dtype == np.float32 and white["alpha"].dtype == np.float32

    t, half_disc = _sphere_t(*_rays_float64(c2w, k), sphere.center, sphere.radius)
    clear = np.abs(half_disc) > 1e-3  # Pixels not grazing the silhouette.
    hit = ~np.isnan(t)
    assert 50 < hit.sum() < hit.size - 50  # Both sphere and background in view.
    np.testing.assert_array_equal(white["alpha"][clear], hit[clear].astype(np.float32))
    assert set(np.unique(white["alpha"]).tolist()) <= {0.0, 1.0}
    np.testing.assert_allclose(white["depth"][hit & clear], t[hit & clear], rtol=1e-5, atol=1e-5)
    background = white["alpha"] == 0
    assert np.all(white["depth"][background] == 0.0)
    assert np.all(white["rgb"][background] == 1.0) and np.all(black["rgb"][background] == 0.0)
    np.testing.assert_array_equal(white["rgb"][~background], black["rgb"][~background])
    assert np.all(white["rgb"][~background] < 0.9)


def test_depth_is_z_depth_on_axis():
    sphere = scenes.Sphere(center=(0.0, 0.0, 0.0), radius=1.0,
                           material=scenes.Material(albedo=(0.5, 0.5, 0.5)))
    c2w = np.eye(4)
    c2w[2, 3] = 5.0  # At (0, 0, 5) looking down -z.
    k = Intrinsics(height=5, width=5, fx=8.0, fy=8.0, cx=2.5, cy=2.5)
    view = scenes.render_view(scenes.Scene((sphere,), _LIGHT), c2w, k)
    assert view["depth"][2, 2] == pytest.approx(4.0, abs=1e-6)
    # Pixel (2, 3): direction (1/8, 0, -1); |(t / 8, 0, 5 - t)| = 1 at the smaller root.
    a, b, c = 1.015625, -10.0, 24.0
    assert view["depth"][2, 3] == pytest.approx((-b - math.sqrt(b * b - 4 * a * c)) / (2 * a), abs=1e-5)


def test_named_scene_depth_matches_analytic_sphere():
    red = scenes.scene_at("spheres").primitives[1]
    assert isinstance(red, scenes.Sphere) and red.radius == 0.45
    # A close camera on the side of the red sphere facing away from the other objects.
    away = np.array([1.0, 0.8, 0.5]) / np.linalg.norm([1.0, 0.8, 0.5])
    c2w = np.asarray(cameras.look_at(np.array(red.center) + 1.6 * away, red.center))
    k = Intrinsics.from_fov(16, 16, math.radians(40.0))
    view = scenes.render_view("spheres", c2w, k)
    t, _ = _sphere_t(*_rays_float64(c2w, k), red.center, red.radius)
    center = (slice(5, 11), slice(5, 11))
    assert not np.isnan(t[center]).any()
    np.testing.assert_allclose(view["depth"][center], t[center], rtol=1e-5, atol=1e-5)
    assert np.all(view["alpha"][center] == 1.0)
    assert np.all(view["rgb"][center][..., 0] > view["rgb"][center][..., 2])  # Red.


def test_specular_colour_depends_on_view_direction():
    """One surface point, two cameras: a diffuse surface looks the same, a glossy one does not,
    and at the mirror direction its colour is the hand-computed Blinn-Phong value."""
    albedo, ambient, light, ks = 0.3, 0.15, 0.5, 0.4
    point, normal = np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0])
    mirror = np.array([-1.0, 0.0, 1.0]) / math.sqrt(2.0)  # The light (1, 0, 1) reflected.
    other = np.array([0.6, 0.5, 1.0]) / np.linalg.norm([0.6, 0.5, 1.0])
    k = Intrinsics(height=5, width=5, fx=6.0, fy=6.0, cx=2.5, cy=2.5)  # Pixel (2, 2) on axis.

    def center_colour(material, view_dir):
        scene = scenes.Scene((scenes.Sphere((0.0, 0.0, 0.0), 1.0, material),), _LIGHT, ambient)
        c2w = np.asarray(cameras.look_at(point + 3.0 * view_dir, point))
        view = scenes.render_view(scene, c2w, k)
        assert view["depth"][2, 2] == pytest.approx(3.0, abs=1e-5)  # The ray ends at the point.
        return view["rgb"][2, 2].astype(np.float64)

    diffuse = scenes.Material(albedo=(albedo,) * 3)
    glossy = scenes.Material(albedo=(albedo,) * 3, specular=ks, shininess=20.0)
    np.testing.assert_allclose(center_colour(diffuse, mirror), center_colour(diffuse, other), atol=1e-6)
    lambert = albedo * (ambient + light * np.dot(normal, [1, 0, 1]) / math.sqrt(2.0))
    np.testing.assert_allclose(center_colour(diffuse, mirror), lambert, atol=1e-5)
    np.testing.assert_allclose(center_colour(glossy, mirror), lambert + ks * light, atol=1e-5)
    half = (np.array([1.0, 0.0, 1.0]) / math.sqrt(2.0) + other)
    half /= np.linalg.norm(half)
    np.testing.assert_allclose(center_colour(glossy, other),
                               lambert + ks * light * np.dot(normal, half) ** 20, atol=1e-5)
    assert center_colour(glossy, mirror)[0] - center_colour(glossy, other)[0] > 0.1


def test_translucent_sphere_alpha_and_compositing():
    glass = scenes.scene_at("transparent").primitives[-1]
    assert glass.material.opacity == 0.45
    # Low camera: the floating sphere is seen against the sky.
    c2w = np.asarray(cameras.look_at([3.0, -2.0, 0.4], glass.center))
    k = Intrinsics.from_fov(16, 16, math.radians(30.0))
    white = scenes.render_view("transparent", c2w, k, background="white")
    black = scenes.render_view("transparent", c2w, k, background="black")
    t, _ = _sphere_t(*_rays_float64(c2w, k), glass.center, glass.radius)
    only_glass = np.isclose(white["alpha"], 0.45)
    assert only_glass.sum() >= 5
    assert np.all(np.isclose(white["alpha"], 0.0) | only_glass | (white["alpha"] == 1.0))
    np.testing.assert_allclose(white["depth"][only_glass], t[only_glass], rtol=1e-5, atol=1e-5)
    # rgb = 0.45 c + 0.55 background.
    np.testing.assert_allclose(white["rgb"][only_glass] - black["rgb"][only_glass], 0.55, atol=1e-6)


def test_dynamic_scene_moves_with_time():
    c2w = np.asarray(cameras.look_at([0.0, 0.0, 6.0], [0.0, 0.0, 0.0]))  # Top-down.
    k = Intrinsics.from_fov(24, 24, math.radians(40.0))
    views = {t: scenes.render_view("dynamic", c2w, k, time=t) for t in (0.0, 0.5, 1.0)}
    for t, view in views.items():
        # The ball: center 0.7 (cos a, sin a) at a = pi (1/2 + t), height 0.35 + 0.35 sin(pi t).
        angle, top = math.pi * (0.5 + t), 0.7 + 0.35 * math.sin(math.pi * t)
        row, col = _project(c2w, k, [0.7 * math.cos(angle), 0.7 * math.sin(angle), top])
        assert view["depth"][row, col] == pytest.approx(6.0 - top, abs=0.02), t
        assert view["rgb"][row, col, 0] > 2 * view["rgb"][row, col, 1]  # Red ball.
    assert np.abs(views[0.0]["rgb"] - views[1.0]["rgb"]).mean() > 0.02
    static = [scenes.render_view("spheres", c2w, k, time=t)["rgb"] for t in (0.0, 1.0)]
    np.testing.assert_array_equal(*static)


def test_split_cameras():
    train, train_t = scenes.split_cameras("train", 6)
    val, _ = scenes.split_cameras("val", 6)
    test, test_t = scenes.split_cameras("test", 5)
    assert train.shape == (6, 4, 4) and train.dtype == np.float32 and train_t.shape == (6,)
    np.testing.assert_allclose(np.linalg.norm(train[:, :3, 3], axis=1), scenes.CAMERA_RADIUS, rtol=1e-5)
    elevation = np.degrees(np.arcsin(train[:, 2, 3] / scenes.CAMERA_RADIUS))
    assert np.all((elevation > 10.0 - 1e-3) & (elevation < 70.0 + 1e-3))
    assert np.all((train_t >= 0) & (train_t <= 1)) and np.ptp(train_t) > 0
    assert not np.allclose(train[:, :3, 3], val[:, :3, 3], atol=0.1)
    np.testing.assert_array_equal(scenes.split_cameras("train", 3)[0], train[:3])  # Per index.
    np.testing.assert_allclose(test[:, 2, 3], scenes.CAMERA_RADIUS * math.sin(math.radians(30.0)),
                               rtol=1e-5)
    np.testing.assert_allclose(test_t, [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(train[:, 3], np.tile([0, 0, 0, 1], (6, 1)))


_SMALL = dict(image_size=16, num_train=3, num_val=2, num_test=2)


def test_tfds_builder_features_and_determinism(data_dir, tmp_path):
    source = get_source("synthetic_scenes", "train", data_dir=data_dir, **_SMALL)
    assert len(source) == 3
    record = source[1]
    expected = {"image": ((16, 16, 3), np.uint8), "alpha": ((16, 16), np.float32),
                "depth": ((16, 16), np.float32), "c2w": ((4, 4), np.float32),
                "intrinsics": ((4,), np.float32), "time": ((), np.float32)}
    assert {k: (v.shape, v.dtype) for k, v in record.items()} == expected
    c2w, times = scenes.split_cameras("train", 3)
    np.testing.assert_array_equal(record["c2w"], c2w[1])
    assert record["time"] == times[1]
    k = Intrinsics.from_fov(16, 16, scenes.FOV_X)
    np.testing.assert_array_equal(record["intrinsics"], k.as_array())
    assert record["intrinsics"][0] == pytest.approx(8.0 / math.tan(scenes.FOV_X / 2), rel=1e-6)
    view = scenes.render_view("spheres", c2w[1], k, float(times[1]))
    np.testing.assert_array_equal(record["image"], np.round(view["rgb"] * 255).astype(np.uint8))
    np.testing.assert_array_equal(record["depth"], view["depth"])

    near, far = source.metadata["near"], source.metadata["far"]
    floor_corner = math.sqrt(2.0) * 1.6  # The farthest point of the scene from the origin.
    assert (near, far) == pytest.approx((4.0 - floor_corner, 4.0 + floor_corner))
    assert len(get_source("synthetic_scenes", "val", data_dir=data_dir, **_SMALL)) == 2

    again = get_source("synthetic_scenes", "train", data_dir=str(tmp_path), **_SMALL)
    for a, b in zip(source.__getitems__(range(3)), again.__getitems__(range(3))):
        for key in expected:
            np.testing.assert_array_equal(a[key], b[key])


def test_load_split_dynamic_black(data_dir):
    data = synthetic_scenes.load_split(split="test", data_dir=data_dir, scene="dynamic", background="black",
                             **_SMALL)
    assert data["images"].shape == (2, 16, 16, 3) and data["images"].dtype == np.float32
    assert data["alphas"].shape == data["depths"].shape == (2, 16, 16)
    assert data["c2w"].shape == (2, 4, 4) and data["intrinsics"].shape == (2, 4)
    np.testing.assert_array_equal(data["times"], [0.0, 1.0])
    assert (data["height"], data["width"], data["background"]) == (16, 16, "black")
    assert 0.0 <= data["images"].min() and data["images"].max() <= 1.0
    assert np.all(data["images"][data["alphas"] == 0] == 0.0)  # Black background.
    hit = data["alphas"] > 0
    assert np.all((data["depths"][hit] > data["near"]) & (data["depths"][hit] < data["far"]))
    view = scenes.render_view("dynamic", data["c2w"][1], Intrinsics.from_fov(16, 16, scenes.FOV_X),
                              time=1.0, background="black")
    np.testing.assert_allclose(data["images"][1], view["rgb"], atol=0.5 / 255 + 1e-6)


def test_builder_config_errors(tmp_path):
    with pytest.raises(ValueError, match=r"scene='cube'"):
        get_source("synthetic_scenes", "train", data_dir=str(tmp_path), scene="cube")
    with pytest.raises(ValueError, match="image_size must be an integer in"):
        get_source("synthetic_scenes", "train", data_dir=str(tmp_path), image_size=4)
    with pytest.raises(ValueError, match="background='grey'"):
        get_source("synthetic_scenes", "train", data_dir=str(tmp_path), background="grey")
    with pytest.raises(ValueError, match=r"Unknown split 'validation'.*'val'"):
        get_source("synthetic_scenes", "validation", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="num_views"):
        get_source("synthetic_scenes", "train", data_dir=str(tmp_path), num_views=3)
    assert not os.path.exists(tmp_path / "synthetic_scenes")  # Nothing generated.


# ------------------------------------------------------------------------------------------------
# Folder loaders.
# ------------------------------------------------------------------------------------------------


def _write_blender(folder, split="train", size=(4, 4)):
    """Two RGBA frames; frame i has colour (200, 100, 50), alpha 128 on the left half, 255 on the right."""
    os.makedirs(folder / split, exist_ok=True)
    w, h = size
    frames = []
    for i in range(2):
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[..., :3] = (200, 100, 50 + 100 * i)
        rgba[:, : w // 2, 3] = 128
        rgba[:, w // 2:, 3] = 255
        Image.fromarray(rgba, "RGBA").save(folder / split / f"r_{i}.png")
        matrix = np.asarray(cameras.to_homogeneous(cameras.look_at([0.0, -4.0, 1.0 + i]))).tolist()
        frames.append({"file_path": f"./{split}/r_{i}", "transform_matrix": matrix, "time": 0.5 * i})
    meta = {"camera_angle_x": 0.8, "frames": frames}
    (folder / f"transforms_{split}.json").write_text(json.dumps(meta))
    return meta


def test_load_blender_compositing_and_cameras(tmp_path):
    meta = _write_blender(tmp_path)
    data = nerf_folders.load_blender(tmp_path, "train")
    assert data["images"].shape == (2, 4, 4, 3) and "depths" not in data
    a = 128 / 255
    # Straight alpha over white: c a + (1 - a).
    np.testing.assert_allclose(data["images"][0, 0, 0], np.array([200, 100, 50]) / 255 * a + 1 - a,
                               atol=1e-6)
    np.testing.assert_allclose(data["images"][1, 0, 3], np.array([200, 100, 150]) / 255, atol=1e-6)
    np.testing.assert_allclose(data["alphas"][0, 0], [a, a, 1, 1], atol=1e-7)
    black = nerf_folders.load_blender(tmp_path, "train", white_background=False)
    np.testing.assert_allclose(black["images"][0, 0, 0], np.array([200, 100, 50]) / 255 * a, atol=1e-6)
    assert black["background"] == "black" and data["background"] == "white"
    np.testing.assert_allclose(data["c2w"][1], meta["frames"][1]["transform_matrix"], atol=1e-7)
    np.testing.assert_allclose(data["times"], [0.0, 0.5])
    fx = 0.5 * 4 / math.tan(0.4)
    np.testing.assert_allclose(data["intrinsics"][0], [fx, fx, 2.0, 2.0], rtol=1e-6)
    assert (data["near"], data["far"]) == (2.0, 6.0)

    half = nerf_folders.load_blender(tmp_path, "train", downscale=2)
    assert half["images"].shape == (2, 2, 2, 3)
    np.testing.assert_allclose(half["intrinsics"][0], [fx / 2, fx / 2, 1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(half["images"][0, 0, 0], data["images"][0, 0, 0], atol=1e-6)
    # One 4x4 block: half alpha a, half 1; premultiplied colour and alpha are averaged.
    quarter = nerf_folders.load_blender(tmp_path, "train", downscale=4)
    alpha = (a + 1) / 2
    premult = np.array([200, 100, 50]) / 255 * alpha
    np.testing.assert_allclose(quarter["alphas"][0, 0, 0], alpha, atol=1e-7)
    np.testing.assert_allclose(quarter["images"][0, 0, 0], premult + 1 - alpha, atol=1e-6)


def test_load_blender_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        nerf_folders.load_blender(tmp_path / "nowhere", "train")
    _write_blender(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"transforms_val\.json.*transforms_train\.json"):
        nerf_folders.load_blender(tmp_path, "val")
    with pytest.raises(ValueError, match="downscale=3"):
        nerf_folders.load_blender(tmp_path, "train", downscale=3)
    meta = json.loads((tmp_path / "transforms_train.json").read_text())
    (tmp_path / "transforms_test.json").write_text(json.dumps({"frames": meta["frames"]}))
    with pytest.raises(ValueError, match="missing key 'camera_angle_x'"):
        nerf_folders.load_blender(tmp_path, "test")
    bad = dict(meta, frames=[{"file_path": "./train/r_0"}])
    (tmp_path / "transforms_test.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"frames\[0\] is missing key 'transform_matrix'"):
        nerf_folders.load_blender(tmp_path, "test")
    bad = dict(meta, frames=[dict(meta["frames"][0], file_path="./train/r_9")])
    (tmp_path / "transforms_test.json").write_text(json.dumps(bad))
    with pytest.raises(FileNotFoundError, match="r_9"):
        nerf_folders.load_blender(tmp_path, "test")
    frame = meta["frames"][0]
    for matrix, message in ((np.full((4, 4), np.nan).tolist(), "holds non-finite values"),
                            (np.zeros((4, 4)).tolist(), "is singular"),
                            ("identity", "must be a 4x4 matrix of numbers"),
                            ([[1.0, 0.0], [0.0, 1.0]], r"must be 4x4 \(or 3x4\), got shape \(2, 2\)")):
        (tmp_path / "transforms_test.json").write_text(json.dumps(dict(meta, frames=[dict(frame, transform_matrix=matrix)])))
        with pytest.raises(ValueError, match=r"transforms_test.json: frames\[0\].transform_matrix " + message):
            nerf_folders.load_blender(tmp_path, "test")
    for angle in ("wide", None, float("inf")):
        (tmp_path / "transforms_test.json").write_text(json.dumps(dict(meta, camera_angle_x=angle)))
        with pytest.raises(ValueError, match="camera_angle_x must be a finite number"):
            nerf_folders.load_blender(tmp_path, "test")
    (tmp_path / "transforms_test.json").write_text("{not json")
    with pytest.raises(ValueError, match="transforms_test.json is not valid JSON"):
        nerf_folders.load_blender(tmp_path, "test")
    (tmp_path / "train" / "r_1.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"r_1.png is not a readable image"):
        nerf_folders.load_blender(tmp_path, "train")
    Image.new("RGBA", (6, 4)).save(tmp_path / "train" / "r_1.png")
    with pytest.raises(ValueError, match="6x4 pixels but frames"):
        nerf_folders.load_blender(tmp_path, "train")


def _write_llff(folder, num=3, size=(6, 4), focal=5.0, image_dir="images"):
    """LLFF rows for cameras on a small arc looking along +y; row 0 is the hand-computed case."""
    w, h = size
    rows = []
    for i in range(num):
        c2w = np.asarray(cameras.look_at([0.3 * i, -4.0, 1.0], [0.3 * i, 0.0, 1.0 + 0.2 * i]),
                         np.float64)
        right, up, backward, position = c2w.T
        rows.append(np.concatenate([np.stack([-up, right, backward, position, [h, w, focal]], 1)
                                    .reshape(-1), [2.0 + i, 10.0 + i]]))
    np.save(folder / "poses_bounds.npy", np.array(rows))
    os.makedirs(folder / image_dir, exist_ok=True)
    for i in range(num):
        pixels = np.full((h, w, 3), 40 * i, np.uint8)
        pixels[0, 0] = (255, 0, 0)
        Image.fromarray(pixels).save(folder / image_dir / f"img_{i:03d}.png")
    return np.array(rows)


def test_load_llff_conversion_and_intrinsics(tmp_path):
    rows = _write_llff(tmp_path)
    # Row 0 by hand: camera at (0, -4, 1) looking along +y, image right +x, image down -z.
    np.testing.assert_allclose(rows[0, :15].reshape(3, 5)[:, :4],
                               [[0, 1, 0, 0], [0, 0, -1, -4], [-1, 0, 0, 1]], atol=1e-6)
    data = nerf_folders.load_llff(tmp_path, recenter=False, bd_factor=None)
    assert data["images"].shape == (3, 4, 6, 3) and "depths" not in data
    np.testing.assert_allclose(data["c2w"][0], [[1, 0, 0, 0], [0, 0, -1, -4], [0, 1, 0, 1],
                                                [0, 0, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(data["intrinsics"], np.tile([5.0, 5.0, 3.0, 2.0], (3, 1)))
    np.testing.assert_allclose(data["images"][2, 1, 1], 80 / 255, atol=1e-7)
    np.testing.assert_allclose(data["images"][0, 0, 0], [1, 0, 0])
    assert (data["near"], data["far"]) == pytest.approx((0.9 * 2.0, 12.0))
    assert np.all(data["alphas"] == 1) and np.all(data["times"] == 0)
    assert data["bounds"].shape == (3, 2)

    test = nerf_folders.load_llff(tmp_path, split="test", holdout=2, recenter=False, bd_factor=None)
    train = nerf_folders.load_llff(tmp_path, split="train", holdout=2, recenter=False, bd_factor=None)
    np.testing.assert_array_equal(test["c2w"], data["c2w"][[0, 2]])
    np.testing.assert_array_equal(train["images"], data["images"][[1]])

    nerf = nerf_folders.load_llff(tmp_path)  # NeRF's defaults: bounds scaled, poses recentered.
    assert nerf["bounds"].min() == pytest.approx(1 / 0.75)
    assert nerf["near"] == pytest.approx(0.9 / 0.75)
    np.testing.assert_allclose(np.asarray(cameras.average_pose(nerf["c2w"])), np.eye(4)[:3], atol=1e-5)

    # factor 2 without images_2: images/ downsized here, focal scaled with the image.
    half = nerf_folders.load_llff(tmp_path, factor=2, recenter=False, bd_factor=None)
    assert half["images"].shape == (3, 2, 3, 3)
    np.testing.assert_allclose(half["intrinsics"][0], [2.5, 2.5, 1.5, 1.0])
    np.testing.assert_allclose(half["images"][1].reshape(-1, 3)[1:], 40 / 255, atol=1e-6)
    # The top-left 2x2 block averages the red pixel with three grey ones.
    np.testing.assert_allclose(half["images"][1, 0, 0], np.array([255 + 120, 120, 120]) / 4 / 255,
                               atol=1 / 255)


def test_load_llff_uses_images_factor_folder(tmp_path):
    _write_llff(tmp_path)
    _write_llff(tmp_path, size=(3, 2), image_dir="images_2")  # Rows rewritten with the same poses.
    _write_llff(tmp_path)
    data = nerf_folders.load_llff(tmp_path, factor=2, recenter=False, bd_factor=None)
    assert data["images"].shape == (3, 2, 3, 3)
    np.testing.assert_allclose(data["images"][0, 0, 0], [1, 0, 0])  # The stored small image.
    np.testing.assert_allclose(data["intrinsics"][0], [2.5, 2.5, 1.5, 1.0])


def test_load_llff_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        nerf_folders.load_llff(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="poses_bounds.npy"):
        nerf_folders.load_llff(tmp_path)
    rows = _write_llff(tmp_path)
    np.save(tmp_path / "poses_bounds.npy", rows[:, :15])
    with pytest.raises(ValueError, match=r"poses_bounds.npy.*\[N, 17\]"):
        nerf_folders.load_llff(tmp_path)
    np.save(tmp_path / "poses_bounds.npy", rows[:2])
    with pytest.raises(ValueError, match="has 3 images but .* has 2 poses"):
        nerf_folders.load_llff(tmp_path)
    bad = rows.copy()
    bad[1, 3] = np.nan
    np.save(tmp_path / "poses_bounds.npy", bad)
    with pytest.raises(ValueError, match=r"poses_bounds.npy: row 1 holds non-finite values"):
        nerf_folders.load_llff(tmp_path)
    bad = rows.copy()
    bad[2, :15] = 0.0
    np.save(tmp_path / "poses_bounds.npy", bad)
    with pytest.raises(ValueError, match=r"poses_bounds.npy: row 2 pose is singular"):
        nerf_folders.load_llff(tmp_path)
    np.save(tmp_path / "poses_bounds.npy", rows.astype(str))
    with pytest.raises(ValueError, match="poses_bounds.npy must hold numbers"):
        nerf_folders.load_llff(tmp_path)
    np.save(tmp_path / "poses_bounds.npy", rows)
    Image.new("RGB", (5, 4)).save(tmp_path / "images" / "img_001.png")
    with pytest.raises(ValueError, match=r"img_001.png is 5x4 pixels but .* says 6x4"):
        nerf_folders.load_llff(tmp_path)
    with pytest.raises(ValueError, match="split='val'"):
        nerf_folders.load_llff(tmp_path, split="val")


def test_material_validation():
    with pytest.raises(ValueError, match="pattern 'dots'"):
        scenes.Material(albedo=(1.0, 1.0, 1.0), pattern="dots")
    with pytest.raises(ValueError, match="opacity"):
        scenes.Material(albedo=(1.0, 1.0, 1.0), opacity=0.0)
