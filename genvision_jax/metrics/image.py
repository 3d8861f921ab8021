"""Full-reference image quality: PSNR, SSIM and MS-SSIM of image batches, batched and jit-able.

Inputs are float NHWC batches `x`, `y` of equal shape with values spanning at most `data_range`
(e.g. [0, 1] with data_range=1, [0, 255] with data_range=255); every function returns one value
per image, shape [N]. Restoration papers differ in two protocol choices, both options here:
`crop_border` drops that many pixels on every side (super-resolution crops the scale factor), and
`test_y_channel` compares only the ITU-R BT.601 luma of RGB images, as BasicSR and MATLAB's
`rgb2ycbcr` do.

- PSNR = 10 log10(data_range² / MSE), MSE over all pixels and channels of an image (inf if equal).
- SSIM (Wang et al. 2004, "Image Quality Assessment: From Error Visibility to Structural
  Similarity"): local statistics under an 11x11 Gaussian window (sigma 1.5) over the valid region
  only, population (co)variances, C1 = (K1 L)², C2 = (K2 L)² with K1 = 0.01, K2 = 0.03, averaged
  over positions and channels. This equals `skimage.metrics.structural_similarity(...,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=L)`.
- MS-SSIM (Wang, Simoncelli & Bovik 2003, "Multi-scale structural similarity for image quality
  assessment"): five scales, each halving the image by 2x2 averaging; contrast-structure means
  cs_1..cs_4 and the full SSIM mean at the coarsest scale, combined as prod_j max(v_j, 0)^w_j with
  the paper's weights, per channel, then averaged over channels (as `tf.image.ssim_multiscale`).
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

# ITU-R BT.601 luma for 8-bit "studio swing" (Y in [16, 235]) from R, G, B in [0, 1], as MATLAB's
# rgb2ycbcr and BasicSR: Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255 in units of the range.
BT601_Y_WEIGHTS = (65.481, 128.553, 24.966)
BT601_Y_OFFSET = 16.0

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, Sec. 3.2


def rgb_to_y(x, data_range: float = 1.0) -> jax.Array:
    """RGB [..., 3] in [0, data_range] -> BT.601 luma [..., 1] in [16, 235]/255 * data_range."""
    x = jnp.asarray(x)
    if x.shape[-1:] != (3,):
        raise ValueError(f"rgb_to_y expects RGB images [..., 3]; got shape {tuple(x.shape)}")
    weights = jnp.asarray(BT601_Y_WEIGHTS, x.dtype) / 255.0
    return (x @ weights + BT601_Y_OFFSET / 255.0 * data_range)[..., None]


# ------------------------------------------------------------------------------------------------
# Input checks (host side; value checks are skipped under tracing, where values are unknown)
# ------------------------------------------------------------------------------------------------


def _prepare(fn: str, x, y, data_range: float, crop_border: int, test_y_channel: bool,
             min_size: int = 1) -> tuple[jax.Array, jax.Array]:
    """Validates a pair of batches, crops borders and converts to Y; returns float arrays."""
    x, y = (a if isinstance(a, jax.Array) else np.asarray(a) for a in (x, y))
    for name, a in (("x", x), ("y", y)):
        if a.ndim != 4:
            raise ValueError(f"{fn}: {name} must be a batch of images [N, H, W, C]; "
                             f"got shape {tuple(a.shape)}")
        if not jnp.issubdtype(a.dtype, jnp.floating):
            raise ValueError(f"{fn}: {name} must be floating point; got dtype {a.dtype} (convert "
                             "uint8 images with .astype(np.float32) and pass data_range=255)")
    if x.shape != y.shape:
        raise ValueError(f"{fn}: x and y must have the same shape; got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    if not isinstance(data_range, jax.core.Tracer) and not float(data_range) > 0:
        raise ValueError(f"{fn}: data_range must be positive; got {data_range}")
    if not isinstance(crop_border, (int, np.integer)) or crop_border < 0:
        raise ValueError(f"{fn}: crop_border must be a non-negative int; got {crop_border!r}")
    _, h, w, c = x.shape
    if test_y_channel and c != 3:
        raise ValueError(f"{fn}: test_y_channel needs RGB images (C=3); got C={c}")
    if min(h, w) - 2 * crop_border < min_size:
        raise ValueError(f"{fn}: images of {h}x{w} cropped by {crop_border} on each side are "
                         f"smaller than the {min_size} pixels this metric needs")
    if not any(isinstance(a, jax.core.Tracer) for a in (x, y, data_range)):
        _check_values(fn, x, y, float(data_range), test_y_channel)
    x, y = jnp.asarray(x), jnp.asarray(y)
    if crop_border:
        x = x[:, crop_border:h - crop_border, crop_border:w - crop_border]
        y = y[:, crop_border:h - crop_border, crop_border:w - crop_border]
    if test_y_channel:
        x, y = rgb_to_y(x, data_range), rgb_to_y(y, data_range)
    return x, y


def _check_values(fn: str, x, y, data_range: float, test_y_channel: bool) -> None:
    if x.size == 0:
        return
    xp = jnp if isinstance(x, jax.Array) or isinstance(y, jax.Array) else np
    lo = float(xp.minimum(xp.min(x), xp.min(y)))
    hi = float(xp.maximum(xp.max(x), xp.max(y)))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{fn}: images contain NaN or Inf")
    slack = 1e-6 * data_range
    if test_y_channel and (lo < -slack or hi > data_range + slack):
        raise ValueError(f"{fn}: test_y_channel needs RGB values in [0, data_range={data_range:g}]; "
                         f"got values in [{lo:g}, {hi:g}]")
    if hi - lo > data_range + slack:
        raise ValueError(f"{fn}: values span [{lo:g}, {hi:g}], wider than data_range="
                         f"{data_range:g} (pass data_range=255 for 0..255 images, 2 for [-1, 1])")


# ------------------------------------------------------------------------------------------------
# PSNR
# ------------------------------------------------------------------------------------------------


def psnr_from_mse(mse, data_range: float = 1.0):
    """PSNR in dB of a mean squared error over values spanning `data_range` (inf at mse = 0); numpy
    inputs stay numpy (float64), JAX inputs (and traced values) stay JAX."""
    xp = np if isinstance(mse, (float, int, np.ndarray, np.generic)) else jnp
    return 10.0 * xp.log10(xp.square(data_range) / mse)


@jax.jit
def _psnr(x, y, data_range):
    mse = jnp.mean(jnp.square(x - y), axis=(1, 2, 3))
    return jnp.where(mse > 0, psnr_from_mse(mse, data_range), jnp.inf)


def psnr(x, y, *, data_range: float = 1.0, crop_border: int = 0,
         test_y_channel: bool = False) -> jax.Array:
    """Peak signal-to-noise ratio in dB, [N], of float images [N, H, W, C] (inf where x == y)."""
    x, y = _prepare("psnr", x, y, data_range, crop_border, test_y_channel)
    return _psnr(x, y, jnp.asarray(data_range, x.dtype))


# ------------------------------------------------------------------------------------------------
# SSIM and MS-SSIM
# ------------------------------------------------------------------------------------------------


def gaussian_window(win_size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian taps [win_size] centred on the middle tap (float64)."""
    r = np.arange(win_size, dtype=np.float64) - (win_size - 1) / 2
    w = np.exp(-0.5 * (r / sigma) ** 2)
    return w / w.sum()


def _filter_valid(x: jax.Array, taps: np.ndarray) -> jax.Array:
    """Separable filter of [N, H, W, C] over H and W, valid region only: [N, H-k+1, W-k+1, C]."""
    k = len(taps)
    ho, wo = x.shape[1] - k + 1, x.shape[2] - k + 1
    x = sum(float(t) * x[:, i:i + ho] for i, t in enumerate(taps))
    return sum(float(t) * x[:, :, i:i + wo] for i, t in enumerate(taps))


def _ssim_maps(x, y, taps, k1: float, k2: float):
    """SSIM and contrast-structure maps [N, H', W', C] of images in units of data_range."""
    # Second moments are filtered from per-image-centred values: (co)variances are unchanged, and
    # float32 keeps its digits (E[x²] - E[x]² cancels badly when |mean| >> std).
    mean_x = jnp.mean(x, axis=(1, 2), keepdims=True)
    mean_y = jnp.mean(y, axis=(1, 2), keepdims=True)
    a, b = x - mean_x, y - mean_y
    moments = _filter_valid(jnp.concatenate([a, b, a * a, b * b, a * b], axis=-1), taps)
    mu_a, mu_b, aa, bb, ab = jnp.split(moments, 5, axis=-1)
    var_x, var_y, cov = aa - mu_a * mu_a, bb - mu_b * mu_b, ab - mu_a * mu_b
    mu_x, mu_y = mu_a + mean_x, mu_b + mean_y
    c1, c2 = k1 * k1, k2 * k2
    cs = (2.0 * cov + c2) / (var_x + var_y + c2)
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return luminance * cs, cs


def _check_window(fn: str, win_size: int, sigma: float) -> None:
    if not isinstance(win_size, (int, np.integer)) or win_size < 1 or win_size % 2 == 0:
        raise ValueError(f"{fn}: win_size must be a positive odd int; got {win_size!r}")
    if not sigma > 0:
        raise ValueError(f"{fn}: sigma must be positive; got {sigma}")


@functools.partial(jax.jit, static_argnames=("win_size", "sigma", "k1", "k2"))
def _ssim(x, y, data_range, *, win_size, sigma, k1, k2):
    taps = gaussian_window(win_size, sigma)
    ssim_map, _ = _ssim_maps(x / data_range, y / data_range, taps, k1, k2)
    return jnp.mean(ssim_map, axis=(1, 2, 3))


def ssim(x, y, *, data_range: float = 1.0, crop_border: int = 0, test_y_channel: bool = False,
         win_size: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> jax.Array:
    """Structural similarity, [N], of float images [N, H, W, C] (H, W >= win_size after cropping)."""
    _check_window("ssim", win_size, sigma)
    x, y = _prepare("ssim", x, y, data_range, crop_border, test_y_channel, min_size=win_size)
    return _ssim(x, y, jnp.asarray(data_range, x.dtype), win_size=int(win_size),
                 sigma=float(sigma), k1=float(k1), k2=float(k2))


def _halve(x: jax.Array) -> jax.Array:
    """2x2 mean pooling, stride 2 (an odd last row/column is dropped)."""
    n, h, w, c = x.shape
    x = x[:, :h // 2 * 2, :w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


@functools.partial(jax.jit, static_argnames=("win_size", "sigma", "k1", "k2", "weights"))
def _ms_ssim(x, y, data_range, *, win_size, sigma, k1, k2, weights):
    taps = gaussian_window(win_size, sigma)
    x, y = x / data_range, y / data_range
    result = 1.0
    for scale, weight in enumerate(weights):
        ssim_map, cs_map = _ssim_maps(x, y, taps, k1, k2)
        last = scale == len(weights) - 1
        value = jnp.mean(ssim_map if last else cs_map, axis=(1, 2))  # [N, C]
        # Negative cs/SSIM (anti-correlated structure) has no real fractional power; clamp as
        # tf.image.ssim_multiscale does.
        result = result * jnp.maximum(value, 0.0) ** weight
        if not last:
            x, y = _halve(x), _halve(y)
    return jnp.mean(result, axis=-1)


def ms_ssim(x, y, *, data_range: float = 1.0, crop_border: int = 0, test_y_channel: bool = False,
            win_size: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03,
            weights: Sequence[float] = MS_SSIM_WEIGHTS) -> jax.Array:
    """Multi-scale SSIM, [N], of float images [N, H, W, C]; len(weights) scales (default 5).

    The coarsest scale must still hold the window: H, W >= win_size * 2^(scales-1) (176 for 5).
    """
    _check_window("ms_ssim", win_size, sigma)
    weights = tuple(float(w) for w in weights)
    if not weights:
        raise ValueError("ms_ssim: weights must name at least one scale")
    min_size = win_size * 2 ** (len(weights) - 1)
    x, y = _prepare("ms_ssim", x, y, data_range, crop_border, test_y_channel, min_size=min_size)
    return _ms_ssim(x, y, jnp.asarray(data_range, x.dtype), win_size=int(win_size),
                    sigma=float(sigma), k1=float(k1), k2=float(k2), weights=weights)
