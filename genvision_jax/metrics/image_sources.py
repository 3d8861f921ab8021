"""Image sets for metrics: a folder of images, an `.npz`, or a dataset split, read in uint8 batches.

    open_images("samples/")                 # *.png, *.jpg, ... in the folder, sorted by file name
    open_images("samples.npz")              # key 'images' (or the only array)
    open_images("tfds:digits:test")         # genvision_jax.data.get_source('digits', 'test')
    open_images("tfds:shapes/32x32:test")   # embedded dataset with image_size=32
    open_images("tfds:cifar10:train")       # TFDS catalog dataset already prepared on disk

Every set yields uint8 [n, H, W, C] (C = 1 or 3) batches and carries a `description` for the
protocol. Float arrays in [0, 1] are quantized to uint8 (round(255 x)) as saving samples to PNG
would, and as StyleGAN's metrics do, so files and arrays of the same samples give the same numbers.
"""

from __future__ import annotations

import dataclasses
import os
import re
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from genvision_jax.data.sources import dataset_names
from genvision_jax.errors import InputError, MissingInputError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
DATASET_PREFIX = "tfds:"
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


@dataclasses.dataclass
class ImageSet:
    """n images readable in batches; `names` (sortable keys) pair two sets for paired metrics.

    `read(start, stop)` returns uint8 [stop - start, H, W, C]. `description` identifies the set in a
    protocol; `dataset` holds {'dataset': TFDS full name, 'split': ...} for dataset splits (the only
    sets whose reference statistics are cached), else None.
    """

    description: dict
    names: Sequence[str]
    read: Callable[[int, int], np.ndarray]
    dataset: dict | None = None

    def __len__(self) -> int:
        return len(self.names)

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        for start in range(0, len(self), batch_size):
            yield self.read(start, min(start + batch_size, len(self)))

    def take(self, n: int | None) -> "ImageSet":
        """The first n images (all if n is None); raises if fewer exist."""
        if n is None:
            return self
        if n < 1 or n > len(self):
            raise InputError(f"asked for {n} images but {self.description['source']} has {len(self)}")
        return dataclasses.replace(self, names=self.names[:n],
                                   description={**self.description, "num_images": n},
                                   dataset=None if self.dataset is None else {**self.dataset,
                                                                              "num_samples": n})


def as_uint8_images(x, where: str) -> np.ndarray:
    """Array [N, H, W] / [N, H, W, 1|3] of uint8, or floats in [0, 1] -> uint8 [N, H, W, C]."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise InputError(f"{where}: expected images [N, H, W] or [N, H, W, 1|3], got shape {x.shape}")
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.floating):
        if x.size and not np.all(np.isfinite(x)):
            raise InputError(f"{where}: images contain NaN or Inf")
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
        if lo < 0.0 or hi > 1.0:
            raise InputError(f"{where}: float images must be in [0, 1], got values in [{lo:g}, {hi:g}]"
                             + (" (for [-1, 1] images save (x + 1) / 2)" if lo >= -1.0 else ""))
        return np.round(x * 255.0).astype(np.uint8)
    raise InputError(f"{where}: images must be uint8 or float in [0, 1], got dtype {x.dtype}")


def _read_image_file(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()  # decode now: a truncated file fails here, named
            im = im if im.mode == "L" else im.convert("RGB")
            x = np.asarray(im, np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise InputError(f"{path} is not a readable image ({type(e).__name__}: {e})") from None
    return x[..., None] if x.ndim == 2 else x


def folder_images(folder: str | os.PathLike) -> ImageSet:
    """The image files directly in `folder` (not recursive), sorted by file name. Gray ('L') files
    stay 1-channel; every other mode is converted to RGB. All must have the same size."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingInputError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise InputError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")

    def read(start: int, stop: int) -> np.ndarray:
        images = []
        for path in files[start:stop]:
            x = _read_image_file(path)
            if images and x.shape != images[0].shape:
                raise InputError(f"{path} is {x.shape}, but {files[start]} is {images[0].shape}; "
                                 "all images of a set must have the same size and channels")
            images.append(x)
        return np.stack(images)

    first_shape = list(_read_image_file(files[0]).shape)
    return ImageSet({"source": f"folder:{folder.resolve()}", "num_images": len(files),
                     "image_shape": first_shape}, [p.name for p in files], read)


def npz_images(path: str | os.PathLike) -> ImageSet:
    """Images from an .npz: the array 'images', or its only array."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"npz file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = list(f.keys())
            if "images" in keys:
                key = "images"
            elif len(keys) == 1:
                key = keys[0]
            else:
                raise InputError(f"{path} holds arrays {keys}; name the images 'images'")
            array = f[key]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"{path} is not a readable .npz of arrays ({type(e).__name__}: {e})") from None
    images = as_uint8_images(array, f"{path}[{key!r}]")
    width = len(str(len(images)))
    return ImageSet({"source": f"npz:{path.resolve()}", "key": key, "num_images": len(images),
                     "image_shape": list(images.shape[1:])},
                    [f"{i:0{width}d}" for i in range(len(images))],
                    lambda start, stop: images[start:stop])


def parse_dataset_spec(spec: str) -> tuple[str, dict[str, Any], str]:
    """'tfds:<name>[/<config>][:<version>][:<split>]' -> (get_source name, config, split).

    Embedded datasets take their config from '<S>x<S>' (image_size=S); catalog names pass through
    as 'tfds:<name>[/<config>][:<version>]'. The split defaults to 'train'.
    """
    if not spec.startswith(DATASET_PREFIX):
        raise InputError(f"dataset spec must start with {DATASET_PREFIX!r}, got {spec!r}")
    parts = spec[len(DATASET_PREFIX):].split(":")
    split = "train"
    if len(parts) > 1 and not _VERSION.match(parts[-1]):
        split = parts.pop()
    name = ":".join(parts)
    base, _, config_name = parts[0].partition("/")
    if not base:
        raise InputError(f"no dataset name in {spec!r}")
    if base in dataset_names():
        config = {}
        if config_name:
            size = re.fullmatch(r"(\d+)x\1", config_name)
            if not size:
                raise InputError(f"{spec!r}: embedded dataset configs are '<S>x<S>', got {config_name!r}")
            config["image_size"] = int(size.group(1))
        return base, config, split
    return DATASET_PREFIX + name, {}, split


def dataset_images(name: str, split: str, *, data_dir: str | None = None, **config) -> ImageSet:
    """A dataset split through `genvision_jax.data.get_source` (its 'image' feature)."""
    from genvision_jax.data import get_source

    source = get_source(name, split, data_dir=data_dir, **config)
    if "image" not in source.features.keys():
        raise InputError(f"{source.name} has no 'image' feature (features: {list(source.features.keys())})")

    def read(start: int, stop: int) -> np.ndarray:
        records = source.__getitems__(range(start, stop))
        return as_uint8_images(np.stack([r["image"] for r in records]), f"{source.name}:{split}")

    width = len(str(len(source)))
    ident = {"dataset": source.name, "split": split}
    return ImageSet({"source": f"{DATASET_PREFIX}{source.name}:{split}", **ident,
                     "num_images": len(source)},
                    [f"{i:0{width}d}" for i in range(len(source))], read, dataset=ident)


def open_images(spec: str, *, data_dir: str | None = None) -> ImageSet:
    """A folder, an .npz file, or 'tfds:<name>[/<config>][:<split>]' (see the module docstring)."""
    if spec.startswith(DATASET_PREFIX):
        name, config, split = parse_dataset_spec(spec)
        return dataset_images(name, split, data_dir=data_dir, **config)
    if spec.endswith(".npz"):
        return npz_images(spec)
    if os.path.isdir(spec):
        return folder_images(spec)
    raise MissingInputError(f"image source {spec!r} is neither a folder, an .npz file, nor "
                            f"'{DATASET_PREFIX}<name>[:split]'")
