"""Run outputs: metrics.jsonl, TensorBoard events, PNG image grids and progress bars (process 0 writes)."""

import json
import math
import os
from pathlib import Path
from typing import Mapping

import jax
import numpy as np
from PIL import Image
from tqdm import tqdm


def progress(iterable=None, *, total: int | None = None, desc: str = "", initial: int = 0, unit: str = "it"):
    """A tqdm progress bar (rate and ETA, on stderr) on process 0; silent on the others."""
    return tqdm(iterable, total=total, desc=desc, initial=initial, unit=unit, dynamic_ncols=True,
                mininterval=2.0, disable=jax.process_index() != 0)


def image_grid(images: np.ndarray, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """[N,H,W,C] floats in [-1, 1] → one uint8 [H', W', 3] grid (rows of `nrow`)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"image_grid expects [N,H,W,1|3] images, got shape {images.shape}")
    n, h, w, c = images.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    ncol = int(math.ceil(n / nrow))
    pixels = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
    if c == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    grid = np.full((ncol * (h + pad) + pad, nrow * (w + pad) + pad, 3), 255, np.uint8)
    for i in range(n):
        r, q = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[y:y + h, x:x + w] = pixels[i]
    return grid


def save_image_grid(images: np.ndarray, path: str | os.PathLike, nrow: int | None = None,
                    scale: int = 1) -> Path:
    """Write `images` ([-1, 1]) as a PNG grid, nearest-upscaled by `scale` for small images."""
    grid = Image.fromarray(image_grid(images, nrow))
    if scale > 1:
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path


class MetricWriter:
    """Append-only `metrics.jsonl` plus TensorBoard scalars/images; silent on processes other than 0.

    On resume, pass `resume_step` to drop lines logged after the checkpoint we resume from, so
    the file reads as one uninterrupted run.
    """

    def __init__(self, workdir: str | os.PathLike, resume_step: int | None = None):
        self.active = jax.process_index() == 0
        self.path = Path(workdir) / "metrics.jsonl"
        self._tb = None
        if not self.active:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            keep = []
            for line in self.path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a kill
                if resume_step is not None and row.get("step", 0) <= resume_step:
                    keep.append(line)
            tmp = self.path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(l + "\n" for l in keep))
            os.replace(tmp, self.path)  # a kill here leaves the old or the new log, never half of one
        SummaryWriter = _summary_writer_class()
        # purge_step hides TensorBoard points logged after the checkpoint we resume from.
        purge = resume_step + 1 if resume_step else None
        self._tb = SummaryWriter(str(Path(workdir) / "tb"), purge_step=purge)

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        if not self.active:
            return
        row = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        for k, v in scalars.items():
            self._tb.add_scalar(k, float(v), int(step))

    def write_images(self, step: int, name: str, images: np.ndarray) -> None:
        if not self.active:
            return
        self._tb.add_image(name, image_grid(images), int(step), dataformats="HWC")

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _summary_writer_class():
    """tensorboardX's SummaryWriter, imported without PyTorch: tensorboardX imports torch when it is
    installed (only to accept torch tensors, which we never pass), which costs every run ~2 s of startup.
    While tensorboardX is imported, `import torch` fails as if torch were absent; afterwards torch imports
    as usual."""
    import sys

    if "tensorboardX" in sys.modules or "torch" in sys.modules:
        from tensorboardX import SummaryWriter
        return SummaryWriter
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError
    try:
        from tensorboardX import SummaryWriter
    finally:
        del sys.modules["torch"]
    return SummaryWriter
