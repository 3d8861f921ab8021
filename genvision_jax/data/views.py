"""The views of a radiance-field scene as stacked arrays: the one format every scene loader returns.

`images` float32 [N, H, W, 3] in [0, 1] (composited over `background`), `alphas` float32 [N, H, W],
`depths` float32 [N, H, W] (z-depth, 0 on background; absent for real data), `c2w` float32 [N, 4, 4]
(OpenGL), `intrinsics` float32 [N, 4] (fx, fy, cx, cy), `times` float32 [N], `height`, `width` ints,
`near`, `far` floats (depth bounds for ray sampling), `background` ('white'/'black', or None when the
images are not composited). Loaders: `datasets.synthetic_scenes.load_split` (embedded scenes),
`nerf_folders.load_blender` / `load_llff` (local folders).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genvision_jax.errors import ConfigError


def stack_views(images, alphas, depths, c2w, intrinsics, times, near, far, background, **extra):
    """The dict every loader returns (the module docstring); no `depths` key when depth is unknown."""
    images = np.asarray(images, np.float32)
    views = {"images": images, "alphas": np.asarray(alphas, np.float32),
             "c2w": np.asarray(c2w, np.float32), "intrinsics": np.asarray(intrinsics, np.float32),
             "times": np.asarray(times, np.float32), "height": images.shape[1],
             "width": images.shape[2], "near": float(near), "far": float(far),
             "background": background, **extra}
    if depths is not None:
        views["depths"] = np.asarray(depths, np.float32)
    return views


def select_views(views: dict[str, Any], num: int) -> dict[str, Any]:
    """The first `num` views (0 = all); sparse-view studies train on the first k of a fixed camera order."""
    if num <= 0:
        return views
    total = len(views["images"])
    if num > total:
        raise ConfigError(f"asked for {num} views but the split has {total}")
    return {k: (v[:num] if isinstance(v, np.ndarray) and v.ndim and len(v) == total else v) for k, v in views.items()}
