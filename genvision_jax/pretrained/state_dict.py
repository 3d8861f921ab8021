"""Reading external checkpoints (PyTorch state dicts, .npz) into Flax variable trees.

A converter describes, for every leaf of the target Flax tree, which source key fills it and how
the layout changes (`torch_source` covers torch Conv2d / Linear / BatchNorm2d). `convert` then
fills the tree and refuses anything but an exact match: every target leaf found, every source key
used or explicitly ignored, every shape equal. A silently half-loaded metric network gives
plausible but wrong numbers, so all problems are reported together, by key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

Path_ = tuple[str, ...]
Transform = Callable[[np.ndarray], np.ndarray]
SourceOf = Callable[[Path_, tuple[int, ...]], tuple[str, Transform]]

TORCH_SUFFIXES = (".pth", ".pt")


def file_sha256(path) -> str:
    """sha256 hex digest of a file, read in 1 MiB chunks (weights files reach hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path) -> dict[str, np.ndarray]:
    """Flat {key: float32 array} from a torch state dict (.pth/.pt) or an .npz with the same keys.

    torch files (zip or legacy format) are read by `genvision_jax.pretrained.torch_files`' restricted
    reader: no torch needed, no arbitrary unpickling; a checkpoint wrapping the state dict under
    'state_dict' is unwrapped.
    """
    from genvision_jax.pretrained.torch_files import read_torch_state_dict

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            return {k: np.asarray(f[k], np.float32) for k in f.files}
    if suffix not in TORCH_SUFFIXES:
        raise ValueError(f"{path}: unsupported weights format {suffix!r}; expected one of "
                         f"{[*TORCH_SUFFIXES, '.npz']}")
    return {k: np.asarray(v, np.float32) for k, v in read_torch_state_dict(path).items()}


def conv_kernel(w: np.ndarray) -> np.ndarray:
    """torch Conv2d weight [Cout, Cin, kh, kw] -> Flax kernel [kh, kw, Cin, Cout]."""
    return np.transpose(w, (2, 3, 1, 0)) if w.ndim == 4 else w


def linear_kernel(w: np.ndarray) -> np.ndarray:
    """torch Linear weight [out, in] -> Flax Dense kernel [in, out]."""
    return w.T if w.ndim == 2 else w


def _identity(w: np.ndarray) -> np.ndarray:
    return w


_TORCH_LEAVES = {
    ("params", "bias"): "bias",
    ("params", "scale"): "weight",  # BatchNorm gamma
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}


def torch_source(path: Path_, shape: tuple[int, ...],
                 module_name: Callable[[Path_], str] = ".".join) -> tuple[str, Transform]:
    """Source key and transform of a Flax leaf (collection, *modules, leaf) in a torch state dict.

    `module_name` maps the Flax module path to the torch module's dotted name (default: joined by
    '.'); 'kernel' becomes '.weight' (conv layout for 4-D, linear for 2-D), BatchNorm's
    scale/bias/mean/var become weight/bias/running_mean/running_var.
    """
    collection, *modules, leaf = path
    prefix = module_name(tuple(modules))
    if (collection, leaf) == ("params", "kernel"):
        return f"{prefix}.weight", conv_kernel if len(shape) == 4 else linear_kernel
    if (collection, leaf) not in _TORCH_LEAVES:
        raise ValueError(f"no torch equivalent for the Flax variable {'/'.join(path)}")
    return f"{prefix}.{_TORCH_LEAVES[collection, leaf]}", _identity


def convert(state_dict: Mapping[str, np.ndarray], target: Any, source_of: SourceOf, *,
            ignore: Callable[[str], bool] = lambda key: False, what: str = "weights") -> Any:
    """Fills a Flax variables tree shaped like `target` from `state_dict`.

    target: nested dicts whose leaves have `.shape` (e.g. `jax.eval_shape(model.init, ...)`), keyed
    by collection first. source_of(path, shape) -> (source key, transform to the Flax layout).
    Keys for which `ignore(key)` is true may be left unused. Raises ValueError listing every
    missing key, unused key and shape mismatch. Returns the tree with float32 jax arrays.
    """
    flat = traverse_util.flatten_dict(target)
    filled, used = {}, set()
    missing, mismatched = [], []
    for path, leaf in flat.items():
        key, transform = source_of(path, tuple(leaf.shape))
        if key not in state_dict:
            missing.append(f"{key} (for {'/'.join(path)})")
            continue
        used.add(key)
        value = transform(np.asarray(state_dict[key], np.float32))
        if tuple(value.shape) != tuple(leaf.shape):
            mismatched.append(f"{key}: {tuple(np.shape(state_dict[key]))} -> {tuple(value.shape)}, "
                              f"expected {tuple(leaf.shape)}")
            continue
        filled[path] = value
    unused = sorted(k for k in state_dict if k not in used and not ignore(k))
    problems = []
    for title, items in (("missing keys", missing), ("unexpected keys", unused),
                         ("shape mismatches", mismatched)):
        if items:
            shown = "; ".join(items[:8]) + ("; ..." if len(items) > 8 else "")
            problems.append(f"{len(items)} {title}: {shown}")
    if problems:
        raise ValueError(f"{what} do not match the architecture: " + " | ".join(problems))
    return jax.tree.map(jnp.asarray, traverse_util.unflatten_dict(filled))
