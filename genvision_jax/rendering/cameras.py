"""Pinhole cameras: intrinsics, pixel rays, look-at, camera paths, LLFF pose conversion.

Convention (OpenGL / Blender, as the NeRF synthetic data of Mildenhall et al. 2020): a camera-to-world
matrix `c2w` [3, 4] or [4, 4] has columns (right, up, backward, position) in world coordinates, i.e.
the camera looks along its -z axis with +x right and +y up in the image. Pixel coordinates are
(x, y) = (column, row) measured from the image's top-left corner, so the center of pixel (row i,
column j) is (j + 0.5, i + 0.5). World scenes are z-up, as in Blender.

Ray directions are *not* normalized: the camera-space direction of pixel (u, v) is
((u - cx) / fx, -(v - cy) / fy, -1), so the ray parameter t of a point o + t d is its depth along the
camera's viewing axis (z-depth), the quantity depth maps store. `viewdirs` gives unit directions.

All array functions are pure jax.numpy and broadcast over leading dimensions `...`.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

GOLDEN_ANGLE_DEG = 180.0 * (3.0 - math.sqrt(5.0))  # ~137.508: azimuth step of a Fibonacci spiral.


class Intrinsics(NamedTuple):
    """Pinhole intrinsics of an image of `height` x `width` pixels; focal lengths and principal point
    in pixels (the principal point of a centered camera is (width / 2, height / 2))."""

    height: int
    width: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_fov(cls, height: int, width: int, fov_x_radians: float) -> "Intrinsics":
        """Centered camera with square pixels and horizontal field of view `fov_x_radians`
        (Blender's `camera_angle_x`): fx = fy = width / (2 tan(fov_x / 2))."""
        if not 0.0 < fov_x_radians < math.pi:
            raise ValueError(f"fov_x_radians must be in (0, pi), got {fov_x_radians!r}")
        focal = 0.5 * width / math.tan(0.5 * fov_x_radians)
        return cls(int(height), int(width), focal, focal, 0.5 * width, 0.5 * height)

    def as_array(self) -> np.ndarray:
        """(fx, fy, cx, cy) as float32 [4]."""
        return np.array([self.fx, self.fy, self.cx, self.cy], np.float32)

    def resized(self, height: int, width: int) -> "Intrinsics":
        """The same camera imaging the same field of view onto `height` x `width` pixels.

        Pixel coordinates scale by width / self.width (x) and height / self.height (y), so the
        principal point scales with them (image corners stay at 0 and at the size)."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(int(height), int(width), self.fx * sx, self.fy * sy, self.cx * sx,
                          self.cy * sy)


def _intrinsics_array(intrinsics: Intrinsics | Array) -> Array:
    if isinstance(intrinsics, Intrinsics):
        return jnp.asarray(intrinsics.as_array())
    intrinsics = jnp.asarray(intrinsics, jnp.float32)
    if intrinsics.shape[-1:] != (4,):
        raise ValueError(f"intrinsics must be an Intrinsics or an array [..., 4] (fx, fy, cx, cy), "
                         f"got shape {intrinsics.shape}")
    return intrinsics


def pixel_centers(height: int, width: int) -> Array:
    """(x, y) of every pixel center, (j + 0.5, i + 0.5) for row i and column j. float32 [H, W, 2]."""
    x = np.arange(width, dtype=np.float32) + 0.5
    y = np.arange(height, dtype=np.float32) + 0.5
    return jnp.asarray(np.stack(np.meshgrid(x, y, indexing="xy"), axis=-1))


def camera_directions(pixels: Array, intrinsics: Intrinsics | Array) -> Array:
    """Camera-space ray directions ((u - cx)/fx, -(v - cy)/fy, -1) of pixels (u, v).

    pixels [..., 2]; intrinsics an `Intrinsics` or float [..., 4] broadcastable to pixels' `...`.
    Returns float32 [..., 3].
    """
    pixels = jnp.asarray(pixels, jnp.float32)
    k = _intrinsics_array(intrinsics)
    fx, fy, cx, cy = (k[..., i] for i in range(4))
    x = (pixels[..., 0] - cx) / fx
    y = -(pixels[..., 1] - cy) / fy
    return jnp.stack([x, y, -jnp.ones_like(x)], axis=-1)


def _check_c2w(c2w) -> Array:
    c2w = jnp.asarray(c2w, jnp.float32)
    if c2w.ndim < 2 or c2w.shape[-2:] not in ((3, 4), (4, 4)):
        raise ValueError(f"c2w must be [..., 3, 4] or [..., 4, 4], got shape {c2w.shape}")
    return c2w


def pixel_rays(c2w: Array, intrinsics: Intrinsics | Array,
               pixels: Array | None = None) -> tuple[Array, Array]:
    """World-space rays through pixels. Returns (origins, directions), both float32 [..., 3].

    Args:
        c2w: camera-to-world [*C, 3, 4] or [*C, 4, 4] (OpenGL convention, see module docstring).
        intrinsics: an `Intrinsics`, or float [..., 4] (fx, fy, cx, cy) when `pixels` is given.
        pixels: (x, y) pixel coordinates [*P, 2] (pixel centers at +0.5); `*C` and `*P` broadcast
            (e.g. one camera per sampled pixel). Default: every pixel center of the image, giving
            rays [*C, H, W, 3] (needs an `Intrinsics` for H and W).

    Directions are unnormalized, R ((u - cx)/fx, -(v - cy)/fy, -1) with R = c2w[:3, :3], so t along a
    ray is z-depth; the center pixel of a centered camera looks along -c2w[:3, 2].
    """
    c2w = _check_c2w(c2w)
    image = pixels is None
    if image:
        if not isinstance(intrinsics, Intrinsics):
            raise TypeError("pixel_rays needs an Intrinsics (for H and W) when pixels is None")
        pixels = pixel_centers(intrinsics.height, intrinsics.width)
    return _world_rays(c2w, _intrinsics_array(intrinsics), jnp.asarray(pixels, jnp.float32), image)


@functools.partial(jax.jit, static_argnums=3)
def _world_rays(c2w: Array, intrinsics: Array, pixels: Array, image: bool) -> tuple[Array, Array]:
    # One compiled program per shape: op-by-op dispatch would compile every op for every new shape.
    rotation, origin = c2w[..., :3, :3], c2w[..., :3, 3]
    if image:  # pixels [H, W, 2] for every camera of c2w [*C, ...].
        rotation, origin = rotation[..., None, None, :, :], origin[..., None, None, :]
    local = camera_directions(pixels, intrinsics)
    directions = jnp.sum(rotation * local[..., None, :], axis=-1)  # R @ local.
    return jnp.broadcast_to(origin, directions.shape), directions


def normalize(v: Array, eps: float = 1e-12) -> Array:
    """v / |v| along the last axis; the norm is floored at `eps` (finite gradients at 0). [..., D]"""
    v = jnp.asarray(v)
    return v * jax.lax.rsqrt(jnp.maximum(jnp.sum(v * v, axis=-1, keepdims=True), eps * eps))


def viewdirs(directions: Array) -> Array:
    """Unit viewing directions of rays (NeRF's `viewdirs`), [..., 3] -> [..., 3]."""
    return normalize(directions)


@jax.jit
def to_homogeneous(c2w: Array) -> Array:
    """[..., 3, 4] or [..., 4, 4] -> [..., 4, 4] with last row (0, 0, 0, 1)."""
    c2w = _check_c2w(c2w)
    if c2w.shape[-2] == 4:
        return c2w
    bottom = jnp.broadcast_to(jnp.array([0.0, 0.0, 0.0, 1.0], jnp.float32), c2w.shape[:-2] + (1, 4))
    return jnp.concatenate([c2w, bottom], axis=-2)


@jax.jit
def look_at(eye: Array, target: Array = (0.0, 0.0, 0.0),
            up: Sequence[float] | Array = (0.0, 0.0, 1.0)) -> Array:
    """Camera at `eye` looking at `target`, image up as close to `up` as possible. c2w [..., 3, 4].

    eye, target, up: [..., 3] (broadcast). Columns: right = forward x up, camera up =
    right x forward, backward = -forward, eye. When forward is parallel to `up` (looking straight
    down at a z-up scene), the world axis least aligned with forward is used as `up` instead.
    """
    eye = jnp.asarray(eye, jnp.float32)
    target = jnp.asarray(target, jnp.float32)
    up = jnp.asarray(up, jnp.float32)
    forward = normalize(target - eye)
    right = jnp.cross(forward, up)
    degenerate = jnp.sum(right * right, axis=-1, keepdims=True) < 1e-12 * jnp.sum(up * up, -1,
                                                                                    keepdims=True)
    fallback_up = jax.nn.one_hot(jnp.argmin(jnp.abs(forward), axis=-1), 3, dtype=jnp.float32)
    right = normalize(jnp.where(degenerate, jnp.cross(forward, fallback_up), right))
    camera_up = jnp.cross(right, forward)
    eye = jnp.broadcast_to(eye, right.shape)
    return jnp.stack([right, camera_up, -forward, eye], axis=-1)


@jax.jit
def orbit_poses(azimuth_deg: Array, elevation_deg: Array, radius: float | Array,
                target: Sequence[float] | Array = (0.0, 0.0, 0.0)) -> Array:
    """Cameras at spherical coordinates around `target`, looking at it (z up). c2w [..., 3, 4].

    azimuth_deg (counter-clockwise from +x in the xy-plane), elevation_deg (above the xy-plane) and
    radius broadcast to [...]; eye = target + radius (cos e cos a, cos e sin a, sin e).
    """
    azimuth = jnp.deg2rad(jnp.asarray(azimuth_deg, jnp.float32))
    elevation = jnp.deg2rad(jnp.asarray(elevation_deg, jnp.float32))
    radius = jnp.asarray(radius, jnp.float32)
    target = jnp.asarray(target, jnp.float32)
    offset = jnp.stack([jnp.cos(elevation) * jnp.cos(azimuth), jnp.cos(elevation) * jnp.sin(azimuth),
                        jnp.sin(elevation)], axis=-1)
    return look_at(target + radius[..., None] * offset, target)


def sphere_poses(num: int, radius: float,
                 elevation_deg: float | tuple[float, float] | None = None,
                 hemisphere: bool = True, seed: int | Array | None = None) -> Array:
    """`num` cameras on a sphere (band) around the origin, looking at it. c2w [num, 3, 4].

    Args:
        num: number of cameras.
        radius: distance from the origin.
        elevation_deg: a (low, high) band in degrees above the xy-plane, a single elevation, or None
            for the whole upper hemisphere (0, 90) if `hemisphere` else the sphere (-90, 90).
        hemisphere: cameras only at elevation >= 0 (raises if `elevation_deg` goes below).
        seed: None for a deterministic Fibonacci spiral (sin(elevation) evenly spaced over the band,
            azimuth advancing by the golden angle: near-uniform by area); an int or a PRNG key for
            i.i.d. uniform-by-area positions (sin(elevation) and azimuth uniform).
    """
    if elevation_deg is None:
        low, high = (0.0, 90.0) if hemisphere else (-90.0, 90.0)
    elif isinstance(elevation_deg, (int, float)):
        low = high = float(elevation_deg)
    else:
        low, high = map(float, elevation_deg)
    if not -90.0 <= low <= high <= 90.0:
        raise ValueError(f"elevation_deg must satisfy -90 <= low <= high <= 90, got {elevation_deg!r}")
    if hemisphere and low < 0.0:
        raise ValueError(f"hemisphere=True but elevation_deg={elevation_deg!r} goes below 0")
    sin_low, sin_high = math.sin(math.radians(low)), math.sin(math.radians(high))
    # The angles are a few numbers computed once on the host; the poses in one compiled program.
    if seed is None:
        k = np.arange(num, dtype=np.float64)
        s = (k + 0.5) / num
        azimuth = np.mod(k * GOLDEN_ANGLE_DEG, 360.0)
    else:
        key = jax.random.PRNGKey(seed) if isinstance(seed, (int, np.integer)) else seed
        u = np.asarray(jax.random.uniform(key, (num, 2), jnp.float32), np.float64)
        s, azimuth = u[:, 0], 360.0 * u[:, 1]
    elevation = np.degrees(np.arcsin(np.clip(sin_low + s * (sin_high - sin_low), -1.0, 1.0)))
    return orbit_poses(azimuth, elevation, radius)


def turntable_poses(num: int, radius: float, elevation_deg: float = 30.0,
                    start_azimuth_deg: float = 0.0) -> Array:
    """`num` cameras evenly spaced on one circle at `elevation_deg`, azimuth start + 360 k / num
    (counter-clockwise seen from above), looking at the origin; for turntable videos. [num, 3, 4]"""
    azimuth = start_azimuth_deg + 360.0 * np.arange(num) / num
    return orbit_poses(azimuth, np.full(num, elevation_deg), radius)


# ------------------------------------------------------------------------------------------------
# LLFF (Mildenhall et al. 2019, "Local Light Field Fusion") poses.
# ------------------------------------------------------------------------------------------------


@jax.jit
def llff_to_opengl(poses_bounds: Array) -> tuple[Array, Array, Array]:
    """LLFF `poses_bounds.npy` rows -> (c2w [N, 3, 4] OpenGL, hwf [N, 3], bounds [N, 2]).

    A row holds a 3x5 matrix (row-major) and the scene's (near, far) depth bounds for that view. The
    matrix's columns are the camera's (down, right, backward) axes in world coordinates, its
    position, and (height, width, focal) in pixels. OpenGL's (right, up, backward) columns are
    (col 1, -col 0, col 2), as NeRF's LLFF loader reorders them.
    """
    poses_bounds = jnp.asarray(poses_bounds, jnp.float32)
    if poses_bounds.ndim != 2 or poses_bounds.shape[1] != 17:
        raise ValueError(f"LLFF poses_bounds must be [N, 17] (3x5 pose + 2 bounds), got shape "
                         f"{poses_bounds.shape}")
    matrix = poses_bounds[:, :15].reshape(-1, 3, 5)
    down, right, backward, position = (matrix[:, :, i] for i in range(4))
    c2w = jnp.stack([right, -down, backward, position], axis=-1)
    return c2w, matrix[:, :, 4], poses_bounds[:, 15:]


@jax.jit
def average_pose(c2w: Array) -> Array:
    """The mean camera of [N, 3|4, 4] poses: at the mean position, backward axis along the summed
    backward axes, up as close as possible to the summed up axes (NeRF's `poses_avg`). [3, 4]"""
    c2w = _check_c2w(c2w)
    position = jnp.mean(c2w[:, :3, 3], axis=0)
    backward = normalize(jnp.sum(c2w[:, :3, 2], axis=0))
    right = normalize(jnp.cross(jnp.sum(c2w[:, :3, 1], axis=0), backward))
    up = jnp.cross(backward, right)
    return jnp.stack([right, up, backward, position], axis=-1)


@jax.jit
def recenter_poses(c2w: Array) -> Array:
    """Poses expressed in the frame of their `average_pose`, which becomes the identity (NeRF's
    `recenter_poses`, used for forward-facing LLFF scenes). [N, 3|4, 4] -> [N, 3, 4]"""
    c2w = _check_c2w(c2w)
    world_from_average = to_homogeneous(average_pose(c2w))
    return (jnp.linalg.inv(world_from_average) @ to_homogeneous(c2w))[:, :3, :]
