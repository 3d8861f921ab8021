"""Drawing of the `synthetic_faces` dataset: identity and nuisance attributes from indices, and the
image from attributes.

A face is drawn front-on in unit coordinates (x right, y down, the image is [0, 1]^2) at SUPERSAMPLE x
resolution with PIL and box-filtered down (anti-aliasing). Identity fixes the geometry and colours that
a face-recognition model should rely on (face shape, jaw, eye/nose/mouth geometry, eye colour, skin tone);
every picture of the identity draws its own nuisance attributes (pose, expression, lighting, hair,
glasses, hat or mask, age cue, background, clothing).

Pose is a 2.5-D approximation: a part at depth d (in face half-widths; eyes 0.55, mouth 0.7, nose 1.0)
moves by d * sin(yaw) * half-width sideways and d * sin(pitch) * half-height vertically, the face outline
narrows by cos(yaw) on the side turned away, and the far eye and ear shrink. Lighting multiplies the skin
by 1 + strength * <p - centre, l> / half-width along the light direction l.

Only numpy and PIL, so render worker processes (`python -m genvision_jax.data.face_drawing`) start fast.
The TFDS builder is in `datasets/synthetic_faces.py`.
"""

from __future__ import annotations

import functools
import sys

import numpy as np
from PIL import Image, ImageDraw

SEED = 4_321
SPLIT_IDS = {"train": 0, "test": 1}
SUPERSAMPLE = 4

SKIN_TONES = ("very_light", "light", "medium", "tan", "brown", "dark")
_SKIN_RGB = np.array([[246, 218, 196], [232, 190, 160], [208, 160, 120], [180, 128, 90], [140, 92, 60],
                      [96, 62, 42]], np.float64)
EYE_COLORS = ("brown", "dark_brown", "blue", "green", "gray")
_EYE_RGB = np.array([[120, 72, 40], [60, 36, 20], [70, 120, 190], [70, 140, 80], [120, 130, 140]], np.float64)
HAIR_COLORS = ("black", "brown", "blond", "red", "gray", "blue")
_HAIR_RGB = np.array([[28, 24, 22], [96, 62, 36], [220, 190, 110], [170, 70, 30], [165, 165, 170],
                      [50, 90, 200]], np.float64)
HAIR_STYLES = ("bald", "short", "fringe", "long", "side_part")
# Identity vector layout (all in [0, 1] before mapping to geometry); stored as `identity_vector`.
IDENTITY_FIELDS = ("face_width", "face_elongation", "jaw", "eye_spacing", "eye_size", "eye_height",
                   "brow_thickness", "nose_length", "nose_width", "mouth_width", "lip_thickness",
                   "skin_jitter")
P_GLASSES, P_HAT, P_MASK = 0.25, 0.15, 0.12


def _identity_rng(split: str, identity: int) -> np.random.Generator:
    return np.random.default_rng([SEED, SPLIT_IDS[split], identity])


def sample_identity(split: str, identity: int) -> dict[str, np.ndarray]:
    """The identity's fixed attributes, seeded from (SEED, split, identity) alone."""
    rng = _identity_rng(split, identity)
    vector = rng.random(len(IDENTITY_FIELDS)).astype(np.float32)
    return {"identity": np.int64(identity), "identity_vector": vector,
            "skin_tone": np.int64(rng.integers(len(SKIN_TONES))), "eye_color": np.int64(rng.integers(len(EYE_COLORS)))}


def sample_attributes(split: str, identity: int, image: int) -> dict[str, np.ndarray]:
    """All generating attributes of picture `image` of `identity` (every feature but `image`).

    Nuisances are seeded from (SEED, split, identity, image); floats are rounded to float32 before
    rendering, so `render(sample_attributes(...), size)` equals the stored image.
    """
    out = sample_identity(split, identity)
    rng = np.random.default_rng([SEED, SPLIT_IDS[split], identity, image + 1])
    u = rng.random(16)
    f32 = np.float32
    age = f32(u[6])
    hair_color = int(rng.integers(len(HAIR_COLORS)))
    if age > 0.85 and u[7] < 0.7:  # Old faces go gray more often.
        hair_color = HAIR_COLORS.index("gray")
    occluder = rng.random()
    hat = occluder < P_HAT
    mask = (not hat) and occluder < P_HAT + P_MASK
    gradient = u[10] < 0.5
    background = np.minimum(np.floor(256 * rng.random(3)), 255).astype(np.uint8)
    background_end = np.minimum(np.floor(256 * rng.random(3)), 255).astype(np.uint8) if gradient else background
    out.update({
        "image_index": np.int64(image),
        "yaw": f32(-35.0 + 70.0 * u[0]),                 # degrees, + = turned to the image's right
        "pitch": f32(-15.0 + 30.0 * u[1]),               # degrees, + = looking down
        "roll": f32(-10.0 + 20.0 * u[2]),                # degrees counter-clockwise
        "smile": f32(-0.3 + 1.3 * u[3]),                 # -0.3 frown .. 1 open smile (teeth > 0.6)
        "light_angle": f32(360.0 * u[4]),                # direction light comes from, degrees
        "light_strength": f32(0.35 * u[5]),
        "age": age,                                      # 0 young .. 1 old (wrinkles, gray)
        "hair_style": np.int64(rng.integers(len(HAIR_STYLES))),
        "hair_color": np.int64(hair_color),
        "glasses": np.int64(rng.random() < P_GLASSES),
        "hat": np.int64(hat),
        "mask": np.int64(mask),
        "background": background,
        "background_end": background_end,
        "gradient_angle": f32(360.0 * u[11] if gradient else 0.0),
        "shirt_color": np.minimum(np.floor(256 * rng.random(3)), 255).astype(np.uint8),
        "accessory_color": np.minimum(np.floor(256 * rng.random(3)), 255).astype(np.uint8),
        "offset": (f32(-0.03) + f32(0.06) * u[12:14].astype(np.float32)).astype(np.float32),  # face centre shift
        "scale": f32(0.94 + 0.12 * u[14]),
    })
    return out


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size, dtype=np.float64) + 0.5) / size
    return c[None, :], c[:, None]


def _background(a, size: int) -> np.ndarray:
    x, y = _grid(size)
    phi = np.deg2rad(float(a["gradient_angle"]))
    c, s = np.cos(phi), np.sin(phi)
    t = 0.5 + ((x - 0.5) * c + (y - 0.5) * s) / (abs(c) + abs(s))
    start, end = a["background"].astype(np.float64), a["background_end"].astype(np.float64)
    return start + (end - start) * t[..., None]


class _Canvas:
    """Masks drawn at `big` px and composited in float RGB (so lighting can act on skin regions)."""

    def __init__(self, size: int, base: np.ndarray, transform):
        self.big = size * SUPERSAMPLE
        self.rgb = np.repeat(np.repeat(base, SUPERSAMPLE, 0), SUPERSAMPLE, 1)
        self.transform = transform

    def _pts(self, points) -> list[tuple[float, float]]:
        p = self.transform(np.asarray(points, np.float64)) * self.big
        return [tuple(q) for q in p.tolist()]

    def mask(self, draw_fn) -> np.ndarray:
        m = Image.new("L", (self.big, self.big), 0)
        draw_fn(ImageDraw.Draw(m))
        return np.asarray(m, np.float64)[..., None] / 255.0

    def paint(self, mask: np.ndarray, colour, opacity: float = 1.0) -> None:
        colour = np.asarray(colour, np.float64)
        self.rgb += (opacity * mask) * (colour - self.rgb)

    def polygon(self, points, colour, opacity: float = 1.0) -> np.ndarray:
        m = self.mask(lambda d: d.polygon(self._pts(points), fill=255))
        self.paint(m, colour, opacity)
        return m

    def line(self, points, width: float, colour, opacity: float = 1.0) -> None:
        w = max(1, int(round(width * self.big)))
        m = self.mask(lambda d: d.line(self._pts(points), fill=255, width=w, joint="curve"))
        self.paint(m, colour, opacity)

    def result(self, size: int) -> np.ndarray:
        small = self.rgb.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE, 3).mean(axis=(1, 3))
        return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def _ellipse(cx, cy, rx, ry, n=48, start=0.0, stop=2 * np.pi) -> np.ndarray:
    t = np.linspace(start, stop, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def render(a, size: int) -> np.ndarray:
    """Attributes (as from `sample_attributes`) -> uint8 image [size, size, 3]."""
    v = {k: float(x) for k, x in zip(IDENTITY_FIELDS, np.asarray(a["identity_vector"], np.float64))}
    yaw, pitch = np.deg2rad(float(a["yaw"])), np.deg2rad(float(a["pitch"]))
    sy, sp = np.sin(yaw), np.sin(pitch)
    scale = float(a["scale"])
    off = np.asarray(a["offset"], np.float64)
    cx, cy = 0.5 + off[0], 0.5 + off[1]
    roll = np.deg2rad(float(a["roll"]))
    cr, sr = np.cos(roll), np.sin(roll)

    def transform(p):  # Roll and scale about the face centre.
        d = (p - [cx, cy]) * scale
        return np.stack([cx + cr * d[:, 0] + sr * d[:, 1], cy - sr * d[:, 0] + cr * d[:, 1]], 1)

    hw = 0.2 + 0.07 * v["face_width"]              # face half-width
    hh = hw * (1.15 + 0.3 * v["face_elongation"])   # face half-height
    skin = _SKIN_RGB[int(a["skin_tone"])] * (0.94 + 0.12 * v["skin_jitter"])
    age = float(a["age"])
    hair = _HAIR_RGB[int(a["hair_color"])]
    hair = hair + min(1.0, max(0.0, (age - 0.6) / 0.4)) * 0.5 * (_HAIR_RGB[4] - hair)
    style = HAIR_STYLES[int(a["hair_style"])]

    def at(x, y, depth):  # A point of the front-on face, moved by pose at the given depth.
        return [cx + x * hw * np.cos(yaw) + depth * sy * hw, cy + y * hh + depth * sp * hh * 0.6]

    canvas = _Canvas(size, _background(a, size), transform)
    # Long hair behind the head and shoulders.
    if style == "long":
        canvas.polygon(np.concatenate([_ellipse(cx + 0.3 * sy * hw, cy - 0.1 * hh, hw * 1.3, hh * 1.15, 40,
                                                np.pi, 2 * np.pi),
                                       [[cx + 1.35 * hw, cy + 1.3 * hh], [cx - 1.35 * hw, cy + 1.3 * hh]]]), hair)
    # Shirt and neck.
    canvas.polygon(_ellipse(cx, cy + 2.05 * hh, 2.3 * hw, 0.95 * hh, 48), a["shirt_color"])
    neck = canvas.polygon([[cx - 0.45 * hw, cy + 0.6 * hh], [cx + 0.45 * hw, cy + 0.6 * hh],
                           [cx + 0.5 * hw, cy + 1.25 * hh], [cx - 0.5 * hw, cy + 1.25 * hh]], skin * 0.85)
    # Ears: the one on the side turned away shrinks.
    for side in (-1, 1):
        shrink = 1.0 - 0.6 * max(0.0, side * -sy)
        ex = cx + side * hw * np.cos(yaw) * 0.98 + sy * hw * 0.1
        canvas.polygon(_ellipse(ex, cy + 0.0 * hh, 0.18 * hw * shrink + 1e-3, 0.28 * hh, 24), skin * 0.9)
    # Face outline: upper half an ellipse, lower half narrowing to the chin by `jaw`.
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    down = np.clip(np.sin(t), 0, None)
    squeeze = 1.0 - (0.15 + 0.3 * v["jaw"]) * down ** 2
    xs = np.cos(t) * squeeze
    near_far = np.where(xs * sy > 0, 1.0, np.cos(yaw))  # the side turned away is foreshortened
    outline = np.stack([cx + xs * hw * near_far + 0.25 * sy * hw, cy + np.sin(t) * hh + 0.1 * sp * hh], 1)
    face = canvas.polygon(outline, skin)
    # Lighting on the skin (face and neck).
    la = np.deg2rad(float(a["light_angle"]))
    x, y = _grid(canvas.big)
    shade = 1.0 + float(a["light_strength"]) * ((x - cx) * np.cos(la) + (y - cy) * np.sin(la)) / hw
    skin_mask = np.clip(face + neck, 0, 1)
    canvas.rgb = canvas.rgb * (1.0 + skin_mask * (shade[..., None] - 1.0))
    # Age: forehead lines and nasolabial folds.
    if age > 0.4:
        o = min(1.0, (age - 0.4) / 0.6) * 0.7
        for k in range(3):
            yy = -0.62 + 0.09 * k
            canvas.line([at(-0.45, yy, 0.5), at(0.0, yy - 0.03, 0.6), at(0.45, yy, 0.5)], 0.006, skin * 0.7, o)
        for side in (-1, 1):
            canvas.line([at(side * 0.28, 0.18, 0.8), at(side * 0.42, 0.5, 0.7)], 0.006, skin * 0.7, o)
    # Eyes and brows.
    es = 0.26 + 0.14 * v["eye_spacing"]
    er = 0.1 + 0.06 * v["eye_size"]
    ey = -0.12 - 0.12 * v["eye_height"]
    iris = _EYE_RGB[int(a["eye_color"])]
    smile = float(a["smile"])
    for side in (-1, 1):
        far = 1.0 - 0.45 * max(0.0, -side * sy)
        ex, eyy = at(side * es, ey, 0.55)
        rx, ry = er * hw * far * 1.35, er * hh * 0.55
        canvas.polygon(_ellipse(ex, eyy, rx, ry), [245, 245, 240])
        canvas.polygon(_ellipse(ex + 0.35 * sy * rx, eyy, ry * 0.95, ry * 0.95), iris)
        canvas.polygon(_ellipse(ex + 0.35 * sy * rx, eyy, ry * 0.45, ry * 0.45), [15, 15, 15])
        by = ey - 0.16 - 0.04 * max(smile, 0)
        canvas.line([at(side * (es - 0.13), by + 0.02, 0.6), at(side * es, by - 0.02, 0.6),
                     at(side * (es + 0.14), by + 0.03, 0.55)],
                    0.006 + 0.012 * v["brow_thickness"], hair * 0.8)
    # Nose.
    nl, nw = 0.22 + 0.16 * v["nose_length"], 0.08 + 0.08 * v["nose_width"]
    canvas.polygon([at(0.0, ey + 0.02, 0.8), at(nw, ey + 0.05 + nl, 1.0), at(-nw, ey + 0.05 + nl, 1.0)],
                   skin * 0.82)
    # Mouth: a lip band curved by `smile`; an open smile shows teeth.
    mw = 0.22 + 0.16 * v["mouth_width"]
    my = min(0.62, ey + 0.12 + nl + 0.16)
    lip = 0.025 + 0.035 * v["lip_thickness"] + 0.04 * max(0.0, smile - 0.6)
    xs = np.linspace(-mw, mw, 15)
    curve = -smile * 0.09 * (xs / mw) ** 2
    upper = [at(x_, my + c - lip * (1 - (x_ / mw) ** 2), 0.7) for x_, c in zip(xs, curve)]
    lower = [at(x_, my + c + lip * 1.4 * (1 - (x_ / mw) ** 2), 0.7) for x_, c in zip(xs[::-1], curve[::-1])]
    lip_rgb = skin * np.array([0.85, 0.55, 0.55])
    canvas.polygon(upper + lower, lip_rgb)
    if smile > 0.6:
        teeth = [at(x_ * 0.8, my + c * 0.8 - lip * 0.3, 0.7) for x_, c in zip(xs, curve)] + \
                [at(x_ * 0.8, my + c * 0.8 + lip * 0.6, 0.7) for x_, c in zip(xs[::-1], curve[::-1])]
        canvas.polygon(teeth, [240, 238, 230])
    # Hair on top.
    top = cy - hh + 0.1 * sp * hh
    hx = cx + 0.25 * sy * hw
    if style != "bald":
        depth = {"short": 0.3, "fringe": 0.55, "long": 0.4, "side_part": 0.38}[style]
        cap = np.concatenate([_ellipse(hx, cy - 0.25 * hh, hw * 1.07, hh * 0.9, 40, np.pi, 2 * np.pi),
                              [[hx + hw * 1.07, cy - (1 - depth - 0.25) * hh]],
                              [[hx - hw * 1.07, cy - (1 - depth - 0.25) * hh]]])
        if style == "side_part":
            cap[:, 1] += np.where(cap[:, 0] > hx, 0.12 * hh * (cap[:, 0] - hx) / hw, 0.0)
        canvas.polygon(cap, hair)
    else:
        canvas.line([[hx - 0.5 * hw, top + 0.08 * hh], [hx + 0.5 * hw, top + 0.08 * hh]], 0.002, skin * 0.9, 0.3)
    acc = a["accessory_color"]
    # Glasses: two rims and a bridge.
    if int(a["glasses"]):
        for side in (-1, 1):
            ex, eyy = at(side * es, ey, 0.6)
            rim = _ellipse(ex, eyy, er * hw * 2.2, er * hh * 1.35, 32)
            canvas.line(np.concatenate([rim, rim[:1]]), 0.008, [20, 20, 25])
        canvas.line([at(-es + er * 1.9, ey, 0.65), at(es - er * 1.9, ey, 0.65)], 0.008, [20, 20, 25])
    # Mask over nose and mouth, or a hat over the hair.
    if int(a["mask"]):
        canvas.polygon([at(-0.78, ey + 0.12, 0.6), at(0.78, ey + 0.12, 0.6), at(0.72, 0.7, 0.6),
                        at(0.0, 0.88, 0.7), at(-0.72, 0.7, 0.6)], acc)
    if int(a["hat"]):
        canvas.polygon(np.concatenate([_ellipse(hx, cy - 0.45 * hh, hw * 1.12, hh * 0.72, 40, np.pi, 2 * np.pi),
                                       [[hx + hw * 1.12, cy - 0.45 * hh]]]), acc)
        canvas.polygon([[hx - hw * 1.3, cy - 0.47 * hh], [hx + hw * 1.45, cy - 0.47 * hh],
                        [hx + hw * 1.45, cy - 0.37 * hh], [hx - hw * 1.3, cy - 0.37 * hh]], np.asarray(acc) * 0.8)
    return canvas.result(size)


def _worker_main(split: str, image_size: str, images_per_identity: str, start: str, stop: str, step: str) -> None:
    out, per = sys.stdout.buffer, int(images_per_identity)
    for index in range(int(start), int(stop), int(step)):
        out.write(render(sample_attributes(split, index // per, index % per), int(image_size)).tobytes())
    out.flush()


if __name__ == "__main__":  # Render worker: see `datasets.synthetic_faces`.
    _worker_main(*sys.argv[1:])
