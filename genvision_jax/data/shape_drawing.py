"""Drawing of the `shapes` dataset: attributes from an index, and the image from attributes.

Only numpy and PIL, so render worker processes (`python -m genvision_jax.data.shape_drawing`)
start fast. The TFDS builder is in `shapes`.
"""

from __future__ import annotations

import functools
import sys

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star", "hexagon", "ellipse")
# Rotation is sampled in [0, period): one canonical angle per distinct image (circle: always 0).
ROTATION_PERIOD = {"circle": 0.0, "square": 90.0, "triangle": 120.0, "star": 72.0,
                   "hexagon": 60.0, "ellipse": 180.0}
STAR_INNER_RADIUS = 0.45  # Of the outer radius.
ELLIPSE_AXIS_RATIO = 0.5  # Minor / major semi-axis.
SIZE_RANGE = (0.15, 0.40)  # Circumradius as a fraction of the image side.
MIN_CONTRAST = 96.0  # Euclidean RGB distance from the fill to every background colour.
SUPERSAMPLE = 4
# PIL's polygon fill truncates coordinates and includes boundary pixels, which fattens shapes;
# insetting every edge by this many subpixels cancels it (measured on 600 shapes per size: mean
# area error < 1% for every class, no centroid bias; tests/data/test_shapes_dataset.py).
_PIL_FILL_INSET = 0.35
SEED = 1_234
SPLIT_IDS = {"train": 0, "test": 1}


def _unit_polygon(shape: str) -> np.ndarray:
    """Vertices [V, 2] (x right, y down) of the shape with circumradius 1, unrotated."""
    def ring(n, start_deg):
        a = np.deg2rad(start_deg + 360.0 * np.arange(n) / n)
        return np.stack([np.cos(a), np.sin(a)], 1)

    if shape == "circle":
        return ring(64, 0.0)
    if shape == "ellipse":
        return ring(64, 0.0) * np.array([1.0, ELLIPSE_AXIS_RATIO])
    if shape == "square":
        return ring(4, 45.0)  # Axis-aligned.
    if shape == "triangle":
        return ring(3, -90.0)  # Apex up.
    if shape == "hexagon":
        return ring(6, 0.0)  # Vertices left and right, flat top.
    if shape == "star":
        points = ring(10, -90.0)  # Five points, first one up.
        points[1::2] *= STAR_INNER_RADIUS
        return points
    raise ValueError(f"Unknown shape {shape!r}; valid: {SHAPES}")


_UNIT_POLYGONS = {s: _unit_polygon(s) for s in SHAPES}


def _inset(vertices: np.ndarray, distance: float) -> np.ndarray:
    """Moves every edge of a counter-clockwise (in x-right, y-up terms) polygon inward by `distance`."""
    def left_normals(edges):
        edges = edges / np.linalg.norm(edges, axis=1, keepdims=True)
        return np.stack([-edges[:, 1], edges[:, 0]], 1)

    n_in = left_normals(vertices - np.roll(vertices, 1, 0))  # Edge arriving at each vertex.
    n_out = left_normals(np.roll(vertices, -1, 0) - vertices)  # Edge leaving it.
    # The offset vertex m satisfies n_in . m = n_out . m = distance (mitred corner).
    return vertices + distance * (n_in + n_out) / (1.0 + np.sum(n_in * n_out, 1, keepdims=True))


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance from point p to segment [a, b] (RGB space)."""
    ab = b - a
    denom = float(ab @ ab)
    t = 0.0 if denom == 0 else float(np.clip((p - a) @ ab / denom, 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


def sample_attributes(split: str, index: int) -> dict[str, np.ndarray]:
    """The generating attributes of example `index` of `split` (all features but `image`).

    Seeded from (SEED, split, index) alone, so any example can be made independently of the others,
    and the same index has the same attributes at every image size. Only `Generator.random` is used
    (a stream NumPy keeps stable). Floats are rounded to float32 before rendering, so
    `render(sample_attributes(s, i), size)` equals the stored image.
    """
    rng = np.random.default_rng([SEED, SPLIT_IDS[split], index])
    u = rng.random(12)
    label = index % len(SHAPES)  # Exactly balanced classes.
    shape = SHAPES[label]
    size = SIZE_RANGE[0] + (SIZE_RANGE[1] - SIZE_RANGE[0]) * u[0]
    center = size + (1.0 - 2.0 * size) * u[1:3]  # Circumcircle inside the image.
    rotation = ROTATION_PERIOD[shape] * u[3]

    def colour(v):
        return np.minimum(np.floor(256.0 * v), 255).astype(np.uint8)

    background = colour(u[6:9])
    gradient = u[4] < 0.5
    background_end = colour(u[9:12]) if gradient else background
    gradient_angle = 360.0 * u[5] if gradient else 0.0
    for _ in range(10_000):  # Rejection sampling; the acceptance rate is high.
        color = colour(rng.random(3))
        if _segment_distance(color.astype(np.float64), background.astype(np.float64),
                             background_end.astype(np.float64)) >= MIN_CONTRAST:
            break
    else:
        raise RuntimeError(f"No contrasting fill colour for {split}[{index}].")
    return {
        "label": np.int64(label),
        "color": color,
        "background": background,
        "background_end": background_end,
        "gradient_angle": np.float32(gradient_angle),
        "size": np.float32(size),
        "center": center.astype(np.float32),
        "rotation": np.float32(rotation),
    }


@functools.lru_cache(maxsize=8)
def _pixel_centers(image_size: int) -> tuple[np.ndarray, np.ndarray]:
    c = ((np.arange(image_size, dtype=np.float64) + 0.5) / image_size - 0.5).astype(np.float32)
    return c[None, :], c[:, None]  # x [1, S], y [S, 1], centered on the image middle.


def background_image(attributes, image_size: int) -> np.ndarray:
    """float32 [S, S, 3]: linear gradient from `background` to `background_end`.

    At a pixel centre (x, y) in [0, 1]^2, t = 1/2 + ((x - 1/2) cos φ + (y - 1/2) sin φ) /
    (|cos φ| + |sin φ|) with φ = `gradient_angle` (x right, y down), so t runs from 0 to 1 between
    opposite image corners. A flat background has `background_end == background`.
    """
    x, y = _pixel_centers(image_size)
    phi = np.deg2rad(float(attributes["gradient_angle"]))
    c, s = np.float32(np.cos(phi)), np.float32(np.sin(phi))
    t = np.float32(0.5) + (x * c + y * s) / (abs(c) + abs(s))
    start = attributes["background"].astype(np.float32)
    end = attributes["background_end"].astype(np.float32)
    return start + (end - start) * t[..., None]


def render(attributes, image_size: int) -> np.ndarray:
    """Attributes (as from `sample_attributes`) -> uint8 image [S, S, 3].

    The shape is rasterised as a mask at SUPERSAMPLE x resolution (PIL polygon), box-averaged down
    to a coverage alpha, and composited over the background: anti-aliased, and exact fill colour
    where the pixel is fully covered.
    """
    big = image_size * SUPERSAMPLE
    theta = np.deg2rad(float(attributes["rotation"]))
    c, s = np.cos(theta), np.sin(theta)
    rotation = np.array([[c, s], [-s, c]])  # Counter-clockwise on screen (y points down).
    unit = _UNIT_POLYGONS[SHAPES[int(attributes["label"])]]
    center = attributes["center"].astype(np.float64)
    vertices = _inset((unit @ rotation.T * float(attributes["size"]) + center) * big,
                      _PIL_FILL_INSET)
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).polygon([tuple(v) for v in vertices.tolist()], fill=255)
    alpha = np.asarray(mask.reduce(SUPERSAMPLE), np.float32)[..., None] / np.float32(255)
    background = background_image(attributes, image_size)
    fill = attributes["color"].astype(np.float32)
    return np.rint(background + alpha * (fill - background)).astype(np.uint8)


def _worker_main(split: str, image_size: str, start: str, stop: str, step: str) -> None:
    out = sys.stdout.buffer
    for index in range(int(start), int(stop), int(step)):
        out.write(render(sample_attributes(split, index), int(image_size)).tobytes())
    out.flush()


if __name__ == "__main__":  # Render worker: see `shapes.render_in_workers`.
    _worker_main(*sys.argv[1:])
