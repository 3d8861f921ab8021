"""Radiance-field scenes in local folders: NeRF-synthetic / D-NeRF ("Blender") and LLFF, returned in the
stacked-views format of `genvision_jax.data.views`.

Every camera matrix is checked as it is read (finite numbers, a rotation block with a non-zero
determinant): a bad file gives an error naming the file and the key, not NaN rays.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from PIL import Image

from genvision_jax.data.scenes import BACKGROUNDS
from genvision_jax.data.views import stack_views
from genvision_jax.errors import ConfigError, InputError, MissingInputError
from genvision_jax.rendering import cameras

BLENDER_NEAR, BLENDER_FAR = 2.0, 6.0  # NeRF's bounds for its Blender scenes.
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def _check_folder(folder, kind: str) -> str:
    folder = os.path.expanduser(os.fspath(folder))
    if not os.path.isdir(folder):
        raise MissingInputError(f"{kind} folder {folder!r} does not exist (or is not a directory)")
    return folder


def read_image(path: str, mode: str) -> Image.Image:
    """The image file at `path` converted to `mode`; an unreadable file is an InputError naming it."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert(mode)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise InputError(f"{path} is not a readable image ({type(e).__name__}: {e})") from None


def _read_rgba(path: str) -> np.ndarray:
    """PNG/JPEG -> float64 [H, W, 4] in [0, 1] (alpha 1 for images without one)."""
    return np.asarray(read_image(path, "RGBA"), np.float64) / 255.0


def check_camera(matrix, where: str) -> np.ndarray:
    """A camera-to-world matrix as float64 [4, 4] (from [4, 4] or [3, 4]) after checking that it is
    numeric, finite and has an invertible rotation block; `where` names the file and key."""
    try:
        m = np.asarray(matrix, np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{where} must be a 4x4 matrix of numbers, got {str(matrix)[:80]!r}") from None
    if m.shape not in ((4, 4), (3, 4)):
        raise InputError(f"{where} must be 4x4 (or 3x4), got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise InputError(f"{where} holds non-finite values")
    if abs(np.linalg.det(m[:3, :3])) < 1e-8:
        raise InputError(f"{where} is singular (its 3x3 rotation block has determinant "
                         f"{np.linalg.det(m[:3, :3]):.3g})")
    return np.asarray(cameras.to_homogeneous(m), np.float64)


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise InputError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _blender_frame_path(folder: str, file_path: str, transforms: str) -> str:
    # NeRF's files give paths like './train/r_0', without the '.png'.
    path = os.path.normpath(os.path.join(folder, file_path))
    for candidate in (path, path + ".png"):
        if os.path.isfile(candidate):
            return candidate
    raise MissingInputError(f"{transforms}: frame file_path {file_path!r} names no image "
                            f"(tried {path!r} and {path + '.png'!r})")


def load_blender(folder, split: str = "train", white_background: bool = True,
                 downscale: int = 1) -> dict[str, Any]:
    """A split of a NeRF-synthetic ("Blender") scene folder, as stacked views.

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
        raise MissingInputError(f"{path} does not exist; the folder has {found or 'no transforms_*.json'}")
    if isinstance(downscale, bool) or not isinstance(downscale, (int, np.integer)) or downscale < 1:
        raise ConfigError(f"downscale must be a positive integer, got {downscale!r}")
    try:
        with open(path) as f:
            meta = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(meta, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    for key in ("camera_angle_x", "frames"):
        if key not in meta:
            raise InputError(f"{path}: missing key {key!r} (keys: {sorted(meta)})")
    fov = _number(meta["camera_angle_x"], f"{path}: camera_angle_x")
    if not 0.0 < fov < np.pi:
        raise InputError(f"{path}: camera_angle_x must be in (0, pi) radians, got {fov}")
    frames = meta["frames"]
    if not isinstance(frames, list) or not frames:
        raise InputError(f"{path}: 'frames' must be a non-empty list")

    rgba, c2w, times = [], [], []
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise InputError(f"{path}: frames[{i}] must be an object, got {type(frame).__name__}")
        for key in ("file_path", "transform_matrix"):
            if key not in frame:
                raise InputError(f"{path}: frames[{i}] is missing key {key!r} (keys: {sorted(frame)})")
        if not isinstance(frame["file_path"], str):
            raise InputError(f"{path}: frames[{i}].file_path must be a string, got {frame['file_path']!r}")
        image_path = _blender_frame_path(folder, frame["file_path"], path)
        image = _read_rgba(image_path)
        if rgba and image.shape != rgba[0].shape:
            raise InputError(f"{image_path} is {image.shape[1]}x{image.shape[0]} pixels but "
                             f"frames[0] is {rgba[0].shape[1]}x{rgba[0].shape[0]}")
        rgba.append(image)
        c2w.append(check_camera(frame["transform_matrix"], f"{path}: frames[{i}].transform_matrix"))
        times.append(_number(frame.get("time", 0.0), f"{path}: frames[{i}].time"))
    rgba = np.stack(rgba)
    n, h, w, _ = rgba.shape
    if downscale > 1:
        if h % downscale or w % downscale:
            raise ConfigError(f"downscale={downscale} does not divide the image size {w}x{h} of {folder}")
        premultiplied = np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], -1)
        h, w = h // downscale, w // downscale
        premultiplied = premultiplied.reshape(n, h, downscale, w, downscale, 4).mean((2, 4))
        colour, alpha = premultiplied[..., :3], premultiplied[..., 3]
    else:
        colour, alpha = rgba[..., :3] * rgba[..., 3:], rgba[..., 3]
    background = "white" if white_background else "black"
    images = colour + (1.0 - alpha[..., None]) * BACKGROUNDS[background]
    intrinsics = cameras.Intrinsics.from_fov(h, w, fov)
    return stack_views(images, alpha, None, np.stack(c2w), np.tile(intrinsics.as_array(), (n, 1)), times,
                       BLENDER_NEAR, BLENDER_FAR, background)


LLFF_SPLITS = ("all", "train", "test")


def load_llff(folder, factor: int | None = None, *, split: str = "all", holdout: int = 8,
              recenter: bool = True, bd_factor: float | None = 0.75) -> dict[str, Any]:
    """An LLFF forward-facing scene folder (Mildenhall et al. 2019), as stacked views.

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
    if split not in LLFF_SPLITS:
        raise ConfigError(f"load_llff: split={split!r} is not offered; valid values: {list(LLFF_SPLITS)}")
    if isinstance(holdout, bool) or not isinstance(holdout, (int, np.integer)) or holdout < 1:
        raise ConfigError(f"load_llff: holdout must be a positive integer, got {holdout!r}")
    path = os.path.join(folder, "poses_bounds.npy")
    if not os.path.isfile(path):
        raise MissingInputError(f"{path} does not exist (an LLFF folder holds poses_bounds.npy "
                                "and images/)")
    if factor is not None and (isinstance(factor, bool) or not isinstance(factor, (int, np.integer))
                               or factor < 1):
        raise ConfigError(f"factor must be None or a positive integer, got {factor!r}")
    try:
        raw = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{path} is not a readable .npy array ({type(e).__name__}: {e})") from None
    if not np.issubdtype(raw.dtype, np.number):
        raise InputError(f"{path} must hold numbers, got dtype {raw.dtype}")
    if not np.all(np.isfinite(raw)):
        bad = int(np.nonzero(~np.isfinite(raw).all(axis=tuple(range(1, raw.ndim))))[0][0]) if raw.ndim > 1 else 0
        raise InputError(f"{path}: row {bad} holds non-finite values")
    try:
        c2w, hwf, bounds = (np.asarray(a, np.float64) for a in cameras.llff_to_opengl(raw))
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None
    for i, matrix in enumerate(c2w):
        check_camera(matrix, f"{path}: row {i} pose")
    if np.any(hwf <= 0) or np.any(bounds <= 0):
        raise InputError(f"{path}: image sizes, focal lengths and depth bounds must be positive")
    n = len(c2w)

    factor = None if factor == 1 else factor
    image_dir, resize = os.path.join(folder, "images"), False
    if factor is not None:
        if os.path.isdir(os.path.join(folder, f"images_{factor}")):
            image_dir = os.path.join(folder, f"images_{factor}")
        else:
            resize = True
    if not os.path.isdir(image_dir):
        raise MissingInputError(f"image folder {image_dir} does not exist")
    names = sorted(f for f in os.listdir(image_dir) if f.lower().endswith(_IMAGE_EXTENSIONS))
    if len(names) != n:
        raise InputError(f"{image_dir} has {len(names)} images but {path} has {n} poses")

    images, intrinsics = [], []
    for i, name in enumerate(names):
        height, width, focal = hwf[i]
        image = read_image(os.path.join(image_dir, name), "RGB")
        if factor is None or resize:
            if image.size != (round(width), round(height)):
                raise InputError(f"{os.path.join(image_dir, name)} is {image.size[0]}x"
                                 f"{image.size[1]} pixels but {path} says "
                                 f"{round(width)}x{round(height)}")
            if resize:
                image = image.resize((round(width / factor), round(height / factor)),
                                     Image.Resampling.BOX)
        elif abs(image.size[0] - width / factor) > 1 or abs(image.size[1] - height / factor) > 1:
            raise InputError(f"{os.path.join(image_dir, name)} is {image.size[0]}x{image.size[1]}"
                             f" pixels, not {path}'s {round(width)}x{round(height)} / {factor}")
        pixels = np.asarray(image, np.float32) / 255.0
        if images and pixels.shape != images[0].shape:
            raise InputError(f"{os.path.join(image_dir, name)} is {pixels.shape[1]}x"
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
    return stack_views(images, np.ones(images.shape[:3]), None,
                       np.asarray(cameras.to_homogeneous(c2w))[views], np.array(intrinsics)[views],
                       np.zeros(len(views)), 0.9 * bounds.min(), bounds.max(), None,
                       bounds=bounds[views].astype(np.float32))
