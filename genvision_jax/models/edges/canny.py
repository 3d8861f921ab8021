"""The Canny edge detector (numpy / scipy): images -> boolean edge maps.

Canny 1986, "A Computational Approach to Edge Detection" (IEEE TPAMI 8(6)): smooth with a Gaussian,
take the intensity gradient, keep only pixels whose gradient magnitude is a local maximum along the
gradient direction (non-maximum suppression), then hysteresis thresholding: a pixel is an edge when
its magnitude reaches `high`, or reaches `low` and is connected (8-neighbourhood, through pixels that
reach `low`) to one that reaches `high`.

The steps, as computed here:

1. intensities: float images are taken to be in [-1, 1] (the project's convention) and uint8 images
   in 0..255; both become [0, 1]. RGB becomes luma 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601).
2. Gaussian of standard deviation `sigma` (truncated at 4 sigma). Near the border the kernel is
   renormalised over the pixels inside the image (the smoothing of the image with zeros outside,
   divided by the smoothing of an all-ones image), so the border is neither darkened nor mirrored.
3. Sobel derivatives of the smoothed image (kernels [1, 2, 1] x [-1, 0, 1], not normalised: a unit
   step has magnitude 4); magnitude = sqrt(gx^2 + gy^2). `low` and `high` are in these units, as in
   scikit-image's `feature.canny` for a [0, 1] image (its defaults are 0.1 and 0.2).
4. Non-maximum suppression with interpolation: the line along the gradient leaves the 3x3
   neighbourhood between an axial and a diagonal neighbour; the magnitude there is interpolated
   linearly between the two, on both sides, and the pixel is kept if it is at least both.
5. Hysteresis as above. The outermost ring of pixels is never an edge (its 3x3 neighbourhood is
   incomplete).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

LUMA_BT601 = (0.299, 0.587, 0.114)
_EIGHT_CONNECTED = np.ones((3, 3), bool)


def _intensity(images: np.ndarray) -> np.ndarray:
    """[..., H, W, C] (C = 1 or 3) in [-1, 1] or uint8 -> float64 [..., H, W] in [0, 1]."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = x.astype(np.float64) / 255.0
    elif np.issubdtype(x.dtype, np.floating):
        x = (x.astype(np.float64) + 1.0) * 0.5
    else:
        raise ValueError(f"canny: images must be float in [-1, 1] or uint8; got dtype {x.dtype}")
    if x.shape[-1] == 3:
        return x @ np.asarray(LUMA_BT601)
    return x[..., 0]


def _smooth(gray: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of [H, W] with the kernel renormalised over the pixels inside the image."""
    if sigma == 0:
        return gray
    blurred = ndimage.gaussian_filter(gray, sigma, mode="constant", cval=0.0, truncate=4.0)
    weight = ndimage.gaussian_filter(np.ones_like(gray), sigma, mode="constant", cval=0.0, truncate=4.0)
    return blurred / weight


def _non_maximum(gx: np.ndarray, gy: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Pixels whose magnitude is >= the magnitude interpolated at both ends of the gradient line."""
    height, width = magnitude.shape
    padded = np.pad(magnitude, 1)
    rows, cols = np.mgrid[1:height + 1, 1:width + 1]
    ax, ay = np.abs(gx), np.abs(gy)
    sx, sy = np.sign(gx).astype(int), np.sign(gy).astype(int)
    horizontal = ax >= ay  # the line leaves through the left/right column of the neighbourhood
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(horizontal, ay / ax, ax / ay)
    t = np.nan_to_num(t)
    # Axial step: along x when the gradient is mostly horizontal, along y otherwise; the diagonal step
    # goes one pixel along both axes, towards the gradient's signs.
    axial_dy, axial_dx = np.where(horizontal, 0, sy), np.where(horizontal, sx, 0)
    keep = magnitude > 0
    for side in (1, -1):
        axial = padded[rows + side * axial_dy, cols + side * axial_dx]
        diagonal = padded[rows + side * sy, cols + side * sx]
        keep &= magnitude >= (1.0 - t) * axial + t * diagonal
    return keep


def _canny_one(gray: np.ndarray, low: float, high: float, sigma: float) -> np.ndarray:
    smoothed = _smooth(gray, sigma)
    gy = ndimage.sobel(smoothed, axis=0)
    gx = ndimage.sobel(smoothed, axis=1)
    magnitude = np.hypot(gx, gy)
    candidates = _non_maximum(gx, gy, magnitude)
    candidates[[0, -1], :] = False
    candidates[:, [0, -1]] = False
    weak = candidates & (magnitude >= low)
    labels, count = ndimage.label(weak, structure=_EIGHT_CONNECTED)
    if count == 0:
        return weak
    strong_labels = np.unique(labels[candidates & (magnitude >= high)])
    connected = np.zeros(count + 1, bool)
    connected[strong_labels] = True
    connected[0] = False
    return connected[labels]


def canny(images, low: float = 0.1, high: float = 0.2, sigma: float = 1.0) -> np.ndarray:
    """Canny edges: bool array of the images' shape with one channel.

    images: [H, W] gray, [H, W, C] or [N, H, W, C] with C = 1 (gray) or 3 (RGB); float in [-1, 1]
    or uint8 (see the module docstring). low, high: hysteresis thresholds on the Sobel gradient
    magnitude of the [0, 1] intensities (0 <= low <= high). sigma: the Gaussian's standard
    deviation in pixels (0: no smoothing). Returns [H, W], [H, W, 1] or [N, H, W, 1] accordingly.
    """
    if not 0 <= low <= high:
        raise ValueError(f"canny: thresholds must satisfy 0 <= low <= high; got low={low}, high={high}")
    if sigma < 0:
        raise ValueError(f"canny: sigma must be >= 0; got {sigma}")
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim not in (3, 4) or x.shape[-1] not in (1, 3):
        raise ValueError("canny: expected images [H, W], [H, W, C] or [N, H, W, C] with C = 1 or 3; "
                         f"got shape {tuple(np.shape(images))}")
    gray = _intensity(x)
    if min(gray.shape[-2:]) < 3:
        raise ValueError(f"canny: images must be at least 3x3; got {gray.shape[-2]}x{gray.shape[-1]}")
    edges = np.stack([_canny_one(g, low, high, sigma) for g in gray.reshape(-1, *gray.shape[-2:])])
    edges = edges.reshape(gray.shape)
    return edges if np.ndim(images) == 2 else edges[..., None]
