"""`synthetic_scenes`: analytic ray-traced 3-D scenes with exact depth, for NeRF-family models.

Three parts:
  - a ray tracer for procedural scenes (spheres, oriented boxes and a finite checkered floor;
    Blinn-Phong shading with textures, hard shadows, translucency), numpy float64, vectorised over
    rays: `render_view(scene, c2w, intrinsics, time, background)` -> rgb, alpha, depth;
  - the TFDS builder `synthetic_scenes` (splits train/val/test, one record per view), reached with
    `get_source('synthetic_scenes', split, scene=..., image_size=..., ...)`, and `load_split`, which
    stacks a split into the arrays a NeRF trainer wants;
  - `load_blender` (NeRF-synthetic / D-NeRF folders) and `load_llff` (LLFF `poses_bounds.npy`
    folders), which return the same dict as `load_split` for real data on local disk.

Cameras follow `genvision_jax.rendering.cameras`: OpenGL/Blender camera-to-world (x right, y up,
looking along -z), world z up, rays o + t d with unnormalized d so that t is z-depth.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Callable

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from genvision_jax.data import sources
from genvision_jax.rendering import cameras

Vec3 = tuple[float, float, float]

_T_MIN = 1e-7  # Smallest accepted ray parameter of a hit (rejects the ray's own origin surface).
_SHADOW_OFFSET = 1e-4  # Shadow rays start this far off the surface, along its normal.


# ------------------------------------------------------------------------------------------------
# Materials, primitives, lights.
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Material:
    """Blinn-Phong material (Blinn 1977, "Models of light reflection for computer synthesized
    pictures"). Under lights with radiance L_l, visibility V_l and unit direction l_l, a surface
    point with unit normal n seen from unit direction v has colour

        a(p) (ambient + sum_l V_l L_l max(0, n.l_l)) + specular sum_l V_l L_l [n.l_l > 0] max(0, n.h_l)^shininess

    with h_l = (l_l + v) / |l_l + v|, so the specular term makes colour depend on view direction.

    The albedo a(p) is `albedo`, or with `pattern` a two-colour solid texture of the point in the
    object's own frame (so it moves with the object): 'checker' alternates `albedo`/`albedo2` in
    cubes of side `cell` (parity of sum floor(p_i / cell)); 'stripes' in slabs of thickness `cell`
    along the object's z axis. `opacity` < 1 makes the surface translucent (one layer, composited
    over what is behind it; its back side is not rendered again).
    """

    albedo: Vec3
    pattern: str | None = None
    albedo2: Vec3 = (1.0, 1.0, 1.0)
    cell: float = 0.25
    specular: float = 0.0
    shininess: float = 32.0
    opacity: float = 1.0

    def __post_init__(self):
        if self.pattern not in (None, "checker", "stripes"):
            raise ValueError(f"unknown pattern {self.pattern!r}; valid: None, 'checker', 'stripes'")
        if not 0.0 < self.opacity <= 1.0:
            raise ValueError(f"opacity must be in (0, 1], got {self.opacity!r}")

    def albedo_at(self, local: np.ndarray) -> np.ndarray:
        """Albedo at object-frame points [R, 3] -> [R, 3]."""
        base = np.broadcast_to(np.asarray(self.albedo, np.float64), local.shape)
        if self.pattern is None:
            return base
        if self.pattern == "checker":
            odd = np.sum(np.floor(local / self.cell), axis=-1) % 2 == 1
        else:  # Stripes.
            odd = np.floor(local[:, 2] / self.cell) % 2 == 1
        return np.where(odd[:, None], np.asarray(self.albedo2, np.float64), base)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class Sphere:
    center: Vec3
    radius: float
    material: Material

    def hit(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """First t > 0 where o + t d meets the sphere (inf on a miss). [R, 3] x 2 -> [R]

        Roots of |o - c + t d|^2 = r^2: t = (-b -+ sqrt(b^2 - a c')) / a with a = d.d,
        b = (o - c).d, c' = |o - c|^2 - r^2; the near root, or the far one from inside."""
        oc = origins - np.asarray(self.center)
        a = _dot(directions, directions)
        b = _dot(oc, directions)
        disc = b * b - a * (_dot(oc, oc) - self.radius ** 2)
        root = np.sqrt(np.maximum(disc, 0.0))
        near, far = (-b - root) / a, (-b + root) / a
        t = np.where(near > _T_MIN, near, np.where(far > _T_MIN, far, np.inf))
        return np.where(disc >= 0.0, t, np.inf)

    def normal(self, points: np.ndarray) -> np.ndarray:
        return (points - np.asarray(self.center)) / self.radius

    def local(self, points: np.ndarray) -> np.ndarray:
        return points - np.asarray(self.center)

    def extent(self) -> float:
        """Largest distance from the world origin of a point of the primitive."""
        return float(np.linalg.norm(self.center) + self.radius)


@dataclasses.dataclass(frozen=True)
class Box:
    """Box of half side lengths `half_size` centered at `center`, turned by `yaw_deg` about world z."""

    center: Vec3
    half_size: Vec3
    material: Material
    yaw_deg: float = 0.0

    @property
    def rotation(self) -> np.ndarray:
        """World-from-box rotation [3, 3]; its columns are the box axes in world coordinates."""
        c, s = math.cos(math.radians(self.yaw_deg)), math.sin(math.radians(self.yaw_deg))
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])

    def hit(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """Slab method (Kay & Kajiya 1986) in the box frame: the ray is inside slab i for t between
        (+-h_i - o_i) / d_i; it hits the box where the intersection of the three intervals is
        non-empty. [R, 3] x 2 -> [R], inf on a miss."""
        o = self.local(origins)
        d = directions @ self.rotation
        h = np.asarray(self.half_size)
        parallel = d == 0.0
        safe = np.where(parallel, 1.0, d)
        t1, t2 = (-h - o) / safe, (h - o) / safe
        inside = np.abs(o) <= h  # A ray parallel to a slab is in it always or never.
        low = np.where(parallel, np.where(inside, -np.inf, np.inf), np.minimum(t1, t2)).max(-1)
        high = np.where(parallel, np.where(inside, np.inf, -np.inf), np.maximum(t1, t2)).min(-1)
        t = np.where(low > _T_MIN, low, np.where(high > _T_MIN, high, np.inf))
        return np.where(low <= high, t, np.inf)

    def normal(self, points: np.ndarray) -> np.ndarray:
        q = self.local(points) / np.asarray(self.half_size)
        axis = np.argmax(np.abs(q), axis=-1)  # The face a surface point lies on.
        n_local = np.zeros_like(q)
        rows = np.arange(len(q))
        n_local[rows, axis] = np.sign(q[rows, axis])
        return n_local @ self.rotation.T

    def local(self, points: np.ndarray) -> np.ndarray:
        return (points - np.asarray(self.center)) @ self.rotation

    def extent(self) -> float:
        return float(np.linalg.norm(self.center) + np.linalg.norm(self.half_size))


@dataclasses.dataclass(frozen=True)
class Floor:
    """The square |x|, |y| <= `half_extent` of the plane z = `height`, visible from both sides."""

    half_extent: float
    material: Material
    height: float = 0.0

    def hit(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        dz = directions[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):  # Rays parallel to the plane.
            t = (self.height - origins[:, 2]) / dz
            p = origins[:, :2] + t[:, None] * directions[:, :2]
        hit = (dz != 0.0) & (t > _T_MIN) & np.all(np.abs(p) <= self.half_extent, axis=-1)
        return np.where(hit, t, np.inf)

    def normal(self, points: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.array([0.0, 0.0, 1.0]), points.shape)

    def local(self, points: np.ndarray) -> np.ndarray:
        # z exactly 0: a solid texture must not flicker with rounding across the plane.
        return np.concatenate([points[:, :2], np.zeros_like(points[:, :1])], axis=-1)

    def extent(self) -> float:
        return math.hypot(math.sqrt(2.0) * self.half_extent, self.height)


@dataclasses.dataclass(frozen=True)
class DirectionalLight:
    """Light from infinitely far along `direction` (pointing toward the light), radiance `color`."""

    direction: Vec3
    color: Vec3 = (1.0, 1.0, 1.0)

    def incident(self, points: np.ndarray):
        """(unit direction to the light [R, 3], distance [R], radiance [R, 3]) at points [R, 3]."""
        l = np.broadcast_to(_unit(np.asarray(self.direction, np.float64)), points.shape)
        return (l, np.full(len(points), np.inf),
                np.broadcast_to(np.asarray(self.color, np.float64), points.shape))


@dataclasses.dataclass(frozen=True)
class PointLight:
    """Isotropic light at `position`; the radiance reaching a point at distance r is `color` / r^2."""

    position: Vec3
    color: Vec3 = (1.0, 1.0, 1.0)

    def incident(self, points: np.ndarray):
        to_light = np.asarray(self.position, np.float64) - points
        distance = np.linalg.norm(to_light, axis=-1)
        return (to_light / distance[:, None], distance,
                np.asarray(self.color, np.float64) / (distance ** 2)[:, None])


Primitive = Sphere | Box | Floor
Light = DirectionalLight | PointLight


@dataclasses.dataclass(frozen=True)
class Scene:
    primitives: tuple[Primitive, ...]
    lights: tuple[Light, ...]
    ambient: float = 0.15

    def bounding_radius(self) -> float:
        """Radius of a ball around the world origin that holds every primitive."""
        return max(p.extent() for p in self.primitives)


# ------------------------------------------------------------------------------------------------
# The tracer.
# ------------------------------------------------------------------------------------------------


def _transmittance(scene: Scene, origins: np.ndarray, directions: np.ndarray,
                   distance: np.ndarray) -> np.ndarray:
    """Fraction of light passing from origins toward a light `distance` away: the product of
    (1 - opacity) over the primitives in between. [R, 3] x 2, [R] -> [R]"""
    transmittance = np.ones(len(origins))
    for primitive in scene.primitives:
        blocked = primitive.hit(origins, directions) < distance
        transmittance = np.where(blocked, transmittance * (1.0 - primitive.material.opacity),
                                 transmittance)
    return transmittance


def _shade(scene: Scene, primitive: Primitive, points: np.ndarray,
           directions: np.ndarray) -> np.ndarray:
    """Blinn-Phong colour (see `Material`) of primitive's surface points seen along directions,
    with hard shadows, clipped to [0, 1]. [R, 3] x 2 -> [R, 3]"""
    material = primitive.material
    normals = primitive.normal(points)
    # Two-sided: the normal faces the viewer (the floor seen from below is lit from below).
    normals = np.where((_dot(normals, directions) > 0.0)[:, None], -normals, normals)
    to_viewer = -_unit(directions)
    albedo = material.albedo_at(primitive.local(points))
    rgb = scene.ambient * albedo
    shadow_origins = points + _SHADOW_OFFSET * normals
    for light in scene.lights:
        to_light, distance, radiance = light.incident(points)
        cos_in = _dot(normals, to_light)
        lit = cos_in > 0.0
        visible = np.where(lit, _transmittance(scene, shadow_origins, to_light, distance), 0.0)
        rgb = rgb + (visible * cos_in)[:, None] * radiance * albedo
        if material.specular:
            half = _unit(to_light + to_viewer)
            highlight = np.maximum(_dot(normals, half), 0.0) ** material.shininess
            rgb = rgb + (visible * material.specular * highlight)[:, None] * radiance
    return np.clip(rgb, 0.0, 1.0)


def render_rays(scene: Scene, origins: np.ndarray, directions: np.ndarray,
                background: float | np.ndarray = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray-traces rays o + t d. [R, 3] x 2 -> (rgb [R, 3], alpha [R], depth [R]), float64.

    Every primitive's first hit is one layer with alpha = its opacity; the layers in front of the
    nearest opaque hit are composited front to back, rgb = sum_i w_i c_i + (1 - alpha) background
    with w_i = alpha_i prod_{j<i} (1 - alpha_j) and alpha = sum_i w_i (1 on an opaque hit, 0 on a
    miss, the opacity of translucent surfaces the ray only passes through). depth is the t of the
    first surface hit, translucent or not, and 0 where nothing is hit; with `pixel_rays` directions
    t is the z-depth.
    """
    origins = np.asarray(origins, np.float64)
    directions = np.asarray(directions, np.float64)
    t = np.stack([p.hit(origins, directions) for p in scene.primitives])  # [P, R]
    opacity = np.array([p.material.opacity for p in scene.primitives])
    opaque = opacity >= 1.0
    nearest_opaque = t[opaque].min(0) if opaque.any() else np.full(len(origins), np.inf)
    in_front = np.isfinite(t) & (t <= nearest_opaque)  # Layers that can contribute.

    colors = np.zeros(t.shape + (3,))
    for k, primitive in enumerate(scene.primitives):
        rays = np.flatnonzero(in_front[k])
        if rays.size:
            points = origins[rays] + t[k, rays, None] * directions[rays]
            colors[k, rays] = _shade(scene, primitive, points, directions[rays])

    alphas = np.where(in_front, opacity[:, None], 0.0)
    order = np.argsort(t, axis=0, kind="stable")  # Front to back; misses (inf) last.
    alphas = np.take_along_axis(alphas, order, axis=0)
    colors = np.take_along_axis(colors, order[..., None], axis=0)
    transmittance = np.cumprod(np.concatenate([np.ones_like(alphas[:1]), 1.0 - alphas[:-1]]), axis=0)
    weights = alphas * transmittance
    alpha = weights.sum(0)
    rgb = np.sum(weights[..., None] * colors, axis=0) + (1.0 - alpha)[:, None] * background
    first = t.min(0)
    depth = np.where(np.isfinite(first), first, 0.0)
    return rgb, alpha, depth


# ------------------------------------------------------------------------------------------------
# Named scenes (z up; the floor is the square [-1.6, 1.6]^2 at z = 0).
# ------------------------------------------------------------------------------------------------

_FLOOR = Floor(half_extent=1.6, material=Material(
    albedo=(0.82, 0.8, 0.74), pattern="checker", albedo2=(0.32, 0.36, 0.45), cell=0.4))
_LIGHTS = (DirectionalLight(direction=(0.5, 0.3, 1.0), color=(0.8, 0.8, 0.75)),
           PointLight(position=(-2.0, -1.5, 2.5), color=(3.5, 3.5, 3.8)))
_GLOSSY_RED = Material(albedo=(0.8, 0.15, 0.1), specular=0.7, shininess=48.0)
_GREEN_CHECKER = Material(albedo=(0.2, 0.65, 0.25), pattern="checker", albedo2=(0.9, 0.85, 0.3),
                          cell=0.15)
_SPHERES = (
    Sphere(center=(0.55, 0.45, 0.45), radius=0.45, material=_GLOSSY_RED),
    Sphere(center=(-0.65, 0.55, 0.3), radius=0.3, material=_GREEN_CHECKER),
    Sphere(center=(0.3, -0.7, 0.35), radius=0.35,
           material=Material(albedo=(0.15, 0.3, 0.85), specular=0.25, shininess=16.0)),
    Box(center=(-0.5, -0.35, 0.35), half_size=(0.3, 0.22, 0.35), yaw_deg=25.0,
        material=Material(albedo=(0.9, 0.7, 0.2), pattern="stripes", albedo2=(0.5, 0.3, 0.1),
                          cell=0.12)),
)


def _spheres(time: float) -> Scene:
    """A glossy red sphere, a checkered green sphere, a semi-glossy blue sphere and a striped box
    on the floor; static."""
    del time
    return Scene((_FLOOR, *_SPHERES), _LIGHTS)


def _transparent(time: float) -> Scene:
    """`spheres` plus a translucent (opacity 0.45) glossy cyan sphere floating above the middle."""
    del time
    glass = Sphere(center=(-0.1, 0.0, 1.05), radius=0.3, material=Material(
        albedo=(0.3, 0.85, 0.9), specular=0.5, shininess=64.0, opacity=0.45))
    return Scene((_FLOOR, *_SPHERES, glass), _LIGHTS)


def _dynamic(time: float) -> Scene:
    """A glossy red ball hopping along a half circle (angle 90 -> 270 deg, radius 0.7, height
    0.35 + 0.35 sin(pi t)), a checkered box turning 90 deg about z, a static checkered sphere."""
    angle = math.pi * (0.5 + time)
    hop = 0.35 + 0.35 * math.sin(math.pi * time)
    ball = Sphere(center=(0.7 * math.cos(angle), 0.7 * math.sin(angle), hop), radius=0.35,
                  material=_GLOSSY_RED)
    box = Box(center=(0.55, -0.2, 0.3), half_size=(0.25, 0.2, 0.3), yaw_deg=20.0 + 90.0 * time,
              material=Material(albedo=(0.9, 0.7, 0.2), pattern="checker",
                                albedo2=(0.45, 0.25, 0.1), cell=0.11))
    sphere = Sphere(center=(0.75, 0.75, 0.25), radius=0.25, material=_GREEN_CHECKER)
    return Scene((_FLOOR, ball, box, sphere), _LIGHTS)


SCENES: dict[str, Callable[[float], Scene]] = {
    "spheres": _spheres, "dynamic": _dynamic, "transparent": _transparent}
BACKGROUNDS = {"white": 1.0, "black": 0.0}


def scene_at(name: str, time: float = 0.0) -> Scene:
    """The named scene (`SCENES`) at time in [0, 1]."""
    if name not in SCENES:
        raise ValueError(f"unknown scene {name!r}; valid scenes: {sorted(SCENES)}")
    if not 0.0 <= time <= 1.0:
        raise ValueError(f"time must be in [0, 1], got {time!r}")
    return SCENES[name](float(time))


def scene_bounding_radius(name: str) -> float:
    """Radius of a ball around the origin holding the scene at every time (101 times for motion)."""
    return max(scene_at(name, t).bounding_radius() for t in np.linspace(0.0, 1.0, 101))


def render_view(scene: str | Scene, c2w, intrinsics: cameras.Intrinsics, time: float = 0.0,
                background: str = "white") -> dict[str, np.ndarray]:
    """Renders one view of a scene (a `SCENES` name at `time`, or a `Scene`).

    Args:
        c2w: camera-to-world [3, 4] or [4, 4], OpenGL convention.
        intrinsics: the camera (image size and pinhole parameters).
        background: 'white' or 'black', the colour behind everything.

    Returns:
        `rgb` float32 [H, W, 3] in [0, 1] (composited over the background), `alpha` float32 [H, W]
        (1 on opaque hits, 0 on background), `depth` float32 [H, W] (z-depth of the first surface,
        0 on background), for the rays of `cameras.pixel_rays` through the pixel centers.
    """
    if isinstance(scene, str):
        scene = scene_at(scene, time)
    sources.check_choice("render_view", "background", background, tuple(BACKGROUNDS))
    if not isinstance(intrinsics, cameras.Intrinsics):
        raise TypeError(f"intrinsics must be a cameras.Intrinsics, got {type(intrinsics).__name__}")
    origins, directions = cameras.pixel_rays(c2w, intrinsics)
    h, w = intrinsics.height, intrinsics.width
    rgb, alpha, depth = render_rays(scene, np.asarray(origins).reshape(-1, 3),
                                    np.asarray(directions).reshape(-1, 3), BACKGROUNDS[background])
    return {"rgb": rgb.reshape(h, w, 3).astype(np.float32),
            "alpha": alpha.reshape(h, w).astype(np.float32),
            "depth": depth.reshape(h, w).astype(np.float32)}


# ------------------------------------------------------------------------------------------------
# Cameras of the dataset splits.
# ------------------------------------------------------------------------------------------------

SEED = 2_025
SPLITS = ("train", "val", "test")
_SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
CAMERA_RADIUS = 4.0
FOV_X = 0.6911112070083618  # camera_angle_x of NeRF's Blender scenes (39.6 degrees).
TRAIN_ELEVATION_DEG = (10.0, 70.0)
TEST_ELEVATION_DEG = 30.0


def split_cameras(split: str, num: int) -> tuple[np.ndarray, np.ndarray]:
    """Cameras and times of a split: (c2w float32 [num, 4, 4], time float32 [num]).

    train/val: view i from `numpy.random.default_rng([SEED, split, i])` (split 0 train, 1 val):
    uniform by area on the band of elevations `TRAIN_ELEVATION_DEG` at distance `CAMERA_RADIUS`
    (sin(elevation) and azimuth uniform), time uniform in [0, 1] except training view 0 at time 0
    (D-NeRF's deformation is pinned to 0 at t = 0, so its data include a t = 0 frame, as theirs do);
    so view i does not depend on `num`, and train and val cameras differ. test: a turntable at `TEST_ELEVATION_DEG`, azimuth
    360 i / num, time i / (num - 1) (a video of the motion while the camera circles).
    """
    sources.check_choice("synthetic_scenes", "split", split, SPLITS)
    if split == "test":
        c2w = cameras.turntable_poses(num, CAMERA_RADIUS, TEST_ELEVATION_DEG)
        times = np.arange(num) / max(num - 1, 1)
    else:
        u = np.stack([np.random.default_rng([SEED, _SPLIT_IDS[split], i]).random(3)
                      for i in range(num)])
        sin_low, sin_high = np.sin(np.radians(TRAIN_ELEVATION_DEG))
        elevation = np.degrees(np.arcsin(sin_low + u[:, 0] * (sin_high - sin_low)))
        c2w = cameras.orbit_poses(360.0 * u[:, 1], elevation, CAMERA_RADIUS)
        times = u[:, 2]
        if split == "train" and num:
            times[0] = 0.0
    return np.asarray(cameras.to_homogeneous(c2w)), times.astype(np.float32)


def near_far(scene: str) -> tuple[float, float]:
    """Depth bounds of every view: CAMERA_RADIUS -+ the scene's bounding radius (near >= 0.1)."""
    radius = scene_bounding_radius(scene)
    return max(CAMERA_RADIUS - radius, 0.1), CAMERA_RADIUS + radius


# ------------------------------------------------------------------------------------------------
# The TFDS builder.
# ------------------------------------------------------------------------------------------------

DEFAULT_SCENE, DEFAULT_IMAGE_SIZE, DEFAULT_BACKGROUND = "spheres", 64, "white"
IMAGE_SIZE_RANGE = (8, 512)
NUM_TRAIN, NUM_VAL, NUM_TEST = 100, 10, 20


@dataclasses.dataclass(eq=False)
class SyntheticScenesConfig(tfds.core.BuilderConfig):
    scene: str = DEFAULT_SCENE
    image_size: int = DEFAULT_IMAGE_SIZE
    background: str = DEFAULT_BACKGROUND
    num_train: int = NUM_TRAIN
    num_val: int = NUM_VAL
    num_test: int = NUM_TEST


class SyntheticScenes(sources.LocalCodePath, tfds.core.GeneratorBasedBuilder):
    """Views of procedural 3-D scenes ray-traced analytically, with exact alpha and depth.

    The NeRF-synthetic setting (Mildenhall et al. 2020) at small scale: square images of a scene
    inside the ball of radius ~2.3 around the origin, seen by cameras at distance 4 looking at the
    origin with NeRF's Blender field of view (camera_angle_x 0.6911), z up. Scenes (`SCENES`):
    `spheres` (default; three spheres, one glossy, one checkered, and a striped box on a checkered
    floor, two lights with shadows), `transparent` (plus a translucent floating sphere: fractional
    alpha where only it is hit) and `dynamic` (objects move with time t in [0, 1], for D-NeRF).

    Splits (see `split_cameras`): `train` (100 views) and `val` (10) from random cameras on the
    band of elevations 10..70 degrees with random times, `test` (20) a turntable at 30 degrees with
    times evenly spaced over [0, 1]; deterministic (the same bytes every build). Every scene gets
    times, so a time-conditioned model can also run on a static scene.

    Features (one record per view):
      - `image` uint8 [S, S, 3]: colour composited over the background (white or black, config);
      - `alpha` float32 [S, S]: 1 where an opaque surface is hit, 0 on background, the opacity of
        the translucent surfaces where only those are hit;
      - `depth` float32 [S, S]: z-depth (t along `cameras.pixel_rays` directions) of the first
        surface hit, 0 on background;
      - `c2w` float32 [4, 4] camera-to-world (OpenGL: x right, y up, looking along -z);
      - `intrinsics` float32 [4]: (fx, fy, cx, cy) in pixels;
      - `time` float32 in [0, 1].
    Metadata: `near`, `far` (bounds on the depth of every surface in every view), `scene`,
    `background`, `camera_radius`, `fov_x`, `image_size`.

    Configs: `scene` in `SCENES`, `image_size` 8..512 (default 64), `background` white|black,
    `num_train`/`num_val`/`num_test`; each combination is stored under its own config name.
    """

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "Initial release.", "1.1.0": "Training view 0 at time 0 (D-NeRF pins t = 0)."}
    BUILDER_CONFIGS = [SyntheticScenesConfig(name=name, scene=name) for name in SCENES]
    DEFAULT_CONFIG_NAME = DEFAULT_SCENE

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        s = cfg.image_size
        near, far = near_far(cfg.scene)
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=(s, s, 3), dtype=np.uint8, encoding="zlib"),
                "alpha": tfds.features.Tensor(shape=(s, s), dtype=np.float32, encoding="zlib"),
                "depth": tfds.features.Tensor(shape=(s, s), dtype=np.float32, encoding="zlib",
                                              doc="z-depth of the first surface; 0 on background."),
                "c2w": tfds.features.Tensor(shape=(4, 4), dtype=np.float32,
                                            doc="Camera-to-world, OpenGL convention."),
                "intrinsics": tfds.features.Tensor(shape=(4,), dtype=np.float32,
                                                   doc="(fx, fy, cx, cy) in pixels."),
                "time": tfds.features.Scalar(np.float32, doc="Time in [0, 1]."),
            }),
            disable_shuffling=True,
            metadata=tfds.core.MetadataDict(
                scene=cfg.scene, background=cfg.background, near=near, far=far,
                camera_radius=CAMERA_RADIUS, fov_x=FOV_X, image_size=s),
            citation="Mildenhall et al., NeRF: Representing Scenes as Neural Radiance Fields for "
                     "View Synthesis, ECCV 2020.",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download.
        cfg = self.builder_config
        return {"train": self._generate_examples("train", cfg.num_train),
                "val": self._generate_examples("val", cfg.num_val),
                "test": self._generate_examples("test", cfg.num_test)}

    def _generate_examples(self, split: str, num: int):
        cfg = self.builder_config
        c2w, times = split_cameras(split, num)
        intrinsics = cameras.Intrinsics.from_fov(cfg.image_size, cfg.image_size, FOV_X)
        for i in range(num):
            view = render_view(cfg.scene, c2w[i], intrinsics, float(times[i]), cfg.background)
            yield i, {"image": np.round(view["rgb"] * 255.0).astype(np.uint8),
                      "alpha": view["alpha"], "depth": view["depth"], "c2w": c2w[i],
                      "intrinsics": intrinsics.as_array(), "time": times[i]}


_CONFIG_KEYS = ("scene", "image_size", "background", "num_train", "num_val", "num_test")


def make_builder(data_dir: str, **config) -> SyntheticScenes:
    """Builder for `get_source('synthetic_scenes', split, scene=, image_size=, background=,
    num_train=, num_val=, num_test=)`."""
    name = "synthetic_scenes"
    sources.check_config_keys(name, config, _CONFIG_KEYS)
    scene = config.get("scene", DEFAULT_SCENE)
    sources.check_choice(name, "scene", scene, tuple(SCENES))
    image_size = config.get("image_size", DEFAULT_IMAGE_SIZE)
    low, high = IMAGE_SIZE_RANGE
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or not (
            low <= image_size <= high):
        raise ValueError(f"{name}: image_size must be an integer in [{low}, {high}], "
                         f"got {image_size!r}")
    background = config.get("background", DEFAULT_BACKGROUND)
    sources.check_choice(name, "background", background, tuple(BACKGROUNDS))
    counts = tuple(sources.check_count(name, key, config.get(key, default)) for key, default in
                   (("num_train", NUM_TRAIN), ("num_val", NUM_VAL), ("num_test", NUM_TEST)))
    image_size = int(image_size)
    if (image_size, background, counts) == (DEFAULT_IMAGE_SIZE, DEFAULT_BACKGROUND,
                                            (NUM_TRAIN, NUM_VAL, NUM_TEST)):
        builder_config = scene
    else:
        builder_config = SyntheticScenesConfig(
            name=f"{scene}_{image_size}px_{background}_train{counts[0]}_val{counts[1]}"
                 f"_test{counts[2]}",
            scene=scene, image_size=image_size, background=background, num_train=counts[0],
            num_val=counts[1], num_test=counts[2])
    return SyntheticScenes(data_dir=data_dir, config=builder_config, file_format="array_record")


# ------------------------------------------------------------------------------------------------
# Stacked splits: the arrays a NeRF trainer wants.
# ------------------------------------------------------------------------------------------------


def _views(images, alphas, depths, c2w, intrinsics, times, near, far, background, **extra):
    """The dict every loader returns (see `load_split`); no `depths` key when depth is unknown."""
    images = np.asarray(images, np.float32)
    views = {"images": images, "alphas": np.asarray(alphas, np.float32),
             "c2w": np.asarray(c2w, np.float32), "intrinsics": np.asarray(intrinsics, np.float32),
             "times": np.asarray(times, np.float32), "height": images.shape[1],
             "width": images.shape[2], "near": float(near), "far": float(far),
             "background": background, **extra}
    if depths is not None:
        views["depths"] = np.asarray(depths, np.float32)
    return views


def load_split(name: str = "synthetic_scenes", split: str = "train", *, data_dir: str | None = None,
               **config) -> dict[str, Any]:
    """All views of a split of an embedded scene dataset, stacked (prepared on first use).

    Args:
        name: the dataset (`'synthetic_scenes'`).
        split: 'train', 'val' or 'test' (TFDS slicing allowed).
        data_dir, **config: as `sources.get_source` (scene, image_size, background, num_*).

    Returns:
        `images` float32 [N, H, W, 3] in [0, 1] (composited over `background`), `alphas` float32
        [N, H, W], `depths` float32 [N, H, W] (z-depth, 0 on background; absent for real data),
        `c2w` float32 [N, 4, 4] (OpenGL), `intrinsics` float32 [N, 4] (fx, fy, cx, cy), `times`
        float32 [N], `height`, `width` ints, `near`, `far` floats (depth bounds for ray sampling),
        `background` ('white'/'black', or None when images are not composited).
    """
    source = sources.get_source(name, split, data_dir=data_dir, **config)
    records = source.__getitems__(range(len(source)))

    def stack(key):
        return np.stack([r[key] for r in records])

    return _views(stack("image").astype(np.float32) / 255.0, stack("alpha"), stack("depth"),
                  stack("c2w"), stack("intrinsics"), stack("time"), source.metadata["near"],
                  source.metadata["far"], source.metadata["background"])


# ------------------------------------------------------------------------------------------------
# Real data in local folders.
# ------------------------------------------------------------------------------------------------

BLENDER_NEAR, BLENDER_FAR = 2.0, 6.0  # NeRF's bounds for its Blender scenes.
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def _check_folder(folder, kind: str) -> str:
    folder = os.path.expanduser(os.fspath(folder))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{kind} folder {folder!r} does not exist (or is not a directory)")
    return folder


def _read_rgba(path: str) -> np.ndarray:
    """PNG/JPEG -> float64 [H, W, 4] in [0, 1] (alpha 1 for images without one)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"), np.float64) / 255.0


def _blender_frame_path(folder: str, file_path: str, transforms: str) -> str:
    # NeRF's files give paths like './train/r_0', without the '.png'.
    path = os.path.normpath(os.path.join(folder, file_path))
    for candidate in (path, path + ".png"):
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"{transforms}: frame file_path {file_path!r} names no image "
                            f"(tried {path!r} and {path + '.png'!r})")


def load_blender(folder, split: str = "train", white_background: bool = True,
                 downscale: int = 1) -> dict[str, Any]:
    """A split of a NeRF-synthetic ("Blender") scene folder, as `load_split` returns it.

    The folder holds `transforms_{split}.json` with `camera_angle_x` (horizontal field of view,
    radians) and `frames`, each with `file_path` (relative to the folder, '.png' optional) and
    `transform_matrix` (camera-to-world 4x4, already OpenGL); D-NeRF's folders add a per-frame
    `time`, read when present (else 0). Images are RGBA; colour is composited over white or black,
    rgb a + (1 - a) background (PNG alpha is straight, not premultiplied). `downscale` d > 1
    averages d x d blocks of premultiplied colour and alpha (an exact area filter; the sizes must
    be divisible). No `depths`; near/far are NeRF's 2 and 6.
    """
    folder = _check_folder(folder, "Blender scene")
    path = os.path.join(folder, f"transforms_{split}.json")
    if not os.path.isfile(path):
        found = sorted(f for f in os.listdir(folder) if f.startswith("transforms_"))
        raise FileNotFoundError(f"{path} does not exist; the folder has {found or 'no transforms_*.json'}")
    if isinstance(downscale, bool) or not isinstance(downscale, (int, np.integer)) or downscale < 1:
        raise ValueError(f"downscale must be a positive integer, got {downscale!r}")
    try:
        with open(path) as f:
            meta = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    for key in ("camera_angle_x", "frames"):
        if key not in meta:
            raise ValueError(f"{path}: missing key {key!r} (keys: {sorted(meta)})")
    frames = meta["frames"]
    if not isinstance(frames, list) or not frames:
        raise ValueError(f"{path}: 'frames' must be a non-empty list")

    rgba, c2w, times = [], [], []
    for i, frame in enumerate(frames):
        for key in ("file_path", "transform_matrix"):
            if key not in frame:
                raise ValueError(f"{path}: frames[{i}] is missing key {key!r} (keys: {sorted(frame)})")
        image_path = _blender_frame_path(folder, frame["file_path"], path)
        image = _read_rgba(image_path)
        if rgba and image.shape != rgba[0].shape:
            raise ValueError(f"{image_path} is {image.shape[1]}x{image.shape[0]} pixels but "
                             f"frames[0] is {rgba[0].shape[1]}x{rgba[0].shape[0]}")
        matrix = np.asarray(frame["transform_matrix"], np.float64)
        if matrix.shape not in ((4, 4), (3, 4)):
            raise ValueError(f"{path}: frames[{i}].transform_matrix must be 4x4, got shape "
                             f"{matrix.shape}")
        rgba.append(image)
        c2w.append(np.asarray(cameras.to_homogeneous(matrix)))
        times.append(float(frame.get("time", 0.0)))
    rgba = np.stack(rgba)
    n, h, w, _ = rgba.shape
    if downscale > 1:
        if h % downscale or w % downscale:
            raise ValueError(f"downscale={downscale} does not divide the image size {w}x{h}")
        premultiplied = np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], -1)
        h, w = h // downscale, w // downscale
        premultiplied = premultiplied.reshape(n, h, downscale, w, downscale, 4).mean((2, 4))
        colour, alpha = premultiplied[..., :3], premultiplied[..., 3]
    else:
        colour, alpha = rgba[..., :3] * rgba[..., 3:], rgba[..., 3]
    background = "white" if white_background else "black"
    images = colour + (1.0 - alpha[..., None]) * BACKGROUNDS[background]
    intrinsics = cameras.Intrinsics.from_fov(h, w, float(meta["camera_angle_x"]))
    return _views(images, alpha, None, np.stack(c2w), np.tile(intrinsics.as_array(), (n, 1)), times,
                  BLENDER_NEAR, BLENDER_FAR, background)


LLFF_SPLITS = ("all", "train", "test")


def load_llff(folder, factor: int | None = None, *, split: str = "all", holdout: int = 8,
              recenter: bool = True, bd_factor: float | None = 0.75) -> dict[str, Any]:
    """An LLFF forward-facing scene folder (Mildenhall et al. 2019), as `load_split` returns it.

    The folder holds `poses_bounds.npy` ([N, 17]: see `cameras.llff_to_opengl`; poses converted to
    OpenGL) and N images (png/jpg, sorted by name) in `images/`, or with `factor` in
    `images_{factor}/` (made by LLFF's downsampling) or, if that folder is missing, `images/`
    downsized here by `factor` (box filter). Per view, the pose's (H, W, focal) is scaled to the
    image's size: fx = focal w / W, fy = focal h / H, principal point at the image center.

    Like NeRF's loader: with `bd_factor` the positions and bounds are scaled by
    1 / (bd_factor min bound) (the nearest bound becomes 1 / bd_factor); with `recenter` the poses
    are expressed in the frame of their average pose (`cameras.recenter_poses`); `near`, `far` are
    0.9 x the smallest and the largest bound over all views; split 'test' is every `holdout`-th
    view (0, 8, ...), 'train' the others, 'all' every view. Photos are opaque: alphas 1, no
    `depths`, times 0, background None; `bounds` float32 [N, 2] holds the per-view (scaled) bounds.
    """
    folder = _check_folder(folder, "LLFF scene")
    sources.check_choice("load_llff", "split", split, LLFF_SPLITS)
    holdout = sources.check_count("load_llff", "holdout", holdout)
    path = os.path.join(folder, "poses_bounds.npy")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist (an LLFF folder holds poses_bounds.npy "
                                "and images/)")
    if factor is not None and (isinstance(factor, bool) or not isinstance(factor, (int, np.integer))
                               or factor < 1):
        raise ValueError(f"factor must be None or a positive integer, got {factor!r}")
    try:
        c2w, hwf, bounds = (np.asarray(a, np.float64) for a in
                            cameras.llff_to_opengl(np.load(path, allow_pickle=False)))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    n = len(c2w)

    factor = None if factor == 1 else factor
    image_dir, resize = os.path.join(folder, "images"), False
    if factor is not None:
        if os.path.isdir(os.path.join(folder, f"images_{factor}")):
            image_dir = os.path.join(folder, f"images_{factor}")
        else:
            resize = True
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"image folder {image_dir} does not exist")
    names = sorted(f for f in os.listdir(image_dir) if f.lower().endswith(_IMAGE_EXTENSIONS))
    if len(names) != n:
        raise ValueError(f"{image_dir} has {len(names)} images but {path} has {n} poses")

    images, intrinsics = [], []
    for i, name in enumerate(names):
        height, width, focal = hwf[i]
        with Image.open(os.path.join(image_dir, name)) as image:
            image = image.convert("RGB")
            if factor is None or resize:
                if image.size != (round(width), round(height)):
                    raise ValueError(f"{os.path.join(image_dir, name)} is {image.size[0]}x"
                                     f"{image.size[1]} pixels but {path} says "
                                     f"{round(width)}x{round(height)}")
                if resize:
                    image = image.resize((round(width / factor), round(height / factor)),
                                         Image.Resampling.BOX)
            elif abs(image.size[0] - width / factor) > 1 or abs(image.size[1] - height / factor) > 1:
                raise ValueError(f"{os.path.join(image_dir, name)} is {image.size[0]}x{image.size[1]}"
                                 f" pixels, not {path}'s {round(width)}x{round(height)} / {factor}")
            pixels = np.asarray(image, np.float32) / 255.0
        if images and pixels.shape != images[0].shape:
            raise ValueError(f"{os.path.join(image_dir, name)} is {pixels.shape[1]}x"
                             f"{pixels.shape[0]} pixels but {names[0]} is "
                             f"{images[0].shape[1]}x{images[0].shape[0]}")
        h, w = pixels.shape[:2]
        images.append(pixels)
        intrinsics.append([focal * w / width, focal * h / height, 0.5 * w, 0.5 * h])

    if bd_factor is not None:
        scale = 1.0 / (bounds.min() * bd_factor)
        c2w[:, :, 3] *= scale
        bounds = bounds * scale
    if recenter:
        c2w = np.asarray(cameras.recenter_poses(c2w), np.float64)
    views = np.arange(n)
    if split == "test":
        views = views[::holdout]
    elif split == "train":
        views = np.setdiff1d(views, views[::holdout])
    images = np.stack(images)[views]
    return _views(images, np.ones(images.shape[:3]), None,
                  np.asarray(cameras.to_homogeneous(c2w))[views], np.array(intrinsics)[views],
                  np.zeros(len(views)), 0.9 * bounds.min(), bounds.max(), None,
                  bounds=bounds[views].astype(np.float32))
