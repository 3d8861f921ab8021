"""Synthetic multi-object tracking benchmark: scenes, a detector simulator and rendered frames.

A scene is a static background with static occluders (pillars, always in front) and people-like boxes
that walk at constant velocity with random turns, enter through the borders, cross each other and
leave. Objects further down the image are closer to the camera and hide the ones behind them. Each
object is one identity with its own appearance: head, top, bottom and accent colours drawn from small
palettes (so people share colours) and a pattern (plain, horizontal stripes, vertical split or checks);
a ReID network has to learn the combination to tell identities apart.

The detector simulator turns the ground truth into detections as a real detector fails:
  - visibility v = visible fraction of the box (occluders, closer objects and the image border hide it);
    boxes with v < `min_visibility` are never detected, the others with probability
    (1 - miss_rate) (0.4 + 0.6 min(1, v / 0.5));
  - score = 0.1 + 0.85 v + N(0, score_noise), clipped to [0.01, 0.99]: occluded objects get the low
    scores (0.1-0.5) that ByteTrack's second association is designed to use;
  - box jitter: N(0, jitter (2 - v)) x (w, h) on the centre and the size;
  - false positives: Poisson(fp_per_frame) boxes per frame of person-like size, score ~ Beta(2, 5).

`LEVELS` gives three difficulty levels (occlusion, crowding and detector noise). `make_sequence` builds
one camera; `make_camera_pair` two cameras that see the same identities on different paths, with
different backgrounds and a per-camera colour response (the multi-camera ReID setting). Everything is
a pure function of the seed (for a given NumPy version). Frames are rendered on demand
(`SyntheticSequence.render`) rather than stored: a 320x240 frame takes a few milliseconds, so no TFDS
dataset is kept; `write_mot_sequence` writes the MOTChallenge folder (seqinfo.ini, gt/gt.txt,
det/det.txt, img1/*.png) for the file-based tools.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from genvision_jax.tracking.mot_io import MOTTable, write_mot, write_seqinfo

_APPEARANCE_STREAM, _SCENE_STREAM, _DETECTOR_STREAM, _RENDER_STREAM = 11, 12, 13, 14
PATTERNS = ("plain", "stripes", "split", "checks")


@dataclasses.dataclass(frozen=True)
class SceneConfig:
    """Scene, motion and detector parameters (pixels, frames)."""

    width: int = 320
    height: int = 240
    num_frames: int = 300
    num_objects: int = 12                        # objects kept in the scene at a time (new ones enter)
    height_range: tuple[float, float] = (40.0, 90.0)  # box height, px
    aspect_range: tuple[float, float] = (0.35, 0.55)  # w / h
    speed_range: tuple[float, float] = (0.5, 2.5)     # px / frame
    turn_prob: float = 0.03                      # per frame
    max_turn_deg: float = 60.0
    spawn_prob: float = 0.1                      # per frame and missing object
    num_occluders: int = 3
    occluder_width: tuple[float, float] = (0.06, 0.14)   # fraction of the image width
    occluder_height: tuple[float, float] = (0.5, 1.0)    # fraction of the image height
    miss_rate: float = 0.05
    min_visibility: float = 0.15
    jitter: float = 0.05
    score_noise: float = 0.08
    fp_per_frame: float = 0.5
    pixel_noise: float = 6.0                     # std, uint8 units
    frame_rate: int = 30

    def replace(self, **changes) -> "SceneConfig":
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"unknown SceneConfig field(s) {unknown}; fields: {[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)


LEVELS = {
    "easy": dict(num_objects=8, num_occluders=1, occluder_width=(0.05, 0.08), miss_rate=0.02, jitter=0.03,
                 fp_per_frame=0.2, speed_range=(0.5, 2.0), turn_prob=0.02),
    "medium": dict(num_objects=12, num_occluders=3, occluder_width=(0.06, 0.12), miss_rate=0.05, jitter=0.05,
                   fp_per_frame=0.5, speed_range=(0.5, 2.5), turn_prob=0.03),
    "hard": dict(num_objects=16, num_occluders=5, occluder_width=(0.08, 0.16), miss_rate=0.08, jitter=0.07,
                 fp_per_frame=1.0, speed_range=(0.5, 3.0), turn_prob=0.04),
}


def level_config(level: str, width: int = 320, height: int = 240, **overrides) -> SceneConfig:
    """The SceneConfig of a difficulty level ("easy", "medium", "hard") at an image size, with overrides.

    Levels are defined at 320x240; box sizes and speeds scale with the image height.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown difficulty level {level!r}; choose one of {sorted(LEVELS)}")
    base = SceneConfig().replace(**LEVELS[level])
    scale = height / 240.0
    sized = base.replace(width=width, height=height,
                         height_range=tuple(v * scale for v in base.height_range),
                         speed_range=tuple(v * scale for v in base.speed_range))
    return sized.replace(**overrides)


# ------------------------------------------------------------------------------------------------
# Identities
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Appearance:
    """Per identity: colours uint8 [K, 3] of head, top, bottom and pattern; pattern index [K]
    (into PATTERNS); stripe count [K]."""

    head: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    accent: np.ndarray
    pattern: np.ndarray
    stripes: np.ndarray


# Clothing colours: identities draw from a small palette (with a little per-identity variation), so many
# people share colours and only the combination (and pattern) tells them apart, as with real clothes.
PALETTE = np.array([[30, 30, 30], [230, 230, 230], [128, 128, 128], [30, 40, 100], [50, 90, 200], [190, 40, 40],
                    [40, 100, 50], [200, 180, 140], [110, 70, 40], [220, 200, 50], [110, 60, 140], [140, 180, 220]],
                   np.float64)
SKIN = np.array([[224, 172, 140], [198, 134, 66], [141, 85, 36], [255, 219, 172]], np.float64)


def make_appearances(pool_seed: int, num: int) -> Appearance:
    """`num` identities of pool `pool_seed`; pools with different seeds are disjoint populations
    (train identities for ReID vs test identities)."""
    rng = np.random.default_rng([_APPEARANCE_STREAM, pool_seed])

    def colours(table):
        base = table[rng.integers(0, len(table), num)]
        return np.clip(np.round(base + rng.uniform(-12, 12, (num, 3))), 0, 255).astype(np.uint8)

    return Appearance(head=colours(SKIN), top=colours(PALETTE), bottom=colours(PALETTE), accent=colours(PALETTE),
                      pattern=rng.integers(0, len(PATTERNS), num), stripes=rng.integers(2, 6, num))


# ------------------------------------------------------------------------------------------------
# Sequences
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Camera:
    """What differs between cameras: background colours, occluders (x0, y0, x1, y1 px) and the colour
    response (per-channel gain, offset) applied to everything rendered."""

    background: np.ndarray  # float32 [H, W, 3]
    occluders: np.ndarray   # float64 [K, 4]
    occluder_colour: np.ndarray  # float32 [3]
    gain: np.ndarray        # float32 [3]
    offset: np.ndarray      # float32 [3]
    noise: np.ndarray       # float32 [2H, 2W, 3] sensor noise; each frame adds a random H x W window


@dataclasses.dataclass
class SyntheticSequence:
    """One camera's sequence.

    gt: MOTTable of objects whose box centre is inside the image (frame, id, tlwh, consider 1, class 1,
        visibility); id = identity index + 1.
    detections: MOTTable (frame, -1, tlwh, score); `det_gt_id` int64 [N] is the id each detection came
        from (-1 for false positives) and `det_visibility` its object's visibility (analysis only).
    objects: MOTTable of every object in the scene (also the ones outside), used for rendering.
    """

    name: str
    config: SceneConfig
    seed: int
    appearance: Appearance
    camera: Camera
    gt: MOTTable
    detections: MOTTable
    det_gt_id: np.ndarray
    det_visibility: np.ndarray
    objects: MOTTable

    @property
    def num_frames(self) -> int:
        return self.config.num_frames

    def render(self, frame: int) -> np.ndarray:
        """uint8 [H, W, 3] image of `frame` (1-based)."""
        if not 1 <= frame <= self.num_frames:
            raise ValueError(f"frame {frame} outside 1..{self.num_frames}")
        idx = np.nonzero(self.objects.frame == frame)[0]
        return render_frame(self.config, self.camera, self.appearance, self.objects.id[idx] - 1,
                            self.objects.tlwh[idx], np.random.default_rng([_RENDER_STREAM, self.seed, frame]))

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        for f in range(1, self.num_frames + 1):
            yield f, self.render(f)


def _random_camera(config: SceneConfig, rng: np.random.Generator, colour_shift: bool) -> Camera:
    h, w = config.height, config.width
    top, bottom = rng.uniform(60, 200, 3), rng.uniform(60, 200, 3)
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    # Low-frequency texture: a coarse random grid upsampled, so the background is not flat.
    coarse = rng.normal(0, 12, (h // 40 + 2, w // 40 + 2, 1))
    texture = np.kron(coarse, np.ones((40, 40, 1)))[:h, :w]
    background = ((1 - t) * top + t * bottom + texture).astype(np.float32)
    k = config.num_occluders
    ow = rng.uniform(*config.occluder_width, k) * w
    oh = rng.uniform(*config.occluder_height, k) * h
    ox = rng.uniform(0, w - ow)
    oy = h - oh * rng.uniform(0.8, 1.0, k) - rng.uniform(0, 0.1, k) * h
    occluders = np.stack([ox, oy, ox + ow, oy + oh], axis=1).reshape(k, 4)
    gain = rng.uniform(0.75, 1.25, 3) if colour_shift else np.ones(3)
    offset = rng.uniform(-20, 20, 3) if colour_shift else np.zeros(3)
    noise = rng.standard_normal((2 * h, 2 * w, 3), dtype=np.float32) * np.float32(config.pixel_noise)
    return Camera(background, occluders, rng.uniform(30, 90, 3).astype(np.float32), gain.astype(np.float32),
                  offset.astype(np.float32), noise)


def _simulate_motion(config: SceneConfig, rng: np.random.Generator, identities: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Object paths: (frame [N], identity index [N], tlwh [N, 4]) over all frames, including objects
    partly or wholly outside the image. Identities are used in the order given, one per new object."""
    w_img, h_img = config.width, config.height
    frames, ids, boxes = [], [], []
    alive: list[dict] = []
    next_identity = 0

    def spawn(inside: bool):
        nonlocal next_identity
        if next_identity >= len(identities):
            return
        h = rng.uniform(*config.height_range)
        w = h * rng.uniform(*config.aspect_range)
        speed = rng.uniform(*config.speed_range)
        if inside:
            cx, cy = rng.uniform(w / 2, w_img - w / 2), rng.uniform(h / 2, h_img - h / 2)
            angle = rng.uniform(0, 2 * np.pi)
        else:  # from a random border, heading inwards (within +-60 degrees of the inward normal)
            side = rng.integers(4)
            normal = [0.0, np.pi, np.pi / 2, -np.pi / 2][side]  # from left, right, top, bottom
            angle = normal + rng.uniform(-np.pi / 3, np.pi / 3)
            cx = [-w / 2, w_img + w / 2, rng.uniform(0, w_img), rng.uniform(0, w_img)][side]
            cy = [rng.uniform(h / 2, h_img - h / 2), rng.uniform(h / 2, h_img - h / 2), -h / 2, h_img + h / 2][side]
        alive.append(dict(identity=identities[next_identity], cx=cx, cy=cy, w=w, h=h,
                          vx=speed * np.cos(angle), vy=speed * np.sin(angle), age=0))
        next_identity += 1

    for _ in range(config.num_objects):
        spawn(inside=True)
    for frame in range(1, config.num_frames + 1):
        if frame > 1:
            for _ in range(config.num_objects - len(alive)):
                if rng.random() < config.spawn_prob:
                    spawn(inside=False)
        survivors = []
        for o in alive:
            if frame > 1:
                if rng.random() < config.turn_prob:
                    turn = np.deg2rad(rng.uniform(-config.max_turn_deg, config.max_turn_deg))
                    c, s = np.cos(turn), np.sin(turn)
                    o["vx"], o["vy"] = c * o["vx"] - s * o["vy"], s * o["vx"] + c * o["vy"]
                o["cx"] += o["vx"]
                o["cy"] += o["vy"]
                # Perspective: closer objects (lower in the image) look bigger.
                scale = 1.0 + 0.002 * o["vy"]
                o["w"] *= scale
                o["h"] *= scale
            o["age"] += 1
            outside = (o["cx"] + o["w"] / 2 < 0 or o["cx"] - o["w"] / 2 > w_img or
                       o["cy"] + o["h"] / 2 < 0 or o["cy"] - o["h"] / 2 > h_img)
            if outside and o["age"] > 1:
                continue  # left the scene
            survivors.append(o)
            frames.append(frame)
            ids.append(o["identity"])
            boxes.append([o["cx"] - o["w"] / 2, o["cy"] - o["h"] / 2, o["w"], o["h"]])
        alive = survivors
    return (np.asarray(frames, np.int64), np.asarray(ids, np.int64), np.asarray(boxes, np.float64).reshape(-1, 4))


def _label_map(config: SceneConfig, occluders: np.ndarray, tlwh: np.ndarray) -> np.ndarray:
    """int32 [H, W]: index of the object seen at each pixel, -1 background, -2 occluder.

    Objects are painted far to near (by the bottom edge), occluders last.
    """
    labels = np.full((config.height, config.width), -1, np.int32)
    for i in np.argsort(tlwh[:, 1] + tlwh[:, 3], kind="stable"):
        x0, y0, x1, y1 = _pixel_box(tlwh[i], config)
        labels[y0:y1, x0:x1] = i
    for occ in occluders:
        x0, y0, x1, y1 = _pixel_box(np.r_[occ[:2], occ[2:] - occ[:2]], config)
        labels[y0:y1, x0:x1] = -2
    return labels


def _pixel_box(tlwh: np.ndarray, config: SceneConfig) -> tuple[int, int, int, int]:
    """Rounded pixel extent of a tlwh box, clipped to the image."""
    left, top, w, h = (float(v) for v in tlwh)
    x0, x1 = (min(max(round(v), 0), config.width) for v in (left, left + w))
    y0, y1 = (min(max(round(v), 0), config.height) for v in (top, top + h))
    return x0, y0, x1, y1


def visibilities(config: SceneConfig, occluders: np.ndarray, tlwh: np.ndarray) -> np.ndarray:
    """Visible fraction [N] of each box of one frame (its pixels not hidden, over its full area)."""
    if len(tlwh) == 0:
        return np.zeros(0)
    labels = _label_map(config, occluders, tlwh)
    seen = np.bincount(labels[labels >= 0].ravel(), minlength=len(tlwh))
    area = np.maximum(np.round(tlwh[:, 2]) * np.round(tlwh[:, 3]), 1.0)
    return np.clip(seen / area, 0.0, 1.0)


def _simulate_detector(config: SceneConfig, rng: np.random.Generator, gt: MOTTable):
    """Detections from the ground truth (module docstring): (MOTTable, source gt id [N], visibility [N])."""
    rows, source, vis_out = [], [], []
    for frame in range(1, config.num_frames + 1):
        idx = np.nonzero(gt.frame == frame)[0]
        v = gt.vis[idx]
        p_detect = (1 - config.miss_rate) * (0.4 + 0.6 * np.minimum(1.0, v / 0.5))
        hit = (v >= config.min_visibility) & (rng.random(len(idx)) < p_detect)
        idx, v = idx[hit], v[hit]
        tlwh = gt.tlwh[idx]
        sigma = config.jitter * (2.0 - v)[:, None] * tlwh[:, 2:]
        centre = tlwh[:, :2] + tlwh[:, 2:] / 2 + rng.normal(size=(len(idx), 2)) * sigma
        size = np.maximum(tlwh[:, 2:] + rng.normal(size=(len(idx), 2)) * sigma, 2.0)
        score = np.clip(0.1 + 0.85 * v + rng.normal(0, config.score_noise, len(idx)), 0.01, 0.99)
        n_fp = rng.poisson(config.fp_per_frame)
        fp_h = rng.uniform(*config.height_range, n_fp)
        fp_w = fp_h * rng.uniform(*config.aspect_range, n_fp)
        fp_xy = rng.uniform(0, 1, (n_fp, 2)) * [config.width, config.height] - np.stack([fp_w, fp_h], 1) / 2
        fp_score = rng.beta(2, 5, n_fp)
        boxes = np.concatenate([np.column_stack([centre - size / 2, size]), np.column_stack([fp_xy, fp_w, fp_h])])
        rows.append(np.column_stack([np.full(len(boxes), frame), boxes, np.concatenate([score, fp_score])]))
        source.append(np.concatenate([gt.id[idx], np.full(n_fp, -1)]))
        vis_out.append(np.concatenate([v, np.zeros(n_fp)]))
    data = np.concatenate(rows) if rows else np.zeros((0, 6))
    table = MOTTable.from_columns(data[:, 0], np.full(len(data), -1), data[:, 1:5], data[:, 5])
    return table, np.concatenate(source).astype(np.int64), np.concatenate(vis_out)


def _build(name: str, config: SceneConfig, seed: int, appearance: Appearance, identity_order: np.ndarray,
           colour_shift: bool) -> SyntheticSequence:
    scene_rng = np.random.default_rng([_SCENE_STREAM, seed])
    camera = _random_camera(config, scene_rng, colour_shift)
    frame, ident, tlwh = _simulate_motion(config, scene_rng, identity_order)
    vis = np.zeros(len(frame))
    for f in range(1, config.num_frames + 1):
        idx = np.nonzero(frame == f)[0]
        vis[idx] = visibilities(config, camera.occluders, tlwh[idx])
    objects = MOTTable.from_columns(frame, ident + 1, tlwh, classes=np.ones(len(frame)), vis=vis)
    centre = tlwh[:, :2] + tlwh[:, 2:] / 2
    inside = (centre[:, 0] >= 0) & (centre[:, 0] < config.width) & (centre[:, 1] >= 0) & (centre[:, 1] < config.height)
    gt = objects.select(inside)
    dets, source, det_vis = _simulate_detector(config, np.random.default_rng([_DETECTOR_STREAM, seed]), gt)
    return SyntheticSequence(name, config, seed, appearance, camera, gt, dets, source, det_vis, objects)


def make_sequence(config: SceneConfig, seed: int, name: str | None = None) -> SyntheticSequence:
    """One camera; its identities are a fresh population drawn from `seed` (never seen in other seeds)."""
    _check(config)
    capacity = config.num_objects + int(np.ceil(config.num_frames * config.spawn_prob * config.num_objects)) + 1
    appearance = make_appearances(seed, capacity)
    return _build(name or f"synthetic-{seed}", config, seed, appearance, np.arange(capacity), colour_shift=False)


def make_camera_pair(config: SceneConfig, seed: int, num_identities: int | None = None
                     ) -> tuple[SyntheticSequence, SyntheticSequence]:
    """Two cameras over one population of `num_identities` (default 2 x num_objects): each identity
    walks through both, on different paths and at different times; camera 2 has a different colour
    response. GT ids are shared across the cameras (id = identity index + 1)."""
    _check(config)
    n = num_identities or 2 * config.num_objects
    appearance = make_appearances(seed, n)
    order_rng = np.random.default_rng([_SCENE_STREAM, seed, 2])
    cams = []
    for c in range(2):
        cams.append(_build(f"synthetic-{seed}-cam{c + 1}", config, seed * 2 + c + 1_000_003, appearance,
                           order_rng.permutation(n), colour_shift=c == 1))
    return cams[0], cams[1]


def _check(config: SceneConfig) -> None:
    if config.width < 32 or config.height < 32:
        raise ValueError(f"image must be at least 32x32 px, got {config.width}x{config.height}")
    if config.num_frames < 1 or config.num_objects < 1:
        raise ValueError(f"num_frames and num_objects must be >= 1, got {config.num_frames}, {config.num_objects}")
    if not 0 <= config.miss_rate <= 1 or config.fp_per_frame < 0:
        raise ValueError(f"miss_rate must be in [0, 1] and fp_per_frame >= 0, got {config.miss_rate}, "
                         f"{config.fp_per_frame}")
    if config.height_range[0] <= 0 or config.height_range[1] < config.height_range[0]:
        raise ValueError(f"height_range must be positive and increasing, got {config.height_range}")


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------


def _person_patch(appearance: Appearance, identity: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float32 [len(rows), len(cols), 3] colours at relative box coordinates rows, cols in [0, 1)."""
    a = appearance
    r, c = rows[:, None], cols[None, :]
    # Part index per pixel: 0 head, 1 top, 2 top pattern (accent colour), 3 bottom.
    part = np.where(r < 0.55, 1 + _pattern_mask(a.pattern[identity], a.stripes[identity], r, c), 3)
    part = np.where(r < 0.16, 0, part)
    palette = np.stack([a.head[identity], a.top[identity], a.accent[identity], a.bottom[identity]]).astype(np.float32)
    return palette[part]


def _pattern_mask(pattern: int, stripes: int, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    name = PATTERNS[pattern]
    if name == "stripes":
        return (np.floor(r * 2 * stripes / 0.55) % 2 == 1) & np.ones_like(c, bool)
    if name == "split":
        return (c >= 0.5) & np.ones_like(r, bool)
    if name == "checks":
        return (np.floor(r * 2 * stripes / 0.55) + np.floor(c * stripes)) % 2 == 1
    return np.zeros(np.broadcast_shapes(r.shape, c.shape), bool)


def render_frame(config: SceneConfig, camera: Camera, appearance: Appearance, identities: np.ndarray,
                 tlwh: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 [H, W, 3]: background, objects far to near, occluders, colour response, pixel noise."""
    image = camera.background.copy()
    for i in np.argsort(tlwh[:, 1] + tlwh[:, 3], kind="stable"):
        x0, y0, x1, y1 = _pixel_box(tlwh[i], config)
        if x1 <= x0 or y1 <= y0:
            continue
        rows = (np.arange(y0, y1) + 0.5 - tlwh[i, 1]) / tlwh[i, 3]
        cols = (np.arange(x0, x1) + 0.5 - tlwh[i, 0]) / tlwh[i, 2]
        image[y0:y1, x0:x1] = _person_patch(appearance, int(identities[i]), rows, cols)
    for occ in camera.occluders:
        x0, y0, x1, y1 = _pixel_box(np.r_[occ[:2], occ[2:] - occ[:2]], config)
        shade = 1.0 + 0.15 * np.sin(np.arange(x0, x1) * 0.7)[None, :, None]  # bark-like texture
        image[y0:y1, x0:x1] = camera.occluder_colour * shade
    image *= camera.gain
    image += camera.offset
    h, w = config.height, config.width
    dy, dx = rng.integers(0, h), rng.integers(0, w)
    image += camera.noise[dy:dy + h, dx:dx + w]
    np.rint(image, out=image)
    np.clip(image, 0, 255, out=image)
    return image.astype(np.uint8)


# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------


def write_mot_sequence(sequence: SyntheticSequence, directory: str | os.PathLike, images: bool = True) -> Path:
    """Writes `directory/<name>/` in the MOTChallenge layout; returns that folder."""
    from PIL import Image  # pylint: disable=g-import-not-at-top

    seq_dir = Path(directory) / sequence.name
    c = sequence.config
    write_seqinfo(seq_dir, sequence.name, c.num_frames, c.width, c.height, c.frame_rate)
    write_mot(seq_dir / "gt" / "gt.txt", sequence.gt, kind="gt")
    write_mot(seq_dir / "det" / "det.txt", sequence.detections, kind="det")
    if images:
        (seq_dir / "img1").mkdir(parents=True, exist_ok=True)
        for f, image in sequence.frames():
            Image.fromarray(image).save(seq_dir / "img1" / f"{f:06d}.png")
    return seq_dir
