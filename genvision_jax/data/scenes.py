"""The analytic ray tracer behind the `synthetic_scenes` dataset: procedural 3-D scenes with exact depth.

Spheres, oriented boxes and a finite checkered floor; Blinn-Phong shading with textures, hard
shadows, translucency; numpy float64, vectorised over rays: `render_view(scene, c2w, intrinsics,
time, background)` -> rgb, alpha, depth. The scenes (`SCENES`), the split cameras (`split_cameras`)
and the depth bounds (`near_far`) the TFDS builder (`genvision_jax.data.datasets.synthetic_scenes`)
stores.

Cameras follow `genvision_jax.rendering.cameras`: OpenGL/Blender camera-to-world (x right, y up,
looking along -z), world z up, rays o + t d with unnormalized d so that t is z-depth.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from genvision_jax.errors import ConfigError
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
    if background not in BACKGROUNDS:
        raise ConfigError(f"render_view: background={background!r} is not offered; valid values: {list(BACKGROUNDS)}")
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
    if split not in SPLITS:
        raise ConfigError(f"synthetic_scenes: split={split!r} is not offered; valid values: {list(SPLITS)}")
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
