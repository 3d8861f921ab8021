"""Per-record transforms for grain pipelines: dict of numpy arrays in, dict of numpy arrays out.

Deterministic ones subclass `grain.transforms.Map`; random ones subclass `grain.transforms.RandomMap`
and draw only from the generator grain passes in, which grain seeds from (pipeline seed, record
position) — so a record gets the same augmentation on every run and after a resume.
Images are [H, W, C] (channels last).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import grain
import numpy as np
from PIL import Image

Record = dict[str, Any]


def _missing(record: Record, keys: Sequence[str], what: str) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise KeyError(f"{what}: keys {missing} not in record; available: {sorted(record)}")


@dataclasses.dataclass(frozen=True)
class SelectKeys(grain.transforms.Map):
    """Keeps only `keys`."""

    keys: Sequence[str]

    def map(self, element: Record) -> Record:
        _missing(element, self.keys, "SelectKeys")
        return {k: element[k] for k in self.keys}


@dataclasses.dataclass(frozen=True)
class RenameKeys(grain.transforms.Map):
    """Renames keys by `mapping` {old: new}; other keys pass through."""

    mapping: Mapping[str, str]

    def map(self, element: Record) -> Record:
        _missing(element, list(self.mapping), "RenameKeys")
        return {self.mapping.get(k, k): v for k, v in element.items()}


@dataclasses.dataclass(frozen=True)
class ScaleImage(grain.transforms.Map):
    """uint8 0..255 -> float32 [-1, 1] (x / 127.5 - 1) for each of `keys`."""

    keys: Sequence[str] = ("image",)

    def map(self, element: Record) -> Record:
        _missing(element, self.keys, "ScaleImage")
        out = dict(element)
        for k in self.keys:
            if element[k].dtype != np.uint8:
                raise TypeError(f"ScaleImage expects uint8 {k!r}, got {element[k].dtype}")
            out[k] = element[k].astype(np.float32) / np.float32(127.5) - np.float32(1.0)
        return out


@dataclasses.dataclass(frozen=True)
class RandomFlip(grain.transforms.RandomMap):
    """Mirrors left-right with probability `probability`; all `keys` together (paired images)."""

    keys: Sequence[str] = ("image",)
    probability: float = 0.5

    def random_map(self, element: Record, rng: np.random.Generator) -> Record:
        _missing(element, self.keys, "RandomFlip")
        if rng.random() >= self.probability:
            return element
        out = dict(element)
        for k in self.keys:
            out[k] = np.ascontiguousarray(element[k][:, ::-1])
        return out


_RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
}


def resize_image(image: np.ndarray, size: tuple[int, int], method: str = "bicubic") -> np.ndarray:
    """[H, W, C] uint8 or float32 -> [h, w, C], same dtype, with PIL (antialiased when shrinking)."""
    if method not in _RESAMPLING:
        raise ValueError(f"Unknown resize method {method!r}; valid: {sorted(_RESAMPLING)}")
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    resample = _RESAMPLING[method]
    if image.dtype == np.uint8 and image.shape[-1] in (1, 3, 4):
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        out = np.asarray(pil.resize((w, h), resample))
        return out.reshape(h, w, image.shape[-1])
    if image.dtype == np.float32:  # Channel by channel in PIL's 32-bit float mode.
        channels = [np.asarray(Image.fromarray(image[..., c]).resize((w, h), resample))
                    for c in range(image.shape[-1])]
        return np.stack(channels, -1)
    raise TypeError(f"resize_image takes uint8 (1/3/4 channels) or float32, got {image.dtype} "
                    f"{image.shape}")


@dataclasses.dataclass(frozen=True)
class Resize(grain.transforms.Map):
    """Resizes each of `keys` to `size` (int: square, or (height, width)) if it differs."""

    size: int | tuple[int, int]
    keys: Sequence[str] = ("image",)
    method: str = "bicubic"

    def __post_init__(self):
        if self.method not in _RESAMPLING:
            raise ValueError(f"Unknown resize method {self.method!r}; valid: {sorted(_RESAMPLING)}")

    def map(self, element: Record) -> Record:
        _missing(element, self.keys, "Resize")
        size = (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)
        out = dict(element)
        for k in self.keys:
            out[k] = resize_image(element[k], size, self.method)
        return out
