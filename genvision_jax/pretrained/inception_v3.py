"""InceptionV3 weights from a local pytorch-fid or torchvision file, or an .npz with the same keys.

- pytorch-fid's `pt_inception-2015-12-05-*.pth` (the 2015 TF graph's weights, 1008 classes):
  `load(path, variant='fid')`.
- torchvision's `inception_v3_google-*.pth` (1000 classes): `load(path, variant='torchvision')`;
  its auxiliary classifier (`AuxLogits.*`, training only) is ignored.
- an `.npz` holding the same keys and torch layouts, for machines without PyTorch.

Keys are torchvision's module names (`Mixed_5b.branch1x1.conv.weight`, `...bn.running_var`,
`fc.weight`); BatchNorm's `num_batches_tracked` counters are ignored.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from genvision_jax.models.recognizers.inception_v3 import MIN_SIZE, InceptionV3, check_variant
from genvision_jax.pretrained.state_dict import convert, read_state_dict, torch_source


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
