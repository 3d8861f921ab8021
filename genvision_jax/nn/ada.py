"""ADA's augmentation pipe (Karras et al. 2020, "Training Generative Adversarial Networks with Limited
Data", App. B): jit-able and differentiable in the images, each transform applied per sample with
probability p · strength.

Geometric transforms are composed into one 3x3 matrix per sample that maps output pixel coordinates
(centred on the image) to input coordinates, in the paper's order: x-flip, 90° rotations, integer
translation (±0.125 of the side), isotropic scaling (lognormal, σ = 0.2·log 2), rotation before
(uniform ±180°), anisotropic scaling (σ = 0.2·log 2), rotation after, fractional translation (σ = 0.125
of the side); the two rotations each use probability 1 − sqrt(1 − p) so that some rotation happens with
probability p. The image is resampled once, bilinearly with reflection at the borders (the official
pipe resamples with a wavelet filter on a 2x upsampled image; bilinear is our simplification and is
stated in every protocol). The blit transforms (flip, rot90, integer translation) alone move whole
pixels, so with reflection they are exact.
Colour transforms are one 4x4 matrix on homogeneous RGB: brightness (+N(0, 0.2)), contrast (x
2^N(0, 0.5)), luma flip (reflection across the luma plane), hue rotation (uniform ±180° about the luma
axis), saturation (x 2^N(0, 1) off the luma axis). Cutout zeroes a square of half the side.
p = 0 returns the input unchanged (every matrix is the identity, sampled at pixel centres).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.ndimage import map_coordinates

Array = jax.Array

ALL_TRANSFORMS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness", "contrast",
                  "lumaflip", "hue", "saturation", "cutout")
_PIPES = {
    "blit": ("xflip", "rotate90", "xint"),
    "geom": ("scale", "rotate", "aniso", "xfrac"),
    "color": ("brightness", "contrast", "lumaflip", "hue", "saturation"),
    "cutout": ("cutout",),
}
_PIPES["bg"] = _PIPES["blit"] + _PIPES["geom"]
_PIPES["bgc"] = _PIPES["bg"] + _PIPES["color"]
_PIPES["bgcc"] = _PIPES["bgc"] + _PIPES["cutout"]
ADA_DEFAULT_STRENGTHS = tuple((name, 1.0) for name in _PIPES["bgc"])


def ada_pipe(name: str) -> tuple[tuple[str, float], ...]:
    """(transform, strength) pairs of a named pipe ('blit', 'geom', 'color', 'bg', 'bgc', 'bgcc', 'cutout')
    or of a comma list of transforms ('xflip,rotate90')."""
    if name in _PIPES:
        return tuple((t, 1.0) for t in _PIPES[name])
    parts = tuple(p.strip() for p in name.split(",") if p.strip())
    unknown = sorted(set(parts) - set(ALL_TRANSFORMS))
    if not parts or unknown:
        raise ValueError(f"unknown ADA pipe {name!r}: use one of {sorted(_PIPES)} or a comma list of {ALL_TRANSFORMS}")
    return tuple((t, 1.0) for t in parts)


def _mat(rows) -> Array:
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def _translate(tx, ty):
    o, z = jnp.ones_like(tx), jnp.zeros_like(tx)
    return _mat([[o, z, tx], [z, o, ty], [z, z, o]])


def _scale(sx, sy):
    o, z = jnp.ones_like(sx), jnp.zeros_like(sx)
    return _mat([[sx, z, z], [z, sy, z], [z, z, o]])


def _rotate(theta, exact: bool = False):
    c, s = jnp.cos(theta), jnp.sin(theta)
    if exact:  # multiples of 90 degrees: entries exactly 0 or ±1, so pixels move without interpolation
        c, s = jnp.round(c), jnp.round(s)
    o, z = jnp.ones_like(theta), jnp.zeros_like(theta)
    return _mat([[c, -s, z], [s, c, z], [z, z, o]])


def geometric_matrices(key: Array, n: int, size: tuple[int, int], p: Array, transforms) -> Array:
    """[n, 3, 3] inverse transforms (output pixel coords -> input pixel coords, centred), identity where
    a transform is not drawn."""
    h, w = size
    strengths = dict(transforms)
    g = jnp.broadcast_to(jnp.eye(3), (n, 3, 3))
    keys = iter(jax.random.split(key, 32))

    def gate(name, prob=None):
        prob = p * strengths[name] if prob is None else prob
        return jax.random.uniform(next(keys), (n,)) < prob

    one = jnp.ones((n,))
    if "xflip" in strengths:
        i = jnp.floor(jax.random.uniform(next(keys), (n,)) * 2)
        g = g @ _scale(jnp.where(gate("xflip"), 1 - 2 * i, 1.0), one)
    if "rotate90" in strengths:
        i = jnp.floor(jax.random.uniform(next(keys), (n,)) * 4)
        g = g @ _rotate(jnp.where(gate("rotate90"), -math.pi / 2 * i, 0.0), exact=True)
    if "xint" in strengths:
        t = (jax.random.uniform(next(keys), (n, 2)) * 2 - 1) * 0.125
        on = gate("xint")
        g = g @ _translate(jnp.where(on, jnp.round(t[:, 0] * w), 0.0), jnp.where(on, jnp.round(t[:, 1] * h), 0.0))
    if "scale" in strengths:
        s = 2.0 ** (jax.random.normal(next(keys), (n,)) * 0.2)
        s = jnp.where(gate("scale"), s, 1.0)
        g = g @ _scale(1 / s, 1 / s)
    p_rot = 1 - jnp.sqrt(jnp.clip(1 - p * strengths.get("rotate", 0.0), 0.0, 1.0))
    if "rotate" in strengths:
        theta = (jax.random.uniform(next(keys), (n,)) * 2 - 1) * math.pi
        g = g @ _rotate(jnp.where(gate("rotate", p_rot), -theta, 0.0))
    if "aniso" in strengths:
        s = 2.0 ** (jax.random.normal(next(keys), (n,)) * 0.2)
        s = jnp.where(gate("aniso"), s, 1.0)
        g = g @ _scale(1 / s, s)
    if "rotate" in strengths:
        theta = (jax.random.uniform(next(keys), (n,)) * 2 - 1) * math.pi
        g = g @ _rotate(jnp.where(gate("rotate", p_rot), -theta, 0.0))
    if "xfrac" in strengths:
        t = jax.random.normal(next(keys), (n, 2)) * 0.125
        on = gate("xfrac")
        g = g @ _translate(jnp.where(on, t[:, 0] * w, 0.0), jnp.where(on, t[:, 1] * h, 0.0))
    return g


def warp(images: Array, g: Array) -> Array:
    """Resample images [N, H, W, C] at g @ (output pixel coords): bilinear, reflected borders."""
    n, h, w, c = images.shape
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32) - (h - 1) / 2, jnp.arange(w, dtype=jnp.float32) - (w - 1) / 2,
                          indexing="ij")
    q = jnp.stack([xs.ravel(), ys.ravel(), jnp.ones(h * w)], 0)  # [3, HW]

    def one(img, m):
        src = m @ q
        coords = [src[1] + (h - 1) / 2, src[0] + (w - 1) / 2]
        return jax.vmap(lambda ch: map_coordinates(ch, coords, order=1, mode="mirror").reshape(h, w),
                        in_axes=2, out_axes=2)(img)

    return jax.vmap(one)(images, g.astype(jnp.float32)).astype(images.dtype)


def color_matrices(key: Array, n: int, p: Array, transforms) -> Array:
    strengths = dict(transforms)
    c = jnp.broadcast_to(jnp.eye(4), (n, 4, 4))
    keys = iter(jax.random.split(key, 16))
    v = jnp.array([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)
    vv = jnp.outer(v, v)

    def gate(name):
        return (jax.random.uniform(next(keys), (n,)) < p * strengths[name])[:, None, None]

    def translate3(b):
        m = jnp.broadcast_to(jnp.eye(4), (n, 4, 4))
        return m.at[:, :3, 3].set(jnp.broadcast_to(b[:, None], (n, 3)))

    if "brightness" in strengths:
        b = jax.random.normal(next(keys), (n,)) * 0.2
        c = jnp.where(gate("brightness"), translate3(b), jnp.eye(4)) @ c
    if "contrast" in strengths:
        s = 2.0 ** (jax.random.normal(next(keys), (n,)) * 0.5)
        m = jnp.eye(4) * jnp.concatenate([jnp.broadcast_to(s[:, None], (n, 3)), jnp.ones((n, 1))], 1)[:, None, :]
        c = jnp.where(gate("contrast"), m, jnp.eye(4)) @ c
    if "lumaflip" in strengths:
        i = jnp.floor(jax.random.uniform(next(keys), (n,)) * 2)[:, None, None]
        c = jnp.where(gate("lumaflip"), jnp.eye(4) - 2 * vv * i, jnp.eye(4)) @ c
    if "hue" in strengths:
        theta = (jax.random.uniform(next(keys), (n,)) * 2 - 1) * math.pi
        # Rodrigues rotation about the unit luma axis u.
        u = v[:3]
        k = jnp.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
        r3 = (jnp.eye(3) + jnp.sin(theta)[:, None, None] * k
              + (1 - jnp.cos(theta))[:, None, None] * (k @ k))
        m = jnp.broadcast_to(jnp.eye(4), (n, 4, 4)).at[:, :3, :3].set(r3)
        c = jnp.where(gate("hue"), m, jnp.eye(4)) @ c
    if "saturation" in strengths:
        s = 2.0 ** (jax.random.normal(next(keys), (n,)) * 1.0)
        m = vv + (jnp.eye(4) - vv) * s[:, None, None]
        m = m.at[:, 3, 3].set(1.0)
        c = jnp.where(gate("saturation"), m, jnp.eye(4)) @ c
    return c


def ada_augment(images: Array, p: Array, key: Array, transforms=ADA_DEFAULT_STRENGTHS) -> Array:
    """images [N, H, W, C] (C = 3 for the colour transforms) in [-1, 1] -> augmented, same shape."""
    n, h, w, ch = images.shape
    names = {t for t, _ in transforms}
    p = jnp.asarray(p, jnp.float32)
    k_geom, k_color, k_cut = jax.random.split(key, 3)
    x = images
    if names & set(_PIPES["bg"]):
        x = warp(x, geometric_matrices(k_geom, n, (h, w), p, transforms))
    if names & set(_PIPES["color"]):
        if ch != 3:
            raise ValueError(f"ADA colour transforms need RGB images, got {ch} channels")
        m = color_matrices(k_color, n, p, transforms).astype(x.dtype)
        x = jnp.einsum("nij,nhwj->nhwi", m[:, :3, :3], x) + m[:, None, None, :3, 3]
    if "cutout" in names:
        strength = dict(transforms)["cutout"]
        k_on, k_c = jax.random.split(k_cut)
        on = jax.random.uniform(k_on, (n,)) < p * strength
        centre = jax.random.uniform(k_c, (n, 2))
        yy = (jnp.arange(h) + 0.5) / h
        xx = (jnp.arange(w) + 0.5) / w
        inside = ((jnp.abs(xx[None, None, :] - centre[:, 0, None, None]) < 0.25)
                  & (jnp.abs(yy[None, :, None] - centre[:, 1, None, None]) < 0.25))
        x = jnp.where((inside & on[:, None, None])[..., None], 0.0, x)
    return x
